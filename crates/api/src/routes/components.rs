//! The owner's apps and drivers: review a manifest, install (or upgrade), start, stop, restart,
//! uninstall, list, logs; and each component's own pages at `/app/{name}/...`, passed to its HTTP
//! handler. Every route here is the owner's alone (none is in [`crate::access::ROUTES`]).

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use databox_runtime::supervisor::{LogLine, Review};
use databox_runtime::{ComponentInfo, InstallRequest, Supervisor, SupervisorError};
use serde::Deserialize;

use crate::extract::{Body, MAX_BODY, NoQuery, Params};
use crate::{ApiError, AppState};

impl From<SupervisorError> for ApiError {
    fn from(e: SupervisorError) -> ApiError {
        use databox_runtime::install::InstallError;
        match e {
            SupervisorError::NotFound(_) => ApiError::NotFound(e.to_string()),
            SupervisorError::Invalid(_) | SupervisorError::Run(_) => ApiError::BadRequest(e.to_string()),
            SupervisorError::NeedsApproval(_) => ApiError::Conflict(e.to_string()),
            SupervisorError::NotRunning(_) => ApiError::Unavailable(e.to_string()),
            SupervisorError::Install(InstallError::Choice(_)) => ApiError::BadRequest(e.to_string()),
            SupervisorError::Install(InstallError::Arbiter(databox_arbiter::ArbiterError::Conflict(_))) => {
                ApiError::Conflict(e.to_string())
            }
            SupervisorError::Install(_) => ApiError::BadRequest(e.to_string()),
            SupervisorError::Io { .. } => ApiError::Internal(e.to_string()),
        }
    }
}

fn components(state: &AppState) -> Result<&Supervisor, ApiError> {
    state
        .components
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this box runs no apps or drivers".into()))
}

/// A component to install, with the owner's choices.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// The manifest (TOML).
    pub manifest: String,
    /// The component, base64.
    pub wasm_base64: String,
    /// The owner's choices.
    #[serde(flatten)]
    pub choices: InstallRequest,
}

/// Every installed app and driver with its state.
pub async fn list(
    State(state): State<AppState>,
    _: Params<NoQuery>,
) -> Result<Json<Vec<ComponentInfo>>, ApiError> {
    Ok(Json(components(&state)?.list()))
}

/// What installing a manifest (the body, TOML) would mean, and which datasources could serve it.
pub async fn review(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<Json<Review>, ApiError> {
    let text =
        std::str::from_utf8(&body.0).map_err(|_| ApiError::BadRequest("the manifest is not UTF-8".into()))?;
    Ok(Json(components(&state)?.review(text)?))
}

/// Install or upgrade a component.
pub async fn install(
    State(state): State<AppState>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<ComponentInfo>), ApiError> {
    let req: Install = body.json()?;
    let wasm = base64::engine::general_purpose::STANDARD
        .decode(req.wasm_base64.as_bytes())
        .map_err(|e| ApiError::BadRequest(format!("wasm_base64 is not base64: {e}")))?;
    let sup = components(&state)?.clone();
    let info = tokio::task::spawn_blocking(move || sup.install(&req.manifest, &wasm, &req.choices))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok((StatusCode::CREATED, Json(info)))
}

/// One component.
pub async fn show(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: Params<NoQuery>,
) -> Result<Json<ComponentInfo>, ApiError> {
    Ok(Json(components(&state)?.info(&name)?))
}

/// Its recent log lines.
pub async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: Params<NoQuery>,
) -> Result<Json<Vec<LogLine>>, ApiError> {
    Ok(Json(components(&state)?.logs(&name)?))
}

/// `start`, `stop` or `restart`.
pub async fn act(
    State(state): State<AppState>,
    Path((name, action)): Path<(String, String)>,
    _: Params<NoQuery>,
) -> Result<Json<ComponentInfo>, ApiError> {
    let sup = components(&state)?;
    let info = match action.as_str() {
        "start" => sup.start(&name)?,
        "stop" => sup.stop(&name)?,
        "restart" => sup.restart(&name)?,
        other => {
            return Err(ApiError::NotFound(format!(
                "no action {other:?}: use start, stop or restart"
            )));
        }
    };
    Ok(Json(info))
}

/// Uninstall parameters.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uninstall {
    /// Also erase its store and all its data.
    #[serde(default)]
    pub erase: bool,
}

/// Uninstall a component (and with `?erase=true` its data).
pub async fn uninstall(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Params(p): Params<Uninstall>,
) -> Result<StatusCode, ApiError> {
    let sup = components(&state)?.clone();
    tokio::task::spawn_blocking(move || sup.uninstall(&name, p.erase))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(StatusCode::NO_CONTENT)
}

/// A component's own page or push endpoint: the request is passed to its HTTP handler with the
/// path below `/app/{name}`; the owner's token is never passed on.
pub async fn page(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path();
    let rest = path.strip_prefix("/app/").unwrap_or("");
    let (name, sub) = match rest.split_once('/') {
        Some((n, s)) => (n.to_owned(), format!("/{s}")),
        None => (rest.to_owned(), "/".to_owned()),
    };
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| ApiError::TooLarge(MAX_BODY))?;
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| *k != axum::http::header::AUTHORIZATION && *k != axum::http::header::COOKIE)
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let request = databox_runtime::host::HttpRequest {
        method: parts.method.to_string(),
        path: sub,
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: body.to_vec(),
    };
    let answer = components(&state)?
        .handle(&name, request)
        .await
        .map_err(|e| match e {
            SupervisorError::Run(r) => ApiError::BadGateway(format!("{name} failed to answer: {r}")),
            other => other.into(),
        })?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut response = (status, answer.body).into_response();
    // The component says what its body is; without a type, browsers must not guess.
    response.headers_mut().remove(axum::http::header::CONTENT_TYPE);
    for (k, v) in answer.headers {
        let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) else {
            continue;
        };
        // A component may not set cookies for the box's origin or redirect its auth.
        if k == axum::http::header::SET_COOKIE || k == axum::http::header::WWW_AUTHENTICATE {
            continue;
        }
        response.headers_mut().append(k, v);
    }
    // Its pages share the dashboard's origin, where the owner's session cookie works: a script of
    // theirs could act as the owner. So they run no script at all, request nothing from elsewhere,
    // and are framed by nobody else.
    response.headers_mut().insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; script-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'self'; form-action 'self'"),
    );
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
