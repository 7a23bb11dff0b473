//! EventBridge schedule expressions: `cron(min hour day-of-month month day-of-week year)` and
//! `rate(N unit)`, parsed and checked the way EventBridge checks them, with errors that say how
//! to fix the expression. The local scheduler uses the same parsed form, so a schedule that
//! validates here behaves the same locally and on AWS.

use std::fmt;

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Rate { value: u32, unit: RateUnit },
    Cron(Cron),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateUnit {
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn seconds(self) -> u64 {
        match self {
            RateUnit::Minute => 60,
            RateUnit::Hour => 3600,
            RateUnit::Day => 86_400,
        }
    }
}

/// The six fields of an EventBridge cron expression, each a list of parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Cron {
    pub minutes: Vec<Part>,
    pub hours: Vec<Part>,
    pub day_of_month: Vec<Part>,
    pub month: Vec<Part>,
    pub day_of_week: Vec<Part>,
    pub year: Vec<Part>,
}

/// One comma-separated part of a cron field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Part {
    /// `*`
    Any,
    /// `?` (day-of-month or day-of-week only)
    NoSpecific,
    /// `a`, `a-b`, `*/s`, `a/s`, `a-b/s`
    Range { from: u32, to: u32, step: u32 },
    /// `L` (last day of the month) or `nL` in day-of-week (last weekday n of the month)
    Last(Option<u32>),
    /// `nW`: the weekday nearest to day n
    NearestWeekday(u32),
    /// `LW`: the last weekday of the month
    LastWeekday,
    /// `d#n`: the n-th weekday d of the month
    Nth { weekday: u32, n: u32 },
}

/// Why an expression is invalid, and how to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleError {
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

fn err(message: String, hint: Option<String>) -> ScheduleError {
    ScheduleError { message, hint }
}

const FIELD_NAMES: [&str; 6] = [
    "minutes",
    "hours",
    "day-of-month",
    "month",
    "day-of-week",
    "year",
];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Schedule {
    /// Parse an expression as EventBridge rules accept it.
    ///
    /// ```
    /// use mlinfra::stack::schedule::{RateUnit, Schedule};
    ///
    /// assert_eq!(
    ///     Schedule::parse("rate(1 day)").unwrap(),
    ///     Schedule::Rate { value: 1, unit: RateUnit::Day }
    /// );
    /// let err = Schedule::parse("cron(0 3 * * MON *)").unwrap_err();
    /// assert_eq!(err.hint.as_deref(), Some("write `cron(0 3 ? * MON *)`"));
    /// ```
    pub fn parse(expr: &str) -> Result<Schedule, ScheduleError> {
        let e = expr.trim();
        if let Some(body) = e.strip_prefix("rate(").and_then(|b| b.strip_suffix(')')) {
            return parse_rate(expr, body);
        }
        if let Some(body) = e.strip_prefix("cron(").and_then(|b| b.strip_suffix(')')) {
            return parse_cron(expr, body).map(Schedule::Cron);
        }
        let fields: Vec<&str> = e.split_whitespace().collect();
        let hint = if let Some(cron) = unix_macro(e) {
            Some(format!("in EventBridge form: `{cron}`"))
        } else if fields.len() == 5 {
            Some(unix_hint(&fields))
        } else if fields.len() == 6 {
            Some(format!("wrap it as EventBridge does: `cron({e})`"))
        } else {
            Some("write `cron(0 3 ? * MON *)` or `rate(1 day)`".to_string())
        };
        Err(err(
            format!("`{expr}` is not a schedule expression: expected `cron(...)` or `rate(...)`"),
            hint,
        ))
    }
}

