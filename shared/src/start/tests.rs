//! The batch path of a delivery's starts on in-memory ports: one claim for all, the fallback to
//! one claim per start when a key is taken or the batch write fails, and what a failed start or
//! settling write leaves behind.

use super::*;
use crate::ports::fakes::{FakeDedup, FakeStarter};
use crate::ports::RECORD_KEPT_SECS;

const NOW: i64 = 1_700_000_000;

fn plan(n: usize, pipeline: &str) -> StartPlan {
    StartPlan {
        pipeline: pipeline.into(),
        client_request_token: format!("token-{n}"),
        source_revisions: Vec::new(),
        variables: Vec::new(),
        notes: Vec::new(),
        change_token: Some(format!("change-{n}")),
        group: None,
    }
}

fn runner(starter: &Arc<FakeStarter>, dedup: &Arc<FakeDedup>) -> StartRunner {
    StartRunner::new(starter.clone(), Some(dedup.clone() as Arc<dyn DedupStore>), false)
}

fn ids(results: &[StartResult]) -> Vec<(Option<String>, bool)> {
    results
        .iter()
        .map(|r| match r {
            StartResult::Started { execution_id, duplicate, .. } => (execution_id.clone(), *duplicate),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_delivery_s_starts_are_claimed_at_once_and_settled_with_their_executions() {
    let (starter, dedup) = (Arc::new(FakeStarter::default()), Arc::new(FakeDedup::default()));
    let plans: Vec<StartPlan> = (0..3).map(|n| plan(n, &format!("p{n}"))).collect();
    let refs: Vec<&StartPlan> = plans.iter().collect();
    let results = runner(&starter, &dedup).run_plans(&refs, NOW).await;
    assert_eq!(ids(&results).iter().filter(|(id, dup)| id.is_some() && !dup).count(), 3);
    let records = dedup.records.lock().unwrap();
    for n in 0..3 {
        let (token, kept) = records[&format!("start#token-{n}")].clone();
        assert!(token.is_some() && kept == NOW + RECORD_KEPT_SECS, "the token is kept 7 days");
        assert_eq!(records[&format!("change#change-{n}")].1, NOW + CHANGE_CLAIM_SECS, "the change 10 minutes");
    }
}

#[tokio::test]
async fn a_key_taken_in_the_batch_claims_each_start_on_its_own() {
    let (starter, dedup) = (Arc::new(FakeStarter::default()), Arc::new(FakeDedup::default()));
    // The change of the second start was started by another hook's delivery; the third's token
    // is being claimed by another invocation right now.
    dedup.records.lock().unwrap().insert("change#change-1".into(), (Some("exec-earlier".into()), NOW + 600));
    dedup.records.lock().unwrap().insert("start#token-2".into(), (None, NOW + 30));
    let plans: Vec<StartPlan> = (0..3).map(|n| plan(n, &format!("p{n}"))).collect();
    let refs: Vec<&StartPlan> = plans.iter().collect();
    let results = runner(&starter, &dedup).run_plans(&refs, NOW).await;
    assert!(matches!(&results[0], StartResult::Started { duplicate: false, execution_id: Some(_), .. }));
    assert!(
        matches!(&results[1], StartResult::Started { duplicate: true, execution_id: Some(id), .. } if id == "exec-earlier")
    );
    assert_eq!(results[2], StartResult::InProgress { retry_after_secs: 30 }, "never acknowledged as done");
    assert_eq!(starter.started.lock().unwrap().len(), 1, "only the free one started");
}

#[tokio::test]
async fn a_failing_batch_claim_falls_back_and_a_failed_start_gives_its_claims_back() {
    let starter = Arc::new(FakeStarter {
        fail: [("bad".to_owned(), crate::ports::AwsError::Transient("throttled".into()))].into(),
        ..FakeStarter::default()
    });
    let dedup = Arc::new(FakeDedup::default());
    let plans = [plan(0, "good"), plan(1, "bad")];
    let refs: Vec<&StartPlan> = plans.iter().collect();
    let results = runner(&starter, &dedup).run_plans(&refs, NOW).await;
    assert!(matches!(&results[0], StartResult::Started { duplicate: false, .. }));
    assert!(matches!(&results[1], StartResult::Failed { transient: true, .. }));
    let records = dedup.records.lock().unwrap().clone();
    assert!(
        !records.contains_key("start#token-1") && !records.contains_key("change#change-1"),
        "released: {records:?}"
    );
    assert!(records["start#token-0"].0.is_some());

    // The batch write itself throttled: each start is claimed on its own, and starts once.
    let throttled = Arc::new(FakeDedup {
        fail_batch: Some(crate::ports::AwsError::Transient("ThrottlingException".into())),
        ..FakeDedup::default()
    });
    let starter = Arc::new(FakeStarter::default());
    let results = runner(&starter, &throttled).run_plans(&refs, NOW).await;
    assert_eq!(ids(&results).len(), 2);
    assert_eq!(starter.started.lock().unwrap().len(), 2);
    let again = runner(&starter, &throttled).run_plans(&refs, NOW + 1).await;
    assert!(ids(&again).iter().all(|(_, duplicate)| *duplicate), "the one-by-one records hold");
    assert_eq!(starter.started.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn claims_left_unsettled_keep_a_redelivery_waiting_never_done() {
    let dedup = Arc::new(FakeDedup::default());
    let starter = Arc::new(FakeStarter::default());
    let plans = [plan(0, "a"), plan(1, "b")];
    let refs: Vec<&StartPlan> = plans.iter().collect();
    // Claimed at once, started, and the settling write lost (the claims stay in progress).
    assert!(dedup.claim_all(&refs.iter().flat_map(|p| claim_keys(p)).collect::<Vec<_>>(), "o", NOW).await.unwrap());
    let redelivered = runner(&starter, &dedup).run_plans(&refs, NOW + 1).await;
    assert!(redelivered.iter().all(|r| matches!(r, StartResult::InProgress { .. })), "{redelivered:?}");
    assert!(starter.started.lock().unwrap().is_empty());
}
