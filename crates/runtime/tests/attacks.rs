//! The attacks of issue 4, each made by a real hostile component (the test guest) against a real
//! box: each is stopped or refused, leaves an audit record that says what happened, and the box
//! and another component keep working afterwards.
//!
//! - a driver connecting to a host its manifest does not list (the receiver sees no connection),
//!   and to a listed name that resolves to a private address;
//! - an allowed fetch (works, and is audited);
//! - an endless HTTP response, cut by the output limit, and, with a high output limit, stopped by
//!   the memory limit;
//! - an app that imports outbound HTTP at all (it does not load, nor install);
//! - an app reading a datasource it was not granted;
//! - an app reading finer than its grant's granularity;
//! - the kills `tests/host.rs` makes (CPU, memory, panic), here for their exact audit records and
//!   for a neighbour that keeps running while one spins.
//!
//! Outbound HTTP runs on tokio inside the host (its own runtime when the caller has none), so the
//! test servers run on a thread of their own with their own runtime, and components are called
//! from the test's thread.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use databox_arbiter::Arbiter;
use databox_audit::{AuditLog, Outcome, Query, Record};
use databox_runtime::host::{ComponentCtx, Env, Loaded, Report, RunError, Runtime};
use databox_runtime::install::{Choices, install};
use databox_runtime::{InstallRequest, Manifest, Supervisor, SupervisorError};
use databox_store::query::parse_read;
use databox_store::{
    DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, NumericPoint, ReadOutput, StoreId, Stores,
};

mod support;
use support::component;

/// A driver that counts in its own store and reads a temperature; `{hosts}` and `{limits}` are
/// filled in per test.
const DRIVER: &str = r#"
[component]
name = "{name}"
version = "0.1.0"
kind = "driver"
description = "Counts and fetches."

[[provides]]
id = "counter"
store_type = "ts"
type = "count"

[[requests]]
name = "source"
type = "temperature"
operations = ["read"]
purpose = "compare with the count"

[network]
hosts = [{hosts}]
purpose = "fetch a test page"

[limits]
{limits}
"#;

/// An app asking for a temperature at `{granularity}`.
const APP: &str = r#"
[component]
name = "{name}"
version = "0.1.0"
kind = "app"
description = "Charts a temperature."

[[provides]]
id = "counter"
store_type = "ts"
type = "count"

[[requests]]
name = "source"
type = "temperature"
operations = ["read"]
purpose = "draw a chart"
granularity = "{granularity}"
"#;

fn driver_manifest(name: &str, hosts: &[String], limits: &str) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    DRIVER
        .replace("{name}", name)
        .replace("{hosts}", &hosts.join(", "))
        .replace("{limits}", limits)
}

fn app_manifest(name: &str, granularity: &str) -> String {
    APP.replace("{name}", name).replace("{granularity}", granularity)
}

fn ds(store: &str, ds: &str) -> (StoreId, DatasourceId) {
    (StoreId::new(store).unwrap(), DatasourceId::new(ds).unwrap())
}

struct TestBox {
    _dir: tempfile::TempDir,
    env: Env,
    runtime: Runtime,
    /// The runtime token of the bystander.
    bystander: String,
}

/// A box with `home/lounge` (a temperature, points over two hours) and `home/secret` (a diary),
/// and an innocent bystander driver installed.
fn setup() -> TestBox {
    let dir = tempfile::tempdir().unwrap();
    let stores = Arc::new(Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap());
    let (arbiter, _) = Arbiter::open(dir.path()).unwrap();
    let audit = AuditLog::open(&dir.path().join("audit")).unwrap();
    let home = stores.create(&StoreId::new("home").unwrap(), "").unwrap();
    for (id, ty) in [("lounge", "temperature"), ("secret", "diary")] {
        let mut meta = DatasourceMeta::of_kind(DatasourceKind::Numeric);
        meta.data_type = ty.into();
        let ds = DatasourceId::new(id).unwrap();
        home.upsert_datasource(ds.clone(), meta).unwrap().wait().unwrap();
        let points = (0..6)
            .map(|i| NumericPoint {
                timestamp: Some(1_000 + i * 1_200_000),
                value: 20.0 + i as f64,
                tags: Default::default(),
            })
            .collect();
        home.write_numeric(&ds, points).unwrap().wait().unwrap();
    }
    let data_dir = dir.path().to_path_buf();
    let mut b = TestBox {
        _dir: dir,
        env: Env {
            stores,
            arbiter: Arc::new(arbiter),
            audit,
            data_dir,
            exports: None,
        },
        runtime: Runtime::new().unwrap(),
        bystander: String::new(),
    };
    b.bystander = install_as(&b, &driver_manifest("bystander", &[], ""));
    b
}

