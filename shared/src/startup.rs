//! Cold-start wiring shared by the functions: logging, the configuration, the adapters.

use crate::aws;
use crate::command_executor::{CommandExecutor, CommandPorts};
use crate::concurrency::Groups;
use crate::config::Config;
use crate::files::FileLookups;
use crate::git_api::{GitApi, RetryPolicy};
use crate::live::LiveConfig;
use crate::notifier::{NotifierPorts, NotifierService};
use crate::ports::{DedupStore, EventPublisher};
use crate::redeliver::{CredentialsDocument, RedeliveryService, Sweeper};
use crate::s3::S3TriggerService;
use crate::secrets::{parse_credentials, ServerCredentials};
use crate::secrets::{parse_secret_text, SecretCache, Secrets};
use crate::settings::{vars, ConfigSource, RedeliverSettings, SecretSetting, Settings, StartupError};
use crate::start::StartRunner;
use crate::status::StatusReporter;
use crate::webhook::WebhookService;
use aws_types::SdkConfig;
use lambda_runtime::Diagnostic;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// JSON logs when `AWS_LAMBDA_LOG_FORMAT=JSON`, level from `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`
/// (a level only: other directives are not read). DEBUG and TRACE apply to Herald's own code
/// alone: every library stays at INFO or above, because some log what they handle below it
/// (`lambda_runtime` the raw event at TRACE, with its `X-Gitlab-Token` or Basic header; hyper and
/// the SDK their requests), and no secret may reach a log at any level.
pub fn init_logging() {
    use lambda_runtime::tracing::subscriber::filter::LevelFilter;
    use lambda_runtime::tracing::subscriber::fmt;
    use lambda_runtime::tracing::subscriber::prelude::*;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let filter = log_filter(level);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = lambda_runtime::tracing::subscriber::registry().with(filter);
    let _ = if json {
        registry.with(fmt::layer().json().with_target(false).without_time()).try_init()
    } else {
        registry.with(fmt::layer().with_target(false).without_time()).try_init()
    };
}

/// Herald's crates at `level`; every other target at `level` but never below INFO.
pub fn log_filter(
    level: lambda_runtime::tracing::subscriber::filter::LevelFilter,
) -> lambda_runtime::tracing::subscriber::filter::Targets {
    use lambda_runtime::tracing::subscriber::filter::{LevelFilter, Targets};
    let libraries = level.min(LevelFilter::INFO);
    ["herald", "git_webhook", "s3_trigger", "pipeline_notifier", "redeliver"]
        .into_iter()
        .fold(Targets::new().with_default(libraries), |targets, crate_name| targets.with_target(crate_name, level))
}

/// The configuration document, from the environment or SSM, validated.
pub async fn load_config(settings: &Settings, sdk: &SdkConfig) -> Result<Arc<Config>, StartupError> {
    let text = match &settings.config {
        ConfigSource::Inline(doc) => doc.clone(),
        ConfigSource::Parameter(name) => aws::read_parameter(sdk, name)
            .await
            .map_err(|source| StartupError::Parameter { name: name.clone(), source })?,
    };
    let config = Config::from_json(&text)?;
    for warning in &config.warnings {
        tracing::warn!(field = %warning.field, "configuration: {}", warning.message);
    }
    Ok(Arc::new(config))
}

/// The configuration in force: fixed when inline, refreshed from its SSM parameter otherwise.
pub fn live_config(settings: &Settings, sdk: &SdkConfig, config: Arc<Config>) -> LiveConfig {
    match &settings.config {
        ConfigSource::Inline(_) => LiveConfig::from(config),
        ConfigSource::Parameter(name) => {
            LiveConfig::refreshed(config, aws::config_document(sdk, name), settings.config_refresh)
        }
    }
}

/// Starts pipelines through CodePipeline, once per token when a dedup table is set.
pub fn start_runner(settings: &Settings, sdk: &SdkConfig) -> StartRunner {
    StartRunner::new(aws::pipeline_starter(sdk), dedup_store(settings, sdk), settings.dry_run)
}

/// The exactly-once records, when `HERALD_DEDUP_TABLE` is set.
fn dedup_store(settings: &Settings, sdk: &SdkConfig) -> Option<Arc<dyn DedupStore>> {
    settings.dedup_table.as_deref().map(|table| aws::dedup_store(sdk, table))
}

