//! One UTC day of one device's fixes, measured: the distance travelled, the places stayed at,
//! and for each hour how long the device was moving or still. Pure, tested natively.
//!
//! The steps, in order:
//!
//! 1. **Inaccurate fixes** (a known accuracy worse than [`MAX_ACCURACY_M`]) are dropped: a cell
//!    tower's guess is hundreds of metres off and would add phantom kilometres.
//! 2. **Glitches** are dropped: a fix that could only be reached from the one before at more than
//!    [`MAX_SPEED_MPS`] (300 km/h). A run of [`CONFIRM_FIXES`] fixes that agree with each other
//!    but not with what came before is not a glitch but a jump (a flight, the phone off for a
//!    while): the track starts again from there without counting the jump. A single fix
//!    [`SPIKE_M`] out and straight back is a glitch too, however slow the fixes come.
//! 3. **Stays**: fixes that remain within [`STAY_RADIUS_M`] of the first of them for at least
//!    [`MIN_STAY_MS`] (the classic stay-point detection), extended while they remain within it
//!    of the stay's centre. Time in a stay is still time, and its place is the time-weighted
//!    centre of its fixes.
//! 4. **Distance**: the haversine from an anchor fix to each later fix; the anchor moves on, and
//!    the step counts, only once the fix is farther from it than the two fixes' accuracies
//!    together (their circles no longer overlap). Smaller moves are jitter, which would
//!    otherwise add up over a day of standing still. A stay is one point, its centre: the way in
//!    ends there and the way out starts there, and nothing in between counts. Indoors, fixes
//!    drift by tens of metres for hours, beyond their accuracy often enough to add kilometres a
//!    day if each step were measured.
//! 5. **Moving or still**: the time between consecutive fixes (at most [`MAX_GAP_MS`] apart) is
//!    moving when the anchor step that covers it went at [`MOVING_MPS`] or faster, still
//!    otherwise. A longer gap is still if the device was in the same place at both ends (phones
//!    report rarely when nothing changes), and unknown otherwise.
//!
//! A day is read with the fixes of the [`LEAD_MS`] before its midnight, so that the step that
//! crosses midnight is counted once, on the day it ends.

use serde::{Deserialize, Serialize};

use databox_sdk::time::{DAY_MS, HOUR_MS, MINUTE_MS};

use crate::geo::{haversine_m, within};

/// Fixes with a known accuracy worse than this are dropped, in metres.
pub const MAX_ACCURACY_M: f64 = 100.0;
/// Faster than this (300 km/h), in metres per second, a step is a GPS glitch.
pub const MAX_SPEED_MPS: f64 = 300.0 / 3.6;
/// The accuracy assumed for a fix that reports none, in metres: a phone's GPS outdoors.
pub const UNKNOWN_ACCURACY_M: f64 = 10.0;
/// The smallest accuracy believed, in metres: a reported 0 or 1 m is optimism, and would let
/// every wobble count as movement.
pub const MIN_ACCURACY_M: f64 = 3.0;
/// A fix this many metres from both its neighbours, which are close to each other, is a spike.
pub const SPIKE_M: f64 = 500.0;
/// How many fixes that agree with each other make a jump rather than a glitch.
pub const CONFIRM_FIXES: usize = 3;
/// A stay: fixes within this many metres of its first fix...
pub const STAY_RADIUS_M: f64 = 150.0;
/// ...for at least this long.
pub const MIN_STAY_MS: i64 = 10 * MINUTE_MS;
/// Consecutive fixes at most this far apart cover the time between them.
pub const MAX_GAP_MS: i64 = 15 * MINUTE_MS;
/// A longer gap between two fixes in the same place is still time, up to this long.
pub const MAX_STILL_GAP_MS: i64 = 12 * HOUR_MS;
/// At this speed or faster, in metres per second (1.8 km/h, a slow stroll), a device is moving.
pub const MOVING_MPS: f64 = 0.5;
/// How far before a day's midnight its fixes are read, to carry the track across midnight.
pub const LEAD_MS: i64 = 10 * MINUTE_MS;

/// One position fix of one device: the parts of a location document that are measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// When, epoch ms.
    pub t: i64,
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// The reported horizontal accuracy in metres, if any.
    pub accuracy_m: Option<f64>,
}

impl Sample {
    /// A fix without an accuracy.
    pub fn new(t: i64, lat: f64, lon: f64) -> Sample {
        Sample {
            t,
            lat,
            lon,
            accuracy_m: None,
        }
    }

