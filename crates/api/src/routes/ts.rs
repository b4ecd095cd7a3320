//! Time series: write, batch write, read (every form, joins, filters, aggregates), delete,
//! observe; and for the owner's dashboard, chart buckets and downloads (CSV or JSON, streamed).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use databox_arbiter::{Access, Caller, DataRequest, Operation};
use databox_store::query::{MAX_TIMESTAMP, check_timestamp, parse_delete, parse_read};
use databox_store::{
    BlobPoint, Bucket, DatasourceId, DatasourceKind, NumericPoint, PageCursor, Row, Store, StoreId, WriteAck,
    bucket_width,
};
use futures::{Stream, TryStreamExt};
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

/// Buckets a chart has when it does not say.
pub const DEFAULT_CHART_POINTS: u32 = 500;
/// Rows read from the store for each chunk of a download: a few MB of CSV, so a download of any
/// size holds about one page in memory at a time.
const DOWNLOAD_PAGE: usize = 50_000;

/// Query parameters of a chart.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChartParams {
    /// Start, epoch ms (default: the time of the series' oldest data).
    pub from: Option<i64>,
    /// End, epoch ms, inclusive (default: the time of its newest data).
    pub to: Option<i64>,
    /// Number of buckets (default 500; clamped to 10..=2000).
    pub points: Option<u32>,
}

/// The answer to a chart. For a series with no data and no `from`/`to` given, the missing bounds
/// and the width are null and there are no buckets.
#[derive(Serialize)]
pub struct Chart {
    /// Start of the first bucket, epoch ms.
    pub from: Option<i64>,
    /// End of the range, inclusive.
    pub to: Option<i64>,
    /// Width of every bucket: `ceil((to - from + 1) / points)`, at least 1.
    pub width_ms: Option<i64>,
    /// The buckets that hold points, in time order (empty ones are left out).
    pub buckets: Vec<Bucket>,
}

/// Chart a numeric series: its points in `from..=to` cut into equal buckets, each with its count,
/// min, max and mean (the owner's dashboard).
///
/// Buckets of an hour or more come from the hourly rollups, each hour counted whole in the bucket
/// holding its start (bucket edges are approximate to the hour; the range's edges are exact), so a
/// chart of a year of points is as fast as one of a day.
#[utoipa::path(get, path = "/api/v1/stores/{store}/ts/{datasource}/chart", tag = "time series",
    params(("store" = String, Path,), ("datasource" = String, Path,), ChartParams),
    responses((status = 200, description = "{\"from\", \"to\", \"width_ms\", \"buckets\": [{\"start\", \"count\", \"min\", \"max\", \"mean\"}]}", body = Object),
              (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)))]
pub async fn chart(
    State(state): State<AppState>,
    segs: Segments,
    Params(params): Params<ChartParams>,
) -> Result<Json<Chart>, ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let kind = store.datasource(&name)?.meta.kind;
    if kind != DatasourceKind::Numeric {
        return Err(ApiError::BadRequest(format!(
            "{name} is a {} datasource: only numeric (ts) series can be charted; download its data instead",
            kind.as_str()
        )));
    }
    for t in [params.from, params.to].into_iter().flatten() {
        check_timestamp(t)?;
    }
    let points = params.points.unwrap_or(DEFAULT_CHART_POINTS);
    let chart = blocking(move || {
        let (from, to) = match (params.from, params.to) {
            (Some(from), Some(to)) => (from, to),
            (from, to) => {
                let Some((oldest, newest)) = store.span(&name)? else {
                    return Ok(Chart {
                        from,
                        to,
                        width_ms: None,
                        buckets: Vec::new(),
                    });
                };
                // A given bound past the data moves the default one along rather than making
                // the range backwards (a chart of "the last hour" of a series that went quiet).
                (
                    from.unwrap_or_else(|| to.map_or(oldest, |to| oldest.min(to))),
                    to.unwrap_or_else(|| from.map_or(newest, |from| newest.max(from))),
                )
            }
        };
        let buckets = store.buckets(&name, from, to, points)?;
        Ok(Chart {
            from: Some(from),
            to: Some(to),
            width_ms: Some(bucket_width(from, to, points)),
            buckets,
        })
    })
    .await?;
    Ok(Json(chart))
}

