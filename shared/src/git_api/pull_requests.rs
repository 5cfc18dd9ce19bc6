//! A pull request as its server describes it, for commands from the pull request (docs/commands.md
//! "Commands from the pull request"): the head commit, the target branch and whether it comes from
//! a fork, read from the server's API (`Endpoint::PullRequest`), never from a comment's payload;
//! whether the commenter may write to the repository, where the server answers it per user
//! (`Endpoint::Permission`); and the reply comment's body in each server's words
//! (`Endpoint::PullRequestComment`).
//!
//! Not called by deliveries yet: commands are read and acknowledged, not acted on.

use super::ServerApi;
use serde::Deserialize;
use serde_json::{json, Value};

/// What a command needs of a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestHead {
    /// The head commit as the server names it (Bitbucket Cloud: 12 characters, a prefix).
    pub head_commit: String,
    /// The branch it merges into, without `refs/heads/`.
    pub target_branch: String,
    /// The branch it comes from, without `refs/heads/`.
    pub source_branch: String,
    /// The source repository is another than the target.
    pub from_fork: bool,
    /// Open, or closed or merged, as the server says now.
    pub state: PullRequestState,
}

/// Whether a pull request is still open, as its server says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullRequestState {
    /// Open (also: a server's answer that names no state).
    #[default]
    Open,
    /// Closed without merging (Bitbucket's declined, Azure DevOps' abandoned).
    Closed,
    /// Merged (Azure DevOps' completed).
    Merged,
}

impl PullRequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Merged => "merged",
        }
    }

    /// A server's state word (any case), and whether it says merged.
    fn read(word: Option<&str>, merged: bool) -> Self {
        match word.map(str::to_ascii_lowercase).as_deref() {
            _ if merged => Self::Merged,
            Some("merged" | "completed") => Self::Merged,
            Some("closed" | "declined" | "superseded" | "abandoned" | "locked") => Self::Closed,
            _ => Self::Open,
        }
    }
}

#[derive(Deserialize)]
struct GitHubSide {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    sha: String,
    /// `null` once a fork is deleted.
    repo: Option<GitHubRepo>,
}

#[derive(Deserialize)]
struct GitHubRepo {
    /// GitHub names repositories by `full_name`; Gitea's pull request answers carry `id` too.
    full_name: Option<String>,
    id: Option<u64>,
}

#[derive(Deserialize)]
struct GitHubPull {
    head: GitHubSide,
    base: GitHubSide,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    merged: Option<bool>,
    #[serde(default)]
    merged_at: Option<String>,
}

#[derive(Deserialize)]
struct GitLabMergeRequest {
    #[serde(default)]
    state: Option<String>,
    sha: String,
    target_branch: String,
    source_branch: String,
    source_project_id: u64,
    target_project_id: u64,
}

#[derive(Deserialize)]
struct BitbucketCloudPull {
    #[serde(default)]
    state: Option<String>,
    source: BitbucketCloudSide,
    destination: BitbucketCloudSide,
}

#[derive(Deserialize)]
struct BitbucketCloudSide {
    branch: BitbucketBranch,
    commit: Option<BitbucketCommit>,
    repository: Option<BitbucketCloudRepo>,
}

#[derive(Deserialize)]
struct BitbucketBranch {
    name: String,
}

#[derive(Deserialize)]
struct BitbucketCommit {
    hash: String,
}

#[derive(Deserialize)]
struct BitbucketCloudRepo {
    full_name: String,
}

#[derive(Deserialize)]
struct BitbucketServerPull {
    #[serde(default)]
    state: Option<String>,
    #[serde(rename = "fromRef")]
    from_ref: BitbucketServerRef,
    #[serde(rename = "toRef")]
    to_ref: BitbucketServerRef,
}

#[derive(Deserialize)]
struct BitbucketServerRef {
    #[serde(rename = "displayId")]
    display_id: String,
    #[serde(rename = "latestCommit", default)]
    latest_commit: String,
    repository: BitbucketServerRepo,
}

#[derive(Deserialize)]
struct BitbucketServerRepo {
    slug: String,
    project: BitbucketServerProject,
}

