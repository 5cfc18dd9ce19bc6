//! The status credentials document (`HERALD_STATUS_SECRET_ARN`, docs/statuses.md "Commit statuses"):
//! JSON keyed by provider (`github`: the public service only) or `provider:host[:port]`; each
//! entry names the API base requests start with (`api_url`, else the server's convention), Azure
//! DevOps entries their organization, and any entry may confine itself to `repositories` and
//! webhook secret scopes (`secrets`), and name the webhooks whose missed deliveries Herald asks
//! for again (`hooks`, docs/operations.md "Missed deliveries").
//! Errors name the key and the field, never a value; `Debug` never prints a secret.

use super::endpoint::Hook;
use super::github_app::GitHubApp;
use super::{Host, ServerApi};
use crate::glob::GlobList;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// One server's credential.
#[derive(Clone)]
pub enum Credential {
    /// A personal, project, repository or HTTP access token.
    Token(String),
    /// Bitbucket app passwords, Data Center user and password.
    Basic { username: String, password: String },
    /// A GitHub App installation (tokens minted on demand).
    GitHubApp(Arc<GitHubApp>),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Token(_) => "Token(<redacted>)",
            Self::Basic { .. } => "Basic(<redacted>)",
            Self::GitHubApp(_) => "GitHubApp(<redacted>)",
        })
    }
}

/// The word a credential's `secrets` list uses for the unnamed webhook secrets (docs/credentials.md
/// "Secrets"): deliveries verified by a secret of no named scope.
pub const UNNAMED_SCOPE: &str = "default";

/// One credentials-document entry: where it may go, what it presents, and whom it serves.
#[derive(Debug, Clone)]
pub struct ServerEntry {
    /// The key as written (`github`, `gitlab:git.example.com`), for messages.
    pub key: String,
    pub api: ServerApi,
    /// The only host it goes to: its key's, or the public service's for a bare key.
    pub host: Host,
    /// The API base every request starts with: `api_url`, else the server's convention.
    pub base: String,
    /// Azure DevOps: the organization whose URLs are called (and the only one served).
    pub organization: Option<String>,
    pub credential: Credential,
    /// Repositories it serves (`None`: every one on its host).
    repositories: Option<GlobList>,
    /// Webhook secret scopes whose deliveries may use it (`None`: every one).
    secrets: Option<Vec<String>>,
    /// The webhooks whose failed deliveries the `redeliver` function asks for again.
    pub hooks: Vec<Hook>,
}

impl ServerEntry {
    /// Whether a delivery for `repository`, verified by the secret scope `scope` (`None`: the
    /// unnamed secrets), may use this entry; why not, when it may not.
    pub fn admits(&self, repository: &str, scope: Option<&str>) -> Result<(), String> {
        if let Some(globs) = &self.repositories {
            if !globs.is_match(repository) {
                return Err(format!("the credential {:?} does not serve {repository} (repositories)", self.key));
            }
        }
        if let Some(secrets) = &self.secrets {
            let name = scope.unwrap_or(UNNAMED_SCOPE);
            if !secrets.iter().any(|s| s == name) {
                return Err(format!(
                    "the credential {:?} does not serve deliveries verified by the {name:?} webhook secrets (secrets)",
                    self.key
                ));
            }
        }
        Ok(())
    }

    /// Whether it confines itself to some repositories or secret scopes (`herald doctor`).
    pub fn confines(&self) -> bool {
        self.repositories.is_some() || self.secrets.is_some()
    }
}

/// Every credential, by (API, host).
#[derive(Default, Debug, Clone)]
pub struct Credentials {
    by_host: HashMap<(ServerApi, String), ServerEntry>,
}

impl Credentials {
    pub fn none() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// The keys present (for `herald` and logs: never the values).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.by_host.values().map(|e| e.key.clone()).collect();
        keys.sort();
        keys
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Vec<&ServerEntry> {
        let mut entries: Vec<&ServerEntry> = self.by_host.values().collect();
        entries.sort_by(|a, b| a.key.cmp(&b.key));
        entries
    }

    /// The entry that may go to `host`: its own `provider:host` entry, or the bare provider
    /// entry when `host` is that provider's public service. Never any other.
    pub fn for_host(&self, api: ServerApi, host: &Host) -> Option<&ServerEntry> {
        self.by_host.get(&(api, host.0.clone()))
    }

