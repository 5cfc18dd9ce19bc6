//! `herald explain`: what Herald would do with an event, through the functions' own decisions
//! (`trigger::decide_git`, `trigger::decide_s3`, `alert::matches`).

use crate::delivery::{self, Sender};
use crate::output::{self, mark, Outcome};
use herald::alert::event::{self as alert_event, PipelineEvent};
use herald::alert::{candidate_rules, matches, tokens, Previous};
use herald::change::{Change, ProviderKind};
use herald::config::Config;
use herald::files::{FileLookups, LOOKUP_BUDGET};
use herald::git_api::credentials::Credentials;
use herald::git_api::{GitApi, RetryPolicy, ServerApi};
use herald::ports::{SourceAction, StartPlan, StatusState};
use herald::providers::{self, Content, Headers};
use herald::secrets::ServerCredentials;
use herald::secrets::{SecretScope, WebhookSecrets};
use herald::trigger::{decide_git, Decision, Outcome as Decided, SourceLookup};
use herald::webhook::WebhookRequest;
use serde_json::{json, Value};
use std::fmt::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration document (JSON)
    #[arg(long)]
    pub config: String,
    /// The event: a Lambda HTTP event or saved request ({"headers", "body"}), a raw Git payload
    /// (recognised by its shape, or named by --provider / --header), an s3-trigger event or a
    /// pipeline-notifier event
    pub event: String,
    /// For a raw payload: the Git server that sent it (github, gitlab, bitbucket-cloud,
    /// bitbucket-server, gitea, forgejo, gogs, azure-devops, generic; also bitbucket,
    /// bitbucket-dc, azure)
    #[arg(long, value_parser = Sender::parse)]
    pub provider: Option<Sender>,
    /// For a raw payload: a request header `Name: value` (repeatable)
    #[arg(long = "header", value_name = "K:V")]
    pub headers: Vec<String>,
    /// Check the delivery's signature with this secret (or secret document) and report it
    #[arg(long)]
    pub secret: Option<String>,
    /// Decide as if the delivery were verified by this named secret (default: the unnamed list)
    #[arg(long)]
    pub scope: Option<String>,
    /// `aws codepipeline get-pipeline` output of a pipeline an S3 trigger pins (repeatable)
    #[arg(long = "pipeline", value_name = "GET-PIPELINE.json")]
    pub pipelines: Vec<String>,
    /// Where a path filter needs the changed files a payload lacks, ask the Git server for them
    /// (as git-webhook would), with the credentials of --credentials
    #[arg(long, requires = "credentials")]
    pub fetch: bool,
    /// The Git servers' credentials document (docs/credentials.md), for --fetch
    #[arg(long, value_name = "CREDENTIALS.json")]
    pub credentials: Option<String>,
    /// Decide path filters on these changed files, one path per line (`-`: standard input, e.g.
    /// `git diff --name-only main... | herald explain --changed-files - ...`), instead of the
    /// payload's list or the Git server's
    #[arg(long = "changed-files", value_name = "FILE", conflicts_with = "fetch")]
    pub changed_files: Option<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> Outcome {
    let config = match output::config(&args.config) {
        Ok(c) => c,
        Err(outcome) => return outcome,
    };
    let text = match output::read(&args.event) {
        Ok(t) => t,
        Err(e) => return Outcome::usage(e),
    };
    let event: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) if args.provider.is_some() => Value::Null,
        Err(e) => return Outcome::usage(format!("{}: not JSON: {e}", args.event)),
    };
    let mut pipelines = Vec::new();
    for path in &args.pipelines {
        match pipeline_definition(path) {
            Ok(p) => pipelines.push(p),
            Err(e) => return Outcome::usage(e),
        }
    }
    let scope = args.scope.clone().map_or(SecretScope::Default, SecretScope::Named);
    let fetch = match (&args.credentials, args.fetch) {
        (Some(path), true) => {
            match output::read(path).and_then(|t| Credentials::parse(&t).map_err(|e| format!("{path}: {e}"))) {
                Ok(c) => Some(c),
                Err(e) => return Outcome::usage(e),
            }
        }
        _ => None,
    };
    let given = match args.changed_files.as_deref().map(changed_files) {
        None => None,
        Some(Ok(paths)) => Some(paths),
        Some(Err(e)) => return Outcome::usage(e),
    };
    let mut warnings = Vec::new();
    if let (Some(source), Some([])) = (&args.changed_files, given.as_deref()) {
        warnings.push(format!(
            "--changed-files {source} lists no paths: every path-filtered trigger skips (a `git diff` of a ref that \
             does not exist prints nothing)"
        ));
    }
    let ask = Ask { scope: &scope, secret: args.secret.as_deref(), fetch: fetch.as_ref(), given: given.as_deref() };
    let result = match read_event(args, &event, text.as_bytes()) {
        Err(e) => Err(e),
        Ok(Read::Request(request, note)) => webhook(&config, request, &ask).map(|mut outcome| {
            if let Some(note) = note {
                outcome.text = format!("{note}\n{}", outcome.text);
                outcome.json["read_as"] = json!(note);
            }
            outcome
        }),
        Ok(Read::Pipeline) => Ok(alert(&config, &event)),
        Ok(Read::S3) => Ok(s3(&config, &event, &pipelines)),
    };
    match result {
        Ok(mut outcome) if !warnings.is_empty() => {
            for warning in &warnings {
                outcome.text.push_str(&format!("{}\n", mark(false, &format!("warning: {warning}"))));
            }
            outcome.json["warnings"] = json!(warnings);
            outcome.code = outcome.code.max(output::FINDING);
            Ok(outcome)
        }
        other => other,
    }
    .unwrap_or_else(Outcome::usage)
}