fn parse_rate(expr: &str, body: &str) -> Result<Schedule, ScheduleError> {
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        return Err(err(
            format!("`{expr}`: a rate takes a number and a unit"),
            Some("for example `rate(1 day)` or `rate(15 minutes)`".to_string()),
        ));
    };
    let value: u32 = match value.parse() {
        Ok(v) if v > 0 => v,
        _ => {
            return Err(err(
                format!("`{expr}`: the rate `{value}` must be a positive whole number"),
                Some("for example `rate(1 day)`".to_string()),
            ));
        }
    };
    let (singular, plural, u) = match unit {
        "minute" | "minutes" => ("minute", "minutes", RateUnit::Minute),
        "hour" | "hours" => ("hour", "hours", RateUnit::Hour),
        "day" | "days" => ("day", "days", RateUnit::Day),
        other => {
            let hint = crate::diag::did_you_mean(
                other,
                ["minute", "minutes", "hour", "hours", "day", "days"],
            )
            .map(|s| format!("did you mean `rate({value} {s})`?"))
            .unwrap_or_else(|| "the unit is `minute(s)`, `hour(s)` or `day(s)`".to_string());
            return Err(err(
                format!("`{expr}`: unknown rate unit `{other}`"),
                Some(hint),
            ));
        }
    };
    if value == 1 && unit != singular {
        return Err(err(
            format!("`{expr}`: a rate of 1 takes the singular unit"),
            Some(format!("write `rate(1 {singular})`")),
        ));
    }
    if value > 1 && unit != plural {
        return Err(err(
            format!("`{expr}`: a rate above 1 takes the plural unit"),
            Some(format!("write `rate({value} {plural})`")),
        ));
    }
    Ok(Schedule::Rate { value, unit: u })
}

/// The EventBridge form of a Unix cron macro such as `@weekly` (Sunday 00:00, as in Unix).
fn unix_macro(e: &str) -> Option<&'static str> {
    Some(match e {
        "@yearly" | "@annually" => "cron(0 0 1 1 ? *)",
        "@monthly" => "cron(0 0 1 * ? *)",
        "@weekly" => "cron(0 0 ? * SUN *)",
        "@daily" | "@midnight" => "cron(0 0 * * ? *)",
        "@hourly" => "cron(0 * * * ? *)",
        _ => return None,
    })
}

/// The hint for a 5-field Unix cron expression: its EventBridge form, or why there is none.
///
/// Unix counts the day of the week 0-7 with Sunday as both 0 and 7; EventBridge counts 1-7 from
/// Sunday. The translation writes the days as names (`MON`, `SUN,FRI-SAT`), which mean the same
/// in both, so a pasted hint never moves a schedule to another day.
fn unix_hint(f: &[&str]) -> String {
    match from_unix(f) {
        Ok(cron) => format!("in EventBridge form: `{cron}`"),
        Err(why) => why,
    }
}

/// A 5-field Unix cron expression in EventBridge form: a year field, the days of the week as
/// names, and `?` in one day field.
fn from_unix(f: &[&str]) -> Result<String, String> {
    let dow_any = f[4] == "*";
    let dom_any = f[2] == "*";
    let days = if dow_any {
        None
    } else {
        Some(unix_weekdays(f[4])?)
    };
    let every_day = days.is_some_and(|d| d == [true; 7]);
    let (dom, dow) = match days {
        None => (f[2].to_string(), "?".to_string()),
        // Unix fires when either day field matches; all seven days is every day.
        Some(_) if every_day => ("*".to_string(), "?".to_string()),
        Some(d) if dom_any => ("?".to_string(), weekday_names(&d)),
        Some(_) => {
            return Err(format!(
                "Unix cron fires on day-of-month `{}` or on day-of-week `{}`; EventBridge cannot \
                 say \"either\": keep one of the two day fields",
                f[2], f[4]
            ));
        }
    };
    Ok(format!("cron({} {} {dom} {} {dow} *)", f[0], f[1], f[3]))
}

/// The days a Unix day-of-week field selects, indexed from Sunday (0).
fn unix_weekdays(text: &str) -> Result<[bool; 7], String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = DAYS.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32);
        }
        match s.parse::<u32>() {
            Ok(v) if v <= 7 => Ok(v),
            _ => Err(format!(
                "`{s}` is not a Unix day of the week: Unix takes 0-7 (Sunday is 0 and 7) or \
                 SUN-SAT; EventBridge takes 1-7 (1 = SUN) or SUN-SAT"
            )),
        }
    };
    let mut days = [false; 7];
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => match s.parse::<u32>() {
                Ok(s) if s > 0 => (r, s),
                _ => {
                    return Err(format!(
                        "`{part}` has an invalid step in the day-of-week field"
                    ));
                }
            },
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (0, 7),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(range)?, 7),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if from > to {
            return Err(format!(
                "`{part}` is a backwards range in the day-of-week field: Unix ranges run upwards \
                 (write `{to}-{from}` or a list)"
            ));
        }
        for d in (from..=to).step_by(step as usize) {
            days[(d % 7) as usize] = true;
        }
    }
    Ok(days)
}

