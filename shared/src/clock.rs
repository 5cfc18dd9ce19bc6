//! The wall clock, in the one unit Herald uses: Unix seconds (dedup leases and TTLs, Standard
//! Webhooks timestamps).

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// An RFC 3339 time (`2026-12-03T09:55:00Z`) in Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime).ok().map(|t| t.secs())
}
