use super::*;
use crate::ports::fakes::FakeHttp;
use crate::ports::StatusState;
use base64::Engine;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

fn status(state: StatusState) -> CommitStatus {
    CommitStatus {
        context: "herald/app".into(),
        state,
        description: "Pipeline app succeeded".into(),
        target_url: "https://eu-west-1.console.aws.amazon.com/x".into(),
    }
}

fn key(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github-app").join(file);
    std::fs::read_to_string(path).unwrap()
}

fn body(request: &OutboundRequest) -> serde_json::Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn header<'r>(request: &'r OutboundRequest, name: &str) -> Option<&'r str> {
    request.headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn target(api: ServerApi, host: &str, repository: &str) -> Target {
    Target::new(api, host, None, repository, None).unwrap()
}

fn sha() -> CommitId {
    CommitId::for_status(SHA).unwrap()
}

#[test]
fn every_entry_has_an_api_base_from_configuration() {
    let creds = Credentials::parse(
        r#"{"github": {"token": "a"}, "github:ghe.example.com": {"token": "b"},
            "gitlab:git.example.com": {"token": "c", "api_url": "https://git.example.com/gitlab/api/v4/"},
            "gitlab": {"token": "d"}, "bitbucket": {"token": "e"}, "bitbucket-server:bb.example.com:7990": {"token": "f"},
            "gitea:127.0.0.1:3000": {"token": "g", "api_url": "http://127.0.0.1:3000/api/v1"},
            "azure-devops": {"token": "h", "organization": "fabrikam"},
            "azure-devops:fabrikam.visualstudio.com": {"token": "i", "organization": "fabrikam"}}"#,
    )
    .unwrap();
    let base = |api, host: &str| creds.for_host(api, &Host(host.into())).map(|e| e.base.clone());
    assert_eq!(base(ServerApi::GitHub, "api.github.com").as_deref(), Some("https://api.github.com"));
    assert_eq!(base(ServerApi::GitHub, "ghe.example.com").as_deref(), Some("https://ghe.example.com/api/v3"));
    assert_eq!(base(ServerApi::GitLab, "git.example.com").as_deref(), Some("https://git.example.com/gitlab/api/v4"));
    assert_eq!(base(ServerApi::GitLab, "gitlab.com").as_deref(), Some("https://gitlab.com/api/v4"));
    assert_eq!(base(ServerApi::BitbucketCloud, "api.bitbucket.org").as_deref(), Some("https://api.bitbucket.org/2.0"));
    assert_eq!(
        base(ServerApi::BitbucketServer, "bb.example.com:7990").as_deref(),
        Some("https://bb.example.com:7990/rest")
    );
    assert_eq!(base(ServerApi::Gitea, "127.0.0.1:3000").as_deref(), Some("http://127.0.0.1:3000/api/v1"));
    assert_eq!(base(ServerApi::AzureDevOps, "dev.azure.com").as_deref(), Some("https://dev.azure.com/fabrikam"));
    assert_eq!(
        base(ServerApi::AzureDevOps, "fabrikam.visualstudio.com").as_deref(),
        Some("https://fabrikam.visualstudio.com"),
        "an old host is its organization's root"
    );
    for (doc, says) in [
        (
            r#"{"gitlab:git.example.com": {"token": "t", "api_url": "https://evil.example.com/api/v4"}}"#,
            "not the entry's host",
        ),
        (r#"{"gitlab:git.example.com": {"token": "t", "api_url": "http://git.example.com/api/v4"}}"#, "HTTPS"),
        (r#"{"gitlab:git.example.com": {"token": "t", "api_url": "https://git.example.com/api/v4?x=1"}}"#, "plain URL"),
        (r#"{"gitlab:git.example.com": {"token": "t", "api_url": "https://git.example.com/a#/b"}}"#, "plain URL"),
        (r#"{"gitlab:git.example.com": {"token": "t", "api_url": "https://u@git.example.com/a"}}"#, "https://host"),
        (r#"{"azure-devops": {"token": "t"}}"#, "organization is required"),
        (r#"{"azure-devops": {"token": "t", "organization": "a/b"}}"#, "organization must be"),
        (r#"{"github": {"token": "t", "organization": "a"}}"#, "Azure DevOps only"),
        (r#"{"github": {"token": "t", "repositories": "acme/*"}}"#, "list of globs"),
        (r#"{"github": {"token": "t", "repositories": ["acme/["]}}"#, "repositories[0]"),
        (r#"{"github": {"token": "t", "secrets": []}}"#, "non-empty list"),
        (r#"{"github": {"token": "t"}, "github:api.github.com": {"token": "u"}}"#, "a second entry"),
    ] {
        let e = Credentials::parse(doc).unwrap_err();
        assert!(e.contains(says), "{doc}: {e}");
    }
}

#[test]
fn an_entry_serves_only_its_repositories_secret_scopes_and_organization() {
    let creds = Credentials::parse(
        r#"{"github": {"token": "t", "repositories": ["team-a/*"], "secrets": ["team-a"]},
            "azure-devops": {"token": "t", "organization": "fabrikam"}}"#,
    )
    .unwrap();
    let gh = |repository: &str, scope: Option<&str>| {
        entry_for(&creds, &Target::new(ServerApi::GitHub, "api.github.com", None, repository, scope).unwrap())
            .map(|e| e.key.clone())
    };
    assert_eq!(gh("team-a/app", Some("team-a")).as_deref(), Ok("github"));
    assert!(gh("Team-A/App", Some("team-a")).is_ok(), "repository names compare without case");
    let other_repo = gh("team-b/app", Some("team-a")).unwrap_err().to_string();
    assert!(other_repo.contains("does not serve team-b/app (repositories)"), "{other_repo}");
    let other_scope = gh("team-a/app", Some("team-b")).unwrap_err().to_string();
    assert!(other_scope.contains("\"team-b\" webhook secrets"), "{other_scope}");
    assert!(gh("team-a/app", None).unwrap_err().to_string().contains("\"default\""));
    let azure = |org: Option<&str>| {
        entry_for(&creds, &Target::new(ServerApi::AzureDevOps, "dev.azure.com", org, "p/r", None).unwrap()).map(|_| ())
    };
    assert_eq!(azure(Some("fabrikam")), Ok(()));
    let foreign = azure(Some("contoso")).unwrap_err().to_string();
    assert!(foreign.contains("organization \"contoso\"") && foreign.contains("serves \"fabrikam\" only"), "{foreign}");
    assert!(azure(None).is_err());
}

#[test]
fn a_bare_provider_key_serves_only_the_public_service() {
    let creds = Credentials::parse(
        r#"{"github": {"token": "ghp_public"}, "github:ghe.example.com": {"token": "ghp_enterprise"},
            "gitea:git.example.com:3000": {"token": "gt"}, "bitbucket": {"username": "u", "app_password": "p"}}"#,
    )
    .unwrap();
    let token = |api, host: &str| match creds.for_host(api, &Host(host.into())).map(|e| &e.credential) {
        Some(Credential::Token(t)) => Some(t.clone()),
        Some(Credential::Basic { username, .. }) => Some(username.clone()),
        _ => None,
    };
    assert_eq!(token(ServerApi::GitHub, "api.github.com").as_deref(), Some("ghp_public"));
    assert_eq!(token(ServerApi::GitHub, "ghe.example.com").as_deref(), Some("ghp_enterprise"));
    // A payload naming any other host (a delivery signed by one team's secret) gets nothing.
    assert_eq!(token(ServerApi::GitHub, "evil.example.com"), None);
    assert_eq!(token(ServerApi::GitHub, "api.github.com:8443"), None);
    assert_eq!(token(ServerApi::Gitea, "git.example.com:3000").as_deref(), Some("gt"));
    assert_eq!(token(ServerApi::Gitea, "git.example.com"), None);
    assert_eq!(token(ServerApi::BitbucketCloud, "api.bitbucket.org").as_deref(), Some("u"));
    assert_eq!(token(ServerApi::GitLab, "gitlab.com"), None);
    assert_eq!(creds.keys(), ["bitbucket", "gitea:git.example.com:3000", "github", "github:ghe.example.com"]);
    assert!(!format!("{creds:?}").contains("ghp_"), "Debug never prints a secret");
}

#[test]
fn a_bad_credentials_document_says_where_never_the_value() {
    for (doc, says) in [
        (r#"{"gitea": {"token": "sekrit-value"}}"#, "no public service"),
        (r#"{"gogs:h": {"token": "sekrit-value"}}"#, "unknown provider"),
        (r#"{"github": {"token": ""}}"#, "non-empty"),
        (r#"{"github": {"username": "u", "password": "sekrit-value"}}"#, "takes a token"),
        (r#"{"gitlab": {"tokn": "sekrit-value"}}"#, "unknown field"),
        (r#"{"gitlab:a/b": {"token": "sekrit-value"}}"#, "host or host:port"),
        (r#"{"gitlab": {"app_id": 1, "private_key": "sekrit-value", "installation_id": 2}}"#, "GitHub Apps only"),
        (r#"{"github": {"app_id": 1, "private_key": "sekrit-value", "installation_id": 2}}"#, "PEM"),
        (r#"{"github": "sekrit-value"}"#, "expected an object"),
        (r#"["sekrit-value"]"#, "JSON object"),
        ("{sekrit-value", "not JSON"),
        (r#"{"github": {"token": "sekrit-value\r\nX-Injected: 1"}}"#, "control characters"),
    ] {
        let e = Credentials::parse(doc).unwrap_err();
        assert!(e.contains(says), "{doc}: {e}");
        assert!(!e.contains("sekrit"), "{doc}: {e}");
    }
}

#[test]
fn each_server_gets_its_own_words_and_header() {
    let cases = [
        (ServerApi::GitHub, r#"{"token":"t"}"#, ("authorization", "Bearer t"), "state", "success"),
        (ServerApi::GitLab, r#"{"token":"t"}"#, ("private-token", "t"), "state", "success"),
        (
            ServerApi::BitbucketCloud,
            r#"{"username":"u","app_password":"p"}"#,
            ("authorization", "Basic dTpw"),
            "state",
            "SUCCESSFUL",
        ),
        (ServerApi::BitbucketServer, r#"{"token":"t"}"#, ("authorization", "Bearer t"), "state", "SUCCESSFUL"),
        (ServerApi::Gitea, r#"{"token":"t"}"#, ("authorization", "token t"), "state", "success"),
        (ServerApi::AzureDevOps, r#"{"token":"t"}"#, ("authorization", "Basic OnQ="), "state", "succeeded"),
    ];
    for (api, credential, (name, value), field, state) in cases {
        let credential = if api == ServerApi::AzureDevOps {
            credential.replace('}', r#","organization":"o"}"#)
        } else {
            credential.to_owned()
        };
        let doc = format!(r#"{{"{}:h": {credential}}}"#, api.key());
        let creds = Credentials::parse(&doc).unwrap();
        let entry = creds.for_host(api, &Host("h".into())).unwrap();
        let auth = statuses::auth_header(api, &entry.credential).unwrap();
        assert_eq!((auth.0, auth.1.as_str()), (name, value), "{api:?}");
        let request = statuses::request(api, "https://h/x".into(), &status(StatusState::Success), auth);
        assert_eq!(body(&request)[field], state, "{api:?}");
        assert_eq!(request.method, "POST");
    }
    let failed = |api| body(&statuses::request(api, "u".into(), &status(StatusState::Failure), ("a", "b".into())));
    assert_eq!(failed(ServerApi::GitLab)["state"], "failed");
    assert_eq!(failed(ServerApi::GitLab)["name"], "herald/app");
    assert_eq!(failed(ServerApi::BitbucketServer)["key"], "herald/app");
    assert_eq!(failed(ServerApi::AzureDevOps)["context"], serde_json::json!({"genre": "herald", "name": "app"}));
    let stopped = |api| {
        body(&statuses::request(api, "u".into(), &status(StatusState::Error), ("a", "b".into())))["state"].clone()
    };
    assert_eq!(stopped(ServerApi::GitHub), "error");
    assert_eq!(stopped(ServerApi::GitLab), "canceled");
    assert_eq!(stopped(ServerApi::BitbucketCloud), "STOPPED");
    assert_eq!(stopped(ServerApi::BitbucketServer), "FAILED");
    let pending = |api| {
        body(&statuses::request(api, "u".into(), &status(StatusState::Pending), ("a", "b".into())))["state"].clone()
    };
    assert_eq!(pending(ServerApi::GitLab), "running");
    assert_eq!(pending(ServerApi::BitbucketCloud), "INPROGRESS");
    assert_eq!(pending(ServerApi::AzureDevOps), "pending");
    // Passed without running: each server's word that lets a required check pass.
    let skipped = |api| {
        body(&statuses::request(api, "u".into(), &status(StatusState::Skipped), ("a", "b".into())))["state"].clone()
    };
    assert_eq!(skipped(ServerApi::GitHub), "success");
    assert_eq!(skipped(ServerApi::Gitea), "success");
    assert_eq!(skipped(ServerApi::GitLab), "skipped");
    assert_eq!(skipped(ServerApi::BitbucketCloud), "SUCCESSFUL");
    assert_eq!(skipped(ServerApi::BitbucketServer), "SUCCESSFUL");
    assert_eq!(skipped(ServerApi::AzureDevOps), "notApplicable");
}

#[test]
fn descriptions_are_cut_to_the_server_limit() {
    let mut long = status(StatusState::Failure);
    long.description = "é".repeat(300);
    let github = body(&statuses::request(ServerApi::GitHub, "u".into(), &long, ("a", "b".into())));
    assert_eq!(github["description"].as_str().unwrap().chars().count(), 140);
    assert!(github["description"].as_str().unwrap().ends_with('…'));
    let gitlab = body(&statuses::request(ServerApi::GitLab, "u".into(), &long, ("a", "b".into())));
    assert_eq!(gitlab["description"].as_str().unwrap().chars().count(), 255);
}

fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy { attempts, timeout: Duration::from_secs(1), backoff: Duration::from_millis(1) }
}

#[tokio::test]
async fn transient_answers_are_retried_and_permanent_ones_are_not() {
    let creds = Credentials::parse(r#"{"github": {"token": "t"}}"#).unwrap();
    let post = |http: Arc<FakeHttp>| {
        let creds = creds.clone();
        async move {
            let api = GitApi::new(http.clone(), quick(3));
            let to = target(ServerApi::GitHub, "api.github.com", "a/b");
            let out = api.post_status(&creds, &to, &sha(), &status(StatusState::Success), 0).await;
            assert_eq!(
                http.requests.lock().unwrap()[0].url,
                format!("https://api.github.com/repos/a/b/statuses/{SHA}")
            );
            (out, http.requests.lock().unwrap().len())
        }
    };
    assert_eq!(post(Arc::new(FakeHttp::answering(&[500, 429, 201]))).await, (Ok(201), 3));
    assert_eq!(post(Arc::new(FakeHttp::answering(&[0, 201]))).await, (Ok(201), 2));
    let (out, calls) = post(Arc::new(FakeHttp::answering(&[401]))).await;
    assert!(matches!(out, Err(PostError::Permanent { status: 401, .. })), "{out:?}");
    assert_eq!(calls, 1);
    let (out, calls) = post(Arc::new(FakeHttp::answering(&[502, 503, 500]))).await;
    assert!(out.as_ref().is_err_and(PostError::is_transient), "{out:?}");
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn no_credential_for_the_host_posts_nothing() {
    let http = Arc::new(FakeHttp::default());
    let creds = Credentials::parse(r#"{"github": {"token": "t"}}"#).unwrap();
    let api = GitApi::new(http.clone(), quick(1));
    let to = target(ServerApi::GitHub, "evil.example.com", "a/b");
    let out = api.post_status(&creds, &to, &sha(), &status(StatusState::Pending), 0).await;
    assert_eq!(out, Err(PostError::NoCredential { host: "evil.example.com".into(), key: "github" }));
    assert!(http.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_github_app_mints_an_installation_token_once_and_signs_its_jwt() {
    for file in ["test-key-pkcs1.pem", "test-key-pkcs8.pem"] {
        let doc = serde_json::json!({ "github:ghe.example.com": { "app_id": 42, "installation_id": 7, "private_key": key(file) } });
        let creds = Credentials::parse(&doc.to_string()).unwrap();
        let mut http = FakeHttp::default();
        http.bodies
            .insert("/app/installations/7/access_tokens".into(), r#"{"token":"ghs_minted","expires_at":"x"}"#.into());
        let http = Arc::new(http);
        let api = GitApi::new(http.clone(), quick(1));
        let to = target(ServerApi::GitHub, "ghe.example.com", "a/b");
        for now in [1_000, 2_000] {
            api.post_status(&creds, &to, &sha(), &status(StatusState::Pending), now).await.unwrap();
        }
        let requests = http.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 3, "one token for two statuses");
        assert_eq!(requests[0].url, "https://ghe.example.com/api/v3/app/installations/7/access_tokens");
        assert_eq!(header(&requests[1], "authorization"), Some("Bearer ghs_minted"));
        let jwt = header(&requests[0], "authorization").unwrap().strip_prefix("Bearer ").unwrap();
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let Some(Credential::GitHubApp(app)) =
            creds.for_host(ServerApi::GitHub, &Host("ghe.example.com".into())).map(|e| &e.credential)
        else {
            panic!()
        };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, app.public_key())
            .verify(signed.as_bytes(), &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature).unwrap())
            .expect("RS256 signature verifies");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signed.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(claims, serde_json::json!({ "iat": 940, "exp": 1540, "iss": "42" }));
        // Past its lifetime, a new token is minted.
        api.post_status(&creds, &to, &sha(), &status(StatusState::Success), 1_000 + github_app::TOKEN_LIFETIME_SECS)
            .await
            .unwrap();
        assert_eq!(http.requests.lock().unwrap().len(), 5);
    }
}

#[tokio::test]
async fn concurrent_statuses_share_one_mint_and_a_slow_mint_blocks_no_other_app() {
    let doc = serde_json::json!({
        "github:ghe.example.com": { "app_id": 42, "installation_id": 7, "private_key": key("test-key-pkcs1.pem") },
        "github:other.example.com": { "token": "plain" },
    });
    let creds = Credentials::parse(&doc.to_string()).unwrap();
    let mut http = FakeHttp { delay: Duration::from_millis(200), ..FakeHttp::default() };
    http.bodies.insert("/app/installations/7/access_tokens".into(), r#"{"token":"ghs_minted"}"#.into());
    let http = Arc::new(http);
    let api = GitApi::new(http.clone(), quick(1));
    let app = target(ServerApi::GitHub, "ghe.example.com", "a/b");
    let plain = target(ServerApi::GitHub, "other.example.com", "a/b");
    let (commit, pending) = (sha(), status(StatusState::Pending));
    let began = std::time::Instant::now();
    let (a, b, c) = tokio::join!(
        api.post_status(&creds, &app, &commit, &pending, 1_000),
        api.post_status(&creds, &app, &commit, &pending, 1_000),
        api.post_status(&creds, &plain, &commit, &pending, 1_000),
    );
    assert_eq!((a, b, c), (Ok(201), Ok(201), Ok(201)));
    let mints = http.requests.lock().unwrap().iter().filter(|r| r.url.ends_with("/access_tokens")).count();
    assert_eq!(mints, 1, "one mint for two concurrent statuses");
    // Mint then post: two delays; all three in parallel, not one after the other (five delays).
    assert!(began.elapsed() < Duration::from_millis(700), "{:?}", began.elapsed());
}

mod changed_files {
    use super::*;
    use crate::git_api::changed_files::{Files, Lookup, LookupBounds};
    use serde_json::json;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}/f{i}.rs")).collect()
    }

    fn full(c: char) -> CommitId {
        CommitId::full(&c.to_string().repeat(40)).unwrap()
    }

    fn push() -> Lookup {
        Lookup::Push { before: full('b'), after: full('a') }
    }

    /// Asks `api`'s server at `host` (its conventional base, or `extra`'s fields) about
    /// `repository`; `pages` answer by URL suffix, `links` name next pages by URL suffix.
    async fn ask_with(
        api: ServerApi,
        host: &str,
        repository: &str,
        lookup: Lookup,
        pages: &[(&str, serde_json::Value)],
        links: &[(&str, &str)],
        bounds: &LookupBounds,
    ) -> (Result<Files, PostError>, Vec<String>) {
        let mut http = FakeHttp::default();
        for (suffix, body) in pages {
            http.bodies.insert((*suffix).to_owned(), body.to_string());
        }
        for (suffix, next) in links {
            http.links.insert((*suffix).to_owned(), (*next).to_owned());
        }
        let http = Arc::new(http);
        let mut entry = json!({ "token": "t" });
        if api == ServerApi::AzureDevOps {
            entry["organization"] = json!("org");
        }
        let creds = Credentials::parse(&json!({ format!("{}:{host}", api.key()): entry }).to_string()).unwrap();
        let org = (api == ServerApi::AzureDevOps).then_some("org");
        let to = Target::new(api, host, org, repository, None).unwrap();
        let out = GitApi::new(http.clone(), quick(1)).changed_files(&creds, &to, &lookup, bounds, 0).await;
        let urls = http.requests.lock().unwrap().iter().map(|r| r.url.clone()).collect();
        (out, urls)
    }

    async fn ask(
        api: ServerApi,
        host: &str,
        repository: &str,
        lookup: Lookup,
        pages: &[(&str, serde_json::Value)],
        links: &[(&str, &str)],
    ) -> (Result<Files, PostError>, Vec<String>) {
        ask_with(api, host, repository, lookup, pages, links, &LookupBounds::per_delivery()).await
    }

    fn github_files(paths: &[String]) -> serde_json::Value {
        json!(paths.iter().map(|p| json!({ "filename": p, "patch": "@@ -1 +1 @@\n-a\n+b" })).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn github_pull_request_files_are_paged_on_herald_s_own_url() {
        let (first, second) = (names("web", 100), names("api", 20));
        // GitHub's own links name the repository by id: only the page number is taken from them.
        let (out, urls) = ask(
            ServerApi::GitHub,
            "ghe.example.com",
            "acme/app",
            Lookup::PullRequest(7),
            &[
                ("/pulls/7/files?per_page=100&page=1", github_files(&first)),
                ("/pulls/7/files?per_page=100&page=2", github_files(&second)),
            ],
            &[(
                "/pulls/7/files?per_page=100&page=1",
                "https://ghe.example.com/api/v3/repositories/99/pulls/7/files?per_page=100&page=2",
            )],
        )
        .await;
        let files = out.unwrap();
        assert_eq!(files.paths.len(), 120);
        assert_eq!(files.cut, None);
        let root = "https://ghe.example.com/api/v3/repos/acme/app";
        assert_eq!(
            urls,
            [format!("{root}/pulls/7/files?per_page=100&page=1"), format!("{root}/pulls/7/files?per_page=100&page=2")]
        );
    }

    #[tokio::test]
    async fn next_links_elsewhere_are_followed_only_as_a_page_of_herald_s_url() {
        let page =
            json!({ "values": [{ "new": { "path": "a.rs" } }], "next": "https://elsewhere.example.com/steal?page=2" });
        let second = json!({ "values": [{ "new": { "path": "b.rs" } }] });
        let (out, urls) = ask(
            ServerApi::BitbucketCloud,
            "api.bitbucket.org",
            "w/r",
            Lookup::PullRequest(3),
            &[("/pullrequests/3/diffstat?pagelen=500", page), ("/pullrequests/3/diffstat?pagelen=500&page=2", second)],
            &[],
        )
        .await;
        assert_eq!(out.unwrap().paths, ["a.rs", "b.rs"]);
        assert!(
            urls.iter()
                .all(|u| u.starts_with("https://api.bitbucket.org/2.0/repositories/w/r/pullrequests/3/diffstat?")),
            "{urls:?}"
        );
        let no_page = json!({ "values": [], "next": "https://api.bitbucket.org/2.0/other" });
        let (out, urls) = ask(
            ServerApi::BitbucketCloud,
            "api.bitbucket.org",
            "w/r",
            Lookup::PullRequest(3),
            &[("/pullrequests/3/diffstat?pagelen=500", no_page)],
            &[],
        )
        .await;
        assert!(out.unwrap().cut.unwrap().contains("names no page"));
        assert_eq!(urls.len(), 1);
    }

    #[tokio::test]
    async fn limits_and_answers_past_the_size_bound_are_cut_with_the_reason() {
        let b = "b".repeat(40);
        let a = "a".repeat(40);
        let compare = format!("/compare/{b}...{a}");
        let (out, _) = ask(
            ServerApi::GitHub,
            "api.github.com",
            "a/b",
            push(),
            &[(&compare, json!({ "files": github_files(&names("x", 300)) }))],
            &[],
        )
        .await;
        assert_eq!(out.unwrap().cut.as_deref(), Some("GitHub lists at most 300 files of a comparison"));
        // A page over 16 MiB: "exceeded", never "not JSON".
        let huge = json!([{ "filename": "a.rs", "patch": "x".repeat(17 * 1024 * 1024) }]);
        let (out, _) = ask(
            ServerApi::GitHub,
            "api.github.com",
            "a/b",
            Lookup::PullRequest(1),
            &[("/pulls/1/files?per_page=100&page=1", huge)],
            &[],
        )
        .await;
        assert_eq!(out.unwrap().cut.as_deref(), Some("the answer exceeded 16 MiB"));
        // A real-size page (100 files with patches, about 1 MiB) is read whole.
        let big: Vec<serde_json::Value> =
            (0..100).map(|i| json!({ "filename": format!("f{i}"), "patch": "+line\n".repeat(1700) })).collect();
        let (out, _) = ask(
            ServerApi::GitHub,
            "api.github.com",
            "a/b",
            Lookup::PullRequest(1),
            &[("/pulls/1/files?per_page=100&page=1", json!(big))],
            &[],
        )
        .await;
        let files = out.unwrap();
        assert_eq!((files.paths.len(), files.cut), (100, None));
    }

    #[tokio::test]
    async fn the_delivery_page_bound_is_shared_and_says_so() {
        let bounds = LookupBounds::new(4, 3);
        let pages: Vec<(String, serde_json::Value)> = (1..=5)
            .map(|p| (format!("/pulls/1/files?per_page=100&page={p}"), github_files(&names(&format!("p{p}"), 100))))
            .collect();
        let links: Vec<(String, String)> = (1..5)
            .map(|p| {
                (format!("/pulls/1/files?per_page=100&page={p}"), format!("https://api.github.com/x?page={}", p + 1))
            })
            .collect();
        let pages: Vec<(&str, serde_json::Value)> = pages.iter().map(|(s, v)| (s.as_str(), v.clone())).collect();
        let links: Vec<(&str, &str)> = links.iter().map(|(s, n)| (s.as_str(), n.as_str())).collect();
        let (out, urls) =
            ask_with(ServerApi::GitHub, "api.github.com", "a/b", Lookup::PullRequest(1), &pages, &links, &bounds).await;
        let files = out.unwrap();
        assert_eq!(urls.len(), 3);
        assert_eq!(files.paths.len(), 300);
        assert_eq!(files.cut.as_deref(), Some("the delivery reached its bound of 100 pages of changed files"));
    }

    #[tokio::test]
    async fn each_server_is_read_in_its_own_words() {
        let (b, a) = ("b".repeat(40), "a".repeat(40));
        let gitlab = json!({ "diffs": [{ "new_path": "svc/web/a.ts", "old_path": "svc/web/old.ts", "diff": "@@" }] });
        let (out, urls) = ask(
            ServerApi::GitLab,
            "gitlab.com",
            "group/sub/app",
            push(),
            &[(&format!("/repository/compare?from={b}&to={a}"), gitlab)],
            &[],
        )
        .await;
        assert_eq!(out.unwrap().paths, ["svc/web/a.ts", "svc/web/old.ts"], "a rename counts with both names");
        assert_eq!(
            urls[0],
            format!("https://gitlab.com/api/v4/projects/group%2Fsub%2Fapp/repository/compare?from={b}&to={a}")
        );

        let bbs1 = json!({ "values": [{ "path": { "toString": "a.rs" } }], "isLastPage": false, "nextPageStart": 1 });
        let bbs2 = json!({ "values": [{ "path": { "toString": "b.rs" }, "srcPath": { "toString": "c.rs" } }], "isLastPage": true });
        let (out, urls) = ask(
            ServerApi::BitbucketServer,
            "bb.example.com",
            "P/r",
            push(),
            &[
                (&format!("/compare/changes?from={a}&to={b}&start=0&limit=1000"), bbs1),
                (&format!("/compare/changes?from={a}&to={b}&start=1&limit=1000"), bbs2),
            ],
            &[],
        )
        .await;
        assert_eq!(out.unwrap().paths, ["a.rs", "b.rs", "c.rs"]);
        assert!(urls[0].starts_with("https://bb.example.com/rest/api/1.0/projects/P/repos/r/compare/changes?"));
        assert_eq!(urls.len(), 2);

        let iterations = json!({ "value": [{ "id": 1 }, { "id": 3 }, { "id": 2 }] });
        let changes = json!({ "changeEntries": [{ "item": { "path": "/src/a.cs" } }, { "item": { "path": "/src", "isFolder": true } }] });
        let (out, urls) = ask(
            ServerApi::AzureDevOps,
            "dev.azure.com",
            "Fabrikam Fiber/app",
            Lookup::PullRequest(5),
            &[
                ("/pullRequests/5/iterations?api-version=7.1", iterations),
                ("/pullRequests/5/iterations/3/changes?api-version=7.1&$top=2000&$skip=0", changes),
            ],
            &[],
        )
        .await;
        assert_eq!(out.unwrap().paths, ["src/a.cs"], "the last iteration; folders are not files");
        assert_eq!(urls[0], "https://dev.azure.com/org/Fabrikam%20Fiber/_apis/git/repositories/app/pullRequests/5/iterations?api-version=7.1");
        assert_eq!(urls.len(), 2);

        let (out, _) = ask(
            ServerApi::Gitea,
            "git.example.com",
            "o/r",
            push(),
            &[(&format!("/compare/{b}...{a}"), json!({ "total_commits": 0 }))],
            &[],
        )
        .await;
        assert_eq!(out.unwrap().cut.as_deref(), Some("this server's comparison lists no files"));
        // Gitea's swagger: a comparison lists its commits, each with the files it touched.
        let compare = json!({ "total_commits": 2, "commits": [
            { "files": [{ "filename": "a.go", "status": "modified" }] },
            { "files": [{ "filename": "b.go", "status": "added" }, { "filename": "a.go", "status": "modified" }] },
        ] });
        let (out, _) =
            ask(ServerApi::Gitea, "git.example.com", "o/r", push(), &[(&format!("/compare/{b}...{a}"), compare)], &[])
                .await;
        let files = out.unwrap();
        assert_eq!((files.paths, files.cut), (vec!["a.go".to_owned(), "b.go".to_owned()], None));
    }

    #[tokio::test]
    async fn no_credential_means_no_request() {
        let http = Arc::new(FakeHttp::default());
        let creds = Credentials::parse(r#"{"github": {"token": "t"}}"#).unwrap();
        let out = GitApi::new(http.clone(), quick(1))
            .changed_files(
                &creds,
                &target(ServerApi::GitHub, "ghe.example.com", "a/b"),
                &Lookup::PullRequest(1),
                &LookupBounds::per_delivery(),
                0,
            )
            .await;
        assert!(matches!(out, Err(PostError::NoCredential { .. })));
        assert!(http.requests.lock().unwrap().is_empty());
    }
}

mod hostile_answers {
    //! A Git server's answers are outside input too: any JSON, any next link. Never a panic,
    //! never a request outside the repository's own endpoints, never more than the page bound.
    use super::*;
    use crate::git_api::changed_files::{Lookup, LookupBounds, MAX_PAGES};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn answer() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0u64..5000).prop_map(Value::from),
            prop_oneof![
                Just("https://api.example.com/next?page=2".to_owned()),
                Just("https://evil.example.net/steal?page=../../x#/y".to_owned()),
                "[a-z/.]{0,12}".prop_map(|s| s),
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("next".to_owned()),
                        Just("values".to_owned()),
                        Just("files".to_owned()),
                        Just("filename".to_owned()),
                        Just("path".to_owned()),
                        Just("toString".to_owned()),
                        Just("isLastPage".to_owned()),
                        Just("nextPageStart".to_owned()),
                        Just("nextSkip".to_owned()),
                        Just("value".to_owned()),
                        Just("id".to_owned()),
                        Just("changeEntries".to_owned()),
                        Just("item".to_owned()),
                        Just("changes".to_owned()),
                        Just("allChangesIncluded".to_owned()),
                        Just("diffs".to_owned()),
                        Just("new_path".to_owned()),
                        Just("new".to_owned()),
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    const APIS: [ServerApi; 6] = [
        ServerApi::GitHub,
        ServerApi::GitLab,
        ServerApi::BitbucketCloud,
        ServerApi::BitbucketServer,
        ServerApi::Gitea,
        ServerApi::AzureDevOps,
    ];

    /// Where `api`'s requests for repository `o/r` on api.example.com may go.
    fn allowed(api: ServerApi) -> &'static str {
        match api {
            ServerApi::GitHub => "https://api.example.com/api/v3/repos/o/r/",
            ServerApi::GitLab => "https://api.example.com/api/v4/projects/o%2Fr/",
            ServerApi::BitbucketCloud => "https://api.example.com/2.0/repositories/o/r/",
            ServerApi::BitbucketServer => "https://api.example.com/rest/api/1.0/projects/o/repos/r/",
            ServerApi::Gitea => "https://api.example.com/api/v1/repos/o/r/",
            ServerApi::AzureDevOps => "https://api.example.com/org/o/_apis/git/repositories/r/",
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_answer_is_read_safely(which in 0usize..6, pull in any::<bool>(), body in answer(), link in prop_oneof![Just(None), Just(Some("https://evil.example.net/p2?page=2".to_owned())), Just(Some("https://api.example.com/repos/p2".to_owned()))]) {
            let api = APIS[which];
            let mut http = FakeHttp::default();
            http.bodies.insert(String::new(), body.to_string());
            if let Some(link) = link {
                http.links.insert(String::new(), link);
            }
            let http = Arc::new(http);
            let creds = Credentials::parse(&json!({ format!("{}:api.example.com", api.key()): { "token": "t", "organization": (api == ServerApi::AzureDevOps).then_some("org") } }).to_string().replace(r#","organization":null"#, "")).unwrap();
            let lookup = if pull {
                Lookup::PullRequest(3)
            } else {
                Lookup::Push { before: CommitId::full(&"b".repeat(40)).unwrap(), after: CommitId::full(&"a".repeat(40)).unwrap() }
            };
            let to = Target::new(api, "api.example.com", (api == ServerApi::AzureDevOps).then_some("org"), "o/r", None).unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let _ = runtime.block_on(GitApi::new(http.clone(), quick(1)).changed_files(&creds, &to, &lookup, &LookupBounds::per_delivery(), 0));
            let requests = http.requests.lock().unwrap();
            prop_assert!(requests.len() <= MAX_PAGES as usize + 1);
            for r in requests.iter() {
                prop_assert!(r.url.starts_with(allowed(api)), "{} outside {}", r.url, allowed(api));
                prop_assert!(!r.url.contains('#'));
            }
        }
    }
}

#[tokio::test]
async fn a_pull_request_is_read_a_permission_asked_and_a_reply_posted_with_the_entry_s_credential() {
    let creds = Credentials::parse(r#"{"gitlab:gitlab.example.com": {"token": "glpat-1"}}"#).unwrap();
    let to = target(ServerApi::GitLab, "gitlab.example.com", "group/app");
    let mut http = FakeHttp::answering(&[200, 200, 404, 201]);
    http.bodies.insert(
        "/merge_requests/4".into(),
        serde_json::json!({ "sha": SHA, "target_branch": "main", "source_branch": "f", "source_project_id": 9, "target_project_id": 5 })
            .to_string(),
    );
    http.bodies.insert("/members/all/17".into(), serde_json::json!({ "id": 17, "access_level": 40 }).to_string());
    let http = Arc::new(http);
    let api = GitApi::new(http.clone(), quick(1));
    let head = api.pull_request(&creds, &to, 4, 0).await.unwrap();
    assert_eq!((head.head_commit.as_str(), head.target_branch.as_str(), head.from_fork), (SHA, "main", true));
    let user = endpoint::UserName::new("17").unwrap();
    assert_eq!(api.may_write(&creds, &to, &user, "ann", 0).await, Ok(true), "Maintainer");
    assert_eq!(api.may_write(&creds, &to, &user, "ann", 0).await, Ok(false), "404: not a member");
    assert_eq!(api.reply(&creds, &to, 4, "| command | what happened |", 0).await, Ok(201));
    let requests = http.requests.lock().unwrap().clone();
    assert_eq!(requests[0].url, "https://gitlab.example.com/api/v4/projects/group%2Fapp/merge_requests/4");
    assert_eq!(requests[1].url, "https://gitlab.example.com/api/v4/projects/group%2Fapp/members/all/17");
    assert_eq!(
        (requests[3].method, requests[3].url.as_str()),
        ("POST", "https://gitlab.example.com/api/v4/projects/group%2Fapp/merge_requests/4/notes")
    );
    assert_eq!(body(&requests[3])["body"], "| command | what happened |");
    assert!(requests.iter().all(|r| header(r, "private-token") == Some("glpat-1")));
    assert_eq!(header(&requests[3], "content-type"), Some("application/json"));
    // A host without its credential gets nothing; Bitbucket Cloud has no permission answer.
    let other = target(ServerApi::GitLab, "evil.example.net", "group/app");
    assert!(matches!(api.pull_request(&creds, &other, 4, 0).await, Err(PostError::NoCredential { .. })));
    let cloud = target(ServerApi::BitbucketCloud, "api.bitbucket.org", "o/r");
    assert!(matches!(api.may_write(&creds, &cloud, &user, "ann", 0).await, Err(PostError::Refused(_))));
    assert_eq!(http.requests.lock().unwrap().len(), 4, "no request for either");
}

/// GitLab documents `409 Another update to this commit status is in progress`: a status
/// answered 409 twice, then 201, is posted; 409 to every attempt is transient (retried later,
/// never dropped). Another server's 409 stays permanent.
#[tokio::test]
async fn gitlab_s_409_is_a_conflict_of_the_moment() {
    let creds = Credentials::parse(r#"{"gitlab": {"token": "glpat-1"}, "github": {"token": "t"}}"#).unwrap();
    let post = |api_kind: ServerApi, host: &'static str, codes: &'static [u16]| {
        let creds = creds.clone();
        async move {
            let http = Arc::new(FakeHttp::answering(codes));
            let api = GitApi::new(http.clone(), quick(3));
            let out = api
                .post_status(&creds, &target(api_kind, host, "group/app"), &sha(), &status(StatusState::Success), 0)
                .await;
            let calls = http.requests.lock().unwrap().len();
            (out, calls)
        }
    };
    assert_eq!(post(ServerApi::GitLab, "gitlab.com", &[409, 409, 201]).await, (Ok(201), 3));
    let (out, _) = post(ServerApi::GitLab, "gitlab.com", &[409, 409, 409]).await;
    assert!(out.as_ref().is_err_and(PostError::is_transient), "{out:?}");
    let (out, calls) = post(ServerApi::GitHub, "api.github.com", &[409]).await;
    assert!(matches!(out, Err(PostError::Permanent { status: 409, .. })), "{out:?}");
    assert_eq!(calls, 1);
}
