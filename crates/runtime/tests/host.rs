//! Components run in the sandbox: a well-behaved driver writes and reads through the one check
//! and is audited; an endless loop, a memory bomb, a read of data it was not granted and a panic
//! are each stopped or refused, recorded, and the next run works.

use std::collections::BTreeMap;
use std::sync::Arc;

use databox_arbiter::Arbiter;
use databox_audit::{AuditLog, Outcome, Query};
use databox_runtime::Manifest;
use databox_runtime::host::{ComponentCtx, Env, RunError, Runtime};
use databox_runtime::install::{Choices, install};
use databox_store::{
    DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, NumericPoint, StoreId, Stores,
};

const MANIFEST: &str = r#"
[component]
name = "test-driver"
version = "0.1.0"
kind = "driver"
description = "Counts timer ticks and reads a temperature."

[[provides]]
id = "counter"
store_type = "ts"
type = "count"

[[requests]]
name = "source"
type = "temperature"
operations = ["read"]
purpose = "compare with the count"

[limits]
memory_mb = 32
cpu_ms = 200
"#;

mod support;
use support::component;

struct TestBox {
    _dir: tempfile::TempDir,
    env: Env,
    runtime: Runtime,
    token: String,
}

fn setup() -> TestBox {
    let dir = tempfile::tempdir().unwrap();
    let stores = Arc::new(Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap());
    let (arbiter, _) = Arbiter::open(dir.path()).unwrap();
    let arbiter = Arc::new(arbiter);
    let audit = AuditLog::open(&dir.path().join("audit")).unwrap();
    let home = stores.create(&StoreId::new("home").unwrap(), "").unwrap();
    for (id, ty) in [("lounge", "temperature"), ("secret", "diary")] {
        let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
        meta.data_type = ty.into();
        let ds = DatasourceId::new(id).unwrap();
        home.upsert_datasource(ds.clone(), meta).unwrap().wait().unwrap();
        home.write_numeric(
            &ds,
            vec![NumericPoint {
                timestamp: Some(1000),
                value: 21.5,
                tags: Default::default(),
            }],
        )
        .unwrap()
        .wait()
        .unwrap();
    }
    let manifest = Manifest::parse(MANIFEST).unwrap();
    let mut choices = Choices::default();
    choices.mapping.insert(
        "source".into(),
        Some((
            StoreId::new("home").unwrap(),
            DatasourceId::new("lounge").unwrap(),
        )),
    );
    let installed = install(&manifest, &choices, &stores, &arbiter).unwrap();
    let data_dir = dir.path().to_path_buf();
    TestBox {
        _dir: dir,
        env: Env {
            stores,
            arbiter,
            audit,
            data_dir,
            exports: None,
        },
        runtime: Runtime::new().unwrap(),
        token: installed.token,
    }
}

fn run(b: &TestBox, behave: &str) -> Result<databox_runtime::host::Report, RunError> {
    let manifest = Manifest::parse(MANIFEST).unwrap();
    let ds = |s: &str, d: &str| (StoreId::new(s).unwrap(), DatasourceId::new(d).unwrap());
    let datasources = BTreeMap::from([
        ("counter".to_owned(), ds("test-driver", "counter")),
        ("source".to_owned(), ds("home", "lounge")),
        // Named, but never granted: the one check must refuse it.
        ("secret".to_owned(), ds("home", "secret")),
    ]);
    let ctx = ComponentCtx {
        name: "test-driver".into(),
        caller: b.env.arbiter.authenticate(Some(&b.token)).unwrap(),
        own_store: StoreId::new("test-driver").unwrap(),
        datasources,
        config: BTreeMap::from([("behave".to_owned(), behave.to_owned())]),
        export_destinations: vec![],
        network_hosts: vec![],
        output_limit: 1 << 20,
        env: b.env.clone(),
    };
    let loaded = b.runtime.load(component(false), ctx, &manifest).unwrap();
    loaded.start()?;
    Ok(loaded.timer()?)
}

fn refused_or_failed(b: &TestBox) -> usize {
    let q = |outcome| Query {
        principal: Some("test-driver".into()),
        outcome: Some(outcome),
        ..Query::default()
    };
    b.env.audit.query(&q(Outcome::Refused)).unwrap().len()
        + b.env.audit.query(&q(Outcome::Failed)).unwrap().len()
}

#[test]
fn a_driver_writes_its_store_and_reads_its_grant_through_the_one_check() {
    let b = setup();
    let report = run(&b, "good").unwrap();
    let line = report.logs.iter().find(|l| l.contains("wrote")).unwrap();
    assert!(
        line.contains("wrote 1") && line.contains("\"result\":1.0") && line.contains("21.5"),
        "{line}"
    );
    run(&b, "good").unwrap();
    let counter = b.env.stores.get(&StoreId::new("test-driver").unwrap()).unwrap();
    let q = databox_store::query::parse_read(&["length".to_owned()]).unwrap();
    assert_eq!(
        counter
            .read(&[DatasourceId::new("counter").unwrap()], &q)
            .unwrap(),
        databox_store::ReadOutput::Count(2)
    );
    let records = b
        .env
        .audit
        .query(&Query {
            principal: Some("test-driver".into()),
            ..Query::default()
        })
        .unwrap();
    assert!(
        records
            .iter()
            .any(|r| r.operation == "read" && r.datasource.as_deref() == Some("lounge")),
        "{records:?}"
    );
    // Writes within a second share one record, so the two runs' points add up to 2 over one
    // record or two, depending on the timing.
    let written: u64 = records
        .iter()
        .filter(|r| r.operation == "write" && r.datasource.as_deref() == Some("counter"))
        .filter_map(|r| r.count)
        .sum();
    assert_eq!(written, 2, "{records:?}");
    assert_eq!(refused_or_failed(&b), 0);
}

#[test]
fn hostile_components_are_stopped_or_refused_recorded_and_the_box_goes_on() {
    let b = setup();
    component(false);
    let t = std::time::Instant::now();
    let err = run(&b, "spin").unwrap_err();
    assert!(
        matches!(&err, RunError::Killed(why) if why.contains("more than its limit of 200 ms of CPU time")),
        "{err}"
    );
    // Stopped rather than left running (generous: loading and compiling are in this time too).
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        t.elapsed()
    );

    let err = run(&b, "bomb").unwrap_err();
    assert!(
        matches!(&err, RunError::Killed(why) if why.contains("32 MiB")),
        "{err}"
    );

    let err = run(&b, "snoop").unwrap_err();
    assert!(
        matches!(&err, RunError::Failed(why) if why.contains("Denied") && why.contains("no grant to read home/secret")),
        "{err}"
    );

    let err = run(&b, "panic").unwrap_err();
    assert!(matches!(err, RunError::Killed(_)), "{err}");

    // Each was recorded: three kills, and the refused read plus the failed run it caused.
    assert!(refused_or_failed(&b) >= 5, "{}", refused_or_failed(&b));
    // And the next well-behaved run works.
    run(&b, "good").unwrap();
}