/// Days (indexed from Sunday) as EventBridge day names, consecutive days as ranges.
fn weekday_names(days: &[bool; 7]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < 7 {
        if !days[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i + 1 < 7 && days[i + 1] {
            i += 1;
        }
        out.push(match i - start {
            0 => DAYS[start].to_string(),
            1 => format!("{},{}", DAYS[start], DAYS[i]),
            _ => format!("{}-{}", DAYS[start], DAYS[i]),
        });
        i += 1;
    }
    out.join(",")
}

fn parse_cron(expr: &str, body: &str) -> Result<Cron, ScheduleError> {
    let f: Vec<&str> = body.split_whitespace().collect();
    if f.len() != 6 {
        let hint = if f.len() == 5 {
            Some(match from_unix(&f) {
                Ok(cron) => format!(
                    "EventBridge cron has a year field and `?` in day-of-month or day-of-week: `{cron}`"
                ),
                Err(why) => why,
            })
        } else {
            Some("the fields are: minutes hours day-of-month month day-of-week year".to_string())
        };
        return Err(err(
            format!("`{expr}` has {} fields, EventBridge cron takes 6", f.len()),
            hint,
        ));
    }
    let minutes = field(expr, 0, f[0], 0, 59, &[])?;
    let hours = field(expr, 1, f[1], 0, 23, &[])?;
    let day_of_month = field(expr, 2, f[2], 1, 31, &[])?;
    let month = field(expr, 3, f[3], 1, 12, &MONTHS)?;
    let day_of_week = field(expr, 4, f[4], 1, 7, &DAYS)?;
    let year = field(expr, 5, f[5], 1970, 2199, &[])?;
    let dom_q = day_of_month == [Part::NoSpecific];
    let dow_q = day_of_week == [Part::NoSpecific];
    if !dom_q && !dow_q {
        let fixed = if f[4] == "*" {
            format!("cron({} {} {} {} ? {})", f[0], f[1], f[2], f[3], f[5])
        } else {
            format!("cron({} {} ? {} {} {})", f[0], f[1], f[3], f[4], f[5])
        };
        return Err(err(
            format!(
                "`{expr}`: day-of-month and day-of-week cannot both be set, use `?` in one of them"
            ),
            Some(format!("write `{fixed}`")),
        ));
    }
    if dom_q && dow_q {
        return Err(err(
            format!("`{expr}`: day-of-month and day-of-week cannot both be `?`"),
            Some("set one of them, for example `*` in day-of-month".to_string()),
        ));
    }
    Ok(Cron {
        minutes,
        hours,
        day_of_month,
        month,
        day_of_week,
        year,
    })
}

fn field(
    expr: &str,
    idx: usize,
    text: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
) -> Result<Vec<Part>, ScheduleError> {
    let name = FIELD_NAMES[idx];
    let bad = |what: String| {
        let range = if names.is_empty() {
            format!("{lo}-{hi}")
        } else {
            format!("{lo}-{hi} or {}-{}", names[0], names[names.len() - 1])
        };
        err(
            format!("`{expr}`: {what} in the {name} field"),
            Some(format!(
                "the {name} field takes {range}, `*`, lists `a,b`, ranges `a-b` and steps `a/n`"
            )),
        )
    };
    let value = |s: &str| -> Result<u32, ScheduleError> {
        let v = if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            i as u32 + lo
        } else {
            s.parse::<u32>()
                .map_err(|_| bad(format!("`{s}` is not a value")))?
        };
        if v < lo || v > hi {
            return Err(bad(format!("`{s}` is out of range")));
        }
        Ok(v)
    };
    let mut parts = Vec::new();
    for p in text.split(',') {
        let part = match p {
            "*" => Part::Any,
            "?" if idx == 2 || idx == 4 => Part::NoSpecific,
            "?" => {
                return Err(bad(
                    "`?` is only allowed in day-of-month and day-of-week, not".to_string(),
                ));
            }
            "L" if idx == 2 || idx == 4 => Part::Last(None),
            "LW" if idx == 2 => Part::LastWeekday,
            _ if idx == 2 && p.len() > 1 && p.ends_with('W') => {
                Part::NearestWeekday(value(&p[..p.len() - 1])?)
            }
            _ if idx == 4 && p.len() > 1 && p.ends_with('L') => {
                Part::Last(Some(value(&p[..p.len() - 1])?))
            }
            _ if idx == 4 && p.contains('#') => {
                let (d, n) = p.split_once('#').unwrap_or((p, ""));
                let n: u32 = n
                    .parse()
                    .ok()
                    .filter(|n| (1..=5).contains(n))
                    .ok_or_else(|| bad(format!("`{p}` needs an occurrence 1-5 after `#`")))?;
                Part::Nth {
                    weekday: value(d)?,
                    n,
                }
            }
            _ => {
                let (range, step) = match p.split_once('/') {
                    Some((r, s)) => {
                        let step: u32 = s
                            .parse()
                            .ok()
                            .filter(|s| *s > 0)
                            .ok_or_else(|| bad(format!("`{p}` has an invalid step")))?;
                        (r, step)
                    }
                    None => (p, 1),
                };
                let (from, to) = match range {
                    "*" => (lo, hi),
                    _ => match range.split_once('-') {
                        Some((a, b)) => (value(a)?, value(b)?),
                        None if step > 1 => (value(range)?, hi),
                        None => {
                            let v = value(range)?;
                            (v, v)
                        }
                    },
                };
                Part::Range { from, to, step }
            }
        };
        parts.push(part);
    }
    if parts.len() > 1
        && parts
            .iter()
            .any(|p| matches!(p, Part::NoSpecific | Part::Any))
    {
        return Err(bad(format!("`{text}` mixes `*` or `?` with other values")));
    }
    Ok(parts)
}

