//! What Herald sends GitHub, judged by GitHub's own OpenAPI description (npm
//! `@octokit/openapi`, `make npm`), not by a reading of ours: through the real `git-webhook`
//! binary at github.com's shape and at GitHub Enterprise Server's (`/api/v3`, a GitHub App), every
//! request the fake recorded is an operation the description has — method, path template and
//! parameters, query parameters, and the request body's schema with its enums. The checker itself
//! is shown to refuse what the description refuses.

use herald::git_api::statuses;
use herald::git_api::ServerApi;
use herald::ports::{CommitStatus, StatusState};
use herald_tests::events::body_of;
use herald_tests::git_servers::{delivery_with, webhook_with_credentials, Auth, Event, FakeGitServer, Server};
use herald_tests::moto::Moto;
use herald_tests::openapi::{check, Flavor};
use herald_tests::runtime::Lambda;
use serde_json::{json, Value};

const SECRET: &str = "herald-openapi-secret";
const CONFIG: &str = r#"{"triggers": [
  {"name": "status", "pipeline": "oa-status", "git": {"repository": "**", "events": ["push", "pull_request"]}, "status": true},
  {"name": "paths", "pipeline": "oa-paths", "git": {"repository": "**", "events": ["push", "pull_request"], "paths": ["services/web/**"]}}
]}"#;

#[test]
fn the_check_refuses_what_github_describes_otherwise() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let status = format!("/repos/o/r/statuses/{sha}");
    let ok =
        json!({ "state": "pending", "context": "herald/app", "description": "running", "target_url": "https://x" });
    assert_eq!(check(Flavor::DotCom, "POST", &status, "", &ok).as_deref(), Ok("/repos/{owner}/{repo}/statuses/{sha}"));
    for (method, path, query, body, says) in [
        ("POST", status.as_str(), "", json!({ "state": "running" }), "is not one of"),
        ("POST", status.as_str(), "", json!({ "context": "x" }), "required field state"),
        ("POST", status.as_str(), "", json!({ "state": "success", "key": "x" }), "not in the request schema"),
        ("POST", status.as_str(), "", Value::Null, "body is required"),
        ("PUT", status.as_str(), "", ok.clone(), "no such operation"),
        ("POST", "/repos/o/r/statuses", "", ok.clone(), "no such path"),
        ("GET", "/repos/o/r/pulls/7/files", "limit=50", Value::Null, "query parameter limit"),
        ("GET", "/repos/o/r/pulls/x/files", "", Value::Null, "not an integer"),
    ] {
        let e = check(Flavor::DotCom, method, path, query, &body).unwrap_err();
        assert!(e.contains(says), "{method} {path}?{query}: {e}");
    }
}

/// Commands from pull requests (groundwork): the pull request Herald reads and the reply it posts
/// are GitHub's own operations, and GitHub's example pull request reads as its head, target and
/// fork-ness.
#[test]
fn the_pull_request_read_and_the_reply_are_github_operations() {
    use herald::git_api::endpoint::{Endpoint, Repository};
    use herald::git_api::pull_requests;
    let repository = Repository::new(ServerApi::GitHub, "acme/app").unwrap();
    for flavor in [Flavor::DotCom, Flavor::Enterprise] {
        let pull = Endpoint::PullRequest { repository: &repository, number: 7 }.url("");
        assert_eq!(
            check(flavor, "GET", &pull, "", &Value::Null).as_deref(),
            Ok("/repos/{owner}/{repo}/pulls/{pull_number}")
        );
        let reply = Endpoint::PullRequestComment { repository: &repository, number: 7 }.url("");
        let body = pull_requests::comment_body(ServerApi::GitHub, "| command | what happened |\n|---|---|");
        assert_eq!(
            check(flavor, "POST", &reply, "", &body).as_deref(),
            Ok("/repos/{owner}/{repo}/issues/{issue_number}/comments"),
            "{flavor:?}"
        );
        let example = herald_tests::openapi::installed_example(flavor, "pull-request");
        let head = pull_requests::read(ServerApi::GitHub, example.to_string().as_bytes()).unwrap();
        assert_eq!(head.head_commit, example["head"]["sha"].as_str().unwrap(), "{flavor:?}");
        assert_eq!(head.target_branch, example["base"]["ref"].as_str().unwrap());
    }
}

#[test]
fn every_status_state_herald_posts_is_one_github_and_ghes_accept() {
    for state in
        [StatusState::Pending, StatusState::Success, StatusState::Failure, StatusState::Error, StatusState::Skipped]
    {
        let status = CommitStatus {
            context: "herald/app".into(),
            state,
            description: "é".repeat(300),
            target_url: "https://console.aws.amazon.com/x".into(),
        };
        let request = statuses::request(ServerApi::GitHub, "unused".into(), &status, ("authorization", "t".into()));
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        for flavor in [Flavor::DotCom, Flavor::Enterprise] {
            let path = "/repos/acme/app/statuses/0123456789abcdef0123456789abcdef01234567";
            check(flavor, "POST", path, "", &body).unwrap_or_else(|e| panic!("{state:?} {flavor:?}: {e}"));
        }
    }
}

