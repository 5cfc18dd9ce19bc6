//! The environment each function reads once, at cold start (docs/configuration.md "Configuration").

use crate::config::ConfigError;
use crate::ports::AwsError;

/// Every environment variable Herald reads.
pub mod vars {
    pub const CONFIG: &str = "HERALD_CONFIG";
    pub const CONFIG_PARAMETER: &str = "HERALD_CONFIG_PARAMETER";
    /// How often a document in SSM is read again (seconds; default 300).
    pub const CONFIG_REFRESH_SECONDS: &str = "HERALD_CONFIG_REFRESH_SECONDS";
    pub const WEBHOOK_SECRET_ARN: &str = "HERALD_WEBHOOK_SECRET_ARN";
    /// Local runs and tests only; the template never sets it.
    pub const WEBHOOK_SECRET: &str = "HERALD_WEBHOOK_SECRET";
    pub const TOPIC_ARN: &str = "HERALD_TOPIC_ARN";
    /// The other topics the notifier was granted (comma-separated; the template sets it).
    pub const ALERT_TOPIC_ARNS: &str = "HERALD_ALERT_TOPIC_ARNS";
    pub const EVENT_BUS: &str = "HERALD_EVENT_BUS";
    pub const DEDUP_TABLE: &str = "HERALD_DEDUP_TABLE";
    /// The Git servers' API credentials for commit statuses (a Secrets Manager secret).
    pub const STATUS_SECRET_ARN: &str = "HERALD_STATUS_SECRET_ARN";
    /// Local runs and tests only; the template never sets it.
    pub const STATUS_SECRET: &str = "HERALD_STATUS_SECRET";
    /// Local runs and tests only.
    pub const DRY_RUN: &str = "HERALD_DRY_RUN";
}

/// Where the configuration document comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    Inline(String),
    Parameter(String),
}

/// Where a secret (the webhook's, the status credentials) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSetting {
    SecretsManager(String),
    Inline(String),
    None,
}

/// A cold start that cannot go on; the message names the variable and the problem.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}: {1}")]
    Env(&'static str, String),
    #[error("configuration invalid: {0}")]
    Config(#[from] ConfigError),
    #[error("HERALD_CONFIG_PARAMETER {name}: {source}")]
    Parameter { name: String, source: AwsError },
}

/// The settings of one function.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: ConfigSource,
    /// How often `ConfigSource::Parameter` is read again.
    pub config_refresh: std::time::Duration,
    pub webhook_secret: SecretSetting,
    pub topic_arn: Option<String>,
    /// The topics besides `topic_arn` this function may publish to; `None` when not told.
    pub granted_topics: Option<Vec<String>>,
    pub event_bus: Option<String>,
    pub dedup_table: Option<String>,
    pub status_secret: SecretSetting,
    pub dry_run: bool,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, StartupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StartupError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let config = match (get(vars::CONFIG), get(vars::CONFIG_PARAMETER)) {
            (Some(doc), None) => ConfigSource::Inline(doc),
            (None, Some(name)) => ConfigSource::Parameter(name),
            (Some(_), Some(_)) => {
                return Err(StartupError::Env(
                    vars::CONFIG,
                    "set HERALD_CONFIG or HERALD_CONFIG_PARAMETER, not both".into(),
                ))
            }
            (None, None) => {
                return Err(StartupError::Env(vars::CONFIG, "not set (nor HERALD_CONFIG_PARAMETER)".into()))
            }
        };
        let webhook_secret = match (get(vars::WEBHOOK_SECRET_ARN), lookup(vars::WEBHOOK_SECRET)) {
            (Some(arn), _) => SecretSetting::SecretsManager(arn),
            (None, Some(secret)) if !secret.is_empty() => SecretSetting::Inline(secret),
            _ => SecretSetting::None,
        };
        let status_secret = status_secret(&lookup)?;
        let dry_run = dry_run(&lookup)?;
        let arn = |name: &'static str, service: &str| -> Result<Option<String>, StartupError> {
            match get(name) {
                Some(v) if !(v.starts_with("arn:") && v.split(':').nth(2) == Some(service)) => {
                    Err(StartupError::Env(name, format!("{v:?} is not an {service} ARN")))
                }
                v => Ok(v),
            }
        };
        let config_refresh = match get(vars::CONFIG_REFRESH_SECONDS) {
            None => crate::live::DEFAULT_REFRESH,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(secs) => std::time::Duration::from_secs(secs),
                Err(_) => {
                    return Err(StartupError::Env(
                        vars::CONFIG_REFRESH_SECONDS,
                        format!("{v:?} is not a number of seconds"),
                    ))
                }
            },
        };
        Ok(Self {
            config,
            config_refresh,
            webhook_secret,
            topic_arn: arn(vars::TOPIC_ARN, "sns")?,
            granted_topics: lookup(vars::ALERT_TOPIC_ARNS).map(|list| crate::config::arn_list(&list)),
            event_bus: get(vars::EVENT_BUS),
            dedup_table: get(vars::DEDUP_TABLE),
            status_secret,
            dry_run,
        })
    }
}

