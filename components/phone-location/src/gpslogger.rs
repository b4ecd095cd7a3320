//! GPSLogger for Android's "Log to custom URL": one request per point, a `GET` with the values in
//! the query or a `POST` with them in a form body (`%ALL`), a JSON body or the query. The owner
//! chooses the parameter names when writing the URL, so the usual spellings are all taken:
//! GPSLogger's own (`lat`, `lon`, `acc`, `alt`, `spd`, `dir`, `time`, `timestamp`, `batt`, `aid`,
//! `prov`, `act`), Home Assistant's (`latitude`, `longitude`, `accuracy`, `altitude`, `speed`,
//! `direction`, `battery`, `device`, `provider`, `activity`) and a few more. Pure, tested
//! natively.

use serde_json::Value;

use crate::location::Fix;
use crate::records::{ClientNames, Row, Series, fix_doc, motion_activity};
use crate::registry::Seen;
use crate::time::{epoch_to_ms, parse_iso8601};

/// The source name in the documents.
pub const SOURCE: &str = "gpslogger";

/// Latitude parameter names, first found wins.
const LAT: &[&str] = &["lat", "latitude"];
/// Longitude parameter names.
const LON: &[&str] = &["lon", "lng", "long", "longitude"];
/// Horizontal accuracy, metres.
const ACC: &[&str] = &["acc", "accuracy", "hacc"];
/// Altitude, metres.
const ALT: &[&str] = &["alt", "altitude"];
/// Speed, metres per second (GPSLogger's `%SPD`).
const SPEED_MPS: &[&str] = &["spd", "speed"];
/// Speed, kilometres per hour (`%SPD_KPH`).
const SPEED_KMH: &[&str] = &["spd_kph", "speed_kph", "kph"];
/// Course over ground, degrees.
const COURSE: &[&str] = &["dir", "direction", "bearing", "course", "heading"];
/// When: ISO 8601 text or an epoch number, in this order of preference (GPSLogger's `%TIME`
/// has milliseconds, `%TIMESTAMP` whole seconds).
const TIME: &[&str] = &["time", "timeoffset", "timestamp", "ts", "tst", "date_time"];
/// How the position was found (`gps`, `network`...).
const PROVIDER: &[&str] = &["prov", "provider"];
/// What the person was doing.
const ACTIVITY: &[&str] = &["act", "activity"];
/// The app's device name.
const DEVICE: &[&str] = &["device", "aid", "ser", "device_id", "deviceid", "id"];

/// The parameters of a request: the body's first (a form or a JSON object), then the query's.
pub fn params(query: &str, body: &[u8], content_type: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let trimmed = body.trim_ascii();
    let json =
        content_type.is_some_and(|t| t.to_ascii_lowercase().contains("json")) || trimmed.starts_with(b"{");
    if !trimmed.is_empty() {
        if json {
            let v: Value =
                serde_json::from_slice(trimmed).map_err(|e| format!("the body is not JSON: {e}"))?;
            let obj = v.as_object().ok_or("the JSON body is not an object")?;
            for (k, v) in obj {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => continue,
                };
                out.push((k.clone(), text));
            }
        } else {
            let text = std::str::from_utf8(trimmed).map_err(|_| "the body is not UTF-8 text".to_owned())?;
            out.extend(form_pairs(text));
        }
    }
    out.extend(form_pairs(query));
    Ok(out)
}

/// `a=1&b=x+y%2F` as decoded pairs (`+` is a space); empty pieces (GPSLogger's trailing `&`)
/// are skipped.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The first non-empty value of any of `names` (case-insensitive).
fn get<'a>(params: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        params
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    })
}

fn number(params: &[(String, String)], names: &[&str]) -> Result<Option<f64>, String> {
    match get(params, names) {
        None => Ok(None),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| format!("{} is not a number", names[0])),
    }
}

/// The time of a point: the first time parameter that reads as ISO 8601 or an epoch number,
/// else `now_ms`.
fn time(params: &[(String, String)], now_ms: i64) -> Result<i64, String> {
    for name in TIME {
        if let Some(v) = get(params, &[name]) {
            let t = parse_iso8601(v).or_else(|| v.parse::<f64>().ok().and_then(epoch_to_ms));
            return t.ok_or_else(|| format!("{name} {v:?} is neither ISO 8601 nor epoch seconds"));
        }
    }
    Ok(now_ms)
}

