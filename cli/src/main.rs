//! `herald`: write a first configuration from an account's pipelines, check a configuration,
//! explain what Herald would do with any event, sign test deliveries, check an AWS account, and
//! ask Git servers to send missed deliveries again — the functions' own code, run on your machine.
//!
//! Every subcommand prints for people by default and takes `--json` for scripts. Exit codes:
//! 0 all good, 1 a finding (an invalid configuration, a signature that does not verify, a
//! misconfigured pipeline, a warning under `--strict`), 2 a usage error, 3 AWS could not be asked
//! (no credentials, no region, no answer).

mod delivery;
mod doctor;
mod explain;
mod init;
mod output;
mod redeliver;
mod sign;

use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "herald",
    version,
    about = "Git and S3 triggers and alerts for AWS CodePipeline: check, explain, sign, doctor, redeliver"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate a configuration document (or the HeraldConfig default of a SAM template)
    Validate {
        /// The configuration document (JSON)
        #[arg(required_unless_present = "template")]
        config: Option<String>,
        /// Validate the `HeraldConfig` parameter's default in this template instead
        #[arg(long)]
        template: Option<String>,
        /// Print JSON: {"valid", "errors", "warnings", "notes", "triggers", "alerts"}
        #[arg(long)]
        json: bool,
        /// Warnings fail the check (exit 1), as `make deploy` runs it
        #[arg(long)]
        strict: bool,
        /// The stack's S3SourceBuckets (comma-separated): warn on an s3 trigger whose bucket glob
        /// matches none of them, since s3-trigger hears of no other bucket's writes
        #[arg(long = "s3-buckets", value_name = "BUCKET,...")]
        s3_buckets: Option<String>,
    },
    /// Write a starter configuration from the account's pipelines (read-only: ListPipelines,
    /// GetPipeline)
    Init(init::Args),
    /// Explain what Herald would do with an event: each trigger's start or skip and why, each
    /// alert rule's alert
    Explain(explain::Args),
    /// Print the headers (or a curl command) that make FILE a valid delivery of a Git server
    Sign(sign::Args),
    /// Check the pipelines, topics and table a configuration names on an AWS account (read-only)
    Doctor(doctor::Args),
    /// Ask the Git servers to send again the webhook deliveries that failed there and Herald
    /// did not process, over the last --since (the hooks the credentials document names)
    Redeliver(redeliver::Args),
    /// Print shell completions
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    // The library counts what it does as EMF lines on stdout, for the functions' logs.
    herald::metrics::silence();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = match &cli.command {
        Command::Validate { json, .. } => *json,
        Command::Explain(a) => a.json,
        Command::Init(a) => a.json,
        Command::Sign(a) => a.json,
        Command::Doctor(a) => a.json,
        Command::Redeliver(a) => a.json,
        Command::Completions { .. } => false,
    };
    let outcome = match cli.command {
        Command::Validate { config, template, strict, s3_buckets, .. } => {
            let buckets = s3_buckets.as_deref().map(herald::config::arn_list);
            output::validate(config.as_deref(), template.as_deref(), strict, buckets.as_deref())
        }
        Command::Init(args) => init::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Sign(args) => sign::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Redeliver(args) => redeliver::run(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "herald", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
    };
    outcome.print(json)
}

#[cfg(test)]
mod tests;
