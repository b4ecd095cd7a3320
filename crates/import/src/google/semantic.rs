//! Takeout Semantic Location History month files (`2019/2019_JANUARY.json`):
//! `{"timelineObjects": [{"placeVisit": {...}} | {"activitySegment": {...}}, ...]}`.

use serde_json::Value;

use super::Ctx;
use super::values::{activity_of, at, e7_degrees, instant, num, semantic_point, span, text, when};
use crate::ImportError;
use crate::location::{
    ACTIVITY_SEGMENTS, ActivitySegment, Fix, LOCATIONS, PLACE_VISITS, PlaceVisit, activity_name,
};

/// The `source` of what comes from Semantic Location History.
pub(crate) const SOURCE: &str = "google-semantic";

/// One element of `timelineObjects`.
pub(crate) fn timeline_object(ctx: &mut Ctx, object: &Value) -> Result<(), ImportError> {
    if let Some(visit) = object.get("placeVisit") {
        place_visit(ctx, visit, 0)
    } else if let Some(segment) = object.get("activitySegment") {
        activity_segment(ctx, segment)
    } else {
        ctx.skip("timeline object of unknown kind");
        Ok(())
    }
}

/// A place visit, then the points of its path, then its child visits (a shop inside the mall
/// of the visit), one level deeper.
fn place_visit(ctx: &mut Ctx, visit: &Value, level: u32) -> Result<(), ImportError> {
    let location = visit.get("location");
    // The place's own position; the visit's centre (where the person was) when the place has
    // none. They differ: the centre is the mean of the raw fixes.
    let position = location.and_then(semantic_point).or_else(|| {
        Some((
            e7_degrees(num(visit.get("centerLatE7"))?, true),
            e7_degrees(num(visit.get("centerLngE7"))?, false),
        ))
    });
    let duration = visit.get("duration");
    match (
        position,
        span(
            when(duration, "startTimestamp", "startTimestampMs"),
            when(duration, "endTimestamp", "endTimestampMs"),
        ),
    ) {
        (None, _) => ctx.skip("place visit without coordinates"),
        (_, Err(reason)) => ctx.skip(&format!("place visit {reason}")),
        (Some((lat, lon)), Ok((start_ms, end_ms))) => {
            let field = |key| text(location.and_then(|l| l.get(key)));
            let place = PlaceVisit {
                lat,
                lon,
                name: field("name"),
                address: field("address"),
                place_id: field("placeId"),
                semantic_type: field("semanticType"),
                start_ms,
                end_ms,
                // A percentage in this format.
                confidence: num(visit.get("visitConfidence"))
                    .map(|p| p / 100.0)
                    .filter(|c| (0.0..=1.0).contains(c)),
                level: Some(level),
                source: SOURCE.to_owned(),
            };
            match place.validate() {
                Ok(()) => ctx.emit(&PLACE_VISITS, start_ms, &place)?,
                Err(e) => ctx.skip(&format!("place visit with {}", e.reason())),
            }
        }
    }
    path_points(ctx, visit, None)?;
    for child in visit
        .get("childVisits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        place_visit(ctx, child, level + 1)?;
    }
    Ok(())
}

fn activity_segment(ctx: &mut Ctx, segment: &Value) -> Result<(), ImportError> {
    let duration = segment.get("duration");
    let (start_ms, end_ms) = match span(
        when(duration, "startTimestamp", "startTimestampMs"),
        when(duration, "endTimestamp", "endTimestampMs"),
    ) {
        Ok(times) => times,
        Err(reason) => {
            ctx.skip(&format!("activity segment {reason}"));
            // Its path points carry their own times.
            return path_points(ctx, segment, None);
        }
    };
    let candidates = segment.get("activities");
    let chosen = text(segment.get("activityType"))
        .or_else(|| candidates.and_then(|c| activity_of(c, "activityType", "probability")));
    // The probability (a percentage) the candidates give the chosen type.
    let confidence = chosen.as_deref().and_then(|kind| {
        let entry = candidates?
            .as_array()?
            .iter()
            .find(|c| text(c.get("activityType")).as_deref() == Some(kind))?;
        num(entry.get("probability"))
            .map(|p| p / 100.0)
            .filter(|c| (0.0..=1.0).contains(c))
    });
    let activity_type = activity_name(chosen.as_deref().unwrap_or("unknown"));
    let end = |key: &str| {
        let point = segment.get(key).and_then(semantic_point)?;
        if crate::location::check_position(point.0, point.1).is_err() {
            ctx.skip("activity segment end with coordinates out of range");
            return None;
        }
        Some(point)
    };
    let (start, finish) = (end("startLocation"), end("endLocation"));
    let mut waypoints = Vec::new();
    for point in at(segment, &["waypointPath", "waypoints"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match semantic_point(point) {
            Some((lat, lon)) if crate::location::check_position(lat, lon).is_ok() => {
                waypoints.push([lat, lon])
            }
            Some(_) => ctx.skip("waypoint with coordinates out of range"),
            None => ctx.skip("waypoint without coordinates"),
        }
    }
    let distance_m = num(segment.get("distance"))
        .or_else(|| num(at(segment, &["waypointPath", "distanceMeters"])))
        .filter(|d| *d >= 0.0);
    let doc = ActivitySegment {
        start_ms,
        end_ms,
        activity_type: activity_type.clone(),
        distance_m,
        start_lat: start.map(|p| p.0),
        start_lon: start.map(|p| p.1),
        end_lat: finish.map(|p| p.0),
        end_lon: finish.map(|p| p.1),
        confidence,
        waypoints,
        source: SOURCE.to_owned(),
    };
    match doc.validate() {
        Ok(()) => ctx.emit(&ACTIVITY_SEGMENTS, start_ms, &doc)?,
        Err(e) => ctx.skip(&format!("activity segment with {}", e.reason())),
    }
    path_points(ctx, segment, Some(&activity_type))
}

/// The timed points of `simplifiedRawPath`, as fixes; during a segment they carry its activity.
fn path_points(ctx: &mut Ctx, parent: &Value, activity: Option<&str>) -> Result<(), ImportError> {
    let points = at(parent, &["simplifiedRawPath", "points"]).and_then(Value::as_array);
    for point in points.into_iter().flatten() {
        let Some((lat, lon)) = semantic_point(point) else {
            ctx.skip("path point without coordinates");
            continue;
        };
        let timestamp = match instant(when(Some(point), "timestamp", "timestampMs")) {
            Ok(t) => t,
            Err(reason) => {
                ctx.skip(&format!("path point {reason}"));
                continue;
            }
        };
        let fix = Fix {
            // Both spellings occur.
            accuracy_m: num(point.get("accuracyMeters")).or_else(|| num(point.get("accuracyMetres"))),
            activity: activity.map(str::to_owned),
            ..Fix::new(lat, lon, SOURCE)
        }
        .without_invalid_readings();
        match fix.validate() {
            Ok(()) => ctx.emit(&LOCATIONS, timestamp, &fix)?,
            Err(e) => ctx.skip(&format!("path point with {}", e.reason())),
        }
    }
    Ok(())
}
