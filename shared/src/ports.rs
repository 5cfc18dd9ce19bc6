//! Ports: the narrow capabilities the use cases need, in their own small vocabulary (every type
//! a port speaks is defined here). Implemented by the AWS adapters in `aws/` and by the
//! in-memory fakes in `ports/fakes.rs`. A leaf: it imports nothing else from Herald.

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

/// A boxed future, so ports stay object-safe and can be shared as `Arc<dyn Port>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An AWS call that failed, classified once, in the adapter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// Throttling, conflicts, 5xx, timeouts: worth retrying.
    #[error("{0}")]
    Transient(String),
    /// The request itself is wrong (missing pipeline, validation): retrying cannot help.
    #[error("{0}")]
    Permanent(String),
}

impl AwsError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// How a start pins the pipeline's source action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RevisionType {
    CommitId,
    S3ObjectVersionId,
    S3ObjectKey,
}

impl RevisionType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CommitId => "COMMIT_ID",
            Self::S3ObjectVersionId => "S3_OBJECT_VERSION_ID",
            Self::S3ObjectKey => "S3_OBJECT_KEY",
        }
    }
}

/// `sourceRevisions` entry of a start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRevision {
    pub action_name: String,
    pub revision_type: RevisionType,
    pub revision_value: String,
}

/// Everything `StartPipelineExecution` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartPlan {
    pub pipeline: String,
    /// Deterministic `clientRequestToken`: a redelivery cannot start a second execution.
    pub client_request_token: String,
    /// `sourceRevisions`: none, a commit, an object version, or an object key and its version.
    pub source_revisions: Vec<SourceRevision>,
    pub variables: Vec<(String, String)>,
    /// What the decision noticed but did not skip for (incomplete file list, empty variables).
    pub notes: Vec<String>,
    /// The change itself (trigger, repository, ref, commit, pull request): with the dedup
    /// table, the same change under another delivery id starts once, for [`CHANGE_CLAIM_SECS`]
    /// (docs/security.md "One change, one start"). `None`: it starts regardless (commands, S3 writes).
    pub change_token: Option<String>,
    /// The concurrency group the start joins (docs/configuration.md "One build per pull request").
    pub group: Option<GroupPlan>,
}

/// A trigger's concurrency group as rendered for one change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPlan {
    pub trigger: String,
    /// The rendered `group` template (`acme/app#42`).
    pub name: String,
    /// The commit the start builds: a stop's reason names it.
    pub commit: String,
    /// Stop the group's earlier executions once a new one has started.
    pub cancel_in_progress: bool,
    /// Stop by abandoning in-progress actions instead of letting them finish.
    pub abandon: bool,
    /// The kind of change that renders it: kinds never share a group, whatever the template (a
    /// fork's pull request from a branch named `main` is not main's push).
    pub kind: ChangeKind,
    /// The pull request a start of it builds: a close stops only its own executions.
    pub pull_request: Option<u64>,
}

/// The kinds of change a concurrency group is kept per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    PullRequest,
    Push,
    Tag,
    MergeGroup,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PullRequest => "pull_request",
            Self::Push => "push",
            Self::Tag => "tag",
            Self::MergeGroup => "merge_group",
        }
    }
}

impl GroupPlan {
    /// What the group is kept under: its kind of change and its rendered name.
    pub fn key_name(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.name)
    }
}

/// An execution recorded in a concurrency group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct GroupMember {
    pub execution_id: String,
    pub pipeline: String,
    pub commit: String,
    /// When Herald started it (Unix seconds).
    pub started_at: i64,
    /// The pull request it builds (none for other kinds, and for members recorded before 0.3.0).
    #[serde(default)]
    pub pull_request: Option<u64>,
}

/// The executions of a group, as the table holds them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupMembers {
    pub members: Vec<GroupMember>,
    /// Counts the group's writes: a removal of what was read is conditional on it.
    pub version: i64,
}

