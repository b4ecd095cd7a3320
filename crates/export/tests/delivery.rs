//! The export service against a real HTTP destination on 127.0.0.1: what arrives (bytes, headers,
//! idempotency keys), what is recorded (receipts, audit), and what must never leave the box
//! (revoked destinations, rejected exports, bodies over the limit, deliveries over the rate), and
//! that a destination that hangs holds up only its own app's exports.
//!
//! The destination behaves like a real one that honours `Idempotency-Key`: the "processed" set is
//! the set of distinct keys it answered 2xx for, so a repeated delivery of one export never
//! counts twice, while a retry under a new key would. It counts every TCP connection it accepts,
//! records every request, and can be scripted per path to answer a status, or to hold a request
//! until the test releases it. It can also be down (its port bound once, then closed) and come up
//! later on the same port.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::serve::ListenerExt;
use databox_audit::{AuditLog, Kind, Outcome, Query, Record};
use databox_export::{Export, ExportError, ExportService, ExportState, Submission};
use databox_store::{MasterKeySource, Stores};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The first wait before a retry (then 100 ms, 200 ms, ...).
const RETRY: Duration = Duration::from_millis(50);
/// How long a positive condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);
/// How long to watch for something that must not happen.
const QUIET: Duration = Duration::from_secs(1);
const OCTETS: &str = "application/octet-stream";
const GRANT: &str = "approved at install: the test destination";

// ---------------------------------------------------------------------------------------------
// The destination

/// One request the destination received.
#[derive(Clone, Debug)]
struct Seen {
    method: Method,
    path: String,
    content_type: Option<String>,
    key: Option<String>,
    body: Vec<u8>,
}

/// Holds requests until released (closing the semaphore wakes every waiter, now and later).
#[derive(Clone)]
struct Gate(Arc<Semaphore>);

impl Gate {
    fn new() -> Gate {
        Gate(Arc::new(Semaphore::new(0)))
    }

    fn release(&self) {
        self.0.close();
    }
}

/// What the destination answers to the next request on a path.
#[derive(Clone)]
enum Reply {
    Status(u16),
    /// Hold the request until the gate is released, then answer 200.
    Hang(Gate),
}

#[derive(Default)]
struct Shared {
    accepts: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    /// `(Idempotency-Key, status)` of every answer, in order.
    answers: Mutex<Vec<(Option<String>, u16)>>,
    scripts: Mutex<BTreeMap<String, VecDeque<Reply>>>,
    /// Distinct keys answered 2xx: what a destination honouring `Idempotency-Key` processed.
    processed: Mutex<BTreeSet<String>>,
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let key = header("idempotency-key");
    let path = uri.path().to_owned();
    shared.seen.lock().unwrap().push(Seen {
        method,
        path: path.clone(),
        content_type: header("content-type"),
        key: key.clone(),
        body: body.to_vec(),
    });
    let scripted = shared
        .scripts
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let status = match scripted {
        Some(Reply::Status(s)) => s,
        Some(Reply::Hang(gate)) => {
            let _ = gate.0.acquire().await;
            200
        }
        None => path
            .strip_prefix("/status/")
            .and_then(|c| c.parse().ok())
            .unwrap_or(200),
    };
    if (200..300).contains(&status)
        && let Some(k) = &key
    {
        shared.processed.lock().unwrap().insert(k.clone());
    }
    shared.answers.lock().unwrap().push((key, status));
    StatusCode::from_u16(status).unwrap()
}

/// A destination on 127.0.0.1. Paths `/status/NNN` answer NNN; others answer 200 unless scripted.
struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl Receiver {
    fn at(addr: SocketAddr) -> Receiver {
        Receiver {
            addr,
            shared: Arc::default(),
            server: Mutex::new(None),
        }
    }

    /// A destination that is up.
    async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver::at(listener.local_addr().unwrap());
        r.serve(listener);
        r
    }

    /// A destination that is down: its port was bound, then closed (connections are refused).
    async fn down() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        Receiver::at(addr)
    }

    /// Brings a destination that was down up on its port.
    async fn up(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the port is free again");
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let counter = self.shared.clone();
        let counted = listener.tap_io(move |_| {
            counter.accepts.fetch_add(1, Ordering::SeqCst);
        });
        let app = Router::new().fallback(receive).with_state(self.shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(counted, app).await;
        });
        *self.server.lock().unwrap() = Some(task);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .scripts
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .extend(replies);
    }

    fn accepts(&self) -> usize {
        self.shared.accepts.load(Ordering::SeqCst)
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    fn seen_with_key(&self, key: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.key.as_deref() == Some(key))
            .collect()
    }

    fn answers(&self) -> Vec<(Option<String>, u16)> {
        self.shared.answers.lock().unwrap().clone()
    }

    fn processed(&self) -> BTreeSet<String> {
        self.shared.processed.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(t) = self.server.lock().unwrap().take() {
            t.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The box

/// Runs blocking service calls (they wait for a durable commit) off the async threads' duty.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

/// Opens the stores, the audit log and the export service of the box in `dir`; the service's
/// delivery task runs on the current runtime.
fn open_box(dir: &Path) -> (Stores, Arc<AuditLog>, ExportService) {
    blocking(|| open_box_here(dir))
}

/// [`open_box`], on the calling thread, which may block.
fn open_box_here(dir: &Path) -> (Stores, Arc<AuditLog>, ExportService) {
    let stores = Stores::open(dir, &MasterKeySource::KeyFile).expect("stores open");
    let audit = AuditLog::open(&dir.join("audit")).expect("audit log opens");
    let svc = ExportService::open_with(&stores, audit.clone(), RETRY).expect("export service opens");
    (stores, audit, svc)
}

fn close_box(stores: Stores, audit: Arc<AuditLog>) {
    blocking(|| {
        stores.close();
        audit.close();
    });
}

fn ask<'a>(app: &'a str, destination: &'a str, body: &'a [u8]) -> Submission<'a> {
    Submission {
        app,
        destination,
        grant: GRANT,
        content_type: OCTETS,
        body,
        max_bytes: 1 << 20,
        per_hour: 1000,
    }
}

