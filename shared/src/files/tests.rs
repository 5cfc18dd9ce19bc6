use super::*;
use crate::change::{PrAction, ProviderKind, PullRequest, PullRequestParts, PushParts, ServerAddress};
use crate::git_api::credentials::Credentials;
use crate::git_api::RetryPolicy;
use crate::ports::fakes::FakeHttp;
use serde_json::json;

const ROOT: &str = "https://api.github.com/repos/acme/app";

fn lookups(http: Arc<FakeHttp>, credentials: &str) -> FileLookups {
    let policy = RetryPolicy { attempts: 2, timeout: Duration::from_secs(1), backoff: Duration::from_millis(1) };
    let credentials = ServerCredentials::Fixed(Arc::new(Credentials::parse(credentials).unwrap()));
    FileLookups::new(Arc::new(credentials), GitApi::new(http, policy))
}

fn pull_request() -> Change {
    let change: Change = PullRequestParts {
        provider: ProviderKind::GitHub,
        delivery: "d".into(),
        repository: "acme/app".into(),
        commit: "7d2f9e8c1b4a3f5e6d7c8b9a0f1e2d3c4b5a6978".into(),
        author: String::new(),
        title: String::new(),
        clone_url: String::new(),
        pull_request: PullRequest {
            number: 12,
            action: PrAction::Opened,
            source_branch: "f".into(),
            target_branch: "main".into(),
            from_fork: false,
        },
    }
    .into();
    change.with_server(ServerAddress::from_url(ROOT))
}

fn new_branch() -> Change {
    let change: Change = PushParts {
        provider: ProviderKind::GitHub,
        delivery: "d".into(),
        repository: "acme/app".into(),
        git_ref: "refs/heads/f".into(),
        commit: "7d2f9e8c1b4a3f5e6d7c8b9a0f1e2d3c4b5a6978".into(),
        deleted: false,
        files: ChangedFiles::unknown(),
        author: String::new(),
        message: String::new(),
        clone_url: String::new(),
    }
    .into();
    change.with_server(ServerAddress::from_url(ROOT)).with_before(Some("0".repeat(40)))
}

fn with_files(paths: &[&str]) -> FakeHttp {
    let mut http = FakeHttp::default();
    let listed: Vec<_> = paths.iter().map(|p| json!({ "filename": p })).collect();
    http.bodies.insert("/pulls/12/files?per_page=100&page=1".into(), json!(listed).to_string());
    http
}

#[tokio::test]
async fn a_pull_request_gets_its_whole_file_list() {
    let http = Arc::new(with_files(&["services/web/a.ts", "services/web/b.ts"]));
    let files = lookups(http.clone(), r#"{"github": {"token": "t"}}"#)
        .complete(&pull_request(), None, &LookupBounds::per_delivery(), LOOKUP_BUDGET, 0)
        .await;
    assert_eq!(files, ChangedFiles::complete(["services/web/a.ts".to_owned(), "services/web/b.ts".to_owned()]));
    assert_eq!(http.requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn what_cannot_be_asked_says_why() {
    let http = Arc::new(with_files(&["a"]));
    let no_credential = lookups(http.clone(), r#"{"gitlab": {"token": "t"}}"#)
        .complete(&pull_request(), None, &LookupBounds::per_delivery(), LOOKUP_BUDGET, 0)
        .await;
    assert!(!no_credential.complete);
    assert!(no_credential.why.unwrap().starts_with("no credential for api.github.com"));
    let created = lookups(http.clone(), r#"{"github": {"token": "t"}}"#)
        .complete(&new_branch(), None, &LookupBounds::per_delivery(), LOOKUP_BUDGET, 0)
        .await;
    assert_eq!(created.why.as_deref(), Some("the push created the ref: there is no previous commit to compare with"));
    assert!(http.requests.lock().unwrap().is_empty(), "neither asked anything");

    let failing = Arc::new(FakeHttp::answering(&[500, 502]));
    let failed = lookups(failing.clone(), r#"{"github": {"token": "t"}}"#)
        .complete(&pull_request(), None, &LookupBounds::per_delivery(), LOOKUP_BUDGET, 0)
        .await;
    assert!(failed.why.unwrap().starts_with("the lookup failed: api.github.com answered 502"), "after a retry");
    assert_eq!(failing.requests.lock().unwrap().len(), 2);

    let slow = Arc::new(FakeHttp { delay: Duration::from_secs(3), ..with_files(&["a"]) });
    let timed_out = lookups(slow, r#"{"github": {"token": "t"}}"#)
        .complete(&pull_request(), None, &LookupBounds::per_delivery(), Duration::from_millis(200), 0)
        .await;
    assert_eq!(timed_out.why.as_deref(), Some("api.github.com did not answer within 200 ms"));
}
