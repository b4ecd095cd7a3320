//! The owner's administration of access: principals, grants, tokens, and the audit log with its
//! verification, live tail and monthly statement. Every change is itself audited.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use databox_arbiter::{
    Attenuation, Caller, Grant, Granularity, Operation, Principal, PrincipalId, PrincipalKind, TokenInfo,
};
use databox_audit::{Event, Kind, Query, Record, VerifyReport};
use databox_store::{DatasourceId, StoreId};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::extract::{Body, LastSegment, NoQuery, Params};
use crate::{ApiError, AppState};

fn invalid(e: databox_arbiter::ArbiterError) -> ApiError {
    use databox_arbiter::ArbiterError as E;
    match e {
        E::NotFound(m) => ApiError::NotFound(m),
        E::Conflict(m) => ApiError::Conflict(m),
        E::Io { .. } => ApiError::Internal(e.to_string()),
        other => ApiError::BadRequest(other.to_string()),
    }
}

fn admin_event(state: &AppState, kind: Kind, operation: &str, detail: String) {
    let mut e = Event::of(kind, "owner", operation);
    e.detail = Some(detail);
    state.audit.record(e);
}

/// A new principal.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrincipal {
    /// `app`, `driver` or `client`.
    pub kind: String,
    /// What it is, in the owner's words.
    #[serde(default)]
    pub description: String,
}

/// Every principal.
#[utoipa::path(get, path = "/api/v1/principals", tag = "access", responses((status = 200, body = Vec<Object>)))]
pub async fn principals(State(state): State<AppState>, _: Params<NoQuery>) -> Json<Vec<Principal>> {
    Json(state.arbiter.principals())
}

/// Register a principal: an app, a driver, or an external client.
#[utoipa::path(put, path = "/api/v1/principals/{id}", tag = "access", params(("id" = String, Path,)),
    request_body = NewPrincipal, responses((status = 201, body = Object), (status = 409, body = crate::ErrorBody)))]
pub async fn add_principal(
    State(state): State<AppState>,
    LastSegment(id): LastSegment,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Principal>), ApiError> {
    let req: NewPrincipal = body.json()?;
    let id = PrincipalId::new(id).map_err(invalid)?;
    let kind = PrincipalKind::parse(&req.kind).map_err(invalid)?;
    let p = state
        .arbiter
        .add_principal(id.clone(), kind, &req.description)
        .map_err(invalid)?;
    admin_event(
        &state,
        Kind::PrincipalAdded,
        "add a principal",
        format!("{id} ({})", req.kind),
    );
    Ok((StatusCode::CREATED, Json(p)))
}

/// Remove a principal, its grants and its tokens.
#[utoipa::path(delete, path = "/api/v1/principals/{id}", tag = "access", params(("id" = String, Path,)),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn remove_principal(
    State(state): State<AppState>,
    LastSegment(id): LastSegment,
    _: Params<NoQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = PrincipalId::new(id).map_err(invalid)?;
    state.arbiter.remove_principal(&id).map_err(invalid)?;
    admin_event(
        &state,
        Kind::PrincipalRemoved,
        "remove a principal",
        id.to_string(),
    );
    Ok(Json(json!({ "removed": id.as_str() })))
}

/// Filter of the grant listing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantFilter {
    /// Only this principal's.
    pub principal: Option<String>,
}

/// Every grant, or one principal's.
#[utoipa::path(get, path = "/api/v1/grants", tag = "access", params(("principal" = Option<String>, Query,)),
    responses((status = 200, body = Vec<Object>)))]
pub async fn grants(State(state): State<AppState>, Params(f): Params<GrantFilter>) -> Json<Vec<Grant>> {
    Json(state.arbiter.grants(f.principal.as_deref()))
}

/// A new grant.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// Who.
    pub principal: String,
    /// read, observe, write, actuate or export.
    pub operation: String,
    /// Which store.
    pub store: String,
    /// Which datasource; omit for every datasource of the store.
    pub datasource: Option<String>,
    /// The oldest data it may see (epoch ms).
    pub since: Option<i64>,
    /// The newest data it may see (epoch ms).
    pub until: Option<i64>,
    /// When the grant ends (epoch ms).
    pub expires: Option<i64>,
    /// raw (default), aggregates or hourly.
    pub granularity: Option<String>,
    /// Why.
    #[serde(default)]
    pub purpose: String,
}

