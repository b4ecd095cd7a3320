//! The owner's dashboard data over HTTP, through the real router: chart buckets of a numeric series
//! (on the raw and the hourly-rollup paths) checked against the points themselves, downloads of
//! series and key-value datasources as CSV (parsed back with the csv crate) and JSON, and the
//! refusals: a principal's token, a bad format, a blob series charted, an unknown datasource.

mod support;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use support::{Resp, S, TestBox};
use tower::ServiceExt;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

impl TestBox {
    /// The sizes of the body frames of an owner's GET, as the router hands them out.
    async fn frames(&self, uri: &str) -> Vec<usize> {
        let req = self.request(Method::GET, uri).body(Body::empty()).unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                sizes.push(data.len());
            }
        }
        sizes
    }

    /// Writes numeric points in batches (the API takes at most 100,000 per request).
    async fn write(&self, id: &str, points: &[Point]) {
        for chunk in points.chunks(50_000) {
            let batch: Vec<Value> = chunk
                .iter()
                .map(|p| {
                    let mut data = json!({ "value": p.value });
                    for (k, v) in &p.tags {
                        data[k] = json!(v);
                    }
                    json!({ "timestamp": p.ts, "data": data })
                })
                .collect();
            let r = self
                .call(
                    Method::POST,
                    &format!("{S}/ts/{id}/batch"),
                    Value::Array(batch).to_string(),
                )
                .await;
            assert_eq!(r.json()["written"], chunk.len(), "{}", r.json());
        }
    }

    /// The chart of series `id` of store `s`, which must answer 200.
    async fn chart(&self, id: &str, query: &str) -> Value {
        self.fetch(&format!("{S}/ts/{id}/chart{query}")).await.ok()
    }

    /// A principal `viewer` with a read grant on every datasource named, and its token.
    async fn viewer(&self, datasources: &[&str]) -> String {
        let ok = |r: Resp| {
            assert!(r.status.is_success(), "{}", String::from_utf8_lossy(&r.body));
            r.json()
        };
        ok(self
            .call(
                Method::PUT,
                "/api/v1/principals/viewer",
                json!({"kind": "client"}).to_string(),
            )
            .await);
        for ds in datasources {
            ok(self
                .call(
                    Method::POST,
                    "/api/v1/grants",
                    json!({"principal": "viewer", "operation": "read", "store": "s", "datasource": ds,
                           "purpose": "look"})
                    .to_string(),
                )
                .await);
        }
        ok(self
            .call(
                Method::POST,
                "/api/v1/tokens",
                json!({"principal": "viewer"}).to_string(),
            )
            .await)["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[derive(Clone, Debug)]
struct Point {
    ts: i64,
    value: f64,
    tags: BTreeMap<String, String>,
}

/// Deterministic pseudo-random values in -1000..1500, in steps of 1/8 (exact in binary).
fn values(n: usize, mut state: u64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % 20_000) as f64 / 8.0 - 1000.0
        })
        .collect()
}

fn points(timestamps: impl IntoIterator<Item = i64>, seed: u64) -> Vec<Point> {
    let ts: Vec<i64> = timestamps.into_iter().collect();
    values(ts.len(), seed)
        .into_iter()
        .zip(ts)
        .map(|(value, ts)| Point {
            ts,
            value,
            tags: BTreeMap::new(),
        })
        .collect()
}

/// The buckets the chart must answer, from the points: a point goes to the bucket of its own
/// time, except on the hourly path (width of an hour or more) where a point of a whole hour
/// inside the range goes to the bucket of its hour's start. `(start, count, min, max, mean)`.
fn expected(points: &[Point], from: i64, to: i64, width: i64) -> Vec<(i64, u64, f64, f64, f64)> {
    let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for p in points.iter().filter(|p| (from..=to).contains(&p.ts)) {
        let hour = p.ts.div_euclid(HOUR) * HOUR;
        let whole_hour = width >= HOUR && hour >= from && hour + HOUR - 1 <= to;
        let at = if whole_hour { hour } else { p.ts };
        buckets.entry((at - from) / width).or_default().push(p.value);
    }
    buckets
        .into_iter()
        .map(|(b, vs)| {
            let min = vs.iter().copied().fold(f64::INFINITY, f64::min);
            let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (
                from + b * width,
                vs.len() as u64,
                min,
                max,
                vs.iter().sum::<f64>() / vs.len() as f64,
            )
        })
        .collect()
}