/// How many executions a group without `cancel_in_progress` remembers (oldest forgotten first):
/// a pull request closed stops at most these.
pub const MAX_GROUP_MEMBERS: usize = 20;

/// The executions Herald started per concurrency group (`HERALD_DEDUP_TABLE`, 30 days).
pub trait ConcurrencyGroups: Send + Sync {
    /// Records `member` as the group's newest, with one conditional write, and answers the members
    /// recorded before it. `replace`: the group keeps only `member` (the caller stops the others);
    /// otherwise it is added to them. A member already recorded answers nothing (a retry).
    fn join<'a>(
        &'a self,
        group: &'a GroupPlan,
        member: &'a GroupMember,
        replace: bool,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<GroupMember>, AwsError>>;
    /// Adds `members` back (their stop failed: the next start or close stops them).
    fn keep<'a>(
        &'a self,
        group: &'a GroupPlan,
        members: &'a [GroupMember],
        now: i64,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
    /// The group's members.
    fn members<'a>(&'a self, group: &'a GroupPlan, now: i64) -> BoxFuture<'a, Result<GroupMembers, AwsError>>;
    /// Forgets the group, unless it was written since `version` was read.
    fn forget<'a>(&'a self, group: &'a GroupPlan, version: i64) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// How long a change's start is remembered against other deliveries of it: an organization
/// and a repository hook deliver one push seconds apart; a change pushed again later is new.
pub const CHANGE_CLAIM_SECS: i64 = 600;

impl StartPlan {
    /// The variables as a JSON object, for answers and decision events.
    pub fn variables_json(&self) -> serde_json::Value {
        self.variables.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect()
    }
}

/// A pipeline's source action as `GetPipeline` describes it: what pinning a start to an S3
/// object needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAction {
    /// The action type's provider: `S3`, `CodeStarSourceConnection`, `CodeCommit`, ...
    pub provider: String,
    /// `S3Bucket` of an S3 source.
    pub bucket: Option<String>,
    /// `S3ObjectKey` of an S3 source.
    pub key: Option<String>,
    /// `AllowOverrideForS3ObjectKey: true`: a start may name another key of the bucket.
    pub allow_key_override: bool,
}

impl SourceAction {
    /// What pinning needs of an action: the one place its S3 settings are read.
    pub fn from_action(action: &ActionDefinition) -> Self {
        let setting = |name: &str| action.configuration.get(name).cloned();
        Self {
            provider: action.provider.clone(),
            bucket: setting("S3Bucket"),
            key: setting("S3ObjectKey"),
            allow_key_override: setting("AllowOverrideForS3ObjectKey").is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    /// The action `action` of a pipeline definition as `aws codepipeline get-pipeline` prints it
    /// (`{"pipeline": {"stages": [{"actions": [...]}]}}`, or the bare `pipeline` object).
    pub fn from_definition(doc: &serde_json::Value, action: &str) -> Option<Self> {
        let pipeline = doc.get("pipeline").unwrap_or(doc);
        let found = pipeline["stages"]
            .as_array()?
            .iter()
            .filter_map(|stage| stage["actions"].as_array())
            .flatten()
            .find(|a| a["name"] == action)?;
        let configuration = found["configuration"]
            .as_object()
            .map(|c| c.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
            .unwrap_or_default();
        Some(Self::from_action(&ActionDefinition {
            name: action.to_owned(),
            provider: found["actionTypeId"]["provider"].as_str().unwrap_or_default().to_owned(),
            configuration,
            ..ActionDefinition::default()
        }))
    }
}

/// A pipeline as `GetPipeline` defines it: what `herald doctor` checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineDefinition {
    pub name: String,
    /// `V1` or `V2`.
    pub pipeline_type: String,
    /// Declared pipeline variables.
    pub variables: Vec<String>,
    /// How many V2 triggers the pipeline has of its own.
    pub triggers: usize,
    pub actions: Vec<ActionDefinition>,
    /// `SUPERSEDED` (CodePipeline's default), `QUEUED` or `PARALLEL`.
    pub execution_mode: String,
}

/// One action of a pipeline definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionDefinition {
    pub stage: String,
    pub name: String,
    /// `Source`, `Build`, `Deploy`, `Approval`, ...
    pub category: String,
    /// `S3`, `CodeStarSourceConnection`, `CodeCommit`, ...
    pub provider: String,
    pub configuration: std::collections::BTreeMap<String, String>,
}

/// Reads pipeline definitions (`GetPipeline`).
pub trait PipelineDefinitions: Send + Sync {
    /// The action named `action` of `pipeline`; `None` when the pipeline has none of that name.
    fn source_action<'a>(
        &'a self,
        pipeline: &'a str,
        action: &'a str,
    ) -> BoxFuture<'a, Result<Option<SourceAction>, AwsError>>;
}

