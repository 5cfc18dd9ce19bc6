//! Carrying out the commands of one pull request comment (docs/commands.md "Commands from the pull
//! request"): claim the comment once, read the pull request from its server, check who may, act
//! on CodePipeline through the ports, reply on the pull request.
//!
//! Every request to the Git server is built from the credential and the repository the comment's
//! verified delivery names (`git_api::Target`), never from a URL in the payload.

use crate::alert::render::console_url;
use crate::change::{Change, ChangedFiles, Comment, CommentAuthor, EventKind, PrAction, PullRequest};
use crate::commands::{parse, reply, Command, Done, Line, Verb};
use crate::config::{CommandSettings, Config};
use crate::git_api::credentials::Credentials;
use crate::git_api::endpoint::UserName;
use crate::git_api::pull_requests::{PullRequestHead, PullRequestState, GITHUB_NON_WRITERS};
use crate::git_api::{GitApi, PostError, ServerApi, Target};
use crate::metrics;
use crate::once::{once, Once};
use crate::ports::{
    commit_key, ApprovalAnswer, AwsError, BusEvent, Claim, DedupStore, ExecutionRecord, ExecutionRecords,
    PipelineControl, PipelineHistory, Retried, StartPlan, StopAnswer, StopRequest,
};
use crate::secrets::{SecretScope, ServerCredentials};
use crate::start::{StartResult, StartRunner};
use crate::status::{self, StartedExecution, StatusReporter};
use crate::trigger::{decide_command, Outcome};
use serde_json::{json, Value};
use std::sync::Arc;

/// What became of a comment's commands, for the webhook's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CommentAnswer {
    /// Acted on now (or looked at in a dry run): one entry per command.
    Done { commands: Vec<Value> },
    /// Acted on by an earlier delivery of the same comment: what it recorded.
    Duplicate { commands: Value },
    /// Another invocation is acting on it, or nothing could be done yet for a reason worth a
    /// retry (the Git server or AWS failed before any effect): the sender should retry.
    Retry { reason: String, retry_after_secs: u32 },
}

/// Acts on commands, through the Git server's API and CodePipeline.
pub struct CommandExecutor {
    credentials: Arc<ServerCredentials>,
    api: GitApi,
    dedup: Arc<dyn DedupStore>,
    records: Arc<dyn ExecutionRecords>,
    control: Arc<dyn PipelineControl>,
    history: Arc<dyn PipelineHistory>,
    runner: StartRunner,
    /// Posts `pending` for the executions a command starts, on triggers with `status`.
    status: Option<Arc<StatusReporter>>,
    region: String,
}

/// The ports a [`CommandExecutor`] acts through.
pub struct CommandPorts {
    pub dedup: Arc<dyn DedupStore>,
    pub records: Arc<dyn ExecutionRecords>,
    pub control: Arc<dyn PipelineControl>,
    pub history: Arc<dyn PipelineHistory>,
}

/// One command line's context: the comment, its pull request, and where requests go.
struct Context<'a> {
    config: &'a Config,
    scope: &'a SecretScope,
    comment: &'a Comment,
    target: &'a Target,
    head: &'a PullRequestHead,
    credentials: &'a Credentials,
    /// Whether the commenter may write, as the server says (asked once, when a command needs it).
    writer: tokio::sync::OnceCell<Result<(), String>>,
    /// The comment's claim key: each command's records are kept under it.
    claim: &'a str,
    now: i64,
}