fn submit(svc: &ExportService, s: &Submission<'_>) -> Result<Export, ExportError> {
    blocking(|| svc.submit(s))
}

/// The export as the service holds it now.
fn export(svc: &ExportService, id: &str) -> Export {
    svc.list(None)
        .into_iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("the service lost export {id}"))
}

fn in_state(svc: &ExportService, id: &str, state: ExportState) -> Option<Export> {
    Some(export(svc, id)).filter(|e| e.state == state)
}

/// Random bytes that include NUL and are not UTF-8.
fn random_body(len: usize) -> Vec<u8> {
    let mut b = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut b);
    b[..5].copy_from_slice(&[0x00, 0xff, 0xc3, 0x28, 0x00]);
    b[len - 1] = 0x00;
    assert!(std::str::from_utf8(&b).is_err());
    b
}

/// Every export record of `principal` in the audit log: `export` (one per delivery, and
/// refusals), `export request` (queued or held) and `export attempt` (each attempt's outcome).
fn export_records(audit: &AuditLog, principal: &str) -> Vec<Record> {
    blocking(|| {
        audit
            .query(&Query {
                principal: Some(principal.to_owned()),
                limit: Some(100_000),
                ..Query::default()
            })
            .expect("the audit log reads")
    })
    .into_iter()
    .filter(|r| r.operation == "export" || r.operation.starts_with("export "))
    .collect()
}

fn mentions(r: &Record, text: &str) -> bool {
    r.detail.as_deref().is_some_and(|d| d.contains(text))
}

/// Polls `check` until it gives a value, failing after [`DEADLINE`].
async fn eventually<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    eventually_within(DEADLINE, what, check).await
}

/// [`eventually`], failing after `bound`.
async fn eventually_within<T>(bound: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < bound,
            "timed out after {bound:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn quiet() {
    tokio::time::sleep(QUIET).await;
}

fn report(test: &str, start: Instant) {
    eprintln!("{test}: {:.2} s", start.elapsed().as_secs_f64());
}

// ---------------------------------------------------------------------------------------------
// 1. What arrives, and what the box keeps

