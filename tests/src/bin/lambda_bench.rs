//! `make bench`'s whole-function benchmark: the release binaries behind a Lambda Runtime API on
//! loopback, beside the floor (a do-nothing `lambda_http` function built with the same profile,
//! in the same run). For a 25 KB GitHub push (20 commits, 80 files) against 20 path-filtered
//! triggers it prints, from `/proc` of each function's process (all threads):
//!
//! - CPU per event in dry-run mode, and its ratio to the floor's;
//! - cold init (spawn -> first request for an event: configuration read, clients built);
//! - peak RSS (`VmHWM`);
//! - CPU per delivery that starts 20 pipelines with real `StartPipelineExecution` calls to moto;
//! - latency: deliveries starting 1, 20 and 100 pipelines with the dedup table on, through a proxy
//!   before moto that delays every AWS call by RTT: AWS calls per delivery, and round trips on the
//!   critical path ((answer with the delay - answer without) / RTT, medians of 3 warm deliveries).
//!
//! Usage: `lambda_bench [EVENTS] [RTT_MS]` (defaults 2000 and 100), from the workspace root
//! after `cargo build --release --workspace --bins`.

use herald::auth::{sign_hex, Secret};
use herald_tests::events::function_url;
use herald_tests::moto::Moto;
use herald_tests::runtime::Lambda;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

const SECRET: &str = "bench-secret-0123456789";

/// A GitHub push of 20 commits touching 80 files spread over the 20 services.
fn payload() -> Vec<u8> {
    let commits: Vec<Value> = (0..20)
        .map(|i| {
            let files: Vec<String> =
                (0..4).map(|j| format!("services/svc{}/src/module_{i}_{j}/handler_with_a_long_name.rs", (i * 4 + j) % 20)).collect();
            json!({
                "id": format!("{:040x}", i + 1), "tree_id": format!("{:040x}", i + 100), "distinct": true,
                "message": format!("change {i}: {}", "refactor the request handling so that it reads better; ".repeat(10)),
                "timestamp": "2026-11-27T10:00:00Z", "url": format!("https://github.com/acme/app/commit/{:040x}", i + 1),
                "author": { "name": "Ann Example", "email": "ann@example.com", "username": "ann" },
                "committer": { "name": "Ann Example", "email": "ann@example.com", "username": "ann" },
                "added": [files[0]], "removed": [files[1]], "modified": [files[2], files[3]]
            })
        })
        .collect();
    let doc = json!({
        "ref": "refs/heads/main", "before": format!("{:040x}", 0xabc), "after": format!("{:040x}", 20),
        "created": false, "deleted": false, "forced": false, "compare": "https://github.com/acme/app/compare/a...b",
        "commits": commits.clone(), "head_commit": commits[19].clone(),
        "repository": { "id": 1, "name": "app", "full_name": "acme/app", "private": true,
                        "clone_url": "https://github.com/acme/app.git", "default_branch": "main" },
        "pusher": { "name": "ann", "email": "ann@example.com" }, "sender": { "login": "ann", "id": 7 }
    });
    serde_json::to_vec(&doc).expect("payload")
}

fn config() -> String {
    let triggers: Vec<Value> = (0..20)
        .map(|i| json!({
            "name": format!("svc{i}"), "pipeline": format!("svc{i}-pipeline"),
            "git": { "repository": "acme/app", "branches": ["main", "release/**"], "paths": [format!("services/svc{i}/**"), "!**/*.md"] },
            "variables": { "COMMIT_ID": "{commit}", "BRANCH": "{branch}" }
        }))
        .collect();
    json!({ "triggers": triggers }).to_string()
}

fn delivery(body: &[u8], id: usize) -> Value {
    let signature = format!("sha256={}", sign_hex(&Secret::new(SECRET), body));
    let delivery = format!("bench-{id}");
    function_url(
        "POST",
        &[
            ("X-GitHub-Event", "push"),
            ("X-GitHub-Delivery", &delivery),
            ("X-Hub-Signature-256", &signature),
            ("Content-Type", "application/json"),
        ],
        body,
        false,
    )
}

