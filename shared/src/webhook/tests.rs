//! The use case through fakes: every HTTP answer of docs/providers.md "HTTP answers".

use super::*;
use crate::auth::{sign_hex, sign_standard_webhook, Secret};
use crate::config::Config;
use crate::ports::fakes::{FakeBus, FakeDedup, FakeSecretSource, FakeStarter};
use crate::ports::AwsError;
use crate::secrets::{SecretCache, WebhookSecrets};
use crate::start::StartRunner;
use std::collections::HashMap;

const SECRET: &str = "topsecret-0123456789";

fn fixture(path: &str) -> Vec<u8> {
    crate::providers::fixtures::read(path)
}

fn config(triggers: serde_json::Value) -> Arc<Config> {
    Arc::new(Config::from_json(&json!({ "triggers": triggers }).to_string()).unwrap())
}

fn github_config() -> Arc<Config> {
    config(json!([
        { "name": "main", "pipeline": "app", "git": { "repository": "binkkatal/sample_app", "branches": ["master"] }, "source_action": "Source", "variables": { "COMMIT": "{commit}" } },
        { "name": "docs", "pipeline": "docs", "git": { "repository": "binkkatal/sample_app", "paths": ["docs/**"] } },
        { "name": "other", "pipeline": "other", "git": { "repository": "someone/else" } }
    ]))
}

struct Harness {
    starter: Arc<FakeStarter>,
    bus: Arc<FakeBus>,
    service: WebhookService,
}

fn harness_with(config: Arc<Config>, secrets: &str, starter: FakeStarter, dedup: bool, dry_run: bool) -> Harness {
    let starter = Arc::new(starter);
    let bus = Arc::new(FakeBus::default());
    let dedup = dedup.then(|| Arc::new(FakeDedup::default()) as Arc<dyn crate::ports::DedupStore>);
    let runner = StartRunner::new(starter.clone(), dedup, dry_run);
    let secrets = Secrets::Fixed(Arc::new(WebhookSecrets::parse(secrets).unwrap()));
    let service = WebhookService::new(config, secrets, runner, Some(bus.clone())).with_clock(|| 1_700_000_000);
    Harness { starter, bus, service }
}

fn harness() -> Harness {
    harness_with(github_config(), SECRET, FakeStarter::default(), false, false)
}

fn github(body: &[u8], event: &str, delivery: &str, secret: &str) -> WebhookRequest {
    let mut headers = Headers::new();
    headers.insert("X-GitHub-Event", event);
    headers.insert("X-GitHub-Delivery", delivery);
    headers.insert("Content-Type", "application/json");
    headers.insert("X-Hub-Signature-256", &format!("sha256={}", sign_hex(&Secret::new(secret), body)));
    WebhookRequest { method: "POST".into(), headers, body: body.to_vec() }
}

fn push() -> WebhookRequest {
    github(&fixture("github/push.json"), "push", "d-1", SECRET)
}

#[tokio::test]
async fn a_signed_push_starts_the_matching_pipeline() {
    let h = harness();
    let r = h.service.handle(push()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["provider"], "github");
    assert_eq!(r.body["event"], "push");
    assert_eq!(r.body["delivery"], "d-1");
    assert_eq!(r.body["started"], json!([{ "trigger": "main", "pipeline": "app", "execution_id": "exec-1" }]));
    let reason =
        "no changed file matches paths (docs/**); changed: .razorops.yaml, app/controllers/application_controller.rb";
    assert_eq!(r.body["skipped"], json!([{ "trigger": "docs", "reason": reason }]));
    assert_eq!(r.body["failed"], json!([]));
    let started = h.starter.started.lock().unwrap();
    assert_eq!(started[0].variables, [("COMMIT".to_string(), "fd489864e7642b48eaad6e3f155c10e46810ec72".to_string())]);
    let events = h.bus.events.lock().unwrap();
    let types: Vec<_> = events.iter().map(|e| e.detail_type).collect();
    assert_eq!(types, ["Pipeline Triggered", "Trigger Skipped"]);
    assert_eq!(events[0].detail["execution_id"], "exec-1");
    assert_eq!(events[0].detail["change"]["repository"], "binkkatal/sample_app");
    assert_eq!(events[1].detail["reason"], reason);
}

