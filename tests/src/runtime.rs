//! A minimal Lambda Runtime API (the 2018-06-01 interface) that runs one real Herald binary,
//! hands it events one at a time and returns what it answered.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// What an invocation ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The function's response document.
    Response(Value),
    /// The function reported an invocation error (`errorType`, `errorMessage`).
    Error(Value),
}

impl Outcome {
    /// The response, or a panic naming the error.
    pub fn response(self) -> Value {
        match self {
            Outcome::Response(v) => v,
            Outcome::Error(e) => panic!("invocation failed: {e}"),
        }
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;

struct State {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    pending: Pending,
    init_error: Mutex<Option<Value>>,
    /// When the function first asked for an event: its cold start was over.
    first_next: Mutex<Option<std::time::Instant>>,
}

/// One function process behind its own Runtime API.
pub struct Lambda {
    child: Child,
    sender: mpsc::UnboundedSender<(String, Value)>,
    pending: Pending,
    state: Arc<State>,
    next_id: u64,
    spawned: std::time::Instant,
    /// Everything the function printed so far, drained as it comes (a full pipe would block it).
    output: Arc<Mutex<Vec<u8>>>,
    drained: Option<tokio::task::JoinHandle<()>>,
}

/// Runs the `herald` CLI from the workspace root with `env` added: its exit code, stdout and
/// stderr.
pub fn herald(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(binary("herald"))
        .args(args)
        .current_dir(crate::workspace())
        .envs(env.iter().copied())
        .output()
        .expect("herald runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The path of a workspace binary built by `cargo build --workspace --bins`.
pub fn binary(name: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| crate::workspace().join("target"));
    let path = target.join("debug").join(name);
    assert!(path.exists(), "{} not built: run `cargo build --workspace --bins` first (make test does)", path.display());
    path
}

impl Lambda {
    /// Starts `binary` with `env` (plus the Lambda and AWS variables a function sees).
    pub async fn start(name: &str, endpoint: &str, env: &[(&str, &str)]) -> Self {
        Self::start_binary(&binary(name), endpoint, env).await
    }

    /// Starts the binary at `path` (a release build, for benchmarks) the same way.
    pub async fn start_binary(path: &std::path::Path, endpoint: &str, env: &[(&str, &str)]) -> Self {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("function").to_owned();
        let name = name.as_str();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind runtime API");
        let addr = listener.local_addr().expect("runtime API address");
        let (sender, receiver) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let state = Arc::new(State {
            queue: tokio::sync::Mutex::new(receiver),
            pending: pending.clone(),
            init_error: Mutex::new(None),
            first_next: Mutex::new(None),
        });
        let served = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| route(state.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        let mut command = Command::new(path);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", endpoint)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let spawned = std::time::Instant::now();
        let mut child = command.spawn().unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        let output: Arc<Mutex<Vec<u8>>> = Arc::default();
        let drained = child.stdout.take().map(|mut stdout| {
            let output = output.clone();
            tokio::spawn(async move {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = stdout.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    output.lock().expect("output lock").extend_from_slice(&chunk[..n]);
                }
            })
        });
        Self { child, sender, pending, state, next_id: 0, spawned, output, drained }
    }

    /// Invokes the function with `event` and waits (at most 30 s) for its outcome.
    pub async fn invoke(&mut self, event: Value) -> Outcome {
        self.next_id += 1;
        let id = format!("req-{}", self.next_id);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock").insert(id.clone(), tx);
        self.sender.send((id, event)).expect("runtime API stopped");
        match tokio::time::timeout(Duration::from_secs(30), rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "no answer within 30 s; init error: {:?}; exited: {:?}",
                self.init_error(),
                self.child.try_wait()
            ),
        }
    }

    /// The process id (to read its CPU time and memory from `/proc`).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// How long the cold start took: from spawning the process to its first request for an
    /// event (configuration read, clients built). `None` until then.
    pub fn init_time(&self) -> Option<Duration> {
        self.state.first_next.lock().expect("first_next lock").map(|at| at - self.spawned)
    }

    /// The init error the function reported, if its cold start failed.
    pub fn init_error(&self) -> Option<Value> {
        self.state.init_error.lock().expect("init lock").clone()
    }

    /// Waits for the process to exit (after a failed cold start), at most 30 s; whether it
    /// exited with a failure status.
    pub async fn wait_failed_exit(&mut self) -> bool {
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(Ok(status)) => !status.success(),
            _ => false,
        }
    }

    /// Stops the function and returns everything it printed to stdout (its logs and metrics).
    pub async fn stop(mut self) -> String {
        let _ = self.child.kill().await;
        if let Some(drained) = self.drained.take() {
            let _ = drained.await;
        }
        let out = self.output.lock().expect("output lock");
        String::from_utf8_lossy(&out).into_owned()
    }
}

fn reply(status: StatusCode, body: Bytes, headers: &[(&str, String)]) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(status);
    for (k, v) in headers {
        builder = builder.header(*k, v.as_str());
    }
    builder.body(Full::new(body)).expect("valid response")
}

async fn route(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let body = req.into_body().collect().await?.to_bytes();
    let parse = |b: &Bytes| {
        serde_json::from_slice(b).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
    };
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["2018-06-01", "runtime", "invocation", "next"]) => {
            state.first_next.lock().expect("first_next lock").get_or_insert_with(std::time::Instant::now);
            let next = state.queue.lock().await.recv().await;
            let Some((id, event)) = next else { return Ok(reply(StatusCode::GONE, Bytes::new(), &[])) };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default();
            Ok(reply(
                StatusCode::OK,
                Bytes::from(event.to_string()),
                &[
                    ("Lambda-Runtime-Aws-Request-Id", id),
                    ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:herald".into(),
                    ),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000".into()),
                    ("Content-Type", "application/json".into()),
                ],
            ))
        }
        ("POST", ["2018-06-01", "runtime", "invocation", id, kind]) => {
            let outcome =
                if *kind == "response" { Outcome::Response(parse(&body)) } else { Outcome::Error(parse(&body)) };
            if let Some(tx) = state.pending.lock().expect("pending lock").remove(*id) {
                let _ = tx.send(outcome);
            }
            Ok(reply(StatusCode::ACCEPTED, Bytes::new(), &[]))
        }
        ("POST", ["2018-06-01", "runtime", "init", "error"]) => {
            *state.init_error.lock().expect("init lock") = Some(parse(&body));
            Ok(reply(StatusCode::ACCEPTED, Bytes::new(), &[]))
        }
        _ => Ok(reply(StatusCode::NOT_FOUND, Bytes::new(), &[])),
    }
}
