//! What the driver stores: the series it writes (each a `[[provides]]` entry of the manifest),
//! the documents it writes to them, when two documents are the same record sent twice, and the
//! names a phone app gives itself. Pure, tested natively.
//!
//! Every document carries `device`: the box's id of the device that pushed it (the principal of
//! its device token, or `owner` when the owner pushed), which is what re-sent records are
//! matched by. `client_user` and `client_device` are the names the app itself sends (OwnTracks'
//! user and device, Overland's device id, GPSLogger's device), kept because several phones may
//! push with the owner's own token and would otherwise look like one device.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::location::{ActivitySegment, Fix, PlaceVisit};

/// The device of a request the owner made (no device header from the box).
pub const OWNER_DEVICE: &str = "owner";

/// How far apart (in degrees, either coordinate) two positions of one device at one instant may
/// be and still be the same fix sent twice: about 11 cm. Apps round coordinates differently
/// when they re-send (Overland truncates the queued copy to 7 decimals but not always its
/// `current` copy).
pub const SAME_POSITION_DEG: f64 = 1e-6;

/// A blob series the driver writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Series {
    /// Position fixes ([`Fix`] documents), timed by the fix.
    Locations,
    /// OwnTracks region transitions ([`RegionEvent`] documents), timed by the event.
    RegionEvents,
    /// Overland visits ([`PlaceVisit`] documents), timed by the arrival.
    Visits,
    /// Overland trips ([`ActivitySegment`] documents), timed by the trip's start.
    Trips,
}

impl Series {
    /// Every series, in the order the page lists them.
    pub const ALL: [Series; 4] = [
        Series::Locations,
        Series::RegionEvents,
        Series::Visits,
        Series::Trips,
    ];

    /// The datasource id (the manifest's `[[provides]]` id).
    pub fn id(self) -> &'static str {
        match self {
            Series::Locations => "locations",
            Series::RegionEvents => "region-events",
            Series::Visits => "visits",
            Series::Trips => "trips",
        }
    }

    /// Whether two documents of this series, of one device at one timestamp, are the same record
    /// sent twice: the same position for fixes, the same event of the same region noticed the same
    /// way, the same departure of a visit, the same end and kind of a trip.
    pub fn same(self, a: &Value, b: &Value) -> bool {
        let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64);
        let eq = |k: &str| a.get(k) == b.get(k);
        match self {
            Series::Locations => match (num(a, "lat"), num(a, "lon"), num(b, "lat"), num(b, "lon")) {
                (Some(la), Some(oa), Some(lb), Some(ob)) => {
                    (la - lb).abs() <= SAME_POSITION_DEG && (oa - ob).abs() <= SAME_POSITION_DEG
                }
                _ => false,
            },
            Series::RegionEvents => eq("event") && eq("region") && eq("rid") && eq("trigger"),
            Series::Visits => eq("end_ms"),
            Series::Trips => eq("end_ms") && eq("activity_type"),
        }
    }
}

/// One document to write to a series at a timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Which series.
    pub series: Series,
    /// Epoch milliseconds: when it happened.
    pub timestamp: i64,
    /// The document, with its `device`.
    pub doc: Value,
}

/// The names an app gives itself, cleaned: trimmed, at most 128 characters, no control
/// characters, `None` when empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientNames {
    /// OwnTracks' user (`X-Limit-U`, `?u=`, the topic's second level).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The app's device name or id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

impl ClientNames {
    /// Names from raw text.
    pub fn new(user: Option<&str>, device: Option<&str>) -> Self {
        ClientNames {
            user: clean_name(user),
            device: clean_name(device),
        }
    }

    /// These names, each filled from `other` where missing.
    pub fn or(self, other: ClientNames) -> Self {
        ClientNames {
            user: self.user.or(other.user),
            device: self.device.or(other.device),
        }
    }

    /// Adds `client_user` and `client_device` to a document.
    pub fn add_to(&self, doc: &mut Map<String, Value>) {
        if let Some(u) = &self.user {
            doc.insert("client_user".into(), Value::String(u.clone()));
        }
        if let Some(d) = &self.device {
            doc.insert("client_device".into(), Value::String(d.clone()));
        }
    }
}

/// A name from a client, cleaned (see [`ClientNames`]).
pub fn clean_name(raw: Option<&str>) -> Option<String> {
    let s: String = raw?
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(128)
        .collect();
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// The device id the box gives in `x-databox-device`, or [`OWNER_DEVICE`] without one. The box
/// sends principal ids (`A-Z a-z 0-9 _ -`); anything else is replaced by `_` so that the id is
/// always usable in keys and filters.
pub fn device_id(header: Option<&str>) -> String {
    match header.map(str::trim).filter(|h| !h.is_empty()) {
        None => OWNER_DEVICE.to_owned(),
        Some(h) => h
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
    }
}

fn object(value: impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(m)) => m,
        // The location types serialize to objects; nothing else reaches here.
        _ => Map::new(),
    }
}