impl CommandExecutor {
    pub fn new(
        credentials: Arc<ServerCredentials>,
        api: GitApi,
        ports: CommandPorts,
        runner: StartRunner,
        status: Option<Arc<StatusReporter>>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            credentials,
            api,
            dedup: ports.dedup,
            records: ports.records,
            control: ports.control,
            history: ports.history,
            runner,
            status,
            region: region.into(),
        }
    }

    /// The command lines of `comment`, read against the triggers its delivery may start.
    pub fn lines(config: &Config, scope: &SecretScope, comment: &Comment) -> Vec<Line> {
        let names = repository_triggers(config, scope, &comment.repository);
        parse(&comment.body, |name| names.iter().any(|n| n == name))
    }

    /// Acts on the command `lines` of `comment` once, whatever the redeliveries, and replies.
    pub async fn handle(
        &self,
        config: &Config,
        scope: &SecretScope,
        comment: &Comment,
        lines: &[Line],
        now: i64,
    ) -> CommentAnswer {
        if self.runner.dry_run() {
            return CommentAnswer::Done { commands: lines.iter().map(dry_run).collect() };
        }
        let key = claim_key(comment, scope);
        let work = async {
            let done = self.act(config, scope, comment, lines, &key, now).await?;
            Ok(serde_json::to_string(&done.iter().map(Done::entry).collect::<Vec<_>>()).unwrap_or_default())
        };
        match once(Some(&*self.dedup), &key, now, work).await {
            Ok(Once::Done(json)) => {
                let commands: Vec<Value> = serde_json::from_str(&json).unwrap_or_default();
                CommentAnswer::Done { commands }
            }
            Ok(Once::Recorded(json)) => {
                tracing::info!(comment = %comment.id, pull_request = comment.pull_request, "comment already acted on; nothing done again");
                CommentAnswer::Duplicate { commands: serde_json::from_str(&json).unwrap_or(Value::Null) }
            }
            Ok(Once::InProgress { retry_after_secs }) => {
                CommentAnswer::Retry { reason: "another invocation is acting on this comment".into(), retry_after_secs }
            }
            Err(e) => CommentAnswer::Retry { reason: e.to_string(), retry_after_secs: 0 },
        }
    }

    /// Reads the pull request, carries out each line, replies. `Err` only when nothing was done
    /// and a retry may succeed (the claim is then given back).
    async fn act(
        &self,
        config: &Config,
        scope: &SecretScope,
        comment: &Comment,
        lines: &[Line],
        claim: &str,
        now: i64,
    ) -> Result<Vec<Done>, AwsError> {
        let credentials = self.credentials.get().await?;
        let target = match comment_target(comment, scope) {
            Ok(t) => t,
            // Nowhere to reply either: the answer alone says why.
            Err(why) => return Ok(lines.iter().map(|l| refused_line(l, "failed", &why)).collect()),
        };
        // Who wrote it and what it says are the server's copy's, never the payload's: whoever
        // holds a webhook secret can sign a comment by anyone, and replay an old one.
        let copy = match self.api.comment(&credentials, &target, comment.pull_request, &comment.id, now).await {
            Ok(copy) => copy,
            Err(e) if e.is_transient() => return Err(AwsError::Transient(format!("reading the comment: {e}"))),
            Err(e) => {
                tracing::warn!(comment = %comment.id, pull_request = comment.pull_request, error = %e, "the comment could not be read from its server; nothing done");
                let why = format!(
                    "its server does not hold comment {} of #{}: nothing is done",
                    comment.id, comment.pull_request
                );
                return Ok(lines.iter().map(|l| refused_line(l, "refused", &why)).collect());
            }
        };
        if let Some(why) = unlike_the_server_s(comment, &copy, now) {
            tracing::warn!(comment = %comment.id, pull_request = comment.pull_request, reason = %why, "comment refused");
            let done: Vec<Done> = lines.iter().map(|l| refused_line(l, "refused", &why)).collect();
            self.reply(&credentials, &target, comment, &done, now).await;
            return Ok(done);
        }
        let comment = &Comment { author: copy.author, ..comment.clone() };
        let head = match self.head(&credentials, &target, comment, now).await {
            Ok(head) => head,
            Err(e) if e.is_transient() => return Err(AwsError::Transient(format!("reading the pull request: {e}"))),
            Err(e) => {
                let why = format!("could not read pull request #{}: {e}", comment.pull_request);
                let done: Vec<Done> = lines.iter().map(|l| refused_line(l, "failed", &why)).collect();
                self.reply(&credentials, &target, comment, &done, now).await;
                return Ok(done);
            }
        };
        let cx = Context {
            config,
            scope,
            comment,
            target: &target,
            head: &head,
            credentials: &credentials,
            writer: tokio::sync::OnceCell::new(),
            claim,
            now,
        };
        let mut done = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            match line {
                Line::Refused { line, reason } => done.push(Done::new(line.clone(), "refused", reason.clone())),
                Line::Command(command) => done.extend(self.command(&cx, index, command).await),
            }
        }
        let transient = done.iter().filter(|d| d.transient).count();
        if transient > 0 && done.iter().all(|d| d.transient || !d.acted()) {
            let why = done.iter().find(|d| d.transient).map(|d| d.what.clone()).unwrap_or_default();
            return Err(AwsError::Transient(why));
        }
        for d in &done {
            tracing::info!(
                user = %comment.author.name,
                // The verb, not the line: an approval's text is the commenter's, and stays out of logs.
                command = d.verb(),
                trigger = d.trigger.as_deref().unwrap_or_default(),
                pipeline = d.pipeline.as_deref().unwrap_or_default(),
                execution_id = d.execution_id.as_deref().unwrap_or_default(),
                outcome = d.outcome,
                reason = %d.what,
                "command"
            );
            metrics::count("Commands", 1, &[("command", d.verb()), ("outcome", d.outcome)]);
        }
        self.reply(&credentials, &target, comment, &done, now).await;
        Ok(done)
    }

    /// The pull request's head commit (in full), target branch and fork-ness, from its server.
    async fn head(
        &self,
        credentials: &Credentials,
        target: &Target,
        comment: &Comment,
        now: i64,
    ) -> Result<PullRequestHead, PostError> {
        let mut head = self.api.pull_request(credentials, target, comment.pull_request, now).await?;
        if !crate::trigger::is_full_commit_id(&head.head_commit) && target.api == ServerApi::BitbucketCloud {
            head.head_commit = self.api.full_commit(credentials, target, &head.head_commit, now).await?;
        }
        Ok(head)
    }

    async fn reply(&self, credentials: &Credentials, target: &Target, comment: &Comment, done: &[Done], now: i64) {
        if done.is_empty() {
            return;
        }
        let text = reply(done);
        match self.api.reply(credentials, target, comment.pull_request, &text, now).await {
            Ok(_) => metrics::count("CommandReplies", 1, &[("outcome", "posted")]),
            Err(e) => {
                tracing::error!(comment = %comment.id, pull_request = comment.pull_request, error = %e, "could not reply to the command comment; the commands stand");
                metrics::count("CommandReplies", 1, &[("outcome", "failed")]);
            }
        }
    }

    /// One command: who may, then what it does. A start (its token) and a stop (CodePipeline
    /// refuses a second) cannot happen twice; a retry and an answer to an approval could, so
    /// they are done once per command ([`CommandExecutor::once_per_command`]).
    async fn command(&self, cx: &Context<'_>, index: usize, command: &Command) -> Vec<Done> {
        let written = written(command);
        if let Err(why) = self.may(cx, command.verb).await {
            return vec![Done::new(written, "refused", why)];
        }
        match command.verb {
            Verb::Run => self.run(cx, command, false, &written).await,
            Verb::OkToTest => self.run(cx, command, true, &written).await,
            Verb::Stop => self.stop(cx, command, &written).await,
            Verb::Retry | Verb::Approve | Verb::Reject => self.once_per_command(cx, index, command, &written).await,
        }
    }

    /// A retry or an approval's answer, once per command whatever the deliveries of its comment:
    /// its effect, once done, is recorded and a repeat answers that; before it acts, its intent
    /// (which execution, stage and approval) is recorded, so a repeat after a crash between the
    /// two never acts on anything else (an approval answered then, the next gate waiting now).
    async fn once_per_command(&self, cx: &Context<'_>, index: usize, command: &Command, written: &str) -> Vec<Done> {
        let effect = format!("{}#command{index}", cx.claim);
        let intent = format!("{effect}#intent");
        let busy = |why: String| {
            let mut done = Done::new(written.into(), "failed", why);
            done.transient = true;
            vec![done]
        };
        match self.dedup.claim(&effect, cx.now).await {
            Ok(Claim::Claimed) => {}
            Ok(Claim::Completed(json)) => return replayed(&json, written),
            Ok(Claim::InProgress { .. }) => return busy("another invocation is carrying out this command".into()),
            Err(e) => return vec![aws_failed(written, &e)],
        }
        let prior = match self.dedup.claim(&intent, cx.now).await {
            Ok(Claim::Completed(json)) => Some(json),
            // An attempt that claimed the intent and died before recording it never acted.
            Ok(Claim::Claimed | Claim::InProgress { .. }) => None,
            Err(e) => {
                let _ = self.dedup.release(&effect).await;
                return vec![aws_failed(written, &e)];
            }
        };
        let done = match command.verb {
            Verb::Retry => match prior {
                Some(_) => vec![Done::new(
                    written.into(),
                    "nothing",
                    "an earlier delivery of this comment began this retry; its effect stands: comment again to retry again".into(),
                )],
                None => {
                    self.record_intent(&intent, &json!({ "retry": true }), cx.now).await;
                    self.retry(cx, command, written).await
                }
            },
            _ => self.answer_approval(cx, command, written, prior.as_deref(), &intent).await,
        };
        let nothing_done = done.iter().all(|d| d.transient || !d.acted()) && done.iter().any(|d| d.transient);
        let settled = if nothing_done {
            self.dedup.release(&effect).await
        } else {
            let entries: Vec<Value> = done.iter().map(Done::entry).collect();
            self.dedup.complete(&effect, &Value::from(entries).to_string(), cx.now).await
        };
        if let Err(e) = settled {
            tracing::warn!(key = %effect, error = %e, "a command's effect was not recorded; its intent still binds a repeat");
        }
        done
    }

    /// Records what a command is about to act on: a repeat acts on nothing else.
    async fn record_intent(&self, key: &str, intent: &Value, now: i64) {
        if let Err(e) = self.dedup.complete(key, &intent.to_string(), now).await {
            tracing::warn!(key, error = %e, "a command's intent was not recorded");
        }
    }

    /// Whether the commenter may give `verb` (docs/commands.md "Who may").
    async fn may(&self, cx: &Context<'_>, verb: Verb) -> Result<(), String> {
        match configured(&cx.config.commands, verb, &cx.comment.author) {
            Some(decided) => decided,
            None => cx.writer.get_or_init(|| self.server_says(cx)).await.clone(),
        }
    }

    /// The server's rule: the commenter can write to the repository.
    async fn server_says(&self, cx: &Context<'_>) -> Result<(), String> {
        let author = &cx.comment.author;
        let no = || Err(format!("{} cannot write to {}", author.name, cx.target.repository.name()));
        let asked = match cx.target.api {
            // The association may only refuse early; who may write is the permission API's answer.
            ServerApi::GitHub => {
                let association = author.association.as_deref().unwrap_or("NONE");
                if GITHUB_NON_WRITERS.contains(&association) {
                    return Err(format!("{} is {association} on this repository: not a writer", author.name));
                }
                author.name.as_str()
            }
            ServerApi::BitbucketCloud | ServerApi::AzureDevOps => {
                return Err(format!(
                    "Herald does not read {} permissions per user: list who may in commands.users",
                    cx.comment.provider.as_str()
                ))
            }
            // GitLab's members API takes the user id.
            ServerApi::GitLab => author.id.as_deref().ok_or("the comment names no user id to look up")?,
            ServerApi::Gitea | ServerApi::BitbucketServer => author.name.as_str(),
        };
        let user = UserName::new(asked)?;
        match self.api.may_write(cx.credentials, cx.target, &user, &author.name, cx.now).await {
            Ok(true) => Ok(()),
            Ok(false) => no(),
            Err(e) => Err(format!("could not read {}'s permission ({e}); list who may in commands.users", author.name)),
        }
    }

    /// `/herald run` and `/herald ok-to-test`: pinned starts of the pull request's head.
    async fn run(&self, cx: &Context<'_>, command: &Command, ok_to_test: bool, written: &str) -> Vec<Done> {
        // A closed or merged pull request's head is nobody's next build.
        if cx.head.state != PullRequestState::Open {
            let why =
                format!("pull request #{} is {}: nothing is started", cx.comment.pull_request, cx.head.state.as_str());
            return vec![Done::new(written.into(), "nothing", why)];
        }
        // A redelivered comment starts nothing twice; an ok-to-test holds for one head commit.
        let token_base = if ok_to_test {
            format!("ok-to-test#{}", cx.head.head_commit)
        } else {
            format!("comment#{}", cx.comment.id)
        };
        let change = head_change(cx, &token_base);
        let decisions = decide_command(cx.config, cx.scope, &change, &command.triggers, ok_to_test);
        if decisions.is_empty() {
            let why = if ok_to_test {
                "no trigger of this repository waits for /herald ok-to-test (allow_forks \"on-approval\")"
            } else {
                "no trigger of this repository applies"
            };
            return vec![Done::new(written.into(), "nothing", why.into())];
        }
        let mut out = Vec::new();
        for decision in &decisions {
            let done = Done::new(written.into(), "nothing", String::new())
                .about(&decision.trigger, decision.pipeline.as_str());
            out.push(match &decision.outcome {
                Outcome::Skip(reason) => Done { what: format!("not started: {reason}"), ..done },
                Outcome::Start(plan) => match self.start(cx, &decision.trigger, plan, &change).await {
                    Ok((id, duplicate, stopped)) => {
                        let head = short(&cx.head.head_commit);
                        let (outcome, what) = if duplicate {
                            ("nothing", format!("already started for {head}"))
                        } else {
                            ("started", format!("started, pinned to {head}{}", superseded(stopped)))
                        };
                        Done { outcome, what, ..done }.execution(&self.region, &id)
                    }
                    Err(result) => not_started(done, result, "could not start"),
                },
            });
        }
        out
    }

    /// Starts `plan` for a command and records the execution, so later commands find it: its id,
    /// whether an earlier delivery started it, and how many executions its concurrency group
    /// stopped; else what became of the start.
    async fn start(
        &self,
        cx: &Context<'_>,
        trigger: &str,
        plan: &StartPlan,
        change: &Change,
    ) -> Result<(String, bool, usize), StartResult> {
        match self.runner.run(plan, cx.now).await {
            // Each stop of its concurrency group also has its log line.
            StartResult::Started { execution_id: Some(id), duplicate, stopped } => {
                if !duplicate {
                    self.record(cx, trigger, plan.pipeline.as_str(), &id, change).await;
                }
                Ok((id, duplicate, stopped.iter().filter(|s| s.stopped()).count()))
            }
            other => Err(other),
        }
    }

    /// Records a command's start, so later commands find it; with `pending` on a `status` trigger.
    async fn record(&self, cx: &Context<'_>, trigger: &str, pipeline: &str, execution_id: &str, change: &Change) {
        let found = cx.config.triggers.iter().find(|t| t.name == trigger);
        let setting = found.and_then(|t| t.status.as_ref());
        if let (Some(status), Some(setting)) = (&self.status, setting) {
            let started =
                status::Started { trigger, scope: cx.target.scope.as_deref(), setting, change, pipeline, execution_id };
            status.started(started, cx.now).await;
            return;
        }
        let Ok(commit) = crate::git_api::endpoint::CommitId::full(&change.commit) else { return };
        let start = StartedExecution { trigger, pipeline, execution_id, change };
        let record = status::execution_record(&start, cx.target, &commit, None, cx.now);
        if let Err(e) = self.records.put(&record, cx.now).await {
            tracing::error!(trigger, pipeline, execution_id, error = %e, "could not record the execution; later commands will not find it");
        }
    }

    /// The latest execution Herald started for the head commit, per trigger (of those named).
    async fn latest(&self, cx: &Context<'_>, command: &Command) -> Result<Vec<ExecutionRecord>, AwsError> {
        let mut all = self.of_head(cx, command).await?;
        all.sort_by_key(|r| std::cmp::Reverse(r.started_at));
        let mut latest: Vec<ExecutionRecord> = Vec::new();
        for record in all {
            if !latest.iter().any(|l| l.trigger == record.trigger) {
                latest.push(record);
            }
        }
        latest.sort_by(|a, b| a.trigger.cmp(&b.trigger));
        Ok(latest)
    }

    /// Every execution Herald started for the head commit (of the triggers named).
    async fn of_head(&self, cx: &Context<'_>, command: &Command) -> Result<Vec<ExecutionRecord>, AwsError> {
        let key = commit_key(
            cx.comment.provider.as_str(),
            &cx.target.host.0,
            &cx.target.repository.name(),
            &cx.head.head_commit.to_ascii_lowercase(),
        );
        let records = self.records.by_commit(&key, cx.now).await?;
        Ok(records
            .into_iter()
            .filter(|r| command.triggers.is_empty() || command.triggers.contains(&r.trigger))
            // Only triggers this delivery's secret scope may act on.
            .filter(|r| cx.config.triggers.iter().any(|t| t.name == r.trigger && cx.scope.admits(t.secret.as_deref())))
            .collect())
    }

    /// `/herald retry`: the failed stage again, or a new start where CodePipeline will not.
    async fn retry(&self, cx: &Context<'_>, command: &Command, written: &str) -> Vec<Done> {
        let latest = match found(self.latest(cx, command).await, written, cx) {
            Ok(found) => found,
            Err(done) => return done,
        };
        let mut out = Vec::new();
        for record in &latest {
            let done = Done::new(written.into(), "nothing", String::new()).about(&record.trigger, &record.pipeline);
            out.push(match self.retry_one(cx, record, done.clone()).await {
                Ok(done) => done,
                Err(e) => aws_failed(written, &e).about(&record.trigger, &record.pipeline),
            });
        }
        out
    }

    async fn retry_one(&self, cx: &Context<'_>, record: &ExecutionRecord, done: Done) -> Result<Done, AwsError> {
        let status = self.history.execution(&record.pipeline, &record.execution_id).await?.status;
        if status.as_deref() != Some("Failed") {
            let status = status.unwrap_or_else(|| "unknown".into());
            return Ok(Done { what: format!("execution is {status}, not Failed: nothing to retry"), ..done }
                .execution(&self.region, &record.execution_id));
        }
        let stages = self.control.state(&record.pipeline).await?;
        let failed = stages.iter().find(|s| {
            s.execution_id.as_deref() == Some(record.execution_id.as_str()) && s.status.as_deref() == Some("Failed")
        });
        let refused = match failed {
            Some(stage) => {
                match self.control.retry_stage(&record.pipeline, &stage.stage, &record.execution_id).await? {
                    Retried::Retrying(id) => {
                        return Ok(Done { outcome: "retried", what: format!("retrying stage {}", stage.stage), ..done }
                            .execution(&self.region, &id))
                    }
                    Retried::NotRetryable(why) => why,
                }
            }
            None => "a newer execution has run its stages since".to_owned(),
        };
        // CodePipeline will not retry it: a new start pinned to the head, once per comment.
        let change = head_change(cx, &format!("retry#{}", cx.comment.id));
        let decisions = decide_command(cx.config, cx.scope, &change, std::slice::from_ref(&record.trigger), false);
        let Some(Outcome::Start(plan)) = decisions.first().map(|d| &d.outcome) else {
            return Ok(Done {
                what: format!(
                    "CodePipeline will not retry it ({refused}), and the trigger cannot start the head again"
                ),
                ..done
            });
        };
        Ok(match self.start(cx, &record.trigger, plan, &change).await {
            Ok((id, _, stopped)) => Done {
                outcome: "started",
                what: format!("CodePipeline will not retry it ({refused}); started again{}", superseded(stopped)),
                ..done
            }
            .execution(&self.region, &id),
            Err(result) => not_started(done, result, "could not start again"),
        })
    }

    /// `/herald stop`: the head commit's running executions.
    async fn stop(&self, cx: &Context<'_>, command: &Command, written: &str) -> Vec<Done> {
        let records = match found(self.of_head(cx, command).await, written, cx) {
            Ok(found) => found,
            Err(done) => return done,
        };
        let reason =
            format!("stopped by {} in {} #{}", cx.comment.author.name, cx.comment.repository, cx.comment.pull_request);
        let mut out = Vec::new();
        for record in &records {
            let done = Done::new(written.into(), "nothing", String::new()).about(&record.trigger, &record.pipeline);
            let stopped = async {
                let status = self.history.execution(&record.pipeline, &record.execution_id).await?.status;
                if status.as_deref() != Some("InProgress") {
                    return Ok(None);
                }
                let stop = StopRequest {
                    pipeline: record.pipeline.clone(),
                    execution_id: record.execution_id.clone(),
                    reason: reason.clone(),
                    abandon: false,
                };
                // An execution that ended or is stopping since it was read is not this stop's doing.
                Ok(match self.control.stop(&stop).await? {
                    StopAnswer::Stopping => Some(()),
                    StopAnswer::AlreadyStopping | StopAnswer::AlreadyEnded => None,
                })
            };
            match stopped.await {
                Ok(Some(())) => out.push(
                    Done { outcome: "stopped", what: "stopping (running actions finish)".into(), ..done }
                        .execution(&self.region, &record.execution_id),
                ),
                Ok(None) => {}
                Err(e) => out.push(aws_failed(written, &e).about(&record.trigger, &record.pipeline)),
            }
        }
        or_nothing(out, written, format!("no execution of {} is running", short(&cx.head.head_commit)))
    }

    /// `/herald approve` / `/herald reject`: the manual approvals waiting in the head commit's
    /// latest executions, answered in the commenter's name.
    async fn answer_approval(
        &self,
        cx: &Context<'_>,
        command: &Command,
        written: &str,
        prior: Option<&str>,
        intent: &str,
    ) -> Vec<Done> {
        let approved = command.verb == Verb::Approve;
        let latest = match found(self.latest(cx, command).await, written, cx) {
            Ok(found) => found,
            Err(done) => return done,
        };
        // The approvals an earlier delivery of this comment set out to answer: only those.
        let bound: Option<Vec<Value>> = prior.map(|json| serde_json::from_str(json).unwrap_or_default());
        let word = if approved { "approved" } else { "rejected" };
        let mut summary =
            format!("{word} by {} in {} #{}", cx.comment.author.name, cx.comment.repository, cx.comment.pull_request);
        if let Some(text) = &command.text {
            summary.push_str(": ");
            summary.push_str(text);
        }
        let mut out = Vec::new();
        for record in &latest {
            let done = Done::new(written.into(), "nothing", String::new()).about(&record.trigger, &record.pipeline);
            let stages = match self.control.state(&record.pipeline).await {
                Ok(s) => s,
                Err(e) => {
                    out.push(aws_failed(written, &e).about(&record.trigger, &record.pipeline));
                    continue;
                }
            };
            // Collected, not a lazy iterator: its closures' lifetimes would make the future not `Send`.
            let mut waiting: Vec<(&str, &String, &String)> = Vec::new();
            for s in stages.iter().filter(|s| s.execution_id.as_deref() == Some(record.execution_id.as_str())) {
                waiting.extend(s.approvals.iter().map(|(action, token)| (s.stage.as_str(), action, token)));
            }
            let mut targets: Vec<(&str, &String, &String)> = Vec::new();
            for (stage, action, token) in waiting {
                let is = |b: &Value| {
                    b["execution_id"] == record.execution_id.as_str()
                        && b["stage"] == stage
                        && b["action"] == action.as_str()
                };
                match &bound {
                    Some(bound) if !bound.iter().any(is) => {}
                    _ => targets.push((stage, action, token)),
                }
            }
            if bound.is_none() && !targets.is_empty() {
                let intents: Vec<Value> = targets
                    .iter()
                    .map(|(stage, action, _)| json!({ "execution_id": record.execution_id, "stage": stage, "action": action }))
                    .collect();
                self.record_intent(intent, &Value::from(intents), cx.now).await;
            }
            if let Some(bound) = &bound {
                if targets.is_empty() && bound.iter().any(|b| b["execution_id"] == record.execution_id.as_str()) {
                    out.push(Done {
                        what: "the approval an earlier delivery of this comment answered waits no longer; another approval needs a new comment".into(),
                        ..done.clone()
                    });
                    continue;
                }
            }
            for (stage, action, token) in targets {
                let answer = ApprovalAnswer {
                    pipeline: record.pipeline.clone(),
                    stage: stage.to_owned(),
                    action: action.clone(),
                    token: token.clone(),
                    approved,
                    summary: summary.clone(),
                };
                out.push(match self.control.answer_approval(&answer).await {
                    Ok(()) => Done { outcome: word, what: format!("{word} {stage}/{action}"), ..done.clone() }
                        .execution(&self.region, &record.execution_id),
                    Err(e) => aws_failed(written, &e).about(&record.trigger, &record.pipeline),
                });
            }
        }
        let why = format!("no manual approval is waiting in the executions of {}", short(&cx.head.head_commit));
        or_nothing(out, written, why)
    }
}

