//! The Git servers' APIs (README "Commit statuses"): which API each provider speaks, the
//! credentials for each host (`credentials`), GitHub App installation tokens (`github_app`),
//! one request builder per server (`statuses`), and sending with bounded retries. The HTTPS
//! adapter is `https` (hyper with the SDK's rustls and ring).

pub mod changed_files;
pub mod credentials;
pub mod github_app;
pub mod https;
pub mod statuses;

use crate::change::ProviderKind;
use crate::ports::{CommitStatus, HttpClient, OutboundRequest, OutboundResponse};
use credentials::{Credential, Credentials};
use github_app::AppTokens;
use std::sync::Arc;
use std::time::Duration;

/// The status API a Git server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerApi {
    /// GitHub and GitHub Enterprise Server.
    GitHub,
    GitLab,
    BitbucketCloud,
    /// Bitbucket Data Center / Server.
    BitbucketServer,
    /// Gitea and Forgejo.
    Gitea,
    AzureDevOps,
}

impl ServerApi {
    /// The API of a provider; `None` for Gogs and generic senders, which have no status API.
    pub fn of(provider: ProviderKind) -> Option<Self> {
        match provider {
            ProviderKind::GitHub => Some(Self::GitHub),
            ProviderKind::GitLab => Some(Self::GitLab),
            ProviderKind::BitbucketCloud => Some(Self::BitbucketCloud),
            ProviderKind::BitbucketServer => Some(Self::BitbucketServer),
            ProviderKind::Gitea | ProviderKind::Forgejo => Some(Self::Gitea),
            ProviderKind::AzureDevOps => Some(Self::AzureDevOps),
            ProviderKind::Gogs | ProviderKind::Generic => None,
        }
    }

    /// The word that names it in the credentials document (`github`, `github:host`, ...).
    pub fn key(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::BitbucketCloud => "bitbucket",
            Self::BitbucketServer => "bitbucket-server",
            Self::Gitea => "gitea",
            Self::AzureDevOps => "azure-devops",
        }
    }

    /// Reads a credentials-document word (`forgejo` is Gitea's API, `bitbucket-cloud` an alias).
    pub fn parse_key(word: &str) -> Option<Self> {
        match word {
            "github" => Some(Self::GitHub),
            "gitlab" => Some(Self::GitLab),
            "bitbucket" | "bitbucket-cloud" => Some(Self::BitbucketCloud),
            "bitbucket-server" | "bitbucket-datacenter" => Some(Self::BitbucketServer),
            "gitea" | "forgejo" => Some(Self::Gitea),
            "azure-devops" => Some(Self::AzureDevOps),
            _ => None,
        }
    }

    /// The public service's API host, the only host a bare provider key's credential goes to.
    pub fn public_host(self) -> Option<&'static str> {
        match self {
            Self::GitHub => Some("api.github.com"),
            Self::GitLab => Some("gitlab.com"),
            Self::BitbucketCloud => Some("api.bitbucket.org"),
            Self::AzureDevOps => Some("dev.azure.com"),
            Self::BitbucketServer | Self::Gitea => None,
        }
    }

    /// The longest description the server keeps (characters); GitHub cuts at 140.
    pub fn description_limit(self) -> usize {
        match self {
            Self::GitHub | Self::Gitea => 140,
            Self::GitLab | Self::BitbucketCloud | Self::BitbucketServer | Self::AzureDevOps => 255,
        }
    }
}

/// Where a URL points: `host[:port]` in lower case (default ports left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host(pub String);

/// The host of an API URL. HTTPS only, except loopback hosts (local fakes and the demo): a
/// credential never travels in clear text to another machine.
pub fn api_host(url: &str) -> Result<Host, String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| "the status URL has no scheme".to_owned())?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default().to_ascii_lowercase();
    if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
        return Err("the status URL has no plain host".into());
    }
    let (name, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inside, after) = v6.split_once(']').ok_or_else(|| "the status URL has a bad host".to_owned())?;
            (format!("[{inside}]"), after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((name, port)) => (name.to_owned(), Some(port)),
            None => (authority.clone(), None),
        },
    };
    let port = match port {
        None => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| "the status URL has a bad port".to_owned())?),
    };
    let loopback = matches!(name.as_str(), "127.0.0.1" | "localhost" | "[::1]");
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => 443,
        "http" if loopback => 80,
        "http" => return Err(format!("{name} is not served over HTTPS; Herald sends credentials only over HTTPS")),
        other => return Err(format!("scheme {other:?} is not HTTPS")),
    };
    Ok(Host(match port {
        Some(p) if p != default_port => format!("{name}:{p}"),
        _ => name,
    }))
}

