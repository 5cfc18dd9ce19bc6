//! Read-only calls `herald doctor` makes to check an account: `GetPipeline`, `ListPipelines`,
//! `GetTopicAttributes`, `DescribeTable` / `DescribeTimeToLive`, `GetParameter`, `DescribeSecret`.
//! Each answers Herald's own types; a failure is the call's error text.

use crate::ports::PipelineDefinition;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::SdkConfig;

/// The definition of `pipeline`.
pub async fn pipeline(sdk: &SdkConfig, pipeline: &str) -> Result<PipelineDefinition, String> {
    let client = aws_sdk_codepipeline::Client::new(sdk);
    let out = client.get_pipeline().name(pipeline).send().await.map_err(|e| error_text("GetPipeline", &e))?;
    out.pipeline.as_ref().map(super::codepipeline::definition).ok_or_else(|| "GetPipeline answered no pipeline".into())
}

/// Why the first call of a check failed: when AWS did not answer, or refused the credentials,
/// nothing else can be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unasked {
    /// No answer: no network, a wrong endpoint, a timeout.
    Unreachable(String),
    /// AWS answered that the credentials are not valid (unknown, expired, badly signed).
    CredentialsRefused(String),
    /// Any other refusal (`AccessDeniedException`, throttling): the account was reached.
    Refused(String),
}

/// Service error codes that say the credentials themselves are wrong, not a permission.
const CREDENTIAL_ERRORS: [&str; 6] = [
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
];

/// Every pipeline name of the account and region; the first call `herald doctor` and
/// `herald init` make, which tells an unreachable AWS apart.
pub async fn pipeline_names(sdk: &SdkConfig) -> Result<Vec<String>, Unasked> {
    let client = aws_sdk_codepipeline::Client::new(sdk);
    let mut names = Vec::new();
    let mut next = None;
    loop {
        let out = client.list_pipelines().set_next_token(next).send().await.map_err(|e| {
            let text = error_text("ListPipelines", &e);
            match e.as_service_error().and_then(|s| s.code()) {
                None => Unasked::Unreachable(text),
                Some(code) if CREDENTIAL_ERRORS.contains(&code) => Unasked::CredentialsRefused(text),
                Some(_) => Unasked::Refused(text),
            }
        })?;
        names.extend(out.pipelines().iter().filter_map(|p| p.name().map(str::to_owned)));
        next = out.next_token;
        if next.is_none() {
            return Ok(names);
        }
    }
}

/// Whether the topic exists (and may be read).
pub async fn topic(sdk: &SdkConfig, arn: &str) -> Result<(), String> {
    let client = aws_sdk_sns::Client::new(sdk);
    client
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| error_text("GetTopicAttributes", &e))
}

/// The table's partition key name and TTL attribute (when TTL is on).
pub async fn table(sdk: &SdkConfig, name: &str) -> Result<(Option<String>, Option<String>), String> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let out = client.describe_table().table_name(name).send().await.map_err(|e| error_text("DescribeTable", &e))?;
    let key = out.table.as_ref().and_then(|t| {
        t.key_schema().iter().find(|k| k.key_type().as_str() == "HASH").map(|k| k.attribute_name().to_owned())
    });
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| error_text("DescribeTimeToLive", &e))?;
    let ttl = ttl
        .time_to_live_description
        .filter(|d| d.time_to_live_status().is_some_and(|s| s.as_str() == "ENABLED"))
        .and_then(|d| d.attribute_name);
    Ok((key, ttl))
}

/// What a deployed Herald stack was given (`DescribeStacks`), as `herald doctor --stack` compares
/// a configuration with it.
#[derive(Debug, Clone, Default)]
pub struct StackSettings {
    /// Its `AlertTopicArn` output: the default topic.
    pub default_topic: Option<String>,
    /// Its `AdditionalAlertTopicArns`: the other topics the notifier may publish to.
    pub granted_topics: Vec<String>,
    /// Its `S3SourceBuckets`: the only buckets whose writes reach s3-trigger.
    pub s3_buckets: Vec<String>,
    /// Its `DedupTableName` output, when it has the table.
    pub dedup_table: Option<String>,
}

/// The settings of a deployed Herald stack (`DescribeStacks`).
#[cfg(feature = "stack")]
pub async fn stack_settings(sdk: &SdkConfig, stack: &str) -> Result<StackSettings, String> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let described =
        client.describe_stacks().stack_name(stack).send().await.map_err(|e| error_text("DescribeStacks", &e))?;
    let found = described.stacks().first().ok_or("DescribeStacks answered no stack")?;
    let parameter = |key: &str| {
        found
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(key))
            .and_then(|p| p.parameter_value())
            .map(crate::config::arn_list)
            .unwrap_or_default()
    };
    let output = |key: &str| {
        found.outputs().iter().find(|o| o.output_key() == Some(key)).and_then(|o| o.output_value().map(str::to_owned))
    };
    Ok(StackSettings {
        default_topic: output("AlertTopicArn"),
        dedup_table: output("DedupTableName"),
        granted_topics: parameter("AdditionalAlertTopicArns"),
        s3_buckets: parameter("S3SourceBuckets"),
    })
}

/// Whether the parameter exists (its value is not returned).
pub async fn parameter(sdk: &SdkConfig, name: &str) -> Result<(), String> {
    let client = aws_sdk_ssm::Client::new(sdk);
    client.get_parameter().name(name).send().await.map(|_| ()).map_err(|e| error_text("GetParameter", &e))
}

/// The secret's string (the Git server credentials document, which `herald doctor` checks).
pub async fn secret_string(sdk: &SdkConfig, id: &str) -> Result<String, String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(id).send().await.map_err(|e| error_text("GetSecretValue", &e))?;
    out.secret_string().map(str::to_owned).ok_or_else(|| "GetSecretValue: the secret has no string".into())
}

/// Whether the secret exists (its value is not read).
pub async fn secret(sdk: &SdkConfig, id: &str) -> Result<(), String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    client.describe_secret().secret_id(id).send().await.map(|_| ()).map_err(|e| error_text("DescribeSecret", &e))
}

fn error_text<E>(
    operation: &str,
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> String
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    match error.as_service_error() {
        Some(e) => format!("{operation}: {}", e.code().unwrap_or("error")),
        None => format!("{operation}: {error}"),
    }
}
