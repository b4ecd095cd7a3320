//! OwnTracks in HTTP mode: the body is one message or an array of messages
//! (`owntracks/ios` `messages.json`), possibly encrypted (`{"_type":"encrypted","data":...}`).
//! Pure parsing into the rows and waypoints to store and what the request tells about its
//! device; tested natively.
//!
//! | `_type` | what becomes of it |
//! |---|---|
//! | `location` | a [`Fix`] in `locations` at `tst` (`vel` km/h becomes m/s) |
//! | `transition` | a [`RegionEvent`] in `region-events` at `tst` |
//! | `waypoint`, `waypoints` | [`Waypoint`]s in the key-value datasource `waypoints` |
//! | `card` | its `name` in the device's record (not its picture) |
//! | `lwt` | its `tst` in the device's record (when the app last connected) |
//! | `encrypted` | opened with `owntracks_key`, then handled as the message inside |
//! | `steps` and anything else | acknowledged and dropped: `steps` only answers a `reportSteps` command, which the driver never sends |

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use serde_json::Value;

use crate::location::Fix;
use crate::records::{
    ClientNames, RegionEvent, Row, Series, Waypoint, clean_name, fix_doc, region_event_doc,
};
use crate::registry::{DecryptProblem, Seen};
use crate::time::{owntracks_tst_ms, seconds_to_ms};

/// The source name in the documents.
pub const SOURCE: &str = "owntracks";

/// Bytes of a secretbox nonce, which precedes the sealed box in `data`.
const NONCE_BYTES: usize = 24;
/// Bytes of a secretbox key.
const KEY_BYTES: usize = 32;
/// Bytes of the authenticator in a sealed box.
const MAC_BYTES: usize = 16;

/// Who sent a body and when it arrived.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The box's id of the device.
    pub device: &'a str,
    /// The names from the request (`X-Limit-U`/`X-Limit-D` or `?u=&d=`), which win over the
    /// topic's.
    pub client: ClientNames,
    /// Now, epoch ms (the time of a message without `tst`; the bound of the 2001 correction).
    pub now_ms: i64,
    /// The owner's `owntracks_key`, if set.
    pub key: Option<&'a str>,
}

/// What a body holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// Fixes and region events.
    pub rows: Vec<Row>,
    /// Waypoints.
    pub waypoints: Vec<Waypoint>,
    /// What the body told about the device.
    pub seen: Seen,
    /// Messages dropped, with why (for the log; no data in them).
    pub skipped: Vec<String>,
    /// Messages acknowledged without storing anything (`lwt`, `card`, `steps`, unknown types).
    pub acknowledged: usize,
    /// How many `tst`s were counted from 2001 and corrected.
    pub corrected_2001: usize,
    /// Whether an encrypted message was opened.
    pub decrypted: bool,
}

/// Why a body cannot be taken.
#[derive(Clone, Debug, PartialEq)]
pub enum Refusal {
    /// Not JSON, or JSON that is no message: no key or later try can make it one.
    NotMessages(String),
    /// An encrypted message that could not be opened (see [`DecryptProblem`]).
    Undecryptable(DecryptProblem),
    /// An encrypted message whose `data` is not a sealed box at all (bad base64, too short).
    MalformedEncryption(String),
}

/// Parses a body; an empty one (OwnTracks posts one when a friend is deleted) holds nothing.
pub fn parse(body: &[u8], ctx: &Context) -> Result<Parsed, Refusal> {
    let mut out = Parsed::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(out);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::NotMessages(format!("the body is not JSON: {e}")))?;
    match value {
        Value::Array(items) => {
            for item in &items {
                message(item, ctx, &mut out, 0)?;
            }
        }
        Value::Object(_) => message(&value, ctx, &mut out, 0)?,
        _ => {
            return Err(Refusal::NotMessages(
                "the body is neither an OwnTracks message nor an array of them".into(),
            ));
        }
    }
    Ok(out)
}

/// A number, or a number written as text (early OwnTracks clients sent `"lat": "52.5"`).
pub fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|x| x.is_finite())
}

fn text(v: Option<&Value>) -> Option<String> {
    clean_name(v?.as_str())
}

