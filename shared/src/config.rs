//! The configuration document (docs/configuration.md "Configuration"): parsed and validated once, valid by construction.

use crate::change::{EventKind, PrAction};
use crate::glob::{GlobError, GlobList};
use crate::template::{Source, Template};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;

/// Most variables one trigger may pass (CodePipeline's limit).
pub const MAX_VARIABLES: usize = 50;

/// A configuration that cannot be used; the message names the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl ConfigError {
    fn new(path: impl Into<String>, message: impl fmt::Display) -> Self {
        Self { path: path.into(), message: message.to_string() }
    }
}

/// A pipeline name that satisfies CodePipeline's rule (`[A-Za-z0-9.@_-]{1,100}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PipelineName(String);

impl PipelineName {
    pub fn parse(name: &str) -> Result<Self, String> {
        if is_valid_ident(name, 100, |c| c.is_ascii_alphanumeric() || ".@_-".contains(c)) {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!("{name:?} is not a pipeline name ([A-Za-z0-9.@_-], 1 to 100 characters)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PipelineName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid_ident(s: &str, max: usize, allowed: impl Fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().count() <= max && s.chars().all(allowed)
}

/// Trigger, alert-rule and secret names: `[A-Za-z0-9_-]{1,64}`.
pub fn is_valid_name(name: &str) -> bool {
    is_valid_ident(name, 64, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub triggers: Vec<Trigger>,
    pub alerts: Vec<AlertRule>,
    /// Commands from pull requests: who may, which.
    pub commands: CommandSettings,
    /// Values that are valid but can never match, or probably mean something else: `herald
    /// validate` prints them and the functions log them once at cold start.
    pub warnings: Vec<Warning>,
}

/// A value that is valid but can never match (or is probably a mistake), and what to write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// Where: `trigger "api": git.paths[0]`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// One trigger: what starts which pipeline.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub name: String,
    pub pipeline: PipelineName,
    pub rule: TriggerRule,
    /// The source action to pin to the commit or object version.
    pub source_action: Option<String>,
    pub variables: Vec<Variable>,
    /// The named secret a delivery must be verified with to start this trigger.
    pub secret: Option<String>,
    /// Report the executions it starts back to the Git server (docs/statuses.md "Commit statuses").
    pub status: Option<StatusSetting>,
    /// Its starts join a concurrency group (docs/configuration.md "One build per pull request").
    pub concurrency: Option<Concurrency>,
}

/// A Git trigger's concurrency group: which of its starts belong together, and whether a new
/// one stops the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    /// `None`: [`Concurrency::DEFAULT_PULL_REQUEST`] for pull requests,
    /// [`Concurrency::DEFAULT_PUSH`] for the rest.
    pub group: Option<Template>,
    pub cancel_in_progress: bool,
    pub abandon: bool,
}

impl Concurrency {
    pub const DEFAULT_PULL_REQUEST: &'static str = "{repository}#{pr_number}";
    pub const DEFAULT_PUSH: &'static str = "{repository}#{branch}";
}

/// A Git trigger's commit statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSetting {
    /// `herald/<pipeline>` unless the trigger names one.
    pub context: String,
    /// One more status per stage (`<context>/<stage>`).
    pub stages: bool,
    /// A change skipped by `paths` or `[skip ci]` gets a final passing status (default), so a
    /// required check does not wait for it forever.
    pub skipped: bool,
}

impl StatusSetting {
    /// The longest context: Bitbucket keys and GitLab names stay well inside their limits.
    pub const MAX_CONTEXT: usize = 100;

    /// `"status": true`, `false`, or `{"context": "...", "stages": true}`.
    fn from_raw(value: &serde_json::Value, pipeline: &PipelineName, path: &str) -> Result<Option<Self>, ConfigError> {
        let default_context = format!("herald/{}", pipeline.as_str());
        match value {
            serde_json::Value::Bool(false) => Ok(None),
            serde_json::Value::Bool(true) => Ok(Some(Self { context: default_context, stages: false, skipped: true })),
            serde_json::Value::Object(fields) => {
                if let Some(unknown) = fields.keys().find(|k| !["context", "stages", "skipped"].contains(&k.as_str())) {
                    return Err(ConfigError::new(
                        path_of(path, "status"),
                        format!("unknown field {unknown:?} (context, stages, skipped)"),
                    ));
                }
                let context = match fields.get("context") {
                    None => default_context,
                    Some(serde_json::Value::String(c))
                        if (1..=Self::MAX_CONTEXT).contains(&c.chars().count()) && !c.chars().any(char::is_control) =>
                    {
                        c.clone()
                    }
                    Some(_) => {
                        return Err(ConfigError::new(
                            path_of(path, "status.context"),
                            format!("must be text of 1 to {} characters", Self::MAX_CONTEXT),
                        ))
                    }
                };
                let flag = |name: &str, default: bool| match fields.get(name) {
                    None => Ok(default),
                    Some(serde_json::Value::Bool(b)) => Ok(*b),
                    Some(_) => Err(ConfigError::new(path_of(path, &format!("status.{name}")), "must be true or false")),
                };
                Ok(Some(Self { context, stages: flag("stages", false)?, skipped: flag("skipped", true)? }))
            }
            _ => Err(ConfigError::new(
                path_of(path, "status"),
                "must be true, false or {\"context\": \"...\", \"stages\": true, \"skipped\": false}",
            )),
        }
    }
}

/// Whether a trigger listens to Git or to S3.
// Built once per cold start and read in place: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum TriggerRule {
    Git(GitRule),
    S3(S3Rule),
}

/// The Git part of a trigger.
#[derive(Debug, Clone)]
pub struct GitRule {
    pub repository: GlobList,
    pub events: Vec<EventKind>,
    pub branches: Option<GlobList>,
    pub source_branches: Option<GlobList>,
    pub tags: Option<GlobList>,
    pub pull_request_actions: Vec<PrAction>,
    pub paths: Option<GlobList>,
    pub skip_ci: bool,
    pub allow_forks: ForkPolicy,
}

