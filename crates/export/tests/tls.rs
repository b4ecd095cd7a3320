//! Verified TLS to a destination on the owner's own network: a real HTTPS receiver on loopback
//! with a certificate the box's CA issued. The export service that trusts the box's CA delivers
//! byte-identical; one that does not refuses the certificate, so nothing reaches the receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use databox_audit::{AuditLog, Outcome, Query};
use databox_export::ca::BoxCa;
use databox_export::{ExportService, ExportState, Submission};
use databox_store::{MasterKeySource, Stores};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

type Seen = Arc<Mutex<Vec<Vec<u8>>>>;

/// An HTTPS receiver on 127.0.0.1 with a certificate for `localhost` from the box's CA.
async fn https_receiver(ca: &BoxCa) -> (u16, Seen) {
    let (cert_pem, key_pem) = ca.issue(&["localhost"]).unwrap();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let record = record.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
                    let record = record.clone();
                    async move {
                        record.lock().unwrap().push(body.to_vec());
                        "ok"
                    }
                });
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, seen)
}

fn submit(svc: &ExportService, destination: &str, body: &[u8]) -> String {
    tokio::task::block_in_place(|| {
        svc.submit(&Submission {
            app: "reporter",
            destination,
            grant: "a test approval",
            content_type: "application/octet-stream",
            body,
            max_bytes: 1 << 20,
            per_hour: 100,
        })
        .unwrap()
        .id
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn delivers_over_tls_verified_against_the_boxs_own_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = BoxCa::load_or_create(dir.path()).unwrap();
    // The CA is kept: a second load gives the same certificate.
    assert_eq!(
        BoxCa::load_or_create(dir.path()).unwrap().cert_pem(),
        ca.cert_pem()
    );
    let (port, seen) = https_receiver(&ca).await;
    let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap();
    let audit = AuditLog::open(&dir.path().join("audit")).unwrap();
    let destination = format!("https://localhost:{port}/in/report");

    // Not trusting the box's CA: the certificate is refused and nothing is received.
    let untrusting = tokio::task::block_in_place(|| {
        ExportService::open_with(&stores, audit.clone(), Duration::from_millis(50)).unwrap()
    });
    submit(&untrusting, &destination, b"must not arrive");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let failed = tokio::task::block_in_place(|| {
            audit
                .query(&Query {
                    principal: Some("reporter".into()),
                    outcome: Some(Outcome::Failed),
                    ..Query::default()
                })
                .unwrap()
        });
        if failed.iter().any(|r| r.operation == "export attempt") {
            break;
        }
        assert!(Instant::now() < deadline, "no failed attempt recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "an unverified connection carried data"
    );
    drop(untrusting);

    // Trusting it: delivered byte-identical over verified TLS.
    let dir2 = tempfile::tempdir().unwrap();
    let stores2 = Stores::open(dir2.path(), &MasterKeySource::KeyFile).unwrap();
    let audit2 = AuditLog::open(&dir2.path().join("audit")).unwrap();
    let trusting = tokio::task::block_in_place(|| {
        ExportService::open_trusting(&stores2, audit2, Duration::from_millis(50), Some(ca.cert_pem()))
            .unwrap()
    });
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let id = submit(&trusting, &destination, &body);
    let deadline = Instant::now() + Duration::from_secs(15);
    while trusting.list(Some(ExportState::Delivered)).is_empty() {
        assert!(
            Instant::now() < deadline,
            "not delivered: {:?}",
            trusting.list(None)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        std::slice::from_ref(&body),
        "byte-identical, once"
    );
    let receipts = trusting.receipts();
    assert_eq!(receipts[0].0, id);
    assert_eq!(receipts[0].2.size, body.len() as u64);
}
