//! `git-webhook` end to end: the real binary behind a Lambda Runtime API, against moto.

use herald::auth::{sign_hex, sign_standard_webhook, Secret};
use herald_tests::events::{body_of, function_url, rest_api};
use herald_tests::moto::Moto;
use herald_tests::runtime::{Lambda, Outcome};
use herald_tests::{sample, workspace};
use serde_json::{json, Value};

const SECRET: &str = "herald-demo-secret";
/// The demo's Standard Webhooks key (events/generate.py), for the generic sender.
const GENERIC_KEY: &str = "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk=";
/// The demo's secret document: the shared secret and the generic sender's key.
const SECRETS: &str = r#"{"secrets": ["herald-demo-secret", "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk="]}"#;
const PIPELINES: [&str; 8] = [
    "demo-github",
    "demo-gitlab",
    "demo-bitbucket-cloud",
    "demo-bitbucket-server",
    "demo-gitea",
    "demo-gogs",
    "demo-azure-devops",
    "demo-generic",
];

fn demo_config() -> String {
    std::fs::read_to_string(workspace().join("events/herald-config.json")).expect("events/herald-config.json")
}

fn create_pipelines(moto: &Moto, names: &[&str]) {
    for name in names {
        moto.ctl(&["create-pipeline", name, "PROVIDER", "EVENT", "REF", "COMMIT_ID"]);
    }
}

async fn webhook(moto: &Moto, extra: &[(&str, &str)]) -> Lambda {
    let config = demo_config();
    let mut env = vec![("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET", SECRETS)];
    env.extend_from_slice(extra);
    Lambda::start("git-webhook", &moto.endpoint, &env).await
}

/// A sample event; the generic one is re-signed now (Standard Webhooks timestamps expire).
fn sample_event(name: &str) -> Value {
    let mut event = sample(&format!("git-webhook/{name}.json"));
    if name.starts_with("generic") {
        let body = event["body"].as_str().unwrap().to_owned();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let id = event["headers"]["webhook-id"].as_str().unwrap().to_owned();
        event["headers"]["webhook-timestamp"] = json!(now.to_string());
        event["headers"]["webhook-signature"] =
            json!(sign_standard_webhook(&Secret::new(GENERIC_KEY), &id, now, body.as_bytes()));
    }
    event
}

async fn send(lambda: &mut Lambda, event: Value) -> (u16, Value) {
    let response = lambda.invoke(event).await.response();
    (response["statusCode"].as_u64().unwrap_or_default() as u16, body_of(&response))
}

