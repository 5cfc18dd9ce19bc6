//! Every sample in `events/` read through the Rust ecosystem's typed Lambda events
//! (`aws_lambda_events`) and written back: the types Herald uses accept every real event it
//! takes, and lose nothing. Where a type of the library rejects real events, this test says which
//! (and Herald keeps its own reading for those, see ARCHITECTURE.md "Choices").

use aws_lambda_events::event::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::event::codepipeline_cloudwatch::CodePipelineCloudWatchEvent;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

fn samples(dir: &str) -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events").join(dir);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), serde_json::from_str(&text).unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no samples in {}", dir.display());
    out
}

/// Reads `raw` as `T`, writes it back, reads that again: the same value both times, and every
/// field of the original is still there.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(name: &str, raw: &Value) -> T {
    let typed: T = serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{name}: rejected: {e}"));
    let written = serde_json::to_value(&typed).unwrap();
    let again: T = serde_json::from_value(written.clone()).unwrap();
    assert_eq!(typed, again, "{name}: not stable");
    assert_fields_kept(name, raw, &written, "");
    typed
}

/// Every non-null field of `raw` is in `written`, with the same value (times may change form).
fn assert_fields_kept(name: &str, raw: &Value, written: &Value, at: &str) {
    match (raw, written) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if v.is_null() {
                    continue;
                }
                let there = b.get(k).unwrap_or_else(|| panic!("{name}: {at}/{k} lost"));
                assert_fields_kept(name, v, there, &format!("{at}/{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{name}: {at} length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_fields_kept(name, x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::String(a), Value::String(b)) if at.ends_with("time") || at.ends_with("Time") => {
            assert_eq!(
                a.trim_end_matches('Z').split('.').next(),
                b.trim_end_matches('Z').split('.').next(),
                "{name}: {at}"
            );
        }
        (a, b) => assert_eq!(a, b, "{name}: {at}"),
    }
}

#[test]
fn s3_trigger_samples_round_trip() {
    let mut seen = 0;
    for (name, raw) in samples("s3-trigger") {
        if name == "herald-config.json" || name.starts_with("get-pipeline") {
            continue;
        }
        if raw.get("Records").is_some() {
            let event: S3Event = round_trip(&name, &raw);
            assert!(event.records[0].s3.object.key.is_some(), "{name}");
        } else {
            let event: EventBridgeEvent<Value> = round_trip(&name, &raw);
            assert_eq!(event.source, "aws.s3", "{name}");
        }
        seen += 1;
    }
    assert_eq!(seen, 6);
}

#[test]
fn pipeline_notifier_samples_round_trip_as_eventbridge_events() {
    for (name, raw) in samples("pipeline-notifier") {
        let event: EventBridgeEvent<Value> = round_trip(&name, &raw);
        assert!(event.id.is_some() && event.time.is_some() && event.region.is_some(), "{name}");
    }
}

/// The library's CodePipeline type rejects every real state change: CodePipeline sends
/// `detail.version` as a float (`4.0`) and an action's `detail.type.version` as a string (`"1"`),
/// where the type wants integers. Herald reads CodePipeline details itself (alert/event.rs), on
/// the library's EventBridge envelope.
#[test]
fn the_codepipeline_type_rejects_real_state_changes() {
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    for (name, raw) in samples("pipeline-notifier") {
        if raw["detail-type"].as_str().is_none_or(|t| !t.starts_with("CodePipeline")) {
            continue;
        }
        match serde_json::from_value::<CodePipelineCloudWatchEvent>(raw.clone()) {
            Ok(_) => accepted.push(name),
            Err(e) => rejected.push(format!("{name}: {e}")),
        }
    }
    assert!(accepted.is_empty(), "{accepted:?}");
    assert_eq!(rejected.len(), 6, "{rejected:#?}");
    assert!(rejected.iter().any(|r| r.contains("floating point `4.0`, expected i64")), "{rejected:#?}");
    assert!(rejected.iter().any(|r| r.contains("string \"1\", expected i64")), "{rejected:#?}");
}

#[test]
fn git_webhook_samples_round_trip_as_http_events() {
    for (name, raw) in samples("git-webhook") {
        if raw.get("version").and_then(Value::as_str) == Some("2.0") {
            let request: ApiGatewayV2httpRequest = round_trip(&name, &raw);
            assert!(request.body.is_some(), "{name}");
        } else {
            let _: ApiGatewayProxyRequest = round_trip(&name, &raw);
        }
    }
}