/// Give a grant.
#[utoipa::path(post, path = "/api/v1/grants", tag = "access", request_body = NewGrant,
    responses((status = 201, body = Object), (status = 400, body = crate::ErrorBody)))]
pub async fn add_grant(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Grant>), ApiError> {
    let g: NewGrant = body.json()?;
    let principal = PrincipalId::new(g.principal).map_err(invalid)?;
    let store = StoreId::new(g.store)?;
    let datasource = g.datasource.map(DatasourceId::new).transpose()?;
    let granularity = Granularity::parse(g.granularity.as_deref().unwrap_or("raw")).map_err(invalid)?;
    let op = Operation::parse(&g.operation).map_err(invalid)?;
    let grant = state
        .arbiter
        .grant(
            &principal,
            op,
            &store,
            datasource.as_ref(),
            (g.since, g.until),
            g.expires,
            granularity,
            &g.purpose,
        )
        .map_err(invalid)?;
    admin_event(
        &state,
        Kind::GrantAdded,
        "give a grant",
        format!(
            "{} may {} {}/{} ({:?}) [{}]",
            grant.principal,
            op.as_str(),
            grant.store,
            grant.datasource.as_deref().unwrap_or("*"),
            grant.granularity,
            grant.id
        ),
    );
    Ok((StatusCode::CREATED, Json(grant)))
}

/// Take a grant back: it stops working on the next request.
#[utoipa::path(delete, path = "/api/v1/grants/{id}", tag = "access", params(("id" = String, Path,)),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn revoke_grant(
    State(state): State<AppState>,
    LastSegment(id): LastSegment,
    _: Params<NoQuery>,
) -> Result<Json<Grant>, ApiError> {
    let g = state.arbiter.revoke_grant(&id).map_err(invalid)?;
    admin_event(
        &state,
        Kind::GrantRevoked,
        "take back a grant",
        format!("{} [{}]", g.principal, g.id),
    );
    Ok(Json(g))
}

/// Every token minted (never the tokens themselves).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "access", responses((status = 200, body = Vec<Object>)))]
pub async fn tokens(State(state): State<AppState>, _: Params<NoQuery>) -> Json<Vec<TokenInfo>> {
    Json(state.arbiter.tokens())
}

/// A token to mint.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// For whom.
    pub principal: String,
    /// What for.
    #[serde(default)]
    pub description: String,
    /// When it expires (epoch ms).
    pub expires: Option<i64>,
}

/// A minted token, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Minted {
    /// Its id, to list or revoke it.
    pub id: String,
    /// The token: give it to the principal; the box keeps no copy.
    pub token: String,
}

/// Mint a token for a principal.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "access", request_body = NewToken,
    responses((status = 201, body = Minted), (status = 404, body = crate::ErrorBody)))]
pub async fn mint(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Minted>), ApiError> {
    let t: NewToken = body.json()?;
    let principal = PrincipalId::new(t.principal).map_err(invalid)?;
    let (info, token) = state
        .arbiter
        .mint(&principal, &t.description, t.expires)
        .map_err(invalid)?;
    admin_event(
        &state,
        Kind::TokenMinted,
        "mint a token",
        format!("{} for {}", info.id, info.principal),
    );
    Ok((StatusCode::CREATED, Json(Minted { id: info.id, token })))
}

/// How to narrow a token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Narrowing {
    /// The token to narrow.
    pub token: String,
    /// Only these operations.
    #[serde(default)]
    pub operations: Vec<String>,
    /// Only these datasources: `store/datasource` or `store/*`.
    #[serde(default)]
    pub datasources: Vec<String>,
    /// Only until this time (epoch ms).
    pub expires: Option<i64>,
}

/// Narrow a token (any holder may; it can also be done offline with the box's public key).
#[utoipa::path(post, path = "/api/v1/tokens/attenuate", tag = "access", request_body = Narrowing,
    responses((status = 200, body = Object), (status = 400, body = crate::ErrorBody)))]
