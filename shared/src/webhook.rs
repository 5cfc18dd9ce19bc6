//! The Git webhook use case: one HTTP request in, one answer out (SPEC §3).
//!
//! Checks run in SPEC's order: method (405), size (413), provider and authentication
//! (400/401), body (400). Only then are triggers decided and pipelines started.

use crate::auth::WebhookSecrets;
use crate::change::{Change, ProviderKind};
use crate::config::Config;
use crate::metrics;
use crate::ports::{AwsError, BusEvent, EventPublisher, SecretSource};
use crate::providers::{self, Content, Headers};
use crate::start::{publish_decisions, unix_now, with_fields, StartResult, StartRunner};
use crate::trigger::{decide_git, Decision, Outcome};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Lambda's own request limit; larger bodies are answered 413 before anything else is read.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// Seconds a sender should wait before retrying a 503.
pub const RETRY_AFTER_SECS: u32 = 30;
/// How long loaded secrets are trusted before Secrets Manager is asked again (rotation).
pub const SECRET_TTL: Duration = Duration::from_secs(300);

/// An HTTP request, body already base64-decoded where the event said so.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub method: String,
    pub headers: Headers,
    pub body: Vec<u8>,
}

/// The HTTP answer.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookResponse {
    pub status: u16,
    /// Extra headers (`Allow`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl WebhookResponse {
    fn error(status: u16, message: impl Into<String>) -> Self {
        Self { status, headers: Vec::new(), body: json!({ "error": message.into() }) }
    }

    fn unauthorized() -> Self {
        Self::error(401, "unauthorized")
    }
}

/// Where the webhook secrets come from.
pub enum Secrets {
    /// `HERALD_WEBHOOK_SECRET` (local runs and tests) or none at all.
    Fixed(Arc<WebhookSecrets>),
    /// Secrets Manager, reloaded after [`SECRET_TTL`].
    Loaded(SecretCache),
}

/// Secrets loaded from a [`SecretSource`], cached for [`SECRET_TTL`].
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    cached: Mutex<Option<(Instant, Arc<WebhookSecrets>)>>,
}

impl SecretCache {
    pub fn new(source: Arc<dyn SecretSource>) -> Self {
        Self { source, cached: Mutex::new(None) }
    }

