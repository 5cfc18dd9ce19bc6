use super::*;
use crate::alert::event::{parse_event, Input};
use crate::change::{ChangedFiles, PrAction, ProviderKind, PullRequest, ServerAddress};
use crate::change::{PullRequestParts, PushParts};
use crate::git_api::credentials::Credentials;
use crate::git_api::RetryPolicy;
use crate::ports::fakes::{FakeHttp, FakeRecords};
use crate::ports::OutboundRequest;
use std::time::Duration;

pub const SHA: &str = "7d2f9e8c1b4a3f5e6d7c8b9a0f1e2d3c4b5a6978";

fn push(provider: ProviderKind, url: Option<&str>) -> Change {
    let change: Change = PushParts {
        provider,
        delivery: "d-1".into(),
        repository: "acme/app".into(),
        git_ref: "refs/heads/main".into(),
        commit: SHA.into(),
        deleted: false,
        files: ChangedFiles::unknown(),
        author: "ada".into(),
        message: "Fix".into(),
        clone_url: String::new(),
    }
    .into();
    change.with_server(url.and_then(ServerAddress::from_url))
}

fn setting(stages: bool) -> StatusSetting {
    StatusSetting { context: "herald/app".into(), stages, skipped: true }
}

fn event(file: &str) -> PipelineEvent {
    let path = format!("{}/../events/pipeline-notifier/{file}", env!("CARGO_MANIFEST_DIR"));
    match parse_event(&serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()) {
        Input::Event(e) => *e,
        Input::Ignored(why) => panic!("{why}"),
    }
}

pub fn record(execution_id: &str, stages: bool) -> ExecutionRecord {
    ExecutionRecord {
        execution_id: execution_id.into(),
        pipeline: "prod-api".into(),
        trigger: "main".into(),
        provider: "github".into(),
        host: "api.github.com".into(),
        organization: None,
        repository: "acme/app".into(),
        scope: None,
        commit: SHA.into(),
        context: "herald/app".into(),
        stages,
        started_at: 1,
        stop_reason: None,
    }
}

#[test]
fn the_target_is_the_payload_s_host_and_the_matched_repository() {
    // Whatever path the payload's URL has, only its host is kept.
    let github = push(ProviderKind::GitHub, Some("https://api.github.com/repos/other/repo/statuses/{sha}#/x"));
    let (to, commit) = target(&github, Some("team-a")).unwrap();
    assert_eq!(
        (to.api, to.host.0.as_str(), to.repository.name()),
        (ServerApi::GitHub, "api.github.com", "acme/app".into())
    );
    assert_eq!((to.scope.as_deref(), commit.as_str()), (Some("team-a"), SHA));
    let forgejo = push(ProviderKind::Forgejo, Some("https://code.example.com/api/v1/repos/acme/app/statuses/{sha}"));
    assert_eq!(target(&forgejo, None).unwrap().0.api, ServerApi::Gitea);
    assert!(target(&push(ProviderKind::Gogs, None), None).unwrap_err().contains("no commit status API"));
    assert!(target(&push(ProviderKind::Generic, None), None).unwrap_err().contains("no commit status API"));
    assert!(target(&push(ProviderKind::GitHub, None), None).unwrap_err().contains("names no server"));
    let mut tag_object = github.clone();
    tag_object = tag_object.tag_object_unpinned();
    tag_object.no_commit = Some("the tag names a tag object");
    assert!(target(&tag_object, None).is_err());
    let mut odd = github.clone();
    odd.commit = "../../admin".into();
    assert!(target(&odd, None).unwrap_err().contains("commit id"));
    let mut odd = github;
    odd.repository = "acme/app#/../../other".into();
    assert!(target(&odd, None).unwrap_err().contains("the repository name"));
}