/// `HERALD_STATUS_SECRET_ARN` (a Secrets Manager ARN), else the inline `HERALD_STATUS_SECRET`.
fn status_secret(lookup: &impl Fn(&str) -> Option<String>) -> Result<SecretSetting, StartupError> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    Ok(match (get(vars::STATUS_SECRET_ARN), lookup(vars::STATUS_SECRET)) {
        (Some(arn), _) if !(arn.starts_with("arn:") && arn.split(':').nth(2) == Some("secretsmanager")) => {
            return Err(StartupError::Env(vars::STATUS_SECRET_ARN, format!("{arn:?} is not a secretsmanager ARN")))
        }
        (Some(arn), _) => SecretSetting::SecretsManager(arn),
        (None, Some(text)) if !text.trim().is_empty() => SecretSetting::Inline(text),
        _ => SecretSetting::None,
    })
}

/// `HERALD_DRY_RUN`: true or false.
fn dry_run(lookup: &impl Fn(&str) -> Option<String>) -> Result<bool, StartupError> {
    match lookup(vars::DRY_RUN).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(other) => Err(StartupError::Env(vars::DRY_RUN, format!("{other:?} is not true or false"))),
    }
}

/// The `redeliver` function's settings (docs/operations.md "Missed deliveries"): it reads no
/// configuration document, only the Git servers' credentials (whose entries name the hooks) and
/// the dedup table (cursors, attempts, and what `git-webhook` processed), both required.
#[derive(Debug, Clone)]
pub struct RedeliverSettings {
    pub dedup_table: String,
    pub status_secret: SecretSetting,
    /// List what would be redelivered, ask nothing and write nothing.
    pub dry_run: bool,
}

impl RedeliverSettings {
    pub fn from_env() -> Result<Self, StartupError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StartupError> {
        let dedup_table = lookup(vars::DEDUP_TABLE).filter(|v| !v.trim().is_empty()).ok_or(StartupError::Env(
            vars::DEDUP_TABLE,
            "not set: the sweep keeps each hook's cursor there and reads what git-webhook processed".into(),
        ))?;
        let status_secret = match status_secret(&lookup)? {
            SecretSetting::None => {
                return Err(StartupError::Env(
                    vars::STATUS_SECRET_ARN,
                    "not set: its entries name the hooks to sweep and the credentials to ask with".into(),
                ))
            }
            setting => setting,
        };
        Ok(Self { dedup_table, status_secret, dry_run: dry_run(&lookup)? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, StartupError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_the_environment() {
        let s = settings(&[
            ("HERALD_CONFIG", "{}"),
            ("HERALD_WEBHOOK_SECRET", "x"),
            ("HERALD_DRY_RUN", "true"),
            ("HERALD_DEDUP_TABLE", "t"),
        ])
        .unwrap();
        assert_eq!(s.config, ConfigSource::Inline("{}".into()));
        assert_eq!(s.webhook_secret, SecretSetting::Inline("x".into()));
        assert!(s.dry_run);
        assert_eq!(s.dedup_table.as_deref(), Some("t"));
        let s = settings(&[
            ("HERALD_CONFIG_PARAMETER", "/p"),
            ("HERALD_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:x"),
        ])
        .unwrap();
        assert_eq!(s.config, ConfigSource::Parameter("/p".into()));
        assert!(matches!(s.webhook_secret, SecretSetting::SecretsManager(_)));
        assert_eq!(settings(&[("HERALD_CONFIG", "{}")]).unwrap().webhook_secret, SecretSetting::None);
    }

    #[test]
    fn the_sweep_needs_its_table_and_credentials_and_no_configuration() {
        let read = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            RedeliverSettings::from_lookup(|k| map.get(k).cloned())
        };
        let arn = "arn:aws:secretsmanager:us-east-1:1:secret:creds";
        let s = read(&[("HERALD_DEDUP_TABLE", "t"), ("HERALD_STATUS_SECRET_ARN", arn)]).unwrap();
        assert_eq!(
            (s.dedup_table.as_str(), s.status_secret, s.dry_run),
            ("t", SecretSetting::SecretsManager(arn.into()), false)
        );
        assert!(read(&[("HERALD_STATUS_SECRET_ARN", arn)]).unwrap_err().to_string().starts_with("HERALD_DEDUP_TABLE"));
        assert!(read(&[("HERALD_DEDUP_TABLE", "t")]).unwrap_err().to_string().starts_with("HERALD_STATUS_SECRET_ARN"));
    }

    #[test]
    fn bad_environments_name_the_variable() {
        assert!(settings(&[]).unwrap_err().to_string().starts_with("HERALD_CONFIG: not set"));
        assert!(settings(&[("HERALD_CONFIG", "{}"), ("HERALD_CONFIG_PARAMETER", "/p")]).is_err());
        assert!(settings(&[("HERALD_CONFIG", "{}"), ("HERALD_DRY_RUN", "maybe")])
            .unwrap_err()
            .to_string()
            .starts_with("HERALD_DRY_RUN"));
        assert!(settings(&[("HERALD_CONFIG", "{}"), ("HERALD_TOPIC_ARN", "topic")])
            .unwrap_err()
            .to_string()
            .starts_with("HERALD_TOPIC_ARN"));
    }
}
