//! Test support: the moto AWS emulator and a Lambda Runtime API that runs Herald's real
//! binaries. Tests start what they need and fail loudly when a piece is missing.

pub mod events;
pub mod faults;
pub mod git_servers;
pub mod moto;
pub mod openapi;
pub mod runtime;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file under `events/`, parsed.
pub fn sample(path: &str) -> serde_json::Value {
    let full = workspace().join("events").join(path);
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("sample {} missing: {e}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("sample {} is not JSON: {e}", full.display()))
}
