//! Exactly once with a dedup table (ARCHITECTURE "Invariants", exactly once): claim the key, do the work, record its
//! result — or give the claim back when the work failed, so a retry can claim it. Shared by
//! pipeline starts and alerts; without a table the work simply runs.

use crate::ports::{AwsError, Claim, DedupStore};
use std::future::Future;

/// What became of the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// Done now; its result (an execution or message id).
    Done(String),
    /// Done earlier for the same key; the recorded result.
    Recorded(String),
    /// Another invocation holds the claim right now; a retry after this many seconds (at least 1)
    /// may take it over if that invocation died.
    InProgress { retry_after_secs: u32 },
}

/// Seconds until a lease held elsewhere ends (at least 1): when a retry may take it over.
pub fn retry_after_secs(lease_until: i64, now: i64) -> u32 {
    lease_until.saturating_sub(now).clamp(1, i64::from(u32::MAX)) as u32
}

/// Runs `work` once per `key` (`work` is a future, so nothing runs before the claim). Fails with
/// the claim's or the work's error.
pub async fn once(
    store: Option<&dyn DedupStore>,
    key: &str,
    now: i64,
    work: impl Future<Output = Result<String, AwsError>>,
) -> Result<Once, AwsError> {
    if let Some(store) = store {
        match store.claim(key, now).await? {
            Claim::Claimed => {}
            Claim::Completed(result) => return Ok(Once::Recorded(result)),
            Claim::InProgress { lease_until } => {
                return Ok(Once::InProgress { retry_after_secs: retry_after_secs(lease_until, now) })
            }
        }
    }
    let outcome = work.await;
    if let Some(store) = store {
        match &outcome {
            Ok(result) => {
                if let Err(e) = store.complete(key, result, now).await {
                    tracing::warn!(key, error = %e, "done, but its exactly-once record was not completed; a redelivery may repeat it");
                }
            }
            Err(_) => {
                if let Err(e) = store.release(key).await {
                    tracing::warn!(key, error = %e, "could not release the exactly-once record; a retry waits for its lease to end");
                }
            }
        }
    }
    outcome.map(Once::Done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fakes::FakeDedup;

    #[tokio::test]
    async fn claims_records_and_gives_back_a_failed_claim() {
        let store = FakeDedup::default();
        let failed = once(Some(&store), "k", 1, async { Err(AwsError::Transient("down".into())) }).await;
        assert_eq!(failed, Err(AwsError::Transient("down".into())));
        assert!(store.records.lock().unwrap().is_empty(), "released for the retry");
        assert_eq!(once(Some(&store), "k", 2, async { Ok("id-1".to_owned()) }).await, Ok(Once::Done("id-1".into())));
        let again = once(Some(&store), "k", 3, async { panic!("must not run twice") }).await;
        assert_eq!(again, Ok(Once::Recorded("id-1".into())));
        store.records.lock().unwrap().insert("busy".into(), (None, 64));
        let busy = once(Some(&store), "busy", 4, async { Ok("x".to_owned()) }).await;
        assert_eq!(busy, Ok(Once::InProgress { retry_after_secs: 60 }));
        store.records.lock().unwrap().insert("ending".into(), (None, 4));
        let ending = once(Some(&store), "ending", 4, async { Ok("x".to_owned()) }).await;
        assert_eq!(ending, Ok(Once::InProgress { retry_after_secs: 1 }), "at least one second");
        assert_eq!(once(None, "k", 5, async { Ok("id-2".to_owned()) }).await, Ok(Once::Done("id-2".into())));
    }
}