/// The decision-event publisher, when `HERALD_EVENT_BUS` is set.
pub fn event_publisher(settings: &Settings, sdk: &SdkConfig) -> Option<Arc<dyn EventPublisher>> {
    settings.event_bus.as_deref().map(|bus| aws::event_publisher(sdk, bus))
}

/// The Git servers' API credentials (`HERALD_STATUS_SECRET_ARN`, or inline for local runs).
pub fn server_credentials(settings: &Settings, sdk: &SdkConfig) -> Option<Arc<ServerCredentials>> {
    Some(Arc::new(match &settings.status_secret {
        SecretSetting::SecretsManager(arn) => ServerCredentials::Loaded(SecretCache::reading(
            aws::secret_source(sdk, arn),
            parse_credentials,
            "Git server credentials",
        )),
        SecretSetting::Inline(text) => ServerCredentials::Fixed(Arc::new(parse_credentials(Some(text)))),
        SecretSetting::None => return None,
    }))
}

/// The HTTPS client for Git servers; `None` (logged) when the system has no root certificates.
fn git_https() -> Option<Arc<dyn crate::ports::HttpClient>> {
    match crate::git_api::https::HttpsClient::new() {
        Ok(client) => Some(Arc::new(client)),
        Err(e) => {
            tracing::error!(error = %e, "no HTTPS client for Git servers: no commit status, no changed-file lookup");
            None
        }
    }
}

/// The commit-status reporter (docs/statuses.md "Commit statuses"), when a trigger asks for statuses or
/// credentials are configured. Statuses need `HERALD_DEDUP_TABLE` (it records which commit each
/// execution builds): a trigger with `status` and no table is a configuration error.
pub fn status_reporter(
    settings: &Settings,
    sdk: &SdkConfig,
    config: &Config,
    credentials: Option<&Arc<ServerCredentials>>,
    policy: RetryPolicy,
) -> Result<Option<Arc<StatusReporter>>, StartupError> {
    let asked = config.status_triggers().next().map(|(t, _)| t.name.as_str());
    let Some(table) = settings.dedup_table.as_deref() else {
        return match asked {
            Some(trigger) => Err(StartupError::Env(
                vars::DEDUP_TABLE,
                format!("not set, and trigger {trigger:?} asks for commit statuses (the table records which commit each execution builds)"),
            )),
            None => Ok(None),
        };
    };
    let credentials = match (credentials, asked) {
        (Some(c), _) => c.clone(),
        (None, None) => return Ok(None),
        (None, Some(_)) => {
            tracing::warn!(
                "triggers ask for commit statuses but HERALD_STATUS_SECRET_ARN is not set: none will be posted"
            );
            Arc::new(ServerCredentials::Fixed(Arc::new(parse_credentials(None))))
        }
    };
    let Some(http) = git_https() else { return Ok(None) };
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let reporter =
        StatusReporter::new(credentials, GitApi::new(http, policy), aws::execution_records(sdk, table), region);
    Ok(Some(Arc::new(reporter)))
}

/// Changed-file lookups at the Git servers (docs/path-filters.md "Path filters"), when credentials are set.
pub fn file_lookups(credentials: Option<&Arc<ServerCredentials>>) -> Option<Arc<FileLookups>> {
    let credentials = credentials?.clone();
    Some(Arc::new(FileLookups::new(credentials, GitApi::new(git_https()?, RetryPolicy::LOOKUP))))
}

