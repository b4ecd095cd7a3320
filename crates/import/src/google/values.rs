//! Reading the small JSON objects of the semantic and Timeline formats leniently: numbers that
//! may be strings, coordinates in three spellings, times in two.

use serde_json::Value;

use super::time::parse_rfc3339_ms;

/// Degrees from an E7 integer. Old exports wrote some values as unsigned 32-bit integers, so a
/// negative coordinate shows up above the range; Google's documented fix is to subtract 2^32
/// from a latitude above 90° or a longitude above 180°.
pub(crate) fn e7_degrees(e7: f64, latitude: bool) -> f64 {
    let limit = if latitude { 900_000_000.0 } else { 1_800_000_000.0 };
    let e7 = if e7 > limit { e7 - 4_294_967_296.0 } else { e7 };
    e7 / 1e7
}

/// A finite number, also from a numeric string (the iOS export writes `"0.950000"`).
pub(crate) fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

/// A non-empty string.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    v?.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The value at a path of object keys.
pub(crate) fn at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(v, |v, key| v.get(key))
}

/// A position written as E7 integers under `lat_key`/`lng_key` of `obj`.
pub(crate) fn e7_point(obj: &Value, lat_key: &str, lng_key: &str) -> Option<(f64, f64)> {
    Some((
        e7_degrees(num(obj.get(lat_key))?, true),
        e7_degrees(num(obj.get(lng_key))?, false),
    ))
}

/// A position of a Semantic file's location, waypoint or path point, whichever key pair it uses.
pub(crate) fn semantic_point(obj: &Value) -> Option<(f64, f64)> {
    e7_point(obj, "latitudeE7", "longitudeE7").or_else(|| e7_point(obj, "latE7", "lngE7"))
}

/// A position written as text: `"geo:40.7,-74.0"` (iOS; RFC 5870, possibly with an altitude and
/// `;u=` parameters) or `"40.712776°, -74.005974°"` (Android), or an object holding one such
/// string under `latLng`/`LatLng`/`point`.
pub(crate) fn text_point(v: &Value) -> Option<(f64, f64)> {
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Object(_) => {
            return ["latLng", "LatLng", "point"]
                .iter()
                .find_map(|k| text_point(v.get(k)?));
        }
        _ => return None,
    };
    let s = s.trim();
    let s = s.strip_prefix("geo:").unwrap_or(s);
    let s = s.split(';').next()?;
    let mut parts = s.split(',');
    let mut degrees = || -> Option<f64> {
        let part = parts.next()?.trim().trim_end_matches('°').trim();
        part.parse::<f64>().ok().filter(|f| f.is_finite())
    };
    Some((degrees()?, degrees()?))
}

/// A time read from an object.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum When {
    /// Neither key is there.
    Missing,
    /// There, but not a time.
    Bad,
    /// Epoch milliseconds.
    At(i64),
}

/// The time under `iso_key` (RFC 3339) or, failing that, `ms_key` (epoch milliseconds as a
/// string or number, as in exports before 2022).
pub(crate) fn when(obj: Option<&Value>, iso_key: &str, ms_key: &str) -> When {
    let Some(obj) = obj else { return When::Missing };
    let iso = obj.get(iso_key).map(|v| v.as_str().and_then(parse_rfc3339_ms));
    let ms = obj.get(ms_key).map(|v| match v {
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    });
    match (iso, ms) {
        (Some(Some(t)), _) | (_, Some(Some(t))) => When::At(t),
        (None, None) => When::Missing,
        _ => When::Bad,
    }
}

/// A single time, or the reason (after `what`) it has none.
pub(crate) fn instant(at: When) -> Result<i64, &'static str> {
    match at {
        When::At(t) => Ok(t),
        When::Bad => Err("with an unparseable timestamp"),
        When::Missing => Err("without a timestamp"),
    }
}

