//! Deterministic tokens: the same parts always give the same 64 hex characters. They make
//! CodePipeline's `clientRequestToken`, the dedup table's keys and the ids of S3 notifications
//! (which carry none), so a redelivery maps to what the first delivery did.

use sha2::{Digest, Sha256};

/// SHA-256 over the parts (each followed by a NUL, so `["ab","c"]` and `["a","bc"]` differ),
/// as 64 lower-case hex characters — within CodePipeline's `^[a-zA-Z0-9-]+$`, 1..=128.
pub fn deterministic(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_separated() {
        assert_ne!(deterministic(&["ab", "c"]), deterministic(&["a", "bc"]));
        assert_eq!(deterministic(&["a"]), deterministic(&["a"]));
        assert_eq!(deterministic(&[]).len(), 64);
    }
}
