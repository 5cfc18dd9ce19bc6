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

#[test]
fn credentials_go_only_to_https_or_loopback_hosts() {
    assert_eq!(api_host("https://api.github.com/repos/a/b/statuses/x"), Ok(Host("api.github.com".into())));
    assert_eq!(api_host("https://GHE.example.com:443/api/v3/repos"), Ok(Host("ghe.example.com".into())));
    assert_eq!(api_host("https://git.example.com:8443/api"), Ok(Host("git.example.com:8443".into())));
    assert_eq!(api_host("http://127.0.0.1:9000/api"), Ok(Host("127.0.0.1:9000".into())));
    assert_eq!(api_host("http://[::1]:9000/api"), Ok(Host("[::1]:9000".into())));
    assert!(api_host("http://gitea.example.com/api").unwrap_err().contains("HTTPS"));
    assert!(api_host("https://user:pw@evil.example.com/api").is_err());
    assert!(api_host("ftp://host/x").is_err());
    assert!(api_host("api.github.com/x").is_err());
    assert!(api_host("https://host:99999/x").is_err());
}

#[test]
fn a_bare_provider_key_serves_only_the_public_service() {
    let creds = Credentials::parse(
        r#"{"github": {"token": "ghp_public"}, "github:ghe.example.com": {"token": "ghp_enterprise"},
            "gitea:git.example.com:3000": {"token": "gt"}, "bitbucket": {"username": "u", "app_password": "p"}}"#,
    )
    .unwrap();
    let token = |api, host: &str| match creds.for_host(api, &Host(host.into())) {
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
        let doc = format!(r#"{{"{}:h": {credential}}}"#, api.key());
        let creds = Credentials::parse(&doc).unwrap();
        let auth = statuses::auth_header(api, creds.for_host(api, &Host("h".into())).unwrap()).unwrap();
        assert_eq!((auth.0, auth.1.as_str()), (name, value), "{api:?}");
        let request = statuses::request(api, "https://h/x", &status(StatusState::Success), auth);
        assert_eq!(body(&request)[field], state, "{api:?}");
        assert_eq!(request.method, "POST");
    }
    let failed = |api| body(&statuses::request(api, "u", &status(StatusState::Failure), ("a", "b".into())));
    assert_eq!(failed(ServerApi::GitLab)["state"], "failed");
    assert_eq!(failed(ServerApi::GitLab)["name"], "herald/app");
    assert_eq!(failed(ServerApi::BitbucketServer)["key"], "herald/app");
    assert_eq!(failed(ServerApi::AzureDevOps)["context"], serde_json::json!({"genre": "herald", "name": "app"}));
    let stopped =
        |api| body(&statuses::request(api, "u", &status(StatusState::Error), ("a", "b".into())))["state"].clone();
    assert_eq!(stopped(ServerApi::GitHub), "error");
    assert_eq!(stopped(ServerApi::GitLab), "canceled");
    assert_eq!(stopped(ServerApi::BitbucketCloud), "STOPPED");
    assert_eq!(stopped(ServerApi::BitbucketServer), "FAILED");
    let pending =
        |api| body(&statuses::request(api, "u", &status(StatusState::Pending), ("a", "b".into())))["state"].clone();
    assert_eq!(pending(ServerApi::GitLab), "running");
    assert_eq!(pending(ServerApi::BitbucketCloud), "INPROGRESS");
    assert_eq!(pending(ServerApi::AzureDevOps), "pending");
}

#[test]
fn descriptions_are_cut_to_the_server_limit() {
    let mut long = status(StatusState::Failure);
    long.description = "é".repeat(300);
    let github = body(&statuses::request(ServerApi::GitHub, "u", &long, ("a", "b".into())));
    assert_eq!(github["description"].as_str().unwrap().chars().count(), 140);
    assert!(github["description"].as_str().unwrap().ends_with('…'));
    let gitlab = body(&statuses::request(ServerApi::GitLab, "u", &long, ("a", "b".into())));
    assert_eq!(gitlab["description"].as_str().unwrap().chars().count(), 255);
}

fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy { attempts, timeout: Duration::from_secs(1), backoff: Duration::from_millis(1) }
}

