//! Webhook secrets: the secret document (one secret, or rotated lists and named scopes), the
//! scope a verified delivery gets, and where the secrets come from (inline, or Secrets Manager
//! cached for [`SECRET_TTL`]). Values are never logged, not even in errors.

use crate::git_api::credentials::Credentials;
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

/// The shortest key Herald accepts, in bytes (after `whsec_` decoding): shorter ones can be guessed.
pub const MIN_KEY_BYTES: usize = 16;

/// The kind of scheme a key serves. One key serves one kind, so a signature made for one scheme
/// can never pass as another (a Standard Webhooks signature over `id.ts.body` is a plain HMAC of
/// those bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Hex HMAC-SHA256 (GitHub, Bitbucket, Gitea), tokens (GitLab) and Basic auth (Azure DevOps):
    /// every secret not written `whsec_…`.
    Shared,
    /// Standard Webhooks (generic senders, GitLab signing tokens): `whsec_<base64>` secrets.
    StandardWebhooks,
}

/// One webhook secret. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Secret {
    scheme: Scheme,
    key: Vec<u8>,
}

impl Secret {
    /// Reads a configured value: `whsec_<base64>` is a Standard Webhooks key, anything else a
    /// shared secret. Keys under [`MIN_KEY_BYTES`] are refused.
    pub fn parse(value: &str) -> Result<Self, KeyError> {
        let secret = Self::decode(value)?;
        if secret.key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort);
        }
        Ok(secret)
    }

    /// A secret for signing test deliveries (tests, the CLI): as [`Secret::parse`], without the
    /// length check (a `whsec_` value that is not base64 is then a shared secret).
    pub fn new(value: &str) -> Self {
        Self::decode(value).unwrap_or_else(|_| Self { scheme: Scheme::Shared, key: value.as_bytes().to_vec() })
    }

    /// The scheme and key a value is written for.
    fn decode(value: &str) -> Result<Self, KeyError> {
        Ok(match value.strip_prefix("whsec_") {
            Some(b64) => {
                Self { scheme: Scheme::StandardWebhooks, key: BASE64.decode(b64).map_err(|_| KeyError::NotBase64)? }
            }
            None => Self { scheme: Scheme::Shared, key: value.as_bytes().to_vec() },
        })
    }

    /// A key of `scheme` given as bytes.
    pub fn from_key(scheme: Scheme, key: Vec<u8>) -> Self {
        Self { scheme, key }
    }

    /// The HMAC key, token or password.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }
}

/// Why one configured key is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is shorter than 16 bytes")]
    TooShort,
    #[error("starts with whsec_ but the rest is not base64")]
    NotBase64,
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

    /// The named scope's name (`None`: the unnamed list), as credentials' `secrets` lists match it.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Default => None,
            Self::Named(name) => Some(name),
        }
    }
}

/// A secret document that could not be read. Never quotes the document: it holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("webhook secret JSON at line {line} column {column}: {problem}; write the secret itself, or {{\"secrets\": [\"…\"], \"named\": {{\"team\": [\"…\"]}}}}")]
    Json { line: usize, column: usize, problem: &'static str },
    #[error("webhook secret JSON: {0} must not contain an empty secret")]
    EmptySecret(String),
    #[error("webhook secret JSON: name {0:?} must match [A-Za-z0-9_-]{{1,64}}")]
    BadName(String),
    #[error(
        "webhook secret JSON: name {0:?} is reserved: credentials' \"secrets\" lists use it for the unnamed secrets"
    )]
    ReservedName(String),
    #[error("webhook secret: a key of {field} {problem}")]
    Key { field: String, problem: KeyError },
    #[error("webhook secret JSON: one secret appears in two scopes ({0} and {1}); a delivery it signs could start either's triggers")]
    TwoScopes(String, String),
}