    fn accuracy(&self) -> f64 {
        // A negative accuracy means "unknown" on several platforms (iOS sends -1).
        self.accuracy_m
            .filter(|a| a.is_finite() && *a >= 0.0)
            .unwrap_or(UNKNOWN_ACCURACY_M)
            .max(MIN_ACCURACY_M)
    }

    fn distance_to(&self, other: &Sample) -> f64 {
        haversine_m(self.lat, self.lon, other.lat, other.lon)
    }
}

/// A place the device stayed at within one day.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stay {
    /// The mean latitude of its fixes.
    pub lat: f64,
    /// The mean longitude of its fixes.
    pub lon: f64,
    /// Its first fix (or the day's start), epoch ms.
    pub start_ms: i64,
    /// Its last fix (or the day's end), epoch ms.
    pub end_ms: i64,
}

/// What one day of one device's fixes says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayTrack {
    /// Metres travelled, steps ending in the day.
    pub distance_m: f64,
    /// Fixes of the day used (kept by the filters).
    pub fixes: u32,
    /// Fixes of the day dropped for their accuracy.
    pub inaccurate: u32,
    /// Fixes of the day dropped as glitches.
    pub glitches: u32,
    /// Seconds moving in each hour of the day (24).
    pub moving_s: Vec<u16>,
    /// Seconds still in each hour of the day (24).
    pub still_s: Vec<u16>,
    /// The stays, in order, cut at the day's bounds.
    pub stays: Vec<Stay>,
}

impl DayTrack {
    /// A day without fixes.
    pub fn empty() -> DayTrack {
        DayTrack {
            distance_m: 0.0,
            fixes: 0,
            inaccurate: 0,
            glitches: 0,
            moving_s: vec![0; 24],
            still_s: vec![0; 24],
            stays: Vec::new(),
        }
    }
}

/// Measures the day starting at `day_start` (a UTC midnight, epoch ms) from one device's fixes
/// in any order; fixes outside the day and its lead-in are ignored.
pub fn measure_day(day_start: i64, fixes: &[Sample]) -> DayTrack {
    let (d0, d1) = (day_start, day_start + DAY_MS);
    let mut kept: Vec<Sample> = fixes
        .iter()
        .filter(|s| s.t >= d0 - LEAD_MS && s.t < d1 && s.lat.is_finite() && s.lon.is_finite())
        .copied()
        .collect();
    // Oldest first; of fixes at the same instant (a phone re-sending), the most accurate.
    kept.sort_by(|a, b| a.t.cmp(&b.t).then(a.accuracy().total_cmp(&b.accuracy())));
    kept.dedup_by_key(|s| s.t);

    let mut day = DayTrack::empty();
    kept.retain(|s| {
        let ok = s.accuracy_m.is_none_or(|a| a <= MAX_ACCURACY_M);
        if !ok && s.t >= d0 {
            day.inaccurate += 1;
        }
        ok
    });
    let (kept, spikes) = drop_spikes(kept);
    let (segments, glitches) = drop_glitches(kept);
    day.glitches = glitches.iter().chain(&spikes).filter(|s| s.t >= d0).count() as u32;

    let mut hours = Hours::new(d0);
    for seg in &segments {
        day.fixes += seg.iter().filter(|s| s.t >= d0).count() as u32;
        let stays = stays_of(seg);
        day.distance_m += walk(seg, &stays, d0, &mut hours);
        for st in &stays {
            let start_ms = seg[st.first].t.max(d0);
            let end_ms = seg[st.last].t.min(d1);
            if end_ms > start_ms {
                day.stays.push(Stay {
                    lat: st.centre.lat,
                    lon: st.centre.lon,
                    start_ms,
                    end_ms,
                });
            }
        }
    }
    day.stays.sort_by_key(|s| s.start_ms);
    (day.moving_s, day.still_s) = hours.seconds();
    day
}

