//! Changed files from the Git server when the payload lacks them (docs/path-filters.md "Path filters"). For a
//! change that a path-filtered trigger would otherwise start on an incomplete list, `git-webhook`
//! asks the server once (a pull request's files, or the comparison of a push's previous and new
//! commit), all changes of a delivery concurrently and inside its time budget and bounds (at most
//! `MAX_CHANGES_LOOKED_UP` changes; `LookupBounds`: 4 requests at once, 100 pages); the decision
//! is then exact, or starts with the reason the list stayed incomplete.

use crate::change::{Change, ChangedFiles};
use crate::git_api::changed_files::{Files, Lookup, LookupBounds};
use crate::git_api::endpoint::CommitId;
use crate::git_api::{GitApi, PostError, ServerApi, Target};
use crate::secrets::ServerCredentials;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most one delivery's lookups may take: the answer must reach the Git server within its
/// 10-second timeout, after the starts.
pub const LOOKUP_BUDGET: Duration = Duration::from_secs(3);

/// The most changes of one delivery whose files are asked for (a Bitbucket or Azure DevOps push
/// carries many refs): past it the others start on the payload's list, saying why.
pub const MAX_CHANGES_LOOKED_UP: usize = 10;

/// Asks Git servers for changed files.
pub struct FileLookups {
    credentials: Arc<ServerCredentials>,
    api: GitApi,
}

impl FileLookups {
    pub fn new(credentials: Arc<ServerCredentials>, api: GitApi) -> Self {
        Self { credentials, api }
    }

    /// The files of `change` (verified by the secret scope `scope`) as its server lists them, or
    /// the payload's own (incomplete) list with the reason; within `budget` and the delivery's
    /// `bounds`.
    pub async fn complete(
        &self,
        change: &Change,
        scope: Option<&str>,
        bounds: &LookupBounds,
        budget: Duration,
        now: i64,
    ) -> ChangedFiles {
        let began = Instant::now();
        let files = match tokio::time::timeout(budget, self.ask(change, scope, bounds, now)).await {
            Ok(files) => files,
            Err(_) => ChangedFiles::incomplete(format!(
                "{} did not answer within {} ms",
                change.server.as_ref().map_or("the Git server", |s| s.host.as_str()),
                budget.as_millis()
            )),
        };
        tracing::info!(
            provider = %change.provider,
            delivery = %change.delivery,
            git_ref = %change.git_ref,
            files = files.paths.len(),
            complete = files.complete,
            reason = files.why.as_deref().unwrap_or_default(),
            elapsed_ms = began.elapsed().as_millis() as u64,
            "changed files asked of the Git server"
        );
        crate::metrics::count("FileLookups", 1, &[("outcome", if files.complete { "complete" } else { "incomplete" })]);
        files
    }

    async fn ask(&self, change: &Change, scope: Option<&str>, bounds: &LookupBounds, now: i64) -> ChangedFiles {
        // Gogs and generic senders have no API; a payload may name no server Herald can call.
        if ServerApi::of(change.provider).is_none() || change.server.is_none() {
            return change.files.clone();
        }
        // A name its server would not allow: no request, and why.
        let target = match Target::of(change, scope) {
            Ok(t) => t,
            Err(why) => return ChangedFiles { why: Some(why), ..change.files.clone() },
        };
        let lookup = match (&change.pull_request, &change.before) {
            (Some(pr), _) => Lookup::PullRequest(pr.number),
            (None, Some(before)) if !change.commit.is_empty() => {
                match (CommitId::full(before), CommitId::full(&change.commit)) {
                    (Ok(before), Ok(after)) => Lookup::Push { before, after },
                    (Err(why), _) | (_, Err(why)) => return ChangedFiles::incomplete(why),
                }
            }
            _ => {
                return ChangedFiles::incomplete(
                    "the push created the ref: there is no previous commit to compare with",
                )
            }
        };
        let credentials = match self.credentials.get().await {
            Ok(c) => c,
            Err(_) => return ChangedFiles::incomplete("the Git server credentials could not be read"),
        };
        match self.api.changed_files(&credentials, &target, &lookup, bounds, now).await {
            Ok(Files { paths, cut: None }) => ChangedFiles::complete(paths),
            Ok(Files { paths, cut: Some(why) }) => {
                ChangedFiles { complete: false, why: Some(why), ..ChangedFiles::complete(paths) }
            }
            Err(e @ (PostError::NoCredential { .. } | PostError::Refused(_))) => {
                ChangedFiles { why: Some(e.to_string()), ..change.files.clone() }
            }
            Err(e) => ChangedFiles { why: Some(format!("the lookup failed: {e}")), ..change.files.clone() },
        }
    }

    /// The full commit id of a change whose payload names only a prefix (Bitbucket Cloud's pull
    /// requests name 12 characters, which cannot pin a source action), as its server names it;
    /// or why not, within `budget`.
    pub async fn full_commit(
        &self,
        change: &Change,
        scope: Option<&str>,
        budget: Duration,
        now: i64,
    ) -> Result<String, String> {
        let target = Target::of(change, scope)?;
        let credentials =
            self.credentials.get().await.map_err(|_| "the Git server credentials could not be read".to_owned())?;
        match tokio::time::timeout(budget, self.api.full_commit(&credentials, &target, &change.commit, now)).await {
            Ok(Ok(full)) if full.starts_with(&change.commit) => Ok(full),
            Ok(Ok(other)) => Err(format!("the server answered commit {other}, not one starting {}", change.commit)),
            Ok(Err(e)) => Err(format!("the full commit id could not be read: {e}")),
            Err(_) => Err(format!("the full commit id was not read within {} ms", budget.as_millis())),
        }
    }
}

#[cfg(test)]
mod tests;
