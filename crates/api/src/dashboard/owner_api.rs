//! Owner routes the dashboard needs beyond the rest of the API: the box's status, QR codes,
//! one-time login links, the password, and the catalogue of first-party components.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use databox_audit::{Event, Kind, Outcome};
use databox_runtime::InstallRequest;
use databox_runtime::supervisor::Review;
use serde::{Deserialize, Serialize};

use crate::extract::{Body, NoQuery, Params};
use crate::{ApiError, AppState};

/// A component shipped inside the box, installable by name.
#[derive(Clone, Copy)]
pub struct FirstParty {
    /// Its name (as in its manifest).
    pub name: &'static str,
    /// Its manifest (TOML).
    pub manifest: &'static str,
    /// The built component.
    pub wasm: &'static [u8],
}

/// The dashboard's owner routes (all behind the API's authentication and the owner check).
pub fn owner_api() -> Router<AppState> {
    Router::new()
        .route("/api/v1/box", get(status))
        .route("/api/v1/qr", post(qr))
        .route("/api/v1/owner/login-link", post(login_link))
        .route("/api/v1/owner/password", put(password))
        .route("/api/v1/components/available", get(available))
        .route(
            "/api/v1/components/available/{name}/review",
            post(review_first_party),
        )
        .route(
            "/api/v1/components/available/{name}/install",
            post(install_first_party),
        )
}

/// The box at a glance.
#[derive(Serialize)]
pub struct BoxStatus {
    /// This build's version.
    pub version: &'static str,
    /// Bytes used on the disk holding the box's data.
    pub disk_used_bytes: u64,
    /// Size of that disk.
    pub disk_total_bytes: u64,
    /// Whether the disk is nearly full (90% or more).
    pub disk_nearly_full: bool,
    /// Exports waiting for the owner's decision.
    pub exports_waiting: usize,
    /// Whether the owner has a dashboard password.
    pub password_set: bool,
    /// What went wrong reading the installed components at start, if anything did.
    pub components_problem: Option<String>,
}

async fn status(State(state): State<AppState>, _: Params<NoQuery>) -> Json<BoxStatus> {
    let (used, total) = databox_runtime::host::metrics::disk(state.stores.dir());
    let exports_waiting = state
        .exports
        .as_ref()
        .map(|e| e.list(Some(databox_export::ExportState::Review)).len())
        .unwrap_or(0);
    Json(BoxStatus {
        version: env!("CARGO_PKG_VERSION"),
        disk_used_bytes: used,
        disk_total_bytes: total,
        disk_nearly_full: total > 0 && used.saturating_mul(10) >= total.saturating_mul(9),
        exports_waiting,
        password_set: state.arbiter.login().has_password(),
        components_problem: state
            .components
            .as_ref()
            .and_then(|c| c.problem().map(str::to_owned)),
    })
}

/// Longest text a QR code is made for (a token with a few attenuations fits).
const MAX_QR_TEXT: usize = 2_000;