/// The document of a fix: the [`Fix`] with the device and the app's names.
pub fn fix_doc(fix: &Fix, client: &ClientNames) -> Value {
    let mut m = object(fix);
    client.add_to(&mut m);
    Value::Object(m)
}

/// The document of a visit: the [`PlaceVisit`] with the device, the app's device name and the
/// accuracy the app gave.
pub fn visit_doc(visit: &PlaceVisit, device: &str, accuracy_m: Option<f64>, client: &ClientNames) -> Value {
    let mut m = object(visit);
    m.insert("device".into(), Value::String(device.to_owned()));
    if let Some(a) = accuracy_m.filter(|a| a.is_finite() && *a >= 0.0) {
        m.insert("accuracy_m".into(), Value::from(a));
    }
    client.add_to(&mut m);
    Value::Object(m)
}

/// The document of a trip: the [`ActivitySegment`] with the device, the app's device name and
/// the steps counted during it, when the app counted any.
pub fn trip_doc(trip: &ActivitySegment, device: &str, steps: Option<u64>, client: &ClientNames) -> Value {
    let mut m = object(trip);
    m.insert("device".into(), Value::String(device.to_owned()));
    if let Some(s) = steps.filter(|s| *s > 0) {
        m.insert("steps".into(), Value::from(s));
    }
    client.add_to(&mut m);
    Value::Object(m)
}

/// An OwnTracks region transition: the device entered or left a region (a circle around a
/// waypoint, or an iBeacon's range). The point's timestamp is when it happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionEvent {
    /// `enter` or `leave`.
    pub event: String,
    /// The region's name (OwnTracks' `desc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The region's id (OwnTracks' `rid`), when the app sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// What noticed it: `c` a circular region, `b` a beacon, `l` a location update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Where the device was, degrees (left out for beacons, which send 0,0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    /// Where the device was, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// The accuracy of that position, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    /// When the region (waypoint) was created, epoch ms (OwnTracks' `wtst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waypoint_created_ms: Option<i64>,
    /// The box's id of the device.
    pub device: String,
    /// Which app sent it (`owntracks`).
    pub source: String,
}

/// The document of a region event, with the app's names.
pub fn region_event_doc(event: &RegionEvent, client: &ClientNames) -> Value {
    let mut m = object(event);
    client.add_to(&mut m);
    Value::Object(m)
}

/// An OwnTracks waypoint: a region the app watches, kept in the key-value datasource
/// `waypoints` under [`waypoint_key`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Waypoint {
    /// Its name (OwnTracks' `desc`; for beacons `name:uuid:major:minor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Its id (OwnTracks' `rid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    /// Centre, degrees.
    pub lat: f64,
    /// Centre, degrees.
    pub lon: f64,
    /// Radius, metres (negative: the app moves the waypoint with each event, see OwnTracks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radius_m: Option<f64>,
    /// When it was created or last changed, epoch ms (OwnTracks' `tst`): a newer one replaces
    /// an older one, never the other way round.
    pub created_ms: i64,
    /// The box's id of the device.
    pub device: String,
    /// Which app sent it (`owntracks`).
    pub source: String,
}

/// The key of a waypoint: `<device>:<rid>`, else `<device>:<name>`, else
/// `<device>:created-<ms>`, with every byte outside `A-Z a-z 0-9 _ -` written as `.XX` (hex) so
/// that any name fits the box's key characters.
pub fn waypoint_key(w: &Waypoint) -> String {
    let id = w
        .rid
        .as_deref()
        .or(w.region.as_deref())
        .map(escape_key)
        .unwrap_or_else(|| format!("created-{}", w.created_ms));
    let key = format!("{}:{id}", w.device);
    // The box's keys are at most 255 characters; a longer name keeps its start.
    let mut cut = key.len().min(255);
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    key[..cut].to_owned()
}

/// Escapes text for a key: `A-Z a-z 0-9 _ -` as they are, every other byte as `.XX`.
pub fn escape_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!(".{b:02X}"));
        }
    }
    out
}

/// The box's name for a motion an app reports, in the vocabulary of the location documents'
/// `activity` (Google's, lowercase): iOS Core Motion's `driving` and `automotive` are
/// `in_vehicle`, `stationary` is `still`; other words are normalised by
/// [`activity_name`](crate::location::activity_name).
pub fn motion_activity(raw: &str) -> String {
    let name = crate::location::activity_name(raw);
    match name.as_str() {
        "driving" | "automotive" => "in_vehicle".to_owned(),
        "stationary" => "still".to_owned(),
        "bicycle" => "cycling".to_owned(),
        _ => name,
    }
}

