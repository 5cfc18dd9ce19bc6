//! GitHub and GitHub Enterprise Server.
//!
//! `X-GitHub-Event` names the event, `X-GitHub-Delivery` the delivery, and
//! `X-Hub-Signature-256: sha256=<hex>` signs the raw body with HMAC-SHA256.

use super::{delivery_id, from_json, strip_prefix_ignore_case, BodyError, Content, Delivery, Headers};
use crate::auth::verify_hex_hmac;
use crate::change::{
    is_zero_sha, ChangedFiles, Comment, CommentAuthor, PrAction, ProviderKind, PullRequest, PullRequestParts,
    PushParts, ServerAddress,
};
use crate::secrets::{Scheme, SecretScope, WebhookSecrets};
use serde::Deserialize;

/// GitHub caps the commits listed in a push; at the cap the file list may be partial.
const MAX_LISTED_COMMITS: usize = 2048;

pub fn authenticate(headers: &Headers, body: &[u8], secrets: &WebhookSecrets) -> Option<SecretScope> {
    let signature = strip_prefix_ignore_case(headers.get("x-hub-signature-256")?, "sha256=")?;
    secrets.find_scope(Scheme::Shared, |key| verify_hex_hmac(key, body, signature))
}

pub fn parse(headers: &Headers, body: &[u8]) -> Result<Delivery, BodyError> {
    let event = headers.get("x-github-event").unwrap_or_default().to_owned();
    let delivery = delivery_id(headers, &["x-github-delivery"], body);
    let content = match event.as_str() {
        "push" => Content::Changes(vec![push(from_json(body)?, &delivery)]),
        "pull_request" => pull_request(from_json(body)?, &delivery),
        "merge_group" => merge_group(from_json(body)?, &delivery),
        "issue_comment" => issue_comment(from_json(body)?, &delivery),
        "ping" => Content::Ping,
        other => Content::Ignored(format!("GitHub event {other:?} does not start pipelines")),
    };
    Ok(Delivery { event, delivery, content })
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    before: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    forced: bool,
    #[serde(default)]
    commits: Vec<Commit>,
    head_commit: Option<Commit>,
    repository: Repository,
    pusher: Option<Pusher>,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct Commit {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
    author: Option<Author>,
}

#[derive(Deserialize)]
struct Author {
    #[serde(default)]
    name: String,
    username: Option<String>,
}

#[derive(Deserialize)]
struct Pusher {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    login: String,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    #[serde(default)]
    clone_url: String,
    /// `https://api.github.com/repos/o/r/statuses/{sha}` (GHES: `https://host/api/v3/...`): only
    /// its host is used.
    statuses_url: Option<String>,
    /// `https://api.github.com/repos/o/r`: the host, when `statuses_url` is missing.
    url: Option<String>,
}

fn push(p: Push, delivery: &str) -> crate::change::Change {
    let files = if p.commits.is_empty() || p.forced || p.commits.len() >= MAX_LISTED_COMMITS {
        ChangedFiles::unknown()
    } else {
        ChangedFiles::complete(
            p.commits.iter().flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed)).cloned(),
        )
    };
    let head = p.head_commit.as_ref().or(p.commits.last());
    let author = head
        .and_then(|c| c.author.as_ref())
        .map(|a| a.username.clone().unwrap_or_else(|| a.name.clone()))
        .or_else(|| p.pusher.as_ref().map(|x| x.name.clone()))
        .or_else(|| p.sender.as_ref().map(|x| x.login.clone()))
        .unwrap_or_default();
    let deleted = p.deleted || is_zero_sha(&p.after);
    // For an annotated tag `after` is the tag object; `head_commit` is the tagged commit.
    let commit =
        p.head_commit.as_ref().map(|c| c.id.clone()).filter(|id| !id.is_empty() && !deleted).unwrap_or(p.after);
    let server = server(&p.repository);
    let before = p.before;
    let change: crate::change::Change = PushParts {
        provider: ProviderKind::GitHub,
        delivery: delivery.to_owned(),
        repository: p.repository.full_name,
        deleted,
        commit,
        git_ref: p.git_ref,
        files,
        author,
        message: head.map(|c| c.message.clone()).unwrap_or_default(),
        clone_url: p.repository.clone_url,
    }
    .into();
    change.with_server(server).with_before(Some(before))
}