/// `(year, month 1-12, day 1-31)` of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Weekday as cron counts it: 1 = Sunday … 7 = Saturday.
fn weekday(days: i64) -> u32 {
    ((days + 4).rem_euclid(7) + 1) as u32 // 1970-01-01 was a Thursday (5)
}

fn in_range(v: u32, from: u32, to: u32, step: u32) -> bool {
    if from <= to {
        v >= from && v <= to && (v - from).is_multiple_of(step.max(1))
    } else {
        v >= from || v <= to // a wrapping range such as FRI-MON
    }
}

fn simple(parts: &[Part], v: u32) -> bool {
    parts.iter().any(|p| match *p {
        Part::Any | Part::NoSpecific => true,
        Part::Range { from, to, step } => in_range(v, from, to, step),
        _ => false,
    })
}

impl Cron {
    fn day_matches(&self, days: i64) -> bool {
        let (y, m, d) = civil(days);
        let dim = days_in_month(y, m);
        let wd = weekday(days);
        let is_weekday = (2..=6).contains(&wd);
        let dom = self.day_of_month.iter().any(|p| match *p {
            Part::Any => true,
            Part::NoSpecific => false,
            Part::Range { from, to, step } => in_range(d, from, to, step),
            Part::Last(off) => d + off.unwrap_or(0) == dim,
            Part::LastWeekday => {
                is_weekday
                    && (d + 1..=dim).all(|x| !(2..=6).contains(&weekday(days + i64::from(x - d))))
            }
            Part::NearestWeekday(target) => {
                let t = target.min(dim);
                let twd = weekday(days + i64::from(t) - i64::from(d));
                let nearest = match twd {
                    7 if t == 1 => t + 2,   // Saturday the 1st: Monday the 3rd
                    7 => t - 1,             // Saturday: the Friday before
                    1 if t == dim => t - 2, // Sunday the last day: the Friday before
                    1 => t + 1,             // Sunday: the Monday after
                    _ => t,
                };
                d == nearest
            }
            Part::Nth { .. } => false,
        });
        let dow = self.day_of_week.iter().any(|p| match *p {
            Part::Any => true,
            Part::NoSpecific => false,
            Part::Range { from, to, step } => in_range(wd, from, to, step),
            Part::Last(w) => w.is_none_or(|w| w == wd) && d + 7 > dim,
            Part::Nth { weekday: w, n } => w == wd && (d - 1) / 7 + 1 == n,
            _ => false,
        });
        let dom_free = self.day_of_month.contains(&Part::NoSpecific);
        let dow_free = self.day_of_week.contains(&Part::NoSpecific);
        let month_ok = simple(&self.month, m);
        let year_ok = simple(&self.year, u32::try_from(y).unwrap_or(0));
        month_ok
            && year_ok
            && match (dom_free, dow_free) {
                (true, _) => dow,
                (_, true) => dom,
                _ => dom && dow,
            }
    }
}

