//! The HTTP edge of `git-webhook`: Lambda Function URL, API Gateway HTTP API (v2) and REST API
//! (v1) events in, [`WebhookService`] answers out.

use crate::providers::Headers;
use crate::webhook::{WebhookRequest, WebhookResponse, WebhookService};
use lambda_http::{service_fn, Body, Request, Response};
use std::convert::Infallible;
use std::sync::Arc;

/// Serves requests until the runtime stops.
pub async fn serve(service: WebhookService) -> Result<(), lambda_http::Error> {
    let service = Arc::new(service);
    lambda_http::run(service_fn(move |request: Request| {
        let service = service.clone();
        async move { Ok::<_, Infallible>(into_http(service.handle(from_http(request)).await)) }
    }))
    .await
}

/// Reads a Lambda HTTP event (Function URL, API Gateway v2 or v1) as the runtime would, for
/// tools that hold the event as JSON (the CLI's `explain`).
pub fn from_event(event: serde_json::Value) -> Result<WebhookRequest, String> {
    let request: lambda_http::request::LambdaRequest =
        serde_json::from_value(event).map_err(|e| format!("not a Lambda HTTP event: {e}"))?;
    Ok(from_http(Request::from(request)))
}

/// Translates a Lambda HTTP request (its body already base64-decoded by `lambda_http`).
pub fn from_http(request: Request) -> WebhookRequest {
    let method = request.method().as_str().to_owned();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| value.to_str().ok().map(|v| (name.as_str(), v)))
        .collect::<Headers>();
    let body = match request.into_body() {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    WebhookRequest { method, headers, body }
}

/// Translates an answer into the Lambda HTTP response.
pub fn into_http(answer: WebhookResponse) -> Response<Body> {
    let mut builder = Response::builder().status(answer.status).header("content-type", "application/json");
    for (name, value) in &answer.headers {
        builder = builder.header(*name, value.as_str());
    }
    match builder.body(Body::Text(answer.body.to_string())) {
        Ok(response) => response,
        // Only reachable with an invalid header value, which Herald never builds.
        Err(_) => {
            let mut response = Response::new(Body::Text(r#"{"error":"internal error"}"#.into()));
            *response.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}
