//! The use case through fakes: starts, reports, transient and permanent failures.

use super::*;
use crate::ports::fakes::{FakeBus, FakeStarter};
use crate::ports::AwsError;
use crate::s3::event::tests::sample;
use std::collections::HashMap;

fn config() -> Arc<Config> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/s3-trigger/herald-config.json"),
    )
    .unwrap();
    Arc::new(Config::from_json(&text).unwrap())
}

fn make_service(starter: FakeStarter) -> (Arc<FakeStarter>, Arc<FakeBus>, S3TriggerService) {
    let starter = Arc::new(starter);
    let bus = Arc::new(FakeBus::default());
    let runner = StartRunner::new(starter.clone(), None, false);
    (starter.clone(), bus.clone(), S3TriggerService::new(config(), runner, Some(bus)))
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
