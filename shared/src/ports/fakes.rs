//! In-memory fakes of every port, for tests: each records what it was asked and can be told
//! to fail.

use super::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Records every start; fails pipelines named in `fail`.
#[derive(Default)]
pub struct FakeStarter {
    pub started: Mutex<Vec<StartPlan>>,
    pub fail: HashMap<String, AwsError>,
    /// How long each start takes.
    pub delay: std::time::Duration,
}

impl PipelineStarter for FakeStarter {
    fn start<'a>(&'a self, plan: &'a StartPlan) -> BoxFuture<'a, Result<String, AwsError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            if let Some(e) = self.fail.get(&plan.pipeline) {
                return Err(e.clone());
            }
            let mut started = self.started.lock().unwrap();
            started.push(plan.clone());
            Ok(format!("exec-{}", started.len()))
        })
    }
}

/// Exactly-once records: key -> (completed value, lease end; for a completed one, when it
/// expires). Leases are 60 s, as DynamoDB's; completed records are kept 7 days unless told.
#[derive(Default)]
pub struct FakeDedup {
    pub records: Mutex<HashMap<String, (Option<String>, i64)>>,
    /// `claim_all` and `settle_all` fail with this (a throttled batch).
    pub fail_batch: Option<AwsError>,
}

impl DedupStore for FakeDedup {
    fn claim<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<Claim, AwsError>> {
        Box::pin(async move {
            let mut records = self.records.lock().unwrap();
            Ok(match records.get(key) {
                Some((Some(id), expires_at)) if *expires_at >= now => Claim::Completed(id.clone()),
                Some((None, lease_until)) if *lease_until >= now => Claim::InProgress { lease_until: *lease_until },
                _ => {
                    records.insert(key.to_owned(), (None, now + 60));
                    Claim::Claimed
                }
            })
        })
    }
    fn complete<'a>(&'a self, key: &'a str, value: &'a str, now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        self.complete_for(key, value, now, 7 * 24 * 3600)
    }
    fn complete_for<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        now: i64,
        keep_secs: i64,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.records.lock().unwrap().insert(key.to_owned(), (Some(value.to_owned()), now + keep_secs));
            Ok(())
        })
    }
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.records.lock().unwrap().remove(key);
            Ok(())
        })
    }
    fn claim_all<'a>(&'a self, keys: &'a [String], _owner: &'a str, now: i64) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(async move {
            if let Some(e) = &self.fail_batch {
                return Err(e.clone());
            }
            let mut records = self.records.lock().unwrap();
            let taken = keys.iter().any(|key| match records.get(key) {
                Some((Some(_), expires_at)) => *expires_at >= now,
                Some((None, lease_until)) => *lease_until >= now,
                None => false,
            });
            if taken {
                return Ok(false);
            }
            for key in keys {
                records.insert(key.clone(), (None, now + 60));
            }
            Ok(true)
        })
    }
    fn settle_all<'a>(&'a self, settles: &'a [Settle], now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            if let Some(e) = &self.fail_batch {
                return Err(e.clone());
            }
            let mut records = self.records.lock().unwrap();
            for settle in settles {
                match settle {
                    Settle::Complete { key, value, keep_secs } => {
                        records.insert(key.clone(), (Some(value.clone()), now + keep_secs));
                    }
                    Settle::Release { key } => {
                        records.remove(key);
                    }
                }
            }
            Ok(())
        })
    }
}

#[derive(Default)]
pub struct FakeBus {
    pub events: Mutex<Vec<BusEvent>>,
    pub fail: bool,
}

impl EventPublisher for FakeBus {
    fn publish<'a>(&'a self, events: &'a [BusEvent]) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            if self.fail {
                return Err(AwsError::Transient("bus down".into()));
            }
            self.events.lock().unwrap().extend_from_slice(events);
            Ok(())
        })
    }
}

/// A pipeline history in memory; `broken` makes every call fail.
#[derive(Default)]
pub struct FakeHistory {
    pub recent: Vec<ExecutionSummary>,
    pub runs: Vec<ActionRun>,
    pub broken: bool,
    /// What `GetPipelineExecution` says of every execution's status.
    pub execution_status: Option<String>,
    pub calls: Mutex<Vec<&'static str>>,
}

