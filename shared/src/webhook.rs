//! The Git webhook use case: one HTTP request in, one answer out (docs/providers.md "Git webhooks").
//!
//! Checks run in this order: method (405), size (413), provider and authentication
//! (400/401), body (400). Only then are triggers decided and pipelines started.

use crate::change::{Change, Comment, ProviderKind};
use crate::clock::unix_now;
use crate::command_executor::{events as command_events, CommandExecutor, CommentAnswer};
use crate::concurrency::Stop;
use crate::files::{FileLookups, LOOKUP_BUDGET, MAX_CHANGES_LOOKED_UP};
use crate::git_api::changed_files::LookupBounds;
use crate::live::LiveConfig;
use crate::metrics;
use crate::ports::{processed_key, EventPublisher, ExecutionRecords, PROCESSED_KEPT_SECS};
use crate::providers::{self, Content, Headers};
use crate::report::{Report, Subject};
use crate::secrets::{SecretScope, Secrets};
use crate::start::{publish_decisions, Decided, StartResult, StartRunner, Verdict};
use crate::status::{SkippedChange, Started, StartedExecution, StatusReporter};
use crate::trigger::{closing_groups, decide_git, wants_file_list, Decision};
use serde_json::{json, Value};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// Lambda's own request limit; larger bodies are answered 413 before anything else is read.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;
/// How long one request may take, AWS calls included: Git servers give up after 10 s (GitHub,
/// GitLab, Bitbucket) and then record a failed delivery.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(8);
/// Seconds a sender should wait before retrying a 503.
pub const RETRY_AFTER_SECS: u32 = 30;
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

/// The `git-webhook` service.
pub struct WebhookService {
    config: LiveConfig,
    secrets: Secrets,
    runner: StartRunner,
    bus: Option<Arc<dyn EventPublisher>>,
    clock: fn() -> i64,
    budget: Duration,
    status: Option<Arc<StatusReporter>>,
    files: Option<Arc<FileLookups>>,
    /// Every Git start is recorded by commit when commands can be carried out, so they find it.
    records: Option<Arc<dyn ExecutionRecords>>,
    commands: Option<Arc<CommandExecutor>>,
}

/// The most the `pending` statuses of one delivery may take, after the starts: the answer must
/// still reach the Git server inside its 10 s.
pub const STATUS_BUDGET: Duration = Duration::from_secs(4);
/// Kept back from the request budget to answer after the statuses.
const ANSWER_MARGIN: Duration = Duration::from_millis(300);

impl WebhookService {
    pub fn new(
        config: impl Into<LiveConfig>,
        secrets: Secrets,
        runner: StartRunner,
        bus: Option<Arc<dyn EventPublisher>>,
    ) -> Self {
        Self {
            config: config.into(),
            secrets,
            runner,
            bus,
            clock: unix_now,
            budget: REQUEST_BUDGET,
            status: None,
            files: None,
            records: None,
            commands: None,
        }
    }

    /// Records every start by commit (docs/commands.md "Commands from the pull request").
    pub fn with_records(mut self, records: Option<Arc<dyn ExecutionRecords>>) -> Self {
        self.records = records;
        self
    }

    /// Carries out commands from pull request comments.
    pub fn with_commands(mut self, commands: Option<Arc<CommandExecutor>>) -> Self {
        self.commands = commands;
        self
    }

    /// Asks Git servers for the changed files a payload lacks (docs/path-filters.md "Path filters").
    pub fn with_file_lookups(mut self, files: Option<Arc<FileLookups>>) -> Self {
        self.files = files;
        self
    }

    /// Reports the executions of triggers with `status` back to the Git server.
    pub fn with_status(mut self, status: Option<Arc<StatusReporter>>) -> Self {
        self.status = status;
        self
    }

