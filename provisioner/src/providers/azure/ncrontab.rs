//! The stack's EventBridge schedule expressions as Azure Functions timer triggers: six-field
//! NCRONTAB, `{second} {minute} {hour} {day} {month} {day-of-week}`, in UTC as EventBridge's
//! are (Azure's default when `WEBSITE_TIME_ZONE` is not set).
//!
//! What translates: `*`, values, lists, ranges and steps; `?` becomes `*`; day-of-week moves
//! from EventBridge's 1-7 (1 = Sunday) to NCRONTAB's 0-6 (0 = Sunday); `rate(N unit)` becomes
//! the clock-aligned step that fires at the same intervals. What NCRONTAB cannot say is refused
//! with a hint: `L`, `W`, `#`, a year other than `*`, and rates that do not divide the hour or
//! the day evenly.

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
}
