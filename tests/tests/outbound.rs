//! Where Herald's Git server requests may go (docs/credentials.md "Where Herald sends requests"), through the
//! real `git-webhook` binary: a signed payload chooses the server's host and nothing else. For
//! every provider, payloads whose URL fields point at other repositories, other endpoints (a
//! GitLab pipeline trigger, a GitHub App token mint), carry `#`, `?`, `..` or `%2F` tricks, or
//! name another GitLab project id or Azure DevOps organization, make the recording fake receive
//! requests only under the matched repository's own endpoints; repository names its server does
//! not allow are not called at all, with the reason in the answer.

use herald_tests::events::body_of;
use herald_tests::git_servers::{
    delivery_with, payload, webhook_with_credentials, Arrival, Auth, Event, FakeGitServer, Server,
};
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use serde_json::{json, Value};

const SECRET: &str = "herald-outbound-secret";

/// A status for every start, and a path filter that asks for the changed files.
const CONFIG: &str = r#"{"triggers": [
  {"name": "status", "pipeline": "out-status", "git": {"repository": "**", "events": ["push", "pull_request"], "allow_forks": true}, "status": true},
  {"name": "paths", "pipeline": "out-paths", "git": {"repository": "**", "events": ["push", "pull_request"], "allow_forks": true, "paths": ["services/web/**"]}}
]}"#;

const ALL: [Server; 6] = [
    Server::GitHub,
    Server::GitLab,
    Server::BitbucketCloud,
    Server::BitbucketServer,
    Server::Gitea,
    Server::AzureDevOps,
];

/// The repository a corpus payload names (what the triggers match).
fn repository(server: Server, event: Event) -> (String, String) {
    let body = payload(server, event);
    let text = |pointer: &str| body.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_owned();
    let split = |full: String| {
        let (a, b) = full.split_once('/').unwrap();
        (a.to_owned(), b.to_owned())
    };
    match (server, event) {
        (Server::GitHub | Server::BitbucketCloud | Server::Gitea, _) => split(text("/repository/full_name")),
        (Server::GitLab, _) => split(text("/project/path_with_namespace")),
        (Server::BitbucketServer, Event::Push) => (text("/repository/project/key"), text("/repository/slug")),
        (Server::BitbucketServer, Event::PullRequest) => {
            (text("/pullRequest/toRef/repository/project/key"), text("/pullRequest/toRef/repository/slug"))
        }
        (Server::AzureDevOps, _) => (text("/resource/repository/project/name"), text("/resource/repository/name")),
    }
}

/// Whether `arrival` is one of the endpoints of `owner/name` on `server` (statuses, file lists).
fn inside(server: Server, (owner, name): &(String, String), arrival: &Arrival) -> bool {
    let path = arrival.path.as_str();
    match server {
        Server::GitHub => path.starts_with(&format!("/repos/{owner}/{name}/")),
        Server::GitLab => path.starts_with(&format!("/api/v4/projects/{owner}%2F{name}/")),
        Server::BitbucketCloud => path.starts_with(&format!("/2.0/repositories/{owner}/{name}/")),
        Server::BitbucketServer => {
            path.starts_with(&format!("/rest/api/1.0/projects/{owner}/repos/{name}/"))
                || path.starts_with("/rest/build-status/1.0/commits/")
        }
        Server::Gitea => path.starts_with(&format!("/api/v1/repos/{owner}/{name}/")),
        Server::AzureDevOps => {
            path.starts_with(&format!("/fabrikam/{}/_apis/git/repositories/{}/", owner.replace(' ', "%20"), name))
        }
    }
}

