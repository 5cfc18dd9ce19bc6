//! What a delivery of each Git server looks like from outside: the name a user gives its server
//! (`--provider`), the headers that tell the server, its event and the delivery id, and which
//! event a payload is by its shape. `sign` and `explain` both read deliveries this way.

use herald::change::ProviderKind;
use serde_json::Value;

/// What `--provider` names: a Git server (any of its names, [`ProviderKind::parse`]), or GitLab
/// with a signing token (Standard Webhooks) instead of its plain secret token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Server(ProviderKind),
    GitLabSigning,
}

impl Sender {
    /// Reads `--provider`; an unknown name is answered with every name there is.
    pub fn parse(word: &str) -> Result<Self, String> {
        if word.trim().eq_ignore_ascii_case("gitlab-signing") {
            return Ok(Self::GitLabSigning);
        }
        ProviderKind::parse(word)
            .map(Self::Server)
            .ok_or_else(|| format!("unknown provider {word:?}: one of {}, gitlab-signing", ProviderKind::names()))
    }

    /// The server this sender is.
    pub fn kind(self) -> ProviderKind {
        match self {
            Self::Server(kind) => kind,
            Self::GitLabSigning => ProviderKind::GitLab,
        }
    }

    /// Its name as answers print it (`gitlab-signing` for GitLab's signing token).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Server(kind) => kind.as_str(),
            Self::GitLabSigning => "gitlab-signing",
        }
    }
}

impl std::fmt::Display for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The headers a server sends that tell its kind, its event (default: its push) and the
/// delivery id. Azure DevOps has neither: a placeholder Basic header makes it recognised.
pub fn provider_headers(provider: ProviderKind, event: Option<&str>, delivery: &str) -> Vec<(String, String)> {
    let (event_header, push, delivery_header) = match provider {
        ProviderKind::GitHub => ("X-GitHub-Event", "push", "X-GitHub-Delivery"),
        ProviderKind::GitLab => ("X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID"),
        ProviderKind::BitbucketCloud => ("X-Event-Key", "repo:push", "X-Request-UUID"),
        ProviderKind::BitbucketServer => ("X-Event-Key", "repo:refs_changed", "X-Request-Id"),
        ProviderKind::Gitea => ("X-Gitea-Event", "push", "X-Gitea-Delivery"),
        ProviderKind::Forgejo => ("X-Forgejo-Event", "push", "X-Forgejo-Delivery"),
        ProviderKind::Gogs => ("X-Gogs-Event", "push", "X-Gogs-Delivery"),
        ProviderKind::AzureDevOps => return vec![("Authorization".into(), "Basic ZXhwbGFpbjpleHBsYWlu".into())],
        ProviderKind::Generic => return vec![("webhook-id".into(), delivery.to_owned())],
    };
    vec![(event_header.to_owned(), event.unwrap_or(push).to_owned()), (delivery_header.to_owned(), delivery.to_owned())]
}

/// The header that carries `provider`'s signature or token: a saved delivery without it was
/// never signed as far as Herald can tell (git-webhook answers 401), which is not a wrong secret.
pub fn signature_header(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::GitHub => "X-Hub-Signature-256",
        ProviderKind::GitLab => "X-Gitlab-Token",
        ProviderKind::BitbucketCloud | ProviderKind::BitbucketServer => "X-Hub-Signature",
        ProviderKind::Gitea => "X-Gitea-Signature",
        ProviderKind::Forgejo => "X-Forgejo-Signature",
        ProviderKind::Gogs => "X-Gogs-Signature",
        ProviderKind::AzureDevOps => "Authorization",
        ProviderKind::Generic => "webhook-signature",
    }
}

/// Whether `headers` carry any of the signatures `provider` may send (GitLab: its token, or a
/// signing token's `webhook-signature`).
pub fn has_signature(provider: ProviderKind, headers: &herald::providers::Headers) -> bool {
    let own = signature_header(provider).to_ascii_lowercase();
    headers.contains(&own) || (provider == ProviderKind::GitLab && headers.contains("webhook-signature"))
}

