//! The refusal matrix: every data route of the API (generated from
//! [`databox_api::access::ROUTES`], not written one by one) × every way a caller can be wrong
//! (no token, malformed, expired, revoked, wrong principal, wrong datasource, wrong operation,
//! finer granularity than granted, outside the time window, beyond its attenuation, another box's
//! token). Each (route, case) must be refused with 401/403 and a JSON error body only, leave
//! exactly one `refused` audit record, and write nothing. A positive control (a principal holding
//! every grant, with a fresh token) gets 2xx on every route, so the refusals are not accidental.

mod support;

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode, header};
use databox_api::access::{Need, ROUTES};
use databox_arbiter::{Arbiter, Attenuation, Granularity, Operation, PrincipalId, PrincipalKind};
use databox_audit::{Outcome, Query, Record};
use databox_store::{DatasourceId, StoreId};
use serde_json::{Value, json};
use support::{Resp, TestBox};
use tempfile::TempDir;

const STORE: &str = "home";
const S: &str = "/api/v1/stores/home";
/// The value kept under `cfg/a`; it must never appear in a refusal.
const KEPT: &str = "kept-value-of-cfg-a";
/// What the positive control writes to `cfg/a`.
const WRITTEN: &str = "written-by-the-matrix";

/// (method, route pattern as in `ROUTES`, case name as `Case::name` gives it, why it fails). A (route, case) listed here is
/// a known bug: its failure is expected and reported, and the test fails if it starts passing
/// (remove the entry then). Empty: every case of every route behaves.
const KNOWN_FAILURES: &[(&str, &str, &str, &str)] = &[];

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn pid(id: &str) -> PrincipalId {
    PrincipalId::new(id).expect("principal id")
}

fn sid() -> StoreId {
    StoreId::new(STORE).expect("store id")
}

fn did(id: &str) -> DatasourceId {
    DatasourceId::new(id).expect("datasource id")
}

// ------------------------------------------------------------------------------------------------
// Routes, generated from the access table
// ------------------------------------------------------------------------------------------------

/// One data route of `ROUTES`, made concrete.
#[derive(Clone, Debug)]
struct Route {
    /// Its row in `ROUTES`.
    row: usize,
    method: Method,
    pattern: &'static str,
    op: Operation,
    /// `temp` for series routes, `cfg` for key-value routes.
    ds: &'static str,
    series: bool,
}

impl Route {
    fn is_observe(&self) -> bool {
        self.op == Operation::Observe
    }

    fn is_read(&self) -> bool {
        self.op == Operation::Read
    }

    /// A read of a series (the only reads with a query form, granularity and time window).
    fn is_series_read(&self) -> bool {
        self.is_read() && self.series && self.pattern.contains("{*query}")
    }

    /// The concrete path; `query` replaces the default read form of series reads.
    fn uri(&self, query: Option<&str>) -> String {
        let default_query = if self.method == Method::DELETE {
            "since/0"
        } else {
            "latest"
        };
        let uri = self
            .pattern
            .replace("{store}", STORE)
            .replace("{ds}", self.ds)
            .replace("{key}", "a")
            .replace("{*query}", query.unwrap_or(default_query));
        assert!(
            !uri.contains('{'),
            "{} {}: a placeholder the matrix does not know: {uri}",
            self.method,
            self.pattern
        );
        uri
    }

    /// The content type and body that would succeed if the request were authorised.
    fn body(&self) -> Option<(&'static str, String)> {
        match (&self.method, self.series) {
            (&Method::GET, _) | (&Method::DELETE, _) => None,
            (&Method::POST, true) if self.pattern.ends_with("/batch") => {
                Some(("application/json", json!([{"data": {"value": 1}}]).to_string()))
            }
            (&Method::POST, true) if self.pattern.ends_with("/{ds}") => {
                Some(("application/json", json!({"value": 1}).to_string()))
            }
            (&Method::PUT, false) if self.pattern.ends_with("/key/{key}") => {
                Some(("text/plain", WRITTEN.to_owned()))
            }
            _ => panic!(
                "{} {}: the matrix has no body for this new data route; add one",
                self.method, self.pattern
            ),
        }
    }

