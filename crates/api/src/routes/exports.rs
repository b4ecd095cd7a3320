//! The owner's view of what leaves the box: every export with its state, the review queue
//! (approve or reject, with the payload shown), receipts, review mode per app, keeping copies,
//! and revoking a destination at once. Owner-only (none is in [`crate::access::ROUTES`]).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Extension, Json};
use base64::Engine;
use databox_arbiter::Caller;
use databox_export::{
    Approval, Export, ExportError, ExportService, ExportState, Receipt, Settings, Submission,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::extract::{Body, NoQuery, Params};
use crate::{ApiError, AppState};

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> ApiError {
        match e {
            ExportError::NotFound(_) => ApiError::NotFound(e.to_string()),
            ExportError::Conflict(_) => ApiError::Conflict(e.to_string()),
            ExportError::Refused(_) => ApiError::BadRequest(e.to_string()),
            ExportError::Store(s) => ApiError::Store(s),
        }
    }
}

fn service(state: &AppState) -> Result<ExportService, ApiError> {
    state
        .exports
        .clone()
        .ok_or_else(|| ApiError::Unavailable("this box runs no export service".into()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ExportError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("an export task failed: {e}")))?
        .map_err(ApiError::from)
}

/// Filter of the export list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only exports in this state: review, queued, delivered, failed, rejected, cancelled.
    pub state: Option<ExportState>,
}

/// Every export, newest first.
pub async fn list(
    State(state): State<AppState>,
    Params(p): Params<ListParams>,
) -> Result<Json<Vec<Export>>, ApiError> {
    Ok(Json(service(&state)?.list(p.state)))
}

/// One export, with its body while the box holds it (base64, and as text when it is UTF-8).
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    _: Params<NoQuery>,
) -> Result<Json<Value>, ApiError> {
    let svc = service(&state)?;
    let (export, body) = blocking(move || svc.show(&id)).await?;
    let body = body.map(|b| {
        json!({
            "content_type": b.content_type,
            "base64": base64::engine::general_purpose::STANDARD.encode(&b.bytes),
            "text": String::from_utf8(b.bytes).ok(),
        })
    });
    Ok(Json(json!({ "export": export, "body": body })))
}

/// `approve` or `reject` an export held for review.
pub async fn decide(
    State(state): State<AppState>,
    Path((id, decision)): Path<(String, String)>,
    _: Params<NoQuery>,
) -> Result<Json<Export>, ApiError> {
    let svc = service(&state)?;
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        other => {
            return Err(ApiError::NotFound(format!(
                "no decision {other:?}: use approve or reject"
            )));
        }
    };
    Ok(Json(
        blocking(move || {
            if approve {
                svc.approve(&id)
            } else {
                svc.reject(&id)
            }
        })
        .await?,
    ))
}

/// A receipt with its export's id and app.
#[derive(Serialize)]
pub struct ReceiptView {
    /// The export.
    pub id: String,
    /// The app that sent it.
    pub app: String,
    /// The receipt.
    #[serde(flatten)]
    pub receipt: Receipt,
}

/// Receipts of every delivery, newest first.
pub async fn receipts(
    State(state): State<AppState>,
    _: Params<NoQuery>,
) -> Result<Json<Vec<ReceiptView>>, ApiError> {
    Ok(Json(
        service(&state)?
            .receipts()
            .into_iter()
            .map(|(id, app, receipt)| ReceiptView { id, app, receipt })
            .collect(),
    ))
}

/// The owner's settings of the service.
pub async fn settings(State(state): State<AppState>, _: Params<NoQuery>) -> Result<Json<Settings>, ApiError> {
    Ok(Json(service(&state)?.settings()))
}

/// `{"review": true}`: the app's exports wait for the owner's approval.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    /// On or off.
    pub on: bool,
}

/// Puts an app on review, or takes it off.
pub async fn review(
    State(state): State<AppState>,
    Path(app): Path<String>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Settings>, ApiError> {
    let s: Switch = body.json()?;
    let svc = service(&state)?;
    Ok(Json(blocking(move || svc.set_review(&app, s.on)).await?))
}

/// Keeps a copy of every delivered body, or not.
pub async fn copies(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Settings>, ApiError> {
    let s: Switch = body.json()?;
    let svc = service(&state)?;
    Ok(Json(blocking(move || svc.set_keep_copies(s.on)).await?))
}

/// A destination to revoke for an app.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// The app.
    pub app: String,
    /// The destination URL or prefix.
    pub destination: String,
}

/// Revokes a destination for an app at once; exports to it not yet sent are cancelled.
pub async fn revoke(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let r: Revoke = body.json()?;
    let svc = service(&state)?;
    let n = blocking(move || svc.revoke(&r.app, &r.destination)).await?;
    Ok(Json(json!({ "cancelled": n })))
}

/// Where an external client sends its body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitParams {
    /// The destination URL (approved by the owner for this client).
    pub destination: String,
}

/// An external client asks the box to send the request body (with its `Content-Type`) to a
/// destination the owner approved for it. Answers 202 with the queued (or held) export.
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Params(p): Params<SubmitParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Export>), ApiError> {
    let svc = service(&state)?;
    let principal = caller.id().to_owned();
    let Some(approval) = svc.approval_for(&principal, &p.destination) else {
        let mut ev = databox_audit::Event::access(&principal, "export");
        ev.detail = Some(format!(
            "{} is not a destination the owner approved",
            p.destination
        ));
        ev.outcome = Some(databox_audit::Outcome::Refused);
        state.audit.record(ev);
        return Err(ApiError::Forbidden(format!(
            "{} is not a destination the owner approved for {principal}",
            p.destination
        )));
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let export = blocking(move || {
        svc.submit(&Submission {
            app: &principal,
            destination: &p.destination,
            grant: &format!("approved by the owner for {principal}: {}", approval.destination),
            content_type: &content_type,
            body: &body.0,
            max_bytes: approval.max_bytes,
            per_hour: approval.per_hour,
        })
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(export)))
}

/// Approves a destination for an external client.
pub async fn allow(
    State(state): State<AppState>,
    Path(principal): Path<String>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Settings>, ApiError> {
    let approval: Approval = body.json()?;
    let principal =
        databox_arbiter::PrincipalId::new(principal).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    if !state.arbiter.principals().iter().any(|p| p.id == principal) {
        return Err(ApiError::NotFound(format!("no principal {principal}")));
    }
    let svc = service(&state)?;
    Ok(Json(
        blocking(move || svc.allow(principal.as_str(), approval)).await?,
    ))
}
