//! The hostile-input corpus, through the real `git-webhook` binary: for every scheme, missing,
//! empty, prefix-only, short, long, non-hex, wrong-secret and bit-flipped signatures and tokens,
//! cross-scheme re-use, bad timestamps, Basic-auth variants and form smuggling; signed but
//! malformed bodies; wrong methods, content types and sizes. Each case must get its 4xx, start
//! nothing, and leave the process alive; no secret may reach the logs.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use herald::auth::{hmac_sha256, sign_hex, sign_standard_webhook, Secret};
use herald_tests::events::{function_url, rest_api};
use herald_tests::faults::FaultProxy;
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use herald_tests::workspace;
use serde_json::Value;

const SECRET: &str = "herald-demo-secret";
const TEAM: &str = "team-key-0123456789";
const GENERIC_KEY: &str = "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk=";

fn payload(name: &str) -> Vec<u8> {
    std::fs::read(workspace().join("events/git-webhook/payloads").join(name)).expect("payload sample")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

struct Case {
    name: String,
    event: Value,
    status: u16,
}

fn case(cases: &mut Vec<Case>, name: impl Into<String>, headers: &[(&str, &str)], body: &[u8], status: u16) {
    cases.push(Case { name: name.into(), event: function_url("POST", headers, body, true), status });
}

/// Every way to get a hex HMAC-SHA256 wrong, for a header that carries it (with `prefix`).
fn hex_signature_cases(cases: &mut Vec<Case>, label: &str, base: &[(&str, &str)], header: &str, prefix: &str) {
    let body = payload("github-push.json");
    let good = sign_hex(&Secret::new(SECRET), &body);
    let mut flips = Vec::new();
    for bit in [0usize, 1, 7, 100, 255] {
        let mut raw = hex::decode(&good).unwrap();
        raw[bit / 8] ^= 1 << (bit % 8);
        flips.push((format!("bit {bit} flipped"), format!("{prefix}{}", hex::encode(raw))));
    }
    let mut bad: Vec<(String, String)> = vec![
        ("empty".into(), String::new()),
        ("prefix only".into(), prefix.to_owned()),
        ("short".into(), format!("{prefix}{}", &good[..32])),
        ("one char short".into(), format!("{prefix}{}", &good[..63])),
        ("long".into(), format!("{prefix}{good}00")),
        ("non-hex".into(), format!("{prefix}{}", "zz".repeat(32))),
        ("wrong secret".into(), format!("{prefix}{}", sign_hex(&Secret::new("not-the-secret-0123"), &body))),
        ("another body".into(), format!("{prefix}{}", sign_hex(&Secret::new(SECRET), b"{}"))),
        ("sha1 scheme".into(), format!("sha1={}", &good[..40])),
        ("whitespace".into(), "   ".into()),
        ("huge".into(), format!("{prefix}{}", "a".repeat(100_000))),
        ("the secret itself".into(), SECRET.into()),
        ("generic key's HMAC".into(), {
            let key = BASE64.decode(&GENERIC_KEY[6..]).unwrap();
            format!("{prefix}{}", hex::encode(hmac_sha256(&key, &body)))
        }),
    ];
    bad.extend(flips);
    for (what, value) in &bad {
        let mut headers = base.to_vec();
        headers.push((header, value.as_str()));
        case(cases, format!("{label}: {what}"), &headers, &body, 401);
    }
    case(cases, format!("{label}: missing"), base, &body, 401);
}

fn standard_cases(cases: &mut Vec<Case>, label: &str, base: &[(&str, &str)]) {
    let body = payload("generic-push.json");
    let ts = now();
    let key = Secret::new(GENERIC_KEY);
    let good = sign_standard_webhook(&key, "msg_1", ts, &body);
    let ts_text = ts.to_string();
    let mut flipped = BASE64.decode(&good[3..]).unwrap();
    flipped[5] ^= 0x10;
    let flipped = format!("v1,{}", BASE64.encode(flipped));
    let other_id = sign_standard_webhook(&key, "msg_2", ts, &body);
    let stale = sign_standard_webhook(&key, "msg_1", ts - 600, &body);
    let future = sign_standard_webhook(&key, "msg_1", ts + 600, &body);
    let plain_key = sign_standard_webhook(&Secret::new(SECRET), "msg_1", ts, &body);
    let github_as_standard = format!("v1,{}", BASE64.encode(hmac_sha256(SECRET.as_bytes(), &body)));
    let v2 = good.replacen("v1,", "v2,", 1);
    let stale_ts = (ts - 600).to_string();
    let future_ts = (ts + 600).to_string();
    let variants: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "empty signature",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts_text.clone()),
                ("webhook-signature", String::new()),
            ],
        ),
        (
            "v1, only",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts_text.clone()),
                ("webhook-signature", "v1,".into()),
            ],
        ),
        (
            "v2 scheme",
            vec![("webhook-id", "msg_1".into()), ("webhook-timestamp", ts_text.clone()), ("webhook-signature", v2)],
        ),
        (
            "bit flipped",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts_text.clone()),
                ("webhook-signature", flipped),
            ],
        ),
        (
            "signed for another id",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts_text.clone()),
                ("webhook-signature", other_id),
            ],
        ),
        ("stale", vec![("webhook-id", "msg_1".into()), ("webhook-timestamp", stale_ts), ("webhook-signature", stale)]),
        (
            "future",
            vec![("webhook-id", "msg_1".into()), ("webhook-timestamp", future_ts), ("webhook-signature", future)],
        ),
        (
            "plain secret as key",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts_text.clone()),
                ("webhook-signature", plain_key),
            ],
        ),
        (
            "a GitHub HMAC re-used",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts_text.clone()),
                ("webhook-signature", github_as_standard),
            ],
        ),
        ("no timestamp", vec![("webhook-id", "msg_1".into()), ("webhook-signature", good.clone())]),
        ("no id", vec![("webhook-timestamp", ts_text.clone()), ("webhook-signature", good.clone())]),
        (
            "garbage base64",
            vec![
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", ts_text.clone()),
                ("webhook-signature", "v1,!!!!".into()),
            ],
        ),
    ];
    for (what, extra) in variants {
        let mut headers = base.to_vec();
        headers.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
        case(cases, format!("{label}: {what}"), &headers, &body, 401);
    }
    for ts in ["", "abc", "1e9", "-1", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "1.5"] {
        let sig = sign_standard_webhook(&key, "msg_1", 0, &body);
        let headers: Vec<(&str, &str)> = base
            .iter()
            .copied()
            .chain([("webhook-id", "msg_1"), ("webhook-timestamp", ts), ("webhook-signature", sig.as_str())])
            .collect();
        case(cases, format!("{label}: timestamp {ts:?}"), &headers, &body, 401);
    }
}

