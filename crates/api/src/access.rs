//! Access control for every route, in two layers and one table.
//!
//! - [`authenticate`] runs before routing: no valid token (or owner's dashboard session), no
//!   answer (401), even for unknown paths.
//! - [`authorize`] runs on each matched route: it looks the route up in [`ROUTES`] to learn what
//!   the route needs (the owner, any caller, or a data operation), asks the arbiter's one check,
//!   and records the outcome in the audit log: refusals, reads with their row counts, writes
//!   folded per second, observes.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use databox_arbiter::{Access, Caller, DataRequest, Denial, Operation};
use databox_audit::{Event, Outcome};
use databox_store::query::parse_read;

use crate::extract::Segments;
use crate::{ApiError, AppState};

/// What a route needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Only the owner.
    Owner,
    /// Any authenticated caller (what it sees is filtered by its grants).
    Caller,
    /// A data operation on the datasources named in the path (writes to actuators need
    /// `actuate`).
    Data(Operation),
    /// A component's pages: the owner, or a device pushing through a driver, which needs a
    /// store-wide `write` grant on the component's own store.
    Push,
}

/// Every route that is not the owner's alone, with what it needs. Routes not listed here are the
/// owner's: a new route is closed to principals until it is added.
pub const ROUTES: &[(Method, &str, Need)] = &[
    (Method::GET, "/cat", Need::Caller),
    (Method::GET, "/api/v1/openapi.json", Need::Caller),
    (Method::GET, "/api/v1/stores/{store}/cat", Need::Caller),
    (Method::POST, "/api/v1/tokens/attenuate", Need::Caller),
    (Method::GET, "/api/v1/tokens/public-key", Need::Caller),
    // The export service checks the caller's approved destinations itself.
    (Method::POST, "/api/v1/exports", Need::Caller),
    // Phones and other devices push to drivers (OwnTracks, Overland, GPSLogger send GET or POST).
    (Method::GET, "/app/{name}/{*path}", Need::Push),
    (Method::POST, "/app/{name}/{*path}", Need::Push),
    (Method::PUT, "/app/{name}/{*path}", Need::Push),
    (
        Method::POST,
        "/api/v1/stores/{store}/ts/{ds}",
        Need::Data(Operation::Write),
    ),
    (
        Method::POST,
        "/api/v1/stores/{store}/ts/{ds}/batch",
        Need::Data(Operation::Write),
    ),
    (
        Method::GET,
        "/api/v1/stores/{store}/ts/{ds}/{*query}",
        Need::Data(Operation::Read),
    ),
    (
        Method::DELETE,
        "/api/v1/stores/{store}/ts/{ds}/{*query}",
        Need::Data(Operation::Write),
    ),
    (
        Method::GET,
        "/api/v1/stores/{store}/ts/{ds}/observe",
        Need::Data(Operation::Observe),
    ),
    (
        Method::GET,
        "/api/v1/stores/{store}/kv/{ds}/keys",
        Need::Data(Operation::Read),
    ),
    (
        Method::DELETE,
        "/api/v1/stores/{store}/kv/{ds}/keys",
        Need::Data(Operation::Write),
    ),
    (
        Method::GET,
        "/api/v1/stores/{store}/kv/{ds}/length",
        Need::Data(Operation::Read),
    ),
    (
        Method::GET,
        "/api/v1/stores/{store}/kv/{ds}/observe",
        Need::Data(Operation::Observe),
    ),
    (
        Method::GET,
        "/api/v1/stores/{store}/kv/{ds}/key/{key}",
        Need::Data(Operation::Read),
    ),
    (
        Method::PUT,
        "/api/v1/stores/{store}/kv/{ds}/key/{key}",
        Need::Data(Operation::Write),
    ),
    (
        Method::DELETE,
        "/api/v1/stores/{store}/kv/{ds}/key/{key}",
        Need::Data(Operation::Write),
    ),
];

/// What a route needs, from the table.
pub fn need(method: &Method, path: &str) -> Need {
    ROUTES
        .iter()
        .find(|(m, p, _)| m == method && *p == path)
        .map(|(_, _, n)| *n)
        .unwrap_or(Need::Owner)
}

/// Set by data handlers on their response: how many rows they returned or points they wrote.
#[derive(Clone, Copy, Debug)]
pub struct Served(pub u64);

