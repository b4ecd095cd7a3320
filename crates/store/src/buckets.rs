//! Chart buckets: a numeric series cut into at most a few thousand equal time buckets, each with
//! the count, min, max and mean of its points, computed in SQL so that a chart over a million
//! points reads either the range's raw points once (narrow ranges) or its hourly rollups (wide
//! ones), never every point into memory.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::StoreError;

/// Fewest buckets a chart asks for (smaller requests are raised to this).
pub const MIN_CHART_POINTS: u32 = 10;
/// Most buckets a chart asks for (larger requests are lowered to this).
pub const MAX_CHART_POINTS: u32 = 2000;

const HOUR_MS: i64 = 3_600_000;

/// One bucket of a chart: the points whose time falls in `start .. start + width`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
    /// Start of the bucket, epoch milliseconds.
    pub start: i64,
    /// Number of points in it (never 0: empty buckets are left out).
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean of the values.
    pub mean: f64,
}

/// The width in milliseconds of each of `points` buckets (clamped to
/// [`MIN_CHART_POINTS`]`..=`[`MAX_CHART_POINTS`]) covering `from..=to`: `ceil((to - from + 1) /
/// points)`, at least 1. `to` must not be before `from`.
pub fn bucket_width(from: i64, to: i64, points: u32) -> i64 {
    let n = i64::from(points.clamp(MIN_CHART_POINTS, MAX_CHART_POINTS));
    let span = (to - from).max(0) + 1;
    ((span + n - 1) / n).max(1)
}

