//! The box's one way of writing down where someone was: every location source (the Google
//! importers, the phone-location driver) writes these shapes, and the places app reads them.
//!
//! Three blob series, one document per point:
//!
//! - [`LOCATION_DATASOURCE`] (`locations`): a [`Fix`], one position of a device at the point's
//!   timestamp.
//! - [`PLACE_VISIT_DATASOURCE`] (`place-visits`): a [`PlaceVisit`], time spent at one place; the
//!   point's timestamp is the visit's start.
//! - [`ACTIVITY_SEGMENT_DATASOURCE`] (`activity-segments`): an [`ActivitySegment`], a stretch of
//!   moving (walking, driving); the point's timestamp is the segment's start.
//!
//! Numbers are SI units with the unit in the field's name; coordinates are WGS84 degrees; times
//! inside documents are epoch milliseconds; optional fields are left out when unknown, never
//! written as `null`. Readers should ignore fields they do not know: new optional fields may be
//! added.
//!
//! This crate depends on nothing but serde, so that the WebAssembly components that write and
//! read locations (phone-location, places-summary) use it as they are, beside the importers.

use serde::{Deserialize, Serialize};

/// The datasource of position fixes ([`Fix`] documents).
pub const LOCATION_DATASOURCE: &str = "locations";
/// The datasource of place visits ([`PlaceVisit`] documents).
pub const PLACE_VISIT_DATASOURCE: &str = "place-visits";
/// The datasource of activity segments ([`ActivitySegment`] documents).
pub const ACTIVITY_SEGMENT_DATASOURCE: &str = "activity-segments";

/// A location series: its datasource and the catalogue metadata it is created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Series {
    /// The datasource id.
    pub datasource: &'static str,
    /// The catalogue type.
    pub r#type: &'static str,
    /// A sentence for the owner.
    pub description: &'static str,
}

/// The series of position fixes.
pub const LOCATIONS: Series = Series {
    datasource: LOCATION_DATASOURCE,
    r#type: "location",
    description: "Where a device was: one position fix per point (latitude, longitude and, when \
                  known, accuracy, altitude, speed, course and activity).",
};

/// The series of place visits.
pub const PLACE_VISITS: Series = Series {
    datasource: PLACE_VISIT_DATASOURCE,
    r#type: "place-visit",
    description: "Time spent at a place: where, which place if known, from when to when.",
};

/// The series of activity segments.
pub const ACTIVITY_SEGMENTS: Series = Series {
    datasource: ACTIVITY_SEGMENT_DATASOURCE,
    r#type: "activity-segment",
    description: "A stretch of moving between places: how (walking, cycling, driving...), from \
                  when to when, from where to where and how far.",
};

/// One position of a device, the document of a point of [`LOCATION_DATASOURCE`]; the point's
/// timestamp says when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    /// Latitude, degrees (WGS84), -90..=90.
    pub lat: f64,
    /// Longitude, degrees (WGS84), -180..=180.
    pub lon: f64,
    /// Horizontal accuracy: the radius in metres around the position the device is probably in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
    /// Altitude in metres (above the WGS84 ellipsoid or sea level, as the device reports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude_m: Option<f64>,
    /// Ground speed in metres per second, >= 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_mps: Option<f64>,
    /// Course over ground in degrees clockwise from true north, 0..360.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub course_deg: Option<f64>,
    /// What the person was doing, as an [`activity_name`] (`walking`, `in_vehicle`, `still`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<String>,
    /// The device that took the fix, as the source identifies it (an opaque string: Google's
    /// device tags do not always fit a 64-bit integer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// How the device found the position, lowercase: `gps`, `wifi`, `cell`, `network`...
    /// Not in the first version of this shape; added because Google records and phone apps
    /// report it and it says how far to trust a fix beyond its accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Which importer or driver wrote the fix (`google-records`, `google-semantic`,
    /// `google-timeline`, `owntracks`...).
    pub source: String,
}

impl Fix {
    /// A fix with a position and a source and nothing else known; set the other fields after,
    /// or with `Fix { accuracy_m: Some(5.0), ..Fix::new(lat, lon, "owntracks") }`.
    pub fn new(lat: f64, lon: f64, source: impl Into<String>) -> Fix {
        Fix {
            lat,
            lon,
            accuracy_m: None,
            altitude_m: None,
            speed_mps: None,
            course_deg: None,
            activity: None,
            device: None,
            provider: None,
            source: source.into(),
        }
    }

