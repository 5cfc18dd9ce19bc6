//! Trigger decisions: given the configuration and a change, which pipelines start and why the
//! others do not. Pure and synchronous; the `explain` of every skip lives here.

use crate::change::PrAction;
use crate::change::{Change, EventKind, S3Object};
use crate::config::{Concurrency, Config, ForkPolicy, GitRule, PipelineName, S3Rule, Trigger};
use crate::ports::{ChangeKind, GroupPlan, RevisionType, SourceAction, SourceRevision, StartPlan};
use crate::secrets::SecretScope;
use crate::template::{first_line, Field, Fields, Source, Template};
use crate::token;
use std::borrow::Cow;
use std::cell::OnceCell;

/// Commit-message markers that skip a trigger (case-insensitive), as named in skip reasons.
pub const SKIP_MARKERS: [&str; 4] = ["[skip ci]", "[ci skip]", "[no ci]", "[skip herald]"];

/// How a start's note begins when a path filter could not be applied.
pub const INCOMPLETE_FILE_LIST: &str = "file list incomplete";

/// Whether asking the Git server for `change`'s files could change a decision: a path-filtered
/// trigger would otherwise start on an incomplete list.
pub fn wants_file_list(config: &Config, scope: &SecretScope, change: &Change, multi_ref: bool) -> bool {
    !change.files.complete
        && decide_git(config, scope, change, multi_ref)
            .iter()
            .any(|d| d.start_plan().is_some_and(|p| p.notes.iter().any(|n| n.starts_with(INCOMPLETE_FILE_LIST))))
}

/// Start or skip, for one trigger. A start is most of what decisions are for, and there are a
/// few per delivery: boxing it would cost an allocation each for no memory saved.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Start(StartPlan),
    Skip(String),
}

/// The decision for one trigger whose repository matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub trigger: String,
    pub pipeline: PipelineName,
    pub outcome: Outcome,
    /// A skip that counts as passed: repository, event and branch matched, and only `paths` or
    /// a `[skip ci]` marker left the change out, so the trigger's commit status still applies
    /// and is posted as passed (docs/statuses.md "Make Herald's checks required").
    pub skip_passes: bool,
    /// A fork's pull request on a trigger with `allow_forks: "on-approval"`: it waits for a
    /// `/herald ok-to-test`, and a trigger with `status` says so with `pending`.
    pub awaits_ok_to_test: bool,
}

impl Decision {
    /// The decision `outcome` for `trigger`, neither a skip that passes nor a fork waiting.
    fn plain(trigger: &Trigger, outcome: Outcome) -> Self {
        Self {
            trigger: trigger.name.clone(),
            pipeline: trigger.pipeline.clone(),
            outcome,
            skip_passes: false,
            awaits_ok_to_test: false,
        }
    }

    /// The start plan, when the decision is to start.
    pub fn start_plan(&self) -> Option<&StartPlan> {
        match &self.outcome {
            Outcome::Start(plan) => Some(plan),
            Outcome::Skip(_) => None,
        }
    }
}

/// The first few changed files, for a reason a person reads.
fn first_files(paths: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = paths.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    if text.is_empty() {
        text.push_str("none");
    }
    text
}

/// Why each Git trigger `decide_git` leaves out was left out: its repository does not match, or
/// the delivery's secret scope does not admit it. With `decide_git`'s decisions, every Git
/// trigger has a reason (`herald explain` shows both).
pub fn left_out(config: &Config, scope: &SecretScope, change: &Change) -> Vec<(String, PipelineName, String)> {
    config
        .git_triggers()
        .filter_map(|(trigger, rule)| {
            let reason = if !scope.admits(trigger.secret.as_deref()) {
                match (&trigger.secret, scope) {
                    (Some(name), _) => format!("only a delivery verified by named secret {name} may start it"),
                    (None, SecretScope::Named(name)) => {
                        format!("the delivery was verified by named secret {name}, which starts only the triggers naming it")
                    }
                    (None, SecretScope::Default) => return None,
                }
            } else if !rule.repository.is_match(&change.repository) {
                format!("repository {} does not match repository ({})", change.repository, rule.repository.written())
            } else {
                return None;
            };
            Some((trigger.name.clone(), trigger.pipeline.clone(), reason))
        })
        .collect()
}

/// Whether `git-webhook` asks `change`'s server for its full commit id: the payload names only a
/// prefix (Bitbucket Cloud's pull requests name 12 characters) and a trigger of the scope pins a
/// source action, which takes only a full id (`herald explain` says the same).
pub fn wants_full_commit(config: &Config, scope: &SecretScope, change: &Change) -> bool {
    change.no_commit.is_none()
        && !change.commit.is_empty()
        && !is_full_commit_id(&change.commit)
        && config.git_triggers().any(|(t, _)| t.source_action.is_some() && scope.admits(t.secret.as_deref()))
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) hex characters.
pub fn is_full_commit_id(commit: &str) -> bool {
    (commit.len() == 40 || commit.len() == 64) && commit.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The skip marker in `message`, if any.
pub fn skip_marker(message: &str) -> Option<&'static str> {
    let lower = message.to_lowercase();
    SKIP_MARKERS.into_iter().find(|m| lower.contains(m))
}

/// Decides every Git trigger the delivery may start (its secret scope) and whose repository
/// matches. `multi_ref` marks a delivery carrying several refs, whose tokens then include the ref.
pub fn decide_git(config: &Config, scope: &SecretScope, change: &Change, multi_ref: bool) -> Vec<Decision> {
    let marker = OnceCell::new();
    let candidates = OnceCell::new();
    let changed = OnceCell::new();
    config
        .git_triggers()
        .filter(|(t, _)| scope.admits(t.secret.as_deref()))
        .filter(|(_, rule)| rule.repository.is_match(&change.repository))
        .map(|(trigger, rule)| {
            let (outcome, skip_passes, awaits_ok_to_test) =
                match skip_reason(rule, trigger, change, &marker, &candidates, &changed) {
                    Err(Skip { reason, passes, awaits }) => (Outcome::Skip(reason), passes, awaits),
                    Ok(notes) => (Outcome::Start(plan(trigger, change, notes, multi_ref)), false, false),
                };
            Decision { skip_passes, awaits_ok_to_test, ..Decision::plain(trigger, outcome) }
        })
        .collect()
}

