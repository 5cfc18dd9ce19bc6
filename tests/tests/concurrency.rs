//! Concurrency groups through the real `git-webhook` against moto (docs/configuration.md "One build per pull
//! request"): GitHub's pull request deliveries (the conformance corpus' payload, its head moved),
//! executions that moto keeps running (the shim's `MOTO_EXECUTION_STATUS`), and
//! `StopPipelineExecution` answered by the shim as CodePipeline documents it.

use herald_tests::git_servers::{self, Event, Server};
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use serde_json::{json, Value};

const SECRET: &str = "herald-concurrency-secret";
const API: &str = "https://api.github.com";

fn config(pipeline: &str) -> String {
    json!({ "triggers": [{
        "name": "app-pr", "pipeline": pipeline,
        "git": { "repository": "baxterthehacker/public-repo", "events": ["pull_request"] },
        "variables": { "MOTO_EXECUTION_STATUS": "InProgress" },
        "concurrency": { "cancel_in_progress": true }
    }]})
    .to_string()
}

fn commit(n: u8) -> String {
    format!("{n}").repeat(40)
}

/// GitHub's pull request #1, `action` (`synchronize`, `closed`), its head at `head`.
fn pull_request(id: &str, action: &str, head: &str, merged: bool) -> Value {
    git_servers::delivery_with(Server::GitHub, Event::PullRequest, API, id, SECRET, |body| {
        body["action"] = json!(action);
        body["pull_request"]["head"]["sha"] = json!(head);
        body["pull_request"]["merged"] = json!(merged);
        if action == "closed" {
            body["pull_request"]["state"] = json!("closed");
        }
    })
}

fn body_of(response: &Value) -> Value {
    assert_eq!(response["statusCode"], 200, "{response}");
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

/// (id, status, stop reason) of each execution, oldest first.
fn executions(moto: &Moto, pipeline: &str) -> Vec<(String, String, Option<String>)> {
    moto.executions(pipeline)
        .into_iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().map(str::to_owned);
            (text("id").unwrap(), text("status").unwrap(), text("stop_reason"))
        })
        .collect()
}