/// What the event file is, as `explain` reads it.
enum Read {
    /// A Git server's request, and how it was recognised when the file did not say.
    Request(WebhookRequest, Option<String>),
    Pipeline,
    S3,
}

/// Reads the event file: a raw payload with --provider or --header; a Lambda HTTP event; a saved
/// request (`{"headers", "body"}`, as a server's webhook log shows it); a pipeline or S3 event;
/// else a raw payload whose server its shape names.
fn read_event(args: &Args, event: &Value, body: &[u8]) -> Result<Read, String> {
    if args.provider.is_some() || !args.headers.is_empty() {
        return raw_request(args, args.provider, body).map(|r| Read::Request(r, None));
    }
    if event.get("headers").is_some() && event.get("body").is_some() {
        if event.get("requestContext").is_some() || event.get("rawPath").is_some() {
            return herald::http::from_event(event.clone()).map(|r| Read::Request(r, None));
        }
        return saved_request(event).map(|r| Read::Request(r, None));
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.codepipeline") {
        return Ok(Read::Pipeline);
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.s3") || event.get("Records").is_some() {
        return Ok(Read::S3);
    }
    match delivery::recognise(event) {
        Some(kind) => {
            let request = raw_request(args, Some(Sender::Server(kind)), body)?;
            let note = format!("read as a raw {kind} payload, by its shape (--provider says otherwise)");
            Ok(Read::Request(request, Some(note)))
        }
        None if event.get("repository").is_some() || event.get("ref").is_some() => Err(format!(
            "{}: a Git payload without headers whose server its shape does not tell (Gitea, Forgejo and Gogs look \
             alike): give --provider ({})",
            args.event,
            ProviderKind::names()
        )),
        None => Err(format!(
            "{}: not an event explain reads: a Lambda HTTP event, a saved request {{\"headers\", \"body\"}}, a raw Git \
             payload (with --provider), an S3 event or a CodePipeline event",
            args.event
        )),
    }
}

/// A request saved from a server's webhook log: `headers` (an object of strings, or of lists of
/// strings) and `body` (the exact text that was signed; a JSON object is accepted, but a
/// signature over it will only verify if it was serialised the same way).
fn saved_request(event: &Value) -> Result<WebhookRequest, String> {
    let mut headers = Headers::new();
    let given = event["headers"].as_object().ok_or("a saved request's \"headers\" is an object of header values")?;
    for (name, value) in given {
        match value {
            Value::String(v) => headers.insert(name, v),
            Value::Array(values) => values.iter().filter_map(Value::as_str).for_each(|v| headers.insert(name, v)),
            other => headers.insert(name, &other.to_string()),
        }
    }
    let body = match &event["body"] {
        Value::String(text) if event["isBase64Encoded"] == Value::Bool(true) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("a base64 body that does not decode: {e}"))?
        }
        Value::String(text) => text.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    };
    Ok(WebhookRequest { method: "POST".into(), headers, body })
}