/// The event a payload of `provider` is, by its shape: GitHub's (below); a pull request or its
/// comment on any server (docs/commands.md "Commands from the pull request"); Bitbucket Data
/// Center's and Azure DevOps' own (their payloads name it); `None`: the push default. A
/// Bitbucket Cloud pull request's event is read from its state (an open one as `created`: its
/// payload does not say whether it was created or updated).
pub fn event_of(provider: ProviderKind, body: &[u8]) -> Option<String> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let has = |field: &str| doc.get(field).is_some_and(Value::is_object);
    let named = |field: &str| doc.get(field).and_then(Value::as_str).map(str::to_owned);
    let event = match provider {
        ProviderKind::GitHub if has("comment") && has("issue") => "issue_comment",
        ProviderKind::GitHub => github_event_of(body)?,
        ProviderKind::GitLab => match doc["object_kind"].as_str()? {
            "note" => "Note Hook",
            "merge_request" => "Merge Request Hook",
            "tag_push" => "Tag Push Hook",
            _ => return None,
        },
        ProviderKind::BitbucketCloud if has("comment") && has("pullrequest") => "pullrequest:comment_created",
        ProviderKind::BitbucketCloud if has("pullrequest") => match doc["pullrequest"]["state"].as_str() {
            Some("MERGED") => "pullrequest:fulfilled",
            Some("DECLINED" | "SUPERSEDED") => "pullrequest:rejected",
            _ => "pullrequest:created",
        },
        ProviderKind::BitbucketServer if has("comment") && has("pullRequest") => "pr:comment:added",
        // Data Center's "Test connection" sends `{"test": true}` as `diagnostics:ping`.
        ProviderKind::BitbucketServer if doc.get("test").is_some() && doc.get("eventKey").is_none() => {
            "diagnostics:ping"
        }
        ProviderKind::BitbucketServer => return named("eventKey"),
        ProviderKind::AzureDevOps => return named("eventType"),
        ProviderKind::Gitea | ProviderKind::Forgejo if has("comment") && has("issue") => "issue_comment",
        ProviderKind::Gitea | ProviderKind::Forgejo | ProviderKind::Gogs if has("pull_request") => "pull_request",
        _ => return None,
    };
    Some(event.to_owned())
}

/// The GitHub event a payload is, by the field only that event has (`None`: not JSON, or a push).
pub fn github_event_of(body: &[u8]) -> Option<&'static str> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    ["merge_group", "pull_request"]
        .into_iter()
        .find(|field| doc.get(field).is_some_and(Value::is_object))
        .or_else(|| doc.get("hook_id").map(|_| "ping"))
}

/// The server a raw payload (no headers) comes from, by the fields only that server's payloads
/// have; `None` when its shape names none (`--provider` says).
pub fn recognise(doc: &Value) -> Option<ProviderKind> {
    let has = |field: &str| doc.get(field).is_some();
    let object_kind = doc.get("object_kind").and_then(Value::as_str).is_some();
    if object_kind && has("project") {
        Some(ProviderKind::GitLab)
    } else if has("eventType") && has("resource") && doc["publisherId"] == "tfs" {
        Some(ProviderKind::AzureDevOps)
    } else if has("eventKey") && (has("changes") || has("pullRequest") || has("repository")) {
        Some(ProviderKind::BitbucketServer)
    } else if has("push") && doc["push"].get("changes").is_some() || has("pullrequest") {
        Some(ProviderKind::BitbucketCloud)
    } else if has("hook_id") && has("hook") {
        Some(ProviderKind::GitHub)
    } else if ["node_id", "svn_url", "hooks_url"].iter().any(|f| doc["repository"].get(f).is_some()) {
        // GitHub, Gitea, Forgejo and Gogs share a shape; only GitHub's repository has these.
        Some(ProviderKind::GitHub)
    } else {
        None
    }
}