#[tokio::test]
async fn transient_answers_are_retried_and_permanent_ones_are_not() {
    let creds = Credentials::parse(r#"{"github": {"token": "t"}}"#).unwrap();
    let url = format!("https://api.github.com/repos/a/b/statuses/{SHA}");
    let post = |http: Arc<FakeHttp>| {
        let (creds, url) = (creds.clone(), url.clone());
        async move {
            let api = GitApi::new(http.clone(), quick(3));
            let out = api.post_status(&creds, ServerApi::GitHub, &url, &status(StatusState::Success), 0).await;
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
    let url = format!("https://evil.example.com/api/v3/repos/a/b/statuses/{SHA}");
    let out = api.post_status(&creds, ServerApi::GitHub, &url, &status(StatusState::Pending), 0).await;
    assert_eq!(out, Err(PostError::NoCredential { host: "evil.example.com".into(), key: "github" }));
    let plain = format!("http://api.github.com/repos/a/b/statuses/{SHA}");
    assert!(matches!(
        api.post_status(&creds, ServerApi::GitHub, &plain, &status(StatusState::Pending), 0).await,
        Err(PostError::Refused(_))
    ));
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
        let url = format!("https://ghe.example.com/api/v3/repos/a/b/statuses/{SHA}");
        for now in [1_000, 2_000] {
            api.post_status(&creds, ServerApi::GitHub, &url, &status(StatusState::Pending), now).await.unwrap();
        }
        let requests = http.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 3, "one token for two statuses");
        assert_eq!(requests[0].url, "https://ghe.example.com/api/v3/app/installations/7/access_tokens");
        assert_eq!(header(&requests[1], "authorization"), Some("Bearer ghs_minted"));
        let jwt = header(&requests[0], "authorization").unwrap().strip_prefix("Bearer ").unwrap();
        let (signed, signature) = jwt.rsplit_once('.').unwrap();
        let Some(Credential::GitHubApp(app)) = creds.for_host(ServerApi::GitHub, &Host("ghe.example.com".into()))
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
        api.post_status(
            &creds,
            ServerApi::GitHub,
            &url,
            &status(StatusState::Success),
            1_000 + github_app::TOKEN_LIFETIME_SECS,
        )
        .await
        .unwrap();
        assert_eq!(http.requests.lock().unwrap().len(), 5);
    }
}

mod changed_files {
    use super::*;
    use crate::git_api::changed_files::{Files, Lookup};
    use serde_json::json;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}/f{i}.rs")).collect()
    }

    async fn ask(
        api: ServerApi,
        root: &str,
        lookup: Lookup<'_>,
        pages: &[(&str, serde_json::Value)],
    ) -> (Result<Files, PostError>, Vec<String>) {
        let mut http = FakeHttp::default();
        for (suffix, body) in pages {
            http.bodies.insert((*suffix).to_owned(), body.to_string());
        }
        // Numbered pages link to the next one, as GitHub, GitLab and Gitea do.
        for pair in pages.windows(2) {
            if pair[1].0.contains("page=2") {
                http.links.insert(pair[0].0.to_owned(), format!("{root}{}", pair[1].0));
            }
        }
        let http = Arc::new(http);
        let key = format!("{}:{}", api.key(), api_host(root).unwrap().0);
        let creds = Credentials::parse(&json!({ key: { "token": "t" } }).to_string()).unwrap();
        let out = GitApi::new(http.clone(), quick(1)).changed_files(&creds, api, root, lookup, 0).await;
        let urls = http.requests.lock().unwrap().iter().map(|r| r.url.clone()).collect();
        (out, urls)
    }

    fn github_files(paths: &[String]) -> serde_json::Value {
        json!(paths.iter().map(|p| json!({ "filename": p })).collect::<Vec<_>>())
    }

    #[tokio::test]
    async fn github_pull_request_files_are_paged_to_the_end() {
        let (first, second) = (names("web", 100), names("api", 20));
        let root = "https://api.github.com/repos/acme/app";
        let (out, urls) = ask(
            ServerApi::GitHub,
            root,
            Lookup::PullRequest(7),
            &[
                ("/pulls/7/files?per_page=100&page=1", github_files(&first)),
                ("/pulls/7/files?per_page=100&page=2", github_files(&second)),
            ],
        )
        .await;
        let files = out.unwrap();
        assert_eq!(files.paths.len(), 120);
        assert_eq!(files.cut, None);
        assert_eq!(
            urls,
            [format!("{root}/pulls/7/files?per_page=100&page=1"), format!("{root}/pulls/7/files?per_page=100&page=2")]
        );
    }

    #[tokio::test]
    async fn limits_and_foreign_next_links_are_cut_with_the_reason() {
        let (out, _) = ask(
            ServerApi::GitHub,
            "https://api.github.com/repos/a/b",
            Lookup::Push { before: "b1", after: "a1" },
            &[("/compare/b1...a1", json!({ "files": github_files(&names("x", 300)) }))],
        )
        .await;
        assert_eq!(out.unwrap().cut.as_deref(), Some("GitHub lists at most 300 files of a comparison"));
        let page = json!({ "values": [{ "new": { "path": "a.rs" } }], "next": "https://elsewhere.example.com/page2" });
        let (out, urls) = ask(
            ServerApi::BitbucketCloud,
            "https://api.bitbucket.org/2.0/repositories/w/r",
            Lookup::PullRequest(3),
            &[("/pullrequests/3/diffstat?pagelen=500", page)],
        )
        .await;
        assert!(out.unwrap().cut.unwrap().contains("another host"));
        assert_eq!(urls.len(), 1, "the token never went to the other host");
    }

    #[tokio::test]
    async fn each_server_is_read_in_its_own_words() {
        let gitlab = json!({ "diffs": [{ "new_path": "svc/web/a.ts", "old_path": "svc/web/old.ts" }] });
        let (out, _) = ask(
            ServerApi::GitLab,
            "https://gitlab.com/api/v4/projects/9",
            Lookup::Push { before: "b", after: "a" },
            &[("/repository/compare?from=b&to=a", gitlab)],
        )
        .await;
        assert_eq!(out.unwrap().paths, ["svc/web/a.ts", "svc/web/old.ts"], "a rename counts with both names");

        let bbs1 = json!({ "values": [{ "path": { "toString": "a.rs" } }], "isLastPage": false, "nextPageStart": 1 });
        let bbs2 = json!({ "values": [{ "path": { "toString": "b.rs" }, "srcPath": { "toString": "c.rs" } }], "isLastPage": true });
        let (out, urls) = ask(
            ServerApi::BitbucketServer,
            "https://bb.example.com/rest/api/1.0/projects/P/repos/r",
            Lookup::Push { before: "b", after: "a" },
            &[
                ("/compare/changes?from=a&to=b&start=0&limit=1000", bbs1),
                ("/compare/changes?from=a&to=b&start=1&limit=1000", bbs2),
            ],
        )
        .await;
        assert_eq!(out.unwrap().paths, ["a.rs", "b.rs", "c.rs"]);
        assert_eq!(urls.len(), 2);

        let iterations = json!({ "value": [{ "id": 1 }, { "id": 3 }, { "id": 2 }] });
        let changes = json!({ "changeEntries": [{ "item": { "path": "/src/a.cs" } }, { "item": { "path": "/src", "isFolder": true } }] });
        let (out, urls) = ask(
            ServerApi::AzureDevOps,
            "https://dev.azure.com/org/_apis/git/repositories/1234",
            Lookup::PullRequest(5),
            &[
                ("/pullRequests/5/iterations?api-version=7.1", iterations),
                ("/pullRequests/5/iterations/3/changes?api-version=7.1&$top=2000&$skip=0", changes),
            ],
        )
        .await;
        assert_eq!(out.unwrap().paths, ["src/a.cs"], "the last iteration; folders are not files");
        assert_eq!(urls.len(), 2);

        let (out, _) = ask(
            ServerApi::Gitea,
            "https://git.example.com/api/v1/repos/o/r",
            Lookup::Push { before: "b", after: "a" },
            &[("/compare/b...a", json!({ "commits": [] }))],
        )
        .await;
        assert_eq!(out.unwrap().cut.as_deref(), Some("this server's comparison lists no files"));
    }

    #[tokio::test]
    async fn no_credential_means_no_request() {
        let http = Arc::new(FakeHttp::default());
        let creds = Credentials::parse(r#"{"github": {"token": "t"}}"#).unwrap();
        let out = GitApi::new(http.clone(), quick(1))
            .changed_files(
                &creds,
                ServerApi::GitHub,
                "https://ghe.example.com/api/v3/repos/a/b",
                Lookup::PullRequest(1),
                0,
            )
            .await;
        assert!(matches!(out, Err(PostError::NoCredential { .. })));
        assert!(http.requests.lock().unwrap().is_empty());
    }
}

