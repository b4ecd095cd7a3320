//! Durability: a box ingesting acknowledged writes is killed with SIGKILL; after a restart every
//! acknowledged point is there and the store opens cleanly.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::BoxProcess;
use serde_json::{Value, json};

const WRITERS: u64 = 8;

async fn put(
    http: &reqwest::Client,
    auth: &str,
    url: String,
    body: Value,
) -> reqwest::Result<reqwest::Response> {
    http.put(url)
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let first = BoxProcess::start(dir.path(), &[]);
    let token = first.new_token.clone().expect("first start prints the token");
    let auth = format!("Bearer {token}");
    let http = reqwest::Client::new();
    let api = format!("{}/api/v1/stores", first.url);
    assert!(
        put(&http, &auth, format!("{api}/sensors"), json!({}))
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let r = put(
        &http,
        &auth,
        format!("{api}/sensors/datasources/power"),
        json!({"store_type": "ts"}),
    )
    .await
    .unwrap();
    assert!(r.status().is_success());

    let acked: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut box_process = first;
    for round in 0..2u64 {
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (http, auth, acked) = (http.clone(), auth.clone(), acked.clone());
            let url = format!("{}/api/v1/stores/sensors/ts/power", box_process.url);
            tasks.push(tokio::spawn(async move {
                for i in 0.. {
                    let id = round * 100_000_000 + w * 1_000_000 + i;
                    let body = json!({"value": id, "timestamp": 1_700_000_000_000u64 + id, "writer": format!("w{w}")});
                    match http.post(&url).header("authorization", &auth).json(&body).send().await {
                        Ok(r) if r.status().is_success() => acked.lock().unwrap().push(id),
                        Ok(r) => panic!("write refused: {}", r.status()),
                        Err(_) => return, // the box is gone
                    }
                }
            }));
        }
        // One batch writer too: a batch is acknowledged whole or not at all.
        {
            let (http, auth, acked) = (http.clone(), auth.clone(), acked.clone());
            let url = format!("{}/api/v1/stores/sensors/ts/power", box_process.url);
            tasks.push(tokio::spawn(async move {
                for b in 0.. {
                    let ids: Vec<u64> = (0..500)
                        .map(|k| round * 100_000_000 + 50_000_000 + b * 500 + k)
                        .collect();
                    let body: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({"value": id, "timestamp": 1_700_000_000_000u64 + id}))
                        .collect();
                    match http
                        .post(&url)
                        .header("authorization", &auth)
                        .json(&body)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => acked.lock().unwrap().extend(ids),
                        Ok(r) => panic!("batch refused: {}", r.status()),
                        Err(_) => return,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let before_kill = acked.lock().unwrap().len();
        assert!(
            before_kill > 500,
            "round {round}: only {before_kill} writes acknowledged before the kill"
        );
        box_process.kill();
        for t in tasks {
            t.await.unwrap();
        }
        box_process = BoxProcess::start(dir.path(), &[]);
        assert!(box_process.new_token.is_none(), "the token survives a restart");

        // Read everything back, in ranges small enough for one response each.
        let mut stored = HashSet::new();
        let base = format!("{}/api/v1/stores/sensors/ts/power", box_process.url);
        let ts0 = 1_700_000_000_000u64;
        for chunk in 0..((round + 1) * 100_000_000 / 50_000) {
            let (lo, hi) = (ts0 + chunk * 50_000, ts0 + (chunk + 1) * 50_000 - 1);
            let answer: Value = http
                .get(format!("{base}/range/{lo}/{hi}"))
                .header("authorization", &auth)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let rows = answer
                .as_array()
                .unwrap_or_else(|| panic!("reading {lo}..{hi}: {answer}"));
            for r in rows {
                stored.insert(r["data"]["value"].as_f64().unwrap() as u64);
            }
        }
        let acked = acked.lock().unwrap();
        let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).take(10).collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged points lost after SIGKILL: {missing:?}"
        );
        eprintln!(
            "round {round}: {} acknowledged points all present ({} stored)",
            acked.len(),
            stored.len()
        );
    }
    box_process.stop();

    // The store file passes SQLite's and SQLCipher's integrity checks.
    let stores = databox_store::Stores::open(dir.path(), &databox_store::MasterKeySource::KeyFile).unwrap();
    let store = stores
        .get(&databox_store::StoreId::new("sensors").unwrap())
        .unwrap();
    store.check_integrity().unwrap();
}
