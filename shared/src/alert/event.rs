//! The inputs of `pipeline-notifier` (docs/alerts.md "Alerts"): CodePipeline pipeline, stage and action
//! execution state changes, and CloudTrail-recorded changes to pipelines.
//!
//! Read through `serde_json::Value` pointers rather than fixed structs: real events carry
//! `version` as a number (`1.0`, `13.0`), and fields have been added over the years
//! (`start-time`, `execution-trigger`, `pipeline-execution-attempt`); only what is used is read.

use super::Kind;
use crate::ports::ExecutionTrigger;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::Deserialize;
use serde_json::Value;

/// The mutating CodePipeline calls reported as `AUDIT`.
pub const AUDITED_CALLS: [&str; 10] = [
    "CreatePipeline",
    "UpdatePipeline",
    "DeletePipeline",
    "StopPipelineExecution",
    "RetryStageExecution",
    "RollbackStage",
    "PutApprovalResult",
    "DisableStageTransition",
    "EnableStageTransition",
    "OverrideStageCondition",
];

/// One event, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineEvent {
    /// The EventBridge event id (stable across redeliveries).
    pub id: String,
    pub kind: Kind,
    pub pipeline: String,
    pub execution_id: Option<String>,
    /// `pipeline-execution-attempt`: 1, and one more for each `RetryStageExecution` of the
    /// execution (1 when the event does not say, as older events did not).
    pub attempt: u32,
    /// `FAILED`, `SUCCEEDED`, ... (upper case, as CodePipeline sends it); `None` for audits.
    pub state: Option<String>,
    pub stage: Option<String>,
    pub action: Option<String>,
    pub region: String,
    pub account: String,
    /// When it happened (RFC 3339, as the event says).
    pub time: String,
    /// Execution start (RFC 3339), when the event carries it.
    pub start_time: Option<String>,
    /// How the execution was started, when the event carries it.
    pub trigger: Option<ExecutionTrigger>,
    /// An action event's own result (used when `ListActionExecutions` cannot be read).
    pub result: Option<ActionResult>,
    pub audit: Option<Audit>,
    /// A rollback execution (execution type `ROLLBACK`, trigger `AutomatedRollback` /
    /// `ManualRollback`): its success is `ROLLED_BACK`, not a recovery.
    pub rollback: bool,
}

/// The `execution-result` of an action event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub summary: Option<String>,
    pub external_url: Option<String>,
}

/// A CloudTrail-recorded call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Audit {
    pub api: String,
    /// The caller's ARN (or principal id when there is no ARN).
    pub actor: Option<String>,
    pub source_ip: Option<String>,
    /// What the call asked for, in words (never the approval token).
    pub summary: String,
    /// `errorCode: errorMessage` when the call failed.
    pub error: Option<String>,
}

/// What an incoming event means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Event(Box<PipelineEvent>),
    /// Not an event Herald alerts on, or malformed: acknowledged with this reason.
    Ignored(String),
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn owned(v: &Value, pointer: &str) -> Option<String> {
    text(v, pointer).map(str::to_owned)
}

fn missing(what: &str) -> Input {
    Input::Ignored(format!("malformed event: {what} missing or not a string"))
}

/// Reads any input; never fails (what is not understood is `Ignored`). The envelope is
/// `aws_lambda_events`' `EventBridgeEvent`; CodePipeline's details are read here, by pointer,
/// because that library's `CodePipelineCloudWatchEvent` rejects every real state change
/// (ARCHITECTURE.md "Choices").
pub fn parse_event(event: &Value) -> Input {
    let kind = match (text(event, "/source"), text(event, "/detail-type")) {
        (Some("aws.codepipeline"), Some("CodePipeline Pipeline Execution State Change")) => Kind::Pipeline,
        (Some("aws.codepipeline"), Some("CodePipeline Stage Execution State Change")) => Kind::Stage,
        (Some("aws.codepipeline"), Some("CodePipeline Action Execution State Change")) => Kind::Action,
        (Some("aws.codepipeline"), Some("AWS API Call via CloudTrail")) => Kind::Audit,
        (Some(s), Some(t)) => return Input::Ignored(format!("event {s} / {t:?} is not a CodePipeline event")),
        _ => return Input::Ignored("not an EventBridge event".into()),
    };
    let envelope = match EventBridgeEvent::<Value>::deserialize(event) {
        Ok(envelope) => envelope,
        Err(e) => return Input::Ignored(format!("malformed EventBridge envelope: {e}")),
    };
    match kind {
        Kind::Audit => cloudtrail(event, &envelope),
        kind => state_change(event, &envelope, kind),
    }
}

