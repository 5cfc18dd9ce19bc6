//! Herald's contexts as required checks, end to end (docs/statuses.md "Make Herald's checks required"):
//! the real `git-webhook` and `pipeline-notifier` binaries, moto, and fakes of every server's
//! status API that accept only that server's documented state words.
//!
//! - A change a path filter skips gets a final passing status for each context that applies.
//! - A superseded execution ends as `error`, naming the newer commit.
//! - Late and repeated events, and two notifiers handling the same events at once, never move a
//!   status backwards.
//! - A GitHub merge queue's `merge_group` (GitHub's own example payload) starts the pipeline
//!   pinned to `head_sha`, and its result reaches `head_sha`.

use herald_tests::events::body_of;
use herald_tests::git_servers::{self, Auth, Event, FakeGitServer, Server};
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use herald_tests::sample;
use serde_json::{json, Value};

const SECRET: &str = "herald-required-secret";

/// Every server, with its word for "passed without running".
const SKIPPED_WORDS: [(Server, &str); 6] = [
    (Server::GitHub, "success"),
    (Server::GitLab, "skipped"),
    (Server::BitbucketCloud, "SUCCESSFUL"),
    (Server::BitbucketServer, "SUCCESSFUL"),
    (Server::Gitea, "success"),
    (Server::AzureDevOps, "notApplicable"),
];

fn auth_for(server: Server) -> Auth {
    match server {
        Server::BitbucketCloud => Auth::Basic("herald-bot".into(), "app-password-1".into()),
        other => Auth::Token(format!("{}-token-1", other.key())),
    }
}

struct Setup {
    moto: Moto,
    webhook: Lambda,
    notifier: Lambda,
    /// The notifier's environment, for a second instance.
    notifier_env: Vec<(String, String)>,
}

/// `pipelines`: each pipeline's name and the variables it declares.
async fn setup(config: &str, pipelines: &[&[&str]], credentials: &Value) -> Setup {
    let moto = Moto::start();
    for pipeline in pipelines {
        moto.ctl(&[&["create-pipeline"], *pipeline].concat());
    }
    moto.ctl(&["create-table", "herald-dedup"]);
    let topic = moto.ctl(&["topic-to-queue", "herald-alerts", "inbox"])["topic_arn"].as_str().unwrap().to_owned();
    let credentials = credentials.to_string();
    let common =
        [("HERALD_CONFIG", config), ("HERALD_DEDUP_TABLE", "herald-dedup"), ("HERALD_STATUS_SECRET", &credentials)];
    let mut env = common.to_vec();
    env.push(("HERALD_WEBHOOK_SECRET", SECRET));
    let webhook = Lambda::start("git-webhook", &moto.endpoint, &env).await;
    let mut env = common.to_vec();
    env.push(("HERALD_TOPIC_ARN", &topic));
    let notifier = Lambda::start("pipeline-notifier", &moto.endpoint, &env).await;
    let notifier_env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Setup { moto, webhook, notifier, notifier_env }
}

impl Setup {
    async fn deliver(&mut self, event: Value) -> Value {
        let response = self.webhook.invoke(event).await.response();
        assert_eq!(response["statusCode"], 200, "{response}");
        body_of(&response)
    }

    async fn second_notifier(&self) -> Lambda {
        let env: Vec<(&str, &str)> = self.notifier_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Lambda::start("pipeline-notifier", &self.moto.endpoint, &env).await
    }
}

/// A CodePipeline event of `pipeline`'s execution: `file`'s event in `state`, with its own id.
fn pipeline_event(file: &str, pipeline: &str, execution_id: &str, state: &str, id: &str) -> Value {
    let mut event = sample(&format!("pipeline-notifier/{file}"));
    event["detail"]["pipeline"] = json!(pipeline);
    event["detail"]["execution-id"] = json!(execution_id);
    event["detail"]["state"] = json!(state);
    event["id"] = json!(id);
    event
}