/// Every URL field a payload of `server` has, pointed at `fake`'s other endpoints.
fn hostile_urls(server: Server, fake: &str, body: &mut Value) {
    match server {
        Server::GitHub => {
            body["repository"]["statuses_url"] = json!(format!("{fake}/repos/victim/other/statuses/{{sha}}#/x"));
            body["repository"]["url"] = json!(format!("{fake}/app/installations/999/access_tokens#/repos/x/y/"));
        }
        Server::GitLab => {
            body["project"]["web_url"] = json!(format!("{fake}/api/v4/projects/4242/pipeline?ref=main#/team-a/app"));
            body["project"]["id"] = json!(4242);
            body["project_id"] = json!(4242);
            if body["object_attributes"].is_object() {
                body["object_attributes"]["source_project_id"] = json!(4242);
                body["object_attributes"]["target_project_id"] = json!(4242);
            }
        }
        Server::BitbucketCloud => {
            body["repository"]["links"]["self"]["href"] = json!(format!("{fake}/2.0/repositories/victim/other?x=1#"))
        }
        Server::BitbucketServer => {
            let link = json!([{ "href": format!("{fake}/projects/OTHER/repos/x/browse/..%2F..?a#b") }]);
            if body["pullRequest"].is_object() {
                body["pullRequest"]["toRef"]["repository"]["links"]["self"] = link;
            } else {
                body["repository"]["links"]["self"] = link;
            }
        }
        Server::Gitea => body["repository"]["html_url"] = json!(format!("{fake}/api/v1/repos/victim/other/../x?#")),
        Server::AzureDevOps => {
            body["resource"]["repository"]["url"] =
                json!(format!("{fake}/fabrikam/_apis/git/repositories/00000000-0000-0000-0000-000000000000?x#y"))
        }
    }
}

/// The repository's own name in a pull request payload of `server` set to `name` (the part
/// after the owner, project or group).
fn name_part(server: Server, body: &mut Value, name: &str) {
    let full = |b: &mut Value, pointer: &str| {
        let owner =
            b.pointer(pointer).and_then(Value::as_str).and_then(|f| f.split_once('/')).map(|(o, _)| o.to_owned());
        *b.pointer_mut(pointer).unwrap() = json!(format!("{}/{name}", owner.unwrap()));
    };
    match server {
        Server::GitHub | Server::BitbucketCloud | Server::Gitea => full(body, "/repository/full_name"),
        Server::GitLab => full(body, "/project/path_with_namespace"),
        Server::BitbucketServer => body["pullRequest"]["toRef"]["repository"]["slug"] = json!(name),
        Server::AzureDevOps => body["resource"]["repository"]["name"] = json!(name),
    }
}

async fn webhook(moto: &Moto, credentials: &Value) -> Lambda {
    webhook_with_credentials(moto, CONFIG, &["out-status", "out-paths"], SECRET, credentials).await
}

async fn send(lambda: &mut Lambda, event: Value) -> Value {
    let response = lambda.invoke(event).await.response();
    assert_eq!(response["statusCode"], 200, "{response}");
    body_of(&response)
}

async fn fakes() -> (Vec<FakeGitServer>, Value) {
    let mut fakes = Vec::new();
    let mut credentials = serde_json::Map::new();
    for server in ALL {
        let fake = FakeGitServer::start(server, Auth::Token(format!("{}-outbound-token", server.key()))).await;
        fake.set_files(&["services/web/a.ts", "README.md"], 100);
        let (key, value) = fake.credential_entry();
        credentials.insert(key, value);
        fakes.push(fake);
    }
    (fakes, Value::Object(credentials))
}

#[tokio::test]
async fn payload_urls_pointing_elsewhere_reach_only_the_matched_repository() {
    let (fakes, credentials) = fakes().await;
    let moto = Moto::start();
    let mut lambda = webhook(&moto, &credentials).await;
    for (server, fake) in ALL.iter().zip(&fakes) {
        for event in [Event::Push, Event::PullRequest] {
            let before = fake.arrivals().len();
            let id = format!("hostile-{server:?}-{event:?}");
            let url = fake.url.clone();
            let answer = send(
                &mut lambda,
                delivery_with(*server, event, &fake.url, &id, SECRET, |b| hostile_urls(*server, &url, b)),
            )
            .await;
            let arrivals = fake.arrivals()[before..].to_vec();
            let repo = repository(*server, event);
            assert!(!arrivals.is_empty(), "{server:?} {event:?}: Herald still calls the matched repository: {answer}");
            for a in &arrivals {
                assert!(inside(*server, &repo, a), "{server:?} {event:?}: {} {} is outside {repo:?}", a.method, a.path);
                assert!(a.status < 300, "{server:?} {event:?}: {a:?}");
            }
        }
    }
    let logs = lambda.stop().await;
    assert!(!logs.contains("-outbound-token"), "no token in the logs");
}

