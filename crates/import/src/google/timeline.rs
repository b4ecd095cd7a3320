//! The Timeline export made on the phone since 2024, when Google moved location history off its
//! servers: Android's `Timeline.json` (`{"semanticSegments": [...], "rawSignals": [...],
//! "userLocationProfile": {...}}`) and the iOS export (a top-level list of the same segments, with
//! `"geo:lat,lng"` positions and numbers written as strings).

use serde_json::Value;

use super::Ctx;
use super::values::{When, activity_of, at, instant, iso_when, num, span, text, text_point};
use crate::ImportError;
use crate::location::{
    ACTIVITY_SEGMENTS, ActivitySegment, Fix, LOCATIONS, PLACE_VISITS, PlaceVisit, activity_name,
    check_position,
};

/// The `source` of what comes from a Timeline export.
pub(crate) const SOURCE: &str = "google-timeline";

/// The kinds of segment (one segment may hold several: Android puts a visit's path beside it).
const KINDS: [&str; 4] = ["visit", "activity", "timelinePath", "timelineMemory"];

/// Whether `v` is a Timeline segment: an object with a start or end time and one of the kinds.
pub(crate) fn looks_like_segment(v: &Value) -> bool {
    v.is_object()
        && (v.get("startTime").is_some() || v.get("endTime").is_some())
        && KINDS.iter().any(|k| v.get(k).is_some())
}

/// One segment: a visit, an activity, a path, a memory, or several of them.
pub(crate) fn segment(ctx: &mut Ctx, segment: &Value) -> Result<(), ImportError> {
    if !segment.is_object() {
        ctx.skip("timeline segment that is not an object");
        return Ok(());
    }
    let start = iso_when(Some(segment), "startTime");
    let times = span(start, iso_when(Some(segment), "endTime"));
    if let Some(v) = segment.get("visit") {
        visit(ctx, v, times)?;
    }
    if let Some(a) = segment.get("activity") {
        activity(ctx, a, times)?;
    }
    if let Some(path) = segment.get("timelinePath") {
        timeline_path(ctx, path, start)?;
    }
    if segment.get("timelineMemory").is_some() {
        // A summary of a trip (destinations, distance) made of the segments around it.
        ctx.skip("timeline memory (trip summary)");
    }
    if !KINDS.iter().any(|k| segment.get(k).is_some()) {
        ctx.skip("timeline segment of unknown kind");
    }
    Ok(())
}

fn visit(ctx: &mut Ctx, visit: &Value, times: Result<(i64, i64), &str>) -> Result<(), ImportError> {
    let candidate = visit.get("topCandidate");
    let position = candidate
        .and_then(|c| c.get("placeLocation"))
        .and_then(text_point);
    let (Some((lat, lon)), Ok((start_ms, end_ms))) = (position, times) else {
        match times {
            Err(reason) if position.is_some() => ctx.skip(&format!("timeline visit {reason}")),
            _ => ctx.skip("timeline visit without coordinates"),
        }
        return Ok(());
    };
    let field = |key: &str| text(candidate.and_then(|c| c.get(key)));
    let place = PlaceVisit {
        lat,
        lon,
        name: None,
        address: None,
        // iOS spells it `placeID`.
        place_id: field("placeId").or_else(|| field("placeID")),
        semantic_type: field("semanticType"),
        start_ms,
        end_ms,
        confidence: num(visit.get("probability")).filter(|p| (0.0..=1.0).contains(p)),
        level: num(visit.get("hierarchyLevel"))
            .filter(|l| *l >= 0.0 && l.fract() == 0.0 && *l <= f64::from(u32::MAX))
            .map(|l| l as u32),
        source: SOURCE.to_owned(),
    };
    match place.validate() {
        Ok(()) => ctx.emit(&PLACE_VISITS, start_ms, &place),
        Err(e) => {
            ctx.skip(&format!("timeline visit with {}", e.reason()));
            Ok(())
        }
    }
}

