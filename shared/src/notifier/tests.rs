use super::*;
use crate::config::Config;
use crate::ports::fakes::{FakeDedup, FakeHistory, FakePublisher};
use crate::ports::{ActionRun, ExecutionSummary, SnsMessage};
use std::sync::atomic::Ordering;

const TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:herald-alerts";
const PROD_TOPIC: &str = "arn:aws:sns:us-east-1:111122223333:prod-alerts";
const EXEC: &str = "3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10";

struct Setup {
    history: Arc<FakeHistory>,
    publisher: Arc<FakePublisher>,
    service: NotifierService,
}

fn setup(config: &str, history: FakeHistory, dedup: bool) -> Setup {
    let history = Arc::new(history);
    let publisher = Arc::new(FakePublisher::default());
    let ports = NotifierPorts {
        history: history.clone(),
        publisher: publisher.clone(),
        dedup: dedup.then(|| Arc::new(FakeDedup::default()) as Arc<dyn DedupStore>),
        status: None,
    };
    let config = Arc::new(Config::from_json(config).unwrap());
    Setup {
        history,
        publisher: publisher.clone(),
        service: NotifierService::new(config, Some(TOPIC.into()), ports, false),
    }
}

fn sample(name: &str) -> Value {
    let path = format!("{}/../events/pipeline-notifier/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn summary(id: &str, status: &str) -> ExecutionSummary {
    ExecutionSummary { execution_id: id.into(), status: status.into(), start: Some(1_800_000_000), last_update: None }
}

const RULES: &str = r#"{"alerts": [
    {"name": "prod", "pipelines": ["prod-*"], "on": ["FIRST_FAILURE", "RECOVERED", "APPROVAL", "AUDIT"],
     "topic_arn": "arn:aws:sns:us-east-1:111122223333:prod-alerts"},
    {"name": "failures", "pipelines": ["**"], "on": ["FAILED", "STAGE_FAILED", "ACTION_FAILED"]}
]}"#;

