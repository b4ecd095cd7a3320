//! The owner's settings: the `[[config]]` entries of the manifest, as set at install, or their
//! defaults.

use std::str::FromStr;

use crate::bindings::databox::component::config as wit;
use crate::{Error, Result};

/// The value of setting `key`, or its default; `None` if neither is set.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// The value of setting `key`, or `default` if it has none.
pub fn get_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_owned())
}

/// The value of setting `key` parsed as `T` (a number, say); [`Error::Invalid`] names the
/// setting when it does not parse.
pub fn parse<T: FromStr>(key: &str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    get(key).map(|v| parse_value(key, &v)).transpose()
}

fn parse_value<T: FromStr>(key: &str, value: &str) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| Error::Invalid(format!("setting {key:?} = {value:?} does not parse: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_values_and_names_the_setting_when_not() {
        assert_eq!(parse_value::<u32>("interval", " 30 ").unwrap(), 30);
        let e = parse_value::<u32>("interval", "soon").unwrap_err().to_string();
        assert!(e.contains("\"interval\"") && e.contains("soon"), "{e}");
    }
}