/// What the configuration alone decides of `user` giving `verb`: `commands.allow`,
/// `commands.approvers`, and `commands.users` (which replaces the server's rule); `None` when
/// the server's rule decides.
fn configured(settings: &CommandSettings, verb: Verb, author: &CommentAuthor) -> Option<Result<(), String>> {
    let user = author.name.as_str();
    // A configured name matches the author's name or, where the server has a second unique
    // name (Bitbucket Cloud's uuid beside the account id), that one.
    let named = |list: &[String]| {
        list.iter()
            .any(|u| u.eq_ignore_ascii_case(user) || author.id.as_deref().is_some_and(|id| u.eq_ignore_ascii_case(id)))
    };
    if !settings.allow.contains(&verb) {
        return Some(Err(format!("/herald {} is not enabled here (commands.allow)", verb.as_str())));
    }
    if matches!(verb, Verb::Approve | Verb::Reject) {
        if let Some(approvers) = &settings.approvers {
            if !named(approvers) {
                return Some(Err(format!("{user} is not one of the approvers (commands.approvers)")));
            }
        }
    }
    let users = settings.users.as_ref()?;
    Some(if named(users) {
        Ok(())
    } else {
        Err(format!("{user} is not one of the users who may give commands (commands.users)"))
    })
}

/// Who may give `verb` on `comment`'s server, and whether its author may as far as is known
/// without asking the server (`herald explain`).
pub fn who_may(settings: &CommandSettings, comment: &Comment, verb: Verb) -> String {
    let user = &comment.author.name;
    if let Some(decided) = configured(settings, verb, &comment.author) {
        return match decided {
            Ok(()) => format!("{user} may (commands.users)"),
            Err(why) => format!("refused: {why}"),
        };
    }
    match ServerApi::of(comment.provider) {
        Some(ServerApi::GitHub) => {
            let association = comment.author.association.as_deref().unwrap_or("NONE");
            if GITHUB_NON_WRITERS.contains(&association) {
                format!("refused: {user} is {association}: not a writer")
            } else {
                format!("{user} may if the collaborator permission API says admin, maintain or write ({association} is not a permission)")
            }
        }
        Some(ServerApi::GitLab) => format!("{user} may if the members API says Developer (30) or more"),
        Some(ServerApi::Gitea) => format!("{user} may if the collaborator permission API says write, admin or owner"),
        Some(ServerApi::BitbucketServer) => {
            format!("{user} may if the repository's user permissions say REPO_WRITE or REPO_ADMIN")
        }
        Some(ServerApi::BitbucketCloud | ServerApi::AzureDevOps) | None => {
            "refused: only the users of commands.users may give commands on this server".into()
        }
    }
}

