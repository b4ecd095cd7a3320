//! The HTTP API driven end to end: the real router over real (temporary) stores, in process with
//! `oneshot`, and over a real TCP listener for the Server-Sent Events of `observe`.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use databox_arbiter::OwnerToken;
use serde_json::{Value, json};
use support::{Resp, S, TestBox};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tower::ServiceExt;

const MAX_BODY: usize = 16 * 1024 * 1024;

fn data_dir() -> TempDir {
    tempfile::tempdir().expect("temp dir")
}

impl TestBox {
    /// An owner's GET that must answer 200; its JSON.
    async fn get(&self, uri: &str) -> Value {
        self.fetch(uri).await.ok()
    }

    /// An owner's POST of JSON that must answer 200; its JSON.
    async fn post(&self, uri: &str, body: Value) -> Value {
        self.call(Method::POST, uri, body.to_string()).await.ok()
    }

    /// The number of points of a series (`/ts/{id}/length`).
    async fn ts_len(&self, id: &str) -> u64 {
        self.get(&format!("{S}/ts/{id}/length")).await["result"]
            .as_u64()
            .expect("length is a count")
    }

    /// The number of keys of a key-value datasource.
    async fn kv_len(&self, id: &str) -> u64 {
        self.get(&format!("{S}/kv/{id}/length")).await["result"]
            .as_u64()
            .expect("length is a count")
    }

    /// A numeric series `t` holding five points, 1000 ms apart:
    ///
    /// | ts   | value | room         |
    /// |------|-------|--------------|
    /// | 1000 | 2     | lounge       |
    /// | 2000 | 4     | kitchen      |
    /// | 3000 | 6     | lounge       |
    /// | 4000 | 6     | kitchen      |
    /// | 5000 | 7     | back-kitchen |
    ///
    /// All five: sum 25, mean 5, median 6, min 2, max 7, sample sd exactly 2.
    async fn with_series() -> TestBox {
        let b = TestBox::with_store().await;
        b.datasource(
            "t",
            json!({"store_type": "ts", "type": "temperature", "unit": "celsius"}),
        )
        .await;
        b.post(
            &format!("{S}/ts/t"),
            json!([
                {"timestamp": 1000, "value": 2, "room": "lounge"},
                {"timestamp": 2000, "value": 4, "room": "kitchen"},
                {"timestamp": 3000, "value": 6, "room": "lounge"},
                {"timestamp": 4000, "value": 6, "room": "kitchen"},
                {"timestamp": 5000, "value": 7, "room": "back-kitchen"},
            ]),
        )
        .await;
        b
    }
}

/// The timestamps of a read's rows, in order.
fn stamps(rows: &Value) -> Vec<i64> {
    rows.as_array()
        .unwrap_or_else(|| panic!("rows are an array: {rows}"))
        .iter()
        .map(|r| r["timestamp"].as_i64().expect("timestamp"))
        .collect()
}

/// The values of a numeric read's rows, in order.
fn values(rows: &Value) -> Vec<f64> {
    rows.as_array()
        .unwrap_or_else(|| panic!("rows are an array: {rows}"))
        .iter()
        .map(|r| r["data"]["value"].as_f64().expect("value"))
        .collect()
}

fn result(v: &Value) -> f64 {
    v["result"]
        .as_f64()
        .unwrap_or_else(|| panic!("not a numeric result: {v}"))
}

// ------------------------------------------------------------------------------------------------
// Authentication
// ------------------------------------------------------------------------------------------------

/// Every route of the router (and an unknown path and a wrong method), with a body that would
/// succeed if the request were authorised.
fn every_route() -> Vec<(Method, String, String)> {
    let ts_point = json!({"timestamp": 1000, "value": 1}).to_string();
    let batch = json!([{"timestamp": 1000, "data": {"value": 1}}]).to_string();
    let ds = json!({"store_type": "ts"}).to_string();
    let retention = json!({"keep_days": 30}).to_string();
    let e = String::new;
    vec![
        (Method::GET, "/cat".into(), e()),
        (
            Method::GET,
            "/cat?rel=urn:X-databox:rels:hasType&val=temperature".into(),
            e(),
        ),
        (Method::GET, "/api/v1/openapi.json".into(), e()),
        (Method::GET, "/api/v1/stores".into(), e()),
        (Method::GET, S.into(), e()),
        (Method::PUT, "/api/v1/stores/s2".into(), e()),
        (Method::DELETE, S.into(), e()),
        (Method::GET, format!("{S}/cat"), e()),
        (Method::GET, format!("{S}/datasources"), e()),
        (Method::GET, format!("{S}/datasources/t"), e()),
        (Method::PUT, format!("{S}/datasources/t2"), ds),
        (Method::DELETE, format!("{S}/datasources/t"), e()),
        (Method::PUT, format!("{S}/datasources/t/retention"), retention),
        (Method::DELETE, format!("{S}/datasources/t/retention"), e()),
        (Method::POST, format!("{S}/ts/t"), ts_point),
        (Method::POST, format!("{S}/ts/t/batch"), batch),
        (Method::GET, format!("{S}/ts/t/observe"), e()),
        (Method::GET, format!("{S}/ts/t/latest"), e()),
        (Method::GET, format!("{S}/ts/t,t/last/5"), e()),
        (Method::GET, format!("{S}/ts/t/length"), e()),
        (Method::DELETE, format!("{S}/ts/t/since/0"), e()),
        (Method::GET, format!("{S}/kv/k/keys"), e()),
        (Method::DELETE, format!("{S}/kv/k/keys"), e()),
        (Method::GET, format!("{S}/kv/k/length"), e()),
        (Method::GET, format!("{S}/kv/k/observe"), e()),
        (Method::GET, format!("{S}/kv/k/key/a"), e()),
        (Method::PUT, format!("{S}/kv/k/key/new"), r#"{"x":1}"#.into()),
        (Method::DELETE, format!("{S}/kv/k/key/a"), e()),
        (Method::GET, "/no/such/path".into(), e()),
        (Method::GET, "/api/v1/stores/s/ts".into(), e()),
        (Method::PATCH, "/api/v1/stores".into(), e()),
        (Method::POST, "/cat".into(), e()),
    ]
}

#[tokio::test]
async fn refuses_every_route_without_the_owner_token() {
    let b = TestBox::with_store().await;
    b.datasource("t", json!({"store_type": "ts"})).await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    let r = b
        .send(
            b.request(Method::PUT, &format!("{S}/kv/k/key/a"))
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("kept"))
                .unwrap(),
        )
        .await;
    r.ok();

    let other_dir = data_dir();
    let (_, other) = OwnerToken::load_or_create(other_dir.path()).unwrap();
    let other = other.expect("a new token").to_string();
    assert_ne!(other, b.token);

    let credentials: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("an empty header", Some(String::new())),
        ("Bearer with nothing", Some("Bearer".into())),
        ("Bearer and a space", Some("Bearer ".into())),
        ("Basic credentials", Some("Basic xyz".into())),
        ("the right token under Basic", Some(format!("Basic {}", b.token))),
        ("the right token with no scheme", Some(b.token.clone())),
        ("a wrong token", Some("Bearer dbx_owner_not-the-token".into())),
        (
            "the token with a character more",
            Some(format!("Bearer {}x", b.token)),
        ),
        (
            "a prefix of the token",
            Some(format!("Bearer {}", &b.token[..b.token.len() - 1])),
        ),
        ("another box's token", Some(format!("Bearer {other}"))),
    ];

    for (what, credential) in &credentials {
        for (method, uri, body) in every_route() {
            let mut req = Request::builder().method(method.clone()).uri(&uri);
            if let Some(c) = credential {
                req = req.header(header::AUTHORIZATION, c.as_str());
            }
            if !body.is_empty() {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            let r = b.send(req.body(Body::from(body)).unwrap()).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {method} {uri}");
            let msg = r.error(StatusCode::UNAUTHORIZED);
            assert!(msg.contains("Bearer"), "{what}: {method} {uri}: {msg}");
            assert_eq!(
                r.headers.get(header::WWW_AUTHENTICATE).unwrap(),
                "Bearer",
                "{what}: {method} {uri}"
            );
        }
    }

    // Nothing of the refused writes happened.
    assert_eq!(b.ts_len("t").await, 0);
    assert_eq!(b.kv_len("k").await, 1);
    assert_eq!(b.get(&format!("{S}/kv/k/keys")).await, json!(["a"]));
    let r = b.fetch(&format!("{S}/kv/k/key/a")).await;
    assert_eq!(&r.body[..], b"kept");
    let ds = b.get(&format!("{S}/datasources")).await;
    let ids: Vec<&str> = ds
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["k", "t"]);
    assert_eq!(
        b.get(&format!("{S}/datasources/t")).await["retention"],
        Value::Null
    );
    let stores = b.get("/api/v1/stores").await;
    assert_eq!(stores.as_array().unwrap().len(), 1, "{stores}");
    assert_eq!(stores[0]["id"], "s");
}

