//! End to end, as the owner and the phone apps would: install the first-party phone-location
//! driver with the CLI into a running box, push what OwnTracks, Overland and GPSLogger send
//! through the box's `/app/phone-location/...`, and read back what was stored through the read
//! API: each client gets the answer it needs (OwnTracks `[]`, Overland `{"result":"ok"}`,
//! GPSLogger `200`), a batch sent again is not stored twice, points that arrive out of order are
//! all there at their own times, and the owner's page lists what pushed.

mod common;

use common::{BoxProcess, HttpClient, civil_from_days};
use serde_json::{Value, json};

/// Sealed by libsodium (`crypto_secretbox_easy`, as the OwnTracks apps seal) under the
/// passphrase "correct horse battery staple" with the key the apps derive from it; it holds
/// `{"_type":"location","lat":52.5200066,"lon":13.404954,"tst":1736161169,"acc":12,"tid":"ab"}`.
const SEALED: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXY4CrV2+ppEituoet8w77Y98X6ZwUGAIHI7mBMXOpg7XfhE5Y298IflBl0uppl61hLjYy/bRww/JEOlt2W4oU07mAlgzauGrBAoa42sM7a39oYTDqcyoYv0TWNgfxZ6fBqaevmjpWVutYzQ==";

/// 2024-09-01T00:00:00Z, in epoch seconds: the pushes' points are around it.
const BASE_S: i64 = 1_725_148_800;

struct Phone {
    http: HttpClient,
}

impl Phone {
    /// Sends a request through the box; answers the status, the content type and the body.
    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String, String) {
        let r = self.http.send(method, path, headers, body);
        (r.status, r.header("content-type"), r.body)
    }

    fn post_json(&self, path: &str, body: &Value) -> (u16, String, String) {
        self.send(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
    }

    /// Reads through the box's read API.
    fn read(&self, path: &str) -> Value {
        let (status, _, body) = self.send("GET", path, &[], Vec::new());
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    fn locations(&self) -> Vec<(i64, Value)> {
        self.read("/api/v1/stores/phone-location/ts/locations/first/10000")
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["timestamp"].as_i64().unwrap(), r["data"].clone()))
            .collect()
    }
}

fn ot_location(tst: i64, lat: f64, lon: f64) -> Value {
    json!({"_type": "location", "lat": lat, "lon": lon, "tst": tst, "acc": 10, "vel": 18, "tid": "jj",
           "batt": 80, "conn": "w", "topic": "owntracks/jane/iphone"})
}

fn overland_point(s: i64, lat: f64, lon: f64) -> Value {
    let days = s.div_euclid(86_400);
    let secs = s.rem_euclid(86_400);
    // Days since 1970 to a civil date, for the ISO 8601 timestamp Overland sends.
    let (y, m, d) = civil_from_days(days);
    let ts = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
           "properties": {"timestamp": ts, "altitude": 40, "speed": 2, "horizontal_accuracy": 8,
                          "vertical_accuracy": -1, "motion": ["walking"], "battery_state": "unplugged",
                          "battery_level": 0.7, "device_id": "overland-iphone", "wifi": ""}})
}

