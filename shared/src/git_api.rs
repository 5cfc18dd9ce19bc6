//! The Git servers' APIs (docs/statuses.md "Commit statuses", "Where Herald sends requests"): which API
//! each provider speaks, the credentials for each host (`credentials`), every URL Herald may
//! request (`endpoint`, the only place one is built), GitHub App installation tokens
//! (`github_app`), each server's status body (`statuses`) and file lists (`changed_files`), and
//! sending with bounded retries. The HTTPS adapter is `https` (hyper with the SDK's rustls and
//! ring).

pub mod changed_files;
pub mod credentials;
pub mod deliveries;
pub mod endpoint;
pub mod github_app;
pub mod https;
pub mod pull_requests;
pub mod statuses;

use crate::change::{Change, ProviderKind, ServerAddress};
use crate::ports::{CommitStatus, HttpClient, OutboundRequest, OutboundResponse};
use credentials::{Credential, Credentials, ServerEntry};
use endpoint::{CommitId, Endpoint, Repository};
use github_app::AppTokens;
use std::sync::Arc;
use std::time::Duration;

/// GitHub's REST API version header.
pub const GITHUB_API_VERSION: &str = "2022-11-28";
/// Every server logs it; GitHub rejects requests without one.
pub const USER_AGENT: &str = "herald-codepipeline";

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

    /// Reads a credentials-document word: any name of a server with an API ([`ProviderKind::parse`]:
    /// `forgejo` is Gitea's API, `bitbucket-cloud`, `bitbucket-dc` and `azure` its aliases).
    pub fn parse_key(word: &str) -> Option<Self> {
        ProviderKind::parse(word).and_then(Self::of)
    }

    /// The words [`ServerApi::parse_key`] reads, for "unknown provider" answers.
    pub const KEYS: &'static str =
        "github, gitlab, bitbucket (or bitbucket-cloud), bitbucket-server (or bitbucket-dc), gitea, forgejo, azure-devops";

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

    /// The API base of a `provider:host` entry without `api_url` (a bare key's host is the
    /// public service): GitHub Enterprise `/api/v3`, GitLab `/api/v4`, Gitea `/api/v1`, Data
    /// Center `/rest`; the public services' own.
    pub fn conventional_base(self, host: &str) -> String {
        match (self, Some(host) == self.public_host()) {
            (Self::GitHub, true) => "https://api.github.com".into(),
            (Self::GitHub, false) => format!("https://{host}/api/v3"),
            (Self::GitLab, _) => format!("https://{host}/api/v4"),
            (Self::BitbucketCloud, _) => format!("https://{host}/2.0"),
            (Self::BitbucketServer, _) => format!("https://{host}/rest"),
            (Self::Gitea, _) => format!("https://{host}/api/v1"),
            (Self::AzureDevOps, _) => format!("https://{host}"),
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

/// Where a request goes: `host[:port]` in lower case (default ports left out).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Host(pub String);

/// Loopback hosts (local fakes and the demo): the only ones a credential may reach over plain
/// HTTP, and only when its `api_url` says so.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "localhost" | "[::1]")
}

/// Where a change's requests go, as far as the delivery may say: which server (its host, and for
/// Azure DevOps its organization), the repository the trigger matched, and the webhook secret
/// scope that verified it. The URL is built from the credential (`endpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub api: ServerApi,
    pub host: Host,
    pub organization: Option<String>,
    pub repository: Repository,
    /// The named webhook secret that verified the delivery (`None`: the unnamed ones).
    pub scope: Option<String>,
}

impl Target {
    /// The target of `change` verified by `scope`, or why there is none.
    pub fn of(change: &Change, scope: Option<&str>) -> Result<Self, String> {
        Self::named(change.provider, change.server.as_ref(), &change.repository, scope)
    }

    /// The target a verified delivery names (a change's or a comment's): its provider, server
    /// and repository, with the secret scope that verified it.
    pub fn named(
        provider: ProviderKind,
        server: Option<&ServerAddress>,
        repository: &str,
        scope: Option<&str>,
    ) -> Result<Self, String> {
        let api = ServerApi::of(provider).ok_or_else(|| format!("{} has no API Herald calls", provider.as_str()))?;
        let server = server.ok_or("the payload names no server Herald can call")?;
        Self::new(api, &server.host, server.organization.as_deref(), repository, scope)
    }