#[derive(Deserialize)]
struct BitbucketServerProject {
    key: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzurePull {
    #[serde(default)]
    status: Option<String>,
    last_merge_source_commit: AzureCommit,
    target_ref_name: String,
    source_ref_name: String,
    /// Present when the source is a fork.
    fork_source: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureCommit {
    commit_id: String,
}

/// Reads a pull request answer of `api`; what is wrong, in words, when it is not one.
pub fn read(api: ServerApi, body: &[u8]) -> Result<PullRequestHead, String> {
    let bad = |e: serde_json::Error| format!("the pull request answer is not one: {e}");
    let strip = |name: &str| name.strip_prefix("refs/heads/").unwrap_or(name).to_owned();
    let head = match api {
        ServerApi::GitHub | ServerApi::Gitea => {
            let p: GitHubPull = serde_json::from_slice(body).map_err(bad)?;
            let same = match (&p.head.repo, &p.base.repo) {
                (Some(h), Some(b)) => match (h.id, b.id) {
                    (Some(h), Some(b)) => h == b,
                    _ => {
                        h.full_name.is_some()
                            && h.full_name.as_deref().map(str::to_lowercase)
                                == b.full_name.as_deref().map(str::to_lowercase)
                    }
                },
                _ => false,
            };
            let merged = p.merged == Some(true) || p.merged_at.is_some();
            PullRequestHead {
                head_commit: p.head.sha,
                target_branch: strip(&p.base.git_ref),
                source_branch: strip(&p.head.git_ref),
                from_fork: !same,
                state: PullRequestState::read(p.state.as_deref(), merged),
            }
        }
        ServerApi::GitLab => {
            let m: GitLabMergeRequest = serde_json::from_slice(body).map_err(bad)?;
            PullRequestHead {
                head_commit: m.sha,
                target_branch: m.target_branch,
                source_branch: m.source_branch,
                from_fork: m.source_project_id != m.target_project_id,
                state: PullRequestState::read(m.state.as_deref(), false),
            }
        }
        ServerApi::BitbucketCloud => {
            let p: BitbucketCloudPull = serde_json::from_slice(body).map_err(bad)?;
            let name = |side: &BitbucketCloudSide| side.repository.as_ref().map(|r| r.full_name.to_lowercase());
            let from_fork = name(&p.source).is_none() || name(&p.source) != name(&p.destination);
            PullRequestHead {
                head_commit: p.source.commit.map(|c| c.hash).unwrap_or_default(),
                target_branch: p.destination.branch.name,
                source_branch: p.source.branch.name,
                from_fork,
                state: PullRequestState::read(p.state.as_deref(), false),
            }
        }
        ServerApi::BitbucketServer => {
            let p: BitbucketServerPull = serde_json::from_slice(body).map_err(bad)?;
            let name =
                |r: &BitbucketServerRef| format!("{}/{}", r.repository.project.key, r.repository.slug).to_lowercase();
            PullRequestHead {
                from_fork: name(&p.from_ref) != name(&p.to_ref),
                head_commit: p.from_ref.latest_commit,
                target_branch: p.to_ref.display_id,
                source_branch: p.from_ref.display_id,
                state: PullRequestState::read(p.state.as_deref(), false),
            }
        }
        ServerApi::AzureDevOps => {
            let p: AzurePull = serde_json::from_slice(body).map_err(bad)?;
            PullRequestHead {
                head_commit: p.last_merge_source_commit.commit_id,
                target_branch: strip(&p.target_ref_name),
                source_branch: strip(&p.source_ref_name),
                from_fork: p.fork_source.is_some_and(|f| !f.is_null()),
                state: PullRequestState::read(p.status.as_deref(), false),
            }
        }
    };
    if head.head_commit.is_empty() {
        return Err("the pull request answer names no head commit".into());
    }
    Ok(head)
}

/// The full id in Bitbucket Cloud's commit answer (`Endpoint::Commit`).
pub fn full_commit(body: &[u8]) -> Result<String, String> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("the commit answer is not one: {e}"))?;
    let hash = doc["hash"].as_str().unwrap_or_default();
    match super::CommitId::full(hash) {
        Ok(id) => Ok(id.as_str().to_owned()),
        Err(_) => Err("the commit answer names no full commit id".into()),
    }
}

/// The body that posts `markdown` as a comment on a pull request of `api`.
pub fn comment_body(api: ServerApi, markdown: &str) -> Value {
    match api {
        ServerApi::GitHub | ServerApi::Gitea | ServerApi::GitLab => json!({ "body": markdown }),
        ServerApi::BitbucketCloud => json!({ "content": { "raw": markdown } }),
        ServerApi::BitbucketServer => json!({ "text": markdown }),
        // A new thread, closed: a reply is a record, not a discussion to resolve.
        ServerApi::AzureDevOps => {
            json!({ "comments": [{ "parentCommentId": 0, "content": markdown, "commentType": 1 }], "status": 4 })
        }
    }
}

