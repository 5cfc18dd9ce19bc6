//! Enrichment (docs/alerts.md "Alerts"): what CodePipeline knows about an execution beyond the event — the
//! commit, the trigger, the failed action and its error, the previous outcome, the duration.
//! Each call that fails leaves its part out and is named in [`Enrichment::failed_calls`]; the
//! alert is still sent.

use super::event::PipelineEvent;
use super::{Kind, Previous};
use crate::clock::parse_time;
use crate::ports::{ActionRun, AwsError, ExecutionDetails, ExecutionSummary, ExecutionTrigger, PipelineHistory};
use crate::template::truncate_chars;
use serde_json::Value;

/// How many recent executions are read to find the previous finished one.
pub const HISTORY_DEPTH: i32 = 25;
/// Longest commit message and failure summary kept (characters).
pub const MAX_DETAIL_CHARS: usize = 2000;

/// The commit an execution ran.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revision {
    pub commit: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
}

/// The action that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Failure {
    pub stage: Option<String>,
    pub action: Option<String>,
    pub summary: Option<String>,
    pub external_url: Option<String>,
}

/// Everything enrichment found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enrichment {
    pub revision: Option<Revision>,
    pub trigger: Option<ExecutionTrigger>,
    pub failure: Option<Failure>,
    pub duration_seconds: Option<i64>,
    /// `None`: not read, or the call failed.
    pub previous: Option<Previous>,
    /// A superseded execution: the execution that took its place (the next one started after
    /// it), when the list shows it.
    pub superseded_by: Option<String>,
    /// The calls that failed (already logged).
    pub failed_calls: Vec<&'static str>,
}

/// Which parts an alert needs: only those calls are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    pub execution: bool,
    pub actions: bool,
    pub history: bool,
}

impl Needs {
    /// The calls worth making for `event`; `history` when a rule waits for `RECOVERED` /
    /// `FIRST_FAILURE`, or the execution ended and the event does not say when it started.
    pub fn of(event: &PipelineEvent, history_for_tokens: bool) -> Self {
        let state = event.state.as_deref().unwrap_or("");
        let ended = ended(event) && event.start_time.is_none();
        match event.kind {
            Kind::Audit => Self { execution: false, actions: false, history: false },
            Kind::Approval => Self { execution: true, actions: false, history: false },
            Kind::Stage | Kind::Action => Self { execution: true, actions: state == "FAILED", history: false },
            // With RECOVERED / FIRST_FAILURE at stake, the action runs tell whether this execution
            // was retried after a failed attempt (`RetryStageExecution` keeps the execution id).
            Kind::Pipeline => Self {
                execution: true,
                actions: state == "FAILED" || (history_for_tokens && state == "SUCCEEDED"),
                // A superseded execution's status names the execution that took its place.
                history: history_for_tokens || ended || state == "SUPERSEDED",
            },
        }
    }
}

/// `future`'s output when `wanted`; the call is never made otherwise (futures are lazy).
async fn when<T>(wanted: bool, future: impl std::future::Future<Output = T>) -> Option<T> {
    if wanted {
        Some(future.await)
    } else {
        None
    }
}

/// Reads what `needs` asks for, concurrently; failures are logged and left out.
pub async fn enrich(history: &dyn PipelineHistory, event: &PipelineEvent, needs: Needs) -> Enrichment {
    let Some(execution_id) = event.execution_id.as_deref() else { return Enrichment::default() };
    let pipeline = event.pipeline.as_str();
    let (details, runs, recent) = futures_util::join!(
        when(needs.execution, history.execution(pipeline, execution_id)),
        when(needs.actions, history.action_runs(pipeline, execution_id)),
        when(needs.history, history.recent_executions(pipeline, HISTORY_DEPTH)),
    );
    let mut out = Enrichment { trigger: event.trigger.clone(), ..Enrichment::default() };
    let mut failed_calls = Vec::new();
    let mut keep = |call: &'static str, error: AwsError| {
        tracing::warn!(call, pipeline, execution_id, error = %error, "enrichment call failed; that part is left out");
        crate::metrics::count("EnrichmentFailures", 1, &[("call", call)]);
        failed_calls.push(call);
    };
    let details_ok = details.and_then(|r| r.map_err(|e| keep("GetPipelineExecution", e)).ok());
    let runs_ok = runs.and_then(|r| r.map_err(|e| keep("ListActionExecutions", e)).ok());
    let recent_ok = recent.and_then(|r| r.map_err(|e| keep("ListPipelineExecutions", e)).ok());
    if let Some(executions) = &recent_ok {
        let retried = runs_ok.as_deref().is_some_and(|runs| earlier_attempt_failed(runs, event.state.as_deref()));
        out.previous = Some(if retried { Previous::Failed } else { previous_outcome(executions, execution_id) });
        if event.state.as_deref() == Some("SUPERSEDED") {
            out.superseded_by = next_execution(executions, execution_id);
        }
    }
    if event.kind == Kind::Pipeline && ended(event) {
        out.duration_seconds = duration(event, recent_ok.as_deref().unwrap_or_default());
    }
    if let Some(d) = &details_ok {
        out.revision = revision(d);
        if d.trigger.is_some() {
            out.trigger = d.trigger.clone();
        }
    }
    if event.state.as_deref() == Some("FAILED") {
        out.failure = runs_ok
            .as_deref()
            .and_then(|runs| failed_action(runs, event.stage.as_deref(), event.action.as_deref()))
            .or_else(|| failure_from_event(event))
            .or_else(|| {
                let summary = details_ok.as_ref()?.status_summary.as_deref()?;
                Some(Failure { stage: None, action: None, summary: Some(cut(summary)), external_url: None })
            });
    }
    out.failed_calls = failed_calls;
    out
}