/// The server: the host of the repository's API URLs (`api.github.com`, a GHES host).
fn server(repository: &Repository) -> Option<ServerAddress> {
    ServerAddress::from_url(repository.statuses_url.as_deref().or(repository.url.as_deref())?)
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    number: u64,
    pull_request: PullRequestBody,
    repository: Repository,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct PullRequestBody {
    #[serde(default)]
    title: String,
    #[serde(default)]
    merged: bool,
    head: Side,
    base: Side,
    user: Option<User>,
}

#[derive(Deserialize)]
struct Side {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    sha: String,
    /// `null` when the fork was deleted.
    repo: Option<Repository>,
}

fn pull_request(e: PullRequestEvent, delivery: &str) -> Content {
    let action = match e.action.as_str() {
        "opened" => PrAction::Opened,
        "synchronize" => PrAction::Updated,
        "reopened" => PrAction::Reopened,
        "closed" if e.pull_request.merged => PrAction::Merged,
        "closed" => PrAction::Closed,
        other => return Content::Ignored(format!("pull request action {other:?} does not start pipelines")),
    };
    let pr = e.pull_request;
    let from_fork = match (&pr.head.repo, &pr.base.repo) {
        (Some(head), Some(base)) => !head.full_name.eq_ignore_ascii_case(&base.full_name),
        _ => true,
    };
    let author = pr.user.or(e.sender).map(|u| u.login).unwrap_or_default();
    // Statuses go to the base repository, where the pull request (fork or not) shows them.
    let server = server(&e.repository);
    let change: crate::change::Change = PullRequestParts {
        provider: ProviderKind::GitHub,
        delivery: delivery.to_owned(),
        repository: e.repository.full_name,
        commit: pr.head.sha,
        author,
        title: pr.title,
        clone_url: e.repository.clone_url,
        pull_request: PullRequest {
            number: e.number,
            action,
            source_branch: pr.head.git_ref,
            target_branch: pr.base.git_ref,
            from_fork,
        },
    }
    .into();
    Content::Changes(vec![change.with_server(server)])
}

#[derive(Deserialize)]
struct MergeGroupEvent {
    action: String,
    merge_group: MergeGroupBody,
    /// `destroyed`: `merged`, `invalidated` or `dequeued`.
    reason: Option<String>,
    repository: Repository,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct MergeGroupBody {
    head_sha: String,
    /// `refs/heads/gh-readonly-queue/main/pr-104-…`
    head_ref: String,
    base_sha: String,
    /// `refs/heads/main`
    base_ref: String,
    head_commit: Option<Commit>,
}

/// A merge queue's group (docs/statuses.md "Merge queues"): `checks_requested` is a change of its own kind,
/// pinned to `head_sha`, its files those between `base_sha` and `head_sha`.
fn merge_group(e: MergeGroupEvent, delivery: &str) -> Content {
    match e.action.as_str() {
        "checks_requested" => {}
        "destroyed" => {
            let reason = e.reason.as_deref().unwrap_or("no reason given");
            return Content::Ignored(format!(
                "merge group {} destroyed ({reason}): nothing to start",
                e.merge_group.head_ref
            ));
        }
        other => return Content::Ignored(format!("merge group action {other:?} does not start pipelines")),
    }
    let group = e.merge_group;
    let head = group.head_commit.as_ref();
    let author = head
        .and_then(|c| c.author.as_ref())
        .map(|a| a.username.clone().unwrap_or_else(|| a.name.clone()))
        .or_else(|| e.sender.map(|u| u.login))
        .unwrap_or_default();
    let server = server(&e.repository);
    let change: crate::change::Change = PushParts {
        provider: ProviderKind::GitHub,
        delivery: delivery.to_owned(),
        repository: e.repository.full_name,
        deleted: false,
        commit: group.head_sha,
        git_ref: group.head_ref,
        files: ChangedFiles::unknown(),
        author,
        message: head.map(|c| c.message.clone()).unwrap_or_default(),
        clone_url: e.repository.clone_url,
    }
    .into();
    Content::Changes(vec![change.as_merge_group(&group.base_ref).with_server(server).with_before(Some(group.base_sha))])
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    action: String,
    issue: Issue,
    comment: IssueComment,
    repository: Repository,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    /// Present when the issue is a pull request.
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct IssueComment {
    id: u64,
    #[serde(default)]
    body: String,
    user: Option<User>,
    author_association: Option<String>,
}

/// A comment on a pull request's conversation (`issue_comment` on an issue that is a pull request).
fn issue_comment(e: IssueCommentEvent, delivery: &str) -> Content {
    if e.action != "created" {
        return Content::Ignored(format!("comment {}: only new comments hold commands", e.action));
    }
    if e.issue.pull_request.is_none() {
        return Content::Ignored("a comment on an issue, not a pull request".into());
    }
    Content::Comment(Box::new(Comment {
        provider: ProviderKind::GitHub,
        delivery: delivery.to_owned(),
        server: server(&e.repository),
        repository: e.repository.full_name,
        id: e.comment.id.to_string(),
        pull_request: e.issue.number,
        author: CommentAuthor {
            name: e.comment.user.map(|u| u.login).unwrap_or_default(),
            id: None,
            association: e.comment.author_association,
        },
        body: e.comment.body,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{sign_hex, Secret};
    use crate::change::EventKind;
    use crate::providers::fixtures::read;

    fn headers(event: &str) -> Headers {
        [("X-GitHub-Event", event), ("X-GitHub-Delivery", "d-1")].into_iter().collect()
    }

    fn changes(event: &str, file: &str) -> Vec<crate::change::Change> {
        match parse(&headers(event), &read(file)).unwrap().content {
            Content::Changes(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_fixture() {
        let c = &changes("push", "github/push.json")[0];
        assert_eq!(c.event, EventKind::Push);
        assert_eq!(c.repository, "binkkatal/sample_app");
        assert_eq!(c.branch.as_deref(), Some("master"));
        assert_eq!(c.commit, "fd489864e7642b48eaad6e3f155c10e46810ec72");
        assert_eq!(c.message, "test a push event");
        assert_eq!(c.author, "binkkatal");
        assert_eq!(c.delivery, "d-1");
        assert!(c.files.complete);
        assert_eq!(c.files.paths, [".razorops.yaml", "app/controllers/application_controller.rb"]);
        assert_eq!(c.clone_url, "https://github.com/binkkatal/sample_app.git");
        assert!(!c.deleted);
    }

    #[test]
    fn pull_request_fixture() {
        let c = &changes("pull_request", "github/pull-request.json")[0];
        let pr = c.pull_request.as_ref().unwrap();
        assert_eq!(c.event, EventKind::PullRequest);
        assert_eq!((pr.number, pr.action), (1, PrAction::Opened));
        assert_eq!((pr.source_branch.as_str(), pr.target_branch.as_str()), ("changes", "master"));
        assert_eq!(c.commit, "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c");
        assert!(!pr.from_fork);
        assert!(!c.files.complete);
    }

    #[test]
    fn pull_request_actions_map_to_herald_words() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("github/pull-request.json")).unwrap();
        for (action, merged, expected) in [
            ("synchronize", false, Some(PrAction::Updated)),
            ("reopened", false, Some(PrAction::Reopened)),
            ("closed", true, Some(PrAction::Merged)),
            ("closed", false, Some(PrAction::Closed)),
            ("labeled", false, None),
        ] {
            doc["action"] = action.into();
            doc["pull_request"]["merged"] = merged.into();
            let out = parse(&headers("pull_request"), doc.to_string().as_bytes()).unwrap().content;
            match (out, expected) {
                (Content::Changes(c), Some(a)) => {
                    assert_eq!(c[0].pull_request.as_ref().unwrap().action, a)
                }
                (Content::Ignored(_), None) => {}
                (other, _) => panic!("{action}: {other:?}"),
            }
        }
        doc["pull_request"]["head"]["repo"]["full_name"] = "someone/fork".into();
        doc["action"] = "opened".into();
        let Content::Changes(c) = parse(&headers("pull_request"), doc.to_string().as_bytes()).unwrap().content else {
            panic!()
        };
        assert!(c[0].pull_request.as_ref().unwrap().from_fork);
    }

    #[test]
    fn a_merge_group_is_its_own_kind_pinned_to_its_head() {
        // The fields GitHub documents for `merge_group` (the integration tests read
        // @octokit/webhooks-examples' own payloads).
        let group = |action: &str| {
            serde_json::json!({
                "action": action,
                "reason": "merged",
                "merge_group": {
                    "head_sha": "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d",
                    "head_ref": "refs/heads/gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64",
                    "base_sha": "380387fbc80638b734a49e1be1c4dfec1c01b33c",
                    "base_ref": "refs/heads/main",
                    "head_commit": { "id": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "message": "Merge pull request #2048", "author": { "name": "Codertocat" } }
                },
                "repository": { "full_name": "octo-org/octo-repo", "url": "https://api.github.com/repos/octo-org/octo-repo", "clone_url": "https://github.com/octo-org/octo-repo.git" },
                "sender": { "login": "Codertocat" }
            })
            .to_string()
        };
        let c = &changes_of("merge_group", group("checks_requested").as_bytes())[0];
        assert_eq!(c.event, EventKind::MergeGroup);
        assert_eq!(c.commit, "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d", "head_sha, not head_commit.id");
        assert_eq!(c.before.as_deref(), Some("380387fbc80638b734a49e1be1c4dfec1c01b33c"));
        assert_eq!(c.branch.as_deref(), Some("gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64"));
        assert_eq!(c.merge_group.as_ref().map(|m| m.base_branch.as_str()), Some("main"));
        assert_eq!(c.server.as_ref().map(|s| s.host.as_str()), Some("api.github.com"));
        assert!(!c.files.complete);
        let Content::Ignored(why) = parse(&headers("merge_group"), group("destroyed").as_bytes()).unwrap().content
        else {
            panic!("destroyed starts nothing")
        };
        assert!(why.contains("destroyed (merged)"), "{why}");
    }

    #[test]
    fn a_new_pull_request_comment_is_read_and_others_are_acknowledged() {
        // The shape of @octokit/webhooks-examples' issue_comment (created), on a pull request.
        let comment = |action: &str, on_pull_request: bool| {
            let mut doc = serde_json::json!({
                "action": action,
                "issue": { "number": 1, "title": "Spelling error in the README file" },
                "comment": { "id": 492700400, "body": "/herald retry", "user": { "login": "Codertocat" }, "author_association": "OWNER" },
                "repository": { "full_name": "Codertocat/Hello-World", "url": "https://api.github.com/repos/Codertocat/Hello-World" }
            });
            if on_pull_request {
                doc["issue"]["pull_request"] =
                    serde_json::json!({ "url": "https://api.github.com/repos/Codertocat/Hello-World/pulls/1" });
            }
            parse(&headers("issue_comment"), doc.to_string().as_bytes()).unwrap().content
        };
        let Content::Comment(c) = comment("created", true) else { panic!("{:?}", comment("created", true)) };
        assert_eq!((c.id.as_str(), c.pull_request, c.repository.as_str()), ("492700400", 1, "Codertocat/Hello-World"));
        assert_eq!((c.author.name.as_str(), c.author.association.as_deref()), ("Codertocat", Some("OWNER")));
        assert_eq!((c.body.as_str(), c.server.unwrap().host.as_str()), ("/herald retry", "api.github.com"));
        for (action, pr) in [("edited", true), ("deleted", true), ("created", false)] {
            assert!(matches!(comment(action, pr), Content::Ignored(_)), "{action} {pr}");
        }
    }

    #[test]
    fn ping_create_delete_issues() {
        assert_eq!(parse(&headers("ping"), &read("github/ping.json")).unwrap().content, Content::Ping);
        for (event, file) in
            [("create", "github/create.json"), ("delete", "github/delete.json"), ("issues", "github/issues.json")]
        {
            assert!(matches!(parse(&headers(event), &read(file)).unwrap().content, Content::Ignored(_)), "{event}");
        }
    }

    #[test]
    fn deleted_branch_and_tag_push() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("github/push.json")).unwrap();
        doc["ref"] = "refs/tags/v1.2.0".into();
        let Content::Changes(c) = parse(&headers("push"), doc.to_string().as_bytes()).unwrap().content else {
            panic!()
        };
        assert_eq!((c[0].event, c[0].tag.as_deref()), (EventKind::Tag, Some("v1.2.0")));
        doc["deleted"] = true.into();
        doc["after"] = "0000000000000000000000000000000000000000".into();
        let Content::Changes(c) = parse(&headers("push"), doc.to_string().as_bytes()).unwrap().content else {
            panic!()
        };
        assert!(c[0].deleted);
    }

    #[test]
    fn signature() {
        let body = read("github/push.json");
        let secrets = WebhookSecrets::parse("topsecret-0123456789").unwrap();
        let sig = format!("sha256={}", sign_hex(&Secret::new("topsecret-0123456789"), &body));
        let mut h = headers("push");
        h.insert("X-Hub-Signature-256", &sig);
        assert_eq!(authenticate(&h, &body, &secrets), Some(SecretScope::Default));
        assert_eq!(authenticate(&h, &body[1..], &secrets), None);
        assert_eq!(authenticate(&headers("push"), &body, &secrets), None);
        let mut sha1 = headers("push");
        sha1.insert("X-Hub-Signature-256", &sig.replace("sha256=", "sha1="));
        assert_eq!(authenticate(&sha1, &body, &secrets), None);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert!(matches!(parse(&headers("push"), b"{"), Err(BodyError::Json(_))));
        assert!(matches!(parse(&headers("push"), b"{\"ref\": 3}"), Err(BodyError::Json(_))));
        assert!(matches!(parse(&headers("pull_request"), b"[]"), Err(BodyError::Json(_))));
        assert!(matches!(
            parse(&headers("merge_group"), b"{\"action\": \"checks_requested\"}"),
            Err(BodyError::Json(_))
        ));
        assert!(matches!(parse(&headers("merge_group"), b"{\"merge_group\": 1}"), Err(BodyError::Json(_))));
    }

    #[test]
    fn an_annotated_tag_pins_the_tagged_commit_not_the_tag_object() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("github/push.json")).unwrap();
        doc["ref"] = "refs/tags/v1.0".into();
        doc["after"] = "1111111111111111111111111111111111111111".into();
        let c = &changes_of("push", doc.to_string().as_bytes())[0];
        assert_eq!(c.commit, "fd489864e7642b48eaad6e3f155c10e46810ec72", "head_commit.id");
    }

    fn changes_of(event: &str, body: &[u8]) -> Vec<crate::change::Change> {
        match parse(&headers(event), body).unwrap().content {
            Content::Changes(c) => c,
            other => panic!("{other:?}"),
        }
    }
}
