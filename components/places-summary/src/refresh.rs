//! The incremental computation behind the page: which days to (re)compute, reading them a slice
//! at a time, and the summary the page draws. Pure over a [`Source`], so it is tested natively
//! with fixes in memory; `lib.rs` gives it the box.
//!
//! Each call counts the points of every day shown (`range/.../count`, cheap: no document is
//! read). A day whose count is what it was when it was computed is taken from the cache: a
//! past day changes only when points arrive for it late (a phone's backlog, an import). The other
//! days are computed newest first, today always among them, until the call's time is up; the
//! rest waits for the next call, and the page says how many days are still to come.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use databox_sdk::time::DAY_MS;
use databox_sdk::{Error, Result, Row};

use crate::location::PlaceVisit;
use crate::places::{Dwell, PlaceTime, top_places, visit_identity};
use crate::track::{DayTrack, LEAD_MS, Sample, measure_day};

/// The shape of the cached days; a cache of another version is computed again.
pub const CACHE_VERSION: u32 = 1;
/// Most fixes asked for in one read (about 3 MB of JSON from the phone-location driver): a day
/// with more is read in slices of time, each expected to hold at most this many.
pub const SLICE_FIXES: u64 = 15_000;
/// How far before the window visits are read, for those that began before it and last into it.
pub const VISIT_LOOKBACK_MS: i64 = 2 * DAY_MS;
/// How many places each list shows.
pub const TOP_PLACES: usize = 5;
/// The shorter period of top places, in days, beside the whole window.
pub const WEEK_DAYS: u32 = 7;
/// An hour is drawn as moving with at least this many seconds of movement...
pub const MOVING_HOUR_S: u32 = 300;
/// ...and as still with at least this many seconds known (moving or still).
pub const KNOWN_HOUR_S: u32 = 600;

/// One position fix as the app reads it from a location document.
#[derive(Clone, Debug, PartialEq)]
pub struct FixPoint {
    /// The fix.
    pub sample: Sample,
    /// The device that took it, if the document says.
    pub device: Option<String>,
}

/// The fields of a location document ([`crate::location::Fix`]) that are measured; the rest is
/// not read, so that a day of fixes stays small in memory.
#[derive(Deserialize)]
struct FixFields {
    lat: f64,
    lon: f64,
    #[serde(default)]
    accuracy_m: Option<f64>,
    #[serde(default)]
    device: Option<String>,
}

impl FixFields {
    fn point(self, t: i64) -> FixPoint {
        FixPoint {
            sample: Sample {
                t,
                lat: self.lat,
                lon: self.lon,
                accuracy_m: self.accuracy_m,
            },
            device: self.device,
        }
    }
}

/// The fixes of a read's answer. A document that is not a fix is skipped rather than failing
/// the day: the fast path reads only the fields needed; when some row does not fit, the rows are
/// read one by one.
pub fn parse_fixes(json: &str) -> Result<Vec<FixPoint>> {
    if let Ok(rows) = serde_json::from_str::<Vec<Row<FixFields>>>(json) {
        return Ok(rows.into_iter().map(|r| r.data.point(r.timestamp)).collect());
    }
    let rows: Vec<Row<Value>> = databox_sdk::parse_rows(json)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let fields: FixFields = serde_json::from_value(r.data).ok()?;
            Some(fields.point(r.timestamp))
        })
        .filter(|f| crate::location::check_position(f.sample.lat, f.sample.lon).is_ok())
        .collect())
}

/// The valid visits of a read's answer; others are skipped.
pub fn parse_visits(json: &str) -> Result<Vec<PlaceVisit>> {
    let rows: Vec<Row<Value>> = databox_sdk::parse_rows(json)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| serde_json::from_value::<PlaceVisit>(r.data).ok())
        .filter(|v| v.validate().is_ok())
        .collect())
}

