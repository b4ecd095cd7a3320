//! Request extractors that turn every rejection into the API's JSON error.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use databox_store::{DatasourceId, StoreId};
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// Largest request body (a 1,000-point batch is ~100 kB; a blob or a key-value value may be bigger).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// Most datasources in one joined read.
pub const MAX_JOIN: usize = 16;

/// The raw request body, or a 413/400 JSON error.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(Body).map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(MAX_BODY)
            } else {
                ApiError::BadRequest(format!("could not read the request body: {}", r.body_text()))
            }
        })
    }
}

impl Body {
    /// Parses the body as JSON, naming the position of a syntax error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.0.is_empty() {
            return Err(ApiError::BadRequest(
                "the request body is empty; send JSON".into(),
            ));
        }
        serde_json::from_slice(&self.0).map_err(|e| ApiError::BadRequest(format!("malformed JSON body: {e}")))
    }
}

/// The percent-decoded segments of the path after `/api/v1/stores/`, taken from the raw URI so
/// that an encoded `/` inside a segment stays inside it (and is then refused by id validation).
pub struct Segments(pub Vec<String>);

impl<S: Send + Sync> FromRequestParts<S> for Segments {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path();
        let rest = path.strip_prefix("/api/v1/stores/").unwrap_or("");
        let segs = rest
            .split('/')
            .map(|s| {
                percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| {
                        ApiError::BadRequest(format!("path segment {s:?} is not UTF-8 after decoding"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Segments(segs))
    }
}

impl Segments {
    /// The store id (first segment).
    pub fn store(&self) -> Result<StoreId, ApiError> {
        Ok(StoreId::new(self.0.first().cloned().unwrap_or_default())?)
    }

    /// One datasource id at position `i`.
    pub fn datasource(&self, i: usize) -> Result<DatasourceId, ApiError> {
        Ok(DatasourceId::new(self.0.get(i).cloned().unwrap_or_default())?)
    }

    /// A comma-separated list of datasource ids at position `i` (a join).
    pub fn datasources(&self, i: usize) -> Result<Vec<DatasourceId>, ApiError> {
        let list = self.0.get(i).map(String::as_str).unwrap_or_default();
        let ids = list
            .split(',')
            .map(DatasourceId::new)
            .collect::<Result<Vec<_>, _>>()?;
        if ids.len() > MAX_JOIN {
            return Err(ApiError::BadRequest(format!(
                "a join reads at most {MAX_JOIN} datasources"
            )));
        }
        Ok(ids)
    }

    /// Every segment from position `i` on.
    pub fn rest(&self, i: usize) -> &[String] {
        self.0.get(i..).unwrap_or(&[])
    }
}

/// The parameters of a route that takes none: any query parameter is refused, so a misplaced
/// `?timestamp=` is never silently ignored.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoQuery {}

/// Query-string parameters, or a 400 JSON error naming the bad one.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|r| ApiError::BadRequest(r.body_text()))
    }
}

/// The last path segment, percent-decoded: the id of a principal, grant or token.
pub struct LastSegment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for LastSegment {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let last = parts.uri.path().rsplit('/').next().unwrap_or("");
        percent_decode_str(last)
            .decode_utf8()
            .map(|c| LastSegment(c.into_owned()))
            .map_err(|_| ApiError::BadRequest("the id is not UTF-8 after decoding".into()))
    }
}