impl FakeHistory {
    fn result<T>(&self, call: &'static str, value: T) -> Result<T, AwsError> {
        self.calls.lock().unwrap().push(call);
        if self.broken {
            Err(AwsError::Transient(format!("{call}: AccessDeniedException")))
        } else {
            Ok(value)
        }
    }
}

impl PipelineHistory for FakeHistory {
    fn execution<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<ExecutionDetails, AwsError>> {
        let details = ExecutionDetails {
            revisions: vec![ArtifactRevision {
                revision_id: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
                summary: Some(r#"{"ProviderType":"GitHub","CommitMessage":"Speed up the resizer"}"#.into()),
                url: None,
            }],
            trigger: None,
            status_summary: None,
            status: self.execution_status.clone(),
        };
        Box::pin(async move { self.result("GetPipelineExecution", details) })
    }
    fn action_runs<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<Vec<ActionRun>, AwsError>> {
        Box::pin(async move { self.result("ListActionExecutions", self.runs.clone()) })
    }
    fn recent_executions<'a>(&'a self, _: &'a str, _: i32) -> BoxFuture<'a, Result<Vec<ExecutionSummary>, AwsError>> {
        Box::pin(async move { self.result("ListPipelineExecutions", self.recent.clone()) })
    }
}

#[derive(Default)]
pub struct FakePublisher {
    pub sent: Mutex<Vec<SnsMessage>>,
    pub failures_left: AtomicUsize,
}

impl AlertPublisher for FakePublisher {
    fn publish<'a>(&'a self, message: &'a SnsMessage) -> BoxFuture<'a, Result<String, AwsError>> {
        Box::pin(async move {
            if self.failures_left.load(Ordering::SeqCst) > 0 {
                self.failures_left.fetch_sub(1, Ordering::SeqCst);
                return Err(AwsError::Transient("Publish: InternalError".into()));
            }
            let mut sent = self.sent.lock().unwrap();
            sent.push(message.clone());
            Ok(format!("msg-{}", sent.len()))
        })
    }
}

/// Answers each `load` with the next of its answers.
pub struct FakeSecretSource(Mutex<Vec<Result<Option<String>, AwsError>>>);

impl FakeSecretSource {
    pub fn new(answers: Vec<Result<Option<String>, AwsError>>) -> Self {
        Self(Mutex::new(answers))
    }
}

impl SecretSource for FakeSecretSource {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, AwsError>> {
        let next = self.0.lock().unwrap().remove(0);
        Box::pin(async move { next })
    }
}

/// Pipeline definitions in memory: (pipeline, action) -> source action; `fail` answers an error.
#[derive(Default)]
pub struct FakeDefinitions {
    pub actions: HashMap<(String, String), SourceAction>,
    pub fail: Option<AwsError>,
    pub calls: AtomicUsize,
}

impl FakeDefinitions {
    /// Every pipeline's action `Source` reads `bucket`/`key`.
    pub fn s3(pipelines: &[&str], bucket: &str, key: &str, allow_key_override: bool) -> Self {
        let source = SourceAction {
            provider: "S3".into(),
            bucket: Some(bucket.into()),
            key: Some(key.into()),
            allow_key_override,
        };
        let actions = pipelines.iter().map(|p| ((p.to_string(), "Source".to_string()), source.clone())).collect();
        Self { actions, ..Self::default() }
    }
}

impl PipelineDefinitions for FakeDefinitions {
    fn source_action<'a>(
        &'a self,
        pipeline: &'a str,
        action: &'a str,
    ) -> BoxFuture<'a, Result<Option<SourceAction>, AwsError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            Ok(self.actions.get(&(pipeline.to_owned(), action.to_owned())).cloned())
        })
    }
}

/// A configuration document in memory, changed with `set`.
pub struct FakeDocument(Mutex<String>);

impl FakeDocument {
    pub fn new(text: &str) -> Self {
        Self(Mutex::new(text.to_owned()))
    }

    pub fn set(&self, text: &str) {
        *self.0.lock().unwrap() = text.to_owned();
    }
}

