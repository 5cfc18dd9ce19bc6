//! `herald init`: a starter configuration from the account's pipelines (`ListPipelines`,
//! `GetPipeline`, read-only). Each CodeConnections or CodeCommit source action becomes a Git
//! trigger (repository, branch, `source_action`), each S3 source action an S3 trigger (bucket,
//! key), and the default alert rule is written out. What it cannot map is named with the reason,
//! and what `herald doctor` would find in the result (pipelines that still poll or detect changes
//! themselves, and would start twice) is said with its fix.

use crate::doctor::{account_sdk, reachable_pipelines};
use crate::output::{self, mark, Outcome};
use herald::doctor::{check, Account};
use herald::ports::PipelineDefinition;
use serde_json::{json, Value};
use std::fmt::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the configuration
    #[arg(long, short, default_value = "herald-config.json")]
    pub output: String,
    /// Overwrite the output file if it exists
    #[arg(long)]
    pub force: bool,
    /// Print the configuration on stdout instead of writing it (notes go to stderr)
    #[arg(long)]
    pub json: bool,
}

/// How many `GetPipeline` calls run at once (CodePipeline's read calls, well inside its rate).
const READS_AT_ONCE: usize = 8;

/// A source action Herald cannot start pinned: the pipeline, the action, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    pub pipeline: String,
    pub why: String,
}

/// The starter configuration for `pipelines`: a trigger per mappable source action, the
/// default alert rule; and what could not be mapped.
pub fn starter(pipelines: &[PipelineDefinition]) -> (Value, Vec<Unmapped>) {
    let mut triggers = Vec::new();
    let mut unmapped = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for pipeline in pipelines {
        let sources: Vec<_> = pipeline.actions.iter().filter(|a| a.category == "Source").collect();
        if sources.is_empty() {
            unmapped.push(Unmapped { pipeline: pipeline.name.clone(), why: "no source action".into() });
        }
        for action in &sources {
            let setting = |key: &str| action.configuration.get(key).cloned().unwrap_or_default();
            let rule = match action.provider.as_str() {
                "CodeStarSourceConnection" => Ok(("git", json!({ "repository": setting("FullRepositoryId"), "branches": [setting("BranchName")] }))),
                "CodeCommit" => Ok(("git", json!({ "repository": setting("RepositoryName"), "branches": [setting("BranchName")] }))),
                "S3" => Ok(("s3", json!({ "bucket": setting("S3Bucket"), "keys": [setting("S3ObjectKey")] }))),
                "GitHub" => Err("a GitHub (version 1, OAuth) action cannot be started pinned to a commit: change it to a CodeConnections action (CodeStarSourceConnection), then run init again".to_owned()),
                other => Err(format!("{other} sources are not started by Herald (it starts from Git and S3)")),
            };
            match rule {
                Ok((kind, rule)) if rule_is_complete(&rule) => {
                    let name = unique_name(&mut names, pipeline, &action.name, sources.len());
                    triggers.push(
                        json!({ "name": name, "pipeline": pipeline.name, kind: rule, "source_action": action.name }),
                    );
                }
                Ok(_) => unmapped.push(Unmapped {
                    pipeline: pipeline.name.clone(),
                    why: format!(
                        "source action {} ({}) names no repository, branch, bucket or key",
                        action.name, action.provider
                    ),
                }),
                Err(why) => unmapped.push(Unmapped {
                    pipeline: pipeline.name.clone(),
                    why: format!("source action {} ({}): {why}", action.name, action.provider),
                }),
            }
        }
    }
    let config = json!({
        "triggers": triggers,
        "alerts": [{ "name": "default", "pipelines": ["**"], "on": ["FAILED", "RECOVERED"] }],
    });
    (config, unmapped)
}

fn rule_is_complete(rule: &Value) -> bool {
    rule.as_object().is_some_and(|o| {
        o.values().all(|v| match v {
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => a.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty())),
            _ => true,
        })
    })
}

