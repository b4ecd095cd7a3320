//! Key-value datasources: put, get, list, count, delete one, delete all, observe.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use databox_store::{KvKey, KvValue};
use futures::Stream;
use serde_json::{Value, json};

use super::{blocking, deleted, store};
use crate::access::Served;
use crate::extract::{Body, NoQuery, Params, Segments};
use crate::{ApiError, AppState};

fn key(segs: &Segments) -> Result<KvKey, ApiError> {
    Ok(KvKey::new(segs.0.get(4).cloned().unwrap_or_default())?)
}

/// Store a value with its `Content-Type` (default `application/octet-stream`), answered back on
/// reads. JSON types must parse and `text/*` must be UTF-8; anything else is kept as bytes.
#[utoipa::path(put, path = "/api/v1/stores/{store}/kv/{datasource}/key/{key}", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,), ("key" = String, Path,)),
    request_body(content = Vec<u8>, description = "the value"),
    responses((status = 200, description = "{\"stored\": key, \"type\": json|text|binary}", body = Object), (status = 400, body = crate::ErrorBody)))]
pub async fn put(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(Extension<Served>, Json<Value>), ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let key = key(&segs)?;
    let content_type = match headers.get(header::CONTENT_TYPE) {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Content-Type is not ASCII".into()))?,
        ),
        None => None,
    };
    let value = KvValue::new(content_type, body.0.to_vec())?;
    let value_type = value.value_type;
    store.kv_put(&name, key.clone(), value)?.await?;
    Ok((
        Extension(Served(1)),
        Json(json!({ "stored": key.as_str(), "type": value_type })),
    ))
}

/// Read a value, with the `Content-Type` it was stored with.
#[utoipa::path(get, path = "/api/v1/stores/{store}/kv/{datasource}/key/{key}", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,), ("key" = String, Path,)),
    responses((status = 200, description = "the value"), (status = 404, body = crate::ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<Response, ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let key = key(&segs)?;
    let v = blocking(move || store.kv_get(&name, &key)).await?;
    Ok((
        Extension(Served(1)),
        [(header::CONTENT_TYPE, v.content_type)],
        v.bytes,
    )
        .into_response())
}

/// Delete one key.
#[utoipa::path(delete, path = "/api/v1/stores/{store}/kv/{datasource}/key/{key}", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,), ("key" = String, Path,)),
    responses((status = 200, description = "{\"deleted\": 1}", body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<(Extension<Served>, Json<Value>), ApiError> {
    let store = store(&state, &segs)?;
    let ack = store.kv_delete(&segs.datasource(2)?, Some(key(&segs)?))?.await?;
    deleted(ack)
}

/// List every key, sorted.
#[utoipa::path(get, path = "/api/v1/stores/{store}/kv/{datasource}/keys", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, body = Vec<String>)))]
pub async fn keys(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<(Extension<Served>, Json<Vec<String>>), ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let keys = blocking(move || store.kv_keys(&name)).await?;
    Ok((Extension(Served(keys.len() as u64)), Json(keys)))
}

/// Delete every key of the datasource.
#[utoipa::path(delete, path = "/api/v1/stores/{store}/kv/{datasource}/keys", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, description = "{\"deleted\": n}", body = Object)))]
pub async fn delete_all(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<(Extension<Served>, Json<Value>), ApiError> {
    let store = store(&state, &segs)?;
    deleted(store.kv_delete(&segs.datasource(2)?, None)?.await?)
}

/// Count the keys: `{"result": n}`.
#[utoipa::path(get, path = "/api/v1/stores/{store}/kv/{datasource}/length", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, description = "{\"result\": n}", body = Object)))]
pub async fn length(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<(Extension<Served>, Json<Value>), ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let n = blocking(move || store.kv_count(&name)).await?;
    Ok((Extension(Served(1)), Json(json!({ "result": n }))))
}

/// Observe a key-value datasource: an SSE stream of puts and deletes.
#[utoipa::path(get, path = "/api/v1/stores/{store}/kv/{datasource}/observe", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, description = "text/event-stream")))]
pub async fn observe(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    axum::Extension(caller): axum::Extension<databox_arbiter::Caller>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    store.datasource(&name)?;
    Ok(super::ts::event_stream(&state, &store, name, caller))
}
