//! The wall clock, in the one unit Herald uses: Unix seconds (dedup leases and TTLs, Standard
//! Webhooks timestamps).

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// An RFC 3339 time (`2026-12-03T09:55:00Z`, with fractions, or an offset `+01:00` as
/// Bitbucket and Azure DevOps write them) in Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let parse = |utc: &str| {
        aws_smithy_types::DateTime::from_str(utc, aws_smithy_types::date_time::Format::DateTime).ok().map(|t| t.secs())
    };
    if let Some(secs) = parse(text) {
        return Some(secs);
    }
    // The parser takes `Z` only: an offset is read here, the rest as UTC.
    let cut = text.len().checked_sub(6)?;
    let (at, zone) = (text.get(..cut)?, text.get(cut..)?);
    let sign = match zone.as_bytes() {
        [b'+', _, _, b':', _, _] => 1,
        [b'-', _, _, b':', _, _] => -1,
        _ => return None,
    };
    let (hours, minutes) = (zone[1..3].parse::<i64>().ok()?, zone[4..6].parse::<i64>().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(parse(&format!("{at}Z"))? - sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_as_each_server_writes_them() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time("2026-12-08T10:00:00Z"), Some(1_796_724_000));
        assert_eq!(parse_time("2026-12-08T10:00:00.123456+00:00"), Some(1_796_724_000));
        assert_eq!(parse_time("2026-12-08T11:30:00+01:30"), Some(1_796_724_000));
        assert_eq!(parse_time("2026-12-08T05:00:00-05:00"), Some(1_796_724_000));
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-12-08",
            "2026-12-08T25:00:00Z",
            "2026-12-08T10:00:00+25:00",
            "2026-12-08T10:00:00é+01:00",
            "é01:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
