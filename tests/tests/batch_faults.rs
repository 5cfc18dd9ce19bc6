//! The batch path of a delivery's starts (docs/performance.md "Performance") under AWS failures, through the
//! real `git-webhook`, a fault proxy and moto: a claim transaction cancelled for one item, the
//! batch call throttled, and the settling write failing after the starts. Each must end started
//! once, or answered retryable: never acknowledged and lost, never started twice.

use herald_tests::faults::{Fault, FaultProxy};
use herald_tests::git_servers::{self, Event, Server};
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use serde_json::Value;

const SECRET: &str = "herald-batch-secret";
/// More than the SDK's three attempts: the failure reaches Herald.
const PERSISTENT: usize = 6;
const CONFIG: &str = r#"{"triggers": [
  {"name": "a", "pipeline": "batch-a", "git": {"repository": "**"}},
  {"name": "b", "pipeline": "batch-b", "git": {"repository": "**"}}
]}"#;

struct World {
    moto: Moto,
    proxy: FaultProxy,
    lambda: Lambda,
}

async fn world() -> World {
    let moto = Moto::start();
    for pipeline in ["batch-a", "batch-b"] {
        moto.ctl(&["create-pipeline", pipeline]);
    }
    moto.ctl(&["create-table", "herald-dedup"]);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let env = [("HERALD_CONFIG", CONFIG), ("HERALD_WEBHOOK_SECRET", SECRET), ("HERALD_DEDUP_TABLE", "herald-dedup")];
    let lambda = Lambda::start("git-webhook", &proxy.endpoint, &env).await;
    World { moto, proxy, lambda }
}

fn push(id: &str) -> Value {
    git_servers::delivery(Server::GitHub, Event::Push, "https://api.github.com", id, SECRET)
}

async fn send(w: &mut World, id: &str) -> (u64, Value) {
    let response = w.lambda.invoke(push(id)).await.response();
    let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    (response["statusCode"].as_u64().unwrap(), body)
}

fn executions(w: &World) -> (usize, usize) {
    (w.moto.executions("batch-a").len(), w.moto.executions("batch-b").len())
}

#[tokio::test]
async fn a_claim_transaction_cancelled_for_one_item_starts_the_others_and_asks_a_retry_for_it() {
    let mut w = world().await;
    // Another invocation holds trigger b's token for delivery d-1 right now.
    for (name, value) in w.moto.client_env() {
        std::env::set_var(name, value);
    }
    let dedup =
        herald::aws::dedup_store(&herald::aws::sdk_config(herald::aws::CallBudget::ASYNC).await, "herald-dedup");
    let token = herald::token::deterministic(&["github", "d-1", "b", "batch-b"]);
    let now = herald::clock::unix_now();
    assert_eq!(dedup.claim(&format!("start#{token}"), now).await.unwrap(), herald::ports::Claim::Claimed);
    let (status, body) = send(&mut w, "d-1").await;
    assert_eq!(status, 503, "b is in progress elsewhere: {body}");
    assert_eq!(body["started"][0]["pipeline"], "batch-a", "{body}");
    assert_eq!(executions(&w), (1, 0));
    assert!(w.proxy.calls().iter().any(|c| c == "TransactWriteItems"), "the batch was tried first");
    // The sender's retry: a is a duplicate, b still waits for the other invocation's lease.
    let (status, body) = send(&mut w, "d-1").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["started"][0]["duplicate"], true, "{body}");
    assert_eq!(executions(&w), (1, 0), "never started twice");
}

#[tokio::test]
async fn a_throttled_batch_claim_falls_back_to_one_claim_per_start() {
    let mut w = world().await;
    w.proxy.inject("TransactWriteItems", Fault::Throttle, PERSISTENT);
    let (status, body) = send(&mut w, "d-2").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(executions(&w), (1, 1));
    assert!(w.proxy.calls().iter().filter(|c| *c == "PutItem").count() >= 4, "claimed one by one");
    w.proxy.heal();
    let (status, again) = send(&mut w, "d-2").await;
    assert_eq!((status, &again["duplicate"]), (200, &Value::Bool(true)), "{again}");
    assert_eq!(executions(&w), (1, 1));
}

#[tokio::test]
async fn a_settling_write_that_fails_after_the_starts_keeps_the_redelivery_waiting_never_twice() {
    let mut w = world().await;
    w.proxy.inject("BatchWriteItem", Fault::ServerError, PERSISTENT);
    let (status, body) = send(&mut w, "d-3").await;
    assert_eq!(status, 200, "the starts stand: {body}");
    assert_eq!(executions(&w), (1, 1));
    w.proxy.heal();
    // The claims stayed in progress: the redelivery is asked to come back when their leases end,
    // never told "done" without the executions, and starts nothing twice.
    let (status, body) = send(&mut w, "d-3").await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["duplicate"], true, "{body}");
    assert_eq!(executions(&w), (1, 1));
}
