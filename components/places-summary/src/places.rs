//! Time at places: stays found in the fixes, or recorded visits, gathered into places and
//! ranked by the time spent there. Pure, tested natively.
//!
//! A visit with a place id is that place, and so is a visit with the same name; anything else (a
//! stay, a visit without id or name) joins the nearest place within [`STAY_RADIUS_M`] of it,
//! longest first, or starts a new one. Places are numbered by their rank over the whole window,
//! so that "Place 2" is the same place in every period shown.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::geo::haversine_m;
use crate::track::{STAY_RADIUS_M, Stay};

/// Time spent somewhere: a stay found in the fixes, or a visit.
#[derive(Clone, Debug, PartialEq)]
pub struct Dwell {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// From, epoch ms.
    pub start_ms: i64,
    /// To, epoch ms.
    pub end_ms: i64,
    /// What identifies the place across dwells (a place id or a name), if anything does.
    pub key: Option<String>,
    /// The place's name for the owner, if known.
    pub name: Option<String>,
}

impl From<&Stay> for Dwell {
    /// A stay found in the fixes: somewhere, but no place anyone named.
    fn from(s: &Stay) -> Dwell {
        Dwell {
            lat: s.lat,
            lon: s.lon,
            start_ms: s.start_ms,
            end_ms: s.end_ms,
            key: None,
            name: None,
        }
    }
}

/// A place and the time spent there in one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlaceTime {
    /// Its name, or `Place N (lat, lon)`.
    pub label: String,
    /// Where it is (the time-weighted centre of its dwells), degrees.
    pub lat: f64,
    /// Where it is, degrees.
    pub lon: f64,
    /// Seconds spent there in the period.
    pub seconds: i64,
    /// How many stays or visits there touched the period.
    pub dwells: u32,
}

struct Place {
    name: Option<String>,
    lat: f64,
    lon: f64,
    weight: f64,
    members: Vec<usize>,
}

impl Place {
    fn add(&mut self, i: usize, d: &Dwell) {
        // Weighted by time, at least a second, so a centre moves towards where time was spent.
        let w = ((d.end_ms - d.start_ms) as f64 / 1000.0).max(1.0);
        self.lat = (self.lat * self.weight + d.lat * w) / (self.weight + w);
        self.lon = (self.lon * self.weight + d.lon * w) / (self.weight + w);
        self.weight += w;
        self.members.push(i);
        if self.name.is_none() {
            self.name.clone_from(&d.name);
        }
    }
}

/// The top `n` places of each period (`from..to`, epoch ms), most time first, from dwells cut to
/// `window` (which holds every period).
pub fn top_places(
    dwells: &[Dwell],
    window: (i64, i64),
    periods: &[(i64, i64)],
    n: usize,
) -> Vec<Vec<PlaceTime>> {
    let clip = |d: &Dwell, (from, to): (i64, i64)| (d.end_ms.min(to) - d.start_ms.max(from)).max(0);
    let dwells: Vec<&Dwell> = dwells.iter().filter(|d| clip(d, window) > 0).collect();

    let mut places: Vec<Place> = Vec::new();
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let new_place = |d: &Dwell| Place {
        name: None,
        lat: d.lat,
        lon: d.lon,
        weight: 0.0,
        members: Vec::new(),
    };
    // Keyed dwells first, so that unkeyed ones nearby join the named place.
    for (i, d) in dwells.iter().enumerate() {
        if let Some(key) = d.key.as_deref() {
            let p = *by_key.entry(key).or_insert_with(|| {
                places.push(new_place(d));
                places.len() - 1
            });
            places[p].add(i, d);
        }
    }
    let mut unkeyed: Vec<usize> = (0..dwells.len()).filter(|i| dwells[*i].key.is_none()).collect();
    unkeyed.sort_by_key(|i| std::cmp::Reverse(clip(dwells[*i], window)));
    for i in unkeyed {
        let d = dwells[i];
        let nearest = places
            .iter()
            .enumerate()
            .map(|(p, place)| (p, haversine_m(place.lat, place.lon, d.lat, d.lon)))
            .filter(|(_, m)| *m <= STAY_RADIUS_M)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match nearest {
            Some((p, _)) => places[p].add(i, d),
            None => {
                places.push(new_place(d));
                let p = places.len() - 1;
                places[p].add(i, d);
            }
        }
    }

    let seconds = |p: &Place, period: (i64, i64)| -> (i64, u32) {
        p.members.iter().fold((0, 0), |(ms, k), i| {
            let c = clip(dwells[*i], period);
            (ms + c, k + u32::from(c > 0))
        })
    };
    // Ranked over the window: the numbers of unnamed places.
    let mut order: Vec<usize> = (0..places.len()).collect();
    order.sort_by_key(|p| (std::cmp::Reverse(seconds(&places[*p], window).0), *p));
    let mut labels = vec![String::new(); places.len()];
    for (rank, p) in order.iter().enumerate() {
        let place = &places[*p];
        labels[*p] = match &place.name {
            Some(name) => name.clone(),
            None => format!("Place {} ({:.4}, {:.4})", rank + 1, place.lat, place.lon),
        };
    }
    periods
        .iter()
        .map(|period| {
            let mut list: Vec<PlaceTime> = order
                .iter()
                .map(|p| {
                    let (ms, k) = seconds(&places[*p], *period);
                    PlaceTime {
                        label: labels[*p].clone(),
                        lat: places[*p].lat,
                        lon: places[*p].lon,
                        seconds: ms / 1000,
                        dwells: k,
                    }
                })
                .filter(|t| t.seconds > 0)
                .collect();
            list.sort_by_key(|t| std::cmp::Reverse(t.seconds));
            list.truncate(n);
            list
        })
        .collect()
}

