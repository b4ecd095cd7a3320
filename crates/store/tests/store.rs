//! Behaviour of one store beyond the read language: retention and downsampling, key-value types,
//! blob filters, persistence across reopening, erase, and writes that must not half-happen.

use databox_store::query::parse_read;
use databox_store::{
    BlobPoint, DatasourceId, DatasourceKind, DatasourceMeta, KvKey, KvValue, MasterKeySource, NumericPoint,
    ReadOutput, Retention, StoreError, StoreId, Stores, ValueType, WriteAck,
};
use serde_json::json;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

fn setup() -> (tempfile::TempDir, Stores) {
    let dir = tempfile::tempdir().unwrap();
    let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap();
    (dir, stores)
}

fn ds(s: &str) -> DatasourceId {
    DatasourceId::new(s).unwrap()
}

fn read(store: &databox_store::Store, names: &[&str], path: &str) -> ReadOutput {
    let segs: Vec<String> = path.split('/').map(str::to_owned).collect();
    store
        .read(
            &names.iter().map(|n| ds(n)).collect::<Vec<_>>(),
            &parse_read(&segs).unwrap(),
        )
        .unwrap()
}

fn numeric(ts: i64, value: f64) -> NumericPoint {
    NumericPoint {
        timestamp: Some(ts),
        value,
        tags: Default::default(),
    }
}

#[test]
fn retention_downsamples_old_points_to_hourly_history_then_purges_them() {
    let (_dir, stores) = setup();
    let store = stores.create(&StoreId::new("home").unwrap(), "").unwrap();
    store
        .upsert_datasource(ds("power"), DatasourceMeta::of_kind(DatasourceKind::Numeric))
        .unwrap()
        .wait()
        .unwrap();
    let now = 100 * DAY + 30 * 60_000;
    // One point every 10 minutes for 10 days: value = hour index.
    let start = (now - 10 * DAY) / HOUR * HOUR;
    let points: Vec<_> = (0..(10 * 24 * 6))
        .map(|i| numeric(start + i * 600_000, (i / 6) as f64))
        .collect();
    let total = points.len() as u64;
    store.write_numeric(&ds("power"), points).unwrap().wait().unwrap();
    store
        .set_retention(
            &ds("power"),
            Some(Retention {
                keep_days: 3,
                downsample_hourly: true,
            }),
        )
        .unwrap()
        .wait()
        .unwrap();

    let report = match store.apply_retention(now).wait().unwrap() {
        WriteAck::Retention(r) => r,
        other => panic!("{other:?}"),
    };
    let (_, purged, hours) = report[0].clone();
    // Days count back from the newest point (older than `now` here), cut at a whole hour.
    let newest = start + (10 * 24 * 6 - 1) * 600_000;
    let cutoff = (newest - 3 * DAY) / HOUR * HOUR;
    assert_eq!(purged, ((cutoff - start) / 600_000) as u64);
    assert_eq!(hours, purged / 6, "one hourly row per purged hour");
    // Raw points left are exactly those at or after the whole-hour cutoff.
    assert_eq!(
        read(&store, &["power"], "length"),
        ReadOutput::Count(total - purged)
    );
    assert_eq!(
        read(&store, &["power"], &format!("range/0/{}/count", cutoff - 1)),
        ReadOutput::Count(0)
    );
    // Hourly statistics cover every hour, purged or not: count, sum, min, max and mean.
    let all_hours = (10 * 24) as u64;
    assert_eq!(
        read(&store, &["power"], "hourly/since/0/count"),
        ReadOutput::Count(total)
    );
    assert_eq!(
        read(&store, &["power"], "hourly/length"),
        ReadOutput::Count(all_hours)
    );
    assert_eq!(
        read(
            &store,
            &["power"],
            &format!("hourly/range/0/{}/count", cutoff - 1)
        ),
        ReadOutput::Count(purged)
    );
    let ReadOutput::Rows(purged_hours) = read(&store, &["power"], &format!("hourly/range/0/{}", cutoff - 1))
    else {
        panic!()
    };
    assert_eq!(purged_hours.len() as u64, hours);
    let expected_sum = 6.0 * (0..all_hours).map(|h| h as f64).sum::<f64>();
    assert_eq!(
        read(&store, &["power"], "hourly/since/0/sum"),
        ReadOutput::Aggregate(Some(expected_sum))
    );
    assert_eq!(
        read(&store, &["power"], "hourly/since/0/max"),
        ReadOutput::Aggregate(Some((all_hours - 1) as f64))
    );
    let ReadOutput::Rows(newest) = read(&store, &["power"], "hourly/latest") else {
        panic!()
    };
    assert_eq!(newest[0].timestamp, start + (all_hours as i64 - 1) * HOUR);
    assert_eq!(newest[0].data["count"], 6);
    for path in ["hourly/since/0/median", "hourly/latest/filter/room/equals/x"] {
        let segs: Vec<String> = path.split('/').map(str::to_owned).collect();
        assert!(
            store.read(&[ds("power")], &parse_read(&segs).unwrap()).is_err(),
            "{path}"
        );
    }
    let ReadOutput::Rows(rows) = read(&store, &["power"], "hourly/first/2") else {
        panic!()
    };
    assert_eq!(
        rows[0].data,
        json!({"count": 6, "sum": 0.0, "min": 0.0, "max": 0.0, "mean": 0.0})
    );
    assert_eq!(rows[1].data["mean"], 1.0);
    assert_eq!(rows[1].timestamp - rows[0].timestamp, HOUR);
    // Running it again purges nothing more and does not double the history.
    let WriteAck::Retention(again) = store.apply_retention(now).wait().unwrap() else {
        panic!()
    };
    assert_eq!(again[0].1, 0);
    assert_eq!(
        read(&store, &["power"], "hourly/since/0/count"),
        ReadOutput::Count(total)
    );
    // A late point in an already purged hour adds to that hour's statistics.
    store
        .write_numeric(&ds("power"), vec![numeric(start + 60_000, 100.0)])
        .unwrap()
        .wait()
        .unwrap();
    let ReadOutput::Rows(first) = read(&store, &["power"], "hourly/first/1") else {
        panic!()
    };
    assert_eq!(
        first[0].data,
        json!({"count": 7, "sum": 100.0, "min": 0.0, "max": 100.0, "mean": 100.0 / 7.0})
    );
    assert!(matches!(
        read(&store, &["power"], "hourly/since/0/mean"),
        ReadOutput::Aggregate(Some(_))
    ));
}