#[tokio::test]
async fn accepts_the_owner_token_after_bearer_or_lowercase_bearer() {
    let b = TestBox::new();
    for scheme in ["Bearer", "bearer"] {
        let r = b
            .send(
                Request::get("/api/v1/stores")
                    .header(header::AUTHORIZATION, format!("{scheme} {}", b.token))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.ok(), json!([]), "{scheme}");
    }
}

#[tokio::test]
async fn with_the_token_an_unknown_path_is_404_and_a_wrong_method_405_in_json() {
    let b = TestBox::new();
    let r = b.fetch("/no/such/path").await;
    assert!(r.error(StatusCode::NOT_FOUND).contains("/no/such/path"));
    let r = b.call(Method::PATCH, "/api/v1/stores", "").await;
    assert!(r.error(StatusCode::METHOD_NOT_ALLOWED).contains("PATCH"));
}

// ------------------------------------------------------------------------------------------------
// Happy paths
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn creates_a_store_and_its_datasources_and_describes_them() {
    let b = TestBox::new();
    let r = b
        .call(Method::PUT, S, json!({"description": "home sensors"}).to_string())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        r.json(),
        json!({"id": "s", "description": "home sensors", "datasources": []})
    );

    let d = b
        .call(
            Method::PUT,
            &format!("{S}/datasources/t"),
            json!({"store_type": "ts", "type": "temperature", "unit": "celsius"}).to_string(),
        )
        .await
        .ok();
    assert_eq!(d["id"], "t");
    assert_eq!(d["meta"]["store_type"], "ts");
    assert_eq!(d["meta"]["type"], "temperature");
    assert_eq!(d["meta"]["unit"], "celsius");
    b.datasource("doc", json!({"store_type": "ts/blob", "type": "event"}))
        .await;
    b.datasource("k", json!({"store_type": "kv", "type": "settings"}))
        .await;

    // Same kind again updates the description.
    let d = b
        .call(
            Method::PUT,
            &format!("{S}/datasources/t"),
            json!({"store_type": "ts", "type": "temperature", "unit": "kelvin"}).to_string(),
        )
        .await
        .ok();
    assert_eq!(d["meta"]["unit"], "kelvin");

    let s = b.get(S).await;
    assert_eq!(s["description"], "home sensors");
    let kinds: Vec<(&str, &str)> = s["datasources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["id"].as_str().unwrap(),
                d["meta"]["store_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(kinds, [("doc", "ts/blob"), ("k", "kv"), ("t", "ts")]);
    assert_eq!(b.get(&format!("{S}/datasources")).await, s["datasources"]);
    assert_eq!(
        b.get(&format!("{S}/datasources/t")).await["meta"]["unit"],
        "kelvin"
    );

    let list = b.get("/api/v1/stores").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], "s");

    // Retention set and cleared.
    let d = b
        .call(
            Method::PUT,
            &format!("{S}/datasources/t/retention"),
            json!({"keep_days": 30, "downsample_hourly": true}).to_string(),
        )
        .await
        .ok();
    assert_eq!(
        d["retention"],
        json!({"keep_days": 30, "downsample_hourly": true})
    );
    let d = b
        .call(Method::DELETE, &format!("{S}/datasources/t/retention"), "")
        .await
        .ok();
    assert_eq!(d["retention"], Value::Null);

    // Removing a datasource.
    assert_eq!(
        b.call(Method::DELETE, &format!("{S}/datasources/doc"), "")
            .await
            .ok(),
        json!({"removed": "doc"})
    );
    let r = b.fetch(&format!("{S}/datasources/doc")).await;
    assert!(r.error(StatusCode::NOT_FOUND).contains("\"doc\""));
}

#[tokio::test]
async fn writes_a_single_point_an_array_and_a_batch_in_read_format() {
    let b = TestBox::with_store().await;
    b.datasource("t", json!({"store_type": "ts"})).await;

    let w = b
        .post(
            &format!("{S}/ts/t"),
            json!({"timestamp": 1000, "value": 21.5, "room": "lounge"}),
        )
        .await;
    assert_eq!(w, json!({"written": 1, "timestamp": 1000}));

    let w = b
        .post(
            &format!("{S}/ts/t"),
            json!([{"timestamp": 2000, "value": 22}, {"timestamp": 3000, "value": -1.25}]),
        )
        .await;
    assert_eq!(w, json!({"written": 2}));

    let w = b
        .post(
            &format!("{S}/ts/t/batch"),
            json!([
                {"timestamp": 4000, "data": {"value": 23, "room": "kitchen"}},
                {"timestamp": 5000, "data": {"value": 24}},
            ]),
        )
        .await;
    assert_eq!(w, json!({"written": 2}));

    // Without a timestamp the box's time is used.
    let before = databox_store::now_ms();
    let w = b.post(&format!("{S}/ts/t"), json!({"value": 1})).await;
    let after = databox_store::now_ms();
    assert_eq!(w["written"], 1);
    let t = w["timestamp"].as_i64().unwrap();
    assert!((before..=after).contains(&t), "{before} <= {t} <= {after}");

    let rows = b.get(&format!("{S}/ts/t/first/5")).await;
    assert_eq!(
        rows,
        json!([
            {"timestamp": 1000, "data": {"value": 21.5, "room": "lounge"}},
            {"timestamp": 2000, "data": {"value": 22.0}},
            {"timestamp": 3000, "data": {"value": -1.25}},
            {"timestamp": 4000, "data": {"value": 23.0, "room": "kitchen"}},
            {"timestamp": 5000, "data": {"value": 24.0}},
        ])
    );
    assert_eq!(b.ts_len("t").await, 6);
}

#[tokio::test]
async fn reads_every_form() {
    let b = TestBox::with_series().await;
    let read = |q: &str| format!("{S}/ts/t/{q}");

    let latest = b.get(&read("latest")).await;
    assert_eq!(
        latest,
        json!([{"timestamp": 5000, "data": {"value": 7.0, "room": "back-kitchen"}}])
    );
    let earliest = b.get(&read("earliest")).await;
    assert_eq!(
        earliest,
        json!([{"timestamp": 1000, "data": {"value": 2.0, "room": "lounge"}}])
    );
    assert_eq!(stamps(&b.get(&read("last/2")).await), [5000, 4000]);
    assert_eq!(
        stamps(&b.get(&read("last/99")).await),
        [5000, 4000, 3000, 2000, 1000]
    );
    assert_eq!(stamps(&b.get(&read("first/2")).await), [1000, 2000]);
    assert_eq!(stamps(&b.get(&read("since/3000")).await), [3000, 4000, 5000]);
    assert_eq!(stamps(&b.get(&read("since/5001")).await), Vec::<i64>::new());
    assert_eq!(stamps(&b.get(&read("range/2000/4000")).await), [2000, 3000, 4000]);
    assert_eq!(stamps(&b.get(&read("range/2001/2999")).await), Vec::<i64>::new());
    assert_eq!(stamps(&b.get(&read("range/3000/3000")).await), [3000]);
    assert_eq!(b.get(&read("length")).await, json!({"result": 5}));
    assert_eq!(values(&b.get(&read("first/5")).await), [2.0, 4.0, 6.0, 6.0, 7.0]);

    // An empty series.
    b.datasource("empty", json!({"store_type": "ts"})).await;
    assert_eq!(b.get(&format!("{S}/ts/empty/latest")).await, json!([]));
    assert_eq!(b.get(&format!("{S}/ts/empty/length")).await, json!({"result": 0}));
}

#[tokio::test]
async fn joins_series_by_time_and_names_each_rows_datasource() {
    let b = TestBox::with_store().await;
    b.datasource("a", json!({"store_type": "ts"})).await;
    b.datasource("b", json!({"store_type": "ts"})).await;
    b.post(
        &format!("{S}/ts/a"),
        json!([{"timestamp": 1000, "value": 1}, {"timestamp": 3000, "value": 3}]),
    )
    .await;
    b.post(
        &format!("{S}/ts/b"),
        json!([{"timestamp": 2000, "value": 2}, {"timestamp": 4000, "value": 4}]),
    )
    .await;

    let rows = b.get(&format!("{S}/ts/a,b/last/5")).await;
    assert_eq!(
        rows,
        json!([
            {"timestamp": 4000, "datasource": "b", "data": {"value": 4.0}},
            {"timestamp": 3000, "datasource": "a", "data": {"value": 3.0}},
            {"timestamp": 2000, "datasource": "b", "data": {"value": 2.0}},
            {"timestamp": 1000, "datasource": "a", "data": {"value": 1.0}},
        ])
    );
    let rows = b.get(&format!("{S}/ts/a,b/first/3")).await;
    assert_eq!(stamps(&rows), [1000, 2000, 3000]);
    assert_eq!(b.get(&format!("{S}/ts/a,b/length")).await, json!({"result": 4}));
    assert_eq!(result(&b.get(&format!("{S}/ts/a,b/since/0/sum")).await), 10.0);

    // A read of one series carries no "datasource".
    let rows = b.get(&format!("{S}/ts/a/latest")).await;
    assert_eq!(rows, json!([{"timestamp": 3000, "data": {"value": 3.0}}]));
}