/// Where the fixes and visits come from: the box, or memory in tests.
pub trait Source {
    /// How many fixes there are from `from` to `to` (epoch ms, inclusive).
    fn count(&mut self, from: i64, to: i64) -> Result<u64>;
    /// The fixes from `from` to `to` (inclusive). [`Error::TooLarge`] when the answer would be
    /// over the app's output limit: the range is then read in halves.
    fn fixes(&mut self, from: i64, to: i64) -> Result<Vec<FixPoint>>;
    /// The visits that began from `from` to `to` (inclusive), or `None` when the owner mapped no
    /// visits.
    fn visits(&mut self, from: i64, to: i64) -> Result<Option<Vec<PlaceVisit>>>;
}

/// The owner's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// How many days to show, today included.
    pub days: u32,
    /// Only this device's fixes (the source filters them), or all. Visits are not filtered:
    /// Google's carry no device.
    pub device: Option<String>,
}

/// One computed day: its count when computed, the device measured, and what its fixes say.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayResult {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// The day's points when it was computed: it is computed again when this changes.
    pub count: u64,
    /// The device measured, on a day with fixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// How many devices had fixes that day.
    pub devices: u32,
    /// What its fixes say.
    #[serde(flatten)]
    pub track: DayTrack,
}

/// The finished days, kept between calls (key `days`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    /// [`CACHE_VERSION`] when written.
    pub version: u32,
    /// The `device` setting the days were computed with.
    pub device: Option<String>,
    /// The days, oldest first.
    pub days: Vec<DayResult>,
}

impl Cache {
    fn empty(device: Option<String>) -> Cache {
        Cache {
            version: CACHE_VERSION,
            device,
            days: Vec::new(),
        }
    }

    fn get(&self, day: i64) -> Option<&DayResult> {
        self.days.iter().find(|d| d.day == day)
    }

    fn put(&mut self, result: DayResult) {
        self.days.retain(|d| d.day != result.day);
        self.days.push(result);
        self.days.sort_by_key(|d| d.day);
    }
}

/// One day as the page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DaySummary {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Whether it has been computed (false: still to come).
    pub computed: bool,
    /// Metres travelled.
    pub distance_m: f64,
    /// Fixes used.
    pub fixes: u32,
    /// Fixes dropped as inaccurate or glitches.
    pub dropped: u32,
    /// The 24 hours: `m` moving, `s` still, `.` no data.
    pub strip: String,
    /// Seconds moving.
    pub moving_s: u32,
    /// Seconds still.
    pub still_s: u32,
    /// The device measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// How many devices had fixes.
    pub devices: u32,
}

/// The top places of one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlacesPeriod {
    /// The period: its last this many days.
    pub days: u32,
    /// Most time first.
    pub places: Vec<PlaceTime>,
}

/// What the page draws (key `summary`, and `/data.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// When it was made, epoch ms.
    pub generated_ms: i64,
    /// The days shown, oldest first, today last.
    pub days: Vec<DaySummary>,
    /// Days not computed yet (they come in the next calls).
    pub pending: u32,
    /// The device setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Whether the owner mapped visits.
    pub visits_mapped: bool,
    /// Visits in the window.
    pub visits: u32,
    /// `visits` or `fixes`: where the top places come from.
    pub places_from: String,
    /// Top places: the last week, and the whole window when longer.
    pub periods: Vec<PlacesPeriod>,
}

/// What a call did.
#[derive(Clone, Debug, PartialEq)]
pub struct Refreshed {
    /// The cache to keep.
    pub cache: Cache,
    /// The summary to keep.
    pub summary: Summary,
    /// The days computed in this call.
    pub computed: Vec<i64>,
    /// Fixes read in this call.
    pub fixes_read: u64,
    /// Reads of fixes in this call.
    pub reads: u32,
}

/// Whether an error says the answer was too big to come back in one read: over the app's
/// output limit, or over the store's most rows per read.
fn too_large(e: &Error) -> bool {
    matches!(e, Error::TooLarge(_)) || matches!(e, Error::BadRequest(m) if m.contains("more than"))
}