#[test]
fn a_clock_jumping_ahead_does_not_purge_the_newest_days() {
    let (_dir, stores) = setup();
    let store = stores.create(&StoreId::new("s").unwrap(), "").unwrap();
    store
        .upsert_datasource(ds("t"), DatasourceMeta::of_kind(DatasourceKind::Numeric))
        .unwrap()
        .wait()
        .unwrap();
    let now = 1_000 * DAY;
    store
        .write_numeric(
            &ds("t"),
            (0..10).map(|d| numeric(now - d * DAY, d as f64)).collect(),
        )
        .unwrap()
        .wait()
        .unwrap();
    store
        .set_retention(
            &ds("t"),
            Some(Retention {
                keep_days: 3,
                downsample_hourly: false,
            }),
        )
        .unwrap()
        .wait()
        .unwrap();
    // The wall clock leaps ten years ahead: days are still counted back from the newest point.
    store.apply_retention(now + 3650 * DAY).wait().unwrap();
    assert_eq!(
        read(&store, &["t"], "length"),
        ReadOutput::Count(4),
        "days 0..=3 before the newest point stay"
    );
}

#[test]
fn retention_without_downsampling_just_purges() {
    let (_dir, stores) = setup();
    let store = stores.create(&StoreId::new("s").unwrap(), "").unwrap();
    store
        .upsert_datasource(ds("log"), DatasourceMeta::of_kind(DatasourceKind::Blob))
        .unwrap()
        .wait()
        .unwrap();
    let now = 50 * DAY;
    let docs = (0..20)
        .map(|d| BlobPoint {
            timestamp: Some(now - d * DAY),
            data: json!({"day": d}),
        })
        .collect();
    store.write_blob(&ds("log"), docs).unwrap().wait().unwrap();
    store
        .set_retention(
            &ds("log"),
            Some(Retention {
                keep_days: 7,
                downsample_hourly: false,
            }),
        )
        .unwrap()
        .wait()
        .unwrap();
    store.apply_retention(now).wait().unwrap();
    assert_eq!(
        read(&store, &["log"], "length"),
        ReadOutput::Count(8),
        "days 0..=7 are kept"
    );
    let err = store
        .set_retention(
            &ds("log"),
            Some(Retention {
                keep_days: 7,
                downsample_hourly: true,
            }),
        )
        .err()
        .unwrap();
    assert!(err.to_string().contains("only numeric"), "{err}");
    let err = store
        .set_retention(
            &ds("log"),
            Some(Retention {
                keep_days: 0,
                downsample_hourly: false,
            }),
        )
        .err()
        .unwrap();
    assert!(err.to_string().contains("keep_days"), "{err}");
}