/// Installs a manifest with `source` mapped to `home/lounge`; returns its runtime token.
fn install_as(b: &TestBox, manifest: &str) -> String {
    let m = Manifest::parse(manifest).unwrap();
    let mut choices = Choices::default();
    choices
        .mapping
        .insert("source".into(), Some(ds("home", "lounge")));
    install(&m, &choices, &b.env.stores, &b.env.arbiter)
        .unwrap()
        .token
}

/// Loads an installed component under its token, with `behave` and the other settings given;
/// `secret` names `home/secret` too, which the owner never granted.
fn load(
    b: &TestBox,
    manifest: &str,
    token: &str,
    net: bool,
    settings: &[(&str, &str)],
) -> Result<Loaded, RunError> {
    let m = Manifest::parse(manifest).unwrap();
    let caller = b.env.arbiter.authenticate(Some(token)).unwrap();
    let mapping = BTreeMap::from([("source".to_owned(), Some(ds("home", "lounge")))]);
    let config: BTreeMap<String, String> = settings
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mut ctx = ComponentCtx::for_manifest(&m, caller, &mapping, &config, b.env.clone())?;
    ctx.datasources.insert("secret".into(), ds("home", "secret"));
    b.runtime.load(component(net), ctx, &m)
}

/// Runs `start` then `on-timer`.
fn run(loaded: &Loaded) -> Result<Report, RunError> {
    loaded.start()?;
    Ok(loaded.timer()?)
}

fn counter_points(b: &TestBox, store: &str) -> u64 {
    let store = b.env.stores.get(&StoreId::new(store).unwrap()).unwrap();
    let q = parse_read(&["length".to_owned()]).unwrap();
    match store.read(&[DatasourceId::new("counter").unwrap()], &q).unwrap() {
        ReadOutput::Count(n) => n,
        other => panic!("{other:?}"),
    }
}

/// The innocent bystander still runs, writes and reads through the one check.
fn bystander_still_works(b: &TestBox) {
    let manifest = driver_manifest("bystander", &[], "");
    let token = &b.bystander;
    let before = counter_points(b, "bystander");
    let loaded = load(b, &manifest, token, false, &[("behave", "good")]).unwrap();
    let report = run(&loaded).unwrap();
    assert!(
        report.logs.iter().any(|l| l.contains("wrote 1")),
        "{:?}",
        report.logs
    );
    assert_eq!(counter_points(b, "bystander"), before + 1);
}

/// The audit records of `principal` doing `operation`.
fn audited(b: &TestBox, principal: &str, operation: &str) -> Vec<Record> {
    b.env
        .audit
        .query(&Query {
            principal: Some(principal.into()),
            operation: Some(operation.into()),
            ..Query::default()
        })
        .unwrap()
}

fn with_outcome(records: &[Record], outcome: Outcome) -> Vec<&Record> {
    records.iter().filter(|r| r.outcome == outcome).collect()
}

/// Test HTTP servers on 127.0.0.1, run on a thread of their own with their own tokio runtime.
struct Servers {
    /// axum: `GET /page` answers 200 with [`PAGE`].
    allowed: u16,
    /// axum: answers anything with 200; must never be reached.
    forbidden: u16,
    /// A raw HTTP/1.1 server whose answer never ends (chunked, 64 KiB chunks).
    endless: u16,
    /// TCP connections each accepted.
    allowed_accepts: Arc<AtomicUsize>,
    forbidden_accepts: Arc<AtomicUsize>,
    endless_accepts: Arc<AtomicUsize>,
    /// Endless answers that ended because the client hung up.
    endless_hangups: Arc<AtomicUsize>,
}

const PAGE: &str = "a page of 27 bytes, exactly";