/// Whether a trigger builds pull requests from forks (`allow_forks`): a fork's code must not run
/// with the pipeline's credentials unless the trigger says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForkPolicy {
    /// `false` (the default): never.
    Never,
    /// `true`: always.
    Always,
    /// `"on-approval"`: a fork's head commit once someone allowed to comments `/herald
    /// ok-to-test` (docs/commands.md "Commands from the pull request").
    OnApproval,
}

impl ForkPolicy {
    fn from_raw(value: Option<&serde_json::Value>, path: &str) -> Result<Self, ConfigError> {
        match value {
            None | Some(serde_json::Value::Bool(false)) => Ok(Self::Never),
            Some(serde_json::Value::Bool(true)) => Ok(Self::Always),
            Some(serde_json::Value::String(s)) if s == "on-approval" => Ok(Self::OnApproval),
            Some(_) => Err(ConfigError::new(path, "must be true, false or \"on-approval\"")),
        }
    }
}

/// Who may give commands from pull requests, and which (docs/commands.md "Commands from the pull
/// request"). Absent: the server's rule, every command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandSettings {
    /// When given, these user names alone may give commands (replaces the server's rule).
    pub users: Option<Vec<String>>,
    /// When given, these alone may approve or reject (and must pass the rule above too).
    pub approvers: Option<Vec<String>>,
    /// The commands enabled (default: all).
    pub allow: Vec<crate::commands::Verb>,
}

impl CommandSettings {
    /// The most user names a list may hold.
    pub const MAX_USERS: usize = 200;

    fn from_raw(raw: Option<RawCommands>) -> Result<Self, ConfigError> {
        let Some(raw) = raw else {
            return Ok(Self { allow: crate::commands::Verb::ALL.to_vec(), ..Self::default() });
        };
        let names = |field: &str, list: Option<Vec<String>>| -> Result<Option<Vec<String>>, ConfigError> {
            let Some(list) = list else { return Ok(None) };
            if list.len() > Self::MAX_USERS {
                return Err(ConfigError::new(
                    format!("commands.{field}"),
                    format!("at most {} names", Self::MAX_USERS),
                ));
            }
            if let Some(bad) = list
                .iter()
                .find(|n| n.is_empty() || n.len() > 256 || n.chars().any(|c| c.is_whitespace() || c.is_control()))
            {
                return Err(ConfigError::new(
                    format!("commands.{field}"),
                    format!("{bad:?} is not a user name (no spaces, 1 to 256 characters)"),
                ));
            }
            Ok(Some(list))
        };
        let allow = match raw.allow {
            None => crate::commands::Verb::ALL.to_vec(),
            Some(list) => words(
                "commands.allow",
                list,
                crate::commands::Verb::parse,
                "run, retry, stop, approve, reject, ok-to-test",
            )?,
        };
        Ok(Self { users: names("users", raw.users)?, approvers: names("approvers", raw.approvers)?, allow })
    }
}

/// The S3 part of a trigger.
#[derive(Debug, Clone)]
pub struct S3Rule {
    pub bucket: GlobList,
    pub keys: Option<GlobList>,
}

/// A pipeline variable and its template.
#[derive(Debug, Clone)]
pub struct Variable {
    pub name: String,
    pub template: Template,
}

/// What an alert rule listens for (docs/alerts.md "Alerts").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertToken {
    Started,
    Succeeded,
    Failed,
    Stopped,
    Stopping,
    Superseded,
    Canceled,
    Resumed,
    Recovered,
    FirstFailure,
    RolledBack,
    StageFailed,
    ActionFailed,
    Approval,
    Audit,
}

impl AlertToken {
    pub const ALL: [AlertToken; 15] = [
        Self::Started,
        Self::Succeeded,
        Self::Failed,
        Self::Stopped,
        Self::Stopping,
        Self::Superseded,
        Self::Canceled,
        Self::Resumed,
        Self::Recovered,
        Self::FirstFailure,
        Self::RolledBack,
        Self::StageFailed,
        Self::ActionFailed,
        Self::Approval,
        Self::Audit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Stopped => "STOPPED",
            Self::Stopping => "STOPPING",
            Self::Superseded => "SUPERSEDED",
            Self::Canceled => "CANCELED",
            Self::Resumed => "RESUMED",
            Self::Recovered => "RECOVERED",
            Self::FirstFailure => "FIRST_FAILURE",
            Self::RolledBack => "ROLLED_BACK",
            Self::StageFailed => "STAGE_FAILED",
            Self::ActionFailed => "ACTION_FAILED",
            Self::Approval => "APPROVAL",
            Self::Audit => "AUDIT",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == word)
    }
}