#[test]
fn phones_push_through_the_box_and_each_point_is_stored_once_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let owner = b.new_token.clone().unwrap();

    let (ok, available, err) = b.cli(&owner, &["component", "available"]);
    assert!(ok && available.contains("phone-location"), "{available}{err}");
    let (ok, out, err) = b.cli(
        &owner,
        &[
            "component",
            "install",
            "phone-location",
            "--set",
            "owntracks_key=correct horse battery staple",
        ],
    );
    assert!(ok, "install: {out}{err}");
    assert!(
        out.contains("It cannot connect to the Internet."),
        "the review: {out}"
    );
    assert!(out.contains("installed phone-location"), "{out}");

    let phone = Phone {
        http: HttpClient::new(&b.url, &owner),
    };

    // OwnTracks (HTTP mode): one message or an array; `[]` once stored.
    let batch = json!([
        ot_location(BASE_S, 52.5200, 13.4050),
        ot_location(BASE_S + 60, 52.5210, 13.4060)
    ]);
    let (status, ctype, body) = phone.post_json("/app/phone-location/owntracks", &batch);
    assert_eq!(
        (status, body.as_str()),
        (200, "[]"),
        "OwnTracks is answered an empty array"
    );
    assert!(ctype.starts_with("application/json"), "{ctype}");
    // Sent again (the phone did not hear the answer): nothing new.
    let (status, _, body) = phone.post_json("/app/phone-location/owntracks", &batch);
    assert_eq!((status, body.as_str()), (200, "[]"));
    // An empty body (the app sends one when a friend is deleted).
    let (status, _, body) = phone.send("POST", "/app/phone-location/owntracks", &[], Vec::new());
    assert_eq!((status, body.as_str()), (200, "[]"));
    // An encrypted message, opened with the owner's owntracks_key.
    let sealed = json!({"_type": "encrypted", "data": SEALED});
    let (status, _, body) = phone.post_json("/app/phone-location/owntracks", &sealed);
    assert_eq!((status, body.as_str()), (200, "[]"), "the sealed message");
    // A region transition and a waypoint.
    let (status, _, _) = phone.post_json(
        "/app/phone-location/owntracks",
        &json!([
            {"_type": "transition", "t": "c", "lat": 52.52, "lon": 13.405, "acc": 20, "event": "enter",
             "desc": "home", "wtst": BASE_S - 86_400, "tst": BASE_S + 30},
            {"_type": "waypoint", "tst": BASE_S - 86_400, "lat": 52.52, "lon": 13.405, "rad": 100, "desc": "home"}
        ]),
    );
    assert_eq!(status, 200);
    // Garbage is refused (the iOS app drops what is answered 4xx rather than resending it forever).
    let (status, _, _) = phone.send(
        "POST",
        "/app/phone-location/owntracks",
        &[],
        b"--$this is bad json#--".to_vec(),
    );
    assert_eq!(status, 400);

    // Overland: a batch, then the same batch again with points taken before and after it
    // (out of order, as a phone's backlog arrives).
    let first: Vec<Value> = (0..50)
        .map(|i| overland_point(BASE_S + 3600 + i * 10, 52.53 + i as f64 * 1e-4, 13.41))
        .collect();
    let (status, _, body) = phone.post_json("/app/phone-location/overland", &json!({"locations": first}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"result": "ok"})
    );
    let mut again = first.clone();
    again.insert(0, overland_point(BASE_S + 7200, 52.60, 13.50));
    again.push(overland_point(BASE_S - 3600, 52.40, 13.30));
    again.push(overland_point(BASE_S - 7200, 52.39, 13.29));
    let (status, _, body) = phone.post_json("/app/phone-location/overland", &json!({"locations": again}));
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (200, json!({"result": "ok"}))
    );

    // GPSLogger: a GET with the point in the query, then the same point as a form body.
    let query = format!(
        "/app/phone-location/gpslogger?lat=52.55&lon=13.45&acc=5&alt=30&spd=1.5&dir=90&timestamp={}&aid=pixel&prov=gps",
        BASE_S + 120
    );
    let (status, _, body) = phone.send("GET", &query, &[], Vec::new());
    assert_eq!((status, body.as_str()), (200, "ok"));
    let form = format!("lat=52.55&lon=13.45&acc=5&timestamp={}&aid=pixel&", BASE_S + 120);
    let (status, _, _) = phone.send(
        "POST",
        "/app/phone-location/gpslogger",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.into_bytes(),
    );
    assert_eq!(status, 200);
    let (status, _, body) = phone.send("GET", "/app/phone-location/gpslogger?acc=5", &[], Vec::new());
    assert_eq!(status, 400);
    assert!(body.contains("lat and lon are required"), "{body}");

    // What the box holds: every point once, at its own time, oldest first.
    let fixes = phone.locations();
    let times: Vec<i64> = fixes.iter().map(|(t, _)| *t).collect();
    let mut expected: Vec<i64> = vec![BASE_S, BASE_S + 60, 1_736_161_169, BASE_S + 120];
    expected.extend((0..50).map(|i| BASE_S + 3600 + i * 10));
    expected.extend([BASE_S + 7200, BASE_S - 3600, BASE_S - 7200]);
    let mut expected: Vec<i64> = expected.into_iter().map(|s| s * 1000).collect();
    expected.sort_unstable();
    assert_eq!(
        times, expected,
        "each point once, at its own time (a box that stores a batch of documents as one document \
         at its own time is too old for this driver)"
    );
    let length = phone.read("/api/v1/stores/phone-location/ts/locations/length");
    assert_eq!(length["result"], 57);
    let first_fix = &fixes[2].1;
    assert_eq!(
        first_fix,
        &json!({"lat": 52.52, "lon": 13.405, "accuracy_m": 10.0, "speed_mps": 5.0, "device": "owner",
                "source": "owntracks", "client_user": "jane", "client_device": "iphone"})
    );
    let by_source = |s: &str| fixes.iter().filter(|(_, d)| d["source"] == s).count();
    assert_eq!(
        (
            by_source("owntracks"),
            by_source("overland"),
            by_source("gpslogger")
        ),
        (3, 53, 1)
    );
    assert!(
        fixes.iter().all(|(_, d)| d["device"] == "owner"),
        "pushed with the owner's token"
    );
    // The filter the driver reads with works through the API too.
    let owner_only =
        phone.read("/api/v1/stores/phone-location/ts/locations/length/filter/device/equals/owner");
    assert_eq!(owner_only["result"], 57);

    let events = phone.read("/api/v1/stores/phone-location/ts/region-events/first/10");
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["timestamp"], (BASE_S + 30) * 1000);
    assert_eq!(events[0]["data"]["event"], "enter");
    assert_eq!(events[0]["data"]["region"], "home");
    let waypoint = phone.read("/api/v1/stores/phone-location/kv/waypoints/key/owner:home");
    assert_eq!(waypoint["radius_m"], 100.0, "{waypoint}");

    // The owner's page lists the device with its counts.
    let (status, ctype, page) = phone.send("GET", "/app/phone-location/", &[], Vec::new());
    assert_eq!(status, 200, "{page}");
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(page.contains("you (the owner's token or session)"), "{page}");
    assert!(page.contains("<td class=\"n\">57</td>"), "57 fixes: {page}");
    assert!(page.contains("/app/phone-location/owntracks"), "{page}");
    let (status, _, _) = phone.send("GET", "/app/phone-location/owntracks", &[], Vec::new());
    assert_eq!(status, 405);

    // A phone with its own token: a principal with a store-wide write grant on the driver's
    // store. The box makes all three at once: the owner adds the device to the driver.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, made) = rt.block_on(async {
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/components/phone-location/devices", b.url))
            .bearer_auth(&owner)
            .json(&json!({"device": "anna-phone", "description": "Anna's phone"}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["path"], "/app/phone-location/");
    let device_token = made["token"].as_str().unwrap().to_owned();
    let listed: Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/v1/components/phone-location/devices", b.url))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(listed[0]["id"], "anna-phone", "{listed}");
    // A principal without the store-wide write grant cannot push, even with a valid token.
    for args in [
        &["principals", "add", "stranger", "--description", "not allowed"][..],
        &["grant", "stranger", "read", "phone-location"][..],
    ] {
        let (ok, out, err) = b.cli(&owner, args);
        assert!(ok, "{args:?}: {out}{err}");
    }
    let (ok, out, err) = b.cli(&owner, &["token", "mint", "stranger"]);
    assert!(ok, "{out}{err}");
    let stranger = Phone {
        http: HttpClient::new(
            &b.url,
            out.lines().rev().find(|l| !l.trim().is_empty()).unwrap().trim(),
        ),
    };
    let (status, _, body) = stranger.post_json("/app/phone-location/owntracks", &batch[0]);
    assert_eq!(status, 403, "a reader may not push: {body}");
    let anna = Phone {
        http: HttpClient::new(&b.url, &device_token),
    };
    // The owner's first fix, pushed by the phone: another device's point, kept beside it.
    let (status, _, body) = anna.post_json("/app/phone-location/owntracks", &batch[0]);
    assert_eq!((status, body.as_str()), (200, "[]"), "with the device's token");
    // GPSLogger and OwnTracks on Android can only send a user and a password: the token is the
    // password.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("anna:{device_token}")
        )
    );
    let point = format!(
        "/app/phone-location/gpslogger?lat=52.56&lon=13.46&timestamp={}",
        BASE_S + 180
    );
    let (status, _, body) = phone.http.rt.block_on(async {
        let r = reqwest::Client::new()
            .get(format!("{}{point}", b.url))
            .header("authorization", &basic)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), (), r.text().await.unwrap())
    });
    assert_eq!((status, body.as_str()), (200, "ok"), "with HTTP Basic");
    let anna_fixes =
        phone.read("/api/v1/stores/phone-location/ts/locations/first/10/filter/device/equals/anna-phone");
    let anna_times: Vec<i64> = anna_fixes
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(anna_times, vec![BASE_S * 1000, (BASE_S + 180) * 1000]);
    assert_eq!(anna_fixes[0]["data"]["device"], "anna-phone");
    assert_eq!(
        phone.read("/api/v1/stores/phone-location/ts/locations/length")["result"],
        59
    );
    // The page is the owner's, not a phone's.
    let (status, _, _) = anna.send("GET", "/app/phone-location/", &[], Vec::new());
    assert_eq!(status, 403);
    let (_, _, page) = phone.send("GET", "/app/phone-location/", &[], Vec::new());
    assert!(page.contains(">anna-phone</th>"), "{page}");
    // A revoked token pushes nothing.
    let (ok, out, err) = b.cli(&owner, &["token", "revoke", &device_token]);
    assert!(ok, "{out}{err}");
    let (status, _, _) = anna.post_json("/app/phone-location/owntracks", &batch[1]);
    assert_eq!(status, 401);

    // Nothing went wrong inside the driver.
    let (ok, logs, _) = b.cli(&owner, &["component", "logs", "phone-location"]);
    assert!(ok && !logs.contains("storing a push"), "{logs}");
    b.stop();
}
