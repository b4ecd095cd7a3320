//! Time series: write, batch write, read (every form, joins, filters, aggregates), delete,
//! observe.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::{Extension, Json};
use databox_arbiter::{Access, Caller, DataRequest, Operation};
use databox_store::query::{parse_delete, parse_read};
use databox_store::{BlobPoint, DatasourceKind, NumericPoint, WriteAck};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::{blocking, deleted, store};
use crate::access::Served;
use crate::extract::{Body, NoQuery, Params, Segments};
use crate::{ApiError, AppState};

/// Most points in one write.
pub const MAX_BATCH: usize = 100_000;

/// The answer to a write.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Written {
    /// Number of points stored (durably) by this request.
    pub written: u64,
    /// The timestamp the point was stored at, for single-point writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// Query parameters of a write.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WriteParams {
    /// Timestamp (epoch ms) for a blob document; numeric points carry `"timestamp"` in the body.
    pub timestamp: Option<i64>,
}

fn written(ack: WriteAck) -> Result<(Extension<Served>, Json<Written>), ApiError> {
    match ack {
        WriteAck::Written { count, timestamps } => Ok((
            Extension(Served(count)),
            Json(Written {
                written: count,
                timestamp: (count == 1).then(|| timestamps[0]),
            }),
        )),
        _ => Err(ApiError::Internal("unexpected acknowledgement of a write".into())),
    }
}

fn check_batch(n: usize) -> Result<(), ApiError> {
    if n == 0 {
        return Err(ApiError::BadRequest("the batch is empty".into()));
    }
    if n > MAX_BATCH {
        return Err(ApiError::BadRequest(format!(
            "a batch holds at most {MAX_BATCH} points, this one {n}"
        )));
    }
    Ok(())
}

/// Write one point, or an array of numeric points.
///
/// Numeric series take `{"value": 21.5, "room": "lounge"}` (tags are strings; an optional
/// `"timestamp"` in epoch ms, else the box's time) or an array of such objects. Blob series take
/// any JSON document, timestamped by `?timestamp=` or the box. Acknowledged only once durable.
#[utoipa::path(post, path = "/api/v1/stores/{store}/ts/{datasource}", tag = "time series",
    params(("store" = String, Path,), ("datasource" = String, Path,), WriteParams),
    request_body(content = Object, description = "a point, an array of numeric points, or a blob document"),
    responses((status = 200, body = Written), (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)))]
pub async fn write(
    State(state): State<AppState>,
    segs: Segments,
    Params(params): Params<WriteParams>,
    body: Body,
) -> Result<(Extension<Served>, Json<Written>), ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let kind = store.datasource(&name)?.meta.kind;
    let doc: Value = body.json()?;
    let ticket = match kind {
        DatasourceKind::Numeric => {
            if params.timestamp.is_some() {
                return Err(ApiError::BadRequest(
                    "numeric points carry their \"timestamp\" in the body".into(),
                ));
            }
            if let Value::Array(items) = &doc {
                check_batch(items.len())?;
            }
            store.write_numeric(&name, NumericPoint::from_json_points(&doc)?)?
        }
        DatasourceKind::Blob => {
            let timestamp = params
                .timestamp
                .map(databox_store::query::check_timestamp)
                .transpose()?;
            store.write_blob(&name, vec![BlobPoint { timestamp, data: doc }])?
        }
        DatasourceKind::KeyValue => {
            return Err(ApiError::BadRequest(format!(
                "{name} is a key-value datasource; use /kv/{name}/key/KEY"
            )));
        }
    };
    written(ticket.await?)
}

/// Write a batch in the read format: `[{"timestamp": ms, "data": {...}}, ...]`.
///
/// `timestamp` is optional. For numeric series `data` is `{"value": n, tag: "string"...}`; for
/// blob series any JSON. All points are stored in one transaction, or none is.
#[utoipa::path(post, path = "/api/v1/stores/{store}/ts/{datasource}/batch", tag = "time series",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    request_body(content = Vec<Object>),
    responses((status = 200, body = Written), (status = 400, body = crate::ErrorBody)))]
pub async fn write_batch(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    body: Body,
) -> Result<(Extension<Served>, Json<Written>), ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let kind = store.datasource(&name)?.meta.kind;
    let items: Vec<Value> = body.json()?;
    check_batch(items.len())?;
    let ticket = match kind {
        DatasourceKind::Numeric => store.write_numeric(
            &name,
            items
                .iter()
                .map(NumericPoint::from_row_json)
                .collect::<Result<_, _>>()?,
        )?,
        DatasourceKind::Blob => store.write_blob(
            &name,
            items
                .iter()
                .map(BlobPoint::from_row_json)
                .collect::<Result<_, _>>()?,
        )?,
        DatasourceKind::KeyValue => {
            return Err(ApiError::BadRequest(format!("{name} is a key-value datasource")));
        }
    };
    written(ticket.await?)
}

