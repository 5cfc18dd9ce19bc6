//! Path filters through the real `git-webhook` binary (docs/path-filters.md "Path filters"): where a payload
//! does not list the changed files (pull requests everywhere; Bitbucket and Azure DevOps pushes),
//! Herald asks the Git server — each server's fake answers its own file-list endpoints, paged —
//! and starts only the pipelines whose paths were touched; when it cannot ask, it starts and
//! says why.

use herald_tests::events::body_of;
use herald_tests::git_servers::{delivery, Auth, Event, FakeGitServer, Server};
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use serde_json::{json, Value};
use std::time::Duration;

const SECRET: &str = "herald-paths-secret";

/// A monorepo: each service's pipeline starts only when its folder changes (the corpus' Gitea pull
/// request comes from a fork).
const CONFIG: &str = r#"{"triggers": [
  {"name": "web", "pipeline": "web-pipeline", "git": {"repository": "**", "events": ["push", "pull_request"], "paths": ["services/web/**"], "allow_forks": true}},
  {"name": "api", "pipeline": "api-pipeline", "git": {"repository": "**", "events": ["push", "pull_request"], "paths": ["services/api/**"], "allow_forks": true}}
]}"#;

/// Touches the web service only (and a file no trigger watches).
const WEB_CHANGE: [&str; 3] = ["services/web/app.ts", "services/web/style.css", "README.md"];

async fn webhook(moto: &Moto, credentials: Option<Value>) -> Lambda {
    moto.ctl(&["create-pipeline", "web-pipeline"]);
    moto.ctl(&["create-pipeline", "api-pipeline"]);
    let credentials = credentials.map(|c| c.to_string());
    let mut env = vec![("HERALD_CONFIG", CONFIG), ("HERALD_WEBHOOK_SECRET", SECRET)];
    if let Some(c) = &credentials {
        env.push(("HERALD_STATUS_SECRET", c.as_str()));
    }
    Lambda::start("git-webhook", &moto.endpoint, &env).await
}

async fn send(lambda: &mut Lambda, event: Value) -> Value {
    let response = lambda.invoke(event).await.response();
    assert_eq!(response["statusCode"], 200, "{response}");
    body_of(&response)
}

fn started(answer: &Value) -> Vec<String> {
    answer["started"].as_array().unwrap().iter().map(|s| s["pipeline"].as_str().unwrap().to_owned()).collect()
}

