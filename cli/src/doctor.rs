//! `herald doctor`: the configuration against a live account, read-only. Finds what makes
//! starts and alerts fail there (`herald::doctor` decides; `herald::aws::inspect` reads).

use crate::output::{self, mark, Outcome};
use herald::doctor::{check, Account};
use serde_json::json;
use std::fmt::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration document (JSON)
    #[arg(long)]
    pub config: String,
    /// The default alert topic (HERALD_TOPIC_ARN), checked too
    #[arg(long)]
    pub topic: Option<String>,
    /// The dedup table (HERALD_DEDUP_TABLE): key `pk`, TTL `expires_at`
    #[arg(long)]
    pub table: Option<String>,
    /// The SSM parameter holding the configuration (HERALD_CONFIG_PARAMETER)
    #[arg(long)]
    pub parameter: Option<String>,
    /// The webhook secret (HERALD_WEBHOOK_SECRET_ARN)
    #[arg(long = "secret-arn")]
    pub secret_arn: Option<String>,
    /// The Git server credentials (HERALD_STATUS_SECRET_ARN): read and checked for entries that
    /// confine nothing while triggers name webhook secrets
    #[arg(long = "status-secret-arn", conflicts_with = "credentials")]
    pub status_secret_arn: Option<String>,
    /// The same credentials document from a file
    #[arg(long)]
    pub credentials: Option<String>,
    /// The deployed stack: its AdditionalAlertTopicArns must list each alert rule's topic_arn,
    /// its S3SourceBuckets each s3 trigger's bucket; its dedup table (DedupTableName output) is
    /// checked when --table is not given
    #[arg(long)]
    pub stack: Option<String>,
    /// Print JSON: {"findings": [{"subject", "problem", "fix"}], "checked": {...}}; when AWS
    /// could not be asked, {"error", "findings": []} (exit 3)
    #[arg(long)]
    pub json: bool,
}

