//! The signature schemes: hex HMAC-SHA256, tokens compared as secrets, Standard Webhooks.
//!
//! Every comparison of a secret or a signature runs in constant time, and every check is made
//! over the exact bytes received, before anything parses them.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::secrets::{Scheme, Secret};

type HmacSha256 = Hmac<Sha256>;

/// How far a Standard Webhooks timestamp may be from now, in seconds.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// HMAC-SHA256 of `body` under `key`.
pub fn hmac_sha256(key: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    }
}

/// Checks a hex HMAC-SHA256 signature (upper or lower case) in constant time.
pub fn verify_hex_hmac(key: &[u8], body: &[u8], hex_signature: &str) -> bool {
    let Ok(expected) = hex::decode(hex_signature.trim()) else {
        return false;
    };
    let mut mac = new_mac(key);
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// Compares two secrets in constant time, without revealing their lengths.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    let a = Sha256::digest(a);
    let b = Sha256::digest(b);
    a.ct_eq(&b).into()
}

/// Why a Standard Webhooks signature was refused (kept out of HTTP answers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StandardWebhookError {
    #[error("timestamp is not a number")]
    BadTimestamp,
    #[error("timestamp is more than five minutes from now")]
    Stale,
    #[error("no v1 signature matches")]
    NoMatch,
}

/// Verifies Standard Webhooks v1: base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, any of the
/// space-separated `v1,<sig>` entries, timestamp within five minutes of `now` (Unix seconds).
pub fn verify_standard_webhook(
    key: &[u8],
    id: &str,
    timestamp: &str,
    body: &[u8],
    signatures: &str,
    now: i64,
) -> Result<(), StandardWebhookError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| StandardWebhookError::BadTimestamp)?;
    // Checked: an extreme timestamp must not overflow (it arrives before authentication).
    if now.checked_sub(ts).and_then(i64::checked_abs).is_none_or(|skew| skew > TIMESTAMP_TOLERANCE_SECS) {
        return Err(StandardWebhookError::Stale);
    }
    let expected = standard_webhook_mac(key, id, timestamp.trim(), body);
    let matched = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok())
        .any(|given| bool::from(given.ct_eq(&expected)));
    if matched {
        Ok(())
    } else {
        Err(StandardWebhookError::NoMatch)
    }
}

fn standard_webhook_mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = new_mac(key);
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` value a Standard Webhooks sender puts on `body`.
pub fn sign_standard_webhook(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = standard_webhook_mac(secret.key(), id, &timestamp.to_string(), body);
    format!("v1,{}", BASE64.encode(mac))
}

/// Lower-case hex HMAC-SHA256, as GitHub, Bitbucket and Gitea send it.
pub fn sign_hex(secret: &Secret, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.key(), body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn github_documented_vector() {
        let secret = Secret::new("It's a Secret to Everybody");
        let sig = sign_hex(&secret, b"Hello, World!");
        assert_eq!(sig, "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
        assert!(verify_hex_hmac(secret.key(), b"Hello, World!", &sig));
        assert!(verify_hex_hmac(secret.key(), b"Hello, World!", &sig.to_uppercase()));
    }

    #[test]
    fn standard_webhooks_documented_vector() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        let sig = sign_standard_webhook(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let ok = verify_standard_webhook(
            secret.key(),
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            body,
            &format!("v1,bm90LXRoaXMtb25l {sig}"),
            1614265330 + 10,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn standard_webhooks_reject_stale_and_garbled() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = sign_standard_webhook(&secret, "id", 1000, b"{}");
        let key = secret.key();
        assert_eq!(
            verify_standard_webhook(key, "id", "1000", b"{}", &sig, 1000 + 301),
            Err(StandardWebhookError::Stale)
        );
        assert_eq!(
            verify_standard_webhook(key, "id", "1000", b"{}", &sig, 1000 - 301),
            Err(StandardWebhookError::Stale)
        );
        assert_eq!(verify_standard_webhook(key, "id", "x", b"{}", &sig, 1000), Err(StandardWebhookError::BadTimestamp));
        assert_eq!(
            verify_standard_webhook(key, "id", "1000", b"{}", "v1,!!", 1000),
            Err(StandardWebhookError::NoMatch)
        );
        assert_eq!(verify_standard_webhook(key, "id", "1000", b"{}", "", 1000), Err(StandardWebhookError::NoMatch));
        assert_eq!(
            verify_standard_webhook(key, "other", "1000", b"{}", &sig, 1000),
            Err(StandardWebhookError::NoMatch)
        );
    }

    #[test]
    fn secrets_compare_by_value() {
        assert!(secrets_equal(b"token", b"token"));
        assert!(!secrets_equal(b"token", b"token2"));
        assert!(!secrets_equal(b"", b"x"));
    }

    proptest! {
        #[test]
        fn hex_sign_then_verify(key in proptest::collection::vec(any::<u8>(), 1..64), body in proptest::collection::vec(any::<u8>(), 0..512), bit in 0usize..4096) {
            let secret = Secret::from_key(Scheme::Shared, key.clone());
            let sig = sign_hex(&secret, &body);
            prop_assert!(verify_hex_hmac(&key, &body, &sig));
            // flipping any bit of the body breaks it
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = bit % (body.len() * 8);
                tampered[i / 8] ^= 1 << (i % 8);
                prop_assert!(!verify_hex_hmac(&key, &tampered, &sig));
            }
            // flipping any bit of the signature breaks it
            let mut raw = hex::decode(&sig).unwrap();
            let i = bit % (raw.len() * 8);
            raw[i / 8] ^= 1 << (i % 8);
            prop_assert!(!verify_hex_hmac(&key, &body, &hex::encode(raw)));
        }

        #[test]
        fn standard_sign_then_verify(key in proptest::collection::vec(any::<u8>(), 1..64), body in proptest::collection::vec(any::<u8>(), 0..512), id in "[a-z0-9_]{1,20}", ts in 1_000_000i64..2_000_000_000, bit in 0usize..4096) {
            let secret = Secret::from_key(Scheme::StandardWebhooks, key.clone());
            let sig = sign_standard_webhook(&secret, &id, ts, &body);
            let tsr = ts.to_string();
            prop_assert_eq!(verify_standard_webhook(&key, &id, &tsr, &body, &sig, ts), Ok(()));
            if !body.is_empty() {
                let mut tampered = body.clone();
                let i = bit % (body.len() * 8);
                tampered[i / 8] ^= 1 << (i % 8);
                prop_assert!(verify_standard_webhook(&key, &id, &tsr, &tampered, &sig, ts).is_err());
            }
            let mut raw = BASE64.decode(&sig[3..]).unwrap();
            let i = bit % (raw.len() * 8);
            raw[i / 8] ^= 1 << (i % 8);
            let bad = format!("v1,{}", BASE64.encode(raw));
            prop_assert!(verify_standard_webhook(&key, &id, &tsr, &body, &bad, ts).is_err());
        }
    }
}