/// `a / b` rounded up, for positive numbers.
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

fn assert_chart(chart: &Value, points: &[Point]) {
    let (from, to, width) = (
        chart["from"].as_i64().unwrap(),
        chart["to"].as_i64().unwrap(),
        chart["width_ms"].as_i64().unwrap(),
    );
    let got: Vec<(i64, u64, f64, f64, f64)> = chart["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(
                b.as_object().unwrap().len(),
                5,
                "start, count, min, max, mean: {b}"
            );
            (
                b["start"].as_i64().unwrap(),
                b["count"].as_u64().unwrap(),
                b["min"].as_f64().unwrap(),
                b["max"].as_f64().unwrap(),
                b["mean"].as_f64().unwrap(),
            )
        })
        .collect();
    let want = expected(points, from, to, width);
    assert_eq!(got.len(), want.len(), "number of non-empty buckets");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((g.0, g.1, g.2, g.3), (w.0, w.1, w.2, w.3), "bucket at {}", w.0);
        assert!(
            (g.4 - w.4).abs() < 1e-9 * w.4.abs().max(1.0),
            "mean at {}: {} vs {}",
            w.0,
            g.4,
            w.4
        );
    }
    let in_range = points.iter().filter(|p| (from..=to).contains(&p.ts)).count() as u64;
    assert_eq!(
        got.iter().map(|b| b.1).sum::<u64>(),
        in_range,
        "every point in range is counted once"
    );
}

#[tokio::test]
async fn charts_a_series_over_its_whole_span_from_hourly_rollups_and_a_day_from_raw_points() {
    let b = TestBox::with_store().await;
    b.datasource("power", json!({"store_type": "ts"})).await;
    // 40 days, a point every 2 minutes and 7 seconds, starting off the hour.
    let start = 1_700_000_123_456;
    let pts = points((0..(40 * DAY / 127_000)).map(|i| start + i * 127_000), 1);
    b.write("power", &pts).await;
    let last = pts.last().unwrap().ts;

    // No bounds: the series' span, 500 buckets of about two hours (the hourly path).
    let chart = b.chart("power", "").await;
    assert_eq!(
        (chart["from"].as_i64(), chart["to"].as_i64()),
        (Some(start), Some(last))
    );
    let width = chart["width_ms"].as_i64().unwrap();
    assert_eq!(width, (last - start + 1 + 499) / 500);
    assert!(width >= HOUR);
    assert_chart(&chart, &pts);
    let n = chart["buckets"].as_array().unwrap().len();
    assert!((480..=500).contains(&n), "{n} buckets");

    // Explicit bounds, off the hour, on both paths.
    for (from, to, n) in [
        (start + 3 * DAY + 1234, start + 4 * DAY, 100),
        (start + 3 * DAY + 1234, start + 33 * DAY + 5, 300),
        (start - DAY, start + 10 * DAY, 2000),
    ] {
        let chart = b
            .chart("power", &format!("?from={from}&to={to}&points={n}"))
            .await;
        assert_eq!(
            (chart["from"].as_i64(), chart["to"].as_i64()),
            (Some(from), Some(to))
        );
        assert_eq!(chart["width_ms"].as_i64().unwrap(), ceil_div(to - from + 1, n));
        assert_chart(&chart, &pts);
    }

    // points is clamped to 10..=2000.
    let few = b.chart("power", "?points=3").await;
    assert_eq!(few["width_ms"].as_i64().unwrap(), ceil_div(last - start + 1, 10));
    assert_chart(&few, &pts);
    let many = b
        .chart(
            "power",
            &format!("?from={start}&to={}&points=100000", start + DAY),
        )
        .await;
    assert_eq!(many["width_ms"].as_i64().unwrap(), ceil_div(DAY + 1, 2000));
    assert_chart(&many, &pts);

    // Only one bound: the other is the span's.
    let tail = b.chart("power", &format!("?from={}", last - DAY)).await;
    assert_eq!(tail["to"].as_i64(), Some(last));
    assert_chart(&tail, &pts);
    // A range with no points in it, and a range after the data.
    let empty = b
        .chart("power", &format!("?from={}&to={}", last + 1, last + DAY))
        .await;
    assert_eq!(empty["buckets"], json!([]));
    let after = b.chart("power", &format!("?from={}", last + DAY)).await;
    assert_eq!(
        (after["from"].as_i64(), after["to"].as_i64()),
        (Some(last + DAY), Some(last + DAY))
    );
    assert_eq!(after["buckets"], json!([]));
}