#[tokio::test(flavor = "multi_thread")]
async fn delivers_the_exact_bytes_with_its_headers_a_receipt_and_an_audit_record() {
    let start = Instant::now();
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());
    let dest = rx.url("/inbox");

    // Without copies: the body is deleted once delivered.
    let body = random_body(64 * 1024);
    let e = submit(&svc, &ask("app1", &dest, &body)).unwrap();
    assert_eq!(e.size, body.len() as u64);
    let done = eventually("the export to be delivered", || {
        in_state(&svc, &e.id, ExportState::Delivered)
    })
    .await;

    let seen = rx.seen_with_key(&e.id);
    assert_eq!(seen.len(), 1, "one request for one export");
    let got = &seen[0];
    assert_eq!(got.method, Method::POST);
    assert_eq!(got.path, "/inbox");
    assert_eq!(got.content_type.as_deref(), Some(OCTETS));
    assert_eq!(
        got.key.as_deref(),
        Some(e.id.as_str()),
        "Idempotency-Key is the export's id"
    );
    assert!(
        got.body == body,
        "the delivered body differs from what was submitted"
    );
    assert_eq!(rx.processed(), BTreeSet::from([e.id.clone()]));

    let receipt = done.receipt.clone().expect("a delivered export has a receipt");
    assert_eq!(receipt.destination, dest);
    assert_eq!(receipt.size, body.len() as u64);
    assert_eq!(receipt.sha256, hex::encode(Sha256::digest(&body)));
    assert_eq!(receipt.grant, GRANT);
    assert_eq!(receipt.status, 200);
    assert_eq!(receipt.attempts, 1);
    assert!(receipt.delivered_ms >= e.created_ms);
    assert_eq!(
        svc.receipts(),
        vec![(e.id.clone(), "app1".to_owned(), receipt.clone())]
    );
    let (shown, copy) = svc.show(&e.id).unwrap();
    assert_eq!(shown.state, ExportState::Delivered);
    assert!(
        copy.is_none(),
        "the body must be deleted after delivery when no copies are kept"
    );

    let records = export_records(&audit, "app1");
    let delivered: Vec<&Record> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Ok && mentions(r, &e.id) && mentions(r, "delivered"))
        .collect();
    assert_eq!(delivered.len(), 1, "one 'delivered' audit record: {records:#?}");
    assert_eq!(delivered[0].kind, Kind::Access);
    // The record the owner's statement counts: what left, to where, how much.
    let left: Vec<&Record> = records
        .iter()
        .filter(|r| r.operation == "export" && r.outcome == Outcome::Ok)
        .collect();
    assert_eq!(left.len(), 1, "one 'export' record per delivery: {records:#?}");
    assert_eq!(left[0].detail.as_deref(), Some(dest.as_str()));
    assert_eq!(left[0].count, Some(body.len() as u64));
    assert!(
        records
            .iter()
            .any(|r| r.operation == "export request" && mentions(r, &e.id) && mentions(r, "queued")),
        "{records:#?}"
    );
    assert!(
        !records.iter().any(|r| r.outcome != Outcome::Ok),
        "nothing failed: {records:#?}"
    );

    // With copies: the owner can see what was sent.
    blocking(|| svc.set_keep_copies(true)).unwrap();
    let body2 = random_body(3000);
    let e2 = submit(&svc, &ask("app1", &dest, &body2)).unwrap();
    eventually("the second export to be delivered", || {
        in_state(&svc, &e2.id, ExportState::Delivered)
    })
    .await;
    assert!(rx.seen_with_key(&e2.id)[0].body == body2);
    let (_, copy) = svc.show(&e2.id).unwrap();
    let copy = copy.expect("a copy is kept when the owner asked for copies");
    assert!(copy.bytes == body2, "the kept copy differs from what was sent");
    assert_eq!(copy.content_type, OCTETS);
    assert_eq!(svc.receipts().len(), 2);

    drop(svc);
    close_box(stores, audit);
    report("1 delivery", start);
}

// ---------------------------------------------------------------------------------------------
// 2. An outage, then recovery

#[tokio::test(flavor = "multi_thread")]
async fn an_outage_then_recovery_delivers_each_export_exactly_once() {
    let start = Instant::now();
    let rx = Receiver::down().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());

    let bodies: Vec<Vec<u8>> = (0..3).map(|_| random_body(2048)).collect();
    let mut ids = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let dest = rx.url(&format!("/inbox/{i}"));
        ids.push(submit(&svc, &ask("app1", &dest, body)).unwrap().id);
    }

    // Connection refused: every export fails at least twice and stays queued.
    eventually("every export to fail twice while the destination is down", || {
        ids.iter()
            .all(|id| {
                let e = export(&svc, id);
                e.attempts >= 2 && e.state == ExportState::Queued
            })
            .then_some(())
    })
    .await;
    assert_eq!(rx.accepts(), 0);

    // Up again, but answering 503 a few times first.
    for i in 0..3 {
        rx.script(&format!("/inbox/{i}"), [Reply::Status(503), Reply::Status(503)]);
    }
    rx.up().await;
    eventually("every export to be delivered after the outage", || {
        ids.iter()
            .all(|id| export(&svc, id).state == ExportState::Delivered)
            .then_some(())
    })
    .await;
    quiet().await; // nothing is delivered again afterwards

    let expected: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(
        rx.processed(),
        expected,
        "each export processed once, under its own key"
    );
    let answers = rx.answers();
    for (id, body) in ids.iter().zip(&bodies) {
        let oks = answers
            .iter()
            .filter(|(k, s)| k.as_deref() == Some(id) && *s == 200)
            .count();
        assert_eq!(oks, 1, "{id} was delivered {oks} times");
        let seen = rx.seen_with_key(id);
        assert_eq!(seen.len(), 3, "two 503s, then 200");
        assert!(seen.iter().all(|s| s.body == *body), "a retry sent other bytes");
    }

    let records = export_records(&audit, "app1");
    for id in &ids {
        let e = export(&svc, id);
        let receipt = e.receipt.expect("a receipt");
        assert!(receipt.attempts > 2, "{id} took {} attempts", receipt.attempts);
        assert_eq!(receipt.attempts, e.attempts);
        let failed: Vec<&Record> = records
            .iter()
            .filter(|r| r.outcome == Outcome::Failed && mentions(r, id))
            .collect();
        assert_eq!(
            failed.len() as u32,
            receipt.attempts - 1,
            "every failed attempt of {id} is audited: {failed:#?}"
        );
        assert!(failed.iter().any(|r| mentions(r, "could not deliver")));
        assert_eq!(failed.iter().filter(|r| mentions(r, "503")).count(), 2);
        assert!(
            records
                .iter()
                .any(|r| r.outcome == Outcome::Ok && mentions(r, id) && mentions(r, "delivered"))
        );
    }

    drop(svc);
    close_box(stores, audit);
    report("2 outage", start);
}