    /// A target from its parts (an execution record's).
    pub fn new(
        api: ServerApi,
        host: &str,
        organization: Option<&str>,
        repository: &str,
        scope: Option<&str>,
    ) -> Result<Self, String> {
        Ok(Self {
            api,
            host: Host(host.to_owned()),
            organization: organization.map(str::to_owned),
            repository: Repository::new(api, repository)?,
            scope: scope.map(str::to_owned),
        })
    }
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
    /// Network or 5xx after every retry: worth retrying later.
    #[error("{0}")]
    Transient(String),
    /// 429 to the last retry: the server limits how often it is asked (GitLab resends 5 events
    /// a minute per hook); worth asking again later, and no fault of the request.
    #[error("{0}")]
    RateLimited(String),
}

impl PostError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_) | Self::RateLimited(_))
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

/// The most of a status answer read: statuses answer a few hundred bytes.
pub const STATUS_ANSWER_LIMIT: usize = 64 * 1024;

/// The most of a pull request answer read: it carries the description, which its author may
/// make long (GitHub allows 65,536 characters, up to 256 KiB in UTF-8, and Azure DevOps and
/// GitLab more), and a long description must not keep `/herald stop` from reading the head.
pub const PULL_REQUEST_ANSWER_LIMIT: usize = 1024 * 1024;

/// Calls Git servers: statuses here, changed files in `changed_files`.
pub struct GitApi {
    http: Arc<dyn HttpClient>,
    app_tokens: Arc<AppTokens>,
    policy: RetryPolicy,
}

impl GitApi {
    pub fn new(http: Arc<dyn HttpClient>, policy: RetryPolicy) -> Self {
        Self { http, app_tokens: Arc::default(), policy }
    }

    /// Posts `status` on `commit` of the target's repository with the credential for its host.
    /// Answers the server's status code.
    pub async fn post_status(
        &self,
        credentials: &Credentials,
        target: &Target,
        commit: &CommitId,
        status: &CommitStatus,
        now: i64,
    ) -> Result<u16, PostError> {
        let entry = entry_for(credentials, target)?;
        let auth = self.authorization(entry, now).await?;
        let endpoint = Endpoint::Status { repository: &target.repository, commit };
        let url = endpoint.url(&entry.base);
        let request = statuses::request(target.api, url, status, auth);
        // GitLab documents `409 Another update to this commit status is in progress`: a conflict
        // of the moment, tried again like a 5xx.
        let conflicts = if target.api == ServerApi::GitLab { Conflict::Retried } else { Conflict::Final };
        send_as(&*self.http, self.policy, &request, &entry.host, conflicts).await.map(|r| r.status)
    }

    /// The pull request `number` of the target's repository as its server describes it (docs/commands.md
    /// "Commands from the pull request"): head commit, target branch, fork-ness.
    pub async fn pull_request(
        &self,
        credentials: &Credentials,
        target: &Target,
        number: u64,
        now: i64,
    ) -> Result<pull_requests::PullRequestHead, PostError> {
        let (entry, auth) = self.entry_and_auth(credentials, target, now).await?;
        let url = Endpoint::PullRequest { repository: &target.repository, number }.url(&entry.base);
        let request =
            OutboundRequest { limit: PULL_REQUEST_ANSWER_LIMIT, ..json_request(target.api, "GET", url, auth, None) };
        let response = self.send(&request, &entry.host).await?;
        if response.exceeded {
            let why = format!("the pull request answer exceeded {} KiB", PULL_REQUEST_ANSWER_LIMIT / 1024);
            return Err(self.unreadable(&entry.host, &response, why));
        }
        pull_requests::read(target.api, &response.body).map_err(|why| self.unreadable(&entry.host, &response, why))
    }

    /// The full id of `commit`, a prefix a Bitbucket Cloud pull request names (its API answers
    /// 12 characters), from the server's commit answer.
    pub async fn full_commit(
        &self,
        credentials: &Credentials,
        target: &Target,
        commit: &str,
        now: i64,
    ) -> Result<String, PostError> {
        let prefix = CommitId::for_status(commit).map_err(PostError::Refused)?;
        let (entry, auth) = self.entry_and_auth(credentials, target, now).await?;
        let url = Endpoint::Commit { repository: &target.repository, commit: &prefix }.url(&entry.base);
        let response = self.send(&json_request(target.api, "GET", url, auth, None), &entry.host).await?;
        self.answer(&entry.host, &response).and_then(|body| {
            pull_requests::full_commit(body).map_err(|why| self.unreadable(&entry.host, &response, why))
        })
    }