fn start_servers() -> Servers {
    use axum::serve::ListenerExt;
    let (tx, rx) = std::sync::mpsc::channel();
    let allowed_accepts = Arc::new(AtomicUsize::new(0));
    let forbidden_accepts = Arc::new(AtomicUsize::new(0));
    let endless_accepts = Arc::new(AtomicUsize::new(0));
    let endless_hangups = Arc::new(AtomicUsize::new(0));
    let counters = (
        allowed_accepts.clone(),
        forbidden_accepts.clone(),
        endless_accepts.clone(),
        endless_hangups.clone(),
    );
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (allowed_n, forbidden_n, endless_n, hangups) = counters;
            let bind = || tokio::net::TcpListener::bind("127.0.0.1:0");
            let allowed = bind().await.unwrap();
            let forbidden = bind().await.unwrap();
            let endless = bind().await.unwrap();
            tx.send((
                allowed.local_addr().unwrap().port(),
                forbidden.local_addr().unwrap().port(),
                endless.local_addr().unwrap().port(),
            ))
            .unwrap();
            let page = axum::Router::new().route("/page", axum::routing::get(|| async { PAGE }));
            let anything = axum::Router::new().fallback(|| async { "you reached me" });
            let allowed = allowed.tap_io(move |_| {
                allowed_n.fetch_add(1, Ordering::SeqCst);
            });
            let forbidden = forbidden.tap_io(move |_| {
                forbidden_n.fetch_add(1, Ordering::SeqCst);
            });
            tokio::spawn(async move { axum::serve(allowed, page).await.unwrap() });
            tokio::spawn(async move { axum::serve(forbidden, anything).await.unwrap() });
            loop {
                let (socket, _) = endless.accept().await.unwrap();
                endless_n.fetch_add(1, Ordering::SeqCst);
                let hangups = hangups.clone();
                tokio::spawn(async move {
                    if serve_endless(socket).await.is_err() {
                        hangups.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
    });
    let (allowed, forbidden, endless) = rx.recv().unwrap();
    Servers {
        allowed,
        forbidden,
        endless,
        allowed_accepts,
        forbidden_accepts,
        endless_accepts,
        endless_hangups,
    }
}

/// Reads the request head, then sends 64 KiB chunks until the client hangs up (an error).
async fn serve_endless(mut socket: tokio::net::TcpStream) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    socket
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        .await?;
    let mut chunk = format!("{:x}\r\n", 1 << 16).into_bytes();
    chunk.extend(std::iter::repeat_n(b'x', 1 << 16));
    chunk.extend_from_slice(b"\r\n");
    loop {
        socket.write_all(&chunk).await?;
    }
}

/// Polls `f` every 20 ms until it holds, for at most `limit`.
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "not within {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const GENEROUS: &str = "memory_mb = 64\ncpu_ms = 2000\nwall_ms = 10000";

#[test]
fn a_driver_cannot_reach_a_host_its_manifest_does_not_list() {
    let b = setup();
    let s = start_servers();
    let allowed = format!("127.0.0.1:{}", s.allowed);
    let manifest = driver_manifest("fetcher", std::slice::from_ref(&allowed), GENEROUS);
    let token = install_as(&b, &manifest);

    // The listed address on a port not listed (over http and https), that port under another
    // name, and the listed port under another name: none is what the manifest lists.
    for url in [
        format!("http://127.0.0.1:{}/page", s.forbidden),
        format!("https://127.0.0.1:{}/page", s.forbidden),
        format!("http://localhost:{}/page", s.forbidden),
        format!("http://localhost:{}/page", s.allowed),
    ] {
        let loaded = load(&b, &manifest, &token, true, &[("behave", "fetch"), ("url", &url)]).unwrap();
        let err = run(&loaded).unwrap_err();
        assert!(
            matches!(&err, RunError::Failed(why) if why.contains("HttpRequestDenied")),
            "{url}: {err}"
        );
    }
    // The receivers saw no connection at all.
    assert_eq!(s.forbidden_accepts.load(Ordering::SeqCst), 0);
    assert_eq!(s.allowed_accepts.load(Ordering::SeqCst), 0);

    // Each attempt is audited as a refused connection naming the host, and as a failed run.
    let connects = audited(&b, "fetcher", "connect");
    let refused = with_outcome(&connects, Outcome::Refused);
    assert_eq!(refused.len(), 4, "{connects:?}");
    let expected = [
        format!("GET http://127.0.0.1:{}", s.forbidden),
        format!("GET https://127.0.0.1:{}", s.forbidden),
        format!("GET http://localhost:{}", s.forbidden),
        format!("GET http://localhost:{}", s.allowed),
    ];
    for (r, what) in refused.iter().zip(&expected) {
        let detail = r.detail.as_deref().unwrap_or("");
        assert!(
            detail.starts_with(what.as_str()) && detail.contains("not a host in its manifest"),
            "{detail}"
        );
    }
    assert!(with_outcome(&connects, Outcome::Ok).is_empty(), "{connects:?}");
    let runs = audited(&b, "fetcher", "run on-timer");
    assert_eq!(with_outcome(&runs, Outcome::Failed).len(), 4, "{runs:?}");

    // The box goes on: the listed host is still reachable for it, and the bystander still runs.
    let url = format!("http://{allowed}/page");
    let loaded = load(&b, &manifest, &token, true, &[("behave", "fetch"), ("url", &url)]).unwrap();
    run(&loaded).unwrap();
    assert_eq!(s.allowed_accepts.load(Ordering::SeqCst), 1);
    assert_eq!(s.forbidden_accepts.load(Ordering::SeqCst), 0);
    bystander_still_works(&b);
}

/// A name in the manifest that resolves to an address of the box's own network (here the
/// machine's host name, which resolves to loopback or a private address on most machines) is
/// refused before any connection: a driver cannot reach the owner's LAN through a name.
#[test]
fn a_listed_name_that_resolves_to_a_private_address_is_refused() {
    use std::net::{IpAddr, ToSocketAddrs};
    let Some(name) = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty() && h != "localhost")
    else {
        eprintln!("skipped: no host name");
        return;
    };
    let private = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
        IpAddr::V6(v6) => v6.is_loopback(),
    };
    let resolved: Vec<IpAddr> = (name.as_str(), 80)
        .to_socket_addrs()
        .map(|a| a.map(|a| a.ip()).collect())
        .unwrap_or_default();
    if resolved.is_empty() || !resolved.iter().all(|ip| private(*ip)) {
        eprintln!("skipped: {name} resolves to {resolved:?}, not only to private addresses");
        return;
    }
    let b = setup();
    let s = start_servers();
    let listed = format!("{name}:{}", s.allowed);
    let manifest = driver_manifest("rebinder", std::slice::from_ref(&listed), GENEROUS);
    let token = install_as(&b, &manifest);
    let url = format!("http://{listed}/page");
    let loaded = load(&b, &manifest, &token, true, &[("behave", "fetch"), ("url", &url)]).unwrap();
    let err = run(&loaded).unwrap_err();
    assert!(
        matches!(&err, RunError::Failed(why) if why.contains("DestinationIpProhibited")),
        "{err}"
    );
    assert_eq!(s.allowed_accepts.load(Ordering::SeqCst), 0);
    let connects = audited(&b, "rebinder", "connect");
    assert_eq!(connects.len(), 1, "{connects:?}");
    assert_eq!(connects[0].outcome, Outcome::Refused);
    assert_eq!(
        connects[0].detail.as_deref(),
        Some(format!("GET http://{listed}: the name resolves to a private address").as_str())
    );
    bystander_still_works(&b);
}