/// The token a request presents: `Authorization: Bearer <token>`; on a component's pages also HTTP
/// Basic with the token as the password (phone apps such as OwnTracks and GPSLogger can send only
/// a user and password). The rest of the API takes bearer tokens only.
fn bearer(request: &Request) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(credential.trim().to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") && request.uri().path().starts_with("/app/") {
        use base64::Engine;
        let credential = credential.trim();
        // Overland's OwnTracks mode sends the token itself after `Basic`, not base64 of
        // `user:password`.
        let password = base64::engine::general_purpose::STANDARD
            .decode(credential)
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(|text| text.split_once(':').map(|(_, p)| p.to_owned()));
        return Some(password.unwrap_or_else(|| credential.to_owned()));
    }
    None
}

fn denied(
    state: &AppState,
    d: Denial,
    operation: &str,
    store: Option<String>,
    datasource: Option<String>,
) -> Response {
    state.audit.record(Event {
        store,
        datasource,
        detail: Some(d.reason.clone()),
        outcome: Some(Outcome::Refused),
        ..Event::access(d.principal.as_deref().unwrap_or("unknown"), operation)
    });
    if d.status == 401 {
        ApiError::Unauthenticated(d.reason)
    } else {
        ApiError::Forbidden(d.reason)
    }
    .into_response()
}

/// Authenticates every request before routing: a bearer token, or else the owner's dashboard
/// session (whose changes must carry its CSRF token).
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if bearer(&request).is_none()
        && let Some(id) = crate::dashboard::session_cookie(request.headers())
    {
        let denial = |status: u16, reason: &str| Denial {
            status,
            reason: reason.to_owned(),
            principal: Some("owner".to_owned()),
        };
        return match state.arbiter.login().session(&id, databox_store::now_ms()) {
            Some(session) => {
                match crate::dashboard::change_allowed(
                    request.method(),
                    request.uri(),
                    request.headers(),
                    &session,
                ) {
                    Ok(()) => {
                        request.extensions_mut().insert(Caller::Owner);
                        next.run(request).await
                    }
                    Err(reason) => denied(&state, denial(403, reason), "authenticate", None, None),
                }
            }
            None => denied(
                &state,
                denial(401, "your dashboard session has ended: log in again"),
                "authenticate",
                None,
                None,
            ),
        };
    }
    match state.arbiter.authenticate(bearer(&request).as_deref()) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(d) => denied(&state, d, "authenticate", None, None),
    }
}

/// The store segment of an `/api/v1/stores/{store}/...` path, as sent (for audit records).
fn store_in_path(request: &Request) -> Option<String> {
    request.uri().path().split('/').nth(4).map(str::to_owned)
}

/// Authorizes a matched route with the arbiter's one check, and audits it.
pub async fn authorize(
    State(state): State<AppState>,
    matched: MatchedPath,
    request: Request,
    next: Next,
) -> Response {
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .expect("authenticate runs first");
    let need = need(request.method(), matched.as_str());
    match need {
        Need::Owner => {
            if !caller.is_owner() {
                let d = Denial {
                    status: 403,
                    reason: "only the owner may do this".into(),
                    principal: Some(caller.id().to_owned()),
                };
                return denied(&state, d, "admin", None, None);
            }
            // The owner's changes to stores and datasources are recorded too (the arbiter's
            // routes record their own, more precise events).
            let store_change =
                request.method() != Method::GET && matched.as_str().starts_with("/api/v1/stores/");
            let (method, store) = (request.method().clone(), store_in_path(&request));
            let response = next.run(request).await;
            if store_change {
                let mut e = Event::of(
                    databox_audit::Kind::Admin,
                    "owner",
                    admin_verb(&method, matched.as_str()),
                );
                e.store = store;
                e.outcome = Some(if response.status().is_success() {
                    Outcome::Ok
                } else {
                    Outcome::Failed
                });
                state.audit.record(e);
            }
            response
        }
        Need::Caller => match state.arbiter.authorize_general(&caller, "read") {
            Ok(()) => {
                let is_catalogue = matched.as_str().ends_with("/cat");
                let store = matched
                    .as_str()
                    .starts_with("/api/v1/stores/")
                    .then(|| store_in_path(&request))
                    .flatten();
                let response = next.run(request).await;
                // What a caller learns of the box is an access too: every catalogue read is
                // recorded, with the store when it is a store's catalogue.
                if is_catalogue {
                    let mut e = Event::access(caller.id(), "read catalogue");
                    e.store = store;
                    e.outcome = Some(if response.status().is_success() {
                        Outcome::Ok
                    } else {
                        Outcome::Failed
                    });
                    state.audit.record(e);
                }
                response
            }
            Err(d) => denied(&state, d, "read", None, None),
        },
        Need::Push => {
            let name = request.uri().path().split('/').nth(2).unwrap_or("").to_owned();
            let allowed = databox_store::StoreId::new(name.clone())
                .map_err(|e| e.to_string())
                .and_then(|store| {
                    state
                        .arbiter
                        .authorize_store(&caller, Operation::Write, &store)
                        .map_err(|d| d.reason)
                });
            match allowed {
                Ok(()) => next.run(request).await,
                Err(reason) => {
                    let d = Denial {
                        status: 403,
                        reason,
                        principal: Some(caller.id().to_owned()),
                    };
                    denied(&state, d, "push", Some(name), None)
                }
            }
        }
        Need::Data(op) => {
            let (mut parts, body) = request.into_parts();
            let segs = match <Segments as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                &mut parts, &state,
            )
            .await
            {
                Ok(s) => s,
                Err(e) => return e.into_response(),
            };
            let request = Request::from_parts(parts, body);
            data(state, caller, op, segs, request, next).await
        }
    }
}

