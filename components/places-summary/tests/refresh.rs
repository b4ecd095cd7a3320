//! The incremental computation over a month of generated fixes held in memory, read through the
//! same JSON the box answers: newest days first, a bounded amount of work per call, finished days
//! kept until points arrive for them, days too large for one read read in slices.

mod common;

use std::time::Instant;

use common::*;
use databox_sdk::{Error, Result};
use places_summary::location::PlaceVisit;
use places_summary::refresh::{
    Cache, FixPoint, Refreshed, SLICE_FIXES, Settings, Source, parse_fixes, refresh,
};

/// Fixes (and maybe visits) in memory, answered as the box would.
struct Memory {
    fixes: Vec<(places_summary::track::Sample, &'static str)>,
    visits: Option<Vec<PlaceVisit>>,
    /// A read of more fixes than this is refused as too large, as the box's output limit does.
    max_rows: usize,
    device: Option<String>,
    reads: u32,
}

impl Memory {
    fn new(tracks: &[(&Track, &'static str)]) -> Memory {
        let mut fixes: Vec<_> = tracks
            .iter()
            .flat_map(|(t, d)| t.fixes.iter().map(move |f| (*f, *d)))
            .collect();
        fixes.sort_by_key(|(f, _)| f.t);
        Memory {
            fixes,
            visits: None,
            max_rows: 100_000,
            device: None,
            reads: 0,
        }
    }

    fn range(
        &self,
        from: i64,
        to: i64,
    ) -> impl Iterator<Item = &(places_summary::track::Sample, &'static str)> {
        let a = self.fixes.partition_point(|(f, _)| f.t < from);
        let b = self.fixes.partition_point(|(f, _)| f.t <= to);
        self.fixes[a..b]
            .iter()
            .filter(|(_, d)| self.device.as_deref().is_none_or(|x| x == *d))
    }
}

impl Source for Memory {
    fn count(&mut self, from: i64, to: i64) -> Result<u64> {
        Ok(self.range(from, to).count() as u64)
    }

    fn fixes(&mut self, from: i64, to: i64) -> Result<Vec<FixPoint>> {
        self.reads += 1;
        let rows: Vec<String> = self
            .range(from, to)
            .map(|(f, d)| {
                format!(
                    r#"{{"timestamp":{},"data":{{"lat":{},"lon":{},"accuracy_m":{},"speed_mps":1.5,"device":"{d}","source":"owntracks","client_user":"jane","client_device":"iphone"}}}}"#,
                    f.t,
                    f.lat,
                    f.lon,
                    f.accuracy_m.unwrap()
                )
            })
            .collect();
        if rows.len() > self.max_rows {
            return Err(Error::TooLarge("the answer is over the component's limit".into()));
        }
        parse_fixes(&format!("[{}]", rows.join(",")))
    }

    fn visits(&mut self, from: i64, to: i64) -> Result<Option<Vec<PlaceVisit>>> {
        Ok(self.visits.as_ref().map(|v| {
            v.iter()
                .filter(|v| (from..=to).contains(&v.start_ms))
                .cloned()
                .collect()
        }))
    }
}

/// 30 days to `D0 + 29 days`: commutes on weekdays, a walk at weekends, a fix every `interval`.
fn month(interval: i64) -> Track {
    let first = D0 - 29 * DAY;
    let mut t = Track::new(42, first - 30 * MIN, HOME, interval);
    for i in 0..30 {
        let d0 = first + i * DAY;
        // D0 is a Monday; D0 - 29 days is a Sunday.
        if matches!((d0 / DAY + 4).rem_euclid(7), 0 | 6) {
            home_day(&mut t, d0);
        } else {
            commute_day(&mut t, d0);
        }
    }
    t
}

const NOW: i64 = D0 + 14 * HOUR;

fn settings(days: u32) -> Settings {
    Settings { days, device: None }
}

/// Runs one call that may compute `per_call` days.
fn call(src: &mut Memory, cache: Option<Cache>, days: u32, now: i64, per_call: usize) -> Refreshed {
    let mut started = 0;
    refresh(src, cache, &settings(days), now, &mut || {
        started += 1;
        started >= per_call
    })
    .unwrap()
}

#[test]
fn a_month_is_computed_newest_first_a_few_days_a_call_and_then_kept() {
    let track = month(10 * S);
    let mut src = Memory::new(&[(&track, "owner")]);
    let today = NOW / DAY;

    let first = call(&mut src, None, 30, NOW, 4);
    assert_eq!(first.computed, vec![today, today - 1, today - 2, today - 3]);
    assert_eq!(first.summary.pending, 26);
    assert_eq!(first.summary.days.len(), 30);
    assert!(first.summary.days[29].computed && !first.summary.days[25].computed);
    // One read per day: 8640 fixes fit one slice.
    assert_eq!(first.reads, 4);

    let mut cache = Some(first.cache);
    let mut calls = 1;
    loop {
        let r = call(&mut src, cache.take(), 30, NOW, 4);
        calls += 1;
        // Today's count has not changed: it is not computed again.
        assert!(!r.computed.contains(&today), "{:?}", r.computed);
        cache = Some(r.cache);
        if r.summary.pending == 0 {
            break;
        }
    }
    assert_eq!(calls, 8, "4 days a call");

    // Every day within 2% of the way travelled (today so far, until 14:00).
    let r = call(&mut src, cache.take(), 30, NOW, 4);
    assert!(
        r.computed.is_empty() && r.reads == 0,
        "nothing changed, nothing read"
    );
    for d in &r.summary.days {
        let truth = track.true_distance(d.day);
        assert!(d.computed);
        assert!(
            (d.distance_m - truth).abs() <= 0.02 * truth + 1.0,
            "day {}: {} vs {truth}",
            d.day,
            d.distance_m
        );
    }
    let weekdays: Vec<char> = r
        .summary
        .days
        .iter()
        .map(|d| if d.distance_m > 5000.0 { 'W' } else { 'h' })
        .collect();
    assert_eq!(
        weekdays.iter().collect::<String>(),
        "hWWWWWhhWWWWWhhWWWWWhhWWWWWhhW"
    );
    // The top places: home, then the office, over the week and over the month.
    assert_eq!(r.summary.places_from, "fixes");
    assert_eq!(
        r.summary.periods.iter().map(|p| p.days).collect::<Vec<_>>(),
        vec![7, 30]
    );
    for p in &r.summary.periods {
        assert!(
            from(HOME, p.places[0].lat, p.places[0].lon) < 30.0,
            "{:?}",
            p.places[0]
        );
        assert!(
            from(OFFICE, p.places[1].lat, p.places[1].lon) < 30.0,
            "{:?}",
            p.places[1]
        );
        assert!(
            p.places[0].label.starts_with("Place 1 ("),
            "{}",
            p.places[0].label
        );
    }
    let month_home = r.summary.periods[1].places[0].seconds as f64 / 3600.0;
    assert!(
        (480.0..560.0).contains(&month_home),
        "{month_home} h at home in 29.6 days"
    );

    // A phone's backlog arrives for a day ten days ago: that day alone is computed again.
    let late_day = today - 10;
    let mut late = Track::new(5, late_day * DAY + 3 * HOUR, STATION_A, 10 * S);
    late.go(STATION_B, 10.0, (5.0, 8.0));
    src.fixes.extend(late.fixes.iter().map(|f| (*f, "owner")));
    src.fixes.sort_by_key(|(f, _)| f.t);
    let r2 = call(&mut src, Some(r.cache), 30, NOW, 4);
    assert_eq!(r2.computed, vec![late_day]);

    // A day later the window moves on: the oldest day leaves the cache, a new one comes in.
    let r3 = call(&mut src, Some(r2.cache), 30, NOW + DAY, 4);
    assert_eq!(
        r3.computed,
        Vec::<i64>::new(),
        "tomorrow has no fixes: nothing to read"
    );
    assert_eq!(r3.cache.days.len(), 30);
    assert_eq!(r3.cache.days[0].day, today - 28);
    assert_eq!(r3.summary.days[29].fixes, 0);
}

#[test]
fn a_month_at_a_fix_every_10_s_timed() {
    let track = month(10 * S);
    let mut src = Memory::new(&[(&track, "owner")]);
    let started = Instant::now();
    let r = call(&mut src, None, 30, NOW, 100);
    let took = started.elapsed();
    assert_eq!((r.computed.len(), r.summary.pending), (30, 0));
    println!(
        "30 days, {} fixes read and measured (JSON included) in {:.0} ms natively ({} build)",
        r.fixes_read,
        took.as_secs_f64() * 1000.0,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
}

#[test]
fn a_day_too_large_for_one_read_is_read_in_slices_and_halves() {
    // A fix a second: 86,400 a day, read in slices of about SLICE_FIXES, each halved again
    // while the answer is over the limit.
    let mut t = Track::new(3, D0 - 30 * MIN, HOME, S);
    commute_day(&mut t, D0);
    let mut whole = Memory::new(&[(&t, "owner")]);
    let reference = call(&mut whole, None, 1, D0 + 23 * HOUR, 1);
    assert_eq!(whole.reads as u64, 86_400u64.div_ceil(SLICE_FIXES));

    let mut src = Memory::new(&[(&t, "owner")]);
    src.max_rows = 5_000;
    let sliced = call(&mut src, None, 1, D0 + 23 * HOUR, 1);
    assert!(src.reads > 18, "{}", src.reads);
    assert_eq!(sliced.fixes_read, reference.fixes_read);
    assert_eq!(sliced.cache, reference.cache);
}

#[test]
fn visits_when_mapped_give_the_places_and_their_names() {
    let mut t = Track::new(8, D0 - DAY - 30 * MIN, HOME, 10 * S);
    commute_day(&mut t, D0 - DAY);
    commute_day(&mut t, D0);
    let mut src = Memory::new(&[(&t, "owner")]);
    let visit = |p: Pos, from: i64, to: i64, name: Option<&str>, id: Option<&str>| PlaceVisit {
        lat: p.0,
        lon: p.1,
        name: name.map(str::to_owned),
        address: None,
        place_id: id.map(str::to_owned),
        semantic_type: None,
        start_ms: from,
        end_ms: to,
        confidence: None,
        level: None,
        source: "google-semantic".into(),
    };
    // Mapped, but nothing recorded: the places come from the fixes.
    src.visits = Some(Vec::new());
    let r = call(&mut src, None, 7, NOW, 10);
    assert!(r.summary.visits_mapped);
    assert_eq!(r.summary.places_from, "fixes");
    assert!(r.summary.periods[0].places[0].label.starts_with("Place 1"));

    src.visits = Some(vec![
        // A long stay at home that began before the window: its part in the window counts.
        visit(
            HOME,
            D0 - 7 * DAY - 12 * HOUR,
            D0 - 5 * DAY,
            Some("Home"),
            Some("p-home"),
        ),
        visit(
            HOME,
            D0 - DAY + 17 * HOUR + 40 * MIN,
            D0 + 7 * HOUR + 40 * MIN,
            Some("Home"),
            Some("p-home"),
        ),
        visit(
            OFFICE,
            D0 - DAY + 8 * HOUR,
            D0 - DAY + 17 * HOUR,
            Some("Acme <Office>"),
            Some("p-acme"),
        ),
        visit(OFFICE, D0 + 8 * HOUR, D0 + 12 * HOUR, None, Some("p-acme")),
        // Inside the office visit: not counted twice.
        PlaceVisit {
            level: Some(1),
            ..visit(CAFE, D0 + 9 * HOUR, D0 + 10 * HOUR, Some("Kantine"), None)
        },
    ]);
    let r = call(&mut src, Some(r.cache), 7, NOW, 10);
    assert_eq!(r.summary.places_from, "visits");
    assert_eq!(r.summary.visits, 4);
    let week = &r.summary.periods[0].places;
    assert_eq!(week.len(), 2, "{week:?}");
    assert_eq!(week[0].label, "Home");
    // A day of the long stay in the window (from D0 - 6 days), 14 h of last night.
    assert_eq!(week[0].seconds, 86_400 + 14 * 3600);
    assert_eq!(
        (week[1].label.as_str(), week[1].seconds),
        ("Acme <Office>", 13 * 3600)
    );
    // The page escapes the name.
    let page = places_summary::page::page(Some(&r.summary));
    assert!(page.contains("Acme &lt;Office&gt;") && !page.contains("Acme <Office>"));
}

#[test]
fn days_without_fixes_are_empty_and_cost_no_read() {
    let mut src = Memory::new(&[]);
    let r = call(&mut src, None, 30, NOW, 1);
    assert_eq!((src.reads, r.reads, r.summary.pending), (0, 0, 0));
    assert!(
        r.summary
            .days
            .iter()
            .all(|d| d.computed && d.fixes == 0 && d.distance_m == 0.0)
    );
    assert!(r.summary.days.iter().all(|d| d.strip == ".".repeat(24)));
    assert!(r.summary.periods.iter().all(|p| p.places.is_empty()));
    let page = places_summary::page::page(Some(&r.summary));
    assert!(page.contains("No locations in these days."));
}

#[test]
fn another_device_setting_computes_every_day_again() {
    let mut a = Track::new(21, D0 - 30 * MIN, HOME, 10 * S);
    commute_day(&mut a, D0);
    let mut b = Track::new(22, D0 - 30 * MIN, HOME, 60 * S);
    home_day(&mut b, D0);
    let mut src = Memory::new(&[(&a, "phone"), (&b, "watch")]);
    let all = call(&mut src, None, 2, NOW, 10);
    let today = &all.summary.days[1];
    assert_eq!((today.device.as_deref(), today.devices), (Some("phone"), 2));
    src.device = Some("watch".into());
    let watch = refresh(
        &mut src,
        Some(all.cache),
        &Settings {
            days: 2,
            device: Some("watch".into()),
        },
        NOW,
        &mut || false,
    )
    .unwrap();
    // Newest first; yesterday too (its last half hour has the watch's fixes).
    assert_eq!(watch.computed, vec![D0 / DAY, D0 / DAY - 1]);
    let today = &watch.summary.days[1];
    assert_eq!((today.device.as_deref(), today.devices), (Some("watch"), 1));
    assert!(today.distance_m < 2500.0, "{}", today.distance_m);
}
