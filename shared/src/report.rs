//! Telling what became of each trigger decision, written once for Git and S3: the decision log
//! line, the metrics, the decision event for `HERALD_EVENT_BUS`, and the entry of the answer
//! (the webhook's HTTP body, the s3-trigger's invocation result).

use crate::change::{Change, S3Object};
use crate::metrics;
use crate::ports::BusEvent;
use crate::start::{Decided, StartResult, Verdict};
use serde_json::{json, Value};

/// What a decision was made for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    Git(&'a Change),
    S3(&'a S3Object),
}

impl Subject<'_> {
    /// The provider label of metrics (`github`, ..., `s3`).
    fn provider(&self) -> &'static str {
        match self {
            Self::Git(change) => change.provider.as_str(),
            Self::S3(_) => "s3",
        }
    }

    /// The change as decision events (and S3 answers) describe it.
    pub fn summary(&self) -> Value {
        match self {
            Self::Git(change) => json!({
                "provider": change.provider.as_str(),
                "event": change.event.as_str(),
                "delivery": change.delivery,
                "repository": change.repository,
                "ref": change.git_ref,
                "commit": change.commit,
                "author": change.author,
                "pull_request": change.pull_request.as_ref().map(|p| json!({ "number": p.number, "action": p.action.as_str(), "source_branch": p.source_branch, "target_branch": p.target_branch })),
            }),
            Self::S3(object) => json!({
                "source": object.source.as_str(),
                "bucket": object.bucket,
                "key": object.key,
                "version_id": object.version_id,
                "etag": object.etag,
                "event_id": object.event_id,
            }),
        }
    }
}

/// `object` with the fields of `more` added (both JSON objects): an entry or event grows its
/// outcome's fields.
pub fn with_fields(mut object: Value, more: Value) -> Value {
    if let (Some(fields), Value::Object(more)) = (object.as_object_mut(), more) {
        fields.extend(more);
    }
    object
}

/// Everything said about the decisions of one delivery or event.
#[derive(Debug, Default)]
pub struct Report {
    pub started: Vec<Value>,
    pub skipped: Vec<Value>,
    pub failed: Vec<Value>,
    /// The executions the starts' concurrency groups stopped, and the stops that failed.
    pub stopped: Vec<Value>,
    pub stop_failed: Vec<Value>,
    /// The decision events to publish.
    pub events: Vec<BusEvent>,
    /// A start was refused by a transient failure: the whole answer asks for a retry.
    pub transient: bool,
    /// Some start had already happened for an earlier delivery.
    pub duplicate: bool,
    /// The longest wait another invocation's claim asks for (0: none).
    pub retry_after_secs: u32,
    /// Counts for the metrics, printed once per delivery or event ([`Report::emit_metrics`]).
    counts: Vec<(&'static str, &'static str, u64)>,
}

const IN_PROGRESS: &str = "another delivery of this change is starting this pipeline right now; retry";

/// What a failed CodePipeline call says outside Herald (a command's reply): what failed, in
/// Herald's words, never the AWS text (account ids, ARNs and request ids stay in the log).
pub fn public_aws_error(aws_text: &str, transient: bool) -> String {
    if transient {
        return "CodePipeline could not answer right now (throttled, unavailable or timed out)".into();
    }
    let code = aws_text.split(": ").nth(1).unwrap_or_default();
    let what = match code {
        "PipelineNotFoundException" => "the pipeline does not exist in Herald's account and region",
        "PipelineExecutionNotFoundException" => "the execution no longer exists",
        "ValidationException" | "InvalidParameterValueException" => "the request was invalid for this pipeline",
        "AccessDeniedException" => "Herald's role may not act on this pipeline (CommandPipelineArns)",
        "InvalidApprovalTokenException" | "ApprovalAlreadyCompletedException" => "the approval is no longer waiting",
        "StageNotRetryableException" | "NotLatestPipelineExecutionException" => "the stage cannot be retried",
        "ConflictException" | "DuplicatedStopRequestException" => "another change to this execution is in progress",
        _ => "it answered with an error",
    };
    format!("CodePipeline refused: {what}")
}

/// What a failed start says outside Herald (the HTTP answer): what failed, in Herald's words.
pub fn public_start_error(aws_text: &str, transient: bool) -> String {
    if transient {
        if aws_text.starts_with(crate::concurrency::GROUP_NOT_RECORDED) {
            return "the pipeline started, but its concurrency group could not record it; retry (the retry finds the same execution)".into();
        }
        return "CodePipeline could not take the start right now (throttled, unavailable or timed out); retry".into();
    }
    let code = aws_text.split(": ").nth(1).unwrap_or_default();
    let what = match code {
        "PipelineNotFoundException" => "the pipeline does not exist in Herald's account and region",
        "ValidationException" | "InvalidParameterValueException" => {
            "the request was invalid for this pipeline (a variable it does not declare, or a source revision its source action cannot take)"
        }
        "AccessDeniedException" => "Herald's role may not start this pipeline",
        _ => "it answered with an error",
    };
    format!("CodePipeline refused the start: {what}; Herald's log has the details")
}

impl Report {
    fn count(&mut self, metric: &'static str, provider: &'static str) {
        match self.counts.iter_mut().find(|(m, p, _)| *m == metric && *p == provider) {
            Some((_, _, n)) => *n += 1,
            None => self.counts.push((metric, provider, 1)),
        }
    }

