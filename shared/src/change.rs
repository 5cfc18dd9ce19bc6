//! Herald's common change: what any Git server's delivery means, once parsed.

use serde::Serialize;
use std::fmt;

/// The Git server a delivery came from. Serialised as [`ProviderKind::as_str`], the one name
/// answers, logs, `--json` and the CLI's `--provider` share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    /// Every server, in the order the docs list them.
    pub const ALL: [Self; 9] = [
        Self::GitHub,
        Self::GitLab,
        Self::BitbucketCloud,
        Self::BitbucketServer,
        Self::Gitea,
        Self::Forgejo,
        Self::Gogs,
        Self::AzureDevOps,
        Self::Generic,
    ];

    /// Reads a server's name: its own ([`ProviderKind::as_str`], what answers and `explain`
    /// print) or a common spelling of it (`bitbucket`, `bitbucket-dc`, `azure`, …), in any case.
    pub fn parse(word: &str) -> Option<Self> {
        let word = word.trim().to_ascii_lowercase();
        if let Some(kind) = Self::ALL.into_iter().find(|k| k.as_str() == word) {
            return Some(kind);
        }
        match word.as_str() {
            "bitbucket" | "bitbucket.org" => Some(Self::BitbucketCloud),
            "bitbucket-dc" | "bitbucket-datacenter" | "bitbucket-data-center" => Some(Self::BitbucketServer),
            "azure" | "ado" | "azure-repos" => Some(Self::AzureDevOps),
            "ghes" | "github-enterprise" => Some(Self::GitHub),
            _ => None,
        }
    }

    /// The names [`ProviderKind::parse`] reads, for "unknown provider" answers.
    pub fn names() -> String {
        let own: Vec<&str> = Self::ALL.iter().map(|k| k.as_str()).collect();
        format!("{} (also bitbucket, bitbucket-dc, azure)", own.join(", "))
    }
}

impl Serialize for ProviderKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
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
    /// A GitHub merge queue asks for checks on a merge group (docs/statuses.md "Merge queues").
    MergeGroup,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Tag => "tag",
            Self::PullRequest => "pull_request",
            Self::MergeGroup => "merge_group",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "push" => Some(Self::Push),
            "tag" => Some(Self::Tag),
            "pull_request" => Some(Self::PullRequest),
            "merge_group" => Some(Self::MergeGroup),
            _ => None,
        }
    }
}

/// The merge-group part of a change: the queue's temporary branch is the change's `branch`, its
/// head the commit, and the commit it starts from its `before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MergeGroup {
    /// The branch the group merges into (`main`): what `branches` filters, and `{target_branch}`.
    pub base_branch: String,
}

/// Pull-request actions, the same words for every provider (docs/configuration.md "Configuration").
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
    /// Delivery id from the provider (docs/providers.md "Providers").
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_group: Option<MergeGroup>,
    pub clone_url: String,
    /// Which Git server the delivery names (docs/credentials.md "Where Herald sends requests"): its host, and
    /// for Azure DevOps its organization. Nothing else of a payload's URLs is kept: every request
    /// is built from the credential's API base and the repository name (`git_api::endpoint`).
    /// `None` when the payload names no server Herald can call (Gogs, generic senders).
    pub server: Option<ServerAddress>,
    /// For a push, the commit the ref pointed to before (`None` for a new ref).
    pub before: Option<String>,
}

/// The Git server a verified payload names: the host of one of its URLs, and for Azure DevOps
/// the organization. This is all a payload decides of a request: which credential applies, and
/// through it the API base (docs/credentials.md "Where Herald sends requests").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerAddress {
    /// `host[:port]`, lower case, the scheme's default port left out.
    pub host: String,
    /// Azure DevOps: the organization the payload names, compared with the credential's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

impl ServerAddress {
    /// The host of `url` (`https://Host:443/a/b` → `host`); `None` for anything that is not a
    /// plain `scheme://host[:port]` (user info, bad port, characters no host name has).
    pub fn from_url(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let default_port = match scheme.to_ascii_lowercase().as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
        let (name, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (inside, after) = v6.split_once(']')?;
                let ok = !inside.is_empty() && inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
                (ok.then(|| format!("[{inside}]"))?, after.strip_prefix(':'))
            }
            None => {
                let (name, port) = match authority.split_once(':') {
                    Some((name, port)) => (name, Some(port)),
                    None => (authority.as_str(), None),
                };
                let ok = !name.is_empty()
                    && name.len() <= 253
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    && !name.starts_with(['.', '-']);
                (ok.then(|| name.to_owned())?, port)
            }
        };
        let port = match port {
            None => None,
            Some(p) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => {
                Some(p.parse::<u16>().ok()?)
            }
            Some(_) => return None,
        };
        let host = match port {
            Some(p) if p != default_port => format!("{name}:{p}"),
            _ => name,
        };
        Some(Self { host, organization: None })
    }

    /// The address with the organization an Azure DevOps payload names.
    pub fn with_organization(mut self, organization: Option<String>) -> Self {
        self.organization = organization;
        self
    }
}