impl DocumentSource for FakeDocument {
    fn read(&self) -> BoxFuture<'_, Result<String, AwsError>> {
        let text = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(text) })
    }
}

/// What commands do to executions, in memory: the stages `state` answers, and every call.
#[derive(Default)]
pub struct FakeControl {
    pub stages: Vec<StageState>,
    /// `RetryStageExecution` refused with this reason.
    pub refuse_retry: Option<String>,
    /// `retry Stage execution`, `stop execution reason`, in order.
    pub calls: Mutex<Vec<String>>,
    /// What `stop` answers, per execution id (default: stopping).
    pub stop_answers: Mutex<HashMap<String, Result<StopAnswer, AwsError>>>,
    pub answers: Mutex<Vec<ApprovalAnswer>>,
}

impl PipelineControl for FakeControl {
    fn state<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<StageState>, AwsError>> {
        Box::pin(async move { Ok(self.stages.clone()) })
    }

    fn retry_stage<'a>(&'a self, _: &'a str, stage: &'a str, id: &'a str) -> BoxFuture<'a, Result<Retried, AwsError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(format!("retry {stage} {id}"));
            Ok(match &self.refuse_retry {
                Some(why) => Retried::NotRetryable(why.clone()),
                None => Retried::Retrying(id.to_owned()),
            })
        })
    }

    fn stop<'a>(&'a self, stop: &'a StopRequest) -> BoxFuture<'a, Result<StopAnswer, AwsError>> {
        Box::pin(async move {
            let abandon = if stop.abandon { " abandon" } else { "" };
            self.calls.lock().unwrap().push(format!("stop {} {}{abandon}", stop.execution_id, stop.reason));
            self.stop_answers.lock().unwrap().get(&stop.execution_id).cloned().unwrap_or(Ok(StopAnswer::Stopping))
        })
    }

    fn answer_approval<'a>(&'a self, approval: &'a ApprovalAnswer) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.answers.lock().unwrap().push(approval.clone());
            Ok(())
        })
    }
}

/// Execution records in memory; `fail_put` makes every write fail.
#[derive(Default)]
pub struct FakeRecords {
    pub records: Mutex<HashMap<String, ExecutionRecord>>,
    pub fail_put: Option<AwsError>,
    /// (execution id, context) -> what is held, and the owner of its lease.
    pub statuses: Mutex<HashMap<(String, String), (HeldStatus, String)>>,
}

impl ExecutionRecords for FakeRecords {
    fn put<'a>(&'a self, record: &'a ExecutionRecord, _now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            if let Some(e) = &self.fail_put {
                return Err(e.clone());
            }
            self.records.lock().unwrap().insert(record.execution_id.clone(), record.clone());
            Ok(())
        })
    }

    fn get<'a>(&'a self, execution_id: &'a str, _now: i64) -> BoxFuture<'a, Result<Option<ExecutionRecord>, AwsError>> {
        Box::pin(async move { Ok(self.records.lock().unwrap().get(execution_id).cloned()) })
    }

    fn by_commit<'a>(
        &'a self,
        commit_key: &'a str,
        _now: i64,
    ) -> BoxFuture<'a, Result<Vec<ExecutionRecord>, AwsError>> {
        Box::pin(async move {
            Ok(self.records.lock().unwrap().values().filter(|r| r.commit_key() == commit_key).cloned().collect())
        })
    }

    fn claim_status<'a>(&'a self, claim: &'a StatusClaim, now: i64) -> BoxFuture<'a, Result<ClaimAnswer, AwsError>> {
        Box::pin(async move {
            let mut statuses = self.statuses.lock().unwrap();
            let key = (claim.execution_id.clone(), claim.context.clone());
            let held = statuses.get(&key).map(|(h, _)| *h);
            if !HeldStatus::admits(held.as_ref(), claim) {
                return Ok(ClaimAnswer::Stale);
            }
            if let Some(h) = held.filter(|h| h.lease_until > now) {
                return Ok(ClaimAnswer::Busy { lease_until: h.lease_until });
            }
            statuses.insert(key, (HeldStatus::of(claim, now), claim.owner.clone()));
            Ok(ClaimAnswer::Granted)
        })
    }

    fn note_stop<'a>(&'a self, execution_id: &'a str, reason: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            if let Some(record) = self.records.lock().unwrap().get_mut(execution_id) {
                record.stop_reason = Some(reason.to_owned());
            }
            Ok(())
        })
    }

    fn release_status<'a>(&'a self, claim: &'a StatusClaim) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let mut statuses = self.statuses.lock().unwrap();
            if let Some((held, owner)) = statuses.get_mut(&(claim.execution_id.clone(), claim.context.clone())) {
                if *owner == claim.owner {
                    held.lease_until = 0;
                }
            }
            Ok(())
        })
    }
}

