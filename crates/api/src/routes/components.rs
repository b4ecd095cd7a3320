//! The owner's apps and drivers: review a manifest, install (or upgrade), start, stop, restart,
//! uninstall, list, logs; and each component's own pages at `/app/{name}/...`, passed to its HTTP
//! handler. Every route here is the owner's alone (none is in [`crate::access::ROUTES`]).

use axum::Json;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use databox_arbiter::Caller;
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

/// The header that tells a component which device (principal) sent a request; absent for the
/// owner.
pub const DEVICE_HEADER: &str = "x-databox-device";

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
pub async fn page(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    req: Request,
) -> Result<Response, ApiError> {
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
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter(|(k, _)| {
            *k != axum::http::header::AUTHORIZATION
                && *k != axum::http::header::COOKIE
                && !k.as_str().starts_with("x-databox-")
        })
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    // Which device pushed: only the box says so (a client's own x-databox-* headers are dropped).
    if !caller.is_owner() {
        headers.push((DEVICE_HEADER.to_owned(), caller.id().to_owned()));
    }
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

/// A device that will push to a driver (a phone running OwnTracks, Overland or GPSLogger).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// Its id: 1-64 of `a-z 0-9 -`, starting with a letter (for example `alices-phone`).
    pub device: String,
    /// What it is, in the owner's words.
    #[serde(default)]
    pub description: String,
    /// When its token ends (epoch ms); never by default.
    pub expires: Option<i64>,
}

/// A device's token, shown once.
#[derive(serde::Serialize)]
pub struct DeviceToken {
    /// The device's principal.
    pub device: String,
    /// Its token: the phone sends it as `Authorization: Bearer <token>`, or as the password of
    /// HTTP Basic authentication (any user name).
    pub token: String,
    /// Where the device pushes: the component's path on this box, below which it has its
    /// endpoints.
    pub path: String,
    /// The grant that lets it push.
    pub grant: String,
}

/// Lets a new device push to the driver `name`: a client principal for the device, a store-wide
/// `write` grant on the driver's own store (data reaches it only through the driver), and a token.
pub async fn add_device(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(StatusCode, Json<DeviceToken>), ApiError> {
    let d: NewDevice = body.json()?;
    let info = components(&state)?.info(&name)?;
    if info.kind != "driver" {
        return Err(ApiError::BadRequest(format!(
            "{name} is an app: only drivers receive data from devices"
        )));
    }
    let invalid = |e: databox_arbiter::ArbiterError| match e {
        databox_arbiter::ArbiterError::Conflict(m) => ApiError::Conflict(m),
        other => ApiError::BadRequest(other.to_string()),
    };
    let id = databox_arbiter::PrincipalId::new(d.device).map_err(invalid)?;
    let store = databox_store::StoreId::new(info.store.clone())?;
    let description = if d.description.is_empty() {
        format!("a device pushing to {name}")
    } else {
        d.description
    };
    let arbiter = &state.arbiter;
    arbiter
        .add_principal(id.clone(), databox_arbiter::PrincipalKind::Client, &description)
        .map_err(invalid)?;
    let made = arbiter
        .grant(
            &id,
            databox_arbiter::Operation::Write,
            &store,
            None,
            (None, None),
            d.expires,
            databox_arbiter::Granularity::Raw,
            &format!("push its data to {name}"),
        )
        .and_then(|grant| {
            Ok((
                grant,
                arbiter.mint(&id, &format!("device token for {name}"), d.expires)?,
            ))
        });
    let (grant, (_, token)) = match made {
        Ok(m) => m,
        Err(e) => {
            // Nothing half-made: a device without its grant or token is removed again.
            let _ = arbiter.remove_principal(&id);
            return Err(invalid(e));
        }
    };
    let mut e = databox_audit::Event::of(databox_audit::Kind::Admin, "owner", "add a device");
    e.detail = Some(format!("{id} may push to {name} [{}]", grant.id));
    state.audit.record(e);
    Ok((
        StatusCode::CREATED,
        Json(DeviceToken {
            device: id.as_str().to_owned(),
            token,
            path: format!("/app/{name}/"),
            grant: grant.id,
        }),
    ))
}

/// The devices that may push to the driver `name`.
pub async fn devices(
    State(state): State<AppState>,
    Path(name): Path<String>,
    _: Params<NoQuery>,
) -> Result<Json<Vec<databox_arbiter::Principal>>, ApiError> {
    let info = components(&state)?.info(&name)?;
    let pushers: std::collections::BTreeSet<String> = state
        .arbiter
        .grants(None)
        .into_iter()
        .filter(|g| {
            g.operation == databox_arbiter::Operation::Write
                && g.store == info.store
                && g.datasource.is_none()
                && g.principal.as_str() != name
        })
        .map(|g| g.principal.as_str().to_owned())
        .collect();
    Ok(Json(
        state
            .arbiter
            .principals()
            .into_iter()
            .filter(|p| pushers.contains(p.id.as_str()))
            .collect(),
    ))
}