/// The names in an HTTP-mode `topic`: `owntracks/<user>/<device>` from the OwnTracks apps,
/// `owntracks/<device>` from Overland's OwnTracks mode.
pub fn topic_names(topic: Option<&str>) -> ClientNames {
    let Some(topic) = topic else {
        return ClientNames::default();
    };
    let parts: Vec<&str> = topic.split('/').collect();
    match parts.as_slice() {
        [_, user, device, ..] => ClientNames::new(Some(user), Some(device)),
        [_, device] => ClientNames::new(None, Some(device)),
        _ => ClientNames::default(),
    }
}

fn message(m: &Value, ctx: &Context, out: &mut Parsed, depth: u8) -> Result<(), Refusal> {
    let Some(obj) = m.as_object() else {
        out.skipped.push("an array element is not an object".into());
        return Ok(());
    };
    let kind = obj.get("_type").and_then(Value::as_str).unwrap_or("");
    let client = ctx
        .client
        .clone()
        .or(topic_names(obj.get("topic").and_then(Value::as_str)));
    let mut seen = Seen {
        source: Some(SOURCE),
        client: client.clone(),
        tracker_id: text(obj.get("tid")),
        ..Seen::default()
    };
    match kind {
        "location" => match location(m, ctx) {
            Ok((timestamp, fix, corrected)) => {
                out.corrected_2001 += usize::from(corrected);
                out.rows.push(Row {
                    series: Series::Locations,
                    timestamp,
                    doc: fix_doc(&fix, &client),
                });
            }
            Err(why) => out.skipped.push(format!("a location: {why}")),
        },
        "transition" => match transition(m, ctx) {
            Ok((timestamp, event)) => out.rows.push(Row {
                series: Series::RegionEvents,
                timestamp,
                doc: region_event_doc(&event, &client),
            }),
            Err(why) => out.skipped.push(format!("a transition: {why}")),
        },
        "waypoint" => match waypoint(m, ctx) {
            Ok(w) => out.waypoints.push(w),
            Err(why) => out.skipped.push(format!("a waypoint: {why}")),
        },
        "waypoints" => {
            for w in obj
                .get("waypoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match waypoint(w, ctx) {
                    Ok(w) => out.waypoints.push(w),
                    Err(why) => out.skipped.push(format!("a waypoint: {why}")),
                }
            }
        }
        "lwt" => {
            seen.last_will_ms = num(obj.get("tst")).and_then(seconds_to_ms);
            out.acknowledged += 1;
        }
        "card" => {
            seen.card_name = text(obj.get("name"));
            out.acknowledged += 1;
        }
        "encrypted" => {
            if depth > 0 {
                out.skipped
                    .push("an encrypted message inside an encrypted one".into());
                return Ok(());
            }
            let data = obj.get("data").and_then(Value::as_str).ok_or_else(|| {
                Refusal::MalformedEncryption("an encrypted message without its \"data\"".into())
            })?;
            let key = ctx.key.ok_or(Refusal::Undecryptable(DecryptProblem::NoKey))?;
            let plain = decrypt(data, key)?;
            out.decrypted = true;
            let inner: Value = serde_json::from_slice(&plain)
                .map_err(|e| Refusal::NotMessages(format!("the decrypted message is not JSON: {e}")))?;
            match &inner {
                Value::Array(items) => {
                    for item in items {
                        message(item, ctx, out, depth + 1)?;
                    }
                }
                _ => message(&inner, ctx, out, depth + 1)?,
            }
            return Ok(());
        }
        // `steps` answers a `reportSteps` command, which this driver never sends; the others
        // (`beacon`, `cmd`, `status`, `configuration`, `request`, unknown types) carry nothing
        // it keeps. All are acknowledged so that the phone does not send them again.
        _ => out.acknowledged += 1,
    }
    out.seen.merge(seen);
    Ok(())
}