/// The `git-webhook` service with its AWS adapters.
pub fn webhook_service(
    settings: &Settings,
    sdk: &SdkConfig,
    config: Arc<Config>,
) -> Result<WebhookService, StartupError> {
    let secrets = match &settings.webhook_secret {
        SecretSetting::SecretsManager(arn) => Secrets::Loaded(SecretCache::new(aws::secret_source(sdk, arn))),
        SecretSetting::Inline(text) => Secrets::Fixed(Arc::new(parse_secret_text(Some(text)))),
        SecretSetting::None => {
            tracing::error!(
                "no webhook secret configured (HERALD_WEBHOOK_SECRET_ARN); every request will be answered 401"
            );
            Secrets::Fixed(Arc::new(parse_secret_text(None)))
        }
    };
    let credentials = server_credentials(settings, sdk);
    let status = status_reporter(settings, sdk, &config, credentials.as_ref(), RetryPolicy::WEBHOOK)?;
    let lookups = file_lookups(credentials.as_ref());
    let runner = start_runner(settings, sdk).with_groups(concurrency_groups(settings, sdk, &config, status.is_some())?);
    let commands = command_executor(settings, sdk, credentials.as_ref(), &runner, status.as_ref());
    // Only commands read the records of starts without a status: without them, no extra write.
    let records = match (&commands, settings.dedup_table.as_deref()) {
        (Some(_), Some(table)) => Some(aws::execution_records(sdk, table)),
        _ => None,
    };
    let live = live_config(settings, sdk, config);
    let live = if settings.dedup_table.is_none() { live.with_check(needs_no_table) } else { live };
    Ok(WebhookService::new(live, secrets, runner, event_publisher(settings, sdk))
        .with_status(status)
        .with_file_lookups(lookups)
        .with_records(records)
        .with_commands(commands))
}

/// Concurrency groups (docs/configuration.md "One build per pull request"), with the dedup table: they record
/// each start there. A trigger with `concurrency` and no table is a configuration error.
fn concurrency_groups(
    settings: &Settings,
    sdk: &SdkConfig,
    config: &Config,
    statuses: bool,
) -> Result<Option<Arc<Groups>>, StartupError> {
    let Some(table) = settings.dedup_table.as_deref() else {
        return needs_no_table(config).map(|()| None).map_err(|e| StartupError::Env(vars::DEDUP_TABLE, e));
    };
    // A stopped execution's record notes why, for its final status.
    let records = statuses.then(|| aws::execution_records(sdk, table));
    Ok(Some(Arc::new(Groups::new(aws::concurrency_groups(sdk, table), aws::pipeline_control(sdk), records))))
}

/// Refuses a configuration whose triggers need the dedup table, on a function without one.
fn needs_no_table(config: &Config) -> Result<(), String> {
    match config.triggers.iter().find(|t| t.concurrency.is_some()) {
        Some(t) => Err(format!(
            "not set, and trigger {:?} has a concurrency group (the table records each group's executions)",
            t.name
        )),
        None => Ok(()),
    }
}

/// Commands from pull requests (docs/commands.md "Commands from the pull request"): they need the dedup
/// table (each comment is claimed once, executions are found by commit) and the Git servers'
/// credentials (the pull request is read from its server, and the reply posted there).
fn command_executor(
    settings: &Settings,
    sdk: &SdkConfig,
    credentials: Option<&Arc<ServerCredentials>>,
    runner: &StartRunner,
    status: Option<&Arc<StatusReporter>>,
) -> Option<Arc<CommandExecutor>> {
    let table = settings.dedup_table.as_deref()?;
    let credentials = credentials?.clone();
    let ports = CommandPorts {
        dedup: aws::dedup_store(sdk, table),
        records: aws::execution_records(sdk, table),
        control: aws::pipeline_control(sdk),
        history: aws::pipeline_history(sdk),
    };
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into());
    let api = GitApi::new(git_https()?, RetryPolicy::WEBHOOK);
    Some(Arc::new(CommandExecutor::new(credentials, api, ports, runner.clone(), status.cloned(), region)))
}

/// Time kept back from the Lambda deadline to report the invocation's outcome.
const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// Runs one invocation's `work`, bounded by the Lambda deadline (`deadline_ms`, Unix ms): when it
/// runs out, the invocation fails with the retryable `Herald.DeadlineExceeded` (Lambda retries,
/// then the dead-letter queue keeps the event), instead of Lambda killing it without a word.
pub async fn before_deadline<T, E: Into<Diagnostic>>(
    deadline_ms: u64,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, Diagnostic> {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let left = Duration::from_millis(u64::try_from(u128::from(deadline_ms).saturating_sub(now_ms)).unwrap_or(0));
    if left <= DEADLINE_MARGIN {
        // A deadline already (nearly) past at the start is the runtime's emulator or clock, not a
        // budget to enforce: run, and let the platform cut the invocation if it must.
        tracing::warn!(
            left_ms = left.as_millis() as u64,
            "the Lambda deadline is already past at the start; running without Herald's own bound"
        );
        return work.await.map_err(Into::into);
    }
    match tokio::time::timeout(left - DEADLINE_MARGIN, work).await {
        Ok(outcome) => outcome.map_err(Into::into),
        Err(_) => {
            tracing::error!("invocation ran out of time before its Lambda deadline; failing it so it is retried");
            Err(Diagnostic {
                error_type: "Herald.DeadlineExceeded".into(),
                error_message: "the invocation ran out of time; nothing was acknowledged".into(),
            })
        }
    }
}

/// Alert rules whose `topic_arn` is neither `HERALD_TOPIC_ARN` nor among the granted topics
/// (only when the environment says which are granted).
pub fn ungranted_topics<'c>(settings: &Settings, config: &'c Config) -> Vec<(&'c str, &'c str)> {
    let Some(granted) = &settings.granted_topics else { return Vec::new() };
    config.ungranted_topics(settings.topic_arn.as_deref(), granted)
}