mod hostile_answers {
    //! A Git server's answers are outside input too: any JSON, any next link. Never a panic,
    //! never a request to another host, never more than the page bound.
    use super::*;
    use crate::git_api::changed_files::{Lookup, MAX_PAGES};
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn answer() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0u64..5000).prop_map(Value::from),
            prop_oneof![
                Just("https://api.example.com/next".to_owned()),
                Just("https://evil.example.net/steal".to_owned()),
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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn any_answer_is_read_safely(which in 0usize..6, pull in any::<bool>(), body in answer(), link in prop_oneof![Just(None), Just(Some("https://evil.example.net/p2".to_owned())), Just(Some("https://api.example.com/repos/p2".to_owned()))]) {
            let api = APIS[which];
            let mut http = FakeHttp::default();
            http.bodies.insert(String::new(), body.to_string());
            if let Some(link) = link {
                http.links.insert(String::new(), link);
            }
            let http = Arc::new(http);
            let creds = Credentials::parse(&json!({ format!("{}:api.example.com", api.key()): { "token": "t" } }).to_string()).unwrap();
            let lookup = if pull { Lookup::PullRequest(3) } else { Lookup::Push { before: "b", after: "a" } };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let _ = runtime.block_on(GitApi::new(http.clone(), quick(1)).changed_files(&creds, api, "https://api.example.com/repos/o/r", lookup, 0));
            let requests = http.requests.lock().unwrap();
            prop_assert!(requests.len() <= MAX_PAGES as usize + 1);
            for r in requests.iter() {
                prop_assert_eq!(api_host(&r.url).unwrap().0, "api.example.com");
            }
        }
    }
}
