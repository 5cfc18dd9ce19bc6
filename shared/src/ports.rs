//! Ports: the narrow capabilities the use cases need, implemented by the AWS adapters in
//! [`crate::aws`] and by in-memory fakes in tests.

use crate::alert::enrich::{ActionRun, ExecutionDetails, ExecutionSummary};
use crate::trigger::StartPlan;
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
    /// Another invocation is working on it right now.
    InProgress,
}

/// Exactly-once records (`HERALD_DEDUP_TABLE`).
pub trait DedupStore: Send + Sync {
    /// Claims `key` (in progress until `now + lease`), or reports who has it.
    fn claim<'a>(&'a self, key: &'a str, now: i64) -> BoxFuture<'a, Result<Claim, AwsError>>;
    /// Marks `key` complete with `value` (an execution id or a message id).
    fn complete<'a>(&'a self, key: &'a str, value: &'a str, now: i64) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Gives `key` up after a failure, so a retry can claim it.
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>>;
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

/// Reads the webhook secret string (`None` when there is none).
pub trait SecretSource: Send + Sync {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, AwsError>>;
}

/// What CodePipeline knows about executions, for enrichment (SPEC §5.2).
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
