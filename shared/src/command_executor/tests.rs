//! The rules of commands on in-memory ports: who may (approvers, `commands.allow`,
//! `commands.users` where the server's permissions are not read), the retry fallback, the
//! Bitbucket Cloud head resolved, and a failure before any effect given back for a retry.

use super::*;
use crate::change::{CommentAuthor, ProviderKind, ServerAddress};
use crate::ports::fakes::{FakeControl, FakeDedup, FakeGroups, FakeHistory, FakeHttp, FakeRecords, FakeStarter};
use crate::ports::{GroupMember, GroupMembers, StageState};
use crate::secrets::Secrets;

const HEAD: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const NOW: i64 = 1_700_000_000;

struct Harness {
    executor: CommandExecutor,
    http: Arc<FakeHttp>,
    dedup: Arc<FakeDedup>,
    control: Arc<FakeControl>,
    starter: Arc<FakeStarter>,
}

fn config(commands: &str) -> Config {
    Config::from_json(&format!(
        r#"{{"triggers": [{{"name": "app", "pipeline": "app-pipeline", "source_action": "Source",
             "git": {{"repository": "acme/app", "events": ["push", "pull_request"]}}}}] {commands} }}"#
    ))
    .unwrap()
}

fn harness(http: FakeHttp, history: FakeHistory, control: FakeControl, records: FakeRecords) -> Harness {
    harness_with(http, history, Arc::new(control), records, None)
}

/// A harness whose starts join concurrency groups held by `groups`.
fn harness_with(
    http: FakeHttp,
    history: FakeHistory,
    control: Arc<FakeControl>,
    records: FakeRecords,
    groups: Option<Arc<FakeGroups>>,
) -> Harness {
    let credentials = Credentials::parse(
        r#"{"github": {"token": "ghp-1"}, "gitlab": {"token": "glpat-1"}, "bitbucket-cloud": {"username": "bot", "app_password": "pw"},
            "azure-devops": {"token": "pat", "organization": "fabrikam"}}"#,
    )
    .unwrap();
    let http = Arc::new(http);
    let dedup = Arc::new(FakeDedup::default());
    let starter = Arc::new(FakeStarter::default());
    let groups = groups.map(|g| Arc::new(crate::concurrency::Groups::new(g, control.clone(), None)));
    let ports = CommandPorts {
        dedup: dedup.clone(),
        records: Arc::new(records),
        control: control.clone(),
        history: Arc::new(history),
    };
    let policy = crate::git_api::RetryPolicy {
        attempts: 1,
        timeout: std::time::Duration::from_secs(1),
        backoff: std::time::Duration::ZERO,
    };
    let executor = CommandExecutor::new(
        Arc::new(Secrets::Fixed(Arc::new(credentials))),
        GitApi::new(http.clone(), policy),
        ports,
        StartRunner::new(starter.clone(), None, false).with_groups(groups),
        None,
        "us-east-1",
    );
    Harness { executor, http, dedup, control, starter }
}

fn github_pull() -> FakeHttp {
    let mut http = FakeHttp::default();
    let pull = json!({ "head": { "ref": "feature", "sha": HEAD, "repo": { "full_name": "acme/app" } },
                       "base": { "ref": "main", "repo": { "full_name": "acme/app" } } });
    http.bodies.insert("/repos/acme/app/pulls/7".into(), pull.to_string());
    with_permissions(&mut http);
    http
}

/// GitHub's collaborator permission answers: ann and lead write, mallory (an organization
/// member) reads, tricia triages.
fn with_permissions(http: &mut FakeHttp) {
    for (user, permission, role) in [
        ("ann", "admin", "admin"),
        ("lead", "write", "maintain"),
        ("mallory", "read", "read"),
        ("tricia", "read", "triage"),
    ] {
        http.bodies.insert(
            format!("/repos/acme/app/collaborators/{user}/permission"),
            json!({ "permission": permission, "role_name": role, "user": { "login": user } }).to_string(),
        );
    }
}

fn record(provider: &str, host: &str) -> ExecutionRecord {
    ExecutionRecord {
        execution_id: "exec-old".into(),
        pipeline: "app-pipeline".into(),
        trigger: "app".into(),
        provider: provider.into(),
        host: host.into(),
        organization: None,
        repository: "acme/app".into(),
        scope: None,
        commit: HEAD.into(),
        context: String::new(),
        stages: false,
        started_at: NOW - 60,
        stop_reason: None,
    }
}

