//! Herald's common change: what any Git server's delivery means, once parsed.

use serde::Serialize;
use std::fmt;

/// The Git server a delivery came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    GitHub,
    GitLab,
    BitbucketCloud,
    BitbucketServer,
    Gitea,
    Forgejo,
    Gogs,
    AzureDevOps,
    Generic,
}

impl ProviderKind {
    /// The stable name used in answers, logs, metrics and the `{provider}` variable.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitHub => "github",
            Self::GitLab => "gitlab",
            Self::BitbucketCloud => "bitbucket-cloud",
            Self::BitbucketServer => "bitbucket-server",
            Self::Gitea => "gitea",
            Self::Forgejo => "forgejo",
            Self::Gogs => "gogs",
            Self::AzureDevOps => "azure-devops",
            Self::Generic => "generic",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of change a delivery carries, in the words of the `events` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Push,
    Tag,
    PullRequest,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Tag => "tag",
            Self::PullRequest => "pull_request",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "push" => Some(Self::Push),
            "tag" => Some(Self::Tag),
            "pull_request" => Some(Self::PullRequest),
            _ => None,
        }
    }
}

/// Pull-request actions, the same words for every provider (README "Configuration").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrAction {
    Opened,
    Updated,
    Reopened,
    Merged,
    Closed,
}

impl PrAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Updated => "updated",
            Self::Reopened => "reopened",
            Self::Merged => "merged",
            Self::Closed => "closed",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "opened" => Some(Self::Opened),
            "updated" => Some(Self::Updated),
            "reopened" => Some(Self::Reopened),
            "merged" => Some(Self::Merged),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// The pull-request part of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    pub number: u64,
    pub action: PrAction,
    pub source_branch: String,
    pub target_branch: String,
    /// The source repository differs from the target one.
    pub from_fork: bool,
}

/// The files a change touched, when the payload says.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ChangedFiles {
    pub paths: Vec<String>,
    /// False when the payload cannot list every changed file (no lists, or truncated).
    pub complete: bool,
    /// Why the list is incomplete, when Herald asked the Git server and could not complete it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl ChangedFiles {
    /// A list the payload could not give.
    pub fn unknown() -> Self {
        Self { paths: Vec::new(), complete: false, why: None }
    }

    /// A list the Git server could not complete either, and why.
    pub fn incomplete(why: impl Into<String>) -> Self {
        Self { paths: Vec::new(), complete: false, why: Some(why.into()) }
    }

    /// A full list of `paths`, deduplicated, order kept.
    pub fn complete<I: IntoIterator<Item = String>>(paths: I) -> Self {
        let all: Vec<String> = paths.into_iter().collect();
        // Mark first occurrences by reference, then move the kept strings: no copies.
        let mut seen = std::collections::HashSet::with_capacity(all.len());
        let keep: Vec<bool> = all.iter().map(|p| seen.insert(p.as_str())).collect();
        drop(seen);
        let paths = all.into_iter().zip(keep).filter_map(|(p, k)| k.then_some(p)).collect();
        Self { paths, complete: true, why: None }
    }
}

/// One change a delivery reports: a branch push, a tag push or a pull-request event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub provider: ProviderKind,
    pub event: EventKind,
    /// Delivery id from the provider (README "Providers").
    pub delivery: String,
    /// Full repository name (`owner/name`, `group/sub/project`, `PROJECT/repo`, `project/repo`).
    pub repository: String,
    /// Full ref (`refs/heads/main`, `refs/tags/v1`); for pull requests the source ref.
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub branch: Option<String>,
    pub tag: Option<String>,
    /// The full id of the commit to build (for a tag, the tagged commit); empty when the payload
    /// does not name one (Gogs pull requests) or names something else ([`Change::no_commit`]).
    pub commit: String,
    /// Why the payload's commit id cannot be trusted as the commit (e.g. it may be a tag object).
    pub no_commit: Option<&'static str>,
    pub deleted: bool,
    pub files: ChangedFiles,
    pub author: String,
    /// Head commit message (the title, for pull requests).
    pub message: String,
    pub pull_request: Option<PullRequest>,
    pub clone_url: String,
    /// The Git server's commit-status endpoint for this repository, `{sha}` in place of the
    /// commit, read from the verified payload (README "Commit statuses"); `None` when the payload
    /// names none (Gogs, generic senders).
    pub statuses_url: Option<String>,
    /// The target repository's API root on its server (`https://api.github.com/repos/o/r`,
    /// `<gitlab>/api/v4/projects/<id>`, ...), from the verified payload: where the changed files
    /// of a pull request or a push are asked for (README "Path filters").
    pub api_root: Option<String>,
    /// For a push, the commit the ref pointed to before (`None` for a new ref).
    pub before: Option<String>,
}

/// How the write reached Herald.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Source {
    CloudTrail,
    EventBridge,
    Notification,
}

impl S3Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudTrail => "cloudtrail",
            Self::EventBridge => "eventbridge",
            Self::Notification => "s3-notification",
        }
    }
}

/// One object written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub source: S3Source,
    pub bucket: String,
    /// The key as stored (URL decoding done).
    pub key: String,
    pub version_id: Option<String>,
    pub etag: Option<String>,
    /// Stable across redeliveries of the same event.
    pub event_id: String,
}