/// A new comment on a pull request, as far as a command needs it (docs/commands.md "Commands from the pull
/// request"): who wrote what, where. The pull request's head commit, target branch and fork-ness
/// are not taken from it: a command asks the server for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comment {
    pub provider: ProviderKind,
    pub delivery: String,
    /// The repository of the pull request (its target), full name as for changes.
    pub repository: String,
    /// The server the payload names (its host only, as for changes).
    pub server: Option<ServerAddress>,
    /// The server's id of the comment: with the server and repository, what a command is claimed by.
    pub id: String,
    /// The pull request's number (GitLab: the merge request's `iid`).
    pub pull_request: u64,
    pub author: CommentAuthor,
    pub body: String,
}

/// Who wrote a comment, in the words each server's permission check needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommentAuthor {
    /// The login / username.
    pub name: String,
    /// The server's user id, where its permission API takes one (GitLab's members API).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// GitHub's `author_association` (`OWNER`, `MEMBER`, `COLLABORATOR`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub association: Option<String>,
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
            merge_group: None,
            clone_url: p.clone_url,
            server: None,
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
            merge_group: None,
            clone_url: p.clone_url,
            server: None,
            before: None,
        }
    }
}

/// Why a tag push of Bitbucket Data Center or Azure DevOps names no commit: their payloads carry
/// only the ref's new object, the tag object for an annotated tag.
pub const TAG_OBJECT_NOT_COMMIT: &str = "for a tag the server names the ref's new object, which for an annotated tag is the tag object, not the commit; leave source_action unset for tag triggers on this server and pass {tag} to the build";

impl Change {
    /// The change with the Git server its payload names (`None`: none Herald can call).
    pub fn with_server(mut self, server: Option<ServerAddress>) -> Self {
        self.server = server;
        self
    }

    /// The push with the commit its ref pointed to before (ignored when all zeros: a new ref).
    pub fn with_before(mut self, before: Option<String>) -> Self {
        self.before = before.filter(|b| !b.is_empty() && !is_zero_sha(b));
        self
    }

    /// The push is a merge queue's group, to be merged into `base_branch`.
    pub fn as_merge_group(mut self, base_branch: &str) -> Self {
        self.event = EventKind::MergeGroup;
        self.merge_group = Some(MergeGroup { base_branch: strip_heads(base_branch).to_owned() });
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
    fn a_server_address_is_a_host_and_nothing_more() {
        let host = |url: &str| ServerAddress::from_url(url).map(|a| a.host);
        assert_eq!(host("https://API.github.com/repos/a/b/statuses/{sha}").as_deref(), Some("api.github.com"));
        assert_eq!(host("https://ghe.example.com:443/api/v3").as_deref(), Some("ghe.example.com"));
        assert_eq!(host("https://git.example.com:8443/x#/evil").as_deref(), Some("git.example.com:8443"));
        assert_eq!(host("http://127.0.0.1:9000?x").as_deref(), Some("127.0.0.1:9000"));
        assert_eq!(host("http://[::1]:9000/api").as_deref(), Some("[::1]:9000"));
        for bad in [
            "https://user:pw@evil.example.com/",
            "ftp://h/x",
            "api.github.com/x",
            "https://h:99999/",
            "https://h:/",
            "https:///x",
            "https://a b/",
            "https://h%2f/",
        ] {
            assert_eq!(host(bad), None, "{bad}");
        }
    }

    #[test]
    fn complete_file_lists_are_deduplicated_in_order() {
        let files = ChangedFiles::complete(["b".to_owned(), "a".to_owned(), "b".to_owned()]);
        assert_eq!(files.paths, ["b", "a"]);
        assert!(files.complete);
    }

    /// One vocabulary: what a provider serialises as is its name, and every name reads back
    /// (`--json` once said `git-hub`).
    #[test]
    fn provider_names_round_trip() {
        for kind in ProviderKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
            assert!(ProviderKind::names().contains(kind.as_str()));
        }
        assert_eq!(ProviderKind::parse("Bitbucket-DC"), Some(ProviderKind::BitbucketServer));
        assert_eq!(ProviderKind::parse("bitbucket"), Some(ProviderKind::BitbucketCloud));
        assert_eq!(ProviderKind::parse("azure"), Some(ProviderKind::AzureDevOps));
        assert_eq!(ProviderKind::parse("gitbucket"), None);
    }
}
