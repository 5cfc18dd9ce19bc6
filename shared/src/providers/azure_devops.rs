//! Azure DevOps Repos (service hooks).
//!
//! Recognised by HTTP Basic authentication with no other provider's header; the password is the
//! secret. The event (`git.push`, `git.pullrequest.*`) and the delivery id are in the body, read
//! only after authentication.

use super::{from_json, starts_with_ignore_case, BodyError, Content, Delivery, Headers};
use crate::auth::secrets_equal;
use crate::change::{
    is_zero_sha, Change, ChangedFiles, Comment, CommentAuthor, PrAction, ProviderKind, PullRequest, PullRequestParts,
    PushParts, ServerAddress,
};
use crate::secrets::{Scheme, SecretScope, WebhookSecrets};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Deserialize;

pub fn authenticate(headers: &Headers, secrets: &WebhookSecrets) -> Option<SecretScope> {
    let value = headers.get("authorization")?;
    if !starts_with_ignore_case(value, "basic ") {
        return None;
    }
    let decoded = BASE64.decode(value[6..].trim()).ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let password = &decoded[colon + 1..];
    secrets.find_scope(Scheme::Shared, |key| secrets_equal(key, password))
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: String,
    #[serde(rename = "eventType", default)]
    event_type: String,
}

pub fn parse(body: &[u8]) -> Result<Delivery, BodyError> {
    let envelope: Envelope = from_json(body)?;
    let delivery = if envelope.id.is_empty() { super::body_digest(body) } else { envelope.id };
    let event = envelope.event_type;
    let content = match event.as_str() {
        "git.push" => Content::Changes(push(from_json(body)?, &delivery)),
        "git.pullrequest.created" | "git.pullrequest.updated" | "git.pullrequest.merged" => {
            pull_request(&event, from_json(body)?, &delivery)
        }
        "ms.vss-code.git-pullrequest-comment-event" => pull_request_comment(from_json(body)?, &delivery),
        "" => return Err(BodyError::Invalid("Azure DevOps body has no eventType".into())),
        other => Content::Ignored(format!("Azure DevOps event {other:?} does not start pipelines")),
    };
    Ok(Delivery { event, delivery, content })
}

