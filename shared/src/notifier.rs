//! The alert use case (docs/alerts.md "Alerts"): an event in; the matching rules' alerts, enriched, rendered and
//! published once each; a summary out. A failed publish fails the invocation so Lambda retries
//! and, at the end, the dead-letter queue keeps the event.

use crate::alert::enrich::{enrich, Enrichment, Needs};
use crate::alert::event::{parse_event, Input, PipelineEvent};
use crate::alert::render::Alert;
use crate::alert::{candidate_rules, matches, needs_history, tokens, Match};
use crate::clock::unix_now;
use crate::config::AlertToken;
use crate::live::LiveConfig;
use crate::metrics;
use crate::once::{once, Once};
use crate::ports::{AlertPublisher, AwsError, DedupStore, PipelineHistory};
use crate::report::with_fields;
use crate::status::StatusReporter;
use crate::token;
use serde_json::{json, Value};
use std::sync::Arc;

/// An alert that could not be sent now; the invocation fails and is retried.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("publishing the {token} alert of rule {rule} for pipeline {pipeline} failed: {error}")]
    Publish { rule: String, pipeline: String, token: &'static str, error: AwsError },
    #[error("the {token} alert of rule {rule} for pipeline {pipeline} is being sent by another invocation")]
    InProgress { rule: String, pipeline: String, token: &'static str },
    /// The alerts went out; a commit status could not be posted or its record read (transient).
    #[error("the commit status of pipeline {pipeline} could not be posted: {error}")]
    Status { pipeline: String, error: String },
}

impl From<NotifyError> for lambda_runtime::Diagnostic {
    fn from(e: NotifyError) -> Self {
        let error_type = match e {
            NotifyError::Status { .. } => "Herald.RetryableStatusFailure",
            _ => "Herald.RetryablePublishFailure",
        };
        lambda_runtime::Diagnostic { error_type: error_type.into(), error_message: e.to_string() }
    }
}

/// The adapters the notifier needs.
pub struct NotifierPorts {
    pub history: Arc<dyn PipelineHistory>,
    pub publisher: Arc<dyn AlertPublisher>,
    pub dedup: Option<Arc<dyn DedupStore>>,
    /// Commit statuses of the executions `git-webhook` started (docs/statuses.md "Commit statuses").
    pub status: Option<Arc<StatusReporter>>,
}

/// The `pipeline-notifier` service.
pub struct NotifierService {
    config: LiveConfig,
    default_topic: Option<String>,
    ports: NotifierPorts,
    dry_run: bool,
}

/// What became of one alert.
enum Sent {
    Published(String),
    Duplicate(String),
    DryRun,
}

impl NotifierService {
    pub fn new(
        config: impl Into<LiveConfig>,
        default_topic: Option<String>,
        ports: NotifierPorts,
        dry_run: bool,
    ) -> Self {
        Self { config: config.into(), default_topic, ports, dry_run }
    }

    /// Loads the Git server credentials at cold start (docs/statuses.md "Commit statuses"), so the first
    /// status does not wait for them.
    pub async fn warm_up(&self) {
        if let Some(status) = &self.ports.status {
            status.warm_up().await;
        }
    }

    /// Handles one event; the summary is the invocation's result.
    pub async fn handle(&self, raw: &Value) -> Result<Value, NotifyError> {
        let event = match parse_event(raw) {
            Input::Ignored(reason) => {
                tracing::info!(reason = %reason, "event ignored");
                return Ok(json!({ "ignored": reason }));
            }
            Input::Event(event) => event,
        };
        let config = self.config.get().await;
        let rules = candidate_rules(&config, &event);
        let now = unix_now();
        let (record, record_error) = match (&self.ports.status, self.dry_run) {
            (Some(status), false) => match status.record_of(&event, now).await {
                Ok(record) => (record, None),
                Err(e) => {
                    tracing::error!(pipeline = %event.pipeline, error = %e, "could not read the execution record; its commit status waits for the retry");
                    (None, Some(e))
                }
            },
            _ => (None, None),
        };
        if rules.is_empty() && record.is_none() && record_error.is_none() {
            tracing::info!(pipeline = %event.pipeline, kind = event.kind.as_str(), state = ?event.state, "no alert rule listens for this event");
            return Ok(json!({ "alerts": [] }));
        }
        let history_needed = needs_history(&event, &rules);
        let enrichment = enrich(&*self.ports.history, &event, Needs::of(&event, history_needed)).await;
        if history_needed && enrichment.previous.is_none() {
            tracing::warn!(pipeline = %event.pipeline, "execution history unavailable: RECOVERED and FIRST_FAILURE not claimed for this event");
        }
        let found = matches(&rules, &tokens(&event, enrichment.previous));
        let mut alerts = Vec::new();
        let mut retry = None;
        // The rules' claims and publishes run at once: a fan-out of rules takes the round trips
        // of one (docs/performance.md "Performance").
        let outcomes =
            futures_util::future::join_all(found.iter().map(|matched| self.send(matched, &event, &enrichment, now)))
                .await;
        for (matched, outcome) in found.iter().zip(outcomes) {
            let entry = json!({ "alert_rule": matched.rule.name, "token": matched.token.as_str() });
            let (entry, outcome_word) = match outcome {
                Ok(Sent::Published(id)) => {
                    metrics::count("AlertsSent", 1, &[("token", matched.token.as_str())]);
                    (with_fields(entry, json!({ "message_id": id })), "sent")
                }
                Ok(Sent::Duplicate(id)) => {
                    (with_fields(entry, json!({ "message_id": id, "duplicate": true })), "duplicate")
                }
                Ok(Sent::DryRun) => (with_fields(entry, json!({ "dry_run": true })), "dry_run"),
                Err(error) => {
                    let text = error.to_string();
                    retry.get_or_insert(error);
                    metrics::count("AlertsFailed", 1, &[("token", matched.token.as_str())]);
                    (with_fields(entry, json!({ "error": text })), "failed")
                }
            };
            tracing::info!(
                pipeline = %event.pipeline,
                execution_id = ?event.execution_id,
                kind = event.kind.as_str(),
                alert_rule = %matched.rule.name,
                token = matched.token.as_str(),
                outcome = outcome_word,
                "alert"
            );
            alerts.push(entry);
        }
        // Statuses after the alerts, never instead of them; a transient failure fails the
        // invocation (its alerts are deduplicated on the retry).
        let mut statuses = Vec::new();
        let mut status_error = record_error.filter(AwsError::is_transient).map(|e| e.to_string());
        if let (Some(status), Some(record)) = (&self.ports.status, &record) {
            let failure = enrichment.failure.as_ref();
            let superseded_by = enrichment.superseded_by.as_deref();
            match status.finished(&event, record, failure, enrichment.duration_seconds, superseded_by, now).await {
                Ok(Some(entry)) => statuses.push(entry),
                Ok(None) => {}
                Err(e) => status_error = Some(e.to_string()),
            }
        }
        if let Some(error) = retry {
            return Err(error);
        }
        if let Some(error) = status_error {
            return Err(NotifyError::Status { pipeline: event.pipeline.clone(), error });
        }
        let mut summary = json!({ "alerts": alerts, "enrichment_failures": enrichment.failed_calls });
        if !statuses.is_empty() {
            summary["statuses"] = Value::Array(statuses);
        }
        Ok(summary)
    }

    async fn send(
        &self,
        matched: &Match<'_>,
        event: &PipelineEvent,
        enrichment: &Enrichment,
        now: i64,
    ) -> Result<Sent, NotifyError> {
        let rule = &matched.rule.name;
        let fail = |error: AwsError| NotifyError::Publish {
            rule: rule.clone(),
            pipeline: event.pipeline.clone(),
            token: matched.token.as_str(),
            error,
        };
        // Config validation at cold start guarantees a topic; this only guards a hand-built service.
        let Some(topic) = matched.rule.topic_arn.as_deref().or(self.default_topic.as_deref()) else {
            return Err(fail(AwsError::Permanent(format!(
                "alert rule {rule:?} has no topic and HERALD_TOPIC_ARN is not set"
            ))));
        };
        let message = Alert::new(matched, event, enrichment).to_sns(topic);
        if self.dry_run {
            return Ok(Sent::DryRun);
        }
        let key = dedup_key(rule, event, matched.token);
        let publish = self.ports.publisher.publish(&message);
        match once(self.ports.dedup.as_deref(), &key, now, publish).await.map_err(fail)? {
            Once::Done(id) => Ok(Sent::Published(id)),
            Once::Recorded(id) => Ok(Sent::Duplicate(id)),
            Once::InProgress { .. } => Err(NotifyError::InProgress {
                rule: rule.clone(),
                pipeline: event.pipeline.clone(),
                token: matched.token.as_str(),
            }),
        }
    }
}

/// One alert per (rule, EventBridge event id, token) (docs/alerts.md "Alerts", duplicates): EventBridge
/// keeps an event's id when it redelivers it, and a retried execution's second failure is a new
/// event with a new id — alerted again.
pub fn dedup_key(rule: &str, event: &PipelineEvent, token: AlertToken) -> String {
    format!("alert#{}", token::deterministic(&["alert", rule, &event.id, token.as_str()]))
}

#[cfg(test)]
mod tests;
