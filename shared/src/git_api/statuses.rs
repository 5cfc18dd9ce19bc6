//! One commit-status request per server API, each in its own words (states, field names,
//! authentication header). The URL comes from `endpoint`.

use super::credentials::Credential;
use super::{ServerApi, GITHUB_API_VERSION, USER_AGENT};
use crate::ports::{CommitStatus, OutboundRequest, StatusState};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// The request that posts `status` to `url`.
pub fn request(api: ServerApi, url: String, status: &CommitStatus, auth: (&'static str, String)) -> OutboundRequest {
    let description = cut(&status.description, api.description_limit());
    let state = word(api, status.state);
    let body = match api {
        ServerApi::GitHub | ServerApi::Gitea => github(status, state, &description),
        ServerApi::GitLab => gitlab(status, state, &description),
        ServerApi::BitbucketCloud | ServerApi::BitbucketServer => bitbucket(status, state, &description),
        ServerApi::AzureDevOps => azure_devops(status, state, &description),
    };
    let accept = if api == ServerApi::GitHub { "application/vnd.github+json" } else { "application/json" };
    let mut headers = vec![
        auth,
        ("content-type", "application/json".to_owned()),
        ("accept", accept.to_owned()),
        ("user-agent", USER_AGENT.to_owned()),
    ];
    if api == ServerApi::GitHub {
        headers.push(("x-github-api-version", GITHUB_API_VERSION.into()));
    }
    OutboundRequest {
        method: "POST",
        url,
        headers,
        body: body.to_string().into_bytes(),
        limit: super::STATUS_ANSWER_LIMIT,
    }
}

/// The authentication header of a token or password credential, in the server's scheme.
pub fn auth_header(api: ServerApi, credential: &Credential) -> Result<(&'static str, String), String> {
    let basic = |user: &str, password: &str| format!("Basic {}", STANDARD.encode(format!("{user}:{password}")));
    Ok(match (api, credential) {
        (ServerApi::GitLab, Credential::Token(t)) => ("private-token", t.clone()),
        (ServerApi::Gitea, Credential::Token(t)) => ("authorization", format!("token {t}")),
        // A personal access token is the password of Basic with an empty user name.
        (ServerApi::AzureDevOps, Credential::Token(t)) => ("authorization", basic("", t)),
        (_, Credential::Token(t)) => ("authorization", format!("Bearer {t}")),
        (_, Credential::Basic { username, password }) => ("authorization", basic(username, password)),
        (_, Credential::GitHubApp(_)) => return Err("a GitHub App credential is only for GitHub".into()),
    })
}

/// `description` cut to `max` characters (with an ellipsis when cut).
fn cut(description: &str, max: usize) -> String {
    if description.chars().count() <= max {
        return description.to_owned();
    }
    let mut out: String = description.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Each server's word for `state`, one table for every server (docs/statuses.md "Commit statuses"):
///
/// - GitHub / GHES and Gitea / Forgejo: `pending`, `success`, `failure`, `error`.
/// - GitLab: `running` (Herald posts once the execution runs), `success`, `failed`, `canceled`.
/// - Bitbucket Cloud: `INPROGRESS`, `SUCCESSFUL`, `FAILED`, `STOPPED`.
/// - Bitbucket Data Center (`build-status/1.0`): `INPROGRESS`, `SUCCESSFUL`, `FAILED` only.
/// - Azure DevOps: `pending`, `succeeded`, `failed`, `error`.
///
/// A skipped change gets the word that lets a required check pass (its description says it
/// was skipped): `success`, `SUCCESSFUL` (Bitbucket's merge checks count only successful
/// builds), GitLab's `skipped` (recent servers, gitlab-org/gitlab!168350; older ones answer 400,
/// logged) and Azure DevOps' `notApplicable`.
pub fn word(api: ServerApi, state: StatusState) -> &'static str {
    use StatusState::*;
    match (api, state) {
        (ServerApi::GitHub | ServerApi::Gitea, Skipped) => "success",
        (ServerApi::GitHub | ServerApi::Gitea, other) => other.as_str(),
        (ServerApi::GitLab, Pending) => "running",
        (ServerApi::GitLab, Success) => "success",
        (ServerApi::GitLab, Failure) => "failed",
        (ServerApi::GitLab, Error) => "canceled",
        (ServerApi::GitLab, Skipped) => "skipped",
        (ServerApi::BitbucketCloud | ServerApi::BitbucketServer, Pending) => "INPROGRESS",
        (ServerApi::BitbucketCloud | ServerApi::BitbucketServer, Success | Skipped) => "SUCCESSFUL",
        (ServerApi::BitbucketCloud | ServerApi::BitbucketServer, Failure) => "FAILED",
        (ServerApi::BitbucketCloud, Error) => "STOPPED",
        (ServerApi::BitbucketServer, Error) => "FAILED",
        (ServerApi::AzureDevOps, Pending) => "pending",
        (ServerApi::AzureDevOps, Success) => "succeeded",
        (ServerApi::AzureDevOps, Failure) => "failed",
        (ServerApi::AzureDevOps, Error) => "error",
        (ServerApi::AzureDevOps, Skipped) => "notApplicable",
    }
}

/// GitHub / GHES and Gitea / Forgejo.
fn github(status: &CommitStatus, state: &str, description: &str) -> Value {
    json!({ "state": state, "context": status.context, "description": description, "target_url": status.target_url })
}

/// GitLab: the context is the status's `name`.
fn gitlab(status: &CommitStatus, state: &str, description: &str) -> Value {
    json!({ "state": state, "name": status.context, "description": description, "target_url": status.target_url })
}

/// Bitbucket Cloud and Data Center: `key` identifies the status.
fn bitbucket(status: &CommitStatus, state: &str, description: &str) -> Value {
    json!({ "key": status.context, "name": status.context, "state": state, "description": description, "url": status.target_url })
}

/// Azure DevOps: the context is a genre and a name (`herald/app-pipeline` → genre `herald`,
/// name `app-pipeline`).
fn azure_devops(status: &CommitStatus, state: &str, description: &str) -> Value {
    let (genre, name) = status.context.split_once('/').unwrap_or(("herald", status.context.as_str()));
    json!({ "state": state, "description": description, "targetUrl": status.target_url, "context": { "genre": genre, "name": name } })
}