    /// The current secrets. A failed refresh keeps serving the previous ones; a failed first
    /// load is an error (answered 503: the sender retries, nothing is accepted unverified).
    pub async fn get(&self) -> Result<Arc<WebhookSecrets>, AwsError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, secrets)) = cached.as_ref() {
            if at.elapsed() < SECRET_TTL {
                return Ok(secrets.clone());
            }
        }
        match self.source.load().await {
            Ok(text) => {
                let secrets = Arc::new(parse_secret_text(text.as_deref()));
                *cached = Some((Instant::now(), secrets.clone()));
                Ok(secrets)
            }
            Err(e) => match cached.as_ref() {
                Some((_, stale)) => {
                    tracing::warn!(error = %e, "could not refresh the webhook secret; using the cached one");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }
}

/// Reads a secret string; an unreadable one means no secret (fail closed), logged without the value.
pub fn parse_secret_text(text: Option<&str>) -> WebhookSecrets {
    match text.map(WebhookSecrets::parse) {
        None => WebhookSecrets::none(),
        Some(Ok(secrets)) => secrets,
        Some(Err(e)) => {
            tracing::error!(error = %e, "webhook secret unusable; every request will be rejected");
            WebhookSecrets::none()
        }
    }
}

/// The `git-webhook` service.
pub struct WebhookService {
    config: Arc<Config>,
    secrets: Secrets,
    runner: StartRunner,
    bus: Option<Arc<dyn EventPublisher>>,
    clock: fn() -> i64,
}

impl WebhookService {
    pub fn new(
        config: Arc<Config>,
        secrets: Secrets,
        runner: StartRunner,
        bus: Option<Arc<dyn EventPublisher>>,
    ) -> Self {
        Self { config, secrets, runner, bus, clock: unix_now }
    }

    /// Replaces the clock (tests of timestamped signatures).
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    /// Loads the secrets once (cold start), so the first delivery does not wait for them.
    pub async fn warm_up(&self) {
        if let Secrets::Loaded(cache) = &self.secrets {
            if let Err(e) = cache.get().await {
                tracing::warn!(error = %e, "could not load the webhook secret at start; will retry per request");
            }
        }
    }

    /// Answers one request.
    pub async fn handle(&self, request: WebhookRequest) -> WebhookResponse {
        if !request.method.eq_ignore_ascii_case("POST") {
            let mut r = WebhookResponse::error(405, "method not allowed; webhooks are POSTed");
            r.headers.push(("Allow", "POST".into()));
            return r;
        }
        if request.body.len() > MAX_BODY_BYTES {
            return WebhookResponse::error(413, format!("body over {MAX_BODY_BYTES} bytes"));
        }
        let Some(provider) = providers::detect(&request.headers) else {
            metrics::count("Deliveries", 1, &[("provider", "unknown"), ("outcome", "rejected")]);
            return WebhookResponse::error(400, "unknown provider: no recognised webhook headers");
        };
        let secrets = match &self.secrets {
            Secrets::Fixed(s) => s.clone(),
            Secrets::Loaded(cache) => match cache.get().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(provider = %provider, error = %e, "webhook secret unavailable");
                    return retry_later(json!({ "error": "webhook secret temporarily unavailable" }));
                }
            },
        };
        let now = (self.clock)();
        let Some(scope) = providers::authenticate(provider, &request.headers, &request.body, &secrets, now) else {
            tracing::warn!(provider = %provider, secret_configured = !secrets.is_empty(), "delivery rejected: signature or token missing or wrong");
            metrics::count("RejectedSignatures", 1, &[("provider", provider.as_str())]);
            metrics::count("Deliveries", 1, &[("provider", provider.as_str()), ("outcome", "unauthorized")]);
            return WebhookResponse::unauthorized();
        };
        let delivery = match providers::parse(provider, &request.headers, &request.body) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(provider = %provider, error = %e, "authenticated delivery rejected: bad body");
                metrics::count("Deliveries", 1, &[("provider", provider.as_str()), ("outcome", "bad_request")]);
                return WebhookResponse::error(400, e.to_string());
            }
        };
        let mut answer = Answer::new(provider, &delivery.event, &delivery.delivery);
        match &delivery.content {
            Content::Ping => {
                tracing::info!(provider = %provider, delivery = %delivery.delivery, "ping")
            }
            Content::Ignored(reason) => {
                tracing::info!(provider = %provider, delivery = %delivery.delivery, event = %delivery.event, reason = %reason, "ignored");
                answer.body["ignored"] = json!(reason);
            }
            Content::Changes(changes) => self.process(changes, &scope, &mut answer, now).await,
        }
        metrics::count("Deliveries", 1, &[("provider", provider.as_str()), ("outcome", answer.outcome())]);
        answer.into_response()
    }

    async fn process(&self, changes: &[Change], scope: &crate::auth::SecretScope, answer: &mut Answer, now: i64) {
        let multi_ref = changes.len() > 1;
        let decided: Vec<(&Change, Vec<Decision>)> =
            changes.iter().map(|c| (c, decide_git(&self.config, scope, c, multi_ref))).collect();
        let plans: Vec<_> = decided.iter().flat_map(|(_, ds)| ds.iter().filter_map(Decision::start_plan)).collect();
        let mut results = self.runner.run_all(&plans, now).await.into_iter();
        let mut events = Vec::new();
        for (change, decisions) in &decided {
            let summary = change_summary(change);
            for decision in decisions {
                match &decision.outcome {
                    Outcome::Skip(reason) => {
                        log_decision(change, decision, "skipped", reason);
                        answer.skipped(&decision.trigger, reason);
                        events.push(bus_event("Trigger Skipped", &summary, decision, json!({ "reason": reason })));
                    }
                    Outcome::Start(plan) => {
                        let Some(result) = results.next() else {
                            continue;
                        };
                        match result {
                            StartResult::Started { execution_id, duplicate } => {
                                let note = plan.notes.join("; ");
                                log_decision(change, decision, if duplicate { "duplicate" } else { "started" }, &note);
                                if !duplicate && execution_id.is_some() {
                                    metrics::count("PipelinesStarted", 1, &[("provider", change.provider.as_str())]);
                                }
                                answer.started(decision, plan, execution_id.as_deref(), duplicate);
                                events.push(bus_event("Pipeline Triggered", &summary, decision, json!({ "execution_id": execution_id, "duplicate": duplicate, "variables": plan.variables_json(), "notes": plan.notes })));
                            }
                            StartResult::Failed { error, transient } => {
                                log_decision(change, decision, if transient { "retry" } else { "failed" }, &error);
                                answer.failed(decision, &error, transient);
                                events.push(bus_event(
                                    "Trigger Failed",
                                    &summary,
                                    decision,
                                    json!({ "error": error, "transient": transient }),
                                ));
                            }
                        }
                    }
                }
            }
        }
        publish_decisions(self.bus.as_ref(), self.runner.dry_run(), &events).await;
    }
}

