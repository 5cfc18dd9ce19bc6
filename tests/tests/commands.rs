//! Commands from pull request comments, end to end (docs/commands.md "Commands from the pull request"):
//! the real `git-webhook` binary, moto (with the test shim answering the CodePipeline calls moto
//! lacks, as CodePipeline documents them), and fake Git servers that check each API's path,
//! authentication and body (GitHub's against its OpenAPI description) and describe the pull
//! request. Comment payloads: GitHub's `issue_comment` from @octokit/webhooks-examples; GitLab's
//! Note Hook and Gitea's `issue_comment` as their documentation shows them.

use herald_tests::events::body_of;
use herald_tests::git_servers::{self, Auth, Commenter, Event, FakeGitServer, FakePull, NewComment, Server};
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use serde_json::{json, Value};

const SECRET: &str = "herald-commands-secret";
const TEAM_B_SECRET: &str = "herald-team-b-secret";

/// The corpus pull requests: (server, number, head commit, source branch, target branch, fork).
const PULLS: [(Server, u64, &str, &str, &str, bool); 3] = [
    (Server::GitHub, 1, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "changes", "master", false),
    (Server::GitLab, 1, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "ms-viewport", "master", false),
    (Server::Gitea, 2, "48e773f892a831faa47c0a160d1b7f0cd369ae2a", "master", "master", true),
];

/// The corpus pull request of `server` in `state` (`open`, `closed`, `merged`): its number and
/// how the fake describes it.
fn corpus_pull(server: Server, state: &'static str) -> (u64, FakePull) {
    let (_, number, head, source, target, fork) = PULLS.iter().find(|p| p.0 == server).copied().unwrap();
    let pull = FakePull {
        head: head.into(),
        source_branch: source.into(),
        target_branch: target.into(),
        from_fork: fork,
        state,
    };
    (number, pull)
}

struct Setup {
    moto: Moto,
    webhook: Lambda,
    servers: Vec<(Server, FakeGitServer)>,
}

async fn setup(config: &str, pipelines: &[&str], servers: &[Server]) -> Setup {
    let moto = Moto::start();
    for pipeline in pipelines {
        moto.ctl(&["create-pipeline", pipeline]);
    }
    moto.ctl(&["create-table", "herald-dedup"]);
    let mut fakes = Vec::new();
    let mut credentials = json!({});
    for &server in servers {
        let fake = FakeGitServer::start(server, Auth::Token(format!("{}-token", server.key()))).await;
        let (key, value) = fake.credential_entry();
        credentials[key] = value;
        let (number, pull) = corpus_pull(server, "open");
        fake.set_pull_request(number, pull);
        // GitLab names writers by user id, Gitea by name.
        fake.set_writers(&["51", "ann"]);
        fakes.push((server, fake));
    }
    let secrets = json!({ "secrets": [SECRET], "named": { "team-b": [TEAM_B_SECRET] } }).to_string();
    let credentials = credentials.to_string();
    let env = [
        ("HERALD_CONFIG", config),
        ("HERALD_WEBHOOK_SECRET", secrets.as_str()),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("HERALD_STATUS_SECRET", credentials.as_str()),
    ];
    let webhook = Lambda::start("git-webhook", &moto.endpoint, &env).await;
    Setup { moto, webhook, servers: fakes }
}

/// Someone who may write: GitHub `OWNER`, GitLab user 51 (Developer), Gitea `ann` (write).
const WRITER: Commenter<'static> = Commenter { name: "ann", id: 51, association: "OWNER" };
/// Someone who may not: GitHub `NONE`, GitLab user 77 (no member), Gitea `mallory` (read).
const READER: Commenter<'static> = Commenter { name: "mallory", id: 77, association: "NONE" };

impl Setup {
    fn fake(&self, server: Server) -> &FakeGitServer {
        &self.servers.iter().find(|(s, _)| *s == server).unwrap().1
    }

    async fn deliver(&mut self, event: Value) -> Value {
        let response = self.webhook.invoke(event).await.response();
        assert_eq!(response["statusCode"], 200, "{response}");
        body_of(&response)
    }