/// A command's starts (`/herald run`, `/herald ok-to-test`): every Git trigger of the scope and
/// repository, or those `named`, whose event, branch and fork rules admit the pull request,
/// ignoring `paths` and `[skip ci]`, pinned to its head commit. `change` is the pull request as
/// its server describes it; its `delivery` makes the tokens, so a redelivered comment starts
/// nothing twice.
pub fn decide_command(
    config: &Config,
    scope: &SecretScope,
    change: &Change,
    named: &[String],
    ok_to_test: bool,
) -> Vec<Decision> {
    let admit = if ok_to_test { Admit::OkToTest } else { Admit::Run };
    config
        .git_triggers()
        .filter(|(t, _)| scope.admits(t.secret.as_deref()))
        .filter(|(_, rule)| rule.repository.is_match(&change.repository))
        .filter(|(t, _)| named.is_empty() || named.contains(&t.name))
        // `ok-to-test` is for the triggers that wait for it.
        .filter(|(_, rule)| !ok_to_test || rule.allow_forks == ForkPolicy::OnApproval)
        .map(|(trigger, rule)| {
            let outcome = match applies(rule, change, admit)
                .and_then(|()| open_pull_request_admitted(rule))
                .and_then(|()| pinnable(trigger, change))
            {
                // A command starts regardless of other deliveries of the change.
                Ok(()) => Outcome::Start(StartPlan { change_token: None, ..plan(trigger, change, Vec::new(), false) }),
                Err(reason) => Outcome::Skip(reason),
            };
            Decision::plain(trigger, outcome)
        })
        .collect()
}

/// Whether a command may start `rule` on an open pull request's head: only a trigger whose
/// `pull_request_actions` admit an open pull request (`opened`, `updated` or `reopened`). A
/// trigger that starts only on `merged` or `closed` deploys merged code, and a command runs the
/// unmerged head: a command never starts it.
fn open_pull_request_admitted(rule: &GitRule) -> Result<(), String> {
    let open = [PrAction::Opened, PrAction::Updated, PrAction::Reopened];
    if rule.pull_request_actions.iter().any(|a| open.contains(a)) {
        return Ok(());
    }
    let listed: Vec<&str> = rule.pull_request_actions.iter().map(|a| a.as_str()).collect();
    Err(format!(
        "it starts only on {} pull requests (pull_request_actions): a command never starts it, as it runs the unmerged head",
        listed.join(", ")
    ))
}

/// Why a trigger skips a change, and whether the skip counts as passed ([`Decision::skip_passes`]).
struct Skip {
    reason: String,
    passes: bool,
    /// Waits for `/herald ok-to-test` ([`Decision::awaits_ok_to_test`]).
    awaits: bool,
}

impl From<String> for Skip {
    /// A skip of a change the trigger does not apply to.
    fn from(reason: String) -> Self {
        Self { reason, passes: false, awaits: false }
    }
}

/// Why a fork's pull request waits on a trigger with `allow_forks: "on-approval"`.
pub const WAITS_FOR_OK_TO_TEST: &str = "waiting for /herald ok-to-test";

fn skip_reason<'c>(
    rule: &GitRule,
    trigger: &Trigger,
    change: &'c Change,
    marker: &OnceCell<Option<&'static str>>,
    candidates: &OnceCell<Vec<globset::Candidate<'c>>>,
    changed: &OnceCell<String>,
) -> Result<Vec<String>, Skip> {
    applies(rule, change, Admit::Delivery)?;
    if rule.allow_forks == ForkPolicy::OnApproval && change.pull_request.as_ref().is_some_and(|pr| pr.from_fork) {
        let reason = format!("pull request from a fork: {WAITS_FOR_OK_TO_TEST} from someone who may write");
        return Err(Skip { reason, passes: false, awaits: true });
    }
    if rule.skip_ci {
        if let Some(found) = marker.get_or_init(|| skip_marker(&change.message)) {
            // Posts nothing: anyone who writes a commit message or a pull request title could
            // otherwise turn a required check green without anything running.
            return Err(Skip { reason: format!("{found} in the head commit message"), passes: false, awaits: false });
        }
    }
    pinnable(trigger, change)?;
    let mut notes = Vec::new();
    if let Some(paths) = &rule.paths {
        let files = candidates.get_or_init(|| change.files.paths.iter().map(|p| crate::glob::candidate(p)).collect());
        // A listed file that matches decides, whether or not the list is whole.
        let matched = files.iter().any(|f| paths.is_match_candidate(f));
        if change.files.complete && !matched {
            let reason = format!(
                "no changed file matches paths ({}); changed: {}",
                paths.written(),
                changed.get_or_init(|| first_files(&change.files.paths))
            );
            return Err(Skip { reason, passes: true, awaits: false });
        }
        if !matched {
            notes.push(match &change.files.why {
                None => format!("{INCOMPLETE_FILE_LIST}: paths filter not applied"),
                Some(why) => format!("{INCOMPLETE_FILE_LIST} because {why}: paths filter not applied"),
            });
        }
    }
    Ok(notes)
}

/// What a change is admitted as: a delivery, or a command's start (docs/commands.md "Commands from the
/// pull request").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admit {
    /// A delivery: every rule applies; a fork on `"on-approval"` passes here and waits after.
    Delivery,
    /// `/herald run`: the pull request action is not the point, and a fork needs `allow_forks: true`.
    Run,
    /// `/herald ok-to-test`: only a fork, on a trigger with `allow_forks: "on-approval"`.
    OkToTest,
    /// A pull request closed or merged, for the groups it stops: whatever the action and
    /// fork rules, which govern starts.
    Closing,
}

