//! Realistic generated tracks for the tests: a day of commuting in Berlin (home, a walk, a train,
//! a walk, the office, lunch at a café, and back), with GPS noise that drifts like real noise
//! (correlated from fix to fix, larger indoors and on the train), glitches and cell-tower fixes.

#![allow(dead_code)]

use places_summary::geo::{M_PER_DEG, haversine_m};
use places_summary::track::Sample;

pub const S: i64 = 1000;
pub const MIN: i64 = 60 * S;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;
/// 2026-03-02T00:00:00Z, a Monday.
pub const D0: i64 = 1_772_409_600_000;

pub type Pos = (f64, f64);

pub const HOME: Pos = (52.5200, 13.4050);
const CORNER: Pos = (52.5200, 13.4110);
pub const STATION_A: Pos = (52.5236, 13.4110);
const LINE: [Pos; 2] = [(52.5300, 13.4400), (52.5150, 13.4700)];
pub const STATION_B: Pos = (52.5080, 13.4950);
const TURN: Pos = (52.5050, 13.4950);
pub const OFFICE: Pos = (52.5050, 13.4990);
pub const CAFE: Pos = (52.5050, 13.5030);

/// splitmix64: small, seedable, good enough for noise.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..1.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-12);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// Builds a track a fix every `interval`, remembering the true distance covered.
pub struct Track {
    pub rng: Rng,
    pub interval: i64,
    pub t: i64,
    pub pos: Pos,
    pub fixes: Vec<Sample>,
    /// Metres really travelled (the noise-free path), by the UTC day the metres were covered in.
    pub true_m: std::collections::BTreeMap<i64, f64>,
    /// The offset the noise has drifted to, metres east and north.
    noise: (f64, f64),
}

impl Track {
    pub fn new(seed: u64, start: i64, at: Pos, interval: i64) -> Track {
        Track {
            rng: Rng::new(seed),
            interval,
            t: start,
            pos: at,
            fixes: Vec::new(),
            true_m: Default::default(),
            noise: (0.0, 0.0),
        }
    }

    /// A fix of the current position with noise of about `accuracy` (the 68% radius the phone
    /// reports, so the noise's standard deviation per axis is about two thirds of it).
    fn fix(&mut self, accuracy: f64) {
        let sigma = accuracy / 1.5;
        // AR(1): GPS errors drift slowly, over minutes whatever the rate of fixes (95% of the
        // error is kept after 10 s).
        let rho = (-(self.interval as f64) / 195_000.0).exp();
        let k = (1.0 - rho * rho).sqrt() * sigma;
        self.noise.0 = rho * self.noise.0 + k * self.rng.normal();
        self.noise.1 = rho * self.noise.1 + k * self.rng.normal();
        let cos = self.pos.0.to_radians().cos();
        self.fixes.push(Sample {
            t: self.t,
            lat: self.pos.0 + self.noise.1 / M_PER_DEG,
            lon: self.pos.1 + self.noise.0 / (M_PER_DEG * cos),
            accuracy_m: Some((accuracy * self.rng.range(0.8, 1.2)).round()),
        });
    }

    /// Stays put for `ms`, fixes with accuracy in `acc`.
    pub fn stay(&mut self, ms: i64, acc: (f64, f64)) -> &mut Self {
        let end = self.t + ms;
        while self.t < end {
            let a = self.rng.range(acc.0, acc.1);
            self.fix(a);
            self.t += self.interval;
        }
        self
    }

    /// Moves in a straight line to `to` at `speed` m/s.
    pub fn go(&mut self, to: Pos, speed: f64, acc: (f64, f64)) -> &mut Self {
        let from = self.pos;
        let length = haversine_m(from.0, from.1, to.0, to.1);
        let duration = (length / speed * 1000.0) as i64;
        let start = self.t;
        let mut done = 0.0;
        while self.t < start + duration {
            let f = (self.t - start) as f64 / duration as f64;
            self.pos = (from.0 + (to.0 - from.0) * f, from.1 + (to.1 - from.1) * f);
            let covered = length * f;
            *self.true_m.entry(self.t.div_euclid(DAY)).or_default() += covered - done;
            done = covered;
            let a = self.rng.range(acc.0, acc.1);
            self.fix(a);
            self.t += self.interval;
        }
        *self.true_m.entry(self.t.div_euclid(DAY)).or_default() += length - done;
        self.pos = to;
        self
    }

