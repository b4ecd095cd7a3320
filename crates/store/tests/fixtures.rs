//! Real payloads published by other projects (`../shared/fixtures`, see its README for sources and
//! licences) stored as blob documents: each comes back exactly as written, and filters on their
//! top-level string fields (OwnTracks' `_type`) select what they should.

use std::path::{Path, PathBuf};

use databox_store::query::parse_read;
use databox_store::{
    BlobPoint, DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, ReadOutput, StoreId, Stores,
};
use serde_json::Value;

fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    dir.is_dir().then_some(dir)
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            json_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn real_payloads_round_trip_through_a_blob_series() {
    let Some(dir) = fixtures() else {
        eprintln!("skipped: ../shared/fixtures is not present");
        return;
    };
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    files.sort();
    let docs: Vec<(PathBuf, Value)> = files
        .into_iter()
        .filter_map(|p| Some((p.clone(), serde_json::from_slice(&std::fs::read(&p).ok()?).ok()?)))
        .collect();
    assert!(
        docs.len() >= 5,
        "expected real JSON fixtures, found {}",
        docs.len()
    );

    let tmp = tempfile::tempdir().unwrap();
    let stores = Stores::open(tmp.path(), &MasterKeySource::KeyFile).unwrap();
    let store = stores.create(&StoreId::new("phone").unwrap(), "").unwrap();
    let ds = DatasourceId::new("payloads").unwrap();
    store
        .upsert_datasource(ds.clone(), DatasourceMeta::of_kind(DatasourceKind::Blob))
        .unwrap()
        .wait()
        .unwrap();
    let points = docs
        .iter()
        .enumerate()
        .map(|(i, (_, d))| BlobPoint {
            timestamp: Some(i as i64),
            data: d.clone(),
        })
        .collect();
    store.write_blob(&ds, points).unwrap().wait().unwrap();

    let q = |path: &str| {
        store
            .read(
                std::slice::from_ref(&ds),
                &parse_read(&path.split('/').map(str::to_owned).collect::<Vec<_>>()).unwrap(),
            )
            .unwrap()
    };
    let ReadOutput::Rows(rows) = q("first/1000") else {
        panic!()
    };
    assert_eq!(rows.len(), docs.len());
    for (row, (path, doc)) in rows.iter().zip(&docs) {
        assert_eq!(
            &row.data,
            doc,
            "{} changed on the way through the store",
            path.display()
        );
    }
    let locations = docs
        .iter()
        .filter(|(_, d)| d.get("_type").and_then(Value::as_str) == Some("location"))
        .count();
    assert_eq!(
        q("since/0/filter/_type/equals/location/count"),
        ReadOutput::Count(locations as u64)
    );
}