#[tokio::test]
async fn three_pushes_leave_the_newest_running_and_closing_stops_it() {
    let moto = Moto::start();
    let mut lambda =
        git_servers::webhook_with_credentials(&moto, &config("pr-builds"), &["pr-builds"], SECRET, &json!({})).await;
    let mut ids = Vec::new();
    for (n, action) in [(1, "opened"), (2, "synchronize"), (3, "synchronize")] {
        let answer =
            body_of(&lambda.invoke(pull_request(&format!("d-{n}"), action, &commit(n), false)).await.response());
        let id = answer["started"][0]["execution_id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
        assert_eq!(answer["started"][0]["group"], "baxterthehacker/public-repo#1", "{answer}");
        match ids.last() {
            None => assert!(answer.get("stopped").is_none(), "nothing to stop yet: {answer}"),
            Some(previous) => assert_eq!(
                answer["stopped"],
                json!([{ "trigger": "app-pr", "pipeline": "pr-builds", "execution_id": previous }]),
                "{answer}"
            ),
        }
        ids.push(id);
    }
    let runs = executions(&moto, "pr-builds");
    let running: Vec<_> = runs.iter().filter(|(_, status, _)| status == "InProgress").map(|(id, ..)| id).collect();
    assert_eq!(running, [&ids[2]], "one running: {runs:?}");
    let reasons: Vec<_> = runs.iter().filter_map(|(_, _, reason)| reason.as_deref()).collect();
    assert_eq!(reasons, ["superseded by 2222222 (herald)", "superseded by 3333333 (herald)"], "{runs:?}");

    // A redelivery of the last push is a duplicate and stops nothing.
    let again = body_of(&lambda.invoke(pull_request("d-3", "synchronize", &commit(3), false)).await.response());
    assert_eq!(again["duplicate"], true, "{again}");
    assert!(again.get("stopped").is_none(), "{again}");
    assert_eq!(executions(&moto, "pr-builds")[2].1, "InProgress");

    // Closing the pull request (not listed in pull_request_actions) stops the one left.
    let closed = body_of(&lambda.invoke(pull_request("d-close", "closed", &commit(3), false)).await.response());
    assert_eq!(closed["stopped"], json!([{ "trigger": "app-pr", "pipeline": "pr-builds", "execution_id": ids[2] }]));
    assert!(closed["started"].as_array().unwrap().is_empty(), "{closed}");
    let last = &executions(&moto, "pr-builds")[2];
    assert_eq!((last.1.as_str(), last.2.as_deref()), ("Stopping", Some("closed (herald)")));
    let twice = body_of(&lambda.invoke(pull_request("d-close-2", "closed", &commit(3), false)).await.response());
    assert!(twice.get("stopped").is_none(), "the group is forgotten: {twice}");
}

#[tokio::test]
async fn two_concurrent_deliveries_for_one_group_leave_exactly_one_running() {
    let moto = Moto::start();
    let config = config("pr-race");
    let mut first = git_servers::webhook_with_credentials(&moto, &config, &["pr-race"], SECRET, &json!({})).await;
    let env =
        [("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET", SECRET), ("HERALD_DEDUP_TABLE", "herald-dedup")];
    let mut second = Lambda::start("git-webhook", &moto.endpoint, &env).await;
    for round in 0..3u8 {
        let (a, b) = (commit(2 * round + 1), commit(2 * round + 2));
        let (one, two) = tokio::join!(
            first.invoke(pull_request(&format!("race-{round}-a"), "synchronize", &a, false)),
            second.invoke(pull_request(&format!("race-{round}-b"), "synchronize", &b, false)),
        );
        let (one, two) = (body_of(&one.response()), body_of(&two.response()));
        assert_eq!(one["started"].as_array().unwrap().len() + two["started"].as_array().unwrap().len(), 2);
        let runs = executions(&moto, "pr-race");
        let running: Vec<_> = runs.iter().filter(|(_, status, _)| status == "InProgress").collect();
        assert_eq!(running.len(), 1, "round {round}: {runs:?}\n{one}\n{two}");
    }
}

/// What a stop costs, counted through a proxy before moto, every AWS call slowed by the same
/// delay: beside a start without a group, a start that stops its group's older execution makes
/// one more write (the group's, before the start counts as done) and the stop, and the stop runs
/// beside the claims' settling write, so the answer waits about one round trip more. The times
/// are printed (docs/configuration.md "One build per pull request" reports them), not asserted.
#[tokio::test]
async fn a_start_that_stops_costs_one_write_and_a_stop_beside_the_last_write() {
    use herald_tests::faults::{Fault, FaultProxy, WEBHOOK_OPERATIONS};
    use std::time::{Duration, Instant};
    let moto = Moto::start();
    let config = json!({ "triggers": [
        { "name": "plain", "pipeline": "pr-plain",
          "git": { "repository": "baxterthehacker/public-repo", "events": ["pull_request"] },
          "variables": { "MOTO_EXECUTION_STATUS": "InProgress" } },
        { "name": "app-pr", "pipeline": "pr-cost",
          "git": { "repository": "baxterthehacker/public-repo", "events": ["pull_request"] },
          "variables": { "MOTO_EXECUTION_STATUS": "InProgress" },
          "concurrency": { "cancel_in_progress": true } }
    ]})
    .to_string();
    for pipeline in ["pr-plain", "pr-cost"] {
        moto.ctl(&["create-pipeline", pipeline]);
    }
    moto.ctl(&["create-table", "herald-dedup"]);
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let env =
        [("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET", SECRET), ("HERALD_DEDUP_TABLE", "herald-dedup")];
    let mut lambda = Lambda::start("git-webhook", &proxy.endpoint, &env).await;
    lambda.invoke(pull_request("warm-up", "opened", &commit(9), false)).await.response();
    let delay = Duration::from_millis(100);
    for call in WEBHOOK_OPERATIONS {
        proxy.inject(call, Fault::Slow(delay), 100);
    }
    let before = proxy.calls().len();
    let began = Instant::now();
    let answer = body_of(&lambda.invoke(pull_request("d-cost", "synchronize", &commit(1), false)).await.response());
    let took = began.elapsed();
    let calls = proxy.calls()[before..].to_vec();
    let count = |name: &str| calls.iter().filter(|c| *c == name).count();
    assert_eq!(answer["stopped"].as_array().map(Vec::len), Some(1), "the warm-up's execution: {answer}");
    assert_eq!(count("StartPipelineExecution"), 2, "{calls:?}");
    assert_eq!(count("StopPipelineExecution"), 1, "{calls:?}");
    assert_eq!(count("UpdateItem"), 1, "the group's one conditional write: {calls:?}");
    assert_eq!(count("TransactWriteItems"), 1, "both starts' change and token claims at once: {calls:?}");
    assert_eq!(count("BatchWriteItem"), 1, "and their completions: {calls:?}");
    assert_eq!(count("PutItem"), 1, "the delivery answered 200, for the redelivery sweep: {calls:?}");
    eprintln!(
        "a delivery starting 2 pipelines, one stopping its group's older execution, every AWS call {} ms: {} ms ({:.1} round trips; claims, starts and completions without a group are 3), {} AWS calls",
        delay.as_millis(),
        took.as_millis(),
        took.as_secs_f64() / delay.as_secs_f64(),
        calls.len()
    );
}

/// Kinds never share a group: with a template on `{branch}`, a fork's pull request from its own
/// branch named `master` renders the same name as master's pushes, yet neither joins nor stops
/// their group, and closing it stops only its own execution (and not another pull request's in
/// a group the template shares).
#[tokio::test]
async fn a_fork_pull_request_from_master_neither_joins_nor_stops_a_push_group() {
    let moto = Moto::start();
    let config = json!({ "triggers": [{
        "name": "app", "pipeline": "app-kinds",
        "git": { "repository": "baxterthehacker/public-repo", "events": ["push", "pull_request"], "allow_forks": true },
        "variables": { "MOTO_EXECUTION_STATUS": "InProgress" },
        "concurrency": { "group": "{repository}#{branch}", "cancel_in_progress": true }
    }]})
    .to_string();
    let mut lambda = git_servers::webhook_with_credentials(&moto, &config, &["app-kinds"], SECRET, &json!({})).await;
    let push = git_servers::delivery_with(Server::GitHub, Event::Push, API, "push-master", SECRET, |body| {
        body["repository"]["full_name"] = json!("baxterthehacker/public-repo");
        body["repository"]["name"] = json!("public-repo");
        body["after"] = json!(commit(1));
        body["head_commit"]["id"] = json!(commit(1));
    });
    let pushed = body_of(&lambda.invoke(push).await.response());
    assert_eq!(pushed["started"][0]["group"], "baxterthehacker/public-repo#master", "{pushed}");
    let fork_pr = |id: &str, action: &str, number: u64, head: &str| {
        git_servers::delivery_with(Server::GitHub, Event::PullRequest, API, id, SECRET, |body| {
            body["action"] = json!(action);
            body["number"] = json!(number);
            body["pull_request"]["number"] = json!(number);
            body["pull_request"]["head"]["sha"] = json!(head);
            body["pull_request"]["head"]["ref"] = json!("master");
            body["pull_request"]["head"]["repo"]["full_name"] = json!(format!("mallory-{number}/public-repo"));
            body["pull_request"]["head"]["repo"]["id"] = json!(900 + number);
            if action == "closed" {
                body["pull_request"]["state"] = json!("closed");
            }
        })
    };
    let opened = body_of(&lambda.invoke(fork_pr("fork-open", "opened", 5, &commit(2))).await.response());
    assert_eq!(opened["started"][0]["group"], "baxterthehacker/public-repo#master", "{opened}");
    assert!(opened.get("stopped").is_none(), "the fork stops no push: {opened}");
    // A second fork pull request from its own `master`: the same pull request group by design.
    let other = body_of(&lambda.invoke(fork_pr("fork-open-6", "opened", 6, &commit(3))).await.response());
    assert_eq!(other["stopped"][0]["execution_id"], opened["started"][0]["execution_id"], "{other}");
    let closed = body_of(&lambda.invoke(fork_pr("fork-close", "closed", 5, &commit(2))).await.response());
    assert!(
        closed.get("stopped").is_none(),
        "#5's own execution was already stopped by #6; #6's is not #5's: {closed}"
    );
    let runs = executions(&moto, "app-kinds");
    let running: Vec<&str> = runs.iter().filter(|(_, s, _)| s == "InProgress").map(|(id, _, _)| id.as_str()).collect();
    let push_id = pushed["started"][0]["execution_id"].as_str().unwrap();
    let six = other["started"][0]["execution_id"].as_str().unwrap();
    assert_eq!(running, [push_id, six], "master's push and #6 keep running: {runs:?}");
    let closed_six = body_of(&lambda.invoke(fork_pr("fork-close-6", "closed", 6, &commit(3))).await.response());
    assert_eq!(closed_six["stopped"][0]["execution_id"], six, "{closed_six}");
    let runs = executions(&moto, "app-kinds");
    let running: Vec<&str> = runs.iter().filter(|(_, s, _)| s == "InProgress").map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(running, [push_id], "closing never stops a push: {runs:?}");
}
