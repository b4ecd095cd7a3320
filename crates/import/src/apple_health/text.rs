//! Turning attribute bytes into values: text, numbers, dates, readable ids, device names.
//!
//! Dates are parsed by hand at fixed positions: the export writes one format only
//! (`2019-06-11 15:00:00 -0700`), and a general date parser per attribute would cost more than the
//! rest of a record. Anything else is refused and the caller skips the element.

use std::borrow::Cow;

/// The text of an attribute value: UTF-8 (invalid bytes replaced rather than failing the record),
/// with the XML predefined entities and character references resolved. Any other entity is left
/// as it is written: entities declared in the DTD are never expanded.
pub(crate) fn text(raw: &[u8]) -> Cow<'_, str> {
    let decoded = match std::str::from_utf8(raw) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(raw),
    };
    if !decoded.as_bytes().contains(&b'&') {
        return decoded;
    }
    Cow::Owned(unescape_predefined(&decoded))
}

/// Resolves `&lt;`, `&gt;`, `&amp;`, `&apos;`, `&quot;`, `&#…;` and `&#x…;`, and leaves any other
/// `&…` as written (a parser's unescape refuses the whole value instead). A reference to a control
/// character XML forbids resolves to nothing, like the character itself would have.
fn unescape_predefined(text: &str) -> String {
    let mut unescaped = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        unescaped.push_str(&rest[..at]);
        rest = &rest[at..];
        let reference = rest[1..]
            .find(';')
            .filter(|&length| length <= 10)
            .and_then(|length| {
                let name = &rest[1..1 + length];
                let resolved = match name {
                    "lt" => '<',
                    "gt" => '>',
                    "amp" => '&',
                    "apos" => '\'',
                    "quot" => '"',
                    _ => {
                        let code = match name.strip_prefix("#x") {
                            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                            None => name.strip_prefix('#')?.parse().ok()?,
                        };
                        char::from_u32(code)?
                    }
                };
                Some((resolved, length + 2))
            });
        match reference {
            Some((resolved, length)) => {
                if resolved >= ' ' || matches!(resolved, '\t' | '\n' | '\r') {
                    unescaped.push(resolved);
                }
                rest = &rest[length..];
            }
            None => {
                unescaped.push('&');
                rest = &rest[1..];
            }
        }
    }
    unescaped.push_str(rest);
    unescaped
}

/// The `key="value"` pairs of a start tag, read straight from its bytes (values raw, still escaped).
/// This is the importer's innermost loop: quick-xml's general iterator, which also reads HTML-style
/// attributes, took a fifth of the parse. A pair that is not `key="value"` or `key='value'` ends
/// the iteration with `Err(())`.
pub(crate) struct Attributes<'a> {
    rest: &'a [u8],
}

/// The attributes of `element`.
pub(crate) fn attributes<'a>(element: &'a quick_xml::events::BytesStart<'_>) -> Attributes<'a> {
    Attributes {
        rest: element.attributes_raw(),
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest.trim_ascii_start();
        if rest.is_empty() || rest == b"/" {
            return None;
        }
        self.rest = &[];
        let pair = split_pair(rest);
        match pair {
            Some((key, value, after)) => {
                self.rest = after;
                Some(Ok((key, value)))
            }
            None => Some(Err(())),
        }
    }
}

/// `key="value" rest…` → (key, value, rest…).
fn split_pair(attributes: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let equals = memchr::memchr(b'=', attributes)?;
    let key = attributes[..equals].trim_ascii_end();
    if key.is_empty() || key.iter().any(u8::is_ascii_whitespace) {
        return None;
    }
    let quoted = attributes[equals + 1..].trim_ascii_start();
    let quote = *quoted.first().filter(|&&quote| quote == b'"' || quote == b'\'')?;
    let length = memchr::memchr(quote, &quoted[1..])?;
    Some((key, &quoted[1..1 + length], &quoted[length + 2..]))
}

/// One attribute's raw value.
pub(crate) fn attribute<'a>(element: &'a quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<&'a [u8]> {
    attributes(element)
        .map_while(Result::ok)
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A finite number, or `None`.
pub(crate) fn number(raw: &[u8]) -> Option<f64> {
    let value: f64 = std::str::from_utf8(raw).ok()?.trim().parse().ok()?;
    value.is_finite().then_some(value)
}

