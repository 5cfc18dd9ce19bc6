//! `s3-trigger` end to end: a versioned bucket in moto, a real object version, the real binary.

use herald_tests::moto::Moto;
use herald_tests::runtime::{Lambda, Outcome};
use herald_tests::{sample, workspace};
use serde_json::{json, Value};

fn config() -> String {
    std::fs::read_to_string(workspace().join("events/s3-trigger/herald-config.json")).expect("s3 config sample")
}

const VARIABLES: [&str; 5] = ["ARTIFACT_BUCKET", "ARTIFACT_KEY", "ARTIFACT_VERSION", "EVENT_ID", "ETAG"];

/// demo-deploy's source action reads acme-artifacts/`source` (`bucket:key[:override]`).
async fn setup() -> (Moto, Lambda) {
    setup_with("acme-artifacts:releases/app/latest.zip:override").await
}

async fn setup_with(source: &str) -> (Moto, Lambda) {
    let moto = Moto::start();
    let deploy_source = format!("source={source}");
    let mut deploy = vec!["create-pipeline", "demo-deploy", deploy_source.as_str()];
    deploy.extend(VARIABLES);
    moto.ctl(&deploy);
    let mut data = vec!["create-pipeline", "demo-data"];
    data.extend(VARIABLES);
    moto.ctl(&data);
    moto.ctl(&["create-bucket", "acme-artifacts"]);
    let config = config();
    let lambda = Lambda::start("s3-trigger", &moto.endpoint, &[("HERALD_CONFIG", config.as_str())]).await;
    (moto, lambda)
}

fn put(moto: &Moto, key: &str) -> String {
    let out = moto.ctl(&["put-object", "acme-artifacts", key, "artifact bytes"]);
    out["version_id"].as_str().expect("versioned bucket returns a version id").to_owned()
}

fn variables(moto: &Moto, pipeline: &str) -> Vec<Value> {
    moto.executions(pipeline).into_iter().map(|e| e["variables"].clone()).collect()
}

#[tokio::test]
async fn every_input_form_starts_the_pipeline_pinned_to_the_real_version() {
    let (moto, mut lambda) = setup().await;

    let version = put(&moto, "releases/app/app-1.5.0.zip");
    let mut created = sample("s3-trigger/eventbridge-object-created.json");
    created["detail"]["object"]["version-id"] = json!(version);
    let out = lambda.invoke(created).await.response();
    assert_eq!(out["started"][0]["pipeline"], "demo-deploy", "{out}");
    assert_eq!(
        out["started"][0]["source_revisions"],
        json!([
            { "action_name": "Source", "revision_type": "S3_OBJECT_KEY", "revision_value": "releases/app/app-1.5.0.zip" },
            { "action_name": "Source", "revision_type": "S3_OBJECT_VERSION_ID", "revision_value": version }
        ])
    );

    let version2 = put(&moto, "releases/app/app-1.4.2.zip");
    let mut trail = sample("s3-trigger/cloudtrail-put-object.json");
    trail["detail"]["responseElements"]["x-amz-version-id"] = json!(version2);
    lambda.invoke(trail).await.response();

    let version3 = put(&moto, "releases/app/app 2.0 (rc1).zip");
    let mut notification = sample("s3-trigger/s3-notification.json");
    notification["Records"][0]["s3"]["object"]["versionId"] = json!(version3);
    lambda.invoke(notification).await.response();

    let version4 = put(&moto, "releases/big/dataset 2026.zip");
    let mut multipart = sample("s3-trigger/cloudtrail-complete-multipart-upload.json");
    multipart["detail"]["responseElements"]["x-amz-version-id"] = json!(version4);
    let out = lambda.invoke(multipart).await.response();
    assert_eq!(out["started"][0]["pipeline"], "demo-data", "{out}");

    let copy = lambda.invoke(sample("s3-trigger/cloudtrail-copy-object.json")).await.response();
    assert_eq!(copy["started"][0]["pipeline"], "demo-deploy", "{copy}");

    let deploy = variables(&moto, "demo-deploy");
    let keys: Vec<_> =
        deploy.iter().map(|v| (v["ARTIFACT_KEY"].as_str().unwrap(), v["ARTIFACT_VERSION"].as_str().unwrap())).collect();
    assert_eq!(
        keys,
        [
            ("releases/app/app-1.5.0.zip", version.as_str()),
            ("releases/app/app-1.4.2.zip", version2.as_str()),
            ("releases/app/app 2.0 (rc1).zip", version3.as_str()),
            ("releases/app/app-1.4.3.zip", "Wb2w0mVtU3F.gG2nq1nBqBvDk9BfL1lF"),
        ]
    );
    assert_eq!(deploy[0]["ARTIFACT_BUCKET"], "acme-artifacts");
    assert_eq!(deploy[0]["EVENT_ID"], "17793124-05d4-b198-2fde-7ededc63b103");
    let data = variables(&moto, "demo-data");
    assert_eq!(
        data,
        [json!({ "ARTIFACT_KEY": "releases/big/dataset 2026.zip", "ETAG": "d41d8cd98f00b204e9800998ecf8427e-12" })]
    );
}

