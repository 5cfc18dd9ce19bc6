//! The redelivery sweep (docs/operations.md "Missed deliveries"): Git servers do not send a
//! failed delivery again by themselves, so for every hook a credentials entry names (`hooks`)
//! Herald lists the recent deliveries and asks the server to send again each one that failed
//! there and was not processed here.
//!
//! Per hook, one sweep:
//! - lists deliveries newest first back to the hook's cursor (the newest delivery id an earlier
//!   sweep fully handled, in `HERALD_DEDUP_TABLE`), or back [`FIRST_SWEEP_SECS`] the first time
//!   (`herald redeliver --since`: its own window), at most [`MAX_PAGES_PER_HOOK`] pages;
//! - groups them by guid (every attempt of one event shares it): a guid with a 2xx attempt, or
//!   whose delivery `git-webhook` recorded as answered 200, was processed; any other is
//!   redelivered (its newest attempt), oldest first, at most [`MAX_REDELIVERIES_PER_HOOK`];
//! - counts each guid's redeliveries in the table: past [`MAX_ATTEMPTS`] it gives up, reported
//!   once (log line and `RedeliveryGaveUp`);
//! - moves the cursor up to just before the oldest failure not yet handled, so a failure
//!   left for the next sweep is never skipped;
//! - when more deliveries are newer than the cursor than one sweep may list (a backlog), keeps
//!   its place in the listing ([`Walk`]) and goes on from there the next sweep, until it
//!   reaches the cursor: every failure is examined in the end (`RedeliveryBacklog` counts each
//!   sweep spent on a backlog; an alarm says when it lasts an hour);
//! - keeps a server's documented rate: GitLab resends at most 5 a minute per hook, so a GitLab
//!   hook gets at most [`MAX_GITLAB_RESENDS_PER_SWEEP`] a sweep, and a refusal for rate is not an
//!   attempt of that delivery.
//!
//! A redelivery is an ordinary delivery: `git-webhook`'s exactly-once claims make it safe.

use crate::change::ProviderKind;
use crate::git_api::credentials::{Credentials, ServerEntry};
use crate::git_api::deliveries::{HookDelivery, PageToken};
use crate::git_api::endpoint::Hook;
use crate::git_api::{GitApi, PostError, ServerApi};
use crate::metrics;
use crate::ports::{processed_key, AwsError, RedeliveryLedger, SecretSource};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// How far back the first sweep of a hook looks (it has no cursor yet).
pub const FIRST_SWEEP_SECS: i64 = 3 * 3600;
/// The most redeliveries one hook gets per sweep, oldest first: the rest wait for the next.
pub const MAX_REDELIVERIES_PER_HOOK: usize = 50;
/// How many times one guid is redelivered in all before Herald gives up on it.
pub const MAX_ATTEMPTS: u32 = 3;
/// The most pages of deliveries read per hook per sweep (100 a page).
pub const MAX_PAGES_PER_HOOK: usize = 10;
/// Hooks swept at once.
pub const HOOKS_AT_ONCE: usize = 4;
/// Why the rest of a hook waits for the next sweep: the server limits its resends (429, a
/// bound the report states, not an error), or the server, the credential or the table failed.
enum Halt {
    RateLimited(String),
    Failed(String),
}

/// GitLab resends at most 5 events a minute per hook: a sweep (every 10 minutes by default)
/// asks for no more.
pub const MAX_GITLAB_RESENDS_PER_SWEEP: usize = 5;

/// A walk through a hook's backlog, kept between sweeps: where the listing goes on, the newest
/// delivery of the first listing (where the cursor goes once the walk reaches it), and the
/// oldest failure the walk left unhandled so far.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Walk {
    pub next: PageToken,
    pub top: u64,
    pub unhandled: Option<u64>,
}

/// What one sweep does.
#[derive(Debug, Clone, Copy)]
pub struct SweepOptions {
    /// How far back a hook without a cursor is listed (seconds).
    pub window_secs: i64,
    /// Follow each hook's cursor and move it (the scheduled sweep). `false`: the window only,
    /// and the cursor is left to the schedule (`herald redeliver --since`).
    pub use_cursor: bool,
    /// List what would be redelivered; ask nothing of the server and write nothing.
    pub dry_run: bool,
}

impl SweepOptions {
    /// The scheduled sweep.
    pub const SCHEDULED: Self = Self { window_secs: FIRST_SWEEP_SECS, use_cursor: true, dry_run: false };
}

