//! Bitbucket Data Center / Server.
//!
//! `X-Event-Key` names the event, `X-Request-Id` the delivery; signatures are as for
//! Bitbucket Cloud (`X-Hub-Signature: sha256=<hex>`, see [`super::bitbucket_cloud::authenticate`]).
//! Repositories are named `PROJECT/repo`; pushes carry no commit messages or file lists.

use super::{delivery_id, from_json, BodyError, Content, Delivery, Headers};
use crate::change::{
    is_zero_sha, Change, ChangedFiles, Comment, CommentAuthor, PrAction, ProviderKind, PullRequest, PullRequestParts,
    PushParts, ServerAddress,
};
use serde::Deserialize;

pub fn parse(headers: &Headers, body: &[u8]) -> Result<Delivery, BodyError> {
    let event = headers.get("x-event-key").unwrap_or_default().to_owned();
    let delivery = delivery_id(headers, &["x-request-id"], body);
    let pr_action = match event.as_str() {
        "pr:opened" => Some(PrAction::Opened),
        "pr:from_ref_updated" => Some(PrAction::Updated),
        "pr:reopened" => Some(PrAction::Reopened),
        "pr:merged" => Some(PrAction::Merged),
        "pr:declined" | "pr:deleted" => Some(PrAction::Closed),
        _ => None,
    };
    let content = match (event.as_str(), pr_action) {
        ("repo:refs_changed", _) => Content::Changes(refs_changed(from_json(body)?, &delivery)),
        ("diagnostics:ping", _) => Content::Ping,
        ("pr:modified", _) => Content::Ignored("pull request edited without new commits (pr:modified)".into()),
        ("pr:comment:added", _) => comment_added(from_json(body)?, &delivery),
        ("pr:comment:edited" | "pr:comment:deleted", _) => {
            Content::Ignored(format!("{event}: only new comments hold commands"))
        }
        (_, Some(action)) => Content::Changes(vec![pull_request(from_json(body)?, action, &delivery)]),
        (other, None) => Content::Ignored(format!("Bitbucket Data Center event {other:?} does not start pipelines")),
    };
    Ok(Delivery { event, delivery, content })
}

#[derive(Deserialize)]
struct RefsChanged {
    actor: Option<Actor>,
    repository: Repository,
    #[serde(default)]
    changes: Vec<RefChange>,
}

#[derive(Deserialize)]
struct Actor {
    name: Option<String>,
    #[serde(rename = "displayName")]
    display_name: Option<String>,
}