/// The file format of a download.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// One JSON array.
    Json,
}

impl Format {
    /// `csv` (also when absent) or `json`; anything else is a 400 naming the choices.
    pub(crate) fn parse(format: Option<&str>) -> Result<Format, ApiError> {
        match format {
            None | Some("csv") => Ok(Format::Csv),
            Some("json") => Ok(Format::Json),
            Some(other) => Err(ApiError::BadRequest(format!(
                "format {:?} is not one the box writes: use format=csv or format=json",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

/// Runs blocking work that fails with an [`ApiError`] off the async threads.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("a store task failed: {e}")))?
}

/// Something read and encoded one chunk at a time, on a blocking thread.
pub(crate) trait Chunks: Sized + Send + 'static {
    /// The next chunk of the file, and whether it was the last.
    fn next_chunk(&mut self) -> Result<(Bytes, bool), ApiError>;
}

/// A download answered as a file `{store}-{datasource}.{csv|json}` whose body is produced chunk
/// by chunk as the client reads it. The first chunk is made before answering, so that a failure
/// there (an unknown or wrong datasource) is still a JSON error; a failure later can only cut the
/// body short, which the client sees as an incomplete transfer.
pub(crate) async fn download_file(
    store: &StoreId,
    name: &DatasourceId,
    format: Format,
    chunks: impl Chunks,
) -> Result<Response, ApiError> {
    let (first, done, chunks) = run_blocking(move || {
        let mut chunks = chunks;
        let (first, done) = chunks.next_chunk()?;
        Ok((first, done, chunks))
    })
    .await?;
    let rest = futures::stream::try_unfold((chunks, done), |(chunks, done)| async move {
        if done {
            return Ok::<_, ApiError>(None);
        }
        let (chunk, done, chunks) = run_blocking(move || {
            let mut chunks = chunks;
            let (chunk, done) = chunks.next_chunk()?;
            Ok((chunk, done, chunks))
        })
        .await?;
        Ok(Some((chunk, (chunks, done))))
    });
    let body = futures::StreamExt::chain(futures::stream::once(async move { Ok(first) }), rest)
        .inspect_err(|e| tracing::error!(error = %e, "a download stopped part-way"));
    let disposition = format!("attachment; filename=\"{store}-{name}.{}\"", format.extension());
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// Writes CSV records into a fresh buffer.
pub(crate) fn csv_chunk<R: AsRef<[u8]>>(
    records: impl IntoIterator<Item = Vec<R>>,
) -> Result<Bytes, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.write_record(&r)
            .map_err(|e| ApiError::Internal(format!("writing CSV: {e}")))?;
    }
    w.into_inner()
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(format!("writing CSV: {}", e.error())))
}

/// Appends the items of a JSON array spread over chunks: `[` before the first, `,` between
/// them, `]` after the last.
pub(crate) fn json_chunk<T: Serialize>(
    items: &[T],
    first: bool,
    last: bool,
    written: &mut bool,
) -> Result<Bytes, ApiError> {
    let mut buf = Vec::new();
    if first {
        buf.push(b'[');
    }
    for item in items {
        if *written {
            buf.push(b',');
        }
        buf.push(b'\n');
        serde_json::to_writer(&mut buf, item)
            .map_err(|e| ApiError::Internal(format!("writing JSON: {e}")))?;
        *written = true;
    }
    if last {
        buf.extend_from_slice(b"\n]\n");
    }
    Ok(Bytes::from(buf))
}

/// Query parameters of a series download.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DownloadParams {
    /// `csv` (the default) or `json`.
    pub format: Option<String>,
    /// Start, epoch ms, inclusive (default: the beginning).
    pub from: Option<i64>,
    /// End, epoch ms, inclusive (default: the end).
    pub to: Option<i64>,
}

/// A series read page by page and encoded as CSV or JSON.
struct SeriesChunks {
    store: Arc<Store>,
    name: DatasourceId,
    numeric: bool,
    format: Format,
    from: i64,
    to: i64,
    after: Option<PageCursor>,
    started: bool,
    written: bool,
}

impl Chunks for SeriesChunks {
    fn next_chunk(&mut self) -> Result<(Bytes, bool), ApiError> {
        let page = self
            .store
            .read_page(&self.name, self.from, self.to, self.after, DOWNLOAD_PAGE)?;
        let (first, last) = (!self.started, page.next.is_none());
        self.started = true;
        self.after = page.next;
        let chunk = match self.format {
            Format::Json => json_chunk(&page.rows, first, last, &mut self.written)?,
            Format::Csv => {
                let numeric = self.numeric;
                let header = first.then(|| {
                    let names: &[&str] = if numeric {
                        &["timestamp", "time", "value", "tags"]
                    } else {
                        &["timestamp", "time", "data"]
                    };
                    names.iter().map(|n| n.to_string()).collect()
                });
                csv_chunk(
                    header
                        .into_iter()
                        .chain(page.rows.iter().map(|r| csv_row(r, numeric))),
                )?
            }
        };
        Ok((chunk, last))
    }
}

/// `timestamp,time,value,tags` (tags as a JSON object) or `timestamp,time,data` (JSON).
fn csv_row(row: &Row, numeric: bool) -> Vec<String> {
    let time = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(row.timestamp as u64));
    let mut out = vec![row.timestamp.to_string(), time.to_string()];
    if numeric {
        let mut tags = row.data.as_object().cloned().unwrap_or_default();
        // Rust's shortest round-trip form: "21.5", "2", "0.1".
        let value = tags.remove("value").and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        out.push(value.to_string());
        out.push(Value::Object(tags).to_string());
    } else {
        out.push(row.data.to_string());
    }
    out
}