fn records_of(record: ExecutionRecord) -> FakeRecords {
    let records = FakeRecords::default();
    records.records.lock().unwrap().insert(record.execution_id.clone(), record);
    records
}

fn comment(provider: ProviderKind, host: &str, by: &str, association: &str, body: &str) -> Comment {
    Comment {
        provider,
        delivery: "d-1".into(),
        repository: "acme/app".into(),
        server: Some(ServerAddress { host: host.into(), organization: None }),
        id: (by.bytes().map(u64::from).sum::<u64>() * 1000 + body.len() as u64).to_string(),
        pull_request: 7,
        author: CommentAuthor { name: by.into(), id: None, association: Some(association.into()) },
        body: body.into(),
    }
}

/// The server holds `comment` as delivered, written a minute before NOW.
fn hold(h: &Harness, comment: &Comment) {
    hold_as(h, comment, &comment.body, NOW - 60);
}

/// The server holds comment `comment.id` with `body`, by its author, written at `at`.
fn hold_as(h: &Harness, comment: &Comment, body: &str, at: i64) {
    let when = aws_smithy_types::DateTime::from_secs(at).fmt(aws_smithy_types::date_time::Format::DateTime).unwrap();
    let author = &comment.author;
    let (suffix, copy) = match comment.provider {
        ProviderKind::GitHub | ProviderKind::Gitea | ProviderKind::Forgejo => (
            format!("/issues/comments/{}", comment.id),
            json!({ "body": body, "user": { "login": author.name }, "author_association": author.association, "created_at": when }),
        ),
        ProviderKind::GitLab => (
            format!("/notes/{}", comment.id),
            json!({ "body": body, "author": { "username": author.name, "id": author.id.as_deref().and_then(|i| i.parse::<u64>().ok()) }, "created_at": when }),
        ),
        ProviderKind::BitbucketCloud => (
            format!("/comments/{}", comment.id),
            json!({ "content": { "raw": body }, "user": { "account_id": author.name, "uuid": author.id }, "created_on": when }),
        ),
        ProviderKind::AzureDevOps => {
            let (thread, id) = comment.id.split_once('/').unwrap_or(("1", comment.id.as_str()));
            (
                format!("/threads/{thread}/comments/{id}?api-version=7.1"),
                json!({ "content": body, "author": { "uniqueName": author.name }, "publishedDate": when }),
            )
        }
        other => panic!("no comment copy for {other:?} here"),
    };
    h.http.held.lock().unwrap().insert(suffix, copy.to_string());
}

async fn run(h: &Harness, config: &Config, comment: &Comment) -> CommentAnswer {
    if !h.http.held.lock().unwrap().keys().any(|k| k.ends_with(&comment.id) || k.contains(&format!("/{}?", comment.id)))
    {
        hold(h, comment);
    }
    let scope = SecretScope::Default;
    let lines = CommandExecutor::lines(config, &scope, comment);
    h.executor.handle(config, &scope, comment, &lines, NOW).await
}

fn outcomes(answer: &CommentAnswer) -> Vec<(String, String)> {
    let CommentAnswer::Done { commands } = answer else { panic!("{answer:?}") };
    commands.iter().map(|c| (c["outcome"].as_str().unwrap().into(), c["reason"].as_str().unwrap().into())).collect()
}

fn waiting_approval() -> FakeControl {
    FakeControl {
        stages: vec![StageState {
            stage: "Deploy".into(),
            execution_id: Some("exec-old".into()),
            status: Some("InProgress".into()),
            approvals: vec![("Approve".into(), "token-1".into())],
        }],
        ..FakeControl::default()
    }
}