/// Concurrency groups in memory, as the table holds them; `fail` makes every call fail.
#[derive(Default)]
pub struct FakeGroups {
    /// Group key (trigger, kind:name) -> members and version.
    pub groups: Mutex<HashMap<(String, String), GroupMembers>>,
    pub fail: Option<AwsError>,
}

impl FakeGroups {
    fn checked(&self) -> Result<(), AwsError> {
        self.fail.clone().map_or(Ok(()), Err)
    }

    /// The execution ids the group rendered `name` holds (of whichever kind of change).
    pub fn ids(&self, trigger: &str, name: &str) -> Vec<String> {
        let groups = self.groups.lock().unwrap();
        let held =
            groups.iter().find(|((t, key), _)| t == trigger && key.split_once(':').is_some_and(|(_, n)| n == name));
        let held = held.map(|(_, g)| g);
        held.map(|g| g.members.iter().map(|m| m.execution_id.clone()).collect()).unwrap_or_default()
    }
}

impl ConcurrencyGroups for FakeGroups {
    fn join<'a>(
        &'a self,
        group: &'a GroupPlan,
        member: &'a GroupMember,
        replace: bool,
        _now: i64,
    ) -> BoxFuture<'a, Result<Vec<GroupMember>, AwsError>> {
        Box::pin(async move {
            self.checked()?;
            let mut groups = self.groups.lock().unwrap();
            let held = groups.entry((group.trigger.clone(), group.key_name())).or_default();
            if held.members.last().is_some_and(|m| m.execution_id == member.execution_id) {
                return Ok(Vec::new());
            }
            let earlier = held.members.clone();
            if replace {
                held.members = vec![member.clone()];
            } else {
                held.members.push(member.clone());
                let over = held.members.len().saturating_sub(MAX_GROUP_MEMBERS);
                held.members.drain(..over);
            }
            held.version += 1;
            Ok(earlier)
        })
    }

    fn keep<'a>(
        &'a self,
        group: &'a GroupPlan,
        members: &'a [GroupMember],
        _now: i64,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.checked()?;
            let mut groups = self.groups.lock().unwrap();
            let held = groups.entry((group.trigger.clone(), group.key_name())).or_default();
            held.members.extend_from_slice(members);
            held.version += 1;
            Ok(())
        })
    }

    fn members<'a>(&'a self, group: &'a GroupPlan, _now: i64) -> BoxFuture<'a, Result<GroupMembers, AwsError>> {
        Box::pin(async move {
            self.checked()?;
            Ok(self.groups.lock().unwrap().get(&(group.trigger.clone(), group.key_name())).cloned().unwrap_or_default())
        })
    }

    fn forget<'a>(&'a self, group: &'a GroupPlan, version: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            self.checked()?;
            let mut groups = self.groups.lock().unwrap();
            let key = (group.trigger.clone(), group.key_name());
            if groups.get(&key).is_some_and(|g| g.version == version) {
                groups.remove(&key);
            }
            Ok(())
        })
    }
}

/// A Git server in memory: records every request and answers from `answers` in order (then 201).
#[derive(Default)]
pub struct FakeHttp {
    pub requests: Mutex<Vec<OutboundRequest>>,
    /// Status codes to answer, first first; `0` means no answer (a network failure).
    pub answers: Mutex<Vec<u16>>,
    /// Bodies by URL suffix (GitHub App token answers).
    pub bodies: HashMap<String, String>,
    /// How long each answer takes.
    pub delay: std::time::Duration,
    /// `Link: rel="next"` URLs by URL suffix (paged lists).
    pub links: HashMap<String, String>,
    /// Bodies by URL suffix added while in use (the comments a test's server holds).
    pub held: Mutex<HashMap<String, String>>,
}