/// Whether the trigger applies to the change at all: not deleted, its event, action and
/// branches (or tags) enabled, not a fork it may not build.
fn applies(rule: &GitRule, change: &Change, admit: Admit) -> Result<(), String> {
    if change.deleted {
        let what = if change.event == EventKind::Tag { "tag" } else { "branch" };
        return Err(format!("{what} deleted"));
    }
    if !rule.events.contains(&change.event) {
        let enabled: Vec<_> = rule.events.iter().map(|e| e.as_str()).collect();
        return Err(format!("event {} not enabled (events: {})", change.event.as_str(), enabled.join(", ")));
    }
    match (&change.pull_request, change.event) {
        (Some(pr), _) => {
            if admit == Admit::Delivery && !rule.pull_request_actions.contains(&pr.action) {
                return Err(format!("pull request action {} not enabled", pr.action.as_str()));
            }
            if let Some(branches) = &rule.branches {
                if !branches.is_match(&pr.target_branch) {
                    return Err(format!(
                        "target branch {} does not match branches ({})",
                        pr.target_branch,
                        branches.written()
                    ));
                }
            }
            if let Some(sources) = &rule.source_branches {
                if !sources.is_match(&pr.source_branch) {
                    return Err(format!(
                        "source branch {} does not match source_branches ({})",
                        pr.source_branch,
                        sources.written()
                    ));
                }
            }
            match (admit, pr.from_fork, rule.allow_forks) {
                (Admit::Closing, _, _) | (Admit::OkToTest, true, ForkPolicy::OnApproval) => {}
                (Admit::OkToTest, false, _) => {
                    return Err("not a fork: ok-to-test is for pull requests from forks".into())
                }
                (Admit::OkToTest, true, _) => {
                    return Err("ok-to-test starts only triggers with allow_forks \"on-approval\"".into())
                }
                (Admit::Run, true, ForkPolicy::OnApproval) => {
                    return Err(format!("pull request from a fork: {WAITS_FOR_OK_TO_TEST}"))
                }
                (_, true, ForkPolicy::Never) => {
                    return Err("pull request from a fork (set allow_forks to build forks)".into())
                }
                _ => {}
            }
        }
        (None, EventKind::Tag) => {
            let tag = change.tag.as_deref().unwrap_or_default();
            if let Some(tags) = rule.tags.as_ref().filter(|tags| !tags.is_match(tag)) {
                return Err(format!("tag {tag} does not match tags ({})", tags.written()));
            }
        }
        (None, EventKind::MergeGroup) => {
            let base = change.merge_group.as_ref().map(|m| m.base_branch.as_str()).unwrap_or_default();
            if let Some(branches) = rule.branches.as_ref().filter(|b| !b.is_match(base)) {
                return Err(format!("merge group base branch {base} does not match branches ({})", branches.written()));
            }
        }
        (None, _) => {
            let branch = change.branch.as_deref().unwrap_or_default();
            if let Some(branches) = rule.branches.as_ref().filter(|b| !b.is_match(branch)) {
                return Err(format!("branch {branch} does not match branches ({})", branches.written()));
            }
        }
    }
    Ok(())
}

/// Whether the change names a commit the trigger's source action can be pinned to.
fn pinnable(trigger: &Trigger, change: &Change) -> Result<(), String> {
    if trigger.source_action.is_some() {
        if let Some(why) = change.no_commit {
            return Err(format!("no commit to pin the source action to: {why}"));
        }
        if change.commit.is_empty() {
            return Err("the payload names no commit to pin the source action to".into());
        }
        if !is_full_commit_id(&change.commit) {
            return Err(format!(
                "the payload names only an abbreviated commit id {}, which cannot pin the source action",
                change.commit
            ));
        }
    }
    Ok(())
}

fn plan(trigger: &Trigger, change: &Change, mut notes: Vec<String>, multi_ref: bool) -> StartPlan {
    let mut parts =
        vec![change.provider.as_str(), change.delivery.as_str(), trigger.name.as_str(), trigger.pipeline.as_str()];
    if multi_ref {
        parts.push(&change.git_ref);
    }
    let source_revisions = trigger
        .source_action
        .iter()
        .map(|action| SourceRevision {
            action_name: action.clone(),
            revision_type: RevisionType::CommitId,
            revision_value: change.commit.clone(),
        })
        .collect();
    StartPlan {
        pipeline: trigger.pipeline.as_str().to_owned(),
        client_request_token: token::deterministic(&parts),
        source_revisions,
        variables: render_variables(trigger, change, &mut notes),
        group: group(trigger, change, &mut notes),
        notes,
        change_token: change_token(trigger, change),
    }
}

/// The concurrency group `change` joins on `trigger` (docs/configuration.md "One build per pull request"): its
/// `group` template, or the default for a pull request or a branch push (a tag or a merge
/// group joins none by default: each is its own build). A template with a placeholder that
/// renders empty joins none, and the note says why: a key missing a part would merge changes
/// that do not belong together.
fn group(trigger: &Trigger, change: &Change, notes: &mut Vec<String>) -> Option<GroupPlan> {
    let concurrency = trigger.concurrency.as_ref()?;
    let name = match &concurrency.group {
        Some(template) => template.render_whole(change, Source::Git),
        None => {
            let default = match (&change.pull_request, change.event) {
                (Some(_), _) => Concurrency::DEFAULT_PULL_REQUEST,
                (None, EventKind::Push) => Concurrency::DEFAULT_PUSH,
                (None, _) => return None,
            };
            Template::parse(default, Source::Git).map_err(|_| "?").and_then(|t| t.render_whole(change, Source::Git))
        }
    };
    match name {
        Ok(name) => Some(GroupPlan {
            trigger: trigger.name.clone(),
            name,
            commit: change.commit.clone(),
            cancel_in_progress: concurrency.cancel_in_progress,
            abandon: concurrency.abandon,
            kind: match (&change.pull_request, change.event) {
                (Some(_), _) => ChangeKind::PullRequest,
                (None, EventKind::Tag) => ChangeKind::Tag,
                (None, EventKind::MergeGroup) => ChangeKind::MergeGroup,
                (None, _) => ChangeKind::Push,
            },
            pull_request: change.pull_request.as_ref().map(|pr| pr.number),
        }),
        Err(field) => {
            notes.push(format!("joins no concurrency group: {{{field}}} is empty for this change"));
            None
        }
    }
}

/// The concurrency groups a pull request closed or merged stops (docs/configuration.md "One build per pull
/// request"): those of the scope's triggers with `concurrency` whose repository, events and
/// branches apply to it, whatever `pull_request_actions` and `allow_forks` say.
pub fn closing_groups(config: &Config, scope: &SecretScope, change: &Change) -> Vec<GroupPlan> {
    if !change.pull_request.as_ref().is_some_and(|pr| matches!(pr.action, PrAction::Closed | PrAction::Merged)) {
        return Vec::new();
    }
    config
        .git_triggers()
        .filter(|(t, _)| t.concurrency.is_some() && scope.admits(t.secret.as_deref()))
        .filter(|(_, rule)| rule.repository.is_match(&change.repository))
        .filter(|(_, rule)| applies(rule, change, Admit::Closing).is_ok())
        .filter_map(|(trigger, _)| group(trigger, change, &mut Vec::new()))
        .collect()
}