/// The most changed files `--changed-files` reads: what git-webhook reads of a delivery's
/// changed files at most (`LookupBounds::per_delivery`), so a decision here is one it could make.
const MAX_GIVEN_FILES: usize = 10_000;

/// The paths of `--changed-files` (`-`: standard input): one per line, blank lines ignored.
fn changed_files(source: &str) -> Result<Vec<String>, String> {
    let text = if source == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| format!("standard input: {e}"))?;
        text
    } else {
        output::read(source)?
    };
    let paths: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if paths.len() > MAX_GIVEN_FILES {
        return Err(format!("{source}: {} paths, over the {MAX_GIVEN_FILES} Herald reads of one change", paths.len()));
    }
    Ok(paths)
}

/// The first five of `paths`, and how many more.
fn first_files(paths: &[String]) -> String {
    let shown: Vec<&str> = paths.iter().take(5).map(String::as_str).collect();
    match paths.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Which credentials entry may go to `host`: its own `provider:host` entry, or also the bare
/// provider entry where `host` is the provider's public service (docs/credentials.md).
fn credential_hint(api: ServerApi, host: &str) -> String {
    let key = api.key();
    if api.public_host() == Some(host) {
        format!("{key}:{host} or {key} credential")
    } else {
        format!("{key}:{host} credential")
    }
}

/// A pipeline definition (`get-pipeline` output): its name and document.
fn pipeline_definition(path: &str) -> Result<(String, Value), String> {
    let doc: Value = serde_json::from_str(&output::read(path)?).map_err(|e| format!("{path}: {e}"))?;
    let name = doc.get("pipeline").unwrap_or(&doc)["name"]
        .as_str()
        .ok_or_else(|| format!("{path}: not a get-pipeline document (no pipeline.name)"))?
        .to_owned();
    Ok((name, doc))
}

fn raw_request(args: &Args, sender: Option<Sender>, body: &[u8]) -> Result<WebhookRequest, String> {
    let mut headers = Headers::new();
    let given: Vec<(String, String)> = args
        .headers
        .iter()
        .map(|h| h.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect::<Option<_>>()
        .ok_or("--header takes `Name: value`")?;
    for (k, v) in &given {
        headers.insert(k, v);
    }
    if let Some(sender) = sender {
        let kind = sender.kind();
        for (k, v) in delivery::provider_headers(kind, delivery::event_of(kind, body).as_deref(), "explain") {
            if !headers.contains(&k.to_ascii_lowercase()) {
                headers.insert(&k, &v);
            }
        }
    }
    Ok(WebhookRequest { method: "POST".into(), headers, body: body.to_vec() })
}

fn plan_json(plan: &StartPlan) -> Value {
    json!({
        "pipeline": plan.pipeline,
        "variables": plan.variables_json(),
        "source_revisions": plan.source_revisions,
        "client_request_token": plan.client_request_token,
        "notes": plan.notes,
        "group": plan.group.as_ref().map(|g| json!({ "name": g.name, "cancel_in_progress": g.cancel_in_progress, "abandon": g.abandon })),
    })
}

/// The commit status a decision would post (docs/statuses.md "Commit statuses"): where, and as what —
/// `pending` for a start, the server's passing word for a skip that passes (docs/statuses.md "Make
/// Herald's checks required"); `None` when the trigger posts nothing for it.
fn status(out: &mut String, config: &Config, decision: &Decision, change: Option<&Change>) -> Option<Value> {
    let trigger = config.triggers.iter().find(|t| t.name == decision.trigger)?;
    let setting = trigger.status.as_ref()?;
    let change = change?;
    let skipped = match &decision.outcome {
        Decided::Start(_) => None,
        Decided::Skip(reason) if decision.skip_passes && setting.skipped => Some(reason.as_str()),
        Decided::Skip(_) => return None,
    };
    let (line, json) = match herald::status::target(change, trigger.secret.as_deref()) {
        Ok((target, commit)) => {
            let (server, key, repository) = (&target.host.0, target.api.key(), target.repository.name());
            let credential = credential_hint(target.api, server);
            let (state, word) = match skipped {
                None => ("pending", "pending".to_owned()),
                Some(_) => (
                    "skipped",
                    format!(
                        "{} (passed without running)",
                        herald::git_api::statuses::word(target.api, StatusState::Skipped)
                    ),
                ),
            };
            let stages = if setting.stages && skipped.is_none() {
                format!(", and {}/<stage> per stage", setting.context)
            } else {
                String::new()
            };
            let mut json = json!({ "context": setting.context, "state": state, "server": server, "repository": repository, "commit": commit.as_str(), "credential_for": format!("{key}:{server}"), "stages": setting.stages });
            if let Some(reason) = skipped {
                json["description"] = json!(format!("skipped: {reason}"));
            }
            (
                format!(
                    "status {} {word} on {repository}@{} at {server} ({credential}){stages}",
                    setting.context,
                    commit.as_str()
                ),
                json,
            )
        }
        Err(why) => (format!("no status: {why}"), json!({ "context": setting.context, "none": why })),
    };
    let _ = writeln!(out, "          {line}");
    Some(json)
}

/// The command lines of a pull request comment, read as `git-webhook` reads them: against the
/// repository's triggers of the delivery's secret scope.
fn comment_commands(config: &Config, scope: &SecretScope, comment: &herald::change::Comment) -> (String, Value) {
    use herald::commands::Line;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  comment {} by {} on pull request #{} of {}",
        comment.id, comment.author.name, comment.pull_request, comment.repository
    );
    let lines: Vec<Value> = herald::command_executor::CommandExecutor::lines(config, scope, comment)
        .into_iter()
        .map(|line| match line {
            Line::Command(c) => {
                let triggers =
                    if c.triggers.is_empty() { "every trigger it applies to".into() } else { c.triggers.join(", ") };
                let text = c.text.as_deref().map(|t| format!(" \"{t}\"")).unwrap_or_default();
                let may = herald::command_executor::who_may(&config.commands, comment, c.verb);
                let _ = writeln!(out, "    /herald {} ({triggers}){text}: {may}", c.verb.as_str());
                json!({ "command": c.verb.as_str(), "triggers": c.triggers, "text": c.text, "who_may": may })
            }
            Line::Refused { line, reason } => {
                let _ = writeln!(out, "    refused {line:?}: {reason}");
                json!({ "line": line, "refused": reason })
            }
        })
        .collect();
    if lines.is_empty() {
        out.push_str("    no /herald command: acknowledged\n");
    } else {
        out.push_str("    git-webhook carries them out once, on the pull request's head commit as its server names it, and replies there\n");
    }
    (out, json!({ "comment": comment, "commands": lines }))
}

fn decisions(
    out: &mut String,
    config: &Config,
    change: Option<&Change>,
    decisions: &[Decision],
    none: &str,
) -> Vec<Value> {
    if decisions.is_empty() {
        let _ = writeln!(out, "    {none}");
    }
    let width = decisions.iter().map(|d| d.trigger.len()).max().unwrap_or(0);
    let mut json = Vec::new();
    for decision in decisions {
        match &decision.outcome {
            Decided::Skip(reason) => {
                let _ = writeln!(
                    out,
                    "    {} {:width$} ({}): {reason}",
                    mark(false, "skip "),
                    decision.trigger,
                    decision.pipeline.as_str()
                );
                let mut entry = json!({ "trigger": decision.trigger, "pipeline": decision.pipeline.as_str(), "outcome": "skip", "reason": reason });
                if let Some(status) = status(out, config, decision, change) {
                    entry["status"] = status;
                }
                json.push(entry);
            }
            Decided::Start(plan) => {
                let _ = writeln!(out, "    {} {:width$} -> {}", mark(true, "start"), decision.trigger, plan.pipeline);
                if plan.source_revisions.is_empty() {
                    let _ = writeln!(out, "          source not pinned");
                }
                for r in &plan.source_revisions {
                    let _ = writeln!(
                        out,
                        "          source {} pinned to {} {}",
                        r.action_name,
                        r.revision_type.as_str(),
                        r.revision_value
                    );
                }
                for (name, value) in &plan.variables {
                    let _ = writeln!(out, "          {name} = {value}");
                }
                let _ = writeln!(out, "          token {}", plan.client_request_token);
                if let Some(group) = &plan.group {
                    let stops = match (group.cancel_in_progress, group.abandon) {
                        (false, _) => "keeps the group's other executions running",
                        (true, false) => "stops the group's earlier executions (running actions finish)",
                        (true, true) => "stops the group's earlier executions, abandoning running actions",
                    };
                    let _ = writeln!(out, "          group {}: {stops}", group.name);
                }
                for note in &plan.notes {
                    let _ = writeln!(out, "          note: {note}");
                }
                let status = status(out, config, decision, change);
                let mut entry = plan_json(plan);
                entry["trigger"] = json!(decision.trigger);
                entry["outcome"] = json!("start");
                if let Some(status) = status {
                    entry["status"] = status;
                }
                json.push(entry);
            }
        }
    }
    json
}

/// How a delivery is explained: the scope to decide in, the secret to check it with, and the
/// credentials to ask Git servers for changed files with.
struct Ask<'a> {
    scope: &'a SecretScope,
    secret: Option<&'a str>,
    fetch: Option<&'a Credentials>,
    /// `--changed-files`: the list to decide on instead.
    given: Option<&'a [String]>,
}

