//! `webhook_hot_path`: authenticate + parse + decide for a 25 KB GitHub push (20 commits,
//! 80 changed files) against 20 path-filtered triggers, and in the same run its floor:
//! HMAC-SHA256 over the body, a typed serde_json parse, the glob matches alone.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use herald::auth::{hmac_sha256, sign_hex, Secret};
use herald::config::Config;
use herald::glob::{candidate, GlobList};
use herald::providers::{self, Content, Headers};
use herald::secrets::WebhookSecrets;
use herald::trigger::decide_git;
use serde::Deserialize;
use serde_json::json;

const SECRET: &str = "bench-secret-0123456789";

fn payload() -> Vec<u8> {
    let commits: Vec<_> = (0..20)
        .map(|i| {
            let files: Vec<String> = (0..4).map(|j| format!("services/svc{}/src/module_{i}_{j}/handler_with_a_long_name.rs", (i * 4 + j) % 3)).collect();
            json!({
                "id": format!("{:040x}", i + 1),
                "tree_id": format!("{:040x}", i + 100),
                "distinct": true,
                "message": format!("change {i}: {}", "refactor the request handling so that it reads better; ".repeat(10)),
                "timestamp": "2026-11-27T10:00:00Z",
                "url": format!("https://github.com/acme/app/commit/{:040x}", i + 1),
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
        "repository": { "id": 1, "name": "app", "full_name": "acme/app", "private": true, "clone_url": "https://github.com/acme/app.git", "default_branch": "main" },
        "pusher": { "name": "ann", "email": "ann@example.com" },
        "sender": { "login": "ann", "id": 7 }
    });
    serde_json::to_vec(&doc).unwrap()
}

fn config() -> Config {
    let triggers: Vec<_> = (0..20)
        .map(|i| json!({
            "name": format!("svc{i}"), "pipeline": format!("svc{i}-pipeline"),
            "git": { "repository": "acme/app", "branches": ["main", "release/**"], "paths": [format!("services/svc{i}/**"), "!**/*.md"] },
            "source_action": "Source",
            "variables": { "COMMIT_ID": "{commit}", "BRANCH": "{branch}" }
        }))
        .collect();
    Config::from_json(&json!({ "triggers": triggers }).to_string()).unwrap()
}

/// The floor's typed parse: just the fields a decision reads.
#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorPush {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    commits: Vec<FloorCommit>,
    repository: FloorRepo,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorCommit {
    message: String,
    added: Vec<String>,
    modified: Vec<String>,
    removed: Vec<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct FloorRepo {
    full_name: String,
}

fn bench(c: &mut Criterion) {
    let body = payload();
    let config = config();
    let secrets = WebhookSecrets::parse(SECRET).unwrap();
    let mut headers = Headers::new();
    headers.insert("X-GitHub-Event", "push");
    headers.insert("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    headers.insert("Content-Type", "application/json");
    headers.insert("X-Hub-Signature-256", &format!("sha256={}", sign_hex(&Secret::new(SECRET), &body)));
    eprintln!("payload: {} bytes", body.len());

    let paths: Vec<GlobList> = config.git_triggers().map(|(_, g)| g.paths.clone().unwrap()).collect();
    let files: Vec<String> = serde_json::from_slice::<FloorPush>(&body)
        .unwrap()
        .commits
        .iter()
        .flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed).cloned())
        .collect();

    let mut group = c.benchmark_group("webhook_hot_path");
    group.bench_function("hot_path", |b| {
        b.iter(|| {
            let provider = providers::detect(&headers).unwrap();
            let scope = providers::authenticate(provider, &headers, black_box(&body), &secrets, 0).unwrap();
            let delivery = providers::parse(provider, &headers, &body).unwrap();
            let Content::Changes(changes) = delivery.content else { unreachable!() };
            black_box(decide_git(&config, &scope, &changes[0], false))
        })
    });
    group.bench_function("floor_hmac", |b| b.iter(|| black_box(hmac_sha256(SECRET.as_bytes(), black_box(&body)))));
    group.bench_function("floor_parse", |b| {
        b.iter(|| black_box(serde_json::from_slice::<FloorPush>(black_box(&body)).unwrap()))
    });
    group.bench_function("floor_globs", |b| {
        b.iter(|| {
            let candidates: Vec<_> = files.iter().map(|f| candidate(f)).collect();
            black_box(paths.iter().filter(|p| candidates.iter().any(|f| p.is_match_candidate(f))).count())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