/// Starts pipeline executions (`StartPipelineExecution`).
pub trait PipelineStarter: Send + Sync {
    /// Starts `plan`; answers the execution id.
    fn start<'a>(&'a self, plan: &'a StartPlan) -> BoxFuture<'a, Result<String, AwsError>>;
}

/// The state of an idempotency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller owns the token now and must complete or release it.
    Claimed,
    /// A previous delivery completed it with this execution id.
    Completed(String),
    /// Another invocation is working on it right now; its lease ends at `lease_until` (Unix
    /// seconds), when a retry may take the claim over.
    InProgress { lease_until: i64 },
}

/// Exactly-once records (`HERALD_DEDUP_TABLE`).
pub trait DedupStore: Send + Sync {
    /// Claims `key` (in progress until `now + lease`), or reports who has it.
    fn claim<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<Claim, AwsError>>;
    /// Marks `key` complete with `value` (an execution id or a message id).
    fn complete<'a>(&'a self, key: &'a str, value: &'a str, now: i64) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Marks `key` complete with `value`, kept only `keep_secs` (a change's claim).
    fn complete_for<'a>(
        &'a self,
        key: &'a str,
        value: &'a str,
        now: i64,
        keep_secs: i64,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Gives `key` up after a failure, so a retry can claim it.
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Claims every one of `keys` with one write, all or none (at most [`MAX_CLAIMS_AT_ONCE`]):
    /// `Ok(true)` when all are the caller's now, `Ok(false)` when some key is taken and none was
    /// claimed (claim them one by one to learn who has which). A store without such a write
    /// answers `false`. `owner` names this attempt: a retry of the write that finds the keys
    /// held by the same owner (an earlier try that landed, its answer lost) takes them.
    fn claim_all<'a>(&'a self, keys: &'a [String], owner: &'a str, now: i64) -> BoxFuture<'a, Result<bool, AwsError>> {
        let _ = (keys, owner, now);
        Box::pin(async { Ok(false) })
    }
    /// Completes or releases claims, in as few writes as the store allows.
    fn settle_all<'a>(&'a self, settles: &'a [Settle], now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            for settle in settles {
                match settle {
                    Settle::Complete { key, value, keep_secs } => {
                        self.complete_for(key, value, now, *keep_secs).await?
                    }
                    Settle::Release { key } => self.release(key).await?,
                }
            }
            Ok(())
        })
    }
}

/// How long a completed claim is kept (redeliveries older than this start again).
pub const RECORD_KEPT_SECS: i64 = 7 * 24 * 3600;

/// The most keys one [`DedupStore::claim_all`] takes: DynamoDB's `TransactWriteItems` limit.
pub const MAX_CLAIMS_AT_ONCE: usize = 100;

/// How a claim ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// Done: `value` (an execution id) kept `keep_secs`.
    Complete { key: String, value: String, keep_secs: i64 },
    /// Failed: given back for a retry.
    Release { key: String },
}

/// One event for the decision bus.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    pub detail_type: &'static str,
    pub detail: serde_json::Value,
}