/// Drops spikes: single fixes far from both neighbours while the neighbours are close to each
/// other. With a fix a minute, a glitch 2 km off implies only 120 km/h and passes the speed
/// test; nobody goes [`SPIKE_M`] out and straight back between two fixes. Answers the fixes
/// kept and the spikes.
fn drop_spikes(fixes: Vec<Sample>) -> (Vec<Sample>, Vec<Sample>) {
    let mut kept: Vec<Sample> = Vec::with_capacity(fixes.len());
    let mut spikes = Vec::new();
    for (k, s) in fixes.iter().enumerate() {
        if let (Some(prev), Some(next)) = (kept.last(), fixes.get(k + 1)) {
            let (out, back) = (prev.distance_to(s), s.distance_to(next));
            let across = prev.distance_to(next) + prev.accuracy() + next.accuracy();
            if out > SPIKE_M && back > SPIKE_M && across < out.min(back) / 4.0 {
                spikes.push(*s);
                continue;
            }
        }
        kept.push(*s);
    }
    (kept, spikes)
}

/// Splits the fixes into runs that can follow each other at a believable speed, dropping
/// glitches; answers the runs and the glitches.
fn drop_glitches(fixes: Vec<Sample>) -> (Vec<Vec<Sample>>, Vec<Sample>) {
    let believable = |a: &Sample, b: &Sample| {
        let d = a.distance_to(b);
        // Within the fixes' accuracy any instant is believable, even the same instant.
        d <= a.accuracy() + b.accuracy() || d / ((b.t - a.t).max(1) as f64 / 1000.0) <= MAX_SPEED_MPS
    };
    let mut runs: Vec<Vec<Sample>> = Vec::new();
    let mut glitches = Vec::new();
    let mut current: Vec<Sample> = Vec::new();
    let mut suspects: Vec<Sample> = Vec::new();
    for s in fixes {
        match current.last() {
            None => current.push(s),
            Some(last) if believable(last, &s) => {
                glitches.append(&mut suspects);
                current.push(s);
            }
            Some(_) => {
                if !suspects.last().is_some_and(|p| believable(p, &s)) {
                    glitches.append(&mut suspects);
                }
                suspects.push(s);
                if suspects.len() >= CONFIRM_FIXES {
                    // The device really is elsewhere. What came before is a run of its own,
                    // unless it is too short to be one: then it was the glitch.
                    let before = std::mem::replace(&mut current, std::mem::take(&mut suspects));
                    if before.len() < CONFIRM_FIXES {
                        glitches.extend(before);
                    } else {
                        runs.push(before);
                    }
                }
            }
        }
    }
    glitches.append(&mut suspects);
    if !current.is_empty() {
        if current.len() < CONFIRM_FIXES && !runs.is_empty() {
            glitches.extend(current);
        } else {
            runs.push(current);
        }
    }
    (runs, glitches)
}

/// A stay within a run: its first and last fix, and its centre (as a fix at its first time,
/// with the accuracy of a mean of many fixes).
struct StayRange {
    first: usize,
    last: usize,
    centre: Sample,
}

/// The stays of a run, in order: each stretch of fixes within [`STAY_RADIUS_M`] of its first
/// fix lasting [`MIN_STAY_MS`] or more, extended while the fixes stay within that radius of its
/// centre. The first fix is often on the way in, up to 150 m from where the time is spent: the
/// extension keeps a long stay whole when drifting fixes end up farther than that from it.
fn stays_of(run: &[Sample]) -> Vec<StayRange> {
    let near = |a: &Sample, cos: f64, b: &Sample| within(a.lat, a.lon, cos, b.lat, b.lon, STAY_RADIUS_M);
    let mut out: Vec<StayRange> = Vec::new();
    let mut i = 0;
    while i < run.len() {
        let a = &run[i];
        let cos = a.lat.to_radians().cos();
        let mut j = i + 1;
        while j < run.len() && near(a, cos, &run[j]) {
            j += 1;
        }
        if run[j - 1].t - a.t < MIN_STAY_MS {
            i += 1;
            continue;
        }
        let c = centre(&run[i..j]);
        let cos = c.lat.to_radians().cos();
        while j < run.len() && near(&c, cos, &run[j]) {
            j += 1;
        }
        // A stray fix or two between two stays in one place do not make two stays.
        match out.last_mut() {
            Some(prev)
                if i - prev.last <= CONFIRM_FIXES
                    && run[i].t - run[prev.last].t <= MAX_GAP_MS
                    && near(&prev.centre, prev.centre.lat.to_radians().cos(), &c) =>
            {
                prev.last = j - 1;
                prev.centre = centre(&run[prev.first..j]);
            }
            _ => out.push(StayRange {
                first: i,
                last: j - 1,
                centre: centre(&run[i..j]),
            }),
        }
        i = j;
    }
    out
}

