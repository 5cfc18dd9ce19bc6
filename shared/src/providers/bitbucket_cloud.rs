//! Bitbucket Cloud.
//!
//! `X-Event-Key` names the event, `X-Request-UUID` the delivery; `X-Hub-Signature:
//! sha256=<hex>` signs the raw body (Bitbucket Data Center uses the same scheme).
//! Pushes carry no file lists, so path filters always see an incomplete list.

use super::{delivery_id, from_json, strip_prefix_ignore_case, BodyError, Content, Delivery, Headers};
use crate::auth::verify_hex_hmac;
use crate::change::{
    Change, ChangedFiles, Comment, CommentAuthor, PrAction, ProviderKind, PullRequest, PullRequestParts, PushParts,
    ServerAddress,
};
use crate::secrets::{Scheme, SecretScope, WebhookSecrets};
use serde::Deserialize;

/// Bitbucket Cloud and Data Center: `X-Hub-Signature: sha256=<hex>`.
pub fn authenticate(headers: &Headers, body: &[u8], secrets: &WebhookSecrets) -> Option<SecretScope> {
    let signature = strip_prefix_ignore_case(headers.get("x-hub-signature")?, "sha256=")?;
    secrets.find_scope(Scheme::Shared, |key| verify_hex_hmac(key, body, signature))
}

pub fn parse(headers: &Headers, body: &[u8]) -> Result<Delivery, BodyError> {
    let event = headers.get("x-event-key").unwrap_or_default().to_owned();
    let delivery = delivery_id(headers, &["x-request-uuid"], body);
    let pr_action = match event.as_str() {
        "pullrequest:created" => Some(PrAction::Opened),
        "pullrequest:updated" => Some(PrAction::Updated),
        "pullrequest:fulfilled" => Some(PrAction::Merged),
        "pullrequest:rejected" => Some(PrAction::Closed),
        _ => None,
    };
    let content = match (event.as_str(), pr_action) {
        ("repo:push", _) => Content::Changes(push(from_json(body)?, &delivery)),
        ("pullrequest:comment_created", _) => comment_created(from_json(body)?, &delivery),
        ("pullrequest:comment_updated" | "pullrequest:comment_deleted", _) => {
            Content::Ignored(format!("{event}: only new comments hold commands"))
        }
        (_, Some(action)) => Content::Changes(vec![pull_request(from_json(body)?, action, &delivery)]),
        (other, None) => Content::Ignored(format!("Bitbucket event {other:?} does not start pipelines")),
    };
    Ok(Delivery { event, delivery, content })
}

#[derive(Deserialize)]
struct PushEvent {
    actor: Option<Actor>,
    repository: Repository,
    push: PushBody,
}

#[derive(Deserialize)]
struct PushBody {
    #[serde(default)]
    changes: Vec<RefChange>,
}

#[derive(Deserialize)]
struct RefChange {
    new: Option<RefState>,
    old: Option<RefState>,
}

#[derive(Deserialize)]
struct RefState {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    target: Option<Target>,
}

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    hash: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Actor {
    display_name: Option<String>,
    nickname: Option<String>,
    /// Atlassian's account id: unique, and not the user's to choose (a nickname is neither).
    account_id: Option<String>,
    /// `{…}`: unique too.
    uuid: Option<String>,
}

impl Actor {
    fn name(self) -> String {
        self.nickname.or(self.display_name).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
    links: Option<Links>,
}

#[derive(Deserialize)]
struct Links {
    html: Option<Href>,
    /// The repository's API resource: `https://api.bitbucket.org/2.0/repositories/{workspace}/{repo}`.
    #[serde(rename = "self")]
    api: Option<Href>,
}

#[derive(Deserialize)]
struct Href {
    href: String,
}

impl Repository {
    fn clone_url(&self) -> String {
        match self.links.as_ref().and_then(|l| l.html.as_ref()) {
            Some(html) => format!("{}.git", html.href.trim_end_matches('/')),
            None => format!("https://bitbucket.org/{}.git", self.full_name),
        }
    }