/// Publishes decision events (`HERALD_EVENT_BUS`).
pub trait EventPublisher: Send + Sync {
    fn publish<'a>(&'a self, events: &'a [BusEvent]) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// Reads the configuration document (an SSM parameter), for refreshes.
pub trait DocumentSource: Send + Sync {
    fn read(&self) -> BoxFuture<'_, Result<String, AwsError>>;
}

/// Reads the webhook secret string (`None` when there is none).
pub trait SecretSource: Send + Sync {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, AwsError>>;
}

/// `GetPipelineExecution`, reduced to what alerts use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionDetails {
    pub revisions: Vec<ArtifactRevision>,
    pub trigger: Option<ExecutionTrigger>,
    /// The execution's `statusSummary` (e.g. why it stopped).
    pub status_summary: Option<String>,
    /// `InProgress`, `Failed`, `Succeeded`, `Stopped`, `Stopping`, `Superseded`, `Cancelled`.
    pub status: Option<String>,
}

/// One source revision of an execution.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactRevision {
    pub revision_id: Option<String>,
    /// `revisionSummary`: plain text, or JSON with a `CommitMessage`.
    pub summary: Option<String>,
    pub url: Option<String>,
}

/// One action run (`ListActionExecutions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionRun {
    pub stage: String,
    pub action: String,
    /// `InProgress`, `Succeeded`, `Failed`, `Abandoned`.
    pub status: String,
    pub error_message: Option<String>,
    pub external_summary: Option<String>,
    pub external_url: Option<String>,
    /// Seconds since the epoch.
    pub last_update: Option<i64>,
}

/// One execution of the pipeline (`ListPipelineExecutions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionSummary {
    pub execution_id: String,
    /// `InProgress`, `Succeeded`, `Failed`, `Stopped`, `Superseded`, ...
    pub status: String,
    /// Seconds since the epoch.
    pub start: Option<i64>,
    pub last_update: Option<i64>,
}

/// How an execution was started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExecutionTrigger {
    #[serde(rename = "type")]
    pub trigger_type: String,
    pub detail: Option<String>,
}

/// What CodePipeline knows about executions, for enrichment (docs/alerts.md "Alerts").
pub trait PipelineHistory: Send + Sync {
    /// `GetPipelineExecution`.
    fn execution<'a>(
        &'a self,
        pipeline: &'a str,
        execution_id: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionDetails, AwsError>>;
    /// `ListActionExecutions` of one execution.
    fn action_runs<'a>(
        &'a self,
        pipeline: &'a str,
        execution_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ActionRun>, AwsError>>;
    /// `ListPipelineExecutions`: the `depth` most recent, newest first.
    fn recent_executions<'a>(
        &'a self,
        pipeline: &'a str,
        depth: i32,
    ) -> BoxFuture<'a, Result<Vec<ExecutionSummary>, AwsError>>;
}

/// A stage as `GetPipelineState` reports it: its latest execution and the approvals waiting in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageState {
    pub stage: String,
    /// The execution the stage ran last (or runs now).
    pub execution_id: Option<String>,
    /// `InProgress`, `Failed`, `Succeeded`, `Stopped`, `Stopping`, `Cancelled`.
    pub status: Option<String>,
    /// Manual approvals waiting for an answer: (action, the token `PutApprovalResult` needs).
    pub approvals: Vec<(String, String)>,
}

/// What `RetryStageExecution` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retried {
    /// The new attempt runs in the same execution.
    Retrying(String),
    /// CodePipeline will not retry it (`NotLatestPipelineExecutionException`,
    /// `StageNotRetryableException`): a new start is the way; the reason in its words.
    NotRetryable(String),
}

