//! Herald: Git and S3 triggers and alerts for AWS CodePipeline.
//!
//! Layers; each imports only from the layers below it (ARCHITECTURE.md has the code map):
//! - entry points: [`http`] (git-webhook's HTTP events), [`startup`] (cold-start wiring);
//! - use cases: [`webhook`], [`s3`], [`notifier`], with [`start`] (running starts), [`once`]
//!   (exactly once with the dedup table), [`report`] (what each decision tells), [`secrets`],
//!   [`status`] (commit statuses back to the Git server), [`files`] (changed files asked of the
//!   Git server), [`live`] (the configuration in force,
//!   refreshed from SSM);
//! - decisions, pure: [`trigger`] (Git and S3 triggers), [`alert`] (alert rules), [`doctor`]
//!   (what would fail on an account);
//! - [`config`], [`providers`] (one module per Git server), [`aws`] (the adapters, the only
//!   code that imports `aws_sdk_*`), [`git_api`] (the Git servers' status APIs and credentials),
//!   [`settings`];
//! - leaves: [`ports`] (and their fakes), [`change`], [`auth`], [`glob`], [`template`],
//!   [`token`], [`clock`], [`metrics`].

pub mod alert;
pub mod auth;
pub mod aws;
pub mod change;
pub mod clock;
pub mod command_executor;
pub mod commands;
pub mod concurrency;
pub mod config;
pub mod doctor;
pub mod files;
pub mod git_api;
pub mod glob;
pub mod http;
pub mod live;
pub mod metrics;
pub mod notifier;
pub mod once;
pub mod ports;
pub mod providers;
pub mod redeliver;
pub mod report;
pub mod s3;
pub mod secrets;
pub mod settings;
pub mod start;
pub mod startup;
pub mod status;
pub mod template;
pub mod token;
pub mod trigger;
pub mod webhook;
