//! An app sends data out through its `data-export` import: to a destination the owner approved
//! it is queued, delivered byte-identical to a real receiver with its idempotency key, receipted
//! and counted in the statement; to any other destination it is refused and audited, and that
//! receiver sees no connection; a driver cannot even load a component that exports.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use databox_arbiter::Arbiter;
use databox_audit::{AuditLog, Outcome, Query};
use databox_export::{ExportService, ExportState};
use databox_runtime::Manifest;
use databox_runtime::host::{ComponentCtx, Env, RunError, Runtime};
use databox_runtime::install::{Choices, install};
use databox_store::{MasterKeySource, Stores};

type Seen = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// A real HTTP receiver on loopback that records each request's idempotency key and body.
fn receiver() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = axum::Router::new().fallback(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let record = record.clone();
                    async move {
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        record.lock().unwrap().push((key, body.to_vec()));
                        "thanks"
                    }
                },
            );
            axum::serve(listener, app).await.unwrap();
        });
    });
    (format!("http://{}", rx.recv().unwrap()), seen)
}

fn manifest(kind: &str, destination: &str) -> String {
    let exports = if kind == "app" {
        format!(
            "[[exports]]\ndestination = \"{destination}\"\npurpose = \"share a result\"\nmax_bytes = 4096\nper_hour = 10\n"
        )
    } else {
        String::new()
    };
    format!(
        "[component]\nname = \"exporter-{kind}\"\nversion = \"0.1.0\"\nkind = \"{kind}\"\ndescription = \"Sends a result out.\"\n\n{exports}"
    )
}

#[test]
fn an_app_exports_only_to_approved_destinations_with_receipts() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _inside = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let stores = Arc::new(Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap());
    let (arbiter, _) = Arbiter::open(dir.path()).unwrap();
    let arbiter = Arc::new(arbiter);
    let audit = AuditLog::open(&dir.path().join("audit")).unwrap();
    let exports = ExportService::open_with(&stores, audit.clone(), Duration::from_millis(50)).unwrap();
    let env = Env {
        stores: stores.clone(),
        arbiter: arbiter.clone(),
        audit: audit.clone(),
        data_dir: dir.path().to_path_buf(),
        exports: Some(exports.clone()),
    };
    let (approved_base, approved_seen) = receiver();
    let (other_base, other_seen) = receiver();
    let approved = format!("{approved_base}/in/");
    let m = Manifest::parse(&manifest("app", &approved)).unwrap();
    let installed = install(&m, &Choices::default(), &stores, &arbiter).unwrap();
    let runtime = Runtime::new().unwrap();
    let load = |destination: &str| {
        let caller = arbiter.authenticate(Some(&installed.token)).unwrap();
        let config = BTreeMap::from([
            ("behave".to_owned(), "export".to_owned()),
            ("destination".to_owned(), destination.to_owned()),
        ]);
        let ctx = ComponentCtx::for_manifest(&m, caller, &BTreeMap::new(), &config, env.clone()).unwrap();
        runtime.load(support::variant("export"), ctx, &m).unwrap()
    };

    // To an approved destination: queued, delivered byte-identical with its key, receipted.
    let loaded = load(&format!("{approved}result"));
    let report = loaded.timer().unwrap();
    let line = report
        .logs
        .iter()
        .find(|l| l.contains("export x-"))
        .expect("an export id");
    let id = line.rsplit(' ').next().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(15);
    while exports.list(Some(ExportState::Delivered)).is_empty() {
        assert!(
            Instant::now() < deadline,
            "not delivered: {:?}",
            exports.list(None)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let expected: Vec<u8> = (0..=255u8).chain(b"result: 42".iter().copied()).collect();
    let got = approved_seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].0.as_deref(),
        Some(id.as_str()),
        "the idempotency key is the export id"
    );
    assert_eq!(got[0].1, expected, "byte-identical");
    let receipts = exports.receipts();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].2.size, expected.len() as u64);
    assert_eq!(receipts[0].2.status, 200);
    assert!(receipts[0].2.grant.contains(&approved), "{:?}", receipts[0].2);

    // Anywhere else: refused in the component, audited, never contacted.
    let loaded = load(&format!("{other_base}/elsewhere"));
    let err = loaded.timer().unwrap_err();
    assert!(
        matches!(&err.error, RunError::Failed(why) if why.contains("Denied") && why.contains("not a destination the owner approved")),
        "{err}"
    );
    // Under the approved prefix only after normalisation: `..` cannot climb out.
    let loaded = load(&format!("{approved}../admin"));
    assert!(loaded.timer().is_err());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        other_seen.lock().unwrap().is_empty(),
        "the other receiver was contacted"
    );
    assert_eq!(
        approved_seen.lock().unwrap().len(),
        1,
        "nothing else reached the approved one"
    );
    audit.sync();
    let refused = audit
        .query(&Query {
            principal: Some("exporter-app".into()),
            outcome: Some(Outcome::Refused),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(
        refused.iter().filter(|r| r.operation == "export").count(),
        2,
        "{refused:?}"
    );

    // The statement says what left, to where, how much.
    let records = audit.query_all(&Query::default()).unwrap();
    let month = {
        let now = databox_store::now_ms();
        let days = now.div_euclid(86_400_000);
        // Civil date from days since the epoch (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}")
    };
    let statement = databox_audit::statement(&records, &month, &|_| None).unwrap();
    assert!(
        statement.contains(&format!(
            "sent data out of the box to {approved}result: 1 time, 266 bytes"
        )),
        "{statement}"
    );

    // A driver cannot load a component that imports data-export.
    let dm = Manifest::parse(&manifest("driver", "")).unwrap();
    let di = install(&dm, &Choices::default(), &stores, &arbiter).unwrap();
    let caller = arbiter.authenticate(Some(&di.token)).unwrap();
    let ctx =
        ComponentCtx::for_manifest(&dm, caller, &BTreeMap::new(), &BTreeMap::new(), env.clone()).unwrap();
    let err = runtime
        .load(support::variant("export"), ctx, &dm)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("data-export"), "{err}");
}