    /// The server: the host of the repository's API resource, `api.bitbucket.org` when the
    /// payload has none.
    fn server(&self) -> Option<ServerAddress> {
        match self.links.as_ref().and_then(|l| l.api.as_ref()) {
            Some(api) => ServerAddress::from_url(&api.href),
            None => ServerAddress::from_url("https://api.bitbucket.org"),
        }
    }
}

#[derive(Deserialize)]
struct CommentEvent {
    actor: Option<Actor>,
    pullrequest: CommentedPullRequest,
    repository: Repository,
    comment: PrComment,
}

#[derive(Deserialize)]
struct CommentedPullRequest {
    id: u64,
}

#[derive(Deserialize)]
struct PrComment {
    id: u64,
    content: Option<CommentContent>,
}

#[derive(Deserialize)]
struct CommentContent {
    #[serde(default)]
    raw: String,
}

/// A new comment on a pull request (`pullrequest:comment_created`).
fn comment_created(e: CommentEvent, delivery: &str) -> Content {
    Content::Comment(Box::new(Comment {
        provider: ProviderKind::BitbucketCloud,
        delivery: delivery.to_owned(),
        server: e.repository.server(),
        repository: e.repository.full_name,
        id: e.comment.id.to_string(),
        pull_request: e.pullrequest.id,
        // Named by what Atlassian guarantees unique and the user cannot choose: the account id
        // (or the uuid); a nickname or display name never names who may act.
        author: match e.actor {
            Some(Actor { account_id, uuid, .. }) => CommentAuthor {
                name: account_id.clone().or(uuid.clone()).unwrap_or_default(),
                id: uuid.filter(|_| account_id.is_some()),
                association: None,
            },
            None => CommentAuthor { name: String::new(), id: None, association: None },
        },
        body: e.comment.content.map(|c| c.raw).unwrap_or_default(),
    }))
}

fn full_ref(state: &RefState) -> String {
    match state.kind.as_str() {
        "tag" | "annotated_tag" => format!("refs/tags/{}", state.name),
        _ => format!("refs/heads/{}", state.name),
    }
}

fn push(e: PushEvent, delivery: &str) -> Vec<Change> {
    let clone_url = e.repository.clone_url();
    let server = e.repository.server();
    let author = e.actor.map(Actor::name).unwrap_or_default();
    e.push
        .changes
        .into_iter()
        .filter_map(|c| {
            let deleted = c.new.is_none();
            let before = c.old.as_ref().and_then(|o| o.target.as_ref()).map(|t| t.hash.clone());
            let state = c.new.or(c.old)?;
            let target = state.target.as_ref();
            let change: Change = PushParts {
                provider: ProviderKind::BitbucketCloud,
                delivery: delivery.to_owned(),
                repository: e.repository.full_name.clone(),
                git_ref: full_ref(&state),
                commit: if deleted { String::new() } else { target.map(|t| t.hash.clone()).unwrap_or_default() },
                deleted,
                files: ChangedFiles::unknown(),
                author: author.clone(),
                message: target.map(|t| t.message.clone()).unwrap_or_default(),
                clone_url: clone_url.clone(),
            }
            .into();
            Some(change.with_server(server.clone()).with_before(before))
        })
        .collect()
}

#[derive(Deserialize)]
struct PullRequestEvent {
    actor: Option<Actor>,
    repository: Repository,
    pullrequest: PullRequestBody,
}

#[derive(Deserialize)]
struct PullRequestBody {
    id: u64,
    #[serde(default)]
    title: String,
    source: Endpoint,
    destination: Endpoint,
}

#[derive(Deserialize)]
struct Endpoint {
    branch: Branch,
    commit: Option<Target>,
    repository: Option<Repository>,
}

#[derive(Deserialize)]
struct Branch {
    name: String,
}

fn pull_request(e: PullRequestEvent, action: PrAction, delivery: &str) -> Change {
    let pr = e.pullrequest;
    let from_fork = match (&pr.source.repository, &pr.destination.repository) {
        (Some(s), Some(d)) => !s.full_name.eq_ignore_ascii_case(&d.full_name),
        _ => true,
    };
    let server = e.repository.server();
    let change: Change = PullRequestParts {
        provider: ProviderKind::BitbucketCloud,
        delivery: delivery.to_owned(),
        clone_url: e.repository.clone_url(),
        repository: e.repository.full_name,
        commit: pr.source.commit.map(|c| c.hash).unwrap_or_default(),
        author: e.actor.map(Actor::name).unwrap_or_default(),
        title: pr.title,
        pull_request: PullRequest {
            number: pr.id,
            action,
            source_branch: pr.source.branch.name,
            target_branch: pr.destination.branch.name,
            from_fork,
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
        // The fields Bitbucket Cloud documents for pullrequest:comment_created.
        let doc = serde_json::json!({
            "actor": { "display_name": "Ann Lee", "nickname": "ann", "uuid": "{u-1}", "account_id": "557058:ann-account" },
            "pullrequest": { "id": 12, "title": "Add thing" },
            "repository": { "full_name": "team_name/repo_name", "links": { "self": { "href": "https://api.bitbucket.org/2.0/repositories/team_name/repo_name" } } },
            "comment": { "id": 17, "content": { "raw": "/herald approve ship it", "markup": "markdown" } }
        });
        let event = |key: &str| {
            let headers: Headers = [("X-Event-Key", key), ("X-Request-UUID", "r-1")].into_iter().collect();
            parse(&headers, doc.to_string().as_bytes()).unwrap().content
        };
        let Content::Comment(c) = event("pullrequest:comment_created") else { panic!() };
        assert_eq!((c.id.as_str(), c.pull_request, c.repository.as_str()), ("17", 12, "team_name/repo_name"));
        // Named by the account id (and the uuid), never the nickname its user chose.
        assert_eq!((c.author.name.as_str(), c.body.as_str()), ("557058:ann-account", "/herald approve ship it"));
        assert_eq!(c.author.id.as_deref(), Some("{u-1}"));
        assert_eq!(c.server.unwrap().host, "api.bitbucket.org");
        assert!(matches!(event("pullrequest:comment_updated"), Content::Ignored(_)));
        assert!(matches!(event("pullrequest:comment_deleted"), Content::Ignored(_)));
    }
    use crate::auth::{sign_hex, Secret};
    use crate::change::EventKind;
    use crate::providers::fixtures::read;

    fn headers(event: &str) -> Headers {
        [("X-Event-Key", event), ("X-Request-UUID", "req-1"), ("X-Hook-UUID", "hook-1")].into_iter().collect()
    }

    fn changes(event: &str, body: &[u8]) -> Vec<Change> {
        match parse(&headers(event), body).unwrap().content {
            Content::Changes(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_fixture() {
        let c = &changes("repo:push", &read("bitbucket/repo-push.json"))[0];
        assert_eq!((c.event, c.repository.as_str()), (EventKind::Push, "team_name/repo_name"));
        assert_eq!(c.branch.as_deref(), Some("name-of-branch"));
        assert_eq!(c.commit, "709d658dc5b6d6afcd46049c2f332ee3f515a67d");
        assert_eq!(c.message, "new commit message\n");
        assert_eq!(c.delivery, "req-1");
        assert!(!c.files.complete && !c.deleted);
        assert_eq!(c.clone_url, "https://api.bitbucket.org/bitbucket/bitbucket.git");
    }

    #[test]
    fn tag_and_deleted_branch() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("bitbucket/repo-push.json")).unwrap();
        doc["push"]["changes"][0]["new"]["type"] = "tag".into();
        doc["push"]["changes"][0]["new"]["name"] = "v2".into();
        let c = &changes("repo:push", doc.to_string().as_bytes())[0];
        assert_eq!((c.event, c.tag.as_deref()), (EventKind::Tag, Some("v2")));
        doc["push"]["changes"][0]["new"] = serde_json::Value::Null;
        let c = &changes("repo:push", doc.to_string().as_bytes())[0];
        assert!(c.deleted);
        assert_eq!(c.branch.as_deref(), Some("name-of-branch"));
    }

    #[test]
    fn pull_request_fixtures() {
        for (event, file, action) in [
            ("pullrequest:created", "bitbucket/pull-request-created.json", PrAction::Opened),
            ("pullrequest:updated", "bitbucket/pull-request-updated.json", PrAction::Updated),
            ("pullrequest:fulfilled", "bitbucket/pull-request-merged.json", PrAction::Merged),
            ("pullrequest:rejected", "bitbucket/pull-request-declined.json", PrAction::Closed),
        ] {
            let c = &changes(event, &read(file))[0];
            let pr = c.pull_request.as_ref().unwrap();
            assert_eq!((pr.number, pr.action), (1, action), "{event}");
            assert_eq!((pr.source_branch.as_str(), pr.target_branch.as_str()), ("branch2", "master"));
            assert_eq!(c.commit, "d3022fc0ca3d");
            assert!(!pr.from_fork);
        }
        assert!(matches!(
            parse(&headers("issue:created"), &read("bitbucket/issue-created.json")).unwrap().content,
            Content::Ignored(_)
        ));
    }

    #[test]
    fn signature() {
        let body = read("bitbucket/repo-push.json");
        let secrets = WebhookSecrets::parse("bb-0123456789abcdef").unwrap();
        let mut h = headers("repo:push");
        h.insert("X-Hub-Signature", &format!("sha256={}", sign_hex(&Secret::new("bb-0123456789abcdef"), &body)));
        assert_eq!(authenticate(&h, &body, &secrets), Some(SecretScope::Default));
        assert_eq!(authenticate(&headers("repo:push"), &body, &secrets), None);
    }

    #[test]
    fn a_missing_request_uuid_falls_back_to_the_body_not_the_webhook() {
        let body = read("bitbucket/repo-push.json");
        let h: Headers =
            [("X-Event-Key", "repo:push"), ("X-Hook-UUID", "same-for-every-delivery")].into_iter().collect();
        let d = parse(&h, &body).unwrap();
        assert!(d.delivery.starts_with("sha256:"), "{}", d.delivery);
    }
}
