//! Times as the phone apps send them, turned into the box's epoch milliseconds: ISO 8601 text
//! (Overland, GPSLogger), epoch seconds (OwnTracks, GPSLogger), and the seconds since 2001 that
//! Overland's OwnTracks mode sent for a while. Pure functions, tested natively.

use databox_sdk::time::{DAY_MS, civil_from_days, days_from_civil, days_in_month};

/// 2001-01-01T00:00:00Z, Apple's reference date, in Unix epoch seconds.
pub const APPLE_EPOCH_S: i64 = 978_307_200;

/// 2024-01-01T00:00:00Z in Unix epoch seconds: no fix counted from 2001 (Overland's OwnTracks
/// mode, added in March 2024) can be older.
const APPLE_COUNTED_FROM_S: i64 = 1_704_067_200;

/// Latest timestamp the store accepts: 9999-12-31T23:59:59.999Z, in epoch milliseconds.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799_999;

/// A cursor over the ASCII digits and separators of a timestamp.
struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let part = self.s.get(self.at..self.at + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.at += n;
        Some(part.iter().fold(0, |v, d| v * 10 + u32::from(d - b'0')))
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }
}

/// Parses an ISO 8601 / RFC 3339 timestamp into epoch milliseconds: `2015-10-01T08:00:00-0700`
/// (Overland's README: an offset without a colon), `2025-01-16T03:54:51.000Z` (GPSLogger),
/// `2025-01-15T20:54:51.000-07:00`, a space instead of `T`, minutes without seconds, a date
/// alone (midnight). Without an offset the time is taken as UTC. `None` for anything else.
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let mut c = Cursor {
        s: text.trim().as_bytes(),
        at: 0,
    };
    let year = i64::from(c.digits(4)?);
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(2)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = c.digits(2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * DAY_MS;
    if c.peek().is_none() {
        return Some(ms);
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let hour = c.digits(2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = c.digits(2)?;
    let mut second = 0;
    let mut millis = 0;
    if c.eat(b':') {
        second = c.digits(2)?;
        if c.eat(b'.') || c.eat(b',') {
            // Milliseconds from the first three digits; finer digits are dropped.
            let mut scale = 100;
            let mut any = false;
            while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
                millis += u32::from(d - b'0') * scale;
                scale /= 10;
                c.at += 1;
                any = true;
            }
            if !any {
                return None;
            }
        }
    }
    // 60 is a leap second, counted as the first second of the next minute.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    ms += i64::from(hour) * 3_600_000 + i64::from(minute) * 60_000 + i64::from(second) * 1000;
    ms += i64::from(millis);
    match c.peek() {
        None => {}
        Some(b'Z' | b'z') => c.at += 1,
        Some(sign @ (b'+' | b'-')) => {
            c.at += 1;
            let oh = c.digits(2)?;
            let om = if c.eat(b':') {
                c.digits(2)?
            } else {
                c.digits(2).unwrap_or(0)
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let offset = i64::from(oh) * 3_600_000 + i64::from(om) * 60_000;
            // Local time minus its offset is UTC.
            ms = if sign == b'+' { ms - offset } else { ms + offset };
        }
        Some(_) => return None,
    }
    (c.at == c.s.len() && (0..=MAX_TIMESTAMP).contains(&ms)).then_some(ms)
}

/// Epoch seconds (a whole or fractional number) as epoch milliseconds, if the store can keep it.
pub fn seconds_to_ms(seconds: f64) -> Option<i64> {
    let ms = (seconds * 1000.0).round();
    (ms.is_finite() && ms >= 0.0 && ms <= MAX_TIMESTAMP as f64).then_some(ms as i64)
}

/// An epoch number whose unit the sender does not say (GPSLogger's `%TIMESTAMP` is seconds; some
/// templates send milliseconds): above 10^11 it can only be milliseconds (10^11 seconds is the
/// year 5138), below it only seconds (10^11 ms is March 1973, before any of these apps).
pub fn epoch_to_ms(value: f64) -> Option<i64> {
    if value >= 1e11 {
        let ms = value.round();
        (ms <= MAX_TIMESTAMP as f64).then_some(ms as i64)
    } else {
        seconds_to_ms(value)
    }
}

/// An OwnTracks `tst` (epoch seconds) as epoch milliseconds, and whether it was counted from
/// 2001 and corrected.
///
/// Overland's OwnTracks mode (from March 2024 until it was fixed) sent
/// `timeIntervalSinceReferenceDate`, the seconds since 2001-01-01, as `tst`. Such a `tst` read as
/// Unix time falls between 1993 and 2001, when no phone ran these apps, and read from 2001 it
/// falls after the mode existed and not in the future. Exactly those are corrected: a `tst`
/// before 2001 whose 2001-based reading lies between 2024-01-01 and a day after `now_ms`
/// (clocks drift). Everything else is taken as Unix time, including the tiny `tst` values of
/// test payloads (`1`), which would land in 2001, before the mode existed.
pub fn owntracks_tst_ms(tst: f64, now_ms: i64) -> Option<(i64, bool)> {
    if !tst.is_finite() || tst < 0.0 {
        return None;
    }
    let as_2001 = tst + APPLE_EPOCH_S as f64;
    let plausible_2001 = tst < APPLE_EPOCH_S as f64
        && as_2001 >= APPLE_COUNTED_FROM_S as f64
        && as_2001 * 1000.0 <= (now_ms + DAY_MS) as f64;
    if plausible_2001 {
        Some((seconds_to_ms(as_2001)?, true))
    } else {
        Some((seconds_to_ms(tst)?, false))
    }
}

/// `2026-11-29 18:20:05` (UTC).
pub fn format_utc(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY_MS));
    let rest = ms.rem_euclid(DAY_MS) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_timestamps_the_apps_send() {
        // Overland's README: an offset without a colon.
        assert_eq!(parse_iso8601("2015-10-01T08:00:00-0700"), Some(1_443_711_600_000));
        // Overland itself: UTC, whole seconds.
        assert_eq!(parse_iso8601("2015-10-01T15:00:00Z"), Some(1_443_711_600_000));
        // GPSLogger's %TIME and %TIMEOFFSET.
        assert_eq!(parse_iso8601("2025-01-16T03:54:51.000Z"), Some(1_736_999_691_000));
        assert_eq!(
            parse_iso8601("2025-01-15T20:54:51.000-07:00"),
            Some(1_736_999_691_000)
        );
        assert_eq!(
            parse_iso8601("2025-01-16T09:24:51.25+05:30"),
            Some(1_736_999_691_250)
        );
        assert_eq!(parse_iso8601("2025-01-16 03:54:51"), Some(1_736_999_691_000));
        assert_eq!(parse_iso8601("2025-01-16T03:54Z"), Some(1_736_999_640_000));
        assert_eq!(
            parse_iso8601("2025-01-16T03:54:51.123456789Z"),
            Some(1_736_999_691_123)
        );
        assert_eq!(parse_iso8601("2025-01-16T03:54:51+01"), Some(1_736_996_091_000));
        assert_eq!(parse_iso8601("2025-01-16"), Some(1_736_985_600_000));
        assert_eq!(parse_iso8601("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
    }

    #[test]
    fn refuses_what_is_not_a_timestamp() {
        for bad in [
            "",
            "yesterday",
            "2015-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2015-10-01T24:00:00Z",
            "2015-10-01T08:00:00-0700x",
            "2015-10-01T08:00:00.Z",
            "2015-10-01X08:00:00Z",
            "1443711600",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn epoch_numbers_become_milliseconds() {
        assert_eq!(seconds_to_ms(1_497_349_316.0), Some(1_497_349_316_000));
        assert_eq!(seconds_to_ms(1_736_161_169.123_4), Some(1_736_161_169_123));
        assert_eq!(seconds_to_ms(-1.0), None);
        assert_eq!(seconds_to_ms(f64::NAN), None);
        assert_eq!(epoch_to_ms(1_736_999_691.0), Some(1_736_999_691_000));
        assert_eq!(epoch_to_ms(1_736_999_691_000.0), Some(1_736_999_691_000));
    }

    /// 2026-11-29 18:20 UTC.
    const NOW: i64 = 1_795_976_400_000;

    #[test]
    fn corrects_a_tst_counted_from_2001() {
        // 2026-11-29 18:00:00 UTC counted from 2001, as Overland's OwnTracks mode sent it.
        let unix = 1_795_975_200;
        let from_2001 = (unix - APPLE_EPOCH_S) as f64;
        assert_eq!(owntracks_tst_ms(from_2001, NOW), Some((unix * 1000, true)));
        // A fractional one, as `NSDate` gives it.
        assert_eq!(
            owntracks_tst_ms(from_2001 + 0.5, NOW),
            Some((unix * 1000 + 500, true))
        );
        // 2024-03-22, the day the mode appeared.
        let first = (1_711_065_600 - APPLE_EPOCH_S) as f64;
        assert_eq!(owntracks_tst_ms(first, NOW), Some((1_711_065_600_000, true)));
    }

    #[test]
    fn leaves_unix_times_and_implausible_ones_alone() {
        // Ordinary Unix seconds.
        assert_eq!(
            owntracks_tst_ms(1_497_349_316.0, NOW),
            Some((1_497_349_316_000, false))
        );
        // Home Assistant's test payloads: tst 1 and 2 would land in 2001, before the mode.
        assert_eq!(owntracks_tst_ms(1.0, NOW), Some((1000, false)));
        // Read from 2001 it would be in the future: a Unix time of 2000 stays as it is.
        let y2000 = 946_684_800.0;
        assert_eq!(owntracks_tst_ms(y2000, NOW), Some((946_684_800_000, false)));
        // Counted from 2001 it would be before 2024.
        let y2023_from_2001 = (1_672_531_200 - APPLE_EPOCH_S) as f64;
        assert_eq!(
            owntracks_tst_ms(y2023_from_2001, NOW),
            Some((y2023_from_2001 as i64 * 1000, false))
        );
        assert_eq!(owntracks_tst_ms(-5.0, NOW), None);
        assert_eq!(owntracks_tst_ms(f64::INFINITY, NOW), None);
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(NOW), "2026-11-29 18:20:00");
        assert_eq!(format_utc(1_443_711_600_000), "2015-10-01 15:00:00");
    }
}
