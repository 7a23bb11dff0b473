//! The stack's EventBridge schedule expressions as Azure Functions timer triggers: six-field
//! NCRONTAB, `{second} {minute} {hour} {day} {month} {day-of-week}`, in UTC as EventBridge's
//! are (Azure's default when `WEBSITE_TIME_ZONE` is not set).
//!
//! What translates: `*`, values, lists, ranges and steps; `?` becomes `*`; day-of-week moves
//! from EventBridge's 1-7 (1 = Sunday) to NCRONTAB's 0-6 (0 = Sunday); `rate(N unit)` becomes
//! the clock-aligned step that fires at the same intervals. What NCRONTAB cannot say is refused
//! with a hint: `L`, `W`, `#`, a year other than `*`, and rates that do not divide the hour or
//! the day evenly.
//!
//! [`Timer`] reads an NCRONTAB expression back and says when it fires next: what `mlinfra serve
//! --env azurite` does as the Functions host, from each timer trigger's `function.json`.

use crate::stack::schedule::{Cron, Part, RateUnit, Schedule, ScheduleError};

fn refuse(expr: &str, what: &str, hint: &str) -> ScheduleError {
    ScheduleError {
        message: format!(
            "`{expr}`: {what}, which an Azure Functions timer (NCRONTAB) cannot express"
        ),
        hint: Some(hint.to_string()),
    }
}

/// The NCRONTAB form of a parsed schedule; `expr` is its text, for messages.
///
/// ```
/// use mlinfra::providers::azure::ncrontab::ncrontab;
/// use mlinfra::stack::schedule::Schedule;
/// let t = |e: &str| ncrontab(e, &Schedule::parse(e).unwrap());
/// assert_eq!(t("cron(0 3 ? * MON *)").unwrap(), "0 0 3 * * 1");
/// assert_eq!(t("rate(15 minutes)").unwrap(), "0 */15 * * * *");
/// assert!(t("cron(0 3 L * ? *)").unwrap_err().message.contains("the last day"));
/// ```
pub fn ncrontab(expr: &str, s: &Schedule) -> Result<String, ScheduleError> {
    match s {
        Schedule::Rate { value, unit } => rate(expr, *value, *unit),
        Schedule::Cron(c) => cron(expr, c),
    }
}

fn rate(expr: &str, n: u32, unit: RateUnit) -> Result<String, ScheduleError> {
    match unit {
        RateUnit::Minute if n == 1 => Ok("0 * * * * *".into()),
        RateUnit::Minute if 60 % n == 0 => Ok(format!("0 */{n} * * * *")),
        RateUnit::Minute => Err(refuse(
            expr,
            &format!("every {n} minutes does not divide the hour"),
            "use a number of minutes that divides 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)",
        )),
        RateUnit::Hour if n == 1 => Ok("0 0 * * * *".into()),
        RateUnit::Hour if 24 % n == 0 => Ok(format!("0 0 */{n} * * *")),
        RateUnit::Hour => Err(refuse(
            expr,
            &format!("every {n} hours does not divide the day"),
            "use a number of hours that divides 24 (1, 2, 3, 4, 6, 8, 12), or a cron expression",
        )),
        RateUnit::Day if n == 1 => Ok("0 0 0 * * *".into()),
        RateUnit::Day => Err(refuse(
            expr,
            &format!("every {n} days does not fit in the calendar's months"),
            "use `rate(1 day)`, or a cron expression on chosen days such as `cron(0 3 ? * MON,THU *)`",
        )),
    }
}

fn cron(expr: &str, c: &Cron) -> Result<String, ScheduleError> {
    if c.year != [Part::Any] {
        return Err(refuse(expr, "it names years", "use `*` in the year field"));
    }
    let minutes = field(expr, &c.minutes, 0)?;
    let hours = field(expr, &c.hours, 0)?;
    let dom = field(expr, &c.day_of_month, 0)?;
    let month = field(expr, &c.month, 0)?;
    let dow = weekdays(expr, &c.day_of_week)?;
    Ok(format!("0 {minutes} {hours} {dom} {month} {dow}"))
}

/// One field; `shift` is subtracted from every value.
fn field(expr: &str, parts: &[Part], shift: u32) -> Result<String, ScheduleError> {
    let mut out = Vec::with_capacity(parts.len());
    for p in parts {
        out.push(match *p {
            Part::Any | Part::NoSpecific => "*".to_string(),
            Part::Range { from, to, step } => {
                let (a, b) = (from - shift, to - shift);
                match (a == b, step) {
                    (true, _) => a.to_string(),
                    (false, 1) => format!("{a}-{b}"),
                    (false, s) => format!("{a}-{b}/{s}"),
                }
            }
            Part::Last(_) => {
                return Err(refuse(
                    expr,
                    "`L` means the last day (of the month or of a weekday in it)",
                    "name the days instead, e.g. `28-31` is not the same either: move the job to a fixed day such as `1`",
                ));
            }
            Part::NearestWeekday(_) | Part::LastWeekday => {
                return Err(refuse(
                    expr,
                    "`W` means the nearest weekday",
                    "use fixed days of the month, or weekdays in the day-of-week field (`MON-FRI`)",
                ));
            }
            Part::Nth { .. } => {
                return Err(refuse(
                    expr,
                    "`#` means the n-th weekday of the month",
                    "use a weekday in the day-of-week field (`MON`) without `#n`",
                ));
            }
        });
    }
    Ok(out.join(","))
}