/// A comment as its server holds it: who wrote it, what it says, when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerComment {
    pub author: crate::change::CommentAuthor,
    pub body: String,
    pub created_at: Option<i64>,
}

/// Reads a comment answer of `api` (`Endpoint::Comment`).
pub fn comment(api: ServerApi, body: &[u8]) -> Result<ServerComment, String> {
    use crate::change::CommentAuthor;
    let doc: Value = serde_json::from_slice(body).map_err(|e| format!("the comment answer is not one: {e}"))?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let (author, body, created_at) = match api {
        ServerApi::GitHub | ServerApi::Gitea => (
            CommentAuthor {
                name: text(&doc["user"]["login"]).unwrap_or_default(),
                id: None,
                association: text(&doc["author_association"]),
            },
            text(&doc["body"]),
            doc["created_at"].as_str().and_then(crate::clock::parse_time),
        ),
        ServerApi::GitLab => (
            CommentAuthor {
                name: text(&doc["author"]["username"]).unwrap_or_default(),
                id: doc["author"]["id"].as_u64().map(|id| id.to_string()),
                association: None,
            },
            text(&doc["body"]),
            doc["created_at"].as_str().and_then(crate::clock::parse_time),
        ),
        ServerApi::BitbucketCloud => {
            let (account, uuid) = (text(&doc["user"]["account_id"]), text(&doc["user"]["uuid"]));
            (
                CommentAuthor {
                    name: account.clone().or(uuid.clone()).unwrap_or_default(),
                    id: uuid.filter(|_| account.is_some()),
                    association: None,
                },
                text(&doc["content"]["raw"]),
                doc["created_on"].as_str().and_then(crate::clock::parse_time),
            )
        }
        ServerApi::BitbucketServer => (
            CommentAuthor { name: text(&doc["author"]["name"]).unwrap_or_default(), id: None, association: None },
            text(&doc["text"]),
            doc["createdDate"].as_i64().map(|ms| ms / 1000),
        ),
        ServerApi::AzureDevOps => (
            CommentAuthor { name: text(&doc["author"]["uniqueName"]).unwrap_or_default(), id: None, association: None },
            text(&doc["content"]),
            doc["publishedDate"].as_str().and_then(crate::clock::parse_time),
        ),
    };
    let body = body.ok_or("the comment answer has no text")?;
    if author.name.is_empty() {
        return Err("the comment answer names no author".into());
    }
    Ok(ServerComment { author, body, created_at })
}

/// GitHub's `author_association` values of people who cannot write to the repository: refused
/// without asking. The others (`OWNER`, `MEMBER`, `COLLABORATOR`) are not a permission
/// (`MEMBER` is any member of the organization, `COLLABORATOR` includes read and triage), so
/// the collaborator permission API decides for them.
pub const GITHUB_NON_WRITERS: [&str; 5] = ["NONE", "FIRST_TIMER", "FIRST_TIME_CONTRIBUTOR", "CONTRIBUTOR", "MANNEQUIN"];
/// GitLab's Developer access level: the least that may push, and so run a command.
pub const GITLAB_DEVELOPER: u64 = 30;