fn token_cases(cases: &mut Vec<Case>) {
    let body = payload("gitlab-push.json");
    let base = [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Event-UUID", "u-1")];
    let long = format!("{SECRET}x");
    let values = [
        ("empty", ""),
        ("prefix of the secret", &SECRET[..10]),
        ("secret plus a byte", long.as_str()),
        ("wrong", "wrong-token-0123456789"),
        ("case changed", "HERALD-DEMO-SECRET"),
        ("the generic key", GENERIC_KEY),
        ("a hex HMAC", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
    ];
    for (what, token) in values {
        let headers: Vec<(&str, &str)> = base.iter().copied().chain([("X-Gitlab-Token", token)]).collect();
        case(cases, format!("gitlab token: {what}"), &headers, &body, 401);
    }
    case(cases, "gitlab: no token, no signature", &base, &body, 401);
    standard_cases(cases, "gitlab signing token", &base);
}

fn basic_cases(cases: &mut Vec<Case>) {
    let body = payload("azure-devops-push.json");
    let b64 = |s: &str| format!("Basic {}", BASE64.encode(s));
    let values = vec![
        ("no password", b64("herald:")),
        ("no colon", b64(SECRET)),
        ("wrong password", b64("herald:wrong-password-0123")),
        ("password with a suffix", b64(&format!("herald:{SECRET}x"))),
        ("bad base64", "Basic %%%%".to_owned()),
        ("scheme only", "Basic ".to_owned()),
        ("empty", b64("")),
        ("lower-case scheme, wrong password", format!("basic {}", BASE64.encode("herald:nope-0123456789"))),
        ("the generic key as password", b64(&format!("herald:{GENERIC_KEY}"))),
        ("invalid UTF-8", format!("Basic {}", BASE64.encode([0xff, 0xfe, b':', 0xff]))),
    ];
    for (what, value) in values {
        case(cases, format!("azure basic: {what}"), &[("Authorization", value.as_str())], &body, 401);
    }
    // Bearer and Digest are not Herald's: no provider is recognised.
    case(cases, "azure: bearer", &[("Authorization", "Bearer abc")], &body, 400);
    case(cases, "azure: digest", &[("Authorization", "Digest x")], &body, 400);
}

fn form_cases(cases: &mut Vec<Case>) {
    let json: String = form_urlencoded::byte_serialize(&payload("github-push.json")).collect();
    let smuggled = [
        format!("a=1&payload={json}"),
        format!("payload={json}&a=1"),
        format!("payload={json}&payload={json}"),
        format!("msg_1.1700000000.{{\"message\":\"&payload={json}&\"}}"),
        "payload=".to_owned(),
        "payload".to_owned(),
        String::new(),
        format!("PAYLOAD={json}"),
    ];
    for (i, body) in smuggled.iter().enumerate() {
        let signature = format!("sha256={}", sign_hex(&Secret::new(SECRET), body.as_bytes()));
        for (server, headers) in [
            (
                "github",
                vec![
                    ("X-GitHub-Event", "push"),
                    ("X-GitHub-Delivery", "f-1"),
                    ("X-Hub-Signature-256", signature.as_str()),
                ],
            ),
            (
                "gitea",
                vec![("X-Gitea-Event", "push"), ("X-Gitea-Delivery", "f-1"), ("X-Gitea-Signature", &signature[7..])],
            ),
        ] {
            let headers: Vec<(&str, &str)> =
                headers.into_iter().chain([("Content-Type", "application/x-www-form-urlencoded")]).collect();
            case(cases, format!("{server} form smuggling #{i}"), &headers, body.as_bytes(), 400);
        }
    }
}

/// Bodies that authenticate but cannot be read: 400 for each provider.
fn malformed_body_cases(cases: &mut Vec<Case>) {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge = format!(r#"{{"ref": "refs/heads/{}"}}"#, "a".repeat(1_000_000));
    let truncated = payload("github-push.json")[..200].to_vec();
    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("truncated", truncated),
        ("wrong types", br#"{"ref": 5, "after": [], "repository": "x", "commits": {}}"#.to_vec()),
        ("nulls", br#"{"ref": null, "after": null, "repository": null}"#.to_vec()),
        ("a JSON array", b"[1, 2, 3]".to_vec()),
        ("a JSON string", br#""push""#.to_vec()),
        ("deep nesting", deep.into_bytes()),
        ("invalid UTF-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        ("a huge field", huge.into_bytes()),
        ("random bytes", random),
    ];
    for (what, body) in &bodies {
        let hex = sign_hex(&Secret::new(SECRET), body);
        let sha = format!("sha256={hex}");
        let basic = format!("Basic {}", BASE64.encode(format!("herald:{SECRET}")));
        let ts = now().to_string();
        let standard = sign_standard_webhook(&Secret::new(GENERIC_KEY), "m-1", now(), body);
        let servers: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("github", vec![("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "b-1"), ("X-Hub-Signature-256", &sha)]),
            ("gitlab", vec![("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", SECRET)]),
            (
                "bitbucket cloud",
                vec![("X-Event-Key", "repo:push"), ("X-Request-UUID", "b-1"), ("X-Hub-Signature", &sha)],
            ),
            (
                "bitbucket dc",
                vec![("X-Event-Key", "repo:refs_changed"), ("X-Request-Id", "b-1"), ("X-Hub-Signature", &sha)],
            ),
            ("gitea", vec![("X-Gitea-Event", "push"), ("X-Gitea-Delivery", "b-1"), ("X-Gitea-Signature", &hex)]),
            ("azure", vec![("Authorization", &basic)]),
            ("generic", vec![("webhook-id", "m-1"), ("webhook-timestamp", &ts), ("webhook-signature", &standard)]),
        ];
        for (server, headers) in servers {
            case(cases, format!("{server}: signed {what}"), &headers, body, 400);
        }
    }
}

fn request_shape_cases(cases: &mut Vec<Case>) {
    let body = payload("github-push.json");
    let sha = format!("sha256={}", sign_hex(&Secret::new(SECRET), &body));
    let github = [("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "s-1"), ("X-Hub-Signature-256", sha.as_str())];
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
        cases.push(Case {
            name: format!("method {method}"),
            event: function_url(method, &github, &body, false),
            status: 405,
        });
        cases.push(Case {
            name: format!("REST method {method}"),
            event: rest_api(method, &github, &body, false),
            status: 405,
        });
    }
    for content_type in ["text/xml", "multipart/form-data; boundary=x", "application/octet-stream", "image/png"] {
        let headers: Vec<(&str, &str)> = github.iter().copied().chain([("Content-Type", content_type)]).collect();
        case(cases, format!("content type {content_type}"), &headers, &body, 400);
    }
    let over = vec![b' '; 6 * 1024 * 1024 + 1];
    case(cases, "6 MiB + 1 body", &github, &over, 413);
    case(cases, "no provider headers", &[("Content-Type", "application/json")], &body, 400);
    case(cases, "bitbucket key without id", &[("X-Event-Key", "repo:push")], &body, 400);
}

#[tokio::test]
async fn hostile_requests_get_their_4xx_and_start_nothing() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let config = std::fs::read_to_string(workspace().join("events/herald-config.json")).expect("config");
    let secrets = format!(r#"{{"secrets": ["{SECRET}", "{GENERIC_KEY}"], "named": {{"team": ["{TEAM}"]}}}}"#);
    let mut lambda = Lambda::start(
        "git-webhook",
        &proxy.endpoint,
        &[("HERALD_CONFIG", &config), ("HERALD_WEBHOOK_SECRET", &secrets)],
    )
    .await;

    let mut cases = Vec::new();
    hex_signature_cases(
        &mut cases,
        "github",
        &[("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "h-1")],
        "X-Hub-Signature-256",
        "sha256=",
    );
    hex_signature_cases(
        &mut cases,
        "bitbucket cloud",
        &[("X-Event-Key", "repo:push"), ("X-Request-UUID", "h-1")],
        "X-Hub-Signature",
        "sha256=",
    );
    hex_signature_cases(
        &mut cases,
        "bitbucket dc",
        &[("X-Event-Key", "repo:refs_changed"), ("X-Request-Id", "h-1")],
        "X-Hub-Signature",
        "sha256=",
    );
    hex_signature_cases(
        &mut cases,
        "gitea",
        &[("X-Gitea-Event", "push"), ("X-Gitea-Delivery", "h-1")],
        "X-Gitea-Signature",
        "",
    );
    hex_signature_cases(
        &mut cases,
        "forgejo",
        &[("X-Forgejo-Event", "push"), ("X-Forgejo-Delivery", "h-1")],
        "X-Forgejo-Signature",
        "",
    );
    hex_signature_cases(
        &mut cases,
        "gogs",
        &[("X-Gogs-Event", "push"), ("X-Gogs-Delivery", "h-1")],
        "X-Gogs-Signature",
        "",
    );
    token_cases(&mut cases);
    basic_cases(&mut cases);
    standard_cases(&mut cases, "generic", &[]);
    form_cases(&mut cases);
    malformed_body_cases(&mut cases);
    request_shape_cases(&mut cases);
    assert!(cases.len() >= 200, "the corpus has {} cases", cases.len());

    let mut wrong = Vec::new();
    for c in &cases {
        let response = lambda.invoke(c.event.clone()).await.response();
        let status = response["statusCode"].as_u64().unwrap_or_default() as u16;
        let body = herald_tests::events::body_of(&response);
        if status != c.status {
            wrong.push(format!("{}: {status} (want {}) {body}", c.name, c.status));
        }
        if status == 401 && body != serde_json::json!({ "error": "unauthorized" }) {
            wrong.push(format!("{}: a 401 must say nothing more: {body}", c.name));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases answered wrong:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
    let starts = proxy.calls().iter().filter(|c| *c == "StartPipelineExecution").count();
    assert_eq!(starts, 0, "hostile requests reached CodePipeline");

    // Still alive and serving.
    let body = payload("github-ping.json");
    let sha = format!("sha256={}", sign_hex(&Secret::new(SECRET), &body));
    let ping = function_url(
        "POST",
        &[("X-GitHub-Event", "ping"), ("X-GitHub-Delivery", "p-1"), ("X-Hub-Signature-256", &sha)],
        &body,
        false,
    );
    assert_eq!(lambda.invoke(ping).await.response()["statusCode"], 200);
    let logs = lambda.stop().await;
    assert!(!logs.contains("panicked"), "a case panicked");
    for secret in [SECRET, TEAM, GENERIC_KEY, &GENERIC_KEY[6..]] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    println!("hostile corpus: {} cases", cases.len());
}
