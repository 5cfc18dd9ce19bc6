//! One commit-status request per server API, each in its own words (states, field names,
//! authentication header). The URL comes from `endpoint`.

use super::credentials::Credential;
use super::ServerApi;
use crate::ports::{CommitStatus, OutboundRequest, StatusState};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

/// GitHub's REST API version header.
pub const GITHUB_API_VERSION: &str = "2022-11-28";
/// Every server logs it; GitHub rejects requests without one.
pub const USER_AGENT: &str = "herald-codepipeline";

/// The request that posts `status` to `url`.
pub fn request(api: ServerApi, url: String, status: &CommitStatus, auth: (&'static str, String)) -> OutboundRequest {
    let description = cut(&status.description, api.description_limit());
    let body = match api {
        ServerApi::GitHub => github(status, &description),
        ServerApi::GitLab => gitlab(status, &description),
        ServerApi::BitbucketCloud => bitbucket_cloud(status, &description),
        ServerApi::BitbucketServer => bitbucket_server(status, &description),
        ServerApi::Gitea => gitea(status, &description),
        ServerApi::AzureDevOps => azure_devops(status, &description),
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

/// GitHub / GHES: `pending`, `success`, `failure`, `error`; a skipped change is `success` (its
/// description says it was skipped), the only state that lets a required check pass.
fn github(status: &CommitStatus, description: &str) -> Value {
    let state = match status.state {
        StatusState::Skipped => "success",
        other => other.as_str(),
    };
    json!({ "state": state, "context": status.context, "description": description, "target_url": status.target_url })
}

/// GitLab: `running` (Herald posts once the execution runs), `success`, `failed`, `canceled`,
/// `skipped` (GitLab 17.5 and later; older servers refuse it with a 400, logged).
fn gitlab(status: &CommitStatus, description: &str) -> Value {
    let state = match status.state {
        StatusState::Pending => "running",
        StatusState::Success => "success",
        StatusState::Failure => "failed",
        StatusState::Error => "canceled",
        StatusState::Skipped => "skipped",
    };
    json!({ "state": state, "name": status.context, "description": description, "target_url": status.target_url })
}

/// Bitbucket Cloud: `INPROGRESS`, `SUCCESSFUL`, `FAILED`, `STOPPED`; `key` identifies the status.
/// A skipped change is `SUCCESSFUL`: merge checks count only successful builds.
fn bitbucket_cloud(status: &CommitStatus, description: &str) -> Value {
    let state = match status.state {
        StatusState::Pending => "INPROGRESS",
        StatusState::Success => "SUCCESSFUL",
        StatusState::Failure => "FAILED",
        StatusState::Error => "STOPPED",
        StatusState::Skipped => "SUCCESSFUL",
    };
    json!({ "key": status.context, "name": status.context, "state": state, "description": description, "url": status.target_url })
}

/// Bitbucket Data Center (`build-status/1.0`): `INPROGRESS`, `SUCCESSFUL`, `FAILED` only.
fn bitbucket_server(status: &CommitStatus, description: &str) -> Value {
    let state = match status.state {
        StatusState::Pending => "INPROGRESS",
        StatusState::Success | StatusState::Skipped => "SUCCESSFUL",
        StatusState::Failure | StatusState::Error => "FAILED",
    };
    json!({ "key": status.context, "name": status.context, "state": state, "description": description, "url": status.target_url })
}

/// Gitea / Forgejo: GitHub's words.
fn gitea(status: &CommitStatus, description: &str) -> Value {
    github(status, description)
}

/// Azure DevOps: `pending`, `succeeded`, `failed`, `error`, and `notApplicable` for a skipped
/// change (a branch policy treats it as not blocking); the context is a genre and a name
/// (`herald/app-pipeline` → genre `herald`, name `app-pipeline`).
fn azure_devops(status: &CommitStatus, description: &str) -> Value {
    let state = match status.state {
        StatusState::Pending => "pending",
        StatusState::Success => "succeeded",
        StatusState::Failure => "failed",
        StatusState::Error => "error",
        StatusState::Skipped => "notApplicable",
    };
    let (genre, name) = status.context.split_once('/').unwrap_or(("herald", status.context.as_str()));
    json!({ "state": state, "description": description, "targetUrl": status.target_url, "context": { "genre": genre, "name": name } })
}