// ---------------------------------------------------------------------------------------------
// 3. A crash while a delivery is in flight

/// What is left after [`crash_mid_delivery`].
struct Crashed {
    rx: Receiver,
    _dir: tempfile::TempDir,
    /// The box opened again on the same data.
    stores: Stores,
    audit: Arc<AuditLog>,
    svc: ExportService,
    /// The export that was in flight, and its body.
    id: String,
    body: Vec<u8>,
}

/// The box (its service on a runtime of its own) sends one export; the destination holds the
/// request; the box dies (its runtime is shut down, its stores and log closed) while the request
/// is in flight; the destination then finishes the request it held; a new box opens on the same
/// data.
async fn crash_mid_delivery() -> Crashed {
    let rx = Receiver::start().await;
    let gate = Gate::new();
    rx.script("/inbox", [Reply::Hang(gate.clone())]);
    let dir = tempfile::tempdir().unwrap();

    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (stores, audit, svc) = blocking(|| {
        let _in_first = first.enter();
        open_box_here(dir.path())
    });
    let body = random_body(10_000);
    let id = submit(&svc, &ask("app1", &rx.url("/inbox"), &body)).unwrap().id;
    eventually("the destination to hold the first delivery", || {
        (rx.seen().len() == 1).then_some(())
    })
    .await;

    // The box dies with the request in flight.
    first.shutdown_background();
    drop(svc);
    close_box(stores, audit);
    // The destination finishes what it held; nobody hears its answer.
    gate.release();

    let (stores, audit, svc) = open_box(dir.path());
    Crashed {
        rx,
        _dir: dir,
        stores,
        audit,
        svc,
        id,
        body,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_delivery_loses_nothing_and_the_destination_processes_it_once() {
    let start = Instant::now();
    let Crashed {
        rx,
        _dir,
        stores,
        audit,
        svc,
        id,
        body,
    } = crash_mid_delivery().await;

    let all = svc.list(None);
    assert_eq!(all.len(), 1, "the export survived the crash");
    let done = eventually("the export to be delivered after the restart", || {
        in_state(&svc, &id, ExportState::Delivered)
    })
    .await;
    quiet().await;

    let seen = rx.seen();
    assert!(
        seen.len() >= 2,
        "the box sent it again after the restart: {}",
        seen.len()
    );
    assert!(
        seen.iter().all(|s| s.key.as_deref() == Some(id.as_str())),
        "every delivery of one export carries the same Idempotency-Key"
    );
    assert!(
        seen.iter().all(|s| s.body == body),
        "a repeated delivery sent other bytes"
    );
    assert_eq!(
        rx.processed(),
        BTreeSet::from([id.clone()]),
        "processed exactly once"
    );
    let receipt = done.receipt.expect("a receipt");
    assert_eq!(receipt.status, 200);
    assert_eq!(receipt.sha256, hex::encode(Sha256::digest(&body)));
    assert_eq!(svc.list(Some(ExportState::Delivered)).len(), 1);
    assert!(
        svc.show(&id).unwrap().1.is_none(),
        "the body is deleted once delivered"
    );

    drop(svc);
    close_box(stores, audit);
    report("3 crash", start);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_mid_delivery_leaves_the_interrupted_attempt_on_record() {
    let Crashed {
        rx,
        _dir,
        stores,
        audit,
        svc,
        id,
        ..
    } = crash_mid_delivery().await;
    let done = eventually("the export to be delivered after the restart", || {
        in_state(&svc, &id, ExportState::Delivered)
    })
    .await;
    let requests = rx.seen_with_key(&id).len();
    let attempts: Vec<Record> = export_records(&audit, "app1")
        .into_iter()
        .filter(|r| mentions(r, &id) && mentions(r, "attempt"))
        .collect();
    assert_eq!(
        done.receipt.expect("a receipt").attempts as usize,
        requests,
        "the receipt counts every request the destination received"
    );
    assert!(
        attempts.len() >= requests,
        "the data left the box {requests} times, the audit log records {} attempts: {attempts:#?}",
        attempts.len()
    );
    drop(svc);
    close_box(stores, audit);
}

// ---------------------------------------------------------------------------------------------
// 4. Revoked destinations

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_destination_is_never_contacted() {
    let start = Instant::now();
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());
    let exact = rx.url("/x");
    let prefix = rx.url("/up/");
    let under = rx.url("/up/deep/1");
    let body = random_body(500);

    // Held for review, then their destinations are revoked: cancelled, bodies gone.
    blocking(|| svc.set_review("app1", true)).unwrap();
    let held_exact = submit(&svc, &ask("app1", &exact, &body)).unwrap();
    let held_under = submit(&svc, &ask("app1", &under, &body)).unwrap();
    assert_eq!(held_exact.state, ExportState::Review);
    assert_eq!(blocking(|| svc.revoke("app1", &exact)).unwrap(), 1);
    assert_eq!(blocking(|| svc.revoke("app1", &prefix)).unwrap(), 1);
    for e in [&held_exact, &held_under] {
        let (now, kept) = svc.show(&e.id).unwrap();
        assert_eq!(now.state, ExportState::Cancelled);
        assert!(kept.is_none(), "a cancelled export's body is deleted");
    }
    assert!(matches!(
        blocking(|| svc.approve(&held_exact.id)),
        Err(ExportError::Conflict(_))
    ));
    assert!(
        svc.settings()
            .revoked
            .contains(&("app1".to_owned(), prefix.clone()))
    );

    // Later submissions to them are refused.
    blocking(|| svc.set_review("app1", false)).unwrap();
    for dest in [&exact, &prefix, &under, &rx.url("/up/2")] {
        let refused = submit(&svc, &ask("app1", dest, &body));
        assert!(
            matches!(refused, Err(ExportError::Refused(_))),
            "{dest}: {refused:?}"
        );
    }
    assert_eq!(svc.list(None).len(), 2, "nothing new was queued");

    quiet().await;
    assert_eq!(rx.accepts(), 0, "the destination was contacted");
    assert!(rx.seen().is_empty());
    assert_eq!(svc.list(Some(ExportState::Cancelled)).len(), 2);

    let refused: Vec<Record> = export_records(&audit, "app1")
        .into_iter()
        .filter(|r| r.outcome == Outcome::Refused)
        .collect();
    for e in [&held_exact, &held_under] {
        assert!(
            refused
                .iter()
                .any(|r| mentions(r, &e.id) && mentions(r, "cancelled")),
            "{refused:#?}"
        );
    }
    assert_eq!(
        refused
            .iter()
            .filter(|r| mentions(r, "revoked this destination"))
            .count(),
        4,
        "{refused:#?}"
    );
    let owner = blocking(|| {
        audit.query(&Query {
            principal: Some("owner".into()),
            operation: Some("revoke export destination".into()),
            ..Query::default()
        })
    })
    .unwrap();
    assert_eq!(owner.len(), 2);

    // The revocation is this app's: another app still reaches the destination (and the
    // destination counts connections).
    let other = submit(&svc, &ask("app2", &exact, &body)).unwrap();
    eventually("another app's export to be delivered", || {
        in_state(&svc, &other.id, ExportState::Delivered)
    })
    .await;
    assert!(rx.accepts() >= 1);
    assert_eq!(rx.processed(), BTreeSet::from([other.id.clone()]));

    drop(svc);
    close_box(stores, audit);
    report("4 revoked", start);
}

#[tokio::test(flavor = "multi_thread")]
async fn revoking_during_a_delivery_round_stops_what_was_not_sent_yet() {
    let rx = Receiver::start().await;
    let first_gate = Gate::new();
    let second_gate = Gate::new();
    rx.script("/busy", [Reply::Hang(first_gate.clone())]);
    rx.script("/d", [Reply::Hang(second_gate.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());

    // Another app's export is held by its destination (it does not hold up app1's lane) ...
    let busy = submit(&svc, &ask("app0", &rx.url("/busy"), b"busy")).unwrap();
    eventually("the destination to hold the first export", || {
        (rx.seen().len() == 1).then_some(())
    })
    .await;
    // ... while app1 queues two: one goes out and is held, the other waits behind it in app1's lane.
    let dest = rx.url("/d");
    let a = submit(&svc, &ask("app1", &dest, b"a")).unwrap();
    let b = submit(&svc, &ask("app1", &dest, b"b")).unwrap();
    first_gate.release();
    eventually("the first of app1's exports to be in flight", || {
        (rx.seen().len() == 2).then_some(())
    })
    .await;
    let in_flight = rx.seen()[1].key.clone().unwrap();
    let not_sent = if in_flight == a.id { &b.id } else { &a.id };

    // The owner revokes the destination: what was not sent yet must never be.
    blocking(|| svc.revoke("app1", &dest)).unwrap();
    assert_eq!(export(&svc, not_sent).state, ExportState::Cancelled);
    second_gate.release();
    quiet().await;
    assert!(
        rx.seen_with_key(not_sent).is_empty(),
        "{not_sent} went to {dest} after the owner revoked it"
    );
    let after = export(&svc, not_sent);
    assert_eq!(
        after.state,
        ExportState::Cancelled,
        "the owner's cancellation was overwritten ({:?})",
        after.last_error
    );
    assert_eq!(export(&svc, &busy.id).state, ExportState::Delivered);

    drop(svc);
    close_box(stores, audit);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_destination_spelled_differently_is_still_refused() {
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());
    blocking(|| svc.revoke("app1", &rx.url("/x"))).unwrap();
    blocking(|| svc.revoke("app1", &rx.url("/up/"))).unwrap();
    // Each of these normalises (url::Url, as host/export.rs does) to a revoked URL.
    let spellings = [
        format!("HTTP://{}/x", rx.addr),
        format!("http://{}/./x", rx.addr),
        format!("http://{}/a/../x", rx.addr),
        format!("HTTP://{}/up/1", rx.addr),
        format!("http://{}/a/../up/1", rx.addr),
    ];
    let mut sent = Vec::new();
    for dest in &spellings {
        if let Ok(e) = submit(&svc, &ask("app1", dest, b"secret")) {
            sent.push((dest.clone(), e.id));
        }
    }
    quiet().await;
    assert!(sent.is_empty(), "queued despite the revocation: {sent:?}");
    assert_eq!(
        rx.accepts(),
        0,
        "a revoked destination was contacted: {:?}",
        rx.seen()
    );
    drop(svc);
    close_box(stores, audit);
}

// ---------------------------------------------------------------------------------------------
// 5. Review

#[tokio::test(flavor = "multi_thread")]
async fn review_holds_exports_until_the_owner_decides() {
    let start = Instant::now();
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());
    let dest = rx.url("/inbox");
    blocking(|| svc.set_review("app1", true)).unwrap();

    let body_a = random_body(1000);
    let body_b = random_body(1500);
    let a = submit(&svc, &ask("app1", &dest, &body_a)).unwrap();
    let b = submit(&svc, &ask("app1", &dest, &body_b)).unwrap();
    assert_eq!(a.state, ExportState::Review);
    assert_eq!(b.state, ExportState::Review);
    quiet().await;
    assert_eq!(rx.accepts(), 0, "an export held for review was sent");
    assert_eq!(svc.list(Some(ExportState::Review)).len(), 2);

    // The owner sees exactly what would be sent.
    let (shown, payload) = svc.show(&a.id).unwrap();
    assert_eq!(shown.state, ExportState::Review);
    let payload = payload.expect("the body under review");
    assert!(payload.bytes == body_a);
    assert_eq!(payload.content_type, OCTETS);

    // Rejected: never sent, body gone, no second decision.
    let rejected = blocking(|| svc.reject(&a.id)).unwrap();
    assert_eq!(rejected.state, ExportState::Rejected);
    let (shown, payload) = svc.show(&a.id).unwrap();
    assert_eq!(shown.state, ExportState::Rejected);
    assert!(payload.is_none(), "a rejected export's body is deleted");
    assert!(matches!(
        blocking(|| svc.approve(&a.id)),
        Err(ExportError::Conflict(_))
    ));
    assert!(matches!(
        blocking(|| svc.reject(&a.id)),
        Err(ExportError::Conflict(_))
    ));
    assert!(matches!(
        blocking(|| svc.approve("x-nope")),
        Err(ExportError::NotFound(_))
    ));

    // Approved: delivered, byte for byte.
    assert_eq!(
        blocking(|| svc.approve(&b.id)).unwrap().state,
        ExportState::Queued
    );
    eventually("the approved export to be delivered", || {
        in_state(&svc, &b.id, ExportState::Delivered)
    })
    .await;
    quiet().await;
    assert!(rx.seen_with_key(&a.id).is_empty(), "the rejected export was sent");
    let seen = rx.seen_with_key(&b.id);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].body == body_b);
    assert_eq!(rx.processed(), BTreeSet::from([b.id.clone()]));
    assert_eq!(export(&svc, &a.id).state, ExportState::Rejected);

    let owner = blocking(|| {
        audit.query(&Query {
            principal: Some("owner".into()),
            ..Query::default()
        })
    })
    .unwrap();
    assert!(
        owner
            .iter()
            .any(|r| r.operation == "reject export" && mentions(r, &a.id))
    );
    assert!(
        owner
            .iter()
            .any(|r| r.operation == "approve export" && mentions(r, &b.id))
    );

    drop(svc);
    close_box(stores, audit);
    report("5 review", start);
}

// ---------------------------------------------------------------------------------------------
// 6. The hourly rate

#[tokio::test(flavor = "multi_thread")]
async fn the_hourly_rate_holds_back_what_is_over_it() {
    let start = Instant::now();
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());
    let dest = rx.url("/inbox");

    let mut ids = Vec::new();
    for i in 0..3u8 {
        let body = [i; 10];
        let mut s = ask("app1", &dest, &body);
        s.per_hour = 2;
        ids.push(submit(&svc, &s).unwrap().id);
    }
    eventually("two exports to be delivered", || {
        (svc.list(Some(ExportState::Delivered)).len() == 2).then_some(())
    })
    .await;
    quiet().await;

    let delivered = svc.list(Some(ExportState::Delivered));
    assert_eq!(delivered.len(), 2, "the hourly rate of 2 was exceeded");
    let held = svc.list(Some(ExportState::Queued));
    assert_eq!(held.len(), 1);
    let held = &held[0];
    assert_eq!(held.attempts, 0, "a held export is not an attempt");
    let why = held.last_error.as_deref().unwrap_or_default();
    assert!(why.contains("hour"), "the reason names the hour: {why:?}");
    let oldest = delivered
        .iter()
        .map(|e| e.receipt.as_ref().unwrap().delivered_ms)
        .min()
        .unwrap();
    assert_eq!(held.next_attempt_ms, oldest + 3_600_000);
    assert_eq!(rx.seen().len(), 2);
    assert_eq!(rx.processed().len(), 2);
    assert!(rx.seen_with_key(&held.id).is_empty());

    drop(svc);
    close_box(stores, audit);
    report("6 rate", start);
}