    /// Drops the optional readings that are out of range rather than refusing the whole fix: a
    /// negative accuracy, speed or course means "unknown" on several platforms (Overland and iOS
    /// send -1), and a bad altitude should not cost a good position. A course of 360 or more
    /// is folded into 0..360. Empty strings become `None`.
    pub fn without_invalid_readings(mut self) -> Fix {
        let keep = |v: Option<f64>, ok: fn(f64) -> bool| v.filter(|x| x.is_finite() && ok(*x));
        self.accuracy_m = keep(self.accuracy_m, |x| x >= 0.0);
        self.altitude_m = keep(self.altitude_m, |_| true);
        self.speed_mps = keep(self.speed_mps, |x| x >= 0.0);
        self.course_deg = keep(self.course_deg, |x| x >= 0.0).map(|x| x % 360.0);
        for text in [&mut self.activity, &mut self.device, &mut self.provider] {
            if text.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *text = None;
            }
        }
        self
    }

    /// Checks the fix: the position (see [`check_position`]; a fix at exactly 0,0 is accepted only
    /// with an accuracy above zero, see [`LocationError::NullIsland`]), finite optional readings
    /// in range, a source.
    pub fn validate(&self) -> Result<(), LocationError> {
        check_position(self.lat, self.lon)?;
        if self.lat == 0.0 && self.lon == 0.0 && !self.accuracy_m.is_some_and(|a| a > 0.0) {
            return Err(LocationError::NullIsland);
        }
        check_optional("accuracy_m", self.accuracy_m, |x| x >= 0.0)?;
        check_optional("altitude_m", self.altitude_m, |_| true)?;
        check_optional("speed_mps", self.speed_mps, |x| x >= 0.0)?;
        check_optional("course_deg", self.course_deg, |x| (0.0..360.0).contains(&x))?;
        check_source(&self.source)
    }
}

/// Time spent at one place, the document of a point of [`PLACE_VISIT_DATASOURCE`] whose
/// timestamp is `start_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceVisit {
    /// Latitude of the place, degrees.
    pub lat: f64,
    /// Longitude of the place, degrees.
    pub lon: f64,
    /// The place's name, if the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The place's address, if the source knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The source's id of the place (a Google place id), stable across visits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub place_id: Option<String>,
    /// What the place is to the person, as the source labels it (`TYPE_HOME`, `INFERRED_WORK`,
    /// `Home`...), verbatim: the sources' vocabularies differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semantic_type: Option<String>,
    /// When the visit began, epoch ms.
    pub start_ms: i64,
    /// When it ended, epoch ms, >= `start_ms`.
    pub end_ms: i64,
    /// How sure the source is that the visit happened, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Nesting: 0 for a visit at top level, more for a visit inside another one (a shop inside a
    /// mall), which overlaps its parent in time; sum time spent over one level only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// Which importer or driver wrote it.
    pub source: String,
}

impl PlaceVisit {
    /// Checks the visit: a valid position that is not exactly 0,0 (a visit has no accuracy to
    /// vouch for it), an end not before the start, a confidence in 0..=1, a source.
    pub fn validate(&self) -> Result<(), LocationError> {
        check_position(self.lat, self.lon)?;
        if self.lat == 0.0 && self.lon == 0.0 {
            return Err(LocationError::NullIsland);
        }
        if self.end_ms < self.start_ms {
            return Err(LocationError::EndsBeforeStart);
        }
        check_optional("confidence", self.confidence, |x| (0.0..=1.0).contains(&x))?;
        check_source(&self.source)
    }
}