fn envelope(event: &Value, envelope: &EventBridgeEvent<Value>) -> Result<(String, String, String, String), Input> {
    let present = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let id = present(&envelope.id).ok_or_else(|| missing("id"))?;
    // As sent (the typed time would re-format it).
    let time = text(event, "/time").ok_or_else(|| missing("time"))?;
    let account = present(&envelope.account).ok_or_else(|| missing("account"))?;
    // The envelope's region is the pipeline's; `detail.region` is a cross-region action's own.
    let region =
        present(&envelope.region).or_else(|| owned(event, "/detail/region")).ok_or_else(|| missing("region"))?;
    Ok((id, time.into(), account, region))
}

fn state_change(event: &Value, typed: &EventBridgeEvent<Value>, kind: Kind) -> Input {
    let (id, time, account, region) = match envelope(event, typed) {
        Ok(parts) => parts,
        Err(ignored) => return ignored,
    };
    let Some(pipeline) = owned(event, "/detail/pipeline") else { return missing("detail.pipeline") };
    let Some(execution_id) = owned(event, "/detail/execution-id") else { return missing("detail.execution-id") };
    let Some(state) = owned(event, "/detail/state") else { return missing("detail.state") };
    let stage = owned(event, "/detail/stage");
    let action = owned(event, "/detail/action");
    match kind {
        Kind::Stage if stage.is_none() => return missing("detail.stage"),
        Kind::Action if stage.is_none() || action.is_none() => return missing("detail.stage or detail.action"),
        _ => {}
    }
    let approval = kind == Kind::Action && text(event, "/detail/type/category") == Some("Approval");
    let kind = if approval && state == "STARTED" { Kind::Approval } else { kind };
    let trigger = owned(event, "/detail/execution-trigger/trigger-type").map(|trigger_type| ExecutionTrigger {
        trigger_type,
        detail: owned(event, "/detail/execution-trigger/trigger-detail"),
    });
    let result = event.pointer("/detail/execution-result").map(|r| ActionResult {
        summary: owned(r, "/external-execution-summary").or_else(|| owned(r, "/error-code")),
        external_url: owned(r, "/external-execution-url"),
    });
    let rollback = text(event, "/detail/execution-type") == Some("ROLLBACK")
        || trigger.as_ref().is_some_and(|t| matches!(t.trigger_type.as_str(), "AutomatedRollback" | "ManualRollback"));
    Input::Event(Box::new(PipelineEvent {
        id,
        kind,
        rollback,
        pipeline,
        execution_id: Some(execution_id),
        attempt: attempt(event),
        state: Some(state),
        stage,
        action,
        region,
        account,
        time,
        start_time: owned(event, "/detail/start-time"),
        trigger,
        result,
        audit: None,
    }))
}

/// The event's attempt: CodePipeline writes it as a number (`1.0`), read as whole attempts from 1.
fn attempt(event: &Value) -> u32 {
    event
        .pointer("/detail/pipeline-execution-attempt")
        .and_then(Value::as_f64)
        .filter(|a| a.is_finite() && *a >= 1.0 && *a <= f64::from(u32::MAX))
        .map_or(1, |a| a as u32)
}

fn cloudtrail(event: &Value, typed: &EventBridgeEvent<Value>) -> Input {
    let Some(api) = text(event, "/detail/eventName") else { return missing("detail.eventName") };
    if text(event, "/detail/eventSource") != Some("codepipeline.amazonaws.com") {
        return Input::Ignored("CloudTrail event not from codepipeline.amazonaws.com".into());
    }
    if !AUDITED_CALLS.contains(&api) {
        return Input::Ignored(format!("CloudTrail call {api} does not change a pipeline"));
    }
    let (id, time, account, region) = match envelope(event, typed) {
        Ok(parts) => parts,
        Err(ignored) => return ignored,
    };
    let params = event.pointer("/detail/requestParameters").unwrap_or(&Value::Null);
    let Some(pipeline) =
        text(params, "/pipeline/name").or(text(params, "/pipelineName")).or(text(params, "/name")).map(str::to_owned)
    else {
        return missing("detail.requestParameters pipeline name");
    };
    let execution_id =
        owned(event, "/detail/responseElements/pipelineExecutionId").or_else(|| owned(params, "/pipelineExecutionId"));
    let error = text(event, "/detail/errorCode").map(|code| match text(event, "/detail/errorMessage") {
        Some(message) => format!("{code}: {message}"),
        None => code.to_owned(),
    });
    let actor = owned(event, "/detail/userIdentity/arn").or_else(|| owned(event, "/detail/userIdentity/principalId"));
    Input::Event(Box::new(PipelineEvent {
        rollback: false,
        id,
        kind: Kind::Audit,
        pipeline: pipeline.clone(),
        execution_id,
        attempt: 1,
        state: None,
        stage: owned(params, "/stageName"),
        action: owned(params, "/actionName"),
        region: owned(event, "/detail/awsRegion").unwrap_or(region),
        account,
        time: owned(event, "/detail/eventTime").unwrap_or(time),
        start_time: None,
        trigger: None,
        result: None,
        audit: Some(Audit {
            api: api.to_owned(),
            actor,
            source_ip: owned(event, "/detail/sourceIPAddress"),
            summary: audit_summary(api, &pipeline, params),
            error,
        }),
    }))
}

