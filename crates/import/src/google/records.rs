//! Takeout `Records.json`: `{"locations": [record, ...]}`, one raw location record per element,
//! read field by field straight from the stream.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::stream::{ExactId, Keyed, Scalar};
use super::values::{activity_of, e7_degrees};
use super::{Ctx, Variant};
use crate::ImportError;
use crate::location::{Fix, LOCATIONS, activity_name};

/// The `source` of the fixes from `Records.json`.
pub(crate) const SOURCE: &str = "google-records";

/// The fields of a record the box keeps.
enum Field {
    LatitudeE7,
    LongitudeE7,
    Accuracy,
    Altitude,
    Velocity,
    Heading,
    Timestamp,
    TimestampMs,
    Source,
    DeviceTag,
    /// `activity`, or `activitys` in the oldest exports.
    Activity,
    Other,
}

impl Field {
    fn of(key: &str) -> Field {
        match key {
            "latitudeE7" => Field::LatitudeE7,
            "longitudeE7" => Field::LongitudeE7,
            "accuracy" => Field::Accuracy,
            "altitude" => Field::Altitude,
            "velocity" => Field::Velocity,
            "heading" => Field::Heading,
            "timestamp" => Field::Timestamp,
            "timestampMs" => Field::TimestampMs,
            "source" => Field::Source,
            "deviceTag" => Field::DeviceTag,
            "activity" | "activitys" => Field::Activity,
            _ => Field::Other,
        }
    }
}

/// A record as read, before it is checked.
#[derive(Default)]
struct Raw {
    lat_e7: Option<Scalar>,
    lon_e7: Option<Scalar>,
    accuracy: Option<Scalar>,
    altitude: Option<Scalar>,
    velocity: Option<Scalar>,
    heading: Option<Scalar>,
    timestamp: Option<Scalar>,
    timestamp_ms: Option<Scalar>,
    source: Option<Scalar>,
    device: Option<String>,
    activity: Option<Value>,
    /// Whether any key only a Google location record has was seen.
    google: bool,
}

/// One element of `locations`.
pub(crate) struct RecordSeed<'c, 'a> {
    pub(crate) ctx: &'c mut Ctx<'a>,
    /// The list's first element, which decides whether the list is Google's at all.
    pub(crate) first: bool,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl RecordSeed<'_, '_> {
    fn not_an_object<E: de::Error>(self) -> Result<(), E> {
        if self.first {
            return Err(self.ctx.reject(not_google()));
        }
        self.ctx.skip("location record that is not an object");
        Ok(())
    }
}

fn not_google() -> String {
    "a `locations` list whose first element is not a Google location record (no latitudeE7, \
     longitudeE7, timestamp or timestampMs): expected Takeout's Records.json"
        .into()
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a location record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut raw = Raw::default();
        while let Some(field) = map.next_key_seed(Keyed(Field::of))? {
            let slot = match field {
                Field::LatitudeE7 => &mut raw.lat_e7,
                Field::LongitudeE7 => &mut raw.lon_e7,
                Field::Accuracy => &mut raw.accuracy,
                Field::Altitude => &mut raw.altitude,
                Field::Velocity => &mut raw.velocity,
                Field::Heading => &mut raw.heading,
                Field::Timestamp => &mut raw.timestamp,
                Field::TimestampMs => &mut raw.timestamp_ms,
                Field::Source => &mut raw.source,
                Field::DeviceTag => {
                    raw.device = map.next_value_seed(ExactId(&self.ctx.tap))?;
                    continue;
                }
                Field::Activity => {
                    raw.activity = Some(map.next_value()?);
                    continue;
                }
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = Some(map.next_value()?);
            raw.google |= matches!(
                field,
                Field::LatitudeE7 | Field::LongitudeE7 | Field::Timestamp | Field::TimestampMs
            );
        }
        if self.first {
            if !raw.google {
                return Err(self.ctx.reject(not_google()));
            }
            self.ctx.recognise(Variant::Records);
        }
        record(self.ctx, raw).map_err(|e| self.ctx.fail(e))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        self.not_an_object()
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_an_object()
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_an_object()
    }
}

/// Checks a record and hands its fix on, or counts why not.
fn record(ctx: &mut Ctx, raw: Raw) -> Result<(), ImportError> {
    let number = |s: &Option<Scalar>| s.as_ref().and_then(Scalar::as_f64);
    let (Some(lat_e7), Some(lon_e7)) = (number(&raw.lat_e7), number(&raw.lon_e7)) else {
        ctx.skip("location record without coordinates");
        return Ok(());
    };
    let timestamp = match timestamp(&raw) {
        Ok(t) => t,
        Err(reason) => {
            ctx.skip(reason);
            return Ok(());
        }
    };
    let fix = Fix {
        accuracy_m: number(&raw.accuracy),
        altitude_m: number(&raw.altitude),
        speed_mps: number(&raw.velocity),
        course_deg: number(&raw.heading),
        activity: raw.activity.as_ref().and_then(first_activity),
        device: raw.device,
        provider: raw
            .source
            .as_ref()
            .and_then(Scalar::as_str)
            .map(str::to_ascii_lowercase),
        ..Fix::new(e7_degrees(lat_e7, true), e7_degrees(lon_e7, false), SOURCE)
    }
    .without_invalid_readings();
    if let Err(e) = fix.validate() {
        ctx.skip(&format!("location record with {}", e.reason()));
        return Ok(());
    }
    ctx.emit(&LOCATIONS, timestamp, &fix)
}

/// The record's time: its RFC 3339 `timestamp` (exports from 2022 on), else its `timestampMs`
/// (a string of epoch milliseconds, before); either one readable is enough.
fn timestamp(raw: &Raw) -> Result<i64, &'static str> {
    let iso = raw
        .timestamp
        .as_ref()
        .map(|t| t.as_str().and_then(super::time::parse_rfc3339_ms));
    let ms = raw.timestamp_ms.as_ref().map(Scalar::as_i64);
    match (iso, ms) {
        (Some(Some(t)), _) | (_, Some(Some(t))) => Ok(t),
        (None, None) => Err("location record without a timestamp"),
        _ => Err("location record with an unparseable timestamp"),
    }
}

/// The most confident activity of the record's first activity reading (the one closest to the
/// record's time); the first of equals wins.
fn first_activity(activity: &Value) -> Option<String> {
    let first = activity.as_array()?.first()?;
    activity_of(
        first.get("activity").or_else(|| first.get("activities"))?,
        "type",
        "confidence",
    )
    .map(|raw| activity_name(&raw))
}