/// What commands from pull requests do to executions (docs/commands.md "Commands from the pull request"):
/// `GetPipelineState`, `RetryStageExecution`, `StopPipelineExecution`, `PutApprovalResult`.
pub trait PipelineControl: Send + Sync {
    /// Every stage's latest execution and waiting approvals.
    fn state<'a>(&'a self, pipeline: &'a str) -> BoxFuture<'a, Result<Vec<StageState>, AwsError>>;
    /// Retries the failed actions of `stage` in `execution_id` (`FAILED_ACTIONS`).
    fn retry_stage<'a>(
        &'a self,
        pipeline: &'a str,
        stage: &'a str,
        execution_id: &'a str,
    ) -> BoxFuture<'a, Result<Retried, AwsError>>;
    /// Stops `execution_id`: letting in-progress actions finish, or abandoning them.
    fn stop<'a>(&'a self, stop: &'a StopRequest) -> BoxFuture<'a, Result<StopAnswer, AwsError>>;
    /// Answers the approval `action` of `stage` waiting with `token`.
    fn answer_approval<'a>(&'a self, approval: &'a ApprovalAnswer) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// A `StopPipelineExecution`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    pub pipeline: String,
    pub execution_id: String,
    /// CodePipeline keeps at most 200 characters.
    pub reason: String,
    /// Abandon in-progress actions (CodePipeline: "can lead to failed or out-of-sequence tasks").
    pub abandon: bool,
}

/// What a stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAnswer {
    /// The execution is stopping now.
    Stopping,
    /// It was stopping already (`DuplicatedStopRequestException`).
    AlreadyStopping,
    /// It had already ended (`PipelineExecutionNotStoppableException`).
    AlreadyEnded,
}

/// An answer to a waiting manual approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalAnswer {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    pub token: String,
    pub approved: bool,
    /// Names the person, repository and pull request (CodePipeline keeps at most 512 characters).
    pub summary: String,
}

/// One SNS message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    pub topic_arn: String,
    pub subject: String,
    /// The `MessageStructure: json` document: one text per protocol.
    pub message: String,
    /// String message attributes, for subscription filter policies.
    pub attributes: Vec<(&'static str, String)>,
}

/// Publishes alerts (`sns:Publish`).
pub trait AlertPublisher: Send + Sync {
    /// Sends `message`; answers the SNS message id.
    fn publish<'a>(&'a self, message: &'a SnsMessage) -> BoxFuture<'a, Result<String, AwsError>>;
}

/// A commit status's state, in Herald's words; each server's own words are in
/// `git_api::statuses`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusState {
    Pending,
    Success,
    Failure,
    /// Stopped, superseded or canceled: it did not fail, it did not finish.
    Error,
    /// Passed without running: `paths` or a `[skip ci]` marker left the change out, and the
    /// context must not wait for it (docs/statuses.md "Make Herald's checks required").
    Skipped,
}

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Error => "error",
            Self::Skipped => "skipped",
        }
    }

    /// An end: nothing of the same attempt comes after it (docs/statuses.md "Final and monotonic").
    pub fn is_final(self) -> bool {
        self != Self::Pending
    }
}

/// One commit status, before a server's API words it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommitStatus {
    pub context: String,
    pub state: StatusState,
    pub description: String,
    /// The execution's console page.
    pub target_url: String,
}

/// Where the statuses of an execution Herald started go: written by `git-webhook` after the
/// start, read by `pipeline-notifier` (docs/statuses.md "Commit statuses").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ExecutionRecord {
    pub execution_id: String,
    pub pipeline: String,
    pub trigger: String,
    /// The Git server's provider name (`github`, `gitlab`, ...).
    pub provider: String,
    /// The server's host (`host[:port]`) the delivery named: which credential applies. Records
    /// of an older Herald have none, and get no status.
    #[serde(default)]
    pub host: String,
    /// Azure DevOps: the organization the delivery named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The repository the trigger matched (`owner/name`): the request is built from it.
    #[serde(default)]
    pub repository: String,
    /// The named webhook secret that verified the delivery (`None`: the unnamed ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub commit: String,
    pub context: String,
    /// One more status per stage (`<context>/<stage>`).
    pub stages: bool,
    /// When Herald started it (Unix seconds): which of a commit's executions is the latest.
    /// Records of an older Herald have none (0).
    #[serde(default)]
    pub started_at: i64,
    /// Why Herald stopped it (`superseded by abc1234`), when it did: its final status says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
}

