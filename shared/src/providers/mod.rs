//! Git providers: recognise a delivery, authenticate it, parse it into [`Change`]s.
//!
//! One module per server. Each has `authenticate` (over the exact received bytes, before any
//! parsing, in constant time; `None` means unauthorised) and `parse` (only ever called on an
//! authenticated body). [`detect`] picks the module from the headers alone.

pub mod azure_devops;
pub mod bitbucket_cloud;
pub mod bitbucket_server;
pub mod generic;
pub mod gitea;
pub mod github;
pub mod gitlab;

use crate::change::{Change, Comment, ProviderKind};
use crate::secrets::{SecretScope, WebhookSecrets};
use serde::de::DeserializeOwned;
use std::borrow::Cow;

/// Request headers, names compared case-insensitively.
#[derive(Debug, Clone, Default)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a header; values that are not valid UTF-8 should be skipped by the caller.
    pub fn insert(&mut self, name: &str, value: &str) {
        self.entries.push((name.to_ascii_lowercase(), value.to_owned()));
    }

    /// The first value of `name` (lower case), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (k, v) in iter {
            headers.insert(k.as_ref(), v.as_ref());
        }
        headers
    }
}

/// Recognises the provider from the headers alone (docs/providers.md "Providers").
///
/// Forgejo sends Gitea's and Gogs' headers too, and Gitea sends GitHub's, so the more specific
/// servers are tested first.
pub fn detect(headers: &Headers) -> Option<ProviderKind> {
    if headers.contains("x-forgejo-event") {
        Some(ProviderKind::Forgejo)
    } else if headers.contains("x-gitea-event") {
        Some(ProviderKind::Gitea)
    } else if headers.contains("x-gogs-event") {
        Some(ProviderKind::Gogs)
    } else if headers.contains("x-gitlab-event") {
        Some(ProviderKind::GitLab)
    } else if headers.contains("x-github-event") {
        Some(ProviderKind::GitHub)
    } else if headers.contains("x-event-key") {
        if headers.contains("x-request-uuid") || headers.contains("x-hook-uuid") {
            Some(ProviderKind::BitbucketCloud)
        } else if headers.contains("x-request-id") {
            Some(ProviderKind::BitbucketServer)
        } else {
            None
        }
    } else if headers.contains("webhook-signature") || headers.contains("webhook-id") {
        Some(ProviderKind::Generic)
    } else if headers.get("authorization").is_some_and(|v| starts_with_ignore_case(v, "basic ")) {
        Some(ProviderKind::AzureDevOps)
    } else {
        None
    }
}

pub(crate) fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value.len() >= prefix.len() && value.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Checks the delivery's signature or token; `None` means unauthorised.
/// `now` is the current Unix time, for schemes with a timestamp.
pub fn authenticate(
    provider: ProviderKind,
    headers: &Headers,
    body: &[u8],
    secrets: &WebhookSecrets,
    now: i64,
) -> Option<SecretScope> {
    if secrets.is_empty() {
        return None;
    }
    match provider {
        ProviderKind::GitHub => github::authenticate(headers, body, secrets),
        ProviderKind::GitLab => gitlab::authenticate(headers, body, secrets, now),
        ProviderKind::BitbucketCloud | ProviderKind::BitbucketServer => {
            bitbucket_cloud::authenticate(headers, body, secrets)
        }
        ProviderKind::Gitea | ProviderKind::Forgejo | ProviderKind::Gogs => {
            gitea::authenticate(provider, headers, body, secrets)
        }
        ProviderKind::AzureDevOps => azure_devops::authenticate(headers, secrets),
        ProviderKind::Generic => generic::authenticate(headers, body, secrets, now),
    }
}

/// What an authenticated delivery says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The provider's own event name (`push`, `Merge Request Hook`, `repo:push`, `git.push`...).
    pub event: String,
    pub delivery: String,
    pub content: Content,
}

/// The meaning of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Changes to decide on (a Bitbucket or Azure DevOps push may carry several refs).
    Changes(Vec<Change>),
    /// The provider's ping or test event.
    Ping,
    /// A new comment on a pull request, which may hold commands (docs/commands.md "Commands from the pull
    /// request").
    Comment(Box<Comment>),
    /// Understood and deliberately ignored, with the reason.
    Ignored(String),
}

/// A body that cannot be read (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("unsupported content type {0:?}; send application/json")]
    UnsupportedContentType(String),
    #[error("a form body must be exactly one field, \"payload\"")]
    MissingPayload,
    #[error("body is not valid JSON for this event: {0}")]
    Json(String),
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// Parses an authenticated delivery.
pub fn parse(provider: ProviderKind, headers: &Headers, body: &[u8]) -> Result<Delivery, BodyError> {
    let body = json_body(headers, body)?;
    match provider {
        ProviderKind::GitHub => github::parse(headers, &body),
        ProviderKind::GitLab => gitlab::parse(headers, &body),
        ProviderKind::BitbucketCloud => bitbucket_cloud::parse(headers, &body),
        ProviderKind::BitbucketServer => bitbucket_server::parse(headers, &body),
        ProviderKind::Gitea | ProviderKind::Forgejo | ProviderKind::Gogs => gitea::parse(provider, headers, &body),
        ProviderKind::AzureDevOps => azure_devops::parse(&body),
        ProviderKind::Generic => generic::parse(headers, &body),
    }
}