/// Git server lookups with `credentials`, as git-webhook makes them, on a runtime of their own.
fn lookups(credentials: &Credentials) -> Option<(tokio::runtime::Runtime, FileLookups)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    let client = herald::git_api::https::HttpsClient::new().ok()?;
    let lookups = FileLookups::new(
        std::sync::Arc::new(ServerCredentials::Fixed(std::sync::Arc::new(credentials.clone()))),
        GitApi::new(std::sync::Arc::new(client), RetryPolicy::LOOKUP),
    );
    Some((runtime, lookups))
}

/// What `git-webhook` does with an abbreviated commit (Bitbucket Cloud's pull requests name 12
/// characters) where a trigger pins a source action: it asks the server for the full id. With
/// `fetch`, asked now; the change with the full id, or `None` (and why, in `out`).
fn full_commit(
    out: &mut String,
    config: &Config,
    scope: &SecretScope,
    change: &Change,
    fetch: Option<&Credentials>,
) -> Option<Change> {
    if !herald::trigger::wants_full_commit(config, scope, change) {
        return None;
    }
    let host = change.server.as_ref().map_or("its server".to_owned(), |s| s.host.clone());
    let Some(credentials) = fetch else {
        let hint = ServerApi::of(change.provider).map(|api| credential_hint(api, &host)).unwrap_or_default();
        let _ = writeln!(
            out,
            "    commit {} is abbreviated; git-webhook would ask {host} for the full id to pin to ({hint}; --fetch asks now)",
            change.commit
        );
        return None;
    };
    let (runtime, lookups) = lookups(credentials)?;
    let now = herald::clock::unix_now();
    match runtime.block_on(lookups.full_commit(change, scope.name(), LOOKUP_BUDGET, now)) {
        Ok(full) => {
            let _ = writeln!(out, "    commit (asked {host}): {full}");
            Some(Change { commit: full, ..change.clone() })
        }
        Err(why) => {
            let _ = writeln!(out, "    commit {} stays abbreviated because {why}", change.commit);
            None
        }
    }
}

