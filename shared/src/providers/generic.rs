//! Generic senders: Standard Webhooks v1 signatures over Herald's own change document.
//!
//! ```json
//! { "repository": "lab/tool", "ref": "refs/heads/main", "commit": "<40-hex sha>",
//!   "changed_files": ["src/main.rs"], "author": "ci-bot", "message": "release candidate" }
//! ```

use super::{from_json, BodyError, Content, Delivery, Headers};
use crate::auth::verify_standard_webhook;
use crate::change::{ChangedFiles, ProviderKind, PushParts};
use crate::secrets::{Scheme, SecretScope, WebhookSecrets};
use serde::Deserialize;

/// Standard Webhooks v1 (`webhook-id`, `webhook-timestamp`, `webhook-signature`); GitLab's
/// signing tokens use it too.
pub fn authenticate(headers: &Headers, body: &[u8], secrets: &WebhookSecrets, now: i64) -> Option<SecretScope> {
    let id = headers.get("webhook-id")?;
    let timestamp = headers.get("webhook-timestamp")?;
    let signatures = headers.get("webhook-signature")?;
    secrets.find_scope(Scheme::StandardWebhooks, |key| {
        verify_standard_webhook(key, id, timestamp, body, signatures, now).is_ok()
    })
}

/// Herald's change document. Unknown fields are refused, as in the configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeDocument {
    repository: String,
    #[serde(rename = "ref")]
    git_ref: String,
    commit: String,
    changed_files: Option<Vec<String>>,
    #[serde(default)]
    author: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    clone_url: String,
}

/// The signed `webhook-id`: Standard Webhooks senders always send one, so empty is malformed.
pub(crate) fn signed_delivery_id(headers: &Headers) -> Result<String, BodyError> {
    match headers.get("webhook-id").map(str::trim) {
        None => Err(BodyError::MissingHeader("webhook-id")),
        Some("") => Err(BodyError::Invalid("webhook-id is empty".into())),
        Some(id) => Ok(id.to_owned()),
    }
}

pub fn parse(headers: &Headers, body: &[u8]) -> Result<Delivery, BodyError> {
    let delivery = signed_delivery_id(headers)?;
    let doc: ChangeDocument = from_json(body)?;
    if doc.repository.trim().is_empty() {
        return Err(BodyError::Invalid("\"repository\" must not be empty".into()));
    }
    if !doc.git_ref.starts_with("refs/heads/") && !doc.git_ref.starts_with("refs/tags/") {
        return Err(BodyError::Invalid(format!("\"ref\" {:?} must start with refs/heads/ or refs/tags/", doc.git_ref)));
    }
    let hex = doc.commit.bytes().all(|b| b.is_ascii_hexdigit());
    if !(hex && (doc.commit.len() == 40 || doc.commit.len() == 64)) {
        return Err(BodyError::Invalid("\"commit\" must be a full 40- or 64-character hex commit id".into()));
    }
    let files = match doc.changed_files {
        Some(paths) => ChangedFiles::complete(paths),
        None => ChangedFiles::unknown(),
    };
    let change: crate::change::Change = PushParts {
        provider: ProviderKind::Generic,
        delivery: delivery.clone(),
        repository: doc.repository,
        git_ref: doc.git_ref,
        commit: doc.commit.to_ascii_lowercase(),
        deleted: doc.deleted,
        files,
        author: doc.author,
        message: doc.message,
        clone_url: doc.clone_url,
    }
    .into();
    Ok(Delivery { event: change.event.as_str().to_owned(), delivery, content: Content::Changes(vec![change]) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{sign_standard_webhook, Secret};
    use crate::change::EventKind;

    const DOC: &str = r#"{ "repository": "lab/tool", "ref": "refs/heads/main", "commit": "0123456789abcdef0123456789abcdef01234567", "changed_files": ["src/main.rs"], "author": "ci-bot", "message": "release candidate" }"#;

    fn headers() -> Headers {
        [("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000")].into_iter().collect()
    }

    #[test]
    fn parses_the_change_document() {
        let d = parse(&headers(), DOC.as_bytes()).unwrap();
        assert_eq!((d.event.as_str(), d.delivery.as_str()), ("push", "msg_1"));
        let Content::Changes(c) = d.content else { panic!() };
        assert_eq!((c[0].repository.as_str(), c[0].branch.as_deref()), ("lab/tool", Some("main")));
        assert!(c[0].files.complete);
        assert_eq!(c[0].author, "ci-bot");
        let tag = DOC.replace("refs/heads/main", "refs/tags/v1").replace(r#""changed_files": ["src/main.rs"], "#, "");
        let Content::Changes(c) = parse(&headers(), tag.as_bytes()).unwrap().content else { panic!() };
        assert_eq!(c[0].event, EventKind::Tag);
        assert!(!c[0].files.complete);
    }

    #[test]
    fn rejects_bad_documents() {
        for bad in [
            DOC.replace("0123456789abcdef0123456789abcdef01234567", "abc"),
            DOC.replace("refs/heads/main", "main"),
            DOC.replace(r#""author""#, r#""authr""#),
            DOC.replace(r#""repository": "lab/tool", "#, ""),
            "{".to_owned(),
        ] {
            assert!(parse(&headers(), bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn standard_webhooks_signature() {
        let secrets = WebhookSecrets::parse(r#"{"secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}"#).unwrap();
        let sig = sign_standard_webhook(
            &Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "msg_1",
            1_700_000_000,
            DOC.as_bytes(),
        );
        let mut h = headers();
        h.insert("webhook-signature", &sig);
        assert_eq!(authenticate(&h, DOC.as_bytes(), &secrets, 1_700_000_100), Some(SecretScope::Default));
        assert_eq!(authenticate(&h, DOC.as_bytes(), &secrets, 1_700_001_000), None);
        assert_eq!(authenticate(&headers(), DOC.as_bytes(), &secrets, 1_700_000_000), None);
    }
}