    fn request(&self, authorization: Option<&str>, query: Option<&str>) -> Request<Body> {
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(self.uri(query));
        if let Some(a) = authorization {
            req = req.header(header::AUTHORIZATION, a);
        }
        let body = match self.body() {
            Some((content_type, body)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                Body::from(body)
            }
            None => Body::empty(),
        };
        req.body(body).expect("request")
    }

    fn name(&self) -> String {
        format!("{} {}", self.method, self.pattern)
    }
}

/// Every `Need::Data` row of `ROUTES`, with concrete values.
fn data_routes() -> Vec<Route> {
    ROUTES
        .iter()
        .enumerate()
        .filter_map(|(row, (method, pattern, need))| {
            let Need::Data(op) = need else { return None };
            let series = pattern.contains("/ts/{ds}");
            let kv = pattern.contains("/kv/{ds}");
            assert!(
                series ^ kv,
                "{method} {pattern}: a data route the matrix cannot place (neither /ts/ nor /kv/)"
            );
            Some(Route {
                row,
                method: method.clone(),
                pattern,
                op: *op,
                ds: if series { "temp" } else { "cfg" },
                series,
            })
        })
        .collect()
}

// ------------------------------------------------------------------------------------------------
// The cases
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    NoToken,
    Malformed,
    Expired,
    Revoked,
    WrongPrincipal,
    WrongDatasource,
    WrongOperation,
    FinerGranularity,
    OutsideWindow,
    BeyondAttenuation,
    OtherBox,
}

impl Case {
    const ALL: [Case; 11] = [
        Case::NoToken,
        Case::Malformed,
        Case::Expired,
        Case::Revoked,
        Case::WrongPrincipal,
        Case::WrongDatasource,
        Case::WrongOperation,
        Case::FinerGranularity,
        Case::OutsideWindow,
        Case::BeyondAttenuation,
        Case::OtherBox,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::NoToken => "no token",
            Case::Malformed => "malformed token",
            Case::Expired => "expired token",
            Case::Revoked => "revoked token",
            Case::WrongPrincipal => "wrong principal",
            Case::WrongDatasource => "wrong datasource",
            Case::WrongOperation => "wrong operation",
            Case::FinerGranularity => "finer granularity than granted",
            Case::OutsideWindow => "outside the time window",
            Case::BeyondAttenuation => "attenuated token used beyond its attenuation",
            Case::OtherBox => "token from another box",
        }
    }

    /// A phrase the refusal's reason must hold: proof it was refused for this case's reason and
    /// not another.
    fn reason(self, route: &Route) -> &'static str {
        match self {
            Case::NoToken => "needs a bearer token",
            Case::Malformed | Case::OtherBox => "not a valid token of this box",
            Case::Expired => "expired",
            Case::Revoked => "revoked",
            Case::WrongPrincipal | Case::WrongDatasource | Case::WrongOperation => "has no grant to",
            Case::FinerGranularity if route.is_series_read() => "hourly statistics only",
            Case::FinerGranularity => "key-value values are raw data",
            Case::OutsideWindow => "outside the time window",
            Case::BeyondAttenuation => "narrowed by its holder",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Case::NoToken | Case::Malformed | Case::Expired | Case::Revoked | Case::OtherBox => {
                StatusCode::UNAUTHORIZED
            }
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// Whether the case means anything for the route.
    fn applies(self, route: &Route) -> bool {
        match self {
            // Granularity limits exist on read grants only (the arbiter refuses to give a
            // non-raw grant for any other operation), so writes and observes have no finer
            // granularity to ask for.
            Case::FinerGranularity => route.is_read(),
            // Only reads of series carry explicit time bounds to be outside a window: key-value
            // reads and writes have none, and observes are narrowed to the window, not refused.
            Case::OutsideWindow => route.is_series_read(),
            _ => true,
        }
    }

    /// Refused by authentication, before routing: the audit names no store (and nobody, unless
    /// the token is a genuine one of this box, as a revoked token is).
    fn before_authentication(self) -> bool {
        matches!(
            self,
            Case::NoToken | Case::Malformed | Case::Revoked | Case::OtherBox
        )
    }
}