/// What `git-webhook` would do for `change`'s file list: nothing, ask its server (with `fetch`,
/// actually asking), or nothing because it cannot. Answers the change to decide on.
fn file_list(out: &mut String, change: &Change, scope: Option<&str>, fetch: Option<&Credentials>) -> (Change, Value) {
    let unasked = |out: &mut String, why: String| {
        let _ = writeln!(out, "    files: incomplete, and {why} (--changed-files gives the list)");
        (change.clone(), json!({ "asked": false, "complete": false, "why": why }))
    };
    let Some(api) = ServerApi::of(change.provider) else {
        return unasked(out, format!("{} deliveries name no Git server Herald could ask", change.provider.as_str()));
    };
    let Some(host) = change.server.as_ref().map(|s| s.host.clone()) else {
        return unasked(out, "the payload names no server address to ask".to_owned());
    };
    let Some(credentials) = fetch else {
        let _ = writeln!(
            out,
            "    files: incomplete; git-webhook would ask {host} for them ({}; --fetch asks now)",
            credential_hint(api, &host)
        );
        return (change.clone(), json!({ "asked": false, "complete": false, "would_ask": host }));
    };
    let Some((runtime, lookups)) = lookups(credentials) else {
        let _ = writeln!(out, "    files: could not set up HTTPS to ask {host}");
        return (change.clone(), json!({ "asked": false, "complete": false }));
    };
    let bounds = herald::git_api::changed_files::LookupBounds::per_delivery();
    let files = runtime.block_on(lookups.complete(change, scope, &bounds, LOOKUP_BUDGET, herald::clock::unix_now()));
    match &files.why {
        None => {
            let _ = writeln!(out, "    files (asked {host}): {}", first_files(&files.paths));
        }
        Some(why) => {
            let _ = writeln!(out, "    files: still incomplete because {why}");
        }
    }
    let json = json!({ "asked": true, "complete": files.complete, "paths": files.paths, "why": files.why });
    let mut decided_on = change.clone();
    decided_on.files = files;
    (decided_on, json)
}

