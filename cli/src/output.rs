//! What a subcommand answers: text for people, a JSON document for scripts, an exit code; and
//! `validate`.

use herald::config::Config;
use serde_json::{json, Value};
use std::fmt::Write;
use std::io::IsTerminal;
use std::process::ExitCode;

/// Exit codes: 0 all good, 1 a finding, 2 a usage error (clap's own errors are 2 too).
pub const FINDING: u8 = 1;
pub const USAGE: u8 = 2;

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

/// `herald validate CONFIG` or `herald validate --template template.yaml`.
pub fn validate(path: Option<&str>, template: Option<&str>) -> Outcome {
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
        Err(e) => {
            let message = format!("{name}: {e}");
            return Outcome {
                text: format!("{}\n", mark(false, &message)),
                json: json!({ "valid": false, "errors": [message], "warnings": [] }),
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
    for warning in &config.warnings {
        let _ = writeln!(out, "{} {warning}", mark(false, "warning:"));
    }
    let json = json!({
        "valid": true,
        "errors": [],
        "warnings": config.warnings,
        "triggers": config.triggers.iter().map(|t| json!({ "name": t.name, "pipeline": t.pipeline.as_str(), "kind": match t.rule { herald::config::TriggerRule::Git(_) => "git", herald::config::TriggerRule::S3(_) => "s3" } })).collect::<Vec<_>>(),
        "alerts": config.alerts.iter().map(|r| json!({ "name": r.name, "on": r.on.iter().map(|t| t.as_str()).collect::<Vec<_>>(), "topic_arn": r.topic_arn })).collect::<Vec<_>>(),
    });
    Outcome::ok(out, json)
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
