//! The S3 use case (SPEC §4): S3 writes, seen through CloudTrail, S3's EventBridge notifications
//! or plain S3 event notifications, start the pipelines whose `s3` triggers match, pinned to the
//! object version.

use crate::config::{Config, PipelineName, S3Rule, Trigger};
use crate::metrics;
use crate::ports::{BusEvent, EventPublisher};
use crate::start::{publish_decisions, unix_now, with_fields, StartResult, StartRunner};
use crate::template::{Field, Fields};
use crate::trigger::{
    client_request_token, render_variables, Decision, Outcome, RevisionType, SourceRevision, StartPlan,
};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::Arc;

/// CloudTrail calls that write an object.
pub const WRITE_CALLS: [&str; 3] = ["PutObject", "CopyObject", "CompleteMultipartUpload"];

/// How the write reached Herald.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Source {
    CloudTrail,
    EventBridge,
    Notification,
}

impl S3Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudTrail => "cloudtrail",
            Self::EventBridge => "eventbridge",
            Self::Notification => "s3-notification",
        }
    }
}

/// One object written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub source: S3Source,
    pub bucket: String,
    /// The key as stored (URL decoding done).
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    /// Stable across redeliveries of the same event.
    pub event_id: String,
}

/// What an incoming event means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Input {
    Objects(Vec<S3Object>),
    /// Not a write Herald acts on, or malformed: acknowledged with this reason.
    Ignored(String),
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Reads any of the three input forms; never fails (malformed input is `Ignored`).
pub fn parse_event(event: &Value) -> S3Input {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        return notification(records);
    }
    let source = text(event, "/source");
    let detail_type = text(event, "/detail-type");
    match (source, detail_type) {
        (Some("aws.s3"), Some("AWS API Call via CloudTrail")) => cloudtrail(event),
        (Some("aws.s3"), Some("Object Created")) => object_created(event),
        (Some(s), Some(t)) => S3Input::Ignored(format!("event {s} / {t:?} is not an S3 write")),
        _ => S3Input::Ignored("not an EventBridge event or S3 notification".into()),
    }
}

fn missing(what: &str) -> S3Input {
    S3Input::Ignored(format!("malformed event: {what} missing or not a string"))
}

fn cloudtrail(event: &Value) -> S3Input {
    let Some(name) = text(event, "/detail/eventName") else { return missing("detail.eventName") };
    if text(event, "/detail/eventSource") != Some("s3.amazonaws.com") {
        return S3Input::Ignored("CloudTrail event not from s3.amazonaws.com".into());
    }
    if !WRITE_CALLS.contains(&name) {
        return S3Input::Ignored(format!("CloudTrail call {name} does not write an object"));
    }
    if let Some(code) = text(event, "/detail/errorCode") {
        return S3Input::Ignored(format!("{name} failed ({code})"));
    }
    let Some(bucket) = text(event, "/detail/requestParameters/bucketName") else {
        return missing("detail.requestParameters.bucketName");
    };
    let Some(key) = text(event, "/detail/requestParameters/key") else {
        return missing("detail.requestParameters.key");
    };
    let Some(id) = text(event, "/detail/eventID").or(text(event, "/id")) else { return missing("detail.eventID") };
    let etag = text(event, "/detail/responseElements/ETag")
        .or(text(event, "/detail/responseElements/copyObjectResult/ETag"))
        .or(text(event, "/detail/responseElements/eTag"));
    S3Input::Objects(vec![S3Object {
        source: S3Source::CloudTrail,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: text(event, "/detail/responseElements/x-amz-version-id").map(str::to_owned),
        etag: etag.map(|e| e.trim_matches('"').to_owned()),
        event_id: id.to_owned(),
    }])
}

fn object_created(event: &Value) -> S3Input {
    let Some(bucket) = text(event, "/detail/bucket/name") else { return missing("detail.bucket.name") };
    let Some(key) = text(event, "/detail/object/key") else { return missing("detail.object.key") };
    let Some(id) = text(event, "/id") else { return missing("id") };
    S3Input::Objects(vec![S3Object {
        source: S3Source::EventBridge,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: text(event, "/detail/object/version-id").map(str::to_owned),
        etag: text(event, "/detail/object/etag").map(str::to_owned),
        event_id: id.to_owned(),
    }])
}

