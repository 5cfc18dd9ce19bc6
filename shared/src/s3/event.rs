//! The three ways an S3 write reaches `s3-trigger`, read into [`S3Object`]s: EventBridge "AWS API
//! Call via CloudTrail" events, EventBridge "Object Created" events, and plain S3 event
//! notifications. Never fails: anything else, or anything malformed, is [`S3Input::Ignored`].
//!
//! The envelopes are `aws_lambda_events`' types (`EventBridgeEvent`, `S3Event`); the details of
//! CloudTrail and Object Created events are read by pointer, for the few fields Herald needs.

use crate::change::{S3Object, S3Source};
use crate::token;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::{S3Event, S3EventRecord};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;

/// CloudTrail calls that write an object.
pub const WRITE_CALLS: [&str; 3] = ["PutObject", "CopyObject", "CompleteMultipartUpload"];

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
    if event.get("Records").is_some() {
        return match S3Event::deserialize(event) {
            Ok(notification) => notification_objects(&notification.records),
            Err(e) => S3Input::Ignored(format!("malformed S3 notification: {e}")),
        };
    }
    let Ok(envelope) = EventBridgeEvent::<Value>::deserialize(event) else {
        return S3Input::Ignored("not an EventBridge event or S3 notification".into());
    };
    match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.s3", "AWS API Call via CloudTrail") => cloudtrail(&envelope),
        ("aws.s3", "Object Created") => object_created(&envelope),
        (s, t) => S3Input::Ignored(format!("event {s} / {t:?} is not an S3 write")),
    }
}

fn missing(what: &str) -> S3Input {
    S3Input::Ignored(format!("malformed event: {what} missing or not a string"))
}

fn cloudtrail(event: &EventBridgeEvent<Value>) -> S3Input {
    let detail = &event.detail;
    let Some(name) = text(detail, "/eventName") else { return missing("detail.eventName") };
    if text(detail, "/eventSource") != Some("s3.amazonaws.com") {
        return S3Input::Ignored("CloudTrail event not from s3.amazonaws.com".into());
    }
    if !WRITE_CALLS.contains(&name) {
        return S3Input::Ignored(format!("CloudTrail call {name} does not write an object"));
    }
    if let Some(code) = text(detail, "/errorCode") {
        return S3Input::Ignored(format!("{name} failed ({code})"));
    }
    let Some(bucket) = text(detail, "/requestParameters/bucketName") else {
        return missing("detail.requestParameters.bucketName");
    };
    // CloudTrail records the key as requested: not URL-encoded.
    let Some(key) = text(detail, "/requestParameters/key") else {
        return missing("detail.requestParameters.key");
    };
    let Some(id) = text(detail, "/eventID").or(event.id.as_deref().filter(|i| !i.is_empty())) else {
        return missing("detail.eventID");
    };
    let etag = text(detail, "/responseElements/ETag")
        .or(text(detail, "/responseElements/copyObjectResult/ETag"))
        .or(text(detail, "/responseElements/eTag"));
    S3Input::Objects(vec![S3Object {
        source: S3Source::CloudTrail,
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        version_id: text(detail, "/responseElements/x-amz-version-id").map(str::to_owned),
        etag: etag.map(|e| e.trim_matches('"').to_owned()),
        event_id: id.to_owned(),
    }])
}

fn object_created(event: &EventBridgeEvent<Value>) -> S3Input {
    let detail = &event.detail;
    let Some(bucket) = text(detail, "/bucket/name") else { return missing("detail.bucket.name") };
    let Some(raw_key) = text(detail, "/object/key") else { return missing("detail.object.key") };
    // URL-encoded, as in S3 notifications.
    let Some(key) = decode_key(raw_key) else {
        return S3Input::Ignored("malformed event: detail.object.key is not valid URL-encoded UTF-8".into());
    };
    let Some(id) = event.id.as_deref().filter(|i| !i.is_empty()) else { return missing("id") };
    S3Input::Objects(vec![S3Object {
        source: S3Source::EventBridge,
        bucket: bucket.to_owned(),
        key,
        version_id: text(detail, "/object/version-id").map(str::to_owned),
        etag: text(detail, "/object/etag").map(str::to_owned),
        event_id: id.to_owned(),
    }])
}

fn notification_objects(records: &[S3EventRecord]) -> S3Input {
    let mut objects = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let non_empty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        let Some(name) = non_empty(&record.event_name) else { return missing(&format!("Records[{i}].eventName")) };
        if !name.starts_with("ObjectCreated:") && !name.starts_with("s3:ObjectCreated:") {
            continue;
        }
        let Some(bucket) = non_empty(&record.s3.bucket.name) else {
            return missing(&format!("Records[{i}].s3.bucket.name"));
        };
        let Some(raw_key) = non_empty(&record.s3.object.key) else {
            return missing(&format!("Records[{i}].s3.object.key"));
        };
        let Some(key) = decode_key(&raw_key) else {
            return S3Input::Ignored(format!(
                "malformed event: Records[{i}].s3.object.key is not valid URL-encoded UTF-8"
            ));
        };
        let version_id = non_empty(&record.s3.object.version_id);
        // Notifications carry no event id: the request id and sequencer identify the write.
        let request = record.response_elements.get("x-amz-request-id").map(String::as_str).unwrap_or("");
        let sequencer = record.s3.object.sequencer.as_deref().unwrap_or("");
        let event_id = token::deterministic(&[
            "s3-notification",
            request,
            sequencer,
            &bucket,
            &key,
            version_id.as_deref().unwrap_or(""),
        ]);
        objects.push(S3Object {
            source: S3Source::Notification,
            bucket,
            key,
            version_id,
            etag: non_empty(&record.s3.object.e_tag),
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

#[cfg(test)]
pub(crate) mod tests;
