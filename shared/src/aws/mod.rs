//! AWS adapters: the only code that imports `aws_sdk_*`. Each implements one port; the functions
//! here build each adapter from the SDK configuration, for `startup`.

pub mod codepipeline;
pub mod dynamodb;
pub mod eventbridge;
pub mod inspect;
pub mod secretsmanager;
pub mod sns;
pub mod ssm;

use crate::ports::{
    AlertPublisher, AwsError, ConcurrencyGroups, DedupStore, DocumentSource, EventPublisher, ExecutionRecords,
    PipelineControl, PipelineDefinitions, PipelineHistory, PipelineStarter, SecretSource,
};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
pub use aws_types::SdkConfig;
use std::sync::Arc;
use std::time::Duration;

/// How long one AWS call may take, retries included: every call is bounded, so a function answers
/// before its caller gives up (the Git servers' 10 s) or its Lambda deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallBudget {
    /// To open a connection.
    pub connect: Duration,
    /// One attempt (request sent to response read).
    pub attempt: Duration,
    /// The whole operation, every retry included.
    pub operation: Duration,
    /// Attempts per operation (throttling, 5xx, timeouts and dropped connections are retried).
    pub max_attempts: u32,
}

impl CallBudget {
    /// `git-webhook`: a chain of four calls (claim, start, record, events) still fits the Git
    /// servers' 10 s; the request as a whole is also bounded (`WebhookService`'s budget).
    pub const WEBHOOK: Self = Self {
        connect: Duration::from_millis(1000),
        attempt: Duration::from_millis(1500),
        operation: Duration::from_millis(2500),
        max_attempts: 3,
    };
    /// The asynchronous functions: more patience, inside the Lambda deadline (the invocation is
    /// bounded by it too, see `startup::before_deadline`).
    pub const ASYNC: Self = Self {
        connect: Duration::from_secs(2),
        attempt: Duration::from_secs(5),
        operation: Duration::from_secs(12),
        max_attempts: 3,
    };
}

/// The SDK configuration of a function, once per cold start, from Lambda's environment: region
/// (`AWS_REGION`), the execution role's credentials (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) and `AWS_ENDPOINT_URL`; every call bounded by
/// `budget`. Lambda always provides these, so the functions need no credential chain (profiles,
/// SSO, web identity): that keeps aws-config and STS out of their binaries (ARCHITECTURE
/// "Choices"). The CLI builds its own from aws-config's chain and passes it to [`bounded`].
pub async fn sdk_config(budget: CallBudget) -> SdkConfig {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::new(SystemTimeSource::new()));
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        builder = builder.region(Region::new(region));
    }
    if let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "lambda-environment");
        builder = builder.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        builder = builder.endpoint_url(url);
    }
    bounded(builder, budget)
}

/// The SDK's HTTPS client: rustls on ring, one TLS stack and one crypto provider (a smaller
/// binary than aws-lc's).
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// `builder` with Herald's HTTPS client and every call bounded by `budget`.
pub fn bounded(builder: aws_types::sdk_config::Builder, budget: CallBudget) -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(budget.connect)
        .operation_attempt_timeout(budget.attempt)
        .operation_timeout(budget.operation)
        .build();
    builder
        .http_client(https_client())
        .timeout_config(timeouts)
        // Herald's calls are small request/response pairs, bounded by the timeouts above: the
        // stalled-stream monitor (for long bodies) is per-call work that buys nothing here.
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .retry_config(RetryConfig::standard().with_max_attempts(budget.max_attempts))
        .build()
}

/// `StartPipelineExecution`.
pub fn pipeline_starter(sdk: &SdkConfig) -> Arc<dyn PipelineStarter> {
    Arc::new(codepipeline::CodePipelineStarter::new(aws_sdk_codepipeline::Client::new(sdk)))
}

/// `GetPipeline`.
pub fn pipeline_definitions(sdk: &SdkConfig) -> Arc<dyn PipelineDefinitions> {
    Arc::new(codepipeline::CodePipelineDefinitions::new(aws_sdk_codepipeline::Client::new(sdk)))
}

/// `GetPipelineExecution`, `ListActionExecutions`, `ListPipelineExecutions`.
pub fn pipeline_history(sdk: &SdkConfig) -> Arc<dyn PipelineHistory> {
    Arc::new(codepipeline::CodePipelineHistory::new(aws_sdk_codepipeline::Client::new(sdk)))
}

/// What commands from pull requests and concurrency groups do to executions.
pub fn pipeline_control(sdk: &SdkConfig) -> Arc<dyn PipelineControl> {
    Arc::new(codepipeline::CodePipelineControl::new(aws_sdk_codepipeline::Client::new(sdk)))
}

/// The dedup table `table`.
pub fn dedup_store(sdk: &SdkConfig, table: &str) -> Arc<dyn DedupStore> {
    Arc::new(dynamodb::DynamoDbDedup::new(aws_sdk_dynamodb::Client::new(sdk), table))
}