fn document(message: &SnsMessage) -> Value {
    let body: Value = serde_json::from_str(&message.message).unwrap();
    serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_first_failure_goes_to_both_rules_with_the_failed_action() {
    let history = FakeHistory {
        recent: vec![summary(EXEC, "Failed"), summary("older", "Stopped"), summary("oldest", "Succeeded")],
        runs: vec![ActionRun {
            stage: "Build".into(),
            action: "Compile".into(),
            status: "Failed".into(),
            error_message: Some("exit status 2".into()),
            external_url: Some("https://log".into()),
            ..ActionRun::default()
        }],
        ..FakeHistory::default()
    };
    let s = setup(RULES, history, false);
    let out = s.service.handle(&sample("pipeline-failed.json")).await.unwrap();
    assert_eq!(out["alerts"].as_array().unwrap().len(), 2, "{out}");
    let sent = s.publisher.sent.lock().unwrap();
    assert_eq!((sent[0].topic_arn.as_str(), sent[1].topic_arn.as_str()), (PROD_TOPIC, TOPIC));
    assert_eq!(sent[0].subject, "FIRST_FAILURE: prod-api (exec 3f2a9c1e)");
    assert_eq!(sent[1].subject, "FAILED: prod-api (exec 3f2a9c1e)");
    let doc = document(&sent[0]);
    assert_eq!(doc["failure"]["action"], "Compile");
    assert_eq!(doc["failure"]["summary"], "exit status 2");
    assert_eq!(doc["revision"]["message"], "Speed up the resizer");
    assert_eq!(doc["trigger"]["type"], "Webhook", "the event's own trigger when the execution names none");
    assert_eq!(doc["duration_seconds"], 312);
    assert_eq!(s.history.calls.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn failing_again_reaches_only_the_every_failure_rule() {
    let history =
        FakeHistory { recent: vec![summary(EXEC, "Failed"), summary("older", "Failed")], ..FakeHistory::default() };
    let s = setup(RULES, history, false);
    s.service.handle(&sample("pipeline-failed.json")).await.unwrap();
    let sent = s.publisher.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "FAILED: prod-api (exec 3f2a9c1e)");
}

#[tokio::test]
async fn a_success_after_a_failure_is_a_recovery() {
    let history = FakeHistory {
        recent: vec![summary("8b0e5d72-4a6f-4f0b-b1c3-9e7a2c5d1f44", "Succeeded"), summary(EXEC, "Failed")],
        ..FakeHistory::default()
    };
    let s = setup(RULES, history, false);
    s.service.handle(&sample("pipeline-succeeded.json")).await.unwrap();
    let sent = s.publisher.sent.lock().unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "RECOVERED: prod-api (exec 8b0e5d72)");
    assert_eq!(document(&sent[0])["failure"], Value::Null);
    assert!(sent[0].attributes.contains(&("state", "SUCCEEDED".into())));
}

#[tokio::test]
async fn a_success_after_a_success_sends_nothing() {
    let history =
        FakeHistory { recent: vec![summary("x", "Succeeded"), summary("y", "Succeeded")], ..FakeHistory::default() };
    let s = setup(RULES, history, false);
    let out = s.service.handle(&sample("pipeline-succeeded.json")).await.unwrap();
    assert_eq!(out["alerts"], json!([]));
    assert!(s.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn stages_actions_approvals_and_audits_each_find_their_rule() {
    let s = setup(RULES, FakeHistory::default(), false);
    for (file, subject) in [
        ("stage-failed.json", "STAGE_FAILED: prod-api Build (exec 3f2a9c1e)"),
        ("action-failed.json", "ACTION_FAILED: prod-api Build / Compile (exec 3f2a9c1e)"),
        ("approval-waiting.json", "APPROVAL: prod-api Approve / ReleaseGate (exec 8b0e5d72)"),
        ("audit-update-pipeline.json", "AUDIT: prod-api UpdatePipeline by alice"),
    ] {
        s.service.handle(&sample(file)).await.unwrap();
        let sent = s.publisher.sent.lock().unwrap();
        assert_eq!(sent.last().map(|m| m.subject.as_str()), Some(subject), "{file}");
    }
    let sent = s.publisher.sent.lock().unwrap();
    let audit = document(sent.last().unwrap());
    assert_eq!(audit["kind"], "audit");
    assert_eq!(audit["audit"]["actor"], "arn:aws:sts::111122223333:assumed-role/Admin/alice");
    assert_eq!(audit["audit"]["source_ip"], "203.0.113.7");
    assert!(!sent.last().unwrap().attributes.iter().any(|(k, _)| *k == "state"), "audits have no state");
    let action = document(&sent[1]);
    assert!(action["failure"]["summary"].as_str().unwrap().contains("exit status 2"), "from the event itself");
}

#[tokio::test]
async fn enrichment_that_fails_leaves_its_parts_null_and_the_alert_goes_out() {
    let s = setup(RULES, FakeHistory { broken: true, ..FakeHistory::default() }, false);
    let out = s.service.handle(&sample("pipeline-failed.json")).await.unwrap();
    assert_eq!(
        out["enrichment_failures"],
        json!(["GetPipelineExecution", "ListActionExecutions", "ListPipelineExecutions"])
    );
    let sent = s.publisher.sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "without history FIRST_FAILURE is not claimed; FAILED still is");
    let doc = document(&sent[0]);
    assert_eq!(doc["revision"], Value::Null);
    assert_eq!(doc["failure"], Value::Null);
    assert_eq!(doc["duration_seconds"], 312, "from the event's own start-time");
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_and_the_retry_sends_once() {
    let s = setup(RULES, FakeHistory::default(), true);
    s.publisher.failures_left.store(1, Ordering::SeqCst);
    let e = s.service.handle(&sample("stage-failed.json")).await.unwrap_err();
    assert!(e.to_string().contains("Publish: InternalError"), "{e}");
    let diagnostic: lambda_runtime::Diagnostic = e.into();
    assert_eq!(diagnostic.error_type, "Herald.RetryablePublishFailure");
    s.service.handle(&sample("stage-failed.json")).await.unwrap();
    let again = s.service.handle(&sample("stage-failed.json")).await.unwrap();
    assert_eq!(again["alerts"][0]["duplicate"], true);
    assert_eq!(s.publisher.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_events_and_unwatched_pipelines_are_acknowledged() {
    let s = setup(RULES, FakeHistory::default(), false);
    let out = s.service.handle(&sample("cloudtrail-get-pipeline-ignored.json")).await.unwrap();
    assert!(out["ignored"].as_str().unwrap().contains("GetPipeline"));
    let out = s.service.handle(&sample("pipeline-started.json")).await.unwrap();
    assert_eq!(out["alerts"], json!([]));
    assert!(s.history.calls.lock().unwrap().is_empty(), "no rule, no enrichment calls");
    assert!(s.publisher.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn dry_run_decides_but_publishes_nothing() {
    let history = Arc::new(FakeHistory::default());
    let publisher = Arc::new(FakePublisher::default());
    let ports = NotifierPorts { history, publisher: publisher.clone(), dedup: None, status: None };
    let config = Arc::new(Config::from_json(RULES).unwrap());
    let service = NotifierService::new(config, Some(TOPIC.into()), ports, true);
    let out = service.handle(&sample("stage-failed.json")).await.unwrap();
    assert_eq!(out["alerts"][0]["dry_run"], true);
    assert!(publisher.sent.lock().unwrap().is_empty());
}

#[test]
fn the_dedup_key_separates_what_spec_separates() {
    let event = |file: &str| match parse_event(&sample(file)) {
        Input::Event(e) => *e,
        Input::Ignored(why) => panic!("{why}"),
    };
    let failed = event("pipeline-failed.json");
    let stage = event("stage-failed.json");
    assert_ne!(dedup_key("prod", &failed, AlertToken::Failed), dedup_key("other", &failed, AlertToken::Failed));
    assert_ne!(dedup_key("prod", &failed, AlertToken::Failed), dedup_key("prod", &stage, AlertToken::StageFailed));
    // EventBridge keeps an event's id on redelivery; a retried execution's second failure is a
    // new event with a new id, and is alerted again.
    let mut retried = failed.clone();
    retried.id = "another-event-id".into();
    assert_ne!(
        dedup_key("prod", &failed, AlertToken::Failed),
        dedup_key("prod", &retried, AlertToken::Failed),
        "a new event, a new alert"
    );
    assert_eq!(
        dedup_key("prod", &failed, AlertToken::Failed),
        dedup_key("prod", &failed.clone(), AlertToken::Failed),
        "a redelivery, the same key"
    );
}

fn run(stage: &str, action: &str, status: &str, at: i64) -> ActionRun {
    ActionRun {
        stage: stage.into(),
        action: action.into(),
        status: status.into(),
        last_update: Some(at),
        ..ActionRun::default()
    }
}

/// `RetryStageExecution` keeps the execution id: FAILED -> RESUMED -> FAILED again is not a
/// first failure (the last finished outcome was this execution's own failed attempt)...
#[tokio::test]
async fn a_retried_execution_failing_again_is_not_a_first_failure() {
    let history = FakeHistory {
        recent: vec![summary(EXEC, "Failed"), summary("older", "Succeeded")],
        runs: vec![run("Build", "Compile", "Failed", 100), run("Build", "Compile", "Failed", 200)],
        ..FakeHistory::default()
    };
    let s = setup(RULES, history, false);
    s.service.handle(&sample("pipeline-failed.json")).await.unwrap();
    let sent = s.publisher.sent.lock().unwrap();
    let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["FAILED: prod-api (exec 3f2a9c1e)"]);
}

/// ...and a retry that succeeds is a recovery.
#[tokio::test]
async fn a_retried_execution_that_succeeds_is_a_recovery() {
    let exec = "8b0e5d72-4a6f-4f0b-b1c3-9e7a2c5d1f44";
    let history = FakeHistory {
        recent: vec![summary(exec, "Succeeded"), summary("older", "Succeeded")],
        runs: vec![run("Build", "Compile", "Failed", 100), run("Build", "Compile", "Succeeded", 200)],
        ..FakeHistory::default()
    };
    let s = setup(RULES, history, false);
    s.service.handle(&sample("pipeline-succeeded.json")).await.unwrap();
    let sent = s.publisher.sent.lock().unwrap();
    let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["RECOVERED: prod-api (exec 8b0e5d72)"]);
}

#[tokio::test]
async fn with_a_dedup_table_a_retried_failure_is_a_new_alert_and_a_redelivery_is_not() {
    let s = setup(RULES, FakeHistory { recent: vec![summary(EXEC, "Failed")], ..FakeHistory::default() }, true);
    let first = sample("pipeline-failed.json");
    s.service.handle(&first).await.unwrap();
    let again = s.service.handle(&first).await.unwrap();
    assert_eq!(again["alerts"][0]["duplicate"], true, "{again}");
    let mut retried = first.clone();
    retried["id"] = json!("a-new-event-id-for-the-second-failure");
    let out = s.service.handle(&retried).await.unwrap();
    assert!(out["alerts"][0]["message_id"].is_string(), "{out}");
    assert_eq!(s.publisher.sent.lock().unwrap().len(), 2);
}

/// A successful rollback is ROLLED_BACK, never RECOVERED, even after a failure.
#[tokio::test]
async fn a_successful_rollback_is_rolled_back_not_recovered() {
    let exec = "8b0e5d72-4a6f-4f0b-b1c3-9e7a2c5d1f44";
    let history =
        FakeHistory { recent: vec![summary(exec, "Succeeded"), summary(EXEC, "Failed")], ..FakeHistory::default() };
    let rules = r#"{"alerts": [{"name": "prod", "pipelines": ["prod-*"], "on": ["RECOVERED", "ROLLED_BACK"]}]}"#;
    let s = setup(rules, history, false);
    let mut rollback = sample("pipeline-succeeded.json");
    rollback["detail"]["execution-trigger"] =
        json!({ "trigger-type": "AutomatedRollback", "trigger-detail": "3f2a9c1e" });
    rollback["detail"]["execution-type"] = json!("ROLLBACK");
    s.service.handle(&rollback).await.unwrap();
    let sent = s.publisher.sent.lock().unwrap();
    let subjects: Vec<&str> = sent.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["ROLLED_BACK: prod-api (exec 8b0e5d72)"]);
}

/// New states (stage conditions' skipped stages, anything CodePipeline adds) are acknowledged
/// with a log line, never an error.
#[tokio::test]
async fn unknown_states_are_acknowledged() {
    let s = setup(RULES, FakeHistory::default(), false);
    for (file, state) in [("pipeline-failed.json", "SOMETHING_NEW"), ("stage-failed.json", "SKIPPED")] {
        let mut event = sample(file);
        event["detail"]["state"] = json!(state);
        let out = s.service.handle(&event).await.unwrap();
        assert_eq!(out["alerts"], json!([]), "{state}: {out}");
    }
    assert!(s.publisher.sent.lock().unwrap().is_empty());
}

mod statuses {
    use super::*;
    use crate::ports::fakes::{FakeHttp, FakeRecords};
    use crate::status::tests::{record, reporter};

    fn with_status(config: &str, history: FakeHistory, http: Arc<FakeHttp>, records: Arc<FakeRecords>) -> Setup {
        let history = Arc::new(history);
        let publisher = Arc::new(FakePublisher::default());
        let status = Arc::new(reporter(http, records, r#"{"github": {"token": "t"}}"#));
        let ports =
            NotifierPorts { history: history.clone(), publisher: publisher.clone(), dedup: None, status: Some(status) };
        let config = Arc::new(Config::from_json(config).unwrap());
        Setup { history, publisher, service: NotifierService::new(config, Some(TOPIC.into()), ports, false) }
    }

    fn recorded(stages: bool) -> Arc<FakeRecords> {
        let records = FakeRecords::default();
        records.records.lock().unwrap().insert(EXEC.into(), record(EXEC, stages));
        Arc::new(records)
    }

    fn failing_compile() -> FakeHistory {
        FakeHistory {
            runs: vec![ActionRun {
                stage: "Build".into(),
                action: "Compile".into(),
                status: "Failed".into(),
                error_message: Some("exit status 2".into()),
                ..ActionRun::default()
            }],
            ..FakeHistory::default()
        }
    }

    #[tokio::test]
    async fn a_failed_execution_turns_its_commit_red_beside_the_alerts() {
        let http = Arc::new(FakeHttp::default());
        let s = with_status(RULES, failing_compile(), http.clone(), recorded(false));
        let out = s.service.handle(&sample("pipeline-failed.json")).await.unwrap();
        assert_eq!(out["alerts"].as_array().unwrap().len(), 1, "{out}");
        assert_eq!(out["statuses"][0]["state"], "failure", "{out}");
        let requests = http.requests.lock().unwrap();
        assert_eq!(requests.len(), 1);
        let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
        assert_eq!(body["state"], "failure");
        assert_eq!(body["context"], "herald/app");
        assert_eq!(body["description"], "prod-api failed at Build / Compile: exit status 2");
    }

    #[tokio::test]
    async fn a_status_needs_no_alert_rule_and_an_unrecorded_execution_gets_none() {
        let http = Arc::new(FakeHttp::default());
        let quiet = r#"{"alerts": [{"name": "approvals", "pipelines": ["**"], "on": ["APPROVAL"]}]}"#;
        let s = with_status(quiet, failing_compile(), http.clone(), recorded(false));
        let out = s.service.handle(&sample("pipeline-failed.json")).await.unwrap();
        assert_eq!(out["statuses"][0]["outcome"], "posted", "{out}");
        assert!(s.publisher.sent.lock().unwrap().is_empty());
        let http = Arc::new(FakeHttp::default());
        let s = with_status(RULES, failing_compile(), http.clone(), Arc::new(FakeRecords::default()));
        let out = s.service.handle(&sample("pipeline-failed.json")).await.unwrap();
        assert_eq!(out.get("statuses"), None);
        assert!(http.requests.lock().unwrap().is_empty(), "an execution Herald did not start gets no status");
        assert_eq!(s.publisher.sent.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_server_down_fails_the_invocation_after_the_alerts_went_out() {
        let http = Arc::new(FakeHttp::answering(&[502, 502, 502]));
        let s = with_status(RULES, failing_compile(), http.clone(), recorded(false));
        let error = s.service.handle(&sample("pipeline-failed.json")).await.unwrap_err();
        assert!(matches!(error, NotifyError::Status { .. }), "{error}");
        assert_eq!(lambda_runtime::Diagnostic::from(error).error_type, "Herald.RetryableStatusFailure");
        assert_eq!(s.publisher.sent.lock().unwrap().len(), 1, "the alert was sent first");
        assert_eq!(http.requests.lock().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn stages_get_their_own_context_when_asked() {
        let http = Arc::new(FakeHttp::default());
        let s = with_status(RULES, failing_compile(), http.clone(), recorded(true));
        let out = s.service.handle(&sample("stage-failed.json")).await.unwrap();
        assert_eq!(out["statuses"][0]["context"], "herald/app/Build", "{out}");
    }
}