fn notification(records: &[Value]) -> S3Input {
    let mut objects = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let Some(name) = text(record, "/eventName") else { return missing(&format!("Records[{i}].eventName")) };
        if !name.starts_with("ObjectCreated:") && !name.starts_with("s3:ObjectCreated:") {
            continue;
        }
        let Some(bucket) = text(record, "/s3/bucket/name") else {
            return missing(&format!("Records[{i}].s3.bucket.name"));
        };
        let Some(raw_key) = text(record, "/s3/object/key") else {
            return missing(&format!("Records[{i}].s3.object.key"));
        };
        let Some(key) = decode_key(raw_key) else {
            return S3Input::Ignored(format!(
                "malformed event: Records[{i}].s3.object.key is not valid URL-encoded UTF-8"
            ));
        };
        let version_id = text(record, "/s3/object/versionId").map(str::to_owned);
        // Notifications carry no event id: the request id and sequencer identify the write.
        let request = text(record, "/responseElements/x-amz-request-id").unwrap_or("");
        let sequencer = text(record, "/s3/object/sequencer").unwrap_or("");
        let event_id = client_request_token(&[
            "s3-notification",
            request,
            sequencer,
            bucket,
            &key,
            version_id.as_deref().unwrap_or(""),
        ]);
        objects.push(S3Object {
            source: S3Source::Notification,
            bucket: bucket.to_owned(),
            key,
            version_id,
            etag: text(record, "/s3/object/eTag").map(str::to_owned),
            event_id,
        });
    }
    if objects.is_empty() {
        S3Input::Ignored("no ObjectCreated records".into())
    } else {
        S3Input::Objects(objects)
    }
}

/// Decodes an S3 notification key: `+` is a space, `%XX` a byte; `None` if not UTF-8.
pub fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8().ok().map(Cow::into_owned)
}

impl Fields for S3Object {
    fn field(&self, field: Field) -> Cow<'_, str> {
        match field {
            Field::Bucket => self.bucket.as_str().into(),
            Field::Key => self.key.as_str().into(),
            Field::VersionId => self.version_id.as_deref().unwrap_or_default().into(),
            Field::Etag => self.etag.as_deref().unwrap_or_default().into(),
            Field::EventId => self.event_id.as_str().into(),
            _ => "".into(),
        }
    }
}

/// Decides every `s3` trigger whose bucket matches.
pub fn decide_s3(config: &Config, object: &S3Object) -> Vec<Decision> {
    config
        .s3_triggers()
        .filter(|(_, rule)| rule.bucket.is_match(&object.bucket))
        .map(|(trigger, rule)| Decision {
            trigger: trigger.name.clone(),
            pipeline: trigger.pipeline.clone(),
            outcome: match skip_reason(rule, object) {
                Some(reason) => Outcome::Skip(reason),
                None => Outcome::Start(plan(trigger, object)),
            },
        })
        .collect()
}

fn skip_reason(rule: &S3Rule, object: &S3Object) -> Option<String> {
    match &rule.keys {
        Some(keys) if !keys.is_match(&object.key) => Some(format!("key {} does not match keys", object.key)),
        _ => None,
    }
}

fn plan(trigger: &Trigger, object: &S3Object) -> StartPlan {
    let source_revision = trigger.source_action.as_ref().map(|action| match &object.version_id {
        Some(version) => SourceRevision {
            action_name: action.clone(),
            revision_type: RevisionType::S3ObjectVersionId,
            revision_value: version.clone(),
        },
        None => SourceRevision {
            action_name: action.clone(),
            revision_type: RevisionType::S3ObjectKey,
            revision_value: object.key.clone(),
        },
    });
    let mut notes = Vec::new();
    let variables = render_variables(trigger, object, &mut notes);
    StartPlan {
        pipeline: trigger.pipeline.as_str().to_owned(),
        client_request_token: client_request_token(&["s3", &object.event_id, &trigger.name, trigger.pipeline.as_str()]),
        source_revision,
        variables,
        notes,
    }
}