    async fn pull_request(&mut self, server: Server, id: &str) -> Value {
        let event = git_servers::delivery(server, Event::PullRequest, &self.fake(server).url, id, SECRET);
        self.deliver(event).await
    }

    async fn comment(&mut self, server: Server, comment_id: u64, by: Commenter<'_>, text: &str) -> Value {
        self.comment_as(server, &format!("c-{comment_id}-{}", rand_suffix()), comment_id, by, text).await
    }

    async fn comment_as(&mut self, server: Server, id: &str, comment_id: u64, by: Commenter<'_>, text: &str) -> Value {
        let number = PULLS.iter().find(|p| p.0 == server).unwrap().1;
        let now = herald::clock::unix_now();
        self.fake(server).hold_comment(comment_id, by, text, now - 30);
        let url = self.fake(server).url.clone();
        let event =
            git_servers::comment_delivery(server, &url, id, SECRET, NewComment { id: comment_id, number, by, text });
        self.deliver(event).await
    }

    fn status(&self, pipeline: &str, execution_id: &str) -> String {
        self.moto.ctl(&["execution-status", pipeline, execution_id])["status"].as_str().unwrap().to_owned()
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

fn started_id(answer: &Value) -> String {
    answer["started"][0]["execution_id"].as_str().unwrap_or_else(|| panic!("nothing started: {answer}")).to_owned()
}

fn outcomes(answer: &Value) -> Vec<String> {
    answer["commands"]
        .as_array()
        .unwrap_or_else(|| panic!("no commands: {answer}"))
        .iter()
        .map(|c| c["outcome"].as_str().unwrap().to_owned())
        .collect()
}

/// A reply's text, in each server's words.
fn reply_text(arrival: &git_servers::Arrival) -> String {
    arrival.body["body"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn retry_on_github_gitlab_and_gitea_retries_the_failed_stage_and_only_for_writers() {
    let config = r#"{"triggers": [{"name": "build", "pipeline": "cmd-build",
      "git": {"repository": "**", "events": ["pull_request"], "allow_forks": true},
      "variables": {"MOTO_EXECUTION_STATUS": "Failed", "MOTO_FAILED_ACTION": "Build/Build"}}]}"#;
    let servers = [Server::GitHub, Server::GitLab, Server::Gitea];
    let mut s = setup(config, &["cmd-build"], &servers).await;
    for (i, server) in servers.into_iter().enumerate() {
        let execution = started_id(&s.pull_request(server, &format!("pr-{i}")).await);
        assert_eq!(s.status("cmd-build", &execution), "Failed");

        // Someone who cannot write changes nothing, and is told why.
        let refused = s.comment(server, 100 + i as u64, READER, "/herald retry").await;
        assert_eq!(outcomes(&refused), ["refused"], "{server:?}: {refused}");
        assert_eq!(s.status("cmd-build", &execution), "Failed", "{server:?}");
        let replies = s.fake(server).wait_comments(1).await;
        assert_eq!(replies.len(), 1, "{server:?}");
        assert!(reply_text(&replies[0]).contains("mallory"), "{server:?}: {}", reply_text(&replies[0]));

        // A writer's retry runs the failed stage again.
        let retried = s.comment(server, 200 + i as u64, WRITER, "Flaky test.\n/herald retry").await;
        assert_eq!(outcomes(&retried), ["retried"], "{server:?}: {retried}");
        assert_eq!(retried["commands"][0]["execution_id"], json!(execution));
        assert_eq!(s.status("cmd-build", &execution), "InProgress", "{server:?}");
        let replies = s.fake(server).wait_comments(2).await;
        assert_eq!(replies.len(), 2, "{server:?}: every reply reaches the server");
        let text = reply_text(&replies[1]);
        assert!(text.contains("| `/herald retry` | retrying stage Build | cmd-build |"), "{server:?}: {text}");
    }

    // The same comment delivered again (another delivery id) acts and replies once.
    let again = s.comment_as(Server::GitHub, "redelivered", 200, WRITER, "Flaky test.\n/herald retry").await;
    assert_eq!(again["duplicate"], json!(true), "{again}");
    assert_eq!(outcomes(&again), ["retried"], "the answer repeats what was done: {again}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(s.fake(Server::GitHub).comments().len(), 2, "no second reply");
    let pull_reads =
        s.fake(Server::GitHub).arrivals().iter().filter(|a| a.method == "GET" && a.path.contains("/pulls/")).count();
    assert_eq!(pull_reads, 2, "the duplicate reads nothing either");

    // The requests were GitHub's documented operations.
    let operations: Vec<String> =
        s.fake(Server::GitHub).arrivals().iter().filter_map(|a| a.operation.clone()).collect();
    assert!(operations.iter().any(|o| o == "/repos/{owner}/{repo}/pulls/{pull_number}"), "{operations:?}");
    assert!(operations.iter().any(|o| o == "/repos/{owner}/{repo}/issues/{issue_number}/comments"), "{operations:?}");
}

#[tokio::test]
async fn approve_stop_run_and_ok_to_test_on_github() {
    let config = r#"{"triggers": [
      {"name": "deploy", "pipeline": "cmd-deploy", "git": {"repository": "baxterthehacker/*", "events": ["pull_request"]},
       "variables": {"MOTO_WAITING_APPROVAL": "Build/Build"}},
      {"name": "docs", "pipeline": "cmd-docs", "git": {"repository": "baxterthehacker/*", "events": ["pull_request"], "paths": ["docs/**"]}},
      {"name": "forks", "pipeline": "cmd-forks", "git": {"repository": "baxterthehacker/*", "events": ["pull_request"], "allow_forks": "on-approval"}, "status": true},
      {"name": "team-b", "pipeline": "cmd-team-b", "secret": "team-b", "git": {"repository": "baxterthehacker/*", "events": ["pull_request"]}}
    ]}"#;
    let mut s = setup(config, &["cmd-deploy", "cmd-docs", "cmd-forks", "cmd-team-b"], &[Server::GitHub]).await;
    s.fake(Server::GitHub).set_files(&["src/app.rs"], 10);
    let opened = s.pull_request(Server::GitHub, "pr-1").await;
    let deploy = opened["started"].as_array().unwrap().iter().find(|x| x["trigger"] == "deploy").unwrap()
        ["execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(opened["skipped"].as_array().unwrap().iter().any(|x| x["trigger"] == "docs"), "{opened}");

    // Approve the waiting action, in the commenter's name.
    let approved = s.comment(Server::GitHub, 1, WRITER, "/herald approve ship it").await;
    assert_eq!(outcomes(&approved), ["approved"], "{approved}");
    let state = s.moto.ctl(&["pipeline-state", "cmd-deploy"]);
    let build = state["stages"].as_array().unwrap().iter().find(|x| x["stage"] == "Build").unwrap();
    let action = &build["actions"][0];
    assert_eq!(action["status"], "Succeeded", "{state}");
    assert_eq!(action["summary"], "approved by ann in baxterthehacker/public-repo #1: ship it", "{state}");

    // Stop the running execution (a finished one is left alone).
    let stopped = s.comment(Server::GitHub, 2, WRITER, "/herald stop").await;
    assert_eq!(outcomes(&stopped), ["stopped"], "{stopped}");
    assert_eq!(stopped["commands"][0]["execution_id"], json!(deploy));
    assert_eq!(s.status("cmd-deploy", &deploy), "Stopping");

    // Run the trigger the path filter skipped.
    assert!(s.moto.executions("cmd-docs").is_empty());
    let ran = s.comment(Server::GitHub, 3, WRITER, "/herald run docs").await;
    assert_eq!(outcomes(&ran), ["started"], "{ran}");
    assert_eq!(s.moto.executions("cmd-docs").len(), 1);

    // A trigger of another secret scope is not one this delivery may name, nor run.
    let other = s.comment(Server::GitHub, 4, WRITER, "/herald run team-b").await;
    assert_eq!(outcomes(&other), ["refused"], "{other}");
    assert!(s.moto.executions("cmd-team-b").is_empty());

    // A fork's pull request waits for ok-to-test, with a pending status saying so.
    let fork_head = "e3c5b7a1f4d2c6b8a0e9f1d3c5b7a9e1f3d5c7b9";
    s.fake(Server::GitHub).set_pull_request(
        1,
        FakePull {
            head: fork_head.into(),
            source_branch: "changes".into(),
            target_branch: "master".into(),
            from_fork: true,
            state: "open",
        },
    );
    let before = s.fake(Server::GitHub).accepted().len();
    let url = s.fake(Server::GitHub).url.clone();
    let fork = git_servers::delivery_with(Server::GitHub, Event::PullRequest, &url, "pr-fork", SECRET, |b| {
        b["action"] = json!("synchronize");
        b["pull_request"]["head"]["sha"] = json!(fork_head);
        b["pull_request"]["head"]["repo"]["full_name"] = json!("someone-else/public-repo");
        b["pull_request"]["head"]["repo"]["id"] = json!(99);
    });
    let waiting = s.deliver(fork).await;
    assert_eq!(waiting["started"], json!([]), "{waiting}");
    let forks_before = s.moto.executions("cmd-forks").len();
    let statuses = s.fake(Server::GitHub).wait_accepted(before + 1).await;
    let pending = statuses.last().unwrap();
    assert_eq!((pending["state"].as_str(), pending["context"].as_str()), (Some("pending"), Some("herald/cmd-forks")));
    assert!(pending["description"].as_str().unwrap().contains("waiting for /herald ok-to-test"), "{pending}");

    let refused = s.comment(Server::GitHub, 5, READER, "/herald ok-to-test").await;
    assert_eq!(outcomes(&refused), ["refused"], "{refused}");
    let ok = s.comment(Server::GitHub, 6, WRITER, "/herald ok-to-test").await;
    assert_eq!(outcomes(&ok), ["started"], "{ok}");
    assert_eq!(s.moto.executions("cmd-forks").len(), forks_before + 1);
    let again = s.comment(Server::GitHub, 7, WRITER, "/herald ok-to-test").await;
    assert_eq!(outcomes(&again), ["nothing"], "once per head commit: {again}");
    assert_eq!(s.moto.executions("cmd-forks").len(), forks_before + 1);
    assert_eq!(s.fake(Server::GitHub).wait_comments(7).await.len(), 7, "every command comment got its reply");
}

#[tokio::test]
async fn forged_unsigned_and_edited_comments_do_nothing() {
    let config = r#"{"triggers": [{"name": "build", "pipeline": "cmd-build", "git": {"repository": "**", "events": ["pull_request"]}}]}"#;
    let mut s = setup(config, &["cmd-build"], &[Server::GitHub]).await;
    let url = s.fake(Server::GitHub).url.clone();
    let forged = git_servers::comment_delivery(Server::GitHub, &url, "f-1", "not-the-secret", run(1));
    let mut unsigned = git_servers::comment_delivery(Server::GitHub, &url, "f-2", SECRET, run(2));
    unsigned["headers"].as_object_mut().unwrap().retain(|k, _| !k.to_ascii_lowercase().starts_with("x-hub-signature"));
    for event in [forged, unsigned] {
        let response = s.webhook.invoke(event).await.response();
        assert_eq!(response["statusCode"], 401, "{response}");
    }
    // An edited comment is not a new one: GitHub's own `edited` example, its body a command.
    let edited = git_servers::comment_delivery(Server::GitHub, &url, "f-3", SECRET, run(3));
    let edited = resign_as_edited(edited);
    let answer = s.deliver(edited).await;
    assert!(answer["ignored"].as_str().unwrap_or_default().contains("edited"), "{answer}");
    assert!(s.moto.executions("cmd-build").is_empty());
    assert!(s.fake(Server::GitHub).arrivals().is_empty(), "nothing asked of the server");
}

/// A writer's `/herald run`, comment `id` on pull request 1.
fn run(id: u64) -> NewComment<'static> {
    NewComment { id, number: 1, by: WRITER, text: "/herald run" }
}