    /// Comment `id` of pull request `number`, as its server holds it.
    pub async fn comment(
        &self,
        credentials: &Credentials,
        target: &Target,
        number: u64,
        id: &str,
        now: i64,
    ) -> Result<pull_requests::ServerComment, PostError> {
        let id = endpoint::CommentId::new(id).map_err(PostError::Refused)?;
        let (entry, auth) = self.entry_and_auth(credentials, target, now).await?;
        let url = Endpoint::Comment { repository: &target.repository, number, id: &id }.url(&entry.base);
        let response = self.send(&json_request(target.api, "GET", url, auth, None), &entry.host).await?;
        self.answer(&entry.host, &response).and_then(|body| {
            pull_requests::comment(target.api, body).map_err(|why| self.unreadable(&entry.host, &response, why))
        })
    }

    /// Whether `user` may write to the target's repository, where its server answers that per
    /// user (GitLab by user id, Gitea / Forgejo, Bitbucket Data Center by name).
    pub async fn may_write(
        &self,
        credentials: &Credentials,
        target: &Target,
        user: &endpoint::UserName,
        name: &str,
        now: i64,
    ) -> Result<bool, PostError> {
        if !matches!(target.api, ServerApi::GitHub | ServerApi::GitLab | ServerApi::Gitea | ServerApi::BitbucketServer)
        {
            return Err(PostError::Refused(format!(
                "{} has no per-user permission answer Herald reads",
                target.api.key()
            )));
        }
        let (entry, auth) = self.entry_and_auth(credentials, target, now).await?;
        let url = Endpoint::Permission { repository: &target.repository, user }.url(&entry.base);
        match self.send(&json_request(target.api, "GET", url, auth, None), &entry.host).await {
            // GitLab and Gitea answer 404 for someone who is not a member or collaborator (GitHub
            // answers 404 for a user it does not know).
            Err(PostError::Permanent { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
            Ok(response) => self.answer(&entry.host, &response).and_then(|body| {
                pull_requests::may_write(target.api, body, name)
                    .map_err(|why| self.unreadable(&entry.host, &response, why))
            }),
        }
    }

    /// Posts `markdown` as a comment on pull request `number` (Azure DevOps: a closed thread).
    pub async fn reply(
        &self,
        credentials: &Credentials,
        target: &Target,
        number: u64,
        markdown: &str,
        now: i64,
    ) -> Result<u16, PostError> {
        let (entry, auth) = self.entry_and_auth(credentials, target, now).await?;
        let url = Endpoint::PullRequestComment { repository: &target.repository, number }.url(&entry.base);
        let body = pull_requests::comment_body(target.api, markdown);
        self.send(&json_request(target.api, "POST", url, auth, Some(&body)), &entry.host).await.map(|r| r.status)
    }

    async fn entry_and_auth<'c>(
        &self,
        credentials: &'c Credentials,
        target: &Target,
        now: i64,
    ) -> Result<(&'c ServerEntry, (&'static str, String)), PostError> {
        let entry = entry_for(credentials, target)?;
        Ok((entry, self.authorization(entry, now).await?))
    }

    /// The body of an answer read whole; a cut one says so.
    fn answer<'r>(&self, host: &Host, response: &'r OutboundResponse) -> Result<&'r [u8], PostError> {
        if response.exceeded {
            return Err(self.unreadable(
                host,
                response,
                format!("the answer exceeded {} KiB", STATUS_ANSWER_LIMIT / 1024),
            ));
        }
        Ok(&response.body)
    }

    fn unreadable(&self, host: &Host, response: &OutboundResponse, why: String) -> PostError {
        PostError::Permanent { server: host.0.clone(), status: response.status, message: why }
    }

    /// The authentication header of `entry`: its credential, or a GitHub App's installation
    /// token minted on demand.
    async fn authorization(&self, entry: &ServerEntry, now: i64) -> Result<(&'static str, String), PostError> {
        match &entry.credential {
            Credential::GitHubApp(app) => {
                let token = self.app_tokens.token(self, &entry.base, &entry.host, app.clone(), now).await?;
                Ok(("authorization", format!("Bearer {token}")))
            }
            other => statuses::auth_header(entry.api, other).map_err(PostError::Refused),
        }
    }

    /// Sends with retries on network failures, 429 and 5xx; any other 4xx is permanent.
    pub(crate) async fn send(&self, request: &OutboundRequest, host: &Host) -> Result<OutboundResponse, PostError> {
        send(&*self.http, self.policy, request, host).await
    }
}