async fn data(
    state: AppState,
    caller: Caller,
    op: Operation,
    segs: Segments,
    mut request: Request,
    next: Next,
) -> Response {
    let (store, datasources) = match (segs.store(), segs.datasources(2)) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    let ds_text = datasources
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(",");
    // A write to an actuator is an actuation.
    let op = if op == Operation::Write
        && state
            .stores
            .get(&store)
            .ok()
            .is_some_and(|s| datasources.iter().any(|d| s.is_actuator(d)))
    {
        Operation::Actuate
    } else {
        op
    };
    let is_series_read = op == Operation::Read && segs.0.get(1).map(String::as_str) == Some("ts");
    let read = if is_series_read {
        match parse_read(segs.rest(3)) {
            Ok(q) => Some(q),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        None
    };
    let req = DataRequest {
        operation: op,
        store: &store,
        datasources: &datasources,
        read: read.as_ref(),
    };
    let access = match state.arbiter.authorize(&caller, &req) {
        Ok(a) => a,
        Err(d) => return denied(&state, d, op.as_str(), Some(store.to_string()), Some(ds_text)),
    };
    request.extensions_mut().insert(access);
    let detail = read
        .as_ref()
        .map(databox_store::ReadQuery::describe)
        .or_else(|| (op == Operation::Observe).then(|| "stream".into()));
    let response = next.run(request).await;
    let outcome = if response.status().is_success() {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    let served = response.extensions().get::<Served>().map(|s| s.0);
    match op {
        Operation::Write | Operation::Actuate if request_is_write(&segs) => {
            state.audit.record_write(
                caller.id(),
                store.as_str(),
                &ds_text,
                served.unwrap_or(0),
                outcome,
            );
        }
        _ => state.audit.record(Event {
            store: Some(store.to_string()),
            datasource: Some(ds_text),
            detail: detail.or_else(|| segs.0.get(3).cloned().filter(|s| s == "keys" || s == "length")),
            count: served,
            outcome: Some(outcome),
            ..Event::access(caller.id(), op.as_str())
        }),
    }
    response
}

/// The owner's store changes in plain words, for the audit log and the statement.
fn admin_verb(method: &Method, path: &str) -> &'static str {
    match (method.as_str(), path.rsplit('/').next().unwrap_or("")) {
        ("PUT", "{store}") => "create a store",
        ("DELETE", "{store}") => "erase a store",
        ("PUT", "{ds}") => "create or describe a datasource",
        ("DELETE", "{ds}") => "remove a datasource",
        ("PUT", "retention") => "set a retention",
        ("DELETE", "retention") => "clear a retention",
        _ => "change a store",
    }
}

/// Writes of points are folded per second; deletes and key-value changes are recorded one by one.
fn request_is_write(segs: &Segments) -> bool {
    segs.0.get(1).map(String::as_str) == Some("ts")
        && segs.0.len() <= 4
        && segs.0.get(3).is_none_or(|s| s == "batch")
}

/// The access the authorize layer granted (the owner's when none was recorded).
pub fn access_of(request_access: Option<&Access>) -> Access {
    request_access.cloned().unwrap_or(Access { window: None })
}