/// The body (text) as a QR code, SVG. The dashboard shows a new token this way so a phone can
/// take it without the token passing through any other service.
async fn qr(_: Params<NoQuery>, body: Body) -> Result<Response, ApiError> {
    if body.0.len() > MAX_QR_TEXT {
        return Err(ApiError::BadRequest(format!(
            "a QR code holds at most {MAX_QR_TEXT} bytes here; this text has {}",
            body.0.len()
        )));
    }
    let code = qrcode::QrCode::new(&body.0)
        .map_err(|e| ApiError::BadRequest(format!("no QR code for this text: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .build();
    let mut r = svg.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

/// A one-time login link.
#[derive(Serialize)]
pub struct LoginLink {
    /// The link's path on this box (`/login/once?code=...`), valid once for 15 minutes.
    pub path: String,
}

async fn login_link(State(state): State<AppState>, _: Params<NoQuery>) -> Json<LoginLink> {
    let code = state.arbiter.login().new_link(databox_store::now_ms());
    state
        .audit
        .record(Event::of(Kind::Admin, "owner", "make a one-time login link"));
    Json(LoginLink {
        path: format!("/login/once?code={}", code.as_str()),
    })
}

/// A new password.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    /// The current password (needed when one is set).
    #[serde(default)]
    current: String,
    /// The new one.
    new: String,
}

async fn password(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: Params<NoQuery>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let p: NewPassword = body.json()?;
    let (current, new) = (zeroize::Zeroizing::new(p.current), zeroize::Zeroizing::new(p.new));
    let keep = super::session_cookie(&headers);
    let arbiter = state.arbiter.clone();
    let result = tokio::task::spawn_blocking(move || {
        let login = arbiter.login();
        if login.has_password() {
            // Checking the current password also guards a session left open on a shared screen.
            login
                .login_with_password(&current, databox_store::now_ms())
                .map(|s| login.logout(&s.id))?
                .map_err(databox_arbiter::LoginError::from)?;
        }
        login.set_password(&new, keep.as_deref())
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut e = Event::of(Kind::Admin, "owner", "set password");
    match result {
        Ok(()) => {
            e.outcome = Some(Outcome::Ok);
            state.audit.record(e);
            Ok(StatusCode::NO_CONTENT)
        }
        Err(err) => {
            e.outcome = Some(Outcome::Refused);
            e.detail = Some(err.to_string());
            state.audit.record(e);
            Err(match err {
                databox_arbiter::LoginError::Arbiter(a) => ApiError::Internal(a.to_string()),
                databox_arbiter::LoginError::Throttled(_) | databox_arbiter::LoginError::WrongPassword => {
                    ApiError::Forbidden(err.to_string())
                }
                other => ApiError::BadRequest(other.to_string()),
            })
        }
    }
}

/// A first-party component, as the catalogue lists it.
#[derive(Serialize)]
pub struct Available {
    /// Its name.
    pub name: String,
    /// `app` or `driver`.
    pub kind: String,
    /// Its version.
    pub version: String,
    /// What it does, from its manifest.
    pub description: String,
    /// The installed version, if any.
    pub installed: Option<String>,
}

fn first_party(state: &AppState, name: &str) -> Result<FirstParty, ApiError> {
    state
        .first_party
        .iter()
        .find(|c| c.name == name)
        .copied()
        .ok_or_else(|| ApiError::NotFound(format!("no first-party component is called {name:?}")))
}

async fn available(
    State(state): State<AppState>,
    _: Params<NoQuery>,
) -> Result<Json<Vec<Available>>, ApiError> {
    let installed = state.components.as_ref().map(|c| c.list()).unwrap_or_default();
    let mut out = Vec::new();
    for c in state.first_party.iter() {
        let m = databox_runtime::Manifest::parse(c.manifest)
            .map_err(|e| ApiError::Internal(format!("the manifest of {} is damaged: {e}", c.name)))?;
        out.push(Available {
            name: m.component.name.clone(),
            kind: m.component.kind.as_str().into(),
            version: m.component.version.clone(),
            description: m.component.description.clone(),
            installed: installed
                .iter()
                .find(|i| i.name == m.component.name)
                .map(|i| i.version.clone()),
        });
    }
    Ok(Json(out))
}

fn supervisor(state: &AppState) -> Result<&databox_runtime::Supervisor, ApiError> {
    state
        .components
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this box runs no apps or drivers".into()))
}

async fn review_first_party(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: Params<NoQuery>,
) -> Result<Json<Review>, ApiError> {
    let c = first_party(&state, &name)?;
    Ok(Json(supervisor(&state)?.review(c.manifest)?))
}

async fn install_first_party(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<databox_runtime::ComponentInfo>), ApiError> {
    let c = first_party(&state, &name)?;
    let req: InstallRequest = if body.0.is_empty() {
        InstallRequest::default()
    } else {
        body.json()?
    };
    let sup = supervisor(&state)?.clone();
    let info = tokio::task::spawn_blocking(move || sup.install(c.manifest, c.wasm, &req))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok((StatusCode::CREATED, Json(info)))
}