#[tokio::test]
async fn approvers_alone_approve_and_commands_allow_limits_the_verbs() {
    let config = config(r#", "commands": {"approvers": ["lead"], "allow": ["approve", "retry"]}"#);
    let h = harness(
        github_pull(),
        FakeHistory::default(),
        waiting_approval(),
        records_of(record("github", "api.github.com")),
    );
    let by_ann =
        comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald approve ship it\n/herald stop");
    let answer = outcomes(&run(&h, &config, &by_ann).await);
    assert_eq!(answer[0], ("refused".into(), "ann is not one of the approvers (commands.approvers)".into()));
    assert_eq!(answer[1], ("refused".into(), "/herald stop is not enabled here (commands.allow)".into()));
    assert!(h.control.answers.lock().unwrap().is_empty());

    let by_lead = comment(ProviderKind::GitHub, "api.github.com", "lead", "MEMBER", "/herald approve ship it");
    assert_eq!(outcomes(&run(&h, &config, &by_lead).await)[0].0, "approved");
    let answered = h.control.answers.lock().unwrap().clone();
    assert_eq!(answered.len(), 1);
    assert_eq!(
        (answered[0].stage.as_str(), answered[0].action.as_str(), answered[0].token.as_str()),
        ("Deploy", "Approve", "token-1")
    );
    assert_eq!(answered[0].summary, "approved by lead in acme/app #7: ship it");
    assert!(answered[0].approved);

    // An approver must also pass the server's rule.
    let outsider = comment(ProviderKind::GitHub, "api.github.com", "lead", "CONTRIBUTOR", "/herald approve");
    let (outcome, why) = outcomes(&run(&h, &config, &outsider).await).remove(0);
    assert_eq!(outcome, "refused");
    assert!(why.contains("CONTRIBUTOR"), "{why}");
}

#[tokio::test]
async fn servers_whose_permissions_are_not_read_need_commands_users() {
    // Bitbucket Cloud names 12 characters of the head: the full id is asked of the server.
    let mut http = FakeHttp::default();
    let pull = json!({ "source": { "branch": { "name": "feature" }, "commit": { "hash": &HEAD[..12] }, "repository": { "full_name": "acme/app" } },
                       "destination": { "branch": { "name": "main" }, "repository": { "full_name": "acme/app" } } });
    http.bodies.insert("/repositories/acme/app/pullrequests/7".into(), pull.to_string());
    http.bodies.insert(format!("/repositories/acme/app/commit/{}", &HEAD[..12]), json!({ "hash": HEAD }).to_string());
    let history = FakeHistory { execution_status: Some("InProgress".into()), ..FakeHistory::default() };
    let records = records_of(record("bitbucket-cloud", "api.bitbucket.org"));
    let h = harness(http, history, FakeControl::default(), records);
    let stop = comment(ProviderKind::BitbucketCloud, "api.bitbucket.org", "ann", "", "/herald stop");
    let (outcome, why) = outcomes(&run(&h, &config(""), &stop).await).remove(0);
    assert_eq!(outcome, "refused");
    assert_eq!(why, "Herald does not read bitbucket-cloud permissions per user: list who may in commands.users");

    let config = config(r#", "commands": {"users": ["ann"]}"#);
    let stop =
        comment(ProviderKind::BitbucketCloud, "api.bitbucket.org", "ann", "", "/herald stop\n/herald stop please");
    let answer = outcomes(&run(&h, &config, &stop).await);
    assert_eq!(answer[0].0, "stopped", "{answer:?}");
    assert_eq!(*h.control.calls.lock().unwrap(), ["stop exec-old stopped by ann in acme/app #7"]);
    assert_eq!(answer[1].0, "refused", "a word that names no trigger: {answer:?}");
    let requests = h.http.requests.lock().unwrap().clone();
    assert!(requests.iter().all(|r| r.url.starts_with("https://api.bitbucket.org/2.0/repositories/acme/app/")));
    assert!(requests.iter().any(|r| r.url.ends_with("/pullrequests/7/comments")), "the reply");
}

#[tokio::test]
async fn a_run_in_a_concurrency_group_stops_the_older_execution_and_says_so() {
    let config = Config::from_json(
        r#"{"triggers": [{"name": "app", "pipeline": "app-pipeline", "source_action": "Source",
             "git": {"repository": "acme/app", "events": ["pull_request"]}, "concurrency": {"cancel_in_progress": true}}]}"#,
    )
    .unwrap();
    let groups = Arc::new(FakeGroups::default());
    let older = GroupMember {
        execution_id: "exec-older".into(),
        pipeline: "app-pipeline".into(),
        commit: "a".repeat(40),
        started_at: NOW - 600,
        pull_request: Some(7),
    };
    groups
        .groups
        .lock()
        .unwrap()
        .insert(("app".into(), "pull_request:acme/app#7".into()), GroupMembers { members: vec![older], version: 1 });
    let control = Arc::new(FakeControl::default());
    let h = harness_with(
        github_pull(),
        FakeHistory::default(),
        control.clone(),
        FakeRecords::default(),
        Some(groups.clone()),
    );
    let run_it = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald run");
    let (outcome, why) = outcomes(&run(&h, &config, &run_it).await).remove(0);
    assert_eq!(outcome, "started", "{why}");
    assert_eq!(why, "started, pinned to 6dcb09b; stopped the older execution of its concurrency group");
    assert_eq!(*control.calls.lock().unwrap(), ["stop exec-older superseded by 6dcb09b (herald)"]);
    assert_eq!(groups.ids("app", "acme/app#7"), ["exec-1"], "the run is the group's newest");
}

