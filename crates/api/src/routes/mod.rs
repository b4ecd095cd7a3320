//! The handlers, one module per resource.

pub mod admin;
pub mod cat;
pub mod components;
pub mod exports;
pub mod imports;
pub mod kv;
pub mod stores;
pub mod ts;

use std::sync::Arc;

use databox_store::{Store, StoreError};

use crate::{ApiError, AppState};

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("a store task failed: {e}")))?
        .map_err(ApiError::from)
}

pub(crate) fn store(state: &AppState, segs: &crate::extract::Segments) -> Result<Arc<Store>, ApiError> {
    Ok(state.stores.get(&segs.store()?)?)
}

/// The answer to a delete: `{"deleted": n}`, and `n` for the audit record.
pub(crate) fn deleted(
    ack: databox_store::WriteAck,
) -> Result<
    (
        axum::Extension<crate::access::Served>,
        axum::Json<serde_json::Value>,
    ),
    ApiError,
> {
    match ack {
        databox_store::WriteAck::Deleted(n) => Ok((
            axum::Extension(crate::access::Served(n)),
            axum::Json(serde_json::json!({ "deleted": n })),
        )),
        _ => Err(ApiError::Internal(
            "unexpected acknowledgement of a delete".into(),
        )),
    }
}