    /// Goes through `path` at `speed`.
    pub fn through(&mut self, path: &[Pos], speed: f64, acc: (f64, f64)) -> &mut Self {
        for p in path {
            self.go(*p, speed, acc);
        }
        self
    }

    /// Waits until `t` where it is.
    pub fn until(&mut self, t: i64, acc: (f64, f64)) -> &mut Self {
        let ms = t - self.t;
        self.stay(ms, acc)
    }

    /// Metres really travelled on the UTC day `day`.
    pub fn true_distance(&self, day: i64) -> f64 {
        self.true_m.get(&day).copied().unwrap_or(0.0)
    }
}

const INDOORS: (f64, f64) = (15.0, 40.0);
const OUTDOORS: (f64, f64) = (4.0, 10.0);
const TRAIN: (f64, f64) = (8.0, 25.0);
const WALK: f64 = 1.35;

/// One working day from `d0` (a UTC midnight): home until 07:42, a walk to the station, five
/// minutes on the platform, a train with a stop, a walk to the office; lunch at a café 12:00 to
/// 12:40; back at 17:00; home for the night.
pub fn commute_day(t: &mut Track, d0: i64) {
    t.until(d0 + 7 * HOUR + 42 * MIN, INDOORS)
        .through(&[CORNER, STATION_A], WALK, OUTDOORS)
        .stay(5 * MIN, OUTDOORS)
        .go(LINE[0], 12.0, TRAIN)
        .stay(MIN, TRAIN)
        .through(&[LINE[1], STATION_B], 12.0, TRAIN)
        .through(&[TURN, OFFICE], WALK, OUTDOORS)
        .until(d0 + 12 * HOUR, INDOORS)
        .go(CAFE, WALK, OUTDOORS)
        .until(d0 + 12 * HOUR + 40 * MIN, INDOORS)
        .go(OFFICE, WALK, OUTDOORS)
        .until(d0 + 17 * HOUR, INDOORS)
        .through(&[TURN, STATION_B], WALK, OUTDOORS)
        .stay(4 * MIN, OUTDOORS)
        .through(&[LINE[1], LINE[0]], 12.0, TRAIN)
        .stay(MIN, TRAIN)
        .go(STATION_A, 12.0, TRAIN)
        .through(&[CORNER, HOME], WALK, OUTDOORS)
        .until(d0 + DAY, INDOORS);
}

/// A day at home (a weekend day): indoors all day, a walk to the park and back in the afternoon.
pub fn home_day(t: &mut Track, d0: i64) {
    let park: Pos = (52.5290, 13.4010);
    t.until(d0 + 15 * HOUR, INDOORS)
        .go(park, WALK, OUTDOORS)
        .stay(40 * MIN, OUTDOORS)
        .go(HOME, WALK, OUTDOORS)
        .until(d0 + DAY, INDOORS);
}

/// Adds `n` glitches (a fix kilometres off with a confident accuracy) and `m` cell-tower fixes
/// (hundreds of metres off, saying so); answers the times of both.
pub fn spoil(t: &mut Track, n: usize, m: usize) -> (Vec<i64>, Vec<i64>) {
    let len = t.fixes.len();
    let mut used = std::collections::HashSet::new();
    let mut pick = |rng: &mut Rng| loop {
        let i = (rng.next_u64() as usize) % len;
        // Apart from each other: two glitches in a row are a different test.
        if (i.saturating_sub(2)..i + 3).all(|j| !used.contains(&j)) {
            used.insert(i);
            return i;
        }
    };
    let (mut glitches, mut cells) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let i = pick(&mut t.rng);
        let f = &mut t.fixes[i];
        f.lat += t.rng.range(0.02, 0.2);
        f.lon -= t.rng.range(0.02, 0.2);
        f.accuracy_m = Some(8.0);
        glitches.push(f.t);
    }
    for _ in 0..m {
        let i = pick(&mut t.rng);
        let f = &mut t.fixes[i];
        f.lat += t.rng.range(-0.008, 0.008);
        f.lon += t.rng.range(-0.008, 0.008);
        f.accuracy_m = Some(t.rng.range(300.0, 1500.0).round());
        cells.push(f.t);
    }
    glitches.sort_unstable();
    cells.sort_unstable();
    (glitches, cells)
}

/// The distance between a position and a place, metres.
pub fn from(p: Pos, lat: f64, lon: f64) -> f64 {
    haversine_m(p.0, p.1, lat, lon)
}
