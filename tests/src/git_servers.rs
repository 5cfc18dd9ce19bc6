//! Fake Git servers: each a real HTTP server on loopback that accepts commit statuses the way
//! its server's documentation says — method, path, authentication header, body fields and
//! state words — answers like that server (201, or 204 for Bitbucket Data Center; 401, 404 or
//! 422 when something is wrong), and records what arrived. A test may script the next answers
//! (a 500, a 401) to see retries and permanent failures.

use crate::openapi::{self, Flavor};
use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Which server's API the fake speaks: Herald's own list (`ServerApi::key` names the
/// credentials-document entry).
pub use herald::git_api::ServerApi as Server;

/// What the fake accepts as authentication.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A token in the server's own header (`Authorization: Bearer`, `PRIVATE-TOKEN`, `token`,
    /// Azure DevOps' Basic with an empty user).
    Token(String),
    /// Basic user and password (Bitbucket app passwords).
    Basic(String, String),
    /// A GitHub App: installation tokens are minted for JWTs that verify with `public_key`.
    GitHubApp { installation_id: u64, public_key: Vec<u8>, token: String },
}

/// One request that arrived.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Value,
    /// What the fake answered.
    pub status: u16,
    /// Why it refused, when it did.
    pub problem: Option<String>,
    /// GitHub: the operation of GitHub's OpenAPI description the request is (its path template).
    pub operation: Option<String>,
}

struct State {
    server: Server,
    auth: Auth,
    arrivals: Mutex<Vec<Arrival>>,
    script: Mutex<VecDeque<u16>>,
    /// Scripted answers to POSTs alone.
    post_script: Mutex<VecDeque<u16>>,
    /// The files every pull request and comparison changed.
    files: Mutex<Vec<String>>,
    /// How many a page lists (small, so tests see paging).
    page_size: Mutex<usize>,
    /// How long each answer takes.
    delay: Mutex<Duration>,
    /// GitHub: each file's `patch` grown to this many bytes (0: the OpenAPI example's own).
    patch_bytes: Mutex<usize>,
    /// Benchmarks only: no OpenAPI check (the fake's own cost), and with `bare` entries of a
    /// file name alone (what this fake answered before it used GitHub's examples).
    bench: Mutex<Option<Bare>>,
    /// The pull requests it describes, by number (docs/commands.md "Commands from the pull request").
    pulls: Mutex<std::collections::HashMap<u64, FakePull>>,
    /// Who may write (GitLab: user ids; GitHub, Gitea / Forgejo: user names).
    writers: Mutex<Vec<String>>,
    /// GitHub: the deliveries of every hook it serves, newest first (docs/operations.md
    /// "Missed deliveries"), each in the shape of GitHub's `hook-delivery-item` example.
    deliveries: Mutex<Vec<Value>>,
    /// GitHub: the delivery ids whose redelivery was asked (`POST …/deliveries/{id}/attempts`).
    redeliveries: Mutex<Vec<u64>>,
    /// The pull request comments it holds, by id: (author name, author id, association, body,
    /// written at, Unix seconds).
    held_comments: Mutex<std::collections::HashMap<u64, HeldComment>>,
    /// Whether requests are checked against the server's published description (GitHub's
    /// OpenAPI, `make npm`); off only for `make demo`, which must run without the test oracle.
    oracle: Oracle,
    /// `http://127.0.0.1:port`, for next-page links.
    url: String,
}

/// Whether a fake checks what it receives against its server's published description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oracle {
    /// Every request (the tests): one the description does not have is answered 422.
    Checks,
    /// None (`make demo` on a fresh clone, which has no `.npm-packages/`): the answers are the
    /// same, only the check is skipped. The tests check the same traffic.
    Absent,
}

/// A comment as the fake holds it.
#[derive(Debug, Clone)]
struct HeldComment {
    name: String,
    user_id: u64,
    association: String,
    text: String,
    at: i64,
}

/// Unix seconds as RFC 3339, as the servers write times.
fn rfc3339(at: i64) -> String {
    aws_smithy_types::DateTime::from_secs(at).fmt(aws_smithy_types::date_time::Format::DateTime).expect("a time")
}

/// A pull request as the fake describes it.
#[derive(Debug, Clone)]
pub struct FakePull {
    pub head: String,
    pub source_branch: String,
    pub target_branch: String,
    pub from_fork: bool,
    /// `open`, `closed` or `merged`, in each server's own words in its answer.
    pub state: &'static str,
}

/// A running fake; it stops with the test's runtime.
pub struct FakeGitServer {
    /// `http://127.0.0.1:port`
    pub url: String,
    /// `127.0.0.1:port`, for the credentials document.
    pub host: String,
    state: Arc<State>,
}

impl FakeGitServer {
    pub async fn start(server: Server, auth: Auth) -> Self {
        Self::start_on(server, auth, 0).await
    }

    /// On `port` (0: any free one).
    pub async fn start_on(server: Server, auth: Auth, port: u16) -> Self {
        Self::start_checked(server, auth, port, Oracle::Checks).await
    }

    /// On `port`, its requests checked against the server's description or not (`make demo`).
    pub async fn start_checked(server: Server, auth: Auth, port: u16, oracle: Oracle) -> Self {
        if server == Server::GitHub && oracle == Oracle::Checks {
            // GitHub's description is 13 MB: read before the first request, whose answer would
            // otherwise wait for it and, on a loaded machine, outlast the client's timeout.
            openapi::spec(Flavor::DotCom);
            openapi::spec(Flavor::Enterprise);
        }
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind fake Git server");
        let host = listener.local_addr().expect("address").to_string();
        let state = Arc::new(State {
            server,
            auth,
            arrivals: Mutex::default(),
            script: Mutex::default(),
            post_script: Mutex::default(),
            files: Mutex::default(),
            page_size: Mutex::new(2),
            delay: Mutex::default(),
            patch_bytes: Mutex::default(),
            bench: Mutex::default(),
            pulls: Mutex::default(),
            writers: Mutex::default(),
            deliveries: Mutex::default(),
            redeliveries: Mutex::default(),
            held_comments: Mutex::default(),
            oracle,
            url: format!("http://{host}"),
        });
        let served = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Self { url: format!("http://{host}"), host, state }
    }

    /// Records a delivery of every hook (GitHub's `hook-delivery-items` example, or a GitLab hook
    /// event, with this guid, event and answer), delivered now; its id is the newest. Answers
    /// the id.
    pub fn add_delivery(&self, guid: &str, event: &str, status_code: u16, redelivery: bool) -> u64 {
        let mut deliveries = self.state.deliveries.lock().expect("deliveries");
        let id = deliveries.first().and_then(|d| d["id"].as_u64()).map_or(12_345_678, |newest| newest + 1);
        let item = if self.state.server == Server::GitLab {
            // GitLab's event: the request's headers carry the delivery's ids; the answer's
            // status is a string (a code, or words such as "internal error").
            json!({ "id": id, "url": "https://herald.example/", "trigger": event,
                    "request_headers": { "Content-Type": "application/json", "X-Gitlab-Event": "Push Hook",
                                         "X-Gitlab-Event-UUID": format!("{guid}-event"), "Idempotency-Key": guid },
                    "request_data": "{\"object_kind\":\"push\"}", "response_headers": {}, "response_body": "",
                    "execution_duration": 0.2, "response_status": status_code.to_string() })
        } else {
            let at = rfc3339(herald::clock::unix_now());
            let mut item = openapi::example(Flavor::DotCom, "hook-delivery-items")[0].clone();
            item["id"] = json!(id);
            item["guid"] = json!(guid);
            item["event"] = json!(event);
            item["action"] = Value::Null;
            item["status_code"] = json!(status_code);
            item["status"] = json!(if (200..300).contains(&status_code) { "OK" } else { "Service Unavailable" });
            item["delivered_at"] = json!(at);
            item["redelivery"] = json!(redelivery);
            item["throttled_at"] = Value::Null;
            item
        };
        deliveries.insert(0, item);
        id
    }

