//! Property tests: every read form, filter, join and aggregate of the store agrees with a naive
//! in-memory model on random data.

use std::collections::BTreeMap;

use databox_store::query::{Filter, FilterOp, Form};
use databox_store::{
    Aggregate, DatasourceId, DatasourceKind, DatasourceMeta, DeleteQuery, MasterKeySource, NumericPoint,
    ReadOutput, ReadQuery, StoreId, Stores, TagName,
};
use proptest::prelude::*;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
struct ModelPoint {
    ds: usize,
    ts: i64,
    seq: usize,
    value: f64,
    tags: BTreeMap<String, String>,
}

const DS: [&str; 3] = ["alpha", "beta", "gamma"];
const ROOMS: [&str; 4] = ["lounge", "kitchen", "hall-lounge", "Lounge"];

/// Timestamps spread over about ten hours, on and around hour and quarter-hour boundaries, so
/// reads cross the hourly rollups and their partial edges.
fn time() -> impl Strategy<Value = i64> {
    (
        0i64..45,
        prop_oneof![Just(0i64), Just(1), Just(450_000), Just(899_999)],
    )
        .prop_map(|(u, j)| u * 900_000 + j)
}

fn point_strategy() -> impl Strategy<Value = (usize, i64, f64, Option<usize>, Option<usize>)> {
    (
        0..DS.len(),
        0i64..40,
        -1000i32..1000,
        proptest::option::of(0..ROOMS.len()),
        proptest::option::of(0..2usize),
    )
        .prop_map(|(ds, ts, v, room, floor)| (ds, ts, f64::from(v) / 4.0, room, floor))
}

fn form_strategy() -> impl Strategy<Value = Form> {
    prop_oneof![
        Just(Form::Latest),
        Just(Form::Earliest),
        (1u64..30).prop_map(Form::Last),
        (1u64..30).prop_map(Form::First),
        time().prop_map(Form::Since),
        (time(), time()).prop_map(|(a, d)| Form::Range(a, a + d / 2)),
        Just(Form::Length),
    ]
}

fn filter_strategy() -> impl Strategy<Value = Filter> {
    (
        prop_oneof![Just("room"), Just("floor")],
        any::<bool>(),
        prop_oneof![
            Just("lounge"),
            Just("kitchen"),
            Just("0"),
            Just("1"),
            Just("oun"),
            Just("")
        ],
    )
        .prop_map(|(tag, eq, value)| Filter {
            tag: TagName::new(tag).unwrap(),
            op: if eq { FilterOp::Equals } else { FilterOp::Contains },
            value: value.to_owned(),
        })
}

