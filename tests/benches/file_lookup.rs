//! What asking a Git server for a change's files adds to a delivery (docs/path-filters.md "Path filters"):
//! `GitApi::changed_files` through the real HTTPS adapter (hyper, kept-alive connections) to a
//! local fake GitHub on loopback, for a pull request of 3 files (one page) and of 250 files
//! (three pages of 100), with GitHub's example entries and with real-size patches. The Git server's own latency comes on top on a real network.

use criterion::{criterion_group, criterion_main, Criterion};
use herald::git_api::changed_files::{Lookup, LookupBounds};
use herald::git_api::credentials::Credentials;
use herald::git_api::https::HttpsClient;
use herald::git_api::{GitApi, RetryPolicy, ServerApi, Target};
use herald_tests::git_servers::{Auth, Bare, FakeGitServer, Server};
use std::sync::Arc;

fn lookups(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    // The fake's entries are GitHub's OpenAPI example (about 600 bytes with URLs and a short
    // patch); the last case grows each patch to 4 KB, as real pull requests run (~450 KB a page).
    // The first two as this bench ran before (entries of a file name alone), to compare.
    let cases = [
        ("pull_request_3_files_bare", 3usize, Bare::Yes, 0usize),
        ("pull_request_250_files_3_pages_bare", 250, Bare::Yes, 0),
        ("pull_request_250_files_3_pages_example_entries", 250, Bare::No, 0),
        ("pull_request_250_files_3_pages_4kb_patches", 250, Bare::No, 4096),
    ];
    for (name, count, bare, patch_bytes) in cases {
        let (fake, credentials) = runtime.block_on(async {
            let fake = FakeGitServer::start(Server::GitHub, Auth::Token("t".into())).await;
            let files: Vec<String> = (0..count).map(|i| format!("services/web/f{i}.ts")).collect();
            fake.set_files(&files.iter().map(String::as_str).collect::<Vec<_>>(), 100);
            fake.set_patch_bytes(patch_bytes);
            fake.for_benchmarks(bare);
            let (key, value) = fake.credential_entry();
            (fake, Credentials::parse(&serde_json::json!({ key: value }).to_string()).unwrap())
        });
        let api = GitApi::new(Arc::new(HttpsClient::new().unwrap()), RetryPolicy::LOOKUP);
        let target = Target::new(ServerApi::GitHub, &fake.host, None, "acme/app", None).unwrap();
        c.bench_function(&format!("file_lookup/{name}"), |b| {
            b.iter(|| {
                let bounds = LookupBounds::per_delivery();
                let lookup = Lookup::PullRequest(7);
                let files = runtime.block_on(api.changed_files(&credentials, &target, &lookup, &bounds, 0)).unwrap();
                assert_eq!(files.paths.len(), count);
            })
        });
    }
}

criterion_group!(benches, lookups);
criterion_main!(benches);