pub async fn attenuate(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let n: Narrowing = body.json()?;
    let operations = n
        .operations
        .iter()
        .map(|o| Operation::parse(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let a = Attenuation {
        operations,
        resources: n.datasources,
        expires: n.expires,
    };
    let token = state.arbiter.attenuate(&n.token, &a).map_err(invalid)?;
    Ok(Json(json!({ "token": token })))
}

/// The box's public key for tokens (hex): with it a holder narrows a token offline.
#[utoipa::path(get, path = "/api/v1/tokens/public-key", tag = "access", responses((status = 200, body = Object)))]
pub async fn public_key(State(state): State<AppState>, _: Params<NoQuery>) -> Json<Value> {
    Json(json!({ "public_key": state.arbiter.public_key().to_bytes_hex(), "algorithm": "ed25519" }))
}

/// Revoke a minted token by id: it and every token narrowed from it stop working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "access", params(("id" = String, Path,)),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    LastSegment(id): LastSegment,
    _: Params<NoQuery>,
) -> Result<Json<Value>, ApiError> {
    let revoked = state.arbiter.revoke_token(&id).map_err(invalid)?;
    admin_event(&state, Kind::TokenRevoked, "revoke a token", revoked.clone());
    Ok(Json(json!({ "revoked": revoked })))
}

/// Revoke a token given in full (also a narrowed one, leaving its parent working).
#[utoipa::path(post, path = "/api/v1/tokens/revoke", tag = "access", request_body(content = Object, description = "{\"token\": \"...\"}"),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn revoke_token_string(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Revoke {
        token: String,
    }
    let r: Revoke = body.json()?;
    let revoked = state.arbiter.revoke_token(&r.token).map_err(invalid)?;
    admin_event(&state, Kind::TokenRevoked, "revoke a token", revoked.clone());
    Ok(Json(json!({ "revoked": revoked })))
}

/// Query the audit log: by principal, store, datasource, operation, outcome, kind and time.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(("principal" = Option<String>, Query,), ("store" = Option<String>, Query,), ("datasource" = Option<String>, Query,),
           ("operation" = Option<String>, Query,), ("outcome" = Option<String>, Query,), ("kind" = Option<String>, Query,),
           ("since" = Option<i64>, Query,), ("until" = Option<i64>, Query,), ("limit" = Option<usize>, Query,)),
    responses((status = 200, body = Vec<Object>)))]
pub async fn audit_query(
    State(state): State<AppState>,
    Params(q): Params<Query>,
) -> Result<Json<Vec<Record>>, ApiError> {
    let audit = state.audit.clone();
    let records = tokio::task::spawn_blocking(move || audit.query(&q))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(records))
}

/// Verify the audit chain and its signatures; names the first bad record.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", responses((status = 200, body = Object)))]
pub async fn audit_verify(
    State(state): State<AppState>,
    _: Params<NoQuery>,
) -> Result<Json<VerifyReport>, ApiError> {
    let audit = state.audit.clone();
    let report = tokio::task::spawn_blocking(move || {
        audit.sync();
        databox_audit::verify(audit.dir())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(report))
}

/// Every new audit record, as Server-Sent Events, until the client goes away.
#[utoipa::path(get, path = "/api/v1/audit/tail", tag = "audit", responses((status = 200, description = "text/event-stream")))]
pub async fn audit_tail(
    State(state): State<AppState>,
    _: Params<NoQuery>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let stream = BroadcastStream::new(state.audit.subscribe()).filter_map(|r| match r {
        Ok(r) => Some(Ok(SseEvent::default()
            .event("record")
            .json_data(&*r)
            .unwrap_or_default())),
        Err(_) => Some(Ok(SseEvent::default()
            .event("lagged")
            .data("records were skipped"))),
    });
    Sse::new(futures::StreamExt::take_until(stream, state.closed())).keep_alive(KeepAlive::default())
}

/// Which month.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Month {
    /// `YYYY-MM`.
    pub month: String,
}

/// The monthly statement, in plain language (text/plain).
#[utoipa::path(get, path = "/api/v1/statement", tag = "audit", params(("month" = String, Query, description = "YYYY-MM")),
    responses((status = 200, description = "text/plain"), (status = 400, body = crate::ErrorBody)))]
pub async fn statement(
    State(state): State<AppState>,
    Extension(_caller): Extension<Caller>,
    Params(m): Params<Month>,
) -> Result<Response, ApiError> {
    let (since, until) =
        databox_audit::month_bounds(&m.month).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let audit = state.audit.clone();
    let arbiter = state.arbiter.clone();
    let text = tokio::task::spawn_blocking(move || {
        let records = audit.query_all(&Query {
            since: Some(since),
            until: Some(until),
            ..Query::default()
        })?;
        databox_audit::statement(&records, &m.month, &|p| arbiter.describe(p))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}