#[tokio::test]
async fn filters_rows_by_tag_equals_and_contains() {
    let b = TestBox::with_series().await;
    let read = |q: &str| format!("{S}/ts/t/{q}");

    let rows = b.get(&read("since/0/filter/room/equals/kitchen")).await;
    assert_eq!(stamps(&rows), [2000, 4000]);
    let rows = b.get(&read("since/0/filter/room/contains/kitchen")).await;
    assert_eq!(stamps(&rows), [2000, 4000, 5000]);
    let rows = b.get(&read("last/1/filter/room/equals/lounge")).await;
    assert_eq!(stamps(&rows), [3000]);
    let rows = b.get(&read("since/0/filter/room/equals/Kitchen")).await;
    assert_eq!(stamps(&rows), Vec::<i64>::new(), "filters are case-sensitive");
    let rows = b.get(&read("since/0/filter/floor/equals/1")).await;
    assert_eq!(stamps(&rows), Vec::<i64>::new(), "a missing tag never matches");
    // Two filters are combined with AND.
    let rows = b
        .get(&read(
            "since/0/filter/room/contains/kitchen/filter/room/contains/back",
        ))
        .await;
    assert_eq!(stamps(&rows), [5000]);
    // A percent-encoded value is decoded before comparing.
    let rows = b.get(&read("since/0/filter/room/equals/back%2Dkitchen")).await;
    assert_eq!(stamps(&rows), [5000]);
    assert_eq!(
        b.get(&read("length/filter/room/contains/kitchen")).await,
        json!({"result": 3})
    );
}

#[tokio::test]
async fn aggregates_give_exact_values() {
    let b = TestBox::with_series().await;
    let agg = |q: &str| format!("{S}/ts/t/{q}");

    // All five values: 2, 4, 6, 6, 7.
    assert_eq!(result(&b.get(&agg("since/0/sum")).await), 25.0);
    assert_eq!(b.get(&agg("since/0/count")).await, json!({"result": 5}));
    assert_eq!(result(&b.get(&agg("since/0/min")).await), 2.0);
    assert_eq!(result(&b.get(&agg("since/0/max")).await), 7.0);
    assert_eq!(result(&b.get(&agg("since/0/mean")).await), 5.0);
    assert_eq!(result(&b.get(&agg("since/0/median")).await), 6.0);
    assert_eq!(result(&b.get(&agg("since/0/sd")).await), 2.0);

    // Kitchen only (4, 6): an even count's median is the mean of the middle two.
    let k = "since/0/filter/room/equals/kitchen";
    assert_eq!(result(&b.get(&agg(&format!("{k}/median"))).await), 5.0);
    assert_eq!(result(&b.get(&agg(&format!("{k}/sum"))).await), 10.0);
    assert_eq!(result(&b.get(&agg(&format!("{k}/sd"))).await), 2f64.sqrt());

    // Forms limit what is aggregated: the last two are 7 and 6; range 1000..=3000 is 2, 4, 6.
    assert_eq!(result(&b.get(&agg("last/2/sum")).await), 13.0);
    assert_eq!(result(&b.get(&agg("latest/max")).await), 7.0);
    assert_eq!(result(&b.get(&agg("first/2/mean")).await), 3.0);
    assert_eq!(result(&b.get(&agg("range/1000/3000/mean")).await), 4.0);
    assert_eq!(result(&b.get(&agg("range/1000/3000/sd")).await), 2.0);

    // Aggregates of nothing.
    let none = "since/9000";
    assert_eq!(result(&b.get(&agg(&format!("{none}/sum"))).await), 0.0);
    assert_eq!(b.get(&agg(&format!("{none}/count"))).await, json!({"result": 0}));
    for a in ["min", "max", "mean", "median", "sd"] {
        assert_eq!(
            b.get(&agg(&format!("{none}/{a}"))).await,
            json!({"result": null}),
            "{a}"
        );
    }
    assert_eq!(b.get(&agg("latest/sd")).await, json!({"result": null}));
}

#[tokio::test]
async fn aggregates_over_ranges_that_span_hours_are_exact() {
    const H: i64 = 3_600_000;
    let b = TestBox::with_store().await;
    b.datasource("t", json!({"store_type": "ts"})).await;
    b.datasource("u", json!({"store_type": "ts"})).await;
    // Powers of two, so every sum names exactly which points it took.
    b.post(
        &format!("{S}/ts/t"),
        json!([
            {"timestamp": 0, "value": 1},
            {"timestamp": H - 1, "value": 2},
            {"timestamp": H, "value": 4},
            {"timestamp": H + 1, "value": 8},
            {"timestamp": 2 * H + 5, "value": 16},
            {"timestamp": 3 * H, "value": 32},
            {"timestamp": 5 * H + 7, "value": 64},
        ]),
    )
    .await;
    b.post(&format!("{S}/ts/u"), json!([{"timestamp": H, "value": 128}]))
        .await;
    let b = &b;
    let sum = move |q: String| async move { result(&b.get(&format!("{S}/ts/{q}/sum")).await) };

    assert_eq!(sum("t/since/0".into()).await, 127.0);
    assert_eq!(sum(format!("t/since/{H}")).await, 124.0);
    assert_eq!(sum(format!("t/since/{}", H + 1)).await, 120.0);
    assert_eq!(sum(format!("t/range/{}/{H}", H - 1)).await, 6.0);
    assert_eq!(sum(format!("t/range/{H}/{}", 3 * H)).await, 60.0);
    assert_eq!(sum(format!("t/range/{}/{}", H + 1, 3 * H - 1)).await, 24.0);
    assert_eq!(sum(format!("t/range/1/{}", 5 * H + 6)).await, 62.0);
    assert_eq!(sum(format!("t/range/{}/{}", 3 * H + 1, 5 * H + 6)).await, 0.0);
    assert_eq!(sum(format!("t,u/range/{H}/{}", 2 * H - 1)).await, 140.0);
    let agg = move |q: String| async move { b.get(&format!("{S}/ts/t/{q}")).await };
    assert_eq!(
        agg(format!("range/{H}/{}/count", 3 * H)).await,
        json!({"result": 4})
    );
    assert_eq!(result(&agg(format!("range/{H}/{}/min", 3 * H)).await), 4.0);
    assert_eq!(result(&agg(format!("range/{H}/{}/max", 3 * H)).await), 32.0);
    assert_eq!(result(&agg(format!("range/{H}/{}/mean", 3 * H)).await), 15.0);
    assert_eq!(
        agg(format!("range/{}/{}/mean", 3 * H + 1, 5 * H)).await,
        json!({"result": null})
    );
    assert_eq!(
        agg(format!("range/{}/{}/min", 3 * H + 1, 5 * H)).await,
        json!({"result": null})
    );

    // Deletes inside and across hours leave exactly the remaining points aggregated.
    let r = b
        .call(Method::DELETE, &format!("{S}/ts/t/range/{H}/{H}"), "")
        .await;
    assert_eq!(r.ok(), json!({"deleted": 1}));
    assert_eq!(sum("t/since/0".into()).await, 123.0);
    let r = b
        .call(
            Method::DELETE,
            &format!("{S}/ts/t/range/{}/{}", H - 1, 2 * H + 5),
            "",
        )
        .await;
    assert_eq!(r.ok(), json!({"deleted": 3}));
    assert_eq!(sum("t/since/0".into()).await, 97.0);
    assert_eq!(agg("since/0/count".into()).await, json!({"result": 3}));
    assert_eq!(result(&agg("since/0/max".into()).await), 64.0);
    assert_eq!(result(&agg(format!("since/{}/min", H)).await), 32.0);
    let r = b
        .call(Method::DELETE, &format!("{S}/ts/t/since/{}", 3 * H), "")
        .await;
    assert_eq!(r.ok(), json!({"deleted": 2}));
    assert_eq!(sum("t/since/0".into()).await, 1.0);
    assert_eq!(agg("length".into()).await, json!({"result": 1}));
    assert_eq!(sum("u/since/0".into()).await, 128.0);
}

