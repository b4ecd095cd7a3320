//! RFC 3339 timestamps to epoch milliseconds, without a date library: the formats need one
//! function, and `location.rs`'s no-dependency rule is easier to keep if the importers do not
//! bring a date crate either.

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into epoch milliseconds (the fraction is
/// truncated to milliseconds). Also takes a lowercase `t`/`z`, a space for the `T` and an
/// offset without its colon (`-0700`), which real files contain. A time without a zone is
/// refused: guessing its zone would shift it by hours.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = b.get(from..from + n)?;
        part.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let year = digits(0, 4)?;
    let month = digits(5, 2)?;
    let day = digits(8, 2)?;
    let hour = digits(11, 2)?;
    let minute = digits(14, 2)?;
    let second = digits(17, 2)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let days = crate::calendar::epoch_day(year, month, day)?;
    // 60 is a leap second; epoch time has no room for it, so it counts as the next second's
    // start, like most parsers do.
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') => {
            let hours = digits(i + 1, 2)?;
            let rest = &b[i + 3..];
            let minutes = match rest {
                [] => 0,
                [b':', ..] if rest.len() == 3 => digits(i + 4, 2)?,
                _ if rest.len() == 2 => digits(i + 3, 2)?,
                _ => return None,
            };
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' { -total } else { total }
        }
        _ => return None,
    };
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

#[cfg(test)]
mod tests {
    use super::parse_rfc3339_ms;

    #[test]
    fn the_shapes_found_in_exports() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2017-12-10T23:14:58.030Z"),
            Some(1_512_947_698_030)
        );
        assert_eq!(
            parse_rfc3339_ms("2017-12-10T23:14:58.03Z"),
            Some(1_512_947_698_030)
        );
        assert_eq!(
            parse_rfc3339_ms("2017-12-10T23:14:58.030999Z"),
            Some(1_512_947_698_030)
        );
        assert_eq!(parse_rfc3339_ms("2017-12-10T23:14:58Z"), Some(1_512_947_698_000));
        assert_eq!(
            parse_rfc3339_ms("2017-12-10T19:14:58.030-04:00"),
            Some(1_512_947_698_030)
        );
        assert_eq!(
            parse_rfc3339_ms("2017-12-11T01:14:58.030+0200"),
            Some(1_512_947_698_030)
        );
        assert_eq!(
            parse_rfc3339_ms("2017-12-11T01:14:58.030+02"),
            Some(1_512_947_698_030)
        );
        assert_eq!(
            parse_rfc3339_ms("2017-12-10 23:14:58.030z"),
            Some(1_512_947_698_030)
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.999Z"), Some(-1));
        assert_eq!(parse_rfc3339_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "2017-12-10",
            "2017-12-10T23:14:58",
            "2017-12-10T23:14:58.Z",
            "2017-13-10T23:14:58Z",
            "2023-02-29T00:00:00Z",
            "2017-12-10T24:00:00Z",
            "2017-12-10T23:14:58Zjunk",
            "2017-12-10T23:14:58+2:00",
            "1512947698030",
            "2017-12-10T23:14:58+02:0",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
    }
}