/// The JSON document of a body: the body itself, or the `payload` field of a form
/// (GitHub, Gitea and Gogs can send `application/x-www-form-urlencoded`).
fn json_body<'a>(headers: &Headers, body: &'a [u8]) -> Result<Cow<'a, [u8]>, BodyError> {
    let content_type = headers.get("content-type").unwrap_or("application/json");
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match media.as_str() {
        "application/json" | "text/plain" | "" => Ok(Cow::Borrowed(body)),
        m if m.starts_with("application/") && m.ends_with("+json") => Ok(Cow::Borrowed(body)),
        "application/x-www-form-urlencoded" => {
            // Exactly one field, `payload`: a field found anywhere in a larger form could hide in
            // bytes signed for another purpose.
            let mut fields = form_urlencoded::parse(body);
            match (fields.next(), fields.next()) {
                (Some((key, value)), None) if key == "payload" => Ok(Cow::Owned(value.into_owned().into_bytes())),
                _ => Err(BodyError::MissingPayload),
            }
        }
        _ => Err(BodyError::UnsupportedContentType(media)),
    }
}

/// Deserialises `body` into a provider's payload type.
pub(crate) fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, BodyError> {
    serde_json::from_slice(body).map_err(|e| BodyError::Json(e.to_string()))
}

/// The delivery id header, or a digest of the body when the server sent none (old GitLab):
/// a redelivery of the same body still maps to the same id.
pub(crate) fn delivery_id(headers: &Headers, names: &[&str], body: &[u8]) -> String {
    names
        .iter()
        .find_map(|n| headers.get(n).filter(|v| !v.trim().is_empty()))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| body_digest(body))
}

pub(crate) fn body_digest(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("sha256:{}", &hex::encode(Sha256::digest(body))[..32])
}