/// The account's SDK configuration from the full credential chain (profiles, SSO, environment)
/// with Herald's client and bounds, once it has a region and credentials; otherwise the one
/// thing to fix (exit 3). `herald doctor` and `herald init` start here.
pub async fn account_sdk() -> Result<aws_types::SdkConfig, Outcome> {
    use aws_credential_types::provider::ProvideCredentials;
    let chain = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(herald::aws::https_client())
        .load()
        .await;
    if chain.region().is_none() {
        return Err(no_aws("no AWS region: set AWS_REGION, or a region in the profile AWS_PROFILE names".into()));
    }
    let credentials = match chain.credentials_provider() {
        Some(provider) => provider.provide_credentials().await.map(|_| ()).map_err(|e| e.to_string()),
        None => Err("no credential provider".into()),
    };
    if let Err(why) = credentials {
        return Err(no_aws(format!(
            "no AWS credentials ({why}): set AWS_PROFILE (after `aws sso login` for SSO), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )));
    }
    Ok(herald::aws::bounded(chain.to_builder(), herald::aws::CallBudget::ASYNC))
}

/// The account's pipeline names, or (exit 3) why AWS could not be asked at all.
pub async fn reachable_pipelines(sdk: &aws_types::SdkConfig) -> Result<Result<Vec<String>, String>, Outcome> {
    use herald::aws::inspect::Unasked;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    match herald::aws::inspect::pipeline_names(sdk).await {
        Ok(names) => Ok(Ok(names)),
        Err(Unasked::Unreachable(why)) => Err(no_aws(format!(
            "could not reach AWS in {region}: {why} (check the network, a proxy, or AWS_ENDPOINT_URL)"
        ))),
        Err(Unasked::CredentialsRefused(why)) => {
            Err(no_aws(format!("AWS refused the credentials: {why} (renew them, e.g. `aws sso login`)")))
        }
        Err(Unasked::Refused(why)) => Ok(Err(why)),
    }
}

/// Nothing was checked: the one message, exit 3.
fn no_aws(message: String) -> Outcome {
    Outcome {
        text: format!("herald: {}\n", mark(false, &message)),
        json: json!({ "error": message, "findings": [] }),
        code: output::NO_AWS,
    }
}

pub fn run(args: &Args) -> Outcome {
    let config = match output::config(&args.config) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return Outcome::usage(format!("could not start: {e}")),
    };
    runtime.block_on(async {
        let sdk = match account_sdk().await {
            Ok(sdk) => sdk,
            Err(outcome) => return outcome,
        };
        let names = match reachable_pipelines(&sdk).await {
            Ok(names) => names,
            Err(outcome) => return outcome,
        };
        let mut account = Account { pipeline_names: names.as_ref().ok().cloned(), ..Account::default() };
        for trigger in &config.triggers {
            let name = trigger.pipeline.as_str().to_owned();
            if account.pipelines.contains_key(&name) {
                continue;
            }
            let known = names.as_ref().map_or(true, |all| all.contains(&name));
            let definition = if known {
                herald::aws::inspect::pipeline(&sdk, &name).await
            } else {
                Err("PipelineNotFoundException (not in ListPipelines)".into())
            };
            account.pipelines.insert(name, definition);
        }
        let topics: std::collections::BTreeSet<String> =
            config.alerts.iter().filter_map(|r| r.topic_arn.clone()).chain(args.topic.clone()).collect();
        for topic in topics {
            let found = herald::aws::inspect::topic(&sdk, &topic).await;
            account.topics.insert(topic, found);
        }
        let settings = match &args.stack {
            Some(stack) => Some((stack, herald::aws::inspect::stack_settings(&sdk, stack).await)),
            None => None,
        };
        let stack_table = settings.as_ref().and_then(|(_, s)| s.as_ref().ok()).and_then(|s| s.dedup_table.clone());
        let table = args.table.clone().or(stack_table);
        if let Some(table) = &table {
            account.table = Some((table.clone(), herald::aws::inspect::table(&sdk, table).await));
        }
        let mut findings = check(&config, &account);
        if let Some((stack, settings)) = &settings {
            findings.extend(stack_grants(stack, settings, &config));
        }
        if let Some(parameter) = &args.parameter {
            if let Err(why) = herald::aws::inspect::parameter(&sdk, parameter).await {
                findings.push(herald::doctor::Finding {
                    subject: format!("parameter {parameter}"),
                    problem: format!("cannot be read: {why}"),
                    fix: "create it, or correct HeraldConfigParameter".into(),
                });
            }
        }
        if let Some(secret) = &args.secret_arn {
            if let Err(why) = herald::aws::inspect::secret(&sdk, secret).await {
                findings.push(herald::doctor::Finding {
                    subject: format!("secret {secret}"),
                    problem: format!("cannot be read: {why}"),
                    fix: "create it, or correct WebhookSecretArn".into(),
                });
            }
        }
        let document = match (&args.status_secret_arn, &args.credentials) {
            (Some(arn), _) => Some(herald::aws::inspect::secret_string(&sdk, arn).await.map_err(|why| (arn.clone(), why))),
            (None, Some(file)) => Some(std::fs::read_to_string(file).map_err(|e| (file.clone(), e.to_string()))),
            (None, None) => None,
        };
        match document.map(|d| d.and_then(|text| herald::git_api::credentials::Credentials::parse(&text).map_err(|e| (String::from("the credentials document"), e)))) {
            None => {}
            Some(Ok(credentials)) => findings.extend(herald::doctor::check_credentials(&config, &credentials)),
            Some(Err((what, why))) => findings.push(herald::doctor::Finding {
                subject: format!("credentials {what}"),
                problem: format!("cannot be used: {why}"),
                fix: "correct the Git server credentials document (docs/statuses.md \"Commit statuses\")".into(),
            }),
        }
        let mut text = format!(
            "checked {} pipeline(s), {} topic(s){}\n",
            account.pipelines.len(),
            account.topics.len(),
            if account.table.is_some() { ", the dedup table" } else { "" }
        );
        if findings.is_empty() {
            let _ = writeln!(text, "{}", mark(true, "no problem found"));
        }
        for f in &findings {
            let _ = writeln!(text, "{} {}: {}\n    fix: {}", mark(false, "✗"), f.subject, f.problem, f.fix);
        }
        let json = json!({
            "findings": findings,
            "stack": args.stack,
            "checked": { "pipelines": account.pipelines.keys().collect::<Vec<_>>(), "topics": account.topics.keys().collect::<Vec<_>>(), "table": table },
        });
        Outcome { text, json, code: if findings.is_empty() { 0 } else { output::FINDING } }
    })
}

/// What the stack does not allow of the configuration: alert rules whose own topic is neither
/// its `AlertTopicArn` output nor in its `AdditionalAlertTopicArns`, and s3 triggers whose bucket
/// glob matches none of its `S3SourceBuckets`.
fn stack_grants(
    stack: &str,
    settings: &Result<herald::aws::inspect::StackSettings, String>,
    config: &herald::config::Config,
) -> Vec<herald::doctor::Finding> {
    let settings = match settings {
        Ok(settings) => settings,
        Err(why) => {
            return vec![herald::doctor::Finding {
                subject: format!("stack {stack}"),
                problem: format!("cannot be read: {why}"),
                fix: "name the stack Herald is deployed as (sam deploy --stack-name)".into(),
            }]
        }
    };
    let topics = config
        .ungranted_topics(settings.default_topic.as_deref(), &settings.granted_topics)
        .into_iter()
        .map(|(rule, topic)| herald::doctor::Finding {
            subject: format!("alert rule {rule}"),
            problem: format!("publishes to {topic}, which stack {stack}'s AdditionalAlertTopicArns does not list: the notifier is not allowed to publish there"),
            fix: format!("add {topic} to AdditionalAlertTopicArns (sam deploy --parameter-overrides AdditionalAlertTopicArns=...)"),
        });
    let listed = if settings.s3_buckets.is_empty() { "none".to_owned() } else { settings.s3_buckets.join(", ") };
    let buckets = config.undeliverable_s3_triggers(&settings.s3_buckets).into_iter().map(|(trigger, glob)| {
        herald::doctor::Finding {
            subject: format!("trigger {trigger}"),
            problem: format!(
                "s3.bucket {glob} matches none of stack {stack}'s S3SourceBuckets ({listed}): s3-trigger never hears of its writes"
            ),
            fix: "add the bucket to S3SourceBuckets (sam deploy --parameter-overrides S3SourceBuckets=a,b)".into(),
        }
    });
    topics.chain(buckets).collect()
}