impl serde::Serialize for AlertToken {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One alert rule: which pipelines' events go to which topic.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub name: String,
    pub pipelines: GlobList,
    pub on: Vec<AlertToken>,
    /// `None`: the default topic (`HERALD_TOPIC_ARN`).
    pub topic_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    triggers: Vec<RawTrigger>,
    alerts: Option<Vec<RawAlert>>,
    commands: Option<RawCommands>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommands {
    users: Option<Vec<String>>,
    approvers: Option<Vec<String>>,
    allow: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    name: String,
    pipeline: String,
    git: Option<RawGit>,
    s3: Option<RawS3>,
    source_action: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    secret: Option<String>,
    status: Option<serde_json::Value>,
    concurrency: Option<RawConcurrency>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConcurrency {
    group: Option<String>,
    cancel_in_progress: Option<bool>,
    abandon: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGit {
    repository: String,
    events: Option<Vec<String>>,
    branches: Option<Vec<String>>,
    source_branches: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    pull_request_actions: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    skip_ci: Option<bool>,
    allow_forks: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawS3 {
    bucket: String,
    keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    name: String,
    pipelines: Vec<String>,
    on: Vec<String>,
    topic_arn: Option<String>,
}

impl Config {
    /// Parses and validates the JSON document.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Self::read(text).map_err(|mut errors| errors.swap_remove(0))
    }

    /// Every error of the document, not only the first: each trigger and alert rule is read even
    /// when one before it is wrong (`herald validate` lists them all). Never empty on `Err`.
    pub fn errors(text: &str) -> Vec<ConfigError> {
        Self::read(text).err().unwrap_or_default()
    }

    fn read(text: &str) -> Result<Self, Vec<ConfigError>> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| vec![document_error(text, &e)])?;
        let warnings = warnings(&raw);
        let mut errors = Vec::new();
        let mut names = HashSet::new();
        let mut triggers = Vec::with_capacity(raw.triggers.len());
        for (i, t) in raw.triggers.into_iter().enumerate() {
            if !is_valid_name(&t.name) {
                errors.push(ConfigError::new(
                    format!("triggers[{i}].name"),
                    format!("{:?} must match [A-Za-z0-9_-]{{1,64}}", t.name),
                ));
                continue;
            }
            let path = format!("trigger {:?}", t.name);
            if !names.insert(t.name.clone()) {
                errors.push(ConfigError::new(path, "name is used by another trigger"));
                continue;
            }
            match Trigger::from_raw(t, &path) {
                Ok(trigger) => triggers.push(trigger),
                Err(e) => errors.push(e),
            }
        }
        let alerts = match raw.alerts {
            None => match glob_list(&path_of("alert \"default\"", "pipelines"), &["**"], false) {
                Ok(pipelines) => vec![AlertRule {
                    name: "default".into(),
                    pipelines,
                    on: vec![AlertToken::Failed, AlertToken::Recovered],
                    topic_arn: None,
                }],
                Err(e) => {
                    errors.push(e);
                    Vec::new()
                }
            },
            Some(rules) => {
                let mut names = HashSet::new();
                let mut out = Vec::with_capacity(rules.len());
                for (i, a) in rules.into_iter().enumerate() {
                    if !is_valid_name(&a.name) {
                        errors.push(ConfigError::new(
                            format!("alerts[{i}].name"),
                            format!("{:?} must match [A-Za-z0-9_-]{{1,64}}", a.name),
                        ));
                        continue;
                    }
                    let path = format!("alert {:?}", a.name);
                    if !names.insert(a.name.clone()) {
                        errors.push(ConfigError::new(path, "name is used by another alert rule"));
                        continue;
                    }
                    match AlertRule::from_raw(a, &path) {
                        Ok(rule) => out.push(rule),
                        Err(e) => errors.push(e),
                    }
                }
                out
            }
        };
        let commands = CommandSettings::from_raw(raw.commands).map_err(|e| errors.push(e));
        match commands {
            Ok(commands) if errors.is_empty() => Ok(Self { triggers, alerts, commands, warnings }),
            _ => Err(errors),
        }
    }

    /// The triggers that listen to Git.
    pub fn git_triggers(&self) -> impl Iterator<Item = (&Trigger, &GitRule)> {
        self.triggers.iter().filter_map(|t| match &t.rule {
            TriggerRule::Git(rule) => Some((t, rule)),
            TriggerRule::S3(_) => None,
        })
    }

    /// The triggers that listen to S3.
    pub fn s3_triggers(&self) -> impl Iterator<Item = (&Trigger, &S3Rule)> {
        self.triggers.iter().filter_map(|t| match &t.rule {
            TriggerRule::S3(rule) => Some((t, rule)),
            TriggerRule::Git(_) => None,
        })
    }

    /// The triggers that report commit statuses.
    pub fn status_triggers(&self) -> impl Iterator<Item = (&Trigger, &StatusSetting)> {
        self.triggers.iter().filter_map(|t| t.status.as_ref().map(|s| (t, s)))
    }

    /// Alert rules that name no topic, which need `HERALD_TOPIC_ARN`.
    pub fn alerts_without_topic(&self) -> impl Iterator<Item = &AlertRule> {
        self.alerts.iter().filter(|a| a.topic_arn.is_none())
    }

    /// Alert rules (name, topic) whose `topic_arn` is neither the default topic nor among the
    /// `granted` ones: the notifier may not publish there. The notifier's cold start and
    /// `herald doctor --stack` both ask this.
    /// The S3 triggers no write can reach: their bucket glob matches none of `buckets` (the
    /// stack's `S3SourceBuckets`, the only buckets s3-trigger hears of), with the glob.
    pub fn undeliverable_s3_triggers(&self, buckets: &[String]) -> Vec<(&str, &str)> {
        self.s3_triggers()
            .filter(|(_, rule)| !buckets.iter().any(|b| rule.bucket.is_match(b)))
            .map(|(t, rule)| (t.name.as_str(), rule.bucket.written()))
            .collect()
    }

    pub fn ungranted_topics<'c>(&'c self, default_topic: Option<&str>, granted: &[String]) -> Vec<(&'c str, &'c str)> {
        self.alerts
            .iter()
            .filter_map(|rule| rule.topic_arn.as_deref().map(|topic| (rule.name.as_str(), topic)))
            .filter(|(_, topic)| default_topic != Some(*topic) && !granted.iter().any(|g| g == topic))
            .collect()
    }
}

/// The ARNs of a comma-separated list (`HERALD_ALERT_TOPIC_ARNS`, the stack parameter
/// `AdditionalAlertTopicArns`): trimmed, empty entries dropped.
pub fn arn_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

