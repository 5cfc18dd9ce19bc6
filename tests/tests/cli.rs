//! The `herald` command line through the built binary: help and version, exit codes, every
//! subcommand in human and JSON form, signed deliveries accepted by the webhook's own
//! verification, and `doctor` against moto with pipelines set up right and wrong.

use herald::providers::{self, Headers};
use herald::secrets::WebhookSecrets;
use herald_tests::moto::Moto;
use herald_tests::runtime::{binary, herald};
use herald_tests::workspace;
use serde_json::Value;
use std::process::Command;

/// `herald` with no AWS setting of this machine's environment: only `env`.
fn herald_alone(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> (i32, String, String) {
    use std::io::Write;
    let mut command = Command::new(binary("herald"));
    command.args(args).current_dir(workspace());
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .envs(env.iter().copied())
        .env("AWS_CONFIG_FILE", "/nonexistent/herald-config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/herald-credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("herald runs");
    child.stdin.take().expect("stdin").write_all(stdin.unwrap_or("").as_bytes()).expect("stdin written");
    let out = child.wait_with_output().expect("herald ends");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> (i32, Value) {
    let (code, out, err) = herald(args, &[]);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out} {err}")))
}

#[test]
fn help_version_completions_and_usage_errors() {
    let (code, out, _) = herald(&["--help"], &[]);
    assert_eq!(code, 0);
    for sub in ["validate", "explain", "sign", "doctor", "completions"] {
        assert!(out.contains(sub), "{out}");
    }
    let (code, out, _) = herald(&["--version"], &[]);
    assert_eq!((code, out.starts_with("herald ")), (0, true), "{out}");
    assert_eq!(herald(&["explain", "--help"], &[]).0, 0);
    let (code, out, _) = herald(&["completions", "bash"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("herald"), "{out}");
    assert_eq!(herald(&["frobnicate"], &[]).0, 2, "unknown subcommand");
    assert_eq!(herald(&["sign", "--provider", "nope", "--secret", "x", "README.md"], &[]).0, 2);
    assert_eq!(herald(&["validate", "/no/such/file.json"], &[]).0, 2);
}

#[test]
fn validate_good_bad_and_template() {
    let (code, doc) = json(&["validate", "events/herald-config.json", "--json"]);
    assert_eq!((code, doc["valid"].clone()), (0, Value::Bool(true)), "{doc}");
    assert!(doc["triggers"].as_array().unwrap().len() > 5);
    let bad = std::env::temp_dir().join(format!("herald-bad-{}.json", std::process::id()));
    std::fs::write(&bad, r#"{"triggers": [{"name": "t", "pipeline": "p"}]}"#).unwrap();
    let (code, doc) = json(&["validate", bad.to_str().unwrap(), "--json"]);
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(code, 1, "a finding: {doc}");
    assert_eq!(doc["valid"], false);
    let (code, out, _) = herald(&["validate", "--template", "template.yaml"], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("HeraldConfig default"), "{out}");
}

#[test]
fn every_provider_sample_is_explained_in_json() {
    let dir = workspace().join("events/git-webhook");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let event = path.to_str().unwrap().to_owned();
        let (code, doc) = json(&["explain", "--config", "events/herald-config.json", &event, "--json"]);
        assert_eq!(code, 0, "{event}: {doc}");
        assert_eq!(doc["kind"], "webhook", "{event}");
        assert!(doc["provider"].is_string(), "{event}: {doc}");
        seen += 1;
    }
    assert!(seen >= 20, "{seen} samples");
}

/// `herald explain` shows the concurrency group a start joins, and the groups a close stops.
#[test]
fn explain_shows_the_concurrency_group_a_start_joins_and_a_close_stops() {
    let dir = std::env::temp_dir().join(format!("herald-cli-groups-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    let doc = serde_json::json!({ "triggers": [{ "name": "pr", "pipeline": "app",
        "git": { "repository": "**", "events": ["pull_request"] },
        "concurrency": { "cancel_in_progress": true } }] });
    std::fs::write(&config, doc.to_string()).unwrap();
    let mut payload: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("shared/tests/fixtures/webhooks/github/pull-request.json")).unwrap(),
    )
    .unwrap();
    let run = |payload: &Value, json_out: bool| {
        let path = dir.join("payload.json");
        std::fs::write(&path, payload.to_string()).unwrap();
        let mut args = vec![
            "explain",
            "--config",
            config.to_str().unwrap(),
            "--provider",
            "github",
            "--header",
            "X-GitHub-Event: pull_request",
            path.to_str().unwrap(),
        ];
        if json_out {
            args.push("--json");
        }
        herald(&args, &[])
    };
    let (code, text, err) = run(&payload, false);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(
            "group baxterthehacker/public-repo#1: stops the group's earlier executions (running actions finish)"
        ),
        "{text}"
    );
    payload["action"] = "closed".into();
    let (code, out, err) = run(&payload, true);
    assert_eq!(code, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["changes"][0]["closes_groups"],
        serde_json::json!([{ "trigger": "pr", "group": "baxterthehacker/public-repo#1" }]),
        "{doc}"
    );
}

