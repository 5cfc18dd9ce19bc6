//! The redelivery sweep through the real `redeliver` binary (docs/operations.md "Missed
//! deliveries"): moto holds the dedup table, a fake GitHub lists a hook's deliveries paged by
//! cursor (GitHub's `hook-delivery-item` shape, every request checked against GitHub's OpenAPI)
//! and records the redeliveries asked of it. The full loop runs the real `git-webhook` too: a
//! delivery answered 503 (a CodePipeline fault injected) is redelivered by the sweep, the test
//! forwards that redelivery as GitHub would, and the pipeline starts once.

use herald_tests::events::{body_of, signed_github_push};
use herald_tests::faults::{Fault, FaultProxy};
use herald_tests::git_servers::{Auth, Event, FakeGitServer, Server};
use herald_tests::moto::Moto;
use herald_tests::runtime::{herald, Lambda, Outcome};
use herald_tests::workspace;
use serde_json::{json, Value};

const SECRET: &str = "herald-demo-secret";
const TOKEN: &str = "ghp_redeliver";
const TABLE: &str = "herald-dedup";
const HOOK: &str = "repo:acme/app:12";

async fn github() -> FakeGitServer {
    let github = FakeGitServer::start(Server::GitHub, Auth::Token(TOKEN.into())).await;
    github.set_page_size(2);
    github
}

/// The credentials document: the fake's entry, naming the hook.
fn credentials(github: &FakeGitServer) -> String {
    let (key, mut entry) = github.credential_entry();
    entry["hooks"] = json!([HOOK]);
    json!({ key: entry }).to_string()
}

async fn sweeper(moto: &Moto, github: &FakeGitServer) -> Lambda {
    let credentials = credentials(github);
    Lambda::start(
        "redeliver",
        &moto.endpoint,
        &[("HERALD_DEDUP_TABLE", TABLE), ("HERALD_STATUS_SECRET", credentials.as_str())],
    )
    .await
}

/// One scheduled sweep (EventBridge Scheduler's input is `{}`): its report's only hook.
async fn sweep(lambda: &mut Lambda) -> Value {
    let report = lambda.invoke(json!({})).await.response();
    assert_eq!(report["hooks"].as_array().map(Vec::len), Some(1), "{report}");
    report["hooks"][0].clone()
}

fn ids(list: &Value) -> Vec<u64> {
    list.as_array().into_iter().flatten().filter_map(|r| r["delivery_id"].as_u64()).collect()
}

async fn deliver(webhook: &mut Lambda, guid: &str) -> (u16, Value) {
    let response = webhook.invoke(signed_github_push(guid, SECRET)).await.response();
    (response["statusCode"].as_u64().unwrap_or_default() as u16, body_of(&response))
}

async fn git_webhook(endpoint: &str) -> Lambda {
    let config = std::fs::read_to_string(workspace().join("events/herald-config.json")).expect("config");
    Lambda::start(
        "git-webhook",
        endpoint,
        &[("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET", SECRET), ("HERALD_DEDUP_TABLE", TABLE)],
    )
    .await
}

/// The table and the demo pipeline on moto, and a fake GitHub whose hook lists a delivery
/// processed here though GitHub recorded a failure (it stopped waiting: the real git-webhook
/// answered it 200 and recorded it) and, newer, a failed one (503): the failed one's id.
async fn processed_and_failed(moto: &Moto) -> (FakeGitServer, u64) {
    moto.ctl(&["create-table", TABLE]);
    moto.ctl(&["create-pipeline", "demo-github", "PROVIDER", "EVENT", "REF", "COMMIT_ID"]);
    let github = github().await;
    let mut webhook = git_webhook(&moto.endpoint).await;
    assert_eq!(deliver(&mut webhook, "g-processed").await.0, 200);
    webhook.stop().await;
    github.add_delivery("g-processed", "push", 0, false);
    let failed = github.add_delivery("g-failed", "push", 503, false);
    (github, failed)
}

