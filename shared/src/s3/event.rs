//! The three ways an S3 write reaches `s3-trigger`, read into [`S3Object`]s: EventBridge "AWS API
//! Call via CloudTrail" events, EventBridge "Object Created" events, and plain S3 event
//! notifications. Never fails: anything else, or anything malformed, is [`S3Input::Ignored`].

use crate::change::{S3Object, S3Source};
use crate::token;
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
    let Some(raw_key) = text(event, "/detail/object/key") else { return missing("detail.object.key") };
    // URL-encoded, as in S3 notifications.
    let Some(key) = decode_key(raw_key) else {
        return S3Input::Ignored("malformed event: detail.object.key is not valid URL-encoded UTF-8".into());
    };
    let Some(id) = text(event, "/id") else { return missing("id") };
    S3Input::Objects(vec![S3Object {
        source: S3Source::EventBridge,
        bucket: bucket.to_owned(),
        key,
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
        let event_id = token::deterministic(&[
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

#[cfg(test)]
pub(crate) mod tests;
