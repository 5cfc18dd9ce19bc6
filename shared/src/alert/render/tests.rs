use super::*;
use crate::alert::enrich::Enrichment;
use crate::alert::event::{parse_event, Input};
use crate::alert::{matches, tokens, Previous};
use crate::config::Config;
use crate::ports::ExecutionTrigger;

fn event(name: &str) -> PipelineEvent {
    let path = format!("{}/../events/pipeline-notifier/{name}", env!("CARGO_MANIFEST_DIR"));
    let raw = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    match parse_event(&raw) {
        Input::Event(e) => *e,
        Input::Ignored(why) => panic!("{why}"),
    }
}

fn enriched_failure() -> Enrichment {
    Enrichment {
        revision: Some(Revision {
            commit: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
            message: Some("Speed up the image resizer\n\nUses the new SIMD path.".into()),
            url: Some("https://github.com/acme/api/commit/9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
        }),
        trigger: Some(ExecutionTrigger { trigger_type: "Webhook".into(), detail: Some("acme/api push main".into()) }),
        failure: Some(Failure {
            stage: Some("Build".into()),
            action: Some("Compile".into()),
            summary: Some("error[E0308]: mismatched types\n  --> src/resize.rs:42:17".into()),
            external_url: Some(
                "https://console.aws.amazon.com/codebuild/home?region=us-east-1#/builds/prod-api-build:5b7c/view/new"
                    .into(),
            ),
        }),
        duration_seconds: Some(312),
        previous: Some(Previous::Succeeded),
        superseded_by: None,
        failed_calls: vec![],
    }
}

/// The alert for `rule_on` tokens, `previous` outcome and enrichment.
fn alert(file: &str, on: &str, previous: Option<Previous>, enrichment: &Enrichment) -> Alert {
    let config =
        Config::from_json(&format!(r#"{{"alerts":[{{"name":"prod","pipelines":["prod-*"],"on":{on}}}]}}"#)).unwrap();
    let event = event(file);
    let rules: Vec<_> = config.alerts.iter().collect();
    let found = matches(&rules, &tokens(&event, previous));
    assert_eq!(found.len(), 1, "{file} should match {on}");
    Alert::new(&found[0], &event, enrichment)
}

/// Compares `actual` with `src/alert/snapshots/NAME`; `HERALD_UPDATE_SNAPSHOTS=1` rewrites it.
fn snapshot(name: &str, actual: &str) {
    let path = format!("{}/src/alert/snapshots/{name}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("HERALD_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{path} missing: run with HERALD_UPDATE_SNAPSHOTS=1 and review it"));
    assert_eq!(
        actual, expected,
        "{name} changed: if intended, rerun with HERALD_UPDATE_SNAPSHOTS=1 and review the diff"
    );
}

fn texts(alert: &Alert) -> String {
    let chatbot = serde_json::to_string_pretty(&alert.chatbot()).unwrap();
    format!(
        "Subject: {}\n\n--- email / default ---\n{}\n--- sms ---\n{}\n\n--- https (Amazon Q Developer / Chatbot) ---\n{}\n",
        alert.subject(),
        alert.email_text(),
        alert.sms_text(),
        chatbot
    )
}

#[test]
fn a_first_failure_reads_well_everywhere() {
    let alert = alert("pipeline-failed.json", r#"["FIRST_FAILURE"]"#, Some(Previous::Succeeded), &enriched_failure());
    assert_eq!(alert.subject(), "FIRST_FAILURE: prod-api (exec 3f2a9c1e)");
    snapshot("first-failure.txt", &texts(&alert));
}

#[test]
fn a_recovery_says_it_is_green_again() {
    let enrichment = Enrichment {
        failure: None,
        duration_seconds: Some(398),
        previous: Some(Previous::Failed),
        ..enriched_failure()
    };
    let alert = alert("pipeline-succeeded.json", r#"["RECOVERED"]"#, Some(Previous::Failed), &enrichment);
    assert_eq!(alert.subject(), "RECOVERED: prod-api (exec 8b0e5d72)");
    snapshot("recovered.txt", &texts(&alert));
}

#[test]
fn approvals_and_audits_have_their_own_texts() {
    let approval = alert("approval-waiting.json", r#"["APPROVAL"]"#, None, &Enrichment::default());
    assert_eq!(approval.subject(), "APPROVAL: prod-api Approve / ReleaseGate (exec 8b0e5d72)");
    snapshot("approval.txt", &texts(&approval));
    let audit = alert("audit-stop-execution.json", r#"["AUDIT"]"#, None, &Enrichment::default());
    assert_eq!(audit.subject(), "AUDIT: prod-api StopPipelineExecution by alice");
    snapshot("audit.txt", &texts(&audit));
}

#[test]
fn without_enrichment_the_alert_still_reads() {
    let alert = alert("stage-failed.json", r#"["STAGE_FAILED"]"#, None, &Enrichment::default());
    let text = alert.email_text();
    assert!(text.starts_with("STAGE_FAILED: Stage Build of pipeline prod-api failed\n"));
    assert!(!text.contains("Commit"));
    let doc = serde_json::to_value(&alert).unwrap();
    for key in ["revision", "trigger", "failure", "duration_seconds", "audit", "action"] {
        assert!(doc[key].is_null(), "{key} should be null");
    }
}

#[test]
fn the_document_has_every_key() {
    let alert = alert("pipeline-failed.json", r#"["FAILED"]"#, None, &enriched_failure());
    let doc = serde_json::to_value(&alert).unwrap();
    let keys: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = [
        "schema",
        "alert_rule",
        "kind",
        "token",
        "pipeline",
        "execution_id",
        "state",
        "stage",
        "action",
        "region",
        "account",
        "time",
        "console_url",
        "revision",
        "trigger",
        "failure",
        "duration_seconds",
        "audit",
    ];
    expected.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(doc["schema"], "herald.alert/v1");
    assert_eq!(doc["token"], "FAILED");
    assert_eq!(doc["kind"], "pipeline");
    assert_eq!(doc["failure"]["action"], "Compile");
    assert_eq!(doc["trigger"]["type"], "Webhook");
    assert_eq!(doc["duration_seconds"], 312);
    assert_eq!(
        doc["console_url"],
        "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/prod-api/executions/3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10/timeline?region=us-east-1"
    );
}

#[test]
fn the_sns_message_has_a_text_per_protocol_and_the_attributes() {
    let alert = alert("pipeline-failed.json", r#"["FAILED"]"#, None, &enriched_failure());
    let sns = alert.to_sns("arn:aws:sns:us-east-1:111122223333:alerts");
    let body: serde_json::Value = serde_json::from_str(&sns.message).unwrap();
    for key in ["default", "email", "sms", "https", "sqs", "lambda"] {
        assert!(body[key].is_string(), "{key}");
    }
    let chatbot: serde_json::Value = serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
    assert_eq!(chatbot["version"], "1.0");
    assert_eq!(chatbot["source"], "custom");
    assert_eq!(chatbot["content"]["textType"], "client-markdown");
    assert_eq!(chatbot["metadata"]["threadId"], "3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10");
    let document: serde_json::Value = serde_json::from_str(body["sqs"].as_str().unwrap()).unwrap();
    assert_eq!(document, serde_json::to_value(&alert).unwrap());
    assert_eq!(
        sns.attributes,
        [
            ("pipeline", "prod-api".to_owned()),
            ("state", "FAILED".to_owned()),
            ("kind", "pipeline".to_owned()),
            ("alert_rule", "prod".to_owned())
        ]
    );
}

#[test]
fn huge_inputs_still_fit_in_one_sns_message() {
    let mut enrichment = enriched_failure();
    let huge = "ü".repeat(200_000);
    enrichment.failure.as_mut().unwrap().summary = Some(huge.clone());
    enrichment.revision.as_mut().unwrap().message = Some(huge.clone());
    enrichment.trigger.as_mut().unwrap().detail = Some(huge);
    let alert = alert("pipeline-failed.json", r#"["FAILED"]"#, None, &enrichment);
    let sns = alert.to_sns("arn:aws:sns:us-east-1:1:t");
    let total =
        sns.message.len() + sns.subject.len() + sns.attributes.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
    assert!(total < SNS_MAX_BYTES, "{total} bytes");
    let body: serde_json::Value = serde_json::from_str(&sns.message).unwrap();
    assert!(body["email"].as_str().unwrap().contains("üüü"), "cut at character boundaries, not dropped");
}

#[test]
fn subjects_are_short_printable_ascii() {
    let mut alert = alert("pipeline-failed.json", r#"["FAILED"]"#, None, &Enrichment::default());
    alert.pipeline = format!("pïpe\nline-{}", "x".repeat(200));
    let subject = alert.subject();
    assert!(subject.len() <= MAX_SUBJECT_CHARS);
    assert!(subject.chars().all(|c| (' '..='~').contains(&c)), "{subject}");
    assert!(subject.starts_with("FAILED: p?pe line-"));
    assert_eq!(duration_text(42), "42s");
    assert_eq!(duration_text(312), "5m 12s");
    assert_eq!(duration_text(3720), "1h 02m");
    assert!(alert.sms_text().chars().count() <= MAX_SMS_CHARS);
}

/// A cross-region action's event names the action's region in `detail.region`; the console
/// page is the pipeline's, in the envelope's region.
#[test]
fn the_console_link_is_in_the_pipeline_s_region() {
    let path = format!("{}/../events/pipeline-notifier/action-failed.json", env!("CARGO_MANIFEST_DIR"));
    let mut raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    raw["region"] = "us-east-1".into();
    raw["detail"]["region"] = "eu-west-1".into();
    let Input::Event(event) = parse_event(&raw) else { panic!("ignored") };
    assert_eq!(event.region, "us-east-1");
    let config = Config::from_json(r#"{"alerts":[{"name":"a","pipelines":["**"],"on":["ACTION_FAILED"]}]}"#).unwrap();
    let rules: Vec<_> = config.alerts.iter().collect();
    let found = matches(&rules, &tokens(&event, None));
    let alert = Alert::new(&found[0], &event, &Enrichment::default());
    assert!(alert.console_url.starts_with("https://us-east-1.console.aws.amazon.com/"), "{}", alert.console_url);
}

/// The Chatbot notification's `id` differs between two alerts of one execution, and its
/// `eventType` fits `[A-Za-z0-9-]+`.
#[test]
fn chatbot_ids_are_unique_per_alert_and_event_types_are_valid() {
    let failed = alert("pipeline-failed.json", r#"["FIRST_FAILURE"]"#, Some(Previous::Succeeded), &enriched_failure());
    let stage = alert("stage-failed.json", r#"["STAGE_FAILED"]"#, None, &enriched_failure());
    let chat = |a: &Alert| a.chatbot();
    assert_ne!(chat(&failed)["id"], chat(&stage)["id"]);
    for a in [&failed, &stage] {
        let event_type = chat(a)["metadata"]["eventType"].as_str().unwrap().to_owned();
        assert!(
            !event_type.is_empty() && event_type.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "{event_type}"
        );
        let id = chat(a)["id"].as_str().unwrap().to_owned();
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{id}");
    }
    assert_eq!(chat(&failed)["metadata"]["eventType"], "FIRST-FAILURE");
}