/// Reads `from..=to` with `read`, in halves (recursively) while the answer is too large.
fn read_split<T>(
    from: i64,
    to: i64,
    reads: &mut u32,
    read: &mut dyn FnMut(i64, i64) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    *reads += 1;
    match read(from, to) {
        Err(e) if too_large(&e) && to > from => {
            let mid = from + (to - from) / 2;
            let mut first = read_split(from, mid, reads, read)?;
            first.extend(read_split(mid + 1, to, reads, read)?);
            Ok(first)
        }
        other => other,
    }
}

/// The fixes of day `day` and its lead-in, in slices of time expected to hold at most
/// [`SLICE_FIXES`] each (`count` is the day's).
fn read_day(src: &mut dyn Source, day: i64, count: u64, reads: &mut u32) -> Result<Vec<FixPoint>> {
    let (from, to) = (day * DAY_MS - LEAD_MS, (day + 1) * DAY_MS - 1);
    let slices = count.div_ceil(SLICE_FIXES).max(1) as i64;
    let width = (to - from + slices) / slices;
    let mut out = Vec::with_capacity(count as usize + 64);
    let mut a = from;
    while a <= to {
        let b = (a + width - 1).min(to);
        out.extend(read_split(a, b, reads, &mut |x, y| src.fixes(x, y))?);
        a = b + 1;
    }
    Ok(out)
}

/// Measures one day: the device with the most fixes in it (the others' are set aside, so
/// that two phones' tracks are not zig-zagged into one).
pub fn compute_day(day: i64, count: u64, fixes: Vec<FixPoint>) -> DayResult {
    let d0 = day * DAY_MS;
    let mut by_device: std::collections::BTreeMap<Option<String>, (u32, Vec<Sample>)> = Default::default();
    for f in fixes {
        let entry = by_device.entry(f.device).or_default();
        entry.0 += u32::from(f.sample.t >= d0);
        entry.1.push(f.sample);
    }
    let devices = by_device.values().filter(|(n, _)| *n > 0).count() as u32;
    // The most fixes in the day; of equals, the first by name, so the choice does not flicker.
    let best = by_device
        .iter()
        .filter(|(_, (n, _))| *n > 0)
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.0.cmp(a.0)))
        .map(|(k, _)| k.clone());
    match best {
        Some(device) => {
            let samples = &by_device[&device].1;
            DayResult {
                day,
                count,
                device,
                devices,
                track: measure_day(d0, samples),
            }
        }
        None => DayResult {
            day,
            count,
            device: None,
            devices: 0,
            track: DayTrack::empty(),
        },
    }
}

/// One call's work: brings the cache up to date as far as `out_of_time` allows (at least one
/// day is always computed, so every call makes progress) and makes the summary.
pub fn refresh(
    src: &mut dyn Source,
    cache: Option<Cache>,
    settings: &Settings,
    now: i64,
    out_of_time: &mut dyn FnMut() -> bool,
) -> Result<Refreshed> {
    let today = now.div_euclid(DAY_MS);
    let first = today - i64::from(settings.days.max(1)) + 1;
    let mut cache = cache
        .filter(|c| c.version == CACHE_VERSION && c.device == settings.device)
        .unwrap_or_else(|| Cache::empty(settings.device.clone()));
    cache.days.retain(|d| (first..=today).contains(&d.day));

    // Newest first: today is what the owner looks at, and a first run fills the chart from
    // the right.
    let mut stale = Vec::new();
    for day in (first..=today).rev() {
        let count = src.count(day * DAY_MS, (day + 1) * DAY_MS - 1)?;
        if cache.get(day).is_some_and(|d| d.count == count) {
            continue;
        }
        if count == 0 {
            // Nothing to read: the day is empty (its points were deleted, or there never were).
            cache.put(compute_day(day, 0, Vec::new()));
            continue;
        }
        stale.push((day, count));
    }
    let (mut computed, mut fixes_read, mut reads) = (Vec::new(), 0, 0);
    for (i, (day, count)) in stale.iter().enumerate() {
        if i > 0 && out_of_time() {
            break;
        }
        let fixes = read_day(src, *day, *count, &mut reads)?;
        fixes_read += fixes.len() as u64;
        cache.put(compute_day(*day, *count, fixes));
        computed.push(*day);
    }
    let pending = (stale.len() - computed.len()) as u32;

    let window = (first * DAY_MS, (today + 1) * DAY_MS);
    let mut mapped = true;
    let visits = read_split(
        window.0 - VISIT_LOOKBACK_MS,
        now.clamp(window.0, window.1 - 1),
        &mut 0,
        &mut |a, b| {
            Ok(src.visits(a, b)?.unwrap_or_else(|| {
                mapped = false;
                Vec::new()
            }))
        },
    )?;
    let summary = summarise(&cache, settings, now, mapped.then_some(&visits[..]), pending);
    Ok(Refreshed {
        cache,
        summary,
        computed,
        fixes_read,
        reads,
    })
}

