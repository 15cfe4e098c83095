//! Reading schedule intervals against the clock: whether a scheduled start
//! state's window is open, and the instants schedules are anchored at.

use crate::workflow::duration::{IntervalPart, ScheduleInterval};

/// Unix milliseconds of an RFC 3339 instant such as `2020-03-20T09:00:00Z`.
pub fn instant_ms(part: &IntervalPart) -> Option<u64> {
    let IntervalPart::Instant(text) = part else {
        return None;
    };
    let time = humantime::parse_rfc3339_weak(text)
        .or_else(|_| humantime::parse_rfc3339(text))
        .ok()?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

fn duration_ms(part: &IntervalPart) -> Option<u64> {
    match part {
        IntervalPart::Duration(duration) => Some(duration.exact.as_millis() as u64),
        IntervalPart::Instant(_) => None,
    }
}

/// Whether `now_ms` lies in the window `start/end`, `start/duration` or
/// `duration/end`; repeating and open-ended schedules are always open.
pub fn window_contains(schedule: &ScheduleInterval, now_ms: u64) -> bool {
    if schedule.repeat.is_some() {
        return true;
    }
    let (Some(start), Some(end)) = (&schedule.start, &schedule.end) else {
        return true;
    };
    let (from, to) = match (instant_ms(start), instant_ms(end)) {
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) => (from, from.saturating_add(duration_ms(end).unwrap_or(0))),
        (None, Some(to)) => (to.saturating_sub(duration_ms(start).unwrap_or(0)), to),
        (None, None) => return true,
    };
    (from..to).contains(&now_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_open_and_close_at_their_instants() {
        let window = ScheduleInterval::parse("2020-03-20T09:00:00Z/2020-03-20T15:00:00Z").unwrap();
        let nine = 1_584_694_800_000;
        assert!(!window_contains(&window, nine - 1));
        assert!(window_contains(&window, nine));
        assert!(!window_contains(&window, nine + 6 * 3_600_000));
        let with_duration = ScheduleInterval::parse("2020-03-20T09:00:00Z/PT1H").unwrap();
        assert!(window_contains(&with_duration, nine + 1000));
        assert!(!window_contains(&with_duration, nine + 3_600_000));
    }

    #[test]
    fn repeating_intervals_parse() {
        let every = ScheduleInterval::parse("R/PT0.5S").unwrap();
        assert_eq!(
            every.repeat,
            Some((None, std::time::Duration::from_millis(500)))
        );
        let five = ScheduleInterval::parse("R5/2026-01-01T00:00:00Z/PT1H").unwrap();
        assert_eq!(five.repeat.map(|r| r.0), Some(Some(5)));
        assert!(ScheduleInterval::parse("R/P1M").is_err());
    }
}