/// `herald sign` prints headers the webhook's own authentication accepts, for every provider.
#[test]
fn signed_deliveries_round_trip_through_the_webhook_verification() {
    let body_path = workspace().join("events/git-webhook/payloads/github-push.json");
    let body = std::fs::read(&body_path).unwrap();
    let shared = "shared-secret-0123456789";
    let standard = "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk=";
    let secrets = WebhookSecrets::parse(&format!(r#"{{"secrets": ["{shared}", "{standard}"]}}"#)).unwrap();
    for provider in [
        "github",
        "gitlab",
        "gitlab-signing",
        "bitbucket",
        "bitbucket-dc",
        "gitea",
        "forgejo",
        "gogs",
        "azure",
        "generic",
    ] {
        let key = if matches!(provider, "gitlab-signing" | "generic") { standard } else { shared };
        let (code, doc) =
            json(&["sign", "--provider", provider, "--secret", key, body_path.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{provider}: {doc}");
        let headers: Headers =
            doc["headers"].as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v.as_str().unwrap())).collect();
        let kind = providers::detect(&headers).unwrap_or_else(|| panic!("{provider}: {doc}"));
        let now = herald::clock::unix_now();
        assert!(
            providers::authenticate(kind, &headers, &body, &secrets, now).is_some(),
            "{provider} does not verify: {doc}"
        );
    }
    let (code, out, _) = herald(
        &[
            "sign",
            "--provider",
            "github",
            "--secret",
            shared,
            body_path.to_str().unwrap(),
            "--url",
            "https://example.com/hook",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(
        out.starts_with("curl -sS -w '\\nHTTP %{http_code}\\n' -X POST 'https://example.com/hook'")
            && out.contains("X-Hub-Signature-256: sha256="),
        "{out}"
    );
}

#[test]
fn doctor_finds_misconfigured_pipelines_on_the_account() {
    let moto = Moto::start();
    // Right: a V2 S3-source pipeline that declares the variables, polling off, key overrides on.
    moto.ctl(&[
        "create-pipeline",
        "good-deploy",
        "source=acme-artifacts:releases/app/latest.zip:override",
        "ARTIFACT_KEY",
    ]);
    // Wrong: variables undeclared, key overrides off.
    moto.ctl(&["create-pipeline", "bad-deploy", "source=acme-artifacts:releases/app/latest.zip"]);
    moto.ctl(&["create-table", "herald-dedup"]);
    let config = serde_json::json!({
        "triggers": [
            { "name": "good", "pipeline": "good-deploy", "s3": { "bucket": "acme-artifacts", "keys": ["releases/**"] },
              "source_action": "Source", "variables": { "ARTIFACT_KEY": "{key}" } },
            { "name": "bad", "pipeline": "bad-deploy", "s3": { "bucket": "acme-artifacts", "keys": ["releases/**"] },
              "source_action": "Source", "variables": { "ARTIFACT_KEY": "{key}" } },
            { "name": "missing", "pipeline": "no-such-pipeline", "git": { "repository": "acme/app" } },
            { "name": "git-on-s3", "pipeline": "good-deploy", "git": { "repository": "acme/app" }, "source_action": "Source" }
        ],
        "alerts": [
            { "name": "a", "pipelines": ["**"], "on": ["FAILED"], "topic_arn": "arn:aws:sns:us-east-1:123456789012:no-such-topic" },
            { "name": "shop", "pipelines": ["shop-api"], "on": ["FAILED"] },
            { "name": "deploys", "pipelines": ["good-deploy"], "on": ["FAILED"] }
        ]
    });
    let file = std::env::temp_dir().join(format!("herald-doctor-{}.json", std::process::id()));
    std::fs::write(&file, config.to_string()).unwrap();
    let env = moto.client_env();
    let (code, out, err) =
        herald(&["doctor", "--config", file.to_str().unwrap(), "--table", "herald-dedup", "--json"], &env);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(code, 1, "findings: {out} {err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    let findings: Vec<String> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} | {} | {}", f["subject"], f["problem"], f["fix"]))
        .collect();
    let has = |subject: &str, problem: &str| findings.iter().any(|f| f.contains(subject) && f.contains(problem));
    assert!(has("trigger bad", "variable ARTIFACT_KEY is not declared"), "{findings:#?}");
    assert!(has("trigger bad", "AllowOverrideForS3ObjectKey"), "{findings:#?}");
    assert!(has("trigger missing", "cannot be read"), "{findings:#?}");
    assert!(has("trigger git-on-s3", "cannot take a COMMIT_ID"), "{findings:#?}");
    assert!(has("alert rule a", "no-such-topic"), "{findings:#?}");
    assert!(has("alert rule shop", "no pipeline of the account"), "{findings:#?}");
    assert!(!findings.iter().any(|f| f.contains("alert rule deploys")), "{findings:#?}");
    assert!(!findings.iter().any(|f| f.contains("trigger good ")), "the right pipeline has no finding: {findings:#?}");
    assert!(!findings.iter().any(|f| f.contains("dedup table")), "moto's table has pk; {findings:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_fetch_asks_the_git_server_and_decides_on_its_list() {
    use herald_tests::git_servers::{delivery, Auth, Event, FakeGitServer, Server};
    let fake = FakeGitServer::start(Server::GitHub, Auth::Token("read-token".into())).await;
    fake.set_files(&["services/web/app.ts", "docs/a.md"], 1);
    let dir = std::env::temp_dir().join(format!("herald-cli-fetch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (key, value) = fake.credential_entry();
    let files = [
        ("credentials.json", serde_json::json!({ key: value }).to_string()),
        ("config.json", r#"{"triggers":[
            {"name":"web","pipeline":"web","git":{"repository":"**","events":["pull_request"],"paths":["services/web/**"]}},
            {"name":"api","pipeline":"api","git":{"repository":"**","events":["pull_request"],"paths":["services/api/**"]}}]}"#.to_owned()),
        ("event.json", delivery(Server::GitHub, Event::PullRequest, &fake.url, "d-1", "s").to_string()),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    // The same explain, for people and with --json: each run on a blocking thread, as the fake
    // server shares this runtime.
    let explain = |json: bool| {
        let mut args = vec!["explain".to_owned()];
        if json {
            args.push("--json".to_owned());
        }
        args.extend(
            [
                "--config",
                &path("config.json"),
                "--fetch",
                "--credentials",
                &path("credentials.json"),
                &path("event.json"),
            ]
            .map(str::to_owned),
        );
        tokio::task::spawn_blocking(move || herald(&args.iter().map(String::as_str).collect::<Vec<_>>(), &[]))
    };
    let (code, out, err) = explain(false).await.unwrap();
    let (json_code, json_out, _) = explain(true).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{out} {err}");
    // Metrics are the functions' (EMF on their stdout), never the CLI's.
    assert!(!out.contains("_aws"), "{out}");
    let doc: Value =
        serde_json::from_str(&json_out).unwrap_or_else(|e| panic!("--json is one JSON document ({e}): {json_out}"));
    assert_eq!((json_code, doc["changes"][0]["files"]["asked"].clone()), (0, Value::Bool(true)), "{doc}");
    assert!(out.contains(&format!("files (asked {}): services/web/app.ts, docs/a.md", fake.host)), "{out}");
    assert!(out.contains("no changed file matches paths (services/api/**)"), "{out}");
    // Pages, not attempts: a page asked again after a timeout is the same page.
    let mut pages: Vec<String> = fake.lookups().iter().map(|a| format!("{}?{}", a.path, a.query)).collect();
    pages.sort();
    pages.dedup();
    assert_eq!(pages.len(), 2, "two pages of one file: {pages:?}");
}

/// Without credentials, a region or a reachable endpoint, `doctor` says so once and exits 3,
/// instead of a "create it" finding for every pipeline.
#[test]
fn doctor_without_credentials_region_or_network_says_so_once() {
    let config = "events/herald-config.json";
    let keys = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")];
    // Port 9 (discard) on loopback: nothing listens, the connection is refused.
    let unreachable = [keys[0], keys[1], ("AWS_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", "http://127.0.0.1:9")];
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&unreachable, "could not reach AWS"),
        (&[("AWS_REGION", "us-east-1")], "no AWS credentials"),
        (&keys, "no AWS region"),
    ];
    for (env, says) in cases {
        let (code, out, err) = herald_alone(&["doctor", "--config", config], env, None);
        let all = format!("{out}{err}");
        assert_eq!(code, 3, "{env:?}: {all}");
        assert_eq!(all.matches(says).count(), 1, "{env:?}: once: {all}");
        assert!(!all.contains("create it"), "{env:?}: no per-pipeline finding: {all}");
        let (code, out, _) = herald_alone(&["doctor", "--config", config, "--json"], env, None);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!((code, doc["findings"].as_array().map(Vec::len)), (3, Some(0)), "{doc}");
        assert!(doc["error"].as_str().unwrap_or_default().contains(says), "{doc}");
    }
}

#[test]
fn explain_reads_the_changed_files_from_standard_input() {
    let dir = std::env::temp_dir().join(format!("herald-cli-stdin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"triggers":[{"name":"web","pipeline":"web","git":{"repository":"**","events":["pull_request"],"paths":["services/web/**"]}}]}"#,
    )
    .unwrap();
    let args = [
        "explain",
        "--json",
        "--config",
        config.to_str().unwrap(),
        "--changed-files",
        "-",
        "events/git-webhook/github-pull-request.json",
    ];
    let (code, out, err) = herald_alone(&args, &[], Some("docs/readme.md\nservices/web/index.ts\n"));
    let (_, none, _) = herald_alone(&args, &[], Some("docs/readme.md\n"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{out} {err}");
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["changes"][0]["files"]["paths"],
        serde_json::json!(["docs/readme.md", "services/web/index.ts"]),
        "{doc}"
    );
    assert_eq!(doc["changes"][0]["decisions"][0]["outcome"], "start", "{doc}");
    let none: Value = serde_json::from_str(&none).unwrap();
    assert_eq!(none["changes"][0]["decisions"][0]["outcome"], "skip", "{none}");
}

/// `doctor --stack`: a rule's own topic that the stack's AdditionalAlertTopicArns does not
/// grant is a finding (the notifier could not publish there), and so is an s3 trigger whose
/// bucket glob matches none of its S3SourceBuckets.
#[test]
fn doctor_compares_the_rules_topics_with_the_stack_s_grants() {
    let moto = Moto::start();
    let granted = moto.ctl(&["create-topic", "team-granted"]);
    let ungranted = moto.ctl(&["create-topic", "team-ungranted"]);
    let (granted, ungranted) = (granted["topic_arn"].as_str().unwrap(), ungranted["topic_arn"].as_str().unwrap());
    moto.ctl(&[
        "create-stack",
        "herald",
        &format!("AdditionalAlertTopicArns={granted}"),
        "S3SourceBuckets=team-a-artifacts,team-b-artifacts",
        "DedupTableName=herald-dedup",
    ]);
    moto.ctl(&["create-table", "herald-dedup"]);
    moto.ctl(&["create-pipeline", "b"]);
    moto.ctl(&["create-pipeline", "acme"]);
    let config = serde_json::json!({ "alerts": [
        { "name": "granted", "pipelines": ["**"], "on": ["FAILED"], "topic_arn": granted },
        { "name": "ungranted", "pipelines": ["**"], "on": ["FAILED"], "topic_arn": ungranted }
    ], "triggers": [
        { "name": "team-b", "pipeline": "b", "s3": { "bucket": "team-b-*" } },
        { "name": "acme", "pipeline": "acme", "s3": { "bucket": "acme-*" } }
    ]});
    let file = std::env::temp_dir().join(format!("herald-doctor-stack-{}.json", std::process::id()));
    std::fs::write(&file, config.to_string()).unwrap();
    let env = moto.client_env();
    let (code, out, err) = herald(&["doctor", "--config", file.to_str().unwrap(), "--stack", "herald"], &env);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(code, 1, "{out} {err}");
    assert!(out.contains("alert rule ungranted") && out.contains("AdditionalAlertTopicArns"), "{out}");
    assert!(!out.contains("alert rule granted"), "{out}");
    // A bucket glob no listed bucket matches is never delivered; one that matches is fine.
    assert!(out.contains("trigger acme: s3.bucket acme-* matches none of stack herald's S3SourceBuckets"), "{out}");
    assert!(!out.contains("trigger team-b"), "{out}");
    // The stack names its dedup table: checked without --table.
    assert!(out.contains(", the dedup table"), "{out}");
}

/// `herald init` reads the account's pipelines and writes a configuration that validates: a
/// Git trigger per CodeConnections or CodeCommit source action, an S3 trigger per S3 source
/// action, the default alert rule; what it cannot map and what starts by itself, named.
#[test]
fn init_maps_each_source_action_of_the_account_s_pipelines() {
    let moto = Moto::start();
    let connection = "arn:aws:codeconnections:us-east-1:123456789012:connection/0d1c8e6b-5e5f-4a8c-9b8e-1f2a3b4c5d6e";
    let pipelines = [
        (
            "app",
            serde_json::json!([{ "name": "Checkout", "provider": "CodeStarSourceConnection", "configuration": {
            "ConnectionArn": connection, "FullRepositoryId": "acme/app", "BranchName": "main", "DetectChanges": "false" } }]),
            false,
        ),
        (
            "legacy",
            serde_json::json!([{ "name": "Source", "provider": "CodeCommit", "configuration": {
            "RepositoryName": "legacy-repo", "BranchName": "master" } }]),
            false,
        ),
        (
            "artifacts",
            serde_json::json!([{ "name": "Artifact", "provider": "S3", "configuration": {
            "S3Bucket": "acme-artifacts", "S3ObjectKey": "releases/app.zip", "PollForSourceChanges": "false" } }]),
            false,
        ),
        (
            "self-starting",
            serde_json::json!([{ "name": "Source", "provider": "CodeStarSourceConnection", "configuration": {
            "ConnectionArn": connection, "FullRepositoryId": "acme/web", "BranchName": "develop" } }]),
            true,
        ),
        (
            "two-sources",
            serde_json::json!([
            { "name": "Code", "provider": "CodeStarSourceConnection", "configuration": {
                "ConnectionArn": connection, "FullRepositoryId": "acme/api", "BranchName": "main", "DetectChanges": "false" } },
            { "name": "Settings", "provider": "S3", "configuration": {
                "S3Bucket": "acme-settings", "S3ObjectKey": "api/settings.zip", "PollForSourceChanges": "false" } }]),
            false,
        ),
        (
            "oauth",
            serde_json::json!([{ "name": "Source", "provider": "GitHub", "configuration": {
            "Owner": "acme", "Repo": "old", "Branch": "main", "OAuthToken": "****", "PollForSourceChanges": "false" } }]),
            false,
        ),
        (
            "images",
            serde_json::json!([{ "name": "Image", "provider": "ECR", "configuration": {
            "RepositoryName": "acme/app", "ImageTag": "latest" } }]),
            false,
        ),
    ];
    for (name, sources, trigger) in &pipelines {
        let sources = sources.to_string();
        let mut args = vec!["create-sourced-pipeline", name, sources.as_str()];
        if *trigger {
            args.push("trigger");
        }
        moto.ctl(&args);
    }
    let env = moto.client_env();
    let (code, out, err) = herald(&["init", "--json"], &env);
    assert_eq!(code, 0, "{out} {err}");
    let config: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("--json prints the configuration ({e}): {out}"));
    let triggers = config["triggers"].as_array().unwrap();
    let trigger = |pipeline: &str, action: &str| {
        triggers
            .iter()
            .find(|t| t["pipeline"] == pipeline && t["source_action"] == action)
            .unwrap_or_else(|| panic!("a trigger for {pipeline}/{action}: {config:#}"))
    };
    assert_eq!(
        trigger("app", "Checkout")["git"],
        serde_json::json!({ "repository": "acme/app", "branches": ["main"] })
    );
    assert_eq!(
        trigger("legacy", "Source")["git"],
        serde_json::json!({ "repository": "legacy-repo", "branches": ["master"] })
    );
    assert_eq!(
        trigger("artifacts", "Artifact")["s3"],
        serde_json::json!({ "bucket": "acme-artifacts", "keys": ["releases/app.zip"] })
    );
    assert_eq!(trigger("self-starting", "Source")["git"]["repository"], "acme/web");
    assert_eq!(trigger("two-sources", "Code")["git"]["repository"], "acme/api");
    assert_eq!(trigger("two-sources", "Settings")["s3"]["bucket"], "acme-settings");
    assert_eq!(triggers.len(), 6, "{config:#}");
    assert_eq!(
        config["alerts"],
        serde_json::json!([{ "name": "default", "pipelines": ["**"], "on": ["FAILED", "RECOVERED"] }])
    );
    // What it could not map, and why; what would start twice, and how to turn that off.
    assert!(err.contains("oauth: source action Source (GitHub)") && err.contains("CodeConnections"), "{err}");
    assert!(err.contains("images: source action Image (ECR)"), "{err}");
    assert!(err.contains("legacy") && err.contains("set PollForSourceChanges to false"), "{err}");
    assert!(err.contains("self-starting") && err.contains("set DetectChanges to false"), "{err}");
    assert!(err.contains("remove the pipeline's V2 triggers"), "{err}");
    assert!(!err.contains("trigger app "), "app neither polls nor detects: {err}");

    // Written to a file: it validates, and is never overwritten without --force.
    let dir = std::env::temp_dir().join(format!("herald-init-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("herald-config.json");
    let file_arg = file.to_str().unwrap();
    let (code, out, err) = herald(&["init", "--output", file_arg], &env);
    assert_eq!(code, 0, "{out} {err}");
    assert!(out.contains(&format!("herald validate {file_arg}")), "says what to do next: {out}");
    let (code, doc) = json(&["validate", file_arg, "--json"]);
    assert_eq!((code, doc["valid"].clone()), (0, Value::Bool(true)), "{doc}");
    std::fs::write(&file, "{}").unwrap();
    let (code, _, err) = herald(&["init", "--output", file_arg], &env);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}", "not overwritten");
    let (code, _, _) = herald(&["init", "--output", file_arg, "--force"], &env);
    assert_eq!(code, 0);
    assert_ne!(std::fs::read_to_string(&file).unwrap(), "{}", "overwritten with --force");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The README's monorepo example (events/monorepo/): a signed pull request whose changed files
/// touch one service start that service's pipeline; the others pass their checks skipped.
#[test]
fn the_readme_s_monorepo_example_starts_the_changed_service_only() {
    let (code, doc) = json(&["validate", "--strict", "events/monorepo/herald-config.json", "--json"]);
    assert_eq!((code, doc["valid"].clone()), (0, Value::Bool(true)), "{doc}");
    let (code, doc) = json(&[
        "explain",
        "--json",
        "--config",
        "events/monorepo/herald-config.json",
        "--secret",
        "herald-demo-secret",
        "--changed-files",
        "events/monorepo/changed-files.txt",
        "events/monorepo/pull-request.json",
    ]);
    assert_eq!(code, 0, "{doc}");
    let outcomes: Vec<(String, String)> = doc["changes"][0]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["trigger"].as_str().unwrap().to_owned(), d["outcome"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [("web", "start"), ("api", "skip"), ("billing", "skip")].map(|(t, o)| (t.to_owned(), o.to_owned()));
    assert_eq!(outcomes, expected, "{doc}");
}
