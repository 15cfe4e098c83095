//! Reading schedule intervals against the clock: whether a scheduled start
//! state's window is open, and the instants schedules are anchored at.

use swirl_workflow::duration::ScheduleInterval;

/// Unix milliseconds of a repeating schedule's start, 0 when it has none
/// (then its ticks are multiples of its period).
pub fn anchor_ms(schedule: &ScheduleInterval) -> u64 {
    schedule
        .anchor
        .map_or(0, |at| u64::try_from(at.timestamp_millis()).unwrap_or(0))
}

/// Whether `now_ms` lies in the window `start/end`, `start/duration` or
/// `duration/end`; repeating and open-ended schedules are always open.
pub fn window_contains(schedule: &ScheduleInterval, now_ms: u64) -> bool {
    let Some((from, to)) = schedule.window else {
        return true;
    };
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    (from.timestamp_millis()..to.timestamp_millis()).contains(&now)
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