/// A stretch of moving, the document of a point of [`ACTIVITY_SEGMENT_DATASOURCE`] whose timestamp
/// is `start_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivitySegment {
    /// When it began, epoch ms.
    pub start_ms: i64,
    /// When it ended, epoch ms, >= `start_ms`.
    pub end_ms: i64,
    /// How the person moved, as an [`activity_name`] (`walking`, `cycling`,
    /// `in_passenger_vehicle`...); `unknown` when the source does not say.
    pub activity_type: String,
    /// Distance covered in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
    /// Latitude where it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lat: Option<f64>,
    /// Longitude where it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lon: Option<f64>,
    /// Latitude where it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_lat: Option<f64>,
    /// Longitude where it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_lon: Option<f64>,
    /// How sure the source is of `activity_type`, 0..=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The route as `[lat, lon]` pairs in order, when the source has it only without times
    /// (Google's inferred waypoints); route points with times are [`Fix`]es in
    /// [`LOCATION_DATASOURCE`] instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waypoints: Vec<[f64; 2]>,
    /// Which importer or driver wrote it.
    pub source: String,
}

impl ActivitySegment {
    /// Checks the segment: an end not before the start, an activity type, a distance that is
    /// finite and not negative, each end either with both coordinates valid or without any,
    /// valid waypoints, a confidence in 0..=1, a source.
    pub fn validate(&self) -> Result<(), LocationError> {
        if self.end_ms < self.start_ms {
            return Err(LocationError::EndsBeforeStart);
        }
        if self.activity_type.trim().is_empty() {
            return Err(LocationError::Missing("activity_type"));
        }
        check_optional("distance_m", self.distance_m, |x| x >= 0.0)?;
        for (lat, lon) in [(self.start_lat, self.start_lon), (self.end_lat, self.end_lon)] {
            match (lat, lon) {
                (Some(lat), Some(lon)) => check_position(lat, lon)?,
                (None, None) => {}
                _ => return Err(LocationError::Missing("the other coordinate of an end")),
            }
        }
        for [lat, lon] in &self.waypoints {
            check_position(*lat, *lon)?;
        }
        check_optional("confidence", self.confidence, |x| (0.0..=1.0).contains(&x))?;
        check_source(&self.source)
    }
}

/// Why a location document is not valid.
#[derive(Clone, Debug, PartialEq)]
pub enum LocationError {
    /// The latitude is not a finite number in -90..=90.
    Latitude(f64),
    /// The longitude is not a finite number in -180..=180.
    Longitude(f64),
    /// The position is exactly 0,0 ("null island", in the Gulf of Guinea), which is almost
    /// always a placeholder a device sends before it has a fix (OwnTracks beacon transitions,
    /// GPS chips at start-up), not a position. A fix there is accepted only when it carries an
    /// accuracy above zero, which a placeholder does not; a place visit never.
    NullIsland,
    /// An optional number is not finite or out of its range (the field's name).
    OutOfRange(&'static str),
    /// A required field is missing or empty (the field's name).
    Missing(&'static str),
    /// The end is before the start.
    EndsBeforeStart,
}

impl LocationError {
    /// A short phrase without the data, for skip counts ("coordinates out of range").
    pub fn reason(&self) -> &'static str {
        match self {
            LocationError::Latitude(_) | LocationError::Longitude(_) => "coordinates out of range",
            LocationError::NullIsland => "coordinates 0,0 without accuracy",
            LocationError::OutOfRange(_) => "a reading out of range",
            LocationError::Missing(_) => "a required field missing",
            LocationError::EndsBeforeStart => "an end before its start",
        }
    }
}

impl std::fmt::Display for LocationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocationError::Latitude(v) => write!(f, "latitude {v} is not within -90..=90"),
            LocationError::Longitude(v) => write!(f, "longitude {v} is not within -180..=180"),
            LocationError::NullIsland => write!(f, "position 0,0 without an accuracy (a placeholder)"),
            LocationError::OutOfRange(field) => write!(f, "{field} is out of range"),
            LocationError::Missing(field) => write!(f, "{field} is missing"),
            LocationError::EndsBeforeStart => write!(f, "ends before it starts"),
        }
    }
}

impl std::error::Error for LocationError {}

/// Checks a position: finite, latitude in -90..=90, longitude in -180..=180.
pub fn check_position(lat: f64, lon: f64) -> Result<(), LocationError> {
    if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
        return Err(LocationError::Latitude(lat));
    }
    if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
        return Err(LocationError::Longitude(lon));
    }
    Ok(())
}