/// The answer recorded for a command that already took effect (its entries), for a repeat.
fn replayed(json: &str, written: &str) -> Vec<Done> {
    const OUTCOMES: [&str; 9] =
        ["started", "retried", "stopped", "approved", "rejected", "refused", "failed", "nothing", "dry_run"];
    let entries: Vec<Value> = serde_json::from_str(json).unwrap_or_default();
    let text = |e: &Value, k: &str| e[k].as_str().map(str::to_owned);
    let done: Vec<Done> = entries
        .iter()
        .map(|e| {
            let outcome = OUTCOMES.into_iter().find(|o| e["outcome"] == *o).unwrap_or("nothing");
            Done {
                trigger: text(e, "trigger"),
                pipeline: text(e, "pipeline"),
                execution_id: text(e, "execution_id"),
                ..Done::new(written.into(), outcome, text(e, "reason").unwrap_or_default())
            }
        })
        .collect();
    or_nothing(done, written, "done by an earlier delivery of this comment".into())
}

/// The longest a comment is acted on after its server says it was written: a delivery of an
/// older one (a replay, or a redelivery days late) does nothing.
pub const MAX_COMMENT_AGE_SECS: i64 = 24 * 3600;

/// Why the delivered comment is not the one its server holds (its text differs), or is too old
/// to act on; `None` when it may be acted on.
fn unlike_the_server_s(
    delivered: &Comment,
    copy: &crate::git_api::pull_requests::ServerComment,
    now: i64,
) -> Option<String> {
    let same = |text: &str| text.replace("\r\n", "\n").trim_end().to_owned();
    if same(&delivered.body) != same(&copy.body) {
        return Some(format!(
            "the delivered text is not what its server holds for comment {}: nothing is done",
            delivered.id
        ));
    }
    match copy.created_at {
        Some(at) if now - at > MAX_COMMENT_AGE_SECS => Some(format!(
            "comment {} was written {} hours ago, more than 24: a late or replayed delivery does nothing; comment again",
            delivered.id,
            (now - at) / 3600
        )),
        _ => None,
    }
}

