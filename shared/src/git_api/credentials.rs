//! The status credentials document (`HERALD_STATUS_SECRET_ARN`, README "Commit statuses"):
//! JSON keyed by provider (`github`: the public service only) or `provider:host[:port]`.
//! Errors name the key and the field, never a value; `Debug` never prints a secret.

use super::github_app::GitHubApp;
use super::{Host, ServerApi};
use serde_json::Value;
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

/// Every credential, by (API, host); `None` host: the API's public service.
#[derive(Default, Debug, Clone)]
pub struct Credentials {
    by_host: HashMap<(ServerApi, Option<String>), Credential>,
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
        let mut keys: Vec<String> = self
            .by_host
            .keys()
            .map(|(api, host)| match host {
                Some(h) => format!("{}:{h}", api.key()),
                None => api.key().to_owned(),
            })
            .collect();
        keys.sort();
        keys
    }

    /// The credential that may go to `host`: its own `provider:host` entry, or the bare provider
    /// entry when `host` is that provider's public service. Never any other.
    pub fn for_host(&self, api: ServerApi, host: &Host) -> Option<&Credential> {
        self.by_host
            .get(&(api, Some(host.0.clone())))
            .or_else(|| (api.public_host() == Some(host.0.as_str())).then(|| self.by_host.get(&(api, None))).flatten())
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
            let (word, host) = match key.split_once(':') {
                Some((word, host)) => (word, Some(host.trim().to_ascii_lowercase())),
                None => (key.as_str(), None),
            };
            let api = ServerApi::parse_key(word).ok_or_else(|| {
                format!("{key:?}: unknown provider (github, gitlab, bitbucket, bitbucket-server, gitea, forgejo, azure-devops)")
            })?;
            if let Some(h) = &host {
                let bad = h.is_empty() || h.contains(['/', '@', ' ', '?', '#']);
                if bad {
                    return Err(format!("{key:?}: the host must be host or host:port"));
                }
            } else if api.public_host().is_none() {
                return Err(format!("{key:?}: {word} has no public service; name the server ({word}:host)"));
            }
            let credential = credential(key, api, value)?;
            by_host.insert((api, host), credential);
        }
        Ok(Self { by_host })
    }
}

fn credential(key: &str, api: ServerApi, value: &Value) -> Result<Credential, String> {
    let object = value.as_object().ok_or_else(|| format!("{key:?}: expected an object"))?;
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
    let known = ["token", "username", "password", "app_password", "app_id", "private_key", "installation_id"];
    if let Some(unknown) = object.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{key:?}: unknown field {unknown:?}"));
    }
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
