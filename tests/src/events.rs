//! HTTP events as Lambda delivers them: Function URL (payload 2.0) and API Gateway REST (v1).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde_json::{json, Map, Value};

fn header_map(headers: &[(&str, &str)]) -> Value {
    Value::Object(
        headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), Value::String((*v).to_owned()))).collect::<Map<_, _>>(),
    )
}

/// The demo's GitHub push (`events/git-webhook/payloads/github-push.json`) as delivery
/// `delivery`, signed with `secret`, in a Function URL event.
pub fn signed_github_push(delivery: &str, secret: &str) -> Value {
    let body = std::fs::read(crate::workspace().join("events/git-webhook/payloads/github-push.json")).expect("payload");
    let signature = format!("sha256={}", herald::auth::sign_hex(&herald::auth::Secret::new(secret), &body));
    function_url(
        "POST",
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", &signature),
            ("Content-Type", "application/json"),
        ],
        &body,
        false,
    )
}

/// A Lambda Function URL event (API Gateway HTTP API payload 2.0).
pub fn function_url(method: &str, headers: &[(&str, &str)], body: &[u8], base64: bool) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": header_map(headers),
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "herald-url",
            "domainName": "herald-url.lambda-url.us-east-1.on.aws",
            "domainPrefix": "herald-url",
            "http": { "method": method, "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test" },
            "requestId": "r-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795860000000u64
        },
        "body": if base64 { BASE64.encode(body) } else { String::from_utf8_lossy(body).into_owned() },
        "isBase64Encoded": base64
    })
}

/// An API Gateway REST API (v1) proxy event.
pub fn rest_api(method: &str, headers: &[(&str, &str)], body: &[u8], base64: bool) -> Value {
    json!({
        "resource": "/webhook",
        "path": "/webhook",
        "httpMethod": method,
        "headers": header_map(headers),
        "multiValueHeaders": Value::Object(headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), json!([v]))).collect()),
        "queryStringParameters": null,
        "multiValueQueryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012", "resourceId": "abc", "stage": "prod", "requestId": "r-2",
            "identity": { "sourceIp": "192.0.2.1" }, "resourcePath": "/webhook", "httpMethod": method,
            "apiId": "api", "path": "/prod/webhook"
        },
        "body": if base64 { BASE64.encode(body) } else { String::from_utf8_lossy(body).into_owned() },
        "isBase64Encoded": base64
    })
}

/// The JSON document in an HTTP response event (`statusCode`, `headers`, `body`).
pub fn body_of(response: &Value) -> Value {
    let text = response["body"].as_str().unwrap_or_default();
    let text = if response["isBase64Encoded"].as_bool().unwrap_or(false) {
        String::from_utf8(BASE64.decode(text).unwrap_or_default()).unwrap_or_default()
    } else {
        text.to_owned()
    };
    serde_json::from_str(&text).unwrap_or(Value::Null)
}
