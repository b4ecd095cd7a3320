//! Every published payload sample in `shared/fixtures/{owntracks,overland,gpslogger}` (see its
//! README), pushed through the driver's whole request handling into a store in memory. A folder
//! that is absent (a checkout without `shared/`) is skipped with a message.

use std::path::{Path, PathBuf};

use databox_sdk::{Request, Response};
use phone_location::app::{Env, handle};
use phone_location::memory::MemoryStore;
use serde_json::{Value, json};

/// 2026-11-29 18:20 UTC.
const NOW: i64 = 1_795_976_400_000;

fn env() -> Env {
    Env {
        now_ms: NOW,
        owntracks_key: None,
    }
}

/// The fixtures folder of one app, or `None` (with a message) when it is not there.
fn folder(app: &str) -> Option<PathBuf> {
    let root = std::env::var_os("DATABOX_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    let dir = root.join(app);
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: no {app} fixtures at {} (set DATABOX_FIXTURES to the fixtures folder)",
            dir.display()
        );
        None
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn post(path: &str, body: &[u8]) -> Request {
    Request::new("POST", path)
        .with_header("content-type", "application/json")
        .with_body(body.to_vec())
}

fn json_of(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

#[test]
fn every_owntracks_sample_is_answered_as_the_apps_expect() {
    let Some(dir) = folder("owntracks") else { return };
    let mut seen = 0;
    for (name, body) in files(&dir) {
        if name.contains("schema") {
            continue;
        }
        seen += 1;
        let store = MemoryStore::default();
        let r = handle(&post("/owntracks", &body), &env(), &store);
        if name.ends_with("corrupt-json.txt") {
            assert_eq!(r.status, 400, "{name}: {}", r.body_text());
            assert!(store.rows("locations").is_empty());
            continue;
        }
        assert_eq!((r.status, r.body_text().as_str()), (200, "[]"), "{name}");
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        let message: Value = serde_json::from_slice(&body).unwrap();
        let fixes = store.rows("locations");
        let events = store.rows("region-events");
        let waypoints: Vec<Value> = store
            .kv
            .borrow()
            .iter()
            .filter(|((ds, _), _)| ds == "waypoints")
            .map(|(_, v)| v.clone())
            .collect();
        match message["_type"].as_str().unwrap() {
            "location" => {
                // 0,0 without an accuracy would be a placeholder; none of the samples is one.
                assert_eq!(fixes.len(), 1, "{name}");
                let (t, fix) = &fixes[0];
                assert_eq!(*t, message["tst"].as_i64().unwrap() * 1000, "{name}");
                assert_eq!(fix["lat"].as_f64(), message["lat"].as_f64(), "{name}");
                assert_eq!(fix["lon"].as_f64(), message["lon"].as_f64(), "{name}");
                assert_eq!(fix["source"], "owntracks");
                assert_eq!(fix["device"], "owner", "{name}: pushed with the owner's token");
                if let Some(acc) = message["acc"].as_f64() {
                    assert_eq!(fix["accuracy_m"].as_f64(), Some(acc), "{name}");
                }
                if let Some(vel) = message["vel"].as_f64() {
                    assert_eq!(fix["speed_mps"].as_f64(), Some(vel / 3.6), "{name}");
                }
                if let Some(topic) = message["topic"].as_str() {
                    let device = topic.rsplit('/').next().unwrap();
                    assert_eq!(fix["client_device"], device, "{name}");
                }
            }
            "transition" => {
                assert_eq!(events.len(), 1, "{name}");
                assert_eq!(events[0].0, message["tst"].as_i64().unwrap() * 1000);
                assert_eq!(events[0].1["event"], message["event"], "{name}");
                assert_eq!(events[0].1["region"], message["desc"], "{name}");
                // Beacons send 0,0: no position is kept for them.
                assert_eq!(events[0].1.get("lat").is_some(), message["t"] != "b", "{name}");
            }
            "waypoint" => assert_eq!(waypoints.len(), 1, "{name}"),
            "waypoints" => assert_eq!(
                waypoints.len(),
                message["waypoints"].as_array().unwrap().len(),
                "{name}"
            ),
            "lwt" | "unsupported" => {
                assert!(
                    fixes.is_empty() && events.is_empty() && waypoints.is_empty(),
                    "{name}"
                )
            }
            other => panic!("{name}: a sample of an unexpected type {other}"),
        }
    }
    assert!(seen >= 20, "only {seen} OwnTracks samples");
}

#[test]
fn the_owntracks_samples_posted_as_one_array_are_stored_once() {
    let Some(dir) = folder("owntracks") else { return };
    let messages: Vec<Value> = files(&dir)
        .into_iter()
        .filter(|(n, _)| n.ends_with(".json") && !n.contains("schema"))
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect();
    let body = serde_json::to_vec(&messages).unwrap();
    let store = MemoryStore::default();
    for _ in 0..2 {
        let r = handle(&post("/owntracks", &body), &env(), &store);
        assert_eq!((r.status, r.body_text().as_str()), (200, "[]"));
    }
    let locations = messages.iter().filter(|m| m["_type"] == "location").count();
    // Two of Home Assistant's samples are one fix (45,90 at tst 1) with and without a trigger.
    let distinct: std::collections::BTreeSet<String> = messages
        .iter()
        .filter(|m| m["_type"] == "location")
        .map(|m| format!("{}|{}|{}", m["tst"], m["lat"], m["lon"]))
        .collect();
    assert!(distinct.len() < locations);
    assert_eq!(store.rows("locations").len(), distinct.len());
    // Transitions are one event per time, event, region and trigger.
    let events: std::collections::BTreeSet<String> = messages
        .iter()
        .filter(|m| m["_type"] == "transition")
        .map(|m| format!("{}|{}|{}|{}", m["tst"], m["event"], m["desc"], m["t"]))
        .collect();
    assert_eq!(store.rows("region-events").len(), events.len());
}

#[test]
fn the_overland_samples_are_answered_as_the_app_expects() {
    let Some(dir) = folder("overland") else { return };
    let mut seen = 0;
    for (name, body) in files(&dir) {
        let store = MemoryStore::default();
        match name.as_str() {
            "overland-ios-readme-locations.json" => {
                let r = handle(&post("/overland", &body), &env(), &store);
                assert_eq!((r.status, json_of(&r)), (200, json!({"result": "ok"})), "{name}");
                let fixes = store.rows("locations");
                assert_eq!(fixes.len(), 1);
                // 2015-10-01T08:00:00-0700: an offset without a colon.
                assert_eq!(fixes[0].0, 1_443_711_600_000);
                assert_eq!(
                    fixes[0].1,
                    json!({"lat": 37.3318, "lon": -122.030581, "accuracy_m": 30.0, "altitude_m": 0.0,
                           "speed_mps": 4.0, "activity": "in_vehicle", "device": "owner", "source": "overland"})
                );
            }
            "overland-ios-readme-locations-verbatim.txt" => {
                // The README's block as published is not JSON: Overland shows the error.
                let r = handle(&post("/overland", &body), &env(), &store);
                assert_eq!(r.status, 400, "{name}");
                assert!(json_of(&r)["error"].as_str().unwrap().contains("not JSON"));
            }
            "overland-ios-readme-response-ok.json" => {
                let expected: Value = serde_json::from_slice(&body).unwrap();
                let ok = handle(&post("/overland", br#"{"locations": []}"#), &env(), &store);
                assert_eq!(json_of(&ok), expected, "the answer the app requires");
            }
            "overland-ios-readme-url-template.txt" => {
                // The template puts the newest point in the query; the body is still a batch.
                let url = String::from_utf8(body).unwrap();
                let query = url
                    .trim()
                    .split_once('?')
                    .unwrap()
                    .1
                    .replace("%TS", "2015-10-01T15:00:00Z")
                    .replace("%LAT", "37.3318")
                    .replace("%LON", "-122.030581")
                    .replace("%ACC", "30")
                    .replace("%SPD", "4")
                    .replace("%BAT", "0.8")
                    .replace("%ALT", "0");
                let batch = std::fs::read(dir.join("overland-ios-readme-locations.json")).unwrap();
                let r = handle(&post("/overland", &batch).with_query(query), &env(), &store);
                assert_eq!(json_of(&r), json!({"result": "ok"}), "{name}");
                assert_eq!(store.rows("locations").len(), 1);
            }
            "compass-trip-feature-2015.json" => {
                let feature: Value = serde_json::from_slice(&body).unwrap();
                let batch = json!({"locations": [feature]}).to_string();
                let r = handle(&post("/overland", batch.as_bytes()), &env(), &store);
                assert_eq!(json_of(&r), json!({"result": "ok"}), "{name}");
                let trips = store.rows("trips");
                assert_eq!(trips.len(), 1);
                assert_eq!(trips[0].0, 1_451_342_722_000, "the start, 2015-12-28T22:45:22Z");
                let t = &trips[0].1;
                assert_eq!(t["activity_type"], "cycling");
                assert_eq!(t["end_ms"], 1_451_344_814_000i64);
                assert_eq!(t["distance_m"], 6439.4875686883);
                assert_eq!(
                    (t["start_lat"].as_f64(), t["end_lon"].as_f64()),
                    (Some(45.522223161576), Some(-122.67617024493))
                );
            }
            other => panic!("an Overland sample this test does not know: {other}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn the_gpslogger_samples_work_as_a_form_body_and_as_a_query() {
    let Some(dir) = folder("gpslogger") else { return };
    let mut seen = 0;
    for (name, body) in files(&dir) {
        let text = String::from_utf8(body.clone()).unwrap();
        let form = Request::new("POST", "/gpslogger")
            .with_header("content-type", "application/x-www-form-urlencoded")
            .with_body(body);
        let get = Request::new("GET", "/gpslogger").with_query(text.trim());
        for req in [form, get] {
            let store = MemoryStore::default();
            let r = handle(&req, &env(), &store);
            let fixes = store.rows("locations");
            if name.contains("missing-latitude") || name.contains("empty-body") {
                assert_eq!(r.status, 400, "{name}");
                assert!(r.body_text().contains("lat and lon are required"), "{name}");
            } else if name.contains("zero-coords") {
                // 0,0 without an accuracy is what a phone sends before it has a fix.
                assert_eq!(r.status, 400, "{name}");
                assert!(r.body_text().contains("0,0"), "{name}: {}", r.body_text());
            } else {
                // The device comes from the box; the app's own `device` is optional.
                assert_eq!((r.status, r.body_text().as_str()), (200, "ok"), "{name}");
                assert_eq!(fixes.len(), 1, "{name}");
                assert_eq!(fixes[0].0, NOW, "{name}: no time sent, timed on arrival");
                assert_eq!(fixes[0].1["source"], "gpslogger");
                if text.contains("device=123") {
                    assert_eq!(fixes[0].1["client_device"], "123", "{name}");
                }
                if name.contains("running") {
                    assert_eq!(
                        fixes[0].1,
                        json!({"lat": 1.0, "lon": 1.1, "accuracy_m": 10.5, "altitude_m": 102.0, "speed_mps": 100.0,
                               "course_deg": 105.32, "activity": "running", "device": "owner", "provider": "gps",
                               "source": "gpslogger", "client_device": "123"})
                    );
                }
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 8);
}
