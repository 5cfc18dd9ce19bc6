//! Every URL Herald requests from a Git server is built here, and only here (docs/credentials.md "Where
//! Herald sends requests"): from the API base of the credential in use (configuration), the
//! repository name the trigger matched, checked against what its server allows in names and
//! percent-encoded segment by segment ([`Repository`]), and values checked for their form
//! ([`CommitId`], pull request and installation numbers). Nothing here takes a URL from a
//! payload: a `?`, `#`, `..` or `%2F` in one cannot reach a request.

use super::ServerApi;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What a path segment keeps unencoded: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A repository name its server allows, split into path segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    api: ServerApi,
    segments: Vec<String>,
}

impl Repository {
    /// `name` (`owner/repo`, `group/sub/project`, `PROJECT/repo`, `project/repo`) as `api`'s
    /// server allows it; an error saying why when it does not (no request is made for it).
    pub fn new(api: ServerApi, name: &str) -> Result<Self, String> {
        let segments: Vec<&str> = name.split('/').collect();
        let fail = |why: &str| Err(format!("the repository name {:?} {why}", shorten(name)));
        let (min, max) = match api {
            // GitLab: a project under up to 20 nested groups.
            ServerApi::GitLab => (2, 21),
            _ => (2, 2),
        };
        if segments.len() < min || segments.len() > max {
            return fail(&format!("is not {} of its server", shape(api)));
        }
        for (i, segment) in segments.iter().enumerate() {
            let limit = match (api, i) {
                (ServerApi::GitHub, 0) => 39,
                (ServerApi::GitHub, _) => 100,
                (ServerApi::AzureDevOps, _) => 64,
                _ => 255,
            };
            if segment.is_empty() || segment.len() > limit {
                return fail(&format!("has a part that is empty or longer than {limit} characters"));
            }
            if segment.bytes().all(|b| b == b'.') {
                return fail("has a part made of dots");
            }
            let allowed = |b: u8| match api {
                // GitHub owners: letters, digits and hyphens.
                ServerApi::GitHub if i == 0 => b.is_ascii_alphanumeric() || b == b'-',
                // Data Center project keys (`~user` for personal repositories).
                ServerApi::BitbucketServer if i == 0 => b.is_ascii_alphanumeric() || b == b'_' || b == b'~',
                // Azure DevOps allows spaces and more; never a character that means something in a URL.
                ServerApi::AzureDevOps => {
                    (b.is_ascii_graphic() || b == b' ') && !b"\\/:*?\"<>|;#$%{},+=[]@&'".contains(&b)
                }
                _ => b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'),
            };
            if !segment.bytes().all(allowed) {
                return fail("has characters its server does not allow in names");
            }
        }
        Ok(Self { api, segments: segments.into_iter().map(str::to_owned).collect() })
    }

    /// The name as written (`owner/repo`).
    pub fn name(&self) -> String {
        self.segments.join("/")
    }

    /// Segment `i`, percent-encoded.
    fn part(&self, i: usize) -> String {
        utf8_percent_encode(&self.segments[i], SEGMENT).to_string()
    }

    /// Every segment percent-encoded, joined by `/`.
    fn path(&self) -> String {
        (0..self.segments.len()).map(|i| self.part(i)).collect::<Vec<_>>().join("/")
    }

    /// GitLab's project id: the URL-encoded full path (`group%2Fsub%2Fproject`).
    fn gitlab_id(&self) -> String {
        utf8_percent_encode(&self.name(), SEGMENT).to_string()
    }
}

fn shape(api: ServerApi) -> &'static str {
    match api {
        ServerApi::GitHub | ServerApi::Gitea => "owner/name",
        ServerApi::GitLab => "group[/subgroup...]/project",
        ServerApi::BitbucketCloud => "workspace/repository",
        ServerApi::BitbucketServer => "PROJECT/repository",
        ServerApi::AzureDevOps => "project/repository",
    }
}