fn retry_later(body: Value) -> WebhookResponse {
    WebhookResponse { status: 503, headers: vec![("Retry-After", RETRY_AFTER_SECS.to_string())], body }
}

fn log_decision(change: &Change, decision: &Decision, outcome: &str, reason: &str) {
    if outcome == "failed" {
        tracing::error!(provider = %change.provider, delivery = %change.delivery, trigger = %decision.trigger, pipeline = %decision.pipeline, outcome, reason, "decision");
    } else {
        tracing::info!(provider = %change.provider, delivery = %change.delivery, trigger = %decision.trigger, pipeline = %decision.pipeline, outcome, reason, "decision");
    }
}

/// The change as decision events describe it.
pub fn change_summary(change: &Change) -> Value {
    json!({
        "provider": change.provider.as_str(),
        "event": change.event.as_str(),
        "delivery": change.delivery,
        "repository": change.repository,
        "ref": change.git_ref,
        "commit": change.commit,
        "author": change.author,
        "pull_request": change.pull_request.as_ref().map(|p| json!({ "number": p.number, "action": p.action.as_str(), "source_branch": p.source_branch, "target_branch": p.target_branch })),
    })
}

fn bus_event(detail_type: &'static str, change: &Value, decision: &Decision, extra: Value) -> BusEvent {
    let detail = json!({ "change": change, "trigger": decision.trigger, "pipeline": decision.pipeline.as_str() });
    BusEvent { detail_type, detail: with_fields(detail, extra) }
}

/// The 200/503 body under construction.
struct Answer {
    body: Value,
    transient: bool,
}

impl Answer {
    fn new(provider: ProviderKind, event: &str, delivery: &str) -> Self {
        Self {
            body: json!({ "provider": provider.as_str(), "event": event, "delivery": delivery, "started": [], "skipped": [], "failed": [] }),
            transient: false,
        }
    }

    fn push(&mut self, list: &str, entry: Value) {
        if let Some(items) = self.body[list].as_array_mut() {
            items.push(entry);
        }
    }

    fn started(&mut self, d: &Decision, plan: &crate::trigger::StartPlan, execution_id: Option<&str>, duplicate: bool) {
        let mut entry = json!({ "trigger": d.trigger, "pipeline": d.pipeline.as_str(), "execution_id": execution_id });
        if duplicate {
            entry["duplicate"] = json!(true);
            self.body["duplicate"] = json!(true);
        }
        if !plan.notes.is_empty() {
            entry["notes"] = json!(plan.notes);
        }
        self.push("started", entry);
    }

    fn skipped(&mut self, trigger: &str, reason: &str) {
        self.push("skipped", json!({ "trigger": trigger, "reason": reason }));
    }

    fn failed(&mut self, d: &Decision, error: &str, transient: bool) {
        self.transient |= transient;
        self.push(
            "failed",
            json!({ "trigger": d.trigger, "pipeline": d.pipeline.as_str(), "error": error, "retryable": transient }),
        );
    }

    fn outcome(&self) -> &'static str {
        if self.transient {
            "retry"
        } else {
            "processed"
        }
    }

    fn into_response(self) -> WebhookResponse {
        if self.transient {
            retry_later(self.body)
        } else {
            WebhookResponse { status: 200, headers: Vec::new(), body: self.body }
        }
    }
}

#[cfg(test)]
mod tests;
