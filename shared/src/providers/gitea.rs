//! Gitea, Forgejo and Gogs: one payload family, three header prefixes.
//!
//! `X-Gitea-Event` / `X-Forgejo-Event` / `X-Gogs-Event` name the event, the matching
//! `-Delivery` header the delivery, and `-Signature` carries the bare hex HMAC-SHA256 of the body.

use super::{delivery_id, from_json, BodyError, Content, Delivery, Headers};
use crate::auth::verify_hex_hmac;
use crate::change::{
    is_zero_sha, Change, ChangedFiles, Comment, CommentAuthor, PrAction, ProviderKind, PullRequest, PullRequestParts,
    PushParts, ServerAddress,
};
use crate::secrets::{Scheme, SecretScope, WebhookSecrets};
use serde::Deserialize;

fn header(provider: ProviderKind, suffix: &str) -> String {
    let prefix = match provider {
        ProviderKind::Forgejo => "x-forgejo-",
        ProviderKind::Gogs => "x-gogs-",
        _ => "x-gitea-",
    };
    format!("{prefix}{suffix}")
}

pub fn authenticate(
    provider: ProviderKind,
    headers: &Headers,
    body: &[u8],
    secrets: &WebhookSecrets,
) -> Option<SecretScope> {
    let signature = headers.get(&header(provider, "signature"))?;
    secrets.find_scope(Scheme::Shared, |key| verify_hex_hmac(key, body, signature))
}