/// The pipeline's name (with the action's where it has several sources), in the characters a
/// trigger name takes, unique in the document.
fn unique_name(
    taken: &mut std::collections::BTreeSet<String>,
    pipeline: &PipelineDefinition,
    action: &str,
    sources: usize,
) -> String {
    let wanted = if sources > 1 { format!("{}-{action}", pipeline.name) } else { pipeline.name.clone() };
    let base: String = wanted
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
        .collect();
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

pub fn run(args: &Args) -> Outcome {
    if !args.json && !args.force && std::path::Path::new(&args.output).exists() {
        return Outcome::usage(format!(
            "{} exists: pass --force to overwrite it, or --output another file",
            args.output
        ));
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return Outcome::usage(format!("could not start: {e}")),
    };
    let read = runtime.block_on(async {
        use futures_util::stream::{self, StreamExt};
        let sdk = account_sdk().await?;
        let names = match reachable_pipelines(&sdk).await? {
            Ok(names) => names,
            Err(why) => return Ok(Err(why)),
        };
        let read: Vec<_> = stream::iter(names)
            .map(|name| {
                let sdk = sdk.clone();
                async move { (name.clone(), herald::aws::inspect::pipeline(&sdk, &name).await) }
            })
            .buffered(READS_AT_ONCE)
            .collect()
            .await;
        Ok(Ok(read))
    });
    let read = match read {
        Ok(Ok(read)) => read,
        Ok(Err(why)) => {
            return Outcome {
                text: format!("herald: {}\n", mark(false, &format!("cannot list the pipelines: {why}"))),
                json: json!({ "error": why }),
                code: output::FINDING,
            }
        }
        Err(outcome) => return outcome,
    };
    let mut pipelines = Vec::new();
    let mut unreadable = Vec::new();
    for (name, definition) in read {
        match definition {
            Ok(d) => pipelines.push(d),
            Err(why) => unreadable.push(Unmapped { pipeline: name, why: format!("cannot be read: {why}") }),
        }
    }
    let (config, mut unmapped) = starter(&pipelines);
    unmapped.extend(unreadable);
    report(args, &config, &unmapped, &pipelines)
}

/// Writes or prints the document, with what could not be mapped and what doctor would find.
fn report(args: &Args, config: &Value, unmapped: &[Unmapped], pipelines: &[PipelineDefinition]) -> Outcome {
    let text = serde_json::to_string_pretty(config).unwrap_or_default() + "\n";
    let parsed = match herald::config::Config::from_json(&text) {
        Ok(c) => c,
        Err(e) => {
            return Outcome::usage(format!("the starter configuration does not validate ({e}): please report this"))
        }
    };
    let account = Account {
        pipeline_names: Some(pipelines.iter().map(|p| p.name.clone()).collect()),
        pipelines: pipelines.iter().map(|p| (p.name.clone(), Ok(p.clone()))).collect(),
        ..Account::default()
    };
    let findings = check(&parsed, &account);
    let mut notes = String::new();
    let _ = writeln!(
        notes,
        "{} pipeline(s) read: {} Git trigger(s), {} S3 trigger(s), the default alert rule (FAILED and RECOVERED for every pipeline)",
        pipelines.len(),
        parsed.git_triggers().count(),
        parsed.s3_triggers().count()
    );
    for u in unmapped {
        let _ = writeln!(notes, "{} {}: {}", mark(false, "not mapped:"), u.pipeline, u.why);
    }
    for f in &findings {
        let _ = writeln!(notes, "{} {}: {}\n    fix: {}", mark(false, "✗"), f.subject, f.problem, f.fix);
    }
    if args.json {
        eprint!("{notes}");
        return Outcome { text: String::new(), json: config.clone(), code: 0 };
    }
    if let Err(e) = std::fs::write(&args.output, &text) {
        return Outcome::usage(format!("{}: {e}", args.output));
    }
    let _ = writeln!(
        notes,
        "wrote {}; next: herald validate {} (then add paths, statuses and alert routes: docs/configuration.md)",
        args.output, args.output
    );
    Outcome {
        text: notes,
        json: json!({ "written": args.output, "unmapped": unmapped.iter().map(|u| json!({ "pipeline": u.pipeline, "why": u.why })).collect::<Vec<_>>(), "findings": findings }),
        code: 0,
    }
}