/// `event`'s payload with `action: edited`, signed again with the test secret.
fn resign_as_edited(event: Value) -> Value {
    let mut body: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    body["action"] = json!("edited");
    let bytes = body.to_string().into_bytes();
    let hex = herald::auth::sign_hex(&herald::auth::Secret::new(SECRET), &bytes);
    let headers = [
        ("X-GitHub-Event", "issue_comment"),
        ("X-GitHub-Delivery", "f-3"),
        ("X-Hub-Signature-256", &format!("sha256={hex}")),
        ("Content-Type", "application/json"),
    ];
    herald_tests::events::function_url("POST", &headers, &bytes, false)
}

/// What a command costs, counted through a proxy before moto: a `/herald retry` takes the
/// comment's claim and its completion, its own effect's and intent's records (2 writes each: once
/// per command), one query of the by-commit index, and one
/// `GetPipelineExecution`, `GetPipelineState` and `RetryStageExecution`; a start of a trigger
/// without `status` writes its record by commit beside the change's and the token's claims.
#[tokio::test]
async fn a_retry_costs_a_claim_a_query_and_three_codepipeline_calls() {
    use herald_tests::faults::FaultProxy;
    let config = r#"{"triggers": [{"name": "build", "pipeline": "cmd-build", "git": {"repository": "**", "events": ["pull_request"]},
      "variables": {"MOTO_EXECUTION_STATUS": "Failed", "MOTO_FAILED_ACTION": "Build/Build"}}]}"#;
    let fake = FakeGitServer::start(Server::GitHub, Auth::Token("github-token".into())).await;
    let (number, pull) = corpus_pull(Server::GitHub, "open");
    fake.set_pull_request(number, pull);
    fake.set_writers(&["ann"]);
    let (key, value) = fake.credential_entry();
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", "cmd-build"]);
    moto.ctl(&["create-table", "herald-dedup"]);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let credentials = json!({ key: value }).to_string();
    let env = [
        ("HERALD_CONFIG", config),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("HERALD_STATUS_SECRET", credentials.as_str()),
        ("HERALD_WEBHOOK_SECRET", SECRET),
    ];
    let mut webhook = Lambda::start("git-webhook", &proxy.endpoint, &env).await;
    let count = |calls: &[String], name: &str| calls.iter().filter(|c| *c == name).count();

    let before = proxy.calls().len();
    let opened =
        webhook.invoke(git_servers::delivery(Server::GitHub, Event::PullRequest, &fake.url, "pr", SECRET)).await;
    assert_eq!(body_of(&opened.response())["started"].as_array().unwrap().len(), 1);
    let start_calls = proxy.calls()[before..].to_vec();
    assert_eq!(
        count(&start_calls, "PutItem"),
        6,
        "the change's and the token's claims and completions, the record by commit, the delivery answered 200 (docs/operations.md \"Missed deliveries\"): {start_calls:?}"
    );

    let before = proxy.calls().len();
    let retry = NewComment { id: 9, number, by: WRITER, text: "/herald retry" };
    let now = herald::clock::unix_now();
    fake.hold_comment(9, WRITER, "/herald retry", now - 30);
    let clock = std::time::Instant::now();
    let answer = webhook.invoke(git_servers::comment_delivery(Server::GitHub, &fake.url, "c", SECRET, retry)).await;
    let elapsed = clock.elapsed();
    let answer = body_of(&answer.response());
    assert_eq!(outcomes(&answer), ["retried"], "{answer}");
    let calls = proxy.calls()[before..].to_vec();
    eprintln!("a /herald retry: {} AWS calls {calls:?}, answered in {} ms", calls.len(), elapsed.as_millis());
    assert_eq!(
        count(&calls, "PutItem"),
        7,
        "the comment's claim and its completion, the delivery answered 200, and the retry's own \
         records (once per command: its effect's claim and completion, its intent's claim and record): {calls:?}"
    );
    for call in ["Query", "GetPipelineExecution", "GetPipelineState", "RetryStageExecution"] {
        assert_eq!(count(&calls, call), 1, "{call}: {calls:?}");
    }
    assert_eq!(calls.len(), 11, "nothing else: {calls:?}");
}