/// A JSON request to a server's API (commands from pull requests), answers read up to
/// [`STATUS_ANSWER_LIMIT`]: one pull request or permission is a few KB.
fn json_request(
    api: ServerApi,
    method: &'static str,
    url: String,
    auth: (&'static str, String),
    body: Option<&serde_json::Value>,
) -> OutboundRequest {
    let accept = if api == ServerApi::GitHub { "application/vnd.github+json" } else { "application/json" };
    let mut headers = vec![auth, ("accept", accept.to_owned()), ("user-agent", USER_AGENT.to_owned())];
    if body.is_some() {
        headers.push(("content-type", "application/json".to_owned()));
    }
    if api == ServerApi::GitHub {
        headers.push(("x-github-api-version", GITHUB_API_VERSION.to_owned()));
    }
    OutboundRequest {
        method,
        url,
        headers,
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        limit: STATUS_ANSWER_LIMIT,
    }
}

/// The entry that serves `target`: the credential for its host, if it serves the target's
/// organization, repository and secret scope; else why not (no request is made).
pub fn entry_for<'c>(credentials: &'c Credentials, target: &Target) -> Result<&'c ServerEntry, PostError> {
    let entry = credentials
        .for_host(target.api, &target.host)
        .ok_or_else(|| PostError::NoCredential { host: target.host.0.clone(), key: target.api.key() })?;
    if target.api == ServerApi::AzureDevOps && target.organization != entry.organization {
        return Err(PostError::Refused(format!(
            "the delivery names the Azure DevOps organization {:?}; the credential {:?} serves {:?} only",
            target.organization.as_deref().unwrap_or_default(),
            entry.key,
            entry.organization.as_deref().unwrap_or_default()
        )));
    }
    entry.admits(&target.repository.name(), target.scope.as_deref()).map_err(PostError::Refused)?;
    Ok(entry)
}

/// Sends `request` to `host` by `policy`: retries on network failures, 408, 429 and 5xx.
async fn send(
    http: &dyn HttpClient,
    policy: RetryPolicy,
    request: &OutboundRequest,
    host: &Host,
) -> Result<OutboundResponse, PostError> {
    send_as(http, policy, request, host, Conflict::Final).await
}

/// What a 409 is to a request: final, as for most, or a conflict of the moment its server
/// documents (GitLab's commit statuses), retried like a 5xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conflict {
    Final,
    Retried,
}

/// [`send`], with 409 retried too when `conflicts` says so.
async fn send_as(
    http: &dyn HttpClient,
    policy: RetryPolicy,
    request: &OutboundRequest,
    host: &Host,
    conflicts: Conflict,
) -> Result<OutboundResponse, PostError> {
    let mut wait = policy.backoff;
    let mut last = String::new();
    let mut limited = false;
    for attempt in 1..=policy.attempts {
        let answer = tokio::time::timeout(policy.timeout, http.send(request)).await;
        let retry_after = match answer {
            Ok(Ok(response)) if (200..300).contains(&response.status) => return Ok(response),
            Ok(Ok(response))
                if response.status == 429
                    || response.status == 408
                    || response.status >= 500
                    || (response.status == 409 && conflicts == Conflict::Retried) =>
            {
                last = format!("{} answered {}", host.0, response.status);
                limited = response.status == 429;
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
                limited = false;
                None
            }
            Err(_) => {
                last = format!("{} did not answer within {} ms", host.0, policy.timeout.as_millis());
                limited = false;
                None
            }
        };
        if attempt < policy.attempts {
            let pause = retry_after.map(Duration::from_secs).unwrap_or(wait).min(Duration::from_secs(5));
            tokio::time::sleep(pause).await;
            wait *= 2;
        }
    }
    let last = format!("{last} (after {} attempts)", policy.attempts);
    Err(if limited { PostError::RateLimited(last) } else { PostError::Transient(last) })
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