/// The activity type of an Overland trip mode (walk, run, bicycle, car, bus, tram, train, metro,
/// plane, boat, taxi, scooter, gondola, monorail, sleigh), in the same vocabulary.
pub fn trip_activity(mode: &str) -> String {
    let name = crate::location::activity_name(mode);
    match name.as_str() {
        "walk" => "walking",
        "run" => "running",
        "bicycle" | "bike" => "cycling",
        "car" => "in_passenger_vehicle",
        "bus" => "in_bus",
        "tram" => "in_tram",
        "train" => "in_train",
        "metro" | "subway" => "in_subway",
        "plane" => "flying",
        "boat" | "ferry" => "in_ferry",
        "" => "unknown",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_fix_document_is_the_fix_with_the_apps_names() {
        let fix = Fix {
            accuracy_m: Some(5.0),
            device: Some("phone-1".into()),
            ..Fix::new(48.85833, 2.29513, "owntracks")
        };
        let doc = fix_doc(&fix, &ClientNames::new(Some("jj"), Some(" iPhone ")));
        assert_eq!(
            doc,
            json!({"lat": 48.85833, "lon": 2.29513, "accuracy_m": 5.0, "device": "phone-1",
                   "source": "owntracks", "client_user": "jj", "client_device": "iPhone"})
        );
        let back: Fix = serde_json::from_value(doc).unwrap();
        assert_eq!(back, fix, "readers of the shape ignore the extra fields");
    }

    #[test]
    fn resent_fixes_are_the_same_within_a_tenth_of_a_metre() {
        let a = json!({"lat": 37.3318, "lon": -122.0305811});
        let rounded = json!({"lat": 37.3318, "lon": -122.030581});
        let moved = json!({"lat": 37.33181, "lon": -122.0305811});
        assert!(Series::Locations.same(&a, &a));
        assert!(Series::Locations.same(&a, &rounded));
        assert!(!Series::Locations.same(&a, &moved));
        assert!(!Series::Locations.same(&a, &json!({"lat": 1})));
    }

    #[test]
    fn other_series_match_on_what_identifies_them() {
        let enter = json!({"event": "enter", "region": "home"});
        assert!(Series::RegionEvents.same(&enter, &enter.clone()));
        assert!(!Series::RegionEvents.same(&enter, &json!({"event": "leave", "region": "home"})));
        let arrived = json!({"start_ms": 1, "end_ms": 5});
        assert!(Series::Visits.same(&arrived, &json!({"start_ms": 1, "end_ms": 5, "x": 1})));
        assert!(!Series::Visits.same(&arrived, &json!({"start_ms": 1, "end_ms": 9})));
        let trip = json!({"end_ms": 5, "activity_type": "cycling"});
        assert!(!Series::Trips.same(&trip, &json!({"end_ms": 5, "activity_type": "walking"})));
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean_name(Some("  ")), None);
        assert_eq!(clean_name(None), None);
        assert_eq!(clean_name(Some("a\u{0}b\n")), Some("ab".into()));
        assert_eq!(clean_name(Some(&"x".repeat(300))).unwrap().len(), 128);
        let n = ClientNames::new(None, Some("d")).or(ClientNames::new(Some("u"), Some("other")));
        assert_eq!(n, ClientNames::new(Some("u"), Some("d")));
    }

    #[test]
    fn the_device_is_the_boxs_or_the_owner() {
        assert_eq!(device_id(None), "owner");
        assert_eq!(device_id(Some(" ")), "owner");
        assert_eq!(device_id(Some("anna-phone")), "anna-phone");
        assert_eq!(device_id(Some("a/b c")), "a_b_c");
    }

    #[test]
    fn waypoint_keys_fit_the_boxs_key_characters() {
        let w = Waypoint {
            region: Some("Home sweet home".into()),
            rid: None,
            lat: 1.0,
            lon: 2.0,
            radius_m: Some(50.0),
            created_ms: 4000,
            device: "owner".into(),
            source: "owntracks".into(),
        };
        assert_eq!(waypoint_key(&w), "owner:Home.20sweet.20home");
        let with_rid = Waypoint {
            rid: Some("a1b2".into()),
            ..w.clone()
        };
        assert_eq!(waypoint_key(&with_rid), "owner:a1b2");
        let nameless = Waypoint {
            region: None,
            ..w.clone()
        };
        assert_eq!(waypoint_key(&nameless), "owner:created-4000");
        let long = Waypoint {
            region: Some("é".repeat(200)),
            ..w
        };
        assert!(waypoint_key(&long).len() <= 255);
        assert_eq!(escape_key("ü:1"), ".C3.BC.3A1");
    }

    #[test]
    fn activities_use_the_boxs_words() {
        assert_eq!(motion_activity("driving"), "in_vehicle");
        assert_eq!(motion_activity("stationary"), "still");
        assert_eq!(motion_activity("Walking"), "walking");
        assert_eq!(motion_activity("ON_FOOT"), "on_foot");
        assert_eq!(trip_activity("bicycle"), "cycling");
        assert_eq!(trip_activity("car"), "in_passenger_vehicle");
        assert_eq!(trip_activity("gondola"), "gondola");
        assert_eq!(trip_activity(""), "unknown");
    }
}