/// The fix of a `location` message, at its `tst` (else `created_at`, else now), and whether its
/// `tst` was counted from 2001.
pub fn location(m: &Value, ctx: &Context) -> Result<(i64, Fix, bool), String> {
    let lat = num(m.get("lat")).ok_or("no latitude")?;
    let lon = num(m.get("lon")).ok_or("no longitude")?;
    let (timestamp, corrected) = match num(m.get("tst")) {
        Some(tst) => owntracks_tst_ms(tst, ctx.now_ms).ok_or("a tst out of range")?,
        None => match num(m.get("created_at")) {
            Some(c) => (seconds_to_ms(c).ok_or("a created_at out of range")?, false),
            None => (ctx.now_ms, false),
        },
    };
    let fix = Fix {
        accuracy_m: num(m.get("acc")),
        altitude_m: num(m.get("alt")),
        // OwnTracks' velocity is in km/h.
        speed_mps: num(m.get("vel")).map(|kmh| kmh / 3.6),
        course_deg: num(m.get("cog")),
        device: Some(ctx.device.to_owned()),
        ..Fix::new(lat, lon, SOURCE)
    }
    .without_invalid_readings();
    fix.validate().map_err(|e| e.reason().to_owned())?;
    Ok((timestamp, fix, corrected))
}

/// The region event of a `transition` message, at its `tst`.
pub fn transition(m: &Value, ctx: &Context) -> Result<(i64, RegionEvent), String> {
    let event = m
        .get("event")
        .and_then(Value::as_str)
        .filter(|e| *e == "enter" || *e == "leave")
        .ok_or("no event enter or leave")?;
    let timestamp = match num(m.get("tst")) {
        Some(tst) => owntracks_tst_ms(tst, ctx.now_ms).ok_or("a tst out of range")?.0,
        None => ctx.now_ms,
    };
    let trigger = text(m.get("t"));
    let (lat, lon) = (num(m.get("lat")), num(m.get("lon")));
    // Beacon transitions carry 0,0: no position at all.
    let position = match (lat, lon) {
        (Some(la), Some(lo)) if crate::location::check_position(la, lo).is_ok() && (la, lo) != (0.0, 0.0) => {
            Some((la, lo))
        }
        _ => None,
    };
    Ok((
        timestamp,
        RegionEvent {
            event: event.to_owned(),
            region: text(m.get("desc")),
            rid: text(m.get("rid")),
            trigger,
            lat: position.map(|p| p.0),
            lon: position.map(|p| p.1),
            accuracy_m: position.and(num(m.get("acc"))).filter(|a| *a >= 0.0),
            waypoint_created_ms: num(m.get("wtst")).and_then(seconds_to_ms),
            device: ctx.device.to_owned(),
            source: SOURCE.to_owned(),
        },
    ))
}

/// A `waypoint` message (alone or in a `waypoints` list).
pub fn waypoint(m: &Value, ctx: &Context) -> Result<Waypoint, String> {
    let lat = num(m.get("lat")).ok_or("no latitude")?;
    let lon = num(m.get("lon")).ok_or("no longitude")?;
    crate::location::check_position(lat, lon).map_err(|e| e.reason().to_owned())?;
    let created_ms = match num(m.get("tst")) {
        Some(tst) => owntracks_tst_ms(tst, ctx.now_ms).ok_or("a tst out of range")?.0,
        None => ctx.now_ms,
    };
    Ok(Waypoint {
        region: text(m.get("desc")),
        rid: text(m.get("rid")),
        lat,
        lon,
        radius_m: num(m.get("rad")),
        created_ms,
        device: ctx.device.to_owned(),
        source: SOURCE.to_owned(),
    })
}

/// The secretbox keys a passphrase may mean. The apps take its UTF-8 bytes, cut to 32 bytes and
/// padded with zeros: Android (and Home Assistant) cut at byte 32, iOS
/// (`getBytes:maxLength:32`) before a character that does not fit whole. Both are tried when
/// they differ.
pub fn keys(passphrase: &str) -> Vec<[u8; KEY_BYTES]> {
    let bytes = passphrase.as_bytes();
    let mut byte_cut = [0u8; KEY_BYTES];
    let n = bytes.len().min(KEY_BYTES);
    byte_cut[..n].copy_from_slice(&bytes[..n]);
    let mut char_end = n;
    while !passphrase.is_char_boundary(char_end) {
        char_end -= 1;
    }
    let mut char_cut = [0u8; KEY_BYTES];
    char_cut[..char_end].copy_from_slice(&bytes[..char_end]);
    if char_cut == byte_cut {
        vec![byte_cut]
    } else {
        vec![byte_cut, char_cut]
    }
}

