//! `herald`: the configuration checked and events explained on your machine, with no AWS call.
//!
//! ```text
//! herald validate CONFIG.json
//! herald explain CONFIG.json EVENT.json [--secret NAME]
//! ```
//!
//! `explain` takes any event the functions take, as in `events/`: a git-webhook HTTP event
//! (Function URL or API Gateway; the signature is not checked), an s3-trigger event or a
//! pipeline-notifier event, and prints each decision with its reason — the same functions the
//! Lambda functions call (`trigger::decide_git`, `s3::decide_s3`, `alert::matches`).

use herald::alert::event::{self as alert_event, PipelineEvent};
use herald::alert::{candidate_rules, matches, tokens, Previous};
use herald::config::Config;
use herald::ports::SourceAction;
use herald::providers::{self, Content};
use herald::secrets::SecretScope;
use herald::trigger::{decide_git, Decision, Outcome, SourceLookup};
use herald::webhook::WebhookRequest;
use serde_json::Value;
use std::fmt::Write;
use std::process::ExitCode;

const USAGE: &str = "usage:
  herald validate CONFIG.json
  herald explain CONFIG.json EVENT.json [--secret NAME] [--pipeline GET-PIPELINE.json ...]
EVENT is a git-webhook HTTP event, an s3-trigger event or a pipeline-notifier event (see events/).
--pipeline takes `aws codepipeline get-pipeline --name P` output: with it, explain shows how an S3
write would be pinned to that pipeline's source action.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("herald: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    let mut positional = Vec::new();
    let mut scope = SecretScope::Default;
    let mut pipelines = Vec::new();
    let mut rest = args.iter().map(String::as_str);
    while let Some(arg) = rest.next() {
        match arg {
            "--secret" => scope = SecretScope::Named(rest.next().ok_or(USAGE)?.into()),
            "--pipeline" => pipelines.push(pipeline_definition(rest.next().ok_or(USAGE)?)?),
            other => positional.push(other),
        }
    }
    match positional.as_slice() {
        ["validate", config] => validate(config),
        ["explain", config, event] => explain(config, event, scope, &pipelines),
        _ => Err(USAGE.into()),
    }
}

/// A pipeline definition (`get-pipeline` output): its name and document.
fn pipeline_definition(path: &str) -> Result<(String, Value), String> {
    let doc: Value = serde_json::from_str(&read(path)?).map_err(|e| format!("{path}: {e}"))?;
    let name = doc.get("pipeline").unwrap_or(&doc)["name"]
        .as_str()
        .ok_or_else(|| format!("{path}: not a get-pipeline document (no pipeline.name)"))?
        .to_owned();
    Ok((name, doc))
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))
}

fn config(path: &str) -> Result<Config, String> {
    Config::from_json(&read(path)?).map_err(|e| format!("{path}: {e}"))
}

fn validate(path: &str) -> Result<String, String> {
    let config = config(path)?;
    let mut out = format!(
        "{path}: valid — {} git trigger(s), {} s3 trigger(s), {} alert rule(s)\n",
        config.git_triggers().count(),
        config.s3_triggers().count(),
        config.alerts.len()
    );
    for trigger in &config.triggers {
        let _ = writeln!(out, "  trigger {} -> pipeline {}", trigger.name, trigger.pipeline.as_str());
    }
    for rule in &config.alerts {
        let on: Vec<&str> = rule.on.iter().map(|t| t.as_str()).collect();
        let topic = rule.topic_arn.as_deref().unwrap_or("HERALD_TOPIC_ARN");
        let _ = writeln!(out, "  alert rule {} on {} -> {topic}", rule.name, on.join(", "));
    }
    Ok(out)
}

fn explain(
    config_path: &str,
    event_path: &str,
    scope: SecretScope,
    pipelines: &[(String, Value)],
) -> Result<String, String> {
    let config = config(config_path)?;
    let event: Value = serde_json::from_str(&read(event_path)?).map_err(|e| format!("{event_path}: {e}"))?;
    if event.get("headers").is_some() && event.get("body").is_some() {
        return explain_webhook(&config, &event, &scope);
    }
    match event.get("source").and_then(Value::as_str) {
        Some("aws.codepipeline") => explain_alert(&config, &event),
        _ => explain_s3(&config, &event, pipelines),
    }
}