/// What claims a comment in the dedup table: its server, repository and comment id, and the
/// secret scope that verified it: an organization hook and a repository hook of two scopes
/// deliver one comment, and each scope's commands act (once each). The unnamed scope's key is
/// the one earlier releases wrote, so an upgrade never acts twice on a comment already answered.
fn claim_key(comment: &Comment, scope: &SecretScope) -> String {
    let host = comment.server.as_ref().map(|s| s.host.as_str()).unwrap_or_default();
    let key =
        format!("command#{}#{host}#{}#{}", comment.provider.as_str(), comment.repository.to_lowercase(), comment.id);
    match scope {
        SecretScope::Default => key,
        SecretScope::Named(name) => format!("{key}#scope:{name}"),
    }
}

/// Where the comment's requests go: its verified server and repository, and the secret scope.
fn comment_target(comment: &Comment, scope: &SecretScope) -> Result<Target, String> {
    Target::named(comment.provider, comment.server.as_ref(), &comment.repository, scope.name())
}

/// The names of the Git triggers `scope` may start for `repository`.
pub fn repository_triggers(config: &Config, scope: &SecretScope, repository: &str) -> Vec<String> {
    config
        .git_triggers()
        .filter(|(t, rule)| scope.admits(t.secret.as_deref()) && rule.repository.is_match(repository))
        .map(|(t, _)| t.name.clone())
        .collect()
}

