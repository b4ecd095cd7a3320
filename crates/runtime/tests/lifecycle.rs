//! The supervisor end to end, with the test guest as a real component: install, timers writing
//! into the component's own store, logs, pages, observed data delivered to `on-data` until the
//! grant is revoked, a failing start backing off and restarting, stop, restore after the box
//! restarts, upgrades with and without new asks, and uninstall with and without erasing.
//!
//! Every wait is a poll with a deadline; the few fixed waits only give something time to happen
//! that must not.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use databox_arbiter::{Arbiter, Operation};
use databox_audit::{AuditLog, Outcome, Query, Record};
use databox_runtime::host::{Env, HttpRequest, RunError};
use databox_runtime::{InstallRequest, Status, Supervisor, SupervisorError};
use databox_store::query::parse_read;
use databox_store::{
    DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, NumericPoint, ReadOutput, StoreId, Stores,
};

mod support;
use support::component;

/// How long anything expected may take.
const DEADLINE: Duration = Duration::from_secs(15);
/// The first wait before a restart.
const BACKOFF: Duration = Duration::from_millis(100);

/// The test guest's manifest: provides `counter`, requests a temperature as `source` with
/// `ops`, has the `behave` setting, a timer every second when `every` and `extra` appended.
fn manifest(name: &str, version: &str, ops: &str, every: bool, extra: &str) -> String {
    format!(
        r#"
[component]
name = "{name}"
version = "{version}"
kind = "driver"
description = "A test component."

[[provides]]
id = "counter"
store_type = "ts"
type = "count"

[[requests]]
name = "source"
type = "temperature"
operations = {ops}
purpose = "compare with the count"

[[config]]
key = "behave"
description = "what it does"
default = "good"

[limits]
memory_mb = 32
cpu_ms = 500
output_kb = 64
{schedule}
{extra}
"#,
        schedule = if every {
            "[schedule]\nevery_seconds = 1"
        } else {
            ""
        }
    )
}