/// `/herald run` starts only what an open pull request may start: never a trigger that deploys
/// on `merged` (a command runs the unmerged head), and nothing once the pull request is closed
/// or merged, as its server says; the reply says why (GitHub, GitLab and Gitea).
#[tokio::test]
async fn run_never_starts_a_merge_only_trigger_nor_a_closed_pull_request() {
    let config = r#"{"triggers": [
      {"name": "build", "pipeline": "cmd-build", "git": {"repository": "**", "events": ["pull_request"], "allow_forks": true}},
      {"name": "deploy", "pipeline": "cmd-deploy", "git": {"repository": "**", "events": ["pull_request"], "pull_request_actions": ["merged"], "allow_forks": true}}
    ]}"#;
    let servers = [Server::GitHub, Server::GitLab, Server::Gitea];
    let mut s = setup(config, &["cmd-build", "cmd-deploy"], &servers).await;
    for (i, server) in servers.into_iter().enumerate() {
        let by = WRITER;
        let named = s.comment(server, 10 + i as u64, by, "/herald run deploy").await;
        assert_eq!(outcomes(&named), ["nothing"], "{server:?}: {named}");
        let reason = named["commands"][0]["reason"].as_str().unwrap_or_default().to_owned();
        assert!(reason.contains("starts only on merged pull requests"), "{server:?}: {reason}");
        // Every trigger: the build starts, the deploy says why not.
        let all = s.comment(server, 20 + i as u64, by, "/herald run").await;
        assert_eq!(outcomes(&all), ["started", "nothing"], "{server:?}: {all}");
        assert_eq!(all["commands"][0]["pipeline"], "cmd-build", "{server:?}: {all}");
        assert_eq!(all["commands"][1]["pipeline"], "cmd-deploy", "{server:?}: {all}");
        // Closed (or merged), as its server says now: nothing starts.
        for state in ["closed", "merged"] {
            let (number, pull) = corpus_pull(server, state);
            s.fake(server).set_pull_request(number, pull);
            let id = 30 + i as u64 * 2 + u64::from(state == "merged");
            let closed = s.comment(server, id, by, "/herald run").await;
            assert_eq!(outcomes(&closed), ["nothing"], "{server:?} {state}: {closed}");
            let why = closed["commands"][0]["reason"].as_str().unwrap_or_default();
            assert!(why.contains(&format!("is {state}: nothing is started")), "{server:?}: {why}");
        }
    }
    assert!(s.moto.executions("cmd-deploy").is_empty(), "the merge-only trigger never started");
    assert_eq!(s.moto.executions("cmd-build").len(), 3, "one per server, while open");
}