/// The 24 hours of a day as `m` (moving), `s` (still) and `.` (no data).
pub fn strip(track: &DayTrack) -> String {
    track
        .moving_s
        .iter()
        .zip(&track.still_s)
        .map(|(m, s)| {
            let (m, s) = (u32::from(*m), u32::from(*s));
            if m >= MOVING_HOUR_S {
                'm'
            } else if m + s >= KNOWN_HOUR_S {
                's'
            } else {
                '.'
            }
        })
        .collect()
}

/// The summary of the cached days and the visits (`None`: not mapped).
pub fn summarise(
    cache: &Cache,
    settings: &Settings,
    now: i64,
    visits: Option<&[PlaceVisit]>,
    pending: u32,
) -> Summary {
    let today = now.div_euclid(DAY_MS);
    let first = today - i64::from(settings.days.max(1)) + 1;
    let days = (first..=today)
        .map(|day| match cache.get(day) {
            Some(d) => DaySummary {
                day,
                computed: true,
                distance_m: d.track.distance_m,
                fixes: d.track.fixes,
                dropped: d.track.inaccurate + d.track.glitches,
                strip: strip(&d.track),
                moving_s: d.track.moving_s.iter().map(|s| u32::from(*s)).sum(),
                still_s: d.track.still_s.iter().map(|s| u32::from(*s)).sum(),
                device: d.device.clone(),
                devices: d.devices,
            },
            None => DaySummary {
                day,
                computed: false,
                distance_m: 0.0,
                fixes: 0,
                dropped: 0,
                strip: ".".repeat(24),
                moving_s: 0,
                still_s: 0,
                device: None,
                devices: 0,
            },
        })
        .collect();

    let window = (first * DAY_MS, (today + 1) * DAY_MS);
    let visit_dwells: Vec<Dwell> = visits
        .unwrap_or_default()
        .iter()
        // Nested visits (a shop in a mall) overlap their parent: top level only.
        .filter(|v| v.level.unwrap_or(0) == 0)
        .map(|v| {
            let (key, name) = visit_identity(
                v.place_id.as_deref(),
                v.name.as_deref(),
                v.address.as_deref(),
                v.semantic_type.as_deref(),
            );
            Dwell {
                lat: v.lat,
                lon: v.lon,
                start_ms: v.start_ms,
                end_ms: v.end_ms,
                key,
                name,
            }
        })
        .filter(|d| d.end_ms > window.0 && d.start_ms < window.1)
        .collect();
    let from_visits = !visit_dwells.is_empty();
    let dwells: Vec<Dwell> = if from_visits {
        visit_dwells.clone()
    } else {
        cache
            .days
            .iter()
            .flat_map(|d| &d.track.stays)
            .map(Dwell::from)
            .collect()
    };
    let mut spans = vec![settings.days.min(WEEK_DAYS)];
    if settings.days > WEEK_DAYS {
        spans.push(settings.days);
    }
    let periods: Vec<(i64, i64)> = spans
        .iter()
        .map(|n| ((today - i64::from(*n) + 1) * DAY_MS, window.1))
        .collect();
    let lists = top_places(&dwells, window, &periods, TOP_PLACES);
    Summary {
        generated_ms: now,
        days,
        pending,
        device: settings.device.clone(),
        visits_mapped: visits.is_some(),
        visits: visit_dwells.len() as u32,
        places_from: if from_visits { "visits" } else { "fixes" }.to_owned(),
        periods: spans
            .into_iter()
            .zip(lists)
            .map(|(days, places)| PlacesPeriod { days, places })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_it_needs_and_skips_what_is_not_a_fix() {
        let fast = r#"[{"timestamp":5,"data":{"lat":52.5,"lon":13.4,"accuracy_m":8.0,"device":"owner",
                         "source":"owntracks","client_user":"jane"}},
                       {"timestamp":6,"data":{"lat":52.6,"lon":13.5,"source":"google-records"}}]"#;
        let fixes = parse_fixes(fast).unwrap();
        assert_eq!(fixes.len(), 2);
        assert_eq!(
            fixes[0].sample,
            Sample {
                t: 5,
                lat: 52.5,
                lon: 13.4,
                accuracy_m: Some(8.0)
            }
        );
        assert_eq!(fixes[0].device.as_deref(), Some("owner"));
        assert_eq!(
            (fixes[1].device.as_deref(), fixes[1].sample.accuracy_m),
            (None, None)
        );

        let mixed = r#"[{"timestamp":1,"data":{"lat":52.5,"lon":13.4,"source":"x"}},
                        {"timestamp":2,"data":"not a fix"},
                        {"timestamp":3,"data":{"lat":"52","lon":13.4}},
                        {"timestamp":4,"data":{"lat":95.0,"lon":13.4}},
                        {"timestamp":5,"data":{"lat":52.7,"lon":13.4,"device":7}}]"#;
        let fixes = parse_fixes(mixed).unwrap();
        assert_eq!(fixes.iter().map(|f| f.sample.t).collect::<Vec<_>>(), vec![1]);
        assert!(parse_fixes(r#"{"result": 3}"#).is_err());
    }

    #[test]
    fn reads_valid_visits_only() {
        let json = r#"[{"timestamp":1,"data":{"lat":52.5,"lon":13.4,"start_ms":1,"end_ms":9,"name":"Café",
                         "source":"google-semantic","device":"x"}},
                       {"timestamp":2,"data":{"lat":52.5,"lon":13.4,"start_ms":9,"end_ms":1,"source":"x"}},
                       {"timestamp":3,"data":{"lat":52.5}}]"#;
        let v = parse_visits(json).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name.as_deref(), Some("Café"));
    }

    #[test]
    fn an_hour_is_moving_still_or_unknown() {
        let mut t = DayTrack::empty();
        t.moving_s[0] = 300;
        t.moving_s[1] = 299;
        t.still_s[1] = 301;
        t.still_s[2] = 599;
        t.moving_s[3] = 3600;
        assert_eq!(strip(&t), format!("ms.m{}", ".".repeat(20)));
    }

    #[test]
    fn the_device_with_most_fixes_in_the_day_is_measured() {
        let d0 = 20_000 * DAY_MS;
        let fix = |t: i64, lat: f64, device: &str| FixPoint {
            sample: Sample::new(d0 + t, lat, 13.4),
            device: Some(device.to_owned()),
        };
        let mut fixes: Vec<FixPoint> = (0..10)
            .map(|i| fix(i * 10_000, 52.5 + i as f64 * 1e-4, "a"))
            .collect();
        fixes.extend((0..20).map(|i| fix(i * 10_000, 52.6, "b")));
        // Many of "a" before midnight (lead-in): they do not count.
        fixes.extend((1..30).map(|i| fix(-i * 10_000, 52.5, "a")));
        let r = compute_day(20_000, 30, fixes);
        assert_eq!((r.device.as_deref(), r.devices), (Some("b"), 2));
        assert_eq!(r.track.distance_m, 0.0);
    }
}