#[derive(Deserialize)]
struct PushEvent {
    resource: PushResource,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PushResource {
    #[serde(default)]
    ref_updates: Vec<RefUpdate>,
    #[serde(default)]
    commits: Vec<Commit>,
    repository: Repository,
    pushed_by: Option<Identity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefUpdate {
    name: String,
    new_object_id: String,
    #[serde(default)]
    old_object_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Commit {
    commit_id: String,
    #[serde(default)]
    comment: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity {
    display_name: Option<String>,
    unique_name: Option<String>,
}

impl Identity {
    fn name(self) -> String {
        self.display_name.or(self.unique_name).unwrap_or_default()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Repository {
    name: String,
    project: Project,
    #[serde(default)]
    remote_url: String,
    /// `https://dev.azure.com/<org>[/<project>]/_apis/[repos/]git/repositories/<id>`.
    url: Option<String>,
}

#[derive(Deserialize)]
struct Project {
    name: String,
}

impl Repository {
    fn full_name(&self) -> String {
        format!("{}/{}", self.project.name, self.name)
    }

    /// The server: the host of the repository's URL and the organization it names
    /// (`https://dev.azure.com/<org>/...`, `https://<org>.visualstudio.com/...`), which the
    /// credential must name too.
    fn server(&self) -> Option<ServerAddress> {
        let url = self.url.as_deref()?;
        let address = ServerAddress::from_url(url)?;
        let organization = match address.host.strip_suffix(".visualstudio.com") {
            Some(org) => Some(org.to_owned()),
            None => url.split_once("://")?.1.split(['?', '#']).next()?.split('/').nth(1).map(str::to_owned),
        };
        Some(address.with_organization(organization.filter(|o| !o.is_empty() && o != "_apis")))
    }
}

#[derive(Deserialize)]
struct CommentEvent {
    resource: CommentResource,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentResource {
    comment: PrComment,
    pull_request: CommentedPullRequest,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrComment {
    id: u64,
    #[serde(default)]
    content: String,
    author: Option<Identity>,
    published_date: Option<String>,
    last_content_updated_date: Option<String>,
    #[serde(rename = "_links")]
    links: Option<CommentLinks>,
}

#[derive(Deserialize)]
struct CommentLinks {
    threads: Option<Link>,
}

#[derive(Deserialize)]
struct Link {
    href: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentedPullRequest {
    pull_request_id: u64,
    repository: Repository,
}

/// A comment on a pull request (`ms.vss-code.git-pullrequest-comment-event`). Azure DevOps sends
/// the same event when a comment is edited: an edited one (its content updated after it was
/// published) holds no command. A comment's id is its thread's own, so the thread (from its link,
/// read as an id, never requested) is part of the comment's.
fn pull_request_comment(e: CommentEvent, delivery: &str) -> Content {
    let (comment, pr) = (e.resource.comment, e.resource.pull_request);
    if comment.last_content_updated_date.is_some() && comment.last_content_updated_date != comment.published_date {
        return Content::Ignored("comment edited: only new comments hold commands".into());
    }
    let thread = comment
        .links
        .and_then(|l| l.threads)
        .and_then(|t| t.href.trim_end_matches('/').rsplit('/').next().map(str::to_owned))
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
    let id = match thread {
        Some(thread) => format!("{thread}/{}", comment.id),
        None => comment.id.to_string(),
    };
    Content::Comment(Box::new(Comment {
        provider: ProviderKind::AzureDevOps,
        delivery: delivery.to_owned(),
        server: pr.repository.server(),
        repository: pr.repository.full_name(),
        id,
        pull_request: pr.pull_request_id,
        author: CommentAuthor {
            name: comment.author.and_then(|a| a.unique_name.or(a.display_name)).unwrap_or_default(),
            id: None,
            association: None,
        },
        body: comment.content,
    }))
}

fn push(e: PushEvent, delivery: &str) -> Vec<Change> {
    let r = e.resource;
    let repository = r.repository.full_name();
    let author = r.pushed_by.map(Identity::name).unwrap_or_default();
    let server = r.repository.server();
    r.ref_updates
        .into_iter()
        .map(|u| {
            let deleted = is_zero_sha(&u.new_object_id);
            let old_object_id = u.old_object_id.clone();
            let message = r
                .commits
                .iter()
                .find(|c| c.commit_id == u.new_object_id)
                .map(|c| c.comment.clone())
                .unwrap_or_default();
            let change: Change = PushParts {
                provider: ProviderKind::AzureDevOps,
                delivery: delivery.to_owned(),
                repository: repository.clone(),
                git_ref: u.name,
                commit: if deleted { String::new() } else { u.new_object_id },
                deleted,
                files: ChangedFiles::unknown(),
                author: author.clone(),
                message,
                clone_url: r.repository.remote_url.clone(),
            }
            .into();
            change.tag_object_unpinned().with_server(server.clone()).with_before(Some(old_object_id))
        })
        .collect()
}

#[derive(Deserialize)]
struct PullRequestEvent {
    message: Option<Message>,
    resource: PullRequestResource,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullRequestResource {
    pull_request_id: u64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    title: String,
    source_ref_name: String,
    target_ref_name: String,
    last_merge_source_commit: Option<Commit>,
    repository: Repository,
    fork_source: Option<serde_json::Value>,
    created_by: Option<Identity>,
}

/// Azure DevOps sends one `updated` event for votes, edits, pushes and status changes alike;
/// the status and the message text tell them apart.
fn pull_request(event: &str, e: PullRequestEvent, delivery: &str) -> Content {
    let r = e.resource;
    let text = e.message.map(|m| m.text.to_ascii_lowercase()).unwrap_or_default();
    let action = match (event, r.status.as_str()) {
        ("git.pullrequest.created", _) => PrAction::Opened,
        ("git.pullrequest.merged", "completed") => PrAction::Merged,
        ("git.pullrequest.merged", _) => return Content::Ignored("merge preview of an open pull request".into()),
        (_, "abandoned") => PrAction::Closed,
        (_, "active") if text.contains("reactivated") => PrAction::Reopened,
        (_, "active") if text.contains("updated the source branch") || text.contains("pushed") => PrAction::Updated,
        (_, "completed") => {
            return Content::Ignored("pull request completed; the merge arrives as git.pullrequest.merged".into())
        }
        _ => return Content::Ignored("pull request updated without new commits".into()),
    };
    let server = r.repository.server();
    let change: Change = PullRequestParts {
        provider: ProviderKind::AzureDevOps,
        delivery: delivery.to_owned(),
        repository: r.repository.full_name(),
        commit: r.last_merge_source_commit.map(|c| c.commit_id).unwrap_or_default(),
        author: r.created_by.map(Identity::name).unwrap_or_default(),
        title: r.title,
        clone_url: r.repository.remote_url,
        pull_request: PullRequest {
            number: r.pull_request_id,
            action,
            source_branch: r.source_ref_name,
            target_branch: r.target_ref_name,
            from_fork: r.fork_source.is_some_and(|f| !f.is_null()),
        },
    }
    .into();
    Content::Changes(vec![change.with_server(server)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pull_request_comment_is_read_and_an_edited_one_acknowledged() {
        // The fields of Azure DevOps' "Pull request commented on" service hook event.
        let comment = |updated: &str| {
            serde_json::json!({
                "id": "e-1", "eventType": "ms.vss-code.git-pullrequest-comment-event",
                "resource": {
                    "comment": { "id": 2, "content": "/herald retry", "author": { "displayName": "Normal Paulk", "uniqueName": "fabrikamfiber16@hotmail.com" },
                        "publishedDate": "2014-06-17T16:55:46.997Z", "lastContentUpdatedDate": updated,
                        "_links": { "threads": { "href": "https://dev.azure.com/fabrikam/_apis/git/repositories/4bc14d40/pullRequests/1/threads/5" } } },
                    "pullRequest": { "pullRequestId": 1,
                        "repository": { "name": "Fabrikam", "project": { "name": "Fabrikam-Fiber-Git" }, "url": "https://dev.azure.com/fabrikam/_apis/git/repositories/4bc14d40-c903-45e2-872e-0462c7748079" } }
                }
            })
            .to_string()
        };
        let Content::Comment(c) = parse(comment("2014-06-17T16:55:46.997Z").as_bytes()).unwrap().content else {
            panic!()
        };
        assert_eq!((c.id.as_str(), c.pull_request, c.repository.as_str()), ("5/2", 1, "Fabrikam-Fiber-Git/Fabrikam"));
        assert_eq!((c.author.name.as_str(), c.body.as_str()), ("fabrikamfiber16@hotmail.com", "/herald retry"));
        let server = c.server.unwrap();
        assert_eq!((server.host.as_str(), server.organization.as_deref()), ("dev.azure.com", Some("fabrikam")));
        assert!(matches!(parse(comment("2014-06-18T10:00:00Z").as_bytes()).unwrap().content, Content::Ignored(_)));
    }
    use crate::change::EventKind;
    use crate::providers::fixtures::read;

    fn changes(body: &[u8]) -> Vec<Change> {
        match parse(body).unwrap().content {
            Content::Changes(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn push_fixture() {
        let d = parse(&read("azuredevops/git.push.json")).unwrap();
        assert_eq!((d.event.as_str(), d.delivery.as_str()), ("git.push", "03c164c2-8912-4d5e-8009-3707d5f83734"));
        let c = &changes(&read("azuredevops/git.push.json"))[0];
        assert_eq!((c.event, c.repository.as_str()), (EventKind::Push, "Fabrikam-Fiber-Git/Fabrikam-Fiber-Git"));
        assert_eq!(c.branch.as_deref(), Some("main"));
        assert_eq!(c.commit, "33b55f7cb7e7e245323987634f960cf4a6e6bc74");
        assert_eq!(c.message, "Fixed bug in web.config file");
        assert!(!c.files.complete);
        assert_eq!(c.clone_url, "https://dev.azure.com/fabrikam-fiber-inc/DefaultCollection/_git/Fabrikam-Fiber-Git");
    }

    #[test]
    fn pull_request_fixtures() {
        let c = &changes(&read("azuredevops/git.pullrequest.created.json"))[0];
        let pr = c.pull_request.as_ref().unwrap();
        assert_eq!((pr.number, pr.action), (1, PrAction::Opened));
        assert_eq!((pr.source_branch.as_str(), pr.target_branch.as_str()), ("mytopic", "master"));
        assert_eq!(c.repository, "Fabrikam/Fabrikam");
        assert_eq!(c.commit, "53d54ac915144006c2c9e90d2c7d3880920db49c");
        assert!(!pr.from_fork);
        assert_eq!(
            changes(&read("azuredevops/git.pullrequest.merged.json"))[0].pull_request.as_ref().unwrap().action,
            PrAction::Merged
        );
        // "marked the pull request as completed": not new commits
        assert!(matches!(
            parse(&read("azuredevops/git.pullrequest.updated.json")).unwrap().content,
            Content::Ignored(_)
        ));
    }

    #[test]
    fn updated_with_new_commits_and_abandoned() {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&read("azuredevops/git.pullrequest.updated.json")).unwrap();
        doc["resource"]["status"] = "active".into();
        doc["message"]["text"] = "Jamal Hartnett updated the source branch of pull request 1".into();
        assert_eq!(changes(doc.to_string().as_bytes())[0].pull_request.as_ref().unwrap().action, PrAction::Updated);
        doc["resource"]["status"] = "abandoned".into();
        assert_eq!(changes(doc.to_string().as_bytes())[0].pull_request.as_ref().unwrap().action, PrAction::Closed);
        doc["resource"]["forkSource"] = serde_json::json!({"name": "refs/heads/x"});
        doc["resource"]["status"] = "active".into();
        assert!(changes(doc.to_string().as_bytes())[0].pull_request.as_ref().unwrap().from_fork);
    }

    #[test]
    fn basic_auth_password_is_the_secret() {
        let secrets = WebhookSecrets::parse("pw-0123456789abcdef").unwrap();
        let ok: Headers =
            [("Authorization", format!("Basic {}", BASE64.encode("herald:pw-0123456789abcdef")))].into_iter().collect();
        assert_eq!(authenticate(&ok, &secrets), Some(SecretScope::Default));
        let bad: Headers = [("Authorization", format!("Basic {}", BASE64.encode("herald:px")))].into_iter().collect();
        assert_eq!(authenticate(&bad, &secrets), None);
        let garbled: Headers = [("Authorization", "Basic !!!")].into_iter().collect();
        assert_eq!(authenticate(&garbled, &secrets), None);
        let no_colon: Headers = [("Authorization", format!("Basic {}", BASE64.encode("pw")))].into_iter().collect();
        assert_eq!(authenticate(&no_colon, &secrets), None);
    }

    #[test]
    fn bodies_without_event_type_are_rejected() {
        assert!(matches!(parse(b"{}"), Err(BodyError::Invalid(_))));
        assert!(matches!(parse(br#"{"eventType":"build.complete"}"#).unwrap().content, Content::Ignored(_)));
    }

    #[test]
    fn a_tag_is_not_pinned_to_new_object_id() {
        let mut doc: serde_json::Value = serde_json::from_slice(&read("azuredevops/git.push.json")).unwrap();
        doc["resource"]["refUpdates"][0]["name"] = "refs/tags/v1".into();
        let d = parse(doc.to_string().as_bytes()).unwrap();
        let Content::Changes(c) = d.content else { panic!() };
        assert_eq!(c[0].tag.as_deref(), Some("v1"));
        assert_eq!(c[0].commit, "");
        assert!(c[0].no_commit.is_some_and(|why| why.contains("tag object")));
    }
}