#[tokio::test]
async fn failed_deliveries_are_redelivered_once_and_processed_or_passed_ones_are_not() {
    let moto = Moto::start();
    let (github, failed) = processed_and_failed(&moto).await;
    github.add_delivery("g-passed", "push", 200, false);
    github.add_delivery("g-ping", "ping", 200, false);

    let mut lambda = sweeper(&moto, &github).await;
    let first = sweep(&mut lambda).await;
    assert_eq!(ids(&first["redelivered"]), vec![failed], "{first}");
    assert_eq!(first["processed"], 1, "{first}");
    assert_eq!(first["listed"], 4);
    assert_eq!(first["redelivered"][0]["attempt"], 1);
    assert_eq!(github.redeliveries(), vec![failed]);
    // Two deliveries a page: the list was paged by GitHub's cursor, and every request is one
    // GitHub's OpenAPI describes.
    let lists: Vec<_> = github.arrivals().into_iter().filter(|a| a.path.ends_with("/deliveries")).collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert!(lists[1].query.contains("cursor="), "{:?}", lists[1]);
    for arrival in github.arrivals() {
        assert!(arrival.operation.is_some(), "not in GitHub's OpenAPI: {arrival:?}");
        assert!(arrival.status < 300, "{arrival:?}");
    }
    let attempt = github.arrivals().into_iter().find(|a| a.path.ends_with("/attempts")).expect("attempt");
    assert_eq!(
        attempt.operation.as_deref(),
        Some("/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts")
    );

    // The cursor: a second sweep lists nothing older and redelivers nothing new.
    let second = sweep(&mut lambda).await;
    assert_eq!(second["listed"], 0, "{second}");
    assert_eq!(github.redeliveries(), vec![failed]);
    assert!(second["cursor"].as_u64() >= Some(failed));
    let logs = lambda.stop().await;
    let line =
        logs.lines().find(|l| l.contains("\"redelivered\"") && l.contains("g-failed")).expect("a redelivery log line");
    assert!(line.contains("\"status_code\":503") && line.contains(HOOK), "{line}");
    assert!(logs.contains("\"Redelivered\":1"), "the metric");
    assert!(!logs.contains(TOKEN), "the token never reaches a log");
}

#[tokio::test]
async fn a_delivery_that_keeps_failing_is_redelivered_three_times_then_given_up_once() {
    let moto = Moto::start();
    moto.ctl(&["create-table", TABLE]);
    let github = github().await;
    let mut lambda = sweeper(&moto, &github).await;
    let mut asked = Vec::new();
    let mut newest = github.add_delivery("g-stuck", "push", 503, false);
    for attempt in 1..=3 {
        let hook = sweep(&mut lambda).await;
        assert_eq!(ids(&hook["redelivered"]), vec![newest], "attempt {attempt}: {hook}");
        assert_eq!(hook["redelivered"][0]["attempt"], attempt);
        asked.push(newest);
        // GitHub sends it again, and the receiver fails again.
        newest = github.add_delivery("g-stuck", "push", 502, true);
    }
    let gave_up = sweep(&mut lambda).await;
    assert!(gave_up["redelivered"].as_array().is_some_and(Vec::is_empty), "{gave_up}");
    assert_eq!(ids(&gave_up["gave_up"]), vec![newest], "{gave_up}");
    assert_eq!(github.redeliveries(), asked, "no fourth redelivery");
    // Reported once: another failure of the same guid is not reported again.
    github.add_delivery("g-stuck", "push", 502, true);
    let again = sweep(&mut lambda).await;
    assert!(again["gave_up"].as_array().is_some_and(Vec::is_empty), "{again}");
    assert_eq!(github.redeliveries().len(), 3);
    let logs = lambda.stop().await;
    assert_eq!(logs.matches("\"RedeliveryGaveUp\":1").count(), 1, "the metric, once");
    assert!(logs.contains("gave up redelivering"), "{logs}");
}

