//! Stores and their datasources: create, list, describe, erase, retention.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use databox_store::{Datasource, DatasourceMeta, Retention, StoreId, WriteAck};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{blocking, store};
use crate::extract::{Body, NoQuery, Params, Segments};
use crate::{ApiError, AppState};

/// A store in a listing.
#[derive(Serialize, utoipa::ToSchema)]
pub struct StoreSummary {
    /// Its id.
    pub id: String,
    /// Its description.
    pub description: String,
    /// Its datasources.
    #[schema(value_type = Vec<Object>)]
    pub datasources: Vec<Datasource>,
    /// Why the store could not be opened, for a store that is unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// The body that creates a store.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStore {
    /// What the store holds, for the owner.
    #[serde(default)]
    pub description: String,
}

fn summary(s: &databox_store::Store) -> StoreSummary {
    StoreSummary {
        id: s.id().to_string(),
        description: s.description().to_owned(),
        datasources: s.datasources(),
        unavailable: None,
    }
}

/// List every store with its datasources; a store that could not be opened is listed with the
/// reason under `unavailable`.
#[utoipa::path(get, path = "/api/v1/stores", tag = "stores", responses((status = 200, body = Vec<StoreSummary>)))]
pub async fn list(State(state): State<AppState>, _: Params<NoQuery>) -> Json<Vec<StoreSummary>> {
    let mut all: Vec<StoreSummary> = state.stores.list().iter().map(|s| summary(s)).collect();
    all.extend(
        state
            .stores
            .unavailable()
            .into_iter()
            .map(|(id, reason)| StoreSummary {
                id,
                description: String::new(),
                datasources: Vec::new(),
                unavailable: Some(reason),
            }),
    );
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Json(all)
}

/// Create a store: a new encrypted file with its own key.
#[utoipa::path(put, path = "/api/v1/stores/{store}", tag = "stores", params(("store" = String, Path,)),
    request_body(content = NewStore),
    responses((status = 201, body = StoreSummary), (status = 409, body = crate::ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<StoreSummary>), ApiError> {
    let id: StoreId = segs.store()?;
    let req: NewStore = if body.0.is_empty() {
        NewStore::default()
    } else {
        body.json()?
    };
    let stores = state.stores.clone();
    let s = blocking(move || stores.create(&id, &req.description)).await?;
    Ok((StatusCode::CREATED, Json(summary(&s))))
}

/// One store.
#[utoipa::path(get, path = "/api/v1/stores/{store}", tag = "stores", params(("store" = String, Path,)),
    responses((status = 200, body = StoreSummary), (status = 404, body = crate::ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<Json<StoreSummary>, ApiError> {
    let s = store(&state, &segs)?;
    Ok(Json(summary(&s)))
}

/// Erase a store: its key is destroyed, then its file; the data cannot be recovered.
#[utoipa::path(delete, path = "/api/v1/stores/{store}", tag = "stores", params(("store" = String, Path,)),
    responses((status = 200, description = "{\"erased\": id}", body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn erase(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = segs.store()?;
    let stores = state.stores.clone();
    let shown = id.to_string();
    blocking(move || stores.erase(&id)).await?;
    Ok(Json(json!({ "erased": shown })))
}

/// Create a datasource, or update its description (its kind cannot change).
#[utoipa::path(put, path = "/api/v1/stores/{store}/datasources/{datasource}", tag = "stores",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    request_body(content = Object, description = "{\"store_type\": \"ts\"|\"ts/blob\"|\"kv\", \"description\", \"type\", \"unit\", \"location\", \"vendor\", \"actuator\"}"),
    responses((status = 200, body = Object), (status = 409, body = crate::ErrorBody)))]
pub async fn put_datasource(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Datasource>, ApiError> {
    let store = store(&state, &segs)?;
    let meta: DatasourceMeta = body.json()?;
    match store.upsert_datasource(segs.datasource(2)?, meta)?.await? {
        WriteAck::Datasource(d) => Ok(Json(d)),
        _ => Err(ApiError::Internal("unexpected acknowledgement".into())),
    }
}

/// One datasource's description and retention.
#[utoipa::path(get, path = "/api/v1/stores/{store}/datasources/{datasource}", tag = "stores",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn get_datasource(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<Json<Datasource>, ApiError> {
    Ok(Json(store(&state, &segs)?.datasource(&segs.datasource(2)?)?))
}

/// The datasources of a store.
#[utoipa::path(get, path = "/api/v1/stores/{store}/datasources", tag = "stores", params(("store" = String, Path,)),
    responses((status = 200, body = Vec<Object>)))]
pub async fn list_datasources(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<Json<Vec<Datasource>>, ApiError> {
    Ok(Json(store(&state, &segs)?.datasources()))
}

/// Remove a datasource and all of its data.
#[utoipa::path(delete, path = "/api/v1/stores/{store}/datasources/{datasource}", tag = "stores",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn delete_datasource(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<Json<Value>, ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    store.drop_datasource(&name)?.await?;
    Ok(Json(json!({ "removed": name.as_str() })))
}

/// Set a series' retention: keep `keep_days` days of raw points; with `downsample_hourly`, older
/// numeric points are first folded into hourly count/sum/min/max readable under `hourly/`.
#[utoipa::path(put, path = "/api/v1/stores/{store}/datasources/{datasource}/retention", tag = "stores",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    request_body(content = Object, description = "{\"keep_days\": 30, \"downsample_hourly\": true}"),
    responses((status = 200, body = Object), (status = 400, body = crate::ErrorBody)))]
pub async fn put_retention(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Datasource>, ApiError> {
    let store = store(&state, &segs)?;
    let retention: Retention = body.json()?;
    retention_ack(
        store
            .set_retention(&segs.datasource(2)?, Some(retention))?
            .await?,
    )
}

/// Remove a series' retention (keep everything).
#[utoipa::path(delete, path = "/api/v1/stores/{store}/datasources/{datasource}/retention", tag = "stores",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, body = Object)))]
pub async fn delete_retention(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<Json<Datasource>, ApiError> {
    let store = store(&state, &segs)?;
    retention_ack(store.set_retention(&segs.datasource(2)?, None)?.await?)
}

fn retention_ack(ack: WriteAck) -> Result<Json<Datasource>, ApiError> {
    match ack {
        WriteAck::Datasource(d) => Ok(Json(d)),
        _ => Err(ApiError::Internal("unexpected acknowledgement".into())),
    }
}
