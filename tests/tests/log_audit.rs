//! The log audit: every line the three functions print over a full run — every sample event,
//! rejected and malformed deliveries, AWS failures — is read back, and none may carry a secret,
//! a token, an `Authorization` value, a signature or a request body — at TRACE, the most a
//! function can be set to log (libraries are kept at INFO: `lambda_runtime` logs the raw event at
//! TRACE).

use herald::auth::{sign_hex, sign_standard_webhook, Secret};
use herald_tests::events::function_url;
use herald_tests::faults::{Fault, FaultProxy};
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use herald_tests::{sample, workspace};
use serde_json::{json, Value};

const SECRET: &str = "herald-demo-secret";
const GENERIC_KEY: &str = "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk=";
/// A marker put in fields of the bodies that no log line should repeat.
const CANARY: &str = "CANARY-7f3a-body-text";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Every git-webhook sample, its body given a canary where a message or title is.
fn webhook_events(forbidden: &mut Vec<String>) -> Vec<Value> {
    let dir = workspace().join("events/git-webhook");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut events = Vec::new();
    for name in names {
        let event = sample(&format!("git-webhook/{name}"));
        let body = event["body"].as_str().unwrap_or_default().to_owned();
        let headers: Vec<(String, String)> = event["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
            .collect();
        for (k, v) in &headers {
            if ["authorization", "x-gitlab-token", "x-hub-signature", "x-hub-signature-256", "webhook-signature"]
                .contains(&k.as_str())
                || k.ends_with("-signature")
            {
                forbidden.push(v.clone());
            }
        }
        // The same delivery with a canary in its body, re-signed; and with a wrong signature.
        let marked = body.replacen("\"message\": \"", &format!("\"message\": \"{CANARY} "), 1);
        let mut headers = headers.clone();
        for (k, v) in headers.iter_mut() {
            match k.as_str() {
                "x-hub-signature-256" | "x-hub-signature" => {
                    *v = format!("sha256={}", sign_hex(&Secret::new(SECRET), marked.as_bytes()))
                }
                "x-gitea-signature" | "x-forgejo-signature" | "x-gogs-signature" => {
                    *v = sign_hex(&Secret::new(SECRET), marked.as_bytes())
                }
                "webhook-timestamp" => *v = now().to_string(),
                _ => {}
            }
        }
        if let Some(id) = headers.iter().find(|(k, _)| k == "webhook-id").map(|(_, v)| v.clone()) {
            let signature = sign_standard_webhook(&Secret::new(GENERIC_KEY), &id, now(), marked.as_bytes());
            forbidden.push(signature.clone());
            headers.iter_mut().filter(|(k, _)| k == "webhook-signature").for_each(|(_, v)| *v = signature.clone());
        }
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        events.push(function_url("POST", &pairs, marked.as_bytes(), false));
        let forged: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| {
                if k.contains("signature") || *k == "x-gitlab-token" {
                    (*k, "forged-signature-value")
                } else {
                    (*k, *v)
                }
            })
            .collect();
        events.push(function_url("POST", &forged, format!("{{\"note\": \"{CANARY}\"}}").as_bytes(), false));
    }
    forbidden.push("forged-signature-value".into());
    events
}