async fn webhook(moto: &Moto, credentials: &Value) -> Lambda {
    webhook_with_credentials(moto, CONFIG, &["oa-status", "oa-paths"], SECRET, credentials).await
}

/// A pull request (its files, paged, and a pending status) and a forced push (a comparison).
async fn deliveries(lambda: &mut Lambda, fake: &FakeGitServer, api: &str, tag: &str) {
    for (event, id) in [(Event::PullRequest, "pr"), (Event::Push, "push")] {
        let api = api.to_owned();
        let delivery = delivery_with(Server::GitHub, event, &fake.url, &format!("{tag}-{id}"), SECRET, |b| {
            // One repository per server: the same change on two servers would start once.
            let name = format!("{}-{tag}", b["repository"]["full_name"].as_str().unwrap());
            b["repository"]["full_name"] = json!(name);
            b["repository"]["statuses_url"] = json!(format!("{api}/repos/{name}/statuses/{{sha}}"));
            // A forced push lists no files: the comparison is asked for.
            b["forced"] = json!(true);
        });
        let response = lambda.invoke(delivery).await.response();
        assert_eq!(response["statusCode"], 200, "{response}");
        let answer = body_of(&response);
        assert_eq!(answer["statuses"][0]["outcome"], "posted", "{tag} {id}: {answer} {:?}", fake.arrivals());
    }
}

fn operations(fake: &FakeGitServer) -> Vec<String> {
    let arrivals = fake.arrivals();
    for a in &arrivals {
        assert_eq!(a.problem, None, "{} {}?{}: {:?}", a.method, a.path, a.query, a.problem);
    }
    let mut ops: Vec<String> =
        arrivals.iter().map(|a| format!("{} {}", a.method, a.operation.clone().unwrap_or_default())).collect();
    ops.sort();
    ops.dedup();
    ops
}

#[tokio::test]
async fn every_request_to_github_and_ghes_is_an_operation_github_describes() {
    let moto = Moto::start();
    let dotcom = FakeGitServer::start(Server::GitHub, Auth::Token("oa-token".into())).await;
    let files: Vec<String> = (0..150).map(|i| format!("services/web/f{i}.ts")).collect();
    dotcom.set_files(&files.iter().map(String::as_str).collect::<Vec<_>>(), 100);

    let (pem, public_key) = herald_tests::git_servers::test_app_key();
    let ghes = FakeGitServer::start(
        Server::GitHub,
        Auth::GitHubApp { installation_id: 77, public_key, token: "ghs_oa".into() },
    )
    .await;
    ghes.set_files(&files.iter().map(String::as_str).collect::<Vec<_>>(), 100);

    let (key, value) = dotcom.credential_entry();
    let credentials = json!({
        key: value,
        format!("github:{}", ghes.host): { "app_id": 1, "installation_id": 77, "private_key": pem, "api_url": format!("{}/api/v3", ghes.url) },
    });
    let mut lambda = webhook(&moto, &credentials).await;
    deliveries(&mut lambda, &dotcom, &dotcom.url, "dotcom").await;
    deliveries(&mut lambda, &ghes, &format!("{}/api/v3", ghes.url), "ghes").await;
    lambda.stop().await;

    let github_operations = [
        "GET /repos/{owner}/{repo}/compare/{basehead}",
        "GET /repos/{owner}/{repo}/pulls/{pull_number}/files",
        "POST /repos/{owner}/{repo}/statuses/{sha}",
    ];
    assert_eq!(operations(&dotcom), github_operations);
    let mut with_app = vec!["POST /app/installations/{installation_id}/access_tokens"];
    with_app.extend(github_operations);
    with_app.sort();
    assert_eq!(operations(&ghes), with_app);
    // Two pages of the pull request's 150 files on each.
    for fake in [&dotcom, &ghes] {
        assert_eq!(fake.lookups().iter().filter(|a| a.path.ends_with("/files")).count(), 2);
    }
}

/// The examples the fakes answer with (kept in tests/support so the demo needs no 400 MB
/// description) are still the installed description's own, for github.com and GHES.
#[test]
fn the_kept_examples_are_the_installed_description_s() {
    let kept: Value = serde_json::from_str(
        &std::fs::read_to_string(herald_tests::workspace().join("tests/support/github-openapi-examples.json")).unwrap(),
    )
    .unwrap();
    let names = kept["examples"].as_object().unwrap();
    assert!(names.len() >= 4, "{:?}", names.keys());
    for flavor in [Flavor::DotCom, Flavor::Enterprise] {
        for name in names.keys() {
            assert_eq!(
                herald_tests::openapi::example(flavor, name),
                herald_tests::openapi::installed_example(flavor, name),
                "{name} ({flavor:?}): run the extraction in tests/support/github-openapi-examples.json's _source again"
            );
        }
    }
}