impl Schedule {
    /// The first time (seconds since the epoch, UTC) after `after` this schedule fires; for a
    /// rate, one period after `after`. `None` when a cron expression never fires again within
    /// five years.
    pub fn next_after(&self, after: u64) -> Option<u64> {
        match self {
            Schedule::Rate { value, unit } => Some(after + u64::from(*value) * unit.seconds()),
            Schedule::Cron(c) => {
                let mut t = (after / 60 + 1) * 60;
                let limit = after + 5 * 366 * 86_400;
                while t <= limit {
                    let days = (t / 86_400) as i64;
                    if !c.day_matches(days) {
                        t = (t / 86_400 + 1) * 86_400;
                        continue;
                    }
                    let secs = t % 86_400;
                    let (h, m) = ((secs / 3600) as u32, ((secs % 3600) / 60) as u32);
                    if simple(&c.hours, h) && simple(&c.minutes, m) {
                        return Some(t);
                    }
                    t += 60;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_fire_times_follow_the_expression() {
        // 2026-11-22 is a Sunday; 12:00:00 UTC.
        let sunday_noon = 1_795_348_800;
        let weekly = Schedule::parse("cron(0 3 ? * MON *)").expect("valid");
        // Monday 2026-11-23 03:00 UTC.
        assert_eq!(weekly.next_after(sunday_noon), Some(1_795_402_800));
        assert_eq!(
            weekly.next_after(1_795_402_800),
            Some(1_795_402_800 + 7 * 86_400)
        );
        let quarter = Schedule::parse("cron(0/15 * * * ? *)").expect("valid");
        assert_eq!(quarter.next_after(sunday_noon), Some(sunday_noon + 15 * 60));
        let last_day = Schedule::parse("cron(0 12 L * ? *)").expect("valid");
        // 2026-11-30 12:00 UTC.
        assert_eq!(
            last_day.next_after(sunday_noon),
            Some(1_795_348_800 + 8 * 86_400)
        );
        let first_monday = Schedule::parse("cron(0 9 ? * 2#1 *)").expect("valid");
        // 2026-12-07 09:00 UTC.
        assert_eq!(
            first_monday.next_after(sunday_noon),
            Some(1_795_348_800 + 15 * 86_400 - 3 * 3600)
        );
        let daily = Schedule::parse("rate(1 day)").expect("valid");
        assert_eq!(daily.next_after(sunday_noon), Some(sunday_noon + 86_400));
        let past = Schedule::parse("cron(0 9 ? JAN-MAR MON-FRI 2020-2021)").expect("valid");
        assert_eq!(past.next_after(sunday_noon), None);
    }

    fn message(expr: &str) -> String {
        let e = Schedule::parse(expr).expect_err(expr);
        format!("{} | {}", e.message, e.hint.unwrap_or_default())
    }

    #[test]
    fn accepts_valid_expressions() {
        for ok in [
            "cron(0 3 ? * MON *)",
            "cron(0/15 * * * ? *)",
            "cron(0 12 L * ? *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 9 ? JAN-MAR MON-FRI 2026-2030)",
            "cron(5,35 14 15W * ? *)",
            "cron(0 0 ? * 6L *)",
            "rate(1 day)",
            "rate(5 minutes)",
            "rate(12 hours)",
        ] {
            assert!(
                Schedule::parse(ok).is_ok(),
                "{ok}: {:?}",
                Schedule::parse(ok)
            );
        }
    }

    #[test]
    fn the_weekly_retrain_parses_to_monday_three_am() {
        let Schedule::Cron(c) = Schedule::parse("cron(0 3 ? * MON *)").expect("valid") else {
            panic!("not a cron");
        };
        assert_eq!(
            c.hours,
            vec![Part::Range {
                from: 3,
                to: 3,
                step: 1
            }]
        );
        assert_eq!(
            c.day_of_week,
            vec![Part::Range {
                from: 2,
                to: 2,
                step: 1
            }]
        );
        assert_eq!(c.day_of_month, vec![Part::NoSpecific]);
    }

    #[test]
    fn both_day_fields_set_is_explained() {
        assert_eq!(
            message("cron(0 3 * * MON *)"),
            "`cron(0 3 * * MON *)`: day-of-month and day-of-week cannot both be set, use `?` in one of them | write `cron(0 3 ? * MON *)`"
        );
    }

    #[test]
    fn unix_cron_gets_a_translation() {
        assert!(message("cron(0 3 * * MON)").contains("`cron(0 3 ? * MON *)`"));
        assert!(message("0 3 * * MON").contains("`cron(0 3 ? * MON *)`"));
    }

    /// The EventBridge expression in a hint, parsed.
    fn hinted(expr: &str) -> Schedule {
        let hint = Schedule::parse(expr)
            .expect_err("a Unix expression is refused")
            .hint
            .expect("a hint");
        let cron = hint
            .split('`')
            .nth(1)
            .unwrap_or_else(|| panic!("no expression in the hint `{hint}`"));
        Schedule::parse(cron).unwrap_or_else(|e| panic!("the hint `{cron}` does not parse: {e}"))
    }

    /// The days of the week (as names) a schedule fires on in the week from Sunday 2026-11-22.
    fn fire_days(s: &Schedule) -> Vec<&'static str> {
        let sunday = 1_795_305_600; // 2026-11-22 00:00 UTC
        let mut t = sunday - 1;
        let mut days = Vec::new();
        while let Some(next) = s.next_after(t).filter(|n| *n < sunday + 7 * 86_400) {
            let day = DAYS[((next - sunday) / 86_400) as usize];
            if days.last() != Some(&day) {
                days.push(day);
            }
            t = next;
        }
        days
    }

    #[test]
    fn unix_days_of_the_week_keep_their_day() {
        // Unix: 0-7 with Sunday as 0 and 7; names; ranges, lists and steps.
        let cases: [(&str, &[&str]); 14] = [
            ("0 3 * * 1", &["MON"]),
            ("0 3 * * 0", &["SUN"]),
            ("0 3 * * 7", &["SUN"]),
            ("0 3 * * 6", &["SAT"]),
            ("0 3 * * 1-5", &["MON", "TUE", "WED", "THU", "FRI"]),
            ("0 3 * * 5-7", &["SUN", "FRI", "SAT"]),
            ("0 3 * * 0,6", &["SUN", "SAT"]),
            ("0 3 * * */2", &["SUN", "TUE", "THU", "SAT"]),
            ("0 3 * * 1-5/2", &["MON", "WED", "FRI"]),
            ("0 3 * * 3/2", &["SUN", "WED", "FRI"]),
            ("0 3 * * mon", &["MON"]),
            ("0 3 * * MON-FRI", &["MON", "TUE", "WED", "THU", "FRI"]),
            ("0 3 * * SUN,WED", &["SUN", "WED"]),
            ("@weekly", &["SUN"]),
        ];
        for (unix, days) in cases {
            assert_eq!(fire_days(&hinted(unix)), days, "{unix}");
        }
        let every = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
        assert_eq!(fire_days(&hinted("0 3 * * *")), every);
        assert_eq!(fire_days(&hinted("0 3 * * 0-6")), every);
        assert_eq!(fire_days(&hinted("@daily")), every);
        assert_eq!(
            message("0 3 * * 1"),
            "`0 3 * * 1` is not a schedule expression: expected `cron(...)` or `rate(...)` | in EventBridge form: `cron(0 3 ? * MON *)`"
        );
        assert!(message("cron(0 3 * * 0)").contains("`cron(0 3 ? * SUN *)`"));
    }

    #[test]
    fn unix_forms_without_an_eventbridge_twin_say_why() {
        assert!(message("0 3 * * 8").contains("`8` is not a Unix day of the week"));
        assert!(message("0 3 * * 5-1").contains("backwards range"));
        assert!(message("0 3 1 * MON").contains("EventBridge cannot say \"either\""));
        assert!(message("0 3 * * 1/0").contains("invalid step"));
    }

    #[test]
    fn ranges_and_units_are_checked() {
        assert!(
            message("cron(61 3 ? * MON *)").contains("`61` is out of range in the minutes field")
        );
        assert!(message("cron(0 3 ? * FUNDAY *)").contains("day-of-week"));
        assert!(message("rate(1 days)").contains("write `rate(1 day)`"));
        assert!(message("rate(2 day)").contains("write `rate(2 days)`"));
        assert!(message("rate(0 days)").contains("positive"));
        assert!(message("rate(3 weeks)").contains("unit"));
        assert!(message("cron(0 3 ? * ? *)").contains("cannot both be `?`"));
    }
}
