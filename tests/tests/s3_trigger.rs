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

/// The template with S3SourceBuckets, resolved by the SAM CLI's own intrinsic resolver.
fn resolved(parameters: Value, ids: &[&str]) -> Value {
    let out = std::process::Command::new(workspace().join(".venv/bin/python"))
        .arg(workspace().join("tests/support/resolve_template.py"))
        .arg(parameters.to_string())
        .args(ids)
        .output()
        .expect("resolve_template.py");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("resolved JSON")
}

/// A platform team with a bucket per team: S3SourceBuckets lists both, the template's rule (as
/// CloudFormation resolves it) lets both buckets' writes through EventBridge and no other, the
/// trail logs both, s3-trigger's role names no bucket, and the real binary starts each team's
/// pipeline from its own bucket.
#[tokio::test]
async fn two_source_buckets_start_pipelines_from_both() {
    let buckets = ["team-a-artifacts", "team-b-artifacts"];
    let with = |source: &str| json!({ "S3SourceBuckets": buckets.join(","), "S3EventSource": source, "CreateS3Trail": "true" });
    let created = resolved(with("ObjectCreated"), &["S3ObjectCreatedRule"]);
    let pattern = &created["S3ObjectCreatedRule"]["EventPattern"];
    assert_eq!(pattern["detail"]["bucket"]["name"], json!(buckets), "{pattern}");
    let trail = resolved(with("CloudTrail"), &["S3CloudTrailRule", "S3WritesTrail"]);
    assert_eq!(trail["S3CloudTrailRule"]["EventPattern"]["detail"]["requestParameters"]["bucketName"], json!(buckets));
    let selectors = &trail["S3WritesTrail"]["AdvancedEventSelectors"][0]["FieldSelectors"];
    let arns = selectors.as_array().unwrap().iter().find(|f| f["Field"] == "resources.ARN").expect("an ARN selector");
    assert_eq!(arns["StartsWith"], json!(["arn:aws:s3:::team-a-artifacts/", "arn:aws:s3:::team-b-artifacts/"]));
    assert_eq!(trail["conditions"]["CreateTrail"], true);
    let china = resolved(
        json!({ "S3SourceBuckets": "only", "S3EventSource": "CloudTrail", "CreateS3Trail": "true", "AWS::Partition": "aws-cn" }),
        &["S3WritesTrail"],
    );
    let selectors = &china["S3WritesTrail"]["AdvancedEventSelectors"][0]["FieldSelectors"];
    assert!(selectors.to_string().contains("arn:aws-cn:s3:::only/"), "{selectors}");
    let none = resolved(json!({}), &[]);
    assert_eq!(none["conditions"]["HasS3Bucket"], false, "no buckets: no S3 rules");
    let template = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    let role =
        template.split("\n  S3TriggerRole:").nth(1).unwrap_or_default().split("\n  # ---").next().unwrap_or_default();
    assert!(!role.is_empty() && !role.contains("S3SourceBucket"), "s3-trigger's role is the same for any bucket list");

    // EventBridge (moto) with the resolved pattern: both teams' writes arrive, a third bucket's not.
    let moto = Moto::start();
    let queue = moto.ctl(&["rule-to-queue", "s3-writes", &pattern.to_string(), "s3-writes"])["queue_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut versions = Vec::new();
    let mut events = Vec::new();
    for bucket in buckets.iter().chain(&["team-c-artifacts"]) {
        moto.ctl(&["create-bucket", bucket]);
        let version = moto.ctl(&["put-object", bucket, "releases/app/app.zip", "bytes"])["version_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut event = sample("s3-trigger/eventbridge-object-created.json");
        event["detail"]["bucket"]["name"] = json!(bucket);
        event["detail"]["object"]["key"] = json!("releases/app/app.zip");
        event["detail"]["object"]["version-id"] = json!(version);
        event["resources"] = json!([format!("arn:aws:s3:::{bucket}")]);
        versions.push(version);
        events.push(event);
    }
    assert_eq!(moto.ctl(&["put-events", &Value::from(events).to_string()])["failed"], 0);
    let arrived = moto.ctl(&["receive", &queue, "3"]);
    let arrived: Vec<Value> = arrived.as_array().unwrap().clone();
    let names: Vec<&str> = arrived.iter().map(|e| e["detail"]["bucket"]["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(buckets.iter().all(|b| names.contains(b)), "{names:?}");

    // What arrived, to the real s3-trigger: each team's pipeline starts, pinned to its version.
    for team in ["team-a", "team-b"] {
        moto.ctl(&[
            "create-pipeline",
            &format!("{team}-deploy"),
            &format!("source={team}-artifacts:releases/app/app.zip"),
        ]);
    }
    let config = json!({ "triggers": [
        { "name": "team-a", "pipeline": "team-a-deploy", "s3": { "bucket": "team-a-*", "keys": ["releases/**"] }, "source_action": "Source" },
        { "name": "team-b", "pipeline": "team-b-deploy", "s3": { "bucket": "team-b-*", "keys": ["releases/**"] }, "source_action": "Source" }
    ] })
    .to_string();
    let mut lambda = Lambda::start("s3-trigger", &moto.endpoint, &[("HERALD_CONFIG", config.as_str())]).await;
    for event in arrived {
        let bucket = event["detail"]["bucket"]["name"].as_str().unwrap().to_owned();
        let out = lambda.invoke(event).await.response();
        let team = &bucket[..6];
        assert_eq!(out["started"][0]["pipeline"], format!("{team}-deploy"), "{out}");
        let revisions = out["started"][0]["source_revisions"].as_array().cloned().unwrap_or_default();
        let pinned =
            revisions.iter().find(|r| r["revision_type"] == "S3_OBJECT_VERSION_ID").expect("pinned to a version");
        assert!(versions.iter().any(|v| pinned["revision_value"] == *v), "{out}");
    }
    assert_eq!(moto.executions("team-a-deploy").len(), 1);
    assert_eq!(moto.executions("team-b-deploy").len(), 1);
}