fn explain_webhook(config: &Config, event: &Value, scope: &SecretScope) -> Result<String, String> {
    let WebhookRequest { headers, body, .. } = herald::http::from_event(event.clone())?;
    let provider = providers::detect(&headers).ok_or("no Git server recognised from the headers (answered 400)")?;
    let delivery = providers::parse(provider, &headers, &body).map_err(|e| format!("answered 400: {e}"))?;
    let mut out = format!(
        "{} {} delivery {} (signature not checked here)\n",
        provider.as_str(),
        delivery.event,
        delivery.delivery
    );
    match delivery.content {
        Content::Ping => out.push_str("  a ping: answered 200, nothing started\n"),
        Content::Ignored(reason) => {
            let _ = writeln!(out, "  ignored: {reason}");
        }
        Content::Changes(changes) => {
            let multi_ref = changes.len() > 1;
            for change in &changes {
                let _ = writeln!(
                    out,
                    "  {} {} {} at {}",
                    change.event.as_str(),
                    change.repository,
                    change.git_ref,
                    if change.commit.is_empty() { "(no commit)" } else { &change.commit }
                );
                decisions(&mut out, &decide_git(config, scope, change, multi_ref), "no trigger names this repository");
            }
        }
    }
    Ok(out)
}

fn explain_s3(config: &Config, event: &Value, pipelines: &[(String, Value)]) -> Result<String, String> {
    let actions: Vec<(String, String, Option<SourceAction>)> = config
        .s3_triggers()
        .filter_map(|(t, _)| t.source_action.as_ref().map(|a| (t.pipeline.as_str().to_owned(), a.clone())))
        .filter_map(|(pipeline, action)| {
            let (_, doc) = pipelines.iter().find(|(name, _)| *name == pipeline)?;
            let found = SourceAction::from_definition(doc, &action);
            Some((pipeline, action, found))
        })
        .collect();
    let source_of = |pipeline: &str, action: &str| {
        actions
            .iter()
            .find(|(p, a, _)| p == pipeline && a == action)
            .map_or(SourceLookup::Unknown, |(_, _, found)| SourceLookup::Read(found.as_ref()))
    };
    match herald::s3::event::parse_event(event) {
        herald::s3::event::S3Input::Ignored(reason) => Ok(format!("ignored: {reason}\n")),
        herald::s3::event::S3Input::Objects(objects) => {
            let mut out = String::new();
            for object in &objects {
                let version = object.version_id.as_deref().unwrap_or("no version id");
                let _ =
                    writeln!(out, "s3://{}/{} ({version}, via {})", object.bucket, object.key, object.source.as_str());
                let decided = herald::trigger::decide_s3(config, object, source_of);
                decisions(&mut out, &decided, "no trigger names this bucket");
            }
            Ok(out)
        }
    }
}

fn decisions(out: &mut String, decisions: &[Decision], none: &str) {
    if decisions.is_empty() {
        let _ = writeln!(out, "    {none}");
    }
    for decision in decisions {
        match &decision.outcome {
            Outcome::Skip(reason) => {
                let _ = writeln!(out, "    skip  {} ({}): {reason}", decision.trigger, decision.pipeline.as_str());
            }
            Outcome::Start(plan) => {
                let _ = writeln!(out, "    start {} -> {}", decision.trigger, plan.pipeline);
                if plan.source_revisions.is_empty() {
                    let _ = writeln!(out, "          source not pinned");
                }
                for r in &plan.source_revisions {
                    let _ = writeln!(
                        out,
                        "          source {} pinned to {} {}",
                        r.action_name,
                        r.revision_type.as_str(),
                        r.revision_value
                    );
                }
                for (name, value) in &plan.variables {
                    let _ = writeln!(out, "          {name} = {value}");
                }
                for note in &plan.notes {
                    let _ = writeln!(out, "          note: {note}");
                }
            }
        }
    }
}

fn explain_alert(config: &Config, event: &Value) -> Result<String, String> {
    let event: PipelineEvent = match alert_event::parse_event(event) {
        alert_event::Input::Ignored(reason) => return Ok(format!("ignored: {reason}\n")),
        alert_event::Input::Event(event) => *event,
    };
    let mut out = format!(
        "{} event: pipeline {}, {}\n",
        event.kind.as_str(),
        event.pipeline,
        event.state.as_deref().or(event.audit.as_ref().map(|a| a.api.as_str())).unwrap_or("?")
    );
    let rules = candidate_rules(config, &event);
    if rules.is_empty() {
        out.push_str("  no alert rule listens for it\n");
        return Ok(out);
    }
    let cases: &[(Option<Previous>, &str)] = match event.state.as_deref() {
        Some("SUCCEEDED" | "FAILED") if event.kind == herald::alert::Kind::Pipeline => &[
            (Some(Previous::Failed), "if the previous finished run failed"),
            (Some(Previous::Succeeded), "if the previous finished run succeeded"),
        ],
        _ => &[(None, "")],
    };
    for (previous, when) in cases {
        let found = matches(&rules, &tokens(&event, *previous));
        if !when.is_empty() {
            let _ = writeln!(out, "  {when}:");
        }
        if found.is_empty() {
            out.push_str("    no alert\n");
        }
        for m in found {
            let topic = m.rule.topic_arn.as_deref().unwrap_or("HERALD_TOPIC_ARN");
            let _ = writeln!(out, "    alert rule {} sends {} to {topic}", m.rule.name, m.token.as_str());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
