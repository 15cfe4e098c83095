//! ISO 8601 durations, repeating intervals and schedule intervals.
//!
//! Timers need exact lengths, so [`IsoDuration`] refuses years and months
//! (their length depends on the calendar) and becomes a `std::time::Duration`.
//! Schedules describe calendar windows, so [`ScheduleInterval`] applies years
//! and months by the calendar to its RFC 3339 instants. Each type keeps its source text, which is what
//! it serializes back to.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Months, TimeDelta};
use serde::{Serialize, Serializer};

/// Why a duration or interval text is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(String);

fn err(message: impl Into<String>) -> DurationError {
    DurationError(message.into())
}

/// The parts of an ISO 8601 duration `PnYnMnWnDTnHnMnS`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CalendarDuration {
    pub years: u64,
    pub months: u64,
    /// Weeks, days, hours, minutes and seconds, which have a fixed length.
    pub exact: Duration,
}

/// Parses `PnYnMnWnDTnHnMnS`; only the last component may have a fraction.
pub fn parse_calendar_duration(text: &str) -> Result<CalendarDuration, DurationError> {
    let body = text.strip_prefix('P').ok_or_else(|| {
        err(format!(
            "'{text}' is not an ISO 8601 duration; write it like 'PT15M' or 'P2DT3H4M'"
        ))
    })?;
    let mut result = CalendarDuration::default();
    let mut in_time = false;
    let mut number = String::new();
    let mut seen_component = false;
    let mut seen_fraction = false;
    let mut nanos: u128 = 0;
    for ch in body.chars() {
        match ch {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' => number.push(ch),
            '.' | ',' if !number.is_empty() && !number.contains('.') => number.push('.'),
            unit => {
                if number.is_empty() {
                    return Err(err(format!(
                        "'{text}' is not an ISO 8601 duration; a number must come before '{unit}'"
                    )));
                }
                if seen_fraction {
                    return Err(err(format!(
                        "'{text}': only the last component of a duration may have a fraction"
                    )));
                }
                let (whole, fraction) = split_number(&number)
                    .ok_or_else(|| err(format!("'{text}' has a number that is too large")))?;
                seen_fraction = fraction > 0;
                let unit_nanos: u128 = match (in_time, unit) {
                    (false, 'Y') | (false, 'M') => {
                        if fraction > 0 {
                            return Err(err(format!(
                                "'{text}': years and months cannot have fractions"
                            )));
                        }
                        if unit == 'Y' {
                            result.years = whole as u64;
                        } else {
                            result.months = whole as u64;
                        }
                        number.clear();
                        seen_component = true;
                        continue;
                    }
                    (false, 'W') => 7 * 86_400 * 1_000_000_000,
                    (false, 'D') => 86_400 * 1_000_000_000,
                    (true, 'H') => 3_600 * 1_000_000_000,
                    (true, 'M') => 60 * 1_000_000_000,
                    (true, 'S') => 1_000_000_000,
                    _ => {
                        return Err(err(format!(
                            "'{text}' is not an ISO 8601 duration; '{unit}' is not a unit here (use Y M W D before 'T', H M S after it)"
                        )));
                    }
                };
                nanos = nanos
                    .checked_add(
                        whole
                            .checked_mul(unit_nanos)
                            .ok_or_else(|| err(format!("'{text}' is too long")))?,
                    )
                    .and_then(|n| n.checked_add(fraction * unit_nanos / 1_000_000_000))
                    .ok_or_else(|| err(format!("'{text}' is too long")))?;
                number.clear();
                seen_component = true;
            }
        }
    }
    if !number.is_empty() || !seen_component || body.ends_with('T') {
        return Err(err(format!(
            "'{text}' is not an ISO 8601 duration; write it like 'PT15M' or 'P2DT3H4M'"
        )));
    }
    let secs =
        u64::try_from(nanos / 1_000_000_000).map_err(|_| err(format!("'{text}' is too long")))?;
    result.exact = Duration::new(secs, (nanos % 1_000_000_000) as u32);
    Ok(result)
}

/// Splits "12.5" into whole units and the fraction in billionths.
fn split_number(number: &str) -> Option<(u128, u128)> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut digits: String = fraction.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    Some((whole, digits.parse().ok()?))
}

/// The milliseconds in a unit of a 1.0 duration object, or why `name` is none.
pub fn unit_millis(name: &str) -> Result<u64, String> {
    Ok(match name {
        "days" => 86_400_000,
        "hours" => 3_600_000,
        "minutes" => 60_000,
        "seconds" => 1_000,
        "milliseconds" => 1,
        other => {
            return Err(format!(
                "'{other}' is no unit of a duration; use days, hours, minutes, seconds or milliseconds"
            ));
        }
    })
}

