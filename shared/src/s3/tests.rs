//! The use case through fakes: starts, reports, transient and permanent failures.

use super::*;
use crate::ports::fakes::{FakeBus, FakeDefinitions, FakeStarter};
use crate::ports::AwsError;
use crate::s3::event::tests::sample;
use crate::s3::sources::SourceActions;
use std::collections::HashMap;

fn config() -> Arc<Config> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/s3-trigger/herald-config.json"),
    )
    .unwrap();
    Arc::new(Config::from_json(&text).unwrap())
}

/// The demo pipelines' source actions read `acme-artifacts`, any release key.
fn definitions() -> FakeDefinitions {
    FakeDefinitions::s3(&["demo-deploy", "demo-data"], "acme-artifacts", "releases/app/latest.zip", true)
}

fn make_service(starter: FakeStarter) -> (Arc<FakeStarter>, Arc<FakeBus>, S3TriggerService) {
    make_service_with(starter, definitions()).0
}

fn make_service_with(
    starter: FakeStarter,
    definitions: FakeDefinitions,
) -> ((Arc<FakeStarter>, Arc<FakeBus>, S3TriggerService), Arc<FakeDefinitions>) {
    let starter = Arc::new(starter);
    let bus = Arc::new(FakeBus::default());
    let definitions = Arc::new(definitions);
    let runner = StartRunner::new(starter.clone(), None, false);
    let sources = SourceActions::new(definitions.clone());
    ((starter.clone(), bus.clone(), S3TriggerService::new(config(), runner, sources, Some(bus))), definitions)
}

#[tokio::test]
async fn source_actions_are_read_once_and_pin_key_and_version() {
    let ((starter, _, service), definitions) = make_service_with(FakeStarter::default(), definitions());
    let event = sample("eventbridge-object-created.json");
    let out = service.handle(&event).await.unwrap();
    assert_eq!(out["started"][0]["source_revisions"][0]["revision_type"], "S3_OBJECT_KEY", "{out}");
    assert_eq!(out["started"][0]["source_revisions"][1]["revision_type"], "S3_OBJECT_VERSION_ID", "{out}");
    service.handle(&event).await.unwrap();
    assert_eq!(definitions.calls.load(std::sync::atomic::Ordering::SeqCst), 1, "cached");
    assert_eq!(starter.started.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn an_action_that_cannot_take_the_key_skips_and_an_unreadable_one_retries() {
    let fixed = FakeDefinitions::s3(&["demo-deploy"], "acme-artifacts", "releases/app/latest.zip", false);
    let ((starter, _, service), _) = make_service_with(FakeStarter::default(), fixed);
    let out = service.handle(&sample("eventbridge-object-created.json")).await.unwrap();
    assert!(out["skipped"][0]["reason"].as_str().unwrap().contains("AllowOverrideForS3ObjectKey"), "{out}");
    assert!(starter.started.lock().unwrap().is_empty());

    let down =
        FakeDefinitions { fail: Some(AwsError::Transient("GetPipeline: ThrottlingException".into())), ..definitions() };
    let ((starter, _, service), _) = make_service_with(FakeStarter::default(), down);
    assert!(service.handle(&sample("eventbridge-object-created.json")).await.is_err(), "retried, not lost");
    assert!(starter.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn starts_and_reports() {
    let (starter, bus, service) = make_service(FakeStarter::default());
    let out = service.handle(&sample("cloudtrail-complete-multipart-upload.json")).await.unwrap();
    assert_eq!(out["started"][0]["pipeline"], "demo-data");
    assert_eq!(out["skipped"][0]["trigger"], "app-release");
    assert_eq!(
        starter.started.lock().unwrap()[0].variables,
        [
            ("ARTIFACT_KEY".into(), "releases/big/dataset 2026.zip".into()),
            ("ETAG".into(), "d41d8cd98f00b204e9800998ecf8427e-12".into())
        ]
    );
    let types: Vec<_> = bus.events.lock().unwrap().iter().map(|e| e.detail_type).collect();
    assert_eq!(types, ["Trigger Skipped", "Pipeline Triggered"]);
    let ignored = service.handle(&json!({ "nonsense": true })).await.unwrap();
    assert!(ignored["ignored"].is_string());
}

#[tokio::test]
async fn transient_failures_fail_the_invocation_and_permanent_ones_are_published() {
    let mut fail = HashMap::new();
    fail.insert("demo-deploy".to_string(), AwsError::Transient("StartPipelineExecution: ThrottlingException".into()));
    let (_, _, service) = make_service(FakeStarter { fail, ..Default::default() });
    let err = service.handle(&sample("eventbridge-object-created.json")).await.unwrap_err();
    assert_eq!(err.pipeline, "demo-deploy");

    let mut fail = HashMap::new();
    fail.insert(
        "demo-deploy".to_string(),
        AwsError::Permanent("StartPipelineExecution: PipelineNotFoundException".into()),
    );
    let (_, bus, service) = make_service(FakeStarter { fail, ..Default::default() });
    let out = service.handle(&sample("eventbridge-object-created.json")).await.unwrap();
    assert_eq!(out["failed"][0]["pipeline"], "demo-deploy");
    assert!(bus.events.lock().unwrap().iter().any(|e| e.detail_type == "Trigger Failed"));
}