/// The request of an audited call, in words.
fn audit_summary(api: &str, pipeline: &str, params: &Value) -> String {
    let get = |pointer: &str| text(params, pointer).unwrap_or("?");
    let reason = |pointer: &str| text(params, pointer).map(|r| format!(": {r}")).unwrap_or_default();
    let stages = || match params.pointer("/pipeline/stages").and_then(Value::as_array) {
        Some(stages) => format!(" ({} stages)", stages.len()),
        None => String::new(),
    };
    match api {
        "CreatePipeline" => format!("created pipeline {pipeline}{}", stages()),
        "UpdatePipeline" => format!("updated pipeline {pipeline}{}", stages()),
        "DeletePipeline" => format!("deleted pipeline {pipeline}"),
        "StopPipelineExecution" => {
            let how = match params.pointer("/abandon").and_then(Value::as_bool) {
                Some(true) => "abandoning in-progress actions",
                _ => "letting in-progress actions finish",
            };
            format!("stopped execution {} ({how}){}", get("/pipelineExecutionId"), reason("/reason"))
        }
        "RetryStageExecution" => format!(
            "retried stage {} of execution {} ({})",
            get("/stageName"),
            get("/pipelineExecutionId"),
            get("/retryMode")
        ),
        "RollbackStage" => {
            format!("rolled back stage {} to execution {}", get("/stageName"), get("/targetPipelineExecutionId"))
        }
        "PutApprovalResult" => {
            let verdict = match text(params, "/result/status") {
                Some("Approved") => "approved",
                Some("Rejected") => "rejected",
                _ => "answered",
            };
            format!(
                "{verdict} action {} in stage {}{}",
                get("/actionName"),
                get("/stageName"),
                reason("/result/summary")
            )
        }
        "DisableStageTransition" => format!(
            "disabled the {} transition of stage {}{}",
            get("/transitionType").to_ascii_lowercase(),
            get("/stageName"),
            reason("/reason")
        ),
        "EnableStageTransition" => format!(
            "enabled the {} transition of stage {}",
            get("/transitionType").to_ascii_lowercase(),
            get("/stageName")
        ),
        "OverrideStageCondition" => format!(
            "overrode the {} condition of stage {} in execution {}",
            get("/conditionType").to_ascii_lowercase(),
            get("/stageName"),
            get("/pipelineExecutionId")
        ),
        other => format!("called {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(name: &str) -> Value {
        let path = format!("{}/../events/pipeline-notifier/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
    }

    fn event(name: &str) -> PipelineEvent {
        match parse_event(&read(name)) {
            Input::Event(e) => *e,
            Input::Ignored(why) => panic!("{name} ignored: {why}"),
        }
    }

    #[test]
    fn the_attempt_is_read_as_codepipeline_writes_it() {
        assert_eq!(event("pipeline-failed.json").attempt, 1, "1.0");
        let mut retried = read("stage-failed.json");
        retried["detail"]["pipeline-execution-attempt"] = json!(3.0);
        let Input::Event(e) = parse_event(&retried) else { panic!() };
        assert_eq!(e.attempt, 3);
        for odd in [json!(null), json!("2"), json!(-1.0), json!(0.0)] {
            retried["detail"]["pipeline-execution-attempt"] = odd.clone();
            let Input::Event(e) = parse_event(&retried) else { panic!() };
            assert_eq!(e.attempt, 1, "{odd}");
        }
    }

    #[test]
    fn reads_pipeline_stage_and_action_changes() {
        let failed = event("pipeline-failed.json");
        assert_eq!((failed.kind, failed.state.as_deref()), (Kind::Pipeline, Some("FAILED")));
        assert_eq!(failed.pipeline, "prod-api");
        assert_eq!(failed.execution_id.as_deref(), Some("3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10"));
        assert_eq!(failed.trigger.as_ref().map(|t| t.trigger_type.as_str()), Some("Webhook"));
        assert!(failed.start_time.is_some());
        let stage = event("stage-failed.json");
        assert_eq!((stage.kind, stage.stage.as_deref()), (Kind::Stage, Some("Build")));
        let action = event("action-failed.json");
        assert_eq!((action.kind, action.action.as_deref()), (Kind::Action, Some("Compile")));
        let result = action.result.unwrap();
        assert!(result.summary.unwrap().contains("exit status 2"));
        assert!(result.external_url.unwrap().starts_with("https://console.aws.amazon.com/codebuild"));
    }

    #[test]
    fn a_waiting_manual_approval_is_its_own_kind() {
        let approval = event("approval-waiting.json");
        assert_eq!(approval.kind, Kind::Approval);
        assert_eq!((approval.stage.as_deref(), approval.action.as_deref()), (Some("Approve"), Some("ReleaseGate")));
    }

    #[test]
    fn reads_every_audited_call() {
        for (file, api, summary) in [
            ("audit-update-pipeline.json", "UpdatePipeline", "updated pipeline prod-api (4 stages)"),
            (
                "audit-stop-execution.json",
                "StopPipelineExecution",
                "stopped execution 3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10 (abandoning in-progress actions): bad deploy",
            ),
            (
                "audit-approval-result.json",
                "PutApprovalResult",
                "rejected action ReleaseGate in stage Approve: not during the freeze",
            ),
            (
                "audit-disable-transition.json",
                "DisableStageTransition",
                "disabled the inbound transition of stage Deploy: freeze",
            ),
        ] {
            let e = event(file);
            assert_eq!(e.kind, Kind::Audit, "{file}");
            let audit = e.audit.unwrap();
            assert_eq!(audit.api, api);
            assert_eq!(audit.summary, summary);
            assert_eq!(audit.actor.as_deref(), Some("arn:aws:sts::111122223333:assumed-role/Admin/alice"));
            assert_eq!(audit.source_ip.as_deref(), Some("203.0.113.7"));
            assert_eq!(e.pipeline, "prod-api");
        }
        let approval = serde_json::to_string(&read("audit-approval-result.json")).unwrap();
        assert!(approval.contains("\"token\""), "the sample carries an approval token");
        let e = event("audit-approval-result.json");
        assert!(!format!("{e:?}").contains("1a2b3c4d-approval-token"), "the approval token is never kept");
    }

    #[test]
    fn the_other_calls_are_summarised_too() {
        let call = |api: &str, params: Value| {
            let raw = json!({
                "id": "e", "source": "aws.codepipeline", "detail-type": "AWS API Call via CloudTrail",
                "account": "1", "time": "2026-11-27T10:00:00Z", "region": "us-east-1",
                "detail": { "eventSource": "codepipeline.amazonaws.com", "eventName": api, "requestParameters": params,
                            "errorCode": "AccessDeniedException" }
            });
            match parse_event(&raw) {
                Input::Event(e) => e.audit.unwrap(),
                Input::Ignored(why) => panic!("{why}"),
            }
        };
        assert_eq!(
            call("CreatePipeline", json!({"pipeline": {"name": "p", "stages": [{}, {}]}})).summary,
            "created pipeline p (2 stages)"
        );
        assert_eq!(call("DeletePipeline", json!({"name": "p"})).summary, "deleted pipeline p");
        assert_eq!(
            call("RetryStageExecution", json!({"pipelineName": "p", "stageName": "Build", "pipelineExecutionId": "x", "retryMode": "FAILED_ACTIONS"})).summary,
            "retried stage Build of execution x (FAILED_ACTIONS)"
        );
        assert_eq!(
            call(
                "RollbackStage",
                json!({"pipelineName": "p", "stageName": "Deploy", "targetPipelineExecutionId": "old"})
            )
            .summary,
            "rolled back stage Deploy to execution old"
        );
        assert_eq!(
            call(
                "EnableStageTransition",
                json!({"pipelineName": "p", "stageName": "Deploy", "transitionType": "Inbound"})
            )
            .summary,
            "enabled the inbound transition of stage Deploy"
        );
        let overridden = call(
            "OverrideStageCondition",
            json!({"pipelineName": "p", "stageName": "Deploy", "pipelineExecutionId": "x", "conditionType": "BEFORE_ENTRY"}),
        );
        assert_eq!(overridden.summary, "overrode the before_entry condition of stage Deploy in execution x");
        assert_eq!(overridden.error.as_deref(), Some("AccessDeniedException"));
    }

    #[test]
    fn what_is_not_understood_is_ignored_with_a_reason() {
        let ignored = |v: Value| match parse_event(&v) {
            Input::Ignored(why) => why,
            Input::Event(e) => panic!("understood {e:?}"),
        };
        assert!(ignored(json!({"hello": 1})).contains("not an EventBridge event"));
        assert!(
            ignored(json!({"source": "aws.s3", "detail-type": "Object Created"})).contains("not a CodePipeline event")
        );
        assert!(
            ignored(read("cloudtrail-get-pipeline-ignored.json")).contains("GetPipeline does not change a pipeline")
        );
        let mut no_pipeline = read("pipeline-failed.json");
        no_pipeline["detail"].as_object_mut().unwrap().remove("pipeline");
        assert!(ignored(no_pipeline).contains("detail.pipeline missing"));
        let mut numeric_state = read("pipeline-failed.json");
        numeric_state["detail"]["state"] = json!(3);
        assert!(ignored(numeric_state).contains("detail.state"));
    }
}
