//! Running the starts of trigger decisions: exactly-once claims, concurrent bounded starts, and
//! each decision handed back with what became of it. Shared by the Git and S3 entry points.

use crate::concurrency::{Groups, Stop};
use crate::once::{once, retry_after_secs, Once};
use crate::ports::{
    AwsError, BoxFuture, BusEvent, Claim, DedupStore, EventPublisher, GroupMember, PipelineStarter, Settle, StartPlan,
    CHANGE_CLAIM_SECS, MAX_CLAIMS_AT_ONCE, RECORD_KEPT_SECS,
};
use crate::trigger::{Decision, Outcome};
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;

/// How many starts of one delivery run at once, across its batches: twenty triggers start in
/// one round trip, a hundred in four (ARCHITECTURE "Choices": the bound and CodePipeline's
/// request rate).
pub const START_CONCURRENCY: usize = 25;
/// The starts one claim write covers: each claims its change and its token. A quarter of
/// DynamoDB's 100 items a transaction: a transaction's time grows with its items, and one that
/// outlives its call timeout leaves its claims in progress (docs/performance.md "Performance").
const PLANS_PER_CLAIM: usize = MAX_CLAIMS_AT_ONCE / 4;

/// What became of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartResult {
    /// Started now, or earlier for the same token (`duplicate`); in dry-run mode no id.
    /// `stopped`: what the start's concurrency group stopped (docs/configuration.md "One build per pull request").
    Started { execution_id: Option<String>, duplicate: bool, stopped: Vec<Stop> },
    /// Another invocation holds this start's claim: the sender must retry (if that invocation
    /// died, the retry takes the claim over once its lease ends). Never acknowledged as done.
    InProgress { retry_after_secs: u32 },
    /// Not started; `transient` failures are worth a retry (503 / invocation error).
    Failed { error: String, transient: bool },
}

/// A decision with what became of it; `context` is what the caller decided it for (a change,
/// an S3 object).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided<'d, C> {
    pub context: C,
    pub decision: &'d Decision,
    pub verdict: Verdict<'d>,
}