/// What is wrong with a document serde could not read, in the user's terms (never an internal
/// type name).
fn document_error(text: &str, e: &serde_json::Error) -> ConfigError {
    let trimmed = text.trim_start();
    let top = "the top level must be a JSON object with \"triggers\" and/or \"alerts\", e.g. {\"triggers\": []}";
    let message = if trimmed.is_empty() {
        format!("the document is empty; {top}")
    } else if trimmed.starts_with("//")
        || trimmed.starts_with("/*")
        || trimmed.starts_with('#')
        || text.contains("\n//")
    {
        "the configuration must be JSON, and JSON has no comments; remove them".to_owned()
    } else if !trimmed.starts_with('{')
        && !trimmed.starts_with('[')
        && !trimmed.starts_with('"')
        && trimmed.contains(':')
    {
        "the configuration must be JSON; this looks like YAML (convert it, e.g. with yq -o json)".to_owned()
    } else if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        match value {
            serde_json::Value::Object(_) => {
                // Valid JSON of the wrong shape: serde's message names the field and what it expected.
                let detail = e.to_string();
                let detail = detail.split(" at line").next().unwrap_or(&detail).to_owned();
                format!("{detail} (line {}, column {})", e.line(), e.column())
            }
            serde_json::Value::Array(_) => format!("the document is an array; {top}"),
            _ => format!("the document is a single value; {top}"),
        }
    } else {
        match e.classify() {
            serde_json::error::Category::Eof => {
                format!("the JSON ends early (line {}): a bracket or quote is not closed", e.line())
            }
            _ => {
                // serde_json's own words name the cause ("trailing comma", "expected `:`", ...).
                let detail = e.to_string();
                let cause = detail.split(" at line").next().unwrap_or(&detail);
                format!("not valid JSON at line {}, column {}: {cause}", e.line(), e.column())
            }
        }
    };
    ConfigError::new("configuration", message)
}

/// Hosts of public Git services, which a `repository` written with its host would start with.
const KNOWN_HOSTS: [&str; 7] =
    ["github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "dev.azure.com", "gitea.com", "www.github.com"];

/// The warnings of a document that parsed (see [`Warning`]).
fn warnings(raw: &RawConfig) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |field: String, message: String| out.push(Warning { field, message });
    let pipelines: HashSet<&str> = raw.triggers.iter().map(|t| t.pipeline.as_str()).collect();
    // Each trigger's shape (everything but its name), and the trigger that had it first.
    let mut seen: Vec<(String, &str)> = Vec::new();
    for t in &raw.triggers {
        let at = |field: &str| format!("trigger {:?}: {field}", t.name);
        for (name, template) in &t.variables {
            if template.contains("${") {
                warn(
                    at(&format!("variables.{name}")),
                    format!("{template:?} uses ${{…}}; placeholders are written {{…}} (the $ would stay in the value)"),
                );
            }
        }
        if let Some(git) = &t.git {
            let repo = git.repository.as_str();
            let first = repo.split('/').next().unwrap_or_default();
            if repo.contains("://") || repo.starts_with("git@") || repo.ends_with(".git") {
                warn(
                    at("git.repository"),
                    format!("{repo:?} is a URL; write the repository's full name, e.g. \"acme/app\""),
                );
            } else if repo.matches('/').count() >= 2 && KNOWN_HOSTS.contains(&first.to_ascii_lowercase().as_str()) {
                let name = &repo[first.len() + 1..];
                warn(
                    at("git.repository"),
                    format!("{repo:?} starts with the server's host, which never matches: write {name:?}"),
                );
            }
            for (field, list) in
                [("branches", &git.branches), ("source_branches", &git.source_branches), ("tags", &git.tags)]
            {
                let list = list.iter().flatten().collect::<Vec<_>>();
                for (i, pattern) in list.iter().enumerate() {
                    let Some(excluded) = pattern.strip_prefix('!') else { continue };
                    if let Some(j) = list.iter().position(|p| p.as_str() == excluded) {
                        warn(
                            at(&format!("git.{field}[{j}]")),
                            format!("{excluded:?} is also excluded by {pattern:?} ({field}[{i}]), and an exclusion wins wherever it stands: it never matches"),
                        );
                    }
                }
            }
            for (field, list, prefix) in [
                ("branches", &git.branches, "refs/heads/"),
                ("source_branches", &git.source_branches, "refs/heads/"),
                ("tags", &git.tags, "refs/tags/"),
            ] {
                for (i, pattern) in list.iter().flatten().enumerate() {
                    let body = pattern.trim_start_matches('!');
                    if body.starts_with("refs/") {
                        let short = body.strip_prefix(prefix).unwrap_or(body);
                        warn(
                            at(&format!("git.{field}[{i}]")),
                            format!("{pattern:?} never matches: names are compared without refs/…; write {short:?}"),
                        );
                    }
                }
            }
            for (i, pattern) in git.paths.iter().flatten().enumerate() {
                let body = pattern.trim_start_matches('!');
                if body.starts_with("./") || body.starts_with('/') {
                    let fixed = body.trim_start_matches("./").trim_start_matches('/');
                    warn(
                        at(&format!("git.paths[{i}]")),
                        format!(
                            "{pattern:?} never matches: paths are relative to the repository root; write {fixed:?}"
                        ),
                    );
                } else if body.ends_with('/') {
                    warn(
                        at(&format!("git.paths[{i}]")),
                        format!("{pattern:?} never matches a file; write \"{body}**\""),
                    );
                }
            }
            let events = git.events.clone().unwrap_or_else(|| vec!["push".into()]);
            if git.tags.is_some() && !events.iter().any(|e| e == "tag") {
                warn(
                    at("git.tags"),
                    "tags filter nothing: the trigger's events do not include \"tag\"; add it to events".into(),
                );
            }
            let group = t.concurrency.as_ref().and_then(|c| c.group.as_deref()).unwrap_or_default();
            if group.contains("{branch}")
                && events.iter().any(|e| e == "pull_request")
                && !group.contains("{pr_number}")
            {
                warn(
                    at("concurrency.group"),
                    format!(
                        "{group:?} groups pull requests by their source branch, which a fork names as it likes (its \"main\" is \
                         not yours): pull requests of one branch name, forks included, supersede each other; use \
                         {{pr_number}} (the default) for pull requests"
                    ),
                );
            }
            if git.pull_request_actions.is_some() && !events.iter().any(|e| e == "pull_request") {
                warn(
                    at("git.pull_request_actions"),
                    "filters nothing: the trigger's events do not include \"pull_request\"; add it to events".into(),
                );
            }
        }
        // Identical but for the name: the second one starts the same pipeline twice.
        let mut shape = serde_json::json!({ "pipeline": t.pipeline, "source_action": t.source_action, "variables": t.variables, "secret": t.secret });
        shape["git"] = t.git.as_ref().map_or(serde_json::Value::Null, |g| {
            serde_json::json!([
                g.repository,
                g.events,
                g.branches,
                g.source_branches,
                g.tags,
                g.pull_request_actions,
                g.paths,
                g.skip_ci,
                g.allow_forks
            ])
        });
        shape["s3"] = t.s3.as_ref().map_or(serde_json::Value::Null, |s| serde_json::json!([s.bucket, s.keys]));
        let shape = shape.to_string();
        match seen.iter().find(|(s, _)| *s == shape) {
            Some((_, first)) => warn(at("name"), format!("identical to trigger {first:?}: each delivery would start the pipeline twice (deduplicated only by their tokens); remove one")),
            None => seen.push((shape, &t.name)),
        }
    }
    for a in raw.alerts.iter().flatten() {
        for (i, pattern) in a.pipelines.iter().enumerate() {
            // A literal ending like a prefix ("shop-") was meant as a glob ("shop-*").
            let literal = !pattern.contains(['*', '?', '[', '{', '!']);
            let prefix_like = pattern.ends_with(['-', '_', '.', '/']);
            if literal && prefix_like && !pipelines.contains(pattern.as_str()) {
                warn(
                    format!("alert {:?}: pipelines[{i}]", a.name),
                    format!("{pattern:?} has no glob and names no pipeline of this configuration: it matches only a pipeline named exactly that; write \"{pattern}*\" for every pipeline it starts"),
                );
            }
        }
    }
    out
}

