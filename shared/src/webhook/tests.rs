//! The use case through fakes: every HTTP answer of README "HTTP answers".

use super::*;
use crate::auth::{sign_hex, sign_standard_webhook, Secret};
use crate::ports::fakes::{FakeBus, FakeDedup, FakeSecretSource, FakeStarter};
use crate::ports::AwsError;
use crate::secrets::{SecretCache, WebhookSecrets};
use crate::start::StartRunner;
use std::collections::HashMap;

const SECRET: &str = "topsecret";

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
    assert_eq!(r.body["skipped"], json!([{ "trigger": "docs", "reason": "no changed file matches paths" }]));
    assert_eq!(r.body["failed"], json!([]));
    let started = h.starter.started.lock().unwrap();
    assert_eq!(started[0].variables, [("COMMIT".to_string(), "fd489864e7642b48eaad6e3f155c10e46810ec72".to_string())]);
    let events = h.bus.events.lock().unwrap();
    let types: Vec<_> = events.iter().map(|e| e.detail_type).collect();
    assert_eq!(types, ["Pipeline Triggered", "Trigger Skipped"]);
    assert_eq!(events[0].detail["execution_id"], "exec-1");
    assert_eq!(events[0].detail["change"]["repository"], "binkkatal/sample_app");
    assert_eq!(events[1].detail["reason"], "no changed file matches paths");
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
    assert_eq!(r.body["failed"][0]["error"], "StartPipelineExecution: PipelineNotFoundException");
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
    // a new delivery id is a new start
    let other = h.service.handle(github(&fixture("github/push.json"), "push", "d-2", SECRET)).await;
    assert_eq!(other.body["started"][0]["execution_id"], "exec-2");
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
        r#"{"secrets":["main"],"named":{"team-a":["ka"],"team-b":["kb"]}}"#,
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
    assert_eq!(names(&h.service.handle(github(&body, "push", "1", "ka")).await), ["team-a-app"]);
    assert_eq!(names(&h.service.handle(github(&body, "push", "2", "kb")).await), ["team-b-app"]);
    assert_eq!(names(&h.service.handle(github(&body, "push", "3", "main")).await), ["shared"]);
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