fn state_of(status: &Value) -> &str {
    status["state"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_docs_only_pull_request_passes_every_path_filtered_context_on_every_server() {
    // A monorepo: each service's pipeline is a required check; the pull request touches docs only.
    let config = r#"{"triggers": [
      {"name": "web", "pipeline": "web-pipeline", "git": {"repository": "**", "events": ["pull_request"], "paths": ["services/web/**"], "allow_forks": true}, "status": true},
      {"name": "api", "pipeline": "api-pipeline", "git": {"repository": "**", "events": ["pull_request"], "paths": ["services/api/**"], "allow_forks": true}, "status": true}
    ]}"#;
    let mut fakes = Vec::new();
    let mut credentials = serde_json::Map::new();
    for (server, _) in SKIPPED_WORDS {
        let fake = FakeGitServer::start(server, auth_for(server)).await;
        fake.set_files(&["docs/guide.md", "docs/faq.md"], 100);
        let (key, value) = fake.credential_entry();
        credentials.insert(key, value);
        fakes.push(fake);
    }
    let mut s = setup(config, &[&["web-pipeline"], &["api-pipeline"]], &Value::Object(credentials)).await;
    for ((server, word), fake) in SKIPPED_WORDS.iter().zip(&fakes) {
        let delivery =
            git_servers::delivery(*server, Event::PullRequest, &fake.url, &format!("docs-{server:?}"), SECRET);
        let answer = s.deliver(delivery).await;
        assert_eq!(answer["started"], json!([]), "{server:?}: {answer}");
        let outcomes: Vec<&Value> = answer["statuses"].as_array().unwrap().iter().map(|e| &e["outcome"]).collect();
        assert_eq!(outcomes, [&json!("posted"), &json!("posted")], "{server:?}: {answer} {:?}", fake.arrivals());
        let accepted = fake.accepted();
        assert_eq!(accepted.len(), 2, "{server:?}: {:?}", fake.arrivals());
        for status in &accepted {
            assert_eq!(state_of(status), *word, "{server:?}: {status}");
            let description = status["description"].as_str().unwrap();
            assert!(
                description.starts_with("skipped: no changed file matches paths (services/"),
                "{server:?}: {description}"
            );
        }
        let names: Vec<String> = accepted
            .iter()
            .map(|s| match *server {
                Server::AzureDevOps => {
                    format!("{}/{}", s["context"]["genre"].as_str().unwrap(), s["context"]["name"].as_str().unwrap())
                }
                Server::GitLab => s["name"].as_str().unwrap().to_owned(),
                Server::BitbucketCloud | Server::BitbucketServer => s["key"].as_str().unwrap().to_owned(),
                _ => s["context"].as_str().unwrap().to_owned(),
            })
            .collect();
        let mut names = names;
        names.sort();
        assert_eq!(names, ["herald/api-pipeline", "herald/web-pipeline"], "{server:?}: the contexts to require");
        assert!(fake.arrivals().iter().all(|a| a.problem.is_none()), "{server:?}: {:?}", fake.arrivals());
    }
}

/// A `[skip ci]` marker in a pull request's title never passes a required check, on any server:
/// it skips the start and posts nothing (a fork author would otherwise turn the check green
/// without anything running). The same pull request without the marker passes, as above.
#[tokio::test]
async fn a_skip_marker_posts_no_passing_status_on_any_server() {
    let config = r#"{"triggers": [
      {"name": "web", "pipeline": "web-pipeline", "git": {"repository": "**", "events": ["pull_request"], "paths": ["services/web/**"], "allow_forks": true}, "status": true},
      {"name": "all", "pipeline": "all-pipeline", "git": {"repository": "**", "events": ["pull_request"], "allow_forks": true}, "status": true}
    ]}"#;
    let mut fakes = Vec::new();
    let mut credentials = serde_json::Map::new();
    for (server, _) in SKIPPED_WORDS {
        let fake = FakeGitServer::start(server, auth_for(server)).await;
        fake.set_files(&["docs/guide.md"], 100);
        let (key, value) = fake.credential_entry();
        credentials.insert(key, value);
        fakes.push(fake);
    }
    let mut s = setup(config, &[&["web-pipeline"], &["all-pipeline"]], &Value::Object(credentials)).await;
    for ((server, _), fake) in SKIPPED_WORDS.iter().zip(&fakes) {
        let title = "Fix the docs [skip ci]";
        let delivery = git_servers::delivery_with(
            *server,
            Event::PullRequest,
            &fake.url,
            &format!("marker-{server:?}"),
            SECRET,
            |body| {
                for pointer in [
                    "/pull_request/title",
                    "/object_attributes/title",
                    "/pullrequest/title",
                    "/pullRequest/title",
                    "/resource/title",
                ] {
                    if let Some(field) = body.pointer_mut(pointer) {
                        *field = json!(title);
                    }
                }
            },
        );
        let answer = s.deliver(delivery).await;
        assert_eq!(answer["started"], json!([]), "{server:?}: {answer}");
        let reasons: Vec<&str> =
            answer["skipped"].as_array().unwrap().iter().filter_map(|e| e["reason"].as_str()).collect();
        assert_eq!(reasons.len(), 2, "{server:?}: {answer}");
        assert!(reasons.iter().all(|r| r.starts_with("[skip ci]")), "{server:?}: {reasons:?}");
        assert_eq!(answer["statuses"].as_array().map_or(0, Vec::len), 0, "{server:?}: {answer}");
        let posted: Vec<_> = fake.arrivals().into_iter().filter(|a| a.method == "POST" || a.method == "PUT").collect();
        assert!(posted.is_empty(), "{server:?}: nothing posted, got {posted:?}");
    }
}