#[tokio::test]
async fn a_retry_codepipeline_refuses_starts_the_head_again_pinned() {
    let history = FakeHistory { execution_status: Some("Failed".into()), ..FakeHistory::default() };
    let control = FakeControl {
        stages: vec![StageState {
            stage: "Build".into(),
            execution_id: Some("exec-old".into()),
            status: Some("Failed".into()),
            approvals: Vec::new(),
        }],
        refuse_retry: Some("StageNotRetryableException: no failed actions".into()),
        ..FakeControl::default()
    };
    let h = harness(github_pull(), history, control, records_of(record("github", "api.github.com")));
    let retry = comment(ProviderKind::GitHub, "api.github.com", "ann", "COLLABORATOR", "/herald retry");
    let (outcome, why) = outcomes(&run(&h, &config(""), &retry).await).remove(0);
    assert_eq!(outcome, "started", "{why}");
    assert!(why.contains("StageNotRetryableException"), "{why}");
    assert_eq!(*h.control.calls.lock().unwrap(), ["retry Build exec-old"]);
    let started = h.starter.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].source_revisions[0].revision_value, HEAD, "pinned to the head the server named");

    // A retry of what did not fail does nothing, and says why.
    let history = FakeHistory { execution_status: Some("Succeeded".into()), ..FakeHistory::default() };
    let h = harness(github_pull(), history, FakeControl::default(), records_of(record("github", "api.github.com")));
    let (outcome, why) = outcomes(&run(&h, &config(""), &retry).await).remove(0);
    assert_eq!((outcome.as_str(), why.as_str()), ("nothing", "execution is Succeeded, not Failed: nothing to retry"));
}

#[tokio::test]
async fn a_server_failure_before_any_effect_gives_the_claim_back_for_the_retry() {
    let http = github_pull();
    *http.answers.lock().unwrap() = vec![503];
    let h = harness(http, FakeHistory::default(), waiting_approval(), records_of(record("github", "api.github.com")));
    let approve = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald approve");
    let config = config("");
    let CommentAnswer::Retry { reason, .. } = run(&h, &config, &approve).await else { panic!("a retry") };
    assert!(reason.contains("503"), "{reason}");
    assert!(h.control.answers.lock().unwrap().is_empty());
    assert!(
        h.dedup.records.lock().unwrap().values().all(|(done, _)| done.is_some()),
        "the failed claim was given back"
    );
    // The redelivery acts, and the next one is a duplicate.
    assert_eq!(outcomes(&run(&h, &config, &approve).await)[0].0, "approved");
    assert!(matches!(run(&h, &config, &approve).await, CommentAnswer::Duplicate { .. }));
    assert_eq!(h.control.answers.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn each_command_is_a_command_run_event_and_a_dry_run_does_nothing() {
    let h = harness(
        github_pull(),
        FakeHistory::default(),
        waiting_approval(),
        records_of(record("github", "api.github.com")),
    );
    let approve = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald approve\n/herald deploy");
    let CommentAnswer::Done { commands } = run(&h, &config(""), &approve).await else { panic!() };
    let sent = events(&approve, &commands);
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|e| e.detail_type == "Command Run"));
    let detail = &sent[0].detail;
    assert_eq!(
        (&detail["user"], &detail["command"], &detail["outcome"], &detail["execution_id"], &detail["pull_request"]),
        (&json!("ann"), &json!("/herald approve"), &json!("approved"), &json!("exec-old"), &json!(7))
    );
    assert_eq!(sent[1].detail["outcome"], "refused");

    let dry = CommandExecutor::new(
        Arc::new(Secrets::Fixed(Arc::new(Credentials::none()))),
        GitApi::new(h.http.clone(), crate::git_api::RetryPolicy::LOOKUP),
        CommandPorts {
            dedup: h.dedup.clone(),
            records: Arc::new(FakeRecords::default()),
            control: h.control.clone(),
            history: Arc::new(FakeHistory::default()),
        },
        StartRunner::new(h.starter.clone(), None, true),
        None,
        "us-east-1",
    );
    let again = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald approve again");
    let lines = CommandExecutor::lines(&config(""), &SecretScope::Default, &again);
    let answer = dry.handle(&config(""), &SecretScope::Default, &again, &lines, NOW).await;
    let CommentAnswer::Done { commands } = answer else { panic!() };
    assert_eq!(commands[0]["outcome"], "dry_run");
    assert_eq!(h.control.answers.lock().unwrap().len(), 1, "nothing answered in a dry run");
}

