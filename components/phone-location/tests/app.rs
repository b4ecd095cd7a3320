//! The driver's request handling as the phones meet it, natively against a store in memory:
//! what each app is answered and when, what is stored, de-duplication across batches, late
//! points, encryption, the 2001 time correction, faults of the box, and the owner's page.

use databox_sdk::{Request, Response};
use phone_location::app::{DECRYPT_GRACE_MS, DEVICE_HEADER, Env, handle};
use phone_location::memory::MemoryStore;
use phone_location::owntracks::encrypt;
use phone_location::store::Store;
use phone_location::time::APPLE_EPOCH_S;
use serde_json::{Value, json};

/// 2026-11-29 18:20 UTC.
const NOW: i64 = 1_795_976_400_000;

fn env() -> Env {
    Env {
        now_ms: NOW,
        owntracks_key: None,
    }
}

fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
    Request::new("POST", path)
        .with_header("content-type", "application/json")
        .with_body(body)
}

fn from_device(req: Request, device: &str) -> Request {
    req.with_header(DEVICE_HEADER, device)
}

fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn ot_location(tst: i64, lat: f64, lon: f64) -> Value {
    json!({"_type": "location", "lat": lat, "lon": lon, "tst": tst, "acc": 10, "tid": "ab"})
}

/// An Overland location Feature at epoch second `s`.
fn feature(s: i64, lat: f64, lon: f64) -> Value {
    let ts = phone_location::time::format_utc(s * 1000).replace(' ', "T") + "Z";
    json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
           "properties": {"timestamp": ts, "horizontal_accuracy": 5, "speed": 1, "course": 90,
                          "altitude": 30, "motion": ["walking"], "battery_level": 0.5,
                          "device_id": "my-iphone", "wifi": ""}})
}

fn times(store: &MemoryStore, series: &str) -> Vec<i64> {
    store.rows(series).iter().map(|(t, _)| *t).collect()
}

