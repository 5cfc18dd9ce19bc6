//! Commit statuses (docs/statuses.md "Commit statuses"): after a start, `git-webhook` records the execution
//! and posts `pending`; on the execution's state changes (and, with `stages`, its stages'),
//! `pipeline-notifier` posts the outcome. A change a trigger skipped by `paths` or `[skip ci]`
//! gets a final passing status at once (docs/statuses.md "Make Herald's checks required"). A status never
//! blocks a start or an alert: failures are logged and counted (`StatusFailed`); only the
//! notifier's transient ones fail its invocation, after its alerts, so EventBridge retries the
//! status.
//!
//! Statuses never move backwards (docs/statuses.md "Final and monotonic"): before each post of an
//! execution's context, a conditional write in `HERALD_DEDUP_TABLE` claims it
//! ([`ExecutionRecords::claim_status`]); a claim that would go back is not posted, and one made
//! while another post of the context is under way waits for it.

use crate::alert::enrich::Failure;
use crate::alert::event::PipelineEvent;
use crate::alert::render::{console_url, duration_text};
use crate::alert::Kind;
use crate::change::Change;
use crate::config::StatusSetting;
use crate::git_api::endpoint::CommitId;
use crate::git_api::{GitApi, PostError, ServerApi, Target};
use crate::metrics;
use crate::ports::{AwsError, ClaimAnswer, CommitStatus, ExecutionRecord, ExecutionRecords, StatusClaim, StatusState};
use crate::secrets::ServerCredentials;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How long a notifier waits for another instance's post of the same context before it fails
/// the invocation (EventBridge then retries the event): a post takes well under a second.
pub const BUSY_WAIT: Duration = Duration::from_secs(5);
/// How often the claim is tried again while waiting.
const BUSY_POLL: Duration = Duration::from_millis(200);

/// Where a change's statuses go (server, repository, secret scope) and on which commit; or why
/// there is none. The URL itself is built from the credential when posting (`git_api::endpoint`).
pub fn target(change: &Change, scope: Option<&str>) -> Result<(Target, CommitId), String> {
    if ServerApi::of(change.provider).is_none() {
        return Err(format!("{} has no commit status API", change.provider.as_str()));
    }
    if let Some(why) = change.no_commit {
        return Err(format!("no commit to report on: {why}"));
    }
    let commit = CommitId::for_status(&change.commit)?;
    Ok((Target::of(change, scope)?, commit))
}

/// An execution Herald started for a change.
pub struct StartedExecution<'a> {
    pub trigger: &'a str,
    pub pipeline: &'a str,
    pub execution_id: &'a str,
    pub change: &'a Change,
}

/// The record of a start (docs/statuses.md "Commit statuses", "Commands from the pull request"): where
/// its statuses go, and which commit it builds. Without `setting`, a record commands find and no
/// status is posted for.
pub fn execution_record(
    s: &StartedExecution<'_>,
    target: &Target,
    commit: &CommitId,
    setting: Option<&StatusSetting>,
    now: i64,
) -> ExecutionRecord {
    ExecutionRecord {
        execution_id: s.execution_id.to_owned(),
        pipeline: s.pipeline.to_owned(),
        trigger: s.trigger.to_owned(),
        provider: s.change.provider.as_str().to_owned(),
        host: target.host.0.clone(),
        organization: target.organization.clone(),
        repository: target.repository.name(),
        scope: target.scope.clone(),
        commit: commit.as_str().to_owned(),
        context: setting.map(|s| s.context.clone()).unwrap_or_default(),
        stages: setting.is_some_and(|s| s.stages),
        started_at: now,
        stop_reason: None,
    }
}

/// The `pending` status of an execution just started.
pub fn pending(setting: &StatusSetting, pipeline: &str, execution_id: Option<&str>, region: &str) -> CommitStatus {
    CommitStatus {
        context: setting.context.clone(),
        state: StatusState::Pending,
        description: format!("CodePipeline {pipeline} is running"),
        target_url: console_url(region, pipeline, execution_id),
    }
}

/// The final status of a change a trigger skipped by `paths` or a `[skip ci]` marker: passed
/// without running, in each server's words (`git_api::statuses`), saying why.
pub fn skipped(setting: &StatusSetting, pipeline: &str, reason: &str, region: &str) -> CommitStatus {
    CommitStatus {
        context: setting.context.clone(),
        state: StatusState::Skipped,
        description: format!("skipped: {reason}"),
        target_url: console_url(region, pipeline, None),
    }
}

