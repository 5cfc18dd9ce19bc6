//! The s3-trigger use case (README "S3 sources"): an event in (read by [`event`]), the `s3`
//! triggers decided ([`crate::trigger::decide_s3`]), the starts run, a summary out. Transient
//! failures fail the invocation, so Lambda and EventBridge retry and the dead-letter queue keeps
//! what still fails.

pub mod event;

use crate::clock::unix_now;
use crate::config::Config;
use crate::ports::EventPublisher;
use crate::report::{Report, Subject};
use crate::start::{publish_decisions, StartResult, StartRunner, Verdict};
use crate::trigger::decide_s3;
use event::{parse_event, S3Input};
use serde_json::{json, Value};
use std::sync::Arc;

/// A start that failed transiently: the invocation fails so Lambda and EventBridge retry, and
/// at the end the dead-letter queue keeps the event.
#[derive(Debug, thiserror::Error)]
#[error("transient failure starting {pipeline} for trigger {trigger}: {error}")]
pub struct RetryableError {
    pub trigger: String,
    pub pipeline: String,
    pub error: String,
}

/// Lambda's `errorType` for it: Herald.RetryableStartFailure.
impl From<RetryableError> for lambda_runtime::Diagnostic {
    fn from(e: RetryableError) -> Self {
        lambda_runtime::Diagnostic { error_type: "Herald.RetryableStartFailure".into(), error_message: e.to_string() }
    }
}

/// The `s3-trigger` service.
pub struct S3TriggerService {
    config: Arc<Config>,
    runner: StartRunner,
    bus: Option<Arc<dyn EventPublisher>>,
}

impl S3TriggerService {
    pub fn new(config: Arc<Config>, runner: StartRunner, bus: Option<Arc<dyn EventPublisher>>) -> Self {
        Self { config, runner, bus }
    }

    /// Handles one event; the summary is the invocation's result. Transient failures are errors.
    pub async fn handle(&self, event: &Value) -> Result<Value, RetryableError> {
        let objects = match parse_event(event) {
            S3Input::Ignored(reason) => {
                tracing::info!(reason = %reason, "event ignored");
                return Ok(json!({ "ignored": reason }));
            }
            S3Input::Objects(objects) => objects,
        };
        let now = unix_now();
        let mut report = Report::default();
        let mut retry = None;
        for object in &objects {
            let decisions = decide_s3(&self.config, object);
            if decisions.is_empty() {
                tracing::info!(bucket = %object.bucket, key = %object.key, "no trigger for this bucket");
            }
            for ran in self.runner.run_decisions(decisions.iter().map(|d| ((), d)), now).await {
                report.add(Subject::S3(object), &ran);
                let transient = match &ran.verdict {
                    Verdict::Ran(_, StartResult::Failed { error, transient: true }) => Some(error.as_str()),
                    Verdict::Ran(_, StartResult::InProgress { .. }) => Some("another invocation is starting it"),
                    _ => None,
                };
                if let Some(error) = transient {
                    retry.get_or_insert(RetryableError {
                        trigger: ran.decision.trigger.clone(),
                        pipeline: ran.decision.pipeline.to_string(),
                        error: error.to_owned(),
                    });
                }
            }
        }
        publish_decisions(self.bus.as_ref(), self.runner.dry_run(), &report.events).await;
        match retry {
            Some(e) => Err(e),
            None => Ok(json!({ "started": report.started, "skipped": report.skipped, "failed": report.failed })),
        }
    }
}

#[cfg(test)]
mod tests;