fn plain(name: &str) -> String {
    manifest(name, "0.1.0", r#"["read"]"#, true, "")
}

/// An install request mapping `source` to `home/lounge`, with `behave` when given, started.
fn request(behave: Option<&str>) -> InstallRequest {
    InstallRequest {
        mapping: BTreeMap::from([("source".to_owned(), Some("home/lounge".to_owned()))]),
        config: behave
            .map(|b| BTreeMap::from([("behave".to_owned(), b.to_owned())]))
            .unwrap_or_default(),
        start: true,
        ..InstallRequest::default()
    }
}

/// Opens the box's stores, arbiter and audit log in `dir` (again after a restart).
fn open_env(dir: &Path) -> Env {
    let stores = Arc::new(Stores::open(dir, &MasterKeySource::KeyFile).unwrap());
    let (arbiter, _) = Arbiter::open(dir).unwrap();
    let audit = AuditLog::open(&dir.join("audit")).unwrap();
    Env {
        stores,
        arbiter: Arc::new(arbiter),
        audit,
        data_dir: dir.to_owned(),
        exports: None,
    }
}

/// A fresh box: `home/lounge` (temperature, one point) and `home/hum` (humidity).
fn new_box() -> (tempfile::TempDir, Env) {
    tokio::task::block_in_place(new_box_blocking)
}

fn new_box_blocking() -> (tempfile::TempDir, Env) {
    let dir = tempfile::tempdir().unwrap();
    let env = open_env(dir.path());
    let home = env.stores.create(&StoreId::new("home").unwrap(), "").unwrap();
    for (id, ty) in [("lounge", "temperature"), ("hum", "humidity")] {
        let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
        meta.data_type = ty.into();
        home.upsert_datasource(DatasourceId::new(id).unwrap(), meta)
            .unwrap()
            .wait()
            .unwrap();
    }
    write_source_blocking(&env, 21.5);
    (dir, env)
}

fn open(env: &Env) -> Supervisor {
    Supervisor::open_with(&env.data_dir, env.clone(), BACKOFF).unwrap()
}

/// Runs a lifecycle call that waits for the stores (install, uninstall) off the async threads,
/// as the API does.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Writes a point to `home/lounge` (waiting for the store's writer: off the async threads).
fn write_source(env: &Env, value: f64) {
    tokio::task::block_in_place(|| write_source_blocking(env, value));
}

fn write_source_blocking(env: &Env, value: f64) {
    let home = env.stores.get(&StoreId::new("home").unwrap()).unwrap();
    home.write_numeric(
        &DatasourceId::new("lounge").unwrap(),
        vec![NumericPoint {
            timestamp: None,
            value,
            tags: Default::default(),
        }],
    )
    .unwrap()
    .wait()
    .unwrap();
}

/// Points in a component's `counter`, those tagged `source=<tag>` when given; `None` when its
/// store does not exist.
fn counter(env: &Env, store: &str, tag: Option<&str>) -> Option<u64> {
    let store = env.stores.get(&StoreId::new(store).unwrap()).ok()?;
    let mut segments = vec!["length".to_owned()];
    if let Some(t) = tag {
        segments.extend(["filter", "source", "equals", t].map(String::from));
    }
    let q = parse_read(&segments).unwrap();
    match store.read(&[DatasourceId::new("counter").unwrap()], &q).unwrap() {
        ReadOutput::Count(n) => Some(n),
        other => panic!("{other:?}"),
    }
}

fn ticks(env: &Env, store: &str) -> u64 {
    counter(env, store, Some("timer")).expect("its store")
}

/// Polls `f` every 25 ms until it gives a value, for at most [`DEADLINE`].
async fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(t.elapsed() < DEADLINE, "not within {DEADLINE:?}: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until the component's timer wrote more than `than` points.
async fn ticks_beyond(env: &Env, name: &str, than: u64) -> u64 {
    eventually(&format!("{name} ticks beyond {than}"), || {
        Some(ticks(env, name)).filter(|&n| n > than)
    })
    .await
}

async fn running(sup: &Supervisor, name: &str) {
    eventually(&format!("{name} running"), || {
        (sup.info(name).unwrap().status == Status::Running).then_some(())
    })
    .await;
}

fn audited(env: &Env, principal: &str, operation: &str, outcome: Outcome) -> Vec<Record> {
    env.audit
        .query(&Query {
            principal: Some(principal.into()),
            operation: Some(operation.into()),
            outcome: Some(outcome),
            ..Query::default()
        })
        .unwrap()
}

fn page(path: &str, query: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        query: query.into(),
        headers: vec![],
        body: vec![],
    }
}

/// The ids of a principal's grants, sorted.
fn grant_ids(env: &Env, name: &str) -> Vec<String> {
    let mut ids: Vec<String> = env.arbiter.grants(Some(name)).into_iter().map(|g| g.id).collect();
    ids.sort();
    ids
}

fn has_principal(env: &Env, name: &str) -> bool {
    env.arbiter.principals().iter().any(|p| p.id.as_str() == name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_runs_its_timer_keeps_logs_and_serves_its_pages() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    let info = blocking(|| sup.install(&plain("ticker"), component(false), &request(None))).unwrap();
    assert_eq!((info.kind.as_str(), info.every_seconds), ("driver", Some(1)));
    running(&sup, "ticker").await;

    // The timer writes into its own store, again and again.
    let first = ticks_beyond(&env, "ticker", 0).await;
    ticks_beyond(&env, "ticker", first).await;
    assert_eq!(
        counter(&env, "ticker", None),
        counter(&env, "ticker", Some("timer"))
    );

    // What it logged is kept, with what the box did.
    let logs: Vec<String> = sup.logs("ticker").unwrap().into_iter().map(|l| l.line).collect();
    for expected in [
        "box: installed version 0.1.0",
        "Info: started",
        "box: started",
        "Info: wrote 1",
    ] {
        assert!(
            logs.iter().any(|l| l.contains(expected)),
            "{expected:?} not in {logs:?}"
        );
    }
    assert!(logs.iter().any(|l| l.contains("source")), "{logs:?}");

    // Its pages answer.
    let answer = sup.handle("ticker", page("/hello", "x")).await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, b"hello x");
    let answer = sup.handle("ticker", page("/elsewhere", "")).await.unwrap();
    assert_eq!(answer.status, 404);

    // A 4 MiB page is over its output limit (64 KiB): refused, recorded, and it keeps running.
    blocking(|| sup.install(&plain("pager"), component(false), &request(Some("big-page")))).unwrap();
    running(&sup, "pager").await;
    let err = sup.handle("pager", page("/hello", "x")).await.unwrap_err();
    assert!(
        matches!(&err, SupervisorError::Run(RunError::Killed(why))
            if why.contains("its answer of 4194304 bytes is over its limit of 65536 bytes")),
        "{err}"
    );
    let info = sup.info("pager").unwrap();
    assert!(
        info.last_error
            .as_deref()
            .is_some_and(|e| e.contains("over its limit")),
        "{info:?}"
    );
    assert_eq!(info.status, Status::Running);
    let failed = audited(&env, "pager", "run handle", Outcome::Failed);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        sup.logs("pager")
            .unwrap()
            .iter()
            .any(|l| l.line.contains("box: its page handler failed")),
    );
    let pager_ticks = ticks_beyond(&env, "pager", 0).await;
    ticks_beyond(&env, "pager", pager_ticks).await;
    // Its timer has run well since the failed page: the problem is over, and the owner can tell.
    let info = eventually("a handler that ran well after the problem", || {
        let info = sup.info("pager").unwrap();
        info.last_ok_ms
            .zip(info.last_error_ms)
            .is_some_and(|(ok, e)| ok > e)
            .then_some(info)
    })
    .await;
    assert!(
        info.last_error.is_some(),
        "the last problem is still shown: {info:?}"
    );
    assert_eq!(
        sup.handle("ticker", page("/hello", "y")).await.unwrap().body,
        b"hello y"
    );
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn observed_writes_reach_on_data_until_the_grant_is_revoked() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    let m = manifest("watcher", "0.1.0", r#"["read", "observe"]"#, false, "");
    blocking(|| sup.install(&m, component(false), &request(Some("observe")))).unwrap();
    running(&sup, "watcher").await;
    assert!(
        !audited(&env, "watcher", "observe", Outcome::Ok).is_empty(),
        "its observe is audited"
    );

    // The watch starts just after `start` returns: write until the first point arrives.
    let mut value = 0.0;
    eventually("the first observed point reaches on-data", || {
        value += 1.0;
        write_source(&env, value);
        Some(()).filter(|_| counter(&env, "watcher", Some("data")).unwrap() > 0)
    })
    .await;
    // Once what is on its way has arrived (the count holds still for 200 ms), every write
    // arrives, one on-data call each.
    let (mut last, mut still) = (u64::MAX, 0);
    let seen = eventually("deliveries settle", || {
        let now = counter(&env, "watcher", Some("data")).unwrap();
        still = if now == last { still + 1 } else { 0 };
        last = now;
        (still == 8).then_some(now)
    })
    .await;
    for v in 0..3 {
        write_source(&env, 100.0 + f64::from(v));
    }
    eventually("three more points reach on-data", || {
        (counter(&env, "watcher", Some("data")).unwrap() == seen + 3).then_some(())
    })
    .await;
    assert!(
        sup.logs("watcher")
            .unwrap()
            .iter()
            .any(|l| l.line.contains("data of source")),
    );
    assert_eq!(counter(&env, "watcher", Some("timer")), Some(0));

    // The owner takes the observe grant back: the next write is refused and recorded, and no
    // write reaches the component any more.
    let grant = env
        .arbiter
        .grants(Some("watcher"))
        .into_iter()
        .find(|g| g.operation == Operation::Observe && g.store == "home")
        .unwrap();
    env.arbiter.revoke_grant(&grant.id).unwrap();
    let delivered = counter(&env, "watcher", Some("data")).unwrap();
    write_source(&env, 200.0);
    let refused = eventually("the refused observe is audited", || {
        let r = audited(&env, "watcher", "observe", Outcome::Refused);
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(refused[0].store.as_deref(), Some("home"));
    assert_eq!(refused[0].datasource.as_deref(), Some("lounge"));
    assert!(refused[0].detail.is_some(), "{refused:?}");
    for v in 0..3 {
        write_source(&env, 300.0 + f64::from(v));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        counter(&env, "watcher", Some("data")).unwrap(),
        delivered,
        "a write after the revocation reached on-data"
    );
    assert_eq!(
        audited(&env, "watcher", "observe", Outcome::Refused).len(),
        1,
        "the watch ended at the first refusal"
    );
    // Its own store and its other grant still work; it is not failing for it.
    assert_eq!(sup.info("watcher").unwrap().status, Status::Running);
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_start_is_retried_with_backoff_until_stopped() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    blocking(|| sup.install(&plain("crasher"), component(false), &request(Some("fail-start")))).unwrap();
    let mut seen: Vec<u32> = Vec::new();
    let info = eventually("three failures in a row", || {
        let info = sup.info("crasher").unwrap();
        if let Status::Failing { failures, .. } = info.status
            && seen.last() != Some(&failures)
        {
            seen.push(failures);
        }
        (seen.last().is_some_and(|&f| f >= 3)).then_some(info)
    })
    .await;
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "failures only grow: {seen:?}"
    );
    assert!(info.restarts >= 3, "{info:?}");
    assert!(
        info.last_error
            .as_deref()
            .is_some_and(|e| e.contains("cannot start today")),
        "{info:?}"
    );
    let Status::Failing { retry_at_ms, .. } = info.status else {
        unreachable!()
    };
    assert!(retry_at_ms > info.installed_ms, "{info:?}");
    assert!(
        info.last_error_ms
            .is_some_and(|t| t >= info.installed_ms && t <= databox_store::now_ms()),
        "the last problem says when: {info:?}"
    );
    assert!(
        audited(&env, "crasher", "run start", Outcome::Failed).len() >= 3,
        "each failed start is audited"
    );
    assert!(
        sup.logs("crasher")
            .unwrap()
            .iter()
            .any(|l| l.line.contains("cannot start today; starting it again in")),
    );

    // Stopped, it stays stopped: no more starts.
    let info = sup.stop("crasher").unwrap();
    assert_eq!(info.status, Status::Stopped);
    let attempts = audited(&env, "crasher", "run start", Outcome::Failed).len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sup.info("crasher").unwrap().status, Status::Stopped);
    assert_eq!(
        audited(&env, "crasher", "run start", Outcome::Failed).len(),
        attempts
    );
    let err = sup.handle("crasher", page("/hello", "")).await.unwrap_err();
    assert!(matches!(err, SupervisorError::NotRunning(_)), "{err}");
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_restart_what_ran_runs_again_and_what_was_stopped_stays_stopped() {
    let (dir, env) = new_box();
    let sup = open(&env);
    for name in ["runner", "sleeper"] {
        blocking(|| sup.install(&plain(name), component(false), &request(None))).unwrap();
    }
    ticks_beyond(&env, "runner", 0).await;
    ticks_beyond(&env, "sleeper", 0).await;
    assert_eq!(sup.stop("sleeper").unwrap().status, Status::Stopped);

    // The box stops: nothing ticks any more.
    sup.shutdown();
    drop(sup);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (runner, sleeper) = (ticks(&env, "runner"), ticks(&env, "sleeper"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ticks(&env, "runner"), runner, "a tick after shutdown");
    env.stores.close();
    env.audit.close();
    drop(env);

    // The box starts again on the same data.
    let env = open_env(dir.path());
    let sup = open(&env);
    assert_eq!(sup.list().len(), 2);
    running(&sup, "runner").await;
    let after = ticks_beyond(&env, "runner", runner).await;
    ticks_beyond(&env, "runner", after).await;
    assert_eq!(sup.info("sleeper").unwrap().status, Status::Stopped);
    assert_eq!(ticks(&env, "sleeper"), sleeper);
    assert_eq!(
        sup.handle("runner", page("/hello", "again")).await.unwrap().body,
        b"hello again"
    );
    // And the stopped one starts when asked.
    sup.start("sleeper").unwrap();
    ticks_beyond(&env, "sleeper", sleeper).await;
    sup.shutdown();
}

/// The `.cwasm` files kept in `components/compiled/`, by name.
fn kept_compiled(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("components/compiled"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Stops the box and opens it again on the same data.
async fn restart_box(sup: Supervisor, env: Env, dir: &Path) -> (Supervisor, Env) {
    sup.shutdown();
    drop(sup);
    env.stores.close();
    env.audit.close();
    drop(env);
    let env = open_env(dir);
    (open(&env), env)
}

#[tokio::test(flavor = "multi_thread")]
async fn compiled_code_is_kept_reused_replaced_when_damaged_and_never_trusted_over_the_installed_wasm() {
    use sha2::Digest;
    let (dir, env) = new_box();
    let sup = open(&env);
    blocking(|| sup.install(&plain("cached"), component(false), &request(None))).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(component(false)));
    let cwasm = dir.path().join(format!("components/compiled/{sha}.cwasm"));
    assert_eq!(kept_compiled(dir.path()), [format!("{sha}.cwasm")]);
    let written = std::fs::metadata(&cwasm).unwrap().modified().unwrap();
    ticks_beyond(&env, "cached", 0).await;

    // A restart loads the kept code instead of compiling (the file is not written again).
    let (sup, env) = restart_box(sup, env, dir.path()).await;
    running(&sup, "cached").await;
    assert_eq!(std::fs::metadata(&cwasm).unwrap().modified().unwrap(), written);
    assert_eq!(
        sup.handle("cached", page("/hello", "kept")).await.unwrap().body,
        b"hello kept"
    );

    // Damaged kept code is not run: the component is compiled again and the file replaced.
    std::fs::write(&cwasm, b"not machine code").unwrap();
    let (sup, env) = restart_box(sup, env, dir.path()).await;
    running(&sup, "cached").await;
    assert!(std::fs::metadata(&cwasm).unwrap().len() > 1000);
    assert_eq!(
        sup.handle("cached", page("/hello", "again")).await.unwrap().body,
        b"hello again"
    );

    // Without kept code, a `.wasm` changed behind the box's back is refused, not run.
    std::fs::remove_file(&cwasm).unwrap();
    let wasm = dir.path().join("components/cached.wasm");
    let mut changed = std::fs::read(&wasm).unwrap();
    changed.extend_from_slice(b"\0");
    std::fs::write(&wasm, changed).unwrap();
    let (sup, env) = restart_box(sup, env, dir.path()).await;
    match sup.info("cached").unwrap().status {
        Status::Broken { reason } => assert!(reason.contains("not the file that was installed"), "{reason}"),
        other => panic!("a changed .wasm ran: {other:?}"),
    }

    // Uninstalled, nothing of it is kept.
    blocking(|| sup.uninstall("cached", true)).unwrap();
    assert!(
        kept_compiled(dir.path()).is_empty(),
        "{:?}",
        kept_compiled(dir.path())
    );
    sup.shutdown();
    drop(env);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_list_of_components_is_kept_aside_and_the_box_runs_on() {
    let (dir, env) = new_box();
    let sup = open(&env);
    for name in ["first", "second"] {
        blocking(|| sup.install(&plain(name), component(false), &request(None))).unwrap();
    }
    ticks_beyond(&env, "first", 0).await;
    assert!(sup.problem().is_none());
    let installed = dir.path().join("components/installed.json");
    let damaged_copies = || {
        std::fs::read_dir(dir.path().join("components"))
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("installed.json.damaged-")
            })
            .map(|e| e.path())
            .collect::<Vec<_>>()
    };

    // One record whose manifest no longer parses: the other runs, the file is copied aside.
    let (sup, env) = {
        sup.shutdown();
        let mut records: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&installed).unwrap()).unwrap();
        records["second"]["manifest"] = "[component]\nname = 3".into();
        std::fs::write(&installed, serde_json::to_vec(&records).unwrap()).unwrap();
        let original = std::fs::read(&installed).unwrap();
        let (sup, env) = restart_box(sup, env, dir.path()).await;
        let problem = sup.problem().expect("the owner is told").to_owned();
        assert!(
            problem.contains("second:") && problem.contains("principals remove"),
            "{problem}"
        );
        assert_eq!(damaged_copies().len(), 1);
        assert_eq!(
            std::fs::read(&damaged_copies()[0]).unwrap(),
            original,
            "the copy is the file as it was"
        );
        running(&sup, "first").await;
        assert!(matches!(sup.info("second"), Err(SupervisorError::NotFound(_))));
        (sup, env)
    };

    // The whole file is garbage: the box still opens, without components, and says why.
    std::fs::write(&installed, b"{\"first\": {\"manif").unwrap();
    let (sup, env) = restart_box(sup, env, dir.path()).await;
    let problem = sup.problem().expect("the owner is told").to_owned();
    assert!(problem.contains("the file is damaged"), "{problem}");
    assert!(sup.list().is_empty());
    assert_eq!(damaged_copies().len(), 2);
    // Started again on the same damage, the box says so again but keeps one copy of it.
    let (sup, env) = restart_box(sup, env, dir.path()).await;
    assert!(sup.problem().is_some());
    assert_eq!(damaged_copies().len(), 2);
    // Their data is kept, and after removing its principal a component installs again.
    assert!(ticks(&env, "first") > 0);
    env.arbiter
        .remove_principal(&databox_arbiter::PrincipalId::new("first".to_owned()).unwrap())
        .unwrap();
    blocking(|| sup.install(&plain("first"), component(false), &request(None))).unwrap();
    let before = ticks(&env, "first");
    ticks_beyond(&env, "first", before).await;
    sup.shutdown();
}

/// Whether `name` holds a live grant to read `box/host-metrics`.
fn may_measure_the_machine(env: &Env, name: &str) -> bool {
    env.arbiter
        .grants(Some(name))
        .iter()
        .any(|g| g.store == "box" && g.datasource.as_deref() == Some("host-metrics"))
}

/// Revokes `name`'s grant to read `box/host-metrics`.
fn revoke_measuring(env: &Env, name: &str) {
    for g in env.arbiter.grants(Some(name)) {
        if g.store == "box" {
            env.arbiter.revoke_grant(&g.id).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approved_host_metrics_becomes_a_grant_once_even_for_a_component_installed_before() {
    let (dir, env) = new_box();
    let sup = open(&env);
    let measuring = manifest("measurer", "0.1.0", r#"["read"]"#, true, "[host]\nmetrics = true");
    blocking(|| sup.install(&measuring, component(false), &request(None))).unwrap();
    blocking(|| sup.install(&plain("plain"), component(false), &request(None))).unwrap();
    assert!(may_measure_the_machine(&env, "measurer"));
    assert!(!may_measure_the_machine(&env, "plain"));

    // As a box from before measuring was a grant left it: the record says nothing, no grant.
    sup.shutdown();
    let installed = dir.path().join("components/installed.json");
    let mut records: serde_json::Value = serde_json::from_slice(&std::fs::read(&installed).unwrap()).unwrap();
    records["measurer"]
        .as_object_mut()
        .unwrap()
        .remove("machine_grant_made")
        .expect("the record says whether the grant was made");
    std::fs::write(&installed, serde_json::to_vec(&records).unwrap()).unwrap();
    revoke_measuring(&env, "measurer");
    let (sup, env) = restart_box(sup, env, dir.path()).await;
    assert!(
        may_measure_the_machine(&env, "measurer"),
        "the approval became a grant"
    );
    assert!(!may_measure_the_machine(&env, "plain"));
    running(&sup, "measurer").await;

    // Revoked by the owner, it stays revoked across restarts.
    revoke_measuring(&env, "measurer");
    let (sup, env) = restart_box(sup, env, dir.path()).await;
    assert!(!may_measure_the_machine(&env, "measurer"));
    sup.shutdown();
    drop(env);
}

/// A principal's grants as `operation store/datasource granularity (purpose)`, sorted.
fn grant_lines(env: &Env, name: &str) -> Vec<String> {
    let mut lines: Vec<String> = env
        .arbiter
        .grants(Some(name))
        .iter()
        .map(|g| {
            format!(
                "{} {}/{} {:?} ({})",
                g.operation.as_str(),
                g.store,
                g.datasource.as_deref().unwrap_or("*"),
                g.granularity,
                g.purpose
            )
        })
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_that_asks_for_less_gives_back_what_it_no_longer_asks_for() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    let humidity = "[[requests]]\nname = \"humidity\"\ntype = \"humidity\"\noperations = [\"read\"]\n\
                    purpose = \"more\"\nrequired = false\n";
    let v1 = manifest(
        "shrinker",
        "0.1.0",
        r#"["read", "observe"]"#,
        true,
        &format!("[host]\nmetrics = true\n\n{humidity}"),
    );
    let mut req = request(None);
    req.mapping.insert("humidity".into(), Some("home/hum".into()));
    blocking(|| sup.install(&v1, component(false), &req)).unwrap();
    // The owner also granted it something by hand, for a reason of their own.
    env.arbiter
        .grant(
            &databox_arbiter::PrincipalId::new("shrinker".to_owned()).unwrap(),
            Operation::Read,
            &StoreId::new("home").unwrap(),
            Some(&DatasourceId::new("hum").unwrap()),
            (None, None),
            None,
            databox_arbiter::Granularity::Raw,
            "the owner's own reason",
        )
        .unwrap();

    // Version 2 reads the source hourly only, observes nothing, drops humidity and measuring.
    let v2 = manifest("shrinker", "0.2.0", r#"["read"]"#, true, "").replace(
        "purpose = \"compare with the count\"",
        "purpose = \"compare with the count\"\ngranularity = \"hourly\"",
    );
    assert_eq!(
        sup.review(&v2).unwrap().upgrade_asks,
        Some(vec![]),
        "asking for less needs no approval"
    );
    let same = InstallRequest {
        start: true,
        ..InstallRequest::default()
    };
    let info = blocking(|| sup.install(&v2, component(false), &same)).unwrap();
    assert_eq!(info.version, "0.2.0");
    assert_eq!(
        grant_lines(&env, "shrinker"),
        [
            "observe shrinker/* Raw (its own store)",
            "read home/hum Raw (the owner's own reason)",
            "read home/lounge Hourly (compare with the count)",
            "read shrinker/* Raw (its own store)",
            "write shrinker/* Raw (its own store)",
        ]
    );
    assert_eq!(
        info.mapping.keys().collect::<Vec<_>>(),
        ["source"],
        "the dropped request's mapping goes too"
    );
    let logs: Vec<String> = sup
        .logs("shrinker")
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect();
    for said in [
        "source: read home/lounge now only hourly",
        "source: no longer observe home/lounge",
        "humidity: no longer read home/hum",
        "no longer measure the box's machine",
    ] {
        assert!(
            logs.iter().any(|l| l.contains(said)),
            "{said} missing from {logs:?}"
        );
    }
    let records = env
        .audit
        .query(&Query {
            operation: Some("take back a grant".into()),
            ..Query::default()
        })
        .unwrap();
    assert!(
        records.iter().any(|r| r
            .detail
            .as_deref()
            .is_some_and(|d| d.starts_with("shrinker: the new version no longer asks for it"))),
        "{records:?}"
    );

    // A new purpose for the same data is a new approval.
    let v3 = v2.replace("compare with the count", "sell to advertisers");
    assert_eq!(
        sup.review(&v3).unwrap().upgrade_asks,
        Some(vec!["source: a new purpose: sell to advertisers".to_owned()])
    );
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_keeps_its_grants_unless_it_asks_for_more() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    blocking(|| sup.install(&plain("upgrader"), component(false), &request(None))).unwrap();
    let before = ticks_beyond(&env, "upgrader", 0).await;
    let grants = grant_ids(&env, "upgrader");
    assert_eq!(
        grants.len(),
        4,
        "read, observe, write of its store, read of source"
    );

    // The same asks in a new version: nothing to approve, the grants are kept.
    let v2 = manifest("upgrader", "0.2.0", r#"["read"]"#, true, "");
    assert_eq!(sup.review(&v2).unwrap().upgrade_asks, Some(vec![]));
    let same = InstallRequest {
        start: true,
        ..InstallRequest::default()
    };
    let info = blocking(|| sup.install(&v2, component(false), &same)).unwrap();
    assert_eq!(info.version, "0.2.0");
    assert_eq!(info.mapping.get("source"), Some(&Some("home/lounge".to_owned())));
    assert_eq!(grant_ids(&env, "upgrader"), grants);
    running(&sup, "upgrader").await;
    let upgraded = ticks_beyond(&env, "upgrader", before).await;

    // A version that asks for more data needs the owner's approval.
    let v3 = manifest(
        "upgrader",
        "0.3.0",
        r#"["read"]"#,
        true,
        "[[requests]]\nname = \"humidity\"\ntype = \"humidity\"\noperations = [\"read\"]\npurpose = \"more\"\n",
    );
    let asks = vec!["new data: humidity (humidity)".to_owned()];
    assert_eq!(sup.review(&v3).unwrap().upgrade_asks, Some(asks.clone()));
    let mut req = request(None);
    req.mapping.insert("humidity".into(), Some("home/hum".into()));
    let err = blocking(|| sup.install(&v3, component(false), &req)).unwrap_err();
    assert!(
        matches!(&err, SupervisorError::NeedsApproval(a) if *a == asks),
        "{err}"
    );
    // Refused, nothing changed: the old version runs on with its grants.
    assert_eq!(sup.info("upgrader").unwrap().version, "0.2.0");
    assert_eq!(grant_ids(&env, "upgrader"), grants);
    ticks_beyond(&env, "upgrader", upgraded).await;

    req.approve = true;
    let info = blocking(|| sup.install(&v3, component(false), &req)).unwrap();
    assert_eq!(info.version, "0.3.0");
    let now = env.arbiter.grants(Some("upgrader"));
    assert!(
        now.iter().any(|g| g.operation == Operation::Read
            && g.store == "home"
            && g.datasource.as_deref() == Some("hum")),
        "{now:?}"
    );
    assert_eq!(now.len(), 5);
    // Its store and data were kept, and it runs on.
    running(&sup, "upgrader").await;
    let kept = ticks(&env, "upgrader");
    assert!(kept >= upgraded, "{kept} < {upgraded}");
    ticks_beyond(&env, "upgrader", kept).await;
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn uninstall_removes_the_principal_and_with_erase_the_store() {
    let (dir, env) = new_box();
    let sup = open(&env);
    for name in ["keeper", "eraser"] {
        blocking(|| sup.install(&plain(name), component(false), &request(None))).unwrap();
    }
    let kept = ticks_beyond(&env, "keeper", 0).await;
    ticks_beyond(&env, "eraser", 0).await;

    blocking(|| sup.uninstall("keeper", false)).unwrap();
    assert!(matches!(sup.info("keeper"), Err(SupervisorError::NotFound(_))));
    assert!(!has_principal(&env, "keeper"));
    assert!(env.arbiter.grants(Some("keeper")).is_empty());
    let kept = ticks(&env, "keeper").max(kept);
    assert!(env.stores.get(&StoreId::new("keeper").unwrap()).is_ok());

    blocking(|| sup.uninstall("eraser", true)).unwrap();
    assert!(!has_principal(&env, "eraser"));
    assert!(env.stores.get(&StoreId::new("eraser").unwrap()).is_err());
    assert!(!dir.path().join("components/eraser.wasm").exists());
    assert!(matches!(
        blocking(|| sup.uninstall("eraser", true)),
        Err(SupervisorError::NotFound(_))
    ));
    let records = env
        .audit
        .query(&Query {
            operation: Some("uninstall component".into()),
            ..Query::default()
        })
        .unwrap();
    let details: Vec<&str> = records.iter().filter_map(|r| r.detail.as_deref()).collect();
    assert_eq!(details, ["keeper, its store kept", "eraser, its store erased"]);

    // The kept store keeps its data and stops growing: nothing of the component runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(ticks(&env, "keeper"), kept);
    assert!(sup.list().is_empty());

    // Installed again, it finds its data.
    blocking(|| sup.install(&plain("keeper"), component(false), &request(None))).unwrap();
    ticks_beyond(&env, "keeper", kept).await;
    sup.shutdown();
}

// Bugs found in `src/supervisor.rs`, each shown by a test that fails until it is fixed.

#[tokio::test(flavor = "multi_thread")]

async fn a_refused_approved_upgrade_leaves_the_installed_version_running() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    blocking(|| sup.install(&plain("steady"), component(false), &request(None))).unwrap();
    let before = ticks_beyond(&env, "steady", 0).await;
    let grants = grant_ids(&env, "steady");

    // A new version asks for humidity too; the owner approves but maps nothing to it.
    let v2 = manifest(
        "steady",
        "0.2.0",
        r#"["read"]"#,
        true,
        "[[requests]]\nname = \"humidity\"\ntype = \"humidity\"\noperations = [\"read\"]\npurpose = \"more\"\n",
    );
    let mut req = request(None);
    req.approve = true;
    let err = blocking(|| sup.install(&v2, component(false), &req)).unwrap_err();
    assert!(
        matches!(&err, SupervisorError::Install(_)) && err.to_string().contains("\"humidity\" is required"),
        "{err}"
    );
    // Refused: nothing half-done remains, the installed version runs on as it was.
    assert_eq!(sup.info("steady").unwrap().version, "0.1.0");
    assert!(has_principal(&env, "steady"), "its principal was removed");
    assert_eq!(grant_ids(&env, "steady"), grants, "its grants were removed");
    ticks_beyond(&env, "steady", before).await;
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]

async fn an_upgrade_with_start_false_of_a_running_component_runs_as_it_records() {
    let (dir, env) = new_box();
    let sup = open(&env);
    blocking(|| sup.install(&plain("keeps"), component(false), &request(None))).unwrap();
    let before = ticks_beyond(&env, "keeps", 0).await;
    // The same asks, a new version, and start = false: the supervisor records it as running
    // (`running = req.start || was_running`).
    let v2 = manifest("keeps", "0.2.0", r#"["read"]"#, true, "");
    let info = blocking(|| sup.install(&v2, component(false), &InstallRequest::default())).unwrap();
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("components/installed.json")).unwrap())
            .unwrap();
    assert_eq!(recorded["keeps"]["running"], true);
    // So it should be running now, as it will be after the box restarts.
    assert_ne!(info.status, Status::Stopped, "recorded as running, but stopped");
    ticks_beyond(&env, "keeps", before).await;
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]

async fn nothing_of_an_uninstalled_observer_keeps_watching() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    let m = manifest("gone", "0.1.0", r#"["read", "observe"]"#, false, "");
    blocking(|| sup.install(&m, component(false), &request(Some("observe")))).unwrap();
    running(&sup, "gone").await;
    let mut value = 0.0;
    eventually("an observed point reaches on-data", || {
        value += 1.0;
        write_source(&env, value);
        Some(()).filter(|_| counter(&env, "gone", Some("data")).unwrap() > 0)
    })
    .await;

    blocking(|| sup.uninstall("gone", false)).unwrap();
    write_source(&env, 500.0);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // An uninstalled component does nothing, so nothing is done, or refused, in its name.
    let refused = audited(&env, "gone", "observe", Outcome::Refused);
    assert!(
        refused.is_empty(),
        "its watch outlived it and was refused in its name: {refused:?}"
    );
    sup.shutdown();
}

#[tokio::test(flavor = "multi_thread")]

async fn component_log_lines_start_with_their_level() {
    let (_dir, env) = new_box();
    let sup = open(&env);
    blocking(|| sup.install(&plain("logger"), component(false), &request(None))).unwrap();
    running(&sup, "logger").await;
    let logs: Vec<String> = sup.logs("logger").unwrap().into_iter().map(|l| l.line).collect();
    assert!(
        logs.iter().any(|l| l == "Info: started"),
        "no line `Info: started` in {logs:?}"
    );
    sup.shutdown();
}