fn notes(answer: &Value) -> Vec<String> {
    answer["started"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["notes"].as_array().cloned().unwrap_or_default())
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

fn token(server: Server) -> Auth {
    Auth::Token(format!("{}-read-token", server.key()))
}

#[tokio::test]
async fn every_server_is_asked_and_only_the_touched_service_starts() {
    let all = [
        Server::GitHub,
        Server::GitLab,
        Server::BitbucketCloud,
        Server::BitbucketServer,
        Server::Gitea,
        Server::AzureDevOps,
    ];
    let mut fakes = Vec::new();
    let mut credentials = serde_json::Map::new();
    for server in all {
        let fake = FakeGitServer::start(server, token(server)).await;
        fake.set_files(&WEB_CHANGE, 2);
        let (key, value) = fake.credential_entry();
        credentials.insert(key, value);
        fakes.push(fake);
    }
    let moto = Moto::start();
    let mut lambda = webhook(&moto, Some(Value::Object(credentials))).await;
    for (server, fake) in all.iter().zip(&fakes) {
        let answer =
            send(&mut lambda, delivery(*server, Event::PullRequest, &fake.url, &format!("pr-{server:?}"), SECRET))
                .await;
        assert_eq!(started(&answer), ["web-pipeline"], "{server:?} pull request: {answer} {:?}", fake.lookups());
        let skipped = answer["skipped"][0]["reason"].as_str().unwrap();
        assert!(
            skipped.starts_with("no changed file matches paths (services/api/**); changed: services/web/app.ts"),
            "{server:?}: {skipped}"
        );
        let lookups = fake.lookups();
        assert!(lookups.len() >= 2, "{server:?}: three files at two a page take two pages: {lookups:?}");
        assert!(lookups.iter().all(|a| a.status == 200 && a.problem.is_none()), "{server:?}: {lookups:?}");
    }
    // Pushes whose payloads list no files: Bitbucket Cloud and Data Center, Azure DevOps.
    for server in [Server::BitbucketCloud, Server::BitbucketServer, Server::AzureDevOps] {
        let fake = &fakes[all.iter().position(|s| *s == server).unwrap()];
        let before = fake.lookups().len();
        let answer =
            send(&mut lambda, delivery(server, Event::Push, &fake.url, &format!("push-{server:?}"), SECRET)).await;
        assert_eq!(started(&answer), ["web-pipeline"], "{server:?} push: {answer}");
        assert!(fake.lookups().len() > before, "{server:?}: the comparison was asked for");
    }
    // A push that lists its files (GitHub's) asks nothing.
    let github = &fakes[0];
    let before = github.lookups().len();
    send(&mut lambda, delivery(Server::GitHub, Event::Push, &github.url, "push-github", SECRET)).await;
    assert_eq!(github.lookups().len(), before);
    let logs = lambda.stop().await;
    assert!(!logs.contains("-read-token"), "no token in the logs");
}

#[tokio::test]
async fn a_lookup_that_fails_or_times_out_starts_and_says_why() {
    let fake = FakeGitServer::start(Server::GitHub, token(Server::GitHub)).await;
    fake.set_files(&WEB_CHANGE, 100);
    let (key, value) = fake.credential_entry();
    let moto = Moto::start();
    let mut lambda = webhook(&moto, Some(json!({ key: value }))).await;

    fake.answer_next(&[500, 503]);
    let answer = send(&mut lambda, delivery(Server::GitHub, Event::PullRequest, &fake.url, "pr-failing", SECRET)).await;
    assert_eq!(started(&answer).len(), 2, "{answer}");
    let note = format!(
        "file list incomplete because the lookup failed: {} answered 503 (after 2 attempts): paths filter not applied",
        fake.host
    );
    assert!(notes(&answer).contains(&note), "{answer}");

    // Cut at GitHub's own limit: a listed file that matches still decides; the others start, saying so.
    let many: Vec<String> = (0..3100).map(|i| format!("services/web/generated/f{i}.ts")).collect();
    fake.set_files(&many.iter().map(String::as_str).collect::<Vec<_>>(), 100);
    let answer = send(&mut lambda, delivery(Server::GitHub, Event::PullRequest, &fake.url, "pr-huge", SECRET)).await;
    assert_eq!(started(&answer).len(), 2, "{answer}");
    let cut =
        "file list incomplete because GitHub lists at most 3000 files of a pull request: paths filter not applied";
    let api = answer["started"].as_array().unwrap().iter().find(|s| s["pipeline"] == "api-pipeline").unwrap();
    assert_eq!(api["notes"], json!([cut]), "{answer}");
    let web = answer["started"].as_array().unwrap().iter().find(|s| s["pipeline"] == "web-pipeline").unwrap();
    assert_eq!(web.get("notes"), None, "a matching file decided: {answer}");

    fake.set_delay(Duration::from_secs(6));
    let answer = send(&mut lambda, delivery(Server::GitHub, Event::PullRequest, &fake.url, "pr-slow", SECRET)).await;
    assert_eq!(started(&answer).len(), 2, "{answer}");
    assert!(
        notes(&answer)
            .iter()
            .any(|n| n.starts_with(&format!("file list incomplete because {} did not answer within", fake.host))),
        "{answer}"
    );
}

#[tokio::test]
async fn without_credentials_a_path_filtered_trigger_starts_with_the_old_note() {
    let fake = FakeGitServer::start(Server::GitHub, token(Server::GitHub)).await;
    let moto = Moto::start();
    let mut lambda = webhook(&moto, None).await;
    let answer = send(&mut lambda, delivery(Server::GitHub, Event::PullRequest, &fake.url, "pr-1", SECRET)).await;
    assert_eq!(started(&answer).len(), 2, "{answer}");
    assert!(notes(&answer).contains(&"file list incomplete: paths filter not applied".to_owned()), "{answer}");
    assert!(fake.arrivals().is_empty());
}

#[tokio::test]
async fn a_token_never_goes_to_a_host_it_does_not_name() {
    let trusted = FakeGitServer::start(Server::GitHub, token(Server::GitHub)).await;
    let other = FakeGitServer::start(Server::GitHub, token(Server::GitHub)).await;
    let (key, value) = trusted.credential_entry();
    let moto = Moto::start();
    let mut lambda = webhook(&moto, Some(json!({ key: value, "github": { "token": "public-github-token" } }))).await;
    // A delivery verified by the webhook secret, naming a host with no credential of its own.
    let answer =
        send(&mut lambda, delivery(Server::GitHub, Event::PullRequest, &other.url, "pr-elsewhere", SECRET)).await;
    assert_eq!(started(&answer).len(), 2, "{answer}");
    let note = notes(&answer);
    assert!(note[0].starts_with(&format!("file list incomplete because no credential for {}", other.host)), "{note:?}");
    assert!(other.arrivals().is_empty(), "nothing reached the host the payload named");
    assert!(trusted.arrivals().is_empty());
}

#[tokio::test]
async fn a_pull_request_of_250_files_on_real_size_pages_is_filtered_exactly() {
    // GitHub's answers as its OpenAPI describes them: 100 entries a page, each with its patch
    // (4 KB here, about 450 KB a page: past the 64 KiB a status answer may take).
    let fake = FakeGitServer::start(Server::GitHub, token(Server::GitHub)).await;
    let mut files: Vec<String> = (0..249).map(|i| format!("services/web/src/f{i}.ts")).collect();
    files.push("services/api/handler.ts".into());
    fake.set_files(&files.iter().map(String::as_str).collect::<Vec<_>>(), 100);
    fake.set_patch_bytes(4096);
    let (key, value) = fake.credential_entry();
    let moto = Moto::start();
    let mut lambda = webhook(&moto, Some(json!({ key: value }))).await;
    let answer = send(&mut lambda, delivery(Server::GitHub, Event::PullRequest, &fake.url, "pr-250", SECRET)).await;
    let mut pipelines = started(&answer);
    pipelines.sort();
    assert_eq!(pipelines, ["api-pipeline", "web-pipeline"], "{answer}");
    assert_eq!(notes(&answer), Vec::<String>::new(), "decided on the whole list: {answer}");
    let lookups = fake.lookups();
    assert_eq!(lookups.len(), 3, "three pages of 100: {lookups:?}");
    assert!(
        lookups
            .iter()
            .all(|a| a.status == 200
                && a.operation.as_deref() == Some("/repos/{owner}/{repo}/pulls/{pull_number}/files")),
        "{lookups:?}"
    );
    // The last file alone decides api-pipeline: without it the trigger is skipped.
    files.pop();
    fake.set_files(&files.iter().map(String::as_str).collect::<Vec<_>>(), 100);
    let answer = send(&mut lambda, delivery(Server::GitHub, Event::PullRequest, &fake.url, "pr-249", SECRET)).await;
    assert_eq!(started(&answer), ["web-pipeline"], "{answer}");
}
