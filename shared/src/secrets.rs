//! Webhook secrets: the secret document (one secret, or rotated lists and named scopes), the
//! scope a verified delivery gets, and where the secrets come from (inline, or Secrets Manager
//! cached for [`SECRET_TTL`]). Values are never logged, not even in errors.

use crate::ports::{AwsError, SecretSource};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long loaded secrets are trusted before Secrets Manager is asked again (rotation).
pub const SECRET_TTL: Duration = Duration::from_secs(300);

/// One webhook secret. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret {
    pub(crate) raw: Vec<u8>,
    /// The key for Standard Webhooks: `whsec_<base64>` decoded, else the raw bytes.
    pub(crate) standard_key: Vec<u8>,
}

impl Secret {
    pub fn new(value: &str) -> Self {
        let standard_key = value
            .strip_prefix("whsec_")
            .and_then(|b64| BASE64.decode(b64).ok())
            .unwrap_or_else(|| value.as_bytes().to_vec());
        Self { raw: value.as_bytes().to_vec(), standard_key }
    }

    /// The secret as configured (HMAC key, token or password).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The key to use for Standard Webhooks signatures.
    pub fn standard_key(&self) -> &[u8] {
        &self.standard_key
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which secret list verified a delivery; it confines the triggers the delivery may start.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SecretScope {
    /// The unnamed list: triggers that name no secret.
    Default,
    /// A named list: only the triggers that name it.
    Named(String),
}

impl SecretScope {
    /// Whether a trigger naming `secret` (or none) may be started by this delivery.
    pub fn admits(&self, secret: Option<&str>) -> bool {
        match (self, secret) {
            (Self::Default, None) => true,
            (Self::Named(scope), Some(name)) => scope == name,
            _ => false,
        }
    }
}

/// A secret document that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("webhook secret JSON is invalid: {0}")]
    Json(String),
    #[error("webhook secret JSON: {0} must not contain an empty secret")]
    EmptySecret(String),
    #[error("webhook secret JSON: name {0:?} must match [A-Za-z0-9_-]{{1,64}}")]
    BadName(String),
}

/// Every secret Herald accepts: the unnamed list and the named ones (README "Secrets").
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    unnamed: Vec<Secret>,
    named: Vec<(String, Vec<Secret>)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretDocument {
    #[serde(default)]
    secrets: Vec<String>,
    #[serde(default)]
    named: BTreeMap<String, Vec<String>>,
}

impl WebhookSecrets {
    /// No secret at all: every request is rejected.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the secret string: the secret itself, or `{"secrets": [...], "named": {...}}`.
    pub fn parse(text: &str) -> Result<Self, SecretsError> {
        let trimmed = text.trim();
        if !trimmed.starts_with('{') {
            if trimmed.is_empty() {
                return Ok(Self::none());
            }
            return Ok(Self { unnamed: vec![Secret::new(trimmed)], named: Vec::new() });
        }
        let doc: SecretDocument = serde_json::from_str(trimmed).map_err(|e| SecretsError::Json(e.to_string()))?;
        let list = |field: String, values: Vec<String>| -> Result<Vec<Secret>, SecretsError> {
            if values.iter().any(|v| v.is_empty()) {
                return Err(SecretsError::EmptySecret(field));
            }
            Ok(values.iter().map(|v| Secret::new(v)).collect())
        };
        let unnamed = list("secrets".into(), doc.secrets)?;
        let mut named = Vec::new();
        for (name, values) in doc.named {
            if !crate::config::is_valid_name(&name) {
                return Err(SecretsError::BadName(name));
            }
            let secrets = list(format!("named.{name}"), values)?;
            named.push((name, secrets));
        }
        Ok(Self { unnamed, named })
    }

    /// True when no secret is configured (Herald then rejects everything).
    pub fn is_empty(&self) -> bool {
        self.unnamed.is_empty() && self.named.iter().all(|(_, s)| s.is_empty())
    }

    /// The scope of the first secret for which `verifies` holds, if any.
    pub fn find_scope(&self, mut verifies: impl FnMut(&Secret) -> bool) -> Option<SecretScope> {
        if self.unnamed.iter().any(&mut verifies) {
            return Some(SecretScope::Default);
        }
        self.named
            .iter()
            .find(|(_, secrets)| secrets.iter().any(&mut verifies))
            .map(|(name, _)| SecretScope::Named(name.clone()))
    }
}

/// Where the webhook secrets come from.
pub enum Secrets {
    /// `HERALD_WEBHOOK_SECRET` (local runs and tests) or none at all.
    Fixed(Arc<WebhookSecrets>),
    /// Secrets Manager, reloaded after [`SECRET_TTL`].
    Loaded(SecretCache),
}

/// Secrets loaded from a [`SecretSource`], cached for [`SECRET_TTL`].
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    cached: Mutex<Option<(Instant, Arc<WebhookSecrets>)>>,
}