#[tokio::test]
async fn other_and_malformed_events_are_acknowledged() {
    let (moto, mut lambda) = setup().await;
    for event in [
        sample("s3-trigger/cloudtrail-get-object-ignored.json"),
        json!({ "Records": [{ "eventName": "ObjectCreated:Put", "s3": { "object": { "key": 7 } } }] }),
        json!({ "source": "aws.s3", "detail-type": "Object Created", "detail": "nope" }),
        json!([1, 2, 3]),
        json!(null),
    ] {
        let out = lambda.invoke(event.clone()).await.response();
        assert!(out["ignored"].is_string(), "{event} -> {out}");
    }
    assert!(moto.executions("demo-deploy").is_empty());
}

#[tokio::test]
async fn transient_failures_fail_the_invocation_and_missing_pipelines_do_not() {
    let moto = Moto::start();
    let config = config();
    // Nothing listens here: every AWS call fails to connect, a transient failure.
    let closed = format!("http://127.0.0.1:{}", herald_tests::moto::free_port());
    let mut unreachable = Lambda::start("s3-trigger", &closed, &[("HERALD_CONFIG", config.as_str())]).await;
    match unreachable.invoke(sample("s3-trigger/eventbridge-object-created.json")).await {
        Outcome::Error(e) => assert_eq!(e["errorType"], "Herald.RetryableStartFailure", "{e}"),
        other => panic!("expected an invocation error, got {other:?}"),
    }
    unreachable.stop().await;

    let mut lambda = Lambda::start("s3-trigger", &moto.endpoint, &[("HERALD_CONFIG", config.as_str())]).await;
    let out = lambda.invoke(sample("s3-trigger/eventbridge-object-created.json")).await.response();
    // The pinned trigger cannot read its missing pipeline's source action: skipped, with why.
    assert!(out["skipped"][0]["reason"].as_str().unwrap().contains("PipelineNotFoundException"), "{out}");
    let logs = lambda.stop().await;
    assert!(logs.contains("could not read the source action"), "logged as an error");
}

/// CodePipeline applies a version id to the key configured on the source action: a write to
/// another key starts only when the action allows key overrides, and its own key gets the
/// version alone (docs/configuration.md "S3 sources").
#[tokio::test]
async fn the_source_action_decides_how_a_write_is_pinned() {
    let (moto, mut lambda) = setup_with("acme-artifacts:releases/app/latest.zip").await;
    let version = put(&moto, "releases/app/app-1.5.0.zip");
    let mut created = sample("s3-trigger/eventbridge-object-created.json");
    created["detail"]["object"]["version-id"] = json!(version);
    let out = lambda.invoke(created).await.response();
    let reason = out["skipped"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("AllowOverrideForS3ObjectKey: true"), "{out}");
    assert!(moto.executions("demo-deploy").is_empty(), "another object's version is never pinned");

    let (moto, mut lambda) = setup_with("acme-artifacts:releases/app/app-1.5.0.zip").await;
    let version = put(&moto, "releases/app/app-1.5.0.zip");
    let mut created = sample("s3-trigger/eventbridge-object-created.json");
    created["detail"]["object"]["version-id"] = json!(version);
    let out = lambda.invoke(created).await.response();
    assert_eq!(
        out["started"][0]["source_revisions"],
        json!([{ "action_name": "Source", "revision_type": "S3_OBJECT_VERSION_ID", "revision_value": version }]),
        "{out}"
    );

    let (_moto, mut lambda) = setup_with("elsewhere:releases/app/app-1.5.0.zip:override").await;
    let out = lambda.invoke(sample("s3-trigger/eventbridge-object-created.json")).await.response();
    assert!(out["skipped"][0]["reason"].as_str().unwrap().contains("cannot override the bucket"), "{out}");
}