/// What identifies a visit's place and what to call it: its place id or name, else nothing
/// (and its position decides); its name, else its address, else what the source says it is to
/// the person (`Home`, `Work`).
pub fn visit_identity(
    place_id: Option<&str>,
    name: Option<&str>,
    address: Option<&str>,
    semantic_type: Option<&str>,
) -> (Option<String>, Option<String>) {
    let some = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let key = some(place_id)
        .map(|id| format!("id:{id}"))
        .or_else(|| some(name).map(|n| format!("name:{n}")));
    let semantic = some(semantic_type).and_then(|t| {
        let t = t.to_ascii_uppercase();
        if t.contains("HOME") {
            Some("Home".to_owned())
        } else if t.contains("WORK") {
            Some("Work".to_owned())
        } else {
            None
        }
    });
    (key, some(name).or_else(|| some(address)).or(semantic))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn dwell(lat: f64, lon: f64, start_h: i64, hours: i64) -> Dwell {
        Dwell {
            lat,
            lon,
            start_ms: start_h * H,
            end_ms: (start_h + hours) * H,
            key: None,
            name: None,
        }
    }

    #[test]
    fn stays_nearby_are_one_place_and_ranked_by_time() {
        let home = (52.5200, 13.4050);
        let office = (52.5070, 13.3900);
        let dwells = vec![
            dwell(home.0, home.1, 0, 8),
            dwell(office.0, office.1, 9, 8),
            // 60 m from home: the same place.
            dwell(home.0 + 0.0005, home.1 + 0.0002, 18, 6),
            dwell(52.5300, 13.4500, 17, 1),
        ];
        let top = top_places(&dwells, (0, 24 * H), &[(0, 24 * H), (12 * H, 24 * H)], 5);
        let day = &top[0];
        assert_eq!(day.len(), 3, "{day:?}");
        assert_eq!(day[0].seconds, 14 * 3600);
        assert_eq!(day[0].dwells, 2);
        assert!(day[0].label.starts_with("Place 1 (52.520"), "{}", day[0].label);
        assert!(
            day[1].label.starts_with("Place 2 (52.5070, 13.3900)"),
            "{}",
            day[1].label
        );
        assert_eq!(day[2].seconds, 3600);
        // The afternoon: the office's 5 h, home's 6 h; the numbers stay those of the window.
        let afternoon = &top[1];
        assert_eq!(afternoon[0].seconds, 6 * 3600);
        assert!(afternoon[0].label.starts_with("Place 1"));
        assert_eq!(afternoon[1].seconds, 5 * 3600);
        assert!(afternoon[1].label.starts_with("Place 2"));
    }

    #[test]
    fn visits_sum_by_place_id_or_name_and_keep_the_name() {
        let mut a = dwell(52.52, 13.405, 0, 2);
        (a.key, a.name) = visit_identity(Some("ChIJ1"), Some("Café Blume"), None, None);
        // The same place id, its position drifting 300 m (Google moves pins): still one place.
        let mut b = dwell(52.5227, 13.405, 10, 1);
        (b.key, b.name) = visit_identity(Some("ChIJ1"), None, Some("Somewhere 1"), None);
        // No id or name, right there: joins it.
        let c = dwell(52.5201, 13.405, 20, 1);
        let mut home = dwell(52.50, 13.30, 3, 5);
        (home.key, home.name) = visit_identity(None, None, None, Some("TYPE_HOME"));
        let top = top_places(&[a, b, c, home], (0, 24 * H), &[(0, 24 * H)], 5);
        assert_eq!(top[0].len(), 2, "{top:?}");
        assert_eq!((top[0][0].label.as_str(), top[0][0].seconds), ("Home", 5 * 3600));
        assert_eq!(
            (top[0][1].label.as_str(), top[0][1].seconds, top[0][1].dwells),
            ("Café Blume", 4 * 3600, 3)
        );
    }

    #[test]
    fn dwells_are_cut_to_the_window_and_periods_and_only_the_top_are_kept() {
        let dwells: Vec<Dwell> = (0..8)
            .map(|i| dwell(52.0 + i as f64 * 0.01, 13.0, i, i + 1))
            .collect();
        let top = top_places(&dwells, (2 * H, 10 * H), &[(2 * H, 10 * H)], 5);
        assert_eq!(top[0].len(), 5);
        // Dwell i lasts from i h to 2i+1 h; cut to 2..10 h they last 0, 1, 3, 4, 5, 5, 4, 3 h.
        let secs: Vec<i64> = top[0].iter().map(|t| t.seconds / 3600).collect();
        assert_eq!(secs, vec![5, 5, 4, 4, 3]);
        assert!(top_places(&[], (0, H), &[(0, H)], 5)[0].is_empty());
    }
}
