//! The benchmarks' floor: a `lambda_http` function that reads the same HTTP event and answers a
//! small JSON body, doing nothing else. `git-webhook`'s cost is reported as a ratio to it.

use lambda_http::{service_fn, Body, Request, Response};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::run(service_fn(|request: Request| async move {
        let size = match request.body() {
            Body::Text(text) => text.len(),
            Body::Binary(bytes) => bytes.len(),
            _ => 0,
        };
        let response = Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Body::Text(format!(r#"{{"bytes":{size}}}"#)))
            .map_err(Box::new)?;
        Ok::<_, lambda_http::Error>(response)
    }))
    .await
}