// ---------------------------------------------------------------------------------------------
// 7. The size limit

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_refused_and_nothing_is_sent() {
    let start = Instant::now();
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());
    let dest = rx.url("/inbox");

    let big = random_body(1001);
    let mut s = ask("app1", &dest, &big);
    s.max_bytes = 1000;
    let refused = submit(&svc, &s);
    match &refused {
        Err(ExportError::Refused(why)) => assert!(why.contains("limit"), "{why}"),
        other => panic!("a body over the limit was not refused: {other:?}"),
    }
    assert!(svc.list(None).is_empty(), "nothing was queued");
    quiet().await;
    assert_eq!(rx.accepts(), 0, "the destination was contacted");
    let records = export_records(&audit, "app1");
    assert!(
        records
            .iter()
            .any(|r| r.outcome == Outcome::Refused && mentions(r, "over the limit of 1000 bytes")),
        "{records:#?}"
    );

    // Exactly at the limit is allowed.
    let fits = &big[..1000];
    let mut s = ask("app1", &dest, fits);
    s.max_bytes = 1000;
    let e = submit(&svc, &s).unwrap();
    eventually("the export at the limit to be delivered", || {
        in_state(&svc, &e.id, ExportState::Delivered)
    })
    .await;
    assert_eq!(rx.seen().len(), 1);
    assert!(rx.seen()[0].body == fits);

    drop(svc);
    close_box(stores, audit);
    report("7 size", start);
}

