//! The owner's imports of export files (Apple Health, Google location history) lying on the box's
//! machine: start one, watch its progress, stop it, resume it. Owner only (none is in
//! [`crate::access::ROUTES`]): an import reads a path of the box's own file system.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use databox_import::ImportError;
use databox_import::job::{Format, Imports, Job};
use serde::Deserialize;

use crate::extract::{Body, NoQuery, Params};
use crate::{ApiError, AppState};

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> ApiError {
        match e {
            ImportError::Io { .. } | ImportError::Format(_) => ApiError::BadRequest(e.to_string()),
            ImportError::Store(s) => s.into(),
            ImportError::Stopped => ApiError::Conflict(e.to_string()),
        }
    }
}

fn imports(state: &AppState) -> Result<&Imports, ApiError> {
    state
        .imports
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this box runs no importers".into()))
}

/// An import to start.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewImport {
    /// `apple-health` or `google`.
    pub format: String,
    /// The export file (or, for Google, a folder) on the box's machine.
    pub path: String,
    /// The store to import into (the format's own store by default).
    pub store: Option<String>,
}

/// Every import, newest first.
pub async fn list(State(state): State<AppState>, _: Params<NoQuery>) -> Result<Json<Vec<Job>>, ApiError> {
    Ok(Json(imports(&state)?.list()))
}

/// Starts an import; answers at once with the running job.
pub async fn start(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Job>), ApiError> {
    let req: NewImport = body.json()?;
    let format = Format::parse(&req.format)?;
    let imports = imports(&state)?.clone();
    let job = tokio::task::spawn_blocking(move || {
        imports.start(format, std::path::Path::new(&req.path), req.store.as_deref())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// One import, with its progress.
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Params<NoQuery>,
) -> Result<Json<Job>, ApiError> {
    imports(&state)?
        .get(&id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no import {id}")))
}

/// `stop` or `resume`.
pub async fn act(
    State(state): State<AppState>,
    Path((id, action)): Path<(String, String)>,
    _: Params<NoQuery>,
) -> Result<Json<Job>, ApiError> {
    let imports = imports(&state)?.clone();
    if imports.get(&id).is_none() {
        return Err(ApiError::NotFound(format!("no import {id}")));
    }
    match action.as_str() {
        "stop" => imports.stop(&id).map_err(|e| ApiError::Conflict(e.to_string()))?,
        "resume" => {
            let i = imports.clone();
            let id2 = id.clone();
            tokio::task::spawn_blocking(move || i.resume(&id2))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
                .map_err(|e| ApiError::Conflict(e.to_string()))?;
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no action {other:?} on an import: use stop or resume"
            )));
        }
    }
    Ok(Json(imports.get(&id).expect("exists")))
}