#[test]
fn pull_requests_report_on_their_head_commit() {
    let change: Change = PullRequestParts {
        provider: ProviderKind::BitbucketCloud,
        delivery: "d".into(),
        repository: "acme/app".into(),
        commit: "7d2f9e8c1b4a".into(),
        author: String::new(),
        title: String::new(),
        clone_url: String::new(),
        pull_request: PullRequest {
            number: 1,
            action: PrAction::Opened,
            source_branch: "f".into(),
            target_branch: "main".into(),
            from_fork: false,
        },
    }
    .into();
    let change = change.with_server(ServerAddress::from_url("https://api.bitbucket.org/2.0/repositories/acme/app"));
    // Bitbucket names pull-request heads by 12 characters; its status API takes them.
    assert_eq!(target(&change, None).unwrap().1.as_str(), "7d2f9e8c1b4a");
}

#[test]
fn each_execution_state_has_its_status() {
    let failure = Failure {
        stage: Some("Build".into()),
        action: Some("Compile".into()),
        summary: Some("exit status 2\nmore".into()),
        external_url: None,
    };
    let failed = for_event(&event("pipeline-failed.json"), &record("x", false), Some(&failure), None, None).unwrap();
    assert_eq!(failed.state, StatusState::Failure);
    assert_eq!(failed.description, "prod-api failed at Build / Compile: exit status 2");
    assert_eq!(failed.context, "herald/app");
    assert!(failed.target_url.starts_with(
        "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/prod-api/executions/3f2a9c1e"
    ));
    let ok = for_event(&event("pipeline-succeeded.json"), &record("x", false), None, Some(312), None).unwrap();
    assert_eq!((ok.state, ok.description.as_str()), (StatusState::Success, "prod-api succeeded in 5m 12s"));
    let started = for_event(&event("pipeline-started.json"), &record("x", false), None, None, None).unwrap();
    assert_eq!(
        (started.state, started.description.as_str()),
        (StatusState::Pending, "CodePipeline prod-api is running")
    );
    let mut stopped = event("pipeline-failed.json");
    for (state, want) in [
        ("STOPPED", StatusState::Error),
        ("SUPERSEDED", StatusState::Error),
        ("CANCELED", StatusState::Error),
        ("RESUMED", StatusState::Pending),
    ] {
        stopped.state = Some(state.into());
        assert_eq!(for_event(&stopped, &record("x", false), None, None, None).unwrap().state, want, "{state}");
    }
    stopped.state = Some("STOPPED".into());
    let superseded = ExecutionRecord { stop_reason: Some("superseded by 2222222".into()), ..record("x", false) };
    let by_herald = for_event(&stopped, &superseded, None, None, None).unwrap();
    assert_eq!(
        (by_herald.state, by_herald.description.as_str()),
        (StatusState::Error, "prod-api was stopped: superseded by 2222222"),
        "a concurrency group's stop names the newer commit"
    );
    stopped.state = Some("STOPPING".into());
    assert_eq!(for_event(&stopped, &record("x", false), None, None, None), None);
    // Stage events move a status only with `stages`.
    assert_eq!(for_event(&event("stage-failed.json"), &record("x", false), Some(&failure), None, None), None);
    let stage = for_event(&event("stage-failed.json"), &record("x", true), Some(&failure), None, None).unwrap();
    assert_eq!((stage.context.as_str(), stage.state), ("herald/app/Build", StatusState::Failure));
    assert_eq!(stage.description, "Stage Build failed at Build / Compile: exit status 2");
}

pub fn reporter(http: Arc<FakeHttp>, records: Arc<FakeRecords>, credentials: &str) -> StatusReporter {
    let policy = RetryPolicy { attempts: 3, timeout: Duration::from_secs(1), backoff: Duration::from_millis(1) };
    StatusReporter::new(
        Arc::new(crate::secrets::ServerCredentials::Fixed(Arc::new(Credentials::parse(credentials).unwrap()))),
        GitApi::new(http, policy),
        records,
        "eu-west-1",
    )
}

