//! A realistic day measured: a commute with GPS noise, glitches and cell-tower fixes, at the
//! rates phones send (a fix every 10 s, every second, every minute).

mod common;

use common::*;
use places_summary::places::{Dwell, top_places};
use places_summary::refresh::strip;
use places_summary::track::{Sample, measure_day};

fn commute(seed: u64, interval: i64) -> Track {
    let mut t = Track::new(seed, D0 - 30 * MIN, HOME, interval);
    commute_day(&mut t, D0);
    t
}

fn dwells(day: &places_summary::track::DayTrack) -> Vec<Dwell> {
    day.stays.iter().map(Dwell::from).collect()
}

#[test]
fn a_noisy_commute_measures_within_two_percent_of_the_way_travelled() {
    for (seed, interval) in [(1, 10 * S), (2, 10 * S), (3, S), (4, 30 * S), (5, MIN)] {
        let t = commute(seed, interval);
        let truth = t.true_distance(D0 / DAY);
        let day = measure_day(D0, &t.fixes);
        let error = (day.distance_m - truth) / truth;
        println!(
            "a fix every {} s: {} fixes, measured {:.0} m of {:.0} m ({:+.2}%)",
            interval / S,
            day.fixes,
            day.distance_m,
            truth,
            error * 100.0
        );
        assert!((16_000.0..17_500.0).contains(&truth), "{truth}");
        assert!(
            error.abs() < 0.02,
            "every {interval} ms: {} vs {truth}",
            day.distance_m
        );
        assert_eq!((day.glitches, day.inaccurate), (0, 0));
    }
}

#[test]
fn glitches_and_cell_fixes_are_left_out() {
    let mut t = commute(7, 10 * S);
    let truth = t.true_distance(D0 / DAY);
    let (glitches, cells) = spoil(&mut t, 6, 40);
    let day = measure_day(D0, &t.fixes);
    // Those of the day (the track starts before midnight).
    let of_day = |v: &[i64]| v.iter().filter(|t| **t >= D0).count();
    assert_eq!(day.inaccurate as usize, of_day(&cells));
    assert_eq!(day.glitches as usize, of_day(&glitches), "{glitches:?}");
    let error = (day.distance_m - truth) / truth;
    assert!(error.abs() < 0.02, "{} vs {truth}", day.distance_m);
    // Without the filters the glitches alone would add more than 60 km.
    let unfiltered: f64 = t
        .fixes
        .windows(2)
        .map(|w| places_summary::geo::haversine_m(w[0].lat, w[0].lon, w[1].lat, w[1].lon))
        .sum();
    assert!(unfiltered > truth + 60_000.0, "{unfiltered}");
}

#[test]
fn the_commute_has_home_office_and_cafe_as_its_places() {
    let t = commute(11, 10 * S);
    let day = measure_day(D0, &t.fixes);
    let top = top_places(&dwells(&day), (D0, D0 + DAY), &[(D0, D0 + DAY)], 5);
    let places = &top[0];
    assert_eq!(places.len(), 3, "{places:?}");
    let (home, office, cafe) = (&places[0], &places[1], &places[2]);
    assert!(from(HOME, home.lat, home.lon) < 30.0, "{home:?}");
    assert!(from(OFFICE, office.lat, office.lon) < 30.0, "{office:?}");
    assert!(from(CAFE, cafe.lat, cafe.lon) < 30.0, "{cafe:?}");
    assert!(home.label.starts_with("Place 1 (52.520"), "{}", home.label);
    // Home 7.7 h before and 6.5 h after, the office 3.8 h and 4.3 h, the café 37 minutes; a
    // stay starts and ends up to 150 m from the door, so a couple of minutes either way.
    let hours = |p: &places_summary::places::PlaceTime| p.seconds as f64 / 3600.0;
    assert!((13.9..14.4).contains(&hours(home)), "{}", hours(home));
    assert_eq!(home.dwells, 2, "{:#?}", day.stays);
    assert!((7.8..8.3).contains(&hours(office)), "{}", hours(office));
    assert_eq!(office.dwells, 2);
    assert!((0.55..0.75).contains(&hours(cafe)), "{}", hours(cafe));
    // The platforms (five minutes) are not places.
    assert!(day.stays.iter().all(|s| from(STATION_A, s.lat, s.lon) > 200.0));
}

#[test]
fn the_hours_of_the_commute_are_moving_and_the_rest_still() {
    let t = commute(13, 10 * S);
    let day = measure_day(D0, &t.fixes);
    let s = strip(&day);
    // 07:42-08:14 and 17:00-17:31 on the way; the café is next door to the office (a walk of
    // three minutes each way, mostly within 150 m of one or the other), so 12:00 is still.
    let moving: Vec<usize> = s
        .char_indices()
        .filter(|(_, c)| *c == 'm')
        .map(|(h, _)| h)
        .collect();
    assert_eq!(moving, vec![7, 8, 17], "{s}");
    assert!(!s.contains('.'), "{s}");
}

#[test]
fn a_phone_that_reports_rarely_when_still_is_still_not_unknown() {
    // What OwnTracks' significant-changes mode sends: a fix after 100 m of movement, or after
    // 30 minutes without.
    let t = commute(17, 10 * S);
    let mut sparse: Vec<Sample> = Vec::new();
    for f in &t.fixes {
        let keep = sparse
            .last()
            .is_none_or(|l| f.t - l.t >= 30 * MIN || from((l.lat, l.lon), f.lat, f.lon) > 100.0);
        if keep {
            sparse.push(*f);
        }
    }
    assert!(sparse.len() < 400, "{}", sparse.len());
    let day = measure_day(D0, &sparse);
    let s = strip(&day);
    assert!(!s.contains('.'), "{s}");
    let truth = t.true_distance(D0 / DAY);
    assert!(
        ((day.distance_m - truth) / truth).abs() < 0.05,
        "{} vs {truth}",
        day.distance_m
    );
}

#[test]
fn a_day_at_home_with_a_walk() {
    let mut t = Track::new(19, D0 - 30 * MIN, HOME, 10 * S);
    home_day(&mut t, D0);
    let day = measure_day(D0, &t.fixes);
    let truth = t.true_distance(D0 / DAY);
    assert!((1900.0..2100.0).contains(&truth), "{truth}");
    assert!(
        ((day.distance_m - truth) / truth).abs() < 0.05,
        "{} vs {truth}",
        day.distance_m
    );
    // 15:00-15:12 to the park, 15:52-16:04 back: hour 16 has under five minutes of it.
    let s = strip(&day);
    assert_eq!((s.find('m'), s.matches('m').count()), (Some(15), 1), "{s}");
}
