//! Key-value datasources: put, get, list, count, delete one, delete all, observe; download (the
//! owner's dashboard).

use std::convert::Infallible;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use databox_store::{DatasourceId, KvKey, KvValue, Store, ValueType};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ts::{Chunks, Format, csv_chunk, download_file, json_chunk};
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

/// Keys read from the store for each chunk of a download (the store also stops a page at a few
/// MB of values).
const DOWNLOAD_PAGE: usize = 1000;

/// Query parameters of a key-value download.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DownloadParams {
    /// `csv` (the default) or `json`.
    pub format: Option<String>,
}

/// One key of a JSON download.
#[derive(Serialize)]
struct Entry<'a> {
    key: &'a str,
    #[serde(rename = "type")]
    value_type: ValueType,
    content_type: &'a str,
    value: Value,
}

/// A value as JSON: JSON values as they are, text as a string, bytes as a base64 string.
fn value_json(v: &KvValue) -> Value {
    match v.value_type {
        ValueType::Json => serde_json::from_slice(&v.bytes).unwrap_or(Value::Null),
        ValueType::Text => Value::String(String::from_utf8_lossy(&v.bytes).into_owned()),
        ValueType::Binary => Value::String(base64::engine::general_purpose::STANDARD.encode(&v.bytes)),
    }
}

/// A key-value datasource read page by page in key order and encoded as CSV or JSON.
struct KvChunks {
    store: Arc<Store>,
    name: DatasourceId,
    format: Format,
    after: Option<String>,
    started: bool,
    written: bool,
}

impl Chunks for KvChunks {
    fn next_chunk(&mut self) -> Result<(Bytes, bool), ApiError> {
        let page = self
            .store
            .kv_page(&self.name, self.after.as_deref(), DOWNLOAD_PAGE)?;
        let (first, last) = (!self.started, page.is_empty());
        self.started = true;
        self.after = page.last().map(|(k, _)| k.clone());
        let chunk = match self.format {
            Format::Json => {
                let entries: Vec<Entry<'_>> = page
                    .iter()
                    .map(|(key, v)| Entry {
                        key,
                        value_type: v.value_type,
                        content_type: &v.content_type,
                        value: value_json(v),
                    })
                    .collect();
                json_chunk(&entries, first, last, &mut self.written)?
            }
            Format::Csv => {
                let header = first.then(|| vec!["key".to_owned(), "value".to_owned()]);
                let rows = page
                    .iter()
                    .map(|(key, v)| vec![key.clone(), value_json(v).to_string()]);
                csv_chunk(header.into_iter().chain(rows))?
            }
        };
        Ok((chunk, last))
    }
}

/// Download every key and value of a key-value datasource as a CSV or JSON file, streamed, in key
/// order.
///
/// CSV: `key,value` with the value as JSON text (JSON values as they are, text as a JSON string,
/// binary values as a JSON string of their base64). JSON: an array of
/// `{"key", "type": "json"|"text"|"binary", "content_type", "value"}` (binary values in base64).
#[utoipa::path(get, path = "/api/v1/stores/{store}/kv/{datasource}/download", tag = "key-value",
    params(("store" = String, Path,), ("datasource" = String, Path,), DownloadParams),
    responses((status = 200, description = "the file, as an attachment `{store}-{datasource}.csv` or `.json`"),
              (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    segs: Segments,
    Params(params): Params<DownloadParams>,
) -> Result<Response, ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let format = Format::parse(params.format.as_deref())?;
    let chunks = KvChunks {
        store: store.clone(),
        name: name.clone(),
        format,
        after: None,
        started: false,
        written: false,
    };
    download_file(store.id(), &name, format, chunks).await
}