impl Actor {
    fn name(self) -> String {
        self.name.or(self.display_name).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct RefChange {
    #[serde(rename = "refId")]
    ref_id: String,
    #[serde(rename = "toHash")]
    to_hash: String,
    #[serde(rename = "fromHash", default)]
    from_hash: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct Repository {
    slug: String,
    project: Project,
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Project {
    key: String,
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    clone: Vec<CloneLink>,
    /// `https://host[/context]/projects/KEY/repos/slug/browse` (personal: `/users/name/...`).
    #[serde(rename = "self", default)]
    web: Vec<CloneLink>,
}

#[derive(Deserialize)]
struct CloneLink {
    href: String,
    #[serde(default)]
    name: String,
}

impl Repository {
    fn full_name(&self) -> String {
        format!("{}/{}", self.project.key, self.slug)
    }

    fn clone_url(&self) -> String {
        let links = self.links.as_ref().map(|l| l.clone.as_slice()).unwrap_or_default();
        links.iter().find(|l| l.name == "http").or(links.first()).map(|l| l.href.clone()).unwrap_or_default()
    }

    /// The server: the host of the repository's web link.
    fn server(&self) -> Option<ServerAddress> {
        ServerAddress::from_url(&self.links.as_ref()?.web.first()?.href)
    }
}

fn refs_changed(e: RefsChanged, delivery: &str) -> Vec<Change> {
    let author = e.actor.map(Actor::name).unwrap_or_default();
    let repository = e.repository.full_name();
    let clone_url = e.repository.clone_url();
    let server = e.repository.server();
    e.changes
        .into_iter()
        .map(|c| {
            let deleted = c.kind == "DELETE" || is_zero_sha(&c.to_hash);
            let from_hash = c.from_hash;
            let change: Change = PushParts {
                provider: ProviderKind::BitbucketServer,
                delivery: delivery.to_owned(),
                repository: repository.clone(),
                git_ref: c.ref_id,
                commit: if deleted { String::new() } else { c.to_hash },
                deleted,
                files: ChangedFiles::unknown(),
                author: author.clone(),
                message: String::new(),
                clone_url: clone_url.clone(),
            }
            .into();
            change.tag_object_unpinned().with_server(server.clone()).with_before(Some(from_hash))
        })
        .collect()
}

#[derive(Deserialize)]
struct PullRequestEvent {
    actor: Option<Actor>,
    #[serde(rename = "pullRequest")]
    pull_request: PullRequestBody,
}

#[derive(Deserialize)]
struct PullRequestBody {
    id: u64,
    #[serde(default)]
    title: String,
    #[serde(rename = "fromRef")]
    from_ref: Endpoint,
    #[serde(rename = "toRef")]
    to_ref: Endpoint,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "displayId")]
    display_id: String,
    #[serde(rename = "latestCommit", default)]
    latest_commit: String,
    repository: Repository,
}

#[derive(Deserialize)]
struct CommentEvent {
    actor: Option<Actor>,
    #[serde(rename = "pullRequest")]
    pull_request: CommentedPullRequest,
    comment: PrComment,
}

#[derive(Deserialize)]
struct CommentedPullRequest {
    id: u64,
    #[serde(rename = "toRef")]
    to_ref: Endpoint,
}

#[derive(Deserialize)]
struct PrComment {
    id: u64,
    #[serde(default)]
    text: String,
}

/// A new comment on a pull request (`pr:comment:added`).
fn comment_added(e: CommentEvent, delivery: &str) -> Content {
    let repository = &e.pull_request.to_ref.repository;
    Content::Comment(Box::new(Comment {
        provider: ProviderKind::BitbucketServer,
        delivery: delivery.to_owned(),
        server: repository.server(),
        repository: repository.full_name(),
        id: e.comment.id.to_string(),
        pull_request: e.pull_request.id,
        author: CommentAuthor { name: e.actor.map(Actor::name).unwrap_or_default(), id: None, association: None },
        body: e.comment.text,
    }))
}

fn pull_request(e: PullRequestEvent, action: PrAction, delivery: &str) -> Change {
    let pr = e.pull_request;
    let target = pr.to_ref.repository.full_name();
    let server = pr.to_ref.repository.server();
    let change: Change = PullRequestParts {
        provider: ProviderKind::BitbucketServer,
        delivery: delivery.to_owned(),
        clone_url: pr.to_ref.repository.clone_url(),
        repository: target.clone(),
        commit: pr.from_ref.latest_commit,
        author: e.actor.map(Actor::name).unwrap_or_default(),
        title: pr.title,
        pull_request: PullRequest {
            number: pr.id,
            action,
            from_fork: !pr.from_ref.repository.full_name().eq_ignore_ascii_case(&target),
            source_branch: pr.from_ref.display_id,
            target_branch: pr.to_ref.display_id,
        },
    }
    .into();
    change.with_server(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pull_request_comment_is_read() {
        // The fields Bitbucket Data Center documents for pr:comment:added.
        let doc = serde_json::json!({
            "eventKey": "pr:comment:added",
            "actor": { "name": "admin", "displayName": "Administrator", "slug": "admin" },
            "pullRequest": { "id": 9, "toRef": { "displayId": "master", "latestCommit": "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
                "repository": { "slug": "repo1", "project": { "key": "PROJ" },
                    "links": { "self": [{ "href": "https://bitbucket.example.com/projects/PROJ/repos/repo1/browse" }] } } } },
            "comment": { "id": 62, "version": 0, "text": "/herald stop" }
        });
        let event = |key: &str| {
            let headers: Headers = [("X-Event-Key", key), ("X-Request-Id", "r-1")].into_iter().collect();
            parse(&headers, doc.to_string().as_bytes()).unwrap().content
        };
        let Content::Comment(c) = event("pr:comment:added") else { panic!() };
        assert_eq!((c.id.as_str(), c.pull_request, c.repository.as_str()), ("62", 9, "PROJ/repo1"));
        assert_eq!((c.author.name.as_str(), c.body.as_str()), ("admin", "/herald stop"));
        assert_eq!(c.server.unwrap().host, "bitbucket.example.com");
        assert!(matches!(event("pr:comment:edited"), Content::Ignored(_)));
        assert!(matches!(event("pr:comment:deleted"), Content::Ignored(_)));
    }
    use crate::change::EventKind;
    use crate::providers::fixtures::read;

    fn headers(event: &str) -> Headers {
        [("X-Event-Key", event), ("X-Request-Id", "rid-1")].into_iter().collect()
    }

    fn changes(event: &str, body: &[u8]) -> Vec<Change> {
        match parse(&headers(event), body).unwrap().content {
            Content::Changes(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refs_changed_fixture_is_a_deletion() {
        let c = &changes("repo:refs_changed", &read("bitbucket-server/repo-refs-changed.json"))[0];
        assert_eq!((c.event, c.repository.as_str()), (EventKind::Push, "~gopher/webhook-test"));
        assert_eq!(c.branch.as_deref(), Some("feature/wip"));
        assert!(c.deleted);
        assert_eq!(c.author, "gopher");
        assert_eq!(c.delivery, "rid-1");
        assert_eq!(c.clone_url, "https://server.bitbucket.local/scm/~gopher/webhook-test.git");
    }

    #[test]
    fn refs_changed_update_and_tag() {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&read("bitbucket-server/repo-refs-changed.json")).unwrap();
        doc["changes"][0]["type"] = "UPDATE".into();
        doc["changes"][0]["toHash"] = "591f702354b3abf1faaca4d23811620d1b2ac984".into();
        let c = &changes("repo:refs_changed", doc.to_string().as_bytes())[0];
        assert!(!c.deleted && !c.files.complete);
        assert_eq!(c.commit, "591f702354b3abf1faaca4d23811620d1b2ac984");
        doc["changes"][0]["refId"] = "refs/tags/v3".into();
        let c = &changes("repo:refs_changed", doc.to_string().as_bytes())[0];
        assert_eq!((c.event, c.tag.as_deref()), (EventKind::Tag, Some("v3")));
    }

    #[test]
    fn pull_request_fixtures() {
        for (event, file, action, number) in [
            ("pr:opened", "bitbucket-server/pr-opened.json", PrAction::Opened, 5),
            ("pr:merged", "bitbucket-server/pr-merged.json", PrAction::Merged, 5),
            ("pr:declined", "bitbucket-server/pr-declined.json", PrAction::Closed, 2),
            ("pr:from_ref_updated", "bitbucket-server/pr-modified.json", PrAction::Updated, 3),
        ] {
            let c = &changes(event, &read(file))[0];
            let pr = c.pull_request.as_ref().unwrap();
            assert_eq!((pr.number, pr.action), (number, action), "{event}");
            assert_eq!((pr.source_branch.as_str(), pr.target_branch.as_str()), ("feature/wip", "master"));
            assert_eq!(c.repository, "~gopher/webhook-test");
            assert!(!pr.from_fork);
            assert_eq!(c.commit.len(), 40);
        }
        assert!(matches!(
            parse(&headers("pr:modified"), &read("bitbucket-server/pr-modified.json")).unwrap().content,
            Content::Ignored(_)
        ));
        assert_eq!(parse(&headers("diagnostics:ping"), b"{}").unwrap().content, Content::Ping);
    }

    #[test]
    fn a_tag_is_not_pinned_to_to_hash() {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&read("bitbucket-server/repo-refs-changed.json")).unwrap();
        doc["changes"][0]["type"] = "ADD".into();
        doc["changes"][0]["ref"]["type"] = "TAG".into();
        doc["changes"][0]["ref"]["id"] = "refs/tags/v1".into();
        doc["changes"][0]["ref"]["displayId"] = "v1".into();
        doc["changes"][0]["refId"] = "refs/tags/v1".into();
        doc["changes"][0]["toHash"] = "591f702354b3abf1faaca4d23811620d1b2ac984".into();
        let c = &changes("repo:refs_changed", doc.to_string().as_bytes())[0];
        assert_eq!(c.tag.as_deref(), Some("v1"));
        assert_eq!(c.commit, "", "toHash is the tag object of an annotated tag");
        assert!(c.no_commit.is_some_and(|why| why.contains("tag object")));
    }
}