#[test]
fn an_allowed_fetch_works_and_is_audited() {
    let b = setup();
    let s = start_servers();
    let allowed = format!("127.0.0.1:{}", s.allowed);
    let manifest = driver_manifest("fetcher", std::slice::from_ref(&allowed), GENEROUS);
    let token = install_as(&b, &manifest);
    let url = format!("http://{allowed}/page");
    let loaded = load(&b, &manifest, &token, true, &[("behave", "fetch"), ("url", &url)]).unwrap();
    let report = run(&loaded).unwrap();
    assert!(
        report
            .logs
            .iter()
            .any(|l| l.contains(&format!("fetched {} bytes, status 200", PAGE.len()))),
        "{:?}",
        report.logs
    );
    assert_eq!(s.allowed_accepts.load(Ordering::SeqCst), 1);
    let connects = audited(&b, "fetcher", "connect");
    assert_eq!(connects.len(), 1, "{connects:?}");
    assert_eq!(connects[0].outcome, Outcome::Ok);
    assert_eq!(
        connects[0].detail.as_deref(),
        Some(format!("GET http://127.0.0.1:{}: 200 OK", s.allowed).as_str())
    );
    assert!(audited(&b, "fetcher", "run on-timer").is_empty());
}

#[test]
fn an_endless_response_is_cut_by_the_output_limit_and_the_box_goes_on() {
    let b = setup();
    let s = start_servers();
    let endless = format!("127.0.0.1:{}", s.endless);
    let manifest = driver_manifest(
        "hoarder",
        std::slice::from_ref(&endless),
        &format!("{GENEROUS}\noutput_kb = 256"),
    );
    let token = install_as(&b, &manifest);
    let url = format!("http://{endless}/forever");
    let loaded = load(&b, &manifest, &token, true, &[("behave", "fetch"), ("url", &url)]).unwrap();
    let t = Instant::now();
    let err = run(&loaded).unwrap_err();
    let took = t.elapsed();
    // The host cut the body at the limit: the driver saw its read fail, well before its memory
    // (64 MiB) or wall time (10 s) ran out.
    assert!(
        matches!(&err, RunError::Failed(why) if why.contains("reading the body failed") && why.contains("262144")),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The host hung up rather than draining an endless body.
    eventually(
        "the server sees the client hang up",
        Duration::from_secs(5),
        || s.endless_hangups.load(Ordering::SeqCst) == 1,
    );
    // Audited: the connection (allowed, 200) and the failed run with its reason.
    let connects = audited(&b, "hoarder", "connect");
    assert_eq!(with_outcome(&connects, Outcome::Ok).len(), 1, "{connects:?}");
    let runs = audited(&b, "hoarder", "run on-timer");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, Outcome::Failed);
    assert!(
        runs[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("reading the body failed"),
        "{runs:?}"
    );
    assert_eq!(s.endless_accepts.load(Ordering::SeqCst), 1);
    bystander_still_works(&b);
}

#[test]
fn an_endless_response_under_a_high_output_limit_is_stopped_by_the_memory_limit() {
    let b = setup();
    let s = start_servers();
    let endless = format!("127.0.0.1:{}", s.endless);
    // 64 MiB of output allowed, but only 16 MiB of memory: the hoard cannot fit.
    let manifest = driver_manifest(
        "hoarder",
        std::slice::from_ref(&endless),
        "memory_mb = 16\ncpu_ms = 5000\nwall_ms = 10000\noutput_kb = 65536",
    );
    let token = install_as(&b, &manifest);
    let url = format!("http://{endless}/forever");
    let loaded = load(&b, &manifest, &token, true, &[("behave", "fetch"), ("url", &url)]).unwrap();
    let t = Instant::now();
    let err = run(&loaded).unwrap_err();
    let took = t.elapsed();
    assert!(
        matches!(&err, RunError::Killed(why) if why.contains("more than its limit of 16 MiB of memory")),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    eventually(
        "the server sees the client hang up",
        Duration::from_secs(5),
        || s.endless_hangups.load(Ordering::SeqCst) == 1,
    );
    let runs = audited(&b, "hoarder", "run on-timer");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].outcome, Outcome::Failed);
    assert!(
        runs[0].detail.as_deref().unwrap_or("").contains("16 MiB"),
        "{runs:?}"
    );
    bystander_still_works(&b);
}

