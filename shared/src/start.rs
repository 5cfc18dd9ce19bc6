//! Running the starts of trigger decisions: exactly-once claims, concurrent bounded starts, and
//! each decision handed back with what became of it. Shared by the Git and S3 entry points.

use crate::concurrency::{Groups, Stop};
use crate::once::{once, retry_after_secs, Once};
use crate::ports::{
    BoxFuture, BusEvent, Claim, DedupStore, EventPublisher, GroupMember, PipelineStarter, StartPlan, CHANGE_CLAIM_SECS,
};
use crate::trigger::{Decision, Outcome};
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;

/// How many starts of one delivery run at once: twenty triggers finish in a few round trips.
pub const START_CONCURRENCY: usize = 8;

/// What became of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartResult {
    /// Started now, or earlier for the same token (`duplicate`); in dry-run mode no id.
    /// `stopped`: what the start's concurrency group stopped (README "One build per pull request").
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
        // Boxed so the stream's type does not carry a higher-ranked closure (keeps it `Send`).
        let runs: Vec<BoxFuture<'_, Decided<'d, C>>> = decisions
            .into_iter()
            .map(|(context, decision)| {
                Box::pin(async move {
                    let verdict = match &decision.outcome {
                        Outcome::Skip(reason) => Verdict::Skipped(reason),
                        Outcome::Start(plan) => Verdict::Ran(plan, self.run(plan, now).await),
                    };
                    Decided { context, decision, verdict }
                }) as BoxFuture<'_, _>
            })
            .collect();
        stream::iter(runs).buffered(START_CONCURRENCY).collect().await
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
        let key = format!("change#{change}");
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
            let id = self.starter.start(plan).await?;
            if let (Some(groups), Some(group)) = (&self.groups, &plan.group) {
                let member = GroupMember {
                    execution_id: id.clone(),
                    pipeline: plan.pipeline.clone(),
                    commit: group.commit.clone(),
                    started_at: now,
                };
                // A failure gives the token back: the retry's start finds the same execution
                // (its clientRequestToken) and records it.
                *superseded.lock().unwrap_or_else(|p| p.into_inner()) = groups.join(group, &member, now).await?;
            }
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

fn with_stops(result: StartResult, stops: Vec<Stop>) -> StartResult {
    match result {
        StartResult::Started { execution_id, duplicate, .. } => {
            StartResult::Started { execution_id, duplicate, stopped: stops }
        }
        other => other,
    }
}

/// Publishes decision events (none in dry-run mode); a failure is logged and never fails the
/// caller (README "Decision events").
pub async fn publish_decisions(bus: Option<&Arc<dyn EventPublisher>>, dry_run: bool, events: &[BusEvent]) {
    let Some(bus) = bus else { return };
    if dry_run || events.is_empty() {
        return;
    }
    if let Err(e) = bus.publish(events).await {
        tracing::error!(error = %e, "could not publish decision events");
    }
}