fn body(request: &OutboundRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn a_start_is_recorded_then_reported_pending() {
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let change = push(ProviderKind::GitHub, Some("https://api.github.com/repos/acme/app/statuses/{sha}"));
    let s = setting(false);
    let started =
        Started { trigger: "main", scope: None, setting: &s, change: &change, pipeline: "app", execution_id: "e-1" };
    let entry = r.started(started, 100).await;
    assert_eq!(entry["outcome"], "posted", "{entry}");
    let record = records.records.lock().unwrap()["e-1"].clone();
    assert_eq!((record.host.as_str(), record.repository.as_str()), ("api.github.com", "acme/app"));
    assert_eq!((record.provider.as_str(), record.context.as_str(), record.stages), ("github", "herald/app", false));
    let requests = http.requests.lock().unwrap();
    assert_eq!(requests[0].url, format!("https://api.github.com/repos/acme/app/statuses/{SHA}"));
    assert_eq!(body(&requests[0])["state"], "pending");
    assert_eq!(body(&requests[0])["target_url"], "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/app/executions/e-1/timeline?region=eu-west-1");
}

#[tokio::test]
async fn without_a_record_there_is_no_pending_that_would_stay_forever() {
    let http = Arc::new(FakeHttp::default());
    let records =
        Arc::new(FakeRecords { fail_put: Some(AwsError::Transient("throttled".into())), ..FakeRecords::default() });
    let r = reporter(http.clone(), records, r#"{"github": {"token": "t"}}"#);
    let change = push(ProviderKind::GitHub, Some("https://api.github.com/repos/acme/app/statuses/{sha}"));
    let s = setting(false);
    let entry = r
        .started(
            Started {
                trigger: "main",
                scope: None,
                setting: &s,
                change: &change,
                pipeline: "app",
                execution_id: "e-1",
            },
            100,
        )
        .await;
    assert_eq!(entry["outcome"], "failed");
    assert!(http.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_host_without_credentials_gets_nothing_and_the_start_stands() {
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let r = reporter(http.clone(), records, r#"{"github": {"token": "t"}}"#);
    // A payload (signed by some team's secret) naming a host of its choosing.
    let change = push(ProviderKind::GitHub, Some("https://collector.example.net/repos/acme/app/statuses/{sha}"));
    let s = setting(false);
    let entry = r
        .started(
            Started {
                trigger: "main",
                scope: None,
                setting: &s,
                change: &change,
                pipeline: "app",
                execution_id: "e-1",
            },
            100,
        )
        .await;
    assert_eq!(entry["outcome"], "failed");
    assert!(entry["error"].as_str().unwrap().contains("no credential for collector.example.net"));
    assert!(http.requests.lock().unwrap().is_empty(), "the token never left");
}

#[tokio::test]
async fn the_outcome_fails_only_on_transient_errors() {
    let records = Arc::new(FakeRecords::default());
    let failed = event("pipeline-failed.json");
    let rec = record("3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10", false);
    let http = Arc::new(FakeHttp::answering(&[500, 503, 500]));
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    assert!(r.finished(&failed, &rec, None, None, None, 0).await.unwrap_err().is_transient());
    assert_eq!(http.requests.lock().unwrap().len(), 3);
    let http = Arc::new(FakeHttp::answering(&[401]));
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let entry = r.finished(&failed, &rec, None, None, None, 0).await.unwrap().unwrap();
    assert_eq!(entry["outcome"], "failed");
    assert!(entry["error"].as_str().unwrap().contains("answered 401"));
    assert_eq!(http.requests.lock().unwrap().len(), 1, "a permanent failure is not retried");
}

#[tokio::test]
async fn a_record_of_an_older_herald_gets_no_status_and_says_so() {
    // The previous version recorded a URL, read back without host or repository.
    let old: ExecutionRecord = serde_json::from_value(serde_json::json!({
        "execution_id": "3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10", "pipeline": "prod-api", "trigger": "main",
        "provider": "github", "statuses_url": format!("https://api.github.com/repos/acme/app/statuses/{SHA}"),
        "commit": SHA, "context": "herald/app", "stages": false,
    }))
    .unwrap();
    let http = Arc::new(FakeHttp::default());
    let r = reporter(http.clone(), Arc::new(FakeRecords::default()), r#"{"github": {"token": "t"}}"#);
    let entry = r.finished(&event("pipeline-failed.json"), &old, None, None, None, 0).await.unwrap().unwrap();
    assert_eq!(entry["outcome"], "skipped");
    assert_eq!(entry["reason"], "recorded by an older Herald, without its server");
    assert!(http.requests.lock().unwrap().is_empty());
}

/// The states posted to the fake server, in order.
fn posted_states(http: &FakeHttp) -> Vec<String> {
    http.requests.lock().unwrap().iter().map(|r| body(r)["state"].as_str().unwrap_or_default().to_owned()).collect()
}

fn with_state(file: &str, state: &str, attempt: u32) -> PipelineEvent {
    let mut e = event(file);
    e.state = Some(state.into());
    e.attempt = attempt;
    e
}

#[tokio::test]
async fn a_late_or_repeated_event_never_moves_the_status_back() {
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let rec = record("3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10", true);
    let stage = |state: &str, attempt| with_state("stage-failed.json", state, attempt);
    let done = with_state("pipeline-succeeded.json", "SUCCEEDED", 1);
    // Build starts, the execution succeeds, then Build's STARTED and a RESUMED arrive again.
    r.finished(&stage("STARTED", 1), &rec, None, None, None, 10).await.unwrap();
    r.finished(&stage("SUCCEEDED", 1), &rec, None, None, None, 11).await.unwrap();
    r.finished(&done, &rec, None, None, None, 12).await.unwrap();
    let late = r.finished(&stage("STARTED", 1), &rec, None, None, None, 13).await.unwrap().unwrap();
    assert_eq!(late["outcome"], "stale", "{late}");
    let resumed = with_state("pipeline-succeeded.json", "RESUMED", 1);
    assert_eq!(r.finished(&resumed, &rec, None, None, None, 14).await.unwrap().unwrap()["outcome"], "stale");
    assert_eq!(posted_states(&http), ["pending", "success", "success"], "Build pending, Build success, the execution");
    // The same end delivered again is posted again: its first post may have failed.
    r.finished(&done, &rec, None, None, None, 15).await.unwrap();
    assert_eq!(posted_states(&http).len(), 4);
}

#[tokio::test]
async fn a_retried_attempt_is_pending_again_then_ends_in_its_own_state() {
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let rec = record("3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10", false);
    let pipeline = |state: &str, attempt| with_state("pipeline-failed.json", state, attempt);
    r.finished(&pipeline("FAILED", 1), &rec, None, None, None, 10).await.unwrap();
    // RetryStageExecution: CodePipeline announces the second attempt with RESUMED.
    r.finished(&pipeline("RESUMED", 2), &rec, None, None, None, 20).await.unwrap();
    r.finished(&pipeline("SUCCEEDED", 2), &rec, None, None, None, 30).await.unwrap();
    // The first attempt's failure, delivered late, does not undo the second's success.
    let late = r.finished(&pipeline("FAILED", 1), &rec, None, None, None, 40).await.unwrap().unwrap();
    assert_eq!(late["outcome"], "stale");
    assert_eq!(posted_states(&http), ["failure", "pending", "success"]);
}

#[tokio::test]
async fn two_instances_given_the_same_events_never_post_backwards() {
    // Both instances share the table (the fake) and the server; each handles STARTED and
    // SUCCEEDED of the same stage, in opposite orders, at once. Every interleaving must leave
    // no `pending` after a `success`.
    for round in 0..50 {
        let http = Arc::new(FakeHttp::default());
        let records = Arc::new(FakeRecords::default());
        let a = Arc::new(reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#));
        let b = Arc::new(reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#));
        let rec = record("3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10", true);
        let started = with_state("stage-failed.json", "STARTED", 1);
        let succeeded = with_state("stage-failed.json", "SUCCEEDED", 1);
        let run = |r: Arc<StatusReporter>, first: PipelineEvent, second: PipelineEvent, rec: ExecutionRecord| async move {
            r.finished(&first, &rec, None, None, None, 100).await.unwrap();
            r.finished(&second, &rec, None, None, None, 100).await.unwrap();
        };
        let (x, y) = (
            tokio::spawn(run(a, started.clone(), succeeded.clone(), rec.clone())),
            tokio::spawn(run(b, succeeded, started, rec)),
        );
        x.await.unwrap();
        y.await.unwrap();
        let states = posted_states(&http);
        let first_success = states.iter().position(|s| s == "success").expect("success posted");
        assert!(!states[first_success..].contains(&"pending".to_owned()), "round {round}: {states:?}");
    }
}

#[tokio::test]
async fn a_context_held_by_another_post_waits_then_fails_for_a_retry() {
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let rec = record("3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10", false);
    // An instance that died mid-post holds the context for its lease.
    let now = crate::clock::unix_now();
    let held = StatusClaim {
        execution_id: rec.execution_id.clone(),
        context: rec.context.clone(),
        attempt: 1,
        state: StatusState::Pending,
        owner: "gone".into(),
    };
    assert_eq!(records.claim_status(&held, now).await, Ok(ClaimAnswer::Granted));
    let failed = with_state("pipeline-failed.json", "FAILED", 1);
    let began = std::time::Instant::now();
    let error = r.finished(&failed, &rec, None, None, None, now).await.unwrap_err();
    assert!(error.is_transient(), "EventBridge retries it: {error}");
    assert!(began.elapsed() >= BUSY_WAIT - BUSY_POLL, "it waited {:?}", began.elapsed());
    assert!(http.requests.lock().unwrap().is_empty());
    // Once the lease has lapsed, the retry posts.
    let later = now + crate::ports::STATUS_LEASE_SECS + 1;
    assert_eq!(r.finished(&failed, &rec, None, None, None, later).await.unwrap().unwrap()["outcome"], "posted");
}

#[tokio::test]
async fn a_superseded_execution_names_the_newer_commit_herald_recorded() {
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let mut newer = record("e-newer", false);
    newer.commit = "abcdef0123456789abcdef0123456789abcdef01".into();
    records.records.lock().unwrap().insert("e-newer".into(), newer);
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let rec = record("3f2a9c1e-7b1d-4c55-9a0e-2d1f6b8e4c10", false);
    let superseded = with_state("pipeline-failed.json", "SUPERSEDED", 1);
    r.finished(&superseded, &rec, None, None, Some("e-newer"), 10).await.unwrap();
    let posted = body(&http.requests.lock().unwrap()[0]);
    assert_eq!(posted["state"], "error");
    assert_eq!(posted["description"], "prod-api: superseded by a newer execution, of commit abcdef0");
    // Not started by Herald: the description says what it knows.
    let rec2 = record("e-other", false);
    r.finished(&superseded, &rec2, None, None, Some("e-unknown"), 10).await.unwrap();
    assert_eq!(body(&http.requests.lock().unwrap()[1])["description"], "prod-api: superseded by a newer execution");
}

#[tokio::test]
async fn a_skipped_change_gets_its_final_passing_status_without_a_record() {
    let http = Arc::new(FakeHttp::default());
    let records = Arc::new(FakeRecords::default());
    let r = reporter(http.clone(), records.clone(), r#"{"github": {"token": "t"}}"#);
    let change = push(ProviderKind::GitHub, Some("https://api.github.com/repos/acme/app"));
    let s = setting(false);
    let reason = "no changed file matches paths (services/app/**); changed: docs/guide.md";
    let skipped = SkippedChange {
        trigger: "main",
        scope: None,
        setting: &s,
        change: &change,
        pipeline: "app",
        reason,
        waits: false,
    };
    let entry = r.skipped(skipped, 100).await;
    assert_eq!((entry["outcome"].as_str(), entry["state"].as_str()), (Some("posted"), Some("skipped")), "{entry}");
    let sent = body(&http.requests.lock().unwrap()[0]);
    assert_eq!(sent["state"], "success", "GitHub's word for passed without running");
    assert_eq!(sent["context"], "herald/app");
    assert_eq!(sent["description"], format!("skipped: {reason}"));
    assert!(records.records.lock().unwrap().is_empty(), "no execution, no record");
}