/// What names a Git change whichever delivery brings it (docs/security.md "One change, one start"):
/// trigger, repository, ref, commit and pull request number. `None` without a commit.
fn change_token(trigger: &Trigger, change: &Change) -> Option<String> {
    if change.commit.is_empty() {
        return None;
    }
    let pr = change.pull_request.as_ref().map_or_else(|| "none".to_owned(), |p| p.number.to_string());
    let repository = change.repository.to_lowercase();
    Some(token::deterministic(&["change", &trigger.name, &repository, &change.git_ref, &change.commit, &pr]))
}

/// What is known of a trigger's source action when deciding an S3 write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceLookup<'a> {
    /// Read from the pipeline's definition (`None`: the pipeline has no action of that name).
    Read(Option<&'a SourceAction>),
    /// Could not be read (the reason, e.g. the pipeline does not exist).
    Unreadable(&'a str),
    /// Not looked up (offline, `herald explain` without the pipeline's definition).
    Unknown,
}

/// Decides every `s3` trigger whose bucket matches. `source_of(pipeline, action)` tells what the
/// trigger's source action is: CodePipeline applies a version id to the key configured on the
/// action, builds another key only when the action allows it, and never another bucket.
pub fn decide_s3<'s>(
    config: &Config,
    object: &S3Object,
    source_of: impl Fn(&str, &str) -> SourceLookup<'s>,
) -> Vec<Decision> {
    config
        .s3_triggers()
        .filter(|(_, rule)| rule.bucket.is_match(&object.bucket))
        .map(|(trigger, rule)| {
            let outcome = match s3_skip_reason(rule, object) {
                Some(reason) => Outcome::Skip(reason),
                None => {
                    let mut notes = Vec::new();
                    let pin = match &trigger.source_action {
                        None => Ok(Vec::new()),
                        Some(action) => {
                            s3_pin(action, source_of(trigger.pipeline.as_str(), action), object, &mut notes)
                        }
                    };
                    match pin {
                        Ok(revisions) => Outcome::Start(s3_plan(trigger, object, revisions, notes)),
                        Err(reason) => Outcome::Skip(reason),
                    }
                }
            };
            Decision::plain(trigger, outcome)
        })
        .collect()
}

/// The triggers `decide_s3` would ask `source_of` about for this write: (pipeline, action).
pub fn s3_sources_needed<'c>(config: &'c Config, object: &S3Object) -> Vec<(&'c str, &'c str)> {
    config
        .s3_triggers()
        .filter(|(_, rule)| rule.bucket.is_match(&object.bucket) && s3_skip_reason(rule, object).is_none())
        .filter_map(|(trigger, _)| trigger.source_action.as_deref().map(|a| (trigger.pipeline.as_str(), a)))
        .collect()
}

fn s3_skip_reason(rule: &S3Rule, object: &S3Object) -> Option<String> {
    match &rule.keys {
        Some(keys) if !keys.is_match(&object.key) => {
            Some(format!("key {} does not match keys ({})", object.key, keys.written()))
        }
        _ => None,
    }
}

/// The `sourceRevisions` that make the start build exactly this object, or why none can.
fn s3_pin(
    action: &str,
    source: SourceLookup<'_>,
    object: &S3Object,
    notes: &mut Vec<String>,
) -> Result<Vec<SourceRevision>, String> {
    let revision = |revision_type, revision_value: &str| SourceRevision {
        action_name: action.to_owned(),
        revision_type,
        revision_value: revision_value.to_owned(),
    };
    let version = object.version_id.as_deref().map(|v| revision(RevisionType::S3ObjectVersionId, v));
    let source = match source {
        SourceLookup::Read(Some(source)) => source,
        SourceLookup::Read(None) => return Err(format!("the pipeline has no action named {action} (source_action)")),
        SourceLookup::Unreadable(why) => return Err(format!("could not read source action {action}: {why}")),
        SourceLookup::Unknown => {
            notes.push(format!(
                "source action {action} not read here: the start pins the version when {action} reads this key, the key and version when it reads another key and sets AllowOverrideForS3ObjectKey, and skips otherwise"
            ));
            return Ok(version.into_iter().collect());
        }
    };
    if source.provider != "S3" {
        return Err(format!(
            "source action {action} is a {} action, not an S3 source: it cannot take this object (leave source_action unset to start unpinned)",
            source.provider
        ));
    }
    let bucket = source.bucket.as_deref().unwrap_or_default();
    if bucket != object.bucket {
        return Err(format!(
            "source action {action} reads bucket {bucket}, not {}; CodePipeline cannot override the bucket",
            object.bucket
        ));
    }
    if source.key.as_deref() == Some(object.key.as_str()) {
        if version.is_none() {
            notes.push(
                "the write has no version id (is versioning on?): the pipeline takes the key's latest object".into(),
            );
        }
        return Ok(version.into_iter().collect());
    }
    if !source.allow_key_override {
        return Err(format!(
            "source action {action} reads key {}, and builds key {} only with AllowOverrideForS3ObjectKey: true in its configuration",
            source.key.as_deref().unwrap_or("(none)"),
            object.key
        ));
    }
    Ok(std::iter::once(revision(RevisionType::S3ObjectKey, &object.key)).chain(version).collect())
}

fn s3_plan(
    trigger: &Trigger,
    object: &S3Object,
    source_revisions: Vec<SourceRevision>,
    mut notes: Vec<String>,
) -> StartPlan {
    let variables = render_variables(trigger, object, &mut notes);
    StartPlan {
        pipeline: trigger.pipeline.as_str().to_owned(),
        client_request_token: token::deterministic(&["s3", &object.event_id, &trigger.name, trigger.pipeline.as_str()]),
        source_revisions,
        variables,
        notes,
        change_token: None,
        group: None,
    }
}

/// Renders a trigger's variables; empty ones are left out and noted.
pub fn render_variables(trigger: &Trigger, fields: &dyn Fields, notes: &mut Vec<String>) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(trigger.variables.len());
    for variable in &trigger.variables {
        let value = variable.template.render(fields);
        if value.is_empty() {
            notes.push(format!("variable {} rendered empty and was left out", variable.name));
        } else {
            out.push((variable.name.clone(), value));
        }
    }
    out
}