/// Why a status was not posted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    /// No credential for this host: no status (one WARN line, counted).
    #[error("no credential for {host} in the status credentials ({key} or {key}:{host})")]
    NoCredential { host: String, key: &'static str },
    /// The target itself cannot be used (not HTTPS, no commit...).
    #[error("{0}")]
    Refused(String),
    /// The server refused the request (401, 403, 404, 422): retrying cannot help.
    #[error("{server} answered {status}: {message}")]
    Permanent { server: String, status: u16, message: String },
    /// Network, 5xx or 429 after every retry: worth retrying later.
    #[error("{0}")]
    Transient(String),
}

impl PostError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

/// How hard one status is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    /// One request's limit (connect included).
    pub timeout: Duration,
    /// Wait before the second attempt; doubled after each (a `Retry-After` up to 5 s wins).
    pub backoff: Duration,
}

impl RetryPolicy {
    /// `git-webhook`'s `pending`: inside the 8 s request budget, after the starts.
    pub const WEBHOOK: Self =
        Self { attempts: 2, timeout: Duration::from_millis(2500), backoff: Duration::from_millis(200) };
    /// `git-webhook`'s changed-file lookups: each page inside the delivery's budget.
    pub const LOOKUP: Self =
        Self { attempts: 2, timeout: Duration::from_millis(2000), backoff: Duration::from_millis(100) };
    /// `pipeline-notifier`'s final states: a failure after these fails the invocation.
    pub const NOTIFIER: Self =
        Self { attempts: 3, timeout: Duration::from_secs(5), backoff: Duration::from_millis(500) };
}

/// Posts statuses to Git servers.
pub struct GitApi {
    http: Arc<dyn HttpClient>,
    app_tokens: AppTokens,
    policy: RetryPolicy,
}

impl GitApi {
    pub fn new(http: Arc<dyn HttpClient>, policy: RetryPolicy) -> Self {
        Self { http, app_tokens: AppTokens::default(), policy }
    }

    /// Posts `status` to `url` (the commit's status endpoint) with the credential for its host.
    /// Answers the server's status code.
    pub async fn post_status(
        &self,
        credentials: &Credentials,
        api: ServerApi,
        url: &str,
        status: &CommitStatus,
        now: i64,
    ) -> Result<u16, PostError> {
        let host = api_host(url).map_err(PostError::Refused)?;
        let auth = self.authorization(credentials, api, url, &host, now).await?;
        let request = statuses::request(api, url, status, auth);
        self.send(&request, &host).await.map(|r| r.status)
    }

    /// The authentication header for `host`: its credential (a GitHub App's installation token
    /// minted on demand), or `NoCredential`.
    async fn authorization(
        &self,
        credentials: &Credentials,
        api: ServerApi,
        url: &str,
        host: &Host,
        now: i64,
    ) -> Result<(&'static str, String), PostError> {
        let credential = credentials
            .for_host(api, host)
            .ok_or_else(|| PostError::NoCredential { host: host.0.clone(), key: api.key() })?;
        match credential {
            Credential::GitHubApp(app) => {
                let base =
                    github_app::api_base(url).ok_or_else(|| PostError::Refused("not a GitHub API URL".into()))?;
                let token = self.app_tokens.token(self, app, base, host, now).await?;
                Ok(("authorization", format!("Bearer {token}")))
            }
            other => statuses::auth_header(api, other).map_err(PostError::Refused),
        }
    }

    /// Sends with retries on network failures, 429 and 5xx; any other 4xx is permanent.
    pub(crate) async fn send(&self, request: &OutboundRequest, host: &Host) -> Result<OutboundResponse, PostError> {
        let mut wait = self.policy.backoff;
        let mut last = String::new();
        for attempt in 1..=self.policy.attempts {
            let answer = tokio::time::timeout(self.policy.timeout, self.http.send(request)).await;
            let retry_after = match answer {
                Ok(Ok(response)) if (200..300).contains(&response.status) => return Ok(response),
                Ok(Ok(response)) if response.status == 429 || response.status == 408 || response.status >= 500 => {
                    last = format!("{} answered {}", host.0, response.status);
                    response.retry_after
                }
                Ok(Ok(response)) => {
                    return Err(PostError::Permanent {
                        server: host.0.clone(),
                        status: response.status,
                        message: server_message(&response.body),
                    })
                }
                Ok(Err(network)) => {
                    last = format!("{}: {network}", host.0);
                    None
                }
                Err(_) => {
                    last = format!("{} did not answer within {} ms", host.0, self.policy.timeout.as_millis());
                    None
                }
            };
            if attempt < self.policy.attempts {
                let pause = retry_after.map(Duration::from_secs).unwrap_or(wait).min(Duration::from_secs(5));
                tokio::time::sleep(pause).await;
                wait *= 2;
            }
        }
        Err(PostError::Transient(format!("{last} (after {} attempts)", self.policy.attempts)))
    }
}

/// The start of a server's error answer, printable, for the log (servers do not echo tokens).
fn server_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| ["message", "error", "errors"].iter().find_map(|k| v.get(*k).map(|m| m.to_string())))
        .unwrap_or_else(|| text.into_owned());
    message.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests;