    /// One EMF line per metric and provider, with the totals (not one line per start).
    pub fn emit_metrics(&self) {
        for (metric, provider, n) in &self.counts {
            metrics::count(metric, *n, &[("provider", provider)]);
        }
    }

    /// Logs, counts and records one decided trigger.
    pub fn add(&mut self, subject: Subject<'_>, decided: &Decided<'_, impl Sized>) {
        let decision = decided.decision;
        let base = json!({ "trigger": decision.trigger, "pipeline": decision.pipeline.as_str() });
        let (outcome, reason, detail_type, answer, event) = match &decided.verdict {
            Verdict::Skipped(reason) => {
                let fields = json!({ "reason": reason });
                ("skipped", *reason, "Trigger Skipped", fields.clone(), fields)
            }
            Verdict::Ran(plan, StartResult::Started { execution_id, duplicate, stopped }) => {
                if execution_id.is_some() && !duplicate {
                    self.count("PipelinesStarted", subject.provider());
                }
                self.duplicate |= duplicate;
                let mut answer = json!({ "execution_id": execution_id });
                if *duplicate {
                    answer["duplicate"] = json!(true);
                }
                if !plan.notes.is_empty() {
                    answer["notes"] = json!(plan.notes);
                }
                if let Some(group) = &plan.group {
                    answer["group"] = json!(group.name);
                }
                let (stops, stop_failed) = crate::concurrency::entries(stopped);
                if !stops.is_empty() {
                    answer["stopped"] = json!(stops);
                }
                if !stop_failed.is_empty() {
                    answer["stop_failed"] = json!(stop_failed);
                }
                self.stopped.extend(stops);
                self.stop_failed.extend(stop_failed);
                let event = with_fields(
                    answer.clone(),
                    json!({ "duplicate": duplicate, "variables": plan.variables_json(), "notes": plan.notes, "source_revisions": plan.source_revisions }),
                );
                if let Subject::S3(_) = subject {
                    // Which object and version the pipeline was pinned to.
                    answer["source_revisions"] = json!(plan.source_revisions);
                }
                let outcome = if *duplicate { "duplicate" } else { "started" };
                (outcome, "", "Pipeline Triggered", answer, event)
            }
            Verdict::Ran(_, StartResult::InProgress { retry_after_secs }) => {
                self.transient = true;
                self.retry_after_secs = self.retry_after_secs.max(*retry_after_secs);
                let fields = json!({ "error": IN_PROGRESS, "retryable": true });
                ("retry", IN_PROGRESS, "Trigger Failed", fields.clone(), fields)
            }
            Verdict::Ran(_, StartResult::Failed { error, transient }) => {
                self.transient |= transient;
                if !transient {
                    self.count("StartsFailed", subject.provider());
                }
                // A webhook's answer reaches the Git server's delivery log, which repository admins
                // read: Herald's words there; AWS's text (account ids, ARNs) only in Herald's own
                // log and events. The S3 summary stays in the account: it keeps AWS's text.
                let told = match subject {
                    Subject::Git(_) => public_start_error(error, *transient),
                    Subject::S3(_) => error.clone(),
                };
                let answer = json!({ "error": told, "retryable": transient });
                let event = json!({ "error": error, "retryable": transient });
                (if *transient { "retry" } else { "failed" }, error.as_str(), "Trigger Failed", answer, event)
            }
        };
        log(subject, decided, outcome, reason);
        // A skip names its trigger; the pipeline it would have started is in the event.
        let named = if outcome == "skipped" { json!({ "trigger": decision.trigger }) } else { base.clone() };
        let mut entry = with_fields(named, answer);
        let summary = subject.summary();
        if let Subject::S3(_) = subject {
            // One S3 event may carry several objects: each entry says which.
            entry["change"] = summary.clone();
        }
        match outcome {
            "skipped" => self.skipped.push(entry),
            "started" | "duplicate" => self.started.push(entry),
            _ => self.failed.push(entry),
        }
        let detail = with_fields(with_fields(json!({ "change": summary }), base), event);
        self.events.push(BusEvent { detail_type, detail });
    }
}

/// The one log line per decision.
fn log(subject: Subject<'_>, decided: &Decided<'_, impl Sized>, outcome: &str, reason: &str) {
    let (trigger, pipeline) = (&decided.decision.trigger, decided.decision.pipeline.as_str());
    let execution_id = match &decided.verdict {
        Verdict::Ran(_, StartResult::Started { execution_id, .. }) => execution_id.as_deref(),
        _ => None,
    };
    match (subject, outcome) {
        (Subject::Git(c), "failed") => {
            tracing::error!(provider = %c.provider, delivery = %c.delivery, trigger = %trigger, pipeline, outcome, reason, "decision")
        }
        (Subject::Git(c), _) => {
            tracing::info!(provider = %c.provider, delivery = %c.delivery, trigger = %trigger, pipeline, outcome, reason, execution_id, "decision")
        }
        (Subject::S3(o), "failed") => {
            tracing::error!(bucket = %o.bucket, key = %o.key, trigger = %trigger, pipeline, outcome, reason, "decision")
        }
        (Subject::S3(o), _) => {
            tracing::info!(bucket = %o.bucket, key = %o.key, trigger = %trigger, pipeline, outcome, reason, execution_id, "decision")
        }
    }
}
