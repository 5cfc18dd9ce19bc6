//! GitLab (GitLab.com and self-managed).
//!
//! `X-Gitlab-Event` names the event. Authentication is the `X-Gitlab-Token` secret (compared in
//! constant time) or a GitLab signing token in the Standard Webhooks form. The delivery id is
//! `Idempotency-Key`, else `X-Gitlab-Event-UUID`.

use super::{delivery_id, from_json, generic, BodyError, Content, Delivery, Headers};
use crate::auth::secrets_equal;
use crate::change::{
    is_zero_sha, Change, ChangedFiles, Comment, CommentAuthor, PrAction, ProviderKind, PullRequest, PullRequestParts,
    PushParts, ServerAddress,
};
use crate::secrets::{Scheme, SecretScope, WebhookSecrets};
use serde::Deserialize;

pub fn authenticate(headers: &Headers, body: &[u8], secrets: &WebhookSecrets, now: i64) -> Option<SecretScope> {
    match headers.get("x-gitlab-token") {
        Some(token) => secrets.find_scope(Scheme::Shared, |key| secrets_equal(key, token.as_bytes())),
        None => generic::authenticate(headers, body, secrets, now),
    }
}

pub fn parse(headers: &Headers, body: &[u8]) -> Result<Delivery, BodyError> {
    let event = headers.get("x-gitlab-event").unwrap_or_default().to_owned();
    let delivery = if !headers.contains("x-gitlab-token") && headers.contains("webhook-signature") {
        // Verified by a signing token: the signed `webhook-id` is the delivery.
        super::generic::signed_delivery_id(headers)?
    } else {
        delivery_id(headers, &["idempotency-key", "x-gitlab-event-uuid"], body)
    };
    let content = match event.as_str() {
        "Push Hook" | "Tag Push Hook" => Content::Changes(vec![push(from_json(body)?, &delivery)]),
        "Merge Request Hook" => merge_request(from_json(body)?, &delivery),
        "Note Hook" => note(from_json(body)?, &delivery),
        other => Content::Ignored(format!("GitLab event {other:?} does not start pipelines")),
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
    checkout_sha: Option<String>,
    #[serde(default)]
    commits: Vec<Commit>,
    total_commits_count: Option<usize>,
    user_username: Option<String>,
    user_name: Option<String>,
    project: Project,
}

#[derive(Deserialize)]
struct Commit {
    #[serde(default)]
    id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    modified: Vec<String>,
    #[serde(default)]
    removed: Vec<String>,
}

#[derive(Deserialize)]
struct Project {
    path_with_namespace: String,
    #[serde(default)]
    git_http_url: String,
    /// `https://gitlab.example.com/group/project` (with a relative URL root when there is one).
    web_url: Option<String>,
}

impl Project {
    /// The server: the host of the project's web URL. The project is called by its full path,
    /// never by an id from the payload.
    fn server(&self) -> Option<ServerAddress> {
        ServerAddress::from_url(self.web_url.as_deref()?)
    }
}

fn push(p: Push, delivery: &str) -> Change {
    // GitLab lists at most 20 commits; total_commits_count says how many there were.
    let listed = p.commits.len();
    let complete = listed > 0 && p.total_commits_count.is_none_or(|total| total <= listed);
    let files = if complete {
        ChangedFiles::complete(
            p.commits.iter().flat_map(|c| c.added.iter().chain(&c.modified).chain(&c.removed)).cloned(),
        )
    } else {
        ChangedFiles::unknown()
    };
    let head = p.commits.iter().find(|c| c.id == p.after).or(p.commits.last());
    let server = p.project.server();
    let before = p.before.clone();
    let change: Change = PushParts {
        provider: ProviderKind::GitLab,
        delivery: delivery.to_owned(),
        repository: p.project.path_with_namespace,
        deleted: is_zero_sha(&p.after),
        // For an annotated tag `after` is the tag object; `checkout_sha` is the tagged commit.
        commit: p.checkout_sha.filter(|sha| !sha.is_empty()).unwrap_or_else(|| p.after.clone()),
        git_ref: p.git_ref,
        files,
        author: p.user_username.or(p.user_name).unwrap_or_default(),
        message: head.map(|c| c.message.clone()).unwrap_or_default(),
        clone_url: p.project.git_http_url,
    }
    .into();
    change.with_server(server).with_before(Some(before))
}

#[derive(Deserialize)]
struct NoteEvent {
    user: Option<NoteUser>,
    project: Project,
    object_attributes: Note,
    merge_request: Option<NotedMergeRequest>,
}

#[derive(Deserialize)]
struct NoteUser {
    id: Option<u64>,
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct Note {
    id: u64,
    #[serde(default)]
    note: String,
    #[serde(default)]
    noteable_type: String,
    /// `create` or `update`; servers before GitLab 16.11 send only new notes, without it.
    action: Option<String>,
}

#[derive(Deserialize)]
struct NotedMergeRequest {
    iid: u64,
}

/// A comment (note) on a merge request.
fn note(e: NoteEvent, delivery: &str) -> Content {
    let action = e.object_attributes.action.as_deref().unwrap_or("create");
    if action != "create" {
        return Content::Ignored(format!("note {action}: only new comments hold commands"));
    }
    let (true, Some(merge_request)) = (e.object_attributes.noteable_type == "MergeRequest", e.merge_request) else {
        return Content::Ignored(format!("a comment on a {}, not a merge request", e.object_attributes.noteable_type));
    };
    let user = e.user.unwrap_or(NoteUser { id: None, username: String::new() });
    Content::Comment(Box::new(Comment {
        provider: ProviderKind::GitLab,
        delivery: delivery.to_owned(),
        server: e.project.server(),
        repository: e.project.path_with_namespace,
        id: e.object_attributes.id.to_string(),
        pull_request: merge_request.iid,
        author: CommentAuthor { name: user.username, id: user.id.map(|id| id.to_string()), association: None },
        body: e.object_attributes.note,
    }))
}

#[derive(Deserialize)]
struct MergeRequestEvent {
    user: Option<User>,
    project: Project,
    object_attributes: MergeRequest,
}

#[derive(Deserialize)]
struct User {
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
struct MergeRequest {
    iid: u64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    title: String,
    source_branch: String,
    target_branch: String,
    source_project_id: Option<u64>,
    target_project_id: Option<u64>,
    last_commit: Option<Commit>,
    /// Present on `update` when the source branch got new commits.
    oldrev: Option<String>,
}

fn merge_request(e: MergeRequestEvent, delivery: &str) -> Content {
    let mr = e.object_attributes;
    let action = match mr.action.as_str() {
        "open" => PrAction::Opened,
        "update" if mr.oldrev.as_deref().is_some_and(|r| !r.is_empty()) => PrAction::Updated,
        "update" => return Content::Ignored("merge request updated without new commits".into()),
        "reopen" => PrAction::Reopened,
        "merge" => PrAction::Merged,
        "close" => PrAction::Closed,
        other => return Content::Ignored(format!("merge request action {other:?} does not start pipelines")),
    };
    let commit = mr.last_commit.as_ref().map(|c| c.id.clone()).unwrap_or_default();
    let title = if mr.title.is_empty() { mr.last_commit.and_then(|c| c.title).unwrap_or_default() } else { mr.title };
    // Statuses and the merge request's files go to the target project, the one the trigger
    // matched: a fork's head commit is there too (`refs/merge-requests/<iid>/head`).
    let server = e.project.server();
    let change: Change = PullRequestParts {
        provider: ProviderKind::GitLab,
        delivery: delivery.to_owned(),
        repository: e.project.path_with_namespace,
        commit,
        author: e.user.map(|u| u.username).unwrap_or_default(),
        title,
        clone_url: e.project.git_http_url,
        pull_request: PullRequest {
            number: mr.iid,
            action,
            source_branch: mr.source_branch,
            target_branch: mr.target_branch,
            from_fork: mr.source_project_id != mr.target_project_id,
        },
    }
    .into();
    Content::Changes(vec![change.with_server(server)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_merge_request_note_is_read_and_others_are_acknowledged() {
        // The fields GitLab documents for "Comment on merge request" (Note Hook).
        let note = |action: Option<&str>, on: &str| {
            let mut doc = serde_json::json!({
                "object_kind": "note", "event_type": "note",
                "user": { "id": 1, "name": "Administrator", "username": "root" },
                "project_id": 5,
                "project": { "path_with_namespace": "gitlab-org/gitlab-test", "web_url": "http://example.com/gitlab-org/gitlab-test" },
                "object_attributes": { "id": 1244, "note": "/herald run api", "noteable_type": on },
                "merge_request": { "id": 7, "iid": 1, "target_branch": "markdown" }
            });
            if let Some(a) = action {
                doc["object_attributes"]["action"] = a.into();
            }
            let headers: Headers =
                [("X-Gitlab-Event", "Note Hook"), ("X-Gitlab-Event-UUID", "n-1")].into_iter().collect();
            parse(&headers, doc.to_string().as_bytes()).unwrap().content
        };
        let Content::Comment(c) = note(Some("create"), "MergeRequest") else { panic!() };
        assert_eq!((c.id.as_str(), c.pull_request, c.repository.as_str()), ("1244", 1, "gitlab-org/gitlab-test"));
        assert_eq!((c.author.name.as_str(), c.author.id.as_deref()), ("root", Some("1")));
        assert_eq!(c.server.unwrap().host, "example.com");
        assert!(matches!(note(None, "MergeRequest"), Content::Comment(_)), "older servers send new notes only");
        assert!(matches!(note(Some("update"), "MergeRequest"), Content::Ignored(_)));
        assert!(matches!(note(Some("create"), "Issue"), Content::Ignored(_)));
    }
    use crate::auth::{sign_standard_webhook, Secret};
    use crate::change::EventKind;
    use crate::providers::fixtures::read;

    fn headers(event: &str) -> Headers {
        [("X-Gitlab-Event", event), ("X-Gitlab-Event-UUID", "uuid-1")].into_iter().collect()
    }

    fn changes(event: &str, body: &[u8]) -> Vec<Change> {
        match parse(&headers(event), body).unwrap().content {
            Content::Changes(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_fixture() {
        let c = &changes("Push Hook", &read("gitlab/push-event.json"))[0];
        assert_eq!((c.event, c.repository.as_str()), (EventKind::Push, "mike/diaspora"));
        assert_eq!(c.commit, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        assert_eq!(c.message, "fixed readme");
        assert_eq!(c.author, "John Smith");
        assert_eq!(c.delivery, "uuid-1");
        // 4 commits pushed, 2 listed: the file list is incomplete
        assert!(!c.files.complete);
        assert_eq!(c.clone_url, "http://example.com/mike/diaspora.git");
    }

    #[test]
    fn complete_push_lists_files() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("gitlab/push-event.json")).unwrap();
        doc["total_commits_count"] = 2.into();
        let c = &changes("Push Hook", doc.to_string().as_bytes())[0];
        assert!(c.files.complete);
        assert_eq!(c.files.paths, ["CHANGELOG", "app/controller/application.rb"]);
    }

    #[test]
    fn tag_fixture() {
        let c = &changes("Tag Push Hook", &read("gitlab/tag-event.json"))[0];
        assert_eq!((c.event, c.tag.as_deref()), (EventKind::Tag, Some("v1.0.0")));
        assert_eq!(c.repository, "jsmith/example");
        assert!(!c.deleted);
    }

    #[test]
    fn merge_request_fixture_and_actions() {
        let c = &changes("Merge Request Hook", &read("gitlab/merge-request-event.json"))[0];
        let pr = c.pull_request.as_ref().unwrap();
        assert_eq!((pr.number, pr.action), (1, PrAction::Opened));
        assert_eq!((pr.source_branch.as_str(), pr.target_branch.as_str()), ("ms-viewport", "master"));
        assert_eq!(c.commit, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
        assert_eq!(c.message, "MS-Viewport");
        assert!(!pr.from_fork);
        let mut doc: serde_json::Value = serde_json::from_slice(&read("gitlab/merge-request-event.json")).unwrap();
        doc["object_attributes"]["action"] = "update".into();
        assert!(matches!(
            parse(&headers("Merge Request Hook"), doc.to_string().as_bytes()).unwrap().content,
            Content::Ignored(_)
        ));
        doc["object_attributes"]["oldrev"] = "95790bf891e76fee5e1747ab589903a6a1f80f22".into();
        doc["object_attributes"]["source_project_id"] = 99.into();
        let c = &changes("Merge Request Hook", doc.to_string().as_bytes())[0];
        let pr = c.pull_request.as_ref().unwrap();
        assert_eq!(pr.action, PrAction::Updated);
        assert!(pr.from_fork);
        for (action, expected) in
            [("merge", PrAction::Merged), ("close", PrAction::Closed), ("reopen", PrAction::Reopened)]
        {
            doc["object_attributes"]["action"] = action.into();
            assert_eq!(
                changes("Merge Request Hook", doc.to_string().as_bytes())[0].pull_request.as_ref().unwrap().action,
                expected
            );
        }
    }

    #[test]
    fn other_events_are_ignored() {
        assert!(matches!(
            parse(&headers("Pipeline Hook"), &read("gitlab/pipeline-event.json")).unwrap().content,
            Content::Ignored(_)
        ));
        assert!(matches!(
            parse(&headers("Issue Hook"), &read("gitlab/issue-event.json")).unwrap().content,
            Content::Ignored(_)
        ));
    }

    #[test]
    fn token_and_signing_token() {
        let secrets = WebhookSecrets::parse(
            r#"{"secrets":["tok-0123456789abcdef"],"named":{"team-a":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}}"#,
        )
        .unwrap();
        let mut h = headers("Push Hook");
        h.insert("X-Gitlab-Token", "tok-0123456789abcdef");
        assert_eq!(authenticate(&h, b"{}", &secrets, 0), Some(SecretScope::Default));
        let mut wrong = headers("Push Hook");
        wrong.insert("X-Gitlab-Token", "tok2");
        assert_eq!(authenticate(&wrong, b"{}", &secrets, 0), None);
        let sig = sign_standard_webhook(&Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "m1", 1000, b"{}");
        let mut signed = headers("Push Hook");
        signed.insert("webhook-id", "m1");
        signed.insert("webhook-timestamp", "1000");
        signed.insert("webhook-signature", &sig);
        assert_eq!(authenticate(&signed, b"{}", &secrets, 1000), Some(SecretScope::Named("team-a".into())));
        assert_eq!(authenticate(&headers("Push Hook"), b"{}", &secrets, 1000), None);
    }

    #[test]
    fn idempotency_key_wins() {
        let mut h = headers("Push Hook");
        h.insert("Idempotency-Key", "idem-7");
        assert_eq!(parse(&h, &read("gitlab/push-event.json")).unwrap().delivery, "idem-7");
    }

    #[test]
    fn an_annotated_tag_pins_checkout_sha() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("gitlab/tag-event.json")).unwrap();
        doc["after"] = "2222222222222222222222222222222222222222".into();
        let c = &changes("Tag Push Hook", doc.to_string().as_bytes())[0];
        assert_eq!(c.commit, "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7", "checkout_sha");
    }
}