// ---------------------------------------------------------------------------------------------
// 8. Which answers are retried

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_fail_at_once_while_408_429_and_5xx_are_retried() {
    let start = Instant::now();
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());

    // Refused by the destination: given up after one attempt.
    let mut refused = Vec::new();
    for code in [400u16, 403, 404, 422] {
        let dest = rx.url(&format!("/status/{code}"));
        refused.push((code, submit(&svc, &ask("app1", &dest, b"payload")).unwrap().id));
    }
    // Temporary: retried until the destination takes it.
    rx.script("/flaky", [429, 408, 500, 502, 503].map(Reply::Status));
    let flaky = submit(&svc, &ask("app1", &rx.url("/flaky"), b"payload"))
        .unwrap()
        .id;

    for (code, id) in &refused {
        let e = eventually("a refused export to fail", || {
            in_state(&svc, id, ExportState::Failed)
        })
        .await;
        assert_eq!(e.attempts, 1, "{code} was retried");
        assert!(e.receipt.is_none());
        let why = e.last_error.unwrap_or_default();
        assert!(why.contains(&code.to_string()), "{why}");
        assert!(
            svc.show(id).unwrap().1.is_none(),
            "a failed export's body is deleted"
        );
    }
    let done = eventually("the flaky destination to take the export", || {
        in_state(&svc, &flaky, ExportState::Delivered)
    })
    .await;
    quiet().await;

    for (code, id) in &refused {
        assert_eq!(rx.seen_with_key(id).len(), 1, "{code} was retried");
        assert_eq!(export(&svc, id).state, ExportState::Failed);
    }
    assert_eq!(done.attempts, 6);
    assert_eq!(done.receipt.unwrap().attempts, 6);
    let statuses: Vec<u16> = rx
        .answers()
        .into_iter()
        .filter(|(k, _)| k.as_deref() == Some(flaky.as_str()))
        .map(|(_, s)| s)
        .collect();
    assert_eq!(statuses, [429, 408, 500, 502, 503, 200]);
    assert_eq!(rx.processed(), BTreeSet::from([flaky.clone()]));

    let records = export_records(&audit, "app1");
    for (code, id) in &refused {
        let failed: Vec<&Record> = records
            .iter()
            .filter(|r| r.outcome == Outcome::Failed && mentions(r, id))
            .collect();
        assert_eq!(failed.len(), 1, "{code}: {failed:#?}");
        assert!(mentions(failed[0], "refused by the destination"));
    }
    assert_eq!(
        records
            .iter()
            .filter(|r| r.outcome == Outcome::Failed && mentions(r, &flaky))
            .count(),
        5
    );

    drop(svc);
    close_box(stores, audit);
    report("8 statuses", start);
}