fn cut(text: &str) -> String {
    truncate_chars(text, MAX_DETAIL_CHARS).to_owned()
}

/// Whether this execution's own earlier attempt failed (it was then retried): a succeeded
/// execution with a failed action run, or a failed one whose action ran again after failing.
pub fn earlier_attempt_failed(runs: &[ActionRun], state: Option<&str>) -> bool {
    match state {
        Some("SUCCEEDED") => runs.iter().any(|r| r.status == "Failed"),
        Some("FAILED") => runs.iter().filter(|r| r.status == "Failed").any(|failed| {
            runs.iter().any(|later| {
                later.stage == failed.stage
                    && later.action == failed.action
                    && later.last_update.unwrap_or(i64::MIN) > failed.last_update.unwrap_or(i64::MAX)
            })
        }),
        _ => false,
    }
}

/// How the most recent execution before `current` that finished `Succeeded` or `Failed` ended.
/// `executions` is newest first; when `current` is not among them (the list lags), every
/// listed execution counts as earlier.
pub fn previous_outcome(executions: &[ExecutionSummary], current: &str) -> Previous {
    let earlier = match executions.iter().position(|e| e.execution_id == current) {
        Some(at) => &executions[at + 1..],
        None => executions,
    };
    earlier
        .iter()
        .find_map(|e| match e.status.as_str() {
            "Succeeded" => Some(Previous::Succeeded),
            "Failed" => Some(Previous::Failed),
            _ => None,
        })
        .unwrap_or(Previous::Nothing)
}

/// The execution started right after `current` (`executions` is newest first): in `SUPERSEDED`
/// mode, executions keep their order, so it is the one that took a superseded execution's place.
pub fn next_execution(executions: &[ExecutionSummary], current: &str) -> Option<String> {
    let at = executions.iter().position(|e| e.execution_id == current)?;
    Some(executions.get(at.checked_sub(1)?)?.execution_id.clone())
}

fn ended(event: &PipelineEvent) -> bool {
    matches!(event.state.as_deref(), Some("SUCCEEDED" | "FAILED" | "STOPPED" | "SUPERSEDED" | "CANCELED"))
}

/// Seconds from the execution's start (the event's `start-time`, else the listed start) to
/// this event.
fn duration(event: &PipelineEvent, executions: &[ExecutionSummary]) -> Option<i64> {
    let listed = executions.iter().find(|e| Some(e.execution_id.as_str()) == event.execution_id.as_deref());
    let start = event.start_time.as_deref().and_then(parse_time).or(listed.and_then(|e| e.start))?;
    let end = parse_time(&event.time).or(listed.and_then(|e| e.last_update))?;
    (end >= start).then_some(end - start)
}

/// The first source revision: commit id, message (a JSON summary's `CommitMessage`), URL.
pub fn revision(details: &ExecutionDetails) -> Option<Revision> {
    let first = details.revisions.iter().find(|r| r.revision_id.is_some() || r.summary.is_some())?;
    let message = first.summary.as_deref().map(|summary| {
        let parsed = serde_json::from_str::<Value>(summary).ok();
        let from_json = parsed.as_ref().and_then(|v| v.get("CommitMessage")).and_then(Value::as_str);
        cut(from_json.unwrap_or(summary))
    });
    Some(Revision { commit: first.revision_id.clone(), message, url: first.url.clone() })
}

/// The failed action in `stage` (and `action`, when given) that failed last.
pub fn failed_action(runs: &[ActionRun], stage: Option<&str>, action: Option<&str>) -> Option<Failure> {
    runs.iter()
        .filter(|r| r.status == "Failed")
        .filter(|r| stage.is_none_or(|s| r.stage == s) && action.is_none_or(|a| r.action == a))
        .max_by_key(|r| r.last_update.unwrap_or(i64::MIN))
        .map(|r| Failure {
            stage: Some(r.stage.clone()),
            action: Some(r.action.clone()),
            summary: r.error_message.as_deref().or(r.external_summary.as_deref()).map(cut),
            external_url: r.external_url.clone(),
        })
}