/// The start of a name for a message (an over-long name is not echoed whole).
fn shorten(name: &str) -> String {
    let cut: String = name.chars().filter(|c| !c.is_control()).take(80).collect();
    if cut.len() < name.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// A commit id, checked: hex, of a length Git uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitId(String);

impl CommitId {
    /// For statuses: 7 to 64 hex digits (servers accept abbreviations).
    pub fn for_status(id: &str) -> Result<Self, String> {
        if (7..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(id.to_ascii_lowercase()))
        } else {
            Err("the payload names no commit id (7 to 64 hex digits)".into())
        }
    }

    /// For comparisons: a full id, 40 (SHA-1) or 64 (SHA-256) hex digits.
    pub fn full(id: &str) -> Result<Self, String> {
        if matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(id.to_ascii_lowercase()))
        } else {
            Err(format!("{:?} is not a full commit id (40 or 64 hex digits)", shorten(id)))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every request Herald can make of a Git server.
#[derive(Debug, Clone, Copy)]
pub enum Endpoint<'a> {
    /// Post a commit status.
    Status { repository: &'a Repository, commit: &'a CommitId },
    /// The first page of a pull request's (merge request's) files.
    PullRequestFiles { repository: &'a Repository, number: u64 },
    /// The first page of the files changed from `before` to `after`.
    Comparison { repository: &'a Repository, before: &'a CommitId, after: &'a CommitId },
    /// Azure DevOps: a pull request's iterations (the last holds every change).
    PullRequestIterations { repository: &'a Repository, number: u64 },
    /// Azure DevOps: the first page of the changes of iteration `iteration`.
    IterationChanges { repository: &'a Repository, number: u64, iteration: u64 },
    /// A pull request (merge request) itself: its head commit, target branch and source.
    PullRequest { repository: &'a Repository, number: u64 },
    /// Post a comment on a pull request's conversation (Azure DevOps: a new thread).
    PullRequestComment { repository: &'a Repository, number: u64 },
    /// What `user` may do in the repository, where the server says it per user: GitLab's
    /// members API (by user id), Gitea / Forgejo's collaborator permission, Bitbucket Data
    /// Center's user permissions (filtered by name). `None` for the other servers.
    Permission { repository: &'a Repository, user: &'a UserName },
    /// Bitbucket Cloud: one commit, named by the prefix its pull request answers give (12
    /// characters), for its full id.
    Commit { repository: &'a Repository, commit: &'a CommitId },
    /// One comment of pull request `number`, as its server holds it (who wrote it, what it says).
    Comment { repository: &'a Repository, number: u64, id: &'a CommentId },
    /// GitHub Apps: mint an installation token.
    InstallationToken { installation_id: u64 },
    /// The first page of a hook's recent deliveries, newest first (docs/operations.md "Missed
    /// deliveries"): GitHub's hook deliveries, GitLab's project hook events.
    HookDeliveries { hook: &'a Hook },
    /// Ask the server to send delivery `delivery_id` of `hook` again.
    Redelivery { hook: &'a Hook, delivery_id: u64 },
}

/// A webhook whose deliveries Herald may list and resend, as a credentials entry names it
/// (`hooks`): checked when the document is read, so its URL holds only checked names and numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// `repo:<owner>/<repo>:<id>`: a repository's hook (GitLab: a project's).
    Repository { repository: Repository, id: u64 },
    /// `org:<org>:<id>`: a GitHub organization's hook.
    Organization { org: String, id: u64 },
    /// `app`: the GitHub App's own webhook (the App's JWT).
    App,
}

impl Hook {
    /// One `hooks` entry of a credential for `api`'s server.
    pub fn parse(api: ServerApi, text: &str) -> Result<Self, String> {
        let fail = |why: &str| Err(format!("hook {:?} {why}", shorten(text)));
        let with_id = |rest: &str| -> Option<(String, u64)> {
            let (name, id) = rest.rsplit_once(':')?;
            let id = id.parse::<u64>().ok().filter(|id| *id > 0)?;
            Some((name.to_owned(), id))
        };
        match (api, text.split_once(':')) {
            (ServerApi::GitHub, None) if text == "app" => Ok(Self::App),
            (ServerApi::GitHub | ServerApi::GitLab, Some(("repo", rest))) => match with_id(rest) {
                Some((name, id)) => Ok(Self::Repository { repository: Repository::new(api, &name)?, id }),
                None => fail("must be repo:<owner>/<repo>:<hook id>"),
            },
            (ServerApi::GitHub, Some(("org", rest))) => match with_id(rest) {
                // Organization logins: letters, digits and hyphens, at most 39.
                Some((org, id))
                    if (1..=39).contains(&org.len()) && org.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
                {
                    Ok(Self::Organization { org, id })
                }
                _ => fail("must be org:<organization>:<hook id>"),
            },
            (ServerApi::GitHub, _) => fail("must be repo:<owner>/<repo>:<id>, org:<org>:<id> or app"),
            (ServerApi::GitLab, _) => fail("must be repo:<group>/<project>:<hook id> (a project hook)"),
            (other, _) => Err(format!(
                "{} has no API to list and resend webhook deliveries: redelivery is manual there (docs/operations.md \"Missed deliveries\")",
                other.key()
            )),
        }
    }

    /// How a log line or a report names it (`repo:acme/app:12`).
    pub fn label(&self) -> String {
        match self {
            Self::Repository { repository, id } => format!("repo:{}:{id}", repository.name()),
            Self::Organization { org, id } => format!("org:{org}:{id}"),
            Self::App => "app".into(),
        }
    }

    /// Where its deliveries live at `base`.
    fn root(&self, base: &str) -> String {
        match self {
            Self::Repository { repository: r, id } if r.api == ServerApi::GitLab => {
                format!("{}/hooks/{id}/events", r.root(base))
            }
            Self::Repository { repository: r, id } => format!("{}/hooks/{id}/deliveries", r.root(base)),
            Self::Organization { org, id } => {
                format!("{base}/orgs/{}/hooks/{id}/deliveries", utf8_percent_encode(org, SEGMENT))
            }
            Self::App => format!("{base}/app/hook/deliveries"),
        }
    }

    fn is_gitlab(&self) -> bool {
        matches!(self, Self::Repository { repository, .. } if repository.api == ServerApi::GitLab)
    }
}

/// A user's name or id as a permission request may carry it: checked, then percent-encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

/// A comment's id as a server gives it: digits (Azure DevOps: `thread/comment`, both digits);
/// a payload's other text is never put in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentId(String);

impl CommentId {
    pub fn new(id: &str) -> Result<Self, String> {
        let digits = |part: &str| (1..=20).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
        let ok = match id.split_once('/') {
            Some((thread, comment)) => digits(thread) && digits(comment),
            None => digits(id),
        };
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(format!("the comment id {:?} is not one a server gives", crate::template::truncate_chars(id, 40)))
        }
    }
}

impl UserName {
    /// `name` when it is a user name or id its server could have (1 to 255 of letters, digits,
    /// `-`, `_`, `.`, `@`); a payload's other text is never put in a URL.
    pub fn new(name: &str) -> Result<Self, String> {
        let ok = (1..=255).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
            && !name.starts_with('.');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(format!("the user name {:?} is not one a server gives", crate::template::truncate_chars(name, 40)))
        }
    }

    fn encoded(&self) -> String {
        utf8_percent_encode(&self.0, SEGMENT).to_string()
    }
}

impl Repository {
    /// The repository's root in its server's API at `base`: every endpoint of it starts here.
    fn root(&self, base: &str) -> String {
        match self.api {
            ServerApi::GitHub | ServerApi::Gitea => format!("{base}/repos/{}", self.path()),
            ServerApi::GitLab => format!("{base}/projects/{}", self.gitlab_id()),
            ServerApi::BitbucketCloud => format!("{base}/repositories/{}", self.path()),
            ServerApi::BitbucketServer => format!("{base}/api/1.0/projects/{}/repos/{}", self.part(0), self.part(1)),
            ServerApi::AzureDevOps => format!("{base}/{}/_apis/git/repositories/{}", self.part(0), self.part(1)),
        }
    }
}

impl Endpoint<'_> {
    /// The URL at `base`: the credential's API base, no trailing `/` (for Azure DevOps the
    /// organization's or collection's root, `https://dev.azure.com/<organization>`).
    pub fn url(&self, base: &str) -> String {
        match *self {
            Endpoint::InstallationToken { installation_id } => {
                format!("{base}/app/installations/{installation_id}/access_tokens")
            }
            // Data Center's build status belongs to the commit, not to a repository.
            Endpoint::Status { repository: r, commit } if r.api == ServerApi::BitbucketServer => {
                format!("{base}/build-status/1.0/commits/{}", commit.as_str())
            }
            Endpoint::Status { repository: r, commit } => {
                let (root, sha) = (r.root(base), commit.as_str());
                match r.api {
                    ServerApi::BitbucketCloud => format!("{root}/commit/{sha}/statuses/build"),
                    ServerApi::AzureDevOps => format!("{root}/commits/{sha}/statuses?api-version=7.1"),
                    _ => format!("{root}/statuses/{sha}"),
                }
            }
            Endpoint::PullRequestFiles { repository: r, number: n } => {
                let root = r.root(base);
                match r.api {
                    ServerApi::GitHub => format!("{root}/pulls/{n}/files?per_page=100&page=1"),
                    ServerApi::Gitea => format!("{root}/pulls/{n}/files?page=1&limit=50"),
                    ServerApi::GitLab => format!("{root}/merge_requests/{n}/diffs?per_page=100&page=1"),
                    ServerApi::BitbucketCloud => format!("{root}/pullrequests/{n}/diffstat?pagelen=500"),
                    ServerApi::BitbucketServer => format!("{root}/pull-requests/{n}/changes?start=0&limit=1000"),
                    // Azure DevOps lists a pull request's files by iteration.
                    ServerApi::AzureDevOps => Endpoint::PullRequestIterations { repository: r, number: n }.url(base),
                }
            }
            Endpoint::Comparison { repository: r, before, after } => {
                let (root, b, a) = (r.root(base), before.as_str(), after.as_str());
                match r.api {
                    ServerApi::GitHub | ServerApi::Gitea => format!("{root}/compare/{b}...{a}"),
                    ServerApi::GitLab => format!("{root}/repository/compare?from={b}&to={a}"),
                    // `a..b`: what `a` changed since its merge base with `b`.
                    ServerApi::BitbucketCloud => format!("{root}/diffstat/{a}..{b}?pagelen=500"),
                    ServerApi::BitbucketServer => {
                        format!("{root}/compare/changes?from={a}&to={b}&start=0&limit=1000")
                    }
                    ServerApi::AzureDevOps => format!(
                        "{root}/diffs/commits?baseVersion={b}&baseVersionType=commit&targetVersion={a}&targetVersionType=commit&$top=2000&$skip=0&api-version=7.1"
                    ),
                }
            }
            Endpoint::PullRequestIterations { repository: r, number: n } => {
                format!("{}/pullRequests/{n}/iterations?api-version=7.1", r.root(base))
            }
            Endpoint::PullRequest { repository: r, number: n } => {
                let root = r.root(base);
                match r.api {
                    ServerApi::GitHub | ServerApi::Gitea => format!("{root}/pulls/{n}"),
                    ServerApi::GitLab => format!("{root}/merge_requests/{n}"),
                    ServerApi::BitbucketCloud => format!("{root}/pullrequests/{n}"),
                    ServerApi::BitbucketServer => format!("{root}/pull-requests/{n}"),
                    ServerApi::AzureDevOps => format!("{root}/pullrequests/{n}?api-version=7.1"),
                }
            }
            Endpoint::Permission { repository: r, user } => {
                let (root, user) = (r.root(base), user.encoded());
                match r.api {
                    ServerApi::GitLab => format!("{root}/members/all/{user}"),
                    ServerApi::GitHub | ServerApi::Gitea => format!("{root}/collaborators/{user}/permission"),
                    ServerApi::BitbucketServer => format!("{root}/permissions/users?filter={user}"),
                    ServerApi::BitbucketCloud | ServerApi::AzureDevOps => String::new(),
                }
            }
            Endpoint::Commit { repository: r, commit } => format!("{}/commit/{}", r.root(base), commit.as_str()),
            Endpoint::Comment { repository: r, number: n, id } => {
                let (root, id) = (r.root(base), id.0.as_str());
                match r.api {
                    ServerApi::GitHub | ServerApi::Gitea => format!("{root}/issues/comments/{id}"),
                    ServerApi::GitLab => format!("{root}/merge_requests/{n}/notes/{id}"),
                    ServerApi::BitbucketCloud => format!("{root}/pullrequests/{n}/comments/{id}"),
                    ServerApi::BitbucketServer => format!("{root}/pull-requests/{n}/comments/{id}"),
                    ServerApi::AzureDevOps => {
                        let (thread, comment) = id.split_once('/').unwrap_or(("0", id));
                        format!("{root}/pullRequests/{n}/threads/{thread}/comments/{comment}?api-version=7.1")
                    }
                }
            }
            Endpoint::PullRequestComment { repository: r, number: n } => {
                let root = r.root(base);
                match r.api {
                    // A pull request's conversation is its issue's.
                    ServerApi::GitHub | ServerApi::Gitea => format!("{root}/issues/{n}/comments"),
                    ServerApi::GitLab => format!("{root}/merge_requests/{n}/notes"),
                    ServerApi::BitbucketCloud => format!("{root}/pullrequests/{n}/comments"),
                    ServerApi::BitbucketServer => format!("{root}/pull-requests/{n}/comments"),
                    ServerApi::AzureDevOps => format!("{root}/pullRequests/{n}/threads?api-version=7.1"),
                }
            }
            Endpoint::HookDeliveries { hook } if hook.is_gitlab() => format!("{}?per_page=100&page=1", hook.root(base)),
            Endpoint::HookDeliveries { hook } => format!("{}?per_page=100", hook.root(base)),
            Endpoint::Redelivery { hook, delivery_id } if hook.is_gitlab() => {
                format!("{}/{delivery_id}/resend", hook.root(base))
            }
            Endpoint::Redelivery { hook, delivery_id } => format!("{}/{delivery_id}/attempts", hook.root(base)),
            Endpoint::IterationChanges { repository: r, number: n, iteration } => format!(
                "{}/pullRequests/{n}/iterations/{iteration}/changes?api-version=7.1&$top=2000&$skip=0",
                r.root(base)
            ),
        }
    }
}

/// `url` (built here) with its query parameter `name` set to `value`, percent-encoded: how
/// Herald goes to the next page, whatever URL a server's answer names.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let value = utf8_percent_encode(value, SEGMENT).to_string();
    let key = format!("{name}=");
    let found = url.find(&format!("?{key}")).or_else(|| url.find(&format!("&{key}"))).map(|i| i + 1);
    let Some(start) = found else {
        let sep = if url.contains('?') { '&' } else { '?' };
        return format!("{url}{sep}{key}{value}");
    };
    let end = url[start..].find('&').map_or(url.len(), |e| start + e);
    format!("{}{key}{value}{}", &url[..start], &url[end..])
}

/// The value of query parameter `name` in a URL a server answered (percent-decoded).
pub fn param_of(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    fn repo(api: ServerApi, name: &str) -> Repository {
        Repository::new(api, name).unwrap()
    }

    #[test]
    fn every_endpoint_is_the_base_and_the_matched_name() {
        let sha = CommitId::for_status(SHA).unwrap();
        let status = |api, name, base| Endpoint::Status { repository: &repo(api, name), commit: &sha }.url(base);
        assert_eq!(
            status(ServerApi::GitHub, "acme/app", "https://api.github.com"),
            format!("https://api.github.com/repos/acme/app/statuses/{SHA}")
        );
        assert_eq!(
            status(ServerApi::GitLab, "group/sub/app", "https://gitlab.example.com/gitlab/api/v4"),
            format!("https://gitlab.example.com/gitlab/api/v4/projects/group%2Fsub%2Fapp/statuses/{SHA}")
        );
        assert_eq!(
            status(ServerApi::BitbucketCloud, "team/repo", "https://api.bitbucket.org/2.0"),
            format!("https://api.bitbucket.org/2.0/repositories/team/repo/commit/{SHA}/statuses/build")
        );
        assert_eq!(
            status(ServerApi::BitbucketServer, "~GOPHER/repo", "https://bb.example.com/rest"),
            format!("https://bb.example.com/rest/build-status/1.0/commits/{SHA}")
        );
        assert_eq!(
            status(ServerApi::Gitea, "o/r", "https://git.example.com/api/v1"),
            format!("https://git.example.com/api/v1/repos/o/r/statuses/{SHA}")
        );
        assert_eq!(
            status(ServerApi::AzureDevOps, "Fabrikam Fiber/app", "https://dev.azure.com/fabrikam"),
            format!("https://dev.azure.com/fabrikam/Fabrikam%20Fiber/_apis/git/repositories/app/commits/{SHA}/statuses?api-version=7.1")
        );
        let r = repo(ServerApi::GitHub, "acme/app");
        let (before, after) = (CommitId::full(&"a".repeat(40)).unwrap(), CommitId::full(&"b".repeat(40)).unwrap());
        assert_eq!(
            Endpoint::Comparison { repository: &r, before: &before, after: &after }.url("https://api.github.com"),
            format!("https://api.github.com/repos/acme/app/compare/{}...{}", "a".repeat(40), "b".repeat(40))
        );
        assert_eq!(
            Endpoint::InstallationToken { installation_id: 42 }.url("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api/v3/app/installations/42/access_tokens"
        );
    }

    #[test]
    fn a_pull_request_and_its_conversation_are_under_the_matched_repository() {
        let at = |api, name, base, comment: bool| {
            let r = repo(api, name);
            if comment {
                Endpoint::PullRequestComment { repository: &r, number: 7 }.url(base)
            } else {
                Endpoint::PullRequest { repository: &r, number: 7 }.url(base)
            }
        };
        let cases = [
            (
                ServerApi::GitHub,
                "acme/app",
                "https://api.github.com",
                "https://api.github.com/repos/acme/app/pulls/7",
                "https://api.github.com/repos/acme/app/issues/7/comments",
            ),
            (
                ServerApi::GitLab,
                "group/app",
                "https://gitlab.com/api/v4",
                "https://gitlab.com/api/v4/projects/group%2Fapp/merge_requests/7",
                "https://gitlab.com/api/v4/projects/group%2Fapp/merge_requests/7/notes",
            ),
            (
                ServerApi::BitbucketCloud,
                "team/repo",
                "https://api.bitbucket.org/2.0",
                "https://api.bitbucket.org/2.0/repositories/team/repo/pullrequests/7",
                "https://api.bitbucket.org/2.0/repositories/team/repo/pullrequests/7/comments",
            ),
            (
                ServerApi::BitbucketServer,
                "PROJ/repo",
                "https://bb.example.com/rest",
                "https://bb.example.com/rest/api/1.0/projects/PROJ/repos/repo/pull-requests/7",
                "https://bb.example.com/rest/api/1.0/projects/PROJ/repos/repo/pull-requests/7/comments",
            ),
            (
                ServerApi::Gitea,
                "o/r",
                "https://git.example.com/api/v1",
                "https://git.example.com/api/v1/repos/o/r/pulls/7",
                "https://git.example.com/api/v1/repos/o/r/issues/7/comments",
            ),
            (
                ServerApi::AzureDevOps,
                "proj/app",
                "https://dev.azure.com/org",
                "https://dev.azure.com/org/proj/_apis/git/repositories/app/pullrequests/7?api-version=7.1",
                "https://dev.azure.com/org/proj/_apis/git/repositories/app/pullRequests/7/threads?api-version=7.1",
            ),
        ];
        for (api, name, base, pull, comment) in cases {
            assert_eq!(at(api, name, base, false), pull, "{api:?}");
            assert_eq!(at(api, name, base, true), comment, "{api:?}");
        }
    }

    #[test]
    fn a_permission_is_asked_of_the_matched_repository_for_a_checked_user() {
        let user = UserName::new("ann.lee").unwrap();
        let at = |api, name, base| Endpoint::Permission { repository: &repo(api, name), user: &user }.url(base);
        assert_eq!(
            at(ServerApi::GitLab, "group/app", "https://gitlab.com/api/v4"),
            "https://gitlab.com/api/v4/projects/group%2Fapp/members/all/ann.lee"
        );
        assert_eq!(
            at(ServerApi::Gitea, "o/r", "https://git.example.com/api/v1"),
            "https://git.example.com/api/v1/repos/o/r/collaborators/ann.lee/permission"
        );
        assert_eq!(
            at(ServerApi::BitbucketServer, "PROJ/repo", "https://bb.example.com/rest"),
            "https://bb.example.com/rest/api/1.0/projects/PROJ/repos/repo/permissions/users?filter=ann.lee"
        );
        assert_eq!(
            at(ServerApi::GitHub, "o/r", "https://api.github.com"),
            "https://api.github.com/repos/o/r/collaborators/ann.lee/permission",
            "the payload's author_association is not a permission"
        );
        assert_eq!(at(ServerApi::BitbucketCloud, "o/r", "https://api.bitbucket.org/2.0"), "");
        for bad in ["", "../admin", "ann?x=1", "a/b", "a%2Fb", ".hidden", "ann lee"] {
            assert!(UserName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_a_server_does_not_allow_are_refused() {
        let long = format!("acme/{}", "a".repeat(101));
        for (api, name) in [
            (ServerApi::GitHub, "acme/app#/x"),
            (ServerApi::GitHub, "acme/app?x=1"),
            (ServerApi::GitHub, "acme/.."),
            (ServerApi::GitHub, "../acme"),
            (ServerApi::GitHub, "acme/app/extra"),
            (ServerApi::GitHub, "acme/a%2Fb"),
            (ServerApi::GitHub, "ac@me/app"),
            (ServerApi::GitHub, "acme/app\nX-Evil: 1"),
            (ServerApi::GitHub, "acme"),
            (ServerApi::GitHub, long.as_str()),
            (ServerApi::GitLab, "group//app"),
            (ServerApi::GitLab, "group/../app"),
            (ServerApi::AzureDevOps, "project/repo?x"),
            (ServerApi::AzureDevOps, "project/re%2Fpo"),
            (ServerApi::BitbucketServer, "PRO-J/repo"),
        ] {
            assert!(Repository::new(api, name).is_err(), "{api:?} {name:?}");
        }
        assert!(Repository::new(ServerApi::GitLab, &["g"; 21].join("/")).is_ok());
        assert!(Repository::new(ServerApi::GitLab, &["g"; 22].join("/")).is_err());
    }

    #[test]
    fn commit_ids_are_hex_of_a_git_length() {
        assert!(CommitId::for_status("abc1234").is_ok());
        assert!(CommitId::for_status("abc123").is_err());
        assert!(CommitId::for_status(&format!("{SHA}#")).is_err());
        assert!(CommitId::full(SHA).is_ok());
        assert!(CommitId::full(&"a".repeat(64)).is_ok());
        assert!(CommitId::full("abc1234").is_err());
        assert!(CommitId::full(&format!("{}/..", &SHA[..37])).is_err());
    }

    #[test]
    fn page_parameters_are_set_on_herald_s_own_url() {
        let url = "https://h/repos/o/r/pulls/1/files?per_page=100&page=1";
        assert_eq!(with_param(url, "page", "2"), "https://h/repos/o/r/pulls/1/files?per_page=100&page=2");
        assert_eq!(
            with_param(url, "page", "2&x=/y#z"),
            "https://h/repos/o/r/pulls/1/files?per_page=100&page=2%26x%3D%2Fy%23z"
        );
        assert_eq!(with_param("https://h/a?x=1", "page", "3"), "https://h/a?x=1&page=3");
        assert_eq!(
            param_of("https://other/repositories/9/pulls/1/files?page=3&per_page=100", "page").as_deref(),
            Some("3")
        );
        assert_eq!(param_of("https://h/x?y=1", "page"), None);
    }
}