/// The `pending` of a fork's pull request on a trigger with `allow_forks: "on-approval"`: it
/// waits for `/herald ok-to-test` (docs/commands.md "Commands from the pull request").
pub fn waiting(setting: &StatusSetting, pipeline: &str, region: &str) -> CommitStatus {
    CommitStatus {
        context: setting.context.clone(),
        state: StatusState::Pending,
        description: format!("{pipeline}: {}", crate::trigger::WAITS_FOR_OK_TO_TEST),
        target_url: console_url(region, pipeline, None),
    }
}

/// The status an event means for a recorded execution: the execution's outcome, or (with
/// `stages`) a stage's; `None` for events that change nothing on the Git server.
/// `newer_commit`: for a superseded execution, the commit of the one that took its place.
pub fn for_event(
    event: &PipelineEvent,
    record: &ExecutionRecord,
    failure: Option<&Failure>,
    duration: Option<i64>,
    newer_commit: Option<&str>,
) -> Option<CommitStatus> {
    let state = event.state.as_deref()?;
    let pipeline = &event.pipeline;
    let why = || {
        failure
            .map(|f| {
                let place =
                    [f.stage.as_deref(), f.action.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" / ");
                let summary = f
                    .summary
                    .as_deref()
                    .map(|s| format!(": {}", s.lines().next().unwrap_or_default()))
                    .unwrap_or_default();
                if place.is_empty() {
                    summary
                } else {
                    format!(" at {place}{summary}")
                }
            })
            .unwrap_or_default()
    };
    let (context, state, description) = match event.kind {
        Kind::Pipeline => {
            let (state, description) = match state {
                "SUCCEEDED" => (
                    StatusState::Success,
                    match duration {
                        Some(d) => format!("{pipeline} succeeded in {}", duration_text(d)),
                        None => format!("{pipeline} succeeded"),
                    },
                ),
                "FAILED" => (StatusState::Failure, format!("{pipeline} failed{}", why())),
                "STOPPED" => (
                    StatusState::Error,
                    match &record.stop_reason {
                        // `superseded by abc1234`, `closed`: Herald stopped it (docs/configuration.md "One build
                        // per pull request").
                        Some(reason) => format!("{pipeline} was stopped: {reason}"),
                        None => format!("{pipeline} was stopped"),
                    },
                ),
                "SUPERSEDED" => (
                    StatusState::Error,
                    match newer_commit {
                        Some(commit) => format!(
                            "{pipeline}: superseded by a newer execution, of commit {}",
                            commit.get(..7).unwrap_or(commit)
                        ),
                        None => format!("{pipeline}: superseded by a newer execution"),
                    },
                ),
                "CANCELED" => (StatusState::Error, format!("{pipeline} was canceled")),
                // The webhook posted `pending` already; this one mends a lost post, and is
                // never posted after the attempt's end (the claim refuses it).
                "STARTED" => (StatusState::Pending, format!("CodePipeline {pipeline} is running")),
                "RESUMED" => (StatusState::Pending, format!("{pipeline} resumed")),
                _ => return None,
            };
            (record.context.clone(), state, description)
        }
        Kind::Stage if record.stages => {
            let stage = event.stage.as_deref()?;
            let (state, description) = match state {
                "STARTED" | "RESUMED" => (StatusState::Pending, format!("Stage {stage} is running")),
                "SUCCEEDED" => (StatusState::Success, format!("Stage {stage} succeeded")),
                "FAILED" => (StatusState::Failure, format!("Stage {stage} failed{}", why())),
                "STOPPED" => (StatusState::Error, format!("Stage {stage} was stopped")),
                "CANCELED" => (StatusState::Error, format!("Stage {stage} was canceled")),
                _ => return None,
            };
            (format!("{}/{stage}", record.context), state, description)
        }
        _ => return None,
    };
    Some(CommitStatus {
        context,
        state,
        description,
        target_url: console_url(&event.region, pipeline, event.execution_id.as_deref()),
    })
}

/// Posts statuses and keeps the execution records.
pub struct StatusReporter {
    credentials: Arc<ServerCredentials>,
    api: GitApi,
    records: Arc<dyn ExecutionRecords>,
    /// The functions' region, for console links of executions just started.
    region: String,
}

