//! AWS failures through the real binaries: a fault proxy between each function and moto
//! throttles, fails, slows down or drops the calls a test names. Every event must end started /
//! sent, or answered retryable (503, or a failed invocation): never acknowledged and lost.

use herald_tests::events::{body_of, signed_github_push};
use herald_tests::faults::{Fault, FaultProxy};
use herald_tests::moto::Moto;
use herald_tests::runtime::{Lambda, Outcome};
use herald_tests::{sample, workspace};
use serde_json::Value;
use std::time::{Duration, Instant};

const SECRET: &str = "herald-demo-secret";
/// More than the SDK's three attempts: the failure reaches Herald.
const PERSISTENT: usize = 6;

fn config() -> String {
    std::fs::read_to_string(workspace().join("events/herald-config.json")).expect("events/herald-config.json")
}

async fn send(lambda: &mut Lambda, event: Value) -> (u16, Value, Vec<(String, String)>) {
    let response = lambda.invoke(event).await.response();
    let headers = response["headers"]
        .as_object()
        .map(|h| h.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or_default().to_owned())).collect())
        .unwrap_or_default();
    (response["statusCode"].as_u64().unwrap_or_default() as u16, body_of(&response), headers)
}

fn retry_after(headers: &[(String, String)]) -> Option<u64> {
    headers.iter().find(|(k, _)| k == "retry-after").and_then(|(_, v)| v.parse().ok())
}

struct Webhook {
    moto: Moto,
    proxy: FaultProxy,
    lambda: Lambda,
}

async fn webhook(env: &[(&str, &str)], setup: impl FnOnce(&Moto)) -> Webhook {
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", "demo-github", "PROVIDER", "EVENT", "REF", "COMMIT_ID"]);
    setup(&moto);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let config = config();
    let mut all = vec![("HERALD_CONFIG", config.as_str())];
    if !env.iter().any(|(k, _)| k.starts_with("HERALD_WEBHOOK_SECRET")) {
        all.push(("HERALD_WEBHOOK_SECRET", SECRET));
    }
    all.extend_from_slice(env);
    let lambda = Lambda::start("git-webhook", &proxy.endpoint, &all).await;
    Webhook { moto, proxy, lambda }
}