/// The header value with `prefix` removed (case-insensitive), for `sha256=<hex>` signatures.
pub(crate) fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    starts_with_ignore_case(value, prefix).then(|| &value[prefix.len()..])
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! The conformance corpus: `../shared/fixtures/webhooks/` (go-playground/webhooks, MIT),
    //! copied into `shared/tests/fixtures/webhooks/` so a checkout tests on its own.
    use std::path::PathBuf;

    pub fn dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/webhooks")
    }

    pub fn read(path: &str) -> Vec<u8> {
        let full = dir().join(path);
        std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {} missing: {e}", full.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().copied().collect()
    }

    #[test]
    fn detection_prefers_the_specific_server() {
        assert_eq!(detect(&h(&[("X-GitHub-Event", "push")])), Some(ProviderKind::GitHub));
        assert_eq!(
            detect(&h(&[("X-GitHub-Event", "push"), ("X-Gitea-Event", "push"), ("X-Gogs-Event", "push")])),
            Some(ProviderKind::Gitea)
        );
        assert_eq!(detect(&h(&[("X-Forgejo-Event", "push"), ("X-Gitea-Event", "push")])), Some(ProviderKind::Forgejo));
        assert_eq!(detect(&h(&[("X-Gogs-Event", "push")])), Some(ProviderKind::Gogs));
        assert_eq!(
            detect(&h(&[("X-Gitlab-Event", "Push Hook"), ("webhook-signature", "v1,x")])),
            Some(ProviderKind::GitLab)
        );
        assert_eq!(
            detect(&h(&[("X-Event-Key", "repo:push"), ("X-Request-UUID", "u")])),
            Some(ProviderKind::BitbucketCloud)
        );
        assert_eq!(
            detect(&h(&[("X-Event-Key", "repo:refs_changed"), ("X-Request-Id", "i")])),
            Some(ProviderKind::BitbucketServer)
        );
        assert_eq!(detect(&h(&[("X-Event-Key", "repo:push")])), None);
        assert_eq!(detect(&h(&[("webhook-id", "m"), ("webhook-signature", "v1,x")])), Some(ProviderKind::Generic));
        assert_eq!(detect(&h(&[("Authorization", "Basic dTpw")])), Some(ProviderKind::AzureDevOps));
        assert_eq!(detect(&h(&[("Authorization", "Bearer x")])), None);
        assert_eq!(detect(&h(&[])), None);
    }

    #[test]
    fn no_secret_means_no_entry() {
        let headers = h(&[("X-GitHub-Event", "push"), ("X-Hub-Signature-256", "sha256=00")]);
        assert_eq!(authenticate(ProviderKind::GitHub, &headers, b"{}", &WebhookSecrets::none(), 0), None);
    }

    #[test]
    fn form_bodies_and_content_types() {
        let form = h(&[("Content-Type", "application/x-www-form-urlencoded")]);
        assert_eq!(json_body(&form, b"payload=%7B%22a%22%3A1%7D").unwrap().as_ref(), br#"{"a":1}"#);
        assert_eq!(json_body(&form, b"other=1"), Err(BodyError::MissingPayload));
        let xml = h(&[("Content-Type", "text/xml")]);
        assert!(matches!(json_body(&xml, b"<a/>"), Err(BodyError::UnsupportedContentType(_))));
        let json = h(&[("Content-Type", "application/json; charset=utf-8")]);
        assert_eq!(json_body(&json, b"{}").unwrap().as_ref(), b"{}");
    }

    #[test]
    fn missing_delivery_ids_fall_back_to_a_body_digest() {
        let a = delivery_id(&h(&[]), &["x-gitlab-event-uuid"], b"{}");
        assert_eq!(a, delivery_id(&h(&[]), &["x-gitlab-event-uuid"], b"{}"));
        assert!(a.starts_with("sha256:"));
        assert_eq!(
            delivery_id(&h(&[("X-Gitlab-Event-UUID", "u1")]), &["idempotency-key", "x-gitlab-event-uuid"], b"{}"),
            "u1"
        );
    }

    #[test]
    fn every_server_is_read_from_the_payload_as_a_host_only() {
        // A payload names its server's host (GHES, self-managed GitLab, Data Center and Gitea are
        // wherever the server says), and for Azure DevOps its organization; nothing of a path
        // (docs/credentials.md "Where Herald sends requests").
        type Case<'a> = (ProviderKind, &'a [(&'a str, &'a str)], &'a str, Option<(&'a str, Option<&'a str>)>);
        let cases: [Case; 12] = [
            (ProviderKind::GitHub, &[("X-GitHub-Event", "push")], "github/push.json", Some(("api.github.com", None))),
            (
                ProviderKind::GitHub,
                &[("X-GitHub-Event", "pull_request")],
                "github/pull-request.json",
                Some(("api.github.com", None)),
            ),
            (
                ProviderKind::GitLab,
                &[("X-Gitlab-Event", "Push Hook")],
                "gitlab/push-event.json",
                Some(("example.com", None)),
            ),
            (
                ProviderKind::GitLab,
                &[("X-Gitlab-Event", "Merge Request Hook")],
                "gitlab/merge-request-event.json",
                Some(("example.com", None)),
            ),
            (
                ProviderKind::BitbucketCloud,
                &[("X-Event-Key", "repo:push")],
                "bitbucket/repo-push.json",
                Some(("api.bitbucket.org", None)),
            ),
            (
                ProviderKind::BitbucketCloud,
                &[("X-Event-Key", "pullrequest:created")],
                "bitbucket/pull-request-created.json",
                Some(("api.bitbucket.org", None)),
            ),
            (
                ProviderKind::BitbucketServer,
                &[("X-Event-Key", "repo:refs_changed")],
                "bitbucket-server/repo-refs-changed.json",
                Some(("server.bitbucket.local", None)),
            ),
            (
                ProviderKind::BitbucketServer,
                &[("X-Event-Key", "pr:opened")],
                "bitbucket-server/pr-opened.json",
                Some(("server.bitbucket.local", None)),
            ),
            (
                ProviderKind::Gitea,
                &[("X-Gitea-Event", "push")],
                "gitea/push-event.json",
                Some(("localhost:3000", None)),
            ),
            (ProviderKind::Gogs, &[("X-Gogs-Event", "push")], "gogs/push-event.json", None),
            (
                ProviderKind::AzureDevOps,
                &[("X-Event-Key", "")],
                "azuredevops/git.push.json",
                Some(("dev.azure.com", Some("fabrikam-fiber-inc"))),
            ),
            (
                ProviderKind::AzureDevOps,
                &[("X-Event-Key", "")],
                "azuredevops/git.pullrequest.created.json",
                Some(("dev.azure.com", Some("fabrikam"))),
            ),
        ];
        for (provider, headers, file, want) in cases {
            let Content::Changes(changes) = parse(provider, &h(headers), &fixtures::read(file)).unwrap().content else {
                panic!("{file}: no change")
            };
            let got = changes[0].server.as_ref().map(|s| (s.host.as_str(), s.organization.as_deref()));
            assert_eq!(got, want, "{file}");
        }
    }

    #[test]
    fn every_previous_commit_is_read_from_the_payload() {
        let push = |provider, headers: &[(&str, &str)], file| match parse(provider, &h(headers), &fixtures::read(file))
            .unwrap()
            .content
        {
            Content::Changes(c) => c[0].before.clone(),
            _ => panic!("{file}"),
        };
        assert_eq!(
            push(ProviderKind::GitHub, &[("X-GitHub-Event", "push")], "github/push.json").as_deref(),
            Some("737d38c599c1b2991664dfc6155d6bf516fcce36")
        );
        assert!(push(ProviderKind::GitLab, &[("X-Gitlab-Event", "Push Hook")], "gitlab/push-event.json").is_some());
        // This push created its branch (`before` is all zeros): nothing to compare with.
        assert_eq!(push(ProviderKind::Gitea, &[("X-Gitea-Event", "push")], "gitea/push-event.json"), None);
        assert!(push(ProviderKind::AzureDevOps, &[], "azuredevops/git.push.json").is_some());
    }
}