/// A start that should report its status.
pub struct Started<'a> {
    pub trigger: &'a str,
    /// The named webhook secret that verified the delivery (`None`: the unnamed ones).
    pub scope: Option<&'a str>,
    pub setting: &'a StatusSetting,
    pub change: &'a Change,
    pub pipeline: &'a str,
    pub execution_id: &'a str,
}

impl Started<'_> {
    fn as_start(&self) -> StartedExecution<'_> {
        StartedExecution {
            trigger: self.trigger,
            pipeline: self.pipeline,
            execution_id: self.execution_id,
            change: self.change,
        }
    }
}

/// A skip that still settles the trigger's context: `paths` or `[skip ci]` left the change out.
pub struct SkippedChange<'a> {
    pub trigger: &'a str,
    pub scope: Option<&'a str>,
    pub setting: &'a StatusSetting,
    pub change: &'a Change,
    pub pipeline: &'a str,
    pub reason: &'a str,
    /// Not a pass: a fork waiting for `/herald ok-to-test`, posted `pending` ([`waiting`]).
    pub waits: bool,
}

/// What a post is about, for its log lines.
struct About<'a> {
    pipeline: &'a str,
    execution_id: Option<&'a str>,
    provider: &'a str,
}

impl StatusReporter {
    pub fn new(
        credentials: Arc<ServerCredentials>,
        api: GitApi,
        records: Arc<dyn ExecutionRecords>,
        region: impl Into<String>,
    ) -> Self {
        Self { credentials, api, records, region: region.into() }
    }

    /// Loads the credentials at cold start, so the first status does not wait for them.
    pub async fn warm_up(&self) {
        if let Err(e) = self.credentials.get().await {
            tracing::warn!(error = %e, "could not load the status credentials at start; will retry per status");
        }
    }

    /// Records a start and posts `pending` (`git-webhook`). Never fails the delivery: what went
    /// wrong is logged and counted.
    pub async fn started(&self, s: Started<'_>, now: i64) -> Value {
        let entry = json!({ "trigger": s.trigger, "pipeline": s.pipeline, "context": s.setting.context });
        let (target, commit) = match target(s.change, s.scope) {
            Ok(t) => t,
            Err(why) => return no_target(entry, s.trigger, s.pipeline, &why),
        };
        let record = execution_record(&s.as_start(), &target, &commit, Some(s.setting), now);
        // Without the record the outcome could never be posted: no `pending` that would stay forever.
        if let Err(e) = self.records.put(&record, now).await {
            tracing::error!(trigger = s.trigger, pipeline = s.pipeline, execution_id = s.execution_id, error = %e, "could not record the execution; no commit status for it");
            metrics::count("StatusFailed", 1, &[("reason", "record")]);
            return crate::report::with_fields(
                entry,
                json!({ "outcome": "failed", "reason": "could not record the execution" }),
            );
        }
        let status = pending(s.setting, s.pipeline, Some(s.execution_id), &self.region);
        // The first attempt's `pending`; an event of the execution already being posted is newer,
        // and the delivery does not wait for it.
        let (outcome, _) = self.claimed_post(&target, &commit, &status, &record, 1, Duration::ZERO, now).await;
        crate::report::with_fields(entry, outcome)
    }

    /// Posts the final passing status of a change the trigger skipped (`git-webhook`): there is
    /// no execution, so nothing to record or to order. Never fails the delivery.
    pub async fn skipped(&self, s: SkippedChange<'_>, now: i64) -> Value {
        let entry = json!({ "trigger": s.trigger, "pipeline": s.pipeline, "context": s.setting.context });
        let (target, commit) = match target(s.change, s.scope) {
            Ok(t) => t,
            Err(why) => return no_target(entry, s.trigger, s.pipeline, &why),
        };
        let status = if s.waits {
            waiting(s.setting, s.pipeline, &self.region)
        } else {
            skipped(s.setting, s.pipeline, s.reason, &self.region)
        };
        let about = About { pipeline: s.pipeline, execution_id: None, provider: s.change.provider.as_str() };
        let (outcome, _) = self.post(&target, &commit, &status, &about, now).await;
        crate::report::with_fields(entry, outcome)
    }

    /// The record of the event's execution, when the event can move a status.
    pub async fn record_of(&self, event: &PipelineEvent, now: i64) -> Result<Option<ExecutionRecord>, AwsError> {
        let Some(execution_id) = event.execution_id.as_deref() else { return Ok(None) };
        if !matches!(event.kind, Kind::Pipeline | Kind::Stage) {
            return Ok(None);
        }
        Ok(self.records.get(execution_id, now).await?.filter(ExecutionRecord::reports_status))
    }