    /// Reads the document.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            format!(
                "not JSON (line {}, column {}): expected {{\"github\": {{\"token\": \"...\"}}, \"gitlab:host\": {{...}}}}",
                e.line(),
                e.column()
            )
        })?;
        let object = doc.as_object().ok_or("expected a JSON object keyed by provider or provider:host")?;
        let mut by_host = HashMap::new();
        for (key, value) in object {
            let entry = entry(key, value)?;
            let slot = (entry.api, entry.host.0.clone());
            if by_host.contains_key(&slot) {
                return Err(format!("{key:?}: a second entry for {} {}", entry.api.key(), entry.host.0));
            }
            by_host.insert(slot, entry);
        }
        Ok(Self { by_host })
    }
}

/// One entry of the document.
fn entry(key: &str, value: &Value) -> Result<ServerEntry, String> {
    let (word, named_host) = match key.split_once(':') {
        Some((word, host)) => (word, Some(host.trim().to_ascii_lowercase())),
        None => (key, None),
    };
    let api = ServerApi::parse_key(word).ok_or_else(|| format!("{key:?}: unknown provider ({})", ServerApi::KEYS))?;
    let host = match named_host {
        Some(h) => {
            // The same reading as a payload's host, so the two compare equal.
            let parsed = crate::change::ServerAddress::from_url(&format!("https://{h}"))
                .filter(|a| a.host == h || format!("{}:443", a.host) == h)
                .ok_or_else(|| format!("{key:?}: the host must be host or host:port"))?;
            Host(parsed.host)
        }
        None => Host(
            api.public_host()
                .ok_or_else(|| format!("{key:?}: {word} has no public service; name the server ({word}:host)"))?
                .to_owned(),
        ),
    };
    let object = value.as_object().ok_or_else(|| format!("{key:?}: expected an object"))?;
    let known = [
        "token",
        "username",
        "password",
        "app_password",
        "app_id",
        "private_key",
        "installation_id",
        "api_url",
        "organization",
        "repositories",
        "secrets",
        "hooks",
    ];
    if let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{key:?}: unknown field {unknown:?}"));
    }
    let organization = match (api, object.get("organization")) {
        (ServerApi::AzureDevOps, Some(Value::String(org))) if valid_organization(org) => Some(org.clone()),
        (ServerApi::AzureDevOps, Some(_)) => {
            return Err(format!("{key:?}: organization must be the organization's name (letters, digits, - _ .)"))
        }
        (ServerApi::AzureDevOps, None) => {
            return Err(format!("{key:?}: organization is required: only that organization's URLs are called"))
        }
        (_, Some(_)) => return Err(format!("{key:?}: organization is for Azure DevOps only")),
        (_, None) => None,
    };
    let base = match object.get("api_url") {
        Some(Value::String(url)) => api_url(url, &host).map_err(|e| format!("{key:?}: api_url {e}"))?,
        Some(_) => return Err(format!("{key:?}: api_url must be a URL")),
        // Azure DevOps: the organization's root (`https://dev.azure.com/<org>`); an old
        // `<org>.visualstudio.com` host is the organization's root itself.
        None => match &organization {
            Some(org) if !host.0.ends_with(".visualstudio.com") => format!("{}/{org}", api.conventional_base(&host.0)),
            _ => api.conventional_base(&host.0),
        },
    };
    let repositories = match object.get("repositories") {
        None => None,
        Some(v) => {
            let patterns = strings(v).ok_or_else(|| format!("{key:?}: repositories must be a list of globs"))?;
            Some(GlobList::new(&patterns, true).map_err(|e| format!("{key:?}: repositories{e}"))?)
        }
    };
    let secrets = match object.get("secrets") {
        None => None,
        Some(v) => match strings(v) {
            Some(names) if !names.is_empty() => Some(names),
            _ => {
                return Err(format!(
                    "{key:?}: secrets must be a non-empty list of webhook secret scopes (\"{UNNAMED_SCOPE}\" for the unnamed ones)"
                ))
            }
        },
    };
    let credential = credential(key, api, object)?;
    let hooks = match object.get("hooks") {
        None => Vec::new(),
        Some(v) => hooks(api, v, &credential, repositories.as_ref()).map_err(|e| format!("{key:?}: {e}"))?,
    };
    Ok(ServerEntry { key: key.to_owned(), api, host, base, organization, credential, repositories, secrets, hooks })
}