fn path_of(base: &str, field: &str) -> String {
    format!("{base}: {field}")
}

fn glob_list<S: AsRef<str>>(path: &str, patterns: &[S], case_insensitive: bool) -> Result<GlobList, ConfigError> {
    GlobList::new(patterns, case_insensitive).map_err(|e| match e {
        GlobError::TooLong { .. } | GlobError::Invalid { .. } | GlobError::EmptyPattern { .. } => {
            // "[2]: reason" reads as "branches[2]: reason"
            let text = e.to_string();
            match text.split_once(": ") {
                Some((index, reason)) => ConfigError::new(format!("{path}{index}"), reason),
                None => ConfigError::new(path, text),
            }
        }
        _ => ConfigError::new(path, e),
    })
}

fn optional_globs(path: &str, patterns: Option<Vec<String>>, ci: bool) -> Result<Option<GlobList>, ConfigError> {
    patterns.map(|p| glob_list(path, &p, ci)).transpose()
}

fn words<T>(
    path: &str,
    list: Vec<String>,
    parse: impl Fn(&str) -> Option<T>,
    known: &str,
) -> Result<Vec<T>, ConfigError> {
    if list.is_empty() {
        return Err(ConfigError::new(path, "must not be empty"));
    }
    list.iter()
        .enumerate()
        .map(|(i, w)| {
            parse(w).ok_or_else(|| {
                ConfigError::new(format!("{path}[{i}]"), format!("unknown value {w:?}; expected one of {known}"))
            })
        })
        .collect()
}

impl Trigger {
    fn from_raw(t: RawTrigger, path: &str) -> Result<Self, ConfigError> {
        let pipeline = PipelineName::parse(&t.pipeline).map_err(|e| ConfigError::new(path_of(path, "pipeline"), e))?;
        let (rule, source) = match (t.git, t.s3) {
            (Some(git), None) => (TriggerRule::Git(GitRule::from_raw(git, path)?), Source::Git),
            (None, Some(s3)) => (TriggerRule::S3(S3Rule::from_raw(s3, path)?), Source::S3),
            _ => return Err(ConfigError::new(path, "needs exactly one of \"git\" or \"s3\"")),
        };
        if let Some(action) = &t.source_action {
            if !is_valid_ident(action, 100, |c| c.is_ascii_alphanumeric() || ".@_-".contains(c)) {
                return Err(ConfigError::new(
                    path_of(path, "source_action"),
                    format!("{action:?} is not an action name ([A-Za-z0-9.@_-], 1 to 100 characters)"),
                ));
            }
        }
        if t.variables.len() > MAX_VARIABLES {
            return Err(ConfigError::new(
                path_of(path, "variables"),
                format!("has {} entries; CodePipeline accepts at most {MAX_VARIABLES}", t.variables.len()),
            ));
        }
        let mut variables = Vec::with_capacity(t.variables.len());
        for (name, text) in t.variables {
            let field = format!("variables.{name}");
            if !is_valid_ident(&name, 128, |c| c.is_ascii_alphanumeric() || "@_-".contains(c)) {
                return Err(ConfigError::new(path_of(path, &field), "variable names must match [A-Za-z0-9@_-]{1,128}"));
            }
            let template = Template::parse(&text, source).map_err(|e| ConfigError::new(path_of(path, &field), e))?;
            variables.push(Variable { name, template });
        }
        if let Some(secret) = &t.secret {
            if !is_valid_name(secret) {
                return Err(ConfigError::new(
                    path_of(path, "secret"),
                    format!("{secret:?} must match [A-Za-z0-9_-]{{1,64}}"),
                ));
            }
            if source == Source::S3 {
                return Err(ConfigError::new(path_of(path, "secret"), "only Git triggers are started by webhooks"));
            }
        }
        let status = match &t.status {
            None => None,
            Some(_) if source == Source::S3 => {
                return Err(ConfigError::new(path_of(path, "status"), "commit statuses are for Git triggers only"))
            }
            Some(value) => StatusSetting::from_raw(value, &pipeline, path)?,
        };
        let concurrency = match t.concurrency {
            None => None,
            Some(_) if source == Source::S3 => {
                return Err(ConfigError::new(
                    path_of(path, "concurrency"),
                    "concurrency groups are for Git triggers only",
                ))
            }
            Some(raw) => {
                let group = raw
                    .group
                    .map(|text| {
                        if text.trim().is_empty() {
                            return Err(ConfigError::new(path_of(path, "concurrency.group"), "must not be empty"));
                        }
                        Template::parse(&text, source)
                            .map_err(|e| ConfigError::new(path_of(path, "concurrency.group"), e))
                    })
                    .transpose()?;
                let cancel_in_progress = raw.cancel_in_progress.unwrap_or(false);
                let abandon = raw.abandon.unwrap_or(false);
                Some(Concurrency { group, cancel_in_progress, abandon })
            }
        };
        Ok(Self {
            name: t.name,
            pipeline,
            rule,
            source_action: t.source_action,
            variables,
            secret: t.secret,
            status,
            concurrency,
        })
    }
}