/// Herald's version: the workspace's, the same in `herald --version`, the stack output
/// `HeraldVersion` and the template's Serverless Application Repository metadata.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The first line of a cold start: which function and which Herald version runs.
pub fn log_cold_start(function: &str) {
    tracing::info!(function, version = VERSION, "herald cold start");
}

/// Logs a failed cold start (Lambda then reports `Runtime.ExitError` with this line in the log).
pub fn log_fatal(error: &StartupError) {
    tracing::error!(error = %error, "cold start failed");
}

/// The `redeliver` service (docs/operations.md "Missed deliveries") with its adapters: the
/// Git servers' API with the notifier's patience (a sweep has minutes), the dedup table's ledger.
pub fn redelivery_service(settings: &RedeliverSettings, sdk: &SdkConfig) -> Result<RedeliveryService, StartupError> {
    let http = git_https().ok_or(StartupError::Env(
        vars::STATUS_SECRET_ARN,
        "no HTTPS client: the system has no root certificates".into(),
    ))?;
    let ledger = aws::redelivery_ledger(sdk, &settings.dedup_table);
    let sweeper = Sweeper::new(GitApi::new(http, RetryPolicy::NOTIFIER), Some(ledger));
    let credentials = match &settings.status_secret {
        SecretSetting::SecretsManager(arn) => CredentialsDocument::Secret(aws::secret_source(sdk, arn)),
        SecretSetting::Inline(text) => CredentialsDocument::Fixed(
            crate::git_api::credentials::Credentials::parse(text)
                .map_err(|e| StartupError::Env(vars::STATUS_SECRET, e))?,
        ),
        SecretSetting::None => return Err(StartupError::Env(vars::STATUS_SECRET_ARN, "not set".into())),
    };
    Ok(RedeliveryService::new(sweeper, credentials, settings.dry_run))
}

/// The `s3-trigger` service with its AWS adapters.
pub fn s3_trigger_service(settings: &Settings, sdk: &SdkConfig, config: Arc<Config>) -> S3TriggerService {
    let sources = crate::s3::sources::SourceActions::new(aws::pipeline_definitions(sdk));
    S3TriggerService::new(
        live_config(settings, sdk, config),
        start_runner(settings, sdk),
        sources,
        event_publisher(settings, sdk),
    )
}

