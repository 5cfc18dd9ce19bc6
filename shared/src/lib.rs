//! Herald: Git and S3 triggers and alerts for AWS CodePipeline.
//!
//! Layers, each depending only on those below it (see ARCHITECTURE.md):
//! - entry points: [`http`] (git-webhook), [`startup`] (cold-start wiring);
//! - use cases: [`webhook`], [`s3`], [`start`]; decisions: [`trigger`];
//! - [`config`], [`providers`], [`aws`] (the only SDK users);
//! - leaves: [`glob`], [`change`], [`auth`], [`template`], [`ports`], [`metrics`], [`settings`].

pub mod alert;
pub mod auth;
pub mod aws;
pub mod change;
pub mod config;
pub mod glob;
pub mod http;
pub mod metrics;
pub mod notifier;
pub mod once;
pub mod ports;
pub mod providers;
pub mod s3;
pub mod settings;
pub mod start;
pub mod startup;
pub mod template;
pub mod trigger;
pub mod webhook;