#[tokio::test]
async fn a_chart_of_an_empty_series_has_no_buckets_and_bad_charts_are_refused() {
    let b = TestBox::with_store().await;
    b.datasource("empty", json!({"store_type": "ts"})).await;
    b.datasource("doc", json!({"store_type": "ts/blob"})).await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    let chart = b.chart("empty", "").await;
    assert_eq!(
        chart,
        json!({"from": null, "to": null, "width_ms": null, "buckets": []})
    );
    let chart = b.chart("empty", "?from=0&to=999").await;
    assert_eq!(chart, json!({"from": 0, "to": 999, "width_ms": 2, "buckets": []}));

    let r = b
        .call(Method::POST, &format!("{S}/ts/doc?timestamp=5"), r#"{"a":1}"#)
        .await;
    r.ok_body();
    let msg = b
        .fetch(&format!("{S}/ts/doc/chart"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("ts/blob") && msg.contains("numeric"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/ts/k/chart"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("kv"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/ts/empty/chart?from=10&to=5"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("after"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/ts/empty/chart?from=-1"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("-1"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/ts/empty/chart?points=many"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("points"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/ts/empty/chart?form=1"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("form"), "{msg}");
}

/// The rows of a CSV body, header first.
fn parse_csv(body: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| {
            r.expect("a well-formed CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn downloads_a_series_as_csv_in_pages_that_parse_back_to_the_points() {
    let b = TestBox::with_store().await;
    b.datasource("power", json!({"store_type": "ts"})).await;
    // 120,000 points (more than two pages of the download), three at each timestamp, and tags
    // that need quoting.
    let mut pts = points((0..120_000).map(|i| 1_000 + (i / 3) * 1_000), 2);
    for (i, p) in pts.iter_mut().enumerate().filter(|(i, _)| i % 1000 == 0) {
        p.tags.insert("room".into(), format!("lounge, \"north\" {i}"));
        p.tags.insert("phase".into(), "L1\nL2".into());
    }
    b.write("power", &pts).await;

    let r = b.fetch(&format!("{S}/ts/power/download?format=csv")).await;
    let rows = parse_csv(r.ok_body());
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        r.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"s-power.csv\""
    );
    assert_eq!(rows[0], ["timestamp", "time", "value", "tags"]);
    assert_eq!(rows.len() - 1, pts.len());
    for (row, p) in rows[1..].iter().zip(&pts) {
        assert_eq!(row.len(), 4);
        assert_eq!(row[0].parse::<i64>().unwrap(), p.ts);
        assert_eq!(row[2].parse::<f64>().unwrap(), p.value);
        let tags: BTreeMap<String, String> = serde_json::from_str(&row[3]).unwrap();
        assert_eq!(tags, p.tags);
    }
    assert_eq!(rows[1][1], "1970-01-01T00:00:01.000Z");
    assert_eq!(rows[2][3], "{}");
    assert_eq!(
        rows.last().unwrap()[1],
        "1970-01-01T11:06:40.000Z",
        "40,000 s after 1 s"
    );
    // Streamed a page at a time: 50,000 rows per chunk, never the whole file in one.
    let frames = b.frames(&format!("{S}/ts/power/download?format=csv")).await;
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(frames.iter().sum::<usize>(), r.body.len());

    // A range, inclusive at both ends; the default format is CSV.
    let r = b.fetch(&format!("{S}/ts/power/download?from=5000&to=7000")).await;
    let rows = parse_csv(r.ok_body());
    let want: Vec<&Point> = pts.iter().filter(|p| (5000..=7000).contains(&p.ts)).collect();
    assert_eq!(rows.len() - 1, want.len());
    assert_eq!(want.len(), 9);
    for (row, p) in rows[1..].iter().zip(want) {
        assert_eq!(
            (row[0].parse::<i64>().unwrap(), row[2].parse::<f64>().unwrap()),
            (p.ts, p.value)
        );
    }
}

#[tokio::test]
async fn downloads_a_series_as_the_json_rows_a_read_returns() {
    let b = TestBox::with_store().await;
    b.datasource("power", json!({"store_type": "ts"})).await;
    let mut pts = points((0..3000).map(|i| 60_000 * i), 3);
    pts[7].tags.insert("room".into(), "lounge".into());
    b.write("power", &pts).await;
    let r = b
        .fetch(&format!("{S}/ts/power/download?format=json&from=60000&to=600000"))
        .await;
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        r.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"s-power.json\""
    );
    let read = b.fetch(&format!("{S}/ts/power/range/60000/600000")).await.json();
    assert_eq!(r.json(), read);
    assert_eq!(read.as_array().unwrap().len(), 10);
    assert_eq!(read[6]["data"], json!({"value": pts[7].value, "room": "lounge"}));
    let all = b
        .fetch(&format!("{S}/ts/power/download?format=json"))
        .await
        .json();
    assert_eq!(all.as_array().unwrap().len(), 3000);
    assert_eq!(all, b.fetch(&format!("{S}/ts/power/since/0")).await.json());
    // Nothing in range is an empty array.
    b.datasource("none", json!({"store_type": "ts"})).await;
    assert_eq!(
        b.fetch(&format!("{S}/ts/none/download?format=json")).await.json(),
        json!([])
    );
    let r = b.fetch(&format!("{S}/ts/none/download")).await;
    assert_eq!(
        parse_csv(r.ok_body()),
        vec![vec!["timestamp", "time", "value", "tags"]]
    );
}

#[tokio::test]
async fn downloads_a_blob_series_with_its_documents_as_json_text() {
    let b = TestBox::with_store().await;
    b.datasource("doc", json!({"store_type": "ts/blob"})).await;
    let docs = [
        json!({"_type": "location", "lat": 51.5, "note": "a, \"quoted\"\nline"}),
        json!([1, 2, 3]),
        json!("just text"),
    ];
    for (i, d) in docs.iter().enumerate() {
        let r = b
            .call(
                Method::POST,
                &format!("{S}/ts/doc?timestamp={}", 1000 * (i + 1)),
                d.to_string(),
            )
            .await;
        r.ok_body();
    }
    let r = b.fetch(&format!("{S}/ts/doc/download?format=csv")).await;
    let rows = parse_csv(r.ok_body());
    assert_eq!(rows[0], ["timestamp", "time", "data"]);
    assert_eq!(rows.len(), 4);
    for (i, (row, d)) in rows[1..].iter().zip(&docs).enumerate() {
        assert_eq!(row[0], (1000 * (i + 1)).to_string());
        assert_eq!(serde_json::from_str::<Value>(&row[2]).unwrap(), *d);
    }
    let json = b.fetch(&format!("{S}/ts/doc/download?format=json")).await.json();
    assert_eq!(json, b.fetch(&format!("{S}/ts/doc/since/0")).await.json());
}

#[tokio::test]
async fn downloads_every_key_and_value_of_a_key_value_datasource() {
    let b = TestBox::with_store().await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    let binary = vec![0u8, 159, 146, 150, 255];
    let entries: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "profile",
            "application/json",
            br#"{"name": "Ada", "langs": ["en", "fr"]}"#.to_vec(),
        ),
        (
            "note.txt",
            "text/plain",
            "h\u{e9}llo, \"world\"\n".as_bytes().to_vec(),
        ),
        ("raw:bin", "application/octet-stream", binary.clone()),
    ];
    let token = b.token.clone();
    for (key, ct, bytes) in &entries {
        let r = b
            .call_as(
                &token,
                Method::PUT,
                &format!("{S}/kv/k/key/{key}"),
                ct,
                bytes.clone(),
            )
            .await;
        r.ok_body();
    }
    let r = b.fetch(&format!("{S}/kv/k/download?format=csv")).await;
    assert_eq!(
        r.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"s-k.csv\""
    );
    let rows = parse_csv(r.ok_body());
    assert_eq!(rows[0], ["key", "value"]);
    let got: BTreeMap<String, Value> = rows[1..]
        .iter()
        .map(|r| {
            (
                r[0].clone(),
                serde_json::from_str(&r[1]).expect("the value is JSON text"),
            )
        })
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
    let want: BTreeMap<String, Value> = [
        ("note.txt".to_owned(), json!("h\u{e9}llo, \"world\"\n")),
        (
            "profile".to_owned(),
            json!({"name": "Ada", "langs": ["en", "fr"]}),
        ),
        ("raw:bin".to_owned(), json!(b64)),
    ]
    .into();
    assert_eq!(got, want);
    assert_eq!(rows[1][0], "note.txt", "key order");

    let r = b.fetch(&format!("{S}/kv/k/download?format=json")).await;
    assert_eq!(
        r.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"s-k.json\""
    );
    assert_eq!(
        r.json(),
        json!([
            {"key": "note.txt", "type": "text", "content_type": "text/plain", "value": "h\u{e9}llo, \"world\"\n"},
            {"key": "profile", "type": "json", "content_type": "application/json",
             "value": {"name": "Ada", "langs": ["en", "fr"]}},
            {"key": "raw:bin", "type": "binary", "content_type": "application/octet-stream", "value": b64},
        ])
    );
    b.datasource("none", json!({"store_type": "kv"})).await;
    assert_eq!(
        b.fetch(&format!("{S}/kv/none/download?format=json")).await.json(),
        json!([])
    );
}

#[tokio::test]
async fn only_the_owner_charts_and_downloads() {
    let b = TestBox::with_store().await;
    b.datasource("t", json!({"store_type": "ts"})).await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    b.write("t", &points([1000, 2000], 4)).await;
    let token = b.viewer(&["t", "k"]).await;
    // The principal's grant works for what it is for ...
    let r = b
        .call_as(&token, Method::GET, &format!("{S}/ts/t/latest"), "", vec![])
        .await;
    r.ok_body();
    let r = b
        .call_as(&token, Method::GET, &format!("{S}/kv/k/keys"), "", vec![])
        .await;
    r.ok_body();
    // ... but the dashboard's data routes are the owner's.
    for uri in [
        format!("{S}/ts/t/chart"),
        format!("{S}/ts/t/download?format=csv"),
        format!("{S}/ts/t/download?format=json"),
        format!("{S}/kv/k/download?format=csv"),
    ] {
        let r = b.call_as(&token, Method::GET, &uri, "", vec![]).await;
        let msg = r.error(StatusCode::FORBIDDEN);
        assert!(msg.contains("owner"), "{uri}: {msg}");
    }
}

#[tokio::test]
async fn bad_formats_and_unknown_datasources_are_refused_clearly() {
    let b = TestBox::with_store().await;
    b.datasource("t", json!({"store_type": "ts"})).await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    for uri in [
        format!("{S}/ts/t/download?format=xlsx"),
        format!("{S}/kv/k/download?format=xlsx"),
    ] {
        let msg = b.fetch(&uri).await.error(StatusCode::BAD_REQUEST);
        assert!(
            msg.contains("xlsx") && msg.contains("format=csv") && msg.contains("format=json"),
            "{msg}"
        );
    }
    let msg = b
        .fetch(&format!("{S}/ts/k/download"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("/kv/k/download"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/kv/t/download"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("kv"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/ts/t/download?from=9&to=1"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("after"), "{msg}");
    let msg = b
        .fetch(&format!("{S}/kv/k/download?from=1"))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("from"), "{msg}");
    for uri in [
        format!("{S}/ts/nope/chart"),
        format!("{S}/ts/nope/download?format=csv"),
        format!("{S}/kv/nope/download?format=json"),
        "/api/v1/stores/other/ts/t/chart".to_owned(),
    ] {
        let msg = b.fetch(&uri).await.error(StatusCode::NOT_FOUND);
        assert!(msg.contains("nope") || msg.contains("other"), "{uri}: {msg}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_dashboard_data_routes() {
    let b = TestBox::with_store().await;
    let doc = b.fetch("/api/v1/openapi.json").await.json();
    for path in [
        "/api/v1/stores/{store}/ts/{datasource}/chart",
        "/api/v1/stores/{store}/ts/{datasource}/download",
        "/api/v1/stores/{store}/kv/{datasource}/download",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} missing");
    }
    let params = &doc["paths"]["/api/v1/stores/{store}/ts/{datasource}/chart"]["get"]["parameters"];
    let points = params
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "points")
        .unwrap_or_else(|| panic!("no points parameter: {params}"));
    assert_eq!(
        (&points["in"], &points["required"]),
        (&json!("query"), &json!(false)),
        "{points}"
    );
}