#[tokio::test]
async fn deletes_points_since_a_time_and_in_a_range() {
    let b = TestBox::with_series().await;
    let r = b.call(Method::DELETE, &format!("{S}/ts/t/since/4000"), "").await;
    assert_eq!(r.ok(), json!({"deleted": 2}));
    assert_eq!(
        stamps(&b.get(&format!("{S}/ts/t/since/0")).await),
        [1000, 2000, 3000]
    );

    let r = b
        .call(Method::DELETE, &format!("{S}/ts/t/range/1000/2000"), "")
        .await;
    assert_eq!(r.ok(), json!({"deleted": 2}));
    assert_eq!(stamps(&b.get(&format!("{S}/ts/t/since/0")).await), [3000]);

    let r = b
        .call(Method::DELETE, &format!("{S}/ts/t/range/0/2999"), "")
        .await;
    assert_eq!(r.ok(), json!({"deleted": 0}));
    assert_eq!(b.ts_len("t").await, 1);
}

#[tokio::test]
async fn stores_blob_documents_at_the_timestamp_given_in_the_query() {
    let b = TestBox::with_store().await;
    b.datasource("doc", json!({"store_type": "ts/blob"})).await;
    let doc = json!({"kind": "door", "open": true, "who": ["ada", "bob"], "n": 1.5});

    let w = b.post(&format!("{S}/ts/doc?timestamp=1234"), doc.clone()).await;
    assert_eq!(w, json!({"written": 1, "timestamp": 1234}));
    let w = b
        .post(&format!("{S}/ts/doc?timestamp=2000"), json!("just a string"))
        .await;
    assert_eq!(w, json!({"written": 1, "timestamp": 2000}));
    let w = b
        .post(
            &format!("{S}/ts/doc/batch"),
            json!([{"timestamp": 3000, "data": {"kind": "window"}}]),
        )
        .await;
    assert_eq!(w, json!({"written": 1, "timestamp": 3000}));

    assert_eq!(
        b.get(&format!("{S}/ts/doc/earliest")).await,
        json!([{"timestamp": 1234, "data": doc}])
    );
    assert_eq!(
        b.get(&format!("{S}/ts/doc/range/1500/2500")).await,
        json!([{"timestamp": 2000, "data": "just a string"}])
    );
    // Blob filters look at top-level fields.
    assert_eq!(
        stamps(
            &b.get(&format!("{S}/ts/doc/since/0/filter/kind/equals/window"))
                .await
        ),
        [3000]
    );
    assert_eq!(
        b.get(&format!("{S}/ts/doc/since/0/count")).await,
        json!({"result": 3})
    );
    assert_eq!(b.ts_len("doc").await, 3);
}

#[tokio::test]
async fn key_value_values_keep_their_content_type_and_bytes() {
    let b = TestBox::with_store().await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    let binary: Vec<u8> = vec![0, 159, 146, 150, 255, 0, 10];
    let cases: Vec<(&str, &str, Vec<u8>, &str, &str)> = vec![
        (
            "profile",
            "application/json",
            br#"{"name":"Ada","langs":["en","fr"]}"#.to_vec(),
            "json",
            "application/json",
        ),
        (
            "note.txt",
            "text/plain; charset=utf-8",
            "h\u{e9}llo, world\n".as_bytes().to_vec(),
            "text",
            "text/plain; charset=utf-8",
        ),
        (
            "raw:bin@v1",
            "application/octet-stream",
            binary.clone(),
            "binary",
            "application/octet-stream",
        ),
        (
            "untyped",
            "",
            b"no content type".to_vec(),
            "binary",
            "application/octet-stream",
        ),
    ];
    for (key, sent_type, bytes, kind, got_type) in &cases {
        let mut req = b.request(Method::PUT, &format!("{S}/kv/k/key/{key}"));
        if !sent_type.is_empty() {
            req = req.header(header::CONTENT_TYPE, *sent_type);
        }
        let r = b.send(req.body(Body::from(bytes.clone())).unwrap()).await;
        assert_eq!(r.ok(), json!({"stored": key, "type": kind}), "{key}");

        let r = b.fetch(&format!("{S}/kv/k/key/{key}")).await;
        assert_eq!(r.status, StatusCode::OK, "{key}");
        assert_eq!(r.headers.get(header::CONTENT_TYPE).unwrap(), got_type, "{key}");
        assert_eq!(&r.body[..], &bytes[..], "{key}");
    }

    // Overwriting replaces the value and its type.
    let r = b
        .send(
            b.request(Method::PUT, &format!("{S}/kv/k/key/untyped"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("[1,2,3]"))
                .unwrap(),
        )
        .await;
    r.ok();
    let r = b.fetch(&format!("{S}/kv/k/key/untyped")).await;
    assert_eq!(r.headers.get(header::CONTENT_TYPE).unwrap(), "application/json");
    assert_eq!(&r.body[..], b"[1,2,3]");

    assert_eq!(
        b.get(&format!("{S}/kv/k/keys")).await,
        json!(["note.txt", "profile", "raw:bin@v1", "untyped"])
    );
    assert_eq!(b.kv_len("k").await, 4);

    let r = b.call(Method::DELETE, &format!("{S}/kv/k/key/profile"), "").await;
    assert_eq!(r.ok(), json!({"deleted": 1}));
    let r = b.fetch(&format!("{S}/kv/k/key/profile")).await;
    assert!(r.error(StatusCode::NOT_FOUND).contains("\"profile\""));
    let r = b.call(Method::DELETE, &format!("{S}/kv/k/key/profile"), "").await;
    assert!(r.error(StatusCode::NOT_FOUND).contains("\"profile\""));
    assert_eq!(b.kv_len("k").await, 3);

    let r = b.call(Method::DELETE, &format!("{S}/kv/k/keys"), "").await;
    assert_eq!(r.ok(), json!({"deleted": 3}));
    assert_eq!(b.kv_len("k").await, 0);
    assert_eq!(b.get(&format!("{S}/kv/k/keys")).await, json!([]));
}

/// The `val` under `rel` in a list of Hypercat metadata triples.
fn val_of<'a>(metadata: &'a Value, rel: &str) -> Option<&'a str> {
    metadata
        .as_array()?
        .iter()
        .find(|m| m["rel"] == rel)
        .and_then(|m| m["val"].as_str())
}

/// The `val` under `rel` in an item's metadata.
fn meta_val<'a>(item: &'a Value, rel: &str) -> Option<&'a str> {
    val_of(&item["item-metadata"], rel)
}

/// A catalogue read with `Host: box.local:8080`, so that hrefs are absolute.
async fn cat(b: &TestBox, uri: &str) -> Value {
    let req = b
        .request(Method::GET, uri)
        .header(header::HOST, "box.local:8080")
        .body(Body::empty())
        .unwrap();
    b.send(req).await.ok()
}

fn hrefs(cat: &Value) -> Vec<&str> {
    cat["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a catalogue has items: {cat}"))
        .iter()
        .map(|i| i["href"].as_str().expect("href"))
        .collect()
}

#[tokio::test]
async fn catalogues_list_stores_and_datasources_and_answer_simple_search() {
    let b = TestBox::with_store().await;
    b.datasource(
        "temp",
        json!({"store_type": "ts", "type": "temperature", "unit": "celsius", "location": "kitchen"}),
    )
    .await;
    b.datasource("hum", json!({"store_type": "ts", "type": "humidity"}))
        .await;
    b.datasource("cfg", json!({"store_type": "kv", "type": "settings"}))
        .await;
    b.call(Method::PUT, "/api/v1/stores/other", "").await;

    let base = "http://box.local:8080/api/v1/stores";

    // Root: one item per store, linking its catalogue.
    let root = cat(&b, "/cat").await;
    assert_eq!(
        val_of(&root["catalogue-metadata"], "urn:X-hypercat:rels:isContentType"),
        Some("application/vnd.hypercat.catalogue+json")
    );
    assert_eq!(
        hrefs(&root),
        [format!("{base}/other/cat"), format!("{base}/s/cat")]
    );

    // Root simple search finds the datasource item across stores.
    let found = cat(&b, "/cat?rel=urn:X-databox:rels:hasType&val=temperature").await;
    assert_eq!(hrefs(&found), [format!("{base}/s/ts/temp")]);
    let item = &found["items"][0];
    assert_eq!(meta_val(item, "urn:X-databox:rels:hasDatasourceid"), Some("temp"));
    assert_eq!(meta_val(item, "urn:X-databox:rels:hasStoreType"), Some("ts"));
    assert_eq!(meta_val(item, "urn:X-databox:rels:hasUnit"), Some("celsius"));
    assert_eq!(meta_val(item, "urn:X-databox:rels:hasLocation"), Some("kitchen"));
    assert_eq!(meta_val(item, "urn:X-databox:rels:hasStore"), Some("s"));

    let found = cat(&b, "/cat?val=kitchen").await;
    assert_eq!(hrefs(&found), [format!("{base}/s/ts/temp")]);
    let found = cat(&b, "/cat?rel=urn:X-databox:rels:hasStoreType&val=kv").await;
    assert_eq!(hrefs(&found), [format!("{base}/s/kv/cfg")]);
    let found = cat(&b, "/cat?rel=urn:X-databox:rels:hasType&val=pressure").await;
    assert_eq!(hrefs(&found), Vec::<String>::new());

    // href is an exact match.
    let href = format!("{base}/s/ts/hum");
    let found = cat(&b, &format!("/cat?href={href}")).await;
    assert_eq!(hrefs(&found), [href.as_str()]);
    let found = cat(&b, &format!("/cat?href={base}/s/ts/hu")).await;
    assert_eq!(hrefs(&found), Vec::<String>::new());
    let found = cat(&b, &format!("/cat?href={base}/s/cat")).await;
    assert_eq!(hrefs(&found), [format!("{base}/s/cat")]);

    // A store's catalogue lists its datasources and searches them.
    let store_cat = cat(&b, &format!("{S}/cat")).await;
    assert_eq!(
        hrefs(&store_cat),
        [
            format!("{base}/s/kv/cfg"),
            format!("{base}/s/ts/hum"),
            format!("{base}/s/ts/temp")
        ]
    );
    let found = cat(
        &b,
        &format!("{S}/cat?rel=urn:X-databox:rels:hasType&val=humidity"),
    )
    .await;
    assert_eq!(hrefs(&found), [format!("{base}/s/ts/hum")]);
    assert_eq!(
        hrefs(&cat(&b, "/api/v1/stores/other/cat").await),
        Vec::<String>::new()
    );

    // Without a Host header the hrefs are relative.
    let root = b.get("/cat").await;
    assert_eq!(hrefs(&root), ["/api/v1/stores/other/cat", "/api/v1/stores/s/cat"]);
}