/// The most hooks one entry names: each is listed every sweep.
pub const MAX_HOOKS_PER_ENTRY: usize = 50;

/// An entry's `hooks`: each one its server can list and resend, an App's own only with App
/// credentials, a repository's only one the entry serves.
fn hooks(
    api: ServerApi,
    value: &Value,
    credential: &Credential,
    serves: Option<&GlobList>,
) -> Result<Vec<Hook>, String> {
    let texts =
        strings(value).ok_or("hooks must be a list (\"repo:<owner>/<repo>:<id>\", \"org:<org>:<id>\", \"app\")")?;
    if texts.len() > MAX_HOOKS_PER_ENTRY {
        return Err(format!("hooks names {} webhooks; at most {MAX_HOOKS_PER_ENTRY}", texts.len()));
    }
    let mut hooks: Vec<Hook> = Vec::new();
    for text in &texts {
        let hook = Hook::parse(api, text)?;
        match &hook {
            Hook::App if !matches!(credential, Credential::GitHubApp(_)) => {
                return Err("hook \"app\" is the GitHub App's own webhook: it needs app_id and private_key".into())
            }
            Hook::Repository { repository, .. } if serves.is_some_and(|g| !g.is_match(&repository.name())) => {
                return Err(format!("hook {text:?} names a repository this entry does not serve (repositories)"))
            }
            _ => {}
        }
        if !hooks.contains(&hook) {
            hooks.push(hook);
        }
    }
    Ok(hooks)
}

/// A list of strings.
fn strings(value: &Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(|v| v.as_str().map(str::to_owned)).collect()
}

/// Azure DevOps organization names: letters, digits, `-`, `_`, `.`.
fn valid_organization(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 50
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.bytes().all(|b| b == b'.')
}

/// An `api_url`: HTTPS (plain HTTP only on loopback), on the entry's own host, with a path and
/// nothing after it; without its trailing `/`.
fn api_url(url: &str, host: &Host) -> Result<String, String> {
    let address = crate::change::ServerAddress::from_url(url).ok_or("must be https://host[:port][/path]")?;
    if address.host != host.0 {
        return Err(format!("names {}, not the entry's host {}", address.host, host.0));
    }
    let loopback = super::is_loopback(&host.0);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase()).unwrap_or_default();
    if scheme != "https" && !(scheme == "http" && loopback) {
        return Err("must be HTTPS: Herald sends credentials only over HTTPS (plain HTTP on loopback only)".into());
    }
    if url.contains(['?', '#', '@', '\\', ' '])
        || url.chars().any(char::is_control)
        || url.contains("/../")
        || url.ends_with("/..")
    {
        return Err("must be a plain URL (no query, fragment, user or ..)".into());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn credential(key: &str, api: ServerApi, object: &Map<String, Value>) -> Result<Credential, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        match object.get(name) {
            None => Ok(None),
            // A value goes into an HTTP header: a line break would smuggle another header.
            Some(Value::String(s)) if s.trim().chars().any(char::is_control) && name != "private_key" => {
                Err(format!("{key:?}: {name} must not contain control characters"))
            }
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(format!("{key:?}: {name} must be a non-empty string")),
        }
    };
    if object.contains_key("app_id") {
        if api != ServerApi::GitHub {
            return Err(format!("{key:?}: app_id is for GitHub Apps only"));
        }
        return GitHubApp::from_fields(object)
            .map(|app| Credential::GitHubApp(Arc::new(app)))
            .map_err(|e| format!("{key:?}: {e}"));
    }
    if let Some(username) = text("username")? {
        let password = match (text("app_password")?, text("password")?) {
            (Some(p), None) | (None, Some(p)) => p,
            _ => return Err(format!("{key:?}: username needs one of app_password or password")),
        };
        if matches!(api, ServerApi::GitHub | ServerApi::GitLab) {
            return Err(format!("{key:?}: {} takes a token, not a username and password", api.key()));
        }
        return Ok(Credential::Basic { username, password });
    }
    match text("token")? {
        Some(token) => Ok(Credential::Token(token)),
        None => Err(format!("{key:?}: expected token, username and app_password/password, or a GitHub App")),
    }
}