/// The RFC 3339 time under `key` (the Timeline export has no other kind).
pub(crate) fn iso_when(obj: Option<&Value>, key: &str) -> When {
    match obj.and_then(|o| o.get(key)) {
        None => When::Missing,
        Some(v) => v.as_str().and_then(parse_rfc3339_ms).map_or(When::Bad, When::At),
    }
}

/// Start and end of something, or the reason (after `what`) it has none.
pub(crate) fn span(start: When, end: When) -> Result<(i64, i64), &'static str> {
    match (start, end) {
        (When::At(s), When::At(e)) => Ok((s, e)),
        (When::Bad, _) | (_, When::Bad) => Err("with an unparseable time"),
        _ => Err("without a start or end time"),
    }
}

/// The type of the most probable entry of a list of candidate activities (`[{type_key: ..,
/// prob_key: ..}, ...]`); the first of equals wins, and entries without a probability count
/// as least probable.
pub(crate) fn activity_of(list: &Value, type_key: &str, prob_key: &str) -> Option<String> {
    let mut best: Option<(f64, String)> = None;
    for entry in list.as_array()? {
        let Some(kind) = text(entry.get(type_key)) else {
            continue;
        };
        let p = num(entry.get(prob_key)).unwrap_or(f64::NEG_INFINITY);
        if best.as_ref().is_none_or(|(b, _)| p > *b) {
            best = Some((p, kind));
        }
    }
    best.map(|(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn e7_wraps_as_google_says() {
        assert_eq!(e7_degrees(351_324_213.0, true), 35.1324213);
        assert_eq!(e7_degrees(-1_122_434_441.0, false), -112.2434441);
        // -33.8688197 written as an unsigned 32-bit integer.
        let wrapped = 4_294_967_296.0 - 338_688_197.0;
        assert!((e7_degrees(wrapped, true) - -33.8688197).abs() < 1e-9);
        assert!((e7_degrees(4_294_967_296.0 - 1_512_093_000.0, false) - -151.2093).abs() < 1e-9);
        assert_eq!(e7_degrees(1_800_000_000.0, false), 180.0);
    }

    #[test]
    fn text_points_in_every_spelling() {
        assert_eq!(
            text_point(&json!("40.712776°, -74.005974°")),
            Some((40.712776, -74.005974))
        );
        assert_eq!(
            text_point(&json!("geo:40.712776,-74.005974")),
            Some((40.712776, -74.005974))
        );
        assert_eq!(text_point(&json!("geo:1.5,2.5,30;u=12")), Some((1.5, 2.5)));
        assert_eq!(text_point(&json!({"latLng": "1°, 2°"})), Some((1.0, 2.0)));
        assert_eq!(text_point(&json!({"LatLng": "1°, 2°"})), Some((1.0, 2.0)));
        assert_eq!(text_point(&json!("geo:")), None);
        assert_eq!(text_point(&json!("1.0")), None);
        assert_eq!(text_point(&json!(1.0)), None);
    }

    #[test]
    fn times_and_activities() {
        let obj = json!({"startTimestamp": "2017-12-10T23:29:25.026Z", "endTimestampMs": "1512955206106",
                         "x": "nope"});
        assert_eq!(
            when(Some(&obj), "startTimestamp", "startTimestampMs"),
            When::At(1_512_948_565_026)
        );
        assert_eq!(
            when(Some(&obj), "endTimestamp", "endTimestampMs"),
            When::At(1_512_955_206_106)
        );
        assert_eq!(when(Some(&obj), "x", "y"), When::Bad);
        assert_eq!(when(Some(&obj), "a", "b"), When::Missing);
        let list = json!([{"type": "STILL", "confidence": 6}, {"type": "UNKNOWN", "confidence": 65},
                          {"type": "WALKING", "confidence": 65}]);
        assert_eq!(
            activity_of(&list, "type", "confidence").as_deref(),
            Some("UNKNOWN")
        );
        assert_eq!(num(Some(&json!("0.950000"))), Some(0.95));
    }
}