#[tokio::test]
async fn a_permission_the_credential_cannot_read_refuses_and_says_what_to_do() {
    // The comment, the merge request, then the permission.
    let mut http = FakeHttp::answering(&[200, 200, 403]);
    let merge_request = json!({ "sha": HEAD, "target_branch": "main", "source_branch": "f", "source_project_id": 5, "target_project_id": 5 });
    http.bodies.insert("/merge_requests/7".into(), merge_request.to_string());
    let h = harness(http, FakeHistory::default(), FakeControl::default(), FakeRecords::default());
    let mut stop = comment(ProviderKind::GitLab, "gitlab.com", "ann", "", "/herald stop");
    stop.author.id = Some("17".into());
    let (outcome, why) = outcomes(&run(&h, &config(""), &stop).await).remove(0);
    assert_eq!(outcome, "refused");
    assert!(why.starts_with("could not read ann's permission (gitlab.com answered 403"), "{why}");
    assert!(why.ends_with("list who may in commands.users"), "{why}");
    let urls: Vec<String> = h.http.requests.lock().unwrap().iter().map(|r| r.url.clone()).collect();
    assert!(urls[0].ends_with(&format!("/merge_requests/7/notes/{}", stop.id)), "the copy first: {urls:?}");
    assert_eq!(urls[2], "https://gitlab.com/api/v4/projects/acme%2Fapp/members/all/17");
    assert!(urls[3].ends_with("/merge_requests/7/notes"), "the reply says so: {urls:?}");
}

/// An organization hook and a repository hook of two secret scopes deliver the same comment:
/// the claim is the scope's, so each scope's commands act once, and neither swallows the other's.
#[tokio::test]
async fn two_scopes_delivering_one_comment_each_act_once() {
    let h = harness(github_pull(), FakeHistory::default(), FakeControl::default(), FakeRecords::default());
    let config = Config::from_json(
        r#"{"triggers": [
            {"name": "org", "pipeline": "org-pipeline", "git": {"repository": "acme/app", "events": ["pull_request"]}},
            {"name": "team", "pipeline": "team-pipeline", "secret": "team-a", "git": {"repository": "acme/app", "events": ["pull_request"]}}
        ]}"#,
    )
    .unwrap();
    let by = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald run");
    hold(&h, &by);
    let mut started = Vec::new();
    for scope in [SecretScope::Default, SecretScope::Named("team-a".into()), SecretScope::Default] {
        let lines = CommandExecutor::lines(&config, &scope, &by);
        started.push(h.executor.handle(&config, &scope, &by, &lines, NOW).await);
    }
    assert_eq!(outcomes(&started[0])[0].0, "started", "{:?}", started[0]);
    assert_eq!(outcomes(&started[1])[0].0, "started", "the team's scope acts too: {:?}", started[1]);
    assert!(matches!(started[2], CommentAnswer::Duplicate { .. }), "{:?}", started[2]);
    let pipelines: Vec<String> =
        h.starter.started.lock().unwrap().iter().map(|p| p.pipeline.as_str().to_owned()).collect();
    assert_eq!(pipelines, ["org-pipeline", "team-pipeline"]);
}

