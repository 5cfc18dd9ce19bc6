//! Every input form, key decoding, and what is ignored.

use super::*;
use serde_json::json;

/// A sample event of `events/s3-trigger/`.
pub(crate) fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/s3-trigger").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The objects of a sample event.
pub(crate) fn objects(name: &str) -> Vec<S3Object> {
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

/// S3's EventBridge events carry the key URL-encoded, as its notifications do (AWS's own
/// Powertools decodes `detail.object.key` with `unquote_plus`): `+` is a space, `%2B` a plus.
#[test]
fn eventbridge_keys_are_url_decoded() {
    let mut event = sample("eventbridge-object-created.json");
    event["detail"]["object"]["key"] = json!("releases/app/app+2.0+%2B+hotfix%28rc1%29.zip");
    let S3Input::Objects(objects) = parse_event(&event) else { panic!("ignored") };
    assert_eq!(objects[0].key, "releases/app/app 2.0 + hotfix(rc1).zip");
    event["detail"]["object"]["key"] = json!("bad%FF");
    assert!(matches!(parse_event(&event), S3Input::Ignored(r) if r.contains("URL-encoded")));
}