/// Read one or more series (comma-separated: a join merged by time).
///
/// `{query}` is `[hourly/]FORM[/filter/TAG/equals|contains/VALUE]...[/AGGREGATE]` with FORM one of
/// `latest`, `earliest`, `last/N`, `first/N`, `since/T`, `range/T1/T2`, `length` and AGGREGATE one
/// of `sum`, `count`, `min`, `max`, `mean`, `median`, `sd`. Rows come as
/// `[{"timestamp": ms, "data": {...}}]` (joins add `"datasource"`), aggregates as `{"result": x}`.
#[utoipa::path(get, path = "/api/v1/stores/{store}/ts/{datasources}/{query}", tag = "time series",
    params(("store" = String, Path,), ("datasources" = String, Path, description = "one id or a comma-separated list"),
           ("query" = String, Path, description = "read form, filters and aggregate, e.g. last/10/filter/room/equals/lounge/mean")),
    responses((status = 200, description = "rows or {\"result\": x}", body = Object), (status = 400, body = crate::ErrorBody),
              (status = 404, body = crate::ErrorBody), (status = 422, body = crate::ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    access: Option<Extension<Access>>,
) -> Result<(Extension<Served>, Json<Value>), ApiError> {
    let store = store(&state, &segs)?;
    let names = segs.datasources(2)?;
    let mut query = parse_read(segs.rest(3))?;
    // A grant's time window narrows every read of its holder.
    query.window = access.and_then(|a| a.0.window);
    let out = blocking(move || store.read(&names, &query)).await?;
    let served = match &out {
        databox_store::ReadOutput::Rows(rows) => rows.len() as u64,
        _ => 1,
    };
    Ok((Extension(Served(served)), Json(out.to_json())))
}

/// Delete points of one or more series by time: `since/T` or `range/T1/T2`.
#[utoipa::path(delete, path = "/api/v1/stores/{store}/ts/{datasources}/{query}", tag = "time series",
    params(("store" = String, Path,), ("datasources" = String, Path,), ("query" = String, Path, description = "since/T or range/T1/T2")),
    responses((status = 200, description = "{\"deleted\": n}", body = Object), (status = 400, body = crate::ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
) -> Result<(Extension<Served>, Json<Value>), ApiError> {
    let store = store(&state, &segs)?;
    let names = segs.datasources(2)?;
    let query = parse_delete(segs.rest(3))?;
    deleted(store.delete(&names, query)?.await?)
}

/// Observe a datasource: a Server-Sent Events stream of every committed write (`event: data`,
/// the JSON of the point, key or delete), `event: lagged` if the reader fell behind.
#[utoipa::path(get, path = "/api/v1/stores/{store}/ts/{datasource}/observe", tag = "time series",
    params(("store" = String, Path,), ("datasource" = String, Path,)),
    responses((status = 200, description = "text/event-stream")))]
pub async fn observe(
    State(state): State<AppState>,
    segs: Segments,
    _: Params<NoQuery>,
    Extension(caller): Extension<Caller>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    store.datasource(&name)?;
    Ok(event_stream(&state, &store, name, caller))
}

/// The SSE stream of one datasource's committed writes (shared by series and key-value).
/// A principal's grant is checked again for every event, as the arbiter's one check: points
/// outside its window are not shown, and once its grant or token is gone the stream ends (and
/// the refusal is audited), so revoking takes effect on open streams at once.
pub(crate) fn event_stream(
    state: &AppState,
    store: &databox_store::Store,
    name: databox_store::DatasourceId,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>> {
    let arbiter = state.arbiter.clone();
    let audit = state.audit.clone();
    let store_id = store.id().clone();
    let stream = BroadcastStream::new(store.subscribe())
        .map_while(move |item| match item {
            Ok(ev) if ev.datasource() == name.as_str() => {
                let request = DataRequest {
                    operation: Operation::Observe,
                    store: &store_id,
                    datasources: std::slice::from_ref(&name),
                    read: None,
                };
                let window = match arbiter.authorize(&caller, &request) {
                    Ok(access) => access.window,
                    Err(denial) => {
                        let mut refused = databox_audit::Event::access(caller.id(), "observe");
                        refused.store = Some(store_id.to_string());
                        refused.datasource = Some(name.to_string());
                        refused.detail = Some(denial.reason);
                        refused.outcome = Some(databox_audit::Outcome::Refused);
                        audit.record(refused);
                        return None;
                    }
                };
                Some(ev.is_visible_in(window).then(|| {
                    Ok(SseEvent::default()
                        .event("data")
                        .json_data(&*ev)
                        .unwrap_or_default())
                }))
            }
            Ok(_) => Some(None),
            Err(BroadcastStreamRecvError::Lagged(n)) => {
                Some(Some(Ok(SseEvent::default().event("lagged").data(n.to_string()))))
            }
        })
        .filter_map(|event| event);
    Sse::new(futures::StreamExt::take_until(stream, state.closed())).keep_alive(KeepAlive::default())
}