impl ExecutionRecord {
    /// Whether the execution reports commit statuses: records are kept for every Git start, so
    /// commands find them, and only those of a trigger with `status` name a context.
    pub fn reports_status(&self) -> bool {
        !self.context.is_empty()
    }

    /// What finds the executions of one commit of one repository on one server: provider, host,
    /// repository (lower case, as repositories match) and commit.
    pub fn commit_key(&self) -> String {
        commit_key(&self.provider, &self.host, &self.repository, &self.commit)
    }
}

/// [`ExecutionRecord::commit_key`] of a commit not yet recorded.
pub fn commit_key(provider: &str, host: &str, repository: &str, commit: &str) -> String {
    format!("{provider}#{host}#{}#{commit}", repository.to_lowercase())
}

/// The execution records (`HERALD_DEDUP_TABLE`, 30 days).
pub trait ExecutionRecords: Send + Sync {
    fn put<'a>(&'a self, record: &'a ExecutionRecord, now: i64) -> BoxFuture<'a, Result<(), AwsError>>;
    /// The record of `execution_id`; `None` for an execution Herald did not start with a status.
    fn get<'a>(&'a self, execution_id: &'a str, now: i64) -> BoxFuture<'a, Result<Option<ExecutionRecord>, AwsError>>;
    /// The records of the executions Herald started for one commit ([`ExecutionRecord::commit_key`]),
    /// in no set order: what a command from a pull request acts on.
    fn by_commit<'a>(&'a self, commit_key: &'a str, now: i64) -> BoxFuture<'a, Result<Vec<ExecutionRecord>, AwsError>>;
    /// Takes the right to post `claim`'s status, with one conditional write: granted only when
    /// [`HeldStatus::admits`] it and no other post of the context is under way.
    fn claim_status<'a>(&'a self, claim: &'a StatusClaim, now: i64) -> BoxFuture<'a, Result<ClaimAnswer, AwsError>>;
    /// Ends a granted claim's post (its state stays held).
    fn release_status<'a>(&'a self, claim: &'a StatusClaim) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Notes on a recorded execution why Herald stopped it; nothing when it has no record.
    fn note_stop<'a>(&'a self, execution_id: &'a str, reason: &'a str) -> BoxFuture<'a, Result<(), AwsError>>;
}

/// A status about to be posted for one context of one execution (docs/statuses.md "Final and monotonic").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusClaim {
    pub execution_id: String,
    /// `herald/app`, or a stage's `herald/app/Build`.
    pub context: String,
    /// `pipeline-execution-attempt`: 1, and one more per `RetryStageExecution`.
    pub attempt: u32,
    pub state: StatusState,
    /// Tells this claim's lease from another's, so a release ends only its own.
    pub owner: String,
}

/// What the table holds for one context of one execution: the last state claimed, and until
/// when a post of it may still be under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldStatus {
    pub attempt: u32,
    pub is_final: bool,
    /// Seconds since the epoch; 0 once the post ended.
    pub lease_until: i64,
}

/// How long a claim's post may take before another may post the context: longer than a status
/// post with its retries, short enough that an instance that died holding it delays little.
pub const STATUS_LEASE_SECS: i64 = 30;

impl HeldStatus {
    /// Whether `claim` moves the context forward: a later attempt, or the same attempt before its
    /// end, or the same end again (a retry of a post that failed). Never backwards.
    pub fn admits(held: Option<&HeldStatus>, claim: &StatusClaim) -> bool {
        match held {
            None => true,
            Some(h) if claim.attempt != h.attempt => claim.attempt > h.attempt,
            Some(h) => !h.is_final || claim.state.is_final(),
        }
    }

    /// The claim as it is held once granted.
    pub fn of(claim: &StatusClaim, now: i64) -> Self {
        Self { attempt: claim.attempt, is_final: claim.state.is_final(), lease_until: now + STATUS_LEASE_SECS }
    }
}

