//! Workout routes: the GPX files of `workout-routes/` and the inline `<Location>` points of older
//! exports, as compact points until the workout's document is built.

use std::io::Read;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::bytes::CleanReader;
use super::text;

/// One point of a route.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RoutePoint {
    /// When (epoch ms), if the point says.
    pub(crate) time: Option<i64>,
    pub(crate) latitude: f64,
    pub(crate) longitude: f64,
    pub(crate) elevation: Option<f64>,
}

impl RoutePoint {
    /// The point as it appears in the workout document: `{"t", "lat", "lon", "ele"}`.
    pub(crate) fn to_json(self) -> Value {
        let mut point = Map::new();
        point.insert("t".into(), self.time.map_or(Value::Null, Value::from));
        point.insert("lat".into(), json_number(self.latitude));
        point.insert("lon".into(), json_number(self.longitude));
        if let Some(elevation) = self.elevation {
            point.insert("ele".into(), json_number(elevation));
        }
        Value::Object(point)
    }

    /// A point from the attributes of an inline `<Location date= latitude= longitude= altitude=>`.
    pub(crate) fn from_location(element: &BytesStart<'_>) -> Option<RoutePoint> {
        let (mut time, mut latitude, mut longitude, mut elevation) = (None, None, None, None);
        for (key, value) in text::attributes(element).map_while(Result::ok) {
            match key {
                b"date" => time = text::apple_date(value),
                b"latitude" => latitude = text::number(value),
                b"longitude" => longitude = text::number(value),
                b"altitude" => elevation = text::number(value),
                _ => {}
            }
        }
        valid_point(time, latitude?, longitude?, elevation)
    }
}

fn json_number(value: f64) -> Value {
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn valid_point(
    time: Option<i64>,
    latitude: f64,
    longitude: f64,
    elevation: Option<f64>,
) -> Option<RoutePoint> {
    ((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)).then_some(RoutePoint {
        time,
        latitude,
        longitude,
        elevation,
    })
}

/// How reading a GPX file went.
pub(crate) enum GpxOutcome {
    /// Every point was read.
    Complete,
    /// The route had more points than `limit`; the rest were dropped.
    CutAtLimit,
}

/// Which text the reader is inside.
#[derive(Clone, Copy, PartialEq)]
enum Inside {
    Nothing,
    Elevation,
    Time,
}

/// Reads the track points of a GPX file into `points`, at most `limit` in all. The file streams:
/// a long route costs its points, not its file.
pub(crate) fn read_gpx(
    file: impl Read,
    limit: usize,
    points: &mut Vec<RoutePoint>,
) -> Result<GpxOutcome, quick_xml::Error> {
    let mut reader = Reader::from_reader(CleanReader::new(file));
    let config = reader.config_mut();
    config.check_end_names = false;
    config.allow_unmatched_ends = true;
    config.allow_dangling_amp = true;
    let mut buffer = Vec::with_capacity(512);
    let mut current: Option<RoutePoint> = None;
    let mut inside = Inside::Nothing;
    loop {
        match reader.read_event_into(&mut buffer)? {
            Event::Start(element) if is_track_point(&element) => current = track_point(&element),
            Event::Empty(element) if is_track_point(&element) => {
                // A point without children: no time, no elevation.
                if let Some(point) = track_point(&element) {
                    if points.len() >= limit {
                        return Ok(GpxOutcome::CutAtLimit);
                    }
                    points.push(point);
                }
            }
            Event::Start(element) => {
                inside = match element.local_name().as_ref() {
                    b"ele" if current.is_some() => Inside::Elevation,
                    b"time" if current.is_some() => Inside::Time,
                    _ => Inside::Nothing,
                };
            }
            Event::Text(content) => {
                if let Some(point) = current.as_mut() {
                    match inside {
                        Inside::Elevation => point.elevation = text::number(content.as_ref()),
                        Inside::Time => point.time = text::iso_time(content.as_ref()),
                        Inside::Nothing => {}
                    }
                }
            }
            Event::End(element) => {
                inside = Inside::Nothing;
                if matches!(element.local_name().as_ref(), b"trkpt" | b"rtept")
                    && let Some(point) = current.take()
                {
                    if points.len() >= limit {
                        return Ok(GpxOutcome::CutAtLimit);
                    }
                    points.push(point);
                }
            }
            Event::Eof => return Ok(GpxOutcome::Complete),
            _ => {}
        }
        buffer.clear();
    }
}

fn is_track_point(element: &BytesStart<'_>) -> bool {
    matches!(element.local_name().as_ref(), b"trkpt" | b"rtept")
}

fn track_point(element: &BytesStart<'_>) -> Option<RoutePoint> {
    let (mut latitude, mut longitude) = (None, None);
    for (key, value) in text::attributes(element).map_while(Result::ok) {
        match key {
            b"lat" => latitude = text::number(value),
            b"lon" => longitude = text::number(value),
            _ => {}
        }
    }
    valid_point(None, latitude?, longitude?, None)
}
