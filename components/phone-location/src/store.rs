//! Storing what a request brought, exactly once: the driver's view of its own datasources (the
//! [`Store`] trait, which the box implements over the SDK and tests in memory) and the writes
//! with their de-duplication.
//!
//! # The de-duplication rule
//!
//! A record is written unless the series already holds one of the same device at the same
//! millisecond that is the same record ([`Series::same`]: for fixes, the same position within
//! [`SAME_POSITION_DEG`](crate::records::SAME_POSITION_DEG)). Before writing a batch the driver
//! reads the series' records of the device over the batch's time range (a read filtered on the
//! documents' `device`), drops what is already there, and drops repeats inside the batch. The
//! range is read in windows around clusters of the batch's timestamps (a batch from a phone back
//! online after a week is not read as one week), and a window too large to read at once is read
//! in halves. Points that arrive out of order are kept: each carries its own timestamp.
//!
//! Two requests carrying the same new point at the same moment could both find it absent and
//! both write it: the phone apps send one request at a time, so the driver does not lock.

use std::collections::BTreeMap;

use databox_sdk::{Error, Result};
use serde_json::Value;

use crate::records::{Row, Series, Waypoint, waypoint_key};
use crate::registry::{DEVICES, DecryptNote, DeviceRecord, INDEX_KEY, Seen, record_key};

/// The key-value datasource of waypoints.
pub const WAYPOINTS: &str = "waypoints";

/// Most rows in one write call.
pub const WRITE_ROWS: usize = 1000;
/// Most bytes of documents in one write call (well under the manifest's `output_kb`).
pub const WRITE_BYTES: usize = 1 << 20;
/// Timestamps closer than this are read in one window.
pub const WINDOW_GAP_MS: i64 = 10 * 60 * 1000;
/// Most windows read for one batch of one series: beyond, the closest windows are merged.
pub const MAX_WINDOWS: usize = 16;

/// The driver's own datasources, as it uses them.
pub trait Store {
    /// The documents of blob series `series` with `from <= timestamp <= to` whose `device` is
    /// `device`, oldest first, as `(timestamp, document)`. [`Error::TooLarge`] when the answer
    /// is over the component's output limit.
    fn read_rows(&self, series: &str, from: i64, to: i64, device: &str) -> Result<Vec<(i64, Value)>>;
    /// Writes documents at their timestamps in one durable batch (all or none); returns how many
    /// were written.
    fn write_rows(&self, series: &str, rows: &[(i64, Value)]) -> Result<u64>;
    /// How many documents of `series` belong to `device`.
    fn count(&self, series: &str, device: &str) -> Result<u64>;
    /// The timestamp of `device`'s newest document in `series`.
    fn latest(&self, series: &str, device: &str) -> Result<Option<i64>>;
    /// A key-value value as JSON.
    fn kv_get(&self, datasource: &str, key: &str) -> Result<Option<Value>>;
    /// Stores a key-value value as JSON, durably.
    fn kv_put(&self, datasource: &str, key: &str, value: &Value) -> Result<()>;
}

/// What a batch became.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Documents written, per series.
    pub rows: BTreeMap<Series, u64>,
    /// Documents not written because they were there already or repeated in the batch.
    pub duplicates: u64,
    /// Waypoints written (new, or newer than the one kept).
    pub waypoints: u64,
}

impl Written {
    /// Documents written, all series together.
    pub fn total(&self) -> u64 {
        self.rows.values().sum()
    }
}