impl FakeHttp {
    pub fn answering(codes: &[u16]) -> Self {
        Self { answers: Mutex::new(codes.to_vec()), ..Self::default() }
    }
}

impl HttpClient for FakeHttp {
    fn send<'a>(&'a self, request: &'a OutboundRequest) -> BoxFuture<'a, Result<OutboundResponse, String>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push(request.clone());
            tokio::time::sleep(self.delay).await;
            let code = {
                let mut answers = self.answers.lock().unwrap();
                if answers.is_empty() {
                    201
                } else {
                    answers.remove(0)
                }
            };
            if code == 0 {
                return Err("connection reset".into());
            }
            let held = self.held.lock().unwrap().clone();
            let body = self
                .bodies
                .iter()
                .chain(held.iter())
                .find(|(suffix, _)| request.url.ends_with(suffix.as_str()))
                .map(|(_, b)| b.clone().into_bytes())
                .unwrap_or_default();
            let next = self
                .links
                .iter()
                .find(|(suffix, _)| request.url.ends_with(suffix.as_str()))
                .map(|(_, next)| NextPage::Url(next.clone()));
            let exceeded = body.len() > request.limit;
            let body = if exceeded { Vec::new() } else { body };
            Ok(OutboundResponse { status: code, retry_after: None, next, body, exceeded })
        })
    }
}

/// The redelivery sweeper's records in memory.
#[derive(Default)]
pub struct FakeLedger {
    pub cursors: Mutex<HashMap<String, u64>>,
    pub walks: Mutex<HashMap<String, String>>,
    pub processed: Mutex<Vec<String>>,
    pub attempts: Mutex<HashMap<String, u32>>,
    pub given_up: Mutex<Vec<String>>,
}

impl RedeliveryLedger for FakeLedger {
    fn cursor<'a>(&'a self, hook: &'a str, _now: i64) -> BoxFuture<'a, Result<Option<u64>, AwsError>> {
        Box::pin(async move { Ok(self.cursors.lock().unwrap().get(hook).copied()) })
    }
    fn set_cursor<'a>(&'a self, hook: &'a str, id: u64, _now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let mut cursors = self.cursors.lock().unwrap();
            let at = cursors.entry(hook.to_owned()).or_default();
            *at = (*at).max(id);
            Ok(())
        })
    }
    fn processed<'a>(&'a self, key: &'a str, _now: i64) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(async move { Ok(self.processed.lock().unwrap().iter().any(|k| k == key)) })
    }
    fn count_attempt<'a>(&'a self, key: &'a str, max: u32, _now: i64) -> BoxFuture<'a, Result<Option<u32>, AwsError>> {
        Box::pin(async move {
            let mut attempts = self.attempts.lock().unwrap();
            let count = attempts.entry(key.to_owned()).or_default();
            if *count >= max {
                return Ok(None);
            }
            *count += 1;
            Ok(Some(*count))
        })
    }
    fn uncount_attempt<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            if let Some(count) = self.attempts.lock().unwrap().get_mut(key) {
                *count = count.saturating_sub(1);
            }
            Ok(())
        })
    }
    fn give_up<'a>(&'a self, key: &'a str, _now: i64) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(async move {
            let mut given_up = self.given_up.lock().unwrap();
            if given_up.iter().any(|k| k == key) {
                return Ok(false);
            }
            given_up.push(key.to_owned());
            Ok(true)
        })
    }
    fn walk<'a>(&'a self, hook: &'a str, _now: i64) -> BoxFuture<'a, Result<Option<String>, AwsError>> {
        Box::pin(async move { Ok(self.walks.lock().unwrap().get(hook).cloned()) })
    }
    fn set_walk<'a>(&'a self, hook: &'a str, walk: Option<&'a str>, _now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            let mut walks = self.walks.lock().unwrap();
            match walk {
                Some(w) => walks.insert(hook.to_owned(), w.to_owned()),
                None => walks.remove(hook),
            };
            Ok(())
        })
    }
}
