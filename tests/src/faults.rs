//! A fault-injecting proxy between Herald's binaries and moto: it forwards every AWS call, except
//! the ones a test told it to break (throttled, a 5xx, slow, or the connection dropped), so the
//! real binaries meet AWS failures as they happen on a real account.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// Every AWS operation `git-webhook` makes on a start's path: what a latency measurement slows.
pub const WEBHOOK_OPERATIONS: [&str; 8] = [
    "PutItem",
    "UpdateItem",
    "GetItem",
    "DeleteItem",
    "TransactWriteItems",
    "BatchWriteItem",
    "StartPipelineExecution",
    "StopPipelineExecution",
];

/// How a call is broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ThrottlingException` (query protocol: `Throttling`).
    Throttle,
    /// 500 `InternalFailure`.
    ServerError,
    /// Forwarded after this delay.
    Slow(Duration),
    /// The connection is closed without an answer.
    Drop,
}

#[derive(Debug, Clone)]
struct Rule {
    call: String,
    fault: Fault,
    times: usize,
}

/// The proxy; `endpoint` goes in `AWS_ENDPOINT_URL`.
pub struct FaultProxy {
    pub endpoint: String,
    rules: Arc<Mutex<Vec<Rule>>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fault proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let calls: Arc<Mutex<Vec<String>>> = Arc::default();
        let (served_rules, served_calls) = (rules.clone(), calls.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (rules, calls, upstream) = (served_rules.clone(), served_calls.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, rules.clone(), calls.clone(), upstream.clone()));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { endpoint, rules, calls }
    }

    /// Breaks the next `times` calls of `call` (an AWS operation name: `StartPipelineExecution`,
    /// `PutItem`, `Publish`, ...) with `fault`.
    pub fn inject(&self, call: &str, fault: Fault, times: usize) {
        self.rules.lock().expect("rules").push(Rule { call: call.to_owned(), fault, times });
    }

    /// Forgets every rule not used up yet.
    pub fn heal(&self) {
        self.rules.lock().expect("rules").clear();
    }

    /// Every call seen, in order.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }
}

/// The operation of a request: `X-Amz-Target: Service.Operation` (JSON protocols), else the
/// query protocol's `Action=` field (SNS).
fn operation(target: Option<&str>, body: &[u8]) -> String {
    if let Some(t) = target {
        return t.rsplit('.').next().unwrap_or(t).to_owned();
    }
    form_action(body).unwrap_or_else(|| "unknown".into())
}

fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| pair.strip_prefix("Action=")).map(str::to_owned)
}

async fn handle(
    req: Request<Incoming>,
    rules: Arc<Mutex<Vec<Rule>>>,
    calls: Arc<Mutex<Vec<String>>>,
    upstream: String,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let json = target.is_some();
    let call = operation(target, &body);
    calls.lock().expect("calls").push(call.clone());
    let fault = {
        let mut rules = rules.lock().expect("rules");
        let found = rules.iter_mut().find(|r| r.call == call && r.times > 0);
        found.map(|r| {
            r.times -= 1;
            r.fault
        })
    };
    match fault {
        Some(Fault::Throttle) => return Ok(error(400, json, "ThrottlingException", "Throttling", "Rate exceeded")),
        Some(Fault::ServerError) => {
            return Ok(error(500, json, "InternalFailure", "InternalError", "injected server error"))
        }
        Some(Fault::Drop) => return Err(std::io::Error::other("connection dropped by the fault proxy")),
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    forward(Request::from_parts(parts, Full::new(body)), &upstream).await
}

fn error(status: u16, json: bool, json_code: &str, query_code: &str, message: &str) -> Response<Full<Bytes>> {
    let (content_type, body) = if json {
        ("application/x-amz-json-1.1", format!(r#"{{"__type":"{json_code}","message":"{message}"}}"#))
    } else {
        (
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{query_code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            ),
        )
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("x-amzn-errortype", json_code)
        .body(Full::new(Bytes::from(body)))
        .expect("valid error response")
}

async fn forward(req: Request<Full<Bytes>>, upstream: &str) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    let response = sender.send_request(req).await.map_err(std::io::Error::other)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(std::io::Error::other)?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}