fn model_read(points: &[ModelPoint], ds: &[usize], q: &ReadQuery) -> ReadOutput {
    let (lo, hi) = q.form.bounds();
    let (wlo, whi) = q.window.unwrap_or((i64::MIN, i64::MAX));
    let mut sel: Vec<&ModelPoint> = points
        .iter()
        .filter(|p| ds.contains(&p.ds))
        .filter(|p| lo.is_none_or(|lo| p.ts >= lo) && hi.is_none_or(|hi| p.ts <= hi))
        .filter(|p| p.ts >= wlo && p.ts <= whi)
        .filter(|p| {
            q.filters
                .iter()
                .all(|f| f.matches(p.tags.get(f.tag.as_str()).map(String::as_str)))
        })
        .collect();
    sel.sort_by_key(|p| (p.ts, p.seq));
    if q.form.newest_first() {
        sel.reverse();
    }
    if let Some(n) = q.form.limit() {
        sel.truncate(n as usize);
    }
    let agg = if q.form == Form::Length {
        Some(Aggregate::Count)
    } else {
        q.aggregate
    };
    let mut values: Vec<f64> = sel.iter().map(|p| p.value).collect();
    match agg {
        None => ReadOutput::Rows(
            sel.iter()
                .map(|p| {
                    let mut data = serde_json::Map::new();
                    for (k, v) in &p.tags {
                        data.insert(k.clone(), json!(v));
                    }
                    data.insert("value".into(), json!(p.value));
                    databox_store::Row {
                        timestamp: p.ts,
                        datasource: (ds.len() > 1).then(|| DS[p.ds].to_owned()),
                        data: Value::Object(data),
                    }
                })
                .collect(),
        ),
        Some(Aggregate::Count) => ReadOutput::Count(values.len() as u64),
        Some(Aggregate::Sum) => ReadOutput::Aggregate(Some(values.iter().sum())),
        Some(_) if values.is_empty() => ReadOutput::Aggregate(None),
        Some(Aggregate::Min) => ReadOutput::Aggregate(values.iter().copied().reduce(f64::min)),
        Some(Aggregate::Max) => ReadOutput::Aggregate(values.iter().copied().reduce(f64::max)),
        Some(Aggregate::Mean) => {
            ReadOutput::Aggregate(Some(values.iter().sum::<f64>() / values.len() as f64))
        }
        Some(Aggregate::Median) => {
            values.sort_by(f64::total_cmp);
            let n = values.len();
            ReadOutput::Aggregate(Some(if n % 2 == 1 {
                values[n / 2]
            } else {
                (values[n / 2 - 1] + values[n / 2]) / 2.0
            }))
        }
        Some(Aggregate::Sd) => {
            let n = values.len() as f64;
            if values.len() < 2 {
                return ReadOutput::Aggregate(None);
            }
            let mean = values.iter().sum::<f64>() / n;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
            ReadOutput::Aggregate(Some(var.sqrt()))
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn every_read_agrees_with_the_model(
        batches in proptest::collection::vec(proptest::collection::vec(point_strategy(), 1..25), 1..6),
        deletes in proptest::collection::vec(
            proptest::option::of((proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3), time(), proptest::option::of(time()))),
            6),
        queries in proptest::collection::vec(
            (proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3), form_strategy(),
             proptest::collection::vec(filter_strategy(), 0..3),
             proptest::option::of(proptest::sample::select(Aggregate::ALL.to_vec())),
             proptest::option::of((time(), time()))),
            1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap();
        let store = stores.create(&StoreId::new("model").unwrap(), "").unwrap();
        for name in DS {
            store.upsert_datasource(DatasourceId::new(name).unwrap(), DatasourceMeta::of_kind(DatasourceKind::Numeric)).unwrap().wait().unwrap();
        }
        let mut model = Vec::new();
        let mut next_seq = 0usize;
        for batch in &batches {
            // One write per datasource run, so batches interleave datasources as real writers do.
            for (ds, group) in DS.iter().enumerate() {
                let pts: Vec<_> = batch.iter().filter(|p| p.0 == ds).collect();
                if pts.is_empty() { continue; }
                let mut write = Vec::new();
                for &&(_, ts, value, room, floor) in &pts {
                    let mut tags = BTreeMap::new();
                    if let Some(r) = room { tags.insert("room".to_owned(), ROOMS[r].to_owned()); }
                    if let Some(f) = floor { tags.insert("floor".to_owned(), f.to_string()); }
                    model.push(ModelPoint { ds, ts, seq: next_seq, value, tags: tags.clone() });
                    next_seq += 1;
                    write.push(NumericPoint { timestamp: Some(ts), value, tags });
                }
                store.write_numeric(&DatasourceId::new(*group).unwrap(), write).unwrap().wait().unwrap();
            }
            // Between batches, sometimes delete a time range (since/T or range/T1/T2).
            if let Some((ds, lo, span)) = &deletes[model.len() % deletes.len()] {
                let names: Vec<_> = ds.iter().map(|&i| DatasourceId::new(DS[i]).unwrap()).collect();
                let (query, hi) = match span {
                    Some(d) => (DeleteQuery::Range(*lo, lo + d / 4), lo + d / 4),
                    None => (DeleteQuery::Since(*lo), i64::MAX),
                };
                let before = model.len();
                model.retain(|p: &ModelPoint| !(ds.contains(&p.ds) && p.ts >= *lo && p.ts <= hi));
                let ack = store.delete(&names, query).unwrap().wait().unwrap();
                prop_assert_eq!(ack, databox_store::WriteAck::Deleted((before - model.len()) as u64));
            }
        }
        for (ds, form, filters, aggregate, window) in queries {
            let window = window.map(|(a, d)| (a, a + d));
            let aggregate = if form == Form::Length { None } else { aggregate };
            let q = ReadQuery { hourly: false, form, filters, aggregate, window };
            let names: Vec<_> = ds.iter().map(|&i| DatasourceId::new(DS[i]).unwrap()).collect();
            let got = store.read(&names, &q).unwrap();
            let want = model_read(&model, &ds, &q);
            match (&got, &want) {
                (ReadOutput::Aggregate(Some(a)), ReadOutput::Aggregate(Some(b))) => prop_assert!(close(*a, *b), "{q:?} on {ds:?}: {a} vs {b}"),
                _ => prop_assert_eq!(&got, &want, "{:?} on {:?}", q, ds),
            }
        }
    }
}
