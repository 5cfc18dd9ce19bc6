//! The wall clock, in the one unit Herald uses: Unix seconds (dedup leases and TTLs, Standard
//! Webhooks timestamps).

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}