fn activity(ctx: &mut Ctx, activity: &Value, times: Result<(i64, i64), &str>) -> Result<(), ImportError> {
    let (start_ms, end_ms) = match times {
        Ok(times) => times,
        Err(reason) => {
            ctx.skip(&format!("timeline activity {reason}"));
            return Ok(());
        }
    };
    let end = |key: &str| {
        let point = text_point(activity.get(key)?)?;
        if check_position(point.0, point.1).is_err() {
            ctx.skip("timeline activity end with coordinates out of range");
            return None;
        }
        Some(point)
    };
    let (start, finish) = (end("start"), end("end"));
    let candidate = activity.get("topCandidate");
    let doc = ActivitySegment {
        start_ms,
        end_ms,
        activity_type: activity_name(
            &text(candidate.and_then(|c| c.get("type"))).unwrap_or("unknown".into()),
        ),
        distance_m: num(activity.get("distanceMeters")).filter(|d| *d >= 0.0),
        start_lat: start.map(|p| p.0),
        start_lon: start.map(|p| p.1),
        end_lat: finish.map(|p| p.0),
        end_lon: finish.map(|p| p.1),
        confidence: num(candidate.and_then(|c| c.get("probability"))).filter(|p| (0.0..=1.0).contains(p)),
        waypoints: Vec::new(),
        source: SOURCE.to_owned(),
    };
    match doc.validate() {
        Ok(()) => ctx.emit(&ACTIVITY_SEGMENTS, start_ms, &doc),
        Err(e) => {
            ctx.skip(&format!("timeline activity with {}", e.reason()));
            Ok(())
        }
    }
}

/// The points of a path. Android gives each its `time`; iOS gives minutes after the segment's
/// start (`durationMinutesOffsetFromStartTime`).
fn timeline_path(ctx: &mut Ctx, path: &Value, start: When) -> Result<(), ImportError> {
    let Some(points) = path.as_array() else {
        ctx.skip("timeline path that is not a list");
        return Ok(());
    };
    for point in points {
        let Some((lat, lon)) = point.get("point").and_then(text_point) else {
            ctx.skip("timeline path point without coordinates");
            continue;
        };
        let time = match (
            iso_when(Some(point), "time"),
            num(point.get("durationMinutesOffsetFromStartTime")),
            start,
        ) {
            (When::Missing, Some(minutes), When::At(start)) => {
                When::At(start + (minutes * 60_000.0).round() as i64)
            }
            (When::Missing, Some(_), _) => start,
            (time, ..) => time,
        };
        let timestamp = match instant(time) {
            Ok(t) => t,
            Err(reason) => {
                ctx.skip(&format!("timeline path point {reason}"));
                continue;
            }
        };
        let fix = Fix::new(lat, lon, SOURCE);
        match fix.validate() {
            Ok(()) => ctx.emit(&LOCATIONS, timestamp, &fix)?,
            Err(e) => ctx.skip(&format!("timeline path point with {}", e.reason())),
        }
    }
    Ok(())
}

/// One of Android's raw signals: a position (with the activity recorded beside it, if any)
/// becomes a fix; activity records and Wi-Fi scans alone have no position to keep.
pub(crate) fn raw_signal(ctx: &mut Ctx, signal: &Value) -> Result<(), ImportError> {
    let Some(position) = signal.get("position") else {
        ctx.skip(if signal.get("activityRecord").is_some() {
            "raw activity record without a position"
        } else if signal.get("wifiScan").is_some() {
            "raw wifi scan without a position"
        } else {
            "raw signal of unknown kind"
        });
        return Ok(());
    };
    let Some((lat, lon)) = text_point(position) else {
        ctx.skip("raw position without coordinates");
        return Ok(());
    };
    let timestamp = match instant(iso_when(Some(position), "timestamp")) {
        Ok(t) => t,
        Err(reason) => {
            ctx.skip(&format!("raw position {reason}"));
            return Ok(());
        }
    };
    let fix = Fix {
        accuracy_m: num(position.get("accuracyMeters")),
        altitude_m: num(position.get("altitudeMeters")),
        speed_mps: num(position.get("speedMetersPerSecond")),
        activity: at(signal, &["activityRecord", "probableActivities"])
            .and_then(|list| activity_of(list, "type", "confidence"))
            .map(|kind| activity_name(&kind)),
        provider: text(position.get("source")).map(|s| s.to_ascii_lowercase()),
        ..Fix::new(lat, lon, SOURCE)
    }
    .without_invalid_readings();
    match fix.validate() {
        Ok(()) => ctx.emit(&LOCATIONS, timestamp, &fix),
        Err(e) => {
            ctx.skip(&format!("raw position with {}", e.reason()));
            Ok(())
        }
    }
}
