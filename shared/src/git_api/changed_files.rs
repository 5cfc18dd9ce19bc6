//! Changed files from a Git server's API (README "Path filters"): a pull request's files, or the
//! comparison of a push's previous and new commit, paged up to the server's own limit. Each
//! server in its own words: the endpoint, the page parameters, where the paths are in the
//! answer, and how it says there is more.

use super::{api_host, GitApi, Host, PostError, ServerApi};
use crate::ports::{NextPage, OutboundRequest};
use serde_json::Value;

/// What to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The files of pull request (merge request) `number`.
    PullRequest(u64),
    /// The files changed between two commits of a push.
    Push { before: &'a str, after: &'a str },
}

/// What the server listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub paths: Vec<String>,
    /// Why the list is not the whole change (cut at the server's limit), when it is not.
    pub cut: Option<String>,
}

/// The most pages read for one list: past every server's own limit at these page sizes.
pub const MAX_PAGES: u32 = 40;

/// What one page says of the next.
enum Next {
    Done,
    Page(String),
    Cut(String),
}

impl GitApi {
    /// The files `lookup` changed in the repository at `root` (its API root on the server).
    pub async fn changed_files(
        &self,
        credentials: &super::credentials::Credentials,
        api: ServerApi,
        root: &str,
        lookup: Lookup<'_>,
        now: i64,
    ) -> Result<Files, PostError> {
        let host = api_host(root).map_err(PostError::Refused)?;
        let auth = self.authorization(credentials, api, root, &host, now).await?;
        let mut url = first_page(api, root, lookup);
        let mut paths = Vec::new();
        // Azure DevOps names a pull request's files by iteration: the last one holds them all.
        if let (ServerApi::AzureDevOps, Lookup::PullRequest(n)) = (api, lookup) {
            let (body, _) = self.page(api, &url, &auth, &host).await?;
            let last = body["value"].as_array().and_then(|v| v.iter().filter_map(|i| i["id"].as_u64()).max());
            let Some(iteration) = last else {
                return Ok(Files { paths, cut: Some("the pull request has no iteration".into()) });
            };
            url = format!("{root}/pullRequests/{n}/iterations/{iteration}/changes?api-version=7.1&$top=2000&$skip=0");
        }
        for _ in 0..MAX_PAGES {
            let (body, link) = self.page(api, &url, &auth, &host).await?;
            let listed = read_paths(api, lookup, &body);
            let count = listed.len();
            paths.extend(listed);
            let next = next_page(api, lookup, &url, &body, link, count, paths.len());
            match next {
                Next::Done => return Ok(Files { paths, cut: None }),
                Next::Cut(why) => return Ok(Files { paths, cut: Some(why) }),
                Next::Page(next) => {
                    // A server's `next` link is followed only on the same host: the token stays there.
                    if api_host(&next).ok().as_ref() != Some(&host) {
                        return Ok(Files {
                            paths,
                            cut: Some(format!("the next page is on another host than {}", host.0)),
                        });
                    }
                    url = next;
                }
            }
        }
        Ok(Files { paths, cut: Some(format!("more than {MAX_PAGES} pages")) })
    }