fn failure_from_event(event: &PipelineEvent) -> Option<Failure> {
    let result = event.result.as_ref()?;
    Some(Failure {
        stage: event.stage.clone(),
        action: event.action.clone(),
        summary: result.summary.as_deref().map(cut),
        external_url: result.external_url.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ArtifactRevision;

    fn summary(id: &str, status: &str) -> ExecutionSummary {
        ExecutionSummary { execution_id: id.into(), status: status.into(), start: Some(100), last_update: Some(400) }
    }

    #[test]
    fn the_previous_outcome_passes_over_stopped_and_superseded_runs() {
        let list = [
            summary("later", "InProgress"),
            summary("now", "Succeeded"),
            summary("b", "Stopped"),
            summary("c", "Superseded"),
            summary("d", "Failed"),
            summary("e", "Succeeded"),
        ];
        assert_eq!(previous_outcome(&list, "now"), Previous::Failed);
        assert_eq!(previous_outcome(&list, "d"), Previous::Succeeded);
        assert_eq!(previous_outcome(&list, "e"), Previous::Nothing);
        assert_eq!(previous_outcome(&list[2..], "not-listed-yet"), Previous::Failed);
        assert_eq!(previous_outcome(&[], "now"), Previous::Nothing);
    }

    #[test]
    fn a_superseded_execution_was_replaced_by_the_next_one_started() {
        let list = [summary("newest", "InProgress"), summary("next", "InProgress"), summary("old", "Superseded")];
        assert_eq!(next_execution(&list, "old").as_deref(), Some("next"));
        assert_eq!(next_execution(&list, "newest"), None, "nothing after the newest");
        assert_eq!(next_execution(&list, "not-listed"), None);
    }

    #[test]
    fn the_commit_message_comes_from_a_json_summary_or_the_text() {
        let details = |summary: &str| ExecutionDetails {
            revisions: vec![ArtifactRevision {
                revision_id: Some("0123abc".into()),
                summary: Some(summary.into()),
                url: Some("https://example.com/c/0123abc".into()),
            }],
            ..ExecutionDetails::default()
        };
        let json = revision(&details(r#"{"ProviderType":"GitHub","CommitMessage":"Fix the build"}"#)).unwrap();
        assert_eq!(json.message.as_deref(), Some("Fix the build"));
        assert_eq!(json.commit.as_deref(), Some("0123abc"));
        let plain = revision(&details("Plain message")).unwrap();
        assert_eq!(plain.message.as_deref(), Some("Plain message"));
        let long = revision(&details(&"é".repeat(5000))).unwrap();
        assert_eq!(long.message.unwrap().chars().count(), MAX_DETAIL_CHARS);
        assert_eq!(revision(&ExecutionDetails::default()), None);
    }

    #[test]
    fn the_failed_action_prefers_the_error_message_and_the_latest_failure() {
        let run = |stage: &str, action: &str, status: &str, at: i64| ActionRun {
            stage: stage.into(),
            action: action.into(),
            status: status.into(),
            error_message: Some(format!("{action} broke")),
            external_summary: Some("summary".into()),
            external_url: Some(format!("https://log/{action}")),
            last_update: Some(at),
        };
        let runs = [
            run("Build", "Lint", "Failed", 10),
            run("Build", "Compile", "Failed", 20),
            run("Build", "Test", "Succeeded", 30),
            run("Deploy", "Ship", "Failed", 5),
        ];
        let latest = failed_action(&runs, None, None).unwrap();
        assert_eq!((latest.action.as_deref(), latest.summary.as_deref()), (Some("Compile"), Some("Compile broke")));
        assert_eq!(failed_action(&runs, Some("Deploy"), None).unwrap().action.as_deref(), Some("Ship"));
        assert_eq!(
            failed_action(&runs, Some("Build"), Some("Lint")).unwrap().external_url.as_deref(),
            Some("https://log/Lint")
        );
        let mut no_error = runs[0].clone();
        no_error.error_message = None;
        assert_eq!(failed_action(&[no_error], None, None).unwrap().summary.as_deref(), Some("summary"));
        assert_eq!(failed_action(&runs, Some("Test"), None), None);
    }

    #[test]
    fn times_parse_as_rfc3339() {
        assert_eq!(parse_time("1970-01-01T00:01:40Z"), Some(100));
        assert_eq!(parse_time("2026-11-27T09:55:00.123Z").map(|s| s > 0), Some(true));
        assert_eq!(parse_time("yesterday"), None);
    }
}