/// The time-weighted mean position of a stay's fixes: each fix stands for the time until the
/// next one, so a phone that reports once an hour at home and every few seconds on the way out
/// is placed at home, not on the pavement.
fn centre(fixes: &[Sample]) -> Sample {
    let (mut lat, mut lon, mut weight) = (0.0, 0.0, 0.0);
    for (k, f) in fixes.iter().enumerate() {
        let until_next = fixes.get(k + 1).map_or(0, |n| n.t - f.t);
        let w = until_next.clamp(1000, MAX_STILL_GAP_MS) as f64;
        lat += f.lat * w;
        lon += f.lon * w;
        weight += w;
    }
    Sample {
        t: fixes[0].t,
        lat: lat / weight,
        lon: lon / weight,
        accuracy_m: Some(MIN_ACCURACY_M),
    }
}

/// Walks a run: answers the metres travelled by steps ending at or after `d0`, and files the
/// time between fixes as moving or still in `hours`.
fn walk(run: &[Sample], stays: &[StayRange], d0: i64, hours: &mut Hours) -> f64 {
    let mut distance = 0.0;
    let Some(mut anchor) = run.first().copied() else {
        return 0.0;
    };
    if let Some(st) = stays.first().filter(|st| st.first == 0) {
        anchor = st.centre;
    }
    let mut stay = 0;
    for k in 1..run.len() {
        let (prev, s) = (&run[k - 1], &run[k]);
        while stays.get(stay).is_some_and(|r| r.last < k) {
            stay += 1;
        }
        let current = stays.get(stay).filter(|r| r.first <= k);
        if current.is_some_and(|r| r.first < k) {
            // Both fixes in one stay: still time, and no distance (the anchor is its centre,
            // there until now, so the way out is timed from the last fix inside).
            hours.settle(Kind::Still);
            hours.add(Kind::Still, prev.t, s.t);
            anchor.t = s.t;
            continue;
        }
        let gap = s.t - prev.t;
        if gap <= MAX_GAP_MS {
            hours.add(Kind::Pending, prev.t, s.t);
        } else if gap <= MAX_STILL_GAP_MS && prev.distance_to(s) <= STAY_RADIUS_M {
            hours.add(Kind::Still, prev.t, s.t);
        }
        // Entering a stay, the way in ends at its centre.
        let target = current.map_or(*s, |r| Sample { t: s.t, ..r.centre });
        let d = anchor.distance_to(&target);
        if d > anchor.accuracy() + target.accuracy() {
            if s.t >= d0 {
                distance += d;
            }
            let seconds = (s.t - anchor.t).max(1) as f64 / 1000.0;
            hours.settle(if d / seconds >= MOVING_MPS {
                Kind::Moving
            } else {
                Kind::Still
            });
            anchor = target;
        } else if current.is_some() {
            anchor = target;
        }
    }
    hours.settle(Kind::Still);
    distance
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Moving,
    Still,
    /// Covered by fixes, moving or still once the anchor moves on.
    Pending,
}

/// Milliseconds per hour of one day, by kind.
struct Hours {
    d0: i64,
    moving: [i64; 24],
    still: [i64; 24],
    pending: [i64; 24],
}

impl Hours {
    fn new(d0: i64) -> Hours {
        Hours {
            d0,
            moving: [0; 24],
            still: [0; 24],
            pending: [0; 24],
        }
    }

    /// Adds the time from `t0` to `t1`, the part inside the day, hour by hour.
    fn add(&mut self, kind: Kind, t0: i64, t1: i64) {
        let hours = match kind {
            Kind::Moving => &mut self.moving,
            Kind::Still => &mut self.still,
            Kind::Pending => &mut self.pending,
        };
        let (mut t, end) = (t0.max(self.d0), t1.min(self.d0 + DAY_MS));
        while t < end {
            let h = ((t - self.d0) / HOUR_MS) as usize;
            let next = (self.d0 + (h as i64 + 1) * HOUR_MS).min(end);
            hours[h] += next - t;
            t = next;
        }
    }

    /// Files the pending time as `kind`.
    fn settle(&mut self, kind: Kind) {
        let to = if kind == Kind::Moving {
            &mut self.moving
        } else {
            &mut self.still
        };
        for (p, x) in self.pending.iter_mut().zip(to.iter_mut()) {
            *x += std::mem::take(p);
        }
    }