impl Fields for Change {
    fn field(&self, field: Field) -> Cow<'_, str> {
        let pr = self.pull_request.as_ref();
        match field {
            Field::Provider => self.provider.as_str().into(),
            Field::Event => self.event.as_str().into(),
            Field::Repository => self.repository.as_str().into(),
            Field::Ref => self.git_ref.as_str().into(),
            Field::Branch => self.branch.as_deref().unwrap_or_default().into(),
            Field::Tag => self.tag.as_deref().unwrap_or_default().into(),
            Field::Commit => self.commit.as_str().into(),
            Field::CommitShort => self.commit.get(..7).unwrap_or(&self.commit).into(),
            Field::Author => self.author.as_str().into(),
            Field::Message => first_line(&self.message).into(),
            Field::PrNumber => pr.map(|p| p.number.to_string()).unwrap_or_default().into(),
            Field::PrAction => pr.map(|p| p.action.as_str()).unwrap_or_default().into(),
            Field::SourceBranch => pr.map(|p| p.source_branch.as_str()).unwrap_or_default().into(),
            Field::TargetBranch => pr
                .map(|p| p.target_branch.as_str())
                .or(self.merge_group.as_ref().map(|m| m.base_branch.as_str()))
                .unwrap_or_default()
                .into(),
            Field::Delivery => self.delivery.as_str().into(),
            Field::CloneUrl => self.clone_url.as_str().into(),
            Field::Bucket | Field::Key | Field::VersionId | Field::Etag | Field::EventId => "".into(),
        }
    }
}

