//! `pipeline-notifier` end to end: the real binary, moto's CodePipeline for enrichment and an
//! SNS topic delivering raw messages to an SQS queue, where the alert documents are read back.

use herald_tests::moto::Moto;
use herald_tests::runtime::{Lambda, Outcome};
use herald_tests::sample;
use serde_json::{json, Value};
use std::collections::BTreeSet;

const COMMIT: &str = "9fceb02d0ae598e95dc970b74767f19372d61af8";

const CONFIG: &str = r#"{"alerts": [
    {"name": "prod", "pipelines": ["prod-*"],
     "on": ["FIRST_FAILURE", "RECOVERED", "STAGE_FAILED", "ACTION_FAILED", "APPROVAL", "AUDIT"]},
    {"name": "lifecycle", "pipelines": ["**", "!staging-*"],
     "on": ["STARTED", "SUCCEEDED", "FAILED", "STOPPED", "STOPPING", "SUPERSEDED", "CANCELED", "RESUMED"]}
]}"#;

struct Setup {
    moto: Moto,
    lambda: Lambda,
    queue_url: String,
}

async fn setup() -> Setup {
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", "prod-api"]);
    let wiring = moto.ctl(&["topic-to-queue", "herald-alerts", "herald-alerts-inbox"]);
    let topic = wiring["topic_arn"].as_str().unwrap().to_owned();
    let queue_url = wiring["queue_url"].as_str().unwrap().to_owned();
    let lambda =
        Lambda::start("pipeline-notifier", &moto.endpoint, &[("HERALD_CONFIG", CONFIG), ("HERALD_TOPIC_ARN", &topic)])
            .await;
    Setup { moto, lambda, queue_url }
}

impl Setup {
    /// An execution moto records with `status`; a failed one broke at Build / Compile.
    fn execution(&self, status: &str) -> String {
        let mut args = vec!["start-execution", "prod-api", status, COMMIT, "Speed up the resizer\n\nDetails."];
        if status == "Failed" {
            args.extend(["Build/Compile", "error[E0308]: mismatched types"]);
        }
        let out = self.moto.ctl(&args);
        out["execution_id"].as_str().unwrap().to_owned()
    }

    /// The alerts that reached the queue: (document, attributes).
    fn inbox(&self, count: usize) -> Vec<(Value, Value)> {
        let raw = self.moto.ctl(&["receive-raw", &self.queue_url, &count.to_string()]);
        raw.as_array().unwrap().iter().map(|m| (m["body"].clone(), m["attributes"].clone())).collect()
    }
}

fn with_execution(file: &str, execution_id: &str) -> Value {
    let mut event = sample(file);
    event["detail"]["execution-id"] = json!(execution_id);
    event
}

