//! The SAM template and the code agree on the environment: every variable the code reads is
//! set by the template (for the functions that use it), and the template sets nothing the code
//! does not read. Local-only variables are the exception, and the template must not set them.

use herald_tests::workspace;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Read by the code, never set by the template: local runs, tests and the demo only.
const LOCAL_ONLY: [&str; 4] = ["HERALD_WEBHOOK_SECRET", "HERALD_STATUS_SECRET", "HERALD_DRY_RUN", "AWS_ENDPOINT_URL"];

/// What each function's environment must hold (beyond the configuration source).
const PER_FUNCTION: [(&str, &[&str]); 3] = [
    (
        "GitWebhookFunction",
        &["HERALD_WEBHOOK_SECRET_ARN", "HERALD_DEDUP_TABLE", "HERALD_EVENT_BUS", "HERALD_STATUS_SECRET_ARN"],
    ),
    ("S3TriggerFunction", &["HERALD_DEDUP_TABLE", "HERALD_EVENT_BUS"]),
    (
        "PipelineNotifierFunction",
        &["HERALD_TOPIC_ARN", "HERALD_ALERT_TOPIC_ARNS", "HERALD_DEDUP_TABLE", "HERALD_STATUS_SECRET_ARN"],
    ),
];

/// `Environment: Variables:` of each function resource in template.yaml, by logical id.
fn template_variables() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace().join("template.yaml")).expect("template.yaml");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut resource = String::new();
    let mut in_variables: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 2 && trimmed.ends_with(':') && !trimmed.starts_with('#') {
            resource = trimmed.trim_end_matches(':').to_owned();
        }
        if let Some(depth) = in_variables {
            if indent <= depth && !trimmed.is_empty() {
                in_variables = None;
            } else if let Some((name, _)) = trimmed.split_once(':') {
                out.entry(resource.clone()).or_default().insert(name.to_owned());
                continue;
            }
        }
        if trimmed == "Variables:" {
            in_variables = Some(indent);
        }
    }
    out
}

/// Every `"HERALD_..."` / `"AWS_ENDPOINT_URL"` string literal in non-test code of `dir`.
fn code_variables(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            code_variables(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for piece in code.split('"').skip(1).step_by(2) {
            let is_name = piece.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name && (piece.starts_with("HERALD_") || piece == "AWS_ENDPOINT_URL") {
                found.insert(piece.to_owned());
            }
        }
    }
}

#[test]
fn the_template_sets_exactly_what_the_code_reads() {
    let mut code = BTreeSet::new();
    for dir in ["shared/src", "functions"] {
        code_variables(&workspace().join(dir), &mut code);
    }
    assert!(
        code.contains("HERALD_CONFIG") && code.contains("HERALD_TOPIC_ARN"),
        "the scan found the code's names: {code:?}"
    );
    let template = template_variables();
    let set: BTreeSet<String> = template.values().flatten().cloned().collect();
    let local: BTreeSet<String> = LOCAL_ONLY.iter().map(|s| s.to_string()).collect();

    let unset: Vec<_> = code.difference(&set).filter(|v| !local.contains(*v)).collect();
    assert!(unset.is_empty(), "the code reads {unset:?} but the template never sets them");
    let unread: Vec<_> = set.difference(&code).collect();
    assert!(unread.is_empty(), "the template sets {unread:?} but the code never reads them");
    let leaked: Vec<_> = set.intersection(&local).collect();
    assert!(leaked.is_empty(), "the template sets local-only variables {leaked:?}");

    for (function, needs) in PER_FUNCTION {
        let vars = template.get(function).unwrap_or_else(|| panic!("{function} has no environment in the template"));
        for name in needs.iter().chain(&["HERALD_CONFIG", "HERALD_CONFIG_PARAMETER"]) {
            assert!(vars.contains(*name), "{function} does not set {name}");
        }
    }
}

fn template() -> String {
    std::fs::read_to_string(workspace().join("template.yaml")).expect("template.yaml")
}