impl GitRule {
    fn from_raw(g: RawGit, path: &str) -> Result<Self, ConfigError> {
        let field = |name: &str| path_of(path, &format!("git.{name}"));
        let events = match g.events {
            None => vec![EventKind::Push],
            Some(list) => words(&field("events"), list, EventKind::parse, "push, tag, pull_request, merge_group")?,
        };
        let pull_request_actions = match g.pull_request_actions {
            None => vec![PrAction::Opened, PrAction::Updated, PrAction::Reopened],
            Some(list) => words(
                &field("pull_request_actions"),
                list,
                PrAction::parse,
                "opened, updated, reopened, merged, closed",
            )?,
        };
        Ok(Self {
            repository: glob_list(&field("repository"), &[g.repository], true)
                .map_err(|e| ConfigError { path: field("repository"), ..e })?,
            events,
            branches: optional_globs(&field("branches"), g.branches, false)?,
            source_branches: optional_globs(&field("source_branches"), g.source_branches, false)?,
            tags: optional_globs(&field("tags"), g.tags, false)?,
            pull_request_actions,
            paths: optional_globs(&field("paths"), g.paths, false)?,
            skip_ci: g.skip_ci.unwrap_or(true),
            allow_forks: ForkPolicy::from_raw(g.allow_forks.as_ref(), &field("allow_forks"))?,
        })
    }
}

impl S3Rule {
    fn from_raw(s: RawS3, path: &str) -> Result<Self, ConfigError> {
        let field = |name: &str| path_of(path, &format!("s3.{name}"));
        Ok(Self {
            bucket: glob_list(&field("bucket"), &[s.bucket], false)
                .map_err(|e| ConfigError { path: field("bucket"), ..e })?,
            keys: optional_globs(&field("keys"), s.keys, false)?,
        })
    }
}

impl AlertRule {
    fn from_raw(a: RawAlert, path: &str) -> Result<Self, ConfigError> {
        let pipelines = glob_list(&path_of(path, "pipelines"), &a.pipelines, false)?;
        let known = AlertToken::ALL.map(|t| t.as_str()).join(", ");
        let on = words(&path_of(path, "on"), a.on, AlertToken::parse, &known)?;
        if let Some(arn) = &a.topic_arn {
            if !(arn.starts_with("arn:") && arn.split(':').nth(2) == Some("sns") && arn.split(':').count() == 6) {
                return Err(ConfigError::new(path_of(path, "topic_arn"), format!("{arn:?} is not an SNS topic ARN")));
            }
        }
        Ok(Self { name: a.name, pipelines, on, topic_arn: a.topic_arn })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const README_EXAMPLE: &str = r#"{
      "triggers": [
        { "name": "app-main", "pipeline": "app-pipeline",
          "git": { "repository": "acme/app", "events": ["push", "tag", "pull_request"],
                   "branches": ["main", "release/**", "!release/legacy"], "tags": ["v*"],
                   "pull_request_actions": ["opened", "updated", "reopened"],
                   "paths": ["services/app/**", "!**/*.md"], "skip_ci": true },
          "source_action": "Source",
          "variables": { "BRANCH": "{branch}", "COMMIT_ID": "{commit}" } },
        { "name": "artifact-drop", "pipeline": "deploy-pipeline",
          "s3": { "bucket": "acme-artifacts", "keys": ["releases/**/*.zip"] },
          "source_action": "Source", "variables": { "ARTIFACT_KEY": "{key}" } }
      ],
      "alerts": [
        { "name": "prod", "pipelines": ["prod-*"], "on": ["FAILED", "RECOVERED", "APPROVAL", "AUDIT"],
          "topic_arn": "arn:aws:sns:us-east-1:111122223333:prod-alerts" },
        { "name": "everything-else", "pipelines": ["**"], "on": ["FAILED", "RECOVERED"] }
      ]
    }"#;