#[test]
fn key_value_keeps_json_text_and_binary_values() {
    let (_dir, stores) = setup();
    let store = stores.create(&StoreId::new("s").unwrap(), "").unwrap();
    store
        .upsert_datasource(ds("cfg"), DatasourceMeta::of_kind(DatasourceKind::KeyValue))
        .unwrap()
        .wait()
        .unwrap();
    let put = |k: &str, ct: &str, b: &[u8]| -> Result<_, StoreError> {
        store.kv_put(
            &ds("cfg"),
            KvKey::new(k).unwrap(),
            KvValue::new(Some(ct), b.to_vec())?,
        )
    };
    put("a.json", "application/json", br#"{"x": [1, 2]}"#)
        .unwrap()
        .wait()
        .unwrap();
    put("b.txt", "text/plain; charset=utf-8", "héllo".as_bytes())
        .unwrap()
        .wait()
        .unwrap();
    put("c.bin", "image/png", &[0, 255, 1, 2])
        .unwrap()
        .wait()
        .unwrap();
    assert!(put("bad", "application/json", b"{nope").is_err());
    assert!(put("bad", "application/ld+json", b"{nope").is_err());
    assert!(put("bad", "text/csv", &[0xff, 0xfe]).is_err());
    assert!(put("bad", "not a type", b"x").is_err());
    let get = |k: &str| store.kv_get(&ds("cfg"), &KvKey::new(k).unwrap());
    let png = get("c.bin").unwrap();
    assert_eq!(
        (png.value_type, png.content_type.as_str(), png.bytes),
        (ValueType::Binary, "image/png", vec![0, 255, 1, 2])
    );
    assert_eq!(get("b.txt").unwrap().value_type, ValueType::Text);
    assert_eq!(store.kv_keys(&ds("cfg")).unwrap(), ["a.json", "b.txt", "c.bin"]);
    assert_eq!(store.kv_count(&ds("cfg")).unwrap(), 3);
    store
        .kv_delete(&ds("cfg"), Some(KvKey::new("a.json").unwrap()))
        .unwrap()
        .wait()
        .unwrap();
    assert!(matches!(get("a.json"), Err(StoreError::KeyNotFound { .. })));
    let missing = store
        .kv_delete(&ds("cfg"), Some(KvKey::new("a.json").unwrap()))
        .unwrap()
        .wait();
    assert!(matches!(missing, Err(StoreError::KeyNotFound { .. })));
    assert_eq!(
        store.kv_delete(&ds("cfg"), None).unwrap().wait().unwrap(),
        WriteAck::Deleted(2)
    );
    assert_eq!(store.kv_count(&ds("cfg")).unwrap(), 0);
    // A key-value datasource is not a series, and the other way round.
    assert!(matches!(
        store.write_numeric(&ds("cfg"), vec![numeric(1, 1.0)]),
        Err(StoreError::WrongKind { .. })
    ));
}

#[test]
fn blob_filters_match_top_level_string_fields_only() {
    let (_dir, stores) = setup();
    let store = stores.create(&StoreId::new("s").unwrap(), "").unwrap();
    store
        .upsert_datasource(ds("ev"), DatasourceMeta::of_kind(DatasourceKind::Blob))
        .unwrap()
        .wait()
        .unwrap();
    let docs = [
        json!({"kind": "door", "n": 1}),
        json!({"kind": "window"}),
        json!({"kind": 5}),
        json!({"kind": {"a": "door"}}),
        json!([1]),
    ];
    let docs = docs
        .into_iter()
        .enumerate()
        .map(|(i, d)| BlobPoint {
            timestamp: Some(i as i64),
            data: d,
        })
        .collect();
    store.write_blob(&ds("ev"), docs).unwrap().wait().unwrap();
    assert_eq!(
        read(&store, &["ev"], "since/0/filter/kind/equals/door/count"),
        ReadOutput::Count(1)
    );
    assert_eq!(
        read(&store, &["ev"], "since/0/filter/kind/contains/o/count"),
        ReadOutput::Count(2)
    );
    assert_eq!(
        read(&store, &["ev"], "since/0/filter/kind/equals/5/count"),
        ReadOutput::Count(0)
    );
    let ReadOutput::Rows(rows) = read(&store, &["ev"], "latest") else {
        panic!()
    };
    assert_eq!(rows[0].data, json!([1]));
    let segs: Vec<String> = "since/0/mean".split('/').map(str::to_owned).collect();
    let err = store.read(&[ds("ev")], &parse_read(&segs).unwrap()).unwrap_err();
    assert!(err.to_string().contains("only count and length"), "{err}");
}

#[test]
fn data_and_metadata_survive_reopening() {
    let (dir, stores) = setup();
    let id = StoreId::new("keep").unwrap();
    let store = stores.create(&id, "kept things").unwrap();
    let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
    meta.unit = Some("W".into());
    store
        .upsert_datasource(ds("p"), meta.clone())
        .unwrap()
        .wait()
        .unwrap();
    store
        .write_numeric(&ds("p"), vec![numeric(5, 1.5), numeric(6, 2.5)])
        .unwrap()
        .wait()
        .unwrap();
    drop(store);
    stores.close();
    drop(stores);
    let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap();
    let store = stores.get(&id).unwrap();
    assert_eq!(store.description(), "kept things");
    assert_eq!(store.datasource(&ds("p")).unwrap().meta, meta);
    assert_eq!(
        read(&store, &["p"], "since/0/sum"),
        ReadOutput::Aggregate(Some(4.0))
    );
    // New writes continue after the old ones (sequence numbers resume, no collisions).
    store
        .write_numeric(&ds("p"), vec![numeric(5, 10.0)])
        .unwrap()
        .wait()
        .unwrap();
    let ReadOutput::Rows(rows) = read(&store, &["p"], "last/3") else {
        panic!()
    };
    assert_eq!(
        rows.iter()
            .map(|r| r.data["value"].as_f64().unwrap())
            .collect::<Vec<_>>(),
        [2.5, 10.0, 1.5]
    );
    store.check_integrity().unwrap();
}

#[test]
fn a_bad_write_in_a_group_commit_does_not_take_others_down() {
    let (_dir, stores) = setup();
    let store = stores.create(&StoreId::new("s").unwrap(), "").unwrap();
    store
        .upsert_datasource(ds("a"), DatasourceMeta::of_kind(DatasourceKind::Numeric))
        .unwrap()
        .wait()
        .unwrap();
    store
        .upsert_datasource(ds("k"), DatasourceMeta::of_kind(DatasourceKind::KeyValue))
        .unwrap()
        .wait()
        .unwrap();
    // Submit many writes at once so they share commits; one of them fails inside the writer.
    let mut tickets = Vec::new();
    for i in 0..200 {
        tickets.push(store.write_numeric(&ds("a"), vec![numeric(i, 1.0)]).unwrap());
        if i == 100 {
            tickets.push(
                store
                    .kv_delete(&ds("k"), Some(KvKey::new("missing").unwrap()))
                    .unwrap(),
            );
        }
    }
    let results: Vec<_> = tickets.into_iter().map(|t| t.wait()).collect();
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    assert_eq!(read(&store, &["a"], "length"), ReadOutput::Count(200));
}

#[test]
fn no_store_takes_the_name_grants_use_for_what_the_box_measures_of_itself() {
    let (_dir, stores) = setup();
    let Err(err) = stores.create(&StoreId::new(databox_store::BOX_STORE).unwrap(), "") else {
        panic!("a store named box was created");
    };
    assert_eq!(
        err.to_string(),
        "invalid store id \"box\": it is reserved for what the box measures of itself"
    );
    assert!(stores.list().is_empty());
}

#[test]
fn datasource_kind_cannot_change_and_stores_cannot_be_created_twice() {
    let (_dir, stores) = setup();
    let id = StoreId::new("s").unwrap();
    let store = stores.create(&id, "").unwrap();
    assert!(matches!(stores.create(&id, ""), Err(StoreError::StoreExists(_))));
    store
        .upsert_datasource(ds("a"), DatasourceMeta::of_kind(DatasourceKind::Numeric))
        .unwrap()
        .wait()
        .unwrap();
    let err = store
        .upsert_datasource(ds("a"), DatasourceMeta::of_kind(DatasourceKind::Blob))
        .unwrap()
        .wait()
        .unwrap_err();
    assert!(matches!(err, StoreError::DatasourceExists { .. }), "{err}");
    // Updating the description keeps the data.
    store
        .write_numeric(&ds("a"), vec![numeric(1, 1.0)])
        .unwrap()
        .wait()
        .unwrap();
    let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
    meta.description = "renamed".into();
    store.upsert_datasource(ds("a"), meta).unwrap().wait().unwrap();
    assert_eq!(read(&store, &["a"], "length"), ReadOutput::Count(1));
    store.drop_datasource(&ds("a")).unwrap().wait().unwrap();
    assert!(matches!(
        store.datasource(&ds("a")),
        Err(StoreError::UnknownDatasource { .. })
    ));
    stores.erase(&id).unwrap();
    assert!(matches!(stores.get(&id), Err(StoreError::UnknownStore(_))));
    assert!(matches!(
        store.write_numeric(&ds("x"), vec![]),
        Err(StoreError::UnknownDatasource { .. })
    ));
}