#[tokio::test]
async fn a_superseded_execution_ends_as_error_naming_the_newer_commit() {
    let config = r#"{"triggers": [{"name": "app", "pipeline": "app", "git": {"repository": "**"}, "status": true}]}"#;
    let fake = FakeGitServer::start(Server::GitHub, auth_for(Server::GitHub)).await;
    let (key, value) = fake.credential_entry();
    let mut s = setup(config, &[&["app"]], &json!({ key: value })).await;
    let first = s.deliver(git_servers::delivery(Server::GitHub, Event::Push, &fake.url, "d-old", SECRET)).await;
    let newer = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    let second = git_servers::delivery_with(Server::GitHub, Event::Push, &fake.url, "d-new", SECRET, |body| {
        body["after"] = json!(newer);
        body["head_commit"]["id"] = json!(newer);
    });
    let second = s.deliver(second).await;
    let old_id = first["started"][0]["execution_id"].as_str().unwrap().to_owned();
    assert!(second["started"][0]["execution_id"].is_string(), "{second}");
    let out = s
        .notifier
        .invoke(pipeline_event("pipeline-failed.json", "app", &old_id, "SUPERSEDED", "superseded-1"))
        .await
        .response();
    assert_eq!(out["statuses"][0]["outcome"], "posted", "{out}");
    let accepted = fake.accepted();
    let last = accepted.last().unwrap();
    assert_eq!(state_of(last), "error");
    assert_eq!(last["description"], "app: superseded by a newer execution, of commit bbbbbbb");
    let arrivals = fake.arrivals();
    let posted_on = arrivals.iter().rfind(|a| a.method == "POST").unwrap();
    assert!(posted_on.path.ends_with("/statuses/fd489864e7642b48eaad6e3f155c10e46810ec72"), "{}", posted_on.path);
}

/// A concurrency group's stop (docs/configuration.md "One build per pull request"), through both binaries: the
/// newer push stops the older execution, and when CodePipeline reports it `STOPPED` its status
/// names the commit that superseded it.
#[tokio::test]
async fn an_execution_a_concurrency_group_stopped_ends_as_error_naming_the_newer_commit() {
    let config = r#"{"triggers": [{"name": "app", "pipeline": "app", "git": {"repository": "**"}, "status": true,
      "variables": {"MOTO_EXECUTION_STATUS": "InProgress"}, "concurrency": {"cancel_in_progress": true}}]}"#;
    let fake = FakeGitServer::start(Server::GitHub, auth_for(Server::GitHub)).await;
    let (key, value) = fake.credential_entry();
    let mut s = setup(config, &[&["app", "MOTO_EXECUTION_STATUS"]], &json!({ key: value })).await;
    let first = s.deliver(git_servers::delivery(Server::GitHub, Event::Push, &fake.url, "d-old", SECRET)).await;
    let old_id = first["started"][0]["execution_id"].as_str().unwrap().to_owned();
    let newer = "cccccccccccccccccccccccccccccccccccccccc";
    let second = git_servers::delivery_with(Server::GitHub, Event::Push, &fake.url, "d-new", SECRET, |body| {
        body["after"] = json!(newer);
        body["head_commit"]["id"] = json!(newer);
    });
    let second = s.deliver(second).await;
    assert_eq!(second["stopped"][0]["execution_id"], old_id.as_str(), "{second}");
    let out = s
        .notifier
        .invoke(pipeline_event("pipeline-failed.json", "app", &old_id, "STOPPED", "stopped-1"))
        .await
        .response();
    assert_eq!(out["statuses"][0]["outcome"], "posted", "{out}");
    let accepted = fake.accepted();
    let last = accepted.last().unwrap();
    assert_eq!(state_of(last), "error");
    assert_eq!(last["description"], "app was stopped: superseded by ccccccc");
}