/// The redelivery sweep's ledger, in the dedup table `table`.
pub fn redelivery_ledger(sdk: &SdkConfig, table: &str) -> Arc<dyn crate::ports::RedeliveryLedger> {
    Arc::new(dynamodb::DynamoDbDedup::new(aws_sdk_dynamodb::Client::new(sdk), table))
}

/// The execution records of commit statuses, in the dedup table `table`.
pub fn execution_records(sdk: &SdkConfig, table: &str) -> Arc<dyn ExecutionRecords> {
    Arc::new(dynamodb::DynamoDbRecords::new(aws_sdk_dynamodb::Client::new(sdk), table))
}

/// The concurrency groups, in the dedup table `table`.
pub fn concurrency_groups(sdk: &SdkConfig, table: &str) -> Arc<dyn ConcurrencyGroups> {
    Arc::new(dynamodb::DynamoDbGroups::new(aws_sdk_dynamodb::Client::new(sdk), table))
}

/// `PutEvents` to `bus`.
pub fn event_publisher(sdk: &SdkConfig, bus: &str) -> Arc<dyn EventPublisher> {
    Arc::new(eventbridge::EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(sdk), bus))
}

/// The secret `arn` in Secrets Manager.
pub fn secret_source(sdk: &SdkConfig, arn: &str) -> Arc<dyn SecretSource> {
    Arc::new(secretsmanager::SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(sdk), arn))
}

/// `sns:Publish`.
pub fn alert_publisher(sdk: &SdkConfig) -> Arc<dyn AlertPublisher> {
    Arc::new(sns::SnsPublisher::new(aws_sdk_sns::Client::new(sdk)))
}

/// The SSM parameter `name`, as the configuration's source for refreshes.
pub fn config_document(sdk: &SdkConfig, name: &str) -> Arc<dyn DocumentSource> {
    Arc::new(ssm::SsmDocument { client: aws_sdk_ssm::Client::new(sdk), name: name.to_owned() })
}

/// The SSM parameter `name`'s value.
pub async fn read_parameter(sdk: &SdkConfig, name: &str) -> Result<String, AwsError> {
    ssm::read_parameter(&aws_sdk_ssm::Client::new(sdk), name).await
}

/// Error codes that retrying cannot fix.
const PERMANENT_CODES: &[&str] = &[
    "PipelineNotFoundException",
    "ValidationException",
    "InvalidParameterValueException",
    "PipelineVersionNotFoundException",
    "InvalidStructureException",
];

/// Classifies an SDK failure once: permanent for requests that can never succeed, transient for
/// everything else (throttling, conflicts, 5xx, timeouts, network), so nothing is dropped.
pub(crate) fn classify<E>(operation: &str, err: SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("Unknown");
            let message = service.err().message().unwrap_or("");
            let status = service.raw().status().as_u16();
            let text = format!("{operation}: {code}: {message}").trim_end_matches([':', ' ']).to_owned();
            if status < 500 && PERMANENT_CODES.contains(&code) {
                AwsError::Permanent(text)
            } else {
                AwsError::Transient(text)
            }
        }
        SdkError::ConstructionFailure(_) => {
            AwsError::Permanent(format!("{operation}: invalid request: {}", error_chain(&err)))
        }
        _ => AwsError::Transient(format!("{operation}: {}", error_chain(&err))),
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `aws_smithy_mocks::mock_client!` without the SDK's `test-util` feature (which would build
/// every SDK crate twice): the same interceptor and HTTP client, with plain test settings.
#[cfg(test)]
macro_rules! mock_client {
    ($aws_crate: ident, $rule_mode: expr, $rules: expr) => {
        mock_client!($aws_crate, $rule_mode, $rules, |conf| conf)
    };
    ($aws_crate: ident, $rule_mode: expr, $rules: expr, $more: expr) => {{
        let mut interceptor = aws_smithy_mocks::MockResponseInterceptor::new().rule_mode($rule_mode);
        for rule in $rules {
            interceptor = interceptor.with_rule(rule)
        }
        fn coerce<T: Fn($aws_crate::config::Builder) -> $aws_crate::config::Builder>(f: T) -> T {
            f
        }
        let builder = $aws_crate::config::Config::builder()
            .behavior_version($aws_crate::config::BehaviorVersion::latest())
            .region($aws_crate::config::Region::from_static("us-east-1"))
            .credentials_provider($aws_crate::config::Credentials::new("AKIDTEST", "secret", None, None, "test"))
            .http_client(aws_smithy_mocks::create_mock_http_client())
            .interceptor(interceptor);
        $aws_crate::client::Client::from_conf(coerce($more)(builder).build())
    }};
}
#[cfg(test)]
pub(crate) use mock_client;
