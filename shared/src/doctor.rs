//! `herald doctor`'s checks: what makes starts and alerts fail on a real account, found from the
//! configuration and what the account says (pipeline definitions, topics, the dedup table), each
//! with how to fix it. Pure: the CLI reads the account (`aws::inspect`) and hands it here.

use crate::config::{Config, Trigger, TriggerRule};
use crate::ports::{ActionDefinition, PipelineDefinition, SourceAction};
use serde::Serialize;
use std::collections::BTreeMap;

/// Source action providers whose start can take a `COMMIT_ID` revision.
pub const COMMIT_PROVIDERS: [&str; 2] = ["CodeStarSourceConnection", "CodeCommit"];

/// One thing that would fail, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it concerns: `trigger app-main (pipeline app)`, `alert rule prod`, `dedup table t`.
    pub subject: String,
    pub problem: String,
    pub fix: String,
}

/// A table's partition key and TTL attribute (each `None` when absent or off).
pub type TableKeys = (Option<String>, Option<String>);

/// What the account said.
#[derive(Debug, Default)]
pub struct Account {
    /// Each pipeline a trigger names: its definition, or why it could not be read.
    pub pipelines: BTreeMap<String, Result<PipelineDefinition, String>>,
    /// Each alert topic: `Err` when it could not be read.
    pub topics: BTreeMap<String, Result<(), String>>,
    /// Every pipeline of the account and region (`ListPipelines`), when it could be read.
    pub pipeline_names: Option<Vec<String>>,
    /// The dedup table: (its name, its partition key and TTL attribute, or the error).
    pub table: Option<(String, Result<TableKeys, String>)>,
}

/// Git server credentials that confine nothing while triggers name webhook secrets (team
/// isolation): any team's delivery could use them for any repository on their host.
pub fn check_credentials(config: &Config, credentials: &crate::git_api::credentials::Credentials) -> Vec<Finding> {
    let mut named: Vec<&str> = config.triggers.iter().filter_map(|t| t.secret.as_deref()).collect();
    named.sort();
    named.dedup();
    if named.is_empty() {
        return Vec::new();
    }
    credentials
        .entries()
        .into_iter()
        .filter(|entry| !entry.confines())
        .map(|entry| {
            finding(
                format!("credential {}", entry.key),
                format!(
                    "triggers name webhook secrets ({}), but this credential names no repositories or secrets: a delivery verified by any of them may use it for any repository on {}",
                    named.join(", "),
                    entry.host.0
                ),
                format!(
                    "add \"repositories\": [\"<team>/*\"] and \"secrets\": [\"<team>\"] (\"{}\" for the unnamed secrets), or one entry per team's server",
                    crate::git_api::credentials::UNNAMED_SCOPE
                ),
            )
        })
        .collect()
}

fn finding(subject: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding { subject: subject.into(), problem: problem.into(), fix: fix.into() }
}

/// Every finding, in configuration order.
pub fn check(config: &Config, account: &Account) -> Vec<Finding> {
    let mut out = Vec::new();
    for trigger in &config.triggers {
        let subject = format!("trigger {} (pipeline {})", trigger.name, trigger.pipeline.as_str());
        match account.pipelines.get(trigger.pipeline.as_str()) {
            None => {}
            Some(Err(why)) => out.push(finding(
                &subject,
                format!("the pipeline cannot be read: {why}"),
                "create it, or correct the trigger's pipeline name (and the region)",
            )),
            Some(Ok(pipeline)) => check_trigger(trigger, pipeline, &subject, &mut out),
        }
    }
    if let Some(names) = &account.pipeline_names {
        for rule in &config.alerts {
            if let Some(literal) = rule.pipelines.literal() {
                if !names.iter().any(|n| n == literal) {
                    out.push(finding(
                        format!("alert rule {}", rule.name),
                        format!("pipelines names {literal:?}, which is no pipeline of the account and has no glob: the rule never fires"),
                        format!("correct the name, or write \"{literal}*\" for every pipeline it starts"),
                    ));
                }
            }
        }
    }
    for (topic, result) in &account.topics {
        if let Err(why) = result {
            let rules: Vec<&str> = config
                .alerts
                .iter()
                .filter(|r| r.topic_arn.as_deref() == Some(topic))
                .map(|r| r.name.as_str())
                .collect();
            let subject =
                if rules.is_empty() { format!("topic {topic}") } else { format!("alert rule {}", rules.join(", ")) };
            out.push(finding(
                subject,
                format!("topic {topic} cannot be read: {why}"),
                "create the topic, or correct topic_arn",
            ));
        }
    }
    if let Some((name, result)) = &account.table {
        let subject = format!("dedup table {name}");
        match result {
            Err(why) => out.push(finding(
                &subject,
                format!("cannot be read: {why}"),
                "create it, or correct HERALD_DEDUP_TABLE",
            )),
            Ok((key, ttl)) => {
                if key.as_deref() != Some("pk") {
                    out.push(finding(
                        &subject,
                        format!("its partition key is {key:?}, not \"pk\""),
                        "create a table with string partition key pk",
                    ));
                }
                if ttl.as_deref() != Some("expires_at") {
                    out.push(finding(
                        &subject,
                        format!("its TTL attribute is {ttl:?}, not \"expires_at\""),
                        "turn TTL on with attribute expires_at",
                    ));
                }
            }
        }
    }
    out
}