#[test]
fn owntracks_is_answered_an_empty_array_after_the_write() {
    let store = MemoryStore::default();
    let body = json!([
        ot_location(1_736_161_169, 52.52, 13.405),
        ot_location(1_736_161_229, 52.53, 13.41)
    ]);
    let r = handle(
        &post("/owntracks", body.to_string())
            .with_header("X-Limit-U", "jane")
            .with_header("X-Limit-D", "iphone"),
        &env(),
        &store,
    );
    assert_eq!((r.status, r.body_text().as_str()), (200, "[]"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let rows = store.rows("locations");
    assert_eq!(
        rows.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![1_736_161_169_000, 1_736_161_229_000]
    );
    assert_eq!(rows[0].1["client_user"], "jane");
    assert_eq!(rows[0].1["client_device"], "iphone");
    assert_eq!(rows[0].1["device"], "owner");
    // The names can come in the query instead (`?u=&d=`).
    let r = handle(
        &post("/owntracks", ot_location(1_736_161_300, 1.0, 2.0).to_string()).with_query("u=bob&d=pixel"),
        &env(),
        &store,
    );
    assert_eq!(r.status, 200);
    assert_eq!(store.rows("locations")[2].1["client_user"], "bob");
}

#[test]
fn an_empty_owntracks_body_is_acknowledged() {
    let store = MemoryStore::default();
    let r = handle(&post("/owntracks", ""), &env(), &store);
    assert_eq!((r.status, r.body_text().as_str()), (200, "[]"));
    assert!(store.rows("locations").is_empty());
}

#[test]
fn a_device_pushes_as_itself() {
    let store = MemoryStore::default();
    let body = ot_location(1_736_161_169, 52.52, 13.405).to_string();
    handle(
        &from_device(post("/owntracks", body.clone()), "anna-phone"),
        &env(),
        &store,
    );
    handle(&post("/owntracks", body), &env(), &store);
    let devices: Vec<Value> = store
        .rows("locations")
        .into_iter()
        .map(|(_, d)| d["device"].clone())
        .collect();
    assert_eq!(
        devices,
        vec![json!("anna-phone"), json!("owner")],
        "same fix, two devices: both kept"
    );
}

#[test]
fn a_resent_batch_is_stored_once_and_late_points_keep_their_time() {
    let store = MemoryStore::default();
    let base = 1_790_000_000;
    let first = json!({"locations": (0..10).map(|i| feature(base + i * 60, 50.0 + i as f64 * 0.001, 8.0)).collect::<Vec<_>>()});
    let r = handle(&post("/overland", first.to_string()), &env(), &store);
    assert_eq!((r.status, json_of(&r)), (200, json!({"result": "ok"})));
    // The app did not get the answer and sends the batch again, with two later points and two
    // that were taken earlier but queued behind (out of order).
    let mut again = first["locations"].as_array().unwrap().clone();
    again.push(feature(base + 3600, 51.0, 8.0));
    again.insert(0, feature(base + 7200, 51.5, 8.0));
    again.push(feature(base - 600, 49.0, 8.0));
    again.push(feature(base - 1200, 48.9, 8.0));
    let r = handle(
        &post("/overland", json!({"locations": again}).to_string()),
        &env(),
        &store,
    );
    assert_eq!(json_of(&r), json!({"result": "ok"}));
    let t = times(&store, "locations");
    assert_eq!(t.len(), 14, "10 + 4 new, none twice");
    assert_eq!(t[0], (base - 1200) * 1000);
    assert_eq!(t[13], (base + 7200) * 1000);
    // And once more, exactly the same: nothing new.
    handle(
        &post("/overland", json!({"locations": again}).to_string()),
        &env(),
        &store,
    );
    assert_eq!(store.rows("locations").len(), 14);
}

#[test]
fn a_batch_of_a_thousand_points_is_stored_with_few_reads() {
    let store = MemoryStore::default();
    let base = 1_790_000_000;
    // A thousand points a second apart, but for two gaps of a day (a phone offline).
    let mut points = Vec::new();
    for i in 0..1000i64 {
        let gap = if i >= 600 {
            2 * 86_400
        } else if i >= 300 {
            86_400
        } else {
            0
        };
        points.push(feature(base + i + gap, 45.0 + i as f64 * 1e-4, 7.0));
    }
    // Re-sends inside the batch itself.
    points.push(points[10].clone());
    points.push(points[999].clone());
    let body = json!({"locations": points}).to_string();
    assert!(body.len() > 200_000, "a realistic size: {} bytes", body.len());
    let r = handle(&post("/overland", body.clone()), &env(), &store);
    assert_eq!(json_of(&r), json!({"result": "ok"}));
    assert_eq!(store.rows("locations").len(), 1000);
    assert_eq!(store.reads.get(), 3, "one read per cluster of the batch");
    let r = handle(&post("/overland", body), &env(), &store);
    assert_eq!(json_of(&r), json!({"result": "ok"}));
    assert_eq!(store.rows("locations").len(), 1000);
    let first = &store.rows("locations")[0].1;
    assert_eq!(
        first,
        &json!({"lat": 45.0, "lon": 7.0, "accuracy_m": 5.0, "altitude_m": 30.0, "speed_mps": 1.0,
                "course_deg": 90.0, "activity": "walking", "device": "owner", "source": "overland",
                "client_device": "my-iphone"})
    );
}

#[test]
fn a_fault_of_the_box_is_a_5xx_and_the_phone_loses_nothing() {
    let store = MemoryStore::default();
    store.unavailable.set(true);
    let ot = post(
        "/owntracks",
        ot_location(1_736_161_169, 52.52, 13.405).to_string(),
    );
    let r = handle(&ot, &env(), &store);
    assert_eq!(
        r.status,
        503,
        "the iOS app keeps what is answered 5xx: {}",
        r.body_text()
    );
    let ov = post(
        "/overland",
        json!({"locations": [feature(1_790_000_000, 1.0, 2.0)]}).to_string(),
    );
    let r = handle(&ov, &env(), &store);
    assert_eq!(r.status, 503);
    assert!(json_of(&r)["error"].as_str().unwrap().contains("could not store"));
    let gl = Request::new("GET", "/gpslogger").with_query("lat=1&lon=2&time=2025-01-16T03:54:51Z");
    assert_eq!(handle(&gl, &env(), &store).status, 503);
    assert!(store.rows("locations").is_empty());
    // The box is back; the phones send again, and then once more for good measure.
    store.unavailable.set(false);
    for _ in 0..2 {
        assert_eq!(handle(&ot, &env(), &store).status, 200);
        assert_eq!(handle(&ov, &env(), &store).status, 200);
        assert_eq!(handle(&gl, &env(), &store).status, 200);
    }
    assert_eq!(store.rows("locations").len(), 3);
}

#[test]
fn garbage_is_refused_so_that_it_is_not_sent_forever() {
    let store = MemoryStore::default();
    let corrupt = post("/owntracks", "--$this is bad json#--{\"_type\": \"location\"}");
    let r = handle(&corrupt, &env(), &store);
    assert_eq!(r.status, 400);
    assert!(r.body_text().contains("not JSON"), "{}", r.body_text());
    let r = handle(&post("/overland", "[1, 2]"), &env(), &store);
    assert_eq!(r.status, 400);
    // Messages that cannot be stored are skipped, the rest kept, the body acknowledged.
    let mixed = json!([{"_type": "location", "lat": 95, "lon": 1, "tst": 5}, ot_location(1_736_161_169, 1.0, 2.0),
                       {"_type": "steps", "steps": 100, "from": 1, "to": 2, "tst": 3}, {"_type": "whatever"}]);
    let r = handle(&post("/owntracks", mixed.to_string()), &env(), &store);
    assert_eq!((r.status, r.body_text().as_str()), (200, "[]"));
    assert_eq!(store.rows("locations").len(), 1);
}

#[test]
fn an_encrypted_owntracks_message_is_opened_with_the_owners_key() {
    let store = MemoryStore::default();
    let inner = ot_location(1_736_161_169, 52.52, 13.405).to_string();
    let sealed =
        json!({"_type": "encrypted", "data": encrypt(inner.as_bytes(), "phone passphrase", &[9; 24])});
    let req = from_device(post("/owntracks", sealed.to_string()), "anna-phone");
    // No key set: the phone keeps the message until the owner sets one.
    let r = handle(&req, &env(), &store);
    assert_eq!(r.status, 503, "{}", r.body_text());
    let record = phone_location::store::device_record(&store, "anna-phone")
        .unwrap()
        .unwrap();
    assert!(record.decrypt_failures.is_some());
    // The owner sets it: the message goes through, and the problem is over.
    let keyed = Env {
        owntracks_key: Some("phone passphrase".into()),
        ..env()
    };
    let r = handle(&req, &keyed, &store);
    assert_eq!((r.status, r.body_text().as_str()), (200, "[]"));
    assert_eq!(times(&store, "locations"), vec![1_736_161_169_000]);
    let record = phone_location::store::device_record(&store, "anna-phone")
        .unwrap()
        .unwrap();
    assert_eq!(record.decrypt_failures, None);
}

#[test]
fn a_message_under_another_key_waits_three_days_then_is_refused() {
    let store = MemoryStore::default();
    let inner = ot_location(1_736_161_169, 52.52, 13.405).to_string();
    let sealed = json!({"_type": "encrypted", "data": encrypt(inner.as_bytes(), "old key", &[1; 24])});
    let req = post("/owntracks", sealed.to_string());
    let at = |now_ms: i64| Env {
        now_ms,
        owntracks_key: Some("new key".into()),
    };
    assert_eq!(handle(&req, &at(NOW), &store).status, 503);
    assert_eq!(handle(&req, &at(NOW + DECRYPT_GRACE_MS - 1), &store).status, 503);
    let r = handle(&req, &at(NOW + DECRYPT_GRACE_MS), &store);
    assert_eq!(r.status, 400, "the iOS app drops it and goes on with its queue");
    assert!(r.body_text().contains("three days"));
    // Data under the right key goes through and ends the run of failures.
    let good = json!({"_type": "encrypted", "data": encrypt(inner.as_bytes(), "new key", &[2; 24])});
    let r = handle(
        &post("/owntracks", good.to_string()),
        &at(NOW + DECRYPT_GRACE_MS),
        &store,
    );
    assert_eq!(r.status, 200);
    assert_eq!(handle(&req, &at(NOW + DECRYPT_GRACE_MS + 1), &store).status, 503);
}

#[test]
fn overlands_owntracks_mode_gets_its_time_corrected_and_its_answer() {
    let store = MemoryStore::default();
    // Overland's OwnTracks mode: a bare message, `tst` in seconds since 2001 (with a fraction).
    let unix = 1_795_975_200i64;
    let message = json!({"_type": "location", "lat": 52.5, "lon": 13.4, "acc": 8, "batt": 80,
                         "tst": (unix - APPLE_EPOCH_S) as f64 + 0.5, "topic": "owntracks/my-iphone"});
    let r = handle(
        &post("/owntracks", message.to_string())
            .with_header("User-Agent", "Overland/2024.3 (iPhone; iOS 17.4; Scale/3.00)"),
        &env(),
        &store,
    );
    assert_eq!(
        json_of(&r),
        json!({"result": "ok"}),
        "Overland needs its own answer"
    );
    // The same at Overland's own path, without the user agent.
    let r = handle(&post("/overland", message.to_string()), &env(), &store);
    assert_eq!(json_of(&r), json!({"result": "ok"}));
    assert_eq!(
        times(&store, "locations"),
        vec![unix * 1000 + 500],
        "corrected, and stored once"
    );
    assert_eq!(store.rows("locations")[0].1["client_device"], "my-iphone");
}

#[test]
fn gpslogger_takes_the_query_or_a_form_body() {
    let store = MemoryStore::default();
    let q = "lat=52.52&lon=13.405&acc=6&alt=34&spd=1.5&dir=90&time=2025-01-16T03:54:51.000Z&aid=4f2c&prov=gps&batt=50";
    let r = handle(&Request::new("GET", "/gpslogger").with_query(q), &env(), &store);
    assert_eq!((r.status, r.body_text().as_str()), (200, "ok"));
    let form = Request::new("POST", "/gpslogger")
        .with_header("content-type", "application/x-www-form-urlencoded")
        .with_body(q.replace("52.52", "52.521").replace("03:54:51", "03:55:51"));
    assert_eq!(handle(&form, &env(), &store).status, 200);
    // GPSLogger's auto-send sends every point again: still two.
    assert_eq!(handle(&form, &env(), &store).status, 200);
    assert_eq!(
        times(&store, "locations"),
        vec![1_736_999_691_000, 1_736_999_751_000]
    );
    let r = handle(
        &Request::new("POST", "/gpslogger").with_body("acc=5"),
        &env(),
        &store,
    );
    assert_eq!(r.status, 400);
    assert!(r.body_text().contains("lat and lon are required"));
}

#[test]
fn owntracks_transitions_and_waypoints_are_kept() {
    let store = MemoryStore::default();
    let body = json!([
        {"_type": "transition", "t": "c", "lat": 45.1, "lon": 90.1, "acc": 60, "event": "enter", "desc": "home", "wtst": 1_700_000_000, "tst": 1_736_161_169},
        {"_type": "waypoints", "waypoints": [{"_type": "waypoint", "tst": 1_700_000_000, "lat": 45.1, "lon": 90.1, "rad": 50, "desc": "home"}]},
        {"_type": "card", "name": "Anna"},
        {"_type": "lwt", "tst": 1_736_000_000}
    ]);
    let req = from_device(post("/owntracks", body.to_string()), "anna-phone");
    assert_eq!(handle(&req, &env(), &store).status, 200);
    assert_eq!(handle(&req, &env(), &store).status, 200);
    assert_eq!(store.rows("region-events").len(), 1);
    let w = store.kv_get("waypoints", "anna-phone:home").unwrap().unwrap();
    assert_eq!(
        (w["radius_m"].as_f64(), w["created_ms"].as_i64()),
        (Some(50.0), Some(1_700_000_000_000))
    );
    let record = phone_location::store::device_record(&store, "anna-phone")
        .unwrap()
        .unwrap();
    assert_eq!(record.card_name.as_deref(), Some("Anna"));
    assert_eq!(record.last_will_ms, Some(1_736_000_000_000));
}

#[test]
fn routes_and_methods() {
    let store = MemoryStore::default();
    assert_eq!(
        handle(&Request::new("GET", "/owntracks"), &env(), &store).status,
        405
    );
    assert_eq!(
        handle(&Request::new("GET", "/overland"), &env(), &store).status,
        405
    );
    assert_eq!(
        handle(&Request::new("DELETE", "/gpslogger"), &env(), &store).status,
        405
    );
    assert_eq!(
        handle(&Request::new("GET", "/elsewhere"), &env(), &store).status,
        404
    );
    assert_eq!(handle(&post("/owntracks/", "[]"), &env(), &store).status, 200);
    let huge = post("/overland", vec![b' '; phone_location::app::MAX_BODY + 1]);
    assert_eq!(handle(&huge, &env(), &store).status, 413);
}

#[test]
fn the_page_lists_the_devices_for_the_owner_only() {
    let store = MemoryStore::default();
    let r = handle(&Request::new("GET", "/"), &env(), &store);
    assert_eq!(r.status, 200);
    assert!(r.body_text().contains("No phone has sent anything yet."));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .starts_with("default-src 'none'")
    );

    let ov = json!({"locations": [feature(1_790_000_000, 1.0, 2.0), feature(1_790_000_060, 1.1, 2.0)]});
    handle(
        &from_device(post("/overland", ov.to_string()), "anna-phone"),
        &env(),
        &store,
    );
    handle(
        &post("/owntracks", ot_location(1_736_161_169, 3.0, 4.0).to_string()),
        &env(),
        &store,
    );
    let page = handle(&Request::new("GET", "/"), &env(), &store).body_text();
    assert!(page.contains(">anna-phone</th>"), "{page}");
    assert!(page.contains("device my-iphone"), "{page}");
    assert!(
        page.contains("2026-09-21 14:14:20"),
        "the last fix of anna-phone: {page}"
    );
    assert!(page.contains("you (the owner's token or session)"), "{page}");
    assert!(page.contains("<td class=\"n\">2</td>"), "{page}");

    let r = handle(
        &from_device(Request::new("GET", "/"), "anna-phone"),
        &env(),
        &store,
    );
    assert_eq!(r.status, 403, "a phone may push, not read the list");
}
