//! The monthly statement: a plain-language summary of who used what, for an owner who is not an
//! engineer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::AuditError;
use crate::record::{Kind, Outcome, Record};

#[derive(Default)]
struct Activity {
    reads: BTreeMap<String, (u64, u64, BTreeSet<i64>)>,
    writes: BTreeMap<String, (u64, BTreeSet<i64>)>,
    observes: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
    exports: BTreeMap<String, (u64, u64)>,
    admin: BTreeMap<String, u64>,
}

/// Parses `YYYY-MM` into the month's bounds in epoch milliseconds (UTC).
pub fn month_bounds(month: &str) -> Result<(i64, i64), AuditError> {
    let bad = || {
        AuditError::BadRequest(format!(
            "{month:?} is not a month; write it as YYYY-MM, e.g. 2026-11"
        ))
    };
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i64, i64) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || month.len() != 7 {
        return Err(bad());
    }
    let start = days_from_civil(y, m, 1) * 86_400_000;
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Ok((start, days_from_civil(ny, nm, 1) * 86_400_000 - 1))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn plural(n: u64, one: &str, many: &str) -> String {
    let mut digits = n.to_string();
    let mut i = digits.len() as isize - 3;
    while i > 0 {
        digits.insert(i as usize, ',');
        i -= 3;
    }
    format!("{digits} {}", if n == 1 { one } else { many })
}

/// Writes the statement for `month` (`YYYY-MM`) from the month's records; `describe` gives each
/// principal's description, when it has one.
pub fn statement(
    records: &[Record],
    month: &str,
    describe: &dyn Fn(&str) -> Option<String>,
) -> Result<String, AuditError> {
    let (start, end) = month_bounds(month)?;
    let mut by: BTreeMap<String, Activity> = BTreeMap::new();
    for r in records.iter().filter(|r| r.time >= start && r.time <= end) {
        if matches!(r.kind, Kind::Checkpoint | Kind::BoxStarted | Kind::BoxStopped) {
            continue;
        }
        let a = by.entry(r.principal.clone()).or_default();
        let what = match (&r.store, &r.datasource, &r.detail) {
            (Some(s), Some(d), _) => format!("{s}/{d}"),
            (Some(s), None, _) => s.clone(),
            // A read of no store (a driver measuring the box's machine) says what it read.
            (None, _, Some(detail)) if r.kind == Kind::Access && r.operation == "read" => detail.clone(),
            _ => "the box".into(),
        };
        let day = r.time.div_euclid(86_400_000);
        if r.outcome == Outcome::Refused {
            *a.refusals
                .entry(r.detail.clone().unwrap_or_else(|| "no reason given".into()))
                .or_default() += 1;
            continue;
        }
        if r.outcome == Outcome::Failed {
            continue;
        }
        match (r.kind, r.operation.as_str()) {
            (Kind::Access, "read") => {
                let e = a.reads.entry(what).or_default();
                e.0 += 1;
                e.1 += r.count.unwrap_or(0);
                e.2.insert(day);
            }
            (Kind::Access, "write" | "actuate") => {
                let e = a.writes.entry(what).or_default();
                e.0 += r.count.unwrap_or(0);
                e.1.insert(day);
            }
            (Kind::Access, "observe") => *a.observes.entry(what).or_default() += 1,
            (Kind::Access, "export") => {
                let e = a.exports.entry(r.detail.clone().unwrap_or(what)).or_default();
                e.0 += 1;
                e.1 += r.count.unwrap_or(0);
            }
            // Requests and delivery attempts are in the log; the statement counts what left.
            (Kind::Access, "export request" | "export attempt") => {}
            _ => *a.admin.entry(r.operation.clone()).or_default() += 1,
        }
    }
    let (y, m) = month.split_once('-').expect("checked");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Your Databox statement for {} {y}",
        MONTHS[m.parse::<usize>().expect("checked") - 1]
    );
    let _ = writeln!(out);
    if by.is_empty() {
        let _ = writeln!(out, "Nothing and nobody used your data this month.");
    }
    let mut any_export = false;
    for (who, a) in &by {
        let title = match (who.as_str(), describe(who)) {
            ("owner", _) => "You (the owner)".to_owned(),
            (_, Some(d)) if !d.is_empty() => format!("{who} ({d})"),
            _ => who.clone(),
        };
        let _ = writeln!(out, "{title}");
        for (what, (requests, rows, days)) in &a.reads {
            let _ = writeln!(
                out,
                "  - read {what}: {} returning {}, on {}",
                plural(*requests, "time", "times"),
                plural(*rows, "value", "values"),
                plural(days.len() as u64, "day", "days")
            );
        }
        for (what, n) in &a.observes {
            let _ = writeln!(
                out,
                "  - watched {what} for new data {}",
                plural(*n, "time", "times")
            );
        }
        for (what, (points, days)) in &a.writes {
            let _ = writeln!(
                out,
                "  - added {} to {what}, on {}",
                plural(*points, "value", "values"),
                plural(days.len() as u64, "day", "days")
            );
        }
        for (destination, (n, bytes)) in &a.exports {
            any_export = true;
            let _ = writeln!(
                out,
                "  - sent data out of the box to {destination}: {}, {}",
                plural(*n, "time", "times"),
                plural(*bytes, "byte", "bytes")
            );
        }
        for (verb, n) in &a.admin {
            let _ = writeln!(out, "  - {verb}: {}", plural(*n, "time", "times"));
        }
        if !a.refusals.is_empty() {
            let total: u64 = a.refusals.values().sum();
            let _ = writeln!(out, "  - was refused {}:", plural(total, "time", "times"));
            for (why, n) in &a.refusals {
                let _ = writeln!(out, "      {} — {why}", plural(*n, "time", "times"));
            }
        }
        let _ = writeln!(out);
    }
    if !any_export {
        let _ = writeln!(
            out,
            "Nothing left your box this month: no data was sent anywhere."
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_bounds_cover_the_whole_month() {
        let (s, e) = month_bounds("2026-11").unwrap();
        assert_eq!(s, 1_793_491_200_000); // 2026-11-01T00:00:00Z
        assert_eq!(e, 1_796_083_200_000 - 1); // 2026-12-01T00:00:00Z - 1 ms
        assert_eq!(
            month_bounds("2024-02").unwrap().1 - month_bounds("2024-02").unwrap().0 + 1,
            29 * 86_400_000
        );
        for bad in ["2026-13", "2026-1", "26-11", "november", "2026-00"] {
            assert!(month_bounds(bad).is_err(), "{bad}");
        }
    }
}