/// Whether the server's permission answer (`Endpoint::Permission`) lets `user` write to the
/// repository: GitLab access level Developer (30) or more; Gitea / Forgejo `write`, `admin` or
/// `owner`; Bitbucket Data Center `REPO_WRITE` or `REPO_ADMIN` for that user name exactly.
pub fn may_write(api: ServerApi, body: &[u8], user: &str) -> Result<bool, String> {
    let bad = |e: serde_json::Error| format!("the permission answer is not one: {e}");
    let doc: Value = serde_json::from_slice(body).map_err(bad)?;
    match api {
        ServerApi::GitLab => {
            let level = doc["access_level"].as_u64().ok_or("the member answer has no access_level")?;
            Ok(level >= GITLAB_DEVELOPER)
        }
        ServerApi::Gitea => {
            let permission = doc["permission"].as_str().ok_or("the permission answer has no permission")?;
            Ok(matches!(permission, "write" | "admin" | "owner"))
        }
        // `permission` is the base role (maintain maps to write, triage to read; a custom role
        // to its base), `role_name` may name a custom role: the base decides.
        ServerApi::GitHub => {
            let permission = doc["permission"].as_str().ok_or("the permission answer has no permission")?;
            Ok(matches!(permission, "admin" | "maintain" | "write"))
        }
        ServerApi::BitbucketServer => {
            let values = doc["values"].as_array().ok_or("the permission answer has no values")?;
            Ok(values.iter().any(|v| {
                v["user"]["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(user))
                    && matches!(v["permission"].as_str(), Some("REPO_WRITE" | "REPO_ADMIN"))
            }))
        }
        ServerApi::BitbucketCloud | ServerApi::AzureDevOps => {
            Err(format!("{} has no per-user permission answer Herald reads", api.key()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_server_s_comment_gives_its_author_text_and_time() {
        let at = Some(1_796_724_000);
        let read = |api, doc: Value| comment(api, doc.to_string().as_bytes()).unwrap();
        let gh = read(
            ServerApi::GitHub,
            json!({ "body": "/herald run", "user": { "login": "ann" }, "author_association": "MEMBER", "created_at": "2026-12-08T10:00:00Z" }),
        );
        assert_eq!(
            (gh.author.name.as_str(), gh.author.association.as_deref(), gh.body.as_str(), gh.created_at),
            ("ann", Some("MEMBER"), "/herald run", at)
        );
        let gl = read(
            ServerApi::GitLab,
            json!({ "body": "b", "author": { "id": 51, "username": "ann" }, "created_at": "2026-12-08T10:00:00.000Z" }),
        );
        assert_eq!((gl.author.id.as_deref(), gl.created_at), (Some("51"), at));
        let bb = read(
            ServerApi::BitbucketCloud,
            json!({ "content": { "raw": "b" }, "user": { "account_id": "557058:a", "uuid": "{u}", "nickname": "alice" }, "created_on": "2026-12-08T10:00:00.5+00:00" }),
        );
        assert_eq!((bb.author.name.as_str(), bb.created_at), ("557058:a", at));
        let dc = read(
            ServerApi::BitbucketServer,
            json!({ "text": "b", "author": { "name": "ann" }, "createdDate": 1_796_724_000_123_i64 }),
        );
        assert_eq!((dc.author.name.as_str(), dc.created_at), ("ann", at));
        let az = read(
            ServerApi::AzureDevOps,
            json!({ "content": "b", "author": { "uniqueName": "ann@fabrikam.com" }, "publishedDate": "2026-12-08T10:00:00Z" }),
        );
        assert_eq!((az.author.name.as_str(), az.created_at), ("ann@fabrikam.com", at));
        assert!(comment(ServerApi::GitHub, b"{\"body\": \"x\"}").unwrap_err().contains("no author"));
    }

    #[test]
    fn each_server_s_pull_request_gives_its_head_target_and_fork() {
        let sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
        let github = json!({ "head": { "ref": "new-topic", "sha": sha, "repo": { "full_name": "someone/Hello-World" } },
                             "base": { "ref": "master", "sha": "x", "repo": { "full_name": "octocat/Hello-World" } } });
        let gitea = json!({ "head": { "ref": "feature", "sha": sha, "repo": { "id": 3, "full_name": "o/r" } },
                            "base": { "ref": "main", "repo": { "id": 3, "full_name": "o/r" } } });
        let gitlab = json!({ "sha": sha, "target_branch": "main", "source_branch": "f", "source_project_id": 5, "target_project_id": 5 });
        let bitbucket = json!({ "source": { "branch": { "name": "f" }, "commit": { "hash": "6dcb09b5b578" }, "repository": { "full_name": "team/repo" } },
                                "destination": { "branch": { "name": "main" }, "repository": { "full_name": "team/repo" } } });
        let data_center = json!({ "fromRef": { "displayId": "f", "latestCommit": sha, "repository": { "slug": "fork", "project": { "key": "~ANN" } } },
                                  "toRef": { "displayId": "main", "latestCommit": "y", "repository": { "slug": "repo", "project": { "key": "PROJ" } } } });
        let azure = json!({ "lastMergeSourceCommit": { "commitId": sha }, "targetRefName": "refs/heads/main", "sourceRefName": "refs/heads/f" });
        let read_as = |api, doc: Value| read(api, doc.to_string().as_bytes()).unwrap();
        assert_eq!(
            read_as(ServerApi::GitHub, github),
            PullRequestHead {
                head_commit: sha.into(),
                target_branch: "master".into(),
                source_branch: "new-topic".into(),
                from_fork: true,
                state: PullRequestState::Open,
            }
        );
        // Each server's words for closed and merged.
        for (api, doc, state) in [
            (
                ServerApi::GitHub,
                json!({ "state": "closed", "merged": true, "head": { "ref": "f", "sha": sha }, "base": { "ref": "main" } }),
                PullRequestState::Merged,
            ),
            (
                ServerApi::Gitea,
                json!({ "state": "closed", "merged": false, "head": { "ref": "f", "sha": sha }, "base": { "ref": "main" } }),
                PullRequestState::Closed,
            ),
            (
                ServerApi::GitLab,
                json!({ "state": "merged", "sha": sha, "target_branch": "main", "source_branch": "f", "source_project_id": 1, "target_project_id": 1 }),
                PullRequestState::Merged,
            ),
            (
                ServerApi::BitbucketCloud,
                json!({ "state": "DECLINED", "source": { "branch": { "name": "f" }, "commit": { "hash": "6dcb09b5b578" } }, "destination": { "branch": { "name": "main" } } }),
                PullRequestState::Closed,
            ),
            (
                ServerApi::AzureDevOps,
                json!({ "status": "completed", "lastMergeSourceCommit": { "commitId": sha }, "targetRefName": "refs/heads/main", "sourceRefName": "refs/heads/f" }),
                PullRequestState::Merged,
            ),
            (
                ServerApi::AzureDevOps,
                json!({ "status": "active", "lastMergeSourceCommit": { "commitId": sha }, "targetRefName": "refs/heads/main", "sourceRefName": "refs/heads/f" }),
                PullRequestState::Open,
            ),
        ] {
            assert_eq!(read_as(api, doc).state, state, "{api:?}");
        }
        assert!(!read_as(ServerApi::Gitea, gitea).from_fork);
        assert_eq!(read_as(ServerApi::GitLab, gitlab).target_branch, "main");
        let cloud = read_as(ServerApi::BitbucketCloud, bitbucket);
        assert_eq!(
            (cloud.head_commit.as_str(), cloud.from_fork),
            ("6dcb09b5b578", false),
            "Bitbucket names 12 characters"
        );
        assert!(read_as(ServerApi::BitbucketServer, data_center).from_fork);
        let azure = read_as(ServerApi::AzureDevOps, azure);
        assert_eq!((azure.target_branch.as_str(), azure.from_fork), ("main", false));
        assert!(read(ServerApi::GitHub, b"{}").unwrap_err().contains("not one"));
        let no_head = json!({ "sha": "", "target_branch": "main", "source_branch": "f", "source_project_id": 1, "target_project_id": 1 });
        assert!(read(ServerApi::GitLab, no_head.to_string().as_bytes()).unwrap_err().contains("no head commit"));
    }

    #[test]
    fn each_server_s_permission_answer_says_who_may_write() {
        let gitlab = |level: u64| {
            may_write(
                ServerApi::GitLab,
                json!({ "id": 1, "username": "ann", "access_level": level }).to_string().as_bytes(),
                "ann",
            )
        };
        assert_eq!(
            (gitlab(20), gitlab(30), gitlab(50)),
            (Ok(false), Ok(true), Ok(true)),
            "Reporter no; Developer, Owner yes"
        );
        let gitea = |p: &str| {
            may_write(ServerApi::Gitea, json!({ "permission": p, "role_name": p }).to_string().as_bytes(), "ann")
        };
        assert_eq!(
            (gitea("read"), gitea("write"), gitea("admin"), gitea("owner")),
            (Ok(false), Ok(true), Ok(true), Ok(true))
        );
        let data_center = json!({ "values": [
            { "user": { "name": "ann" }, "permission": "REPO_READ" },
            { "user": { "name": "annie" }, "permission": "REPO_WRITE" },
            { "user": { "name": "bo" }, "permission": "REPO_ADMIN" } ] })
        .to_string();
        assert_eq!(
            may_write(ServerApi::BitbucketServer, data_center.as_bytes(), "ann"),
            Ok(false),
            "the filter matches prefixes; the name must be exact"
        );
        assert_eq!(may_write(ServerApi::BitbucketServer, data_center.as_bytes(), "bo"), Ok(true));
        assert!(may_write(ServerApi::GitLab, b"{}", "ann").is_err());
        assert!(may_write(ServerApi::AzureDevOps, b"{}", "ann").is_err());
    }

    #[test]
    fn a_reply_is_in_each_server_s_words() {
        assert_eq!(comment_body(ServerApi::GitHub, "done")["body"], "done");
        assert_eq!(comment_body(ServerApi::BitbucketCloud, "done")["content"]["raw"], "done");
        assert_eq!(comment_body(ServerApi::BitbucketServer, "done")["text"], "done");
        assert_eq!(comment_body(ServerApi::AzureDevOps, "done")["comments"][0]["content"], "done");
    }
}
