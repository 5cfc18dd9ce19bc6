use super::*;
use crate::ports::fakes::{FakeControl, FakeDedup, FakeGroups, FakeRecords, FakeStarter};
use crate::ports::{DedupStore, ExecutionRecord, StartPlan, MAX_GROUP_MEMBERS};
use crate::start::{StartResult, StartRunner};

const NOW: i64 = 1_700_000_000;

struct World {
    starter: Arc<FakeStarter>,
    dedup: Arc<FakeDedup>,
    groups: Arc<FakeGroups>,
    control: Arc<FakeControl>,
    records: Arc<FakeRecords>,
    runner: StartRunner,
}

fn world_with(groups: FakeGroups) -> World {
    let (starter, dedup, groups) = (Arc::new(FakeStarter::default()), Arc::new(FakeDedup::default()), Arc::new(groups));
    let (control, records) = (Arc::new(FakeControl::default()), Arc::new(FakeRecords::default()));
    let ports = Groups::new(groups.clone(), control.clone(), Some(records.clone() as Arc<dyn ExecutionRecords>));
    let runner = StartRunner::new(starter.clone(), Some(dedup.clone() as Arc<dyn DedupStore>), false)
        .with_groups(Some(Arc::new(ports)));
    World { starter, dedup, groups, control, records, runner }
}

fn world() -> World {
    world_with(FakeGroups::default())
}

fn group(commit: &str, cancel_in_progress: bool) -> GroupPlan {
    GroupPlan {
        trigger: "app-pr".into(),
        name: "acme/app#7".into(),
        commit: commit.into(),
        cancel_in_progress,
        abandon: false,
        kind: crate::ports::ChangeKind::PullRequest,
        pull_request: Some(7),
    }
}

fn plan(delivery: &str, commit: &str, cancel_in_progress: bool) -> StartPlan {
    StartPlan {
        pipeline: "app".into(),
        client_request_token: crate::token::deterministic(&[delivery]),
        source_revisions: Vec::new(),
        variables: Vec::new(),
        notes: Vec::new(),
        change_token: Some(crate::token::deterministic(&["change", commit])),
        group: Some(group(commit, cancel_in_progress)),
    }
}

fn started(result: StartResult) -> (String, Vec<Stop>) {
    match result {
        StartResult::Started { execution_id: Some(id), duplicate: false, stopped } => (id, stopped),
        other => panic!("{other:?}"),
    }
}

fn record(id: &str) -> ExecutionRecord {
    ExecutionRecord {
        execution_id: id.into(),
        pipeline: "app".into(),
        trigger: "app-pr".into(),
        provider: "github".into(),
        host: "github.com".into(),
        organization: None,
        repository: "acme/app".into(),
        scope: None,
        commit: "a".repeat(40),
        context: "herald/app".into(),
        stages: false,
        started_at: NOW,
        stop_reason: None,
    }
}

#[tokio::test]
async fn each_start_in_a_cancelling_group_stops_the_one_before_and_names_its_commit() {
    let w = world();
    let (first, none) = started(w.runner.run(&plan("d1", "1111111aaaa", true), NOW).await);
    assert!(none.is_empty(), "the group was empty");
    w.records.records.lock().unwrap().insert(first.clone(), record(&first));
    let (second, stops) = started(w.runner.run(&plan("d2", "2222222bbbb", true), NOW + 1).await);
    assert_eq!(stops.len(), 1);
    assert_eq!(
        (stops[0].execution_id.as_str(), stops[0].reason.as_str()),
        (first.as_str(), "superseded by 2222222 (herald)")
    );
    assert!(stops[0].stopped());
    let (third, stops) = started(w.runner.run(&plan("d3", "3333333cccc", true), NOW + 2).await);
    assert_eq!(stops.iter().map(|s| s.execution_id.as_str()).collect::<Vec<_>>(), [second.as_str()]);
    assert_eq!(
        *w.control.calls.lock().unwrap(),
        [
            format!("stop {first} superseded by 2222222 (herald)"),
            format!("stop {second} superseded by 3333333 (herald)")
        ]
    );
    assert_eq!(w.groups.ids("app-pr", "acme/app#7"), [third], "the group holds the newest only");
    let noted = w.records.records.lock().unwrap()[&first].stop_reason.clone();
    assert_eq!(noted.as_deref(), Some("superseded by 2222222"), "its final status says why");
}

#[tokio::test]
async fn an_execution_that_already_ended_is_not_a_failure_and_not_listed_as_stopped() {
    let w = world();
    let (first, _) = started(w.runner.run(&plan("d1", "1111111", true), NOW).await);
    w.control.stop_answers.lock().unwrap().insert(first.clone(), Ok(StopAnswer::AlreadyEnded));
    let (_, stops) = started(w.runner.run(&plan("d2", "2222222", true), NOW).await);
    assert_eq!(stops.len(), 1);
    assert!(!stops[0].stopped() && stops[0].result.is_ok());
    assert_eq!(entries(&stops), (Vec::new(), Vec::new()));
}