/// A start that failed transiently: the invocation fails so Lambda and EventBridge retry, and
/// at the end the dead-letter queue keeps the event.
#[derive(Debug, thiserror::Error)]
#[error("transient failure starting {pipeline} for trigger {trigger}: {error}")]
pub struct RetryableError {
    pub trigger: String,
    pub pipeline: String,
    pub error: String,
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
        let mut summary = json!({ "started": [], "skipped": [], "failed": [] });
        let mut events = Vec::new();
        let mut retry = None;
        for object in &objects {
            let decisions = decide_s3(&self.config, object);
            if decisions.is_empty() {
                tracing::info!(bucket = %object.bucket, key = %object.key, "no trigger for this bucket");
            }
            let plans: Vec<&StartPlan> = decisions.iter().filter_map(Decision::start_plan).collect();
            let mut results = self.runner.run_all(&plans, now).await.into_iter();
            for decision in &decisions {
                let base = object_summary(object, &decision.trigger, &decision.pipeline);
                let (list, detail_type, extra) = match &decision.outcome {
                    Outcome::Skip(reason) => {
                        tracing::info!(bucket = %object.bucket, key = %object.key, trigger = %decision.trigger, pipeline = %decision.pipeline, outcome = "skipped", reason = %reason, "decision");
                        ("skipped", "Trigger Skipped", json!({ "reason": reason }))
                    }
                    Outcome::Start(plan) => match results.next() {
                        Some(StartResult::Started { execution_id, duplicate }) => {
                            tracing::info!(bucket = %object.bucket, key = %object.key, trigger = %decision.trigger, pipeline = %decision.pipeline, outcome = "started", execution_id = ?execution_id, "decision");
                            if execution_id.is_some() && !duplicate {
                                metrics::count("PipelinesStarted", 1, &[("provider", "s3")]);
                            }
                            (
                                "started",
                                "Pipeline Triggered",
                                json!({ "execution_id": execution_id, "duplicate": duplicate, "variables": plan.variables_json(), "source_revision": plan.source_revision }),
                            )
                        }
                        Some(StartResult::Failed { error, transient }) => {
                            if transient {
                                tracing::warn!(bucket = %object.bucket, key = %object.key, trigger = %decision.trigger, pipeline = %decision.pipeline, outcome = "retry", reason = %error, "decision");
                                retry.get_or_insert(RetryableError {
                                    trigger: decision.trigger.clone(),
                                    pipeline: decision.pipeline.to_string(),
                                    error: error.clone(),
                                });
                            } else {
                                tracing::error!(bucket = %object.bucket, key = %object.key, trigger = %decision.trigger, pipeline = %decision.pipeline, outcome = "failed", reason = %error, "decision");
                                metrics::count("StartsFailed", 1, &[("provider", "s3")]);
                            }
                            ("failed", "Trigger Failed", json!({ "error": error, "retryable": transient }))
                        }
                        None => continue,
                    },
                };
                let entry = with_fields(base, extra);
                if let Some(items) = summary[list].as_array_mut() {
                    items.push(entry.clone());
                }
                events.push(BusEvent { detail_type, detail: entry });
            }
        }
        publish_decisions(self.bus.as_ref(), self.runner.dry_run(), &events).await;
        match retry {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    }
}

fn object_summary(object: &S3Object, trigger: &str, pipeline: &PipelineName) -> Value {
    json!({
        "trigger": trigger,
        "pipeline": pipeline.as_str(),
        "change": {
            "source": object.source.as_str(),
            "bucket": object.bucket,
            "key": object.key,
            "version_id": object.version_id,
            "etag": object.etag,
            "event_id": object.event_id,
        }
    })
}

#[cfg(test)]
mod tests;

impl From<RetryableError> for lambda_runtime::Diagnostic {
    fn from(e: RetryableError) -> Self {
        lambda_runtime::Diagnostic { error_type: "Herald.RetryableStartFailure".into(), error_message: e.to_string() }
    }
}