#[tokio::test]
async fn every_token_produces_its_alert_through_the_real_binary() {
    let mut s = setup().await;
    s.execution("Succeeded");
    let failed = s.execution("Failed");

    let out = s.lambda.invoke(with_execution("pipeline-notifier/pipeline-failed.json", &failed)).await.response();
    assert_eq!(out["alerts"].as_array().map(Vec::len), Some(2), "{out}");
    let inbox = s.inbox(2);
    let (first, attributes) = inbox.iter().find(|(doc, _)| doc["token"] == "FIRST_FAILURE").expect("FIRST_FAILURE");
    assert_eq!(first["schema"], "herald.alert/v1");
    assert_eq!(first["alert_rule"], "prod");
    assert_eq!(first["execution_id"], failed.as_str());
    assert_eq!(first["revision"]["commit"], COMMIT, "from GetPipelineExecution");
    assert_eq!(first["revision"]["message"], "Speed up the resizer\n\nDetails.");
    assert_eq!(first["trigger"]["type"], "StartPipelineExecution", "moto's trigger wins over the event's");
    assert_eq!(first["duration_seconds"], 312);
    assert_eq!(
        first["failure"],
        json!({
            "stage": "Build", "action": "Compile", "summary": "error[E0308]: mismatched types",
            "external_url": format!("https://console.aws.amazon.com/codebuild/home?region=us-east-1#/builds/prod-api-build:{failed}/view/new"),
        }),
        "from ListActionExecutions"
    );
    assert_eq!(
        attributes,
        &json!({ "pipeline": "prod-api", "state": "FAILED", "kind": "pipeline", "alert_rule": "prod" })
    );
    assert!(inbox.iter().any(|(doc, _)| doc["token"] == "FAILED" && doc["alert_rule"] == "lifecycle"));

    let fixed = s.execution("Succeeded");
    s.lambda.invoke(with_execution("pipeline-notifier/pipeline-succeeded.json", &fixed)).await.response();
    let inbox = s.inbox(2);
    let tokens: BTreeSet<String> = inbox.iter().map(|(d, _)| d["token"].as_str().unwrap().to_owned()).collect();
    assert_eq!(tokens, BTreeSet::from(["RECOVERED".to_owned(), "SUCCEEDED".to_owned()]));

    let mut seen = BTreeSet::from(["FIRST_FAILURE", "FAILED", "RECOVERED", "SUCCEEDED"].map(String::from));
    for state in ["STARTED", "STOPPED", "STOPPING", "SUPERSEDED", "CANCELED", "RESUMED"] {
        let mut event = with_execution("pipeline-notifier/pipeline-started.json", &fixed);
        event["detail"]["state"] = json!(state);
        s.lambda.invoke(event).await.response();
        let inbox = s.inbox(1);
        assert_eq!(inbox.len(), 1, "{state}");
        assert_eq!(inbox[0].0["state"], state);
        seen.insert(inbox[0].0["token"].as_str().unwrap().to_owned());
    }
    for (file, token) in [
        ("stage-failed.json", "STAGE_FAILED"),
        ("action-failed.json", "ACTION_FAILED"),
        ("approval-waiting.json", "APPROVAL"),
        ("audit-update-pipeline.json", "AUDIT"),
        ("audit-stop-execution.json", "AUDIT"),
        ("audit-approval-result.json", "AUDIT"),
        ("audit-disable-transition.json", "AUDIT"),
    ] {
        // These samples name an execution moto does not know: enrichment fails, the alert goes out.
        let event = sample(&format!("pipeline-notifier/{file}"));
        let out = s.lambda.invoke(event).await.response();
        if token != "AUDIT" {
            assert!(out["enrichment_failures"].to_string().contains("GetPipelineExecution"), "{out}");
        }
        let inbox = s.inbox(1);
        assert_eq!(inbox.len(), 1, "{file}");
        let (doc, attributes) = &inbox[0];
        assert_eq!(doc["token"], token, "{file}");
        assert_eq!(attributes["kind"], doc["kind"]);
        if token != "AUDIT" {
            assert_eq!(doc["revision"], Value::Null, "{file}");
        }
        if file == "action-failed.json" {
            assert!(doc["failure"]["summary"].as_str().unwrap().contains("exit status 2"), "{doc}");
            assert!(doc["failure"]["external_url"].as_str().unwrap().contains("codebuild"));
        }
        if token == "AUDIT" {
            assert_eq!(doc["audit"]["source_ip"], "203.0.113.7");
            assert!(!doc.to_string().contains("approval-token"), "the approval token never leaves");
        }
        seen.insert(token.to_owned());
    }
    let all = [
        "STARTED",
        "SUCCEEDED",
        "FAILED",
        "STOPPED",
        "STOPPING",
        "SUPERSEDED",
        "CANCELED",
        "RESUMED",
        "RECOVERED",
        "FIRST_FAILURE",
        "STAGE_FAILED",
        "ACTION_FAILED",
        "APPROVAL",
        "AUDIT",
    ];
    assert_eq!(seen, all.into_iter().map(String::from).collect::<BTreeSet<_>>());

    let ignored = s.lambda.invoke(sample("pipeline-notifier/cloudtrail-get-pipeline-ignored.json")).await.response();
    assert!(ignored["ignored"].as_str().unwrap().contains("GetPipeline"));
    assert!(s.inbox(1).is_empty());
    let logs = s.lambda.stop().await;
    assert!(logs.contains("enrichment call failed"), "enrichment failures are logged");
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_for_a_retry() {
    let moto = Moto::start();
    let missing = "arn:aws:sns:us-east-1:123456789012:no-such-topic";
    let mut lambda =
        Lambda::start("pipeline-notifier", &moto.endpoint, &[("HERALD_CONFIG", CONFIG), ("HERALD_TOPIC_ARN", missing)])
            .await;
    match lambda.invoke(sample("pipeline-notifier/stage-failed.json")).await {
        Outcome::Error(e) => {
            assert_eq!(e["errorType"], "Herald.RetryablePublishFailure", "{e}");
            assert!(e["errorMessage"].as_str().unwrap().contains("Publish"), "{e}");
        }
        Outcome::Response(r) => panic!("a failed publish must fail the invocation, got {r}"),
    }
}

#[tokio::test]
async fn a_rule_without_a_topic_fails_the_cold_start() {
    let moto = Moto::start();
    let mut lambda = Lambda::start("pipeline-notifier", &moto.endpoint, &[("HERALD_CONFIG", CONFIG)]).await;
    assert!(lambda.wait_failed_exit().await, "the cold start must fail");
    let logs = lambda.stop().await;
    assert!(logs.contains(r#"HERALD_TOPIC_ARN: not set, and alert rule \"prod\" names no topic_arn"#), "{logs}");
}

#[tokio::test]
async fn with_a_dedup_table_a_redelivered_event_alerts_once_and_a_new_event_again() {
    let moto = Moto::start();
    moto.ctl(&["create-table", "herald-dedup"]);
    let wiring = moto.ctl(&["topic-to-queue", "herald-alerts", "herald-alerts-inbox"]);
    let topic = wiring["topic_arn"].as_str().unwrap();
    let queue_url = wiring["queue_url"].as_str().unwrap();
    let env = [("HERALD_CONFIG", CONFIG), ("HERALD_TOPIC_ARN", topic), ("HERALD_DEDUP_TABLE", "herald-dedup")];
    let mut lambda = Lambda::start("pipeline-notifier", &moto.endpoint, &env).await;
    let event = sample("pipeline-notifier/approval-waiting.json");
    let first = lambda.invoke(event.clone()).await.response();
    let message_id = first["alerts"][0]["message_id"].as_str().expect("sent").to_owned();
    // EventBridge redelivers the same event with the same id: answered as a duplicate.
    let out = lambda.invoke(event.clone()).await.response();
    assert_eq!(out["alerts"][0]["duplicate"], true, "{out}");
    assert_eq!(out["alerts"][0]["message_id"], message_id.as_str());
    // A new event (a new id: a retried execution reaching the state again) is a new alert.
    let mut again = event.clone();
    again["id"] = json!("a-new-event-for-the-same-state");
    let out = lambda.invoke(again).await.response();
    assert!(out["alerts"][0]["message_id"].is_string(), "{out}");
    assert_ne!(out["alerts"][0]["message_id"], message_id.as_str());
    let received = moto.ctl(&["receive-raw", queue_url, "3"]);
    assert_eq!(received.as_array().map(Vec::len), Some(2), "{received}");
}

/// A rule routed to a topic the function was not granted is named at cold start (on AWS its
/// alerts would be denied and end in the dead-letter queue).
#[tokio::test]
async fn a_rule_routed_to_an_ungranted_topic_is_named_at_cold_start() {
    let moto = Moto::start();
    let wiring = moto.ctl(&["topic-to-queue", "herald-alerts", "herald-alerts-inbox"]);
    let topic = wiring["topic_arn"].as_str().unwrap().to_owned();
    let config = r#"{"alerts": [
        {"name": "team-a", "pipelines": ["a-*"], "on": ["FAILED"], "topic_arn": "arn:aws:sns:us-east-1:123456789012:team-a"},
        {"name": "granted", "pipelines": ["b-*"], "on": ["FAILED"], "topic_arn": "arn:aws:sns:us-east-1:123456789012:team-b"}
    ]}"#;
    let env = [
        ("HERALD_CONFIG", config),
        ("HERALD_TOPIC_ARN", topic.as_str()),
        ("HERALD_ALERT_TOPIC_ARNS", "arn:aws:sns:us-east-1:123456789012:team-b"),
    ];
    let mut lambda = Lambda::start("pipeline-notifier", &moto.endpoint, &env).await;
    let out = lambda.invoke(sample("pipeline-notifier/cloudtrail-get-pipeline-ignored.json")).await.response();
    assert!(out["ignored"].is_string());
    let logs = lambda.stop().await;
    let named: Vec<&str> = logs.lines().filter(|l| l.contains("was not granted")).collect();
    assert_eq!(named.len(), 1, "{logs}");
    assert!(named[0].contains("team-a") && !named[0].contains("\"granted\""), "{}", named[0]);
}
