//! The execution records against moto's DynamoDB, as the template creates the table: the records
//! of one commit are found through the table's `by-commit` index (what commands from pull
//! requests will act on), expired ones are not, and other commits' records stay apart.

use herald::aws::{execution_records, sdk_config, CallBudget};
use herald::clock::unix_now;
use herald::ports::{commit_key, ExecutionRecord};
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
    }
}

#[tokio::test]
async fn the_records_of_one_commit_are_found_by_it() {
    let moto = Moto::start();
    moto.ctl(&["create-table", "herald-dedup"]);
    // This binary holds this one test: the environment is its own.
    for (name, value) in [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ] {
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
}