impl Fields for S3Object {
    fn field(&self, field: Field) -> Cow<'_, str> {
        match field {
            Field::Bucket => self.bucket.as_str().into(),
            Field::Key => self.key.as_str().into(),
            Field::VersionId => self.version_id.as_deref().unwrap_or_default().into(),
            Field::Etag => self.etag.as_deref().unwrap_or_default().into(),
            Field::EventId => self.event_id.as_str().into(),
            _ => "".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{ChangedFiles, PrAction, ProviderKind, PullRequest, PullRequestParts, PushParts};

    fn config(triggers: serde_json::Value) -> Config {
        Config::from_json(&serde_json::json!({ "triggers": triggers }).to_string()).unwrap()
    }

    fn push(git_ref: &str, files: Option<&[&str]>, message: &str) -> Change {
        PushParts {
            provider: ProviderKind::GitHub,
            delivery: "d1".into(),
            repository: "Acme/App".into(),
            git_ref: git_ref.into(),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            deleted: false,
            files: files
                .map(|f| ChangedFiles::complete(f.iter().map(|s| s.to_string())))
                .unwrap_or_else(ChangedFiles::unknown),
            author: "ann".into(),
            message: message.into(),
            clone_url: "https://example.com/acme/app.git".into(),
        }
        .into()
    }

    fn pr(action: PrAction, fork: bool) -> Change {
        PullRequestParts {
            provider: ProviderKind::GitLab,
            delivery: "d2".into(),
            repository: "acme/app".into(),
            commit: "abcdef0123456789abcdef0123456789abcdef01".into(),
            author: "bo".into(),
            title: "Add thing".into(),
            clone_url: String::new(),
            pull_request: PullRequest {
                number: 7,
                action,
                source_branch: "feature/x".into(),
                target_branch: "main".into(),
                from_fork: fork,
            },
        }
        .into()
    }

    fn outcomes(c: &Config, change: &Change) -> Vec<(String, Result<StartPlan, String>)> {
        decide_git(c, &SecretScope::Default, change, false)
            .into_iter()
            .map(|d| {
                (
                    d.trigger,
                    match d.outcome {
                        Outcome::Start(p) => Ok(p),
                        Outcome::Skip(r) => Err(r),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn concurrency_groups_render_per_change_and_closing_finds_them() {
        let c = config(serde_json::json!([
            { "name": "pr", "pipeline": "app", "git": { "repository": "acme/*", "events": ["push", "pull_request", "tag"],
              "pull_request_actions": ["opened", "updated"] },
              "concurrency": { "cancel_in_progress": true } },
            { "name": "custom", "pipeline": "app", "git": { "repository": "acme/*", "events": ["push", "pull_request"], "branches": ["main"] },
              "concurrency": { "group": "{repository}:{pr_number}", "abandon": true } },
            { "name": "plain", "pipeline": "app", "git": { "repository": "acme/*", "events": ["pull_request"] } }
        ]));
        let group_of = |change: &Change, name: &str| {
            let plan = outcomes(&c, change).into_iter().find(|(t, _)| t == name).unwrap().1.unwrap();
            (plan.group.map(|g| (g.name, g.cancel_in_progress, g.abandon, g.commit)), plan.notes)
        };
        let opened = pr(PrAction::Opened, false);
        let (group, _) = group_of(&opened, "pr");
        assert_eq!(
            group,
            Some(("acme/app#7".into(), true, false, opened.commit.clone())),
            "the default for pull requests"
        );
        assert_eq!(group_of(&opened, "custom").0.map(|g| (g.0, g.2)), Some(("acme/app:7".into(), true)));
        assert_eq!(group_of(&opened, "plain").0, None, "no concurrency, no group");
        let pushed = push("refs/heads/main", None, "m");
        assert_eq!(group_of(&pushed, "pr").0.map(|g| g.0), Some("Acme/App#main".into()), "the default for pushes");
        let (none, notes) = group_of(&pushed, "custom");
        assert_eq!(none, None, "a push has no pr_number: it joins no group rather than all pushes' one");
        assert_eq!(notes, ["joins no concurrency group: {pr_number} is empty for this change"]);
        let tagged = push("refs/tags/v1", None, "m");
        assert_eq!(group_of(&tagged, "pr"), (None, Vec::new()), "a tag is its own build by default");

        let closing = |action| {
            closing_groups(&c, &SecretScope::Default, &pr(action, false))
                .into_iter()
                .map(|g| (g.trigger, g.name))
                .collect::<Vec<_>>()
        };
        let both = vec![("pr".to_owned(), "acme/app#7".to_owned()), ("custom".to_owned(), "acme/app:7".to_owned())];
        assert_eq!(closing(PrAction::Closed), both, "whatever pull_request_actions lists");
        assert_eq!(closing(PrAction::Merged), both);
        assert!(closing(PrAction::Updated).is_empty(), "only a close or merge stops a group");
        assert!(closing_groups(&c, &SecretScope::Named("other".into()), &pr(PrAction::Closed, false)).is_empty());
    }

    fn spec_trigger() -> serde_json::Value {
        serde_json::json!([{ "name": "app-main", "pipeline": "app-pipeline",
            "git": { "repository": "acme/app", "events": ["push", "tag", "pull_request"],
                     "branches": ["main", "release/**", "!release/legacy"], "tags": ["v*"],
                     "paths": ["services/app/**", "!**/*.md"] },
            "source_action": "Source",
            "variables": { "BRANCH": "{branch}", "COMMIT_ID": "{commit}", "SHORT": "{commit_short}", "PR": "{pr_number}", "MSG": "{message}" } }])
    }

    #[test]
    fn a_matching_push_starts_pinned_with_variables() {
        let c = config(spec_trigger());
        let out = outcomes(&c, &push("refs/heads/main", Some(&["services/app/src/lib.rs"]), "fix: thing\n\nlong body"));
        let plan = out[0].1.as_ref().unwrap();
        assert_eq!(plan.pipeline, "app-pipeline");
        assert_eq!(plan.source_revisions[0].revision_value, "0123456789abcdef0123456789abcdef01234567");
        assert_eq!(plan.source_revisions[0].revision_type, RevisionType::CommitId);
        assert_eq!(
            plan.variables,
            vec![
                ("BRANCH".into(), "main".into()),
                ("COMMIT_ID".into(), "0123456789abcdef0123456789abcdef01234567".into()),
                ("MSG".into(), "fix: thing".into()),
                ("SHORT".into(), "0123456".into())
            ]
        );
        assert_eq!(plan.notes, ["variable PR rendered empty and was left out"]);
        assert_eq!(plan.client_request_token.len(), 64);
        assert_eq!(plan.client_request_token, token::deterministic(&["github", "d1", "app-main", "app-pipeline"]));
    }

    #[test]
    fn skip_reasons() {
        let c = config(spec_trigger());
        let cases: Vec<(Change, &str)> = vec![
            (
                push("refs/heads/develop", Some(&["services/app/a"]), "x"),
                "branch develop does not match branches (main, release/**, !release/legacy)",
            ),
            (
                push("refs/heads/release/legacy", Some(&["services/app/a"]), "x"),
                "branch release/legacy does not match branches (main, release/**, !release/legacy)",
            ),
            (
                push("refs/heads/main", Some(&["services/app/README.md", "docs/x"]), "x"),
                "no changed file matches paths (services/app/**, !**/*.md); changed: services/app/README.md, docs/x",
            ),
            (
                push("refs/heads/main", Some(&["services/app/a"]), "wip [Skip CI] please"),
                "[skip ci] in the head commit message",
            ),
            (push("refs/heads/main", Some(&["services/app/a"]), "[no ci]"), "[no ci] in the head commit message"),
            (
                push("refs/heads/main", Some(&["services/app/a"]), "[skip herald]"),
                "[skip herald] in the head commit message",
            ),
            (push("refs/tags/release-1", Some(&["services/app/a"]), "x"), "tag release-1 does not match tags (v*)"),
            (pr(PrAction::Merged, false), "pull request action merged not enabled"),
            (pr(PrAction::Opened, true), "pull request from a fork (set allow_forks to build forks)"),
        ];
        for (change, reason) in cases {
            let out = outcomes(&c, &change);
            assert_eq!(out[0].1.as_ref().unwrap_err(), reason);
        }
        let mut deleted = push("refs/heads/main", None, "x");
        deleted.deleted = true;
        assert_eq!(outcomes(&c, &deleted)[0].1.as_ref().unwrap_err(), "branch deleted");
        let only_push =
            config(serde_json::json!([{ "name": "t", "pipeline": "p", "git": { "repository": "acme/app" } }]));
        assert_eq!(
            outcomes(&only_push, &pr(PrAction::Opened, false))[0].1.as_ref().unwrap_err(),
            "event pull_request not enabled (events: push)"
        );
    }

    #[test]
    fn only_paths_make_a_skip_that_passes() {
        let c = config(spec_trigger());
        let passes = |change: &Change| decide_git(&c, &SecretScope::Default, change, false)[0].skip_passes;
        assert!(passes(&push("refs/heads/main", Some(&["docs/guide.md"]), "x")), "paths");
        // A marker is written by whoever writes a commit message or a title: it never passes a
        // required check (it would turn one green without anything running).
        for marker in ["[skip ci]", "[ci skip]", "[no ci]", "[skip herald]"] {
            assert!(!passes(&push("refs/heads/main", Some(&["services/app/a"]), marker)), "{marker}");
            assert!(
                !passes(&push("refs/heads/main", Some(&["docs/guide.md"]), marker)),
                "{marker} on a docs-only push"
            );
        }
        // The context does not apply to these: nothing is posted.
        assert!(!passes(&push("refs/heads/develop", Some(&["docs/guide.md"]), "x")), "branch");
        assert!(!passes(&pr(PrAction::Merged, false)), "action");
        assert!(!passes(&pr(PrAction::Opened, true)), "fork");
        let mut deleted = push("refs/heads/main", None, "x");
        deleted.deleted = true;
        assert!(!passes(&deleted));
        assert!(!passes(&push("refs/heads/main", Some(&["services/app/a"]), "x")), "a start");
    }

    #[test]
    fn a_merge_group_is_filtered_by_its_base_branch_and_pinned_to_its_head() {
        let c = config(serde_json::json!([{ "name": "queue", "pipeline": "p",
            "git": { "repository": "acme/app", "events": ["merge_group"], "branches": ["main"], "paths": ["services/**"] },
            "source_action": "Source",
            "variables": { "QUEUE": "{branch}", "BASE": "{target_branch}", "EVENT": "{event}" } }]));
        let group = |base: &str, files: &[&str]| {
            let mut change =
                push("refs/heads/gh-readonly-queue/main/pr-104-929f", Some(files), "Merge pull request #104")
                    .as_merge_group(&format!("refs/heads/{base}"));
            change.before = Some("380387fbc80638b734a49e1be1c4dfec1c01b33c".into());
            change
        };
        let plan = outcomes(&c, &group("main", &["services/a.rs"])).remove(0).1.unwrap();
        assert_eq!(plan.source_revisions[0].revision_value, "0123456789abcdef0123456789abcdef01234567");
        let vars: Vec<_> = plan.variables.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(vars, [("BASE", "main"), ("EVENT", "merge_group"), ("QUEUE", "gh-readonly-queue/main/pr-104-929f")]);
        assert_eq!(
            outcomes(&c, &group("release", &["services/a.rs"]))[0].1.as_ref().unwrap_err(),
            "merge group base branch release does not match branches (main)"
        );
        let docs = decide_git(&c, &SecretScope::Default, &group("main", &["docs/a.md"]), false);
        assert!(docs[0].skip_passes, "a queue of docs-only changes gets its passing status");
        // A push trigger does not take merge groups.
        let pushes = config(serde_json::json!([{ "name": "t", "pipeline": "p", "git": { "repository": "acme/app" } }]));
        assert_eq!(
            outcomes(&pushes, &group("main", &["services/a.rs"]))[0].1.as_ref().unwrap_err(),
            "event merge_group not enabled (events: push)"
        );
    }

    #[test]
    fn incomplete_file_lists_start_with_a_note() {
        let c = config(spec_trigger());
        let plan = outcomes(&c, &push("refs/heads/main", None, "x")).remove(0).1.unwrap();
        assert!(plan.notes.contains(&"file list incomplete: paths filter not applied".to_string()));
        let scope = SecretScope::Default;
        assert!(wants_file_list(&c, &scope, &push("refs/heads/main", None, "x"), false));
        // Why the server could not complete it goes into the note.
        let mut asked = push("refs/heads/main", None, "x");
        asked.files = ChangedFiles::incomplete("api.github.com did not answer within 3000 ms");
        let plan = outcomes(&c, &asked).remove(0).1.unwrap();
        assert_eq!(
            plan.notes[0],
            "file list incomplete because api.github.com did not answer within 3000 ms: paths filter not applied"
        );
        // A listed file that matches decides even when the list is cut: no note, nothing to ask.
        let mut partial = push("refs/heads/main", Some(&["services/app/main.rs"]), "x");
        partial.files.complete = false;
        let notes = outcomes(&c, &partial).remove(0).1.unwrap().notes;
        assert!(!notes.iter().any(|n| n.starts_with(INCOMPLETE_FILE_LIST)), "{notes:?}");
        assert!(!wants_file_list(&c, &scope, &partial, false));
        assert!(!wants_file_list(&c, &scope, &push("refs/heads/main", Some(&["docs/a.md"]), "x"), false));
    }

    #[test]
    fn pull_requests_filter_target_and_source_and_allow_forks() {
        let c = config(
            serde_json::json!([{ "name": "t", "pipeline": "p", "git": { "repository": "acme/*", "events": ["pull_request"], "branches": ["main"], "source_branches": ["feature/**"], "allow_forks": true } }]),
        );
        assert!(outcomes(&c, &pr(PrAction::Opened, true))[0].1.is_ok());
        assert!(outcomes(&c, &pr(PrAction::Updated, false))[0].1.is_ok());
        let mut other = pr(PrAction::Opened, false);
        other.pull_request.as_mut().unwrap().source_branch = "hotfix".into();
        assert_eq!(
            outcomes(&c, &other)[0].1.as_ref().unwrap_err(),
            "source branch hotfix does not match source_branches (feature/**)"
        );
    }

    #[test]
    fn a_fork_on_approval_waits_for_ok_to_test_and_commands_start_what_rules_admit() {
        let c = config(serde_json::json!([
            { "name": "forks", "pipeline": "p", "git": { "repository": "acme/*", "events": ["pull_request"], "allow_forks": "on-approval" } },
            { "name": "docs", "pipeline": "d", "git": { "repository": "acme/*", "events": ["pull_request"], "paths": ["docs/**"], "pull_request_actions": ["opened"] } }
        ]));
        let fork = pr(PrAction::Updated, true);
        let decided = decide_git(&c, &SecretScope::Default, &fork, false);
        assert!(decided[0].awaits_ok_to_test && !decided[0].skip_passes, "{decided:?}");
        assert!(matches!(&decided[0].outcome, Outcome::Skip(r) if r.contains(WAITS_FOR_OK_TO_TEST)));
        // ok-to-test starts the waiting trigger only; run refuses the fork there.
        let ok = decide_command(&c, &SecretScope::Default, &fork, &[], true);
        assert_eq!(ok.len(), 1);
        assert!(ok[0].start_plan().is_some(), "{ok:?}");
        let run = decide_command(&c, &SecretScope::Default, &fork, &["forks".into()], false);
        assert!(matches!(&run[0].outcome, Outcome::Skip(r) if r.contains(WAITS_FOR_OK_TO_TEST)), "{run:?}");
        // run ignores paths and the action, not the fork rule: docs never builds forks.
        let mut own = pr(PrAction::Updated, false);
        own.files = ChangedFiles::complete(["src/x.rs".to_owned()]);
        let run = decide_command(&c, &SecretScope::Default, &own, &["docs".into()], false);
        assert!(run[0].start_plan().is_some(), "{run:?}");
        let run = decide_command(&c, &SecretScope::Default, &fork, &["docs".into()], false);
        assert!(matches!(&run[0].outcome, Outcome::Skip(r) if r.contains("from a fork")), "{run:?}");
        let not_fork = decide_command(&c, &SecretScope::Default, &own, &[], true);
        assert!(matches!(&not_fork[0].outcome, Outcome::Skip(r) if r.contains("not a fork")), "{not_fork:?}");
    }

    #[test]
    fn repository_mismatch_and_secret_scope_leave_triggers_out() {
        let c = config(serde_json::json!([
            { "name": "other", "pipeline": "p", "git": { "repository": "acme/other" } },
            { "name": "team-a", "pipeline": "p", "git": { "repository": "acme/app" }, "secret": "team-a" },
            { "name": "open", "pipeline": "p", "git": { "repository": "ACME/APP" } }
        ]));
        let change = push("refs/heads/main", None, "x");
        let names = |scope: SecretScope| {
            decide_git(&c, &scope, &change, false).into_iter().map(|d| d.trigger).collect::<Vec<_>>()
        };
        assert_eq!(names(SecretScope::Default), ["open"]);
        assert_eq!(names(SecretScope::Named("team-a".into())), ["team-a"]);
        assert!(names(SecretScope::Named("team-b".into())).is_empty());
    }

    #[test]
    fn skip_ci_can_be_turned_off_and_tokens_differ_per_ref() {
        let c = config(
            serde_json::json!([{ "name": "t", "pipeline": "p", "git": { "repository": "acme/app", "skip_ci": false } }]),
        );
        let change = push("refs/heads/main", None, "[skip ci]");
        assert!(outcomes(&c, &change)[0].1.is_ok());
        let single = decide_git(&c, &SecretScope::Default, &change, false);
        let multi = decide_git(&c, &SecretScope::Default, &change, true);
        let token = |d: &[Decision]| match &d[0].outcome {
            Outcome::Start(p) => p.client_request_token.clone(),
            _ => panic!(),
        };
        assert_ne!(token(&single), token(&multi));
        assert_eq!(token(&single), token(&decide_git(&c, &SecretScope::Default, &change, false)));
    }

    #[test]
    fn no_commit_cannot_pin() {
        let c = config(spec_trigger());
        let mut change = pr(PrAction::Opened, false);
        change.commit.clear();
        assert_eq!(
            outcomes(&c, &change)[0].1.as_ref().unwrap_err(),
            "the payload names no commit to pin the source action to"
        );
    }

    #[test]
    fn an_abbreviated_commit_cannot_pin() {
        let c = config(spec_trigger());
        let mut change = pr(PrAction::Opened, false);
        change.commit = "d3022fc0ca3d".into();
        let reason = outcomes(&c, &change)[0].1.clone().unwrap_err();
        assert!(reason.contains("abbreviated commit id d3022fc0ca3d"), "{reason}");
        change.commit = "a".repeat(64);
        assert!(outcomes(&c, &change)[0].1.is_ok(), "SHA-256 repositories have 64-character ids");
    }

    mod s3 {
        //! S3 decisions over the samples of `events/s3-trigger/`.
        use super::super::*;
        use crate::s3::event::tests::objects;

        fn config() -> Config {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/s3-trigger/herald-config.json");
            Config::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
        }

        fn plan_of(d: &Decision) -> &StartPlan {
            match &d.outcome {
                Outcome::Start(p) => p,
                Outcome::Skip(r) => panic!("skipped: {r}"),
            }
        }

        fn s3_source(bucket: &str, key: &str, allow_key_override: bool) -> SourceAction {
            SourceAction {
                provider: "S3".into(),
                bucket: Some(bucket.into()),
                key: Some(key.into()),
                allow_key_override,
            }
        }

        fn revisions(plan: &StartPlan) -> Vec<(RevisionType, &str)> {
            plan.source_revisions.iter().map(|r| (r.revision_type, r.revision_value.as_str())).collect()
        }

        #[test]
        fn matching_and_variables() {
            let c = config();
            let put = &objects("cloudtrail-put-object.json")[0];
            let source = s3_source("acme-artifacts", "releases/app/app-1.4.2.zip", false);
            let decisions = decide_s3(&c, put, |_, _| SourceLookup::Read(Some(&source)));
            assert_eq!(decisions.len(), 2, "both triggers' buckets match");
            let plan = plan_of(&decisions[0]);
            assert!(plan.variables.contains(&("ARTIFACT_KEY".into(), "releases/app/app-1.4.2.zip".into())));
            assert_eq!(
                decisions[1].outcome,
                Outcome::Skip("key releases/app/app-1.4.2.zip does not match keys (releases/big/**)".into())
            );
            let mut other_bucket = put.clone();
            other_bucket.bucket = "elsewhere".into();
            assert!(decide_s3(&c, &other_bucket, |_, _| SourceLookup::Unknown).is_empty());
            assert_eq!(s3_sources_needed(&c, put), [("demo-deploy", "Source")]);
        }

        /// CodePipeline applies a version id to the action's own key: a version of another
        /// object must never be pinned onto it.
        #[test]
        fn the_action_s_own_key_pins_the_version_only() {
            let c = config();
            let put = &objects("cloudtrail-put-object.json")[0];
            let source = s3_source("acme-artifacts", "releases/app/app-1.4.2.zip", false);
            let d = decide_s3(&c, put, |_, _| SourceLookup::Read(Some(&source)));
            assert_eq!(
                revisions(plan_of(&d[0])),
                [(RevisionType::S3ObjectVersionId, "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")]
            );
            let mut unversioned = put.clone();
            unversioned.version_id = None;
            let d = decide_s3(&c, &unversioned, |_, _| SourceLookup::Read(Some(&source)));
            assert!(revisions(plan_of(&d[0])).is_empty(), "no revision: the pipeline takes the latest");
            assert!(plan_of(&d[0]).notes.iter().any(|n| n.contains("no version id")));
            assert!(plan_of(&d[0])
                .notes
                .contains(&"variable ARTIFACT_VERSION rendered empty and was left out".to_string()));
        }

        #[test]
        fn another_key_needs_the_override_and_gets_key_and_version() {
            let c = config();
            let put = &objects("cloudtrail-put-object.json")[0];
            let fixed = s3_source("acme-artifacts", "releases/app/latest.zip", false);
            let d = decide_s3(&c, put, |_, _| SourceLookup::Read(Some(&fixed)));
            let Outcome::Skip(reason) = &d[0].outcome else { panic!("pinned another object's version: {:?}", d[0]) };
            assert!(reason.contains("AllowOverrideForS3ObjectKey: true"), "{reason}");
            let open = s3_source("acme-artifacts", "releases/app/latest.zip", true);
            let d = decide_s3(&c, put, |_, _| SourceLookup::Read(Some(&open)));
            assert_eq!(
                revisions(plan_of(&d[0])),
                [
                    (RevisionType::S3ObjectKey, "releases/app/app-1.4.2.zip"),
                    (RevisionType::S3ObjectVersionId, "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
                ]
            );
        }

        #[test]
        fn another_bucket_or_a_non_s3_action_is_skipped_with_a_reason() {
            let c = config();
            let put = &objects("cloudtrail-put-object.json")[0];
            let elsewhere = s3_source("other-bucket", "releases/app/app-1.4.2.zip", true);
            let reason = |lookup: SourceLookup<'_>| match &decide_s3(&c, put, |_, _| lookup)[0].outcome {
                Outcome::Skip(reason) => reason.clone(),
                Outcome::Start(plan) => panic!("started {plan:?}"),
            };
            assert!(reason(SourceLookup::Read(Some(&elsewhere))).contains("cannot override the bucket"));
            let git = SourceAction {
                provider: "CodeStarSourceConnection".into(),
                bucket: None,
                key: None,
                allow_key_override: false,
            };
            assert!(reason(SourceLookup::Read(Some(&git))).contains("not an S3 source"));
            assert!(reason(SourceLookup::Read(None)).contains("no action named Source"));
            assert!(reason(SourceLookup::Unreadable("PipelineNotFoundException")).contains("PipelineNotFoundException"));
        }

        #[test]
        fn tokens_are_stable_per_event_and_differ_between_events() {
            let c = config();
            let put = &objects("cloudtrail-put-object.json")[0];
            let token =
                |o: &S3Object| plan_of(&decide_s3(&c, o, |_, _| SourceLookup::Unknown)[0]).client_request_token.clone();
            assert_eq!(token(put), token(&objects("cloudtrail-put-object.json")[0]));
            let mut other = put.clone();
            other.event_id = "another".into();
            assert_ne!(token(put), token(&other));
            assert_eq!(token(put).len(), 64);
        }
    }
}