#[tokio::test]
async fn a_late_started_event_and_two_notifiers_at_once_never_move_a_status_back() {
    let config = r#"{"triggers": [{"name": "app", "pipeline": "app", "git": {"repository": "**"}, "status": {"stages": true}}]}"#;
    let fake = FakeGitServer::start(Server::GitHub, auth_for(Server::GitHub)).await;
    let (key, value) = fake.credential_entry();
    let mut s = setup(config, &[&["app"]], &json!({ key: value })).await;

    // STARTED, SUCCEEDED, then STARTED delivered again: `success` stays the last state.
    let answer = s.deliver(git_servers::delivery(Server::GitHub, Event::Push, &fake.url, "d-1", SECRET)).await;
    let execution = answer["started"][0]["execution_id"].as_str().unwrap().to_owned();
    let started = pipeline_event("pipeline-started.json", "app", &execution, "STARTED", "started-1");
    let succeeded = pipeline_event("pipeline-succeeded.json", "app", &execution, "SUCCEEDED", "succeeded-1");
    s.notifier.invoke(started.clone()).await.response();
    s.notifier.invoke(succeeded).await.response();
    let late = s.notifier.invoke(started).await.response();
    assert_eq!(late["statuses"][0]["outcome"], "stale", "{late}");
    let states: Vec<String> = fake.accepted().iter().map(|s| state_of(s).to_owned()).collect();
    assert_eq!(
        states,
        ["pending", "pending", "success"],
        "webhook, STARTED, SUCCEEDED; the late STARTED posts nothing"
    );

    // Two notifier instances, the same events of each execution, in opposite orders, at once.
    fake.set_delay(std::time::Duration::from_millis(30));
    let mut other = s.second_notifier().await;
    for round in 0..4 {
        let answer = s
            .deliver(git_servers::delivery(Server::GitHub, Event::Push, &fake.url, &format!("race-{round}"), SECRET))
            .await;
        let execution = answer["started"][0]["execution_id"].as_str().unwrap().to_owned();
        let before = fake.arrivals().len();
        let events = |kind: &str| {
            let stage = |state: &str| {
                let mut e =
                    pipeline_event("stage-failed.json", "app", &execution, state, &format!("{kind}-{state}-{round}"));
                e["detail"].as_object_mut().unwrap().remove("execution-result");
                e
            };
            let pipeline = |file: &str, state: &str| {
                pipeline_event(file, "app", &execution, state, &format!("{kind}-p{state}-{round}"))
            };
            (
                vec![pipeline("pipeline-started.json", "STARTED"), stage("STARTED")],
                vec![stage("SUCCEEDED"), pipeline("pipeline-succeeded.json", "SUCCEEDED")],
            )
        };
        let (starts, ends) = events("ev");
        let forward: Vec<Value> = starts.iter().chain(&ends).cloned().collect();
        let backward: Vec<Value> = ends.iter().chain(&starts).cloned().collect();
        let a = async {
            for e in forward {
                s.notifier.invoke(e).await;
            }
        };
        let b = async {
            for e in backward {
                other.invoke(e).await;
            }
        };
        tokio::join!(a, b);
        let arrivals = fake.arrivals();
        let posted: Vec<(String, String)> = arrivals[before..]
            .iter()
            .filter(|a| a.method == "POST" && a.status < 300)
            .map(|a| (a.body["context"].as_str().unwrap().to_owned(), state_of(&a.body).to_owned()))
            .collect();
        for context in ["herald/app", "herald/app/Build"] {
            let states: Vec<&str> = posted.iter().filter(|(c, _)| c == context).map(|(_, s)| s.as_str()).collect();
            let first_end = states.iter().position(|s| *s == "success");
            assert!(first_end.is_some(), "round {round}, {context}: the end was posted: {states:?}");
            assert!(
                !states[first_end.unwrap()..].contains(&"pending"),
                "round {round}, {context}: backwards: {states:?}"
            );
        }
    }
    let logs = other.stop().await + &s.notifier.stop().await;
    assert!(!logs.contains("github-token-1"), "no token in the logs");
}