fn webhook(config: &Config, request: WebhookRequest, ask: &Ask<'_>) -> Result<Outcome, String> {
    let (scope, secret) = (ask.scope, ask.secret);
    let WebhookRequest { headers, body, .. } = request;
    let provider = providers::detect(&headers).ok_or_else(|| {
        format!(
            "no Git server recognised from the headers (git-webhook answers 400); --provider names it ({})",
            ProviderKind::names()
        )
    })?;
    if body.len() > herald::webhook::MAX_BODY_BYTES {
        let message = format!("body over {} bytes: git-webhook answers 413", herald::webhook::MAX_BODY_BYTES);
        return Ok(Outcome {
            text: format!("{}\n", mark(false, &message)),
            json: json!({ "kind": "webhook", "provider": provider, "status": 413, "error": message }),
            code: output::FINDING,
        });
    }
    let mut code = 0;
    let (signature, scope) = match secret {
        None => ("not checked".to_owned(), scope.clone()),
        // A delivery saved without its headers was signed, but the signature is not here: not a
        // wrong secret (docs/operations.md "Why didn't my push start my pipeline?").
        Some(_) if !delivery::has_signature(provider, &headers) => (
            format!(
                "not checked: no signature header given ({}; git-webhook answers 401 without one, --header adds it)",
                delivery::signature_header(provider)
            ),
            scope.clone(),
        ),
        Some(text) => {
            let secrets = WebhookSecrets::parse(text).map_err(|e| e.to_string())?;
            match providers::authenticate(provider, &headers, &body, &secrets, herald::clock::unix_now()) {
                Some(verified) => (format!("valid ({})", scope_name(&verified)), verified),
                None => {
                    code = output::FINDING;
                    ("invalid: the secret does not verify it, answered 401, nothing decided".to_owned(), scope.clone())
                }
            }
        }
    };
    let mut out = String::new();
    let delivery = match providers::parse(provider, &headers, &body) {
        Ok(d) => d,
        Err(e) => {
            let _ = writeln!(out, "{} delivery: answered 400: {e}", provider.as_str());
            return Ok(Outcome {
                text: out,
                json: json!({ "kind": "webhook", "provider": provider, "status": 400, "error": e.to_string() }),
                code: output::FINDING,
            });
        }
    };
    let _ = writeln!(out, "{} {} delivery {}", provider.as_str(), delivery.event, delivery.delivery);
    let _ = writeln!(out, "  signature: {}", mark(code == 0, &signature));
    let mut changes_json = Vec::new();
    let mut content_json = json!(null);
    if code == 0 {
        match delivery.content {
            Content::Ping => {
                out.push_str("  a ping: answered 200, nothing started\n");
                content_json = json!("ping");
            }
            Content::Ignored(reason) => {
                let _ = writeln!(out, "  ignored: {reason}");
                content_json = json!({ "ignored": reason });
            }
            Content::Comment(comment) => {
                let (text, json) = comment_commands(config, &scope, &comment);
                out.push_str(&text);
                content_json = json;
            }
            Content::Changes(changes) => {
                let multi_ref = changes.len() > 1;
                for change in &changes {
                    let commit = if change.commit.is_empty() { "(no commit)" } else { &change.commit };
                    let _ = writeln!(
                        out,
                        "  {} {} {} at {commit}",
                        change.event.as_str(),
                        change.repository,
                        change.git_ref
                    );
                    let resolved = full_commit(&mut out, config, &scope, change, ask.fetch);
                    let change = resolved.as_ref().unwrap_or(change);
                    let mut files_json = json!({ "complete": change.files.complete });
                    let asked;
                    let change = if let Some(paths) = ask.given {
                        let _ = writeln!(out, "    files (given): {}", first_files(paths));
                        files_json = json!({ "given": true, "complete": true, "paths": paths });
                        asked = Change {
                            files: herald::change::ChangedFiles { paths: paths.to_vec(), complete: true, why: None },
                            ..change.clone()
                        };
                        &asked
                    } else if herald::trigger::wants_file_list(config, &scope, change, multi_ref) {
                        (asked, files_json) = file_list(&mut out, change, scope.name(), ask.fetch);
                        &asked
                    } else {
                        if !change.files.complete {
                            let _ = writeln!(out, "    (file list incomplete)");
                        }
                        change
                    };
                    let decided = decide_git(config, &scope, change, multi_ref);
                    let left_out = herald::trigger::left_out(config, &scope, change);
                    let none = if left_out.is_empty() { "no Git trigger in the configuration" } else { "" };
                    let mut list = if decided.is_empty() && !left_out.is_empty() {
                        Vec::new()
                    } else {
                        decisions(&mut out, config, Some(change), &decided, none)
                    };
                    let width = left_out.iter().map(|(t, _, _)| t.len()).max().unwrap_or(0);
                    for (trigger, pipeline, reason) in &left_out {
                        let _ = writeln!(
                            out,
                            "    {} {trigger:width$} ({}): {reason}",
                            mark(false, "skip "),
                            pipeline.as_str()
                        );
                        list.push(json!({ "trigger": trigger, "pipeline": pipeline.as_str(), "outcome": "skip", "reason": reason }));
                    }
                    // A pull request closed or merged stops its groups (docs/configuration.md "One build per pull request").
                    let mut closes = Vec::new();
                    for group in herald::trigger::closing_groups(config, &scope, change) {
                        if decided.iter().any(|d| d.trigger == group.trigger && d.start_plan().is_some()) {
                            continue;
                        }
                        let _ = writeln!(
                            out,
                            "    {} {} group {}: stops its running executions (closed (herald))",
                            mark(true, "close"),
                            group.trigger,
                            group.name
                        );
                        closes.push(json!({ "trigger": group.trigger, "group": group.name }));
                    }
                    changes_json.push(json!({
                        "event": change.event.as_str(), "repository": change.repository, "ref": change.git_ref,
                        "commit": change.commit, "files_complete": change.files.complete, "files": files_json,
                        "decisions": list, "closes_groups": closes
                    }));
                }
            }
        }
    }
    let json = json!({
        "kind": "webhook", "provider": provider, "event": delivery.event, "delivery": delivery.delivery,
        "status": if code == 0 { 200 } else { 401 },
        "signature": signature, "content": content_json, "changes": changes_json,
    });
    Ok(Outcome { text: out, json, code })
}

