use super::*;
use herald::change::ProviderKind;
use herald::providers::{self, Headers};
use herald::secrets::WebhookSecrets;
use serde_json::json;

fn path(relative: &str) -> String {
    format!("{}/../{relative}", env!("CARGO_MANIFEST_DIR"))
}

fn explain_args(config: &str, event: &str) -> explain::Args {
    explain::Args {
        config: path(config),
        event: path(event),
        provider: None,
        headers: vec![],
        secret: None,
        scope: None,
        pipelines: vec![],
        fetch: false,
        credentials: None,
        changed_files: None,
        json: false,
    }
}

#[test]
fn validate_summarises_a_good_document_and_names_the_field_of_a_bad_one() {
    let out = output::validate(Some(&path("events/herald-config.json")), None, false, None);
    assert_eq!(out.code, 0);
    assert!(out.text.contains("valid"), "{}", out.text);
    assert!(out.text.contains("-> pipeline demo-github"), "{}", out.text);
    assert_eq!(out.json["valid"], true);
    let bad = std::env::temp_dir().join(format!("herald-cli-bad-{}.json", std::process::id()));
    std::fs::write(
        &bad,
        r#"{"triggers":[{"name":"x","pipeline":"p","git":{"repository":"a/b","branches":["[oops"]}}]}"#,
    )
    .unwrap();
    let out = output::validate(Some(bad.to_str().unwrap()), None, false, None);
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(out.code, output::FINDING);
    assert!(out.text.contains(r#"trigger "x": git.branches[0]"#), "{}", out.text);
    assert_eq!(output::validate(Some("/no/such/file.json"), None, false, None).code, output::USAGE);
}

#[test]
fn validate_reads_the_template_s_default() {
    let out = output::validate(None, Some(&path("template.yaml")), false, None);
    assert_eq!(out.code, 0, "{}", out.text);
    assert!(out.text.contains("template.yaml (HeraldConfig default): valid"), "{}", out.text);
    assert_eq!(
        output::template_config("Parameters:\n  HeraldConfig:\n    Type: String\n    Default: '{\"triggers\": []}'\n")
            .as_deref(),
        Some("{\"triggers\": []}")
    );
    assert_eq!(
        output::template_config(
            "Parameters:\n  HeraldConfig:\n    Default: |\n      {\"triggers\":\n       []}\n  Other:\n"
        )
        .as_deref(),
        Some("{\"triggers\":\n[]}")
    );
}

#[test]
fn explain_shows_each_git_decision_with_its_variables_or_reason() {
    let out = explain::run(&explain_args("events/herald-config.json", "events/git-webhook/github-push.json"));
    assert!(out.text.starts_with("github push delivery"), "{}", out.text);
    assert!(out.text.contains("github-app -> demo-github"), "{}", out.text);
    assert!(out.text.contains("source Source pinned to COMMIT_ID"), "{}", out.text);
    assert!(out.text.contains("PROVIDER = github"), "{}", out.text);
    assert_eq!(out.json["changes"][0]["decisions"][0]["outcome"], "start");
    assert_eq!(out.json["changes"][0]["decisions"][0]["client_request_token"].as_str().unwrap().len(), 64);
    let deleted = explain::run(&explain_args(
        "events/herald-config.json",
        "events/git-webhook/bitbucket-server-branch-deleted.json",
    ));
    assert!(deleted.text.contains("bitbucket-server"), "{}", deleted.text);
    assert_eq!(deleted.json["changes"][0]["decisions"][0]["outcome"], "skip");
}

#[test]
fn explain_checks_a_signature_when_given_the_secret() {
    let mut args = explain_args("events/herald-config.json", "events/git-webhook/github-push.json");
    args.secret = Some(r#"{"secrets": ["herald-demo-secret"]}"#.into());
    let out = explain::run(&args);
    assert_eq!(out.code, 0, "{}", out.text);
    assert!(out.text.contains("signature: valid"), "{}", out.text);
    args.secret = Some("not-the-demo-secret-0123".into());
    let out = explain::run(&args);
    assert_eq!(out.code, output::FINDING);
    assert!(out.text.contains("signature: invalid"), "{}", out.text);
}

#[test]
fn explain_takes_a_raw_payload_with_its_provider() {
    let mut args = explain_args("events/herald-config.json", "events/git-webhook/payloads/github-push.json");
    args.provider = Some(delivery::Sender::parse("github").unwrap());
    args.headers = vec!["X-GitHub-Delivery: raw-1".into()];
    let out = explain::run(&args);
    assert!(out.text.contains("github push delivery raw-1"), "{}", out.text);
    assert!(out.text.contains("github-app -> demo-github"), "{}", out.text);
}

/// A file holding what a server's webhook log shows: the request's headers and its body.
fn saved(name: &str, doc: &serde_json::Value) -> String {
    let file = std::env::temp_dir().join(format!("herald-explain-{}-{name}.json", std::process::id()));
    std::fs::write(&file, doc.to_string()).unwrap();
    file.to_str().unwrap().to_owned()
}

/// A saved delivery (`{"headers", "body"}`, no Lambda request context) is read as the request it
/// was, its signature checked: docs/cli.md's documented input.
#[test]
fn explain_reads_a_saved_delivery_with_headers_and_body() {
    let body = std::fs::read_to_string(path("events/git-webhook/payloads/github-push.json")).unwrap();
    let secret = "herald-demo-secret";
    let sender = delivery::Sender::parse("github").unwrap();
    let signed = sign::headers(sender, secret, body.as_bytes(), None, herald::clock::unix_now()).unwrap();
    let headers: serde_json::Map<String, serde_json::Value> = signed.into_iter().map(|(k, v)| (k, json!(v))).collect();
    let file = saved("saved", &json!({ "headers": headers, "body": body }));
    let mut args = explain_args("events/herald-config.json", "x");
    args.event = file.clone();
    args.secret = Some(secret.into());
    let out = explain::run(&args);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.code, 0, "{}", out.text);
    assert!(out.text.contains("signature: valid"), "{}", out.text);
    assert!(out.text.contains("github-app -> demo-github"), "{}", out.text);
    assert_eq!(out.json["status"], 200);
}

/// A payload without headers, as docs/operations.md's recipe saves it: with --provider under any
/// of its names, or recognised by its shape; with --secret, a missing signature header is said
/// to be missing, not a wrong secret.
#[test]
fn explain_reads_a_raw_payload_with_or_without_its_provider() {
    let recipe = |provider: Option<&str>, secret: Option<&str>| {
        let mut args = explain_args("events/herald-config.json", "events/git-webhook/payloads/github-push.json");
        args.provider = provider.map(|p| delivery::Sender::parse(p).unwrap());
        args.secret = secret.map(str::to_owned);
        explain::run(&args)
    };
    let out = recipe(Some("github"), Some("herald-demo-secret"));
    assert_eq!(out.code, 0, "{}", out.text);
    assert!(out.text.contains("no signature header given (X-Hub-Signature-256"), "{}", out.text);
    assert!(!out.text.contains("invalid"), "{}", out.text);
    assert!(out.text.contains("github-app -> demo-github"), "{}", out.text);
    let out = recipe(None, None);
    assert_eq!(out.code, 0, "{}", out.text);
    assert!(out.text.contains("read as a raw github payload, by its shape"), "{}", out.text);
    assert!(out.text.contains("github-app -> demo-github"), "{}", out.text);
    for (file, name) in [
        ("gitlab-push", "gitlab"),
        ("bitbucket-cloud-push", "bitbucket-cloud"),
        ("bitbucket-server-push", "bitbucket-server"),
        ("azure-devops-push", "azure-devops"),
    ] {
        let mut args = explain_args("events/herald-config.json", &format!("events/git-webhook/payloads/{file}.json"));
        let out = explain::run(&args);
        assert!(out.text.contains(&format!("read as a raw {name} payload")), "{file}: {}", out.text);
        assert_eq!(out.json["provider"], name, "{file}");
        // The name explain printed is one --provider takes.
        args.provider = Some(delivery::Sender::parse(name).unwrap());
        assert_eq!(explain::run(&args).json["provider"], name, "{file}");
    }
    // Gitea, Forgejo and Gogs look alike: a hint, exit 2, never "ignored" with exit 0.
    let out = explain::run(&explain_args("events/herald-config.json", "events/git-webhook/payloads/gitea-push.json"));
    assert_eq!(out.code, output::USAGE, "{}", out.text);
    assert!(out.text.contains("give --provider") && out.text.contains("forgejo"), "{}", out.text);
    let unknown = delivery::Sender::parse("gitbucket").unwrap_err();
    assert!(unknown.contains("bitbucket-server") && unknown.contains("azure-devops"), "{unknown}");
}

/// What git-webhook would answer 4xx exits non-zero; an empty --changed-files list is warned of.
#[test]
fn explain_exits_non_zero_on_a_4xx_and_warns_on_an_empty_file_list() {
    let file = saved(
        "broken",
        &json!({ "headers": { "X-GitHub-Event": "push", "X-GitHub-Delivery": "d" }, "body": "{not json" }),
    );
    let mut args = explain_args("events/herald-config.json", "x");
    args.event = file.clone();
    let out = explain::run(&args);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.code, output::FINDING, "{}", out.text);
    assert_eq!(out.json["status"], 400, "{}", out.json);
    let empty = std::env::temp_dir().join(format!("herald-empty-{}.txt", std::process::id()));
    std::fs::write(&empty, "\n").unwrap();
    let mut args = explain_args("events/monorepo/herald-config.json", "events/monorepo/pull-request.json");
    args.changed_files = Some(empty.to_str().unwrap().to_owned());
    let out = explain::run(&args);
    std::fs::remove_file(&empty).unwrap();
    assert_eq!(out.code, output::FINDING, "{}", out.text);
    assert!(out.text.contains("lists no paths"), "{}", out.text);
}

#[test]
fn explain_reads_s3_and_pipeline_events_too() {
    let s3 = explain::run(&explain_args(
        "events/s3-trigger/herald-config.json",
        "events/s3-trigger/eventbridge-object-created.json",
    ));
    assert!(s3.text.contains("start") && s3.text.contains("S3_OBJECT_VERSION_ID"), "{}", s3.text);
    let alert = explain::run(&explain_args(
        "events/s3-trigger/herald-config.json",
        "events/pipeline-notifier/pipeline-failed.json",
    ));
    assert!(alert.text.contains("if the previous finished run failed:"), "{}", alert.text);
    assert!(alert.text.contains("alert rule default sends FAILED to HERALD_TOPIC_ARN"), "{}", alert.text);
    assert!(alert.text.contains("subject: FAILED: prod-api"), "{}", alert.text);
}

#[test]
fn explain_shows_how_an_s3_write_is_pinned_to_the_source_action() {
    let args =
        explain_args("events/s3-trigger/herald-config.json", "events/s3-trigger/eventbridge-object-created.json");
    let offline = explain::run(&args);
    assert!(offline.text.contains("source action Source not read here"), "{}", offline.text);
    let mut args = args;
    args.pipelines = vec![path("events/s3-trigger/get-pipeline-demo-deploy.json")];
    let out = explain::run(&args);
    assert!(out.text.contains("pinned to S3_OBJECT_KEY releases/app/app-1.5.0.zip"), "{}", out.text);
    assert!(out.text.contains("pinned to S3_OBJECT_VERSION_ID IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"), "{}", out.text);
}

/// What `sign` prints is accepted by the webhook's own verification, for every provider.
#[test]
fn signed_deliveries_verify_for_every_provider() {
    let body = std::fs::read(path("events/git-webhook/payloads/github-push.json")).unwrap();
    let shared = "shared-secret-0123456789";
    let standard = "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk=";
    let secrets = WebhookSecrets::parse(&format!(r#"{{"secrets": ["{shared}", "{standard}"]}}"#)).unwrap();
    let now = herald::clock::unix_now();
    let senders = herald::change::ProviderKind::ALL.map(delivery::Sender::Server);
    for provider in senders.into_iter().chain([delivery::Sender::GitLabSigning]) {
        let key = if matches!(provider.as_str(), "gitlab-signing" | "generic") { standard } else { shared };
        let pairs = sign::headers(provider, key, &body, None, now).unwrap();
        let headers: Headers = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let kind = providers::detect(&headers).unwrap_or_else(|| panic!("{provider}: not recognised"));
        assert!(providers::authenticate(kind, &headers, &body, &secrets, now).is_some(), "{provider}: does not verify");
        let wrong = WebhookSecrets::parse("another-secret-0123456789").unwrap();
        assert!(providers::authenticate(kind, &headers, &body, &wrong, now).is_none(), "{provider}");
    }
    let parse = |name| delivery::Sender::parse(name).unwrap();
    assert!(sign::headers(parse("generic"), shared, &body, None, now).unwrap_err().contains("whsec_"));
    assert!(sign::headers(parse("github"), standard, &body, None, now).unwrap_err().contains("shared secret"));
    assert!(sign::headers(parse("github"), "", &body, None, now).unwrap_err().contains("empty"));
}

/// A merge queue's delivery: `sign` names the event from the payload, and the webhook reads it
/// as a merge group (docs/statuses.md "Merge queues").
#[test]
fn sign_makes_a_merge_group_delivery_from_github_s_own_payload() {
    let file = path("events/git-webhook/payloads/github-merge-group.json");
    let body = std::fs::read(&file).unwrap();
    assert_eq!(delivery::github_event_of(&body), Some("merge_group"));
    let pr = std::fs::read(path("events/git-webhook/payloads/github-pull-request.json")).unwrap();
    assert_eq!(delivery::github_event_of(&pr), Some("pull_request"));
    let push = std::fs::read(path("events/git-webhook/payloads/github-push.json")).unwrap();
    assert_eq!(delivery::github_event_of(&push), None, "a push: the default");
    let args = sign::Args {
        provider: delivery::Sender::parse("github").unwrap(),
        secret: "shared-secret-0123456789".into(),
        file,
        event: None,
        url: None,
        json: true,
    };
    let out = sign::run(&args);
    let headers: Vec<(String, String)> = out.json["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let headers: Headers = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(headers.get("x-github-event"), Some("merge_group"));
    let delivery = providers::parse(herald::change::ProviderKind::GitHub, &headers, &body).unwrap();
    let providers::Content::Changes(changes) = delivery.content else { panic!("{:?}", delivery.content) };
    assert_eq!(changes[0].event, herald::change::EventKind::MergeGroup);
    assert_eq!(changes[0].commit, "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d");
}

/// `sign` names each server's comment event from the payload, and the webhook reads the signed
/// delivery as a comment with its command.
#[test]
fn sign_makes_each_server_s_comment_event() {
    let github = json!({ "action": "created", "issue": { "number": 3, "pull_request": { "url": "https://api.github.com/repos/a/b/pulls/3" } },
        "comment": { "id": 1, "body": "/herald run", "user": { "login": "ann" }, "author_association": "OWNER" },
        "repository": { "full_name": "a/b", "url": "https://api.github.com/repos/a/b" } });
    let gitlab = json!({ "object_kind": "note", "user": { "id": 5, "username": "ann" },
        "project": { "path_with_namespace": "a/b", "web_url": "https://gitlab.com/a/b" },
        "object_attributes": { "id": 1, "note": "/herald run", "noteable_type": "MergeRequest", "action": "create" }, "merge_request": { "iid": 3 } });
    let bitbucket = json!({ "comment": { "id": 1, "content": { "raw": "/herald run" } }, "pullrequest": { "id": 3 },
        "actor": { "nickname": "ann" }, "repository": { "full_name": "a/b", "links": { "html": { "href": "https://bitbucket.org/a/b" } } } });
    let gitea = json!({ "action": "created", "is_pull": true, "issue": { "number": 3, "pull_request": {} },
        "comment": { "id": 1, "body": "/herald run", "user": { "login": "ann" } },
        "repository": { "full_name": "a/b", "html_url": "https://gitea.example.com/a/b" } });
    let now = herald::clock::unix_now();
    let secret = "shared-secret-0123456789";
    let secrets = WebhookSecrets::parse(secret).unwrap();
    for (provider, kind, body, event) in [
        ("github", herald::change::ProviderKind::GitHub, github, "issue_comment"),
        ("gitlab", herald::change::ProviderKind::GitLab, gitlab, "Note Hook"),
        ("bitbucket", herald::change::ProviderKind::BitbucketCloud, bitbucket, "pullrequest:comment_created"),
        ("gitea", herald::change::ProviderKind::Gitea, gitea, "issue_comment"),
    ] {
        let body = body.to_string().into_bytes();
        assert_eq!(delivery::event_of(kind, &body).as_deref(), Some(event), "{provider}");
        let sender = delivery::Sender::parse(provider).unwrap();
        let signed = sign::headers(sender, secret, &body, delivery::event_of(kind, &body).as_deref(), now).unwrap();
        let headers: Headers = signed.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(providers::authenticate(kind, &headers, &body, &secrets, now).is_some(), "{provider}");
        let delivery = providers::parse(kind, &headers, &body).unwrap();
        let providers::Content::Comment(comment) = delivery.content else {
            panic!("{provider}: {:?}", delivery.content)
        };
        assert_eq!((comment.body.as_str(), comment.pull_request), ("/herald run", 3), "{provider}");
    }
    let dc = json!({ "comment": { "id": 1, "text": "/herald run" }, "pullRequest": { "id": 3 } }).to_string();
    assert_eq!(delivery::event_of(ProviderKind::BitbucketServer, dc.as_bytes()).as_deref(), Some("pr:comment:added"));
    assert_eq!(delivery::event_of(ProviderKind::Gitea, b"{\"ref\": \"refs/heads/main\"}"), None, "a push: the default");
}

/// `explain` of a comment: each command, and whether its author may give it.
#[test]
fn explain_shows_a_comment_s_commands_and_who_may() {
    let dir = std::env::temp_dir().join(format!("herald-explain-comment-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"triggers": [{"name": "api", "pipeline": "api", "git": {"repository": "a/b", "events": ["pull_request"]}}],
        "commands": {"approvers": ["lead"]}}"#,
    )
    .unwrap();
    let event = dir.join("comment.json");
    let body = json!({ "action": "created", "issue": { "number": 3, "pull_request": { "url": "https://api.github.com/repos/a/b/pulls/3" } },
        "comment": { "id": 1, "body": "/herald run api\n/herald approve ship it", "user": { "login": "ann" }, "author_association": "MEMBER" },
        "repository": { "full_name": "a/b", "url": "https://api.github.com/repos/a/b" } });
    std::fs::write(&event, body.to_string()).unwrap();
    let mut args = explain_args("", "");
    (args.config, args.event, args.provider) = (
        config.to_str().unwrap().into(),
        event.to_str().unwrap().into(),
        Some(delivery::Sender::parse("github").unwrap()),
    );
    let out = explain::run(&args);
    // Under another secret scope, as the webhook would read it, `api` is no trigger to name.
    args.scope = Some("team-b".into());
    let other = explain::run(&args);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(other.text.contains("refused \"/herald run api\": no trigger named \"api\""), "{}", other.text);
    // MEMBER is not a permission: the server's permission answer decides.
    assert!(
        out.text
            .contains("/herald run (api): ann may if the collaborator permission API says admin, maintain or write"),
        "{}",
        out.text
    );
    assert!(
        out.text.contains(
            "/herald approve (every trigger it applies to) \"ship it\": refused: ann is not one of the approvers"
        ),
        "{}",
        out.text
    );
}

fn validate_text(doc: &str) -> output::Outcome {
    let file = std::env::temp_dir().join(format!("herald-cli-{}-{}.json", std::process::id(), doc.len()));
    std::fs::write(&file, doc).unwrap();
    let out = output::validate(Some(file.to_str().unwrap()), None, false, None);
    std::fs::remove_file(&file).unwrap();
    out
}

/// Every warning: valid, but it can never match (or means something else); each names the
/// field and what to write instead.
#[test]
fn validate_warns_of_values_that_never_match() {
    let doc = r#"{"triggers": [
        {"name": "api", "pipeline": "api", "git": {"repository": "https://github.com/acme/app.git",
            "branches": ["refs/heads/main"], "tags": ["v*"],
            "paths": ["./services/api/**", "/services/web/**", "services/api/"]},
         "variables": {"BRANCH": "${branch}"}},
        {"name": "api-again", "pipeline": "api", "git": {"repository": "https://github.com/acme/app.git",
            "branches": ["refs/heads/main"], "tags": ["v*"],
            "paths": ["./services/api/**", "/services/web/**", "services/api/"]},
         "variables": {"BRANCH": "${branch}"}}
    ], "alerts": [{"name": "shop", "pipelines": ["shop-"], "on": ["FAILED"]}]}"#;
    let out = validate_text(doc);
    assert_eq!(out.code, 0, "warnings are not errors: {}", out.text);
    let warnings: Vec<String> =
        out.json["warnings"].as_array().unwrap().iter().map(|w| format!("{} | {}", w["field"], w["message"])).collect();
    let has = |field: &str, says: &str| warnings.iter().any(|w| w.contains(field) && w.contains(says));
    assert!(has("git.paths[0]", "write \\\"services/api/**\\\""), "{warnings:#?}");
    assert!(has("git.paths[1]", "relative to the repository root"), "{warnings:#?}");
    assert!(has("git.paths[2]", "services/api/**"), "{warnings:#?}");
    assert!(has("git.branches[0]", "write \\\"main\\\""), "{warnings:#?}");
    assert!(has("git.repository", "full name"), "{warnings:#?}");
    assert!(has("git.tags", "add it to events"), "{warnings:#?}");
    assert!(has("variables.BRANCH", "{…}"), "{warnings:#?}");
    assert!(has("trigger \\\"api-again\\\": name", "identical to trigger \\\"api\\\""), "{warnings:#?}");
    assert!(has("pipelines[0]", "shop-*"), "{warnings:#?}");
    assert!(out.text.contains("warning:"), "{}", out.text);
    assert!(validate_text(
        r#"{"triggers": [{"name": "ok", "pipeline": "p", "git": {"repository": "acme/app", "paths": ["src/**"]}}]}"#
    )
    .json["warnings"]
        .as_array()
        .unwrap()
        .is_empty());
}

/// Errors say what the document must be, in the user's terms.
#[test]
fn errors_speak_the_user_s_terms() {
    let error = |doc: &str| {
        let out = validate_text(doc);
        assert_eq!(out.code, output::FINDING, "{doc:?}");
        out.json["errors"][0].as_str().unwrap().to_owned()
    };
    assert!(error("triggers:\n  - name: x\n").contains("must be JSON; this looks like YAML"));
    assert!(error("").contains("the document is empty"));
    assert!(error("[]").contains("the document is an array; the top level must be a JSON object"));
    assert!(error("42").contains("a single value"));
    assert!(error("// my config\n{}").contains("no comments"));
    assert!(error(r#"{"triggers": ["#).contains("ends early"));
    let typo = error(r#"{"triggers": [], "alert": []}"#);
    assert!(typo.contains("unknown field `alert`"), "{typo}");
    for doc in ["[]", "", "triggers: []", r#"{"triggers": 5}"#] {
        let e = error(doc);
        assert!(!e.contains("RawConfig") && !e.contains("Raw"), "internal names: {e}");
    }
}

/// Every trigger gets a reason, even those the repository or the secret scope leaves out.
#[test]
fn explain_gives_every_trigger_a_reason() {
    let out = explain::run(&explain_args("events/herald-config.json", "events/git-webhook/github-push.json"));
    assert!(
        out.text.contains("gitlab")
            && out.text.contains("repository binkkatal/sample_app does not match repository (mike/diaspora)"),
        "{}",
        out.text
    );
    let mut args = explain_args("events/herald-config.json", "events/git-webhook/github-push.json");
    args.scope = Some("team-typo".into());
    let out = explain::run(&args);
    assert!(
        out.text.contains("verified by named secret team-typo, which starts only the triggers naming it"),
        "{}",
        out.text
    );
    assert!(!out.text.contains("no trigger names this repository"), "{}", out.text);
    let decisions = out.json["changes"][0]["decisions"].as_array().unwrap();
    assert!(decisions.len() > 10 && decisions.iter().all(|d| d["reason"].is_string()), "{decisions:?}");
}

#[test]
fn explain_gives_every_s3_trigger_a_reason() {
    let config = std::env::temp_dir().join(format!("herald-cli-s3-{}.json", std::process::id()));
    std::fs::write(&config, r#"{"triggers": [{"name": "other", "pipeline": "p", "s3": {"bucket": "other-*"}}]}"#)
        .unwrap();
    let args = explain::Args {
        config: config.to_str().unwrap().to_owned(),
        ..explain_args("", "events/s3-trigger/eventbridge-object-created.json")
    };
    let out = explain::run(&args);
    std::fs::remove_file(&config).unwrap();
    assert!(
        out.text.contains("skip  other (p): bucket acme-artifacts does not match bucket (other-*)"),
        "{}",
        out.text
    );
}

#[test]
fn explain_shows_the_status_a_start_would_post() {
    let config = std::env::temp_dir().join(format!("herald-cli-status-{}.json", std::process::id()));
    std::fs::write(
        &config,
        r#"{"triggers":[
            {"name":"app","pipeline":"demo-github","git":{"repository":"**"},"status":{"stages":true}},
            {"name":"quiet","pipeline":"other","git":{"repository":"**"}}]}"#,
    )
    .unwrap();
    let mut args = explain_args("", "events/git-webhook/github-push.json");
    args.config = config.to_str().unwrap().to_owned();
    let github = explain::run(&args);
    args.event = path("events/git-webhook/gogs-push.json");
    let gogs = explain::run(&args);
    std::fs::remove_file(&config).unwrap();
    assert!(
        github.text.contains(
            "status herald/demo-github pending on binkkatal/sample_app@fd489864e7642b48eaad6e3f155c10e46810ec72 at api.github.com (github:api.github.com or github credential), and herald/demo-github/<stage> per stage"
        ),
        "{}",
        github.text
    );
    assert_eq!(github.text.matches("status herald/").count(), 1, "only the trigger with status: {}", github.text);
    let entry = &github.json["changes"][0]["decisions"][0]["status"];
    assert_eq!(entry["credential_for"], "github:api.github.com", "{}", github.json);
    // Where it goes is the server and the matched repository; the URL is built from the credential.
    assert_eq!(
        (entry["server"].as_str(), entry["repository"].as_str()),
        (Some("api.github.com"), Some("binkkatal/sample_app"))
    );
    assert!(gogs.text.contains("no status: gogs has no commit status API"), "{}", gogs.text);
}

#[test]
fn explain_shows_the_passing_status_of_a_skip_and_none_where_the_context_does_not_apply() {
    let config = std::env::temp_dir().join(format!("herald-cli-skip-{}.json", std::process::id()));
    std::fs::write(
        &config,
        r#"{"triggers":[
            {"name":"api","pipeline":"api","git":{"repository":"**","paths":["services/api/**"]},"status":true},
            {"name":"quiet","pipeline":"quiet","git":{"repository":"**","paths":["services/api/**"]},"status":{"skipped":false}},
            {"name":"release","pipeline":"rel","git":{"repository":"**","branches":["release/*"]},"status":true}]}"#,
    )
    .unwrap();
    let mut args = explain_args("", "events/git-webhook/github-push.json");
    args.config = config.to_str().unwrap().to_owned();
    let out = explain::run(&args);
    std::fs::remove_file(&config).unwrap();
    assert!(
        out.text.contains(
            "status herald/api success (passed without running) on binkkatal/sample_app@fd489864e7642b48eaad6e3f155c10e46810ec72 at api.github.com"
        ),
        "{}",
        out.text
    );
    assert_eq!(
        out.text.matches("status herald/").count(),
        1,
        "not for skipped: false, not for another branch: {}",
        out.text
    );
    let entry = &out.json["changes"][0]["decisions"][0]["status"];
    assert_eq!(entry["state"], "skipped", "{}", out.json);
    assert!(entry["description"].as_str().unwrap().starts_with("skipped: no changed file matches paths"));
}

#[test]
fn explain_says_it_would_ask_the_server_for_a_pull_request_s_files() {
    let config = std::env::temp_dir().join(format!("herald-cli-paths-{}.json", std::process::id()));
    std::fs::write(
        &config,
        r#"{"triggers":[{"name":"web","pipeline":"web","git":{"repository":"**","events":["pull_request"],"paths":["services/web/**"]}}]}"#,
    )
    .unwrap();
    let mut args = explain_args("", "events/git-webhook/github-pull-request.json");
    args.config = config.to_str().unwrap().to_owned();
    let out = explain::run(&args);
    std::fs::remove_file(&config).unwrap();
    assert!(
        out.text.contains("files: incomplete; git-webhook would ask api.github.com for them (github:api.github.com or github credential; --fetch asks now)"),
        "{}",
        out.text
    );
    assert_eq!(out.json["changes"][0]["files"]["would_ask"], "api.github.com");
}

/// A monorepo's document of 17 path-filtered triggers: over what an inline HeraldConfig and
/// Lambda's 4 KB environment hold.
fn monorepo_config(triggers: usize) -> String {
    let triggers: Vec<serde_json::Value> = (0..triggers)
        .map(|i| {
            json!({ "name": format!("service-{i:02}"), "pipeline": format!("monorepo-service-{i:02}"),
            "git": { "repository": "acme/monorepo", "branches": ["main"], "events": ["push", "pull_request"],
                     "paths": [format!("services/service-{i:02}/**"), "libs/shared/**"] }, "status": true })
        })
        .collect();
    json!({ "triggers": triggers }).to_string()
}

#[test]
fn validate_warns_when_the_document_is_too_big_for_the_environment() {
    let big = monorepo_config(17);
    assert!(big.len() > output::INLINE_CONFIG_BYTES, "{}", big.len());
    let out = validate_text(&big);
    assert_eq!(out.code, 0, "a warning, not an error: {}", out.text);
    assert!(out.text.contains("use HeraldConfigParameter"), "{}", out.text);
    let small = validate_text(&monorepo_config(2));
    assert!(!small.text.contains("HeraldConfigParameter"), "{}", small.text);
}

#[test]
fn validate_strict_fails_on_warnings() {
    let file = std::env::temp_dir().join(format!("herald-cli-strict-{}.json", std::process::id()));
    std::fs::write(&file, monorepo_config(17)).unwrap();
    let strict = output::validate(Some(file.to_str().unwrap()), None, true, None);
    std::fs::write(&file, monorepo_config(2)).unwrap();
    let clean = output::validate(Some(file.to_str().unwrap()), None, true, None);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(strict.code, output::FINDING, "{}", strict.text);
    assert!(strict.text.contains("--strict"), "{}", strict.text);
    assert_eq!(clean.code, 0, "{}", clean.text);
}

#[test]
fn validate_says_a_rule_s_own_topic_needs_additional_alert_topic_arns() {
    let out = validate_text(
        r#"{"alerts":[{"name":"team","pipelines":["**"],"on":["FAILED"],"topic_arn":"arn:aws:sns:us-east-1:123456789012:team"}]}"#,
    );
    assert!(
        out.text.contains("AdditionalAlertTopicArns") && out.text.contains("arn:aws:sns:us-east-1:123456789012:team"),
        "{}",
        out.text
    );
}

#[test]
fn explain_names_only_the_credential_that_may_go_to_a_self_hosted_server() {
    let mut args = explain_args("events/herald-config.json", "events/git-webhook/gitlab-push.json");
    let out = explain::run(&args);
    // example.com is not gitlab.com: a bare `gitlab` entry never goes there.
    assert!(out.text.contains("(gitlab:example.com credential; --fetch asks now)"), "{}", out.text);
    assert!(!out.text.contains("or gitlab credential"), "{}", out.text);
    args.event = path("events/git-webhook/generic-push.json");
    let generic = explain::run(&args);
    assert!(!generic.text.contains("has no API Herald asks"), "{}", generic.text);
}

#[test]
fn explain_decides_on_the_changed_files_it_is_given() {
    let config = std::env::temp_dir().join(format!("herald-cli-given-{}.json", std::process::id()));
    let files = std::env::temp_dir().join(format!("herald-cli-given-{}.txt", std::process::id()));
    std::fs::write(
        &config,
        r#"{"triggers":[
            {"name":"web","pipeline":"web","git":{"repository":"**","events":["pull_request"],"paths":["services/web/**"]}},
            {"name":"api","pipeline":"api","git":{"repository":"**","events":["pull_request"],"paths":["services/api/**"]}}]}"#,
    )
    .unwrap();
    std::fs::write(&files, "services/web/app.ts\n\ndocs/a.md\n").unwrap();
    let mut args = explain_args("", "events/git-webhook/github-pull-request.json");
    args.config = config.to_str().unwrap().to_owned();
    args.changed_files = Some(files.to_str().unwrap().to_owned());
    let out = explain::run(&args);
    std::fs::remove_file(&config).unwrap();
    std::fs::remove_file(&files).unwrap();
    assert!(out.text.contains("files (given): services/web/app.ts, docs/a.md"), "{}", out.text);
    assert!(out.text.contains("no changed file matches paths (services/api/**)"), "{}", out.text);
    let decisions = out.json["changes"][0]["decisions"].as_array().unwrap();
    assert!(decisions.iter().any(|d| d["trigger"] == "web" && d["outcome"] == "start"), "{}", out.json);
}