#[tokio::test]
async fn the_openapi_document_lists_the_store_paths() {
    let b = TestBox::new();
    let doc = b.get("/api/v1/openapi.json").await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with('3'),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/cat",
        "/api/v1/stores",
        "/api/v1/stores/{store}",
        "/api/v1/stores/{store}/cat",
        "/api/v1/stores/{store}/datasources",
        "/api/v1/stores/{store}/datasources/{datasource}",
        "/api/v1/stores/{store}/datasources/{datasource}/retention",
        "/api/v1/stores/{store}/ts/{datasource}",
        "/api/v1/stores/{store}/ts/{datasource}/batch",
        "/api/v1/stores/{store}/ts/{datasource}/observe",
        "/api/v1/stores/{store}/ts/{datasources}/{query}",
        "/api/v1/stores/{store}/kv/{datasource}/key/{key}",
        "/api/v1/stores/{store}/kv/{datasource}/keys",
        "/api/v1/stores/{store}/kv/{datasource}/length",
        "/api/v1/stores/{store}/kv/{datasource}/observe",
    ] {
        assert!(paths.contains_key(p), "{p} missing from {:?}", paths.keys());
    }
    assert!(paths["/api/v1/stores/{store}"].get("put").is_some());
    assert!(paths["/api/v1/stores/{store}"].get("delete").is_some());
    assert!(doc["components"]["securitySchemes"]["owner_token"].is_object());
}

#[tokio::test]
async fn an_erased_store_is_gone() {
    let b = TestBox::with_series().await;
    let r = b.call(Method::DELETE, S, "").await;
    assert_eq!(r.ok(), json!({"erased": "s"}));

    let r = b.fetch(S).await;
    assert!(r.error(StatusCode::NOT_FOUND).contains("\"s\""));
    let r = b.fetch(&format!("{S}/ts/t/latest")).await;
    r.error(StatusCode::NOT_FOUND);
    let r = b
        .call(
            Method::POST,
            &format!("{S}/ts/t"),
            json!({"value": 1}).to_string(),
        )
        .await;
    r.error(StatusCode::NOT_FOUND);
    let r = b.call(Method::DELETE, S, "").await;
    r.error(StatusCode::NOT_FOUND);
    assert_eq!(b.get("/api/v1/stores").await, json!([]));
    assert_eq!(hrefs(&b.get("/cat").await), Vec::<String>::new());

    // The id can be used again, for an empty store.
    let r = b.call(Method::PUT, S, "").await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(b.get(S).await["datasources"], json!([]));
}

// ------------------------------------------------------------------------------------------------
// Bad input
// ------------------------------------------------------------------------------------------------

/// A path relative to store `s` (`ts/t` is `/api/v1/stores/s/ts/t`), or an absolute one.
fn at(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{S}/{path}")
    }
}

/// A box with store `s`, an empty numeric series `t`, a blob series `doc` and a key-value `k`.
async fn empty_box() -> TestBox {
    let b = TestBox::with_store().await;
    b.datasource("t", json!({"store_type": "ts"})).await;
    b.datasource("doc", json!({"store_type": "ts/blob"})).await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    b
}

/// Asserts that nothing at all is stored in `empty_box`'s datasources, and that no other
/// datasource or store appeared.
async fn assert_nothing_written(b: &TestBox, what: &str) {
    assert_eq!(b.ts_len("t").await, 0, "{what}: t");
    assert_eq!(b.ts_len("doc").await, 0, "{what}: doc");
    assert_eq!(b.kv_len("k").await, 0, "{what}: k");
    let ds = b.get(&format!("{S}/datasources")).await;
    let ids: Vec<&str> = ds
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["doc", "k", "t"], "{what}");
    let stores = b.get("/api/v1/stores").await;
    assert_eq!(stores.as_array().unwrap().len(), 1, "{what}: {stores}");
}

/// Sends a request and asserts a JSON error of `status` whose message contains `needle`.
async fn refused(b: &TestBox, req: Request<Body>, status: u16, needle: &str) -> String {
    let status = StatusCode::from_u16(status).unwrap();
    let what = format!("{} {}", req.method(), req.uri());
    let r = b.send(req).await;
    let shown = String::from_utf8_lossy(&r.body[..r.body.len().min(500)]).into_owned();
    assert_eq!(r.status, status, "{what}: {shown}");
    let msg = r.error(status);
    assert!(
        msg.contains(needle),
        "{what}: {msg:?} does not mention {needle:?}"
    );
    msg
}