/// The box's name of an activity, whatever the source's spelling: lowercase, with spaces and
/// hyphens as underscores, so that Google's `IN_PASSENGER_VEHICLE`, the iOS export's
/// `in passenger vehicle` and a phone app's `in-passenger-vehicle` are the same word.
pub fn activity_name(raw: &str) -> String {
    raw.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn check_optional(field: &'static str, v: Option<f64>, ok: fn(f64) -> bool) -> Result<(), LocationError> {
    match v {
        Some(x) if !(x.is_finite() && ok(x)) => Err(LocationError::OutOfRange(field)),
        _ => Ok(()),
    }
}

fn check_source(source: &str) -> Result<(), LocationError> {
    if source.trim().is_empty() {
        Err(LocationError::Missing("source"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fix_leaves_out_what_is_unknown() {
        let fix = Fix {
            accuracy_m: Some(12.0),
            ..Fix::new(51.5, -0.12, "test")
        };
        let json = serde_json::to_value(&fix).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"lat": 51.5, "lon": -0.12, "accuracy_m": 12.0, "source": "test"})
        );
        assert_eq!(serde_json::from_value::<Fix>(json).unwrap(), fix);
    }

    #[test]
    fn positions_are_checked() {
        assert!(Fix::new(90.0, 180.0, "t").validate().is_ok());
        assert!(Fix::new(-90.0, -180.0, "t").validate().is_ok());
        assert_eq!(
            Fix::new(90.5, 0.0, "t").validate(),
            Err(LocationError::Latitude(90.5))
        );
        assert_eq!(
            Fix::new(1.0, -180.1, "t").validate(),
            Err(LocationError::Longitude(-180.1))
        );
        assert_eq!(
            Fix::new(f64::NAN, 0.0, "t").validate().unwrap_err().reason(),
            "coordinates out of range"
        );
        assert_eq!(Fix::new(0.0, 0.0, "t").validate(), Err(LocationError::NullIsland));
        let placeholder = Fix {
            accuracy_m: Some(0.0),
            ..Fix::new(0.0, 0.0, "t")
        };
        assert_eq!(placeholder.validate(), Err(LocationError::NullIsland));
        assert!(
            Fix {
                accuracy_m: Some(8.0),
                ..Fix::new(0.0, 0.0, "t")
            }
            .validate()
            .is_ok()
        );
        assert_eq!(
            Fix::new(1.0, 1.0, " ").validate(),
            Err(LocationError::Missing("source"))
        );
    }

    #[test]
    fn bad_readings_are_dropped_not_the_fix() {
        let fix = Fix {
            accuracy_m: Some(-1.0),
            speed_mps: Some(-1.0),
            course_deg: Some(360.0),
            altitude_m: Some(f64::INFINITY),
            device: Some(String::new()),
            ..Fix::new(1.0, 2.0, "t")
        };
        assert_eq!(fix.validate(), Err(LocationError::OutOfRange("accuracy_m")));
        let fix = fix.without_invalid_readings();
        assert_eq!(
            fix,
            Fix {
                course_deg: Some(0.0),
                ..Fix::new(1.0, 2.0, "t")
            }
        );
        assert!(fix.validate().is_ok());
    }

    #[test]
    fn visits_and_segments_are_checked() {
        let visit = PlaceVisit {
            lat: 1.0,
            lon: 2.0,
            name: None,
            address: None,
            place_id: None,
            semantic_type: None,
            start_ms: 10,
            end_ms: 5,
            confidence: None,
            level: None,
            source: "t".into(),
        };
        assert_eq!(visit.validate(), Err(LocationError::EndsBeforeStart));
        assert!(
            PlaceVisit {
                end_ms: 10,
                ..visit.clone()
            }
            .validate()
            .is_ok()
        );
        let half = ActivitySegment {
            start_ms: 1,
            end_ms: 2,
            activity_type: "walking".into(),
            distance_m: None,
            start_lat: Some(1.0),
            start_lon: None,
            end_lat: None,
            end_lon: None,
            confidence: None,
            waypoints: vec![],
            source: "t".into(),
        };
        assert!(half.validate().is_err());
        assert!(
            ActivitySegment {
                start_lat: None,
                ..half
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn activity_names_agree() {
        assert_eq!(activity_name("IN_PASSENGER_VEHICLE"), "in_passenger_vehicle");
        assert_eq!(activity_name(" in passenger vehicle"), "in_passenger_vehicle");
        assert_eq!(activity_name("in-passenger-vehicle"), "in_passenger_vehicle");
    }
}