#[tokio::test]
async fn a_merge_group_starts_pinned_to_its_head_and_its_result_reaches_the_head() {
    let config = r#"{"triggers": [
      {"name": "queue", "pipeline": "app", "git": {"repository": "octo-org/*", "events": ["merge_group"], "branches": ["main"], "paths": ["services/**"]},
       "source_action": "Source", "variables": {"QUEUE_BRANCH": "{branch}", "BASE": "{target_branch}", "COMMIT": "{commit}"}, "status": true}
    ]}"#;
    let fake = FakeGitServer::start(Server::GitHub, auth_for(Server::GitHub)).await;
    fake.set_files(&["services/app/main.rs"], 100);
    let (key, value) = fake.credential_entry();
    let mut s = setup(config, &[&["app", "QUEUE_BRANCH", "BASE", "COMMIT"]], &json!({ key: value })).await;
    let head = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d";
    let answer = s.deliver(git_servers::merge_group_delivery(&fake.url, "mg-1", SECRET, |_| {})).await;
    assert_eq!(answer["event"], "merge_group");
    let started = &answer["started"][0];
    assert_eq!(started["pipeline"], "app", "{answer}");
    // The files came from the base...head comparison, asked like a push's.
    let lookups = fake.lookups();
    assert_eq!(lookups.len(), 1, "{lookups:?}");
    assert!(
        lookups[0].path.ends_with(&format!("/compare/380387fbc80638b734a49e1be1c4dfec1c01b33c...{head}")),
        "{}",
        lookups[0].path
    );
    assert_eq!(lookups[0].operation.as_deref(), Some("/repos/{owner}/{repo}/compare/{basehead}"));
    let execution = s.moto.executions("app").into_iter().last().expect("an execution");
    let variables = &execution["variables"];
    assert_eq!(variables["COMMIT"], head, "pinned to head_sha, not head_commit.id: {execution}");
    assert_eq!(variables["QUEUE_BRANCH"], "gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64");
    assert_eq!(variables["BASE"], "main");
    let execution_id = started["execution_id"].as_str().unwrap().to_owned();
    s.notifier
        .invoke(pipeline_event("pipeline-succeeded.json", "app", &execution_id, "SUCCEEDED", "mg-done"))
        .await
        .response();
    let posts: Vec<_> = fake.arrivals().into_iter().filter(|a| a.method == "POST").collect();
    assert_eq!(posts.len(), 2, "{posts:?}");
    for post in &posts {
        assert_eq!(post.path, format!("/repos/octo-org/octo-repo/statuses/{head}"));
        assert!(post.problem.is_none(), "{post:?}");
    }
    assert_eq!((state_of(&posts[0].body), state_of(&posts[1].body)), ("pending", "success"));

    // A queue of docs-only changes passes without running; another base branch does not apply.
    fake.set_files(&["docs/guide.md"], 100);
    let docs = s.deliver(git_servers::merge_group_delivery(&fake.url, "mg-2", SECRET, |_| {})).await;
    assert_eq!(docs["started"], json!([]), "{docs}");
    assert_eq!(docs["statuses"][0]["state"], "skipped", "{docs}");
    let release = s
        .deliver(git_servers::merge_group_delivery(&fake.url, "mg-3", SECRET, |b| {
            b["merge_group"]["base_ref"] = json!("refs/heads/release");
        }))
        .await;
    assert_eq!(release["skipped"][0]["reason"], "merge group base branch release does not match branches (main)");
    assert!(release.get("statuses").is_none(), "the context does not apply: {release}");
    // `destroyed` is acknowledged.
    let destroyed = s
        .deliver(git_servers::merge_group_delivery(&fake.url, "mg-4", SECRET, |b| {
            b["action"] = json!("destroyed");
            b["reason"] = json!("merged");
        }))
        .await;
    assert!(destroyed["ignored"].as_str().unwrap().contains("destroyed (merged)"), "{destroyed}");
}