/// Every secret Herald accepts: the unnamed list and the named ones (docs/credentials.md "Secrets").
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
            let secret =
                Secret::parse(trimmed).map_err(|problem| SecretsError::Key { field: "the secret".into(), problem })?;
            return Ok(Self { unnamed: vec![secret], named: Vec::new() });
        }
        let doc: SecretDocument = serde_json::from_str(trimmed).map_err(|e| SecretsError::Json {
            line: e.line(),
            column: e.column(),
            problem: match e.classify() {
                serde_json::error::Category::Eof => "the document ends early",
                serde_json::error::Category::Syntax | serde_json::error::Category::Io => "not valid JSON",
                serde_json::error::Category::Data => "not the expected shape",
            },
        })?;
        let list = |field: String, values: Vec<String>| -> Result<Vec<Secret>, SecretsError> {
            if values.iter().any(|v| v.is_empty()) {
                return Err(SecretsError::EmptySecret(field));
            }
            values
                .iter()
                .map(|v| Secret::parse(v).map_err(|problem| SecretsError::Key { field: field.clone(), problem }))
                .collect()
        };
        let unnamed = list("secrets".into(), doc.secrets)?;
        let mut named = Vec::new();
        for (name, values) in doc.named {
            if !crate::config::is_valid_name(&name) {
                return Err(SecretsError::BadName(name));
            }
            // Credentials' `secrets` lists call the unnamed list "default".
            if name == crate::git_api::credentials::UNNAMED_SCOPE {
                return Err(SecretsError::ReservedName(name));
            }
            let secrets = list(format!("named.{name}"), values)?;
            named.push((name, secrets));
        }
        let secrets = Self { unnamed, named };
        secrets.check_scopes_apart()?;
        Ok(secrets)
    }

    /// One value under two scopes would silently land in the first one tried.
    fn check_scopes_apart(&self) -> Result<(), SecretsError> {
        let mut scopes: Vec<(String, &[Secret])> = vec![("secrets".into(), &self.unnamed)];
        scopes.extend(self.named.iter().map(|(name, s)| (format!("named.{name}"), s.as_slice())));
        for (i, (a, first)) in scopes.iter().enumerate() {
            for (b, second) in &scopes[i + 1..] {
                if first.iter().any(|x| second.iter().any(|y| x.scheme == y.scheme && x.key == y.key)) {
                    return Err(SecretsError::TwoScopes(a.clone(), b.clone()));
                }
            }
        }
        Ok(())
    }

    /// True when no secret is configured (Herald then rejects everything).
    pub fn is_empty(&self) -> bool {
        self.unnamed.is_empty() && self.named.iter().all(|(_, s)| s.is_empty())
    }

    /// The scope of the first key of `scheme` for which `verifies` holds, if any. Keys of the
    /// other kind are never offered.
    pub fn find_scope(&self, scheme: Scheme, mut verifies: impl FnMut(&[u8]) -> bool) -> Option<SecretScope> {
        let mut any = |secrets: &[Secret]| secrets.iter().any(|s| s.scheme == scheme && verifies(&s.key));
        if any(&self.unnamed) {
            return Some(SecretScope::Default);
        }
        self.named.iter().find(|(_, secrets)| any(secrets)).map(|(name, _)| SecretScope::Named(name.clone()))
    }

    /// How many keys a delivery of `scheme` may be checked against: the bound of the work done
    /// before authentication.
    pub fn count(&self, scheme: Scheme) -> usize {
        self.unnamed.iter().chain(self.named.iter().flat_map(|(_, s)| s)).filter(|s| s.scheme == scheme).count()
    }
}

/// Where a secret document comes from: the webhook secrets, or (as [`ServerCredentials`]) the
/// Git servers' API credentials.
pub enum Secrets<T = WebhookSecrets> {
    /// Inline (`HERALD_WEBHOOK_SECRET`, `HERALD_STATUS_SECRET`: local runs and tests) or none.
    Fixed(Arc<T>),
    /// Secrets Manager, reloaded after [`SECRET_TTL`].
    Loaded(SecretCache<T>),
}

impl<T> Secrets<T> {
    /// The current document (a failed first load from Secrets Manager is an error).
    pub async fn get(&self) -> Result<Arc<T>, AwsError> {
        match self {
            Self::Fixed(value) => Ok(value.clone()),
            Self::Loaded(cache) => cache.get().await,
        }
    }
}