/// One delivery asked for again (or that would be, in a dry run), or given up on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redelivery {
    /// The attempt redelivered: the guid's newest.
    pub delivery_id: u64,
    pub guid: String,
    pub event: String,
    /// What the receiver answered that attempt (0: no answer).
    pub status_code: u16,
    /// Which redelivery of the guid this is (counted in the table; `None` without it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// What one hook's sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HookReport {
    /// The credentials entry (`github`, `github:ghe.example.com`).
    pub credential: String,
    /// The hook (`repo:acme/app:12`, `org:acme:7`, `app`).
    pub hook: String,
    /// Deliveries listed (every attempt).
    pub listed: usize,
    /// Failed at the server but recorded as answered 200 here: nothing to do.
    pub processed: usize,
    pub redelivered: Vec<Redelivery>,
    pub gave_up: Vec<Redelivery>,
    /// Failures left for the next sweep (a bound, or a failed request).
    pub waiting: usize,
    /// The cursor after the sweep.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<u64>,
    /// A bound the sweep reached, and what it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bound: Option<String>,
    /// Why the hook could not be swept (whole or in part).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a sweep did, hook by hook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub dry_run: bool,
    pub hooks: Vec<HookReport>,
}

impl SweepReport {
    /// Whether some hook could not be swept (the invocation fails so it shows; the next sweep
    /// tries again).
    pub fn failed(&self) -> bool {
        self.failed_hooks() > 0
    }

    /// How many hooks could not be swept (whole or in part).
    pub fn failed_hooks(&self) -> usize {
        self.hooks.iter().filter(|h| h.error.is_some()).count()
    }

    pub fn redelivered(&self) -> usize {
        self.hooks.iter().map(|h| h.redelivered.len()).sum()
    }
}

/// The sweeper: the Git servers' API and, with the dedup table, its ledger.
pub struct Sweeper {
    api: GitApi,
    ledger: Option<Arc<dyn RedeliveryLedger>>,
}

/// Where the credentials document comes from: read again at every sweep (one read per
/// schedule), so a rotated token or a new hook applies at the next sweep.
pub enum CredentialsDocument {
    Fixed(Credentials),
    Secret(Arc<dyn SecretSource>),
}

/// Why a scheduled sweep failed: it is logged and the invocation fails (so Lambda's `Errors`
/// metric shows it); the next sweep tries again, and nothing is lost meanwhile.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("the Git server credentials could not be read: {0}")]
    Credentials(String),
    #[error("{failed} of {hooks} hooks could not be swept; the next sweep tries again")]
    Hooks { failed: usize, hooks: usize },
}

impl From<SweepError> for lambda_runtime::Diagnostic {
    fn from(e: SweepError) -> Self {
        lambda_runtime::Diagnostic { error_type: "Herald.RedeliverySweepFailed".into(), error_message: e.to_string() }
    }
}

/// The `redeliver` function: one scheduled sweep per invocation, whatever the event says.
pub struct RedeliveryService {
    sweeper: Sweeper,
    credentials: CredentialsDocument,
    options: SweepOptions,
}

impl RedeliveryService {
    pub fn new(sweeper: Sweeper, credentials: CredentialsDocument, dry_run: bool) -> Self {
        Self { sweeper, credentials, options: SweepOptions { dry_run, ..SweepOptions::SCHEDULED } }
    }

    /// One sweep: its report, or why it failed (after sweeping every hook it could).
    pub async fn handle(&self, now: i64) -> Result<Value, SweepError> {
        let credentials = match &self.credentials {
            CredentialsDocument::Fixed(c) => c.clone(),
            CredentialsDocument::Secret(source) => {
                let text = source.load().await.map_err(|e| SweepError::Credentials(e.to_string()))?;
                let text = text.ok_or_else(|| SweepError::Credentials("the secret has no string value".into()))?;
                Credentials::parse(&text).map_err(SweepError::Credentials)?
            }
        };
        let report = self.sweeper.sweep(&credentials, self.options, now).await;
        let failed = report.failed_hooks();
        tracing::info!(
            hooks = report.hooks.len(),
            redelivered = report.redelivered(),
            gave_up = report.hooks.iter().map(|h| h.gave_up.len()).sum::<usize>(),
            failed,
            dry_run = report.dry_run,
            "redelivery sweep done"
        );
        if report.hooks.is_empty() {
            tracing::warn!("no credentials entry names hooks: there is nothing to sweep (docs/operations.md \"Missed deliveries\")");
        }
        if failed > 0 {
            return Err(SweepError::Hooks { failed, hooks: report.hooks.len() });
        }
        Ok(serde_json::to_value(&report).unwrap_or_default())
    }
}