/// A JSON value for an attribute of a document: an integer or a finite number when it reads as one,
/// else the text.
pub(crate) fn json_value(raw: &[u8]) -> serde_json::Value {
    let text = text(raw);
    let trimmed = text.trim();
    if let Ok(integer) = trimmed.parse::<i64>() {
        return integer.into();
    }
    if let Some(number) = trimmed.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        return serde_json::Value::Number(number);
    }
    serde_json::Value::String(text.into_owned())
}

fn digits(raw: &[u8]) -> Option<i64> {
    raw.iter().try_fold(0i64, |value, &byte| {
        byte.is_ascii_digit().then(|| value * 10 + i64::from(byte - b'0'))
    })
}

/// `YYYY-MM-DD` at `raw[0..10]`, checked, as days since the epoch.
fn date_part(raw: &[u8]) -> Option<i64> {
    if raw.len() < 10 || raw[4] != b'-' || raw[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(&raw[0..4])?, digits(&raw[5..7])?, digits(&raw[8..10])?);
    crate::calendar::epoch_day(year, month, day)
}

/// `HH:MM:SS` at `raw[0..8]`, checked, as seconds into the day (a leap second counts as :59).
fn time_part(raw: &[u8]) -> Option<i64> {
    if raw.len() < 8 || raw[2] != b':' || raw[5] != b':' {
        return None;
    }
    let (hours, minutes, seconds) = (digits(&raw[0..2])?, digits(&raw[3..5])?, digits(&raw[6..8])?);
    if hours > 23 || minutes > 59 || seconds > 60 {
        return None;
    }
    Some(hours * 3600 + minutes * 60 + seconds.min(59))
}