#[test]
fn redeliver_windows_read_as_people_write_them() {
    use crate::redeliver::duration;
    assert_eq!(duration("2h"), Ok(7200));
    assert_eq!(duration("90m"), Ok(5400));
    assert_eq!(duration("1d"), Ok(86_400));
    assert_eq!(duration("3"), Ok(10_800), "hours when no unit is given");
    for bad in ["", "h", "0h", "4d", "2w", "-1h", "1.5h"] {
        assert!(duration(bad).is_err(), "{bad}");
    }
}

/// `validate --s3-buckets`: an s3 trigger whose bucket glob matches none of the stack's
/// S3SourceBuckets is warned of (the sample's `acme-*` with a stack of `team-*` buckets).
#[test]
fn validate_warns_on_an_s3_trigger_no_source_bucket_delivers() {
    let config = path("events/s3-trigger/herald-config.json");
    let listed = ["acme-artifacts".to_owned()];
    assert!(output::validate(Some(&config), None, true, Some(&listed)).code == 0);
    let others = ["team-a".to_owned(), "team-b".to_owned()];
    let out = output::validate(Some(&config), None, true, Some(&others));
    assert_eq!(out.code, output::FINDING, "{}", out.text);
    assert!(out.text.contains("acme-* matches none of the stack's S3SourceBuckets (team-a, team-b)"), "{}", out.text);
}