#[tokio::test]
async fn no_log_line_carries_a_secret_a_token_or_a_body() {
    let moto = Moto::start();
    for name in ["demo-github", "demo-gitlab", "demo-bitbucket-cloud", "demo-generic", "demo-deploy", "prod-api"] {
        moto.ctl(&["create-pipeline", name, "PROVIDER", "EVENT", "REF", "COMMIT_ID"]);
    }
    moto.ctl(&["create-table", "herald-dedup"]);
    moto.ctl(&["create-bucket", "acme-artifacts"]);
    let wiring = moto.ctl(&["topic-to-queue", "herald-alerts", "herald-alerts-inbox"]);
    let topic = wiring["topic_arn"].as_str().unwrap().to_owned();
    let secret =
        moto.ctl(&["create-secret", "herald-webhook", &json!({ "secrets": [SECRET, GENERIC_KEY] }).to_string()]);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let mut forbidden: Vec<String> = vec![
        SECRET.into(),
        GENERIC_KEY.into(),
        GENERIC_KEY[6..].into(),
        CANARY.into(),
        "1a2b3c4d-approval-token".into(),
    ];
    let mut logs = String::new();

    // git-webhook: every sample, marked and forged, with a start failing on the way.
    let config = std::fs::read_to_string(workspace().join("events/herald-config.json")).unwrap();
    let arn = secret["arn"].as_str().unwrap().to_owned();
    let env = [
        ("HERALD_CONFIG", config.as_str()),
        ("HERALD_WEBHOOK_SECRET_ARN", arn.as_str()),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("RUST_LOG", "trace"),
    ];
    let mut webhook = Lambda::start("git-webhook", &proxy.endpoint, &env).await;
    proxy.inject("StartPipelineExecution", Fault::ServerError, 3);
    for event in webhook_events(&mut forbidden) {
        let status = webhook.invoke(event).await.response()["statusCode"].as_u64().unwrap_or_default();
        assert!(status < 500 || status == 503, "{status}");
    }
    logs.push_str(&webhook.stop().await);

    // A malformed secret document: the error says where, never the value.
    let leaky = r#"{"secrets": "leaky-secret-value-123"}"#;
    forbidden.push("leaky-secret-value-123".into());
    let env = [("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET", leaky)];
    let mut broken = Lambda::start("git-webhook", &proxy.endpoint, &env).await;
    let ping = sample("git-webhook/github-ping.json");
    assert_eq!(broken.invoke(ping).await.response()["statusCode"], 401);
    let broken_logs = broken.stop().await;
    assert!(broken_logs.contains("webhook secret JSON at line 1"), "the problem is named: {broken_logs}");
    logs.push_str(&broken_logs);

    // s3-trigger: every sample.
    let s3_config = std::fs::read_to_string(workspace().join("events/s3-trigger/herald-config.json")).unwrap();
    let mut s3 =
        Lambda::start("s3-trigger", &proxy.endpoint, &[("HERALD_CONFIG", s3_config.as_str()), ("RUST_LOG", "trace")])
            .await;
    for name in [
        "cloudtrail-put-object",
        "cloudtrail-copy-object",
        "cloudtrail-complete-multipart-upload",
        "cloudtrail-get-object-ignored",
        "eventbridge-object-created",
        "s3-notification",
    ] {
        let _ = s3.invoke(sample(&format!("s3-trigger/{name}.json"))).await;
    }
    logs.push_str(&s3.stop().await);

    // pipeline-notifier: every sample, one publish failing.
    let alerts = r#"{"alerts": [{"name": "all", "pipelines": ["**"], "on": ["STARTED", "SUCCEEDED", "FAILED", "STAGE_FAILED", "ACTION_FAILED", "APPROVAL", "AUDIT"]}]}"#;
    let env = [("HERALD_CONFIG", alerts), ("HERALD_TOPIC_ARN", topic.as_str()), ("RUST_LOG", "trace")];
    let mut notifier = Lambda::start("pipeline-notifier", &proxy.endpoint, &env).await;
    proxy.inject("Publish", Fault::ServerError, 3);
    for entry in std::fs::read_dir(workspace().join("events/pipeline-notifier")).unwrap() {
        let path = entry.unwrap().path();
        let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let _ = notifier.invoke(event).await;
    }
    logs.push_str(&notifier.stop().await);

    // redeliver: a sweep that lists a hook's deliveries with its token and redelivers one.
    use herald_tests::git_servers::{Auth, FakeGitServer, Server};
    let hook_token = "ghp_redeliver-audit-token-3f9c";
    let github = FakeGitServer::start(Server::GitHub, Auth::Token(hook_token.into())).await;
    github.add_delivery("g-audit", "push", 503, false);
    let (key, mut entry) = github.credential_entry();
    entry["hooks"] = json!(["repo:acme/app:1"]);
    let credentials = json!({ key: entry }).to_string();
    forbidden.push(hook_token.into());
    let env =
        [("HERALD_DEDUP_TABLE", "herald-dedup"), ("HERALD_STATUS_SECRET", credentials.as_str()), ("RUST_LOG", "trace")];
    let mut sweeper = Lambda::start("redeliver", &proxy.endpoint, &env).await;
    let report = sweeper.invoke(json!({})).await.response();
    assert_eq!(github.redeliveries().len(), 1, "{report}");
    logs.push_str(&sweeper.stop().await);

    let lines = logs.lines().count();
    assert!(lines > 100, "the run logged only {lines} lines");
    assert!(logs.contains("\"decision\""), "decision lines are there");
    let leaks: Vec<&String> = forbidden.iter().filter(|f| f.len() >= 8 && logs.contains(f.as_str())).collect();
    assert!(leaks.is_empty(), "{} forbidden values in {lines} log lines (first: {:.12}…)", leaks.len(), leaks[0]);
    println!("log audit: {lines} lines, {} forbidden values, none found", forbidden.len());
}