/// The pull request as its server describes it, as a change a trigger decides; `delivery`
/// makes the start tokens.
fn head_change(cx: &Context<'_>, delivery: &str) -> Change {
    let head = cx.head;
    Change {
        provider: cx.comment.provider,
        event: EventKind::PullRequest,
        delivery: delivery.to_owned(),
        repository: cx.comment.repository.clone(),
        git_ref: format!("refs/heads/{}", head.source_branch),
        branch: Some(head.source_branch.clone()),
        tag: None,
        commit: head.head_commit.to_ascii_lowercase(),
        no_commit: None,
        deleted: false,
        files: ChangedFiles::unknown(),
        author: cx.comment.author.name.clone(),
        message: String::new(),
        pull_request: Some(PullRequest {
            number: cx.comment.pull_request,
            action: PrAction::Updated,
            source_branch: head.source_branch.clone(),
            target_branch: head.target_branch.clone(),
            from_fork: head.from_fork,
        }),
        merge_group: None,
        clone_url: String::new(),
        server: cx.comment.server.clone(),
        before: None,
    }
}

/// The executions found, or the row that says why there are none to act on.
fn found(
    records: Result<Vec<ExecutionRecord>, AwsError>,
    written: &str,
    cx: &Context<'_>,
) -> Result<Vec<ExecutionRecord>, Vec<Done>> {
    match records {
        Err(e) => Err(vec![aws_failed(written, &e)]),
        Ok(records) if records.is_empty() => Err(vec![none_started(written, cx)]),
        Ok(records) => Ok(records),
    }
}

