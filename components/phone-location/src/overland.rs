//! Overland (aaronpk/Overland-iOS): `{"locations": [GeoJSON Feature, ...]}` in batches of up to
//! 1,000, with an optional `current` Feature (the newest fix, when a backlog is being sent) and
//! `trip` (the trip in progress, not kept: its Feature comes when it ends). Pure parsing, tested
//! natively.
//!
//! | Feature | what becomes of it |
//! |---|---|
//! | a location (no `action` in its properties, no `type` or another than below) | a [`Fix`] in `locations` at `properties.timestamp` |
//! | `properties.action == "visit"` (the app) or `properties.type == "visit"` | a [`PlaceVisit`] in `visits` at its arrival, once both its arrival and departure are known |
//! | `properties.type == "trip"` | an [`ActivitySegment`] in `trips` at its start |
//! | any other `action` (`paused_location_updates`...) | acknowledged and dropped |
//!
//! A visit is reported twice by iOS: on arrival (departure unknown, `null`) and on departure.
//! Only the second is a whole visit; the first is dropped (the fixes say where the phone is).
//!
//! Overland's OwnTracks mode posts one bare OwnTracks object instead; such a body is handed to
//! [`crate::owntracks`].

use serde_json::Value;

use crate::location::{ActivitySegment, Fix, PlaceVisit};
use crate::owntracks::num;
use crate::records::{
    ClientNames, Row, Series, fix_doc, motion_activity, trip_activity, trip_doc, visit_doc,
};
use crate::registry::Seen;
use crate::time::parse_iso8601;

/// The source name in the documents.
pub const SOURCE: &str = "overland";

/// What a body holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    /// Fixes, visits and trips.
    pub rows: Vec<Row>,
    /// What the body told about the device.
    pub seen: Seen,
    /// Features dropped, with why (for the log).
    pub skipped: Vec<String>,
    /// Features acknowledged without storing anything (log actions, visits without departure).
    pub acknowledged: usize,
}

/// What a body is.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// An Overland batch.
    Batch(Parsed),
    /// A bare OwnTracks message (Overland's OwnTracks mode), to be read as OwnTracks.
    OwnTracks,
}

/// Parses a body, or says what is wrong with it (answered 400: Overland shows the message).
pub fn parse(body: &[u8], device: &str) -> Result<Body, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let Some(obj) = value.as_object() else {
        return Err("the body is not a JSON object with \"locations\"".into());
    };
    if obj.contains_key("_type") {
        return Ok(Body::OwnTracks);
    }
    let locations = obj
        .get("locations")
        .and_then(Value::as_array)
        .ok_or("the body has no \"locations\" array")?;
    let mut out = Parsed {
        seen: Seen {
            source: Some(SOURCE),
            ..Seen::default()
        },
        ..Parsed::default()
    };
    for feature in locations
        .iter()
        .chain(obj.get("current").filter(|c| c.is_object()))
    {
        match self::feature(feature, device) {
            Ok(Some((row, client))) => {
                out.seen.client = client.or(std::mem::take(&mut out.seen.client));
                out.rows.push(row);
            }
            Ok(None) => out.acknowledged += 1,
            Err(why) => out.skipped.push(why),
        }
    }
    Ok(Body::Batch(out))
}

fn time_of(v: Option<&Value>) -> Option<i64> {
    parse_iso8601(v?.as_str()?)
}

/// `[lon, lat]` of a Point geometry.
fn point(feature: &Value) -> Option<(f64, f64)> {
    let c = feature.get("geometry")?.get("coordinates")?.as_array()?;
    Some((num(c.get(1))?, num(c.first())?))
}

