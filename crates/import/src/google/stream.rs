//! Pieces for reading a stream with serde: a reader that counts (and on request keeps) the bytes
//! the parser takes, map keys matched without allocating, and a lenient scalar.

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What the parser has taken from the file: how many bytes, and while capturing, the bytes
/// themselves.
///
/// serde_json's reader takes one byte per `read` call and looks ahead by at most one byte, so
/// the bytes passing here are exactly the text of the value being parsed (plus that one byte).
/// Capturing them is how a number too large for any integer type keeps its digits: serde_json
/// (without its `arbitrary_precision` feature, which would change every crate's `Value`) turns it
/// into an `f64` and loses them.
#[derive(Debug, Default)]
pub(crate) struct Tap {
    read: Cell<u64>,
    capture: RefCell<Option<Vec<u8>>>,
}

impl Tap {
    /// Bytes taken so far.
    pub(crate) fn read(&self) -> u64 {
        self.read.get()
    }

    fn start_capture(&self) {
        *self.capture.borrow_mut() = Some(Vec::new());
    }

    fn take_capture(&self) -> Vec<u8> {
        self.capture.borrow_mut().take().unwrap_or_default()
    }
}

/// A reader feeding a [`Tap`].
pub(crate) struct TapReader<R> {
    inner: R,
    tap: Rc<Tap>,
}

impl<R> TapReader<R> {
    pub(crate) fn new(inner: R, tap: Rc<Tap>) -> Self {
        TapReader { inner, tap }
    }
}

impl<R: Read> Read for TapReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.tap.read.set(self.tap.read.get() + n as u64);
        if let Some(kept) = self.tap.capture.borrow_mut().as_mut() {
            // A bound, so that a malformed file cannot make a "number" of gigabytes.
            if kept.len() < 256 {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        Ok(n)
    }
}

/// A map key turned into `K` by a function, without allocating a `String` per key.
pub(crate) struct Keyed<K>(pub(crate) fn(&str) -> K);

impl<'de, K> DeserializeSeed<'de> for Keyed<K> {
    type Value = K;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<K, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de, K> Visitor<'de> for Keyed<K> {
    type Value = K;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<K, E> {
        Ok((self.0)(v))
    }
}

/// A JSON value read leniently where a number or string is expected: anything else (an object,
/// a list, `null`, a boolean) is [`Scalar::Other`] instead of an error that would end the whole
/// stream because of one odd record.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar {
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Other,
}

impl Scalar {
    /// As a finite number; numeric strings count (exports write some numbers as strings).
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::UInt(u) => Some(*u as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Text(s) => s.trim().parse::<f64>().ok(),
            Scalar::Other => None,
        }
        .filter(|f| f.is_finite())
    }

    /// As a whole number.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Int(i) => Some(*i),
            Scalar::UInt(u) => i64::try_from(*u).ok(),
            Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Some(*f as i64),
            Scalar::Text(s) => s.trim().parse().ok(),
            Scalar::Float(_) | Scalar::Other => None,
        }
    }

    /// As text (strings only).
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Scalar, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
        Ok(Scalar::UInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
        Ok(Scalar::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
        Ok(Scalar::Text(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
        Ok(Scalar::Other)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Scalar, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other)
    }
}

/// An identifier that may be a number of any size, kept as the exact text the file has
/// (Google's `deviceTag`, which has been seen beyond the 64-bit range).
pub(crate) struct ExactId<'t>(pub(crate) &'t Tap);

impl<'de> DeserializeSeed<'de> for ExactId<'_> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Option<String>, D::Error> {
        self.0.start_capture();
        let value = <Scalar as de::Deserialize>::deserialize(deserializer);
        let text = self.0.take_capture();
        Ok(match value? {
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::UInt(u) => Some(u.to_string()),
            // Too large for an integer: the digits as written.
            Scalar::Float(_) => number_text(&text),
            Scalar::Text(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Scalar::Text(_) | Scalar::Other => None,
        })
    }
}

/// The number in captured text such as `: -80241446968629135069,` (the separator before it and
/// the one byte of look-ahead after it come along).
fn number_text(captured: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(captured).ok()?;
    let text = text.trim_start_matches(|c: char| c == ':' || c.is_ascii_whitespace());
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
        .unwrap_or(text.len());
    let number = &text[..end];
    (!number.is_empty()).then(|| number.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digits_of_a_huge_number_survive() {
        let tap = Rc::new(Tap::default());
        let json = br#"{"a": 1, "deviceTag":   -80241446968629135069 , "b": 2}"#;
        let reader = TapReader::new(&json[..], tap.clone());
        let mut de = serde_json::Deserializer::from_reader(reader);
        struct Find<'t>(&'t Tap);
        impl<'de> Visitor<'de> for Find<'_> {
            type Value = Option<String>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<String>, A::Error> {
                let mut found = None;
                while let Some(key) = map.next_key_seed(Keyed(|k| k == "deviceTag"))? {
                    if key {
                        found = map.next_value_seed(ExactId(self.0))?;
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(found)
            }
        }
        let found = de::Deserializer::deserialize_map(&mut de, Find(&tap)).unwrap();
        assert_eq!(found.as_deref(), Some("-80241446968629135069"));
        assert_eq!(tap.read(), json.len() as u64);
    }

    #[test]
    fn number_text_takes_the_number_only() {
        assert_eq!(
            number_text(b": 123456789012345678901234}").as_deref(),
            Some("123456789012345678901234")
        );
        assert_eq!(number_text(b"\n  -1.5e30,").as_deref(), Some("-1.5e30"));
        assert_eq!(number_text(b": 12").as_deref(), Some("12"));
        assert_eq!(number_text(b": x"), None);
    }
}