/// An exact ISO 8601 duration such as `PT15M` or `PT0.5S`.
#[derive(Debug, Clone, PartialEq)]
pub struct IsoDuration {
    text: String,
    duration: Duration,
}

impl IsoDuration {
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let parts = parse_calendar_duration(text)?;
        if parts.years > 0 || parts.months > 0 {
            return Err(err(format!(
                "'{text}' uses years or months, which have no fixed length; use days (D) or weeks (W) instead"
            )));
        }
        Ok(IsoDuration {
            text: text.to_owned(),
            duration: parts.exact,
        })
    }

    /// A duration of whole seconds, as the draft dialect writes them.
    pub fn from_seconds(seconds: u64) -> Self {
        IsoDuration {
            text: format!("PT{seconds}S"),
            duration: Duration::from_secs(seconds),
        }
    }

    /// A duration of milliseconds, as 1.0 documents may write them.
    pub fn from_millis(millis: u64) -> Self {
        let (seconds, rest) = (millis / 1000, millis % 1000);
        IsoDuration {
            text: if rest == 0 {
                format!("PT{seconds}S")
            } else {
                format!("PT{seconds}.{rest:03}S")
            },
            duration: Duration::from_millis(millis),
        }
    }

    /// A duration as a 1.0 document or an expression gives it: ISO 8601
    /// text, or an object of whole units (`{minutes: 1, seconds: 30}`).
    pub fn from_value(value: &serde_json::Value) -> Result<Self, DurationError> {
        use serde_json::Value;
        match value {
            Value::String(text) => IsoDuration::parse(text),
            Value::Object(members) => {
                let mut millis: u64 = 0;
                for (name, count) in members {
                    let unit = unit_millis(name).map_err(err)?;
                    let count = count
                        .as_u64()
                        .ok_or_else(|| err(format!("'{name}' must be a whole number")))?;
                    millis = millis.saturating_add(count.saturating_mul(unit));
                }
                Ok(IsoDuration::from_millis(millis))
            }
            other => Err(err(format!(
                "{other} is neither ISO 8601 text ('PT30S') nor an object of units ({{\"seconds\": 30}})"
            ))),
        }
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for IsoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for IsoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// A retry interval: `R5/PT15M` (five repetitions, fifteen minutes apart),
/// `R/PT15M` (unbounded) or just `PT2M` as the spec's own examples write it.
#[derive(Debug, Clone, PartialEq)]
pub struct RepeatingInterval {
    text: String,
    repetitions: Option<u32>,
    interval: Duration,
}

impl RepeatingInterval {
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let Some(rest) = text.strip_prefix('R') else {
            let duration = IsoDuration::parse(text)?;
            return Ok(RepeatingInterval {
                text: text.to_owned(),
                repetitions: None,
                interval: duration.duration(),
            });
        };
        let (count, duration) = rest.split_once('/').ok_or_else(|| {
            err(format!(
                "'{text}' is not a repeating interval; write it like 'R5/PT15M'"
            ))
        })?;
        let repetitions = if count.is_empty() {
            None
        } else {
            Some(count.parse::<u32>().map_err(|_| {
                err(format!("'{text}' is not a repeating interval; 'R' must be followed by a repetition count, like 'R5/PT15M'"))
            })?)
        };
        let interval = IsoDuration::parse(duration)?.duration();
        Ok(RepeatingInterval {
            text: text.to_owned(),
            repetitions,
            interval,
        })
    }

    /// How many repetitions the text states; `None` when unbounded or unstated
    /// (then `maxAttempts` bounds the retries).
    pub fn repetitions(&self) -> Option<u32> {
        self.repetitions
    }

    /// The time to wait before each attempt.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl Serialize for RepeatingInterval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// One side of a schedule window as written: an instant or a duration.
enum IntervalPart {
    Instant(DateTime<FixedOffset>),
    Duration(CalendarDuration),
}

/// When a scheduled start state is active: `start/end`, `start/duration`,
/// `duration/end`, a lone duration (counted from deployment), or a
/// repeating interval. Instants are RFC 3339 date-times with `Z` or an
/// offset, parsed once here so that validation and run time agree.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleInterval {
    text: String,
    /// For `start/end`, `start/duration` and `duration/end`: the instants the
    /// window opens (included) and closes (excluded).
    pub window: Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)>,
    /// For a repeating interval with a start (`R5/2026-01-01T00:00:00Z/PT1H`):
    /// the instant the repetitions count from.
    pub anchor: Option<DateTime<FixedOffset>>,
    /// For a repeating interval (`R/PT1M`, `R5/2026-01-01T00:00:00Z/PT1H`):
    /// how many times (unbounded when `None`) and how far apart.
    pub repeat: Option<(Option<u32>, Duration)>,
}