/// One Feature: the row it becomes with the app's device id, `None` for one that is only
/// acknowledged, or why it is dropped.
pub fn feature(f: &Value, device: &str) -> Result<Option<(Row, ClientNames)>, String> {
    let props = f
        .get("properties")
        .and_then(Value::as_object)
        .ok_or("a feature without properties")?;
    let client = ClientNames::new(None, props.get("device_id").and_then(Value::as_str));
    let action = props.get("action").and_then(Value::as_str);
    let kind = props.get("type").and_then(Value::as_str);
    if action == Some("visit") || kind == Some("visit") {
        return visit(f, props, device, &client).map(|r| r.map(|row| (row, client)));
    }
    if kind == Some("trip") {
        return trip(f, props, device, &client).map(|row| Some((row, client)));
    }
    // Log features (`paused_location_updates`...) carry an action and no new position. A
    // `type` other than trip or visit is not known to mean anything else: read as a location.
    if action.is_some() {
        return Ok(None);
    }
    let timestamp = time_of(props.get("timestamp")).ok_or("a location without a readable timestamp")?;
    let (lat, lon) = point(f).ok_or("a location without a point")?;
    let motions: Vec<&str> = props
        .get("motion")
        .and_then(Value::as_array)
        .map(|m| m.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // A car at a red light is both `driving` and `stationary`: the first other than
    // `stationary` says more.
    let activity = motions
        .iter()
        .find(|m| **m != "stationary")
        .or(motions.first())
        .map(|m| motion_activity(m));
    let fix = Fix {
        accuracy_m: num(props.get("horizontal_accuracy")),
        altitude_m: num(props.get("altitude")),
        speed_mps: num(props.get("speed")),
        course_deg: num(props.get("course")),
        activity,
        device: Some(device.to_owned()),
        ..Fix::new(lat, lon, SOURCE)
    }
    .without_invalid_readings();
    fix.validate()
        .map_err(|e| format!("a location with {}", e.reason()))?;
    Ok(Some((
        Row {
            series: Series::Locations,
            timestamp,
            doc: fix_doc(&fix, &client),
        },
        client,
    )))
}

fn visit(
    f: &Value,
    props: &serde_json::Map<String, Value>,
    device: &str,
    client: &ClientNames,
) -> Result<Option<Row>, String> {
    let (Some(start_ms), Some(end_ms)) = (
        time_of(props.get("arrival_date")),
        time_of(props.get("departure_date")),
    ) else {
        // On arrival iOS does not know the departure yet; the visit comes again when it does.
        return Ok(None);
    };
    let (lat, lon) = point(f).ok_or("a visit without a point")?;
    let visit = PlaceVisit {
        lat,
        lon,
        name: None,
        address: None,
        place_id: None,
        semantic_type: None,
        start_ms,
        end_ms,
        confidence: None,
        level: None,
        source: SOURCE.to_owned(),
    };
    visit
        .validate()
        .map_err(|e| format!("a visit with {}", e.reason()))?;
    Ok(Some(Row {
        series: Series::Visits,
        timestamp: start_ms,
        doc: visit_doc(&visit, device, num(props.get("horizontal_accuracy")), client),
    }))
}

/// `[lon, lat]` of a trip's end: a nested location Feature (the app) or a coordinate pair (the
/// 2015 `start-coordinates`).
fn end_point(
    props: &serde_json::Map<String, Value>,
    feature_key: &str,
    pair_key: &str,
) -> Option<(f64, f64)> {
    if let Some(f) = props.get(feature_key).filter(|f| f.is_object()) {
        return point(f);
    }
    let c = props.get(pair_key)?.as_array()?;
    Some((num(c.get(1))?, num(c.first())?))
}

fn trip(
    f: &Value,
    props: &serde_json::Map<String, Value>,
    device: &str,
    client: &ClientNames,
) -> Result<Row, String> {
    let start_ms = time_of(props.get("start")).ok_or("a trip without a readable start")?;
    let end_ms = time_of(props.get("end"))
        .or_else(|| time_of(props.get("timestamp")))
        .ok_or("a trip without a readable end")?;
    let start = end_point(props, "start_location", "start-coordinates");
    let end = end_point(props, "end_location", "end-coordinates").or_else(|| point(f));
    let trip = ActivitySegment {
        start_ms,
        end_ms,
        activity_type: trip_activity(props.get("mode").and_then(Value::as_str).unwrap_or("")),
        distance_m: num(props.get("distance")).filter(|d| *d >= 0.0),
        start_lat: start.map(|p| p.0),
        start_lon: start.map(|p| p.1),
        end_lat: end.map(|p| p.0),
        end_lon: end.map(|p| p.1),
        confidence: None,
        waypoints: Vec::new(),
        source: SOURCE.to_owned(),
    };
    trip.validate()
        .map_err(|e| format!("a trip with {}", e.reason()))?;
    let steps = num(props.get("steps")).filter(|s| *s >= 0.0).map(|s| s as u64);
    Ok(Row {
        series: Series::Trips,
        timestamp: start_ms,
        doc: trip_doc(&trip, device, steps, client),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn batch(v: Value) -> Parsed {
        match parse(v.to_string().as_bytes(), "phone").unwrap() {
            Body::Batch(p) => p,
            other => panic!("{other:?}"),
        }
    }

    fn location(ts: &str, lon: f64, lat: f64) -> Value {
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
               "properties": {"timestamp": ts, "horizontal_accuracy": 8, "speed": -1, "course": -1,
                              "altitude": 12, "motion": ["driving", "stationary"], "device_id": "iphone"}})
    }

    #[test]
    fn a_location_feature_becomes_a_fix() {
        let p = batch(json!({"locations": [location("2015-10-01T08:00:00-0700", -122.030581, 37.3318)]}));
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].timestamp, 1_443_711_600_000);
        assert_eq!(
            p.rows[0].doc,
            json!({"lat": 37.3318, "lon": -122.030581, "accuracy_m": 8.0, "altitude_m": 12.0,
                   "activity": "in_vehicle", "device": "phone", "source": "overland",
                   "client_device": "iphone"})
        );
        assert_eq!(p.seen.client.device.as_deref(), Some("iphone"));
        // A `type` the app may add one day does not make a point disappear.
        let mut typed = location("2015-10-01T08:00:00-0700", -122.030581, 37.3318);
        typed["properties"]["type"] = json!("location");
        assert_eq!(batch(json!({"locations": [typed]})).rows.len(), 1);
    }

    #[test]
    fn current_is_a_fix_too() {
        let p = batch(json!({"locations": [location("2024-01-01T00:00:00Z", 1.0, 2.0)],
                             "current": location("2024-01-02T00:00:00Z", 1.5, 2.5),
                             "trip": {"mode": "car", "start": "2024-01-01T00:00:00Z"}}));
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[1].timestamp, 1_704_153_600_000);
    }

    #[test]
    fn visits_are_kept_once_they_have_ended() {
        let visit = |departure: Value| {
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [13.4, 52.5]},
                   "properties": {"timestamp": "2024-05-01T12:00:00Z", "action": "visit",
                                  "arrival_date": "2024-05-01T09:00:00Z", "departure_date": departure,
                                  "horizontal_accuracy": 35}})
        };
        let p = batch(json!({"locations": [visit(Value::Null), visit(json!("2024-05-01T11:30:00Z"))]}));
        assert_eq!(p.acknowledged, 1);
        assert_eq!(p.rows.len(), 1);
        assert_eq!(p.rows[0].series, Series::Visits);
        assert_eq!(p.rows[0].timestamp, 1_714_554_000_000);
        assert_eq!(
            p.rows[0].doc,
            json!({"lat": 52.5, "lon": 13.4, "start_ms": 1_714_554_000_000i64, "end_ms": 1_714_563_000_000i64,
                   "source": "overland", "device": "phone", "accuracy_m": 35.0})
        );
    }

    #[test]
    fn trips_become_activity_segments() {
        let start = location("2024-05-01T09:00:00Z", 13.4, 52.5);
        let end = location("2024-05-01T09:30:00Z", 13.5, 52.6);
        let p = batch(json!({"locations": [{"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [13.5, 52.6]},
            "properties": {"timestamp": "2024-05-01T09:30:00Z", "type": "trip", "mode": "bicycle",
                           "start": "2024-05-01T09:00:00Z", "end": "2024-05-01T09:30:00Z",
                           "start_location": start, "end_location": end, "duration": 1800,
                           "distance": 6400.5, "stopped_automatically": false, "steps": 0}}]}));
        assert_eq!(p.rows[0].series, Series::Trips);
        assert_eq!(p.rows[0].timestamp, 1_714_554_000_000);
        assert_eq!(
            p.rows[0].doc,
            json!({"start_ms": 1_714_554_000_000i64, "end_ms": 1_714_555_800_000i64, "activity_type": "cycling",
                   "distance_m": 6400.5, "start_lat": 52.5, "start_lon": 13.4, "end_lat": 52.6,
                   "end_lon": 13.5, "source": "overland", "device": "phone"})
        );
    }

    #[test]
    fn log_actions_are_acknowledged_and_bad_features_skipped() {
        let p = batch(json!({"locations": [
            {"type": "Feature", "properties": {"timestamp": "2024-01-01T00:00:00Z", "action": "paused_location_updates"}},
            {"type": "Feature", "properties": {"timestamp": "yesterday"}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
            {"type": "Feature", "properties": {"timestamp": "2024-01-01T00:00:00Z"}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}},
            location("2024-01-01T00:00:00Z", 200.0, 2.0)
        ]}));
        assert!(p.rows.is_empty());
        assert_eq!(p.acknowledged, 1);
        assert_eq!(p.skipped.len(), 4, "{:?}", p.skipped);
    }

    #[test]
    fn what_is_not_a_batch_is_said_so() {
        assert!(parse(b"nope", "d").unwrap_err().contains("not JSON"));
        assert!(parse(b"[]", "d").unwrap_err().contains("object"));
        assert!(parse(b"{}", "d").unwrap_err().contains("locations"));
        assert_eq!(
            parse(br#"{"_type":"location","lat":1,"lon":2,"tst":3}"#, "d").unwrap(),
            Body::OwnTracks
        );
    }
}