    async fn page(
        &self,
        api: ServerApi,
        url: &str,
        auth: &(&'static str, String),
        host: &Host,
    ) -> Result<(Value, Option<NextPage>), PostError> {
        let mut headers = vec![
            auth.clone(),
            ("accept", "application/json".to_owned()),
            ("user-agent", super::statuses::USER_AGENT.to_owned()),
        ];
        if api == ServerApi::GitHub {
            headers.push(("x-github-api-version", super::statuses::GITHUB_API_VERSION.to_owned()));
        }
        let request = OutboundRequest { method: "GET", url: url.to_owned(), headers, body: Vec::new() };
        let response = self.send(&request, host).await?;
        let body = serde_json::from_slice(&response.body).map_err(|_| PostError::Permanent {
            server: host.0.clone(),
            status: response.status,
            message: "the answer is not JSON".into(),
        })?;
        Ok((body, response.next))
    }
}

/// The first page's URL.
fn first_page(api: ServerApi, root: &str, lookup: Lookup<'_>) -> String {
    match (api, lookup) {
        (ServerApi::GitHub, Lookup::PullRequest(n)) => format!("{root}/pulls/{n}/files?per_page=100&page=1"),
        (ServerApi::GitHub, Lookup::Push { before, after }) => format!("{root}/compare/{before}...{after}"),
        (ServerApi::GitLab, Lookup::PullRequest(n)) => format!("{root}/merge_requests/{n}/diffs?per_page=100&page=1"),
        (ServerApi::GitLab, Lookup::Push { before, after }) => {
            format!("{root}/repository/compare?from={before}&to={after}")
        }
        (ServerApi::BitbucketCloud, Lookup::PullRequest(n)) => format!("{root}/pullrequests/{n}/diffstat?pagelen=500"),
        // `a..b`: what `a` changed since its merge base with `b`.
        (ServerApi::BitbucketCloud, Lookup::Push { before, after }) => {
            format!("{root}/diffstat/{after}..{before}?pagelen=500")
        }
        (ServerApi::BitbucketServer, Lookup::PullRequest(n)) => {
            format!("{root}/pull-requests/{n}/changes?start=0&limit=1000")
        }
        (ServerApi::BitbucketServer, Lookup::Push { before, after }) => {
            format!("{root}/compare/changes?from={after}&to={before}&start=0&limit=1000")
        }
        (ServerApi::Gitea, Lookup::PullRequest(n)) => format!("{root}/pulls/{n}/files?page=1&limit=50"),
        (ServerApi::Gitea, Lookup::Push { before, after }) => format!("{root}/compare/{before}...{after}"),
        (ServerApi::AzureDevOps, Lookup::PullRequest(n)) => format!("{root}/pullRequests/{n}/iterations?api-version=7.1"),
        (ServerApi::AzureDevOps, Lookup::Push { before, after }) => format!(
            "{root}/diffs/commits?baseVersion={before}&baseVersionType=commit&targetVersion={after}&targetVersionType=commit&$top=2000&$skip=0&api-version=7.1"
        ),
    }
}

/// The paths a page lists (a rename counts with both names).
fn read_paths(api: ServerApi, lookup: Lookup<'_>, body: &Value) -> Vec<String> {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let mut out = Vec::new();
    let entries = match (api, lookup) {
        (ServerApi::GitHub | ServerApi::Gitea, Lookup::PullRequest(_)) => list(body),
        (ServerApi::GitHub | ServerApi::Gitea, Lookup::Push { .. }) => list(&body["files"]),
        (ServerApi::GitLab, Lookup::PullRequest(_)) => list(body),
        (ServerApi::GitLab, Lookup::Push { .. }) => list(&body["diffs"]),
        (ServerApi::BitbucketCloud | ServerApi::BitbucketServer, _) => list(&body["values"]),
        (ServerApi::AzureDevOps, Lookup::PullRequest(_)) => list(&body["changeEntries"]),
        (ServerApi::AzureDevOps, Lookup::Push { .. }) => list(&body["changes"]),
    };
    for e in &entries {
        let names: [Option<String>; 2] = match api {
            ServerApi::GitHub | ServerApi::Gitea => [text(&e["filename"]), text(&e["previous_filename"])],
            ServerApi::GitLab => [text(&e["new_path"]), text(&e["old_path"])],
            ServerApi::BitbucketCloud => [text(&e["new"]["path"]), text(&e["old"]["path"])],
            ServerApi::BitbucketServer => [text(&e["path"]["toString"]), text(&e["srcPath"]["toString"])],
            ServerApi::AzureDevOps if e["item"]["isFolder"] == Value::Bool(true) => [None, None],
            ServerApi::AzureDevOps => [text(&e["item"]["path"]), text(&e["originalPath"])],
        };
        for name in names.into_iter().flatten() {
            let name = name.trim_start_matches('/').to_owned();
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// `url` with its query parameter `name` set to `value` (the parameter is in every first page).
fn with_param(url: &str, name: &str, value: impl std::fmt::Display) -> String {
    let key = format!("{name}=");
    let Some(start) = url.find(&format!("?{key}")).or_else(|| url.find(&format!("&{key}"))).map(|i| i + 1) else {
        return url.to_owned();
    };
    let end = url[start..].find('&').map_or(url.len(), |e| start + e);
    format!("{}{key}{value}{}", &url[..start], &url[end..])
}

/// What comes after the page at `url`, which listed `count` entries (`total` so far); `link` is
/// the answer's own next page (`Link` or `X-Next-Page`).
fn next_page(
    api: ServerApi,
    lookup: Lookup<'_>,
    url: &str,
    body: &Value,
    link: Option<NextPage>,
    count: usize,
    total: usize,
) -> Next {
    let linked = || match link.clone() {
        Some(NextPage::Url(next)) => Next::Page(next),
        Some(NextPage::Number(n)) => Next::Page(with_param(url, "page", n)),
        None => Next::Done,
    };
    match (api, lookup) {
        (ServerApi::GitHub, Lookup::PullRequest(_)) if total >= 3000 => {
            Next::Cut("GitHub lists at most 3000 files of a pull request".into())
        }
        (ServerApi::GitHub, Lookup::Push { .. }) if count >= 300 => {
            Next::Cut("GitHub lists at most 300 files of a comparison".into())
        }
        (ServerApi::GitLab, Lookup::Push { .. }) if body["compare_timeout"] == Value::Bool(true) => {
            Next::Cut("GitLab's comparison timed out".into())
        }
        (ServerApi::Gitea, Lookup::Push { .. }) if body.get("files").is_none() => {
            Next::Cut("this server's comparison lists no files".into())
        }
        // Numbered pages: the server says where the next one is.
        (ServerApi::GitHub | ServerApi::GitLab | ServerApi::Gitea, Lookup::PullRequest(_)) => linked(),
        (ServerApi::BitbucketCloud, _) => match body["next"].as_str() {
            Some(next) => Next::Page(next.to_owned()),
            None => Next::Done,
        },
        (ServerApi::BitbucketServer, _) => match (body["isLastPage"].as_bool(), body["nextPageStart"].as_u64()) {
            (Some(false), Some(start)) => Next::Page(with_param(url, "start", start)),
            _ => Next::Done,
        },
        (ServerApi::AzureDevOps, Lookup::PullRequest(_)) => match body["nextSkip"].as_u64().filter(|s| *s > 0) {
            Some(skip) => Next::Page(with_param(url, "$skip", skip)),
            None => Next::Done,
        },
        (ServerApi::AzureDevOps, Lookup::Push { .. })
            if body["allChangesIncluded"] == Value::Bool(false) && count > 0 =>
        {
            Next::Page(with_param(url, "$skip", total))
        }
        _ => Next::Done,
    }
}
