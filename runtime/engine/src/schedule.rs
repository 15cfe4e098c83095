//! Reading schedules against the clock: whether a scheduled start state's
//! window is open, and when a workflow's next instance starts by the clock
//! ([`Cadence`]: v0.1's repeating start schedules, 1.0's `every`, `cron`
//! and `after`).

use swirl_workflow::cron::Cron;
use swirl_workflow::duration::ScheduleInterval;
use swirl_workflow::model::WorkflowSchedule;

use crate::interpreter::Workflow;

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

/// When new instances of a workflow start by the clock.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cadence {
    /// Ticks `period_ms` apart from `anchor_ms`, `count` of them (no bound
    /// when `None`): v0.1's repeating start schedules and 1.0's `every`.
    Every {
        anchor_ms: u64,
        period_ms: u64,
        count: Option<u32>,
    },
    /// At each instant of a cron expression: 1.0's `cron`.
    Cron(Cron),
    /// An instance at once, then each one this long after the previous one
    /// ended: 1.0's `after`.
    After(std::time::Duration),
}

/// Ticks a loop catching up looks through at most.
const MAX_CATCH_UP: usize = 1_000_000;

impl Cadence {
    /// The tick to start next, after tick `after`: the latest one due by
    /// `now` when one is (the server was down then), else the first after
    /// it; `None` when the ticks are done. Not for [`Cadence::After`].
    pub(crate) fn latest_due(&self, after: u64, now: u64) -> Option<u64> {
        match self {
            Cadence::Every {
                anchor_ms,
                period_ms,
                count,
            } => {
                let period = (*period_ms).max(1);
                let index = |at: u64| at.checked_sub(*anchor_ms).map_or(0, |d| d / period + 1);
                let next = index(after);
                // The latest tick at or before now, when it is past `after`.
                let due = now
                    .checked_sub(*anchor_ms)
                    .map_or(next, |d| (d / period).max(next));
                let index = match count {
                    Some(count) if due >= u64::from(*count) => {
                        (next < u64::from(*count)).then(|| u64::from(*count) - 1)?
                    }
                    _ => due,
                };
                Some(anchor_ms + index * period)
            }
            Cadence::Cron(cron) => {
                let mut tick = cron.next_after(after)?;
                for _ in 0..MAX_CATCH_UP {
                    match cron.next_after(tick) {
                        Some(next) if next <= now => tick = next,
                        _ => break,
                    }
                }
                Some(tick)
            }
            Cadence::After(_) => None,
        }
    }
}

/// The cadence of `workflow`'s clock starts, when it has one.
pub(crate) fn cadence(workflow: &Workflow) -> Option<Cadence> {
    match &workflow.definition.schedule {
        Some(WorkflowSchedule::Every(period)) => Some(Cadence::Every {
            anchor_ms: 0,
            period_ms: period.duration().as_millis() as u64,
            count: None,
        }),
        Some(WorkflowSchedule::Cron(cron)) => Some(Cadence::Cron(cron.clone())),
        Some(WorkflowSchedule::After(delay)) => Some(Cadence::After(delay.duration())),
        Some(WorkflowSchedule::On { .. }) => None,
        // v0.1: a scheduled start state's repeating interval, unless events
        // start it (then the schedule is the window they may).
        None => {
            let interval = workflow.schedule()?;
            let (count, period) = interval.repeat?;
            workflow.start_events().is_empty().then(|| Cadence::Every {
                anchor_ms: anchor_ms(interval),
                period_ms: period.as_millis() as u64,
                count,
            })
        }
    }
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
    fn a_clock_cadence_catches_up_with_the_latest_tick_it_missed() {
        let every = Cadence::Every {
            anchor_ms: 0,
            period_ms: 1000,
            count: None,
        };
        // Nothing missed: the next tick, or now when it is a tick.
        assert_eq!(every.latest_due(4999, 5000), Some(5000));
        assert_eq!(every.latest_due(5000, 5500), Some(6000));
        // Ticks 3000 to 5000 passed since 2000: only the latest runs.
        assert_eq!(every.latest_due(2000, 5500), Some(5000));
        let five = Cadence::Every {
            anchor_ms: 10_000,
            period_ms: 1000,
            count: Some(5),
        };
        assert_eq!(five.latest_due(0, 1), Some(10_000));
        assert_eq!(five.latest_due(11_000, 99_000), Some(14_000));
        assert_eq!(five.latest_due(14_000, 99_000), None);
        let hourly = Cadence::Cron(Cron::parse("0 * * * *").unwrap());
        assert_eq!(hourly.latest_due(0, 1), Some(3_600_000));
        assert_eq!(
            hourly.latest_due(3_600_000, 4 * 3_600_000 + 5),
            Some(4 * 3_600_000)
        );
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
