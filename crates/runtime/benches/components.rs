//! Component costs, measured against baselines in the same run (`cargo bench -p databox-runtime
//! --bench components`):
//!
//! - a box start: loading the compiled code kept on disk against compiling the `.wasm` again;
//! - instantiation: one HTTP handler call on a pre-compiled, pre-linked component (a fresh
//!   instance each call, as the box runs them), against compiling it (the cold start it avoids);
//! - a store read from inside a component (`datastore.read(source, "latest")`, through the
//!   arbiter's one check and the audit log) against the same read made natively in the box
//!   (the one check, the store read, the JSON answer, the audit record), as a ratio.
//!
//! Rounds alternate between the two sides so that load on the shared machine falls on both.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use databox_arbiter::{Arbiter, DataRequest, Operation};
use databox_audit::{AuditLog, Event, Outcome};
use databox_runtime::Manifest;
use databox_runtime::host::{ComponentCtx, Env, HttpRequest, Runtime};
use databox_runtime::install::{Choices, install};
use databox_store::query::parse_read;
use databox_store::{
    DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, NumericPoint, StoreId, Stores,
};

const MANIFEST: &str = r#"
[component]
name = "bench-driver"
version = "0.1.0"
kind = "driver"
description = "Reads one series many times."

[[requests]]
name = "source"
type = "temperature"
operations = ["read"]
purpose = "measure reads"

[limits]
memory_mb = 32
cpu_ms = 60000
wall_ms = 120000
"#;

const READS: u32 = 2000;
const ROUNDS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let stores = Arc::new(Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap());
    let (arbiter, _) = Arbiter::open(dir.path()).unwrap();
    let arbiter = Arc::new(arbiter);
    let audit = AuditLog::open(&dir.path().join("audit")).unwrap();
    let home_id = StoreId::new("home").unwrap();
    let home = stores.create(&home_id, "").unwrap();
    let lounge = DatasourceId::new("lounge").unwrap();
    let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
    meta.data_type = "temperature".into();
    home.upsert_datasource(lounge.clone(), meta)
        .unwrap()
        .wait()
        .unwrap();
    let points = (0..1000)
        .map(|i| NumericPoint {
            timestamp: Some(1_700_000_000_000 + i * 60_000),
            value: 20.0 + (i % 10) as f64 / 10.0,
            tags: Default::default(),
        })
        .collect();
    home.write_numeric(&lounge, points).unwrap().wait().unwrap();

    let manifest = Manifest::parse(MANIFEST).unwrap();
    let mut choices = Choices::default();
    choices
        .mapping
        .insert("source".into(), Some((home_id.clone(), lounge.clone())));
    let installed = install(&manifest, &choices, &stores, &arbiter).unwrap();
    let env = Env {
        stores: stores.clone(),
        arbiter: arbiter.clone(),
        audit: audit.clone(),
        data_dir: dir.path().to_path_buf(),
        exports: None,
    };
    let caller = arbiter.authenticate(Some(&installed.token)).unwrap();
    let config = BTreeMap::from([
        ("behave".to_owned(), "read-loop".to_owned()),
        ("n".to_owned(), READS.to_string()),
    ]);
    let ctx = ComponentCtx::for_manifest(
        &manifest,
        caller.clone(),
        &choices_as_strings(&choices),
        &config,
        env,
    )
    .unwrap();

    let wasm = support::component(false);
    let runtime = Runtime::new().unwrap();
    // A box start: compiling the `.wasm`, against loading the machine code kept from the last
    // compile (`components/compiled/<sha256>.cwasm`), alternating.
    let kept = dir.path().join("kept.cwasm");
    std::fs::write(&kept, runtime.serialize(&runtime.compile(wasm).unwrap()).unwrap()).unwrap();
    let (mut compiles, mut loads) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        std::hint::black_box(runtime.compile(wasm).unwrap());
        compiles.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        std::hint::black_box(runtime.deserialize_file(&kept).unwrap());
        loads.push(t.elapsed().as_secs_f64());
    }
    let (compile, load_kept) = (median(compiles), median(loads));
    let compiled = runtime.deserialize_file(&kept).unwrap();
    let loaded = runtime.link(&compiled, ctx, &manifest).unwrap();

    // Instantiation: a handler call that does nothing but answer 404, on a fresh instance.
    let request = HttpRequest {
        method: "GET".into(),
        path: "/nothing".into(),
        query: String::new(),
        headers: vec![],
        body: vec![],
    };
    for _ in 0..200 {
        loaded.handle(&request).unwrap();
    }
    let mut per_call = Vec::new();
    for _ in 0..ROUNDS {
        let n = 500;
        let t = Instant::now();
        for _ in 0..n {
            loaded.handle(&request).unwrap();
        }
        per_call.push(t.elapsed().as_secs_f64() / n as f64);
    }
    let instantiate = median(per_call);

    // Reads: inside the component versus natively, alternating.
    let list = [lounge.clone()];
    let native_read = || {
        let q = parse_read(&["latest".to_owned()]).unwrap();
        let req = DataRequest {
            operation: Operation::Read,
            store: &home_id,
            datasources: &list,
            read: Some(&q),
        };
        let access = arbiter.authorize(&caller, &req).unwrap();
        let mut q = q;
        q.window = access.window;
        let out = home.read(&list, &q).unwrap();
        let json = out.to_json().to_string();
        audit.record(Event {
            store: Some("home".into()),
            datasource: Some("lounge".into()),
            detail: Some(q.describe()),
            count: Some(1),
            outcome: Some(Outcome::Ok),
            ..Event::access("bench-driver", "read")
        });
        json.len()
    };
    loaded.timer().unwrap();
    let (mut inside, mut native) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        loaded.timer().unwrap();
        inside.push((t.elapsed().as_secs_f64() - instantiate) / f64::from(READS));
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..READS {
            bytes += native_read();
        }
        std::hint::black_box(bytes);
        native.push(t.elapsed().as_secs_f64() / f64::from(READS));
    }
    let (inside, native) = (median(inside), median(native));
    let us = |s: f64| s * 1e6;
    println!("component benchmark ({ROUNDS} rounds, medians)");
    println!(
        "  compile the .wasm (at install):                  {:>9.1} us",
        us(compile)
    );
    println!(
        "  load the kept compiled code (at a box start):    {:>9.1} us   ({:.4} of compiling)",
        us(load_kept),
        load_kept / compile
    );
    println!(
        "  instantiate + one handler call (warm):           {:>9.1} us   ({:.4} of compiling; target under 1000 us)",
        us(instantiate),
        instantiate / compile
    );
    println!(
        "  native read (check + read + JSON + audit):       {:>9.2} us",
        us(native)
    );
    println!(
        "  the same read from inside the component:         {:>9.2} us   ratio {:.2}x (target under 2x)",
        us(inside),
        inside / native
    );
    audit.close();
    stores.close();
}

fn choices_as_strings(c: &Choices) -> BTreeMap<String, Option<(StoreId, DatasourceId)>> {
    c.mapping.clone()
}