/// Writes the rows of a request of `device`, each at most once (see the module's rule); returns
/// only after every write returned, that is after the box committed them durably.
pub fn write_rows(store: &dyn Store, device: &str, rows: Vec<Row>) -> Result<Written> {
    let mut by_series: BTreeMap<Series, Vec<(i64, Value)>> = BTreeMap::new();
    for row in rows {
        by_series
            .entry(row.series)
            .or_default()
            .push((row.timestamp, row.doc));
    }
    let mut out = Written::default();
    for (series, mut rows) in by_series {
        rows.sort_by_key(|(t, _)| *t);
        let before = rows.len();
        let fresh = new_rows(store, series, device, rows)?;
        out.duplicates += (before - fresh.len()) as u64;
        let mut written = 0;
        for chunk in chunks(&fresh) {
            let n = store.write_rows(series.id(), chunk)?;
            if n != chunk.len() as u64 {
                return Err(Error::Other(format!(
                    "the box acknowledged {n} of {} documents written to {}; a box that stores a batch \
                     of documents as one document is too old for this driver",
                    chunk.len(),
                    series.id()
                )));
            }
            written += n;
        }
        if written > 0 {
            out.rows.insert(series, written);
        }
    }
    Ok(out)
}

/// The rows (sorted by time) that neither repeat an earlier row of the batch nor are stored
/// already.
fn new_rows(
    store: &dyn Store,
    series: Series,
    device: &str,
    rows: Vec<(i64, Value)>,
) -> Result<Vec<(i64, Value)>> {
    let mut unique: Vec<(i64, Value)> = Vec::with_capacity(rows.len());
    for (t, doc) in rows {
        // Sorted: an equal timestamp can only be among the last ones kept.
        let repeat = unique
            .iter()
            .rev()
            .take_while(|(u, _)| *u == t)
            .any(|(_, kept)| series.same(kept, &doc));
        if !repeat {
            unique.push((t, doc));
        }
    }
    let mut stored: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for (from, to) in windows(&unique) {
        for (t, doc) in read_window(store, series, from, to, device)? {
            stored.entry(t).or_default().push(doc);
        }
    }
    Ok(unique
        .into_iter()
        .filter(|(t, doc)| {
            !stored
                .get(t)
                .is_some_and(|there| there.iter().any(|s| series.same(s, doc)))
        })
        .collect())
}

/// The time windows to read for sorted rows: split where the gaps are widest (and wider than
/// [`WINDOW_GAP_MS`]), at most [`MAX_WINDOWS`] of them.
pub fn windows(rows: &[(i64, Value)]) -> Vec<(i64, i64)> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Vec::new();
    };
    let mut gaps: Vec<(i64, usize)> = rows
        .windows(2)
        .enumerate()
        .map(|(i, pair)| (pair[1].0 - pair[0].0, i))
        .filter(|(gap, _)| *gap > WINDOW_GAP_MS)
        .collect();
    gaps.sort_by_key(|(gap, _)| std::cmp::Reverse(*gap));
    gaps.truncate(MAX_WINDOWS - 1);
    let mut cuts: Vec<usize> = gaps.into_iter().map(|(_, i)| i).collect();
    cuts.sort_unstable();
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut start = first.0;
    for i in cuts {
        out.push((start, rows[i].0));
        start = rows[i + 1].0;
    }
    out.push((start, last.0));
    out
}

fn read_window(
    store: &dyn Store,
    series: Series,
    from: i64,
    to: i64,
    device: &str,
) -> Result<Vec<(i64, Value)>> {
    match store.read_rows(series.id(), from, to, device) {
        Err(Error::TooLarge(_)) if from < to => {
            let mid = from + (to - from) / 2;
            let mut rows = read_window(store, series, from, mid, device)?;
            rows.extend(read_window(store, series, mid + 1, to, device)?);
            Ok(rows)
        }
        other => other,
    }
}