fn base64() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Opens an OwnTracks `data`: base64 of a 24-byte nonce followed by a libsodium secretbox.
pub fn decrypt(data: &str, passphrase: &str) -> Result<Vec<u8>, Refusal> {
    // Line breaks are allowed in base64 that some clients wrap.
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let wire = base64()
        .decode(compact.as_bytes())
        .map_err(|e| Refusal::MalformedEncryption(format!("\"data\" is not base64: {e}")))?;
    if wire.len() < NONCE_BYTES + MAC_BYTES {
        return Err(Refusal::MalformedEncryption(format!(
            "\"data\" holds {} bytes, fewer than a nonce and an authenticator",
            wire.len()
        )));
    }
    let (nonce, sealed) = wire.split_at(NONCE_BYTES);
    for key in keys(passphrase) {
        let cipher = XSalsa20Poly1305::new(Key::from_slice(&key));
        if let Ok(plain) = cipher.decrypt(Nonce::from_slice(nonce), sealed) {
            return Ok(plain);
        }
    }
    Err(Refusal::Undecryptable(DecryptProblem::WrongKey))
}

/// Seals `plain` as the apps do, with the given nonce (tests, and a reference for clients).
pub fn encrypt(plain: &[u8], passphrase: &str, nonce: &[u8; NONCE_BYTES]) -> String {
    let key = keys(passphrase)[0];
    let cipher = XSalsa20Poly1305::new(Key::from_slice(&key));
    let sealed = cipher
        .encrypt(Nonce::from_slice(nonce), plain)
        .expect("sealing a message in memory does not fail");
    let mut wire = nonce.to_vec();
    wire.extend_from_slice(&sealed);
    base64::engine::general_purpose::STANDARD.encode(wire)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_795_976_400_000;

    fn ctx() -> Context<'static> {
        Context {
            device: "phone",
            client: ClientNames::default(),
            now_ms: NOW,
            key: None,
        }
    }

    fn parse_json(v: Value, ctx: &Context) -> Parsed {
        parse(v.to_string().as_bytes(), ctx).unwrap()
    }

    #[test]
    fn a_location_becomes_a_fix_in_si_units() {
        let p = parse_json(
            json!({"_type": "location", "lat": 48.85833, "lon": 2.29513, "tst": 1497349316,
                   "acc": 5, "alt": 167, "vel": 36, "cog": 271, "tid": "JJ", "batt": 67}),
            &ctx(),
        );
        assert_eq!(p.rows.len(), 1);
        let row = &p.rows[0];
        assert_eq!(
            (row.series, row.timestamp),
            (Series::Locations, 1_497_349_316_000)
        );
        assert_eq!(
            row.doc,
            json!({"lat": 48.85833, "lon": 2.29513, "accuracy_m": 5.0, "altitude_m": 167.0,
                   "speed_mps": 10.0, "course_deg": 271.0, "device": "phone", "source": "owntracks"})
        );
        assert_eq!(p.seen.tracker_id.as_deref(), Some("JJ"));
        assert_eq!(p.seen.source, Some("owntracks"));
    }

    #[test]
    fn names_come_from_the_request_else_the_topic() {
        let m = json!({"_type": "location", "lat": 1.5, "lon": 2.5, "tst": 1,
                       "topic": "owntracks/ckrey/22A67880"});
        let p = parse_json(m.clone(), &ctx());
        assert_eq!(p.rows[0].doc["client_user"], "ckrey");
        assert_eq!(p.rows[0].doc["client_device"], "22A67880");
        let from_headers = Context {
            client: ClientNames::new(Some("jane"), None),
            ..ctx()
        };
        let p = parse_json(m, &from_headers);
        assert_eq!(p.rows[0].doc["client_user"], "jane");
        assert_eq!(p.rows[0].doc["client_device"], "22A67880");
        assert_eq!(
            topic_names(Some("owntracks/iphone-7")),
            ClientNames::new(None, Some("iphone-7"))
        );
    }

    #[test]
    fn an_empty_body_holds_nothing() {
        for body in [&b""[..], b"  \n"] {
            assert_eq!(parse(body, &ctx()).unwrap(), Parsed::default());
        }
    }

    #[test]
    fn garbage_is_refused_and_unknown_types_acknowledged() {
        assert!(matches!(
            parse(b"--garbage--", &ctx()),
            Err(Refusal::NotMessages(_))
        ));
        assert!(matches!(parse(b"42", &ctx()), Err(Refusal::NotMessages(_))));
        let p = parse_json(
            json!([{"_type": "unsupported", "tst": 1}, {"_type": "steps", "steps": 10, "from": 1, "to": 2, "tst": 3},
                   {"no_type": 1}, 7]),
            &ctx(),
        );
        assert!(p.rows.is_empty());
        assert_eq!(p.acknowledged, 3);
        assert_eq!(p.skipped, vec!["an array element is not an object"]);
    }

    #[test]
    fn bad_positions_are_skipped_not_the_body() {
        let p = parse_json(
            json!([{"_type": "location", "lat": 91, "lon": 0, "tst": 5},
                   {"_type": "location", "lon": 0, "tst": 5},
                   {"_type": "location", "lat": 0, "lon": 0, "tst": 5},
                   {"_type": "location", "lat": 1, "lon": 1, "tst": -5},
                   {"_type": "location", "lat": 1, "lon": 1, "tst": 5}]),
            &ctx(),
        );
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.skipped.len(), 4, "{:?}", p.skipped);
        assert!(p.skipped[2].contains("0,0"), "{:?}", p.skipped);
    }

    #[test]
    fn a_tst_counted_from_2001_is_corrected() {
        let unix = 1_795_975_200i64;
        let p = parse_json(
            json!({"_type": "location", "lat": 1.5, "lon": 2.5, "tst": (unix - 978_307_200) as f64 + 0.25,
                   "acc": 10, "batt": 80, "topic": "owntracks/my-iphone"}),
            &ctx(),
        );
        assert_eq!(p.rows[0].timestamp, unix * 1000 + 250);
        assert_eq!(p.corrected_2001, 1);
    }

    #[test]
    fn transitions_become_region_events() {
        let p = parse_json(
            json!({"_type": "transition", "t": "c", "lon": 90.1, "lat": 45.099365, "acc": 60,
                   "event": "enter", "tid": "user", "desc": "inner", "wtst": 1, "tst": 2}),
            &ctx(),
        );
        assert_eq!(p.rows[0].series, Series::RegionEvents);
        assert_eq!(p.rows[0].timestamp, 2000);
        assert_eq!(
            p.rows[0].doc,
            json!({"event": "enter", "region": "inner", "trigger": "c", "lat": 45.099365, "lon": 90.1,
                   "accuracy_m": 60.0, "waypoint_created_ms": 1000, "device": "phone", "source": "owntracks"})
        );
        let beacon = parse_json(
            json!({"_type": "transition", "t": "b", "lon": 0.0, "lat": 0.0, "acc": 0.0,
                   "event": "leave", "desc": "keys", "wtst": 1, "tst": 2}),
            &ctx(),
        );
        assert_eq!(
            beacon.rows[0].doc,
            json!({"event": "leave", "region": "keys", "trigger": "b", "waypoint_created_ms": 1000,
                   "device": "phone", "source": "owntracks"})
        );
        let bad = parse_json(json!({"_type": "transition", "event": "hover"}), &ctx());
        assert_eq!(bad.skipped.len(), 1);
    }

    #[test]
    fn waypoints_lwt_and_card() {
        let p = parse_json(
            json!([{"_type": "waypoints", "_creator": "test", "waypoints": [
                       {"_type": "waypoint", "tst": 3, "lat": 47, "lon": 9, "rad": 10, "desc": "exp_wayp1"},
                       {"_type": "waypoint", "tst": 4, "lat": 3, "lon": 9, "rad": 500, "desc": "exp_wayp2", "rid": "r2"}]},
                   {"_type": "lwt", "tst": 1700000000},
                   {"_type": "card", "name": "Jane Doe", "face": "iVBORw0KGgo="}]),
            &ctx(),
        );
        assert_eq!(p.waypoints.len(), 2);
        assert_eq!(p.waypoints[0].region.as_deref(), Some("exp_wayp1"));
        assert_eq!(p.waypoints[0].created_ms, 3000);
        assert_eq!(p.waypoints[1].rid.as_deref(), Some("r2"));
        assert_eq!(p.seen.last_will_ms, Some(1_700_000_000_000));
        assert_eq!(p.seen.card_name.as_deref(), Some("Jane Doe"));
        assert_eq!(p.acknowledged, 2);
    }

    /// Sealed by libsodium itself (`crypto_secretbox_easy`, the library the apps use, called from
    /// Python's ctypes) under the passphrase "correct horse battery staple", nonce 0..24.
    const LIBSODIUM_SEALED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXY4CrV2+ppEituoet8w77Y98X6ZwUGAIHI7mBMXOpg7XfhE5Y298IflBl0uppl61hLjYy/bRww/JEOlt2W4oU07mAlgzauGrBAoa42sM7a39oYTDqcyoYv0TWNgfxZ6fBqaevmjpWVutYzQ==";
    const LIBSODIUM_PLAIN: &str =
        r#"{"_type":"location","lat":52.5200066,"lon":13.404954,"tst":1736161169,"acc":12,"tid":"ab"}"#;

    #[test]
    fn opens_what_libsodium_sealed() {
        let plain = decrypt(LIBSODIUM_SEALED, "correct horse battery staple").unwrap();
        assert_eq!(plain, LIBSODIUM_PLAIN.as_bytes());
        assert_eq!(
            decrypt(LIBSODIUM_SEALED, "wrong"),
            Err(Refusal::Undecryptable(DecryptProblem::WrongKey))
        );
    }

    #[test]
    fn a_long_passphrase_is_cut_as_either_app_cuts_it() {
        // 31 ASCII bytes, then "é" (2 bytes) across byte 32: Android keeps its first byte,
        // iOS drops it. Both sealed by libsodium.
        let pass = format!("{}étail", "x".repeat(31));
        assert_eq!(keys(&pass).len(), 2);
        let android = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGi4YcYzVUG85gKp92twuNkjfoBD5VO6FUEDxxJ/xU4TQdk2VCp6Iql56cq5dDsiQOztYA3SilqHbU4WLRef31Krf0OLqA78QuRTzV+jkVpe/ZU/GuEXqCrX1coiDu4iarvw8KckdPGtHoA==";
        let ios = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXV6mGow5BmfNCmbU+ZvXVaaxSaIPmeJo+/xJkz7oSnk6G5wTp1B4vRMSccLzSU1Zq1mnhzgJM/pjhK95DR3RlIGziVC5Uljw52czDoEaSZeWAwxCKm+E3Pp4cTr0ZeTZ2Xg5O9tpPP1AW/g==";
        for sealed in [android, ios] {
            assert_eq!(decrypt(sealed, &pass).unwrap(), LIBSODIUM_PLAIN.as_bytes());
        }
        assert_eq!(keys("short").len(), 1);
        assert_eq!(&keys("short")[0][..6], b"short\0");
    }

    #[test]
    fn an_encrypted_message_is_handled_as_the_message_inside() {
        let inner = json!({"_type": "location", "lat": 52.52, "lon": 13.405, "tst": 1736161169, "acc": 12});
        let sealed = encrypt(inner.to_string().as_bytes(), "s3cret", &[7; 24]);
        let body = json!({"_type": "encrypted", "data": sealed});
        let keyed = Context {
            key: Some("s3cret"),
            ..ctx()
        };
        let p = parse_json(body.clone(), &keyed);
        assert!(p.decrypted);
        assert_eq!(p.rows[0].timestamp, 1_736_161_169_000);
        assert_eq!(p.rows[0].doc["lat"], 52.52);
        assert_eq!(
            parse(body.to_string().as_bytes(), &ctx()),
            Err(Refusal::Undecryptable(DecryptProblem::NoKey))
        );
        let wrong = Context {
            key: Some("other"),
            ..ctx()
        };
        assert_eq!(
            parse(body.to_string().as_bytes(), &wrong),
            Err(Refusal::Undecryptable(DecryptProblem::WrongKey))
        );
        let garbled = json!({"_type": "encrypted", "data": "!!not base64!!"});
        assert!(matches!(
            parse(garbled.to_string().as_bytes(), &keyed),
            Err(Refusal::MalformedEncryption(_))
        ));
        let short = json!({"_type": "encrypted", "data": "AAAA"});
        assert!(matches!(
            parse(short.to_string().as_bytes(), &keyed),
            Err(Refusal::MalformedEncryption(_))
        ));
    }
}