    /// The delivery ids whose redelivery was asked, in order.
    pub fn redeliveries(&self) -> Vec<u64> {
        self.state.redeliveries.lock().expect("redeliveries").clone()
    }

    /// Deliveries listed per page (the smaller of this and `per_page`).
    pub fn set_page_size(&self, size: usize) {
        *self.state.page_size.lock().expect("page size") = size;
    }

    /// The files pull requests and comparisons report, `page_size` to a page.
    pub fn set_files(&self, files: &[&str], page_size: usize) {
        *self.state.files.lock().expect("files") = files.iter().map(|f| (*f).to_owned()).collect();
        *self.state.page_size.lock().expect("page size") = page_size.max(1);
    }

    /// GitHub's file entries carry patches of `bytes` each (real pull requests: a few KB a
    /// file, so a page of 100 runs to hundreds of KB).
    pub fn set_patch_bytes(&self, bytes: usize) {
        *self.state.patch_bytes.lock().expect("patch size") = bytes;
    }

    /// For benchmarks of Herald's side: the fake skips its OpenAPI check, and answers entries of
    /// a file name alone when `bare` says so.
    pub fn for_benchmarks(&self, bare: Bare) {
        *self.state.bench.lock().expect("bench") = Some(bare);
    }

    /// Every answer takes `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().expect("delay") = delay;
    }

    /// Pull request `number` is `pull` from now on.
    pub fn set_pull_request(&self, number: u64, pull: FakePull) {
        self.state.pulls.lock().expect("pulls").insert(number, pull);
    }

    /// Who may write to every repository (GitLab: user ids; Gitea: user names).
    pub fn set_writers(&self, writers: &[&str]) {
        *self.state.writers.lock().expect("writers") = writers.iter().map(|w| (*w).to_owned()).collect();
    }

    /// The server holds comment `id`, written by `by` at `at` (Unix seconds) saying `text`.
    pub fn hold_comment(&self, id: u64, by: Commenter<'_>, text: &str, at: i64) {
        let held = HeldComment {
            name: by.name.to_owned(),
            user_id: by.id,
            association: by.association.to_owned(),
            text: text.to_owned(),
            at,
        };
        self.state.held_comments.lock().expect("comments").insert(id, held);
    }

    /// The comments posted on pull requests (their bodies, in each server's words), in order.
    pub fn comments(&self) -> Vec<Arrival> {
        self.arrivals().into_iter().filter(|a| a.method == "POST" && a.status < 300 && is_comment(&a.path)).collect()
    }

    /// Waits until `count` comments were posted (at most 10 s).
    pub async fn wait_comments(&self, count: usize) -> Vec<Arrival> {
        for _ in 0..200 {
            if self.comments().len() >= count {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.comments()
    }

    /// The file-list requests that arrived (GETs), in order.
    pub fn lookups(&self) -> Vec<Arrival> {
        self.arrivals().into_iter().filter(|a| a.method == "GET").collect()
    }

    /// The next answers, before any check (e.g. `[500]`, `[401]`).
    pub fn answer_next(&self, codes: &[u16]) {
        self.state.script.lock().expect("script").extend(codes);
    }

    /// The next answers to POSTs only (a resend refused for rate, `[429]`), reads answered as usual.
    pub fn answer_next_posts(&self, codes: &[u16]) {
        self.state.post_script.lock().expect("script").extend(codes);
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.state.arrivals.lock().expect("arrivals").clone()
    }

    /// The bodies of the statuses it accepted, in order (not file lookups, not token mints).
    pub fn accepted(&self) -> Vec<Value> {
        self.arrivals()
            .into_iter()
            .filter(|a| {
                a.status < 300
                    && a.method == "POST"
                    && !a.path.contains("/access_tokens")
                    && !a.path.ends_with("/attempts")
                    && !a.path.ends_with("/resend")
                    && !is_comment(&a.path)
            })
            .map(|a| a.body)
            .collect()
    }

    /// The `key: value` entry for the Herald credentials document that reaches this fake.
    pub fn credential_entry(&self) -> (String, Value) {
        let mut value = match &self.state.auth {
            Auth::Token(t) => json!({ "token": t }),
            Auth::Basic(u, p) => json!({ "username": u, "app_password": p }),
            Auth::GitHubApp { .. } => panic!("a GitHub App entry needs its private key: build it in the test"),
        };
        self.place(&mut value);
        (format!("{}:{}", self.state.server.key(), self.host), value)
    }

    /// Adds where this fake serves its API to a credentials entry: `api_url` (plain HTTP on
    /// loopback) and, for Azure DevOps, the corpus' organization.
    pub fn place(&self, entry: &mut Value) {
        entry["api_url"] = json!(self.api_url());
        if self.state.server == Server::AzureDevOps {
            entry["organization"] = json!(AZURE_ORGANIZATION);
        }
    }

    /// The API base, as a credential's `api_url` names it: the public services' paths.
    pub fn api_url(&self) -> String {
        let path = match self.state.server {
            Server::GitHub => "",
            // The organization's root, as `https://dev.azure.com/<organization>`.
            Server::AzureDevOps => return format!("{}/{AZURE_ORGANIZATION}", self.url),
            Server::GitLab => "/api/v4",
            Server::BitbucketCloud => "/2.0",
            Server::BitbucketServer => "/rest",
            Server::Gitea => "/api/v1",
        };
        format!("{}{path}", self.url)
    }

    /// Waits until `count` statuses were accepted (at most 10 s).
    pub async fn wait_accepted(&self, count: usize) -> Vec<Value> {
        for _ in 0..200 {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.accepted()
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (authorization, private_token, user_agent, content_type) =
        (header("authorization"), header("private-token"), header("user-agent"), header("content-type"));
    let bytes = req.into_body().collect().await?.to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let delay = *state.delay.lock().expect("delay");
    // A zero sleep still waits for the timer's next millisecond tick.
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let scripted = state
        .script
        .lock()
        .expect("script")
        .pop_front()
        .or_else(|| (method == "POST").then(|| state.post_script.lock().expect("script").pop_front()).flatten());
    let mut headers = Vec::new();
    // GitHub is judged by its own API description: github.com's at the root, GHES' under /api/v3.
    let (path, flavor) = match (state.server, path.strip_prefix("/api/v3")) {
        (Server::GitHub, Some(rest)) => (rest.to_owned(), Flavor::Enterprise),
        _ => (path, Flavor::DotCom),
    };
    let bench = *state.bench.lock().expect("bench");
    let described = match (state.server, bench, state.oracle) {
        (Server::GitHub, None, Oracle::Checks) => Some(openapi::check(flavor, &method, &path, &query, &body)),
        _ => None,
    };
    let operation = described.as_ref().and_then(|d| d.as_ref().ok().cloned());
    let checked = match (scripted, described) {
        (_, Some(Err(problem))) => Err((422, format!("not in GitHub's OpenAPI description: {problem}"))),
        (Some(code), _) => Err((code, format!("scripted {code}"))),
        (None, _) if method == "GET" => {
            if user_agent.as_deref().unwrap_or_default().is_empty() {
                Err((403, "no User-Agent".into()))
            } else if let Some(answer) =
                hook_api(&state, &method, &path, &query, (&authorization, &private_token), &mut headers)
            {
                answer
            } else if !authorized(&state, &authorization, &private_token) {
                Err((401, "bad credentials".into()))
            } else if let Some(answer) = pull_request_api(&state, &method, &path, flavor, &body) {
                answer
            } else {
                file_list(&state, &path, &query, flavor, &mut headers)
            }
        }
        (None, _) if path.ends_with("/attempts") || path.ends_with("/resend") => {
            if user_agent.as_deref().unwrap_or_default().is_empty() {
                Err((403, "no User-Agent".into()))
            } else {
                hook_api(&state, &method, &path, &query, (&authorization, &private_token), &mut headers)
                    .unwrap_or_else(|| Err((404, format!("{method} {path}: no such hook API"))))
            }
        }
        (None, _) if is_comment(&path) => {
            if user_agent.as_deref().unwrap_or_default().is_empty() {
                Err((403, "no User-Agent".into()))
            } else if !content_type.as_deref().unwrap_or_default().starts_with("application/json") {
                Err((415, "the body must be JSON".into()))
            } else if !authorized(&state, &authorization, &private_token) {
                Err((401, "bad credentials".into()))
            } else {
                pull_request_api(&state, &method, &path, flavor, &body)
                    .unwrap_or_else(|| Err((404, format!("{method} {path}: no such comment API"))))
            }
        }
        (None, _) => {
            check(&state, &method, &path, &query, &authorization, &private_token, &user_agent, &content_type, &body)
        }
    };
    let (status, answer, problem) = match checked {
        Ok((status, answer)) => (status, answer, None),
        Err((status, problem)) => (status, json!({ "message": problem }), Some(problem)),
    };
    state.arrivals.lock().expect("arrivals").push(Arrival { method, path, query, body, status, problem, operation });
    let mut response = Response::builder().status(status).header("content-type", "application/json");
    for (name, value) in headers {
        response = response.header(name, value);
    }
    Ok(response.body(Full::new(Bytes::from(answer.to_string()))).expect("response"))
}

/// GitHub's webhook delivery APIs (a repository's, an organization's, the App's own hook):
/// `GET …/deliveries` newest first, `page_size` to a page, the next page's `cursor` in a `Link`
/// header as GitHub sends it; `POST …/deliveries/{id}/attempts` answers 202 and is recorded. The
/// App's own hook takes the App's JWT, the others the fake's credential. `None` for any other path.
fn hook_api(
    state: &State,
    method: &str,
    path: &str,
    query: &str,
    (authorization, private_token): (&Option<String>, &Option<String>),
    headers: &mut Vec<(&'static str, String)>,
) -> Option<Checked> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if state.server == Server::GitLab {
        return gitlab_hook_events(
            state,
            method,
            &segments,
            query,
            authorized(state, authorization, private_token),
            headers,
        );
    }
    if state.server != Server::GitHub {
        return None;
    }
    let (app, rest) = match segments.as_slice() {
        ["app", "hook", "deliveries", rest @ ..] => (true, rest),
        ["repos", _, _, "hooks", _, "deliveries", rest @ ..] | ["orgs", _, "hooks", _, "deliveries", rest @ ..] => {
            (false, rest)
        }
        _ => return None,
    };
    let allowed = match (&state.auth, app) {
        (Auth::GitHubApp { public_key, .. }, true) => authorization
            .as_deref()
            .and_then(|a| a.strip_prefix("Bearer "))
            .is_some_and(|jwt| verify_jwt(jwt, public_key).is_ok()),
        (_, true) => false,
        _ => authorized(state, authorization, private_token),
    };
    if !allowed {
        return Some(Err((401, if app { "the App's own hook takes the App's JWT" } else { "bad credentials" }.into())));
    }
    let deliveries = state.deliveries.lock().expect("deliveries").clone();
    Some(match (method, rest) {
        ("GET", []) => {
            let per_page = param(query, "per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30);
            let size = per_page.min(*state.page_size.lock().expect("page size")).max(1);
            let below = param(query, "cursor").and_then(|c| c.strip_prefix("v1_")).and_then(|c| c.parse::<u64>().ok());
            let rest: Vec<Value> =
                deliveries.into_iter().filter(|d| below.is_none_or(|b| d["id"].as_u64() < Some(b))).collect();
            let page: Vec<Value> = rest.iter().take(size).cloned().collect();
            if rest.len() > size {
                let last = page.last().and_then(|d| d["id"].as_u64()).unwrap_or_default();
                headers.push((
                    "link",
                    format!("<{}{path}?per_page={per_page}&cursor=v1_{last}>; rel=\"next\"", state.url),
                ));
            }
            Ok((200, Value::Array(page)))
        }
        ("POST", [id, "attempts"]) => match id.parse::<u64>() {
            Ok(id) if deliveries.iter().any(|d| d["id"].as_u64() == Some(id)) => {
                state.redeliveries.lock().expect("redeliveries").push(id);
                Ok((202, json!({})))
            }
            _ => Err((404, format!("no delivery {id}"))),
        },
        _ => Err((404, format!("{method} {path}: no such hook API"))),
    })
}

/// GitLab's project hook events, as its "List project webhook events" (17.2) and "Resend a
/// project webhook event" (17.4) document them: `GET /projects/:id/hooks/:hook_id/events`
/// (`page`, `per_page`, the next page in `X-Next-Page`), `POST …/events/:hook_event_id/resend`
/// (201). The project is its URL-encoded path, never a number. `None` for any other path.
fn gitlab_hook_events(
    state: &State,
    method: &str,
    segments: &[&str],
    query: &str,
    authorized: bool,
    headers: &mut Vec<(&'static str, String)>,
) -> Option<Checked> {
    let rest = match segments {
        ["api", "v4", "projects", id, "hooks", hook, "events", rest @ ..]
            if id.contains("%2F") && hook.parse::<u64>().is_ok() =>
        {
            rest
        }
        _ => return None,
    };
    if !authorized {
        return Some(Err((401, "401 Unauthorized".into())));
    }
    let events = state.deliveries.lock().expect("deliveries").clone();
    Some(match (method, rest) {
        ("GET", []) => {
            let per_page = param(query, "per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(20);
            let size = per_page.min(*state.page_size.lock().expect("page size")).max(1);
            let page = param(query, "page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
            let listed: Vec<Value> = events.iter().skip((page - 1) * size).take(size).cloned().collect();
            if events.len() > page * size {
                headers.push(("x-next-page", (page + 1).to_string()));
            }
            Ok((200, Value::Array(listed)))
        }
        ("POST", [id, "resend"]) => match id.parse::<u64>() {
            Ok(id) if events.iter().any(|e| e["id"].as_u64() == Some(id)) => {
                state.redeliveries.lock().expect("redeliveries").push(id);
                Ok((201, json!({ "response_status": 201 })))
            }
            _ => Err((404, "404 Not found".into())),
        },
        _ => Err((404, "404 Not found".into())),
    })
}

/// Whether `path` posts a comment on a pull request (GitLab: a note).
fn is_comment(path: &str) -> bool {
    path.ends_with("/comments") || path.ends_with("/notes")
}

/// The pull request APIs commands use, as each server documents them: the pull request itself,
/// the commenter's permission, and a new comment. `None` for any other path.
fn pull_request_api(state: &State, method: &str, path: &str, flavor: Flavor, body: &Value) -> Option<Checked> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let pulls = state.pulls.lock().expect("pulls").clone();
    let writers = state.writers.lock().expect("writers").clone();
    let pull = |n: &str| -> Result<FakePull, (u16, String)> {
        let n: u64 = n.parse().map_err(|_| (404, format!("{n} is not a pull request number")))?;
        pulls.get(&n).cloned().ok_or((404, format!("no pull request {n}")))
    };
    let held = state.held_comments.lock().expect("comments").clone();
    let held_comment = |id: &str| -> Result<HeldComment, (u16, String)> {
        let id: u64 = id.parse().map_err(|_| (404, format!("{id} is not a comment id")))?;
        held.get(&id).cloned().ok_or((404, format!("no comment {id}")))
    };
    let comment = |field: &Value| -> Checked {
        match field.as_str() {
            Some(text) if !text.is_empty() => Ok((201, json!({ "id": 1, "body": text }))),
            _ => Err((422, "body expected".into())),
        }
    };
    Some(match (state.server, method, segments.as_slice()) {
        // GET /repos/{owner}/{repo}/pulls/{pull_number}: GitHub's own example, head and base set.
        (Server::GitHub, "GET", ["repos", owner, repo, "pulls", n]) => pull(n).map(|p| {
            let mut answer = openapi::example(flavor, "pull-request");
            answer["head"]["sha"] = json!(p.head);
            answer["head"]["ref"] = json!(p.source_branch);
            answer["base"]["ref"] = json!(p.target_branch);
            answer["base"]["repo"]["full_name"] = json!(format!("{owner}/{repo}"));
            answer["base"]["repo"]["id"] = json!(1296269);
            let head_repo = if p.from_fork { "someone-else/fork".to_owned() } else { format!("{owner}/{repo}") };
            answer["head"]["repo"]["full_name"] = json!(head_repo);
            answer["head"]["repo"]["id"] = json!(if p.from_fork { 99 } else { 1296269 });
            answer["state"] = json!(if p.state == "open" { "open" } else { "closed" });
            answer["merged"] = json!(p.state == "merged");
            answer["merged_at"] = if p.state == "merged" { json!("2026-12-01T10:00:00Z") } else { Value::Null };
            (200, answer)
        }),
        // POST /repos/{owner}/{repo}/issues/{issue_number}/comments
        (Server::GitHub, "POST", ["repos", _, _, "issues", _, "comments"]) => comment(&body["body"]),
        // GET /repos/{owner}/{repo}/issues/comments/{comment_id}: GitHub's own example, as held.
        (Server::GitHub, "GET", ["repos", _, _, "issues", "comments", id]) => held_comment(id).map(|c| {
            let mut answer = openapi::example(flavor, "issue-comment");
            answer["id"] = json!(id.parse::<u64>().unwrap_or_default());
            answer["body"] = json!(c.text);
            answer["user"]["login"] = json!(c.name);
            answer["author_association"] = json!(c.association);
            answer["created_at"] = json!(rfc3339(c.at));
            (200, answer)
        }),
        // GET /projects/:id/merge_requests/:iid/notes/:note_id
        (Server::GitLab, "GET", ["api", "v4", "projects", id, "merge_requests", _, "notes", note]) if id.contains("%2F") => {
            held_comment(note).map(|c| {
                (200, json!({ "id": note.parse::<u64>().unwrap_or_default(), "body": c.text, "system": false,
                              "author": { "id": c.user_id, "username": c.name }, "created_at": rfc3339(c.at),
                              "noteable_type": "MergeRequest" }))
            })
        }
        // GET /repos/{owner}/{repo}/issues/comments/{id}
        (Server::Gitea, "GET", ["api", "v1", "repos", _, _, "issues", "comments", id]) => held_comment(id).map(|c| {
            (200, json!({ "id": id.parse::<u64>().unwrap_or_default(), "body": c.text,
                          "user": { "id": c.user_id, "login": c.name, "username": c.name }, "created_at": rfc3339(c.at) }))
        }),
        // GET /repos/{owner}/{repo}/collaborators/{username}/permission: GitHub's own example,
        // `write` (role `maintain`) for the writers, `read` (role `triage`) for anyone else:
        // organization members and triage collaborators included.
        (Server::GitHub, "GET", ["repos", _, _, "collaborators", user, "permission"]) => {
            let mut answer = openapi::example(flavor, "repository-collaborator-permission-response-if-user-has-admin-permissions");
            let writes = writers.iter().any(|w| w == user);
            answer["permission"] = json!(if writes { "write" } else { "read" });
            answer["role_name"] = json!(if writes { "maintain" } else { "triage" });
            answer["user"]["login"] = json!(user);
            Ok((200, answer))
        }
        // GET /projects/:id/merge_requests/:iid, /projects/:id/members/all/:user_id
        (Server::GitLab, "GET", ["api", "v4", "projects", id, "merge_requests", n]) if id.contains("%2F") => {
            pull(n).map(|p| {
                let state = if p.state == "open" { "opened" } else { p.state };
                (200, json!({ "iid": n.parse::<u64>().unwrap_or_default(), "state": state, "sha": p.head, "source_branch": p.source_branch,
                              "target_branch": p.target_branch, "source_project_id": if p.from_fork { 99 } else { 5 }, "target_project_id": 5 }))
            })
        }
        (Server::GitLab, "GET", ["api", "v4", "projects", id, "members", "all", user]) if id.contains("%2F") => {
            if writers.iter().any(|w| w == user) {
                Ok((200, json!({ "id": user.parse::<u64>().unwrap_or_default(), "username": "dev", "access_level": 30 })))
            } else if *user == "20" {
                Ok((200, json!({ "id": 20, "username": "reporter", "access_level": 20 })))
            } else {
                Err((404, "404 Not found".into()))
            }
        }
        // POST /projects/:id/merge_requests/:iid/notes
        (Server::GitLab, "POST", ["api", "v4", "projects", id, "merge_requests", _, "notes"]) if id.contains("%2F") => {
            comment(&body["body"])
        }
        // GET /repos/{owner}/{repo}/pulls/{index}, /repos/{owner}/{repo}/collaborators/{collaborator}/permission
        (Server::Gitea, "GET", ["api", "v1", "repos", owner, repo, "pulls", n]) => pull(n).map(|p| {
            let full = format!("{owner}/{repo}");
            let head_repo = if p.from_fork { json!({ "id": 99, "full_name": "someone-else/fork" }) } else { json!({ "id": 3, "full_name": full }) };
            (200, json!({ "number": n.parse::<u64>().unwrap_or_default(),
                          "state": if p.state == "open" { "open" } else { "closed" }, "merged": p.state == "merged",
                          "head": { "ref": p.source_branch, "sha": p.head, "repo": head_repo },
                          "base": { "ref": p.target_branch, "sha": "0000000000000000000000000000000000000000", "repo": { "id": 3, "full_name": full } } }))
        }),
        (Server::Gitea, "GET", ["api", "v1", "repos", _, _, "collaborators", user, "permission"]) => {
            let permission = if writers.iter().any(|w| w == user) { "write" } else { "read" };
            Ok((200, json!({ "permission": permission, "role_name": permission, "user": { "login": user } })))
        }
        // POST /repos/{owner}/{repo}/issues/{index}/comments
        (Server::Gitea, "POST", ["api", "v1", "repos", _, _, "issues", _, "comments"]) => comment(&body["body"]),
        _ => return None,
    })
}

/// Whether the request carries this fake's credential, in its server's header.
fn authorized(state: &State, authorization: &Option<String>, private_token: &Option<String>) -> bool {
    match (&state.auth, state.server) {
        (Auth::Token(t), Server::GitLab) => private_token.as_deref() == Some(t.as_str()),
        (Auth::Token(t), Server::Gitea) => authorization.as_deref() == Some(format!("token {t}").as_str()),
        (Auth::Token(t), Server::AzureDevOps) => authorization.as_deref() == Some(basic("", t).as_str()),
        (Auth::Token(t), _) => authorization.as_deref() == Some(format!("Bearer {t}").as_str()),
        (Auth::Basic(u, p), _) => authorization.as_deref() == Some(basic(u, p).as_str()),
        (Auth::GitHubApp { token, .. }, _) => authorization.as_deref() == Some(format!("Bearer {token}").as_str()),
    }
}

/// A query parameter's value.
fn param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
}

/// The changed files of a pull request or a comparison, as each server pages them: GitHub and
/// Gitea by `page` with a `Link` header (GitHub stops at 3000 files of a pull request and 300 of
/// a comparison), GitLab by `page` with `X-Next-Page`, Bitbucket Cloud with a `next` URL, Data
/// Center with `isLastPage`/`nextPageStart`, Azure DevOps with `nextSkip` (pull requests, by
/// iteration) and `allChangesIncluded` (comparisons).
fn file_list(
    state: &State,
    path: &str,
    query: &str,
    flavor: Flavor,
    headers: &mut Vec<(&'static str, String)>,
) -> Checked {
    let files = state.files.lock().expect("files").clone();
    let size = *state.page_size.lock().expect("page size");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let number =
        |name: &str, default: usize| param(query, name).and_then(|v| v.parse::<usize>().ok()).unwrap_or(default);
    // Page `page` (from 1) of `list`, and whether another follows.
    let page_of = |list: &[String], page: usize| -> (Vec<String>, bool) {
        let start = (page - 1) * size;
        (list.iter().skip(start).take(size).cloned().collect(), start + size < list.len())
    };
    let not_found = || Err((404, format!("{path}: no such list")));
    let named = |list: &[String], key: &str| json!(list.iter().map(|f| json!({ key: f })).collect::<Vec<_>>());
    match state.server {
        Server::GitHub => match segments.as_slice() {
            ["repos", _, _, "pulls", _, "files"] => {
                let capped: Vec<String> = files.into_iter().take(3000).collect();
                let page = number("page", 1);
                let (listed, more) = page_of(&capped, page);
                if more {
                    // As GitHub does: the next page's link names the repository by its id.
                    let next = link(state, "/repositories/1296269/pulls/1/files", query, "page", page + 1);
                    headers.push(("link", format!("<{next}>; rel=\"next\"")));
                }
                match *state.bench.lock().expect("bench") {
                    Some(Bare::Yes) => Ok((200, named(&listed, "filename"))),
                    _ => Ok((200, github_files(flavor, &listed, *state.patch_bytes.lock().expect("patch size")))),
                }
            }
            ["repos", _, _, "compare", range] if range.contains("...") => {
                let capped: Vec<String> = files.into_iter().take(300).collect();
                let mut comparison = openapi::example(flavor, "commit-comparison");
                comparison["files"] = github_files(flavor, &capped, *state.patch_bytes.lock().expect("patch size"));
                Ok((200, comparison))
            }
            _ => not_found(),
        },
        Server::Gitea => match segments.as_slice() {
            ["api", "v1", "repos", _, _, "pulls", _, "files"] => {
                let page = number("page", 1);
                let (listed, more) = page_of(&files, page);
                if more {
                    headers.push(("link", format!("<{}>; rel=\"next\"", link(state, path, query, "page", page + 1))));
                }
                Ok((200, named(&listed, "filename")))
            }
            // Gitea's `Compare` (its swagger): the commits, each with the files it touched.
            ["api", "v1", "repos", _, _, "compare", range] if range.contains("...") => {
                let commits: Vec<Value> = files
                    .chunks(2)
                    .map(|two| {
                        let touched: Vec<Value> =
                            two.iter().map(|f| json!({ "filename": f, "status": "modified" })).collect();
                        json!({ "sha": "0".repeat(40), "files": touched })
                    })
                    .collect();
                Ok((200, json!({ "total_commits": commits.len(), "commits": commits })))
            }
            _ => not_found(),
        },
        Server::GitLab => match segments.as_slice() {
            ["api", "v4", "projects", _, "merge_requests", _, "diffs"] => {
                let page = number("page", 1);
                let (listed, more) = page_of(&files, page);
                headers.push(("x-next-page", if more { (page + 1).to_string() } else { String::new() }));
                Ok((200, named(&listed, "new_path")))
            }
            ["api", "v4", "projects", _, "repository", "compare"]
                if param(query, "from").is_some() && param(query, "to").is_some() =>
            {
                Ok((200, json!({ "diffs": named(&files, "new_path"), "compare_timeout": false })))
            }
            _ => not_found(),
        },
        Server::BitbucketCloud => {
            let ok = matches!(segments.as_slice(), ["2.0", "repositories", _, _, "pullrequests", _, "diffstat"])
                || matches!(segments.as_slice(), ["2.0", "repositories", _, _, "diffstat", spec] if spec.contains(".."));
            if !ok {
                return not_found();
            }
            let page = number("page", 1);
            let (listed, more) = page_of(&files, page);
            let values: Vec<Value> = listed
                .iter()
                .map(|f| json!({ "status": "modified", "new": { "path": f }, "old": { "path": f } }))
                .collect();
            let mut body = json!({ "values": values, "pagelen": size, "page": page });
            if more {
                body["next"] = json!(link(state, path, query, "page", page + 1));
            }
            Ok((200, body))
        }
        Server::BitbucketServer => {
            let ok = matches!(
                segments.as_slice(),
                ["rest", "api", "1.0", "projects", _, "repos", _, "pull-requests", _, "changes"]
            ) || matches!(
                segments.as_slice(),
                ["rest", "api", "1.0", "projects", _, "repos", _, "compare", "changes"]
            );
            if !ok {
                return not_found();
            }
            let start = number("start", 0);
            let listed: Vec<Value> =
                files.iter().skip(start).take(size).map(|f| json!({ "path": { "toString": f } })).collect();
            let last = start + size >= files.len();
            let mut body = json!({ "values": listed, "start": start, "isLastPage": last });
            if !last {
                body["nextPageStart"] = json!(start + size);
            }
            Ok((200, body))
        }
        Server::AzureDevOps => {
            let tail = segments.iter().position(|s| *s == "_apis").map(|i| &segments[i..]);
            match tail {
                Some(["_apis", "git", "repositories", _, "pullRequests", _, "iterations"]) => {
                    Ok((200, json!({ "value": [{ "id": 1 }, { "id": 2 }], "count": 2 })))
                }
                Some(["_apis", "git", "repositories", _, "pullRequests", _, "iterations", "2", "changes"]) => {
                    let skip = number("$skip", 0);
                    let listed: Vec<Value> = files
                        .iter()
                        .skip(skip)
                        .take(size)
                        .map(|f| json!({ "item": { "path": format!("/{f}") } }))
                        .collect();
                    let next = if skip + size < files.len() { skip + size } else { 0 };
                    Ok((
                        200,
                        json!({ "changeEntries": listed, "nextSkip": next, "nextTop": if next > 0 { size } else { 0 } }),
                    ))
                }
                Some(["_apis", "git", "repositories", _, "diffs", "commits"]) => {
                    let skip = number("$skip", 0);
                    let listed: Vec<Value> = files
                        .iter()
                        .skip(skip)
                        .take(size)
                        .map(|f| json!({ "item": { "path": format!("/{f}") } }))
                        .collect();
                    Ok((200, json!({ "changes": listed, "allChangesIncluded": skip + size >= files.len() })))
                }
                _ => not_found(),
            }
        }
    }
}

/// GitHub's file entries: the OpenAPI description's own example entry (`diff-entry-items`, with
/// its `patch` and URLs) for each file, as real answers carry them.
fn github_files(flavor: Flavor, files: &[String], patch_bytes: usize) -> Value {
    let example = openapi::example(flavor, "diff-entry-items");
    let mut template = example.get(0).cloned().expect("GitHub's OpenAPI has a diff-entry example");
    if patch_bytes > 0 {
        let line = "+    let grown = \"a line of a real diff, as long as code lines are\";\n";
        template["patch"] = json!(line.repeat(patch_bytes / line.len() + 1)[..patch_bytes].to_owned());
    }
    json!(files
        .iter()
        .map(|f| {
            let mut entry = template.clone();
            entry["filename"] = json!(f);
            entry
        })
        .collect::<Vec<_>>())
}

/// This fake's own URL for `path` with `name` set to `value` in `query`.
fn link(state: &State, path: &str, query: &str, name: &str, value: usize) -> String {
    let rest: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && !p.starts_with(&format!("{name}="))).collect();
    let sep = if rest.is_empty() { String::new() } else { format!("{}&", rest.join("&")) };
    format!("{}{path}?{sep}{name}={value}", state.url)
}

type Checked = Result<(u16, Value), (u16, String)>;

#[allow(clippy::too_many_arguments)]
fn check(
    state: &State,
    method: &str,
    path: &str,
    query: &str,
    authorization: &Option<String>,
    private_token: &Option<String>,
    user_agent: &Option<String>,
    content_type: &Option<String>,
    body: &Value,
) -> Checked {
    if method != "POST" {
        return Err((405, format!("{method} is not POST")));
    }
    if user_agent.as_deref().unwrap_or_default().is_empty() {
        return Err((403, "no User-Agent (GitHub refuses such requests)".into()));
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // GitHub App installation tokens.
    if let (Server::GitHub, Auth::GitHubApp { installation_id, public_key, token }) = (state.server, &state.auth) {
        if path.ends_with("/access_tokens") {
            let want = format!("/app/installations/{installation_id}/access_tokens");
            if path != want {
                return Err((404, format!("{path} is not {want}")));
            }
            let jwt = authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).ok_or((401, "no JWT".into()))?;
            verify_jwt(jwt, public_key).map_err(|e| (401, e))?;
            return Ok((201, json!({ "token": token, "expires_at": "2099-01-01T00:00:00Z" })));
        }
    }
    if !content_type.as_deref().unwrap_or_default().starts_with("application/json") {
        return Err((415, "the body must be JSON".into()));
    }
    let authorized = authorized(state, authorization, private_token);
    if !authorized {
        return Err((401, "bad credentials".into()));
    }
    let text = |name: &str| body[name].as_str().filter(|s| !s.is_empty());
    let state_in = |words: &[&str]| body["state"].as_str().is_some_and(|s| words.contains(&s));
    let sha_ok = |sha: &str| sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit());
    match state.server {
        // POST /repos/{owner}/{repo}/statuses/{sha}
        Server::GitHub => {
            match segments.as_slice() {
                ["repos", _, _, "statuses", sha] if sha_ok(sha) => {}
                _ => return Err((404, format!("{path}: not /repos/{{owner}}/{{repo}}/statuses/{{sha}}"))),
            }
            if !state_in(&["error", "failure", "pending", "success"]) {
                return Err((422, "state must be error, failure, pending or success".into()));
            }
            if text("description").is_some_and(|d| d.chars().count() > 140) {
                return Err((422, "description is too long (maximum is 140 characters)".into()));
            }
            if text("context").is_none() || text("target_url").is_none() {
                return Err((422, "context and target_url expected".into()));
            }
            Ok((201, json!({ "state": body["state"], "context": body["context"] })))
        }
        // POST /api/v4/projects/{id}/statuses/{sha}; Herald names projects by their URL-encoded
        // full path (GitLab takes both), never by an id from a payload.
        Server::GitLab => {
            match segments.as_slice() {
                ["api", "v4", "projects", id, "statuses", sha] if id.contains("%2F") && sha_ok(sha) => {}
                _ => return Err((404, format!("{path}: not /api/v4/projects/{{url-encoded path}}/statuses/{{sha}}"))),
            }
            if !state_in(&["pending", "running", "success", "failed", "canceled", "skipped"]) {
                return Err((400, "state does not have a valid value".into()));
            }
            if text("name").is_none() {
                return Err((400, "name expected".into()));
            }
            Ok((201, json!({ "status": body["state"], "name": body["name"] })))
        }
        // POST /2.0/repositories/{workspace}/{repo}/commit/{sha}/statuses/build
        Server::BitbucketCloud => {
            match segments.as_slice() {
                ["2.0", "repositories", _, _, "commit", sha, "statuses", "build"] if sha_ok(sha) => {}
                _ => {
                    return Err((
                        404,
                        format!("{path}: not /2.0/repositories/{{ws}}/{{repo}}/commit/{{sha}}/statuses/build"),
                    ))
                }
            }
            if !state_in(&["INPROGRESS", "SUCCESSFUL", "FAILED", "STOPPED"])
                || text("key").is_none()
                || text("url").is_none()
            {
                return Err((
                    400,
                    "key, url and a state (INPROGRESS, SUCCESSFUL, FAILED, STOPPED) are required".into(),
                ));
            }
            Ok((201, json!({ "key": body["key"], "state": body["state"] })))
        }
        // POST /rest/build-status/1.0/commits/{sha}
        Server::BitbucketServer => {
            match segments.as_slice() {
                ["rest", "build-status", "1.0", "commits", sha] if sha_ok(sha) => {}
                _ => return Err((404, format!("{path}: not /rest/build-status/1.0/commits/{{sha}}"))),
            }
            if !state_in(&["INPROGRESS", "SUCCESSFUL", "FAILED"]) || text("key").is_none() || text("url").is_none() {
                return Err((400, "state (INPROGRESS, SUCCESSFUL, FAILED), key and url are required".into()));
            }
            Ok((204, Value::Null))
        }
        // POST /api/v1/repos/{owner}/{repo}/statuses/{sha}
        Server::Gitea => {
            match segments.as_slice() {
                ["api", "v1", "repos", _, _, "statuses", sha] if sha_ok(sha) => {}
                _ => return Err((404, format!("{path}: not /api/v1/repos/{{owner}}/{{repo}}/statuses/{{sha}}"))),
            }
            if !state_in(&["pending", "success", "error", "failure", "warning"]) || text("context").is_none() {
                return Err((422, "state and context expected".into()));
            }
            Ok((201, json!({ "status": body["state"], "context": body["context"] })))
        }
        // POST {org}[/{project}]/_apis/git/repositories/{id}/commits/{sha}/statuses?api-version=7.1
        Server::AzureDevOps => {
            let tail = segments.iter().position(|s| *s == "_apis").map(|i| &segments[i..]);
            match tail {
                Some(["_apis", "git", "repositories", _, "commits", sha, "statuses"]) if sha_ok(sha) => {}
                _ => {
                    return Err((
                        404,
                        format!("{path}: not {{org}}/_apis/git/repositories/{{id}}/commits/{{sha}}/statuses"),
                    ))
                }
            }
            if query != "api-version=7.1" {
                return Err((400, format!("api-version 7.1 expected, got {query:?}")));
            }
            let context_ok = body["context"]["name"].as_str().is_some() && body["context"]["genre"].as_str().is_some();
            if !state_in(&["pending", "succeeded", "failed", "error", "notApplicable", "notSet"]) || !context_ok {
                return Err((400, "state and context {name, genre} expected".into()));
            }
            Ok((201, json!({ "state": body["state"], "context": body["context"] })))
        }
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// An RS256 JWT that verifies with `public_key` (DER, PKCS#1) and is valid now.
fn verify_jwt(jwt: &str, public_key: &[u8]) -> Result<(), String> {
    use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (signed, signature) = jwt.rsplit_once('.').ok_or("not a JWT")?;
    let signature = b64.decode(signature).map_err(|_| "bad signature encoding")?;
    UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public_key)
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| "JWT signature does not verify".to_owned())?;
    let header: Value =
        serde_json::from_slice(&b64.decode(signed.split('.').next().unwrap_or_default()).map_err(|_| "bad header")?)
            .map_err(|_| "bad header")?;
    if header["alg"] != "RS256" {
        return Err("alg must be RS256".into());
    }
    let claims: Value =
        serde_json::from_slice(&b64.decode(signed.split('.').nth(1).unwrap_or_default()).map_err(|_| "bad claims")?)
            .map_err(|_| "bad claims")?;
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs() as i64;
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(i64::MAX), claims["exp"].as_i64().unwrap_or(0));
    if iat > now || exp <= now || exp - iat > 600 {
        return Err(format!("JWT not valid now (iat {iat}, exp {exp}, now {now}); GitHub allows at most 10 minutes"));
    }
    if claims["iss"].is_null() {
        return Err("iss (the App id) expected".into());
    }
    Ok(())
}

/// The organization the Azure DevOps deliveries name (and their credentials serve).
pub const AZURE_ORGANIZATION: &str = "fabrikam";

/// Whether a benchmark's file entries are a file name alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    Yes,
    No,
}

/// What a delivery from a Git server carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Push,
    PullRequest,
}

fn fixture(path: &str) -> Value {
    let full = crate::workspace().join("shared/tests/fixtures/webhooks").join(path);
    serde_json::from_str(&std::fs::read_to_string(full).expect("fixture")).expect("fixture JSON")
}

/// A signed delivery from `server` (the conformance corpus' push or pull request) whose payload
/// points the server's API at `api` — as GitHub Enterprise, self-managed GitLab, Data Center,
/// Gitea and Azure DevOps payloads name their own hosts — as a Function URL event.
pub fn delivery(server: Server, event: Event, api: &str, id: &str, secret: &str) -> Value {
    delivery_with(server, event, api, id, secret, |_| {})
}

/// The corpus payload of `server`'s `event`, unchanged.
pub fn payload(server: Server, event: Event) -> Value {
    fixture(fixture_file(server, event))
}

fn fixture_file(server: Server, event: Event) -> &'static str {
    match (server, event) {
        (Server::GitHub, Event::Push) => "github/push.json",
        (Server::GitHub, Event::PullRequest) => "github/pull-request.json",
        (Server::GitLab, Event::Push) => "gitlab/push-event.json",
        (Server::GitLab, Event::PullRequest) => "gitlab/merge-request-event.json",
        (Server::BitbucketCloud, Event::Push) => "bitbucket/repo-push.json",
        (Server::BitbucketCloud, Event::PullRequest) => "bitbucket/pull-request-created.json",
        (Server::BitbucketServer, Event::Push) => "bitbucket-server/repo-refs-changed.json",
        (Server::BitbucketServer, Event::PullRequest) => "bitbucket-server/pr-opened.json",
        (Server::Gitea, Event::Push) => "gitea/push-event.json",
        (Server::Gitea, Event::PullRequest) => "gitea/pull-request-event.json",
        (Server::AzureDevOps, Event::Push) => "azuredevops/git.push.json",
        (Server::AzureDevOps, Event::PullRequest) => "azuredevops/git.pullrequest.created.json",
    }
}