/// GitHub: `author_association` is not a permission. A read-only organization member
/// (`MEMBER`) and a triage collaborator (`COLLABORATOR`) are refused on the collaborator
/// permission API's word (one of GitHub's OpenAPI operations, checked by the fake); the writer
/// acts; a `CONTRIBUTOR` is refused without a request.
#[tokio::test]
async fn read_only_members_and_triage_collaborators_do_nothing_on_github() {
    let config = r#"{"triggers": [{"name": "build", "pipeline": "cmd-build", "git": {"repository": "**", "events": ["pull_request"]}}]}"#;
    let mut s = setup(config, &["cmd-build"], &[Server::GitHub]).await;
    let member = Commenter { name: "mallory", id: 78, association: "MEMBER" };
    let triage = Commenter { name: "tricia", id: 79, association: "COLLABORATOR" };
    for (i, by) in [member, triage].into_iter().enumerate() {
        let answer = s.comment(Server::GitHub, 40 + i as u64, by, "/herald run").await;
        assert_eq!(outcomes(&answer), ["refused"], "{}: {answer}", by.name);
        let why = answer["commands"][0]["reason"].as_str().unwrap_or_default();
        assert!(why.contains("cannot write to"), "{}: {why}", by.name);
    }
    let asked: Vec<String> = s
        .fake(Server::GitHub)
        .arrivals()
        .into_iter()
        .filter(|a| a.path.contains("/collaborators/"))
        .map(|a| a.path)
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(s.fake(Server::GitHub).arrivals().iter().all(|a| a.problem.is_none()), "every request is GitHub's");
    let contributor = Commenter { name: "eve", id: 80, association: "CONTRIBUTOR" };
    assert_eq!(outcomes(&s.comment(Server::GitHub, 43, contributor, "/herald run").await), ["refused"]);
    let asked_now = s.fake(Server::GitHub).arrivals().iter().filter(|a| a.path.contains("/collaborators/")).count();
    assert_eq!(asked_now, 2, "a CONTRIBUTOR is refused without asking");
    assert!(s.moto.executions("cmd-build").is_empty());
    let writer = s.comment(Server::GitHub, 44, WRITER, "/herald run").await;
    assert_eq!(outcomes(&writer), ["started"], "{writer}");
}

