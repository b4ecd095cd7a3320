//! Validated identifiers for stores, datasources, tags and keys.
//!
//! Every id that arrives from outside (an HTTP path, a CLI argument, a manifest) becomes one of
//! these types at the edge, *after* percent-decoding, so the engine never sees `..`, `/`, NUL or
//! anything else that could escape a folder or a SQL identifier.
//!
//! The rules (also in the README):
//! - store, datasource and tag ids: 1 to 64 ASCII characters from `A-Z a-z 0-9 _ -`, starting
//!   with a letter or digit (tag names may also start with `_`);
//! - key-value keys: 1 to 255 ASCII characters from `A-Z a-z 0-9 _ - . : @`, not starting with `.`.

use std::fmt;

use crate::StoreError;

/// Longest store, datasource or tag id.
pub const MAX_ID_LEN: usize = 64;
/// Longest key-value key.
pub const MAX_KEY_LEN: usize = 255;

fn check(what: &'static str, value: &str, max: usize, extra: &[u8]) -> Result<(), StoreError> {
    let invalid = |reason: &'static str| StoreError::InvalidId {
        what,
        value: value.chars().take(80).collect(),
        reason,
    };
    if value.is_empty() {
        return Err(invalid("it is empty"));
    }
    if value.len() > max {
        return Err(invalid(if max == MAX_ID_LEN {
            "it is longer than 64 characters"
        } else {
            "it is longer than 255 characters"
        }));
    }
    let first = value.as_bytes()[0];
    if !(first.is_ascii_alphanumeric() || (extra.contains(&b'_') && first == b'_')) {
        return Err(invalid("it must start with a letter or a digit"));
    }
    if let Some(bad) = value
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-' || extra.contains(b)))
    {
        return Err(if bad == b'/' || bad == b'\\' || bad == 0 || bad == b'.' {
            invalid("it contains a path separator, a dot or NUL")
        } else {
            invalid("it contains a character outside A-Z a-z 0-9 _ -")
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $max:expr, $extra:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, StoreError> {
                let value = value.into();
                check($what, &value, $max, $extra)?;
                Ok(Self(value))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The store name no store may take: grants on it name what the box itself measures rather than
/// stored data (the host's load, memory and disk, see [`HOST_METRICS`]), so that a grant to
/// measure the machine goes through the same check, and is revoked the same way, as any other.
pub const BOX_STORE: &str = "box";
/// The datasource of [`BOX_STORE`] a grant to measure the box's machine names.
pub const HOST_METRICS: &str = "host-metrics";

id_type!(
    /// The id of a store: one driver's or app's storage, one file, one key.
    StoreId, "store id", MAX_ID_LEN, &[]
);
id_type!(
    /// The id of a datasource inside a store.
    DatasourceId, "datasource id", MAX_ID_LEN, &[]
);
id_type!(
    /// The name of a tag on a numeric point, or of a top-level field filtered in a blob series.
    /// May also start with `_`, as real payloads' fields do (OwnTracks' `_type`).
    TagName, "tag name", MAX_ID_LEN, b"_"
);
id_type!(
    /// A key in a key-value datasource.
    KvKey, "key", MAX_KEY_LEN, b".:@_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_charset() {
        for ok in ["a", "temp-1", "Room_2", &"x".repeat(64)] {
            assert!(StoreId::new(ok).is_ok(), "{ok}");
        }
        assert!(KvKey::new("user.settings:v1@home").is_ok());
        assert!(KvKey::new("_private").is_ok());
    }

    #[test]
    fn refuses_traversal_separators_and_oddities() {
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "a\\b",
            "a\0b",
            "-lead",
            "_lead",
            "a.b",
            "é",
            "a b",
            &"x".repeat(65),
        ] {
            let err = DatasourceId::new(bad).unwrap_err().to_string();
            assert!(err.contains("datasource id"), "{err}");
        }
        for bad in ["", "..", ".hidden", "a/b", "a\0", &"k".repeat(256)] {
            assert!(KvKey::new(bad).is_err(), "{bad:?}");
        }
    }
}