/// A Bitbucket Cloud pull request names 12 characters of its head: explain says git-webhook
/// asks the server for the full id to pin to (and --fetch asks now), not only that it skips.
#[test]
fn explain_says_an_abbreviated_commit_is_asked_for() {
    let config = std::env::temp_dir().join(format!("herald-bb-{}.json", std::process::id()));
    std::fs::write(
        &config,
        json!({ "triggers": [{ "name": "pr", "pipeline": "app", "source_action": "Source",
                "git": { "repository": "team_name/repo_name", "events": ["pull_request"] } }] })
        .to_string(),
    )
    .unwrap();
    let mut args = explain_args("x", "events/git-webhook/payloads/bitbucket-cloud-pull-request.json");
    args.config = config.to_str().unwrap().to_owned();
    args.provider = Some(delivery::Sender::parse("bitbucket").unwrap());
    let out = explain::run(&args);
    std::fs::remove_file(&config).unwrap();
    assert!(
        out.text
            .contains("commit d3022fc0ca3d is abbreviated; git-webhook would ask api.bitbucket.org for the full id"),
        "{}",
        out.text
    );
}

/// Every raw payload sample (events/git-webhook/payloads) is read as the event it is with only
/// `--provider` named, under the name its file and the webhook's answers use: never a 400.
#[test]
fn every_raw_payload_sample_is_explained_with_its_provider() {
    let dir = path("events/git-webhook/payloads");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let file = entry.unwrap().path();
        let name = file.file_name().unwrap().to_str().unwrap().to_owned();
        if !name.ends_with(".json") {
            continue;
        }
        let provider = ProviderKind::ALL.into_iter().find(|k| name.starts_with(&format!("{}-", k.as_str()))).unwrap();
        let mut args = explain_args("events/herald-config.json", "x");
        args.event = file.to_str().unwrap().to_owned();
        args.provider = Some(delivery::Sender::Server(provider));
        let out = explain::run(&args);
        assert_eq!(out.code, 0, "{name}: {}", out.text);
        assert_ne!(out.json["status"], 400, "{name}: {}", out.text);
        assert_eq!(out.json["provider"], provider.as_str(), "{name}");
        seen += 1;
    }
    assert!(seen >= 20, "{seen} samples");
}

/// `validate` notes `commands.users` entries that cannot name anyone on Bitbucket Cloud (not an
/// account id or uuid), without failing --strict (they are logins on the other servers).
#[test]
fn validate_notes_users_that_are_no_bitbucket_account() {
    let file = std::env::temp_dir().join(format!("herald-users-{}.json", std::process::id()));
    std::fs::write(&file, r#"{"commands": {"users": ["alice", "557058:abc", "{u-1}", "5b10a2844c20165700ede21f"]}}"#)
        .unwrap();
    let out = output::validate(Some(file.to_str().unwrap()), None, true, None);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.code, 0, "{}", out.text);
    assert!(out.text.contains("on Bitbucket Cloud, \"alice\" match(es) nobody"), "{}", out.text);
    assert!(
        !out.text.contains("557058:abc") && !out.text.contains("u-1") && !out.text.contains("5b10a"),
        "{}",
        out.text
    );
}