/// A skip, or the start plan with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<'d> {
    Skipped(&'d str),
    Ran(&'d StartPlan, StartResult),
}

/// Starts plans through the ports, once per token.
#[derive(Clone)]
pub struct StartRunner {
    starter: Arc<dyn PipelineStarter>,
    dedup: Option<Arc<dyn DedupStore>>,
    dry_run: bool,
    groups: Option<Arc<Groups>>,
}

impl StartRunner {
    pub fn new(starter: Arc<dyn PipelineStarter>, dedup: Option<Arc<dyn DedupStore>>, dry_run: bool) -> Self {
        Self { starter, dedup, dry_run, groups: None }
    }

    /// Records starts in their concurrency groups and stops what they supersede.
    pub fn with_groups(mut self, groups: Option<Arc<Groups>>) -> Self {
        self.groups = groups;
        self
    }

    /// The concurrency groups, when configured (a pull request closed stops its groups).
    pub fn groups(&self) -> Option<&Arc<Groups>> {
        self.groups.as_ref()
    }

    /// The exactly-once records, when the dedup table is set (`git-webhook` also records there
    /// the deliveries it answered 200).
    pub fn dedup(&self) -> Option<&dyn DedupStore> {
        self.dedup.as_deref()
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Runs the start of every decision that starts, at most [`START_CONCURRENCY`] at a time, and
    /// answers every decision (skips included) with its verdict, in the order given.
    pub async fn run_decisions<'d, C: Send>(
        &self,
        decisions: impl IntoIterator<Item = (C, &'d Decision)>,
        now: i64,
    ) -> Vec<Decided<'d, C>> {
        let decisions: Vec<(C, &'d Decision)> = decisions.into_iter().collect();
        let plans: Vec<&'d StartPlan> = decisions.iter().filter_map(|(_, d)| d.start_plan()).collect();
        let mut results = self.run_plans(&plans, now).await.into_iter();
        decisions
            .into_iter()
            .map(|(context, decision)| {
                let verdict = match &decision.outcome {
                    Outcome::Skip(reason) => Verdict::Skipped(reason),
                    Outcome::Start(plan) => Verdict::Ran(
                        plan,
                        results.next().unwrap_or(StartResult::Failed {
                            error: "no result for this start".into(),
                            transient: true,
                        }),
                    ),
                };
                Decided { context, decision, verdict }
            })
            .collect()
    }

    /// The results of `plans`, in their order. With the dedup table and more than one start,
    /// the claims of up to [`PLANS_PER_CLAIM`] starts take one write, their starts run at once,
    /// and their claims are settled in one more (docs/performance.md "Performance"); a single start, or a
    /// batch whose claim finds a key taken, is claimed start by start.
    async fn run_plans(&self, plans: &[&StartPlan], now: i64) -> Vec<StartResult> {
        if plans.len() < 2 || self.dry_run || self.dedup.is_none() {
            return self.run_each(plans, now).await;
        }
        let starting = tokio::sync::Semaphore::new(START_CONCURRENCY);
        let batches = plans.chunks(PLANS_PER_CLAIM).map(|batch| self.run_batch(batch, &starting, now));
        futures_util::future::join_all(batches).await.into_iter().flatten().collect()
    }

    /// Runs each plan on its own ([`StartRunner::run`]), [`START_CONCURRENCY`] at a time.
    async fn run_each(&self, plans: &[&StartPlan], now: i64) -> Vec<StartResult> {
        // Boxed so the stream's type does not carry a higher-ranked closure (keeps it `Send`).
        let runs: Vec<BoxFuture<'_, StartResult>> =
            plans.iter().map(|plan| Box::pin(self.run(plan, now)) as BoxFuture<'_, _>).collect();
        stream::iter(runs).buffered(START_CONCURRENCY).collect().await
    }

    /// One claim write for every change and token of `plans`, their starts at once, one settling
    /// write (in batches of 25), the superseded executions stopped beside it.
    async fn run_batch(&self, plans: &[&StartPlan], starting: &tokio::sync::Semaphore, now: i64) -> Vec<StartResult> {
        let Some(dedup) = self.dedup.as_deref() else { return self.run_each(plans, now).await };
        let keys: Vec<String> = plans.iter().flat_map(|plan| claim_keys(plan)).collect();
        match dedup.claim_all(&keys, &attempt_owner(), now).await {
            Ok(true) => {}
            Ok(false) => return self.run_each(plans, now).await,
            Err(e) => {
                tracing::warn!(error = %e, starts = plans.len(), "could not claim the delivery's starts at once; claiming them one by one");
                return self.run_each(plans, now).await;
            }
        }
        let runs = plans.iter().map(|plan| async move {
            // The permit bounds the delivery's starts across its batches.
            let _permit = starting.acquire().await;
            self.start_and_join(plan, now).await
        });
        let outcomes: Vec<Result<Joined, AwsError>> = futures_util::future::join_all(runs).await;
        let mut settles = Vec::with_capacity(keys.len());
        for (plan, outcome) in plans.iter().zip(&outcomes) {
            let keys = claim_keys(plan);
            match outcome {
                Ok((id, _)) => settles.extend(keys.into_iter().map(|key| {
                    let keep_secs = if key.starts_with("change#") { CHANGE_CLAIM_SECS } else { RECORD_KEPT_SECS };
                    Settle::Complete { key, value: id.clone(), keep_secs }
                })),
                Err(_) => settles.extend(keys.into_iter().map(|key| Settle::Release { key })),
            }
        }
        let stops = plans.iter().zip(&outcomes).map(|(plan, outcome)| match outcome {
            Ok((_, superseded)) => Box::pin(self.supersede(plan, superseded.clone(), now)) as BoxFuture<'_, Vec<Stop>>,
            Err(_) => Box::pin(async { Vec::new() }),
        });
        let (settled, stopped) =
            futures_util::future::join(dedup.settle_all(&settles, now), futures_util::future::join_all(stops)).await;
        if let Err(e) = settled {
            tracing::warn!(error = %e, starts = plans.len(), "started, but the claims were not settled; a redelivery waits for their leases to end, and the tokens keep CodePipeline from a second start");
        }
        outcomes
            .into_iter()
            .zip(stopped)
            .map(|(outcome, stopped)| match outcome {
                Ok((id, _)) => StartResult::Started { execution_id: Some(id), duplicate: false, stopped },
                Err(e) => StartResult::Failed { transient: e.is_transient(), error: e.to_string() },
            })
            .collect()
    }

    /// Starts `plan` and records it in its concurrency group: the work a claim covers. Answers
    /// the execution and the group's members it supersedes.
    async fn start_and_join(&self, plan: &StartPlan, now: i64) -> Result<Joined, AwsError> {
        let id = self.starter.start(plan).await?;
        let superseded = match (&self.groups, &plan.group) {
            (Some(groups), Some(group)) => {
                let member = GroupMember {
                    execution_id: id.clone(),
                    pipeline: plan.pipeline.clone(),
                    commit: group.commit.clone(),
                    started_at: now,
                    pull_request: group.pull_request,
                };
                // A failure gives the claims back: the retry's start finds the same execution
                // (its clientRequestToken) and records it.
                groups.join(group, &member, now).await?
            }
            _ => Vec::new(),
        };
        Ok((id, superseded))
    }

    /// Runs one plan: once per change (its change token, with the dedup table), then once per
    /// token.
    pub async fn run(&self, plan: &StartPlan, now: i64) -> StartResult {
        if self.dry_run {
            return StartResult::Started { execution_id: None, duplicate: false, stopped: Vec::new() };
        }
        let (Some(dedup), Some(change)) = (self.dedup.as_deref(), plan.change_token.as_deref()) else {
            let (result, superseded) = self.run_once(plan, now).await;
            return with_stops(result, self.supersede(plan, superseded, now).await);
        };
        // Another delivery of the same change (an organization and a repository hook).
        let key = claim_keys(plan).remove(0);
        debug_assert_eq!(key, format!("change#{change}"));
        match dedup.claim(&key, now).await {
            Ok(Claim::Claimed) => {}
            Ok(Claim::Completed(id)) => {
                return StartResult::Started { execution_id: Some(id), duplicate: true, stopped: Vec::new() }
            }
            Ok(Claim::InProgress { lease_until }) => {
                return StartResult::InProgress { retry_after_secs: retry_after_secs(lease_until, now) }
            }
            Err(e) => return StartResult::Failed { transient: e.is_transient(), error: e.to_string() },
        }
        let (result, superseded) = self.run_once(plan, now).await;
        // The change's claim is settled while the superseded executions are stopped.
        let settle = async {
            let kept = match &result {
                StartResult::Started { execution_id: Some(id), .. } => {
                    dedup.complete_for(&key, id, now, CHANGE_CLAIM_SECS).await
                }
                _ => dedup.release(&key).await,
            };
            if let Err(e) = kept {
                tracing::warn!(key, error = %e, "could not settle the change's claim; another delivery of it waits for the lease to end");
            }
        };
        let ((), stopped) = futures_util::future::join(settle, self.supersede(plan, superseded, now)).await;
        with_stops(result, stopped)
    }

    /// Runs one plan once per token; a start in a concurrency group is recorded there before it
    /// counts as done. Answers the result and the group's members it supersedes.
    async fn run_once(&self, plan: &StartPlan, now: i64) -> (StartResult, Vec<GroupMember>) {
        let key = format!("start#{}", plan.client_request_token);
        let superseded = std::sync::Mutex::new(Vec::new());
        let work = async {
            let (id, earlier) = self.start_and_join(plan, now).await?;
            *superseded.lock().unwrap_or_else(|p| p.into_inner()) = earlier;
            Ok(id)
        };
        // The execution may have started even when its record fails: the token still keeps
        // CodePipeline from a second one.
        let result = match once(self.dedup.as_deref(), &key, now, work).await {
            Ok(Once::Done(id)) => {
                StartResult::Started { execution_id: Some(id), duplicate: false, stopped: Vec::new() }
            }
            Ok(Once::Recorded(id)) => {
                StartResult::Started { execution_id: Some(id), duplicate: true, stopped: Vec::new() }
            }
            Ok(Once::InProgress { retry_after_secs }) => StartResult::InProgress { retry_after_secs },
            Err(e) => StartResult::Failed { transient: e.is_transient(), error: e.to_string() },
        };
        (result, superseded.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    async fn supersede(&self, plan: &StartPlan, members: Vec<GroupMember>, now: i64) -> Vec<Stop> {
        match (&self.groups, &plan.group) {
            (Some(groups), Some(group)) => groups.supersede(group, members, now).await,
            _ => Vec::new(),
        }
    }
}

/// A start's execution id, and the members of its concurrency group it supersedes.
type Joined = (String, Vec<GroupMember>);

/// A name for one claim attempt, unique across invocations and instances: the clock's
/// nanoseconds, the process and a counter, hashed.
fn attempt_owner() -> String {
    static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let attempt = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    crate::token::deterministic(&[&nanos.to_string(), &std::process::id().to_string(), &attempt.to_string()])
}

/// The dedup keys a start claims: its change's (when it has one), then its token's.
fn claim_keys(plan: &StartPlan) -> Vec<String> {
    let change = plan.change_token.as_deref().map(|c| format!("change#{c}"));
    change.into_iter().chain([format!("start#{}", plan.client_request_token)]).collect()
}

fn with_stops(result: StartResult, stops: Vec<Stop>) -> StartResult {
    match result {
        StartResult::Started { execution_id, duplicate, .. } => {
            StartResult::Started { execution_id, duplicate, stopped: stops }
        }
        other => other,
    }
}

/// Publishes decision events (none in dry-run mode); a failure is logged and never fails the
/// caller (docs/configuration.md "Decision events").
pub async fn publish_decisions(bus: Option<&Arc<dyn EventPublisher>>, dry_run: bool, events: &[BusEvent]) {
    let Some(bus) = bus else { return };
    if dry_run || events.is_empty() {
        return;
    }
    if let Err(e) = bus.publish(events).await {
        tracing::error!(error = %e, "could not publish decision events");
    }
}

#[cfg(test)]
mod tests;
