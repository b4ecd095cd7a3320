//! Hypercat catalogues: the root `/cat` linking every store, and each store's own.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::{Extension, Json};
use databox_arbiter::Caller;
use databox_store::catalogue::{self, Search};
use serde_json::Value;

use super::store;
use crate::extract::{Params, Segments};
use crate::{ApiError, AppState};

/// The box's origin as the client addressed it, for absolute hrefs; empty (relative hrefs) when
/// the Host header is missing or odd.
fn origin(headers: &HeaderMap) -> String {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .map(|h| format!("http://{h}"))
        .unwrap_or_default()
}

fn store_url(origin: &str, id: &str) -> String {
    format!("{origin}/api/v1/stores/{id}")
}

/// The root catalogue: one item per store, linking its catalogue. With `href`, `rel` or `val`
/// (Hypercat simple search) it searches every store's items and the datasources within them.
#[utoipa::path(get, path = "/cat", tag = "catalogue",
    params(("href" = Option<String>, Query,), ("rel" = Option<String>, Query,), ("val" = Option<String>, Query,)),
    responses((status = 200, description = "application/vnd.hypercat.catalogue+json", body = Object)))]
pub async fn root(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Params(search): Params<Search>,
) -> Json<Value> {
    let origin = origin(&headers);
    let mut items = Vec::new();
    // A principal sees only the stores and datasources it holds grants for.
    for s in state
        .stores
        .list()
        .into_iter()
        .filter(|s| state.arbiter.can_see(&caller, s.id(), None))
    {
        let url = store_url(&origin, s.id().as_str());
        items.push(catalogue::store_item(&url, s.id().as_str(), s.description()));
        if !search.is_empty() {
            items.extend(
                s.datasources()
                    .iter()
                    .filter(|d| visible(&state, &caller, &s, d))
                    .map(|d| catalogue::datasource_item(&url, s.id().as_str(), d)),
            );
        }
    }
    items.retain(|i| search.matches(i));
    Json(catalogue::catalogue("Databox root catalogue", items))
}

/// A store's catalogue: one item per datasource with its Hypercat metadata; supports simple search.
#[utoipa::path(get, path = "/api/v1/stores/{store}/cat", tag = "catalogue",
    params(("store" = String, Path,), ("href" = Option<String>, Query,), ("rel" = Option<String>, Query,), ("val" = Option<String>, Query,)),
    responses((status = 200, body = Object), (status = 404, body = crate::ErrorBody)))]
pub async fn of_store(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    segs: Segments,
    headers: HeaderMap,
    Params(search): Params<Search>,
) -> Result<Json<Value>, ApiError> {
    let s = store(&state, &segs)?;
    if !state.arbiter.can_see(&caller, s.id(), None) {
        // The same answer as for a store that does not exist: no grant, no knowledge.
        return Err(databox_store::StoreError::UnknownStore(s.id().to_string()).into());
    }
    let url = store_url(&origin(&headers), s.id().as_str());
    let items = s
        .datasources()
        .iter()
        .filter(|d| visible(&state, &caller, &s, d))
        .map(|d| catalogue::datasource_item(&url, s.id().as_str(), d))
        .filter(|i| search.matches(i))
        .collect();
    let description = if s.description().is_empty() {
        format!("Databox store {}", s.id())
    } else {
        s.description().to_owned()
    };
    Ok(Json(catalogue::catalogue(&description, items)))
}

fn visible(
    state: &AppState,
    caller: &Caller,
    store: &databox_store::Store,
    ds: &databox_store::Datasource,
) -> bool {
    databox_store::DatasourceId::new(ds.id.clone())
        .is_ok_and(|id| state.arbiter.can_see(caller, store.id(), Some(&id)))
}