#[tokio::test]
async fn a_503_is_redelivered_by_the_sweep_and_the_pipeline_starts_once() {
    let moto = Moto::start();
    moto.ctl(&["create-table", TABLE]);
    moto.ctl(&["create-pipeline", "demo-github", "PROVIDER", "EVENT", "REF", "COMMIT_ID"]);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let mut webhook = git_webhook(&proxy.endpoint).await;
    let github = github().await;

    // A throttling spike: git-webhook answers 503, and GitHub records the failure.
    proxy.inject("StartPipelineExecution", Fault::Throttle, 6);
    let (status, body) = deliver(&mut webhook, "g-loop").await;
    assert_eq!(status, 503, "{body}");
    let original = github.add_delivery("g-loop", "push", status, false);
    assert!(moto.executions("demo-github").is_empty());
    proxy.heal();

    // The sweep asks GitHub to send it again ...
    let mut lambda = sweeper(&moto, &github).await;
    let first = sweep(&mut lambda).await;
    assert_eq!(ids(&first["redelivered"]), vec![original], "{first}");
    // ... and GitHub does: the same guid, the same body, to git-webhook.
    for _ in github.redeliveries() {
        let (status, body) = deliver(&mut webhook, "g-loop").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["started"][0]["pipeline"], "demo-github", "{body}");
        github.add_delivery("g-loop", "push", status, true);
    }
    assert_eq!(moto.executions("demo-github").len(), 1, "started once");

    // Processed now: the next sweep leaves it alone, and a stray second redelivery (a user
    // clicking "Redeliver") starts nothing twice.
    let second = sweep(&mut lambda).await;
    assert!(second["redelivered"].as_array().is_some_and(Vec::is_empty), "{second}");
    assert_eq!(github.redeliveries(), vec![original]);
    let (status, body) = deliver(&mut webhook, "g-loop").await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");
    assert_eq!(moto.executions("demo-github").len(), 1);
    lambda.stop().await;
    webhook.stop().await;
}

#[tokio::test]
async fn a_sweep_that_cannot_reach_the_server_fails_the_invocation_and_keeps_the_cursor() {
    let moto = Moto::start();
    moto.ctl(&["create-table", TABLE]);
    let github = github().await;
    let failed = github.add_delivery("g-a", "push", 503, false);
    let mut lambda = sweeper(&moto, &github).await;
    // GitHub answers 503 to every try of the list.
    github.answer_next(&[503, 503, 503]);
    match lambda.invoke(json!({})).await {
        Outcome::Error(e) => assert_eq!(e["errorType"], "Herald.RedeliverySweepFailed", "{e}"),
        other => panic!("expected a failed invocation: {other:?}"),
    }
    assert!(github.redeliveries().is_empty());
    // The next sweep tries again, from where the last good one left off.
    let hook = sweep(&mut lambda).await;
    assert_eq!(ids(&hook["redelivered"]), vec![failed], "{hook}");
    lambda.stop().await;
}

#[tokio::test]
async fn without_its_table_or_credentials_the_function_says_which_at_cold_start() {
    let moto = Moto::start();
    for (env, variable) in [
        (vec![("HERALD_STATUS_SECRET", "{}")], "HERALD_DEDUP_TABLE"),
        (vec![("HERALD_DEDUP_TABLE", TABLE)], "HERALD_STATUS_SECRET_ARN"),
    ] {
        let mut lambda = Lambda::start("redeliver", &moto.endpoint, &env).await;
        assert!(lambda.wait_failed_exit().await, "the cold start fails");
        let logs = lambda.stop().await;
        assert!(logs.contains(variable), "{variable}: {logs}");
    }
}