/// A secret document loaded from a [`SecretSource`], read with `parse`, cached for
/// [`SECRET_TTL`]: the webhook secrets, and the Git servers' status credentials.
pub struct SecretCache<T = WebhookSecrets> {
    source: Arc<dyn SecretSource>,
    parse: fn(Option<&str>) -> T,
    /// What it is, for log lines (`webhook secret`).
    what: &'static str,
    cached: Mutex<Option<(Instant, Arc<T>)>>,
}

impl SecretCache<WebhookSecrets> {
    pub fn new(source: Arc<dyn SecretSource>) -> Self {
        Self::reading(source, parse_secret_text, "webhook secret")
    }
}

impl<T> SecretCache<T> {
    /// A cache of the document at `source`, read with `parse` (which logs what is wrong with it).
    pub fn reading(source: Arc<dyn SecretSource>, parse: fn(Option<&str>) -> T, what: &'static str) -> Self {
        Self { source, parse, what, cached: Mutex::new(None) }
    }

    /// The current document. A failed refresh keeps serving the previous one; a failed first
    /// load is an error (the webhook answers 503: the sender retries, nothing is accepted
    /// unverified).
    pub async fn get(&self) -> Result<Arc<T>, AwsError> {
        let mut cached = self.cached.lock().await;
        if let Some((at, value)) = cached.as_ref() {
            if at.elapsed() < SECRET_TTL {
                return Ok(value.clone());
            }
        }
        match self.source.load().await {
            Ok(text) => {
                let value = Arc::new((self.parse)(text.as_deref()));
                *cached = Some((Instant::now(), value.clone()));
                Ok(value)
            }
            Err(e) => match cached.as_ref() {
                Some((_, stale)) => {
                    tracing::warn!(error = %e, "could not refresh the {}; using the cached one", self.what);
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }
}

/// Where the Git servers' API credentials come from (commit statuses, changed-file lookups):
/// `HERALD_STATUS_SECRET_ARN`, reloaded like the webhook secret, or inline.
pub type ServerCredentials = Secrets<Credentials>;

/// Reads the credentials document; an unusable one means no credentials (every status then says
/// so), logged without any value.
pub fn parse_credentials(text: Option<&str>) -> Credentials {
    match text.map(Credentials::parse) {
        None => Credentials::none(),
        Some(Ok(credentials)) => credentials,
        Some(Err(e)) => {
            tracing::error!(error = %e, "Git server credentials unusable: no commit status is posted, no changed file asked for");
            Credentials::none()
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
        let plain = WebhookSecrets::parse("s3cret-0123456789").unwrap();
        assert_eq!(plain.find_scope(Scheme::Shared, |k| k == b"s3cret-0123456789"), Some(SecretScope::Default));
        let doc = WebhookSecrets::parse(
            r#"{"secrets":["new-0123456789abcdef","old-0123456789abcdef"],"named":{"team-a":["a1-0123456789abcdef"]}}"#,
        )
        .unwrap();
        assert_eq!(doc.find_scope(Scheme::Shared, |k| k == b"old-0123456789abcdef"), Some(SecretScope::Default));
        assert_eq!(
            doc.find_scope(Scheme::Shared, |k| k == b"a1-0123456789abcdef"),
            Some(SecretScope::Named("team-a".into()))
        );
        assert_eq!(doc.find_scope(Scheme::Shared, |k| k == b"nope"), None);
        assert_eq!(doc.find_scope(Scheme::StandardWebhooks, |k| k == b"old-0123456789abcdef"), None);
        assert!(WebhookSecrets::parse("").unwrap().is_empty());
        assert!(WebhookSecrets::parse(r#"{"secrets":[]}"#).unwrap().is_empty());
        assert!(matches!(WebhookSecrets::parse(r#"{"secret":["x"]}"#), Err(SecretsError::Json { .. })));
        assert!(matches!(WebhookSecrets::parse(r#"{"secrets":[""]}"#), Err(SecretsError::EmptySecret(_))));
        assert!(matches!(WebhookSecrets::parse(r#"{"named":{"a b":["x"]}}"#), Err(SecretsError::BadName(_))));
        assert!(!format!("{:?}", doc).contains("a1-0123"));
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