/// Buckets of width `width` from `from` over the points of `from..=to`: from the raw points
/// when buckets are narrower than an hour; otherwise from the rollups of the whole hours inside
/// the range (each in the bucket holding its start), the raw points of the partial hours at its
/// two edges, and the downsampled history of the hours overlapping it (the hour holding `from`
/// in the first bucket).
pub(crate) fn compute(
    c: &Connection,
    ds: i64,
    from: i64,
    to: i64,
    width: i64,
) -> Result<Vec<Bucket>, StoreError> {
    // Every arm reads a slice of a (ds, time) primary key, so the cost is proportional to the
    // range (and, on the hourly path, to its number of hours), not to the series.
    let mut stmt;
    let mut rows = if width >= HOUR_MS {
        let first_full =
            from.div_euclid(HOUR_MS) * HOUR_MS + if from.rem_euclid(HOUR_MS) == 0 { 0 } else { HOUR_MS };
        let last_full = (to + 1).div_euclid(HOUR_MS) * HOUR_MS - HOUR_MS;
        // The raw edges: before the first whole hour and after the last one; with no whole hour
        // inside the range, all of it once.
        let (left, right) = if first_full <= last_full {
            ((from, first_full - 1), (last_full + HOUR_MS, to))
        } else {
            ((from, to), (1, 0))
        };
        // An hour can be both in `hourly` (history of purged points) and in `rollup` or `point`
        // (late points that arrived after the purge): they add up, as in `hourly/` reads.
        stmt = c.prepare_cached(
            "SELECT b, sum(n), min(lo), max(hi), total(s) FROM (
                SELECT (hour - ?2) / ?3 AS b, count AS n, min AS lo, max AS hi, sum AS s
                    FROM rollup WHERE ds = ?1 AND hour >= ?4 AND hour <= ?5
                UNION ALL
                SELECT max((hour - ?2) / ?3, 0), count, min, max, sum
                    FROM hourly WHERE ds = ?1 AND hour >= ?6 AND hour <= ?7
                UNION ALL
                SELECT (ts - ?2) / ?3, 1, value, value, value FROM point WHERE ds = ?1 AND ts >= ?8 AND ts <= ?9
                UNION ALL
                SELECT (ts - ?2) / ?3, 1, value, value, value FROM point WHERE ds = ?1 AND ts >= ?10 AND ts <= ?11
             ) GROUP BY b ORDER BY b",
        )?;
        stmt.query(params![
            ds,
            from,
            width,
            first_full,
            last_full,
            from.div_euclid(HOUR_MS) * HOUR_MS,
            to,
            left.0,
            left.1,
            right.0,
            right.1
        ])?
    } else {
        stmt = c.prepare_cached(
            "SELECT (ts - ?2) / ?4 AS b, count(*), min(value), max(value), total(value)
             FROM point WHERE ds = ?1 AND ts >= ?2 AND ts <= ?3
             GROUP BY b ORDER BY b",
        )?;
        stmt.query(params![ds, from, to, width])?
    };
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let (b, count): (i64, i64) = (r.get(0)?, r.get(1)?);
        if count > 0 {
            let sum: f64 = r.get(4)?;
            out.push(Bucket {
                start: from + b * width,
                count: count as u64,
                min: r.get(2)?,
                max: r.get(3)?,
                mean: sum / count as f64,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use proptest::prelude::*;

    use super::*;
    use crate::{
        BlobPoint, DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, NumericPoint, Retention,
        Store, StoreId, Stores,
    };

    const DAY_MS: i64 = 86_400_000;

    fn store() -> (tempfile::TempDir, Stores, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap();
        let store = stores.create(&StoreId::new("chart").unwrap(), "").unwrap();
        (dir, stores, store)
    }

    fn series(store: &Store, name: &str, kind: DatasourceKind, points: &[(i64, f64)]) -> DatasourceId {
        let id = DatasourceId::new(name).unwrap();
        store
            .upsert_datasource(id.clone(), DatasourceMeta::of_kind(kind))
            .unwrap()
            .wait()
            .unwrap();
        for chunk in points.chunks(50_000) {
            let batch = chunk
                .iter()
                .map(|&(ts, value)| NumericPoint {
                    timestamp: Some(ts),
                    value,
                    tags: Default::default(),
                })
                .collect();
            store.write_numeric(&id, batch).unwrap().wait().unwrap();
        }
        id
    }

    /// The reference: every point put into the bucket of `key(ts)` by plain arithmetic.
    fn brute_force(
        points: &[(i64, f64)],
        from: i64,
        width: i64,
        bucket_of: impl Fn(i64) -> Option<i64>,
    ) -> Vec<Bucket> {
        let mut map: std::collections::BTreeMap<i64, Vec<f64>> = Default::default();
        for &(ts, v) in points {
            if let Some(b) = bucket_of(ts) {
                map.entry(b).or_default().push(v);
            }
        }
        map.into_iter()
            .map(|(b, vs)| Bucket {
                start: from + b * width,
                count: vs.len() as u64,
                min: vs.iter().copied().fold(f64::INFINITY, f64::min),
                max: vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                mean: vs.iter().sum::<f64>() / vs.len() as f64,
            })
            .collect()
    }

    fn raw_bucket(from: i64, to: i64, width: i64) -> impl Fn(i64) -> Option<i64> {
        move |ts| (from..=to).contains(&ts).then(|| (ts - from) / width)
    }

    fn assert_same(got: &[Bucket], want: &[Bucket]) {
        assert_eq!(got.len(), want.len(), "bucket count\n got {got:?}\nwant {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.start, g.count, g.min, g.max), (w.start, w.count, w.min, w.max));
            // The engine sums in another order (and compensated), so means differ by rounding.
            assert!(
                (g.mean - w.mean).abs() <= 1e-9 * w.mean.abs().max(1.0),
                "mean {} vs {}",
                g.mean,
                w.mean
            );
        }
    }

    /// Deterministic pseudo-random values (no clock, no seed file): a small LCG.
    fn values(n: usize, mut state: u64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 33) % 20_000) as f64 / 8.0 - 1000.0
            })
            .collect()
    }

    #[test]
    fn the_width_covers_the_range_in_at_most_the_asked_number_of_buckets() {
        assert_eq!(bucket_width(0, 999, 500), 2);
        assert_eq!(bucket_width(0, 1000, 500), 3, "1001 ms in 500 buckets rounds up");
        assert_eq!(bucket_width(5, 5, 500), 1, "at least 1 ms");
        assert_eq!(bucket_width(0, 99, 1), 10, "clamped up to 10 buckets");
        assert_eq!(
            bucket_width(0, 99_999, 1_000_000),
            50,
            "clamped down to 2000 buckets"
        );
        for (from, to, n) in [(0, 12_345, 77), (3, 3_600_000 * 24 * 30, 500), (100, 101, 2000)] {
            let w = bucket_width(from, to, n);
            assert!(w * i64::from(n) > to - from, "covers {from}..={to}");
            assert!(
                (w - 1) * i64::from(n) <= to - from,
                "the smallest width that covers it"
            );
        }
    }

    #[test]
    fn raw_buckets_agree_with_a_brute_force_computation() {
        let (_dir, _stores, store) = store();
        // 20,000 points, one every 997 ms with a few duplicates of the same millisecond.
        let vs = values(20_000, 7);
        let mut points: Vec<(i64, f64)> = vs
            .iter()
            .enumerate()
            .map(|(i, &v)| (1_000_000 + i as i64 * 997, v))
            .collect();
        points.extend(
            vs.iter()
                .take(50)
                .enumerate()
                .map(|(i, &v)| (1_000_000 + i as i64 * 997, -v)),
        );
        let id = series(&store, "raw", DatasourceKind::Numeric, &points);
        for (from, to, n) in [
            (0, 30_000_000, 500),
            (1_000_000, 1_000_000 + 19_999 * 997, 2000),
            (1_234_567, 7_654_321, 37),
            (5_000_000, 5_000_000, 500),
        ] {
            let width = bucket_width(from, to, n);
            assert!(width < HOUR_MS, "these ranges take the raw path");
            let got = store.buckets(&id, from, to, n).unwrap();
            let want = brute_force(&points, from, width, raw_bucket(from, to, width));
            assert_same(&got, &want);
            let in_range = points.iter().filter(|p| (from..=to).contains(&p.0)).count() as u64;
            assert_eq!(got.iter().map(|b| b.count).sum::<u64>(), in_range);
        }
    }

    #[test]
    fn hourly_buckets_agree_with_a_brute_force_computation_over_days() {
        let (_dir, _stores, store) = store();
        // Ten days, a point every 7 minutes and 13 s (never on an hour boundary pattern).
        let start = 20 * DAY_MS + 1234;
        let vs = values(10 * 24 * 3600 / 433, 11);
        let points: Vec<(i64, f64)> = vs
            .iter()
            .enumerate()
            .map(|(i, &v)| (start + i as i64 * 433_000, v))
            .collect();
        let id = series(&store, "days", DatasourceKind::Numeric, &points);
        let last = points.last().unwrap().0;

        // The model of the hourly path: a point of a whole hour inside the range goes to the
        // bucket of its hour's start, a point of a partial hour at an edge to its own bucket.
        let by_hour = |from: i64, to: i64, width: i64| {
            move |ts: i64| -> Option<i64> {
                let hour = ts.div_euclid(HOUR_MS) * HOUR_MS;
                let whole = hour >= from && hour + HOUR_MS - 1 <= to;
                (from..=to)
                    .contains(&ts)
                    .then(|| (if whole { hour - from } else { ts - from }) / width)
            }
        };

        // Hour-aligned range cut into whole hours: the same as bucketing every point.
        let (from, to) = (20 * DAY_MS, 30 * DAY_MS - 1);
        let width = bucket_width(from, to, 60);
        assert_eq!(width, 4 * HOUR_MS);
        let got = store.buckets(&id, from, to, 60).unwrap();
        assert_same(
            &got,
            &brute_force(&points, from, width, raw_bucket(from, to, width)),
        );
        assert_same(&got, &brute_force(&points, from, width, by_hour(from, to, width)));
        assert_eq!(got.iter().map(|b| b.count).sum::<u64>(), points.len() as u64);

        // Unaligned edges and buckets of a fraction of hours: hours stay whole inside, the edges
        // are exact, and the counts add up to the points of the range.
        for (from, to, n) in [
            (start, last, 100),
            (start + 5 * HOUR_MS + 17, last - 3 * DAY_MS, 100),
            (start + 1_000_000, last - 1_000_000, 10),
        ] {
            let width = bucket_width(from, to, n);
            assert!(width >= HOUR_MS, "these ranges take the hourly path");
            let got = store.buckets(&id, from, to, n).unwrap();
            assert_same(&got, &brute_force(&points, from, width, by_hour(from, to, width)));
            let in_range = points.iter().filter(|p| (from..=to).contains(&p.0)).count() as u64;
            assert_eq!(got.iter().map(|b| b.count).sum::<u64>(), in_range);
        }
    }

    #[test]
    fn hourly_buckets_include_the_downsampled_history_of_purged_points() {
        let (_dir, _stores, store) = store();
        let vs = values(30 * 24 * 4, 3);
        let points: Vec<(i64, f64)> = vs
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 900_000, v))
            .collect();
        let id = series(&store, "old", DatasourceKind::Numeric, &points);
        let before = store.buckets(&id, 0, 30 * DAY_MS - 1, 30).unwrap();
        store
            .set_retention(
                &id,
                Some(Retention {
                    keep_days: 5,
                    downsample_hourly: true,
                }),
            )
            .unwrap()
            .wait()
            .unwrap();
        store.apply_retention(30 * DAY_MS).wait().unwrap();
        let after = store.buckets(&id, 0, 30 * DAY_MS - 1, 30).unwrap();
        assert_same(&after, &before);
        assert_eq!(store.span(&id).unwrap(), Some((0, points.last().unwrap().0)));
    }

    #[test]
    fn an_empty_range_has_no_buckets_and_a_reversed_one_is_refused() {
        let (_dir, _stores, store) = store();
        let id = series(
            &store,
            "sparse",
            DatasourceKind::Numeric,
            &[(1000, 1.0), (90 * DAY_MS, 2.0)],
        );
        assert_eq!(
            store.buckets(&id, 2000, 80 * DAY_MS, 500).unwrap(),
            vec![],
            "hourly path"
        );
        assert_eq!(store.buckets(&id, 2000, 3000, 500).unwrap(), vec![]);
        let empty = series(&store, "empty", DatasourceKind::Numeric, &[]);
        assert_eq!(store.buckets(&empty, 0, 100 * DAY_MS, 500).unwrap(), vec![]);
        assert_eq!(store.span(&empty).unwrap(), None);
        assert!(matches!(
            store.buckets(&id, 5000, 4000, 500),
            Err(StoreError::BadQuery(_))
        ));
        assert!(matches!(
            store.buckets(&id, -1, 4000, 500),
            Err(StoreError::BadQuery(_))
        ));
    }

    #[test]
    fn a_blob_or_unknown_datasource_is_refused() {
        let (_dir, _stores, store) = store();
        let id = DatasourceId::new("events").unwrap();
        store
            .upsert_datasource(id.clone(), DatasourceMeta::of_kind(DatasourceKind::Blob))
            .unwrap()
            .wait()
            .unwrap();
        store
            .write_blob(
                &id,
                vec![BlobPoint {
                    timestamp: Some(5),
                    data: serde_json::json!({"a": 1}),
                }],
            )
            .unwrap()
            .wait()
            .unwrap();
        let err = store.buckets(&id, 0, 10, 500).unwrap_err();
        assert!(matches!(err, StoreError::WrongKind { .. }), "{err}");
        assert!(err.is_client_error());
        assert!(err.to_string().contains("ts/blob"), "{err}");
        let err = store
            .buckets(&DatasourceId::new("nope").unwrap(), 0, 10, 500)
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    /// Timings, run by hand: `cargo test -p databox-store --lib -- --ignored --nocapture a_million`
    /// (SQLite is optimised even in the dev profile, and it does the work).
    #[test]
    #[ignore]
    fn a_million_points() {
        let (_dir, _stores, store) = store();
        // One point every 5 s: a million points over about 58 days.
        let vs = values(1_000_000, 5);
        let points: Vec<(i64, f64)> = vs
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as i64 * 5_000, v))
            .collect();
        let id = series(&store, "million", DatasourceKind::Numeric, &points);
        let last = points.last().unwrap().0;
        let cases = [
            ("all of it, 500 buckets (hourly path)", 0, last, 500),
            ("all of it, 2000 buckets (raw path)", 0, last, 2000),
            ("a week, 500 buckets (raw path)", 0, 7 * DAY_MS, 500),
            ("a day, 500 buckets (raw path)", 0, DAY_MS, 500),
        ];
        for (what, from, to, n) in cases {
            let _ = store.buckets(&id, from, to, n).unwrap();
            let t = std::time::Instant::now();
            let b = store.buckets(&id, from, to, n).unwrap();
            eprintln!(
                "{what}: {} buckets, width {} ms, {:?}",
                b.len(),
                bucket_width(from, to, n),
                t.elapsed()
            );
        }
    }

    static CASE: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// One store for every case (a fresh datasource each), so cases cost a write, not an open.
        static STORE: (tempfile::TempDir, Stores, Arc<Store>) = store();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Random points, ranges and bucket counts on the raw path agree with plain arithmetic.
        #[test]
        fn raw_buckets_match_brute_force(
            raw in proptest::collection::vec((0i64..200_000, -500i32..500), 0..300),
            from in 0i64..150_000,
            len in 0i64..150_000,
            n in 1u32..3000,
        ) {
            let points: Vec<(i64, f64)> = raw.iter().map(|&(t, v)| (t, f64::from(v) / 4.0)).collect();
            let to = from + len;
            let name = format!("p{}", CASE.fetch_add(1, Ordering::Relaxed));
            let got = STORE.with(|(_, _, store)| {
                let id = series(store, &name, DatasourceKind::Numeric, &points);
                store.buckets(&id, from, to, n).unwrap()
            });
            let width = bucket_width(from, to, n);
            prop_assert!(width < HOUR_MS);
            assert_same(&got, &brute_force(&points, from, width, raw_bucket(from, to, width)));
            prop_assert!(got.len() <= n.clamp(MIN_CHART_POINTS, MAX_CHART_POINTS) as usize);
            prop_assert!(got.windows(2).all(|w| w[0].start < w[1].start));
        }
    }
}