/// The answer to a [`StatusClaim`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimAnswer {
    /// Post it, then release.
    Granted,
    /// It would move the context backwards: post nothing.
    Stale,
    /// Another post of the context is under way until then (seconds since the epoch).
    Busy { lease_until: i64 },
}

/// An HTTPS request to a Git server's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: &'static str,
    pub url: String,
    /// Includes the credential's header: never log these.
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// The most of the answer's body read (by purpose: `git_api::STATUS_ANSWER_LIMIT`,
    /// `git_api::changed_files::PAGE_ANSWER_LIMIT`).
    pub limit: usize,
}

/// A Git server's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    /// `Retry-After` in seconds, when the server sent one.
    pub retry_after: Option<u64>,
    /// The next page of a list: `Link: <url>; rel="next"` (GitHub, Gitea, GitLab), else GitLab's
    /// `X-Next-Page` number; `None` on the last page.
    pub next: Option<NextPage>,
    pub body: Vec<u8>,
    /// The body was longer than the request's `limit`: `body` is empty, never a cut document.
    pub exceeded: bool,
}

/// Where a paged list goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextPage {
    Url(String),
    Number(u64),
}

/// Sends HTTPS requests to Git servers (`git_api::https` on hyper and the SDK's rustls).
pub trait HttpClient: Send + Sync {
    /// The answer, whatever its status; `Err` only when no answer came (network, timeout).
    fn send<'a>(&'a self, request: &'a OutboundRequest) -> BoxFuture<'a, Result<OutboundResponse, String>>;
}

/// How long `git-webhook` remembers a delivery it answered 200 (docs/operations.md "Missed
/// deliveries"): GitHub redelivers only deliveries of the last 3 days.
pub const PROCESSED_KEPT_SECS: i64 = 3 * 24 * 3600;

/// The dedup-table key of a delivery `git-webhook` answered 200: `delivery#<provider>:<id>`.
pub fn processed_key(provider: &str, delivery: &str) -> String {
    format!("delivery#{provider}:{delivery}")
}

/// What the redelivery sweeper keeps in `HERALD_DEDUP_TABLE`: each hook's cursor, each guid's
/// redeliveries, and what `git-webhook` recorded as processed.
pub trait RedeliveryLedger: Send + Sync {
    /// The newest delivery id of `hook` an earlier sweep fully handled.
    fn cursor<'a>(&'a self, hook: &'a str, now: i64) -> BoxFuture<'a, Result<Option<u64>, AwsError>>;
    /// Moves `hook`'s cursor to `id` (never back: a lower id is ignored).
    fn set_cursor<'a>(&'a self, hook: &'a str, id: u64, now: i64) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Whether `git-webhook` recorded the delivery `key` ([`processed_key`]) as answered 200.
    fn processed<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<bool, AwsError>>;
    /// Counts one more redelivery of `key` unless it has had `max`: the count now, or `None`
    /// when it had `max` already (one conditional write).
    fn count_attempt<'a>(&'a self, key: &'a str, max: u32, now: i64) -> BoxFuture<'a, Result<Option<u32>, AwsError>>;
    /// Takes back a counted redelivery that the server refused.
    fn uncount_attempt<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Marks `key` as given up: `true` the first time only, so it is reported once.
    fn give_up<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<bool, AwsError>>;
    /// Where `hook`'s walk through a backlog goes on, if one is under way (a JSON document the
    /// sweeper writes, [`RedeliveryLedger::set_walk`]).
    fn walk<'a>(&'a self, hook: &'a str, now: i64) -> BoxFuture<'a, Result<Option<String>, AwsError>>;
    /// Records (`Some`) or ends (`None`) `hook`'s walk.
    fn set_walk<'a>(&'a self, hook: &'a str, walk: Option<&'a str>, now: i64) -> BoxFuture<'a, Result<(), AwsError>>;
}

#[cfg(test)]
pub(crate) mod fakes;
