//! Every input form, key decoding, matching, revision choice and token stability.

use super::*;
use crate::ports::AwsError;
use crate::start::fakes::{FakeBus, FakeStarter};
use std::collections::HashMap;

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/s3-trigger").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn config() -> Arc<Config> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/s3-trigger/herald-config.json"),
    )
    .unwrap();
    Arc::new(Config::from_json(&text).unwrap())
}

fn objects(name: &str) -> Vec<S3Object> {
    match parse_event(&sample(name)) {
        S3Input::Objects(o) => o,
        S3Input::Ignored(r) => panic!("{name}: {r}"),
    }
}

#[test]
fn cloudtrail_put_copy_and_multipart() {
    let put = &objects("cloudtrail-put-object.json")[0];
    assert_eq!(
        (put.source, put.bucket.as_str(), put.key.as_str()),
        (S3Source::CloudTrail, "acme-artifacts", "releases/app/app-1.4.2.zip")
    );
    assert_eq!(put.version_id.as_deref(), Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"));
    assert_eq!(put.event_id, "5d8e1f5a-8c51-4c6e-9a4d-3f1b2e7c9d10");
    let copy = &objects("cloudtrail-copy-object.json")[0];
    assert_eq!(copy.key, "releases/app/app-1.4.3.zip");
    assert_eq!(copy.etag.as_deref(), Some("a3c1f0b2e9d84b7c6a5f4e3d2c1b0a99"));
    let multipart = &objects("cloudtrail-complete-multipart-upload.json")[0];
    assert_eq!(multipart.key, "releases/big/dataset 2026.zip");
    assert_eq!(multipart.etag.as_deref(), Some("d41d8cd98f00b204e9800998ecf8427e-12"));
}

#[test]
fn eventbridge_object_created() {
    let o = &objects("eventbridge-object-created.json")[0];
    assert_eq!((o.source, o.key.as_str()), (S3Source::EventBridge, "releases/app/app-1.5.0.zip"));
    assert_eq!(o.version_id.as_deref(), Some("IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"));
    assert_eq!(o.event_id, "17793124-05d4-b198-2fde-7ededc63b103");
}

#[test]
fn notifications_decode_keys() {
    let o = &objects("s3-notification.json")[0];
    assert_eq!((o.source, o.key.as_str()), (S3Source::Notification, "releases/app/app 2.0 (rc1).zip"));
    assert_eq!(o.event_id.len(), 64);
    assert_eq!(o.event_id, objects("s3-notification.json")[0].event_id, "stable across redeliveries");
    assert_eq!(decode_key("a%2Bb+c"), Some("a+b c".into()));
    assert_eq!(decode_key("%FF"), None);
}

#[test]
fn others_and_malformed_are_ignored() {
    assert!(
        matches!(parse_event(&sample("cloudtrail-get-object-ignored.json")), S3Input::Ignored(r) if r.contains("GetObject"))
    );
    let mut failed = sample("cloudtrail-put-object.json");
    failed["detail"]["errorCode"] = json!("AccessDenied");
    assert!(matches!(parse_event(&failed), S3Input::Ignored(r) if r.contains("AccessDenied")));
    for bad in [
        json!({}),
        json!([1, 2]),
        json!("text"),
        json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": 3 } } }] }),
        json!({ "Records": [{ "eventName": "ObjectRemoved:Delete" }] }),
        json!({ "source": "aws.s3", "detail-type": "Object Created", "id": "x", "detail": { "bucket": { "name": "b" }, "object": { "key": null } } }),
        json!({ "source": "aws.s3", "detail-type": "AWS API Call via CloudTrail", "detail": { "eventSource": "s3.amazonaws.com", "eventName": "PutObject", "requestParameters": "x" } }),
        json!({ "source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification" }),
    ] {
        assert!(matches!(parse_event(&bad), S3Input::Ignored(_)), "{bad}");
    }
}

fn plan_of(d: &Decision) -> &StartPlan {
    match &d.outcome {
        Outcome::Start(p) => p,
        Outcome::Skip(r) => panic!("skipped: {r}"),
    }
}

#[test]
fn matching_revision_choice_and_variables() {
    let c = config();
    let put = &objects("cloudtrail-put-object.json")[0];
    let decisions = decide_s3(&c, put);
    assert_eq!(decisions.len(), 2, "both triggers' buckets match");
    let plan = plan_of(&decisions[0]);
    let revision = plan.source_revision.as_ref().unwrap();
    assert_eq!(
        (revision.revision_type, revision.revision_value.as_str()),
        (RevisionType::S3ObjectVersionId, "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
    );
    assert!(plan.variables.contains(&("ARTIFACT_KEY".into(), "releases/app/app-1.4.2.zip".into())));
    assert_eq!(decisions[1].outcome, Outcome::Skip("key releases/app/app-1.4.2.zip does not match keys".into()));
    let mut unversioned = put.clone();
    unversioned.version_id = None;
    let d = decide_s3(&c, &unversioned);
    let revision = plan_of(&d[0]).source_revision.clone().unwrap();
    assert_eq!(
        (revision.revision_type, revision.revision_value.as_str()),
        (RevisionType::S3ObjectKey, "releases/app/app-1.4.2.zip")
    );
    assert!(plan_of(&d[0]).notes.contains(&"variable ARTIFACT_VERSION rendered empty and was left out".to_string()));
    let mut other_bucket = put.clone();
    other_bucket.bucket = "elsewhere".into();
    assert!(decide_s3(&c, &other_bucket).is_empty());
}

#[test]
fn tokens_are_stable_per_event_and_differ_between_events() {
    let c = config();
    let put = &objects("cloudtrail-put-object.json")[0];
    let token = |o: &S3Object| plan_of(&decide_s3(&c, o)[0]).client_request_token.clone();
    assert_eq!(token(put), token(&objects("cloudtrail-put-object.json")[0]));
    let mut other = put.clone();
    other.event_id = "another".into();
    assert_ne!(token(put), token(&other));
    assert_eq!(token(put).len(), 64);
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
