//! The box's HTTP API (axum): every store operation under `/api/v1/stores/...`, the root Hypercat
//! catalogue at `/cat`, the OpenAPI document at `/api/v1/openapi.json`, and the owner's dashboard
//! ([`dashboard`]) at `/`.
//!
//! Every route, including unknown paths, sits behind [`access::authenticate`], and every matched
//! route behind [`access::authorize`] (the arbiter's one check, audited); every error is a JSON
//! body from [`ApiError`].

pub mod access;
pub mod dashboard;
mod error;
pub mod extract;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use databox_arbiter::Arbiter;
use databox_audit::AuditLog;
use databox_store::Stores;
pub use error::{ApiError, ErrorBody};
use routes::{admin, cat, components, exports, imports, kv, stores, ts};
use utoipa::OpenApi;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The box's stores.
    pub stores: Arc<Stores>,
    /// Who may do what.
    pub arbiter: Arc<Arbiter>,
    /// The record of every access.
    pub audit: Arc<AuditLog>,
    /// The installed apps and drivers, when the box runs them.
    pub components: Option<databox_runtime::Supervisor>,
    /// The export service, when the box runs it.
    pub exports: Option<databox_export::ExportService>,
    /// The importers of export files, when the box runs them.
    pub imports: Option<databox_import::job::Imports>,
    /// The components shipped inside the box, installable by name.
    pub first_party: &'static [dashboard::FirstParty],
    closing: tokio::sync::watch::Receiver<bool>,
    closer: Arc<tokio::sync::watch::Sender<bool>>,
}

impl AppState {
    /// The state of a box serving `stores` under `arbiter`, recording to `audit`.
    pub fn new(stores: Arc<Stores>, arbiter: Arc<Arbiter>, audit: Arc<AuditLog>) -> Self {
        let (closer, closing) = tokio::sync::watch::channel(false);
        AppState {
            stores,
            arbiter,
            audit,
            components: None,
            exports: None,
            imports: None,
            first_party: &[],
            closing,
            closer: Arc::new(closer),
        }
    }

    /// The same state, sending data out through `exports`.
    pub fn with_exports(mut self, exports: databox_export::ExportService) -> Self {
        self.exports = Some(exports);
        self
    }

    /// The same state, offering `components` (shipped inside the box) for installation by name.
    pub fn with_first_party(mut self, components: &'static [dashboard::FirstParty]) -> Self {
        self.first_party = components;
        self
    }

    /// The same state, importing export files with `imports`.
    pub fn with_imports(mut self, imports: databox_import::job::Imports) -> Self {
        self.imports = Some(imports);
        self
    }

    /// The same state, running apps and drivers with `components`.
    pub fn with_components(mut self, components: databox_runtime::Supervisor) -> Self {
        self.components = Some(components);
        self
    }

    /// Ends every long-lived response (observe streams), so that a graceful shutdown, which
    /// waits for open requests, can finish.
    pub fn close_streams(&self) {
        self.closer.send_replace(true);
    }

    /// Resolves once [`AppState::close_streams`] was called.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.closing.clone();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }
}

