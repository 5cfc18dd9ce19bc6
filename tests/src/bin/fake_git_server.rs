//! A fake Git server's status and changed-file APIs for `make demo` (the integration tests use
//! the same fakes, `herald_tests::git_servers`): `fake_git_server <github|gitlab|...> <token>
//! [changed file ...]` prints `{"url": ...}` once listening, then one JSON line per request that
//! arrived, until killed. It runs without GitHub's OpenAPI (the tests' oracle, `make npm`), so
//! the demo works on a fresh clone; the integration tests check the same fakes' traffic against it.

use herald_tests::git_servers::{Auth, FakeGitServer, Oracle, Server};
use std::io::Write;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(server), Some(token)) = (args.get(1).and_then(|s| Server::parse_key(s)), args.get(2)) else {
        eprintln!("usage: fake_git_server <github|gitlab|bitbucket|bitbucket-server|gitea|azure-devops> <token>");
        std::process::exit(2);
    };
    let fake = FakeGitServer::start_checked(server, Auth::Token(token.clone()), 0, Oracle::Absent).await;
    let files: Vec<&str> = args.iter().skip(3).map(String::as_str).collect();
    fake.set_files(&files, 100);
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", serde_json::json!({ "url": fake.url, "host": fake.host, "api_url": fake.api_url() }));
    let _ = out.flush();
    let mut shown = 0;
    loop {
        let arrivals = fake.arrivals();
        for a in &arrivals[shown..] {
            let line = serde_json::json!({
                "method": a.method, "path": a.path, "status": a.status, "problem": a.problem, "body": a.body,
            });
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        shown = arrivals.len();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