/// A refusal never quotes AWS: the account id and ARN of CodePipeline's error go to the log, the
/// reply (and the webhook's answer) says what failed in Herald's words.
#[tokio::test]
async fn a_refusal_never_quotes_aws_error_text() {
    let control = FakeControl::default();
    control.stop_answers.lock().unwrap().insert(
        "exec-old".into(),
        Err(AwsError::Permanent(
            "StopPipelineExecution: AccessDeniedException: User: arn:aws:sts::111122223333:assumed-role/herald/x is not authorized (request id 7f3a)".into(),
        )),
    );
    let history = FakeHistory { execution_status: Some("InProgress".into()), ..FakeHistory::default() };
    let h = harness(github_pull(), history, control, records_of(record("github", "api.github.com")));
    let stop = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald stop");
    let (outcome, why) = outcomes(&run(&h, &config(""), &stop).await).remove(0);
    assert_eq!(outcome, "failed");
    assert!(why.contains("Herald's role may not act on this pipeline"), "{why}");
    for secret in ["111122223333", "arn:", "7f3a"] {
        assert!(!why.contains(secret), "{why}");
    }
    let replies: Vec<String> =
        h.http.requests.lock().unwrap().iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
    assert!(replies.iter().all(|r| !r.contains("111122223333") && !r.contains("arn:aws")), "{replies:?}");
}

/// A pull request whose author wrote a 200 KB description is still read (up to 1 MiB): its
/// description must not keep `/herald stop` from finding the head.
#[tokio::test]
async fn a_long_pull_request_description_does_not_block_stop() {
    let mut http = FakeHttp::default();
    let pull = json!({ "head": { "ref": "feature", "sha": HEAD, "repo": { "full_name": "acme/app" } },
                       "base": { "ref": "main", "repo": { "full_name": "acme/app" } }, "body": "x".repeat(200 * 1024) });
    http.bodies.insert("/repos/acme/app/pulls/7".into(), pull.to_string());
    with_permissions(&mut http);
    let history = FakeHistory { execution_status: Some("InProgress".into()), ..FakeHistory::default() };
    let h = harness(http, history, FakeControl::default(), records_of(record("github", "api.github.com")));
    let stop = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald stop");
    assert_eq!(outcomes(&run(&h, &config(""), &stop).await)[0].0, "stopped");
}

/// `author_association` is not a permission: a read-only organization MEMBER and a triage
/// COLLABORATOR are refused by the permission API's answer; a writer acts; a CONTRIBUTOR is
/// refused without asking.
#[tokio::test]
async fn who_may_is_the_permission_api_s_answer_not_the_association() {
    let h = harness(
        github_pull(),
        FakeHistory::default(),
        waiting_approval(),
        records_of(record("github", "api.github.com")),
    );
    let config = config("");
    for (by, association) in [("mallory", "MEMBER"), ("tricia", "COLLABORATOR")] {
        let approve = comment(ProviderKind::GitHub, "api.github.com", by, association, "/herald approve");
        let (outcome, why) = outcomes(&run(&h, &config, &approve).await).remove(0);
        assert_eq!(outcome, "refused", "{by}: {why}");
        assert!(why.contains("cannot write to acme/app"), "{by}: {why}");
    }
    assert!(h.control.answers.lock().unwrap().is_empty(), "nobody approved");
    let asked = h.http.requests.lock().unwrap().iter().filter(|r| r.url.contains("/collaborators/")).count();
    assert_eq!(asked, 2);
    let stranger = comment(ProviderKind::GitHub, "api.github.com", "eve", "CONTRIBUTOR", "/herald approve");
    assert_eq!(outcomes(&run(&h, &config, &stranger).await)[0].0, "refused");
    let asked_now = h.http.requests.lock().unwrap().iter().filter(|r| r.url.contains("/collaborators/")).count();
    assert_eq!(asked_now, 2, "a CONTRIBUTOR is refused without asking");
    let writer = comment(ProviderKind::GitHub, "api.github.com", "lead", "MEMBER", "/herald approve");
    assert_eq!(outcomes(&run(&h, &config, &writer).await)[0].0, "approved");
}

