//! The proleptic Gregorian calendar in epoch days, for the importers' date parsers (one copy,
//! shared by the Apple Health and Google formats and the test-export generator).

/// Days since 1970-01-01 of `year-month-day`, or `None` when that date does not exist.
pub(crate) fn epoch_day(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    // Howard Hinnant's `days_from_civil`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// `(year, month, day)` of a day counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_days_round_trip_and_impossible_dates_are_none() {
        assert_eq!(epoch_day(1970, 1, 1), Some(0));
        assert_eq!(epoch_day(1969, 12, 31), Some(-1));
        assert_eq!(epoch_day(2024, 2, 29), Some(19_782));
        for bad in [
            (2023, 2, 29),
            (1900, 2, 29),
            (2024, 4, 31),
            (2024, 13, 1),
            (2024, 0, 1),
            (2024, 1, 0),
        ] {
            assert_eq!(epoch_day(bad.0, bad.1, bad.2), None, "{bad:?}");
        }
        assert_eq!(epoch_day(2000, 2, 29), Some(11_016));
        for days in [-800_000, -1, 0, 59, 10_956, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(epoch_day(y, m, d), Some(days), "{y}-{m}-{d}");
        }
    }
}
