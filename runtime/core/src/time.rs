//! Wall-clock time as swirl records it (milliseconds since the Unix epoch)
//! and shows it (RFC 3339 with milliseconds, UTC).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch of `time`; 0 for a time before it.
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// `ms` since the Unix epoch as RFC 3339, e.g. `2026-12-03T09:46:00.123Z`.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_milliseconds_and_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_764_754_560_123), "2025-12-03T09:36:00.123Z");
        let now = SystemTime::now();
        assert_eq!(
            rfc3339(unix_ms(now)),
            humantime::format_rfc3339_millis(now).to_string()
        );
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