pub fn parse(provider: ProviderKind, headers: &Headers, body: &[u8]) -> Result<Delivery, BodyError> {
    let event = headers.get(&header(provider, "event")).unwrap_or_default().to_owned();
    let delivery = delivery_id(headers, &[&header(provider, "delivery")], body);
    let content = match event.as_str() {
        "push" => Content::Changes(vec![push(provider, from_json(body)?, &delivery)]),
        "pull_request" => pull_request(provider, from_json(body)?, &delivery),
        // Gitea and Forgejo name pull request comments `issue_comment` too (`X-Gitea-Event-Type:
        // pull_request_comment`); the payload says which.
        "issue_comment" if provider != ProviderKind::Gogs => issue_comment(provider, from_json(body)?, &delivery),
        "create" => Content::Ignored("ref creation is handled by the push event".into()),
        "delete" => Content::Ignored("deletions never start a pipeline".into()),
        other => Content::Ignored(format!("{provider} event {other:?} does not start pipelines")),
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
    commits: Vec<Commit>,
    head_commit: Option<Commit>,
    total_commits: Option<usize>,
    repository: Repository,
    pusher: Option<User>,
}

#[derive(Deserialize)]
struct Commit {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
    /// Gogs sends no file lists at all; `None` is "unknown", not "no files".
    added: Option<Vec<String>>,
    modified: Option<Vec<String>>,
    removed: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct User {
    login: Option<String>,
    username: Option<String>,
}

impl User {
    fn name(self) -> String {
        self.login.filter(|l| !l.is_empty()).or(self.username).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    #[serde(default)]
    clone_url: String,
    /// `https://gitea.example.com[/sub]/owner/name`.
    html_url: Option<String>,
}

impl Repository {
    /// The server: the host of the repository's web page (Gitea and Forgejo; Gogs' API is not
    /// used).
    fn server(&self, provider: ProviderKind) -> Option<ServerAddress> {
        if provider == ProviderKind::Gogs {
            return None;
        }
        ServerAddress::from_url(self.html_url.as_deref()?)
    }
}

#[derive(Deserialize)]
struct IssueCommentEvent {
    action: String,
    issue: Issue,
    comment: IssueComment,
    repository: Repository,
    #[serde(default)]
    is_pull: bool,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    pull_request: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct IssueComment {
    id: u64,
    #[serde(default)]
    body: String,
    user: Option<User>,
}

/// A comment on a pull request's conversation.
fn issue_comment(provider: ProviderKind, e: IssueCommentEvent, delivery: &str) -> Content {
    if e.action != "created" {
        return Content::Ignored(format!("comment {}: only new comments hold commands", e.action));
    }
    if !e.is_pull && e.issue.pull_request.as_ref().is_none_or(serde_json::Value::is_null) {
        return Content::Ignored("a comment on an issue, not a pull request".into());
    }
    Content::Comment(Box::new(Comment {
        provider,
        delivery: delivery.to_owned(),
        server: e.repository.server(provider),
        repository: e.repository.full_name,
        id: e.comment.id.to_string(),
        pull_request: e.issue.number,
        author: CommentAuthor { name: e.comment.user.map(User::name).unwrap_or_default(), id: None, association: None },
        body: e.comment.body,
    }))
}

/// Gogs' default `FEED_MAX_COMMIT_NUM`: a push lists at most this many commits.
const GOGS_FEED_LIMIT: usize = 5;

fn push(provider: ProviderKind, p: Push, delivery: &str) -> Change {
    let listed = p.commits.len();
    let has_lists = p.commits.iter().all(|c| c.added.is_some() || c.modified.is_some() || c.removed.is_some());
    // Gogs lists at most its feed limit of commits and says nothing of the rest.
    let cut_by_gogs = provider == ProviderKind::Gogs && listed >= GOGS_FEED_LIMIT;
    let complete = listed > 0 && has_lists && !cut_by_gogs && p.total_commits.is_none_or(|t| t <= listed);
    let files = if complete {
        ChangedFiles::complete(
            p.commits.iter().flat_map(|c| [&c.added, &c.modified, &c.removed].into_iter().flatten().flatten().cloned()),
        )
    } else {
        ChangedFiles::unknown()
    };
    let message = p
        .head_commit
        .as_ref()
        .filter(|c| !c.id.is_empty())
        .or_else(|| p.commits.iter().find(|c| c.id == p.after))
        .or(p.commits.first())
        .map(|c| c.message.clone())
        .unwrap_or_default();
    // For a tag, `head_commit` is the tagged commit (Gitea 1.16+); `after` may be the tag object.
    let deleted = is_zero_sha(&p.after);
    let commit = p.head_commit.map(|c| c.id).filter(|id| !id.is_empty() && !deleted).unwrap_or(p.after);
    let server = p.repository.server(provider);
    let before = p.before.clone();
    let change: Change = PushParts {
        provider,
        delivery: delivery.to_owned(),
        repository: p.repository.full_name,
        deleted,
        commit,
        git_ref: p.git_ref,
        files,
        author: p.pusher.map(User::name).unwrap_or_default(),
        message,
        clone_url: p.repository.clone_url,
    }
    .into();
    change.with_server(server).with_before(Some(before))
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
    head: Option<Side>,
    base: Option<Side>,
    /// Gogs names branches and repositories directly and sends no head commit.
    head_branch: Option<String>,
    base_branch: Option<String>,
    head_repo: Option<Repository>,
    base_repo: Option<Repository>,
    user: Option<User>,
}

#[derive(Deserialize)]
struct Side {
    #[serde(rename = "ref", default)]
    git_ref: String,
    #[serde(default)]
    sha: String,
    repo: Option<Repository>,
}

fn pull_request(provider: ProviderKind, e: PullRequestEvent, delivery: &str) -> Content {
    let pr = e.pull_request;
    let action = match e.action.as_str() {
        "opened" => PrAction::Opened,
        "synchronized" => PrAction::Updated,
        "reopened" => PrAction::Reopened,
        "closed" if pr.merged => PrAction::Merged,
        "closed" => PrAction::Closed,
        other => return Content::Ignored(format!("pull request action {other:?} does not start pipelines")),
    };
    let head_repo =
        pr.head.as_ref().and_then(|s| s.repo.as_ref()).or(pr.head_repo.as_ref()).map(|r| r.full_name.clone());
    let base_repo =
        pr.base.as_ref().and_then(|s| s.repo.as_ref()).or(pr.base_repo.as_ref()).map(|r| r.full_name.clone());
    let from_fork = match (&head_repo, &base_repo) {
        (Some(h), Some(b)) => !h.eq_ignore_ascii_case(b),
        // A payload that names neither repository cannot show it is not a fork.
        _ => true,
    };
    let source_branch =
        pr.head.as_ref().map(|s| s.git_ref.clone()).filter(|r| !r.is_empty()).or(pr.head_branch).unwrap_or_default();
    let target_branch =
        pr.base.as_ref().map(|s| s.git_ref.clone()).filter(|r| !r.is_empty()).or(pr.base_branch).unwrap_or_default();
    let server = e.repository.server(provider);
    let change: Change = PullRequestParts {
        provider,
        delivery: delivery.to_owned(),
        repository: e.repository.full_name,
        commit: pr.head.map(|s| s.sha).unwrap_or_default(),
        author: pr.user.or(e.sender).map(User::name).unwrap_or_default(),
        title: pr.title,
        clone_url: e.repository.clone_url,
        pull_request: PullRequest { number: e.number, action, source_branch, target_branch, from_fork },
    }
    .into();
    Content::Changes(vec![change.with_server(server)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pull_request_comment_is_read_on_gitea_and_forgejo() {
        let comment = |provider: ProviderKind, action: &str, is_pull: bool| {
            let doc = serde_json::json!({
                "action": action,
                "issue": { "number": 3, "pull_request": if is_pull { serde_json::json!({ "merged": false }) } else { serde_json::Value::Null } },
                "comment": { "id": 71, "body": "/herald stop", "user": { "login": "alice", "username": "alice" } },
                "repository": { "full_name": "example/example", "html_url": "https://code.example.com/example/example" },
                "is_pull": is_pull
            });
            let event = header(provider, "event");
            let headers: Headers = [(event.as_str(), "issue_comment")].into_iter().collect();
            parse(provider, &headers, doc.to_string().as_bytes()).unwrap().content
        };
        for provider in [ProviderKind::Gitea, ProviderKind::Forgejo] {
            let Content::Comment(c) = comment(provider, "created", true) else { panic!("{provider}") };
            assert_eq!((c.id.as_str(), c.pull_request, c.author.name.as_str()), ("71", 3, "alice"));
            assert_eq!(c.server.unwrap().host, "code.example.com");
            assert!(matches!(comment(provider, "edited", true), Content::Ignored(_)));
            assert!(matches!(comment(provider, "created", false), Content::Ignored(_)));
        }
        assert!(
            matches!(comment(ProviderKind::Gogs, "created", true), Content::Ignored(_)),
            "Gogs has no API to act with"
        );
    }
    use crate::auth::{sign_hex, Secret};
    use crate::change::EventKind;
    use crate::providers::fixtures::read;

    fn headers(provider: ProviderKind, event: &str) -> Headers {
        [(header(provider, "event"), event.to_owned()), (header(provider, "delivery"), "del-9".to_owned())]
            .into_iter()
            .collect()
    }

    fn changes(provider: ProviderKind, event: &str, body: &[u8]) -> Vec<Change> {
        match parse(provider, &headers(provider, event), body).unwrap().content {
            Content::Changes(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gitea_push_fixture() {
        let c = &changes(ProviderKind::Gitea, "push", &read("gitea/push-event.json"))[0];
        assert_eq!((c.provider, c.event), (ProviderKind::Gitea, EventKind::Push));
        assert_eq!(c.repository, "example/example");
        assert_eq!(c.commit, "67b56589a45103f891bdee7c0546e5d40bc02001");
        assert_eq!(c.message, "example\n");
        assert_eq!(c.author, "example");
        assert_eq!(c.delivery, "del-9");
        assert!(c.files.complete);
        assert_eq!(c.files.paths, ["example"]);
        assert_eq!(c.clone_url, "http://localhost:3000/example/example.git");
    }

    #[test]
    fn forgejo_reads_its_own_headers() {
        let c = &changes(ProviderKind::Forgejo, "push", &read("gitea/push-event.json"))[0];
        assert_eq!((c.provider, c.delivery.as_str()), (ProviderKind::Forgejo, "del-9"));
    }

    #[test]
    fn gogs_push_fixture_has_no_file_lists() {
        let c = &changes(ProviderKind::Gogs, "push", &read("gogs/push-event.json"))[0];
        assert_eq!(c.repository, "unknwon/webhooks");
        assert_eq!(c.branch.as_deref(), Some("develop"));
        assert_eq!(c.commit, "bffeb74224043ba2feb48d137756c8a9331c449a");
        assert_eq!(c.message, "Add new feature");
        assert!(!c.files.complete);
    }

    #[test]
    fn gitea_pull_request_fixture_is_from_a_fork() {
        let c = &changes(ProviderKind::Gitea, "pull_request", &read("gitea/pull-request-event.json"))[0];
        let pr = c.pull_request.as_ref().unwrap();
        assert_eq!((pr.number, pr.action), (2, PrAction::Opened));
        assert_eq!((pr.source_branch.as_str(), pr.target_branch.as_str()), ("master", "master"));
        assert_eq!(c.commit, "48e773f892a831faa47c0a160d1b7f0cd369ae2a");
        assert!(pr.from_fork, "head example2/example, base example/example");
    }

    #[test]
    fn gogs_pull_request_fixture_names_no_commit() {
        let c = &changes(ProviderKind::Gogs, "pull_request", &read("gogs/pull-request-event.json"))[0];
        let pr = c.pull_request.as_ref().unwrap();
        assert_eq!((pr.number, pr.action), (1, PrAction::Opened));
        assert_eq!(c.repository, "user/repo");
        assert!(c.commit.is_empty());
    }

    #[test]
    fn pull_request_actions() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("gitea/pull-request-event.json")).unwrap();
        for (action, merged, expected) in [
            ("synchronized", false, PrAction::Updated),
            ("reopened", false, PrAction::Reopened),
            ("closed", true, PrAction::Merged),
            ("closed", false, PrAction::Closed),
        ] {
            doc["action"] = action.into();
            doc["pull_request"]["merged"] = merged.into();
            assert_eq!(
                changes(ProviderKind::Gitea, "pull_request", doc.to_string().as_bytes())[0]
                    .pull_request
                    .as_ref()
                    .unwrap()
                    .action,
                expected
            );
        }
        doc["action"] = "edited".into();
        assert!(matches!(
            parse(ProviderKind::Gitea, &headers(ProviderKind::Gitea, "pull_request"), doc.to_string().as_bytes())
                .unwrap()
                .content,
            Content::Ignored(_)
        ));
    }

    #[test]
    fn create_delete_release_are_ignored() {
        for (event, file) in [
            ("create", "gitea/create-event.json"),
            ("delete", "gitea/delete-event.json"),
            ("release", "gitea/release-event.json"),
        ] {
            assert!(
                matches!(
                    parse(ProviderKind::Gitea, &headers(ProviderKind::Gitea, event), &read(file)).unwrap().content,
                    Content::Ignored(_)
                ),
                "{event}"
            );
        }
    }

    #[test]
    fn signatures_use_each_servers_header() {
        let body = read("gitea/push-event.json");
        let secrets = WebhookSecrets::parse("g-0123456789abcdef").unwrap();
        let sig = sign_hex(&Secret::new("g-0123456789abcdef"), &body);
        for provider in [ProviderKind::Gitea, ProviderKind::Forgejo, ProviderKind::Gogs] {
            let mut h = headers(provider, "push");
            h.insert(&header(provider, "signature"), &sig);
            assert_eq!(authenticate(provider, &h, &body, &secrets), Some(SecretScope::Default));
        }
        let mut gogs_only = headers(ProviderKind::Forgejo, "push");
        gogs_only.insert("X-Gogs-Signature", &sig);
        assert_eq!(authenticate(ProviderKind::Forgejo, &gogs_only, &body, &secrets), None);
    }

    #[test]
    fn an_annotated_tag_pins_head_commit() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("gitea/push-event.json")).unwrap();
        doc["ref"] = "refs/tags/v1".into();
        doc["after"] = "3333333333333333333333333333333333333333".into();
        let c = &changes(ProviderKind::Gitea, "push", doc.to_string().as_bytes())[0];
        assert_eq!(c.commit, "67b56589a45103f891bdee7c0546e5d40bc02001");
    }

    #[test]
    fn a_gogs_push_at_its_feed_limit_is_an_incomplete_file_list() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("gitea/push-event.json")).unwrap();
        let one = doc["commits"][0].clone();
        doc["commits"] = serde_json::Value::Array(vec![one; 5]);
        let c = &changes(ProviderKind::Gogs, "push", doc.to_string().as_bytes())[0];
        assert!(!c.files.complete, "Gogs lists at most 5 commits and says nothing of the rest");
        let c = &changes(ProviderKind::Gitea, "push", doc.to_string().as_bytes())[0];
        assert!(c.files.complete, "Gitea's own limit is far higher");
    }

    #[test]
    fn a_pull_request_naming_neither_repository_is_a_fork() {
        let c = &changes(ProviderKind::Gogs, "pull_request", &read("gogs/pull-request-event.json"))[0];
        assert!(c.pull_request.as_ref().unwrap().from_fork);
    }
}