    fn err(text: &str) -> String {
        Config::from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn the_spec_example_is_valid() {
        let c = Config::from_json(README_EXAMPLE).unwrap();
        assert_eq!(c.triggers.len(), 2);
        assert_eq!(c.git_triggers().count(), 1);
        assert_eq!(c.s3_triggers().count(), 1);
        assert_eq!(c.alerts.len(), 2);
        assert_eq!(c.alerts_without_topic().count(), 1);
        let (_, git) = c.git_triggers().next().unwrap();
        assert!(git.repository.is_match("ACME/app"));
    }

    #[test]
    fn defaults() {
        let c = Config::from_json(r#"{"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r"}}]}"#).unwrap();
        let (_, git) = c.git_triggers().next().unwrap();
        assert_eq!(git.events, [EventKind::Push]);
        assert_eq!(git.pull_request_actions, [PrAction::Opened, PrAction::Updated, PrAction::Reopened]);
        assert!(git.skip_ci && git.allow_forks == ForkPolicy::Never && git.branches.is_none() && git.paths.is_none());
        assert_eq!(c.alerts.len(), 1);
        assert_eq!(c.alerts[0].name, "default");
        assert_eq!(c.alerts[0].on, [AlertToken::Failed, AlertToken::Recovered]);
        assert!(Config::from_json("{}").unwrap().triggers.is_empty());
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r","brnches":["x"]}}]}"#)
            .contains("unknown field `brnches`"));
        assert_eq!(
            err(
                r#"{"triggers":[{"name":"app-main","pipeline":"p","git":{"repository":"o/r","branches":["a","b","c[" ]}}]}"#
            ),
            "trigger \"app-main\": git.branches[2]: unclosed character class; missing ']'"
        );
        assert_eq!(
            err(r#"{"triggers":[{"name":"a b","pipeline":"p","git":{"repository":"o/r"}}]}"#),
            "triggers[0].name: \"a b\" must match [A-Za-z0-9_-]{1,64}"
        );
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r"}},{"name":"a","pipeline":"p","git":{"repository":"o/r"}}]}"#).contains("used by another trigger"));
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p"}]}"#).contains("exactly one of"));
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r"},"s3":{"bucket":"b"}}]}"#)
            .contains("exactly one of"));
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"bad name","git":{"repository":"o/r"}}]}"#)
            .starts_with("trigger \"a\": pipeline:"));
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r","events":["pushh"]}}]}"#)
            .starts_with("trigger \"a\": git.events[0]: unknown value \"pushh\""));
        assert!(err(
            r#"{"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r"},"variables":{"X":"{nope}"}}]}"#
        )
        .starts_with("trigger \"a\": variables.X: unknown placeholder {nope}"));
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p","s3":{"bucket":"b"},"variables":{"X":"{branch}"}}]}"#)
            .contains("unknown placeholder {branch}"));
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r","branches":[]}}]}"#)
            .contains("git.branches: must not be empty"));
        assert!(err(r#"{"alerts":[{"name":"x","pipelines":["**"],"on":["FAILD"]}]}"#)
            .starts_with("alert \"x\": on[0]: unknown value"));
        assert!(err(r#"{"alerts":[{"name":"x","pipelines":["**"],"on":["FAILED"],"topic_arn":"nope"}]}"#)
            .contains("not an SNS topic ARN"));
        assert!(err("[").starts_with("configuration:"));
        let many: BTreeMap<String, String> = (0..51).map(|i| (format!("V{i}"), "{commit}".to_string())).collect();
        let doc =
            serde_json::json!({"triggers":[{"name":"a","pipeline":"p","git":{"repository":"o/r"},"variables":many}]});
        assert!(err(&doc.to_string()).contains("at most 50"));
    }

    #[test]
    fn concurrency_is_read_or_refused_by_field() {
        let doc = |c: &str| {
            format!(r#"{{"triggers":[{{"name":"a","pipeline":"p","git":{{"repository":"o/r"}},"concurrency":{c}}}]}}"#)
        };
        let c =
            Config::from_json(&doc(r#"{"group":"{repository}/{pr_number}","cancel_in_progress":true,"abandon":true}"#))
                .unwrap();
        let got = c.triggers[0].concurrency.as_ref().unwrap();
        assert!(got.group.is_some() && got.cancel_in_progress && got.abandon);
        let defaults = Config::from_json(&doc("{}")).unwrap();
        assert_eq!(
            defaults.triggers[0].concurrency,
            Some(Concurrency { group: None, cancel_in_progress: false, abandon: false })
        );
        assert!(
            err(&doc(r#"{"group":"{pr}"}"#)).starts_with("trigger \"a\": concurrency.group: unknown placeholder {pr}")
        );
        assert!(err(&doc(r#"{"group":" "}"#)).contains("concurrency.group: must not be empty"));
        assert!(err(&doc(r#"{"cancel":true}"#)).contains("unknown field `cancel`"));
        assert!(err(r#"{"triggers":[{"name":"a","pipeline":"p","s3":{"bucket":"b"},"concurrency":{}}]}"#)
            .contains("concurrency: concurrency groups are for Git triggers only"));
    }

    #[test]
    fn pipeline_names() {
        assert!(PipelineName::parse("prod-api.v2@x_y").is_ok());
        assert!(PipelineName::parse("").is_err());
        assert!(PipelineName::parse(&"a".repeat(101)).is_err());
    }

    #[test]
    fn status_settings() {
        let status = |value: &str| {
            let doc = format!(
                r#"{{"triggers":[{{"name":"a","pipeline":"app","git":{{"repository":"o/r"}},"status":{value}}}]}}"#
            );
            Config::from_json(&doc).map(|c| c.triggers[0].status.clone()).map_err(|e| e.to_string())
        };
        assert_eq!(
            status("true"),
            Ok(Some(StatusSetting { context: "herald/app".into(), stages: false, skipped: true }))
        );
        assert_eq!(status("false"), Ok(None));
        assert_eq!(
            status(r#"{"context":"ci/herald","stages":true}"#),
            Ok(Some(StatusSetting { context: "ci/herald".into(), stages: true, skipped: true }))
        );
        assert!(!status(r#"{"skipped":false}"#).unwrap().unwrap().skipped);
        assert!(status(r#"{"skipped":"no"}"#).unwrap_err().contains("status.skipped"));
        assert_eq!(status(r#"{"stages":true}"#).unwrap().unwrap().context, "herald/app");
        assert!(status(r#"{"contxt":"x"}"#).unwrap_err().contains("status: unknown field \"contxt\""));
        assert!(status(r#"{"context":""}"#).unwrap_err().contains("status.context"));
        assert!(status(r#"{"stages":"yes"}"#).unwrap_err().contains("status.stages"));
        assert!(status(r#""on""#).unwrap_err().contains("must be true, false"));
        let s3 = r#"{"triggers":[{"name":"a","pipeline":"p","s3":{"bucket":"b"},"status":true}]}"#;
        assert!(Config::from_json(s3).unwrap_err().to_string().contains("for Git triggers only"));
    }

    #[test]
    fn allow_forks_and_commands_are_read_or_refused_by_field() {
        let git = |forks: &str| {
            Config::from_json(&format!(
                r#"{{"triggers": [{{"name": "t", "pipeline": "p", "git": {{"repository": "a/b", "allow_forks": {forks}}}}}]}}"#
            ))
            .map(|c| c.git_triggers().next().unwrap().1.allow_forks)
        };
        assert_eq!(git("true").unwrap(), ForkPolicy::Always);
        assert_eq!(git("false").unwrap(), ForkPolicy::Never);
        assert_eq!(git(r#""on-approval""#).unwrap(), ForkPolicy::OnApproval);
        let e = git(r#""sometimes""#).unwrap_err();
        assert_eq!(e.path, "trigger \"t\": git.allow_forks", "{e}");
        let c = Config::from_json(r#"{"commands": {"users": ["ann"], "allow": ["run", "ok-to-test"]}}"#).unwrap();
        assert_eq!(c.commands.users, Some(vec!["ann".to_owned()]));
        assert_eq!(c.commands.allow, [crate::commands::Verb::Run, crate::commands::Verb::OkToTest]);
        assert_eq!(Config::from_json("{}").unwrap().commands.allow.len(), 6, "all by default");
        let e = Config::from_json(r#"{"commands": {"allow": ["deploy"]}}"#).unwrap_err();
        assert_eq!(e.path, "commands.allow[0]");
        let e = Config::from_json(r#"{"commands": {"users": ["a b"]}}"#).unwrap_err();
        assert_eq!(e.path, "commands.users");
        assert!(Config::from_json(r#"{"commands": {"who": []}}"#).is_err(), "unknown fields are errors");
    }

    /// `herald validate` lists every error; a trailing comma is named; `merge_group` is listed.
    #[test]
    fn every_error_is_reported_and_a_trailing_comma_named() {
        let text = r#"{"triggers": [
            { "name": "a", "pipeline": "p", "git": { "repository": "acme/app", "events": ["pushy"] } },
            { "name": "b", "pipeline": "", "git": { "repository": "x/y" } },
            { "name": "c", "pipeline": "ok", "git": { "repository": "x/y" } }
        ], "alerts": [{ "name": "bad name", "pipelines": ["**"], "on": ["FAILED"] }]}"#;
        let errors: Vec<String> = Config::errors(text).iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("expected one of push, tag, pull_request, merge_group"), "{errors:?}");
        assert!(errors[1].starts_with("trigger \"b\": pipeline"), "{errors:?}");
        assert!(errors[2].starts_with("alerts[0].name"), "{errors:?}");
        assert_eq!(Config::from_json(text).unwrap_err().to_string(), errors[0], "the first is from_json's");
        assert!(Config::errors(r#"{"triggers": []}"#).is_empty());
        let comma = Config::from_json(r#"{"triggers": [],}"#).unwrap_err().to_string();
        assert!(comma.contains("trailing comma"), "{comma}");
    }

    /// A repository written with its host, a branch its own exclusion hides, and pull request
    /// actions on a trigger without pull requests: each never matches, and is warned of.
    #[test]
    fn patterns_that_never_match_are_warned_of() {
        let config = Config::from_json(
            r#"{"triggers": [{ "name": "a", "pipeline": "p", "git": { "repository": "github.com/acme/app",
                "branches": ["!main", "main", "release/*"], "pull_request_actions": ["opened"] } }]}"#,
        )
        .unwrap();
        let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
        assert!(
            warnings.iter().any(|w| w.contains("git.repository") && w.contains("write \"acme/app\"")),
            "{warnings:?}"
        );
        assert!(warnings.iter().any(|w| w.contains("git.branches[1]") && w.contains("!main")), "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("git.pull_request_actions")), "{warnings:?}");
        let fine = Config::from_json(
            r#"{"triggers": [{ "name": "a", "pipeline": "p", "git": { "repository": "acme/app",
                "events": ["pull_request"], "branches": ["!main", "release/*"], "pull_request_actions": ["opened"] } }]}"#,
        )
        .unwrap();
        assert!(fine.warnings.is_empty(), "{:?}", fine.warnings);
    }

    /// A group on `{branch}` for pull requests is warned of; the default and `{pr_number}` are not.
    #[test]
    fn a_pull_request_group_on_the_branch_is_warned_of() {
        let doc = |group: &str| {
            format!(
                r#"{{"triggers": [{{"name": "a", "pipeline": "p", "git": {{"repository": "acme/app", "events": ["push", "pull_request"]}},
                    "concurrency": {{"group": "{group}", "cancel_in_progress": true}}}}]}}"#
            )
        };
        let warned = Config::from_json(&doc("{repository}#{branch}")).unwrap();
        assert!(warned.warnings.iter().any(|w| w.field.ends_with("concurrency.group")), "{:?}", warned.warnings);
        assert!(Config::from_json(&doc("{repository}#{pr_number}")).unwrap().warnings.is_empty());
    }
}