/// The fix of one request's parameters, and what they tell about the device; `Err` says what is
/// missing or wrong, for GPSLogger to show.
pub fn parse(params: &[(String, String)], device: &str, now_ms: i64) -> Result<(Row, Seen), String> {
    let (lat, lon) = match (number(params, LAT)?, number(params, LON)?) {
        (Some(lat), Some(lon)) => (lat, lon),
        _ => {
            return Err(
                "lat and lon are required: add lat=%LAT&lon=%LON to the URL or the body (latitude and \
                 longitude are taken too)"
                    .into(),
            );
        }
    };
    let speed = match number(params, SPEED_MPS)? {
        Some(mps) => Some(mps),
        None => number(params, SPEED_KMH)?.map(|kmh| kmh / 3.6),
    };
    let fix = Fix {
        accuracy_m: number(params, ACC)?,
        altitude_m: number(params, ALT)?,
        speed_mps: speed,
        course_deg: number(params, COURSE)?,
        activity: get(params, ACTIVITY).map(motion_activity),
        device: Some(device.to_owned()),
        provider: get(params, PROVIDER).map(str::to_ascii_lowercase),
        ..Fix::new(lat, lon, SOURCE)
    }
    .without_invalid_readings();
    fix.validate().map_err(|e| format!("the point has {e}"))?;
    let timestamp = time(params, now_ms)?;
    let client = ClientNames::new(None, get(params, DEVICE));
    let seen = Seen {
        source: Some(SOURCE),
        client: client.clone(),
        ..Seen::default()
    };
    Ok((
        Row {
            series: Series::Locations,
            timestamp,
            doc: fix_doc(&fix, &client),
        },
        seen,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_976_400_000;

    #[test]
    fn decodes_forms() {
        assert_eq!(
            form_pairs("a=1&b=x+y%2Fz&&c&d=%zz&e=%4"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y/z".into()),
                ("c".into(), "".into()),
                ("d".into(), "%zz".into()),
                ("e".into(), "%4".into()),
            ]
        );
        assert_eq!(form_pairs("n=%C3%BC")[0].1, "ü");
    }

    #[test]
    fn a_gpslogger_all_body_becomes_a_fix() {
        let body = "lat=52.5200066&lon=13.404954&sat=0&desc=&alt=34.0&acc=6.0&dir=271.5&prov=gps&spd_kph=36.0\
                    &spd=10.0&timestamp=1736999691&timeoffset=2025-01-15T20:54:51.000-07:00\
                    &time=2025-01-16T03:54:51.250Z&starttimestamp=1736990000&date=2025-01-16&batt=27.0\
                    &ischarging=false&aid=4f2c&ser=R58M&act=&filename=20250115&profile=Default+Profile&hdop=&dist=0&";
        let p = params("", body.as_bytes(), Some("application/x-www-form-urlencoded")).unwrap();
        let (row, seen) = parse(&p, "pixel", NOW).unwrap();
        assert_eq!(row.timestamp, 1_736_999_691_250);
        assert_eq!(
            row.doc,
            json!({"lat": 52.5200066, "lon": 13.404954, "accuracy_m": 6.0, "altitude_m": 34.0,
                   "speed_mps": 10.0, "course_deg": 271.5, "device": "pixel", "provider": "gps",
                   "source": "gpslogger", "client_device": "4f2c"})
        );
        assert_eq!(seen.client.device.as_deref(), Some("4f2c"));
    }

    #[test]
    fn the_query_and_the_body_say_the_same() {
        let q = "latitude=1.0&longitude=1.1&device=123&accuracy=10.5&battery=10&speed=100&direction=105.32\
                 &altitude=102&provider=gps&activity=running&timestamp=1736999691";
        let from_query = parse(&params(q, b"", None).unwrap(), "d", NOW).unwrap();
        let from_body = parse(&params("", q.as_bytes(), None).unwrap(), "d", NOW).unwrap();
        assert_eq!(from_query, from_body);
        assert_eq!(from_query.0.doc["activity"], "running");
        assert_eq!(from_query.0.doc["speed_mps"], 100.0);
        assert_eq!(from_query.0.timestamp, 1_736_999_691_000);
        // The body wins over the query.
        let both = params("lat=9&lon=9", b"lat=1&lon=2", None).unwrap();
        assert_eq!(parse(&both, "d", NOW).unwrap().0.doc["lat"], 1.0);
    }

    #[test]
    fn a_json_body_is_taken_too() {
        let p = params(
            "",
            br#"{"lat": 1.5, "lon": "2.5", "time": "2025-01-16T03:54:51Z", "x": [1]}"#,
            None,
        )
        .unwrap();
        let (row, _) = parse(&p, "d", NOW).unwrap();
        assert_eq!(
            (row.doc["lat"].as_f64(), row.timestamp),
            (Some(1.5), 1_736_999_691_000)
        );
        assert!(params("", b"{not json", None).is_err());
    }

    #[test]
    fn without_a_time_the_point_is_timed_now_and_kph_is_converted() {
        let (row, _) = parse(&form_pairs("lat=1&lon=2&spd_kph=36"), "d", NOW).unwrap();
        assert_eq!(row.timestamp, NOW);
        assert_eq!(row.doc["speed_mps"], 10.0);
        let (ms, _) = parse(&form_pairs("lat=1&lon=2&timestamp=1736999691250"), "d", NOW).unwrap();
        assert_eq!(ms.timestamp, 1_736_999_691_250);
    }

    #[test]
    fn says_what_is_missing_or_wrong() {
        let missing = parse(&form_pairs("longitude=1.1&device=123"), "d", NOW).unwrap_err();
        assert!(missing.contains("lat and lon are required"), "{missing}");
        assert!(parse(&form_pairs(""), "d", NOW).is_err());
        assert!(parse(&form_pairs("lat=&lon="), "d", NOW).is_err());
        let nan = parse(&form_pairs("lat=north&lon=2"), "d", NOW).unwrap_err();
        assert!(nan.contains("lat is not a number"), "{nan}");
        let out = parse(&form_pairs("lat=95&lon=2"), "d", NOW).unwrap_err();
        assert!(out.contains("latitude 95"), "{out}");
        let when = parse(&form_pairs("lat=1&lon=2&time=soon"), "d", NOW).unwrap_err();
        assert!(when.contains("time \"soon\""), "{when}");
    }
}
