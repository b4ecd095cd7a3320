//! The one guard in front of every route: the owner's bearer token. (Issue 3 replaces the owner
//! check with the arbiter's grant check behind this same middleware.)

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// Refuses any request without the owner's bearer token, before routing decides anything, so
/// unknown paths and wrong methods answer 401 too and reveal nothing.
pub async fn require_owner(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(token) if state.owner.verify(token) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}