/// As [`delivery`], with `change` applied to the payload last (a hostile sender's edits), then
/// signed.
pub fn delivery_with(
    server: Server,
    event: Event,
    api: &str,
    id: &str,
    secret: &str,
    change: impl FnOnce(&mut Value),
) -> Value {
    let mut body = pointed(server, event, api);
    change(&mut body);
    let kind = |push: &'static str, pr: &'static str| if event == Event::Push { push } else { pr };
    let name = match server {
        Server::GitHub => kind("push", "pull_request"),
        Server::GitLab => kind("Push Hook", "Merge Request Hook"),
        Server::BitbucketCloud => kind("repo:push", "pullrequest:created"),
        Server::BitbucketServer => kind("repo:refs_changed", "pr:opened"),
        Server::Gitea => kind("push", "pull_request"),
        Server::AzureDevOps => "",
    };
    signed(server, name, id, secret, &body)
}

/// The corpus payload of `server`'s `event`, its server's API URLs on `api`.
fn pointed(server: Server, event: Event, api: &str) -> Value {
    let mut body = fixture(fixture_file(server, event));
    match server {
        Server::GitHub => {
            let name = body["repository"]["full_name"].as_str().expect("full_name").to_owned();
            body["repository"]["statuses_url"] = json!(format!("{api}/repos/{name}/statuses/{{sha}}"));
        }
        Server::GitLab => {
            let path = body["project"]["path_with_namespace"].as_str().expect("path").to_owned();
            body["project"]["web_url"] = json!(format!("{api}/{path}"));
        }
        Server::BitbucketCloud => {
            body["repository"]["links"]["self"]["href"] = json!(format!("{api}/2.0/repositories/team_name/repo_name"))
        }
        Server::BitbucketServer if event == Event::Push => {
            body["repository"]["links"]["self"] =
                json!([{ "href": format!("{api}/users/gopher/repos/webhook-test/browse") }]);
            // The corpus' refs_changed deletes a branch; as events/generate.py, make it an update.
            body["changes"][0]["type"] = json!("UPDATE");
            body["changes"][0]["toHash"] = json!("591f702354b3abf1faaca4d23811620d1b2ac984");
        }
        Server::BitbucketServer => {
            body["pullRequest"]["toRef"]["repository"]["links"]["self"] =
                json!([{ "href": format!("{api}/users/gopher/repos/webhook-test/browse") }]);
        }
        Server::Gitea => {
            let name = body["repository"]["full_name"].as_str().expect("full_name").to_owned();
            body["repository"]["html_url"] = json!(format!("{api}/{name}"));
        }
        Server::AzureDevOps => {
            let id = body["resource"]["repository"]["id"].as_str().expect("id").to_owned();
            body["resource"]["repository"]["url"] =
                json!(format!("{api}/{AZURE_ORGANIZATION}/_apis/repos/git/repositories/{id}"));
        }
    }
    body
}