/// The `pipeline-notifier` service with its AWS adapters. Every alert rule needs a topic: its
/// own `topic_arn` or `HERALD_TOPIC_ARN`.
pub fn notifier_service(
    settings: &Settings,
    sdk: &SdkConfig,
    config: Arc<Config>,
) -> Result<NotifierService, StartupError> {
    if settings.topic_arn.is_none() {
        if let Some(rule) = config.alerts_without_topic().next() {
            return Err(StartupError::Env(
                vars::TOPIC_ARN,
                format!("not set, and alert rule {:?} names no topic_arn", rule.name),
            ));
        }
    }
    for (rule, topic) in ungranted_topics(settings, &config) {
        tracing::error!(
            alert_rule = %rule,
            topic_arn = %topic,
            "alert rule routes to a topic this function was not granted: its alerts will fail and wait in the dead-letter queue; add the topic to the stack's AdditionalAlertTopicArns"
        );
    }
    let ports = NotifierPorts {
        history: aws::pipeline_history(sdk),
        publisher: aws::alert_publisher(sdk),
        dedup: dedup_store(settings, sdk),
        status: status_reporter(
            settings,
            sdk,
            &config,
            server_credentials(settings, sdk).as_ref(),
            RetryPolicy::NOTIFIER,
        )?,
    };
    Ok(NotifierService::new(live_config(settings, sdk, config), settings.topic_arn.clone(), ports, settings.dry_run))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_ms(ms: i64) -> u64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        (now + ms).max(0) as u64
    }

    #[tokio::test]
    async fn the_lambda_deadline_bounds_the_work_and_a_past_one_is_not_enforced() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok::<_, Diagnostic>(())
        };
        let began = std::time::Instant::now();
        let out = before_deadline(in_ms(2000), slow).await;
        assert_eq!(out.unwrap_err().error_type, "Herald.DeadlineExceeded");
        assert!(began.elapsed() < Duration::from_secs(2), "stopped at the deadline minus the margin");
        // An emulator (cargo lambda watch's first, compiling call) may hand a deadline already past.
        let quick = async { Ok::<_, Diagnostic>(7) };
        assert_eq!(before_deadline(in_ms(-5000), quick).await.unwrap(), 7);
    }

    #[test]
    fn concurrency_groups_need_the_dedup_table() {
        let sdk = SdkConfig::builder()
            .behavior_version(aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest())
            .build();
        let config = Config::from_json(
            r#"{"triggers":[{"name":"app","pipeline":"app","git":{"repository":"o/r"},"concurrency":{}}]}"#,
        )
        .unwrap();
        let settings = Settings::from_lookup(|name| (name == vars::CONFIG).then(|| "{}".to_owned())).unwrap();
        let error = concurrency_groups(&settings, &sdk, &config, false).err().unwrap().to_string();
        assert!(
            error.starts_with("HERALD_DEDUP_TABLE: not set, and trigger \"app\" has a concurrency group"),
            "{error}"
        );
        assert!(concurrency_groups(&settings, &sdk, &Config::from_json("{}").unwrap(), false).unwrap().is_none());
        let with_table = Settings::from_lookup(|name| match name {
            vars::CONFIG => Some("{}".to_owned()),
            vars::DEDUP_TABLE => Some("t".to_owned()),
            _ => None,
        })
        .unwrap();
        assert!(concurrency_groups(&with_table, &sdk, &config, false).unwrap().is_some());
    }

    #[test]
    fn statuses_need_the_dedup_table() {
        let sdk = SdkConfig::builder()
            .behavior_version(aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest())
            .build();
        let config = Config::from_json(
            r#"{"triggers":[{"name":"app","pipeline":"app","git":{"repository":"o/r"},"status":true}]}"#,
        )
        .unwrap();
        let settings = Settings::from_lookup(|name| (name == vars::CONFIG).then(|| "{}".to_owned())).unwrap();
        let error = status_reporter(&settings, &sdk, &config, None, RetryPolicy::WEBHOOK).err().unwrap().to_string();
        assert!(
            error.starts_with("HERALD_DEDUP_TABLE: not set, and trigger \"app\" asks for commit statuses"),
            "{error}"
        );
        let without = Config::from_json("{}").unwrap();
        assert!(status_reporter(&settings, &sdk, &without, None, RetryPolicy::WEBHOOK).unwrap().is_none());
    }
}

#[cfg(test)]
mod log_filter_tests {
    use super::log_filter;
    use lambda_runtime::tracing::subscriber::filter::LevelFilter;
    use lambda_runtime::tracing::Level;

    #[test]
    fn debug_and_trace_reach_herald_only() {
        let trace = log_filter(LevelFilter::TRACE);
        assert!(trace.would_enable("herald::webhook", &Level::TRACE));
        assert!(trace.would_enable("git_webhook", &Level::TRACE));
        for library in
            ["lambda_runtime::layers::api_response", "lambda_runtime", "hyper_util::client", "aws_smithy_runtime"]
        {
            assert!(!trace.would_enable(library, &Level::DEBUG), "{library}");
            assert!(trace.would_enable(library, &Level::INFO), "{library}");
        }
        let warn = log_filter(LevelFilter::WARN);
        assert!(!warn.would_enable("herald", &Level::INFO));
        assert!(!warn.would_enable("lambda_runtime", &Level::INFO));
    }
}
