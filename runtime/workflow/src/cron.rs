//! Cron expressions, for 1.0's `schedule.cron`: the five fields of
//! crontab(5) (minute, hour, day of month, month, day of week), read in UTC.
//!
//! Each field is `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n`,
//! or a comma-separated list of these; months and days of the week may be
//! named (`JAN`, `MON`), and Sunday is 0 or 7. As in crontab, when both the
//! day of month and the day of week are restricted, a day matching either
//! one matches. `@yearly`, `@monthly`, `@weekly`, `@daily` and `@hourly`
//! stand for their usual expressions.

use std::fmt;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, TimeDelta, Timelike};
use serde::{Serialize, Serializer};

/// Why a cron expression is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(String);

/// The fields: name, lowest and highest value, and names for values.
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    (
        "day of week",
        0,
        7,
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    ),
];

/// How far ahead [`Cron::next_after`] looks: a schedule with no instant in
/// this many years has none (the 30th of February).
const HORIZON_YEARS: i32 = 8;

/// A parsed cron expression; it serializes back to its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    /// One bit per allowed value, for each field in order.
    fields: [u64; 5],
    /// Whether the day of month and the day of week were `*`.
    any_day_of_month: bool,
    any_day_of_week: bool,
}

impl Cron {
    pub fn parse(text: &str) -> Result<Cron, CronError> {
        let expanded = match text.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(CronError(format!(
                "cron expression '{text}' has {} fields; write five: minute, hour, day of month, month, day of week (like '0 0 * * *')",
                parts.len()
            )));
        }
        let mut fields = [0u64; 5];
        for (index, part) in parts.iter().enumerate() {
            fields[index] = field(part, FIELDS[index]).map_err(|reason| {
                CronError(format!(
                    "cron expression '{text}': the {} field {reason}",
                    FIELDS[index].0
                ))
            })?;
        }
        // Sunday is 0 and 7.
        if fields[4] & (1 << 7) != 0 {
            fields[4] = (fields[4] | 1) & !(1 << 7);
        }
        let cron = Cron {
            text: text.to_string(),
            fields,
            any_day_of_month: parts[2] == "*",
            any_day_of_week: parts[4] == "*",
        };
        if cron.next_after(946_684_800_000).is_none() {
            return Err(CronError(format!(
                "cron expression '{text}' names no day that exists (like the 30th of February)"
            )));
        }
        Ok(cron)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn allows(&self, field: usize, value: u32) -> bool {
        self.fields[field] & (1 << value) != 0
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let by_month = self.allows(2, date.day());
        let by_week = self.allows(4, date.weekday().num_days_from_sunday());
        match (self.any_day_of_month, self.any_day_of_week) {
            (false, false) => by_month || by_week,
            _ => by_month && by_week,
        }
    }

    /// The first instant the expression names strictly after `after_ms`
    /// (Unix milliseconds, UTC), or `None` past the horizon.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let after = DateTime::from_timestamp_millis(i64::try_from(after_ms).ok()?)?.naive_utc();
        let minute = after.with_second(0)?.with_nanosecond(0)?;
        let mut at = minute.checked_add_signed(TimeDelta::minutes(1))?;
        let horizon = after.year().saturating_add(HORIZON_YEARS);
        while at.year() <= horizon {
            let date = at.date();
            if !self.allows(3, at.month()) {
                let first = NaiveDate::from_ymd_opt(at.year(), at.month(), 1)?;
                at = midnight(first.checked_add_months(Months::new(1))?);
            } else if !self.day_matches(date) {
                at = midnight(date.checked_add_days(Days::new(1))?);
            } else if !self.allows(1, at.hour()) {
                let hour = at.with_minute(0)?;
                at = hour.checked_add_signed(TimeDelta::hours(1))?;
            } else if !self.allows(0, at.minute()) {
                at = at.checked_add_signed(TimeDelta::minutes(1))?;
            } else {
                return u64::try_from(at.and_utc().timestamp_millis()).ok();
            }
        }
        None
    }
}

fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_time(chrono::NaiveTime::MIN)
}

/// The bits of one field's allowed values.
fn field(text: &str, (_, low, high, names): (&str, u32, u32, &[&str])) -> Result<u64, String> {
    let value = |token: &str| -> Result<u32, String> {
        let upper = token.to_ascii_uppercase();
        let named = names.iter().position(|n| *n == upper).map(|i| {
            // Month names count from 1, day names from 0.
            i as u32 + u32::from(low == 1)
        });
        let number = named
            .or_else(|| token.parse().ok())
            .ok_or_else(|| match names.first() {
                Some(name) => format!(
                    "has '{token}', which is neither a number from {low} to {high} nor a name like {name}"
                ),
                None => format!("has '{token}', which is no number from {low} to {high}"),
            })?;
        if !(low..=high).contains(&number) {
            return Err(format!("has {number}, outside {low} to {high}"));
        }
        Ok(number)
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("has step '{step}', which is no positive number"))?;
                (range, step)
            }
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" => (low, high),
            _ => match range.split_once('-') {
                Some((from, to)) => (value(from)?, value(to)?),
                // `a/n` runs from a to the end.
                None if item.contains('/') => (value(range)?, high),
                None => {
                    let single = value(range)?;
                    (single, single)
                }
            },
        };
        if from > to {
            return Err(format!("has the range {from}-{to}, which runs backwards"));
        }
        for number in (from..=to).step_by(step as usize) {
            bits |= 1 << number;
        }
    }
    Ok(bits)
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Cron {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> u64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis() as u64
    }

    fn next(cron: &str, after: &str) -> String {
        let next = Cron::parse(cron).unwrap().next_after(at(after)).unwrap();
        DateTime::from_timestamp_millis(next as i64)
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn finds_the_next_instant_strictly_after() {
        assert_eq!(
            next("0 0 * * *", "2026-03-01T00:00:00Z"),
            "2026-03-02T00:00:00+00:00"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-03-01T10:07:31Z"),
            "2026-03-01T10:15:00+00:00"
        );
        assert_eq!(
            next("30 9 * * MON-FRI", "2026-12-04T09:30:00Z"),
            "2026-12-07T09:30:00+00:00"
        );
        assert_eq!(
            next("@monthly", "2026-12-31T23:59:59Z"),
            "2027-01-01T00:00:00+00:00"
        );
        assert_eq!(
            next("0 12 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T12:00:00+00:00"
        );
        // Sunday as 7; day of month or day of week when both are given.
        assert_eq!(
            next("0 0 * * 7", "2026-12-03T00:00:00Z"),
            "2026-12-06T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 1 * 5", "2026-12-03T00:00:00Z"),
            "2026-12-04T00:00:00+00:00"
        );
        assert_eq!(
            next("5/20 1-3 * jan,Jun *", "2026-06-30T02:50:00Z"),
            "2026-06-30T03:05:00+00:00"
        );
    }

    #[test]
    fn bad_expressions_say_which_field_and_why() {
        let error = |text: &str| Cron::parse(text).unwrap_err().to_string();
        assert!(error("0 0 * *").contains("has 4 fields"));
        assert_eq!(
            error("61 * * * *"),
            "cron expression '61 * * * *': the minute field has 61, outside 0 to 59"
        );
        assert_eq!(
            error("* * * FOO *"),
            "cron expression '* * * FOO *': the month field has 'FOO', which is neither a number from 1 to 12 nor a name like JAN"
        );
        assert!(error("0 0 * * 1-8").contains("the day of week field has 8, outside 0 to 7"));
        assert!(error("0 0 x * *").contains("day of month field has 'x', which is no number"));
        assert!(error("* 5-2 * * *").contains("runs backwards"));
        assert!(error("*/0 * * * *").contains("step '0'"));
        assert!(error("0 0 30 2 *").contains("names no day that exists"));
    }
}
