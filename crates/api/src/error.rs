//! The API's one error type: every failure becomes a JSON body `{"error": message, "status": code}`
//! with a status that says whose fault it was.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use databox_store::StoreError;
use serde::Serialize;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing is at this path.
    #[error("{0}")]
    NotFound(String),
    /// No valid bearer token (401).
    #[error("{0}; send `Authorization: Bearer <token>` with a valid token of this box")]
    Unauthenticated(String),
    /// A valid caller without the grant for this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The body is over the limit.
    #[error("the request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    /// It exists already.
    #[error("{0}")]
    Conflict(String),
    /// The path exists but not with this method.
    #[error("this path does not take the {0} method")]
    MethodNotAllowed(String),
    /// The box failed.
    #[error("{0}")]
    Internal(String),
    /// Not available now (a stopped component, a box without a runtime).
    #[error("{0}")]
    Unavailable(String),
    /// A component behind the box failed to answer.
    #[error("{0}")]
    BadGateway(String),
}

/// The JSON body of every error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in words a person can act on.
    pub error: String,
    /// The HTTP status code.
    pub status: u16,
}

impl ApiError {
    /// The HTTP status of the error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Store(e) if e.is_not_found() => StatusCode::NOT_FOUND,
            ApiError::Store(e) if e.is_conflict() => StatusCode::CONFLICT,
            ApiError::Store(StoreError::TooManyResults(_)) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(StoreError::Unavailable { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(e) if e.is_client_error() => StatusCode::BAD_REQUEST,
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut resp = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
                status: status.as_u16(),
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}