impl ScheduleInterval {
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        if let Some(rest) = text.strip_prefix('R') {
            return Self::parse_repeating(text, rest);
        }
        let parts: Vec<&str> = text.split('/').collect();
        let parse_part = |part: &str| -> Result<IntervalPart, DurationError> {
            if part.starts_with('P') {
                Ok(IntervalPart::Duration(parse_calendar_duration(part)?))
            } else {
                parse_instant(part, text).map(IntervalPart::Instant)
            }
        };
        let window = match parts.as_slice() {
            [single] => match parse_part(single)? {
                IntervalPart::Duration(_) => None,
                IntervalPart::Instant(_) => {
                    return Err(err(format!(
                        "schedule interval '{text}' is a single instant; give a window like 'start/end', 'start/duration' or 'duration'"
                    )));
                }
            },
            [first, second] => {
                let out_of_range = || {
                    err(format!(
                        "schedule interval '{text}' reaches beyond the dates the calendar can represent"
                    ))
                };
                let (from, to) = match (parse_part(first)?, parse_part(second)?) {
                    (IntervalPart::Instant(from), IntervalPart::Instant(to)) => (from, to),
                    (IntervalPart::Instant(from), IntervalPart::Duration(length)) => {
                        (from, add(from, &length).ok_or_else(out_of_range)?)
                    }
                    (IntervalPart::Duration(length), IntervalPart::Instant(to)) => {
                        (subtract(to, &length).ok_or_else(out_of_range)?, to)
                    }
                    (IntervalPart::Duration(_), IntervalPart::Duration(_)) => {
                        return Err(err(format!(
                            "schedule interval '{text}' has two durations; one side must be a date-time"
                        )));
                    }
                };
                if to <= from {
                    return Err(err(format!(
                        "schedule interval '{text}' ends before it starts; give the earlier instant first"
                    )));
                }
                Some((from, to))
            }
            _ => {
                return Err(err(format!(
                    "'{text}' is not a schedule interval; write 'start/end', 'start/duration', 'duration/end' or 'duration'"
                )));
            }
        };
        Ok(ScheduleInterval {
            text: text.to_owned(),
            window,
            anchor: None,
            repeat: None,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `R[n]/[start/]period`: instances start every period from `start`
    /// (or from deployment), `n` times or without end.
    fn parse_repeating(text: &str, rest: &str) -> Result<Self, DurationError> {
        let parts: Vec<&str> = rest.split('/').collect();
        let bad = || {
            err(format!(
                "'{text}' is not a repeating interval; write it like 'R/PT1H' or 'R5/2026-01-01T09:00:00Z/P1D'"
            ))
        };
        let (count, anchor, period) = match parts.as_slice() {
            [count, period] => (*count, None, *period),
            [count, start, period] => (*count, Some(parse_instant(start, text)?), *period),
            _ => return Err(bad()),
        };
        let count = if count.is_empty() {
            None
        } else {
            Some(count.parse::<u32>().map_err(|_| bad())?)
        };
        let period = parse_calendar_duration(period)?;
        if period.years > 0 || period.months > 0 || period.exact.is_zero() {
            return Err(err(format!(
                "the period of '{text}' must be a positive duration of weeks, days, hours, minutes or seconds"
            )));
        }
        Ok(ScheduleInterval {
            text: text.to_owned(),
            window: None,
            anchor,
            repeat: Some((count, period.exact)),
        })
    }
}

impl Serialize for ScheduleInterval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// An RFC 3339 date-time, `YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm)`, with a real
/// calendar date and time of day.
fn parse_instant(part: &str, text: &str) -> Result<DateTime<FixedOffset>, DurationError> {
    DateTime::parse_from_rfc3339(part).map_err(|error| {
        err(format!(
            "'{part}' in schedule interval '{text}' is neither an RFC 3339 date-time like '2020-03-20T09:00:00Z' or '2020-03-20T11:00:00+02:00' ({error}) nor a duration like 'P1D'"
        ))
    })
}

/// `at` plus a calendar duration: years and months by the calendar (the
/// 31st of a shorter month becomes its last day), then the exact part.
fn add(at: DateTime<FixedOffset>, length: &CalendarDuration) -> Option<DateTime<FixedOffset>> {
    at.checked_add_months(months(length)?)?
        .checked_add_signed(TimeDelta::from_std(length.exact).ok()?)
}

/// `at` minus a calendar duration, the exact part first.
fn subtract(at: DateTime<FixedOffset>, length: &CalendarDuration) -> Option<DateTime<FixedOffset>> {
    at.checked_sub_signed(TimeDelta::from_std(length.exact).ok()?)?
        .checked_sub_months(months(length)?)
}

fn months(length: &CalendarDuration) -> Option<Months> {
    let months = length.years.checked_mul(12)?.checked_add(length.months)?;
    Some(Months::new(u32::try_from(months).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_fractions() {
        assert_eq!(
            IsoDuration::parse("PT15M").unwrap().duration(),
            Duration::from_secs(900)
        );
        assert_eq!(
            IsoDuration::parse("PT0.5S").unwrap().duration(),
            Duration::from_millis(500)
        );
        assert_eq!(
            IsoDuration::parse("P2DT3H4M").unwrap().duration(),
            Duration::from_secs(2 * 86400 + 3 * 3600 + 240)
        );
        assert_eq!(
            IsoDuration::parse("P1W").unwrap().duration(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(
            IsoDuration::parse("PT1.25H").unwrap().duration(),
            Duration::from_secs(4500)
        );
    }

    #[test]
    fn bad_durations_are_refused() {
        for text in [
            "15M",
            "PT",
            "P",
            "PT5",
            "P1H",
            "PTM",
            "PT1.5M30S",
            "P1Y",
            "PT99999999999999999999999S",
            "",
        ] {
            assert!(IsoDuration::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn repeating_intervals() {
        let r = RepeatingInterval::parse("R5/PT15M").unwrap();
        assert_eq!(
            (r.repetitions(), r.interval()),
            (Some(5), Duration::from_secs(900))
        );
        assert_eq!(
            RepeatingInterval::parse("R/PT1S").unwrap().repetitions(),
            None
        );
        assert_eq!(
            RepeatingInterval::parse("PT2M").unwrap().interval(),
            Duration::from_secs(120)
        );
        assert!(RepeatingInterval::parse("R5PT15M").is_err());
        assert!(RepeatingInterval::parse("Rx/PT1M").is_err());
    }

    #[test]
    fn schedule_intervals() {
        for ok in [
            "2020-03-20T09:00:00Z/2020-03-20T15:00:00Z",
            "2020-03-20T13:00:00Z/P1Y2M10DT2H30M",
            "P1Y2M10DT2H30M/2020-05-11T15:30:00Z",
            "P1Y2M10DT2H30M",
            "2020-03-20T13:00:00.5+02:00/PT1H",
        ] {
            assert!(ScheduleInterval::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2020-03-20T09:00:00Z",
            "P1D/P2D",
            "tomorrow/P1D",
            "a/b/c",
            "2020-13-20/P1D",
            "2020-13-20T09:00:00Z/P1D",
            "2020-02-30T09:00:00Z/P1D",
            "2020-03-20T25:00:00Z/P1D",
            "2020-03-20T09:00:00+24:00/P1D",
            "2020-03-20T15:00:00Z/2020-03-20T09:00:00Z",
            "R/2020-13-01T00:00:00Z/PT1H",
        ] {
            assert!(ScheduleInterval::parse(bad).is_err(), "{bad}");
        }
    }

    fn window(text: &str) -> (String, String) {
        let (from, to) = ScheduleInterval::parse(text).unwrap().window.unwrap();
        let utc = |at: DateTime<FixedOffset>| at.to_utc().to_rfc3339();
        (utc(from), utc(to))
    }

    #[test]
    fn windows_honour_offsets_fractions_and_the_calendar() {
        let nine_to_three = (
            "2020-03-20T07:00:00+00:00".to_string(),
            "2020-03-20T13:00:00+00:00".to_string(),
        );
        assert_eq!(
            window("2020-03-20T09:00:00+02:00/2020-03-20T15:00:00+02:00"),
            nine_to_three
        );
        assert_eq!(
            window("2020-03-20T07:00:00Z/2020-03-20T15:00:00+02:00"),
            nine_to_three
        );
        assert_eq!(
            window("2020-03-20T13:00:00.5+02:00/PT1H"),
            (
                "2020-03-20T11:00:00.500+00:00".to_string(),
                "2020-03-20T12:00:00.500+00:00".to_string()
            )
        );
        // One month after January 31st is the last day of February.
        assert_eq!(
            window("2020-01-31T00:00:00Z/P1M").1,
            "2020-02-29T00:00:00+00:00"
        );
        assert_eq!(
            window("P1Y1DT1H/2021-03-01T00:00:00Z").0,
            "2020-02-27T23:00:00+00:00"
        );
    }
}