/// Bitbucket Cloud: a commenter whose nickname (theirs to choose, and not unique) is in
/// `commands.users` does nothing; the account id (or uuid) is who they are.
#[tokio::test]
async fn a_bitbucket_nickname_never_names_who_may() {
    let mut http = FakeHttp::default();
    let pull = json!({ "source": { "branch": { "name": "feature" }, "commit": { "hash": HEAD }, "repository": { "full_name": "acme/app" } },
                       "destination": { "branch": { "name": "main" }, "repository": { "full_name": "acme/app" } } });
    http.bodies.insert("/repositories/acme/app/pullrequests/7".into(), pull.to_string());
    let history = FakeHistory { execution_status: Some("InProgress".into()), ..FakeHistory::default() };
    let h = harness(http, history, FakeControl::default(), records_of(record("bitbucket-cloud", "api.bitbucket.org")));
    let parsed = |actor: serde_json::Value, id: u64| {
        let doc = json!({ "actor": actor, "pullrequest": { "id": 7 }, "comment": { "id": id, "content": { "raw": "/herald stop" } },
                          "repository": { "full_name": "acme/app", "links": { "self": { "href": "https://api.bitbucket.org/2.0/repositories/acme/app" } } } });
        let headers: crate::providers::Headers =
            [("X-Event-Key", "pullrequest:comment_created"), ("X-Request-UUID", "r")].into_iter().collect();
        match crate::providers::parse(ProviderKind::BitbucketCloud, &headers, doc.to_string().as_bytes())
            .unwrap()
            .content
        {
            crate::providers::Content::Comment(c) => *c,
            other => panic!("{other:?}"),
        }
    };
    let config = config(r#", "commands": {"users": ["alice", "557058:alice-account"]}"#);
    let spoof = parsed(
        json!({ "nickname": "alice", "display_name": "alice", "account_id": "557058:mallory", "uuid": "{m-1}" }),
        1,
    );
    let (outcome, why) = outcomes(&run(&h, &config, &spoof).await).remove(0);
    assert_eq!(outcome, "refused", "{why}");
    assert!(why.starts_with("557058:mallory is not one of the users"), "{why}");
    let alice = parsed(json!({ "nickname": "someone", "account_id": "557058:alice-account", "uuid": "{a-1}" }), 2);
    assert_eq!(outcomes(&run(&h, &config, &alice).await)[0].0, "stopped");
}

/// Who wrote a comment and what it says are its server's copy's: a payload signed with a
/// webhook secret that names another author acts as the real author (here: refused); a text the
/// server does not hold, or a comment written 3 days ago, does nothing, and the reply says why.
#[tokio::test]
async fn the_server_s_copy_decides_author_text_and_age() {
    let h = harness(
        github_pull(),
        FakeHistory::default(),
        waiting_approval(),
        records_of(record("github", "api.github.com")),
    );
    let config = config(r#", "commands": {"approvers": ["lead"]}"#);
    // The payload says lead (an approver, OWNER); the server says mallory wrote it.
    let forged = comment(ProviderKind::GitHub, "api.github.com", "lead", "OWNER", "/herald approve");
    let real = Comment {
        author: CommentAuthor { name: "mallory".into(), id: None, association: Some("MEMBER".into()) },
        ..forged.clone()
    };
    hold(&h, &real);
    let (outcome, why) = outcomes(&run(&h, &config, &forged).await).remove(0);
    assert_eq!(outcome, "refused", "{why}");
    assert!(why.starts_with("mallory is not one of the approvers"), "{why}");
    // The text differs from the server's.
    let edited = comment(ProviderKind::GitHub, "api.github.com", "lead", "OWNER", "/herald approve now");
    hold_as(&h, &edited, "looks good to me", NOW - 60);
    let (outcome, why) = outcomes(&run(&h, &config, &edited).await).remove(0);
    assert_eq!(outcome, "refused");
    assert!(why.contains("not what its server holds"), "{why}");
    // Written three days ago.
    let old = comment(ProviderKind::GitHub, "api.github.com", "lead", "OWNER", "/herald approve later");
    hold_as(&h, &old, &old.body, NOW - 3 * 86_400);
    let (outcome, why) = outcomes(&run(&h, &config, &old).await).remove(0);
    assert_eq!(outcome, "refused");
    assert!(why.contains("written 72 hours ago"), "{why}");
    assert!(h.control.answers.lock().unwrap().is_empty(), "nothing approved");
    let replies = h.http.requests.lock().unwrap().iter().filter(|r| r.method == "POST").count();
    assert_eq!(replies, 3, "each says why");
    // The real approver, as the server says.
    let lead = comment(ProviderKind::GitHub, "api.github.com", "lead", "MEMBER", "/herald approve ship");
    assert_eq!(outcomes(&run(&h, &config, &lead).await)[0].0, "approved");
}

/// Once per command, not per comment: a delivery cut off right after answering Deploy/Approve
/// (its intent recorded, its effect not) and delivered again after the lease, when the next gate
/// waits, answers nothing; a new comment answers the next gate.
#[tokio::test]
async fn a_repeat_after_a_crash_never_answers_the_next_approval() {
    let next_gate = FakeControl {
        stages: vec![
            StageState {
                stage: "Deploy".into(),
                execution_id: Some("exec-old".into()),
                status: Some("Succeeded".into()),
                approvals: vec![],
            },
            StageState {
                stage: "Prod".into(),
                execution_id: Some("exec-old".into()),
                status: Some("InProgress".into()),
                approvals: vec![("ApproveProd".into(), "token-2".into())],
            },
        ],
        ..FakeControl::default()
    };
    let h = harness(github_pull(), FakeHistory::default(), next_gate, records_of(record("github", "api.github.com")));
    let config = config("");
    let approve = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald approve");
    let intent = format!("{}#command0#intent", claim_key(&approve, &SecretScope::Default));
    let bound = json!([{ "execution_id": "exec-old", "stage": "Deploy", "action": "Approve" }]).to_string();
    h.dedup.records.lock().unwrap().insert(intent, (Some(bound), NOW + 7 * 86_400));
    let (outcome, why) = outcomes(&run(&h, &config, &approve).await).remove(0);
    assert_eq!(outcome, "nothing", "{why}");
    assert!(why.contains("waits no longer"), "{why}");
    assert!(h.control.answers.lock().unwrap().is_empty(), "the next gate was not answered");
    // A new comment is a new decision: it answers the gate waiting now.
    let again = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald approve prod");
    assert_eq!(outcomes(&run(&h, &config, &again).await)[0].0, "approved");
    let answered = h.control.answers.lock().unwrap().clone();
    assert_eq!((answered[0].stage.as_str(), answered[0].action.as_str()), ("Prod", "ApproveProd"));
}

/// A retry cut off after its intent was recorded is not repeated; one whose effect was recorded
/// answers what it did.
#[tokio::test]
async fn a_retry_is_done_once_per_command() {
    let history = FakeHistory { execution_status: Some("Failed".into()), ..FakeHistory::default() };
    let failed = FakeControl {
        stages: vec![StageState {
            stage: "Build".into(),
            execution_id: Some("exec-old".into()),
            status: Some("Failed".into()),
            approvals: vec![],
        }],
        ..FakeControl::default()
    };
    let h = harness(github_pull(), history, failed, records_of(record("github", "api.github.com")));
    let retry = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald retry");
    let intent = format!("{}#command0#intent", claim_key(&retry, &SecretScope::Default));
    h.dedup.records.lock().unwrap().insert(intent, (Some(json!({ "retry": true }).to_string()), NOW + 7 * 86_400));
    let (outcome, why) = outcomes(&run(&h, &config(""), &retry).await).remove(0);
    assert_eq!(outcome, "nothing", "{why}");
    assert!(h.control.calls.lock().unwrap().is_empty(), "not retried twice");
    let fresh = comment(ProviderKind::GitHub, "api.github.com", "ann", "OWNER", "/herald retry\n");
    assert_eq!(outcomes(&run(&h, &config(""), &fresh).await)[0].0, "retried");
    assert_eq!(h.control.calls.lock().unwrap().len(), 1);
}