/// Who wrote a comment and what it says are the server's (GitHub, GitLab, Gitea): a payload
/// signed with the webhook secret that names a writer for a reader's comment acts as the reader
/// (refused); a text the server does not hold, and a comment written three days ago, do nothing,
/// each with a reply saying why; nothing starts.
#[tokio::test]
async fn forged_authors_unheld_texts_and_old_comments_do_nothing() {
    let config = r#"{"triggers": [{"name": "build", "pipeline": "cmd-build", "git": {"repository": "**", "events": ["pull_request"], "allow_forks": true}}]}"#;
    let servers = [Server::GitHub, Server::GitLab, Server::Gitea];
    let mut s = setup(config, &["cmd-build"], &servers).await;
    let now = herald::clock::unix_now();
    for (i, server) in servers.into_iter().enumerate() {
        let number = PULLS.iter().find(|p| p.0 == server).unwrap().1;
        let url = s.fake(server).url.clone();
        let base = 100 + 10 * i as u64;
        let deliver = |id: u64, by| {
            git_servers::comment_delivery(
                server,
                &url,
                &format!("h-{id}"),
                SECRET,
                NewComment { id, number, by, text: "/herald run" },
            )
        };
        // The payload says the writer wrote it; the server says the reader did.
        s.fake(server).hold_comment(base, READER, "/herald run", now - 30);
        let forged = s.deliver(deliver(base, WRITER)).await;
        assert_eq!(outcomes(&forged), ["refused"], "{server:?}: {forged}");
        // The server holds another text under that id.
        s.fake(server).hold_comment(base + 1, WRITER, "thanks!", now - 30);
        let unheld = s.deliver(deliver(base + 1, WRITER)).await;
        assert_eq!(outcomes(&unheld), ["refused"], "{server:?}: {unheld}");
        assert!(unheld["commands"][0]["reason"].as_str().unwrap().contains("not what its server holds"), "{unheld}");
        // Written three days ago: a replayed delivery.
        s.fake(server).hold_comment(base + 2, WRITER, "/herald run", now - 3 * 86_400);
        let old = s.deliver(deliver(base + 2, WRITER)).await;
        assert_eq!(outcomes(&old), ["refused"], "{server:?}: {old}");
        assert!(old["commands"][0]["reason"].as_str().unwrap().contains("more than 24"), "{old}");
        // A comment the server does not have at all.
        let none = s.deliver(deliver(base + 3, WRITER)).await;
        assert_eq!(outcomes(&none), ["refused"], "{server:?}: {none}");
        let replies = s.fake(server).comments().len();
        assert_eq!(replies, 3, "{server:?}: a reply for each but the comment it does not hold");
        // Every request is one its server describes (the one 404 is the comment it lacks).
        let arrivals = s.fake(server).arrivals();
        assert!(arrivals.iter().filter(|a| a.status != 404).all(|a| a.problem.is_none()), "{server:?}: {arrivals:?}");
    }
    assert!(s.moto.executions("cmd-build").is_empty(), "nothing started");
}
