//! Cold-start wiring shared by the functions: logging, the configuration, the adapters.

use crate::aws;
use crate::config::Config;
use crate::settings::{ConfigSource, SecretSetting, Settings, StartupError};
use crate::start::StartRunner;
use crate::webhook::{parse_secret_text, SecretCache, Secrets, WebhookService};
use std::sync::Arc;

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The configuration document, from the environment or SSM, validated.
pub async fn load_config(settings: &Settings, sdk: &aws_config::SdkConfig) -> Result<Arc<Config>, StartupError> {
    let text = match &settings.config {
        ConfigSource::Inline(doc) => doc.clone(),
        ConfigSource::Parameter(name) => aws::ssm::read_parameter(&aws_sdk_ssm::Client::new(sdk), name)
            .await
            .map_err(|source| StartupError::Parameter { name: name.clone(), source })?,
    };
    Ok(Arc::new(Config::from_json(&text)?))
}

/// Starts pipelines through CodePipeline, once per token when a dedup table is set.
pub fn start_runner(settings: &Settings, sdk: &aws_config::SdkConfig) -> StartRunner {
    let starter = Arc::new(aws::codepipeline::CodePipelineStarter::new(aws_sdk_codepipeline::Client::new(sdk)));
    StartRunner::new(starter, dedup_store(settings, sdk), settings.dry_run)
}

/// The exactly-once records, when `HERALD_DEDUP_TABLE` is set.
fn dedup_store(settings: &Settings, sdk: &aws_config::SdkConfig) -> Option<Arc<dyn crate::ports::DedupStore>> {
    settings.dedup_table.as_ref().map(|table| {
        Arc::new(aws::dynamodb::DynamoDbDedup::new(aws_sdk_dynamodb::Client::new(sdk), table))
            as Arc<dyn crate::ports::DedupStore>
    })
}

/// The decision-event publisher, when `HERALD_EVENT_BUS` is set.
pub fn event_publisher(
    settings: &Settings,
    sdk: &aws_config::SdkConfig,
) -> Option<Arc<dyn crate::ports::EventPublisher>> {
    settings.event_bus.as_ref().map(|bus| {
        Arc::new(aws::eventbridge::EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(sdk), bus))
            as Arc<dyn crate::ports::EventPublisher>
    })
}

/// The `git-webhook` service with its AWS adapters.
pub fn webhook_service(settings: &Settings, sdk: &aws_config::SdkConfig, config: Arc<Config>) -> WebhookService {
    let secrets = match &settings.webhook_secret {
        SecretSetting::SecretsManager(arn) => Secrets::Loaded(SecretCache::new(Arc::new(
            aws::secretsmanager::SecretsManagerSource::new(aws_sdk_secretsmanager::Client::new(sdk), arn),
        ))),
        SecretSetting::Inline(text) => Secrets::Fixed(Arc::new(parse_secret_text(Some(text)))),
        SecretSetting::None => {
            tracing::error!(
                "no webhook secret configured (HERALD_WEBHOOK_SECRET_ARN); every request will be answered 401"
            );
            Secrets::Fixed(Arc::new(parse_secret_text(None)))
        }
    };
    WebhookService::new(config, secrets, start_runner(settings, sdk), event_publisher(settings, sdk))
}

/// Logs a failed cold start (Lambda then reports `Runtime.ExitError` with this line in the log).
pub fn log_fatal(error: &StartupError) {
    tracing::error!(error = %error, "cold start failed");
}

/// The `s3-trigger` service with its AWS adapters.
pub fn s3_trigger_service(
    settings: &Settings,
    sdk: &aws_config::SdkConfig,
    config: Arc<Config>,
) -> crate::s3::S3TriggerService {
    crate::s3::S3TriggerService::new(config, start_runner(settings, sdk), event_publisher(settings, sdk))
}

/// The `pipeline-notifier` service with its AWS adapters. Every alert rule needs a topic: its
/// own `topic_arn` or `HERALD_TOPIC_ARN`.
pub fn notifier_service(
    settings: &Settings,
    sdk: &aws_config::SdkConfig,
    config: Arc<Config>,
) -> Result<crate::notifier::NotifierService, StartupError> {
    if settings.topic_arn.is_none() {
        if let Some(rule) = config.alerts_without_topic().next() {
            return Err(StartupError::Env(
                crate::settings::vars::TOPIC_ARN,
                format!("not set, and alert rule {:?} names no topic_arn", rule.name),
            ));
        }
    }
    let ports = crate::notifier::NotifierPorts {
        history: Arc::new(aws::codepipeline::CodePipelineHistory::new(aws_sdk_codepipeline::Client::new(sdk))),
        publisher: Arc::new(aws::sns::SnsPublisher::new(aws_sdk_sns::Client::new(sdk))),
        dedup: dedup_store(settings, sdk),
    };
    Ok(crate::notifier::NotifierService::new(config, settings.topic_arn.clone(), ports, settings.dry_run))
}