#[test]
fn an_app_that_imports_outbound_http_does_not_load_nor_install() {
    let b = setup();
    let manifest = app_manifest("leaker", "raw");
    let token = install_as(&b, &manifest);
    let err = load(&b, &manifest, &token, true, &[("behave", "fetch")])
        .err()
        .expect("an app with wasi:http must not load");
    assert!(
        matches!(&err, RunError::Load(why)
            if why.contains("wasi:http/") && why.contains("an app may not make outbound HTTP requests")
                && why.contains("apps have no network")),
        "{err}"
    );
    // The same build loads as a driver (so it is the kind that refuses it, not a broken build).
    let driver = driver_manifest("leaker-driver", &[], "");
    let driver_token = install_as(&b, &driver);
    load(&b, &driver, &driver_token, true, &[]).unwrap();

    // Installing it through the supervisor is refused before anything is registered.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _in_tokio = rt.enter();
    let sup = Supervisor::open_with(&b.env.data_dir, b.env.clone(), Duration::from_millis(100)).unwrap();
    let smuggler = app_manifest("smuggler", "raw");
    let req = InstallRequest {
        mapping: BTreeMap::from([("source".to_owned(), Some("home/lounge".to_owned()))]),
        start: true,
        ..InstallRequest::default()
    };
    let err = sup.install(&smuggler, component(true), &req).unwrap_err();
    assert!(
        matches!(&err, SupervisorError::Run(RunError::Load(why)) if why.contains("may not make outbound HTTP requests")),
        "{err}"
    );
    assert!(sup.list().is_empty());
    assert!(
        !b.env
            .arbiter
            .principals()
            .iter()
            .any(|p| p.id.as_str() == "smuggler")
    );
    assert!(b.env.stores.get(&StoreId::new("smuggler").unwrap()).is_err());
    // The plain build of the same app installs and runs.
    sup.install(&smuggler, component(false), &req).unwrap();
    sup.shutdown();
    bystander_still_works(&b);
}

