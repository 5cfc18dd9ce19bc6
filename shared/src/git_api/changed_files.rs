//! Changed files from a Git server's API (docs/path-filters.md "Path filters"): a pull request's files, or the
//! comparison of a push's previous and new commit, paged up to the server's own limit. Each
//! server in its own words: the endpoint (`endpoint`), the page parameters, where the paths are
//! in the answer (typed: only the names are kept, a `patch` is skipped, never stored), and how it
//! says there is more. A next page is always Herald's own URL with the page number or token the
//! server gave: no URL from an answer is requested either.

use super::credentials::Credentials;
use super::endpoint::{param_of, with_param, CommitId, Endpoint};
use super::{entry_for, GitApi, Host, PostError, ServerApi, Target};
use crate::ports::{NextPage, OutboundRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::sync::Semaphore;

/// What to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The files of pull request (merge request) `number`.
    PullRequest(u64),
    /// The files changed between two commits of a push.
    Push { before: CommitId, after: CommitId },
}

/// What the server listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub paths: Vec<String>,
    /// Why the list is not the whole change (a server's limit, or one of Herald's), when it is not.
    pub cut: Option<String>,
}

/// The most pages read for one list: past every server's own limit at these page sizes
/// (GitHub's 3000 files of a pull request are 30 pages of 100).
pub const MAX_PAGES: u32 = 40;

/// The most of one page read: GitHub answers 100 files a page with their patches, and real
/// pages run to hundreds of KB.
pub const PAGE_ANSWER_LIMIT: usize = 16 * 1024 * 1024;

/// One delivery's requests for changed files, together: at most
/// [`LookupBounds::REQUESTS_AT_ONCE`] at once and [`LookupBounds::PAGES`] pages in all, so one
/// delivery cannot spend a shared token's rate limit.
pub struct LookupBounds {
    requests: Semaphore,
    pages_left: AtomicU32,
}

impl LookupBounds {
    pub const REQUESTS_AT_ONCE: usize = 4;
    pub const PAGES: u32 = 100;

    /// The bounds of one delivery.
    pub fn per_delivery() -> Self {
        Self::new(Self::REQUESTS_AT_ONCE, Self::PAGES)
    }

    pub fn new(requests_at_once: usize, pages: u32) -> Self {
        Self { requests: Semaphore::new(requests_at_once.max(1)), pages_left: AtomicU32::new(pages) }
    }

    /// Takes one page of the delivery's allowance; `false` when it is spent.
    fn take_page(&self) -> bool {
        self.pages_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    fn spent(&self) -> String {
        format!("the delivery reached its bound of {} pages of changed files", Self::PAGES)
    }
}

/// What one page says of the next.
enum Next {
    Done,
    /// Set this query parameter of Herald's URL to this value.
    Param(&'static str, String),
    Cut(String),
}

/// One page, read: the paths it lists, how many entries it had, and what follows.
struct Page {
    paths: Vec<String>,
    entries: usize,
    next: Next,
}

impl GitApi {
    /// The files `lookup` changed in the target's repository, within `bounds`.
    pub async fn changed_files(
        &self,
        credentials: &Credentials,
        target: &Target,
        lookup: &Lookup,
        bounds: &LookupBounds,
        now: i64,
    ) -> Result<Files, PostError> {
        let entry = entry_for(credentials, target)?;
        let auth = {
            let _one = bounds.requests.acquire().await.map_err(|_| PostError::Refused("lookups closed".into()))?;
            self.authorization(entry, now).await?
        };
        let (base, repository) = (&entry.base, &target.repository);
        let mut url = match lookup {
            Lookup::PullRequest(number) => Endpoint::PullRequestFiles { repository, number: *number }.url(base),
            Lookup::Push { before, after } => Endpoint::Comparison { repository, before, after }.url(base),
        };
        let mut paths: Vec<String> = Vec::new();
        let mut entries = 0;
        let cut = |paths: Vec<String>, why: String| Ok(Files { paths, cut: Some(why) });
        // Azure DevOps names a pull request's files by iteration: the last one holds them all.
        if let (ServerApi::AzureDevOps, Lookup::PullRequest(number)) = (target.api, lookup) {
            if !bounds.take_page() {
                return cut(paths, bounds.spent());
            }
            let Some(iterations) = self.get::<AzureIterations>(target.api, &url, &auth, &entry.host, bounds).await?
            else {
                return cut(paths, exceeded());
            };
            let Some(iteration) = iterations.value.iter().map(|i| i.id).max() else {
                return cut(paths, "the pull request has no iteration".into());
            };
            url = Endpoint::IterationChanges { repository, number: *number, iteration }.url(base);
        }
        for _ in 0..MAX_PAGES {
            if !bounds.take_page() {
                return cut(paths, bounds.spent());
            }
            let Some(page) = self.page(target.api, lookup, &url, &auth, &entry.host, bounds, entries).await? else {
                return cut(paths, exceeded());
            };
            entries += page.entries;
            for path in page.paths {
                if !paths.contains(&path) {
                    paths.push(path);
                }
            }
            match page.next {
                Next::Done => return Ok(Files { paths, cut: None }),
                Next::Cut(why) => return cut(paths, why),
                Next::Param(name, value) => url = with_param(&url, name, &value),
            }
        }
        cut(paths, format!("more than {MAX_PAGES} pages"))
    }