/// What ordering costs, counted through a proxy before moto: the webhook's `pending` and the
/// notifier's outcome each take one conditional PutItem (the claim) and one UpdateItem (its end)
/// beside the calls they made before; a late event refused by the claim posts nothing.
#[tokio::test]
async fn the_claim_costs_one_conditional_write_and_one_update_per_status() {
    use herald_tests::faults::FaultProxy;
    let config = r#"{"triggers": [{"name": "app", "pipeline": "app", "git": {"repository": "**"}, "status": true}]}"#;
    let fake = FakeGitServer::start(Server::GitHub, auth_for(Server::GitHub)).await;
    let (key, value) = fake.credential_entry();
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", "app"]);
    moto.ctl(&["create-table", "herald-dedup"]);
    let topic = moto.ctl(&["topic-to-queue", "herald-alerts", "inbox"])["topic_arn"].as_str().unwrap().to_owned();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let credentials = json!({ key: value }).to_string();
    let env = [
        ("HERALD_CONFIG", config),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("HERALD_STATUS_SECRET", credentials.as_str()),
        ("HERALD_WEBHOOK_SECRET", SECRET),
        ("HERALD_TOPIC_ARN", topic.as_str()),
    ];
    let mut webhook = Lambda::start("git-webhook", &proxy.endpoint, &env).await;
    let mut notifier = Lambda::start("pipeline-notifier", &proxy.endpoint, &env).await;
    let count = |calls: &[String], name: &str| calls.iter().filter(|c| *c == name).count();

    let before = proxy.calls().len();
    let response =
        webhook.invoke(git_servers::delivery(Server::GitHub, Event::Push, &fake.url, "d-count", SECRET)).await;
    let answer = body_of(&response.response());
    let execution = answer["started"][0]["execution_id"].as_str().unwrap().to_owned();
    let start_calls = proxy.calls()[before..].to_vec();
    // Exactly once (the change's and the token's claims and completions), the record, the status
    // claim and its end, and the delivery answered 200 (written beside the status, for the
    // redelivery sweep: docs/operations.md "Missed deliveries").
    assert_eq!(count(&start_calls, "StartPipelineExecution"), 1, "{start_calls:?}");
    assert_eq!(
        count(&start_calls, "PutItem"),
        7,
        "change and token claims and completions, record, status claim, processed delivery: {start_calls:?}"
    );
    assert_eq!(count(&start_calls, "UpdateItem"), 1, "the status claim's end: {start_calls:?}");

    let before = proxy.calls().len();
    notifier
        .invoke(pipeline_event("pipeline-succeeded.json", "app", &execution, "SUCCEEDED", "count-done"))
        .await
        .response();
    let end_calls = proxy.calls()[before..].to_vec();
    assert_eq!(count(&end_calls, "PutItem"), 1, "the status claim: {end_calls:?}");
    assert_eq!(count(&end_calls, "UpdateItem"), 1, "its end: {end_calls:?}");
    assert_eq!(count(&end_calls, "GetItem"), 1, "the record; no read unless a claim is refused: {end_calls:?}");

    let before = proxy.calls().len();
    let late = notifier
        .invoke(pipeline_event("pipeline-started.json", "app", &execution, "STARTED", "count-late"))
        .await
        .response();
    assert_eq!(late["statuses"][0]["outcome"], "stale", "{late}");
    let late_calls = proxy.calls()[before..].to_vec();
    assert_eq!(count(&late_calls, "UpdateItem"), 0, "refused: nothing posted, nothing to end: {late_calls:?}");
    assert_eq!(fake.accepted().len(), 2, "pending and success only");
}