    /// Replaces the clock (tests of timestamped signatures).
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the request budget (tests of slow dependencies).
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Loads the secrets once (cold start), so the first delivery does not wait for them.
    pub async fn warm_up(&self) {
        if let Err(e) = self.secrets.get().await {
            tracing::warn!(error = %e, "could not load the webhook secret at start; will retry per request");
        }
        if let Some(status) = &self.status {
            status.warm_up().await;
        }
    }

    /// Answers one request, within the request budget: when it runs out, 503 (the sender retries;
    /// the claims and tokens make the retry safe), never a late or missing answer.
    pub async fn handle(&self, request: WebhookRequest) -> WebhookResponse {
        let deadline = tokio::time::Instant::now() + self.budget;
        match tokio::time::timeout(self.budget, self.answer(request, deadline)).await {
            Ok(response) => response,
            Err(_) => {
                tracing::error!(budget_ms = self.budget.as_millis() as u64, "request ran out of time; answered 503");
                metrics::count("Deliveries", 1, &[("provider", "any"), ("outcome", "timeout")]);
                retry_later(json!({ "error": "Herald ran out of time on this delivery; retry" }))
            }
        }
    }

    async fn answer(&self, request: WebhookRequest, deadline: tokio::time::Instant) -> WebhookResponse {
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
        let secrets = match self.secrets.get().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(provider = %provider, error = %e, "webhook secret unavailable");
                return retry_later(json!({ "error": "webhook secret temporarily unavailable" }));
            }
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
            Content::Changes(changes) => self.process(changes, &scope, &mut answer, now, deadline).await,
            Content::Comment(comment) => self.comment(comment, &scope, &mut answer, now).await,
        }
        metrics::count("Deliveries", 1, &[("provider", provider.as_str()), ("outcome", answer.outcome())]);
        let response = answer.into_response();
        // Changes were recorded beside their statuses (`process`).
        if response.status == 200 && !matches!(delivery.content, Content::Changes(_)) {
            self.record_processed(provider, &delivery.delivery, now).await;
        }
        response
    }

    /// Notes in the dedup table that `delivery` was answered 200 (`delivery#<provider>:<id>`, 3
    /// days), whatever was decided, so the redelivery sweep leaves a delivery the sender saw
    /// fail (it gave up waiting) alone (docs/operations.md "Missed deliveries"). A failure is
    /// logged and the answer stands: at worst the sweep redelivers it, and the claims make that
    /// safe.
    async fn record_processed(&self, provider: ProviderKind, delivery: &str, now: i64) {
        let Some(dedup) = self.runner.dedup().filter(|_| !self.runner.dry_run()) else { return };
        let key = processed_key(provider.as_str(), delivery);
        if let Err(e) = dedup.complete_for(&key, "200", now, PROCESSED_KEPT_SECS).await {
            tracing::warn!(provider = %provider, delivery = %delivery, error = %e, "could not record the delivery as processed; a redelivery sweep may send it again (safe: it starts nothing twice)");
        }
    }

    /// A pull request comment: its `/herald` commands, carried out once (docs/commands.md "Commands from
    /// the pull request").
    async fn comment(&self, comment: &Comment, scope: &SecretScope, answer: &mut Answer, now: i64) {
        let config = &*self.config.get().await;
        let lines = CommandExecutor::lines(config, scope, comment);
        if lines.is_empty() {
            let reason =
                format!("comment {} on pull request #{} holds no /herald command", comment.id, comment.pull_request);
            tracing::info!(provider = %comment.provider, delivery = %comment.delivery, reason = %reason, "ignored");
            answer.body["ignored"] = json!(reason);
            return;
        }
        let Some(executor) = &self.commands else {
            let reason = "commands need HERALD_DEDUP_TABLE and Git server credentials (HERALD_STATUS_SECRET_ARN); nothing was done";
            tracing::warn!(provider = %comment.provider, delivery = %comment.delivery, reason, "command not carried out");
            answer.body["commands"] =
                json!(lines.iter().map(|_| json!({ "outcome": "refused", "reason": reason })).collect::<Vec<_>>());
            return;
        };
        match executor.handle(config, scope, comment, &lines, now).await {
            CommentAnswer::Done { commands } => {
                publish_decisions(self.bus.as_ref(), self.runner.dry_run(), &command_events(comment, &commands)).await;
                answer.body["commands"] = Value::Array(commands);
            }
            CommentAnswer::Duplicate { commands } => {
                answer.body["duplicate"] = json!(true);
                answer.body["commands"] = commands;
            }
            CommentAnswer::Retry { reason, retry_after_secs } => {
                tracing::warn!(provider = %comment.provider, delivery = %comment.delivery, reason = %reason, "commands not carried out yet; the sender should retry");
                answer.transient = true;
                answer.retry_after_secs = answer.retry_after_secs.max(retry_after_secs);
                answer.body["error"] = json!(format!("commands not carried out yet: {reason}; retry"));
            }
        }
    }

    async fn process(
        &self,
        changes: &[Change],
        scope: &SecretScope,
        answer: &mut Answer,
        now: i64,
        deadline: tokio::time::Instant,
    ) {
        let config = &*self.config.get().await;
        let multi_ref = changes.len() > 1;
        let changes = self.complete_commits(config, scope, changes, now, deadline).await;
        let changes = self.complete_file_lists(config, scope, &changes, multi_ref, now, deadline).await;
        let changes = &*changes;
        let decided: Vec<(&Change, Vec<Decision>)> =
            changes.iter().map(|c| (c, decide_git(config, scope, c, multi_ref))).collect();
        // Collected, not a lazy iterator: its closures' lifetimes would make the future not `Send`.
        let all: Vec<(&Change, &Decision)> =
            decided.iter().flat_map(|(change, decisions)| decisions.iter().map(move |d| (*change, d))).collect();
        let mut report = Report::default();
        let (ran, closed) = futures_util::future::join(
            self.runner.run_decisions(all, now),
            self.close_groups(config, scope, &decided, now),
        )
        .await;
        for decided in &ran {
            report.add(Subject::Git(decided.context), decided);
        }
        report.emit_metrics();
        let mut events = report.events.clone();
        events.extend(closed.events);
        publish_decisions(self.bus.as_ref(), self.runner.dry_run(), &events).await;
        answer.add_stops(&closed.stops);
        if closed.transient {
            answer.transient = true;
            answer.body["error"] =
                json!("the pull request's concurrency groups could not be read; retry to stop their executions");
        }
        answer.add(report);
        self.record_starts(config, &ran, now).await;
        // The answer is 200 now whatever the statuses do: its record is written beside them.
        let record = async {
            if !answer.transient {
                self.record_processed(answer.provider, &answer.delivery, now).await;
            }
        };
        let statuses = async {
            match &self.status {
                Some(status) => self.post_statuses(status, config, &ran, now, deadline).await,
                None => Vec::new(),
            }
        };
        let ((), entries) = futures_util::future::join(record, statuses).await;
        if !entries.is_empty() {
            answer.body["statuses"] = Value::Array(entries);
        }
    }

    /// A pull request closed or merged stops the executions of its concurrency groups (docs/configuration.md
    /// "One build per pull request"); a group whose trigger also started on this change was
    /// handled by that start.
    async fn close_groups(
        &self,
        config: &crate::config::Config,
        scope: &SecretScope,
        decided: &[(&Change, Vec<Decision>)],
        now: i64,
    ) -> Closed {
        let mut closed = Closed::default();
        let Some(groups) = self.runner.groups().filter(|_| !self.runner.dry_run()) else { return closed };
        let mut closing = Vec::new();
        for (change, decisions) in decided {
            for group in closing_groups(config, scope, change) {
                let starts = decisions.iter().any(|d| d.trigger == group.trigger && d.start_plan().is_some());
                if !starts {
                    closing.push((*change, group));
                }
            }
        }
        let results = futures_util::future::join_all(closing.iter().map(|(_, group)| groups.close(group, now))).await;
        for ((change, group), result) in closing.iter().zip(results) {
            match result {
                Ok(stops) => {
                    if !stops.is_empty() {
                        let (stopped, _) = crate::concurrency::entries(&stops);
                        closed.events.push(crate::ports::BusEvent {
                            detail_type: "Group Closed",
                            detail: json!({ "change": Subject::Git(change).summary(), "trigger": group.trigger, "group": group.name, "stopped": stopped }),
                        });
                    }
                    closed.stops.extend(stops);
                }
                Err(e) => {
                    tracing::error!(trigger = %group.trigger, group = %group.name, error = %e, "could not read the closed pull request's concurrency group; its executions were not stopped");
                    closed.transient |= e.is_transient();
                }
            }
        }
        closed
    }

    /// Records the starts of triggers without `status` (those with it are recorded with their
    /// `pending`), so commands from the pull request find them by commit. A failure is logged:
    /// the starts stand, and only a later command misses them.
    async fn record_starts(&self, config: &crate::config::Config, ran: &[Decided<'_, &Change>], now: i64) {
        let Some(records) = &self.records else { return };
        let mut to_record = Vec::new();
        for d in ran {
            let Verdict::Ran(plan, StartResult::Started { execution_id: Some(id), duplicate: false, .. }) = &d.verdict
            else {
                continue;
            };
            let Some(trigger) = config.triggers.iter().find(|t| t.name == d.decision.trigger) else { continue };
            if trigger.status.is_some() && self.status.is_some() {
                continue;
            }
            let Ok((target, commit)) = crate::status::target(d.context, trigger.secret.as_deref()) else { continue };
            let start = StartedExecution {
                trigger: &trigger.name,
                pipeline: &plan.pipeline,
                execution_id: id,
                change: d.context,
            };
            to_record.push(crate::status::execution_record(&start, &target, &commit, None, now));
        }
        let written = futures_util::future::join_all(to_record.iter().map(|r| records.put(r, now))).await;
        for (record, result) in to_record.iter().zip(written) {
            if let Err(e) = result {
                tracing::warn!(trigger = %record.trigger, execution_id = %record.execution_id, error = %e, "could not record the execution by commit; commands from the pull request will not find it");
            }
        }
    }

    /// The `pending` statuses of the executions started, and the final passing status of each
    /// change a trigger skipped by `paths` or `[skip ci]` (docs/statuses.md "Make Herald's checks
    /// required"), inside what is left of the request budget: the starts stand whatever the Git
    /// server's status API does. Answers the entries of the answer's `statuses`.
    async fn post_statuses(
        &self,
        status: &StatusReporter,
        config: &crate::config::Config,
        ran: &[Decided<'_, &Change>],
        now: i64,
        deadline: tokio::time::Instant,
    ) -> Vec<Value> {
        let with_status = |name: &str| {
            let trigger = config.triggers.iter().find(|t| t.name == name)?;
            Some((trigger, trigger.status.as_ref()?))
        };
        let started = ran.iter().filter_map(|d| match &d.verdict {
            // A duplicate's status was posted by the first delivery and may have moved on.
            Verdict::Ran(plan, StartResult::Started { execution_id: Some(id), duplicate: false, .. }) => {
                let (trigger, setting) = with_status(&d.decision.trigger)?;
                Some(Started {
                    trigger: &trigger.name,
                    // A delivery starts only triggers of the secret scope that verified it.
                    scope: trigger.secret.as_deref(),
                    setting,
                    change: d.context,
                    pipeline: &plan.pipeline,
                    execution_id: id,
                })
            }
            _ => None,
        });
        let skipped = ran.iter().filter_map(|d| match &d.verdict {
            Verdict::Skipped(reason) if d.decision.skip_passes || d.decision.awaits_ok_to_test => {
                let (trigger, setting) = with_status(&d.decision.trigger)?;
                let waits = d.decision.awaits_ok_to_test;
                (setting.skipped || waits).then_some(SkippedChange {
                    waits,
                    trigger: &trigger.name,
                    scope: trigger.secret.as_deref(),
                    setting,
                    change: d.context,
                    pipeline: trigger.pipeline.as_str(),
                    reason,
                })
            }
            _ => None,
        });
        let (skipped, dry): (Vec<_>, Vec<_>) = skipped.partition(|_| !self.runner.dry_run());
        let mut entries: Vec<Value> = dry
            .iter()
            .map(|s| {
                let state = if s.waits { "pending" } else { "skipped" };
                json!({ "trigger": s.trigger, "pipeline": s.pipeline, "context": s.setting.context, "state": state, "outcome": "dry_run" })
            })
            .collect();
        let posts = futures_util::future::join(
            futures_util::future::join_all(started.map(|s| status.started(s, now))),
            futures_util::future::join_all(skipped.into_iter().map(|s| status.skipped(s, now))),
        );
        let left = deadline.saturating_duration_since(tokio::time::Instant::now()).saturating_sub(ANSWER_MARGIN);
        match tokio::time::timeout(STATUS_BUDGET.min(left), posts).await {
            Ok((started, skipped)) => entries.extend(started.into_iter().chain(skipped)),
            Err(_) => {
                tracing::error!(
                    budget_ms = STATUS_BUDGET.as_millis() as u64,
                    "commit statuses ran out of time; the starts stand"
                );
                metrics::count("StatusFailed", 1, &[("reason", "timeout")]);
            }
        }
        entries
    }
}

impl WebhookService {
    /// The changes, each abbreviated commit (Bitbucket Cloud's pull requests name 12 characters)
    /// replaced by the full id its server names, where a trigger of the scope pins a source action
    /// (a source revision takes only a full id). One request per such change, inside the budget;
    /// a change the server does not answer for keeps its prefix, and its triggers skip saying so.
    async fn complete_commits<'c>(
        &self,
        config: &crate::config::Config,
        scope: &SecretScope,
        changes: &'c [Change],
        now: i64,
        deadline: tokio::time::Instant,
    ) -> Cow<'c, [Change]> {
        let Some(files) = &self.files else { return Cow::Borrowed(changes) };
        let abbreviated: Vec<usize> = (0..changes.len())
            .filter(|&i| crate::trigger::wants_full_commit(config, scope, &changes[i]))
            .take(MAX_CHANGES_LOOKED_UP)
            .collect();
        if abbreviated.is_empty() {
            return Cow::Borrowed(changes);
        }
        let budget = LOOKUP_BUDGET.min(deadline.saturating_duration_since(tokio::time::Instant::now()) / 2);
        let found = futures_util::future::join_all(
            abbreviated.iter().map(|&i| files.full_commit(&changes[i], scope.name(), budget, now)),
        )
        .await;
        let mut owned = changes.to_vec();
        for (&i, full) in abbreviated.iter().zip(found) {
            match full {
                Ok(full) => owned[i].commit = full,
                Err(why) => tracing::warn!(
                    provider = %owned[i].provider,
                    delivery = %owned[i].delivery,
                    commit = %owned[i].commit,
                    reason = %why,
                    "abbreviated commit kept"
                ),
            }
        }
        Cow::Owned(owned)
    }

    /// The changes, with the files their Git server lists wherever a path filter needs them; the
    /// lookups of one delivery run concurrently, inside what is left of its budget.
    async fn complete_file_lists<'c>(
        &self,
        config: &crate::config::Config,
        scope: &SecretScope,
        changes: &'c [Change],
        multi_ref: bool,
        now: i64,
        deadline: tokio::time::Instant,
    ) -> Cow<'c, [Change]> {
        let Some(files) = &self.files else { return Cow::Borrowed(changes) };
        let wanted: Vec<usize> =
            (0..changes.len()).filter(|&i| wants_file_list(config, scope, &changes[i], multi_ref)).collect();
        if wanted.is_empty() {
            return Cow::Borrowed(changes);
        }
        // Leave the starts at least as much time as the lookups had.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now()) / 2;
        let budget = LOOKUP_BUDGET.min(left);
        let bounds = LookupBounds::per_delivery();
        let scope = scope.name();
        let (asked, beyond) = wanted.split_at(wanted.len().min(MAX_CHANGES_LOOKED_UP));
        let found = futures_util::future::join_all(
            asked.iter().map(|&i| files.complete(&changes[i], scope, &bounds, budget, now)),
        )
        .await;
        let mut owned = changes.to_vec();
        for (&i, listed) in asked.iter().zip(found) {
            owned[i].files = listed;
        }
        for &i in beyond {
            owned[i].files.why = Some(format!(
                "the delivery has more than {MAX_CHANGES_LOOKED_UP} changes whose files a path filter needs; only the first {MAX_CHANGES_LOOKED_UP} were asked for"
            ));
        }
        Cow::Owned(owned)
    }
}