/// A request with the owner's token and a JSON body.
fn json_req(b: &TestBox, method: Method, uri: &str, body: &str) -> Request<Body> {
    b.request(method, uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// A request with the owner's token and no body.
fn empty_req(b: &TestBox, method: Method, uri: &str) -> Request<Body> {
    b.request(method, uri).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn refuses_malformed_writes_and_stores_nothing() {
    let b = empty_box().await;
    #[rustfmt::skip]
    let cases: &[(&str, &str, u16, &str)] = &[
        ("ts/t", r#"{"value": 1"#, 400, "malformed JSON"),
        ("ts/t", "not json", 400, "malformed JSON"),
        ("ts/t", "", 400, "the request body is empty"),
        ("ts/t", r#"{"value": "hot"}"#, 400, "\"value\" must be a number, got a string"),
        ("ts/t", r#"{"value": null}"#, 400, "\"value\" must be a number, got null"),
        ("ts/t", r#"{"room": "lounge"}"#, 400, "needs a numeric \"value\""),
        ("ts/t", "42", 400, "must be a JSON object"),
        ("ts/t", r#"{"value": 1, "room": 5}"#, 400, "tag \"room\" must be a string, got a number"),
        ("ts/t", r#"{"value": 1, "room": true}"#, 400, "tag \"room\" must be a string"),
        ("ts/t", r#"{"value": 1, "../x": "a"}"#, 400, "invalid tag name \"../x\""),
        ("ts/t", r#"{"value": 1, "timestamp": -1}"#, 400, "timestamp -1 is outside"),
        ("ts/t", r#"{"value": 1, "timestamp": 1.5}"#, 400, "\"timestamp\" must be an integer"),
        ("ts/t", r#"{"value": 1, "timestamp": "1000"}"#, 400, "\"timestamp\" must be an integer"),
        // One bad point refuses the whole array and the whole batch.
        ("ts/t", r#"[{"value": 1}, {"value": "x"}]"#, 400, "\"value\" must be a number"),
        ("ts/t/batch", r#"[{"data": {"value": 1}}, {"data": {"value": "x"}}]"#, 400, "must be a number"),
        // Empty batches.
        ("ts/t", "[]", 400, "the batch is empty"),
        ("ts/t/batch", "[]", 400, "the batch is empty"),
        ("ts/doc/batch", "[]", 400, "the batch is empty"),
        ("ts/t/batch", r#"{"data": {"value": 1}}"#, 400, "malformed JSON"),
        ("ts/t/batch", r#"[{"timestamp": -5, "data": {"value": 1}}]"#, 400, "timestamp -5 is outside"),
        ("ts/doc/batch", r#"[{"timestamp": 5}]"#, 400, "needs a \"data\" field"),
        ("ts/doc", "{", 400, "malformed JSON"),
        ("ts/doc?timestamp=-1", "{}", 400, "timestamp -1 is outside"),
        ("ts/doc?timestamp=soon", "{}", 400, "timestamp"),
        // Unknown query parameters on a write.
        ("ts/t?foo=1", r#"{"value": 1}"#, 400, "unknown field `foo`"),
        ("ts/doc?timestamp=1&foo=1", "{}", 400, "unknown field `foo`"),
        // Numeric points carry their timestamp in the body.
        ("ts/t?timestamp=1000", r#"{"value": 1}"#, 400, "\"timestamp\" in the body"),
        // The kind of the datasource decides the route.
        ("ts/k", r#"{"value": 1}"#, 400, "k is a key-value datasource; use /kv/k/key/KEY"),
        ("ts/k/batch", r#"[{"data": {"value": 1}}]"#, 400, "k is a key-value datasource"),
        // Unknown store and datasource.
        ("/api/v1/stores/nope/ts/t", r#"{"value": 1}"#, 404, "store \"nope\" does not exist"),
        ("ts/nope", r#"{"value": 1}"#, 404, "datasource \"nope\" does not exist in store \"s\""),
        ("ts/nope/batch", r#"[{"data": {"value": 1}}]"#, 404, "datasource \"nope\" does not exist"),
    ];
    for &(path, body, status, needle) in cases {
        let uri = at(path);
        refused(&b, json_req(&b, Method::POST, &uri, body), status, needle).await;
        assert_nothing_written(&b, &format!("POST {uri} {body}")).await;
    }
}

#[tokio::test]
async fn refuses_bad_reads_with_a_message_naming_the_problem() {
    let b = TestBox::with_series().await;
    b.datasource("doc", json!({"store_type": "ts/blob"})).await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    let too_many = format!("ts/{}/latest", vec!["t"; 17].join(","));
    #[rustfmt::skip]
    let cases: &[(&str, u16, &str)] = &[
        ("ts/t/last/0", 400, "count 0 is out of range 1..=10000000"),
        ("ts/t/last/99999999999", 400, "count 99999999999 is out of range"),
        ("ts/t/first/0", 400, "out of range"),
        ("ts/t/last/-1", 400, "\"-1\" is not a count"),
        ("ts/t/last/x", 400, "\"x\" is not a count"),
        ("ts/t/last", 400, "missing N after last/"),
        ("ts/t/range/5000/1000", 400, "range start 5000 is after its end 1000"),
        ("ts/t/range/1000", 400, "missing T2"),
        ("ts/t/since/-1", 400, "timestamp -1 is outside"),
        ("ts/t/since/yesterday", 400, "\"yesterday\" is not a timestamp"),
        ("ts/t/since/0/average", 400, "unexpected \"average\""),
        ("ts/t/since/0/mean/sum", 400, "unexpected \"sum\" after the aggregate mean"),
        ("ts/t/length/sum", 400, "length is already an aggregate"),
        ("ts/t/sometime", 400, "unknown read form \"sometime\""),
        ("ts/t/since%2F0", 400, "unknown read form \"since/0\""),
        ("ts/t/latest/", 400, "unexpected \"\""),
        ("ts/t/since/0/filter/room/like/x", 400, "unknown filter \"like\""),
        ("ts/t/since/0/filter/room/equals", 400, "missing value after filter/TAG/OP/"),
        ("ts/t/since/0/filter/..%2Fx/equals/a", 400, "invalid tag name \"../x\""),
        ("ts/t/hourly/since/0/filter/room/equals/a", 400, "hourly history has no tags"),
        ("ts/doc/since/0/sum", 400, "only count and length apply"),
        ("ts/t,doc/latest", 400, "a join needs series of one kind"),
        (&too_many, 400, "a join reads at most 16 datasources"),
        ("ts/t,/latest", 400, "invalid datasource id \"\": it is empty"),
        ("ts/k/latest", 400, "datasource \"k\" is a kv datasource"),
        ("ts/nope/latest", 404, "datasource \"nope\" does not exist"),
        ("ts/t,nope/latest", 404, "datasource \"nope\" does not exist"),
        ("/api/v1/stores/nope/ts/t/latest", 404, "store \"nope\" does not exist"),
        ("kv/t/keys", 400, "datasource \"t\" is a ts datasource"),
        ("kv/k/key/nope", 404, "key \"nope\" does not exist in datasource \"k\""),
        ("kv/nope/length", 404, "datasource \"nope\" does not exist"),
        ("/cat?foo=1", 400, "unknown field `foo`"),
        ("cat?foo=1", 400, "unknown field `foo`"),
    ];
    for &(path, status, needle) in cases {
        refused(&b, empty_req(&b, Method::GET, &at(path)), status, needle).await;
    }
    assert_eq!(b.ts_len("t").await, 5);
}

#[tokio::test]
async fn refuses_bad_deletes_and_deletes_nothing() {
    let b = TestBox::with_series().await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    #[rustfmt::skip]
    let cases: &[(&str, u16, &str)] = &[
        ("ts/t/last/5", 400, "deletes take since/T or range/T1/T2, not \"last\""),
        ("ts/t/latest", 400, "deletes take since/T or range/T1/T2"),
        ("ts/t/range/5000/1000", 400, "after its end"),
        ("ts/t/since/-1", 400, "outside"),
        ("ts/t/since/0/sum", 400, "unexpected \"sum\" after the delete range"),
        ("ts/k/since/0", 400, "\"k\" is a kv datasource"),
        ("ts/t,k/since/0", 400, "\"k\" is a kv datasource"),
        ("ts/nope/since/0", 404, "datasource \"nope\" does not exist"),
        ("ts/t,nope/since/0", 404, "datasource \"nope\" does not exist"),
    ];
    for &(path, status, needle) in cases {
        let uri = at(path);
        refused(&b, empty_req(&b, Method::DELETE, &uri), status, needle).await;
        assert_eq!(b.ts_len("t").await, 5, "{uri}");
    }
}

#[tokio::test]
async fn refuses_ids_that_escape_after_percent_decoding() {
    let b = empty_box().await;
    let long = "x".repeat(65);
    #[rustfmt::skip]
    let bad_ids: Vec<(&str, &str)> = vec![
        ("..%2F..%2Fetc", "\"../../etc\": it must start with a letter or a digit"),
        ("%2E%2E", "\"..\": it must start with a letter or a digit"),
        ("..", "\"..\": it must start with a letter or a digit"),
        ("a%2Fb", "\"a/b\": it contains a path separator, a dot or NUL"),
        ("a%5Cb", "it contains a path separator, a dot or NUL"),
        ("a%2E%2E", "it contains a path separator, a dot or NUL"),
        ("a%00b", "it contains a path separator, a dot or NUL"),
        ("%00", "it must start with a letter or a digit"),
        ("a%20b", "it contains a character outside A-Z a-z 0-9 _ -"),
        ("%C3%A9", "it must start with a letter or a digit"),
        ("%FF", "is not UTF-8 after decoding"),
        (&long, "it is longer than 64 characters"),
    ];
    for (id, reason) in bad_ids {
        let what = |kind: &str| {
            if id == "%FF" {
                reason.to_owned()
            } else {
                format!("invalid {kind}")
            }
        };
        let (store, ds) = (what("store id"), what("datasource id"));
        let ts = r#"{"store_type":"ts"}"#;
        #[rustfmt::skip]
        let requests = [
            (json_req(&b, Method::PUT, &format!("/api/v1/stores/{id}"), "{}"), &store),
            (json_req(&b, Method::PUT, &format!("/api/v1/stores/{id}/datasources/t"), ts), &store),
            (empty_req(&b, Method::GET, &format!("/api/v1/stores/{id}/ts/t/latest")), &store),
            (json_req(&b, Method::PUT, &format!("{S}/datasources/{id}"), ts), &ds),
            (json_req(&b, Method::POST, &format!("{S}/ts/{id}"), r#"{"value": 1}"#), &ds),
            (json_req(&b, Method::POST, &format!("{S}/ts/{id}/batch"), r#"[{"data":{"value":1}}]"#), &ds),
            (json_req(&b, Method::PUT, &format!("{S}/kv/{id}/key/a"), "1"), &ds),
            (empty_req(&b, Method::GET, &format!("{S}/ts/{id}/latest")), &ds),
            (empty_req(&b, Method::GET, &format!("{S}/ts/t,{id}/latest")), &ds),
            (empty_req(&b, Method::DELETE, &format!("{S}/ts/{id}/since/0")), &ds),
            (empty_req(&b, Method::DELETE, &format!("{S}/datasources/{id}")), &ds),
            (empty_req(&b, Method::GET, &format!("{S}/ts/{id}/observe")), &ds),
        ];
        for (req, needle) in requests {
            let msg = refused(&b, req, 400, needle).await;
            assert!(msg.contains(reason), "{id}: {msg:?} does not say {reason:?}");
        }
        // Keys may hold dots (not a leading one) and be up to 255 characters long.
        if id != long && !id.starts_with("a%2E") {
            let needle = if id == "%FF" {
                reason.to_owned()
            } else {
                "invalid key".to_owned()
            };
            let req = json_req(&b, Method::PUT, &format!("{S}/kv/k/key/{id}"), "1");
            refused(&b, req, 400, &needle).await;
        }
        assert_nothing_written(&b, id).await;
    }

    // The edges of the rules: 64-character ids and 255-character keys are fine, one more is not.
    let max = "x".repeat(64);
    b.datasource(&max, json!({"store_type": "ts"})).await;
    b.call(Method::DELETE, &format!("{S}/datasources/{max}"), "")
        .await
        .ok();
    let req = json_req(&b, Method::PUT, &format!("{S}/kv/k/key/{}", "k".repeat(256)), "1");
    refused(&b, req, 400, "it is longer than 255 characters").await;
    let req = json_req(&b, Method::PUT, &format!("{S}/kv/k/key/.hidden"), "1");
    refused(&b, req, 400, "invalid key \".hidden\"").await;
    assert_nothing_written(&b, "edges").await;
    let r = b
        .call(Method::PUT, &format!("{S}/kv/k/key/{}", "k".repeat(255)), "1")
        .await;
    assert_eq!(r.ok()["type"], "json");
}

#[tokio::test]
async fn refuses_an_oversized_body_with_413() {
    let b = empty_box().await;
    let huge = vec![b' '; MAX_BODY + 1];
    for path in [
        "ts/t",
        "ts/t/batch",
        "ts/doc?timestamp=1",
        "kv/k/key/big",
        "datasources/big",
        "/api/v1/stores/big",
    ] {
        let method = if path.starts_with("ts/") {
            Method::POST
        } else {
            Method::PUT
        };
        let uri = at(path);
        let req = b
            .request(method, &uri)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(huge.clone()))
            .unwrap();
        refused(&b, req, 413, "larger than the limit of 16777216 bytes").await;
        assert_nothing_written(&b, &uri).await;
    }
    // Exactly the limit is accepted (as a binary value).
    let req = b
        .request(Method::PUT, &format!("{S}/kv/k/key/big"))
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from(vec![7u8; MAX_BODY]))
        .unwrap();
    b.send(req).await.ok();
    assert_eq!(b.kv_len("k").await, 1);
}

#[tokio::test]
async fn refuses_bad_key_value_puts_and_stores_nothing() {
    let b = empty_box().await;
    #[rustfmt::skip]
    let cases: &[(&str, &str, &[u8], u16, &str)] = &[
        ("kv/k/key/a", "application/json", br#"{"a": "#, 400, "the value is not valid JSON"),
        ("kv/k/key/a", "application/json", b"", 400, "the value is not valid JSON"),
        ("kv/k/key/a", "application/json; charset=utf-8", b"{'a': 1}", 400, "not valid JSON"),
        ("kv/k/key/a", "application/ld+json", b"nope", 400, "not valid JSON"),
        ("kv/k/key/a", "text/plain", &[0xff, 0xfe], 400, "a text value must be UTF-8"),
        ("kv/t/key/a", "application/json", b"1", 400, "datasource \"t\" is a ts datasource"),
        ("kv/doc/key/a", "application/json", b"1", 400, "datasource \"doc\" is a ts/blob datasource"),
        ("kv/nope/key/a", "application/json", b"1", 404, "datasource \"nope\" does not exist"),
        ("/api/v1/stores/nope/kv/k/key/a", "application/json", b"1", 404, "store \"nope\" does not exist"),
    ];
    for &(path, content_type, body, status, needle) in cases {
        let uri = at(path);
        let req = b
            .request(Method::PUT, &uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_vec()))
            .unwrap();
        refused(&b, req, status, needle).await;
        assert_nothing_written(&b, &format!("{uri} {content_type}")).await;
    }
}

#[tokio::test]
async fn refuses_bad_stores_and_datasources() {
    let b = empty_box().await;
    let downsample = r#"{"keep_days": 1, "downsample_hourly": true}"#;
    #[rustfmt::skip]
    let cases: &[(&str, &str, &str, u16, &str)] = &[
        ("PUT", S, "", 409, "store \"s\" already exists"),
        ("PUT", "/api/v1/stores/x", r#"{"descr": "x"}"#, 400, "unknown field `descr`"),
        ("PUT", "/api/v1/stores/x", "{", 400, "malformed JSON"),
        ("PUT", "/api/v1/stores/x", r#"{"description": "a\nb"}"#, 400, "no control characters"),
        ("PUT", "datasources/t", r#"{"store_type": "kv"}"#, 409, "\"t\" already exists as a ts datasource"),
        ("PUT", "datasources/x", r#"{"store_type": "tsdb"}"#, 400, "unknown variant `tsdb`"),
        ("PUT", "datasources/x", r#"{"type": "temperature"}"#, 400, "missing field `store_type`"),
        ("PUT", "datasources/x", r#"{"store_type": "ts", "colour": "red"}"#, 400, "unknown field `colour`"),
        ("PUT", "datasources/x", "", 400, "the request body is empty"),
        ("PUT", "datasources/x", r#"{"store_type": "ts", "unit": "a\u0000"}"#, 400, "field \"unit\""),
        ("PUT", "/api/v1/stores/nope/datasources/x", r#"{"store_type": "ts"}"#, 404, "store \"nope\""),
        ("PUT", "datasources/t/retention", r#"{"keep_days": 0}"#, 400, "keep_days must be within 1..=36500"),
        ("PUT", "datasources/t/retention", r#"{"keep": 1}"#, 400, "unknown field `keep`"),
        ("PUT", "datasources/doc/retention", downsample, 400, "only numeric series can be downsampled"),
        ("PUT", "datasources/k/retention", r#"{"keep_days": 1}"#, 400, "\"k\" is a kv datasource"),
        ("GET", "/api/v1/stores/nope", "", 404, "store \"nope\" does not exist"),
        ("DELETE", "/api/v1/stores/nope", "", 404, "store \"nope\" does not exist"),
        ("DELETE", "datasources/nope", "", 404, "datasource \"nope\" does not exist"),
    ];
    for &(method, path, body, status, needle) in cases {
        let uri = at(path);
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        refused(&b, json_req(&b, method.clone(), &uri, body), status, needle).await;
        assert_nothing_written(&b, &format!("{method} {uri} {body}")).await;
    }
    assert_eq!(
        b.get(&format!("{S}/datasources/t")).await["retention"],
        Value::Null
    );
}

// ------------------------------------------------------------------------------------------------
// Observe (Server-Sent Events over a real socket)
// ------------------------------------------------------------------------------------------------

/// Serves the box's router on 127.0.0.1 with an ephemeral port.
async fn serve(b: &TestBox) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = b.app.clone();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// A minimal HTTP/1.1 client reading one Server-Sent Events response.
struct SseClient {
    stream: TcpStream,
    /// Bytes read from the socket and not yet de-chunked.
    raw: Vec<u8>,
    /// The de-chunked body not yet split into events.
    body: String,
}

impl SseClient {
    /// Sends the GET and reads the head; returns the status line and head, and the client.
    async fn open(addr: SocketAddr, path: &str, token: Option<&str>) -> (String, SseClient) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{auth}\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut c = SseClient {
            stream,
            raw: Vec::new(),
            body: String::new(),
        };
        let head = loop {
            if let Some(i) = c.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(c.raw[..i].to_vec()).unwrap();
                c.raw.drain(..i + 4);
                break head;
            }
            assert!(c.fill().await, "the connection closed before the response head");
        };
        (head, c)
    }

    /// Reads more bytes; false at end of stream.
    async fn fill(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        let n = self.stream.read(&mut buf).await.unwrap();
        self.raw.extend_from_slice(&buf[..n]);
        n > 0
    }

    /// Moves every complete chunk from `raw` to `body`.
    fn dechunk(&mut self) {
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_line = std::str::from_utf8(&self.raw[..eol]).unwrap();
            let size = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
            let end = eol + 2 + size + 2;
            if self.raw.len() < end {
                return;
            }
            let chunk = self.raw[eol + 2..eol + 2 + size].to_vec();
            self.body.push_str(std::str::from_utf8(&chunk).unwrap());
            self.raw.drain(..end);
        }
    }

    /// The next event (name, data), skipping keep-alive comments; `None` if none comes within
    /// `wait`.
    async fn next_event(&mut self, wait: Duration) -> Option<(String, String)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            self.dechunk();
            while let Some(i) = self.body.find("\n\n") {
                let block: String = self.body.drain(..i + 2).collect();
                let mut name = String::from("message");
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
                    }
                }
                if !data.is_empty() {
                    return Some((name, data.join("\n")));
                }
            }
            match tokio::time::timeout_at(deadline, self.fill()).await {
                Ok(true) => {}
                Ok(false) => panic!("the event stream ended"),
                Err(_) => return None,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_streams_each_committed_point_of_that_datasource_only() {
    let b = empty_box().await;
    b.datasource("u", json!({"store_type": "ts"})).await;
    let addr = serve(&b).await;

    // The socket is guarded too.
    let (head, _) = SseClient::open(addr, &format!("{S}/ts/t/observe"), None).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");

    let (head, mut sse) = SseClient::open(addr, &format!("{S}/ts/t/observe"), Some(&b.token)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{head}"
    );

    b.post(
        &format!("{S}/ts/t"),
        json!({"timestamp": 1000, "value": 21.5, "room": "lounge"}),
    )
    .await;
    b.post(&format!("{S}/ts/u"), json!({"timestamp": 1500, "value": 99}))
        .await;
    b.post(
        &format!("{S}/ts/t/batch"),
        json!([{"timestamp": 2000, "data": {"value": -3}}]),
    )
    .await;

    let wait = Duration::from_secs(10);
    let (name, data) = sse.next_event(wait).await.expect("the first point");
    assert_eq!(name, "data");
    let ev: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        ev,
        json!({
            "event": "point", "datasource": "t", "timestamp": 1000,
            "data": {"value": 21.5, "room": "lounge"},
        })
    );
    // The write to u came between the two and must not have arrived.
    let (name, data) = sse.next_event(wait).await.expect("the second point");
    assert_eq!(name, "data");
    let ev: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(
        ev,
        json!({"event": "point", "datasource": "t", "timestamp": 2000, "data": {"value": -3.0}})
    );
    assert_eq!(sse.next_event(Duration::from_millis(300)).await, None);

    // Deletes are observed too.
    b.call(Method::DELETE, &format!("{S}/ts/u/since/0"), "")
        .await
        .ok();
    b.call(Method::DELETE, &format!("{S}/ts/t/since/0"), "")
        .await
        .ok();
    let (name, data) = sse.next_event(wait).await.expect("the delete");
    assert_eq!(name, "data");
    let ev: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(ev, json!({"event": "delete", "datasource": "t", "count": 2}));

    // Observing something that does not exist is refused before the stream starts.
    let (head, _) = SseClient::open(addr, &format!("{S}/ts/nope/observe"), Some(&b.token)).await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_streams_key_value_puts_and_deletes() {
    let b = empty_box().await;
    let addr = serve(&b).await;
    let (head, mut sse) = SseClient::open(addr, &format!("{S}/kv/k/observe"), Some(&b.token)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let put = b
        .request(Method::PUT, &format!("{S}/kv/k/key/a"))
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("hi"))
        .unwrap();
    b.send(put).await.ok();
    b.post(&format!("{S}/ts/t"), json!({"value": 1})).await;
    b.call(Method::DELETE, &format!("{S}/kv/k/key/a"), "").await.ok();

    let wait = Duration::from_secs(10);
    let (_, data) = sse.next_event(wait).await.expect("the put");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap(),
        json!({"event": "put", "datasource": "k", "key": "a", "value_type": "text"})
    );
    let (_, data) = sse.next_event(wait).await.expect("the delete");
    assert_eq!(
        serde_json::from_str::<Value>(&data).unwrap(),
        json!({"event": "delete", "datasource": "k", "key": "a", "count": 1})
    );
}

// ------------------------------------------------------------------------------------------------
// Bugs found by this suite, fixed, and kept as regressions
// ------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_join_naming_a_datasource_twice_does_not_count_it_twice() {
    let b = TestBox::with_series().await;
    let r = b.fetch(&format!("{S}/ts/t,t/length")).await;
    if r.status == StatusCode::BAD_REQUEST {
        assert!(r.error(StatusCode::BAD_REQUEST).contains("\"t\""));
        return;
    }
    assert_eq!(r.ok(), json!({"result": 5}));
    assert_eq!(result(&b.get(&format!("{S}/ts/t,t/since/0/sum")).await), 25.0);
    assert_eq!(stamps(&b.get(&format!("{S}/ts/t,t/last/2")).await), [5000, 4000]);
}

#[tokio::test]
async fn accepts_the_bearer_scheme_in_any_case() {
    let b = TestBox::new();
    for scheme in ["BEARER", "BeArEr"] {
        let r = b
            .send(
                Request::get("/api/v1/stores")
                    .header(header::AUTHORIZATION, format!("{scheme} {}", b.token))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn key_value_get_answers_the_exact_content_type_it_was_put_with() {
    let b = TestBox::with_store().await;
    b.datasource("k", json!({"store_type": "kv"})).await;
    for (key, ct, body) in [
        ("img", "image/png", &b"\x89PNG"[..]),
        ("csv", "text/csv", &b"a,b\n1,2\n"[..]),
        ("ld", "application/ld+json", &b"{}"[..]),
    ] {
        let req = b
            .request(Method::PUT, &format!("{S}/kv/k/key/{key}"))
            .header(header::CONTENT_TYPE, ct)
            .body(Body::from(body))
            .unwrap();
        b.send(req).await.ok();
        let r = b.fetch(&format!("{S}/kv/k/key/{key}")).await;
        assert_eq!(&r.body[..], body, "{key}");
        assert_eq!(r.headers.get(header::CONTENT_TYPE).unwrap(), ct, "{key}");
    }
}

#[tokio::test]
async fn refuses_unknown_query_parameters_on_every_write() {
    let b = empty_box().await;
    let batch = r#"[{"data": {"value": 1}}]"#;
    for (method, path, body, needle) in [
        (Method::POST, "ts/t/batch?foo=1", batch, "foo"),
        (Method::POST, "ts/t/batch?timestamp=5", batch, "timestamp"),
        (Method::PUT, "kv/k/key/a?foo=1", "1", "foo"),
    ] {
        let uri = at(path);
        refused(&b, json_req(&b, method, &uri, body), 400, needle).await;
        assert_nothing_written(&b, &uri).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_grant_ends_an_open_observe_stream_at_once() {
    let b = empty_box().await;
    let addr = serve(&b).await;
    let created = |r: Resp| {
        assert!(r.status.is_success(), "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    created(
        b.call(
            Method::PUT,
            "/api/v1/principals/watcher",
            json!({"kind": "client"}).to_string(),
        )
        .await,
    );
    let grant = created(
        b.call(
            Method::POST,
            "/api/v1/grants",
            json!({"principal": "watcher", "operation": "observe", "store": "s", "datasource": "t",
                   "purpose": "watch"})
            .to_string(),
        )
        .await,
    );
    let minted = created(
        b.call(
            Method::POST,
            "/api/v1/tokens",
            json!({"principal": "watcher"}).to_string(),
        )
        .await,
    );
    let token = minted["token"].as_str().unwrap().to_owned();
    let (head, mut sse) = SseClient::open(addr, &format!("{S}/ts/t/observe"), Some(&token)).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    b.post(&format!("{S}/ts/t"), json!({"timestamp": 1000, "value": 1}))
        .await;
    let (name, _) = sse
        .next_event(Duration::from_secs(10))
        .await
        .expect("the point while granted");
    assert_eq!(name, "data");

    let id = grant["id"].as_str().unwrap();
    let revoked = b.call(Method::DELETE, &format!("/api/v1/grants/{id}"), "").await;
    assert!(
        revoked.status.is_success(),
        "{}",
        String::from_utf8_lossy(&revoked.body)
    );
    b.post(&format!("{S}/ts/t"), json!({"timestamp": 2000, "value": 2}))
        .await;
    assert_eq!(
        sse.next_event(Duration::from_secs(2)).await,
        None,
        "a point reached a watcher whose grant was revoked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_principals_catalogue_reads_are_audited() {
    let b = empty_box().await;
    let ok = |r: Resp| {
        assert!(r.status.is_success(), "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };
    ok(b.call(
        Method::PUT,
        "/api/v1/principals/browser",
        json!({"kind": "client"}).to_string(),
    )
    .await);
    ok(b.call(
        Method::POST,
        "/api/v1/grants",
        json!({"principal": "browser", "operation": "read", "store": "s", "datasource": "t", "purpose": "look"})
            .to_string(),
    )
    .await);
    let token = ok(b
        .call(
            Method::POST,
            "/api/v1/tokens",
            json!({"principal": "browser"}).to_string(),
        )
        .await)["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in ["/cat", "/api/v1/stores/s/cat"] {
        let r = b
            .app
            .clone()
            .oneshot(
                Request::builder()
                    .uri(path)
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
    let records = ok(b.fetch("/api/v1/audit?principal=browser").await);
    let reads: Vec<&Value> = records
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["operation"] == "read catalogue")
        .collect();
    assert_eq!(reads.len(), 2, "{records}");
    assert!(reads.iter().any(|r| r["store"] == "s"), "{records}");
}