#[test]
fn a_component_has_no_files_no_environment_and_no_sockets() {
    let b = setup();
    // A real listener the component knows the address of: it must never see a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for (kind, manifest) in [
        ("driver", driver_manifest("escaper", &[], "")),
        ("app", app_manifest("escaper-app", "raw")),
    ] {
        let token = install_as(&b, &manifest);
        let loaded = load(
            &b,
            &manifest,
            &token,
            false,
            &[("behave", "escape"), ("addr", &addr)],
        )
        .unwrap();
        let report = run(&loaded).unwrap();
        let line = report
            .logs
            .iter()
            .find(|l| l.contains("file "))
            .unwrap_or_else(|| panic!("{kind}: {:?}", report.logs));
        assert!(line.contains("file Err("), "{kind} read a host file: {line}");
        assert!(line.contains("listing Err("), "{kind} listed a folder: {line}");
        assert!(line.contains("create Err("), "{kind} created a file: {line}");
        assert!(
            line.contains("env 0;"),
            "{kind} saw environment variables: {line}"
        );
        assert!(
            line.contains("tcp Err("),
            "{kind} opened a TCP connection: {line}"
        );
        assert!(line.contains("udp Err("), "{kind} bound a UDP socket: {line}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the listener saw a connection"
    );
    bystander_still_works(&b);
}