enum Expect {
    Start(&'static str, &'static str, &'static str),
    Skip(&'static str),
    Quiet,
}

#[tokio::test]
async fn every_provider_starts_the_right_pipeline() {
    use Expect::*;
    let moto = Moto::start();
    create_pipelines(&moto, &PIPELINES);
    let mut lambda = webhook(&moto, &[]).await;
    let cases = [
        ("github-push", Start("demo-github", "github", "fd489864e7642b48eaad6e3f155c10e46810ec72")),
        ("github-tag", Start("demo-github", "github", "fd489864e7642b48eaad6e3f155c10e46810ec72")),
        ("github-pull-request", Start("demo-github", "github", "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c")),
        ("github-ping", Quiet),
        ("gitlab-push", Start("demo-gitlab", "gitlab", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")),
        ("gitlab-tag", Start("demo-gitlab", "gitlab", "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7")),
        ("gitlab-merge-request", Start("demo-gitlab", "gitlab", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7")),
        (
            "bitbucket-cloud-push",
            Start("demo-bitbucket-cloud", "bitbucket-cloud", "709d658dc5b6d6afcd46049c2f332ee3f515a67d"),
        ),
        // Bitbucket Cloud's pull-request payloads name 12-character commit ids: not pinnable.
        (
            "bitbucket-cloud-pull-request",
            Skip("the payload names only an abbreviated commit id d3022fc0ca3d, which cannot pin the source action"),
        ),
        (
            "bitbucket-server-push",
            Start("demo-bitbucket-server", "bitbucket-server", "591f702354b3abf1faaca4d23811620d1b2ac984"),
        ),
        ("bitbucket-server-branch-deleted", Skip("branch deleted")),
        (
            "bitbucket-server-pull-request",
            Start("demo-bitbucket-server", "bitbucket-server", "32a0b8a740c2963c6f56bd8baf3dc05683d299e0"),
        ),
        ("bitbucket-server-ping", Quiet),
        ("gitea-push", Start("demo-gitea", "gitea", "67b56589a45103f891bdee7c0546e5d40bc02001")),
        ("gitea-tag", Start("demo-gitea", "gitea", "67b56589a45103f891bdee7c0546e5d40bc02001")),
        ("gitea-pull-request", Start("demo-gitea", "gitea", "48e773f892a831faa47c0a160d1b7f0cd369ae2a")),
        ("forgejo-push", Start("demo-gitea", "forgejo", "67b56589a45103f891bdee7c0546e5d40bc02001")),
        ("gogs-push", Start("demo-gogs", "gogs", "bffeb74224043ba2feb48d137756c8a9331c449a")),
        ("gogs-pull-request", Start("demo-gogs", "gogs", "")),
        ("azure-devops-push", Start("demo-azure-devops", "azure-devops", "33b55f7cb7e7e245323987634f960cf4a6e6bc74")),
        (
            "azure-devops-pull-request",
            Start("demo-azure-devops", "azure-devops", "53d54ac915144006c2c9e90d2c7d3880920db49c"),
        ),
        ("generic-push", Start("demo-generic", "generic", "9fceb02d0ae598e95dc970b74767f19372d61af8")),
    ];
    let mut expected: std::collections::BTreeMap<&str, Vec<(&str, &str)>> = Default::default();
    for (name, expect) in &cases {
        let (status, body) = send(&mut lambda, sample_event(name)).await;
        assert_eq!(status, 200, "{name}: {body}");
        match expect {
            Start(pipeline, provider, commit) => {
                assert_eq!(body["provider"], *provider, "{name}: {body}");
                let started = body["started"].as_array().unwrap();
                assert_eq!(started.len(), 1, "{name}: {body}");
                assert_eq!(started[0]["pipeline"], *pipeline, "{name}");
                assert!(started[0]["execution_id"].is_string(), "{name}: {body}");
                expected.entry(pipeline).or_default().push((provider, commit));
            }
            Skip(reason) => {
                assert_eq!(body["started"], json!([]), "{name}: {body}");
                assert_eq!(body["skipped"][0]["reason"], *reason, "{name}: {body}");
            }
            Quiet => {
                assert_eq!((body["started"].clone(), body["skipped"].clone()), (json!([]), json!([])), "{name}: {body}")
            }
        }
    }
    for pipeline in PIPELINES {
        let executions = moto.executions(pipeline);
        let got: Vec<(String, String)> = executions
            .iter()
            .map(|e| {
                (
                    e["variables"]["PROVIDER"].as_str().unwrap_or_default().to_owned(),
                    e["variables"]["COMMIT_ID"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let want: Vec<(String, String)> =
            expected[pipeline].iter().map(|(p, c)| (p.to_string(), c.to_string())).collect();
        assert_eq!(got, want, "executions moto recorded for {pipeline}");
    }
    // Variables beyond the commit arrive as rendered; empty ones are left out.
    let github = moto.executions("demo-github");
    assert_eq!(github[0]["variables"]["REF"], "refs/heads/master");
    assert_eq!(github[0]["variables"]["MESSAGE"], "test a push event");
    assert_eq!(github[1]["variables"]["REF"], "refs/tags/v1.0.0");
    assert_eq!(github[2]["variables"]["PR_NUMBER"], "1");
    let gogs = moto.executions("demo-gogs");
    assert!(gogs[1]["variables"].get("COMMIT_ID").is_none(), "Gogs pull requests name no commit: {}", gogs[1]);
    let logs = lambda.stop().await;
    assert!(!logs.contains(SECRET), "a secret reached the logs");
    assert!(logs.contains("\"outcome\":\"started\""), "no decision log line");
    assert!(logs.contains("\"PipelinesStarted\":1"), "no EMF metric line");
}

fn signed_github(body: &[u8], delivery: &str) -> Vec<(&'static str, String)> {
    vec![
        ("X-GitHub-Event", "push".into()),
        ("X-GitHub-Delivery", delivery.into()),
        ("Content-Type", "application/json".into()),
        ("X-Hub-Signature-256", format!("sha256={}", sign_hex(&Secret::new(SECRET), body))),
    ]
}

fn pairs<'a>(h: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    h.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn bad_requests_get_4xx_and_the_function_keeps_serving() {
    let moto = Moto::start();
    create_pipelines(&moto, &["demo-github"]);
    let mut lambda = webhook(&moto, &[]).await;
    let body = std::fs::read(workspace().join("events/git-webhook/payloads/github-push.json")).unwrap();
    let good = signed_github(&body, "bad-1");

    let (status, _) = send(&mut lambda, function_url("GET", &pairs(&good), &body, false)).await;
    assert_eq!(status, 405);
    let big = vec![b'x'; 6 * 1024 * 1024 + 1];
    let (status, _) = send(&mut lambda, function_url("POST", &pairs(&good), &big, false)).await;
    assert_eq!(status, 413);
    let (status, answer) =
        send(&mut lambda, function_url("POST", &[("Content-Type", "application/json")], &body, false)).await;
    assert_eq!(status, 400, "{answer}");
    let mut wrong = good.clone();
    wrong[3].1 = format!("sha256={}", "0".repeat(64));
    let (status, answer) = send(&mut lambda, function_url("POST", &pairs(&wrong), &body, false)).await;
    assert_eq!((status, answer), (401, json!({ "error": "unauthorized" })));
    let mut missing = good.clone();
    missing.pop();
    assert_eq!(send(&mut lambda, function_url("POST", &pairs(&missing), &body, false)).await.0, 401);
    let garbage = b"{\"ref\": [1, 2";
    let (status, answer) =
        send(&mut lambda, function_url("POST", &pairs(&signed_github(garbage, "bad-2")), garbage, false)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("JSON"));
    let binary = [0xff, 0xfe, 0x00, 0x80];
    let (status, _) =
        send(&mut lambda, function_url("POST", &pairs(&signed_github(&binary, "bad-3")), &binary, true)).await;
    assert_eq!(status, 400);

    // Still serving: a good delivery, base64-encoded, then through API Gateway REST (v1).
    let (status, answer) = send(&mut lambda, function_url("POST", &pairs(&good), &body, true)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["started"][0]["pipeline"], "demo-github");
    let rest = signed_github(&body, "rest-1");
    let (status, answer) = send(&mut lambda, rest_api("POST", &pairs(&rest), &body, false)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivery"], "rest-1");
    assert_eq!(moto.executions("demo-github").len(), 2);
    let logs = lambda.stop().await;
    assert!(logs.contains("\"RejectedSignatures\":1"), "rejections are counted");
}

#[tokio::test]
async fn redeliveries_start_once_with_a_dedup_table() {
    let moto = Moto::start();
    create_pipelines(&moto, &["demo-github"]);
    moto.ctl(&["create-table", "herald-dedup"]);
    let mut lambda = webhook(&moto, &[("HERALD_DEDUP_TABLE", "herald-dedup")]).await;
    let (_, first) = send(&mut lambda, sample_event("github-push")).await;
    let (status, again) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!(status, 200);
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["started"][0]["execution_id"], first["started"][0]["execution_id"]);
    assert_eq!(moto.executions("demo-github").len(), 1, "one execution for one delivery");
}

#[tokio::test]
async fn secrets_config_and_decision_events_come_from_aws() {
    let moto = Moto::start();
    create_pipelines(&moto, &["demo-github"]);
    let secret = moto.ctl(&[
        "create-secret",
        "herald-webhook",
        &json!({ "secrets": ["rotated-in-0123456789", SECRET] }).to_string(),
    ]);
    moto.ctl(&["put-parameter", "/herald/config", &demo_config()]);
    let queue = moto.ctl(&["bus-to-queue", "herald-decisions", "herald-decisions-q"]);
    let arn = secret["arn"].as_str().unwrap();
    let mut lambda = Lambda::start(
        "git-webhook",
        &moto.endpoint,
        &[
            ("HERALD_CONFIG_PARAMETER", "/herald/config"),
            ("HERALD_WEBHOOK_SECRET_ARN", arn),
            ("HERALD_EVENT_BUS", "herald-decisions"),
        ],
    )
    .await;
    let (status, answer) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["started"][0]["pipeline"], "demo-github");
    let events = moto.ctl(&["receive", queue["queue_url"].as_str().unwrap(), "1"]);
    let event = &events[0];
    assert_eq!(event["source"], "herald");
    assert_eq!(event["detail-type"], "Pipeline Triggered");
    assert_eq!(event["detail"]["trigger"], "github-app");
    assert_eq!(event["detail"]["execution_id"], answer["started"][0]["execution_id"]);
    assert_eq!(event["detail"]["change"]["commit"], "fd489864e7642b48eaad6e3f155c10e46810ec72");
}

#[tokio::test]
async fn missing_pipelines_are_reported_not_retried_and_dry_run_starts_nothing() {
    let moto = Moto::start();
    let mut lambda = webhook(&moto, &[]).await;
    let (status, answer) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["failed"][0]["pipeline"], "demo-github");
    let error = answer["failed"][0]["error"].as_str().unwrap();
    assert!(error.contains("the pipeline does not exist"), "{answer}");
    assert!(
        !error.contains("PipelineNotFoundException") && !error.contains("123456789012"),
        "AWS's text stays in the log"
    );
    lambda.stop().await;

    create_pipelines(&moto, &["demo-github"]);
    let mut dry = webhook(&moto, &[("HERALD_DRY_RUN", "true")]).await;
    let (status, answer) = send(&mut dry, sample_event("github-push")).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["started"],
        json!([{ "trigger": "github-app", "pipeline": "demo-github", "execution_id": null }])
    );
    assert!(moto.executions("demo-github").is_empty());
}

#[tokio::test]
async fn an_invalid_configuration_fails_the_cold_start_naming_the_field() {
    let moto = Moto::start();
    let config = r#"{"triggers":[{"name":"app","pipeline":"p","git":{"repository":"a/b","branches":["ok","bad["]}}]}"#;
    let mut lambda =
        Lambda::start("git-webhook", &moto.endpoint, &[("HERALD_CONFIG", config), ("HERALD_WEBHOOK_SECRET", SECRET)])
            .await;
    assert!(lambda.wait_failed_exit().await, "the cold start must fail");
    let logs = lambda.stop().await;
    assert!(logs.contains(r#"trigger \"app\": git.branches[1]: unclosed character class"#), "{logs}");
}

#[tokio::test]
async fn without_a_secret_everything_is_unauthorized() {
    let moto = Moto::start();
    let config = demo_config();
    let mut lambda = Lambda::start("git-webhook", &moto.endpoint, &[("HERALD_CONFIG", config.as_str())]).await;
    let (status, answer) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!((status, answer), (401, json!({ "error": "unauthorized" })));
    match lambda.invoke(sample_event("gitlab-push")).await {
        Outcome::Response(r) => assert_eq!(r["statusCode"], 401),
        other => panic!("{other:?}"),
    }
}

/// A configuration in SSM is read again every HERALD_CONFIG_REFRESH_SECONDS: a valid new version
/// takes effect without a restart; an invalid one is refused (ERROR, ConfigRejected) and the last
/// valid one keeps serving.
#[tokio::test]
async fn the_configuration_in_ssm_is_refreshed_and_a_bad_version_refused() {
    let moto = Moto::start();
    create_pipelines(&moto, &["demo-github"]);
    moto.ctl(&["put-parameter", "/herald/config", &demo_config()]);
    let env = [
        ("HERALD_CONFIG_PARAMETER", "/herald/config"),
        ("HERALD_CONFIG_REFRESH_SECONDS", "1"),
        ("HERALD_WEBHOOK_SECRET", SECRETS),
    ];
    let mut lambda = Lambda::start("git-webhook", &moto.endpoint, &env).await;
    let (_, first) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!(first["started"][0]["pipeline"], "demo-github", "{first}");

    moto.ctl(&["put-parameter", "/herald/config", r#"{"triggers": []}"#]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (_, emptied) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!(emptied["started"], json!([]), "the new version took effect: {emptied}");

    moto.ctl(&["put-parameter", "/herald/config", "triggers: [oops"]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (status, kept) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!((status, kept["started"].clone()), (200, json!([])), "the last valid version serves: {kept}");
    moto.ctl(&["put-parameter", "/herald/config", &demo_config()]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let (_, back) = send(&mut lambda, sample_event("github-push")).await;
    assert_eq!(back["started"][0]["pipeline"], "demo-github", "{back}");
    let logs = lambda.stop().await;
    assert!(logs.contains("new configuration refused") && logs.contains("must be JSON"), "{logs}");
    assert!(logs.contains("\"ConfigRejected\":1"), "the metric");
}

/// One change, one start (docs/security.md "One change, one start"): an organization hook and a repository
/// hook deliver the same push under two delivery ids; the second answers `duplicate` with the
/// first execution, and CodePipeline runs it once.
#[tokio::test]
async fn the_same_push_from_an_organization_and_a_repository_hook_starts_once() {
    use herald_tests::git_servers::{self, Event, Server};
    let moto = Moto::start();
    let config = r#"{"triggers": [{"name": "app", "pipeline": "one-start", "git": {"repository": "**"}}]}"#;
    let secret = "herald-one-start-secret";
    let mut lambda = git_servers::webhook_with_credentials(&moto, config, &["one-start"], secret, &json!({})).await;
    let push = |id: &str| git_servers::delivery(Server::GitHub, Event::Push, "https://api.github.com", id, secret);
    let org = body_of(&lambda.invoke(push("org-hook-1")).await.response());
    let repo = body_of(&lambda.invoke(push("repo-hook-1")).await.response());
    let first = org["started"][0]["execution_id"].as_str().expect("started").to_owned();
    assert_eq!(repo["duplicate"], true, "{repo}");
    assert_eq!(repo["started"][0]["execution_id"], first.as_str(), "{repo}");
    assert_eq!(moto.executions("one-start").len(), 1);
}