/// CPU time of every thread of `pid`, from `/proc/<pid>/task/*/schedstat` (nanoseconds).
fn cpu_ns(pid: u32) -> u64 {
    let mut total = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            total += stat.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    total
}

/// Peak resident memory of `pid` in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

struct Figures {
    cpu_per_event_us: f64,
    init_ms: f64,
    peak_rss_mib: f64,
}

fn release(name: &str) -> PathBuf {
    let path = herald_tests::workspace().join("target/release").join(name);
    assert!(path.exists(), "{} missing: cargo build --release --workspace --bins", path.display());
    path
}

/// Runs `events` deliveries (after a warm-up) through `binary`; CPU per event, init, peak RSS.
async fn measure(binary: &str, endpoint: &str, env: &[(&str, &str)], events: usize, body: &[u8]) -> Figures {
    // Ablations: HERALD_BENCH_ENV="K=V,K=V" adds to the function's environment.
    let extra = std::env::var("HERALD_BENCH_ENV").unwrap_or_default();
    let mut env = env.to_vec();
    env.extend(extra.split(',').filter_map(|kv| kv.split_once('=')));
    let mut lambda = Lambda::start_binary(&release(binary), endpoint, &env).await;
    let first = lambda.invoke(delivery(body, 0)).await.response();
    assert_eq!(first["statusCode"], 200, "{binary}: {first}");
    let init = lambda.init_time().expect("the function asked for an event");
    for i in 1..=50 {
        lambda.invoke(delivery(body, i)).await.response();
    }
    let pid = lambda.pid().expect("running");
    let before = cpu_ns(pid);
    for i in 0..events {
        lambda.invoke(delivery(body, 1000 + i)).await.response();
    }
    let spent = cpu_ns(pid) - before;
    let rss = peak_rss_kib(pid);
    lambda.stop().await;
    // Cold starts vary with the machine's load: the median of a few more.
    let mut inits = vec![init];
    for _ in 0..6 {
        let fresh = Lambda::start_binary(&release(binary), endpoint, &env).await;
        let mut waited = 0;
        while fresh.init_time().is_none() && waited < 500 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            waited += 1;
        }
        inits.extend(fresh.init_time());
        fresh.stop().await;
    }
    inits.sort();
    let init = inits[inits.len() / 2];
    Figures {
        cpu_per_event_us: spent as f64 / events as f64 / 1000.0,
        init_ms: init.as_secs_f64() * 1000.0,
        peak_rss_mib: rss as f64 / 1024.0,
    }
}

#[tokio::main]
async fn main() {
    let events: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let body = payload();
    let config = config();
    println!(
        "lambda bench: {} byte GitHub push, 20 commits, 80 files, 20 path-filtered triggers; {events} events",
        body.len()
    );
    // No AWS call in dry-run mode: nothing listens at this endpoint.
    let nowhere = format!("http://127.0.0.1:{}", herald_tests::moto::free_port());
    let env = [("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET", SECRET), ("HERALD_DRY_RUN", "true")];
    let floor = measure("floor", &nowhere, &[], events, &body).await;
    let dry = measure("git-webhook", &nowhere, &env, events, &body).await;
    println!(
        "dry run CPU per event: {:.0} us vs floor {:.0} us = {:.2}x",
        dry.cpu_per_event_us,
        floor.cpu_per_event_us,
        dry.cpu_per_event_us / floor.cpu_per_event_us
    );
    println!("cold init: {:.1} ms (floor {:.1} ms)", dry.init_ms, floor.init_ms);
    println!("peak RSS: {:.1} MiB (floor {:.1} MiB)", dry.peak_rss_mib, floor.peak_rss_mib);

    let moto = Moto::start();
    for i in 0..20 {
        moto.ctl(&["create-pipeline", &format!("svc{i}-pipeline"), "COMMIT_ID", "BRANCH"]);
    }
    let env = [("HERALD_CONFIG", config.as_str()), ("HERALD_WEBHOOK_SECRET", SECRET)];
    let deliveries = (events / 40).clamp(10, 100);
    let started = Instant::now();
    let real = measure("git-webhook", &moto.endpoint, &env, deliveries, &body).await;
    let executions = moto.executions("svc7-pipeline").len();
    assert!(executions > deliveries, "the deliveries started pipelines ({executions} of svc7)");
    println!(
        "20 starts per delivery (real StartPipelineExecution calls to moto): {:.2} ms CPU per delivery ({deliveries} deliveries, {:.1} s wall)",
        real.cpu_per_event_us / 1000.0,
        started.elapsed().as_secs_f64()
    );
    let rtt: u64 = std::env::args().nth(2).and_then(|n| n.parse().ok()).unwrap_or(100);
    latency(&body, rtt).await;
}