/// Every top-level block of the template (parameters, resources, outputs): (logical id, text).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let top = line.starts_with("  ") && !line.starts_with("   ") && line.trim_end().ends_with(':');
        if top && !line.trim().starts_with('#') {
            out.push((line.trim().trim_end_matches(':').to_owned(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The text of resource `logical_id`.
fn resource(text: &str, logical_id: &str) -> String {
    blocks(text).into_iter().find(|(id, _)| id == logical_id).unwrap_or_else(|| panic!("{logical_id} missing")).1
}

/// Every resource of `kind`.
fn resources_of(text: &str, kind: &str) -> Vec<(String, String)> {
    blocks(text).into_iter().filter(|(_, body)| body.contains(&format!("Type: {kind}\n"))).collect()
}

/// Every name the template builds from the stack name fits its service's limit for the longest
/// stack name CloudFormation allows (128 characters).
/// A role's statement `sid`: the condition it sits under (the text before it) and the statement
/// itself, up to its `!If`'s `AWS::NoValue`.
fn statement(role: &str, sid: &str) -> (String, String) {
    let at = role.find(&format!("Sid: {sid}")).unwrap_or_else(|| panic!("no statement {sid} in:\n{role}"));
    let before = role[..at].trim_end().trim_end_matches('-').trim_end().to_owned();
    let end = role[at..].find("- !Ref AWS::NoValue").map_or(role.len(), |e| at + e);
    (before, role[at..end].to_owned())
}

#[test]
fn every_generated_name_fits_any_stack_name() {
    let limits = [
        ("Name", 64),
        ("TrailName", 128),
        ("AliasName", 256),
        ("LogGroupName", 512),
        ("QueueName", 80),
        ("TopicName", 256),
        ("TableName", 255),
    ];
    let longest = "s".repeat(128);
    let mut too_long = Vec::new();
    for line in template().lines() {
        let trimmed = line.trim();
        let Some((key, value)) = trimmed.split_once(": ") else { continue };
        let Some((_, limit)) = limits.iter().find(|(k, _)| *k == key) else { continue };
        if !value.contains("${AWS::StackName}") {
            continue;
        }
        let built = value.trim_start_matches("!Sub ").trim_matches('"').replace("${AWS::StackName}", &longest);
        if built.len() > *limit {
            too_long.push(format!("{key}: {value} ({} > {limit})", built.len()));
        }
    }
    assert!(too_long.is_empty(), "names too long for a 128-character stack name: {too_long:#?}");
}

#[test]
fn kms_key_arn_accepts_single_and_multi_region_keys() {
    let text = template();
    let block = &text[text.find("  KmsKeyArn:").unwrap()..];
    let line = block.lines().find(|l| l.trim().starts_with("AllowedPattern:")).unwrap();
    let pattern = line.trim().trim_start_matches("AllowedPattern: ").trim_matches('"');
    let re = regex::Regex::new(pattern).unwrap();
    for ok in [
        "",
        "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
        "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab",
    ] {
        assert!(re.is_match(ok), "{ok:?} refused by {pattern}");
    }
    for bad in ["alias/x", "arn:aws:kms:us-east-1:111122223333:alias/herald", "1234abcd-12ab-34cd-56ef-1234567890ab"] {
        assert!(!re.is_match(bad), "{bad:?} accepted by {pattern}");
    }
}

/// The key's policy must not name roles of this stack (IAM may not have propagated them when
/// the key is created); the account-root statement lets the roles' own policies grant its use.
/// EventBridge's calls through SQS are bound by `kms:ViaService`, which they always carry.
#[test]
fn the_key_policy_relies_on_iam_and_on_conditions_that_hold() {
    let key = resource(&template(), "HeraldKey");
    assert!(!key.contains("Role.Arn"), "the key policy names a role of this stack:\n{key}");
    let events = &key[key.find("events.amazonaws.com").expect("a statement for EventBridge")..];
    let statement = &events[..events.find("- Sid").unwrap_or(events.len())];
    assert!(
        !statement.contains("aws:SourceAccount"),
        "EventBridge's KMS calls may not carry aws:SourceAccount:\n{statement}"
    );
    assert!(statement.contains("kms:ViaService"), "{statement}");
}

/// Alarm notifications are CloudWatch's JSON, not alert documents: they go to a topic of their
/// own, and Herald's own failure metrics have alarms.
#[test]
fn alarms_notify_the_operations_topic() {
    let text = template();
    let alarms: Vec<String> = resources_of(&text, "AWS::CloudWatch::Alarm").into_iter().map(|(_, b)| b).collect();
    assert!(alarms.len() >= 8, "{} alarms", alarms.len());
    for alarm in &alarms {
        assert!(alarm.contains("AlarmActions: [!Ref OpsTopic]"), "an alarm notifies elsewhere:\n{alarm}");
        assert!(!alarm.contains("AlertTopic"), "alarm JSON must not reach alert subscribers:\n{alarm}");
    }
    for metric in ["StartsFailed", "ConfigRejected", "StatusFailed"] {
        assert!(alarms.iter().any(|a| a.contains(&format!("MetricName: {metric}"))), "no alarm on {metric}");
    }
    assert!(text.contains("OpsTopicArn:"), "the OpsTopicArn output");
    assert!(resource(&text, "OpsEmailSubscription").contains("!Ref OpsTopic"));
}

/// Alert rules route to their own topics: the notifier may publish to them.
#[test]
fn the_notifier_may_publish_to_additional_alert_topics() {
    let text = template();
    assert!(text.contains("  AdditionalAlertTopicArns:\n    Type: CommaDelimitedList"));
    let policy = resource(&text, "PipelineNotifierDeliveryPolicy");
    assert!(policy.contains("AdditionalAlertTopicArns"), "{policy}");
}

/// Every EventBridge rule is left unnamed (CloudFormation names it within 64 characters) and the
/// dead-letter queues admit exactly the stack's rules, by ARN.
#[test]
fn rules_are_unnamed_and_the_queues_admit_them_by_arn() {
    let text = template();
    let rules = resources_of(&text, "AWS::Events::Rule");
    assert_eq!(rules.len(), 4);
    for (id, rule) in rules {
        assert!(!rule.contains("\n      Name:"), "{id} is named:\n{rule}");
    }
    let policy = resource(&text, "DeadLetterQueuePolicy");
    for rule in ["S3ObjectCreatedRule", "S3CloudTrailRule", "PipelineStateRule", "PipelineChangeRule"] {
        assert!(policy.contains(&format!("{rule}.Arn")), "{rule} not admitted by ARN:\n{policy}");
    }
}

#[test]
fn commit_statuses_read_only_their_secret_and_hear_every_stage() {
    let blocks: BTreeMap<String, String> = blocks(&template()).into_iter().collect();
    for role in ["GitWebhookRole", "PipelineNotifierRole"] {
        let (before, statement) = statement(&blocks[role], "ReadTheStatusCredentials");
        assert!(statement.contains("Action: secretsmanager:GetSecretValue"), "{role}: {statement}");
        assert!(statement.contains("Resource: !Ref StatusSecretArn"), "{role}: only that secret: {statement}");
        assert!(before.ends_with("- HasStatusSecret"), "{role}: only when a secret is given");
    }
    assert!(!blocks["S3TriggerRole"].contains("StatusSecretArn"), "s3-trigger posts no statuses");
    let rule = &blocks["PipelineStateRule"];
    let stages = rule.find("- HasStatusSecret").expect("stage events only with statuses");
    assert!(
        rule[stages..].lines().nth(1).unwrap().contains("detail-type: [CodePipeline Stage Execution State Change]"),
        "{rule}"
    );
    assert!(blocks["StatusSecretArn"].contains("NAT"), "the parameter says what egress statuses need");
}

#[test]
fn commands_act_only_on_the_pipelines_named_and_find_executions_by_commit() {
    let blocks: BTreeMap<String, String> = blocks(&template()).into_iter().collect();
    let statement = |sid: &str| statement(&blocks["GitWebhookRole"], sid);
    let (when, act) = statement("CommandsActOnPipelines");
    assert!(when.ends_with("- HasCommandPipelines"), "only when pipelines are named");
    for action in ["GetPipelineState", "GetPipelineExecution", "RetryStageExecution", "StopPipelineExecution"] {
        assert!(act.contains(&format!("codepipeline:{action}")), "{act}");
    }
    assert!(act.contains("Resource: !Ref CommandPipelineArns"), "exactly those pipelines: {act}");
    let (when, approve) = statement("CommandsAnswerApprovals");
    assert!(when.ends_with("- HasCommandPipelines"));
    assert!(approve.contains("Action: codepipeline:PutApprovalResult"), "{approve}");
    assert!(approve.contains(r#"!Join ["/*,", !Ref CommandPipelineArns]"#), "their actions only: {approve}");
    let (when, query) = statement("FindExecutionsByCommit");
    assert!(when.ends_with("- DedupTable"));
    assert!(query.contains("Action: dynamodb:Query") && query.contains("/index/by-commit"), "{query}");
    assert!(!blocks["PipelineNotifierRole"].contains("RetryStageExecution"), "the notifier acts on nothing");
    let (when, stop) = statement("ConcurrencyGroupsStopExecutions");
    assert!(when.ends_with("- HasConcurrencyPipelines"), "only when pipelines are named");
    assert!(stop.contains("Action: codepipeline:StopPipelineExecution"), "{stop}");
    assert!(stop.contains("Resource: !Ref ConcurrencyPipelineArns"), "exactly those pipelines: {stop}");
    assert!(!blocks["PipelineNotifierRole"].contains("StopPipelineExecution"));
}

/// docs/operations.md "Missed deliveries": the sweep runs on a schedule (every 10 minutes unless
/// told otherwise; empty turns it off), with a role of its own that reads the credentials and
/// the table and writes only the table's conditional updates, no retries and no dead-letter
/// queue, and an alarm when it gives up on a delivery.
#[test]
fn the_redelivery_sweep_runs_on_a_schedule_with_a_role_of_its_own() {
    let blocks: BTreeMap<String, String> = blocks(&template()).into_iter().collect();
    let parameter = &blocks["RedeliverySchedule"];
    assert!(parameter.contains("Default: rate(10 minutes)"), "{parameter}");
    assert!(parameter.contains("Empty: no sweep"), "{parameter}");
    let condition =
        template().lines().find(|l| l.trim_start().starts_with("Redelivery: !And")).expect("condition").to_owned();
    for needs in ["HasStatusSecret", "DedupTable", "RedeliverySchedule, \"\""] {
        assert!(condition.contains(needs), "{condition}");
    }
    for id in [
        "RedeliverFunction",
        "RedeliverRole",
        "RedeliveryScheduleRole",
        "RedeliverySweep",
        "RedeliverLogGroup",
        "RedeliveryGaveUpAlarm",
        "RedeliverErrorsAlarm",
    ] {
        assert!(blocks[id].contains("Condition: Redelivery"), "{id} exists only with the sweep");
    }
    let sweep = &blocks["RedeliverySweep"];
    assert!(
        sweep.contains("Type: AWS::Scheduler::Schedule")
            && sweep.contains("ScheduleExpression: !Ref RedeliverySchedule")
    );
    assert!(sweep.contains("MaximumRetryAttempts: 0") && !sweep.contains("DeadLetterConfig"), "{sweep}");
    let function = &blocks["RedeliverFunction"];
    assert!(function.contains("Binary: redeliver") && function.contains("MaximumRetryAttempts: 0"), "{function}");
    assert!(!function.contains("OnFailure"), "no dead-letter queue: the next sweep retries");
    let role = &blocks["RedeliverRole"];
    let actions: Vec<&str> = role.lines().filter(|l| l.trim_start().starts_with("Action:")).collect();
    assert_eq!(
        actions.iter().map(|l| l.trim()).collect::<Vec<_>>(),
        vec![
            "Action: sts:AssumeRole",
            "Action: [logs:CreateLogStream, logs:PutLogEvents]",
            "Action: secretsmanager:GetSecretValue",
            "Action: [dynamodb:GetItem, dynamodb:UpdateItem]"
        ]
    );
    assert!(role.contains("Resource: !Ref StatusSecretArn") && role.contains("Resource: !GetAtt DedupTable.Arn"));
    let invoke = &blocks["RedeliveryScheduleRole"];
    assert!(
        invoke.contains("Service: scheduler.amazonaws.com")
            && invoke.contains("Resource: !GetAtt RedeliverFunction.Arn")
    );
    let alarm = &blocks["RedeliveryGaveUpAlarm"];
    assert!(
        alarm.contains("MetricName: RedeliveryGaveUp") && alarm.contains("AlarmActions: [!Ref OpsTopic]"),
        "{alarm}"
    );
}

/// `make deploy CONFIG=…`: the string the Makefile's recipe builds, run by the shell as make
/// would, reaches the pinned SAM CLI's parameter parser as the whole validated document, quotes,
/// backslashes and spaces in its strings included. (The recipe once passed the compact JSON
/// unquoted, which SAM read as `{`.)
#[test]
fn make_deploy_hands_sam_the_whole_document() {
    let document = serde_json::json!({
        "triggers": [{ "name": "it's \"app\"", "pipeline": "app-pipeline",
                       "git": { "repository": "acme/app", "branches": ["main", "release/**"] },
                       "variables": { "NOTE": "two  spaces, a \\ and \\\" and é" } }],
        "alerts": [{ "name": "all", "pipelines": ["**"], "on": ["FAILED", "RECOVERED"] }]
    });
    let file = std::env::temp_dir().join(format!("herald deploy {}.json", std::process::id()));
    std::fs::write(&file, serde_json::to_string_pretty(&document).unwrap()).unwrap();
    let root = workspace();
    let plan = std::process::Command::new("make")
        .args(["-n", "--no-print-directory", "deploy"])
        .arg(format!("CONFIG={}", file.display()))
        .current_dir(&root)
        .output()
        .expect("make -n deploy");
    let plan = String::from_utf8_lossy(&plan.stdout).into_owned();
    let line = plan.lines().find(|l| l.contains("sam deploy")).unwrap_or_else(|| panic!("no sam deploy in:\n{plan}"));
    // The recipe's line, with `sam deploy` replaced by SAM's own parser of its arguments.
    let line = line.replacen(".venv/bin/sam deploy", ".venv/bin/python tests/support/sam_deploy_argv.py", 1);
    let run = std::process::Command::new("bash")
        .args(["-eu", "-o", "pipefail", "-c", &line])
        .current_dir(&root)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(run.status.success(), "{line}\n{}", String::from_utf8_lossy(&run.stderr));
    let parsed: serde_json::Value = serde_json::from_slice(&run.stdout).expect("the parser's JSON");
    let config = parsed["HeraldConfig"].as_str().unwrap_or_else(|| panic!("no HeraldConfig: {parsed}"));
    assert_eq!(serde_json::from_str::<serde_json::Value>(config).ok(), Some(document), "SAM reads {config:?}");
}

/// The functions that start pipelines settle a delivery's (or a write's) claims with
/// `BatchWriteItem`, which IAM authorises as an action of its own (AWS's Service Authorization
/// Reference for DynamoDB; moto enforces no IAM, so only this reading of the template sees it):
/// without it every delivery of two or more starts leaves its claims in progress on AWS.
#[test]
fn the_roles_that_batch_their_claims_may_batch_write() {
    let blocks: BTreeMap<String, String> = blocks(&template()).into_iter().collect();
    for role in ["GitWebhookRole", "S3TriggerRole"] {
        let (_, statement) = statement(&blocks[role], "ExactlyOnceRecords");
        let actions = statement.lines().find(|l| l.trim_start().starts_with("Action:")).unwrap_or_default();
        assert!(actions.contains("dynamodb:BatchWriteItem"), "{role}: {actions}");
        assert!(statement.contains("Resource: !GetAtt DedupTable.Arn"), "{role}: the table alone");
    }
    assert!(!blocks["PipelineNotifierRole"].contains("BatchWriteItem"), "the notifier writes one record at a time");
}