/// The day-of-week field: EventBridge 1-7 (Sunday 1) to NCRONTAB 0-6 (Sunday 0); a range that
/// wraps past Saturday is split in two.
fn weekdays(expr: &str, parts: &[Part]) -> Result<String, ScheduleError> {
    let mut split = Vec::with_capacity(parts.len());
    for p in parts {
        match *p {
            Part::Range { from, to, step } if from > to => {
                split.push(Part::Range { from, to: 7, step });
                split.push(Part::Range { from: 1, to, step });
            }
            other => split.push(other),
        }
    }
    field(expr, &split, 1)
}

/// A parsed six-field NCRONTAB expression: the seconds, and the other five fields as the cron
/// matcher of the stack's schedules reads them (day of week moved back to 1-7).
#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    seconds: Vec<Part>,
    cron: Cron,
}

const FIELDS: [(&str, u32, u32); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 6),
];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Timer {
    /// Parse `{second} {minute} {hour} {day} {month} {day-of-week}`: `*`, values, names of
    /// months and days (`JAN`, `MON`), lists, ranges and steps. An error names the field, its
    /// text and what it accepts.
    pub fn parse(expr: &str) -> Result<Timer, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!(
                "`{expr}`: a timer's schedule has 6 fields ({{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}), not {}",
                fields.len()
            ));
        }
        let mut parsed = Vec::with_capacity(6);
        for (text, (name, lo, hi)) in fields.iter().zip(FIELDS) {
            let names: &[&str] = match name {
                "month" => &MONTHS,
                "day-of-week" => &DAYS,
                _ => &[],
            };
            let first = if name == "month" { 1 } else { 0 };
            parsed.push(timer_field(text, lo, hi, names, first).map_err(|why| {
                format!("`{expr}`: the {name} field `{text}` {why} (expected values {lo}-{hi}, `*`, lists, ranges and `/` steps)")
            })?);
        }
        let shift = |parts: Vec<Part>| {
            parts
                .into_iter()
                .map(|p| match p {
                    Part::Range { from, to, step } => Part::Range {
                        from: from + 1,
                        to: to + 1,
                        step,
                    },
                    other => other,
                })
                .collect()
        };
        let mut it = parsed.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let seconds = next();
        let (minutes, hours, day_of_month, month) = (next(), next(), next(), next());
        let day_of_week = shift(next());
        Ok(Timer {
            seconds,
            cron: Cron {
                minutes,
                hours,
                day_of_month,
                month,
                day_of_week,
                year: vec![Part::Any],
            },
        })
    }

    /// The first time (seconds since the epoch, UTC) after `after` the timer fires, or `None`
    /// when it never does within five years.
    pub fn next_after(&self, after: u64) -> Option<u64> {
        let second = |from: u64| (from..60).find(|s| self.second_matches(*s as u32));
        let minute = after - after % 60;
        let this_minute =
            Schedule::Cron(self.cron.clone()).next_after(minute.checked_sub(1)?) == Some(minute);
        if this_minute && let Some(s) = second(after % 60 + 1) {
            return Some(minute + s);
        }
        let next = Schedule::Cron(self.cron.clone()).next_after(minute + 59)?;
        Some(next + second(0)?)
    }

    fn second_matches(&self, s: u32) -> bool {
        self.seconds.iter().any(|p| match *p {
            Part::Range { from, to, step } => {
                s >= from && s <= to && (s - from).is_multiple_of(step)
            }
            _ => true,
        })
    }
}