#[tokio::test]
async fn names_a_server_does_not_allow_and_foreign_organizations_get_no_request() {
    let (fakes, credentials) = fakes().await;
    let moto = Moto::start();
    let mut lambda = webhook(&moto, &credentials).await;
    let long = "a".repeat(300);
    let tricks = ["app#/../../victim", "app?x=1", "..", "a%2Fb", "a@b", "app\nX-Evil: 1", long.as_str()];
    for (server, fake) in ALL.iter().zip(&fakes) {
        for (i, trick) in tricks.iter().enumerate() {
            let id = format!("bad-name-{server:?}-{i}");
            let event =
                delivery_with(*server, Event::PullRequest, &fake.url, &id, SECRET, |b| name_part(*server, b, trick));
            let answer = send(&mut lambda, event).await;
            assert!(fake.arrivals().is_empty(), "{server:?} {trick:?}: {:?}", fake.arrivals());
            let statuses = answer["statuses"].as_array().cloned().unwrap_or_default();
            assert!(
                statuses
                    .iter()
                    .all(|s| s["outcome"] == "skipped" && s["reason"].as_str().unwrap().contains("repository name")),
                "{server:?} {trick:?}: {answer}"
            );
            if answer["started"].as_array().is_some_and(|s| !s.is_empty()) {
                assert!(
                    answer.to_string().contains("the repository name"),
                    "{server:?} {trick:?}: the lookup says why: {answer}"
                );
            }
        }
    }
    // GitLab: a sub-group path with `..`; Azure DevOps: a project name with `?`.
    let gitlab = &fakes[1];
    let event = delivery_with(Server::GitLab, Event::PullRequest, &gitlab.url, "bad-gitlab", SECRET, |b| {
        b["project"]["path_with_namespace"] = json!("gitlabhq/../admin");
    });
    send(&mut lambda, event).await;
    assert!(gitlab.arrivals().is_empty(), "{:?}", gitlab.arrivals());
    let azure = &fakes[5];
    let event = delivery_with(Server::AzureDevOps, Event::PullRequest, &azure.url, "bad-azure", SECRET, |b| {
        b["resource"]["repository"]["project"]["name"] = json!("Fabrikam?api-version=1#");
    });
    send(&mut lambda, event).await;
    // Another organization on the same host: the credential serves fabrikam only.
    let url = azure.url.clone();
    let event = delivery_with(Server::AzureDevOps, Event::PullRequest, &azure.url, "foreign-org", SECRET, |b| {
        b["resource"]["repository"]["url"] = json!(format!("{url}/contoso/_apis/git/repositories/x"));
    });
    let answer = send(&mut lambda, event).await;
    assert!(azure.arrivals().is_empty(), "{:?}", azure.arrivals());
    assert!(answer.to_string().contains("organization \\\"contoso\\\""), "{answer}");
    lambda.stop().await;
}

#[tokio::test]
async fn a_confined_credential_serves_only_its_repositories_and_secret_scopes() {
    let github = FakeGitServer::start(Server::GitHub, Auth::Token("confined-token".into())).await;
    github.set_files(&["services/web/a.ts"], 100);
    let (key, mut value) = github.credential_entry();
    value["repositories"] = json!(["team-a/*"]);
    let moto = Moto::start();
    let mut lambda = webhook(&moto, &json!({ key: value })).await;
    // The corpus pull request is baxterthehacker/public-repo: not team-a's.
    let answer =
        send(&mut lambda, delivery_with(Server::GitHub, Event::PullRequest, &github.url, "confined-1", SECRET, |_| {}))
            .await;
    assert!(github.arrivals().is_empty(), "{:?}", github.arrivals());
    assert!(answer.to_string().contains("does not serve baxterthehacker/public-repo (repositories)"), "{answer}");
    let answer = send(
        &mut lambda,
        delivery_with(Server::GitHub, Event::PullRequest, &github.url, "confined-2", SECRET, |b| {
            b["repository"]["full_name"] = json!("team-a/app");
        }),
    )
    .await;
    assert!(
        github.arrivals().iter().all(|a| a.path.starts_with("/repos/team-a/app/")),
        "{answer} {:?}",
        github.arrivals()
    );
    assert!(!github.arrivals().is_empty());
    lambda.stop().await;
}
