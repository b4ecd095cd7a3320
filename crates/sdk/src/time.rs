//! Time as the box counts it: epoch milliseconds, UTC.

/// A second, in milliseconds.
pub const SECOND_MS: i64 = 1_000;
/// A minute, in milliseconds.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// An hour, in milliseconds.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// A day, in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// Now, in epoch milliseconds (WASI's wall clock inside the box); 0 if the clock is before 1970.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The start of the hour holding `t` (the timestamp of its row in an `hourly/` read).
pub fn hour_start(t: i64) -> i64 {
    t.div_euclid(HOUR_MS) * HOUR_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_start_of_the_hour() {
        assert_eq!(hour_start(0), 0);
        assert_eq!(hour_start(HOUR_MS - 1), 0);
        assert_eq!(hour_start(5 * HOUR_MS + 17), 5 * HOUR_MS);
        assert!(now_ms() > 1_600_000_000_000);
    }
}