/// One grant on `home`: operation, datasource (`None` for every one), window, granularity.
type GrantSpec<'a> = (
    Operation,
    Option<&'a str>,
    (Option<i64>, Option<i64>),
    Granularity,
);

/// What one (route, case) sends, and whom its refusal must name.
struct Prepared {
    authorization: Option<String>,
    query: Option<&'static str>,
    principal: String,
}

// ------------------------------------------------------------------------------------------------
// The box
// ------------------------------------------------------------------------------------------------

struct Matrix {
    /// The box; its owner seeds the data and checks that refusals left it alone.
    b: TestBox,
    /// A principal holding every operation on the whole store, with a fresh token.
    full: String,
    expired: String,
    revoked: String,
    attenuated: String,
    other_box: String,
    /// A principal without any grant.
    nobody: String,
    /// How many principals were made per route (for unique ids).
    made: usize,
    _other_dir: TempDir,
}

/// Seeded series points: distinctive values that must never appear in a refusal.
fn temp_seed() -> Value {
    json!([
        {"timestamp": 1000, "data": {"value": 271828.25}},
        {"timestamp": 2000, "data": {"value": 271828.5}},
        {"timestamp": 5000, "data": {"value": 271828.75}},
        {"timestamp": 5500, "data": {"value": 271829.0}},
    ])
}

fn other_seed() -> Value {
    json!([
        {"timestamp": 1000, "data": {"value": 161803.25}},
        {"timestamp": 5500, "data": {"value": 161803.5}},
    ])
}

/// Strings of the seeded data a refusal must not contain.
const SECRETS: &[&str] = &["271828", "271829", "161803", KEPT];

/// What the data looks like, through the owner.
#[derive(Debug, PartialEq)]
struct Snapshot {
    temp_len: u64,
    other_len: u64,
    temp_rows: Value,
    other_rows: Value,
    cfg_keys: Value,
    cfg_a: (StatusCode, Bytes),
}

impl Matrix {
    async fn new() -> Matrix {
        let b = TestBox::new();
        let arbiter = &b.arbiter;

        // The principal who may do everything, and tokens of it that are wrong in one way each.
        arbiter
            .add_principal(pid("full"), PrincipalKind::Client, "holds every grant")
            .unwrap();
        for op in Operation::ALL {
            arbiter
                .grant(
                    &pid("full"),
                    op,
                    &sid(),
                    None,
                    (None, None),
                    None,
                    Granularity::Raw,
                    "matrix",
                )
                .unwrap();
        }
        let (_, full) = arbiter.mint(&pid("full"), "fresh", None).unwrap();
        let (_, expired) = arbiter
            .mint(&pid("full"), "expired", Some(now_ms() - 10_000))
            .unwrap();
        let (revoked_info, revoked) = arbiter.mint(&pid("full"), "revoked", None).unwrap();
        arbiter.revoke_token(&revoked_info.id).unwrap();
        let (_, to_narrow) = arbiter.mint(&pid("full"), "to narrow", None).unwrap();
        let attenuated = arbiter
            .attenuate(
                &to_narrow,
                &Attenuation {
                    operations: vec![Operation::Observe],
                    resources: vec![format!("{STORE}/other")],
                    expires: None,
                },
            )
            .unwrap();

        // Another box, with a principal of the same name.
        let other_dir = tempfile::tempdir().expect("temp dir");
        let (other_arbiter, _) = Arbiter::open(other_dir.path()).expect("other arbiter");
        other_arbiter
            .add_principal(pid("full"), PrincipalKind::Client, "same name, other box")
            .unwrap();
        let (_, other_box) = other_arbiter.mint(&pid("full"), "other box", None).unwrap();

        arbiter
            .add_principal(pid("nobody"), PrincipalKind::Client, "no grants at all")
            .unwrap();
        let (_, nobody) = arbiter.mint(&pid("nobody"), "fresh", None).unwrap();

        let m = Matrix {
            b,
            full,
            expired,
            revoked,
            attenuated,
            other_box,
            nobody,
            made: 0,
            _other_dir: other_dir,
        };
        let r = m.b.call(Method::PUT, S, "").await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        for (id, meta) in [
            ("temp", json!({"store_type": "ts"})),
            ("other", json!({"store_type": "ts"})),
            ("cfg", json!({"store_type": "kv"})),
        ] {
            let r =
                m.b.call(Method::PUT, &format!("{S}/datasources/{id}"), meta.to_string())
                    .await;
            assert!(r.status.is_success(), "{id}: {:?}", r.body);
        }
        m.seed().await;
        m
    }