    /// The commit Herald recorded for `execution_id` (the execution that superseded another),
    /// when it started that one with a status.
    async fn recorded_commit(&self, execution_id: Option<&str>, now: i64) -> Option<String> {
        match self.records.get(execution_id?, now).await {
            Ok(record) => record.map(|r| r.commit),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the newer execution's record; the status does not name its commit");
                None
            }
        }
    }

    /// Posts what `event` means for `record`'s commit (`pipeline-notifier`): `Err` only for a
    /// transient failure after the retries, which should fail the invocation.
    /// `superseded_by`: the execution that took a superseded one's place, when known.
    pub async fn finished(
        &self,
        event: &PipelineEvent,
        record: &ExecutionRecord,
        failure: Option<&Failure>,
        duration: Option<i64>,
        superseded_by: Option<&str>,
        now: i64,
    ) -> Result<Option<Value>, PostError> {
        let newer_commit = match event.state.as_deref() {
            Some("SUPERSEDED") => self.recorded_commit(superseded_by, now).await,
            _ => None,
        };
        let Some(status) = for_event(event, record, failure, duration, newer_commit.as_deref()) else {
            return Ok(None);
        };
        // The record names the provider (`github`, `bitbucket-cloud`, `forgejo`...): each is a
        // word of the credentials document too.
        let Some(api) = ServerApi::parse_key(&record.provider) else { return Ok(None) };
        // A record of an older Herald holds a URL, not the server and repository: nothing to build on.
        let place = if record.host.is_empty() {
            Err("recorded by an older Herald, without its server".to_owned())
        } else {
            Target::new(api, &record.host, record.organization.as_deref(), &record.repository, record.scope.as_deref())
                .and_then(|t| Ok((t, CommitId::for_status(&record.commit)?)))
        };
        let (target, commit) = match place {
            Ok(place) => place,
            Err(why) => {
                tracing::warn!(pipeline = %record.pipeline, execution_id = %record.execution_id, reason = %why, "no commit status for this execution");
                metrics::count("StatusFailed", 1, &[("reason", "no_target")]);
                return Ok(Some(json!({ "context": status.context, "outcome": "skipped", "reason": why })));
            }
        };
        let (entry, error) = self.claimed_post(&target, &commit, &status, record, event.attempt, BUSY_WAIT, now).await;
        match error {
            Some(e) if e.is_transient() => Err(e),
            _ => Ok(Some(entry)),
        }
    }

    /// Claims the context for `status` (waiting up to `wait` for another post of it), posts it
    /// and ends the claim; a claim that would move the context backwards posts nothing.
    #[allow(clippy::too_many_arguments)]
    async fn claimed_post(
        &self,
        target: &Target,
        commit: &CommitId,
        status: &CommitStatus,
        record: &ExecutionRecord,
        attempt: u32,
        wait: Duration,
        now: i64,
    ) -> (Value, Option<PostError>) {
        let base = json!({ "context": status.context, "state": status.state.as_str() });
        let about =
            About { pipeline: &record.pipeline, execution_id: Some(&record.execution_id), provider: &record.provider };
        let claim = StatusClaim {
            execution_id: record.execution_id.clone(),
            context: status.context.clone(),
            attempt,
            state: status.state,
            owner: claim_owner(),
        };
        match self.claim(&claim, wait, now).await {
            Ok(ClaimAnswer::Granted) => {}
            Ok(ClaimAnswer::Stale) => {
                tracing::info!(pipeline = %record.pipeline, execution_id = %record.execution_id, context = %status.context, attempt, state = status.state.as_str(), "commit status not posted: the context already holds a later state");
                metrics::count("StatusStale", 1, &[]);
                let why = format!("attempt {attempt} of the execution already ended, or a later attempt began");
                return (crate::report::with_fields(base, json!({ "outcome": "stale", "reason": why })), None);
            }
            // The webhook does not wait: a post under way for its fresh execution is of a later event.
            Ok(ClaimAnswer::Busy { .. }) if wait.is_zero() => {
                tracing::info!(pipeline = %record.pipeline, execution_id = %record.execution_id, context = %status.context, "commit status not posted: a later event of the execution is being posted");
                let why = "a later event of the execution is being posted";
                return (crate::report::with_fields(base, json!({ "outcome": "stale", "reason": why })), None);
            }
            Ok(ClaimAnswer::Busy { .. }) => {
                let error = PostError::Transient(format!(
                    "another post of context {} is under way (waited {} s)",
                    status.context,
                    wait.as_secs()
                ));
                return self.failed(base, &about, error);
            }
            Err(e) => {
                let transient = e.is_transient();
                let text = format!("could not claim the commit status in the table: {e}");
                let error = if transient { PostError::Transient(text) } else { PostError::Refused(text) };
                return self.failed(base, &about, error);
            }
        }
        let posted = self.post(target, commit, status, &about, now).await;
        if let Err(e) = self.records.release_status(&claim).await {
            tracing::warn!(pipeline = %record.pipeline, execution_id = %record.execution_id, error = %e, "could not end the status claim; it lapses by itself");
        }
        posted
    }

    /// One claim, tried again every [`BUSY_POLL`] while another post holds the context, up to `wait`.
    async fn claim(&self, claim: &StatusClaim, wait: Duration, now: i64) -> Result<ClaimAnswer, AwsError> {
        let began = tokio::time::Instant::now();
        let mut now = now;
        loop {
            let answer = self.records.claim_status(claim, now).await?;
            if !matches!(answer, ClaimAnswer::Busy { .. }) || began.elapsed() + BUSY_POLL > wait {
                return Ok(answer);
            }
            tokio::time::sleep(BUSY_POLL).await;
            now = now.max(crate::clock::unix_now());
        }
    }

    /// Posts one status; answers its summary entry, and the error when it was not posted.
    async fn post(
        &self,
        target: &Target,
        commit: &CommitId,
        status: &CommitStatus,
        about: &About<'_>,
        now: i64,
    ) -> (Value, Option<PostError>) {
        let base = json!({ "context": status.context, "state": status.state.as_str() });
        let credentials = match self.credentials.get().await {
            Ok(c) => c,
            Err(e) => {
                let error = PostError::Transient(format!("status credentials unavailable: {e}"));
                return self.failed(base, about, error);
            }
        };
        match self.api.post_status(&credentials, target, commit, status, now).await {
            Ok(code) => {
                tracing::info!(
                    pipeline = %about.pipeline,
                    execution_id = about.execution_id,
                    provider = %about.provider,
                    context = %status.context,
                    state = status.state.as_str(),
                    server_status = code,
                    "commit status posted"
                );
                metrics::count("StatusPosted", 1, &[("state", status.state.as_str())]);
                (crate::report::with_fields(base, json!({ "outcome": "posted" })), None)
            }
            Err(error) => self.failed(base, about, error),
        }
    }

    fn failed(&self, base: Value, about: &About<'_>, error: PostError) -> (Value, Option<PostError>) {
        let reason = match &error {
            PostError::NoCredential { .. } => "no_credential",
            PostError::Refused(_) => "refused",
            PostError::Permanent { .. } => "permanent",
            PostError::Transient(_) | PostError::RateLimited(_) => "transient",
        };
        let server_status = match &error {
            PostError::Permanent { status, .. } => Some(*status),
            _ => None,
        };
        if matches!(error, PostError::NoCredential { .. }) {
            tracing::warn!(pipeline = %about.pipeline, provider = %about.provider, error = %error, "commit status not posted");
        } else {
            tracing::error!(pipeline = %about.pipeline, execution_id = about.execution_id, provider = %about.provider, server_status, error = %error, "commit status not posted");
        }
        metrics::count("StatusFailed", 1, &[("reason", reason)]);
        (crate::report::with_fields(base, json!({ "outcome": "failed", "error": error.to_string() })), Some(error))
    }
}

/// The summary entry of a change whose status has nowhere to go, logged and counted.
fn no_target(entry: Value, trigger: &str, pipeline: &str, why: &str) -> Value {
    tracing::warn!(trigger, pipeline, reason = %why, "no commit status for this change");
    metrics::count("StatusFailed", 1, &[("reason", "no_target")]);
    crate::report::with_fields(entry, json!({ "outcome": "skipped", "reason": why }))
}

/// A claim's own name: 16 random bytes, so that two instances handling the same event never
/// end each other's claims.
fn claim_owner() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system's generator does not fail on Linux; were it to, the claim would share a name,
    // which weakens only the release, never the order.
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
pub(crate) mod tests;
