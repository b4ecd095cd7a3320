//! What the API's integration tests share: a box over real stores in a temporary folder, driven
//! through its real router in process (`oneshot`), and the answers it gives.

// Each test file is a crate of its own and uses a different part of this module.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::request::Builder;
use axum::http::{HeaderMap, HeaderName, Method, Request, StatusCode, header};
use databox_api::{AppState, router};
use databox_arbiter::Arbiter;
use databox_audit::AuditLog;
use databox_store::{MasterKeySource, Stores};
use http_body_util::BodyExt;
use serde_json::Value;
use tempfile::TempDir;
use tower::ServiceExt;

/// The store the tests work in; [`TestBox::with_store`] creates it.
pub const S: &str = "/api/v1/stores/s";

/// A box in a temporary folder: its router over real stores, arbiter and audit log, and its
/// owner's token.
pub struct TestBox {
    pub app: Router,
    /// The owner's token, which a new box shows once.
    pub token: String,
    /// The router's own arbiter, for what the CLI does without the API (passwords, one-time
    /// links, principals and tokens made directly).
    pub arbiter: Arc<Arbiter>,
    /// The router's own audit log, for tests that read its records directly, outside the API.
    pub audit: Arc<AuditLog>,
    /// Dropping it deletes the box's files, so it lives as long as the box.
    _dir: TempDir,
}

impl TestBox {
    /// A new box with no store.
    pub fn new() -> TestBox {
        let dir = tempfile::tempdir().expect("temp dir");
        let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).expect("open stores");
        let (arbiter, token) = Arbiter::open(dir.path()).expect("arbiter");
        let token = token.expect("a new box shows its token once").to_string();
        let arbiter = Arc::new(arbiter);
        let audit = AuditLog::open(&dir.path().join("audit")).expect("audit log");
        let app = router(AppState::new(Arc::new(stores), arbiter.clone(), audit.clone()));
        TestBox {
            app,
            token,
            arbiter,
            audit,
            _dir: dir,
        }
    }

    /// A new box with store `s` ([`S`]) created.
    pub async fn with_store() -> TestBox {
        let b = TestBox::new();
        let r = b.call(Method::PUT, S, "").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        b
    }

    /// A request builder already carrying the owner's token, for a body or headers `call` does
    /// not make.
    pub fn request(&self, method: Method, uri: &str) -> Builder {
        bearer(&self.token, method, uri)
    }

    /// Sends `req` through the router and reads the whole answer.
    pub async fn send(&self, req: Request<Body>) -> Resp {
        self.send_reading_body(req, true).await
    }

    /// Sends `req`; the body of a success is read only if `read_body`, as an observe stream
    /// never ends (a refusal's body is always read).
    pub async fn send_reading_body(&self, req: Request<Body>, read_body: bool) -> Resp {
        let resp = self
            .app
            .clone()
            .oneshot(req)
            .await
            .expect("the router is infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = if read_body || !status.is_success() {
            resp.into_body().collect().await.expect("body").to_bytes()
        } else {
            Bytes::new()
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    /// A request with `token`; a non-empty body is sent as `content_type`.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        uri: &str,
        content_type: &str,
        body: impl Into<Vec<u8>>,
    ) -> Resp {
        let body = body.into();
        let mut req = bearer(token, method, uri);
        if !body.is_empty() {
            req = req.header(header::CONTENT_TYPE, content_type);
        }
        self.send(req.body(Body::from(body)).unwrap()).await
    }

    /// A request with the owner's token; a non-empty body is sent as JSON.
    pub async fn call(&self, method: Method, uri: &str, body: impl Into<String>) -> Resp {
        self.call_as(&self.token, method, uri, "application/json", body.into())
            .await
    }

    /// An owner's GET, answered as it came: for a status, headers or a body other than a 200's
    /// JSON.
    pub async fn fetch(&self, uri: &str) -> Resp {
        self.call(Method::GET, uri, "").await
    }

    /// Creates datasource `id` in store `s`, asserting 200.
    pub async fn datasource(&self, id: &str, meta: Value) {
        self.call(Method::PUT, &format!("{S}/datasources/{id}"), meta.to_string())
            .await
            .ok();
    }
}

fn bearer(token: &str, method: Method, uri: &str) -> Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
}

/// A finished response (its body empty where `send_reading_body` left a stream unread).
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    /// The body as text, for failure messages and pages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of header `name`, which must be there and be ASCII.
    pub fn header(&self, name: HeaderName) -> &str {
        self.headers
            .get(&name)
            .unwrap_or_else(|| {
                panic!(
                    "no {name} in {:?} ({}): {}",
                    self.headers,
                    self.status,
                    self.text()
                )
            })
            .to_str()
            .expect("an ASCII header")
    }

    /// The body, which must be JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} answered a body that is not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// Asserts 200 and returns the body as it came (CSV, a key-value's bytes).
    pub fn ok_body(&self) -> &Bytes {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text());
        &self.body
    }

    /// Asserts 200 and returns the JSON body.
    pub fn ok(&self) -> Value {
        self.ok_body();
        self.json()
    }

    /// Asserts the status and the one shape every error of the API has: JSON
    /// `{"error": message, "status": code}` and nothing more. Returns the message.
    pub fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            "application/json",
            "an error is JSON"
        );
        let body = self.json();
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(2),
            "only error and status: {body}"
        );
        let msg = body["error"].as_str().expect("error is a string").to_owned();
        assert!(!msg.is_empty());
        msg
    }
}