fn check_trigger(trigger: &Trigger, pipeline: &PipelineDefinition, subject: &str, out: &mut Vec<Finding>) {
    if !trigger.variables.is_empty() && pipeline.pipeline_type != "V2" {
        out.push(finding(
            subject,
            "the trigger passes variables but the pipeline is V1",
            "upgrade the pipeline to V2 (pipeline variables need V2)",
        ));
    }
    for variable in &trigger.variables {
        if pipeline.pipeline_type == "V2" && !pipeline.variables.contains(&variable.name) {
            out.push(finding(
                subject,
                format!("variable {} is not declared by the pipeline: every start would be refused", variable.name),
                format!("declare pipeline variable {} (any default value)", variable.name),
            ));
        }
    }
    if pipeline.triggers > 0 {
        out.push(finding(
            subject,
            "the pipeline has triggers of its own: one push would start it twice",
            "remove the pipeline's V2 triggers",
        ));
    }
    for action in pipeline.actions.iter().filter(|a| a.category == "Source") {
        let detects = |key: &str, default: bool| {
            action.configuration.get(key).map_or(default, |v| v.eq_ignore_ascii_case("true"))
        };
        if detects("PollForSourceChanges", matches!(action.provider.as_str(), "S3" | "CodeCommit" | "GitHub"))
            && action.provider != "CodeStarSourceConnection"
        {
            out.push(finding(
                subject,
                format!("source action {} polls for changes: the pipeline would also start by itself", action.name),
                "set PollForSourceChanges to false",
            ));
        }
        if action.provider == "CodeStarSourceConnection" && detects("DetectChanges", true) {
            out.push(finding(
                subject,
                format!("source action {} detects changes itself: one push would start it twice", action.name),
                "set DetectChanges to false",
            ));
        }
    }
    if trigger.concurrency.is_some() && pipeline.execution_mode != "PARALLEL" {
        // Herald keeps one execution per group; CodePipeline's own mode acts across groups.
        let what = if pipeline.execution_mode == "QUEUED" {
            "waits behind every other group's execution"
        } else {
            "is superseded by any other group's newer execution between stages"
        };
        out.push(finding(
            subject,
            format!(
                "the trigger has a concurrency group but the pipeline runs in {} mode: a group's execution {what}",
                pipeline.execution_mode
            ),
            "set the pipeline's execution mode to PARALLEL: Herald stops a group's older executions itself",
        ));
    }
    let Some(name) = &trigger.source_action else { return };
    let Some(action) = pipeline.actions.iter().find(|a| &a.name == name) else {
        out.push(finding(
            subject,
            format!("the pipeline has no action named {name}"),
            "name the pipeline's source action in source_action",
        ));
        return;
    };
    if action.category != "Source" {
        out.push(finding(
            subject,
            format!("action {name} is a {} action, not a source action", action.category),
            "name the pipeline's source action in source_action",
        ));
        return;
    }
    match &trigger.rule {
        TriggerRule::Git(_) if !COMMIT_PROVIDERS.contains(&action.provider.as_str()) => out.push(finding(
            subject,
            format!("source action {name} ({}) cannot take a COMMIT_ID revision", action.provider),
            "use a CodeConnections or CodeCommit source action, or leave source_action unset and pass {commit} and {clone_url} as variables",
        )),
        TriggerRule::S3(rule) => check_s3_source(rule, action, subject, out),
        TriggerRule::Git(_) => {}
    }
}