    /// One page of `api`'s list at `url` (`before`: entries listed by the pages before it);
    /// `None` when the answer exceeded [`PAGE_ANSWER_LIMIT`].
    #[allow(clippy::too_many_arguments)]
    async fn page(
        &self,
        api: ServerApi,
        lookup: &Lookup,
        url: &str,
        auth: &(&'static str, String),
        host: &Host,
        bounds: &LookupBounds,
        before: usize,
    ) -> Result<Option<Page>, PostError> {
        let pr = matches!(lookup, Lookup::PullRequest(_));
        Ok(match (api, pr) {
            (ServerApi::GitHub | ServerApi::Gitea, true) => self
                .read::<Vec<GitHubFile>>(api, url, auth, host, bounds)
                .await?
                .map(|(l, f)| github_page(api, &f, l, before)),
            (ServerApi::GitHub | ServerApi::Gitea, false) => self
                .read::<GitHubComparison>(api, url, auth, host, bounds)
                .await?
                .map(|(_, c)| github_comparison(api, c)),
            (ServerApi::GitLab, true) => {
                self.read::<Vec<GitLabDiff>>(api, url, auth, host, bounds).await?.map(|(l, d)| gitlab_page(&d, l))
            }
            (ServerApi::GitLab, false) => {
                self.read::<GitLabComparison>(api, url, auth, host, bounds).await?.map(|(_, c)| gitlab_comparison(c))
            }
            (ServerApi::BitbucketCloud, _) => self
                .read::<BitbucketCloudPage>(api, url, auth, host, bounds)
                .await?
                .map(|(_, p)| bitbucket_cloud_page(p)),
            (ServerApi::BitbucketServer, _) => self
                .read::<BitbucketServerPage>(api, url, auth, host, bounds)
                .await?
                .map(|(_, p)| bitbucket_server_page(p)),
            (ServerApi::AzureDevOps, true) => self
                .read::<AzurePullRequestChanges>(api, url, auth, host, bounds)
                .await?
                .map(|(_, p)| azure_pull_request_page(p)),
            (ServerApi::AzureDevOps, false) => self
                .read::<AzureComparison>(api, url, auth, host, bounds)
                .await?
                .map(|(_, p)| azure_comparison(p, before)),
        })
    }

    /// A GET of `url` read as `T`, with the answer's own next-page hint.
    async fn read<T: DeserializeOwned>(
        &self,
        api: ServerApi,
        url: &str,
        auth: &(&'static str, String),
        host: &Host,
        bounds: &LookupBounds,
    ) -> Result<Option<(Option<NextPage>, T)>, PostError> {
        let mut headers =
            vec![auth.clone(), ("accept", "application/json".to_owned()), ("user-agent", super::USER_AGENT.to_owned())];
        if api == ServerApi::GitHub {
            headers.push(("x-github-api-version", super::GITHUB_API_VERSION.to_owned()));
        }
        let request =
            OutboundRequest { method: "GET", url: url.to_owned(), headers, body: Vec::new(), limit: PAGE_ANSWER_LIMIT };
        let response = {
            let _one = bounds.requests.acquire().await.map_err(|_| PostError::Refused("lookups closed".into()))?;
            self.send(&request, host).await?
        };
        if response.exceeded {
            return Ok(None);
        }
        let body = serde_json::from_slice(&response.body).map_err(|e| PostError::Permanent {
            server: host.0.clone(),
            status: response.status,
            message: format!("the answer is not the file list its API describes ({e})"),
        })?;
        Ok(Some((response.next, body)))
    }

    /// `read` without the page hint.
    async fn get<T: DeserializeOwned>(
        &self,
        api: ServerApi,
        url: &str,
        auth: &(&'static str, String),
        host: &Host,
        bounds: &LookupBounds,
    ) -> Result<Option<T>, PostError> {
        Ok(self.read(api, url, auth, host, bounds).await?.map(|(_, body)| body))
    }
}

fn exceeded() -> String {
    format!("the answer exceeded {} MiB", PAGE_ANSWER_LIMIT / (1024 * 1024))
}

/// The page number a next-page hint names: `X-Next-Page`, or the `page` parameter of a `Link`.
/// Only the number is used, on Herald's own URL (GitHub's links name `/repositories/{id}/...`).
fn numbered(link: Option<NextPage>) -> Next {
    match link {
        None => Next::Done,
        Some(NextPage::Number(n)) => Next::Param("page", n.to_string()),
        Some(NextPage::Url(url)) => match param_of(&url, "page").filter(|p| p.parse::<u32>().is_ok()) {
            Some(page) => Next::Param("page", page),
            None => Next::Cut("the server's next-page link names no page number".into()),
        },
    }
}

/// Both names of a rename (a rename counts as touching both), leading `/` removed.
fn names<const N: usize>(names: [Option<&str>; N]) -> Vec<String> {
    names.into_iter().flatten().map(|n| n.trim_start_matches('/').to_owned()).filter(|n| !n.is_empty()).collect()
}

/// GitHub's and Gitea's file entries (`diff-entry`); the patch is skipped.
#[derive(Deserialize)]
struct GitHubFile {
    filename: String,
    previous_filename: Option<String>,
}

/// GitHub's comparison lists `files`; Gitea's (its swagger's `Compare`) lists `commits`, each
/// with the files it touched.
#[derive(Deserialize)]
struct GitHubComparison {
    files: Option<Vec<GitHubFile>>,
    commits: Option<Vec<GiteaCommit>>,
}

#[derive(Deserialize)]
struct GiteaCommit {
    files: Option<Vec<GiteaAffectedFile>>,
}

#[derive(Deserialize)]
struct GiteaAffectedFile {
    filename: String,
}

fn github_files(files: &[GitHubFile]) -> Vec<String> {
    files.iter().flat_map(|f| names([Some(f.filename.as_str()), f.previous_filename.as_deref()])).collect()
}

fn github_page(api: ServerApi, files: &[GitHubFile], link: Option<NextPage>, before: usize) -> Page {
    let next = if api == ServerApi::GitHub && before + files.len() >= 3000 {
        Next::Cut("GitHub lists at most 3000 files of a pull request".into())
    } else {
        numbered(link)
    };
    Page { paths: github_files(files), entries: files.len(), next }
}

fn github_comparison(api: ServerApi, comparison: GitHubComparison) -> Page {
    match (comparison.files, comparison.commits) {
        (None, Some(commits)) if api == ServerApi::Gitea && !commits.is_empty() => gitea_comparison(&commits),
        (files, _) => github_comparison_files(api, files),
    }
}

/// Gitea: the files of every commit compared.
fn gitea_comparison(commits: &[GiteaCommit]) -> Page {
    let mut paths = Vec::new();
    for commit in commits {
        let Some(files) = &commit.files else {
            return Page { paths, entries: 0, next: Next::Cut("this server's comparison lists no files".into()) };
        };
        paths.extend(files.iter().flat_map(|f| names([Some(f.filename.as_str())])));
    }
    Page { entries: paths.len(), paths, next: Next::Done }
}

fn github_comparison_files(api: ServerApi, files: Option<Vec<GitHubFile>>) -> Page {
    match files {
        None => {
            Page { paths: Vec::new(), entries: 0, next: Next::Cut("this server's comparison lists no files".into()) }
        }
        Some(files) if api == ServerApi::GitHub && files.len() >= 300 => Page {
            paths: github_files(&files),
            entries: files.len(),
            next: Next::Cut("GitHub lists at most 300 files of a comparison".into()),
        },
        Some(files) => Page { paths: github_files(&files), entries: files.len(), next: Next::Done },
    }
}

/// GitLab's diffs; the diff text is skipped.
#[derive(Deserialize)]
struct GitLabDiff {
    new_path: Option<String>,
    old_path: Option<String>,
}

#[derive(Deserialize)]
struct GitLabComparison {
    #[serde(default)]
    diffs: Vec<GitLabDiff>,
    #[serde(default)]
    compare_timeout: bool,
}

fn gitlab_files(diffs: &[GitLabDiff]) -> Vec<String> {
    diffs.iter().flat_map(|d| names([d.new_path.as_deref(), d.old_path.as_deref()])).collect()
}

fn gitlab_page(diffs: &[GitLabDiff], link: Option<NextPage>) -> Page {
    Page { paths: gitlab_files(diffs), entries: diffs.len(), next: numbered(link) }
}

fn gitlab_comparison(comparison: GitLabComparison) -> Page {
    let next = if comparison.compare_timeout { Next::Cut("GitLab's comparison timed out".into()) } else { Next::Done };
    Page { paths: gitlab_files(&comparison.diffs), entries: comparison.diffs.len(), next }
}

/// Bitbucket Cloud's diffstat page.
#[derive(Deserialize)]
struct BitbucketCloudPage {
    #[serde(default)]
    values: Vec<BitbucketCloudEntry>,
    next: Option<String>,
}

#[derive(Deserialize)]
struct BitbucketCloudEntry {
    new: Option<BitbucketPath>,
    old: Option<BitbucketPath>,
}

#[derive(Deserialize)]
struct BitbucketPath {
    path: String,
}

fn bitbucket_cloud_page(page: BitbucketCloudPage) -> Page {
    let entries = page.values.len();
    let paths = page
        .values
        .iter()
        .flat_map(|e| names([e.new.as_ref().map(|p| p.path.as_str()), e.old.as_ref().map(|p| p.path.as_str())]))
        .collect();
    // The `next` URL's page token, on Herald's own URL.
    let next = match page.next.as_deref() {
        None => Next::Done,
        Some(url) => match param_of(url, "page") {
            Some(token) => Next::Param("page", token),
            None => Next::Cut("the server's next-page link names no page".into()),
        },
    };
    Page { paths, entries, next }
}

/// Bitbucket Data Center's changes page.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BitbucketServerPage {
    #[serde(default)]
    values: Vec<BitbucketServerChange>,
    is_last_page: Option<bool>,
    next_page_start: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BitbucketServerChange {
    path: Option<BitbucketServerPath>,
    src_path: Option<BitbucketServerPath>,
}

#[derive(Deserialize)]
struct BitbucketServerPath {
    #[serde(rename = "toString")]
    to_string: String,
}

fn bitbucket_server_page(page: BitbucketServerPage) -> Page {
    let entries = page.values.len();
    let paths = page
        .values
        .iter()
        .flat_map(|c| {
            names([c.path.as_ref().map(|p| p.to_string.as_str()), c.src_path.as_ref().map(|p| p.to_string.as_str())])
        })
        .collect();
    let next = match (page.is_last_page, page.next_page_start) {
        (Some(false), Some(start)) => Next::Param("start", start.to_string()),
        _ => Next::Done,
    };
    Page { paths, entries, next }
}

/// Azure DevOps: a pull request's iterations.
#[derive(Deserialize)]
struct AzureIterations {
    #[serde(default)]
    value: Vec<AzureIteration>,
}

#[derive(Deserialize)]
struct AzureIteration {
    id: u64,
}

/// Azure DevOps: an iteration's changes.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzurePullRequestChanges {
    #[serde(default)]
    change_entries: Vec<AzureChange>,
    next_skip: Option<u64>,
}

/// Azure DevOps: a comparison of two commits.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureComparison {
    #[serde(default)]
    changes: Vec<AzureChange>,
    all_changes_included: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureChange {
    item: Option<AzureItem>,
    original_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureItem {
    path: Option<String>,
    #[serde(default)]
    is_folder: bool,
}

fn azure_files(changes: &[AzureChange]) -> Vec<String> {
    changes
        .iter()
        .filter(|c| !c.item.as_ref().is_some_and(|i| i.is_folder))
        .flat_map(|c| names([c.item.as_ref().and_then(|i| i.path.as_deref()), c.original_path.as_deref()]))
        .collect()
}

fn azure_pull_request_page(page: AzurePullRequestChanges) -> Page {
    let next = match page.next_skip.filter(|s| *s > 0) {
        Some(skip) => Next::Param("$skip", skip.to_string()),
        None => Next::Done,
    };
    Page { paths: azure_files(&page.change_entries), entries: page.change_entries.len(), next }
}

fn azure_comparison(page: AzureComparison, before: usize) -> Page {
    let count = page.changes.len();
    let next = if page.all_changes_included == Some(false) && count > 0 {
        Next::Param("$skip", (before + count).to_string())
    } else {
        Next::Done
    };
    Page { paths: azure_files(&page.changes), entries: count, next }
}