/// Download a series (numeric or blob) as a CSV or JSON file, streamed.
///
/// CSV: `timestamp,time,value,tags` for numeric series (time in RFC 3339 UTC with milliseconds,
/// tags as a JSON object), `timestamp,time,data` for blob series (the document as JSON). JSON: an
/// array of the rows a read returns, `[{"timestamp": ms, "data": {...}}, ...]`. Oldest first.
#[utoipa::path(get, path = "/api/v1/stores/{store}/ts/{datasource}/download", tag = "time series",
    params(("store" = String, Path,), ("datasource" = String, Path,), DownloadParams),
    responses((status = 200, description = "the file, as an attachment `{store}-{datasource}.csv` or `.json`"),
              (status = 400, body = crate::ErrorBody), (status = 404, body = crate::ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    segs: Segments,
    Params(params): Params<DownloadParams>,
) -> Result<Response, ApiError> {
    let store = store(&state, &segs)?;
    let name = segs.datasource(2)?;
    let format = Format::parse(params.format.as_deref())?;
    let from = check_timestamp(params.from.unwrap_or(0))?;
    let to = check_timestamp(params.to.unwrap_or(MAX_TIMESTAMP))?;
    if from > to {
        return Err(ApiError::BadRequest(format!("from ({from}) is after to ({to})")));
    }
    let kind = store.datasource(&name)?.meta.kind;
    if kind == DatasourceKind::KeyValue {
        return Err(ApiError::BadRequest(format!(
            "{name} is a key-value datasource; download it from /kv/{name}/download"
        )));
    }
    let chunks = SeriesChunks {
        store: store.clone(),
        name: name.clone(),
        numeric: kind == DatasourceKind::Numeric,
        format,
        from,
        to,
        after: None,
        started: false,
        written: false,
    };
    download_file(store.id(), &name, format, chunks).await
}