/// `body` as `server` sends its event `name` (`X-GitHub-Event` and the like), signed with
/// `secret`, as a Function URL event.
fn signed(server: Server, name: &str, id: &str, secret: &str, body: &Value) -> Value {
    let bytes = body.to_string().into_bytes();
    let hex = herald::auth::sign_hex(&herald::auth::Secret::new(secret), &bytes);
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("azure:{secret}")));
    let headers: Vec<(&str, String)> = match server {
        Server::GitHub => vec![
            ("X-GitHub-Event", name.into()),
            ("X-GitHub-Delivery", id.into()),
            ("X-Hub-Signature-256", format!("sha256={hex}")),
        ],
        Server::GitLab => {
            vec![("X-Gitlab-Event", name.into()), ("X-Gitlab-Event-UUID", id.into()), ("X-Gitlab-Token", secret.into())]
        }
        Server::BitbucketCloud => vec![
            ("X-Event-Key", name.into()),
            ("X-Request-UUID", id.into()),
            ("X-Hub-Signature", format!("sha256={hex}")),
        ],
        Server::BitbucketServer => vec![
            ("X-Event-Key", name.into()),
            ("X-Request-Id", id.into()),
            ("X-Hub-Signature", format!("sha256={hex}")),
        ],
        Server::Gitea => {
            vec![("X-Gitea-Event", name.into()), ("X-Gitea-Delivery", id.into()), ("X-Gitea-Signature", hex)]
        }
        Server::AzureDevOps => vec![("Authorization", basic)],
    };
    let mut headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    headers.push(("Content-Type", "application/json"));
    crate::events::function_url("POST", &headers, &bytes, false)
}