    /// Whole seconds moving and still per hour.
    fn seconds(&self) -> (Vec<u16>, Vec<u16>) {
        let s = |v: &[i64; 24]| v.iter().map(|ms| (ms / 1000).clamp(0, 3600) as u16).collect();
        (s(&self.moving), s(&self.still))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-02T00:00:00Z.
    const D0: i64 = 1_772_409_600_000;
    const S: i64 = 1000;

    fn m_per_deg() -> f64 {
        crate::geo::M_PER_DEG
    }

    /// A fix `north` metres north of 52.5, 13.4 at `t` seconds into the day, accuracy 5 m.
    fn at(t: i64, north: f64) -> Sample {
        Sample {
            accuracy_m: Some(5.0),
            ..Sample::new(D0 + t * S, 52.5 + north / m_per_deg(), 13.4)
        }
    }

    #[test]
    fn a_walk_along_a_meridian_measures_its_length() {
        // 1 km north in 12 minutes, a fix every 10 s: 1.39 m/s.
        let fixes: Vec<Sample> = (0..=72)
            .map(|i| at(3600 + i * 10, i as f64 * 1000.0 / 72.0))
            .collect();
        let day = measure_day(D0, &fixes);
        assert!((day.distance_m - 1000.0).abs() < 5.0, "{}", day.distance_m);
        assert_eq!(day.fixes, 73);
        assert_eq!(day.moving_s[1], 720, "{:?}", day.moving_s);
        assert!(day.stays.is_empty());
    }

    #[test]
    fn a_glitch_is_dropped_and_a_real_jump_starts_a_new_run() {
        let mut fixes: Vec<Sample> = (0..30).map(|i| at(i * 10, i as f64 * 14.0)).collect();
        // 5 km off for one fix.
        fixes[15].lat += 0.045;
        let day = measure_day(D0, &fixes);
        assert_eq!(day.glitches, 1);
        assert!((day.distance_m - 29.0 * 14.0).abs() < 1.0, "{}", day.distance_m);

        // The phone reappears 60 km away after a 10-minute gap: not 300 km/h of travel
        // counted, but a jump; the fixes there are kept.
        let mut jump: Vec<Sample> = (0..10).map(|i| at(i * 10, i as f64 * 14.0)).collect();
        jump.extend((0..10).map(|i| at(700 + i * 10, 60_000.0 + i as f64 * 14.0)));
        let day = measure_day(D0, &jump);
        assert_eq!((day.glitches, day.fixes), (0, 20));
        assert!((day.distance_m - 18.0 * 14.0).abs() < 1.0, "{}", day.distance_m);
    }

    #[test]
    fn a_spike_between_sparse_fixes_is_a_glitch_too() {
        // A fix a minute: 2 km off implies only 120 km/h, but the fixes either side agree.
        let mut fixes: Vec<Sample> = (0..20).map(|i| at(i * 60, i as f64 * 80.0)).collect();
        fixes[10].lat += 2000.0 / m_per_deg();
        let day = measure_day(D0, &fixes);
        assert_eq!(day.glitches, 1);
        assert!((day.distance_m - 19.0 * 80.0).abs() < 1.0, "{}", day.distance_m);
        // Out 600 m and back on a bike between fixes a minute apart would be dropped too; a real
        // turn (the neighbours apart) is not.
        let turn = [at(0, 0.0), at(60, 600.0), at(120, 600.0 + 600.0 * 0.3)];
        assert_eq!(measure_day(D0, &turn).glitches, 0);
    }

    #[test]
    fn jitter_within_the_accuracy_adds_nothing() {
        // Standing for 8 minutes (too short to be a stay), wobbling by up to 8 m with 5 m accuracy.
        let fixes: Vec<Sample> = (0..48)
            .map(|i| at(i * 10, [0.0, 8.0, -3.0, 5.0, -8.0, 2.0][i as usize % 6]))
            .collect();
        let day = measure_day(D0, &fixes);
        assert_eq!(day.distance_m, 0.0);
        assert_eq!(day.moving_s[0], 0);
        assert_eq!(day.still_s[0], 470);
    }

    #[test]
    fn inaccurate_fixes_are_dropped_and_counted() {
        let mut fixes: Vec<Sample> = (0..10).map(|i| at(i * 10, i as f64 * 14.0)).collect();
        fixes[4].accuracy_m = Some(1500.0);
        fixes[4].lat += 0.01;
        let day = measure_day(D0, &fixes);
        assert_eq!((day.inaccurate, day.fixes, day.glitches), (1, 9, 0));
        assert!((day.distance_m - 9.0 * 14.0).abs() < 1.0, "{}", day.distance_m);
    }

    #[test]
    fn a_stay_is_found_and_wandering_inside_it_is_not_travel() {
        // 20 minutes wandering within 40 m, then a walk away north at 1.4 m/s.
        let mut fixes: Vec<Sample> = (0..120).map(|i| at(i * 10, (i % 5) as f64 * 10.0)).collect();
        fixes.extend((1..=30).map(|i| at(1190 + i * 10, 40.0 + i as f64 * 14.0)));
        let day = measure_day(D0, &fixes);
        assert_eq!(day.stays.len(), 1, "{:?}", day.stays);
        let stay = &day.stays[0];
        // The stay lasts until the walk leaves 150 m around its centre.
        assert_eq!((stay.start_ms, stay.end_ms), (D0, D0 + 1280 * S));
        assert!((stay.lat - 52.5).abs() < 40.0 / m_per_deg(), "{stay:?}");
        // Wandering adds nothing; the way out counts from the stay's centre.
        let centre = (stay.lat - 52.5) * m_per_deg();
        assert!(
            (day.distance_m - (460.0 - centre)).abs() < 1.0,
            "{} {centre}",
            day.distance_m
        );
        assert_eq!(day.still_s[0], 1280);
        assert_eq!(day.moving_s[0], 1490 - 1280);
    }

    #[test]
    fn midnight_splits_the_day_and_the_step_across_it_counts_once() {
        // A walk from 23:55 to 00:05: 60 steps of 14 m, a fix every 10 s.
        let fixes: Vec<Sample> = (0..=60).map(|i| at(-300 + i * 10, i as f64 * 14.0)).collect();
        let today = measure_day(D0, &fixes);
        let yesterday = measure_day(D0 - DAY_MS, &fixes);
        // Steps ending before midnight are yesterday's (29), the one ending at 00:00 on is today's.
        assert!(
            (yesterday.distance_m - 29.0 * 14.0).abs() < 1.0,
            "{}",
            yesterday.distance_m
        );
        assert!(
            (today.distance_m - 31.0 * 14.0).abs() < 1.0,
            "{}",
            today.distance_m
        );
        assert_eq!((yesterday.fixes, today.fixes), (30, 31));
        // Yesterday has no fix at midnight to close its last 10 s.
        assert_eq!(yesterday.moving_s[23], 290);
        assert_eq!(today.moving_s[0], 300);
        assert!(
            yesterday.moving_s[..23]
                .iter()
                .chain(&today.moving_s[1..])
                .all(|s| *s == 0)
        );
    }

    #[test]
    fn an_empty_day_is_empty() {
        let day = measure_day(D0, &[]);
        assert_eq!(day, DayTrack::empty());
        // Fixes of another day only.
        let day = measure_day(D0, &[at(-3600, 0.0), at(86_400, 0.0)]);
        assert_eq!(day, DayTrack::empty());
    }

    #[test]
    fn a_long_gap_in_one_place_is_still_and_elsewhere_unknown() {
        let fixes = [
            at(0, 0.0),
            at(3 * 3600, 30.0),
            at(3 * 3600 + 60, 30.0),
            at(9 * 3600, 5000.0),
        ];
        let day = measure_day(D0, &fixes);
        assert_eq!(&day.still_s[..3], &[3600, 3600, 3600]);
        assert_eq!(day.still_s[3], 60);
        assert!(day.still_s[4..].iter().all(|s| *s == 0));
        assert!(day.moving_s.iter().all(|s| *s == 0));
        // The 5 km to the last fix are counted: the device did get there.
        assert!((day.distance_m - 5000.0).abs() < 1.0, "{}", day.distance_m);
        assert_eq!(day.stays.len(), 1);
    }

    #[test]
    fn a_fix_repeated_at_the_same_instant_is_counted_once() {
        let fixes = [at(0, 0.0), at(10, 14.0), at(10, 14.0), at(20, 28.0)];
        let day = measure_day(D0, &fixes);
        assert_eq!(day.fixes, 3);
        assert!((day.distance_m - 28.0).abs() < 0.1, "{}", day.distance_m);
    }
}