#[tokio::test]
async fn checks_run_in_spec_order() {
    let h = harness();
    let mut get = push();
    get.method = "GET".into();
    let r = h.service.handle(get).await;
    assert_eq!(r.status, 405);
    assert!(r.headers.contains(&("Allow", "POST".into())));

    let mut huge = push();
    huge.body = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(h.service.handle(huge).await.status, 413);

    let mut unknown = push();
    unknown.headers = [("Content-Type", "application/json")].into_iter().collect();
    let r = h.service.handle(unknown).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().contains("unknown provider"));

    let r = h.service.handle(github(&fixture("github/push.json"), "push", "d", "wrong")).await;
    assert_eq!((r.status, r.body.clone()), (401, json!({ "error": "unauthorized" })));

    let mut tampered = push();
    tampered.body.push(b' ');
    assert_eq!(h.service.handle(tampered).await.status, 401);

    let r = h.service.handle(github(b"{not json", "push", "d", SECRET)).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().starts_with("body is not valid JSON"));

    let mut xml = github(b"<xml/>", "push", "d", SECRET);
    xml.headers.insert("Content-Type", "text/xml");
    let mut fixed = Headers::new();
    for name in ["x-github-event", "x-github-delivery", "x-hub-signature-256"] {
        fixed.insert(name, xml.headers.get(name).unwrap());
    }
    fixed.insert("Content-Type", "text/xml");
    xml.headers = fixed;
    let r = h.service.handle(xml).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"].as_str().unwrap().contains("unsupported content type"));
    assert!(h.starter.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn no_secret_rejects_everything() {
    let h = harness_with(github_config(), "", FakeStarter::default(), false, false);
    let r = h.service.handle(github(&fixture("github/push.json"), "push", "d", "")).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn ping_and_ignored_events_answer_200() {
    let h = harness();
    let r = h.service.handle(github(&fixture("github/ping.json"), "ping", "p-1", SECRET)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["started"], json!([]));
    let r = h.service.handle(github(&fixture("github/issues.json"), "issues", "i-1", SECRET)).await;
    assert_eq!(r.status, 200);
    assert!(r.body["ignored"].is_string());
}

#[tokio::test]
async fn transient_failures_answer_503_and_permanent_ones_are_listed() {
    let mut fail = HashMap::new();
    fail.insert("app".to_string(), AwsError::Transient("StartPipelineExecution: ThrottlingException".into()));
    let h = harness_with(github_config(), SECRET, FakeStarter { fail, ..Default::default() }, false, false);
    let r = h.service.handle(push()).await;
    assert_eq!(r.status, 503);
    assert!(r.headers.iter().any(|(k, v)| *k == "Retry-After" && v == "30"));
    assert_eq!(r.body["failed"][0]["trigger"], "main");
    assert_eq!(r.body["failed"][0]["retryable"], true);

    let mut fail = HashMap::new();
    fail.insert("app".to_string(), AwsError::Permanent("StartPipelineExecution: PipelineNotFoundException".into()));
    let h = harness_with(github_config(), SECRET, FakeStarter { fail, ..Default::default() }, false, false);
    let r = h.service.handle(push()).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["failed"][0]["error"],
        "CodePipeline refused the start: the pipeline does not exist in Herald's account and region; Herald's log has the details"
    );
    assert_eq!(h.bus.events.lock().unwrap()[0].detail_type, "Trigger Failed");
}

#[tokio::test]
async fn redeliveries_are_answered_from_the_dedup_store() {
    let h = harness_with(github_config(), SECRET, FakeStarter::default(), true, false);
    let first = h.service.handle(push()).await;
    let again = h.service.handle(push()).await;
    assert_eq!(first.body["started"][0]["execution_id"], "exec-1");
    assert_eq!(again.status, 200);
    assert_eq!(again.body["started"][0]["execution_id"], "exec-1");
    assert_eq!(again.body["started"][0]["duplicate"], true);
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(h.starter.started.lock().unwrap().len(), 1);
    // The same change under another delivery id (an organization and a repository hook) starts
    // once: docs/security.md "One change, one start".
    let other = h.service.handle(github(&fixture("github/push.json"), "push", "d-2", SECRET)).await;
    assert_eq!(other.body["started"][0]["execution_id"], "exec-1", "{}", other.body);
    assert_eq!(other.body["duplicate"], true);
    assert_eq!(h.starter.started.lock().unwrap().len(), 1);
    // Another commit is another change.
    let mut next: serde_json::Value = serde_json::from_slice(&fixture("github/push.json")).unwrap();
    let sha = "1111111111111111111111111111111111111111";
    next["after"] = json!(sha);
    next["head_commit"]["id"] = json!(sha);
    let next = h.service.handle(github(next.to_string().as_bytes(), "push", "d-3", SECRET)).await;
    assert_eq!(next.body["started"][0]["execution_id"], "exec-2", "{}", next.body);
}

#[tokio::test]
async fn a_change_is_claimed_for_ten_minutes_and_a_command_starts_regardless() {
    use crate::ports::{fakes::FakeDedup, DedupStore, CHANGE_CLAIM_SECS};
    let starter = Arc::new(FakeStarter::default());
    let dedup = Arc::new(FakeDedup::default());
    let runner = StartRunner::new(starter.clone(), Some(dedup.clone() as Arc<dyn DedupStore>), false);
    let plan = |delivery: &str, change: Option<&str>| crate::ports::StartPlan {
        pipeline: "app".into(),
        client_request_token: crate::token::deterministic(&[delivery]),
        source_revisions: Vec::new(),
        variables: Vec::new(),
        notes: Vec::new(),
        change_token: change.map(str::to_owned),
        group: None,
    };
    let now = 1_700_000_000;
    let started = |r: StartResult| match r {
        StartResult::Started { execution_id: Some(id), duplicate, .. } => (id, duplicate),
        other => panic!("{other:?}"),
    };
    assert_eq!(started(runner.run(&plan("org-hook", Some("c")), now).await), ("exec-1".into(), false));
    assert_eq!(started(runner.run(&plan("repo-hook", Some("c")), now + 5).await), ("exec-1".into(), true));
    assert_eq!(started(runner.run(&plan("command", None), now + 6).await), ("exec-2".into(), false));
    let later = now + CHANGE_CLAIM_SECS + 1;
    assert_eq!(started(runner.run(&plan("pushed-again", Some("c")), later).await), ("exec-3".into(), false));
    // A failed start gives the change back: the next delivery of it starts.
    let failing = FakeStarter {
        fail: [("app".to_owned(), crate::ports::AwsError::Transient("throttled".into()))].into(),
        ..Default::default()
    };
    let runner = StartRunner::new(Arc::new(failing), Some(dedup.clone() as Arc<dyn DedupStore>), false);
    assert!(matches!(runner.run(&plan("x", Some("d")), now).await, StartResult::Failed { transient: true, .. }));
    assert!(!dedup.records.lock().unwrap().contains_key("change#d"), "released");
}

#[tokio::test]
async fn dry_run_decides_but_starts_nothing() {
    let h = harness_with(github_config(), SECRET, FakeStarter::default(), false, true);
    let r = h.service.handle(push()).await;
    assert_eq!(r.body["started"], json!([{ "trigger": "main", "pipeline": "app", "execution_id": null }]));
    assert!(h.starter.started.lock().unwrap().is_empty());
    assert!(h.bus.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_failing_bus_does_not_fail_the_webhook() {
    let starter = Arc::new(FakeStarter::default());
    let runner = StartRunner::new(starter.clone(), None, false);
    let secrets = Secrets::Fixed(Arc::new(WebhookSecrets::parse(SECRET).unwrap()));
    let service = WebhookService::new(
        github_config(),
        secrets,
        runner,
        Some(Arc::new(FakeBus { fail: true, ..Default::default() })),
    );
    assert_eq!(service.handle(push()).await.status, 200);
    assert_eq!(starter.started.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn named_secrets_confine_deliveries_to_their_triggers() {
    let config = config(json!([
        { "name": "team-a-app", "pipeline": "a", "git": { "repository": "binkkatal/*" }, "secret": "team-a" },
        { "name": "team-b-app", "pipeline": "b", "git": { "repository": "binkkatal/*" }, "secret": "team-b" },
        { "name": "shared", "pipeline": "s", "git": { "repository": "binkkatal/*" } }
    ]));
    let h = harness_with(
        config,
        r#"{"secrets":["main-key-0123456789"],"named":{"team-a":["ka-key-0123456789"],"team-b":["kb-key-0123456789"]}}"#,
        FakeStarter::default(),
        false,
        false,
    );
    let body = fixture("github/push.json");
    let names = |r: &WebhookResponse| {
        r.body["started"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["trigger"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&h.service.handle(github(&body, "push", "1", "ka-key-0123456789")).await), ["team-a-app"]);
    assert_eq!(names(&h.service.handle(github(&body, "push", "2", "kb-key-0123456789")).await), ["team-b-app"]);
    assert_eq!(names(&h.service.handle(github(&body, "push", "3", "main-key-0123456789")).await), ["shared"]);
}

#[tokio::test]
async fn generic_standard_webhooks_with_timestamps() {
    let config = config(json!([{ "name": "tool", "pipeline": "tool", "git": { "repository": "lab/tool" } }]));
    let h = harness_with(config, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", FakeStarter::default(), false, false);
    let body =
        br#"{"repository":"lab/tool","ref":"refs/heads/main","commit":"0123456789abcdef0123456789abcdef01234567"}"#;
    let request = |ts: i64| {
        let sig = sign_standard_webhook(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "msg_1", ts, body);
        let headers: Headers =
            [("webhook-id", "msg_1".to_string()), ("webhook-timestamp", ts.to_string()), ("webhook-signature", sig)]
                .into_iter()
                .collect();
        WebhookRequest { method: "POST".into(), headers, body: body.to_vec() }
    };
    let r = h.service.handle(request(1_700_000_000 - 60)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["started"][0]["pipeline"], "tool");
    assert_eq!(h.service.handle(request(1_700_000_000 - 600)).await.status, 401);
}

#[tokio::test]
async fn a_multi_ref_push_starts_once_per_ref() {
    let config = config(
        json!([{ "name": "all", "pipeline": "p", "git": { "repository": "team_name/repo_name", "events": ["push", "tag"] } }]),
    );
    let h = harness_with(config, SECRET, FakeStarter::default(), false, false);
    let mut doc: serde_json::Value = serde_json::from_slice(&fixture("bitbucket/repo-push.json")).unwrap();
    let mut second = doc["push"]["changes"][0].clone();
    second["new"]["type"] = "tag".into();
    second["new"]["name"] = "v9".into();
    doc["push"]["changes"].as_array_mut().unwrap().push(second);
    let body = doc.to_string().into_bytes();
    let headers: Headers = [
        ("X-Event-Key", "repo:push".to_string()),
        ("X-Request-UUID", "r-1".to_string()),
        ("X-Hub-Signature", format!("sha256={}", sign_hex(&Secret::new(SECRET), &body))),
    ]
    .into_iter()
    .collect();
    let r = h.service.handle(WebhookRequest { method: "POST".into(), headers, body }).await;
    assert_eq!(r.body["started"].as_array().unwrap().len(), 2, "{}", r.body);
    let started = h.starter.started.lock().unwrap();
    assert_ne!(started[0].client_request_token, started[1].client_request_token);
}

#[tokio::test]
async fn secrets_manager_outages_answer_503_then_recover() {
    let source = FakeSecretSource::new(vec![
        Err(AwsError::Transient("GetSecretValue: timeout".into())),
        Ok(Some(SECRET.into())),
    ]);
    let runner = StartRunner::new(Arc::new(FakeStarter::default()), None, false);
    let service =
        WebhookService::new(github_config(), Secrets::Loaded(SecretCache::new(Arc::new(source))), runner, None);
    let r = service.handle(push()).await;
    assert_eq!(r.status, 503);
    assert!(r.headers.iter().any(|(k, _)| *k == "Retry-After"));
    assert_eq!(service.handle(push()).await.status, 200);
    // cached now: the source is not asked again (it would panic on an empty list)
    assert_eq!(service.handle(push()).await.status, 200);
}

// Defects found by reading the code as an attacker would; each test failed before its fix.

/// A Standard Webhooks signature over `id.ts.body` is an HMAC over those bytes: under a key that
/// also served the hex schemes it was a valid GitHub signature of the same bytes sent as a form,
/// whose `payload=` field hid in a free-text field of the generic body.
#[tokio::test]
async fn a_standard_webhooks_signature_never_passes_as_a_github_form() {
    let h = harness();
    let github_push: String = form_urlencoded::byte_serialize(&fixture("github/push.json")).collect();
    let generic_body = format!(
        r#"{{"repository":"binkkatal/sample_app","ref":"refs/heads/master","commit":"0123456789abcdef0123456789abcdef01234567","message":"&payload={github_push}&"}}"#
    );
    // What a generic sender signs (and an observer of one delivery sees): the signature...
    let signed = format!("msg_1.1700000000.{generic_body}");
    let mac = crate::auth::hmac_sha256(SECRET.as_bytes(), signed.as_bytes());
    // ...replayed as a GitHub form delivery of the signed bytes.
    let headers: Headers = [
        ("X-GitHub-Event", "push".to_string()),
        ("X-GitHub-Delivery", "forged".to_string()),
        ("Content-Type", "application/x-www-form-urlencoded".to_string()),
        ("X-Hub-Signature-256", format!("sha256={}", hex::encode(mac))),
    ]
    .into_iter()
    .collect();
    let r = h.service.handle(WebhookRequest { method: "POST".into(), headers, body: signed.into_bytes() }).await;
    assert_eq!(r.status, 400, "a form is exactly one payload field: {}", r.body);
    assert!(h.starter.started.lock().unwrap().is_empty());

    // And the generic delivery itself: a plain secret does not verify Standard Webhooks at all.
    let standard = sign_standard_webhook(&Secret::new(SECRET), "msg_1", 1_700_000_000, generic_body.as_bytes());
    let headers: Headers = [
        ("webhook-id", "msg_1".to_string()),
        ("webhook-timestamp", "1700000000".to_string()),
        ("webhook-signature", standard),
    ]
    .into_iter()
    .collect();
    let r = h.service.handle(WebhookRequest { method: "POST".into(), headers, body: generic_body.into_bytes() }).await;
    assert_eq!(r.status, 401);
    assert!(h.starter.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_whsec_key_verifies_only_standard_webhooks() {
    const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let h = harness_with(github_config(), KEY, FakeStarter::default(), false, false);
    assert_eq!(h.service.handle(github(&fixture("github/push.json"), "push", "d-1", KEY)).await.status, 401);
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD.decode(&KEY[6..]).unwrap();
    let body = fixture("github/push.json");
    let mac = crate::auth::hmac_sha256(&decoded, &body);
    let mut request = github(&body, "push", "d-2", KEY);
    request.headers.insert("X-Hub-Signature-256", &format!("sha256={}", hex::encode(mac)));
    assert_eq!(h.service.handle(request).await.status, 401);
    assert!(h.starter.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_form_body_is_exactly_one_payload_field() {
    let h = harness();
    let json: String = form_urlencoded::byte_serialize(&fixture("github/push.json")).collect();
    for body in [
        format!("payload={json}"),
        format!("payload={json}&x=1"),
        format!("x=1&payload={json}"),
        format!("payload={json}&payload={json}"),
    ] {
        let signed = github(body.as_bytes(), "push", "d-1", SECRET);
        let mut request = WebhookRequest { headers: Headers::new(), ..signed.clone() };
        for name in ["x-github-event", "x-github-delivery", "x-hub-signature-256"] {
            request.headers.insert(name, signed.headers.get(name).unwrap());
        }
        request.headers.insert("Content-Type", "application/x-www-form-urlencoded");
        let ok = body.matches("payload=").count() == 1 && !body.contains('&');
        assert_eq!(h.service.handle(request).await.status, if ok { 200 } else { 400 }, "{}", &body[..20]);
    }
}

#[tokio::test]
async fn a_redelivery_while_the_first_is_in_progress_asks_for_a_retry() {
    let starter = Arc::new(FakeStarter::default());
    let dedup = Arc::new(FakeDedup::default());
    let runner = StartRunner::new(starter.clone(), Some(dedup.clone()), false);
    let secrets = Secrets::Fixed(Arc::new(WebhookSecrets::parse(SECRET).unwrap()));
    let service = WebhookService::new(github_config(), secrets, runner, None).with_clock(|| 1_700_000_000);
    // The first attempt claimed the token 20 s ago, then timed out or crashed.
    let token = crate::token::deterministic(&["github", "d-1", "main", "app"]);
    use crate::ports::DedupStore;
    assert_eq!(dedup.claim(&format!("start#{token}"), 1_700_000_000 - 20).await, Ok(crate::ports::Claim::Claimed));
    let r = service.handle(push()).await;
    assert_eq!(r.status, 503, "{}", r.body);
    let retry_after: i64 = r.headers.iter().find(|(k, _)| *k == "Retry-After").unwrap().1.parse().unwrap();
    assert!((1..=40).contains(&retry_after), "the lease's remaining seconds: {retry_after}");
    assert!(starter.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_permanent_failure_is_told_in_heralds_words_not_aws_text() {
    let mut fail = HashMap::new();
    fail.insert(
        "app".to_string(),
        AwsError::Permanent(
            "StartPipelineExecution: ValidationException: role arn:aws:iam::111122223333:role/x is invalid".into(),
        ),
    );
    let h = harness_with(github_config(), SECRET, FakeStarter { fail, ..Default::default() }, false, false);
    let r = h.service.handle(push()).await;
    assert_eq!(r.status, 200);
    let error = r.body["failed"][0]["error"].as_str().unwrap();
    assert!(!error.contains("111122223333") && !error.contains("arn:"), "{error}");
    assert!(error.contains("CodePipeline refused"), "{error}");
}

#[tokio::test]
async fn extreme_timestamps_are_refused_without_overflow() {
    let config = config(json!([{ "name": "tool", "pipeline": "tool", "git": { "repository": "lab/tool" } }]));
    let h = harness_with(config, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", FakeStarter::default(), false, false);
    for ts in [
        i64::MIN.to_string(),
        i64::MAX.to_string(),
        "-1".into(),
        "99999999999999999999".into(),
        "1e9".into(),
        "".into(),
    ] {
        let headers: Headers = [
            ("webhook-id", "msg_1".to_string()),
            ("webhook-timestamp", ts.clone()),
            ("webhook-signature", "v1,AAAA".to_string()),
        ]
        .into_iter()
        .collect();
        let r = h.service.handle(WebhookRequest { method: "POST".into(), headers, body: b"{}".to_vec() }).await;
        assert_eq!(r.status, 401, "{ts}");
    }
}

#[tokio::test]
async fn an_empty_webhook_id_is_a_bad_request() {
    let config = config(json!([{ "name": "tool", "pipeline": "tool", "git": { "repository": "lab/tool" } }]));
    const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let h = harness_with(config, KEY, FakeStarter::default(), false, false);
    let body =
        br#"{"repository":"lab/tool","ref":"refs/heads/main","commit":"0123456789abcdef0123456789abcdef01234567"}"#;
    let sig = sign_standard_webhook(&Secret::new(KEY), "", 1_700_000_000, body);
    let headers: Headers =
        [("webhook-id", String::new()), ("webhook-timestamp", "1700000000".to_string()), ("webhook-signature", sig)]
            .into_iter()
            .collect();
    let r = h.service.handle(WebhookRequest { method: "POST".into(), headers, body: body.to_vec() }).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(h.starter.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_slow_dependency_is_answered_503_inside_the_budget() {
    let starter = FakeStarter { delay: std::time::Duration::from_secs(5), ..Default::default() };
    let h = harness_with(github_config(), SECRET, starter, false, false);
    let service = h.service.with_budget(std::time::Duration::from_millis(200));
    let began = std::time::Instant::now();
    let r = service.handle(push()).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.headers.iter().any(|(k, _)| *k == "Retry-After"));
    assert!(began.elapsed() < std::time::Duration::from_secs(2), "answered at the budget, not after the start");
}

#[tokio::test]
async fn a_start_with_status_is_recorded_and_reported_pending_and_a_redelivery_posts_nothing_more() {
    use crate::ports::fakes::{FakeHttp, FakeRecords};
    let config = config(json!([
        { "name": "main", "pipeline": "app", "git": { "repository": "binkkatal/sample_app" }, "status": true },
        { "name": "quiet", "pipeline": "other", "git": { "repository": "binkkatal/sample_app" } }
    ]));
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let reporter = crate::status::tests::reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let h = harness_with(config, SECRET, FakeStarter::default(), true, false);
    let service = h.service.with_status(Some(Arc::new(reporter)));
    let answer = service.handle(push()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["statuses"],
        json!([{ "trigger": "main", "pipeline": "app", "context": "herald/app", "state": "pending", "outcome": "posted" }])
    );
    let requests = http.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "only the trigger with status reports");
    assert!(requests[0].url.starts_with("https://api.github.com/repos/binkkatal/sample_app/statuses/"));
    let execution_id = answer.body["started"].as_array().unwrap().iter().find(|s| s["trigger"] == "main").unwrap()
        ["execution_id"]
        .clone();
    assert!(records.records.lock().unwrap().contains_key(execution_id.as_str().unwrap()));
    let again = service.handle(push()).await;
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(http.requests.lock().unwrap().len(), 1, "a duplicate's status was posted by the first delivery");
}

#[tokio::test]
async fn slow_statuses_never_turn_a_started_delivery_into_a_503() {
    use crate::ports::fakes::{FakeHttp, FakeRecords};
    let config = config(json!([
        { "name": "main", "pipeline": "app", "git": { "repository": "binkkatal/sample_app" }, "status": true }
    ]));
    let http = Arc::new(FakeHttp { delay: std::time::Duration::from_secs(5), ..FakeHttp::default() });
    let reporter =
        crate::status::tests::reporter(http, Arc::new(FakeRecords::default()), r#"{"github": {"token": "t"}}"#);
    let starter = FakeStarter { delay: std::time::Duration::from_millis(300), ..FakeStarter::default() };
    let h = harness_with(config, SECRET, starter, false, false);
    let service = h.service.with_budget(std::time::Duration::from_millis(1500)).with_status(Some(Arc::new(reporter)));
    let answer = service.handle(push()).await;
    assert_eq!(answer.status, 200, "the start stands; the status ran out of time: {}", answer.body);
    assert_eq!(answer.body["started"][0]["pipeline"], "app");
}

#[tokio::test]
async fn a_pull_request_starts_only_the_pipeline_whose_paths_it_touched() {
    use crate::ports::fakes::FakeHttp;
    let config = config(json!([
        { "name": "web", "pipeline": "web", "git": { "repository": "baxterthehacker/public-repo", "events": ["pull_request"], "paths": ["services/web/**"] } },
        { "name": "api", "pipeline": "api", "git": { "repository": "baxterthehacker/public-repo", "events": ["pull_request"], "paths": ["services/api/**"] } }
    ]));
    let mut http = FakeHttp::default();
    http.bodies.insert(
        "/pulls/1/files?per_page=100&page=1".into(),
        json!([{ "filename": "services/web/app.ts" }]).to_string(),
    );
    let http = Arc::new(http);
    let policy = crate::git_api::RetryPolicy::LOOKUP;
    let credentials = crate::secrets::ServerCredentials::Fixed(Arc::new(
        crate::git_api::credentials::Credentials::parse(r#"{"github": {"token": "t"}}"#).unwrap(),
    ));
    let lookups =
        crate::files::FileLookups::new(Arc::new(credentials), crate::git_api::GitApi::new(http.clone(), policy));
    let h = harness_with(config, SECRET, FakeStarter::default(), false, false);
    let service = h.service.with_file_lookups(Some(Arc::new(lookups)));
    let answer = service.handle(github(&fixture("github/pull-request.json"), "pull_request", "d-pr", SECRET)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["started"].as_array().unwrap().len(),
        1,
        "{} {:?}",
        answer.body,
        http.requests.lock().unwrap()
    );
    assert_eq!(answer.body["started"][0]["pipeline"], "web");
    assert!(answer.body["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("no changed file matches paths (services/api/**)"));
    assert_eq!(http.requests.lock().unwrap().len(), 1, "one lookup for both triggers");
}

#[tokio::test]
async fn a_change_a_path_filter_skips_gets_a_final_passing_status_where_the_context_applies() {
    use crate::ports::fakes::{FakeHttp, FakeRecords};
    // The fixture pushes `.razorops.yaml` and `app/controllers/...` to master.
    let config = config(json!([
        { "name": "services", "pipeline": "svc", "git": { "repository": "binkkatal/sample_app", "paths": ["services/**"] }, "status": true },
        { "name": "quiet", "pipeline": "quiet", "git": { "repository": "binkkatal/sample_app", "paths": ["services/**"] }, "status": { "skipped": false } },
        { "name": "other-branch", "pipeline": "rel", "git": { "repository": "binkkatal/sample_app", "branches": ["release/*"], "paths": ["services/**"] }, "status": true }
    ]));
    let run = |dry_run: bool| {
        let config = config.clone();
        async move {
            let http = Arc::new(FakeHttp::default());
            let records = Arc::new(FakeRecords::default());
            let reporter = crate::status::tests::reporter(http.clone(), records, r#"{"github": {"token": "t"}}"#);
            let h = harness_with(config, SECRET, FakeStarter::default(), false, dry_run);
            let answer = h.service.with_status(Some(Arc::new(reporter))).handle(push()).await;
            let requests = http.requests.lock().unwrap().clone();
            (answer, requests)
        }
    };
    let (answer, requests) = run(false).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["started"], json!([]));
    assert_eq!(
        answer.body["statuses"],
        json!([{ "trigger": "services", "pipeline": "svc", "context": "herald/svc", "state": "skipped", "outcome": "posted" }]),
        "not for skipped: false, not where the branch does not match"
    );
    assert_eq!(requests.len(), 1);
    let sent: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent["state"], "success");
    assert!(sent["description"].as_str().unwrap().starts_with("skipped: no changed file matches paths (services/**)"));
    // A dry run says what it would post and posts nothing.
    let (answer, requests) = run(true).await;
    assert_eq!(answer.body["statuses"][0]["outcome"], "dry_run", "{}", answer.body);
    assert!(requests.is_empty());
}

#[tokio::test]
async fn a_command_without_the_dedup_table_and_credentials_is_answered_with_the_reason_and_nothing_runs() {
    let h = harness();
    let body = json!({
        "action": "created",
        "issue": { "number": 1, "pull_request": { "url": "https://api.github.com/repos/binkkatal/sample_app/pulls/1" } },
        "comment": { "id": 9, "body": "LGTM\n/herald run\n/herald approve ship it", "user": { "login": "ann" }, "author_association": "MEMBER" },
        "repository": { "full_name": "binkkatal/sample_app", "url": "https://api.github.com/repos/binkkatal/sample_app" }
    })
    .to_string();
    let r = h.service.handle(github(body.as_bytes(), "issue_comment", "d-comment", SECRET)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let commands = r.body["commands"].as_array().unwrap();
    assert_eq!(commands.len(), 2, "{}", r.body);
    assert!(commands
        .iter()
        .all(|c| c["outcome"] == "refused"
            && c["reason"].as_str().unwrap().starts_with("commands need HERALD_DEDUP_TABLE")));
    assert!(h.starter.started.lock().unwrap().is_empty());
    // Unsigned, it is refused before it is read.
    let mut unsigned = github(body.as_bytes(), "issue_comment", "d-comment-2", SECRET);
    unsigned.headers = [("X-GitHub-Event", "issue_comment"), ("X-GitHub-Delivery", "d-2")].into_iter().collect();
    assert_eq!(h.service.handle(unsigned).await.status, 401);
}

#[tokio::test]
async fn a_delivery_answered_200_is_recorded_as_processed_and_a_503_is_not() {
    use crate::ports::fakes::FakeDedup;
    let dedup = Arc::new(FakeDedup::default());
    let service = |starter: FakeStarter| {
        let runner =
            StartRunner::new(Arc::new(starter), Some(dedup.clone() as Arc<dyn crate::ports::DedupStore>), false);
        let secrets = Secrets::Fixed(Arc::new(WebhookSecrets::parse(SECRET).unwrap()));
        WebhookService::new(github_config(), secrets, runner, None).with_clock(|| 1_700_000_000)
    };
    let mut fail = HashMap::new();
    fail.insert("app".to_string(), AwsError::Transient("StartPipelineExecution: ThrottlingException".into()));
    let failing = service(FakeStarter { fail, ..Default::default() });
    assert_eq!(failing.handle(push()).await.status, 503);
    assert!(dedup.records.lock().unwrap().is_empty(), "a 503 is not processed (its claims were given back)");
    let service = service(FakeStarter::default());
    assert_eq!(service.handle(push()).await.status, 200);
    // Nothing matched counts too: it was answered 200.
    let ping = service.handle(github(b"{\"zen\": \"x\", \"hook_id\": 1}", "ping", "d-ping", SECRET)).await;
    assert_eq!(ping.status, 200);
    let records = dedup.records.lock().unwrap();
    let (value, expires_at) = records.get("delivery#github:d-1").expect("recorded");
    assert_eq!((value.as_deref(), *expires_at), (Some("200"), 1_700_000_000 + 3 * 24 * 3600));
    assert!(records.contains_key("delivery#github:d-ping"));
}

/// Bitbucket Cloud names a pull request's head by 12 characters, which cannot pin a source
/// action: git-webhook asks the server for the full id (its commit answer) and starts pinned to
/// it. Without an answer the trigger skips saying why. (It always skipped before.)
#[tokio::test]
async fn a_bitbucket_cloud_pull_request_is_pinned_to_the_full_commit_its_server_names() {
    use crate::ports::fakes::FakeHttp;
    let full = "d3022fc0ca3d65c7f6db6cbc6d4a9d1b7c8e9f00";
    let config = config(json!([
        { "name": "pr", "pipeline": "app", "git": { "repository": "team_name/repo_name", "events": ["pull_request"] },
          "source_action": "Source" }
    ]));
    let body = fixture("bitbucket/pull-request-created.json");
    let mut headers = Headers::new();
    headers.insert("X-Event-Key", "pullrequest:created");
    headers.insert("X-Request-UUID", "d-bb-pr");
    headers.insert("X-Hub-Signature", &format!("sha256={}", sign_hex(&Secret::new(SECRET), &body)));
    let request = WebhookRequest { method: "POST".into(), headers, body };
    let run = |answer: Option<&str>| {
        let (config, request) = (config.clone(), request.clone());
        let mut http = FakeHttp::default();
        if let Some(hash) = answer {
            http.bodies.insert("/commit/d3022fc0ca3d".into(), json!({ "hash": hash }).to_string());
        } else {
            http.answers = std::sync::Mutex::new(vec![404]);
        }
        async move {
            let http = Arc::new(http);
            let credentials = crate::secrets::ServerCredentials::Fixed(Arc::new(
                crate::git_api::credentials::Credentials::parse(r#"{"bitbucket": {"token": "t"}}"#).unwrap(),
            ));
            let api = crate::git_api::GitApi::new(http.clone(), crate::git_api::RetryPolicy::LOOKUP);
            let lookups = crate::files::FileLookups::new(Arc::new(credentials), api);
            let h = harness_with(config, SECRET, FakeStarter::default(), false, false);
            let service = h.service.with_file_lookups(Some(Arc::new(lookups)));
            let answer = service.handle(request).await;
            let urls: Vec<String> = http.requests.lock().unwrap().iter().map(|r| r.url.clone()).collect();
            (answer, urls, h.starter)
        }
    };
    let (answer, urls, starter) = run(Some(full)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["started"][0]["pipeline"], "app", "{} {urls:?}", answer.body);
    assert_eq!(urls, ["https://api.bitbucket.org/2.0/repositories/team_name/repo_name/commit/d3022fc0ca3d"]);
    let pinned = starter.started.lock().unwrap()[0].source_revisions[0].revision_value.clone();
    assert_eq!(pinned, full);
    let (answer, _, _) = run(None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let reason = answer.body["skipped"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("abbreviated commit id d3022fc0ca3d"), "{}", answer.body);
}
