//! The demo data `databox serve --demo` creates on first start: a week of room temperatures,
//! daily steps, a few notes and some settings, so a newcomer has something to read.

use databox_store::{
    BlobPoint, DatasourceId, DatasourceKind, DatasourceMeta, KvKey, KvValue, NumericPoint, StoreError,
    StoreId, Stores,
};

fn meta(kind: DatasourceKind, description: &str, data_type: &str, unit: Option<&str>) -> DatasourceMeta {
    let mut m = DatasourceMeta::of_kind(kind);
    m.description = description.into();
    m.data_type = data_type.into();
    m.unit = unit.map(Into::into);
    m.vendor = Some("Databox demo".into());
    m
}

/// Creates the `demo` store unless it exists.
pub fn seed(stores: &Stores) -> Result<(), StoreError> {
    let id = StoreId::new("demo")?;
    if stores.get(&id).is_ok() {
        return Ok(());
    }
    let store = stores.create(&id, "Demo data: a week of a small flat")?;
    let ds = |s: &str| DatasourceId::new(s);
    store
        .upsert_datasource(
            ds("temperature")?,
            meta(
                DatasourceKind::Numeric,
                "Room temperature",
                "temperature",
                Some("celsius"),
            ),
        )?
        .wait()?;
    store
        .upsert_datasource(
            ds("steps")?,
            meta(DatasourceKind::Numeric, "Steps per hour", "steps", Some("count")),
        )?
        .wait()?;
    store
        .upsert_datasource(
            ds("notes")?,
            meta(DatasourceKind::Blob, "Diary notes", "note", None),
        )?
        .wait()?;
    store
        .upsert_datasource(
            ds("settings")?,
            meta(DatasourceKind::KeyValue, "Home settings", "settings", None),
        )?
        .wait()?;

    let now = databox_store::now_ms();
    let start = now - 7 * 86_400_000;
    let mut temps = Vec::new();
    let mut steps = Vec::new();
    let mut t = start;
    let mut i = 0u64;
    while t <= now {
        let hour_of_day = ((t / 3_600_000) % 24) as f64;
        let daily = (std::f64::consts::TAU * (hour_of_day - 15.0) / 24.0).cos();
        for (room, base) in [("lounge", 20.5), ("kitchen", 19.0), ("bedroom", 18.0)] {
            let wobble = ((i * 7919 + room.len() as u64 * 31) % 10) as f64 / 20.0;
            let value = ((base + 1.5 * daily + wobble) * 10.0).round() / 10.0;
            temps.push(NumericPoint {
                timestamp: Some(t),
                value,
                tags: [("room".to_owned(), room.to_owned())].into(),
            });
        }
        if t % 3_600_000 < 600_000 {
            let active = (7.0..22.0).contains(&hour_of_day);
            steps.push(NumericPoint {
                timestamp: Some(t),
                value: if active {
                    ((i * 2654435761) % 900 + 100) as f64
                } else {
                    0.0
                },
                tags: Default::default(),
            });
        }
        t += 600_000;
        i += 1;
    }
    store.write_numeric(&ds("temperature")?, temps)?.wait()?;
    store.write_numeric(&ds("steps")?, steps)?.wait()?;
    let notes = [
        "Moved the thermostat to 20°C",
        "Walked to the market",
        "Kitchen window left open overnight",
    ];
    const MOODS: [&str; 3] = ["calm", "busy", "tired"];
    let notes = notes
        .iter()
        .enumerate()
        .map(|(k, n)| BlobPoint {
            timestamp: Some(start + (k as i64 + 1) * 2 * 86_400_000),
            data: serde_json::json!({ "text": n, "mood": MOODS[k] }),
        })
        .collect();
    store.write_blob(&ds("notes")?, notes)?.wait()?;
    store
        .kv_put(
            &ds("settings")?,
            KvKey::new("thermostat")?,
            KvValue::new(
                Some("application/json"),
                br#"{"target": 20.0, "mode": "eco"}"#.to_vec(),
            )?,
        )?
        .wait()?;
    store
        .kv_put(
            &ds("settings")?,
            KvKey::new("greeting")?,
            KvValue::new(Some("text/plain; charset=utf-8"), b"Welcome home".to_vec())?,
        )?
        .wait()?;
    Ok(())
}