fn retry_later(body: Value) -> WebhookResponse {
    retry_after(RETRY_AFTER_SECS, body)
}

fn retry_after(secs: u32, body: Value) -> WebhookResponse {
    WebhookResponse { status: 503, headers: vec![("Retry-After", secs.to_string())], body }
}

/// What closing a pull request stopped.
#[derive(Default)]
struct Closed {
    stops: Vec<Stop>,
    events: Vec<crate::ports::BusEvent>,
    /// A group could not be read: the sender should retry.
    transient: bool,
}

/// The 200/503 body under construction.
struct Answer {
    provider: ProviderKind,
    delivery: String,
    body: Value,
    transient: bool,
    /// Seconds to ask the sender to wait, when another invocation's claim says (else the default).
    retry_after_secs: u32,
}

impl Answer {
    fn new(provider: ProviderKind, event: &str, delivery: &str) -> Self {
        Self {
            provider,
            delivery: delivery.to_owned(),
            body: json!({ "provider": provider.as_str(), "event": event, "delivery": delivery, "started": [], "skipped": [], "failed": [] }),
            transient: false,
            retry_after_secs: 0,
        }
    }

    fn add(&mut self, report: Report) {
        self.transient |= report.transient;
        self.retry_after_secs = self.retry_after_secs.max(report.retry_after_secs);
        if report.duplicate {
            self.body["duplicate"] = json!(true);
        }
        self.body["started"] = Value::Array(report.started);
        self.body["skipped"] = Value::Array(report.skipped);
        self.body["failed"] = Value::Array(report.failed);
        self.extend("stopped", report.stopped);
        self.extend("stop_failed", report.stop_failed);
    }

    /// The stops of a pull request's close.
    fn add_stops(&mut self, stops: &[Stop]) {
        let (stopped, failed) = crate::concurrency::entries(stops);
        self.extend("stopped", stopped);
        self.extend("stop_failed", failed);
    }

    /// Adds `entries` to the list `field`, made when the first entry comes.
    fn extend(&mut self, field: &str, entries: Vec<Value>) {
        if entries.is_empty() {
            return;
        }
        match self.body.get_mut(field).and_then(Value::as_array_mut) {
            Some(list) => list.extend(entries),
            None => self.body[field] = Value::Array(entries),
        }
    }

    fn outcome(&self) -> &'static str {
        if self.transient {
            "retry"
        } else {
            "processed"
        }
    }

    fn into_response(self) -> WebhookResponse {
        if self.transient && self.retry_after_secs > 0 {
            retry_after(self.retry_after_secs, self.body)
        } else if self.transient {
            retry_later(self.body)
        } else {
            WebhookResponse { status: 200, headers: Vec::new(), body: self.body }
        }
    }
}

#[cfg(test)]
mod tests;