impl SecretCache {
    pub fn new(source: Arc<dyn SecretSource>) -> Self {
        Self { source, cached: Mutex::new(None) }
    }

    /// The current secrets. A failed refresh keeps serving the previous ones; a failed first
    /// load is an error (answered 503: the sender retries, nothing is accepted unverified).
    pub async fn get(&self) -> Result<Arc<WebhookSecrets>, AwsError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, secrets)) = cached.as_ref() {
            if at.elapsed() < SECRET_TTL {
                return Ok(secrets.clone());
            }
        }
        match self.source.load().await {
            Ok(text) => {
                let secrets = Arc::new(parse_secret_text(text.as_deref()));
                *cached = Some((Instant::now(), secrets.clone()));
                Ok(secrets)
            }
            Err(e) => match cached.as_ref() {
                Some((_, stale)) => {
                    tracing::warn!(error = %e, "could not refresh the webhook secret; using the cached one");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }
}

/// Reads a secret string; an unreadable one means no secret (fail closed), logged without the value.
pub fn parse_secret_text(text: Option<&str>) -> WebhookSecrets {
    match text.map(WebhookSecrets::parse) {
        None => WebhookSecrets::none(),
        Some(Ok(secrets)) => secrets,
        Some(Err(e)) => {
            tracing::error!(error = %e, "webhook secret unusable; every request will be rejected");
            WebhookSecrets::none()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_documents() {
        let plain = WebhookSecrets::parse("s3cret").unwrap();
        assert_eq!(plain.find_scope(|s| s.raw() == b"s3cret"), Some(SecretScope::Default));
        let doc = WebhookSecrets::parse(r#"{"secrets":["new","old"],"named":{"team-a":["a1"]}}"#).unwrap();
        assert_eq!(doc.find_scope(|s| s.raw() == b"old"), Some(SecretScope::Default));
        assert_eq!(doc.find_scope(|s| s.raw() == b"a1"), Some(SecretScope::Named("team-a".into())));
        assert_eq!(doc.find_scope(|s| s.raw() == b"nope"), None);
        assert!(WebhookSecrets::parse("").unwrap().is_empty());
        assert!(WebhookSecrets::parse(r#"{"secrets":[]}"#).unwrap().is_empty());
        assert!(matches!(WebhookSecrets::parse(r#"{"secret":["x"]}"#), Err(SecretsError::Json(_))));
        assert!(matches!(WebhookSecrets::parse(r#"{"secrets":[""]}"#), Err(SecretsError::EmptySecret(_))));
        assert!(matches!(WebhookSecrets::parse(r#"{"named":{"a b":["x"]}}"#), Err(SecretsError::BadName(_))));
        assert!(!format!("{:?}", doc).contains("a1"));
    }

    #[test]
    fn scopes_admit_only_their_triggers() {
        assert!(SecretScope::Default.admits(None));
        assert!(!SecretScope::Default.admits(Some("team-a")));
        let a = SecretScope::Named("team-a".into());
        assert!(a.admits(Some("team-a")));
        assert!(!a.admits(Some("team-b")));
        assert!(!a.admits(None));
    }

    #[test]
    fn a_malformed_document_is_reported_without_its_values() {
        for doc in [
            r#"{"secrets": "hunter2-secret-value"}"#,
            r#"{"secrets": ["ok-0123456789abcdef"], "named": {"team": "hunter2-secret-value"}}"#,
            r#"{"secrets": [hunter2-secret-value]}"#,
            r#"{"secrets": ["hunter2-secret-value"], "hunter2-secret-value": 1}"#,
        ] {
            let error = WebhookSecrets::parse(doc).unwrap_err().to_string();
            assert!(!error.contains("hunter2"), "{error}");
            assert!(error.contains("line 1"), "says where: {error}");
        }
    }

    #[test]
    fn weak_and_ambiguous_keys_make_the_document_invalid() {
        assert!(WebhookSecrets::parse("whsec_").is_err(), "an empty Standard Webhooks key");
        assert!(WebhookSecrets::parse("whsec_c2hvcnQ=").is_err(), "5 bytes after decoding");
        assert!(WebhookSecrets::parse("whsec_!!!not-base64!!!").is_err());
        assert!(WebhookSecrets::parse("short-secret").is_err(), "12 bytes");
        assert!(WebhookSecrets::parse(r#"{"secrets":["0123456789abcdef","x"]}"#).is_err());
        assert!(WebhookSecrets::parse("0123456789abcdef").is_ok(), "16 bytes");
        let twice = r#"{"secrets":["same-value-0123456789"],"named":{"a":["same-value-0123456789"]}}"#;
        assert!(WebhookSecrets::parse(twice).unwrap_err().to_string().contains("two scopes"));
        let twice = r#"{"named":{"a":["same-value-0123456789"],"b":["same-value-0123456789"]}}"#;
        assert!(WebhookSecrets::parse(twice).is_err());
    }
}