/// `done` for a start that did not happen (`result`); `failed` says what could not be done.
fn not_started(done: Done, result: StartResult, failed: &str) -> Done {
    match result {
        StartResult::Failed { error, transient } => {
            tracing::warn!(pipeline = done.pipeline.as_deref().unwrap_or_default(), error = %error, "a command's start failed");
            let words = crate::report::public_start_error(&error, transient);
            Done { outcome: "failed", transient, what: format!("{failed}: {words}"), ..done }
        }
        StartResult::InProgress { .. } => {
            Done { outcome: "failed", what: "another invocation is starting it".into(), ..done }
        }
        // A dry run never reaches a command's start (`handle` answers it first).
        StartResult::Started { .. } => Done { what: "started (dry run)".into(), ..done },
    }
}

/// `out`, or one row saying `why` nothing was done.
fn or_nothing(mut out: Vec<Done>, written: &str, why: String) -> Vec<Done> {
    if out.is_empty() {
        out.push(Done::new(written.into(), "nothing", why));
    }
    out
}

/// What a start's concurrency group stopped, for the reply (docs/configuration.md "One build per pull request").
fn superseded(stopped: usize) -> String {
    match stopped {
        0 => String::new(),
        1 => "; stopped the older execution of its concurrency group".into(),
        n => format!("; stopped {n} older executions of its concurrency group"),
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

/// The command as its reply shows it.
fn written(command: &Command) -> String {
    let mut out = format!("/herald {}", command.verb.as_str());
    for t in &command.triggers {
        out.push(' ');
        out.push_str(t);
    }
    if let Some(text) = &command.text {
        out.push(' ');
        out.push_str(text);
    }
    out
}

fn line_text(line: &Line) -> String {
    match line {
        Line::Command(c) => written(c),
        Line::Refused { line, .. } => line.clone(),
    }
}

fn refused_line(line: &Line, outcome: &'static str, why: &str) -> Done {
    Done::new(line_text(line), outcome, why.to_owned())
}

fn dry_run(line: &Line) -> Value {
    let why = match line {
        Line::Command(_) => "HERALD_DRY_RUN is set: nothing done, no reply".to_owned(),
        Line::Refused { reason, .. } => reason.clone(),
    };
    Done::new(line_text(line), "dry_run", why).entry()
}

/// A CodePipeline call failed: the reply says what in Herald's words (the AWS text, with its
/// account ids and ARNs, goes to the log only).
fn aws_failed(written: &str, e: &AwsError) -> Done {
    tracing::warn!(command = %written.split_whitespace().nth(1).unwrap_or_default(), error = %e, "a command's CodePipeline call failed");
    let words = crate::report::public_aws_error(&e.to_string(), e.is_transient());
    let mut done = Done::new(
        written.into(),
        "failed",
        format!("{words}; Herald's log has the details; comment the command again to retry"),
    );
    done.transient = e.is_transient();
    done
}

fn none_started(written: &str, cx: &Context<'_>) -> Done {
    Done::new(
        written.into(),
        "nothing",
        format!("Herald started no execution for {}: /herald run starts one", short(&cx.head.head_commit)),
    )
}

impl Done {
    fn new(command: String, outcome: &'static str, what: String) -> Self {
        Self { command, outcome, what, trigger: None, pipeline: None, execution_id: None, link: None, transient: false }
    }

    fn about(mut self, trigger: &str, pipeline: &str) -> Self {
        self.trigger = Some(trigger.to_owned());
        self.pipeline = Some(pipeline.to_owned());
        self
    }

    fn execution(mut self, region: &str, id: &str) -> Self {
        self.link = self.pipeline.as_deref().map(|p| console_url(region, p, Some(id)));
        self.execution_id = Some(id.to_owned());
        self
    }

    /// Something was done to CodePipeline.
    fn acted(&self) -> bool {
        matches!(self.outcome, "started" | "retried" | "stopped" | "approved" | "rejected")
    }

    fn verb(&self) -> &'static str {
        let word = self.command.split_whitespace().nth(1).unwrap_or_default().to_ascii_lowercase();
        Verb::parse(&word).map_or("unknown", Verb::as_str)
    }

    /// The webhook answer's entry and the decision event's detail.
    pub fn entry(&self) -> Value {
        json!({
            "command": self.command,
            "trigger": self.trigger,
            "pipeline": self.pipeline,
            "outcome": self.outcome,
            "execution_id": self.execution_id,
            "reason": self.what,
        })
    }
}

#[cfg(test)]
mod tests;

/// The `Command Run` decision events of a comment's commands.
pub fn events(comment: &Comment, commands: &[Value]) -> Vec<BusEvent> {
    commands
        .iter()
        .map(|c| BusEvent {
            detail_type: "Command Run",
            detail: crate::report::with_fields(
                json!({
                    "provider": comment.provider.as_str(),
                    "repository": comment.repository,
                    "pull_request": comment.pull_request,
                    "comment": comment.id,
                    "user": comment.author.name,
                }),
                c.clone(),
            ),
        })
        .collect()
}