/// Who writes a comment: the name, the server's user id, GitHub's `author_association`.
#[derive(Debug, Clone, Copy)]
pub struct Commenter<'a> {
    pub name: &'a str,
    pub id: u64,
    pub association: &'a str,
}

/// A new comment on a pull request: its id, the pull request's number, who, what.
#[derive(Debug, Clone, Copy)]
pub struct NewComment<'a> {
    pub id: u64,
    pub number: u64,
    pub by: Commenter<'a>,
    pub text: &'a str,
}

/// A new comment `text` (id `comment_id`) on pull request `number` of the corpus pull request's
/// repository, as `server` sends it (GitHub: `issue_comment` from @octokit/webhooks-examples, on a
/// pull request; GitLab: a `Note Hook`; Gitea: `issue_comment` with `is_pull`), signed.
pub fn comment_delivery(server: Server, api: &str, id: &str, secret: &str, comment: NewComment<'_>) -> Value {
    let NewComment { id: comment_id, number, by, text } = comment;
    let pull = pointed(server, Event::PullRequest, api);
    let (name, body) = match server {
        Server::GitHub => {
            let mut body = webhooks_example("issue_comment", "created");
            body["repository"] = pull["repository"].clone();
            body["issue"]["number"] = json!(number);
            // What GitHub adds to an issue that is a pull request.
            body["issue"]["pull_request"] = json!({ "url": format!("{api}/repos/x/y/pulls/{number}") });
            body["comment"]["id"] = json!(comment_id);
            body["comment"]["body"] = json!(text);
            body["comment"]["user"]["login"] = json!(by.name);
            body["comment"]["author_association"] = json!(by.association);
            ("issue_comment", body)
        }
        Server::GitLab => (
            "Note Hook",
            json!({ "object_kind": "note", "event_type": "note", "user": { "id": by.id, "username": by.name },
                    "project": pull["project"], "repository": pull["repository"],
                    "object_attributes": { "id": comment_id, "note": text, "noteable_type": "MergeRequest", "action": "create" },
                    "merge_request": { "iid": number } }),
        ),
        Server::Gitea => (
            "issue_comment",
            json!({ "action": "created", "is_pull": true, "repository": pull["repository"],
                    "issue": { "number": number, "pull_request": { "merged": false } },
                    "comment": { "id": comment_id, "body": text, "user": { "login": by.name, "username": by.name } } }),
        ),
        other => panic!("no comment delivery for {other:?} here"),
    };
    signed(server, name, id, secret, &body)
}