fn scope_name(scope: &SecretScope) -> String {
    match scope {
        SecretScope::Default => "the unnamed secrets".into(),
        SecretScope::Named(name) => format!("named secret {name}"),
    }
}

fn s3(config: &Config, event: &Value, pipelines: &[(String, Value)]) -> Outcome {
    let objects = match herald::s3::event::parse_event(event) {
        herald::s3::event::S3Input::Ignored(reason) => {
            return Outcome::ok(format!("ignored: {reason}\n"), json!({ "kind": "s3", "ignored": reason }))
        }
        herald::s3::event::S3Input::Objects(objects) => objects,
    };
    let actions: Vec<(String, String, Option<SourceAction>)> = config
        .s3_triggers()
        .filter_map(|(t, _)| t.source_action.as_ref().map(|a| (t.pipeline.as_str().to_owned(), a.clone())))
        .filter_map(|(pipeline, action)| {
            let (_, doc) = pipelines.iter().find(|(name, _)| *name == pipeline)?;
            let found = SourceAction::from_definition(doc, &action);
            Some((pipeline, action, found))
        })
        .collect();
    let source_of = |pipeline: &str, action: &str| {
        actions
            .iter()
            .find(|(p, a, _)| p == pipeline && a == action)
            .map_or(SourceLookup::Unknown, |(_, _, found)| SourceLookup::Read(found.as_ref()))
    };
    let mut out = String::new();
    let mut writes = Vec::new();
    for object in &objects {
        let version = object.version_id.as_deref().unwrap_or("no version id");
        let _ = writeln!(out, "s3://{}/{} ({version}, via {})", object.bucket, object.key, object.source.as_str());
        let decided = herald::trigger::decide_s3(config, object, source_of);
        // The triggers whose bucket does not match get their reason too.
        let others: Vec<_> = config.s3_triggers().filter(|(_, rule)| !rule.bucket.is_match(&object.bucket)).collect();
        let none = if others.is_empty() { "no S3 trigger in the configuration" } else { "" };
        let mut list = if decided.is_empty() && !others.is_empty() {
            Vec::new()
        } else {
            decisions(&mut out, config, None, &decided, none)
        };
        for (trigger, rule) in others {
            let reason = format!("bucket {} does not match bucket ({})", object.bucket, rule.bucket.written());
            let _ = writeln!(
                out,
                "    {} {} ({}): {reason}",
                mark(false, "skip "),
                trigger.name,
                trigger.pipeline.as_str()
            );
            list.push(json!({ "trigger": trigger.name, "pipeline": trigger.pipeline.as_str(), "outcome": "skip", "reason": reason }));
        }
        writes.push(
            json!({ "bucket": object.bucket, "key": object.key, "version_id": object.version_id, "decisions": list }),
        );
    }
    Outcome::ok(out, json!({ "kind": "s3", "writes": writes }))
}

