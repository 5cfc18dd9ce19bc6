//! The s3-trigger use case (docs/configuration.md "S3 sources"): an event in (read by [`event`]), the `s3`
//! triggers decided ([`crate::trigger::decide_s3`]), the starts run, a summary out. Transient
//! failures fail the invocation, so Lambda and EventBridge retry and the dead-letter queue keeps
//! what still fails.

pub mod event;
pub mod sources;

use crate::change::S3Object;
use crate::clock::unix_now;
use crate::config::Config;
use crate::live::LiveConfig;
use crate::ports::{EventPublisher, SourceAction};
use crate::report::{Report, Subject};
use crate::start::{publish_decisions, StartResult, StartRunner, Verdict};
use crate::trigger::{decide_s3, s3_sources_needed, SourceLookup};
use event::{parse_event, S3Input};
use serde_json::{json, Value};
use sources::SourceActions;
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

/// A trigger's source action as read for one write: (pipeline, action, the action or why not).
type SourceRead<'c> = (&'c str, &'c str, Result<Option<SourceAction>, String>);

/// The `s3-trigger` service.
pub struct S3TriggerService {
    config: LiveConfig,
    runner: StartRunner,
    sources: SourceActions,
    bus: Option<Arc<dyn EventPublisher>>,
}

impl S3TriggerService {
    pub fn new(
        config: impl Into<LiveConfig>,
        runner: StartRunner,
        sources: SourceActions,
        bus: Option<Arc<dyn EventPublisher>>,
    ) -> Self {
        Self { config: config.into(), runner, sources, bus }
    }

    /// Reads the source actions the triggers matching `object` pin (a transient failure is the
    /// invocation's: it is retried; a permanent one becomes those triggers' skip reason).
    async fn source_actions<'c>(
        &self,
        config: &'c Config,
        object: &S3Object,
    ) -> Result<Vec<SourceRead<'c>>, RetryableError> {
        let mut found = Vec::new();
        for (pipeline, action) in s3_sources_needed(config, object) {
            let read = match self.sources.get(pipeline, action).await {
                Ok(source) => Ok(source),
                Err(e) if e.is_transient() => {
                    tracing::warn!(pipeline, action, error = %e, "could not read the source action; the invocation is retried");
                    return Err(RetryableError {
                        trigger: format!("(reading source action {action})"),
                        pipeline: pipeline.to_owned(),
                        error: e.to_string(),
                    });
                }
                Err(e) => {
                    tracing::error!(pipeline, action, error = %e, "could not read the source action; its triggers skip this write");
                    Err(e.to_string())
                }
            };
            found.push((pipeline, action, read));
        }
        Ok(found)
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
        let config = self.config.get().await;
        let mut report = Report::default();
        let mut retry = None;
        for object in &objects {
            let sources = self.source_actions(&config, object).await?;
            let decisions = decide_s3(&config, object, |pipeline, action| {
                match sources.iter().find(|(p, a, _)| *p == pipeline && *a == action).map(|(_, _, read)| read) {
                    Some(Ok(source)) => SourceLookup::Read(source.as_ref()),
                    Some(Err(why)) => SourceLookup::Unreadable(why),
                    None => SourceLookup::Unknown,
                }
            });
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
        report.emit_metrics();
        publish_decisions(self.bus.as_ref(), self.runner.dry_run(), &report.events).await;
        match retry {
            Some(e) => Err(e),
            None => Ok(json!({ "started": report.started, "skipped": report.skipped, "failed": report.failed })),
        }
    }
}

#[cfg(test)]
mod tests;
