//! The export service end to end, with the real binary and a real receiver on loopback: an
//! external client sends through the box to the destination the owner approved; the box is
//! killed while the receiver holds the delivery, and after a restart the export is delivered,
//! once per idempotency key, byte-identical; a destination never approved is never contacted;
//! on review an export waits, shows its payload, and once rejected is never sent; receipts and
//! the statement say what left.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{BoxProcess, eventually, ok};

#[derive(Default)]
struct Receiver {
    /// Requests that arrived (key, body), in order.
    seen: Mutex<Vec<(String, Vec<u8>)>>,
    /// Keys answered 2xx: what a destination honouring idempotency keys processed.
    processed: Mutex<BTreeMap<String, Vec<u8>>>,
    /// Hold the first request until released.
    hold_first: AtomicBool,
    released: AtomicBool,
    connections: AtomicUsize,
}

fn start_receiver(hold_first: bool) -> (String, Arc<Receiver>) {
    let r = Arc::new(Receiver::default());
    r.hold_first.store(hold_first, Ordering::SeqCst);
    let state = r.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let st = state.clone();
            let app = axum::Router::new().fallback(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let st = st.clone();
                    async move {
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let first = {
                            let mut seen = st.seen.lock().unwrap();
                            seen.push((key.clone(), body.to_vec()));
                            seen.len() == 1
                        };
                        if first && st.hold_first.load(Ordering::SeqCst) {
                            while !st.released.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                        st.processed.lock().unwrap().entry(key).or_insert(body.to_vec());
                        "received"
                    }
                },
            );
            let counted = state.clone();
            let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
                counted.connections.fetch_add(1, Ordering::SeqCst);
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{}", rx.recv().unwrap()), r)
}

#[test]
fn exports_reach_only_approved_destinations_once_even_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let owner = b.new_token.clone().unwrap();
    let (approved, receiver) = start_receiver(true);
    let (elsewhere, stranger) = start_receiver(false);

    ok(
        &b,
        &owner,
        &["principals", "add", "researcher", "--kind", "client"],
    );
    let destination = format!("{approved}/study/");
    ok(
        &b,
        &owner,
        &[
            "export",
            "allow",
            "researcher",
            &destination,
            "--max-bytes",
            "4096",
        ],
    );
    let minted = ok(&b, &owner, &["token", "mint", "researcher"]);
    let client = minted
        .split_whitespace()
        .find(|w| w.len() > 40 && !w.starts_with("dbx_owner_"))
        .unwrap_or_else(|| panic!("no token in {minted}"))
        .to_owned();

    // Binary, with a NUL and invalid UTF-8: must arrive byte for byte.
    let body: Vec<u8> = (0..=255u8).rev().chain(*b"\x00\xff weekly summary").collect();
    let file = files.path().join("summary.bin");
    std::fs::write(&file, &body).unwrap();
    let sent = ok(
        &b,
        &client,
        &[
            "export",
            "send",
            &format!("{destination}week-48"),
            &file.to_string_lossy(),
        ],
    );
    assert!(sent.contains("queued"), "{sent}");

    // The box dies while the receiver holds the delivery.
    eventually("the first delivery attempt", Duration::from_secs(20), || {
        (!receiver.seen.lock().unwrap().is_empty()).then_some(())
    });
    b.kill();
    receiver.released.store(true, Ordering::SeqCst);
    let b = BoxProcess::start(dir.path(), &[]);
    eventually("delivery after the restart", Duration::from_secs(20), || {
        ok(&b, &owner, &["export", "list", "--state", "delivered"])
            .contains("delivered")
            .then_some(())
    });
    let processed = receiver.processed.lock().unwrap().clone();
    assert_eq!(
        processed.len(),
        1,
        "one export, processed once: {:?}",
        processed.keys()
    );
    assert_eq!(processed.values().next().unwrap(), &body, "byte-identical");
    let seen = receiver.seen.lock().unwrap().clone();
    assert!(
        seen.len() >= 2,
        "it was sent again after the crash: {}",
        seen.len()
    );
    assert!(
        seen.iter().all(|(k, _)| k == &seen[0].0),
        "always under the same key"
    );
    let receipts = ok(&b, &owner, &["export", "receipts", "--json"]);
    assert!(
        receipts.contains("week-48") && receipts.contains(&format!("\"size\": {}", body.len())),
        "{receipts}"
    );
    let readable = ok(&b, &owner, &["export", "receipts"]);
    assert!(
        readable.contains(&format!(
            "sent {} bytes to {destination}week-48: HTTP 200",
            body.len()
        )),
        "{readable}"
    );

    // A destination the owner never approved: refused, never contacted.
    let (success, _, err) = b.cli(
        &client,
        &[
            "export",
            "send",
            &format!("{elsewhere}/x"),
            &file.to_string_lossy(),
        ],
    );
    assert!(
        !success && err.contains("not a destination the owner approved"),
        "{err}"
    );
    let (success, _, err) = b.cli(
        &client,
        &[
            "export",
            "send",
            &format!("{destination}../escape"),
            &file.to_string_lossy(),
        ],
    );
    assert!(
        !success && err.contains("not a destination the owner approved"),
        "{err}"
    );
    assert_eq!(
        stranger.connections.load(Ordering::SeqCst),
        0,
        "the stranger was contacted"
    );

    // Review: the export waits, its payload can be read, rejected it never leaves.
    ok(&b, &owner, &["export", "review", "researcher"]);
    let text = files.path().join("note.txt");
    std::fs::write(&text, "my private note").unwrap();
    let held = ok(
        &b,
        &client,
        &[
            "export",
            "send",
            &format!("{destination}note"),
            &text.to_string_lossy(),
            "--content-type",
            "text/plain",
        ],
    );
    assert!(held.contains("review"), "{held}");
    let id = held.split_whitespace().next().unwrap().to_owned();
    let shown = ok(&b, &owner, &["export", "show", &id]);
    assert!(
        shown.contains("my private note"),
        "the owner sees the payload: {shown}"
    );
    ok(&b, &owner, &["export", "reject", &id]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !receiver.seen.lock().unwrap().iter().any(|(k, _)| k == &id),
        "a rejected export was sent"
    );
    let shown = ok(&b, &owner, &["export", "show", &id]);
    assert!(
        shown.contains("rejected") && !shown.contains("my private note"),
        "{shown}"
    );

    // Revoking the destination: refused at once.
    ok(&b, &owner, &["export", "review", "researcher", "--off"]);
    ok(&b, &owner, &["export", "revoke", "researcher", &destination]);
    let (success, _, err) = b.cli(
        &client,
        &[
            "export",
            "send",
            &format!("{destination}late"),
            &file.to_string_lossy(),
        ],
    );
    assert!(
        !success && err.contains("not a destination the owner approved"),
        "{err}"
    );

    // The audit and the statement say what left, to where, how much.
    let records = ok(&b, &owner, &["audit", "query", "--operation", "export"]);
    assert!(records.contains("week-48"), "{records}");
    let month = std::process::Command::new("date")
        .args(["-u", "+%Y-%m"])
        .output()
        .unwrap();
    let month = String::from_utf8_lossy(&month.stdout).trim().to_owned();
    let statement = ok(&b, &owner, &["statement", "--month", &month]);
    assert!(
        statement.contains(&format!(
            "sent data out of the box to {destination}week-48: 1 time, {} bytes",
            body.len()
        )),
        "{statement}"
    );
    b.stop();
}
