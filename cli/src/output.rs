//! What a subcommand answers: text for people, a JSON document for scripts, an exit code; and
//! `validate`.

use herald::config::Config;
use serde_json::{json, Value};
use std::fmt::Write;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit codes: 0 all good, 1 a finding, 2 a usage error (clap's own errors are 2 too), 3 AWS
/// could not be asked (no credentials, no region, no answer): nothing was checked.
pub const FINDING: u8 = 1;
pub const USAGE: u8 = 2;
pub const NO_AWS: u8 = 3;

/// The largest compact document `validate` passes without a warning as an inline
/// `HeraldConfig`: Lambda's environment holds 4 KB for all of a function's variables, and
/// Herald's others (ARNs, names, the log level) take up to about 1 KB of it.
pub const INLINE_CONFIG_BYTES: usize = 3 * 1024;

/// A subcommand's answer.
pub struct Outcome {
    pub text: String,
    pub json: Value,
    pub code: u8,
}

impl Outcome {
    pub fn ok(text: String, json: Value) -> Self {
        Self { text, json, code: 0 }
    }

    /// A usage problem (unreadable file, missing option): exit 2 with the message.
    pub fn usage(message: impl Into<String>) -> Self {
        let message = message.into();
        Self { json: json!({ "error": message }), text: format!("herald: {message}\n"), code: USAGE }
    }

    pub fn print(self, as_json: bool) -> ExitCode {
        if as_json {
            println!("{}", serde_json::to_string_pretty(&self.json).unwrap_or_default());
        } else if self.code == USAGE {
            eprint!("{}", self.text);
        } else {
            print!("{}", self.text);
        }
        ExitCode::from(self.code)
    }
}

/// `good` in green, `bad` in red, on a terminal only.
pub fn mark(ok: bool, text: &str) -> String {
    if std::io::stdout().is_terminal() {
        let colour = if ok { 32 } else { 31 };
        format!("\u{1b}[{colour}m{text}\u{1b}[0m")
    } else {
        text.to_owned()
    }
}

pub fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

/// The configuration at `path`, or (exit 1) why it is invalid.
pub fn config(path: &str) -> Result<Config, Outcome> {
    let text = read(path).map_err(Outcome::usage)?;
    Config::from_json(&text).map_err(|e| {
        let message = format!("{path}: {e}");
        Outcome {
            text: format!("{}\n", mark(false, &message)),
            json: json!({ "valid": false, "errors": [message] }),
            code: FINDING,
        }
    })
}

/// The warnings of s3 triggers whose bucket glob matches none of the stack's `S3SourceBuckets`.
fn undeliverable(config: &Config, buckets: &[String]) -> Vec<herald::config::Warning> {
    let listed = if buckets.is_empty() { "none".to_owned() } else { buckets.join(", ") };
    config
        .undeliverable_s3_triggers(buckets)
        .into_iter()
        .map(|(trigger, glob)| herald::config::Warning {
            field: format!("trigger \"{trigger}\": s3.bucket"),
            message: format!(
                "{glob} matches none of the stack's S3SourceBuckets ({listed}): s3-trigger never hears of its writes; \
                 add the bucket to S3SourceBuckets"
            ),
        })
        .collect()
}

/// `herald validate CONFIG` or `herald validate --template template.yaml`; with `strict`,
/// warnings fail (exit 1); with `s3_buckets` (the stack's `S3SourceBuckets`), an s3 trigger no
/// write can reach is warned of.
pub fn validate(path: Option<&str>, template: Option<&str>, strict: bool, s3_buckets: Option<&[String]>) -> Outcome {
    let (name, text) = match (path, template) {
        (_, Some(template)) => match read(template).map(|t| template_config(&t)) {
            Ok(Some(doc)) => (format!("{template} (HeraldConfig default)"), doc),
            Ok(None) => return Outcome::usage(format!("{template}: no HeraldConfig parameter with a Default")),
            Err(e) => return Outcome::usage(e),
        },
        (Some(path), None) => match read(path) {
            Ok(text) => (path.to_owned(), text),
            Err(e) => return Outcome::usage(e),
        },
        (None, None) => return Outcome::usage("validate needs CONFIG or --template"),
    };
    let config = match Config::from_json(&text) {
        Ok(c) => c,
        Err(_) => {
            // Every error, each trigger and rule read even after one is wrong.
            let messages: Vec<String> = Config::errors(&text).iter().map(|e| format!("{name}: {e}")).collect();
            let text = messages.iter().map(|m| format!("{}\n", mark(false, m))).collect();
            return Outcome {
                text,
                json: json!({ "valid": false, "errors": messages, "warnings": [] }),
                code: FINDING,
            };
        }
    };
    let mut out = format!(
        "{name}: {} — {} git trigger(s), {} s3 trigger(s), {} alert rule(s)\n",
        mark(true, "valid"),
        config.git_triggers().count(),
        config.s3_triggers().count(),
        config.alerts.len()
    );
    let width = config.triggers.iter().map(|t| t.name.len()).max().unwrap_or(0);
    for trigger in &config.triggers {
        let _ = writeln!(out, "  trigger {:width$} -> pipeline {}", trigger.name, trigger.pipeline.as_str());
    }
    for rule in &config.alerts {
        let on: Vec<&str> = rule.on.iter().map(|t| t.as_str()).collect();
        let topic = rule.topic_arn.as_deref().unwrap_or("HERALD_TOPIC_ARN");
        let _ = writeln!(out, "  alert rule {} on {} -> {topic}", rule.name, on.join(", "));
    }
    let mut warnings = config.warnings.clone();
    warnings.extend(deployment_warnings(&text));
    if let Some(buckets) = s3_buckets {
        warnings.extend(undeliverable(&config, buckets));
    }
    for warning in &warnings {
        let _ = writeln!(out, "{} {warning}", mark(false, "warning:"));
    }
    let notes = topic_notes(&config);
    for note in &notes {
        let _ = writeln!(out, "note: {note}");
    }
    let failed = strict && !warnings.is_empty();
    if failed {
        let _ = writeln!(out, "{}", mark(false, &format!("--strict: {} warning(s) fail the check", warnings.len())));
    }
    let json = json!({
        "valid": !failed,
        "errors": [],
        "warnings": warnings,
        "notes": notes,
        "triggers": config.triggers.iter().map(|t| json!({ "name": t.name, "pipeline": t.pipeline.as_str(), "kind": match t.rule { herald::config::TriggerRule::Git(_) => "git", herald::config::TriggerRule::S3(_) => "s3" } })).collect::<Vec<_>>(),
        "alerts": config.alerts.iter().map(|r| json!({ "name": r.name, "on": r.on.iter().map(|t| t.as_str()).collect::<Vec<_>>(), "topic_arn": r.topic_arn })).collect::<Vec<_>>(),
    });
    Outcome { text: out, json, code: if failed { FINDING } else { 0 } }
}

/// What each rule's own topic needs of the stack: not a warning (a granted topic is right), a
/// note `--strict` lets pass.
fn topic_notes(config: &Config) -> Vec<String> {
    let mut notes = bitbucket_user_notes(config);
    notes.extend(config
        .alerts
        .iter()
        .filter_map(|rule| {
            rule.topic_arn.as_ref().map(|topic| {
                format!(
                    "alert rule {:?} publishes to {topic}: the stack's AdditionalAlertTopicArns must list it (herald doctor --stack NAME compares them)",
                    rule.name
                )
            })
        }));
    notes
}

/// `commands.users` and `approvers` entries that cannot name a Bitbucket Cloud user: there,
/// people are named by account id (`557058:…`, or 24 hex digits) or `{uuid}`, never by the
/// nickname or display name a user chooses. A note, not a warning: the same entries are logins
/// on GitHub, GitLab, Gitea and Data Center, which this document may be for.
fn bitbucket_user_notes(config: &Config) -> Vec<String> {
    let is_id = |entry: &str| {
        let hex24 = entry.len() == 24 && entry.bytes().all(|b| b.is_ascii_hexdigit());
        (entry.starts_with('{') && entry.ends_with('}')) || entry.contains(':') || hex24
    };
    let settings = &config.commands;
    let names: Vec<&str> = settings
        .users
        .iter()
        .chain(settings.approvers.iter())
        .flatten()
        .map(String::as_str)
        .filter(|e| !is_id(e))
        .collect();
    if names.is_empty() {
        return Vec::new();
    }
    vec![format!(
        "commands: on Bitbucket Cloud, {} match(es) nobody: people are named there by account id (557058:…) or {{uuid}}, never by a nickname, which anyone may choose",
        names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
    )]
}

/// What the document needs of the environment it is deployed to: room.
fn deployment_warnings(text: &str) -> Vec<herald::config::Warning> {
    use herald::config::Warning;
    let mut out = Vec::new();
    let compact = serde_json::from_str::<Value>(text).map(|v| v.to_string().len()).unwrap_or(text.len());
    if compact > INLINE_CONFIG_BYTES {
        out.push(Warning {
            field: "the document".into(),
            message: format!(
                "{compact} bytes compact, over the {INLINE_CONFIG_BYTES} an inline HeraldConfig can take (Lambda's environment holds 4 KB for all variables): use HeraldConfigParameter, an SSM parameter holding it{}",
                if compact > 4096 { " (Advanced tier: a Standard parameter holds 4 KB)" } else { "" }
            ),
        });
    }
    out
}

/// The `Default` of the template's `HeraldConfig` parameter: a quoted string, a plain scalar
/// or a block scalar (`|` / `>`).
pub fn template_config(template: &str) -> Option<String> {
    let mut lines = template.lines().skip_while(|l| l.trim_end() != "  HeraldConfig:").skip(1);
    let mut found = None;
    for line in lines.by_ref() {
        let indent = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && indent <= 2 {
            break;
        }
        if let Some(value) = line.trim().strip_prefix("Default:") {
            found = Some(value.trim().to_owned());
            break;
        }
    }
    let value = found?;
    if value.starts_with('|') || value.starts_with('>') {
        let folded = value.starts_with('>');
        let body: Vec<&str> =
            lines.take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > 4).map(str::trim).collect();
        return Some(body.join(if folded { " " } else { "\n" }).trim().to_owned());
    }
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    if value.starts_with('"') {
        return serde_json::from_str::<String>(&value).ok();
    }
    Some(value)
}