fn alert(config: &Config, event: &Value) -> Outcome {
    let event: PipelineEvent = match alert_event::parse_event(event) {
        alert_event::Input::Ignored(reason) => {
            return Outcome::ok(format!("ignored: {reason}\n"), json!({ "kind": "alert", "ignored": reason }))
        }
        alert_event::Input::Event(event) => *event,
    };
    let state = event.state.as_deref().or(event.audit.as_ref().map(|a| a.api.as_str())).unwrap_or("?").to_owned();
    let mut out = format!("{} event: pipeline {}, {state}\n", event.kind.as_str(), event.pipeline);
    let rules = candidate_rules(config, &event);
    let mut cases_json = Vec::new();
    if rules.is_empty() {
        out.push_str("  no alert rule listens for it\n");
    }
    let cases: &[(Option<Previous>, &str)] = match event.state.as_deref() {
        Some("SUCCEEDED" | "FAILED") if event.kind == herald::alert::Kind::Pipeline && !rules.is_empty() => &[
            (Some(Previous::Failed), "if the previous finished run failed"),
            (Some(Previous::Succeeded), "if the previous finished run succeeded"),
        ],
        _ if rules.is_empty() => &[],
        _ => &[(None, "")],
    };
    for (previous, when) in cases {
        let found = matches(&rules, &tokens(&event, *previous));
        if !when.is_empty() {
            let _ = writeln!(out, "  {when}:");
        }
        if found.is_empty() {
            out.push_str("    no alert\n");
        }
        let mut alerts = Vec::new();
        for m in found {
            let topic = m.rule.topic_arn.as_deref().unwrap_or("HERALD_TOPIC_ARN");
            let rendered = herald::alert::render::Alert::new(&m, &event, &herald::alert::enrich::Enrichment::default());
            let _ = writeln!(out, "    alert rule {} sends {} to {topic}", m.rule.name, m.token.as_str());
            let _ = writeln!(out, "      subject: {}", rendered.subject());
            alerts.push(json!({ "alert_rule": m.rule.name, "token": m.token.as_str(), "topic": topic, "subject": rendered.subject(), "text": rendered.email_text() }));
        }
        cases_json.push(json!({ "when": when, "alerts": alerts }));
    }
    Outcome::ok(
        out,
        json!({ "kind": "alert", "event_kind": event.kind.as_str(), "pipeline": event.pipeline, "state": state, "cases": cases_json }),
    )
}