#[tokio::test]
async fn a_stop_that_failed_is_kept_for_the_next_start_and_reported() {
    let w = world();
    let (first, _) = started(w.runner.run(&plan("d1", "1111111", true), NOW).await);
    w.control.stop_answers.lock().unwrap().insert(first.clone(), Err(AwsError::Transient("throttled".into())));
    let (second, stops) = started(w.runner.run(&plan("d2", "2222222", true), NOW).await);
    let (stopped, failed) = entries(&stops);
    assert!(stopped.is_empty());
    assert_eq!(failed[0]["execution_id"], first.as_str());
    assert_eq!(failed[0]["retryable"], true);
    assert!(!failed[0].to_string().contains("throttled"), "AWS's words stay in the log: {}", failed[0]);
    assert_eq!(w.groups.ids("app-pr", "acme/app#7"), [second.clone(), first.clone()], "put back");
    w.control.stop_answers.lock().unwrap().clear();
    let (_, stops) = started(w.runner.run(&plan("d3", "3333333", true), NOW).await);
    let mut ids: Vec<_> = stops.iter().filter(|s| s.stopped()).map(|s| s.execution_id.clone()).collect();
    ids.sort();
    assert_eq!(ids, [first, second], "the next start stops what the last one could not");
}

#[tokio::test]
async fn a_group_that_cannot_record_fails_the_start_retryably_and_the_retry_records_it() {
    let w = world_with(FakeGroups { fail: Some(AwsError::Transient("DynamoDB down".into())), ..Default::default() });
    let p = plan("d1", "1111111", true);
    let StartResult::Failed { error, transient: true } = w.runner.run(&p, NOW).await else { panic!() };
    assert!(error.starts_with(GROUP_NOT_RECORDED), "{error}");
    assert!(w.dedup.records.lock().unwrap().is_empty(), "the token and the change are given back for the retry");
    assert_eq!(w.starter.started.lock().unwrap().len(), 1, "CodePipeline's token makes the retry's start the same");
}

#[tokio::test]
async fn a_redelivery_stops_nothing() {
    let w = world();
    started(w.runner.run(&plan("d1", "1111111", true), NOW).await);
    started(w.runner.run(&plan("d2", "2222222", true), NOW).await);
    let calls = w.control.calls.lock().unwrap().len();
    let again = w.runner.run(&plan("d2", "2222222", true), NOW + 5).await;
    assert!(matches!(again, StartResult::Started { duplicate: true, ref stopped, .. } if stopped.is_empty()));
    assert_eq!(w.control.calls.lock().unwrap().len(), calls);
}

#[tokio::test]
async fn without_cancel_in_progress_starts_are_kept_and_a_close_stops_them_all() {
    let w = world();
    let (a, none) = started(w.runner.run(&plan("d1", "1111111", false), NOW).await);
    let (b, still_none) = started(w.runner.run(&plan("d2", "2222222", false), NOW).await);
    assert!(none.is_empty() && still_none.is_empty());
    assert!(w.control.calls.lock().unwrap().is_empty());
    let groups = w.runner.groups().unwrap();
    let stops = groups.close(&group("", false), NOW).await.unwrap();
    assert_eq!(stops.iter().map(|s| s.execution_id.clone()).collect::<Vec<_>>(), [a, b]);
    assert!(stops.iter().all(|s| s.reason == CLOSED_REASON && s.stopped()));
    assert!(w.groups.ids("app-pr", "acme/app#7").is_empty(), "forgotten");
    assert!(groups.close(&group("", false), NOW).await.unwrap().is_empty(), "a second close stops nothing");
}

#[tokio::test]
async fn abandon_is_passed_on_and_a_group_remembers_at_most_its_bound() {
    let w = world();
    let mut abandoning = plan("d1", "1111111", true);
    abandoning.group.as_mut().unwrap().abandon = true;
    started(w.runner.run(&abandoning, NOW).await);
    abandoning.client_request_token = "d2".into();
    abandoning.change_token = Some("c2".into());
    started(w.runner.run(&abandoning, NOW).await);
    assert!(w.control.calls.lock().unwrap()[0].ends_with(" abandon"));
    let w = world();
    for i in 0..MAX_GROUP_MEMBERS + 3 {
        started(w.runner.run(&plan(&format!("d{i}"), &format!("{i:07}"), false), NOW).await);
    }
    assert_eq!(w.groups.ids("app-pr", "acme/app#7").len(), MAX_GROUP_MEMBERS);
}
