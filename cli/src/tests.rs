use super::*;
use base64::Engine;

fn path(relative: &str) -> String {
    format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn herald(args: &[&str]) -> Result<String, String> {
    run(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
}

#[test]
fn validate_summarises_a_good_document_and_names_the_field_of_a_bad_one() {
    let out = herald(&["validate", &path("events/herald-config.json")]).unwrap();
    assert!(out.contains("valid"), "{out}");
    assert!(out.contains("trigger github-app -> pipeline demo-github"), "{out}");
    let bad = std::env::temp_dir().join(format!("herald-cli-bad-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"{"triggers":[{"name":"x","pipeline":"p","git":{"repository":"a/b","branches":["[oops"]}}]}"#,
    )
    .unwrap();
    let error = herald(&["validate", bad.to_str().unwrap()]).unwrap_err();
    std::fs::remove_file(&bad).unwrap();
    assert!(error.contains(r#"trigger "x": git.branches[0]"#), "{error}");
}

#[test]
fn explain_shows_each_git_decision_with_its_variables_or_reason() {
    let config = path("events/herald-config.json");
    let out = herald(&["explain", &config, &path("events/git-webhook/github-push.json")]).unwrap();
    assert!(out.starts_with("github push delivery"), "{out}");
    assert!(out.contains("start github-app -> demo-github"), "{out}");
    assert!(out.contains("source Source pinned to COMMIT_ID"), "{out}");
    assert!(out.contains("PROVIDER = github"), "{out}");
    let deleted =
        herald(&["explain", &config, &path("events/git-webhook/bitbucket-server-branch-deleted.json")]).unwrap();
    assert!(deleted.contains("skip  bitbucket-server"), "{deleted}");
    let mut encoded: serde_json::Value =
        serde_json::from_str(&read(&path("events/git-webhook/github-push.json")).unwrap()).unwrap();
    let body = encoded["body"].as_str().unwrap().to_owned();
    encoded["body"] = serde_json::json!(base64::engine::general_purpose::STANDARD.encode(body));
    encoded["isBase64Encoded"] = serde_json::json!(true);
    let file = std::env::temp_dir().join(format!("herald-cli-b64-{}.json", std::process::id()));
    std::fs::write(&file, encoded.to_string()).unwrap();
    let decoded = herald(&["explain", &config, file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    assert!(decoded.unwrap().contains("start github-app -> demo-github"), "base64 bodies are decoded as Lambda does");
    let ping = herald(&["explain", &config, &path("events/git-webhook/github-ping.json")]).unwrap();
    assert!(ping.contains("a ping"), "{ping}");
}

#[test]
fn explain_reads_s3_and_pipeline_events_too() {
    let s3 = herald(&[
        "explain",
        &path("events/s3-trigger/herald-config.json"),
        &path("events/s3-trigger/eventbridge-object-created.json"),
    ])
    .unwrap();
    assert!(s3.contains("start") && s3.contains("S3_OBJECT_VERSION_ID"), "{s3}");
    let alert = herald(&[
        "explain",
        &path("events/s3-trigger/herald-config.json"),
        &path("events/pipeline-notifier/pipeline-failed.json"),
    ])
    .unwrap();
    assert!(alert.contains("if the previous finished run failed:"), "{alert}");
    assert!(alert.contains("alert rule default sends FAILED to HERALD_TOPIC_ARN"), "{alert}");
}

#[test]
fn wrong_usage_and_unreadable_files_are_errors() {
    assert!(herald(&[]).unwrap_err().starts_with("usage:"));
    assert!(herald(&["validate", "/no/such/file.json"]).unwrap_err().starts_with("/no/such/file.json:"));
}

#[test]
fn explain_shows_how_an_s3_write_is_pinned_to_the_source_action() {
    let config = path("events/s3-trigger/herald-config.json");
    let event = path("events/s3-trigger/eventbridge-object-created.json");
    let offline = herald(&["explain", &config, &event]).unwrap();
    assert!(offline.contains("source action Source not read here"), "{offline}");
    let definition = path("events/s3-trigger/get-pipeline-demo-deploy.json");
    let out = herald(&["explain", &config, &event, "--pipeline", &definition]).unwrap();
    assert!(out.contains("pinned to S3_OBJECT_KEY releases/app/app-1.5.0.zip"), "{out}");
    assert!(out.contains("pinned to S3_OBJECT_VERSION_ID IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"), "{out}");
}