/// The first example of `event` with `action` in @octokit/webhooks-examples.
fn webhooks_example(event: &str, action: &str) -> Value {
    let path =
        crate::workspace().join(".npm-packages/node_modules/@octokit/webhooks-examples/api.github.com/index.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (make npm installs @octokit/webhooks-examples)", path.display()));
    let all: Value = serde_json::from_str(&text).expect("webhooks-examples JSON");
    let found = all.as_array().expect("a list of events").iter().find(|e| e["name"] == event).expect("the event");
    found["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("a {event} {action} example"))
        .clone()
}

/// GitHub's own `merge_group` payload (`checks_requested`, from @octokit/webhooks-examples), its
/// repository's API URLs on `api`, `edit` applied, signed, as a Function URL event.
pub fn merge_group_delivery(api: &str, id: &str, secret: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut body = webhooks_example("merge_group", "checks_requested");
    let name = body["repository"]["full_name"].as_str().expect("full_name").to_owned();
    body["repository"]["url"] = json!(format!("{api}/repos/{name}"));
    body["repository"]["statuses_url"] = json!(format!("{api}/repos/{name}/statuses/{{sha}}"));
    edit(&mut body);
    signed(Server::GitHub, "merge_group", id, secret, &body)
}

/// The test GitHub App's private key (PEM, PKCS#1 as GitHub downloads it) and its public key
/// (DER), which the fake verifies JWTs with.
pub fn test_app_key() -> (String, Vec<u8>) {
    use ring::signature::KeyPair;
    let pem = std::fs::read_to_string(crate::workspace().join("shared/tests/fixtures/github-app/test-key-pkcs1.pem"))
        .expect("test App key");
    let der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(der).expect("PEM body");
    let public_key = ring::signature::RsaKeyPair::from_der(&der).expect("RSA key").public_key().as_ref().to_vec();
    (pem, public_key)
}

/// `git-webhook` with `config` (its `pipelines` created in moto), the dedup table statuses need,
/// the webhook secret `secret` and the Git server `credentials`.
pub async fn webhook_with_credentials(
    moto: &crate::moto::Moto,
    config: &str,
    pipelines: &[&str],
    secret: &str,
    credentials: &Value,
) -> crate::runtime::Lambda {
    for pipeline in pipelines {
        moto.ctl(&["create-pipeline", pipeline]);
    }
    moto.ctl(&["create-table", "herald-dedup"]);
    let credentials = credentials.to_string();
    let env = [
        ("HERALD_CONFIG", config),
        ("HERALD_WEBHOOK_SECRET", secret),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("HERALD_STATUS_SECRET", credentials.as_str()),
    ];
    crate::runtime::Lambda::start("git-webhook", &moto.endpoint, &env).await
}