fn check_s3_source(rule: &crate::config::S3Rule, action: &ActionDefinition, subject: &str, out: &mut Vec<Finding>) {
    if action.provider != "S3" {
        out.push(finding(
            subject,
            format!("source action {} is a {} action, not an S3 source", action.name, action.provider),
            "name an S3 source action, or leave source_action unset",
        ));
        return;
    }
    let source = SourceAction::from_action(action);
    let bucket = source.bucket.unwrap_or_default();
    if !rule.bucket.is_match(&bucket) {
        out.push(finding(
            subject,
            format!(
                "the trigger watches other buckets than the action's {bucket}; CodePipeline cannot override the bucket"
            ),
            format!("watch bucket {bucket}, or use a pipeline whose source reads the watched bucket"),
        ));
    }
    let key = source.key.unwrap_or_default();
    let only_its_key = rule.keys.as_ref().and_then(|keys| keys.literal()) == Some(key.as_str());
    if !source.allow_key_override && !only_its_key {
        out.push(finding(
            subject,
            format!("the trigger's keys match other keys than the action's {key}, and the action does not allow key overrides: those writes are skipped"),
            "set AllowOverrideForS3ObjectKey to true on the source action",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git_api::credentials::Credentials;

    #[test]
    fn a_credential_that_confines_nothing_is_found_once_triggers_name_secrets() {
        let named = Config::from_json(
            r#"{"triggers": [{"name": "a", "pipeline": "p", "secret": "team-a", "git": {"repository": "team-a/*"}}]}"#,
        )
        .unwrap();
        let open = Config::from_json(r#"{"triggers": [{"name": "a", "pipeline": "p", "git": {"repository": "o/r"}}]}"#)
            .unwrap();
        let credentials = Credentials::parse(
            r#"{"github": {"token": "t"}, "gitlab": {"token": "t", "repositories": ["team-a/*"], "secrets": ["team-a"]}}"#,
        )
        .unwrap();
        let findings = check_credentials(&named, &credentials);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].subject, "credential github");
        assert!(findings[0].problem.contains("(team-a)") && findings[0].problem.contains("api.github.com"));
        assert!(check_credentials(&open, &credentials).is_empty(), "no named secrets: nothing to isolate");
    }

    #[test]
    fn a_concurrency_group_wants_a_parallel_pipeline() {
        let config = Config::from_json(
            r#"{"triggers":[{"name":"pr","pipeline":"app","git":{"repository":"o/r","events":["pull_request"]},"concurrency":{"cancel_in_progress":true}}]}"#,
        )
        .unwrap();
        let pipeline = |mode: &str| PipelineDefinition {
            name: "app".into(),
            pipeline_type: "V2".into(),
            execution_mode: mode.into(),
            ..PipelineDefinition::default()
        };
        let found = |mode: &str| {
            let mut out = Vec::new();
            check_trigger(&config.triggers[0], &pipeline(mode), "trigger pr", &mut out);
            out
        };
        assert!(found("PARALLEL").is_empty(), "what groups need");
        let superseded = found("SUPERSEDED");
        assert_eq!(superseded.len(), 1);
        assert!(superseded[0].problem.contains("superseded by any other group's"), "{superseded:?}");
        assert!(superseded[0].fix.contains("PARALLEL"));
        assert!(found("QUEUED")[0].problem.contains("waits behind"));
        let plain =
            Config::from_json(r#"{"triggers":[{"name":"p","pipeline":"app","git":{"repository":"o/r"}}]}"#).unwrap();
        let mut out = Vec::new();
        check_trigger(&plain.triggers[0], &pipeline("SUPERSEDED"), "trigger p", &mut out);
        assert!(out.is_empty(), "no group, no finding");
    }
}