/// A guid's attempts as listed.
struct Failed<'d> {
    guid: &'d str,
    /// The oldest attempt listed: where the guid sits for the cursor.
    oldest: u64,
    newest: &'d HookDelivery,
}

impl Sweeper {
    pub fn new(api: GitApi, ledger: Option<Arc<dyn RedeliveryLedger>>) -> Self {
        Self { api, ledger }
    }

    /// Sweeps every hook of every entry, [`HOOKS_AT_ONCE`] at a time.
    pub async fn sweep(&self, credentials: &Credentials, options: SweepOptions, now: i64) -> SweepReport {
        let hooks: Vec<(&ServerEntry, &Hook)> =
            credentials.entries().into_iter().flat_map(|e| e.hooks.iter().map(move |h| (e, h))).collect();
        let hooks =
            stream::iter(hooks).map(|(entry, hook)| self.sweep_hook(entry, hook, options, now)).buffered(HOOKS_AT_ONCE);
        SweepReport { dry_run: options.dry_run, hooks: hooks.collect().await }
    }

    async fn sweep_hook(&self, entry: &ServerEntry, hook: &Hook, options: SweepOptions, now: i64) -> HookReport {
        let mut report = HookReport { credential: entry.key.clone(), hook: hook.label(), ..HookReport::default() };
        let cursor_key = format!("{}#{}", entry.key, hook.label());
        let ledger = self.ledger.as_deref();
        let cursor = match (ledger, options.use_cursor) {
            (Some(ledger), true) => match ledger.cursor(&cursor_key, now).await {
                Ok(cursor) => cursor,
                Err(e) => return fail(entry, report, format!("the cursor could not be read: {e}")),
            },
            _ => None,
        };
        report.cursor = cursor;
        // A walk through a backlog under way: the listing goes on where the last sweep stopped.
        let walk: Option<Walk> = match (ledger, options.use_cursor) {
            (Some(ledger), true) => match ledger.walk(&cursor_key, now).await {
                Ok(walk) => walk.and_then(|w| serde_json::from_str(&w).ok()),
                Err(e) => return fail(entry, report, format!("the backlog walk could not be read: {e}")),
            },
            _ => None,
        };
        let start = walk.as_ref().map(|w| w.next.clone());
        let (listed, cut) = match self.list(entry, hook, start, cursor, now - options.window_secs, now).await {
            Ok(listed) => listed,
            Err(e) => return fail(entry, report, e.to_string()),
        };
        let complete = cut.is_none();
        report.listed = listed.len();
        if !complete {
            report.bound = Some(format!(
                "a backlog: {MAX_PAGES_PER_HOOK} pages of deliveries listed without reaching the cursor; the next sweep goes on from there"
            ));
        }
        let mut unhandled: Option<u64> = None;
        let mut keep_waiting = |report: &mut HookReport, failed: &Failed| {
            report.waiting += 1;
            unhandled = Some(unhandled.map_or(failed.oldest, |u| u.min(failed.oldest)));
        };
        let mut stopped = false;
        let most =
            if entry.api == ServerApi::GitLab { MAX_GITLAB_RESENDS_PER_SWEEP } else { MAX_REDELIVERIES_PER_HOOK };
        for failed in failures(&listed) {
            if stopped || report.redelivered.len() >= most {
                if !stopped && report.bound.is_none() {
                    report.bound = Some(format!(
                        "at most {most} redeliveries per hook per sweep: the rest wait for the next sweep"
                    ));
                }
                keep_waiting(&mut report, &failed);
                continue;
            }
            match self.handle(entry, hook, &failed, options, now, &mut report).await {
                Ok(true) => {}
                Ok(false) => keep_waiting(&mut report, &failed),
                // The server limits its resends: the rest wait for the next sweep, no error.
                Err(Halt::RateLimited(why)) => {
                    report.bound =
                        Some(format!("the server limits its resends (429): {why}; the rest wait for the next sweep"));
                    stopped = true;
                    keep_waiting(&mut report, &failed);
                }
                Err(Halt::Failed(e)) => {
                    // The server or the table is failing: the rest wait for the next sweep.
                    report.error = Some(e);
                    stopped = true;
                    keep_waiting(&mut report, &failed);
                }
            }
        }
        // What the walk (this sweep's listing and the earlier ones of a backlog) left unhandled.
        let unhandled = match (unhandled, walk.as_ref().and_then(|w| w.unhandled)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let top = walk.as_ref().map(|w| w.top).or_else(|| listed.iter().map(|d| d.id).max());
        if let (Some(ledger), true, false) = (ledger, options.use_cursor, options.dry_run) {
            match cut {
                // A backlog: keep the place; the cursor stays until the walk reaches it.
                Some(next) => {
                    let walk = Walk { next, top: top.unwrap_or(0), unhandled };
                    tracing::warn!(credential = %entry.key, hook = %hook.label(), listed = listed.len(), "a backlog of deliveries: the next sweep goes on listing where this one stopped");
                    metrics::count("RedeliveryBacklog", 1, &[("provider", entry.api.key())]);
                    let text = serde_json::to_string(&walk).unwrap_or_default();
                    if let Err(e) = ledger.set_walk(&cursor_key, Some(&text), now).await {
                        report.error = Some(format!("the backlog walk could not be kept: {e}"));
                    }
                }
                None => {
                    let to = match unhandled {
                        Some(oldest) => oldest.checked_sub(1),
                        None => top,
                    };
                    if let Some(to) = to.filter(|to| *to > cursor.unwrap_or(0)) {
                        match ledger.set_cursor(&cursor_key, to, now).await {
                            Ok(()) => report.cursor = Some(to),
                            Err(e) => report.error = Some(format!("the cursor could not be moved: {e}")),
                        }
                    }
                    if walk.is_some() {
                        if let Err(e) = ledger.set_walk(&cursor_key, None, now).await {
                            report.error = Some(format!("the finished backlog walk could not be ended: {e}"));
                        }
                    }
                }
            }
        }
        if report.error.is_some() {
            metrics::count("RedeliveryErrors", 1, &[("provider", entry.api.key())]);
        }
        report
    }

    /// The deliveries newer than `cursor` (else delivered since `since`), newest first, from
    /// page `start` (`None`: the newest); and, when [`MAX_PAGES_PER_HOOK`] cut the list before
    /// that point, the page it goes on from.
    async fn list(
        &self,
        entry: &ServerEntry,
        hook: &Hook,
        start: Option<PageToken>,
        cursor: Option<u64>,
        since: i64,
        now: i64,
    ) -> Result<(Vec<HookDelivery>, Option<PageToken>), PostError> {
        let mut listed = Vec::new();
        let mut after: Option<PageToken> = start;
        for _ in 0..MAX_PAGES_PER_HOOK {
            let page = self.api.hook_deliveries(entry, hook, after.as_ref(), now).await?;
            for delivery in page.deliveries {
                let older = match cursor {
                    Some(cursor) => delivery.id <= cursor,
                    None => delivery.delivered_at.is_some_and(|at| at < since),
                };
                if older {
                    return Ok((listed, None));
                }
                listed.push(delivery);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok((listed, None)),
            }
        }
        Ok((listed, after))
    }

    /// One failed guid: processed here (`Ok(true)`, nothing to do), redelivered, listed by a dry
    /// run or given up on (`Ok(true)`), refused by the server for this delivery alone and left
    /// for the next sweep (`Ok(false)`), or why the rest of the hook waits ([`Halt`]).
    async fn handle(
        &self,
        entry: &ServerEntry,
        hook: &Hook,
        failed: &Failed<'_>,
        options: SweepOptions,
        now: i64,
        report: &mut HookReport,
    ) -> Result<bool, Halt> {
        let provider = provider_word(entry.api);
        let table = |e: AwsError| Halt::Failed(format!("the dedup table: {e}"));
        if let Some(ledger) = self.ledger.as_deref() {
            if ledger.processed(&processed_key(provider, failed.guid), now).await.map_err(table)? {
                report.processed += 1;
                return Ok(true);
            }
        }
        let mut entry_of = Redelivery {
            delivery_id: failed.newest.id,
            guid: failed.guid.to_owned(),
            event: failed.newest.event.clone(),
            status_code: failed.newest.status_code,
            attempt: None,
        };
        if options.dry_run {
            report.redelivered.push(entry_of);
            return Ok(true);
        }
        let attempts_key = format!("redelivery#{provider}:{}:{}", entry.host.0, failed.guid);
        if let Some(ledger) = self.ledger.as_deref() {
            match ledger.count_attempt(&attempts_key, MAX_ATTEMPTS, now).await.map_err(table)? {
                Some(attempt) => entry_of.attempt = Some(attempt),
                None => {
                    if ledger.give_up(&attempts_key, now).await.map_err(table)? {
                        tracing::error!(credential = %entry.key, hook = %hook.label(), delivery_id = failed.newest.id, guid = %failed.guid, event = %failed.newest.event, status_code = failed.newest.status_code, attempts = MAX_ATTEMPTS, "gave up redelivering: it failed after every redelivery; redeliver it by hand once the cause is fixed");
                        metrics::count("RedeliveryGaveUp", 1, &[("provider", entry.api.key())]);
                        report.gave_up.push(entry_of);
                    }
                    return Ok(true);
                }
            }
        }
        match self.api.redeliver(entry, hook, failed.newest.id, now).await {
            Ok(_) => {
                tracing::info!(credential = %entry.key, hook = %hook.label(), delivery_id = failed.newest.id, guid = %failed.guid, event = %failed.newest.event, status_code = failed.newest.status_code, attempt = entry_of.attempt, "redelivered");
                metrics::count("Redelivered", 1, &[("provider", entry.api.key())]);
                report.redelivered.push(entry_of);
                Ok(true)
            }
            // The server refused this delivery alone (GitHub 422 past its redelivery window, GitLab
            // a hook whose URL changed since): the attempt counts, so after three it is given up
            // and the cursor can pass it; the others go on.
            Err(PostError::Permanent { status, message, .. }) if status != 401 && status != 403 => {
                tracing::warn!(credential = %entry.key, hook = %hook.label(), delivery_id = failed.newest.id, guid = %failed.guid, status, message = %message, "the server refused to redeliver this delivery; it counts as an attempt");
                Ok(false)
            }
            // The server, the network or the credential failed, or the server limits its resends
            // (429): this attempt is taken back and the rest of the hook waits for the next sweep.
            Err(e) => {
                if let Some(ledger) = self.ledger.as_deref() {
                    if let Err(undo) = ledger.uncount_attempt(&attempts_key).await {
                        tracing::warn!(guid = %failed.guid, error = %undo, "could not take back a redelivery that was not sent; it counts as one");
                    }
                }
                tracing::warn!(credential = %entry.key, hook = %hook.label(), delivery_id = failed.newest.id, guid = %failed.guid, error = %e, "redelivery failed; the next sweep tries again");
                Err(match e {
                    PostError::RateLimited(why) => Halt::RateLimited(why),
                    e => Halt::Failed(e.to_string()),
                })
            }
        }
    }
}

/// A hook that could not be swept at all: logged, counted, the next sweep tries again.
fn fail(entry: &ServerEntry, mut report: HookReport, error: String) -> HookReport {
    tracing::error!(credential = %report.credential, hook = %report.hook, error = %error, "could not sweep the hook; the next sweep tries again");
    metrics::count("RedeliveryErrors", 1, &[("provider", entry.api.key())]);
    report.error = Some(error);
    report
}

/// The failed guids of `listed`, oldest first: no attempt of theirs succeeded.
fn failures(listed: &[HookDelivery]) -> Vec<Failed<'_>> {
    let mut by_guid: HashMap<&str, Failed> = HashMap::new();
    let mut succeeded: Vec<&str> = Vec::new();
    for delivery in listed {
        if delivery.succeeded() {
            succeeded.push(&delivery.guid);
        }
        let failed = by_guid.entry(&delivery.guid).or_insert(Failed {
            guid: &delivery.guid,
            oldest: delivery.id,
            newest: delivery,
        });
        failed.oldest = failed.oldest.min(delivery.id);
        if delivery.id > failed.newest.id {
            failed.newest = delivery;
        }
    }
    let mut failed: Vec<Failed> = by_guid.into_values().filter(|f| !succeeded.contains(&f.guid)).collect();
    failed.sort_by_key(|f| f.oldest);
    failed
}

/// The provider word of `git-webhook`'s records for a server's deliveries.
fn provider_word(api: ServerApi) -> &'static str {
    match api {
        ServerApi::GitLab => ProviderKind::GitLab,
        _ => ProviderKind::GitHub,
    }
    .as_str()
}

#[cfg(test)]
mod tests;