/// The OpenAPI document of this API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Databox API", description = "The personal data box's HTTP API. Every route needs `Authorization: Bearer <token>`: the owner's, or a principal's token minted by the arbiter, which reaches only what the owner granted."),
    paths(
        cat::root, cat::of_store,
        stores::list, stores::create, stores::show, stores::erase,
        stores::list_datasources, stores::put_datasource, stores::get_datasource, stores::delete_datasource,
        stores::put_retention, stores::delete_retention,
        ts::write, ts::write_batch, ts::read, ts::delete, ts::observe, ts::chart, ts::download,
        kv::put, kv::get, kv::delete, kv::keys, kv::delete_all, kv::length, kv::observe, kv::download,
        admin::principals, admin::add_principal, admin::remove_principal,
        admin::grants, admin::add_grant, admin::revoke_grant,
        admin::tokens, admin::mint, admin::attenuate, admin::public_key, admin::revoke_token, admin::revoke_token_string,
        admin::audit_query, admin::audit_verify, admin::audit_tail, admin::statement,
    ),
    components(schemas(ErrorBody, ts::Written, stores::StoreSummary, stores::NewStore)),
    modifiers(&BearerAuth),
    security(("owner_token" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "owner_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::NotFound(format!("no route {}; see /api/v1/openapi.json", uri.path()))
}

async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

/// The router of the whole API.
pub fn router(state: AppState) -> Router {
    const S: &str = "/api/v1/stores/{store}";
    let api = Router::new()
        .route("/cat", get(cat::root))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/stores", get(stores::list))
        .route(S, get(stores::show).put(stores::create).delete(stores::erase))
        .route(&format!("{S}/cat"), get(cat::of_store))
        .route(&format!("{S}/datasources"), get(stores::list_datasources))
        .route(
            &format!("{S}/datasources/{{ds}}"),
            get(stores::get_datasource)
                .put(stores::put_datasource)
                .delete(stores::delete_datasource),
        )
        .route(
            &format!("{S}/datasources/{{ds}}/retention"),
            axum::routing::put(stores::put_retention).delete(stores::delete_retention),
        )
        .route(&format!("{S}/ts/{{ds}}"), axum::routing::post(ts::write))
        .route(
            &format!("{S}/ts/{{ds}}/batch"),
            axum::routing::post(ts::write_batch),
        )
        .route(&format!("{S}/ts/{{ds}}/observe"), get(ts::observe))
        // The owner's alone (not in access::ROUTES): the dashboard's charts and downloads.
        .route(&format!("{S}/ts/{{ds}}/chart"), get(ts::chart))
        .route(&format!("{S}/ts/{{ds}}/download"), get(ts::download))
        .route(
            &format!("{S}/ts/{{ds}}/{{*query}}"),
            get(ts::read).delete(ts::delete),
        )
        .route(
            &format!("{S}/kv/{{ds}}/keys"),
            get(kv::keys).delete(kv::delete_all),
        )
        .route(&format!("{S}/kv/{{ds}}/length"), get(kv::length))
        .route(&format!("{S}/kv/{{ds}}/observe"), get(kv::observe))
        .route(&format!("{S}/kv/{{ds}}/download"), get(kv::download))
        .route(
            &format!("{S}/kv/{{ds}}/key/{{key}}"),
            get(kv::get).put(kv::put).delete(kv::delete),
        )
        .route("/api/v1/principals", get(admin::principals))
        .route(
            "/api/v1/principals/{id}",
            axum::routing::put(admin::add_principal).delete(admin::remove_principal),
        )
        .route("/api/v1/grants", get(admin::grants).post(admin::add_grant))
        .route("/api/v1/grants/{id}", axum::routing::delete(admin::revoke_grant))
        .route("/api/v1/tokens", get(admin::tokens).post(admin::mint))
        .route("/api/v1/tokens/attenuate", axum::routing::post(admin::attenuate))
        .route(
            "/api/v1/tokens/revoke",
            axum::routing::post(admin::revoke_token_string),
        )
        .route("/api/v1/tokens/public-key", get(admin::public_key))
        .route("/api/v1/tokens/{id}", axum::routing::delete(admin::revoke_token))
        .route("/api/v1/audit", get(admin::audit_query))
        .route("/api/v1/audit/verify", get(admin::audit_verify))
        .route("/api/v1/audit/tail", get(admin::audit_tail))
        .route("/api/v1/statement", get(admin::statement))
        .route(
            "/api/v1/components",
            get(components::list).post(components::install),
        )
        .route(
            "/api/v1/components/review",
            axum::routing::post(components::review),
        )
        .route(
            "/api/v1/components/{name}",
            get(components::show).delete(components::uninstall),
        )
        .route("/api/v1/components/{name}/logs", get(components::logs))
        .route(
            "/api/v1/components/{name}/devices",
            get(components::devices).post(components::add_device),
        )
        .route(
            "/api/v1/components/{name}/{action}",
            axum::routing::post(components::act),
        )
        .route("/api/v1/exports", get(exports::list).post(exports::submit))
        .route(
            "/api/v1/exports/approved/{principal}",
            axum::routing::put(exports::allow),
        )
        .route("/api/v1/exports/receipts", get(exports::receipts))
        .route("/api/v1/exports/settings", get(exports::settings))
        .route(
            "/api/v1/exports/review/{app}",
            axum::routing::put(exports::review),
        )
        .route("/api/v1/exports/copies", axum::routing::put(exports::copies))
        .route("/api/v1/exports/revoke", axum::routing::post(exports::revoke))
        .route("/api/v1/exports/{id}", get(exports::show))
        .route(
            "/api/v1/exports/{id}/{decision}",
            axum::routing::post(exports::decide),
        )
        .route("/api/v1/imports", get(imports::list).post(imports::start))
        .route("/api/v1/imports/{id}", get(imports::show))
        .route("/api/v1/imports/{id}/{action}", axum::routing::post(imports::act))
        .merge(dashboard::owner_api())
        .route("/app/{name}", axum::routing::any(components::page))
        .route("/app/{name}/", axum::routing::any(components::page))
        .route("/app/{name}/{*path}", axum::routing::any(components::page))
        .route_layer(from_fn_with_state(state.clone(), access::authorize))
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(from_fn_with_state(state.clone(), access::authenticate));
    Router::new()
        .merge(dashboard::pages())
        .merge(api)
        .with_state(state)
}
