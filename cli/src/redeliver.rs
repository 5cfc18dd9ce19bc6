//! `herald redeliver`: the `redeliver` function's sweep from a laptop (docs/operations.md
//! "Missed deliveries"), over a window of its own (`--since`), with the user's credentials
//! document and, when given the dedup table, the same processed records and attempt counts. It
//! leaves the scheduled sweep's cursors alone.

use crate::output::{self, mark, Outcome};
use herald::git_api::credentials::Credentials;
use herald::git_api::{GitApi, RetryPolicy};
use herald::redeliver::{SweepOptions, SweepReport, Sweeper};
use std::fmt::Write;
use std::sync::Arc;

/// How far back `--since` may reach: GitHub redelivers only deliveries of the last 3 days, and
/// GitLab keeps 7 days of events.
pub const MAX_SINCE_SECS: i64 = 3 * 24 * 3600;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// How far back to look: 90m, 2h, 1d (at most 3d)
    #[arg(long, default_value = "3h")]
    pub since: String,
    /// The Git server credentials document, whose entries name the hooks (`hooks`)
    #[arg(long, required_unless_present = "status_secret_arn")]
    pub credentials: Option<String>,
    /// The same document in Secrets Manager (HERALD_STATUS_SECRET_ARN)
    #[arg(long = "status-secret-arn", conflicts_with = "credentials")]
    pub status_secret_arn: Option<String>,
    /// The dedup table (HERALD_DEDUP_TABLE): deliveries git-webhook processed are left alone,
    /// and redeliveries count toward the 3 each delivery gets. Without it only a later
    /// successful attempt counts as processed.
    #[arg(long)]
    pub table: Option<String>,
    /// List what would be redelivered; ask nothing and write nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Print the sweep's report as JSON: {"dry_run", "hooks": [{"credential", "hook", "listed",
    /// "processed", "redelivered", "gave_up", "waiting", "cursor", "bound", "error"}]}
    #[arg(long)]
    pub json: bool,
}

/// `90m`, `2h`, `1d`, `45s` in seconds.
pub fn duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: i64 = number.parse().map_err(|_| format!("--since {text:?}: expected a number and s, m, h or d (2h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" | "" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("--since {text:?}: the unit is s, m, h or d")),
    };
    if secs <= 0 || secs > MAX_SINCE_SECS {
        return Err(format!("--since {text:?}: between 1s and 3d (GitHub redelivers only the last 3 days)"));
    }
    Ok(secs)
}

pub fn run(args: &Args) -> Outcome {
    let window_secs = match duration(&args.since) {
        Ok(secs) => secs,
        Err(e) => return Outcome::usage(e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return Outcome::usage(format!("could not start: {e}")),
    };
    runtime.block_on(async {
        let needs_aws = args.status_secret_arn.is_some() || args.table.is_some();
        let sdk = if needs_aws {
            match crate::doctor::account_sdk().await {
                Ok(sdk) => Some(sdk),
                Err(outcome) => return outcome,
            }
        } else {
            None
        };
        let text = match (&args.credentials, &args.status_secret_arn, &sdk) {
            (Some(file), _, _) => output::read(file),
            (None, Some(arn), Some(sdk)) => herald::aws::inspect::secret_string(sdk, arn).await,
            _ => Err("give --credentials FILE or --status-secret-arn ARN".into()),
        };
        let credentials = match text.and_then(|t| Credentials::parse(&t)) {
            Ok(c) => c,
            Err(e) => return Outcome::usage(format!("the credentials document: {e}")),
        };
        let http = match herald::git_api::https::HttpsClient::new() {
            Ok(client) => Arc::new(client),
            Err(e) => return Outcome::usage(e),
        };
        let ledger = match (&args.table, &sdk) {
            (Some(table), Some(sdk)) => Some(herald::aws::redelivery_ledger(sdk, table)),
            _ => None,
        };
        let counted = ledger.is_some();
        let sweeper = Sweeper::new(GitApi::new(http, RetryPolicy::NOTIFIER), ledger);
        let options = SweepOptions { window_secs, use_cursor: false, dry_run: args.dry_run };
        let report = sweeper.sweep(&credentials, options, herald::clock::unix_now()).await;
        let code = if report.failed() { output::FINDING } else { 0 };
        Outcome {
            text: text_of(&report, &args.since, counted),
            json: serde_json::to_value(&report).unwrap_or_default(),
            code,
        }
    })
}

/// The report for people: per hook what was (or would be) redelivered, and why not the rest.
fn text_of(report: &SweepReport, since: &str, counted: bool) -> String {
    let mut text = String::new();
    if report.hooks.is_empty() {
        return "no credentials entry names hooks: nothing to sweep (add \"hooks\": [\"repo:<owner>/<repo>:<id>\"] to an entry; docs/operations.md \"Missed deliveries\")\n".into();
    }
    let verb = if report.dry_run { "would redeliver" } else { "redelivered" };
    for hook in &report.hooks {
        let _ = writeln!(text, "{} {}: {} deliveries in the last {since}", hook.credential, hook.hook, hook.listed);
        for r in &hook.redelivered {
            let attempt = r.attempt.map(|a| format!(", redelivery {a} of 3")).unwrap_or_default();
            let _ = writeln!(
                text,
                "  {verb} {} {} ({}, answered {}){attempt}",
                r.delivery_id,
                r.event,
                r.guid,
                answer(r.status_code)
            );
        }
        for r in &hook.gave_up {
            let _ = writeln!(
                text,
                "  {} {} {} ({}): failed after 3 redeliveries, not asked again",
                mark(false, "gave up"),
                r.delivery_id,
                r.event,
                r.guid
            );
        }
        if hook.processed > 0 {
            let _ = writeln!(text, "  {} failed at the server but processed by Herald: left alone", hook.processed);
        }
        if hook.waiting > 0 {
            let _ = writeln!(text, "  {} left for a later sweep", hook.waiting);
        }
        if let Some(bound) = &hook.bound {
            let _ = writeln!(text, "  bound: {bound}");
        }
        if let Some(error) = &hook.error {
            let _ = writeln!(text, "  {}", mark(false, &format!("error: {error}")));
        }
    }
    let _ = writeln!(text, "{verb} {} deliveries across {} hook(s)", report.redelivered(), report.hooks.len());
    if !counted {
        let _ = writeln!(
            text,
            "without --table: only a later successful attempt counts as processed, and redeliveries are not counted toward the 3 each delivery gets"
        );
    }
    text
}

fn answer(status_code: u16) -> String {
    if status_code == 0 {
        "nothing (no answer)".into()
    } else {
        status_code.to_string()
    }
}