/// `herald redeliver` runs the same sweep from a laptop: a dry run lists and asks nothing; a run
/// asks; with the table it leaves what git-webhook processed alone and counts its redeliveries;
/// the scheduled sweep's cursor is not moved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_redeliver_runs_the_same_sweep_with_the_users_credentials() {
    let moto = Moto::start();
    let (github, failed) = processed_and_failed(&moto).await;
    let file = std::env::temp_dir().join(format!("herald-redeliver-{}.json", std::process::id()));
    std::fs::write(&file, credentials(&github)).unwrap();
    let file = file.to_str().unwrap().to_owned();
    let aws = moto.client_env();
    // The fake GitHub answers from the runtime's other worker meanwhile.
    let run = |args: Vec<&str>| std::future::ready(tokio::task::block_in_place(|| herald(&args, &aws)));

    let (code, out, err) = run(vec!["redeliver", "--since", "2h", "--credentials", &file, "--dry-run"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("would redeliver {failed} push (g-failed, answered 503)")), "{out}");
    assert!(out.contains("without --table"), "{out}");
    assert!(github.redeliveries().is_empty(), "a dry run asks nothing");

    let (code, out, err) =
        run(vec!["redeliver", "--since", "2h", "--credentials", &file, "--table", TABLE, "--json"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let hook = &report["hooks"][0];
    assert_eq!(ids(&hook["redelivered"]), vec![failed], "{report}");
    assert_eq!(
        (hook["processed"].as_u64(), hook["redelivered"][0]["attempt"].as_u64()),
        (Some(1), Some(1)),
        "{report}"
    );
    assert!(hook.get("cursor").is_none(), "the schedule's cursor is left alone: {report}");
    assert_eq!(github.redeliveries(), vec![failed]);

    // The scheduled sweep after it counts the laptop's redelivery as the first of three.
    let mut lambda = sweeper(&moto, &github).await;
    let scheduled = sweep(&mut lambda).await;
    assert_eq!(scheduled["redelivered"][0]["attempt"], 2, "{scheduled}");
    lambda.stop().await;

    let (code, _, err) = run(vec!["redeliver", "--since", "5d", "--credentials", &file]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("3 days"), "{err}");
    std::fs::remove_file(&file).unwrap();
}

/// GitLab's project hook events (17.2) and resend (17.4): a failed push event is resent once, a
/// delivery git-webhook processed (by its `Idempotency-Key`) is not, and the list is paged by
/// `X-Next-Page`.
#[tokio::test]
async fn a_gitlab_project_hooks_failed_event_is_resent_and_a_processed_one_is_not() {
    let moto = Moto::start();
    moto.ctl(&["create-table", TABLE]);
    let gitlab = FakeGitServer::start(Server::GitLab, Auth::Token("glpat-redeliver".into())).await;
    gitlab.set_page_size(2);
    // git-webhook answers a GitLab push 200 and records it by its Idempotency-Key, as GitLab 17.4
    // and later send it; GitLab itself recorded no answer (it stopped waiting).
    let mut webhook = git_webhook(&moto.endpoint).await;
    let mut push =
        herald_tests::git_servers::delivery(Server::GitLab, Event::Push, &gitlab.url, "uuid-processed", SECRET);
    push["headers"]["idempotency-key"] = json!("idem-processed");
    let answer = webhook.invoke(push).await.response();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    webhook.stop().await;
    gitlab.add_delivery("idem-processed", "push_hooks", 0, false);
    let failed = gitlab.add_delivery("idem-failed", "push_hooks", 500, false);
    gitlab.add_delivery("idem-passed", "push_hooks", 200, false);
    let (key, mut entry) = gitlab.credential_entry();
    entry["hooks"] = json!(["repo:platform/api:42"]);
    let credentials = json!({ key: entry }).to_string();
    let mut lambda = Lambda::start(
        "redeliver",
        &moto.endpoint,
        &[("HERALD_DEDUP_TABLE", TABLE), ("HERALD_STATUS_SECRET", credentials.as_str())],
    )
    .await;
    let hook = sweep(&mut lambda).await;
    assert_eq!(ids(&hook["redelivered"]), vec![failed], "{hook}");
    assert_eq!((hook["listed"].as_u64(), hook["processed"].as_u64()), (Some(3), Some(1)), "{hook}");
    assert_eq!(gitlab.redeliveries(), vec![failed]);
    let paths: Vec<String> =
        gitlab.arrivals().into_iter().map(|a| format!("{} {}?{}", a.method, a.path, a.query)).collect();
    assert_eq!(
        paths,
        vec![
            "GET /api/v4/projects/platform%2Fapi/hooks/42/events?per_page=100&page=1".to_owned(),
            "GET /api/v4/projects/platform%2Fapi/hooks/42/events?per_page=100&page=2".to_owned(),
            format!("POST /api/v4/projects/platform%2Fapi/hooks/42/events/{failed}/resend?"),
        ]
    );
    let second = sweep(&mut lambda).await;
    assert_eq!(second["listed"], 0, "the cursor: {second}");
    lambda.stop().await;
}

/// A GitHub App's own webhook is asked with the App's JWT (`/app/hook/deliveries`), an
/// organization's hook with the App's installation token; every request is one GitHub's OpenAPI
/// describes, and no key or token reaches the log.
#[tokio::test]
async fn an_apps_own_hook_and_an_organization_hook_are_swept_with_the_apps_credentials() {
    let moto = Moto::start();
    moto.ctl(&["create-table", TABLE]);
    let (pem, public_key) = herald_tests::git_servers::test_app_key();
    let github = FakeGitServer::start(
        Server::GitHub,
        Auth::GitHubApp { installation_id: 77, public_key, token: "ghs_sweep".into() },
    )
    .await;
    let failed = github.add_delivery("g-app", "push", 502, false);
    let credentials = json!({ format!("github:{}", github.host): {
        "app_id": 123456, "installation_id": 77, "private_key": pem, "api_url": github.api_url(), "hooks": ["app", "org:acme:7"] } })
    .to_string();
    let mut lambda = Lambda::start(
        "redeliver",
        &moto.endpoint,
        &[("HERALD_DEDUP_TABLE", TABLE), ("HERALD_STATUS_SECRET", credentials.as_str())],
    )
    .await;
    let report = lambda.invoke(json!({})).await.response();
    let hooks: Vec<&str> = report["hooks"].as_array().unwrap().iter().map(|h| h["hook"].as_str().unwrap()).collect();
    assert_eq!(hooks, vec!["app", "org:acme:7"], "{report}");
    for hook in report["hooks"].as_array().unwrap() {
        assert!(hook.get("error").is_none(), "{hook}");
        assert_eq!(ids(&hook["redelivered"]), vec![failed], "{hook}");
    }
    let mut operations: Vec<String> = github
        .arrivals()
        .into_iter()
        .map(|a| a.operation.unwrap_or_else(|| format!("not described: {}", a.path)))
        .collect();
    operations.sort();
    operations.dedup();
    assert_eq!(
        operations,
        vec![
            "/app/hook/deliveries",
            "/app/hook/deliveries/{delivery_id}/attempts",
            "/app/installations/{installation_id}/access_tokens",
            "/orgs/{org}/hooks/{hook_id}/deliveries",
            "/orgs/{org}/hooks/{hook_id}/deliveries/{delivery_id}/attempts",
        ]
    );
    assert!(github.arrivals().iter().all(|a| a.status < 300), "{:?}", github.arrivals());
    let logs = lambda.stop().await;
    assert!(!logs.contains("ghs_sweep") && !logs.contains(pem.lines().nth(1).unwrap()), "no token or key in the log");
}

/// GitLab resends at most 5 events a minute per hook: a sweep asks for at most 5 (the rest wait
/// for the next), and a resend refused for rate (429) is not an attempt of that event, so none is
/// given up for it.
#[tokio::test]
async fn a_gitlab_hook_keeps_its_rate_limit_and_gives_nothing_up_for_it() {
    let moto = Moto::start();
    moto.ctl(&["create-table", TABLE]);
    let gitlab = FakeGitServer::start(Server::GitLab, Auth::Token("glpat-redeliver".into())).await;
    let failed: Vec<u64> =
        (0..8).map(|i| gitlab.add_delivery(&format!("idem-{i}"), "push_hooks", 500, false)).collect();
    let (key, mut entry) = gitlab.credential_entry();
    entry["hooks"] = json!(["repo:platform/api:42"]);
    let credentials = json!({ key: entry }).to_string();
    let env = [("HERALD_DEDUP_TABLE", TABLE), ("HERALD_STATUS_SECRET", credentials.as_str())];
    let mut lambda = Lambda::start("redeliver", &moto.endpoint, &env).await;
    let first = sweep(&mut lambda).await;
    assert_eq!(ids(&first["redelivered"]), failed[..5].to_vec(), "{first}");
    assert_eq!(first["waiting"], 3, "{first}");
    // The server refuses for rate: every retry of the next sweep's first resend answers 429.
    gitlab.answer_next_posts(&[429, 429, 429, 429]);
    let second = sweep(&mut lambda).await;
    assert!(second["gave_up"].as_array().is_none_or(Vec::is_empty), "{second}");
    // Then the server takes them again: the three left are resent, none given up.
    let mut resent = ids(&second["redelivered"]);
    for _ in 0..3 {
        let next = sweep(&mut lambda).await;
        assert!(next["gave_up"].as_array().is_none_or(Vec::is_empty), "{next}");
        resent.extend(ids(&next["redelivered"]));
    }
    for id in &failed[5..] {
        assert!(resent.contains(id), "{id} resent in the end: {resent:?}");
    }
    lambda.stop().await;
}