// ---------------------------------------------------------------------------------------------
// 9. A destination that hangs

/// The client gives an attempt 30 s; a delivery held up behind a hanging one would wait that long.
const BEFORE_THE_TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_that_hangs_delays_only_its_own_apps_exports() {
    let start = Instant::now();
    // Slow's destination accepts the request and does not answer until the test says so.
    let hanging = Receiver::start().await;
    let gate = Gate::new();
    hanging.script("/hang", [Reply::Hang(gate.clone())]);
    let rx = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());

    let body_a1 = random_body(4000);
    let a1 = submit(&svc, &ask("slow", &hanging.url("/hang"), &body_a1)).unwrap();
    eventually("the hanging destination to hold slow's export", || {
        (hanging.seen().len() == 1).then_some(())
    })
    .await;
    // Slow's next export goes to a destination that answers, but waits behind its first.
    let body_a2 = random_body(3000);
    let a2 = submit(&svc, &ask("slow", &rx.url("/after"), &body_a2)).unwrap();

    let sent = Instant::now();
    let body_b = random_body(5000);
    let b = submit(&svc, &ask("fast", &rx.url("/inbox"), &body_b)).unwrap();
    let done = eventually_within(BEFORE_THE_TIMEOUT, "fast's export to be delivered", || {
        in_state(&svc, &b.id, ExportState::Delivered)
    })
    .await;
    let took = sent.elapsed();
    eprintln!(
        "9 hang: fast's export delivered {:.3} s after submission, while slow's hung (its attempt may take 30 s)",
        took.as_secs_f64()
    );
    let receipt = done.receipt.expect("a delivered export has a receipt");
    assert_eq!(receipt.status, 200);
    assert_eq!(receipt.sha256, hex::encode(Sha256::digest(&body_b)));
    let seen = rx.seen_with_key(&b.id);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].body == body_b, "fast's destination got other bytes");

    // Slow's first is still in flight (one attempt, no receipt); its second was not sent: one
    // app's exports go out one at a time, in order.
    quiet().await;
    let now = export(&svc, &a1.id);
    assert_eq!(now.state, ExportState::Queued);
    assert_eq!(now.attempts, 1);
    assert!(now.receipt.is_none());
    assert_eq!(hanging.answers(), [], "the hanging destination answered");
    assert_eq!(export(&svc, &a2.id).attempts, 0);
    assert!(
        rx.seen_with_key(&a2.id).is_empty(),
        "slow's second export overtook its first"
    );

    // The destination answers at last: slow's exports go out, once each, in order.
    gate.release();
    let a1_done = eventually("slow's first export to be delivered", || {
        in_state(&svc, &a1.id, ExportState::Delivered)
    })
    .await;
    let a2_done = eventually("slow's second export to be delivered", || {
        in_state(&svc, &a2.id, ExportState::Delivered)
    })
    .await;
    let (r1, r2) = (a1_done.receipt.unwrap(), a2_done.receipt.unwrap());
    assert_eq!(r1.attempts, 1, "the hung attempt was repeated");
    assert_eq!(r2.attempts, 1);
    assert!(r2.delivered_ms >= r1.delivered_ms);
    assert!(hanging.seen_with_key(&a1.id)[0].body == body_a1);
    assert!(rx.seen_with_key(&a2.id)[0].body == body_a2);
    assert_eq!(hanging.processed(), BTreeSet::from([a1.id.clone()]));
    assert_eq!(rx.processed(), BTreeSet::from([b.id.clone(), a2.id.clone()]));
    assert_eq!(svc.receipts().len(), 3);

    drop(svc);
    close_box(stores, audit);
    report("9 hang", start);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_most_eight_deliveries_are_in_flight_at_once() {
    let start = Instant::now();
    let rx = Receiver::start().await;
    let gate = Gate::new();
    let dir = tempfile::tempdir().unwrap();
    let (stores, audit, svc) = open_box(dir.path());

    // Nine clients, each with an export to a destination that holds it.
    let mut ids = Vec::new();
    for i in 0..9 {
        let path = format!("/hang/{i}");
        rx.script(&path, [Reply::Hang(gate.clone())]);
        let client = format!("client{i}");
        ids.push(
            submit(&svc, &ask(&client, &rx.url(&path), b"payload"))
                .unwrap()
                .id,
        );
    }
    eventually("eight deliveries to be in flight", || {
        (rx.seen().len() == 8).then_some(())
    })
    .await;
    quiet().await;
    assert_eq!(rx.seen().len(), 8, "more than eight deliveries in flight");
    assert_eq!(rx.accepts(), 8, "more than eight connections open");
    let waiting: Vec<&String> = ids.iter().filter(|id| export(&svc, id).attempts == 0).collect();
    assert_eq!(waiting.len(), 1, "one export waits for a free slot");

    gate.release();
    eventually("every export to be delivered", || {
        ids.iter()
            .all(|id| export(&svc, id).state == ExportState::Delivered)
            .then_some(())
    })
    .await;
    assert_eq!(rx.processed(), ids.iter().cloned().collect::<BTreeSet<_>>());
    for id in &ids {
        assert_eq!(rx.seen_with_key(id).len(), 1, "{id} was sent more than once");
    }

    drop(svc);
    close_box(stores, audit);
    report("9 lanes", start);
}