/// One delivery's answer time, in milliseconds, and its HTTP status: a push of its own head
/// commit, so that no delivery is another's duplicate (docs/security.md "One change, one start").
async fn timed(lambda: &mut Lambda, body: &[u8], id: usize) -> (f64, u64) {
    let mut doc: Value = serde_json::from_slice(body).expect("payload");
    let head = format!("{:040x}", 0xfeed_0000 + id);
    doc["after"] = json!(head);
    doc["head_commit"]["id"] = json!(head);
    let body = serde_json::to_vec(&doc).expect("payload");
    let event = delivery(&body, 1_000_000 + id);
    let began = Instant::now();
    let out = lambda.invoke(event).await.response();
    (began.elapsed().as_secs_f64() * 1000.0, out["statusCode"].as_u64().unwrap_or(0))
}

/// Deliveries starting 1, 20 and 100 pipelines, each AWS call delayed by `rtt_ms`.
async fn latency(body: &[u8], rtt_ms: u64) {
    use herald_tests::faults::{Fault, FaultProxy, WEBHOOK_OPERATIONS};
    let moto = Moto::start();
    moto.ctl(&["create-table", "herald-dedup"]);
    let mut created = 0;
    let mut id = 0;
    for starts in [1usize, 20, 100] {
        for i in created..starts {
            moto.ctl(&["create-pipeline", &format!("lat{i}")]);
        }
        created = starts;
        let triggers: Vec<Value> = (0..starts)
            .map(|i| json!({ "name": format!("lat{i}"), "pipeline": format!("lat{i}"), "git": { "repository": "acme/app" } }))
            .collect();
        let config = json!({ "triggers": triggers }).to_string();
        let proxy = FaultProxy::start(&moto.endpoint).await;
        let env = [
            ("HERALD_CONFIG", config.as_str()),
            ("HERALD_WEBHOOK_SECRET", SECRET),
            ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ];
        let mut lambda = Lambda::start_binary(&release("git-webhook"), &proxy.endpoint, &env).await;
        id += 1;
        let mut refused = 0;
        let mut answer = |(ms, status): (f64, u64)| {
            refused += usize::from(status != 200);
            ms
        };
        answer(timed(&mut lambda, body, id).await); // warm
        let mut plain = Vec::new();
        let before = proxy.calls().len();
        for _ in 0..3 {
            id += 1;
            plain.push(answer(timed(&mut lambda, body, id).await));
        }
        let calls = (proxy.calls().len() - before) / 3;
        for op in WEBHOOK_OPERATIONS {
            proxy.inject(op, Fault::Slow(std::time::Duration::from_millis(rtt_ms)), usize::MAX / 2);
        }
        let mut slowed = Vec::new();
        for _ in 0..3 {
            id += 1;
            slowed.push(answer(timed(&mut lambda, body, id).await));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let (plain, slowed) = (median(&mut plain), median(&mut slowed));
        println!(
            "latency, {starts} starts, dedup table on: {calls} AWS calls per delivery; {slowed:.0} ms at {rtt_ms} ms RTT ({plain:.0} ms without) = {:.1} round trips; {refused} of 7 deliveries answered 503",
            (slowed - plain) / rtt_ms as f64
        );
    }
}