#[tokio::test]
async fn a_throttled_start_is_answered_503_and_the_retry_starts_once() {
    let mut w = webhook(&[], |_| {}).await;
    w.proxy.inject("StartPipelineExecution", Fault::Throttle, PERSISTENT);
    let (status, body, headers) = send(&mut w.lambda, signed_github_push("d-throttle", SECRET)).await;
    assert_eq!(status, 503, "{body}");
    assert!(retry_after(&headers).is_some());
    assert_eq!(body["failed"][0]["retryable"], true, "{body}");
    assert!(w.moto.executions("demo-github").is_empty());
    // The SDK retried the throttled start: at least a second attempt inside the 2.5 s operation
    // budget (a third one fits only when its jittered backoffs are short, so it is not counted on).
    let starts = |w: &Webhook| w.proxy.calls().iter().filter(|c| *c == "StartPipelineExecution").count();
    assert!(starts(&w) >= 2, "the SDK retried: {:?}", w.proxy.calls());
    let first = starts(&w);
    w.proxy.heal();
    let (status, body, _) = send(&mut w.lambda, signed_github_push("d-throttle", SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.moto.executions("demo-github").len(), 1);
    assert_eq!(starts(&w), first + 1, "the redelivery started once");
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_answered_503() {
    for fault in [Fault::ServerError, Fault::Drop] {
        let mut w = webhook(&[], |_| {}).await;
        w.proxy.inject("StartPipelineExecution", fault, PERSISTENT);
        let (status, body, _) = send(&mut w.lambda, signed_github_push("d-1", SECRET)).await;
        assert_eq!(status, 503, "{fault:?}: {body}");
        w.proxy.heal();
        assert_eq!(send(&mut w.lambda, signed_github_push("d-1", SECRET)).await.0, 200, "{fault:?}");
        assert_eq!(w.moto.executions("demo-github").len(), 1, "{fault:?}");
    }
}

#[tokio::test]
async fn a_failed_release_after_a_failed_start_is_never_acknowledged() {
    let mut w = webhook(&[("HERALD_DEDUP_TABLE", "herald-dedup")], |moto| {
        moto.ctl(&["create-table", "herald-dedup"]);
    })
    .await;
    w.proxy.inject("StartPipelineExecution", Fault::ServerError, PERSISTENT);
    w.proxy.inject("DeleteItem", Fault::ServerError, PERSISTENT);
    let (status, body, _) = send(&mut w.lambda, signed_github_push("d-stuck", SECRET)).await;
    assert_eq!(status, 503, "{body}");
    w.proxy.heal();
    // The claim is still in progress (its release failed): the redelivery must not be told
    // "duplicate" — it is asked to come back when the lease ends, and then takes the claim over.
    let (status, body, headers) = send(&mut w.lambda, signed_github_push("d-stuck", SECRET)).await;
    assert_eq!(status, 503, "{body}");
    let wait = retry_after(&headers).expect("Retry-After");
    assert!((1..=60).contains(&wait), "the lease's remaining seconds: {wait}");
    assert_ne!(body["duplicate"], true, "{body}");
    assert!(w.moto.executions("demo-github").is_empty());
}

#[tokio::test]
async fn dedup_table_outages_are_answered_503() {
    for fault in [Fault::Throttle, Fault::Drop] {
        let mut w = webhook(&[("HERALD_DEDUP_TABLE", "herald-dedup")], |moto| {
            moto.ctl(&["create-table", "herald-dedup"]);
        })
        .await;
        w.proxy.inject("PutItem", fault, PERSISTENT);
        let (status, body, _) = send(&mut w.lambda, signed_github_push("d-2", SECRET)).await;
        assert_eq!(status, 503, "{fault:?}: {body}");
        assert!(w.moto.executions("demo-github").is_empty(), "nothing starts without its claim");
        w.proxy.heal();
        assert_eq!(send(&mut w.lambda, signed_github_push("d-2", SECRET)).await.0, 200);
        assert_eq!(w.moto.executions("demo-github").len(), 1);
    }
}

#[tokio::test]
async fn a_secrets_manager_outage_is_answered_503_then_recovers() {
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", "demo-github", "PROVIDER", "EVENT", "REF", "COMMIT_ID"]);
    let secret = moto.ctl(&["create-secret", "herald-webhook", SECRET]);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    // The cold start's load and the first request's both fail.
    proxy.inject("GetSecretValue", Fault::ServerError, 2 * PERSISTENT);
    let config = config();
    let env = [("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET_ARN", secret["arn"].as_str().unwrap())];
    let mut lambda = Lambda::start("git-webhook", &proxy.endpoint, &env).await;
    let (status, body, _) = send(&mut lambda, signed_github_push("d-3", SECRET)).await;
    assert_eq!(status, 503, "{body}");
    proxy.heal();
    assert_eq!(send(&mut lambda, signed_github_push("d-3", SECRET)).await.0, 200);
    assert_eq!(moto.executions("demo-github").len(), 1);
}

#[tokio::test]
async fn a_failing_decision_bus_does_not_fail_the_delivery() {
    let mut w = webhook(&[("HERALD_EVENT_BUS", "herald-decisions")], |moto| {
        moto.ctl(&["bus-to-queue", "herald-decisions", "herald-decisions-q"]);
    })
    .await;
    w.proxy.inject("PutEvents", Fault::Drop, PERSISTENT);
    let (status, body, _) = send(&mut w.lambda, signed_github_push("d-4", SECRET)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.moto.executions("demo-github").len(), 1);
    let logs = w.lambda.stop().await;
    assert!(logs.contains("could not publish decision events"), "the loss is logged");
}

#[tokio::test]
async fn a_slow_start_is_answered_inside_the_git_servers_timeout() {
    let mut w = webhook(&[], |_| {}).await;
    w.proxy.inject("StartPipelineExecution", Fault::Slow(Duration::from_secs(20)), PERSISTENT);
    let began = Instant::now();
    let (status, body, _) = send(&mut w.lambda, signed_github_push("d-5", SECRET)).await;
    let took = began.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}: Git servers give up at 10 s");
}

async fn s3_trigger(proxy: &FaultProxy, env: &[(&str, &str)]) -> Lambda {
    let config = std::fs::read_to_string(workspace().join("events/s3-trigger/herald-config.json")).expect("config");
    let mut all = vec![("HERALD_CONFIG", config.as_str())];
    all.extend_from_slice(env);
    Lambda::start("s3-trigger", &proxy.endpoint, &all).await
}

#[tokio::test]
async fn s3_trigger_fails_the_invocation_until_the_start_succeeds() {
    let moto = Moto::start();
    let source = "source=acme-artifacts:releases/app/latest.zip:override";
    for name in ["demo-deploy", "demo-data"] {
        moto.ctl(&["create-pipeline", name, source, "ARTIFACT_BUCKET", "ARTIFACT_KEY", "ARTIFACT_VERSION", "EVENT_ID"]);
    }
    moto.ctl(&["create-table", "herald-dedup"]);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let mut lambda = s3_trigger(&proxy, &[("HERALD_DEDUP_TABLE", "herald-dedup")]).await;
    let event = sample("s3-trigger/eventbridge-object-created.json");
    for (call, fault) in
        [("GetPipeline", Fault::Drop), ("StartPipelineExecution", Fault::Throttle), ("PutItem", Fault::ServerError)]
    {
        proxy.inject(call, fault, PERSISTENT);
        match lambda.invoke(event.clone()).await {
            Outcome::Error(e) => assert_eq!(e["errorType"], "Herald.RetryableStartFailure", "{call}: {e}"),
            Outcome::Response(r) => panic!("{call} failing was acknowledged: {r}"),
        }
        proxy.heal();
    }
    let out = lambda.invoke(event.clone()).await.response();
    assert_eq!(out["started"][0]["pipeline"], "demo-deploy", "{out}");
    assert_eq!(moto.executions("demo-deploy").len(), 1);
    let again = lambda.invoke(event).await.response();
    assert_eq!(again["started"][0]["duplicate"], true, "{again}");
    assert_eq!(moto.executions("demo-deploy").len(), 1);
}

#[tokio::test]
async fn pipeline_notifier_fails_the_invocation_until_the_alert_is_sent() {
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", "prod-api"]);
    moto.ctl(&["create-table", "herald-dedup"]);
    let wiring = moto.ctl(&["topic-to-queue", "herald-alerts", "herald-alerts-inbox"]);
    let topic = wiring["topic_arn"].as_str().unwrap().to_owned();
    let queue = wiring["queue_url"].as_str().unwrap().to_owned();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let config = r#"{"alerts": [{"name": "all", "pipelines": ["**"], "on": ["FAILED"]}]}"#;
    let env = [("HERALD_CONFIG", config), ("HERALD_TOPIC_ARN", topic.as_str()), ("HERALD_DEDUP_TABLE", "herald-dedup")];
    let mut lambda = Lambda::start("pipeline-notifier", &proxy.endpoint, &env).await;
    let event = sample("pipeline-notifier/pipeline-failed.json");
    for (call, fault) in [("Publish", Fault::ServerError), ("Publish", Fault::Drop), ("PutItem", Fault::Throttle)] {
        proxy.inject(call, fault, PERSISTENT);
        match lambda.invoke(event.clone()).await {
            Outcome::Error(e) => assert_eq!(e["errorType"], "Herald.RetryablePublishFailure", "{call}: {e}"),
            Outcome::Response(r) => panic!("{call} {fault:?} was acknowledged: {r}"),
        }
        proxy.heal();
    }
    // Enrichment failing only degrades the alert.
    proxy.inject("GetPipelineExecution", Fault::Throttle, PERSISTENT);
    let out = lambda.invoke(event.clone()).await.response();
    assert!(out["alerts"][0]["message_id"].is_string(), "{out}");
    let again = lambda.invoke(event).await.response();
    assert_eq!(again["alerts"][0]["duplicate"], true, "sent once: {again}");
    let inbox = moto.ctl(&["receive-raw", &queue, "10"]);
    assert_eq!(inbox.as_array().map(Vec::len), Some(1), "exactly one alert arrived: {inbox}");
}