/// One field: `*` (all), or a list of values, names, ranges and steps within `lo..=hi`; names
/// count from `first`.
fn timer_field(
    text: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    first: u32,
) -> Result<Vec<Part>, String> {
    let value = |v: &str| -> Result<u32, String> {
        let n = match names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
            Some(i) => i as u32 + first,
            None => v.parse().map_err(|_| format!("has `{v}`, not a number"))?,
        };
        if n < lo || n > hi {
            return Err(format!("has {n}, out of range"));
        }
        Ok(n)
    };
    let mut parts = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("has the step `{s}`, not a positive number"))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (from, to) = match range {
            "*" if step == 1 => {
                parts.push(Part::Any);
                continue;
            }
            "*" => (lo, hi),
            r => match r.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(r)?, hi),
                None => (value(r)?, value(r)?),
            },
        };
        if from > to {
            return Err(format!("has the range {from}-{to}, which runs backwards"));
        }
        parts.push(Part::Range { from, to, step });
    }
    Ok(parts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(e: &str) -> Result<String, ScheduleError> {
        ncrontab(e, &Schedule::parse(e).unwrap())
    }

    #[test]
    fn every_form_the_stack_accepts_translates_or_is_refused() {
        // Cron: values, lists, ranges, steps, names, `?`.
        assert_eq!(t("cron(0 3 ? * MON *)").unwrap(), "0 0 3 * * 1");
        assert_eq!(t("cron(0 2 * * ? *)").unwrap(), "0 0 2 * * *");
        assert_eq!(
            t("cron(15,45 8-18 ? * MON-FRI *)").unwrap(),
            "0 15,45 8-18 * * 1-5"
        );
        assert_eq!(t("cron(0/10 * * * ? *)").unwrap(), "0 0-59/10 * * * *");
        assert_eq!(t("cron(0 0 1 JAN,JUL ? *)").unwrap(), "0 0 0 1 1,7 *");
        assert_eq!(t("cron(30 6 ? * SUN,SAT *)").unwrap(), "0 30 6 * * 0,6");
        assert_eq!(t("cron(0 12 ? * 1-7/2 *)").unwrap(), "0 0 12 * * 0-6/2");
        // A week range wrapping past Saturday.
        assert_eq!(t("cron(0 9 ? * FRI-MON *)").unwrap(), "0 0 9 * * 5-6,0-1");
        // Rates, aligned to the clock.
        assert_eq!(t("rate(1 minute)").unwrap(), "0 * * * * *");
        assert_eq!(t("rate(20 minutes)").unwrap(), "0 */20 * * * *");
        assert_eq!(t("rate(1 hour)").unwrap(), "0 0 * * * *");
        assert_eq!(t("rate(6 hours)").unwrap(), "0 0 */6 * * *");
        assert_eq!(t("rate(1 day)").unwrap(), "0 0 0 * * *");
        // Refusals, each with a hint.
        for (e, says) in [
            ("rate(7 minutes)", "does not divide the hour"),
            ("rate(5 hours)", "does not divide the day"),
            ("rate(3 days)", "calendar's months"),
            ("cron(0 3 L * ? *)", "the last day"),
            ("cron(0 3 ? * 6L *)", "the last day"),
            ("cron(0 3 15W * ? *)", "nearest weekday"),
            ("cron(0 3 LW * ? *)", "nearest weekday"),
            ("cron(0 3 ? * MON#2 *)", "n-th weekday"),
            ("cron(0 3 * * ? 2027)", "names years"),
        ] {
            let err = t(e).unwrap_err();
            assert!(err.message.contains(says), "{e}: {}", err.message);
            assert!(err.message.contains("NCRONTAB"), "{e}");
            assert!(err.hint.is_some(), "{e}");
        }
    }

    #[test]
    fn each_timer_fires_when_its_eventbridge_schedule_does() {
        // From 2026-11-30 00:00:00 UTC (a Monday), the next 200 firings of each translated
        // schedule are those of the EventBridge expression (rates: aligned to the clock, so
        // compared from an aligned start).
        let start = 1_795_996_800;
        for e in [
            "cron(0 3 ? * MON *)",
            "cron(0 2 * * ? *)",
            "cron(15,45 8-18 ? * MON-FRI *)",
            "cron(0/10 * * * ? *)",
            "cron(0 0 1 JAN,JUL ? *)",
            "cron(30 6 ? * SUN,SAT *)",
            "cron(0 12 ? * 1-7/2 *)",
            "cron(0 9 ? * FRI-MON *)",
            "rate(1 minute)",
            "rate(20 minutes)",
            "rate(6 hours)",
            "rate(1 day)",
        ] {
            let timer = Timer::parse(&t(e).unwrap()).unwrap();
            let schedule = Schedule::parse(e).unwrap();
            let (mut a, mut b) = (start, start);
            for i in 0..200 {
                a = timer.next_after(a).unwrap();
                b = match &schedule {
                    Schedule::Cron(_) => schedule.next_after(b).unwrap(),
                    Schedule::Rate { .. } => {
                        b + match t(e).unwrap().as_str() {
                            "0 * * * * *" => 60,
                            "0 */20 * * * *" => 1200,
                            "0 0 */6 * * *" => 6 * 3600,
                            _ => 86_400,
                        }
                    }
                };
                assert_eq!(a, b, "{e}: firing {i}");
            }
        }
    }

    #[test]
    fn timers_read_seconds_names_and_steps() {
        let t = Timer::parse("*/30 0 9 * JAN-MAR mon").unwrap();
        // 2026-11-30 is a Monday: next January's first Monday (2027-01-04) at 09:00:00 and :30.
        let a = t.next_after(1_795_996_800).unwrap();
        assert_eq!(a, 1_799_020_800 + 9 * 3600);
        assert_eq!(t.next_after(a).unwrap(), a + 30);
        assert_eq!(t.next_after(a + 30).unwrap(), a + 7 * 86_400);
        for (bad, says) in [
            ("0 0 3 * *", "6 fields"),
            ("0 0 25 * * *", "the hour field `25` has 25, out of range"),
            (
                "0 0 3 * * Funday",
                "the day-of-week field `Funday` has `Funday`, not a number",
            ),
            ("0 0/0 3 * * *", "the minute field `0/0` has the step `0`"),
            ("0 0 9-3 * * *", "runs backwards"),
        ] {
            let err = Timer::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