#[test]
fn an_app_reading_a_datasource_it_was_not_granted_is_refused_and_audited() {
    let b = setup();
    let manifest = app_manifest("snooper", "raw");
    let token = install_as(&b, &manifest);
    let loaded = load(&b, &manifest, &token, false, &[("behave", "snoop")]).unwrap();
    let err = run(&loaded).unwrap_err();
    assert!(
        matches!(&err, RunError::Failed(why) if why.contains("Denied") && why.contains("no grant to read home/secret")),
        "{err}"
    );
    let reads = audited(&b, "snooper", "read");
    let refused = with_outcome(&reads, Outcome::Refused);
    assert_eq!(refused.len(), 1, "{reads:?}");
    assert_eq!(refused[0].store.as_deref(), Some("home"));
    assert_eq!(refused[0].datasource.as_deref(), Some("secret"));
    assert!(
        refused[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("no grant to read home/secret"),
        "{refused:?}"
    );
    assert!(with_outcome(&reads, Outcome::Ok).is_empty(), "{reads:?}");
    let runs = audited(&b, "snooper", "run on-timer");
    assert_eq!(with_outcome(&runs, Outcome::Failed).len(), 1, "{runs:?}");
    // Its own grant still works (a good run reads `source`), as does the bystander.
    let loaded = load(&b, &manifest, &token, false, &[("behave", "good")]).unwrap();
    run(&loaded).unwrap();
    bystander_still_works(&b);
}

#[test]
fn an_app_reading_finer_than_its_grant_is_refused_and_audited() {
    let b = setup();
    let manifest = app_manifest("charter", "hourly");
    let token = install_as(&b, &manifest);

    let loaded = load(&b, &manifest, &token, false, &[("behave", "raw")]).unwrap();
    let err = run(&loaded).unwrap_err();
    assert!(
        matches!(&err, RunError::Failed(why) if why.contains("Denied") && why.contains("hourly statistics only")),
        "{err}"
    );
    let reads = audited(&b, "charter", "read");
    let refused = with_outcome(&reads, Outcome::Refused);
    assert_eq!(refused.len(), 1, "{reads:?}");
    assert_eq!(refused[0].datasource.as_deref(), Some("lounge"));
    assert!(
        refused[0]
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("hourly statistics only"),
        "{refused:?}"
    );
    assert!(with_outcome(&reads, Outcome::Ok).is_empty(), "{reads:?}");
    assert_eq!(
        with_outcome(&audited(&b, "charter", "run on-timer"), Outcome::Failed).len(),
        1
    );

    // What it was granted works: hourly statistics, two hours of them.
    let loaded = load(&b, &manifest, &token, false, &[("behave", "hourly")]).unwrap();
    let report = run(&loaded).unwrap();
    let line = report.logs.iter().find(|l| l.contains("read hourly")).unwrap();
    assert!(line.contains("\"count\":3"), "{line}");
    let reads = audited(&b, "charter", "read");
    assert_eq!(with_outcome(&reads, Outcome::Ok).len(), 1, "{reads:?}");
    assert_eq!(with_outcome(&reads, Outcome::Refused).len(), 1, "{reads:?}");
    bystander_still_works(&b);
}

#[test]
fn kills_are_audited_with_their_reason_and_a_neighbour_runs_while_one_spins() {
    let b = setup();
    let manifest = driver_manifest("spinner", &[], "memory_mb = 16\ncpu_ms = 1500\nwall_ms = 20000");
    let token = install_as(&b, &manifest);
    let spinner = Arc::new(load(&b, &manifest, &token, false, &[("behave", "spin")]).unwrap());
    spinner.start().unwrap();
    let spinning = {
        let spinner = spinner.clone();
        std::thread::spawn(move || spinner.timer().map(|_| ()).map_err(RunError::from))
    };
    // While it burns its 1.5 s of CPU, the bystander, on the same engine, runs to the end.
    let t = Instant::now();
    bystander_still_works(&b);
    assert!(
        !spinning.is_finished(),
        "the neighbour took {:?}, longer than the spin",
        t.elapsed()
    );
    let err = spinning.join().unwrap().unwrap_err();
    assert!(
        matches!(&err, RunError::Killed(why) if why.contains("more than its limit of 1500 ms of CPU time")),
        "{err}"
    );

    for behave in ["bomb", "panic"] {
        let loaded = load(&b, &manifest, &token, false, &[("behave", behave)]).unwrap();
        assert!(matches!(run(&loaded), Err(RunError::Killed(_))));
    }
    let runs = audited(&b, "spinner", "run on-timer");
    let details: Vec<&str> = runs
        .iter()
        .map(|r| {
            assert_eq!(r.outcome, Outcome::Failed);
            r.detail.as_deref().unwrap_or("")
        })
        .collect();
    assert_eq!(details.len(), 3, "{details:?}");
    assert!(details[0].contains("1500 ms of CPU time"), "{details:?}");
    assert!(details[1].contains("16 MiB of memory"), "{details:?}");
    assert!(
        details[2].contains("the component was stopped") && details[2].contains("unreachable"),
        "{details:?}"
    );
    // Nothing of the spinner's data was touched, and the box goes on.
    assert_eq!(counter_points(&b, "spinner"), 0);
    bystander_still_works(&b);
}

/// A raw connection to the forbidden server works from the test itself: its counter would see
/// a component's connection if one were made.
#[test]
fn the_forbidden_server_counts_connections() {
    let s = start_servers();
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.forbidden)).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("you reached me"), "{answer}");
    assert_eq!(s.forbidden_accepts.load(Ordering::SeqCst), 1);
}