/// Consecutive runs of at most [`WRITE_ROWS`] rows and about [`WRITE_BYTES`] bytes.
fn chunks(rows: &[(i64, Value)]) -> Vec<&[(i64, Value)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, (_, doc)) in rows.iter().enumerate() {
        // A document's size as written, near enough: its JSON plus the row's wrapping.
        let size = doc.to_string().len() + 48;
        if i > start && (i - start >= WRITE_ROWS || bytes + size > WRITE_BYTES) {
            out.push(&rows[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < rows.len() {
        out.push(&rows[start..]);
    }
    out
}

/// Keeps waypoints in the key-value datasource [`WAYPOINTS`] under
/// [`waypoint_key`]: a waypoint replaces the one kept unless that one is newer (`created_ms`),
/// and an identical one is not written again.
pub fn write_waypoints(store: &dyn Store, waypoints: &[Waypoint]) -> Result<u64> {
    let mut written = 0;
    for w in waypoints {
        let key = waypoint_key(w);
        let value = serde_json::to_value(w)?;
        if let Some(kept) = store.kv_get(WAYPOINTS, &key)? {
            let kept_ms = kept.get("created_ms").and_then(Value::as_i64).unwrap_or(i64::MIN);
            if kept_ms > w.created_ms || kept == value {
                continue;
            }
        }
        store.kv_put(WAYPOINTS, &key, &value)?;
        written += 1;
    }
    Ok(written)
}

/// The device's record, if the driver has one.
pub fn device_record(store: &dyn Store, device: &str) -> Result<Option<DeviceRecord>> {
    store
        .kv_get(DEVICES, &record_key(device))?
        .map(|v| serde_json::from_value(v).map_err(Error::from))
        .transpose()
}

/// The ids of the devices the driver has heard from, in the order first heard.
pub fn device_ids(store: &dyn Store) -> Result<Vec<String>> {
    Ok(store
        .kv_get(DEVICES, INDEX_KEY)?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// Records what a request told about its device: writes its record when it changed, and adds a
/// new device to the index. Returns the record.
pub fn note_device(
    store: &dyn Store,
    device: &str,
    seen: &Seen,
    note: DecryptNote,
    now_ms: i64,
) -> Result<DeviceRecord> {
    let existing = device_record(store, device)?;
    let record = DeviceRecord::updated(existing.as_ref(), device, seen, note, now_ms);
    if existing.as_ref() != Some(&record) {
        store.kv_put(DEVICES, &record_key(device), &serde_json::to_value(&record)?)?;
    }
    // Read again right before writing, so that two new devices at once rarely lose each other;
    // a device missing from the index is added back on its next push.
    let mut ids = device_ids(store)?;
    if !ids.iter().any(|d| d == device) {
        ids.push(device.to_owned());
        store.kv_put(DEVICES, INDEX_KEY, &serde_json::to_value(&ids)?)?;
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use serde_json::json;

    fn fix(t: i64, lat: f64) -> Row {
        Row {
            series: Series::Locations,
            timestamp: t,
            doc: json!({"lat": lat, "lon": 1.0, "device": "d", "source": "test"}),
        }
    }

    #[test]
    fn writes_once_what_is_sent_twice() {
        let store = MemoryStore::default();
        let w = write_rows(&store, "d", vec![fix(10, 1.0), fix(20, 2.0), fix(10, 1.0)]).unwrap();
        assert_eq!((w.total(), w.duplicates), (2, 1));
        let again = write_rows(&store, "d", vec![fix(20, 2.0), fix(10, 1.0), fix(30, 3.0)]).unwrap();
        assert_eq!((again.total(), again.duplicates), (1, 2));
        assert_eq!(store.count("locations", "d").unwrap(), 3);
    }

    #[test]
    fn keeps_different_positions_at_one_time_and_other_devices_points() {
        let store = MemoryStore::default();
        write_rows(&store, "d", vec![fix(10, 1.0)]).unwrap();
        let w = write_rows(&store, "d", vec![fix(10, 1.5)]).unwrap();
        assert_eq!(w.total(), 1);
        let mut other = fix(10, 1.0);
        other.doc["device"] = json!("e");
        assert_eq!(write_rows(&store, "e", vec![other]).unwrap().total(), 1);
    }

    #[test]
    fn reads_in_windows_around_clusters() {
        let rows: Vec<(i64, Value)> = [0, 1000, 2000, 100_000_000, 100_001_000, 500_000_000]
            .iter()
            .map(|t| (*t, json!({})))
            .collect();
        assert_eq!(
            windows(&rows),
            vec![(0, 2000), (100_000_000, 100_001_000), (500_000_000, 500_000_000)]
        );
        let many: Vec<(i64, Value)> = (0..100).map(|i| (i * 3_600_000, json!({}))).collect();
        let w = windows(&many);
        assert_eq!(w.len(), MAX_WINDOWS);
        assert_eq!((w[0].0, w[MAX_WINDOWS - 1].1), (0, 99 * 3_600_000));
        assert!(windows(&[]).is_empty());
    }

    #[test]
    fn a_window_too_large_to_read_is_read_in_halves() {
        let store = MemoryStore {
            max_read_rows: Some(3),
            ..MemoryStore::default()
        };
        let rows: Vec<Row> = (0..10).map(|i| fix(i * 1000, i as f64)).collect();
        assert_eq!(write_rows(&store, "d", rows.clone()).unwrap().total(), 10);
        let again = write_rows(&store, "d", rows).unwrap();
        assert_eq!((again.total(), again.duplicates), (0, 10));
    }

    #[test]
    fn writes_in_chunks_and_notices_a_short_acknowledgement() {
        let rows: Vec<(i64, Value)> = (0..2500).map(|i| (i, json!({"lat": 1}))).collect();
        let c = chunks(&rows);
        assert_eq!(
            c.iter().map(|c| c.len()).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        let big: Vec<(i64, Value)> = (0..3).map(|i| (i, json!({"x": "y".repeat(600_000)}))).collect();
        assert_eq!(chunks(&big).len(), 3);

        let store = MemoryStore {
            acknowledge_one: true,
            ..MemoryStore::default()
        };
        let e = write_rows(&store, "d", vec![fix(1, 1.0), fix(2, 2.0)]).unwrap_err();
        assert!(e.to_string().contains("too old"), "{e}");
    }

    #[test]
    fn a_newer_waypoint_replaces_an_older_one_never_the_reverse() {
        let store = MemoryStore::default();
        let w = |ms: i64, rad: f64| Waypoint {
            region: Some("home".into()),
            rid: None,
            lat: 1.0,
            lon: 2.0,
            radius_m: Some(rad),
            created_ms: ms,
            device: "d".into(),
            source: "owntracks".into(),
        };
        assert_eq!(write_waypoints(&store, &[w(3000, 10.0)]).unwrap(), 1);
        assert_eq!(write_waypoints(&store, &[w(3000, 10.0)]).unwrap(), 0);
        assert_eq!(write_waypoints(&store, &[w(4000, 50.0)]).unwrap(), 1);
        assert_eq!(write_waypoints(&store, &[w(3500, 20.0)]).unwrap(), 0);
        let kept = store.kv_get(WAYPOINTS, "d:home").unwrap().unwrap();
        assert_eq!(kept["radius_m"], 50.0);
    }

    #[test]
    fn devices_are_indexed_once_and_records_written_when_they_change() {
        let store = MemoryStore::default();
        let seen = Seen {
            source: Some("overland"),
            ..Seen::default()
        };
        note_device(&store, "a", &seen, DecryptNote::Nothing, 1).unwrap();
        note_device(&store, "b", &seen, DecryptNote::Nothing, 2).unwrap();
        let puts = store.puts.get();
        note_device(&store, "a", &seen, DecryptNote::Nothing, 3).unwrap();
        assert_eq!(store.puts.get(), puts, "nothing new, nothing written");
        assert_eq!(device_ids(&store).unwrap(), vec!["a", "b"]);
        assert_eq!(device_record(&store, "a").unwrap().unwrap().first_seen_ms, 1);
    }
}