/// Splits a full ref into branch or tag name.
pub fn split_ref(git_ref: &str) -> (Option<String>, Option<String>) {
    if let Some(tag) = git_ref.strip_prefix("refs/tags/") {
        (None, Some(tag.to_owned()))
    } else if let Some(branch) = git_ref.strip_prefix("refs/heads/") {
        (Some(branch.to_owned()), None)
    } else {
        (Some(git_ref.to_owned()), None)
    }
}

/// True for Git's all-zero object id, which marks a created or deleted ref.
pub fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

/// A push of `git_ref` (branch or tag, decided by the ref) with the fields every provider fills.
pub struct PushParts {
    pub provider: ProviderKind,
    pub delivery: String,
    pub repository: String,
    pub git_ref: String,
    pub commit: String,
    pub deleted: bool,
    pub files: ChangedFiles,
    pub author: String,
    pub message: String,
    pub clone_url: String,
}

impl From<PushParts> for Change {
    fn from(p: PushParts) -> Self {
        let (branch, tag) = split_ref(&p.git_ref);
        let event = if tag.is_some() { EventKind::Tag } else { EventKind::Push };
        Change {
            provider: p.provider,
            event,
            delivery: p.delivery,
            repository: p.repository,
            git_ref: p.git_ref,
            branch,
            tag,
            commit: p.commit,
            no_commit: None,
            deleted: p.deleted,
            files: p.files,
            author: p.author,
            message: p.message,
            pull_request: None,
            clone_url: p.clone_url,
            statuses_url: None,
            api_root: None,
            before: None,
        }
    }
}

/// A pull-request event with the fields every provider fills.
pub struct PullRequestParts {
    pub provider: ProviderKind,
    pub delivery: String,
    pub repository: String,
    pub commit: String,
    pub author: String,
    pub title: String,
    pub clone_url: String,
    pub pull_request: PullRequest,
}

impl From<PullRequestParts> for Change {
    fn from(p: PullRequestParts) -> Self {
        let source = strip_heads(&p.pull_request.source_branch).to_owned();
        let target = strip_heads(&p.pull_request.target_branch).to_owned();
        Change {
            provider: p.provider,
            event: EventKind::PullRequest,
            delivery: p.delivery,
            repository: p.repository,
            git_ref: format!("refs/heads/{source}"),
            branch: Some(source.clone()),
            tag: None,
            commit: p.commit,
            no_commit: None,
            deleted: false,
            files: ChangedFiles::unknown(),
            author: p.author,
            message: p.title,
            pull_request: Some(PullRequest { source_branch: source, target_branch: target, ..p.pull_request }),
            clone_url: p.clone_url,
            statuses_url: None,
            api_root: None,
            before: None,
        }
    }
}

/// Why a tag push of Bitbucket Data Center or Azure DevOps names no commit: their payloads carry
/// only the ref's new object, the tag object for an annotated tag.
pub const TAG_OBJECT_NOT_COMMIT: &str = "for a tag the server names the ref's new object, which for an annotated tag is the tag object, not the commit; leave source_action unset for tag triggers on this server and pass {tag} to the build";

impl Change {
    /// The change with its repository's API root on the Git server.
    pub fn with_api_root(mut self, root: Option<String>) -> Self {
        self.api_root = root.map(|r| r.trim_end_matches('/').to_owned()).filter(|r| !r.is_empty());
        self
    }

    /// The push with the commit its ref pointed to before (ignored when all zeros: a new ref).
    pub fn with_before(mut self, before: Option<String>) -> Self {
        self.before = before.filter(|b| !b.is_empty() && !is_zero_sha(b));
        self
    }

    /// The change with the server's status endpoint (`{sha}` in place of the commit).
    pub fn with_statuses_url(mut self, url: Option<String>) -> Self {
        self.statuses_url = url.filter(|u| !u.is_empty());
        self
    }

    /// For servers whose tag pushes name the tag object: no commit, and why.
    pub fn tag_object_unpinned(mut self) -> Self {
        if self.event == EventKind::Tag && !self.deleted {
            self.commit.clear();
            self.no_commit = Some(TAG_OBJECT_NOT_COMMIT);
        }
        self
    }
}

fn strip_heads(name: &str) -> &str {
    name.strip_prefix("refs/heads/").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_split_into_branch_or_tag() {
        assert_eq!(split_ref("refs/heads/release/1"), (Some("release/1".into()), None));
        assert_eq!(split_ref("refs/tags/v1.0"), (None, Some("v1.0".into())));
        assert_eq!(split_ref("main"), (Some("main".into()), None));
    }

    #[test]
    fn zero_sha_is_recognised() {
        assert!(is_zero_sha("0000000000000000000000000000000000000000"));
        assert!(!is_zero_sha("0000000000000000000000000000000000000001"));
        assert!(!is_zero_sha(""));
    }

    #[test]
    fn complete_file_lists_are_deduplicated_in_order() {
        let files = ChangedFiles::complete(["b".to_owned(), "a".to_owned(), "b".to_owned()]);
        assert_eq!(files.paths, ["b", "a"]);
        assert!(files.complete);
    }
}