    async fn owner_ok(&self, method: Method, uri: &str, body: Option<(&str, String)>) -> Resp {
        let (content_type, body) = body.unwrap_or_default();
        let r = self
            .b
            .call_as(&self.b.token, method.clone(), uri, content_type, body)
            .await;
        assert!(
            r.status.is_success(),
            "owner {method} {uri}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        r
    }

    async fn owner_json(&self, uri: &str) -> Value {
        let r = self.owner_ok(Method::GET, uri, None).await;
        serde_json::from_slice(&r.body).expect("JSON")
    }

    /// Puts the data back as the setup left it (the positive control writes and deletes).
    async fn seed(&self) {
        for (ds, seed) in [("temp", temp_seed()), ("other", other_seed())] {
            self.owner_ok(Method::DELETE, &format!("{S}/ts/{ds}/since/0"), None)
                .await;
            self.owner_ok(
                Method::POST,
                &format!("{S}/ts/{ds}/batch"),
                Some(("application/json", seed.to_string())),
            )
            .await;
        }
        self.owner_ok(Method::DELETE, &format!("{S}/kv/cfg/keys"), None)
            .await;
        self.owner_ok(
            Method::PUT,
            &format!("{S}/kv/cfg/key/a"),
            Some(("text/plain", KEPT.to_owned())),
        )
        .await;
    }

    async fn snapshot(&self) -> Snapshot {
        let len = |v: Value| v["result"].as_u64().expect("length is a count");
        Snapshot {
            temp_len: len(self.owner_json(&format!("{S}/ts/temp/length")).await),
            other_len: len(self.owner_json(&format!("{S}/ts/other/length")).await),
            temp_rows: self.owner_json(&format!("{S}/ts/temp/since/0")).await,
            other_rows: self.owner_json(&format!("{S}/ts/other/since/0")).await,
            cfg_keys: self.owner_json(&format!("{S}/kv/cfg/keys")).await,
            cfg_a: {
                // Not asserted here: a refused delete that went through must show as a difference.
                let r = self.b.fetch(&format!("{S}/kv/cfg/key/a")).await;
                (r.status, r.body)
            },
        }
    }

    fn refusals(&self) -> Vec<Record> {
        self.b
            .audit
            .query_all(&Query {
                outcome: Some(Outcome::Refused),
                ..Query::default()
            })
            .expect("audit query")
    }

    /// A new principal with these grants on `home`, and a fresh token of it.
    fn principal_with(&mut self, tag: &str, grants: &[GrantSpec<'_>]) -> (String, String) {
        self.made += 1;
        let id = format!("p{}-{tag}", self.made);
        self.b
            .arbiter
            .add_principal(pid(&id), PrincipalKind::Client, tag)
            .unwrap();
        for (op, ds, window, granularity) in grants {
            self.b
                .arbiter
                .grant(
                    &pid(&id),
                    *op,
                    &sid(),
                    ds.map(did).as_ref(),
                    *window,
                    None,
                    *granularity,
                    "matrix",
                )
                .unwrap();
        }
        let (_, token) = self.b.arbiter.mint(&pid(&id), "fresh", None).unwrap();
        (id, token)
    }

    /// The caller of one (route, case): everything right but the one thing the case is about.
    fn prepare(&mut self, route: &Route, case: Case) -> Prepared {
        let bearer = |t: &str| Some(format!("Bearer {t}"));
        let unknown = "unknown".to_owned();
        let full = "full".to_owned();
        let raw = Granularity::Raw;
        let all = (None, None);
        match case {
            Case::NoToken => Prepared {
                authorization: None,
                query: None,
                principal: unknown,
            },
            Case::Malformed => Prepared {
                authorization: Some("Bearer not-a-biscuit".into()),
                query: None,
                principal: unknown,
            },
            Case::Expired => Prepared {
                authorization: bearer(&self.expired),
                query: None,
                principal: full,
            },
            // A genuine token of this box names its principal even when it is refused.
            Case::Revoked => Prepared {
                authorization: bearer(&self.revoked),
                query: None,
                principal: full,
            },
            Case::WrongPrincipal => Prepared {
                authorization: bearer(&self.nobody),
                query: None,
                principal: "nobody".into(),
            },
            Case::WrongDatasource => {
                let (id, token) = self.principal_with("wrong-ds", &[(route.op, Some("other"), all, raw)]);
                Prepared {
                    authorization: bearer(&token),
                    query: None,
                    principal: id,
                }
            }
            Case::WrongOperation => {
                // Every operation but the one the route needs, on the right datasource.
                let grants: Vec<_> = Operation::ALL
                    .into_iter()
                    .filter(|op| *op != route.op)
                    .map(|op| (op, Some(route.ds), all, raw))
                    .collect();
                let (id, token) = self.principal_with("wrong-op", &grants);
                Prepared {
                    authorization: bearer(&token),
                    query: None,
                    principal: id,
                }
            }
            Case::FinerGranularity => {
                let (id, token) = self.principal_with(
                    "hourly",
                    &[(Operation::Read, Some(route.ds), all, Granularity::Hourly)],
                );
                Prepared {
                    authorization: bearer(&token),
                    query: None,
                    principal: id,
                }
            }
            Case::OutsideWindow => {
                let (id, token) = self.principal_with(
                    "window",
                    &[(Operation::Read, Some(route.ds), (Some(0), Some(1000)), raw)],
                );
                Prepared {
                    authorization: bearer(&token),
                    query: Some("range/5000/6000"),
                    principal: id,
                }
            }
            Case::BeyondAttenuation => Prepared {
                authorization: bearer(&self.attenuated),
                query: None,
                principal: full,
            },
            Case::OtherBox => Prepared {
                authorization: bearer(&self.other_box),
                query: None,
                principal: unknown,
            },
        }
    }

    /// Sends one (route, case) and says what, if anything, was wrong with the answer.
    async fn check(&mut self, route: &Route, case: Case) -> Result<(), String> {
        let p = self.prepare(route, case);
        let before = self.refusals();
        let uri = route.uri(p.query);
        let r = self
            .b
            .send_reading_body(
                route.request(p.authorization.as_deref(), p.query),
                !route.is_observe(),
            )
            .await;
        let after = self.refusals();
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let mut problems = Vec::new();

        let expected = case.status();
        if r.status != expected {
            problems.push(format!("answered {} instead of {expected}: {body}", r.status));
        }
        if r.status.is_success() {
            problems.push("the refused request was served".into());
        } else {
            if r.headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()) != Some(b"application/json") {
                problems.push(format!(
                    "the refusal is not application/json: {:?}",
                    r.headers.get(header::CONTENT_TYPE)
                ));
            }
            match serde_json::from_slice::<Value>(&r.body) {
                Ok(Value::Object(obj)) => {
                    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
                    if keys != BTreeSet::from(["error", "status"]) {
                        problems.push(format!("the body has other fields than error and status: {body}"));
                    }
                    if obj.get("status").and_then(Value::as_u64) != Some(r.status.as_u16() as u64) {
                        problems.push(format!("the body's status is not the answer's: {body}"));
                    }
                    if obj.get("error").and_then(Value::as_str).is_none_or(str::is_empty) {
                        problems.push(format!("the body has no error message: {body}"));
                    }
                }
                _ => problems.push(format!("the body is not a JSON object: {body}")),
            }
            if let Some(s) = SECRETS.iter().find(|s| body.contains(**s)) {
                problems.push(format!("the refusal shows data ({s}): {body}"));
            }
            if r.status == StatusCode::UNAUTHORIZED
                && r.headers.get(header::WWW_AUTHENTICATE).map(|v| v.as_bytes()) != Some(b"Bearer")
            {
                problems.push("a 401 without WWW-Authenticate: Bearer".into());
            }
        }

        if after.len() != before.len() + 1 {
            problems.push(format!(
                "{} refused audit records appended instead of 1",
                after.len() as i64 - before.len() as i64
            ));
        } else {
            let rec = after.last().expect("one more record");
            if rec.principal != p.principal {
                problems.push(format!(
                    "the audit record names {:?}, not {:?}",
                    rec.principal, p.principal
                ));
            }
            if case.before_authentication() {
                if rec.operation != "authenticate" || rec.store.is_some() {
                    problems.push(format!("unexpected audit record of a 401: {rec:?}"));
                }
            } else if rec.operation != route.op.as_str()
                || rec.store.as_deref() != Some(STORE)
                || rec.datasource.as_deref() != Some(route.ds)
            {
                problems.push(format!(
                    "the audit record does not name {} on {STORE}/{}: {rec:?}",
                    route.op.as_str(),
                    route.ds
                ));
            }
            let reason = case.reason(route);
            if !rec.detail.as_deref().is_some_and(|d| d.contains(reason)) {
                problems.push(format!(
                    "the audit record does not give the reason {reason:?}: {rec:?}"
                ));
            }
            if !body.contains(reason) {
                problems.push(format!("the refusal does not say {reason:?}: {body}"));
            }
        }

        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} ({uri}) × {}: {}",
                route.name(),
                case.name(),
                problems.join("; ")
            ))
        }
    }

    /// The positive control: the principal with every grant and a fresh token is served.
    async fn control(&self, route: &Route) -> Result<(), String> {
        let before = self.refusals().len();
        let r = self
            .b
            .send_reading_body(
                route.request(Some(&format!("Bearer {}", self.full)), None),
                !route.is_observe(),
            )
            .await;
        let after = self.refusals().len();
        let mut problems = Vec::new();
        if !r.status.is_success() {
            problems.push(format!(
                "answered {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        if route.is_observe()
            && r.headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()) != Some(b"text/event-stream")
        {
            problems.push(format!(
                "the stream is not text/event-stream: {:?}",
                r.headers.get(header::CONTENT_TYPE)
            ));
        }
        if after != before {
            problems.push("a refused audit record was appended for an allowed request".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} × positive control: {}",
                route.name(),
                problems.join("; ")
            ))
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The matrix
// ------------------------------------------------------------------------------------------------

#[test]
fn the_generated_routes_cover_every_data_route_of_the_access_table() {
    let routes = data_routes();
    assert!(!routes.is_empty(), "ROUTES has no data routes");
    let covered: BTreeSet<usize> = routes.iter().map(|r| r.row).collect();
    let data_rows: BTreeSet<usize> = ROUTES
        .iter()
        .enumerate()
        .filter(|(_, (_, _, need))| matches!(need, Need::Data(_)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(covered, data_rows);
    for r in &routes {
        // Every route has a concrete path and a body that fits it.
        let _ = r.uri(None);
        let _ = r.body();
    }
    // The cases were written for these operations; a route needing another one (export,
    // actuate) needs a look at them (wrong operation, granularity, window) before it joins.
    let ops: BTreeSet<Operation> = routes.iter().map(|r| r.op).collect();
    assert_eq!(
        ops,
        BTreeSet::from([Operation::Read, Operation::Observe, Operation::Write])
    );
}

#[tokio::test]
async fn every_data_route_refuses_every_wrong_caller_audits_it_and_changes_nothing() {
    let routes = data_routes();
    assert!(!routes.is_empty());
    let covered: BTreeSet<usize> = routes.iter().map(|r| r.row).collect();
    assert_eq!(
        covered.len(),
        ROUTES
            .iter()
            .filter(|(_, _, n)| matches!(n, Need::Data(_)))
            .count()
    );

    let mut m = Matrix::new().await;
    let original = m.snapshot().await;
    assert_eq!(original.temp_len, 4);
    assert_eq!(original.other_len, 2);
    assert_eq!(original.cfg_keys, json!(["a"]));
    assert_eq!(original.cfg_a, (StatusCode::OK, Bytes::from(KEPT)));

    let mut failures: Vec<(String, String, String)> = Vec::new();
    let mut pairs = 0usize;
    let mut skipped = 0usize;
    let mut controls = 0usize;
    for route in &routes {
        for case in Case::ALL {
            if !case.applies(route) {
                skipped += 1;
                continue;
            }
            pairs += 1;
            if let Err(e) = m.check(route, case).await {
                failures.push((route.method.to_string(), route.pattern.to_owned(), e));
            }
        }
        // Nothing the refused requests asked for was written or deleted.
        let now = m.snapshot().await;
        if now != original {
            failures.push((
                route.method.to_string(),
                route.pattern.to_owned(),
                format!(
                    "{}: refused requests changed the data: {now:?} (was {original:?})",
                    route.name()
                ),
            ));
            // Put it back, so that the control below starts from the setup's data.
            m.seed().await;
        }
        // The same route, asked rightly, is served: the refusals were not accidental.
        controls += 1;
        if let Err(e) = m.control(route).await {
            failures.push((route.method.to_string(), route.pattern.to_owned(), e));
        }
        m.seed().await;
        assert_eq!(m.snapshot().await, original, "the data could not be restored");
    }

    eprintln!(
        "matrix: {} data routes, {pairs} (route, case) refusals checked, {skipped} not applicable, \
         {controls} positive controls",
        routes.len()
    );
    assert_eq!(pairs + skipped, routes.len() * Case::ALL.len());

    let is_known = |method: &str, pattern: &str, msg: &str| {
        KNOWN_FAILURES
            .iter()
            .any(|(m, p, c, _)| *m == method && *p == pattern && msg.contains(&format!(" × {c}:")))
    };
    let unexpected: Vec<&String> = failures
        .iter()
        .filter(|(m, p, msg)| !is_known(m, p, msg))
        .map(|(_, _, msg)| msg)
        .collect();
    let fixed: Vec<String> = KNOWN_FAILURES
        .iter()
        .filter(|(m, p, c, _)| {
            !failures
                .iter()
                .any(|(fm, fp, msg)| fm == m && fp == p && msg.contains(&format!(" × {c}:")))
        })
        .map(|(m, p, c, why)| format!("{m} {p} × {c} ({why})"))
        .collect();
    for (m, p, c, why) in KNOWN_FAILURES {
        eprintln!("known failure: {m} {p} × {c}: {why}");
    }
    assert!(
        unexpected.is_empty(),
        "{} of {pairs} refusals (and {controls} controls) went wrong:\n{}",
        unexpected.len(),
        unexpected
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        fixed.is_empty(),
        "known failures that now pass; remove them from KNOWN_FAILURES:\n{}",
        fixed.join("\n")
    );
}