/// A `±HHMM` or `±HH:MM` offset as seconds east of UTC.
fn offset_part(raw: &[u8]) -> Option<i64> {
    let sign = match raw.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (hours, minutes) = match raw.len() {
        5 => (digits(&raw[1..3])?, digits(&raw[3..5])?),
        6 if raw[3] == b':' => (digits(&raw[1..3])?, digits(&raw[4..6])?),
        _ => return None,
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// An export date, `2019-06-11 15:00:00 -0700`, as epoch milliseconds.
pub(crate) fn apple_date(raw: &[u8]) -> Option<i64> {
    let raw = raw.trim_ascii();
    if raw.len() != 25 || raw[10] != b' ' || raw[19] != b' ' {
        return None;
    }
    let seconds = date_part(raw)? * 86_400 + time_part(&raw[11..19])? - offset_part(&raw[20..25])?;
    Some(seconds * 1000)
}

/// A day, `2019-06-11`, as the epoch milliseconds of its midnight UTC.
pub(crate) fn day(raw: &[u8]) -> Option<i64> {
    let raw = raw.trim_ascii();
    if raw.len() != 10 {
        return None;
    }
    Some(date_part(raw)? * 86_400_000)
}

/// A GPX time, `2019-06-11T22:00:42Z` (fractions of a second and `±HH:MM` offsets allowed), as epoch
/// milliseconds.
pub(crate) fn iso_time(raw: &[u8]) -> Option<i64> {
    let raw = raw.trim_ascii();
    if raw.len() < 19 || !matches!(raw[10], b'T' | b't' | b' ') {
        return None;
    }
    let mut millis = (date_part(raw)? * 86_400 + time_part(&raw[11..19])?) * 1000;
    let mut rest = &raw[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let length = fraction.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if length == 0 {
            return None;
        }
        let mut scaled = 0i64;
        for position in 0..3 {
            scaled = scaled * 10
                + fraction
                    .get(position)
                    .filter(|_| position < length)
                    .map_or(0, |d| i64::from(d - b'0'));
        }
        millis += scaled;
        rest = &fraction[length..];
    }
    match rest {
        b"" | b"Z" | b"z" => Some(millis),
        offset => Some(millis - offset_part(offset)? * 1000),
    }
}

/// A readable id from an Apple identifier: the `HK…TypeIdentifier` (or other `HK…Type`) prefix
/// removed and the rest in kebab case, matching `[a-z0-9][a-z0-9._-]{0,63}`:
/// `HKQuantityTypeIdentifierStepCount` → `step-count`, `HKQuantityTypeIdentifierVO2Max` → `vo2-max`,
/// `HKDataTypeSleepDurationGoal` → `sleep-duration-goal`, `HKWorkoutActivityTypeRunning` → `running`.
pub fn readable_id(identifier: &str) -> String {
    kebab_case(strip_apple_prefix(identifier))
}

fn strip_apple_prefix(identifier: &str) -> &str {
    let Some(rest) = identifier.strip_prefix("HK") else {
        return identifier;
    };
    for marker in ["TypeIdentifier", "Type"] {
        if let Some(at) = rest.find(marker) {
            let stripped = &rest[at + marker.len()..];
            if !stripped.is_empty() {
                return stripped;
            }
        }
    }
    rest
}

fn kebab_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut id = String::with_capacity(name.len() + 8);
    for (index, &char) in chars.iter().enumerate() {
        let previous = index.checked_sub(1).map(|before| chars[before]);
        let next = chars.get(index + 1);
        if char.is_ascii_uppercase() {
            // A new word starts at a capital after a small letter or digit (`stepCount`, `VO2Max`),
            // or at the last capital of an acronym followed by a small letter (`UVExposure`).
            let new_word = match previous {
                Some(before) if before.is_ascii_lowercase() || before.is_ascii_digit() => true,
                Some(before) if before.is_ascii_uppercase() => next.is_some_and(char::is_ascii_lowercase),
                _ => false,
            };
            if new_word {
                id.push('-');
            }
            id.push(char.to_ascii_lowercase());
        } else if char.is_ascii_lowercase() || char.is_ascii_digit() || char == '.' || char == '_' {
            id.push(char);
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    let id = id.trim_start_matches(|char: char| !char.is_ascii_alphanumeric());
    let mut id: String = id.chars().take(64).collect();
    while id.ends_with('-') {
        id.pop();
    }
    if id.is_empty() { "unknown".to_owned() } else { id }
}

/// `camelCase` → `camel_case`, for the attribute names of documents.
pub(crate) fn snake_case(name: &[u8]) -> String {
    let mut key = String::with_capacity(name.len() + 4);
    for (index, &byte) in name.iter().enumerate() {
        if byte.is_ascii_uppercase() {
            if index > 0 && !name[index - 1].is_ascii_uppercase() {
                key.push('_');
            }
            key.push(char::from(byte.to_ascii_lowercase()));
        } else if byte.is_ascii_alphanumeric() {
            key.push(char::from(byte));
        } else {
            key.push('_');
        }
    }
    key
}

/// `step-count` → `Step count`, for descriptions.
pub(crate) fn words(id: &str) -> String {
    let mut words = id.replace(['-', '_', '.'], " ");
    if let Some(first) = words.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    words
}

/// The device's name out of the description HealthKit writes for it:
/// `<<HKDevice: 0x2808…>, name:Apple Watch, manufacturer:Apple Inc., model:Watch, …>` → `Apple Watch`.
pub(crate) fn device_name(device: &str) -> Option<&str> {
    let start = if let Some(at) = device.find(", name:") {
        at + ", name:".len()
    } else {
        device.strip_prefix("name:").map(|_| "name:".len())?
    };
    let rest = &device[start..];
    let end = next_device_key(rest).unwrap_or_else(|| rest.trim_end_matches('>').len());
    let name = rest[..end].trim();
    (!name.is_empty()).then_some(name)
}

/// Where the next `, key:` of a device description starts (a name may hold commas, a key is letters).
fn next_device_key(rest: &str) -> Option<usize> {
    let bytes = rest.as_bytes();
    let mut from = 0;
    while let Some(found) = rest[from..].find(", ") {
        let key_start = from + found + 2;
        let key_length = bytes[key_start..]
            .iter()
            .take_while(|byte| byte.is_ascii_alphabetic())
            .count();
        if key_length > 0 && bytes.get(key_start + key_length) == Some(&b':') {
            return Some(from + found);
        }
        from = key_start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apple_dates_parse_with_their_offset() {
        assert_eq!(apple_date(b"1970-01-01 00:00:00 +0000"), Some(0));
        // 2019-06-11 22:00:00 UTC.
        assert_eq!(apple_date(b"2019-06-11 15:00:00 -0700"), Some(1_560_290_400_000));
        assert_eq!(apple_date(b"2024-02-29 01:00:00 +0100"), Some(1_709_164_800_000));
        for bad in [
            &b"2019-06-11 15:00:00"[..],
            b"2019-06-11T15:00:00 -0700",
            b"2019-02-29 15:00:00 -0700",
            b"2019-13-01 15:00:00 -0700",
            b"2019-06-11 24:00:00 -0700",
            b"2019-06-11 15:00:00 *0700",
            b"yesterday",
            b"",
        ] {
            assert_eq!(apple_date(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn days_and_iso_times_parse() {
        assert_eq!(day(b"2016-11-15"), Some(1_479_168_000_000));
        assert_eq!(day(b"2016-11-31"), None);
        assert_eq!(iso_time(b"2019-06-11T22:00:42Z"), Some(1_560_290_442_000));
        assert_eq!(iso_time(b"2019-06-11T22:00:42.5Z"), Some(1_560_290_442_500));
        assert_eq!(iso_time(b"2019-06-11T23:00:42+01:00"), Some(1_560_290_442_000));
        assert_eq!(iso_time(b"2019-06-11T22:00"), None);
    }

    #[test]
    fn identifiers_become_readable_ids() {
        for (identifier, id) in [
            ("HKQuantityTypeIdentifierStepCount", "step-count"),
            ("HKQuantityTypeIdentifierHeartRate", "heart-rate"),
            ("HKQuantityTypeIdentifierVO2Max", "vo2-max"),
            (
                "HKQuantityTypeIdentifierHeartRateVariabilitySDNN",
                "heart-rate-variability-sdnn",
            ),
            ("HKQuantityTypeIdentifierUVExposure", "uv-exposure"),
            ("HKQuantityTypeIdentifierDietaryVitaminB12", "dietary-vitamin-b12"),
            ("HKCategoryTypeIdentifierSleepAnalysis", "sleep-analysis"),
            ("HKDataTypeSleepDurationGoal", "sleep-duration-goal"),
            ("HKWorkoutActivityTypeRunning", "running"),
            ("HKWorkoutEventTypePause", "pause"),
            ("Some Custom Thing!", "some-custom-thing"),
            ("---", "unknown"),
        ] {
            assert_eq!(readable_id(identifier), id);
        }
        let long = readable_id(&"Abc".repeat(40));
        assert!(long.len() <= 64, "{long}");
    }

    #[test]
    fn device_names_come_out_of_the_description() {
        let watch = "<<HKDevice: 0x3012772a0>, name:Apple Watch, manufacturer:Apple Inc., model:Watch, \
                     hardware:Watch6,7, software:10.2>";
        assert_eq!(device_name(watch), Some("Apple Watch"));
        assert_eq!(
            device_name("<<HKDevice: 0x1>, name:Bob, the phone, model:iPhone>"),
            Some("Bob, the phone")
        );
        assert_eq!(device_name("<<HKDevice: 0x1>, name:Scale>"), Some("Scale"));
        assert_eq!(device_name("<<HKDevice: 0x1>, manufacturer:Withings>"), None);
    }

    #[test]
    fn attributes_are_read_from_the_tag_bytes() {
        let mut reader = quick_xml::Reader::from_str("<Record a=\"1\" b = 'x\"y' c=\"\"/>");
        let quick_xml::events::Event::Empty(element) = reader.read_event().unwrap() else {
            panic!("an empty tag")
        };
        let pairs: Vec<_> = attributes(&element).collect();
        assert_eq!(
            pairs,
            [Ok((&b"a"[..], &b"1"[..])), Ok((b"b", b"x\"y")), Ok((b"c", b""))]
        );
        assert_eq!(attribute(&element, b"b"), Some(&b"x\"y"[..]));
        for malformed in ["<a b=c/>", "<a b=\"c\" d/>", "<a b/>", "<a x y=\"1\"/>"] {
            let mut reader = quick_xml::Reader::from_str(malformed);
            let quick_xml::events::Event::Empty(element) = reader.read_event().unwrap() else {
                panic!("{malformed}")
            };
            assert!(attributes(&element).any(|pair| pair.is_err()), "{malformed}");
        }
    }

    #[test]
    fn text_resolves_only_predefined_entities() {
        assert_eq!(text(b"a&amp;b &lt;&#65;&gt;"), "a&b <A>");
        assert_eq!(text(b"keep &custom; as is"), "keep &custom; as is");
        assert_eq!(
            text(b"&b; &amp; &#x41;&#11; & alone &#xZZ;"),
            "&b; & A & alone &#xZZ;"
        );
        assert_eq!(text(b"bad \xff byte"), "bad \u{fffd} byte");
        assert_eq!(snake_case(b"activeEnergyBurnedGoal"), "active_energy_burned_goal");
        assert_eq!(words("step-count"), "Step count");
    }
}
