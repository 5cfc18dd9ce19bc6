//! The execution records against moto's DynamoDB, as the template creates the table: the records
//! of one commit are found through the table's `by-commit` index (what commands from pull
//! requests will act on), expired ones are not, and other commits' records stay apart.

use herald::aws::{concurrency_groups, execution_records, sdk_config, CallBudget};
use herald::clock::unix_now;
use herald::ports::{commit_key, ExecutionRecord, GroupMember, GroupPlan, MAX_GROUP_MEMBERS};
use herald_tests::moto::Moto;

fn record(execution_id: &str, repository: &str, commit: &str) -> ExecutionRecord {
    ExecutionRecord {
        execution_id: execution_id.into(),
        pipeline: "app".into(),
        trigger: "app".into(),
        provider: "github".into(),
        host: "api.github.com".into(),
        organization: None,
        repository: repository.into(),
        scope: None,
        commit: commit.into(),
        context: "herald/app".into(),
        stages: false,
        started_at: 1_700_000_000,
        stop_reason: None,
    }
}

#[tokio::test]
async fn the_records_of_one_commit_are_found_by_it() {
    let moto = Moto::start();
    moto.ctl(&["create-table", "herald-dedup"]);
    // This binary holds this one test: the environment is its own.
    for (name, value) in moto.client_env() {
        std::env::set_var(name, value);
    }
    let records = execution_records(&sdk_config(CallBudget::ASYNC).await, "herald-dedup");
    let (a, b) = ("a".repeat(40), "b".repeat(40));
    let now = unix_now();
    for r in [record("e-1", "Acme/App", &a), record("e-2", "acme/app", &a), record("e-3", "acme/app", &b)] {
        records.put(&r, now).await.unwrap();
    }
    let mut found: Vec<String> = records
        .by_commit(&commit_key("github", "api.github.com", "ACME/app", &a), now)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.execution_id)
        .collect();
    found.sort();
    assert_eq!(found, ["e-1", "e-2"], "the repository matches as repositories do, case aside");
    let later = now + herald::aws::dynamodb::EXECUTION_RECORD_TTL_SECS + 1;
    assert!(records
        .by_commit(&commit_key("github", "api.github.com", "acme/app", &a), later)
        .await
        .unwrap()
        .is_empty());
    assert!(records.by_commit(&commit_key("gitlab", "api.github.com", "acme/app", &a), now).await.unwrap().is_empty());

    // A stop's note reaches the record's reader; an execution without a record gets none.
    let sdk = sdk_config(CallBudget::ASYNC).await;
    records.note_stop("e-1", "superseded by bbbbbbb").await.unwrap();
    records.note_stop("e-unrecorded", "closed").await.unwrap();
    assert_eq!(records.get("e-1", now).await.unwrap().unwrap().stop_reason.as_deref(), Some("superseded by bbbbbbb"));
    assert_eq!(records.get("e-unrecorded", now).await.unwrap(), None, "no record is made by a note");

    // Concurrency groups, with DynamoDB's update expressions as moto evaluates them.
    let groups = concurrency_groups(&sdk, "herald-dedup");
    let group = |cancel| GroupPlan {
        trigger: "app-pr".into(),
        name: if cancel { "acme/app#7".into() } else { "acme/app#8".into() },
        commit: a.clone(),
        cancel_in_progress: cancel,
        abandon: false,
        kind: herald::ports::ChangeKind::PullRequest,
        pull_request: Some(7),
    };
    let member = |id: &str| GroupMember {
        execution_id: id.into(),
        pipeline: "app".into(),
        commit: a.clone(),
        started_at: now,
        pull_request: Some(7),
    };
    let ids = |members: Vec<GroupMember>| members.into_iter().map(|m| m.execution_id).collect::<Vec<_>>();
    let cancelling = group(true);
    assert!(groups.join(&cancelling, &member("x-1"), true, now).await.unwrap().is_empty(), "a new group");
    assert_eq!(ids(groups.join(&cancelling, &member("x-2"), true, now).await.unwrap()), ["x-1"]);
    assert!(groups.join(&cancelling, &member("x-2"), true, now).await.unwrap().is_empty(), "the same member again");
    assert_eq!(ids(groups.join(&cancelling, &member("x-3"), true, now).await.unwrap()), ["x-2"], "replaced");
    groups.keep(&cancelling, &[member("x-2")], now).await.unwrap();
    let held = groups.members(&cancelling, now).await.unwrap();
    assert_eq!(ids(held.members.clone()), ["x-3", "x-2"]);
    groups.forget(&cancelling, held.version - 1).await.unwrap();
    assert_eq!(groups.members(&cancelling, now).await.unwrap().members.len(), 2, "written since: kept");
    groups.forget(&cancelling, held.version).await.unwrap();
    assert!(groups.members(&cancelling, now).await.unwrap().members.is_empty(), "forgotten");

    let keeping = group(false);
    for i in 0..MAX_GROUP_MEMBERS + 2 {
        let earlier = groups.join(&keeping, &member(&format!("k-{i}")), false, now).await.unwrap();
        assert_eq!(earlier.len(), i.min(MAX_GROUP_MEMBERS), "after {i}");
    }
    let held = ids(groups.members(&keeping, now).await.unwrap().members);
    assert_eq!(held.len(), MAX_GROUP_MEMBERS);
    assert_eq!(held.last().map(String::as_str), Some(format!("k-{}", MAX_GROUP_MEMBERS + 1).as_str()));
    assert_eq!(held[0], "k-2", "the oldest forgotten first");
}
