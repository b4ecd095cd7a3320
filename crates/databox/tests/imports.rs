//! Imports end to end, as the owner runs them: the CLI asks the real box to import a realistic
//! Apple Health export (written by the import crate's generator) and Google location history;
//! the data lands in the format's store, exact duplicates are skipped with their reason, and an
//! import stopped, or cut short by killing the box, resumes from its checkpoint to the same
//! result as an uninterrupted one: nothing missing, nothing twice.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use common::BoxProcess;
use databox_import::testgen::{self, GeneratedExport, HealthExportOptions};
use serde_json::{Value, json};

fn generate(dir: &Path, megabytes: u64, zip: bool) -> GeneratedExport {
    testgen::apple_health_export(
        dir,
        &HealthExportOptions {
            target_bytes: megabytes << 20,
            seed: 7,
            zip,
        },
    )
    .expect("generating an export")
}

struct Owner {
    url: String,
    token: String,
    rt: tokio::runtime::Runtime,
}

impl Owner {
    fn new(b: &BoxProcess, token: &str) -> Owner {
        Owner {
            url: b.url.clone(),
            token: token.to_owned(),
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.rt.block_on(async {
            let mut req = reqwest::Client::new()
                .request(method.parse().unwrap(), format!("{}{path}", self.url))
                .bearer_auth(&self.token);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(Value::Null))
        })
    }

    fn length(&self, store: &str, ds: &str) -> u64 {
        let (status, v) = self.call("GET", &format!("/api/v1/stores/{store}/ts/{ds}/length"), None);
        assert_eq!(status, 200, "{v}");
        v["result"].as_u64().unwrap()
    }

    /// Items stored in every datasource of `store`, by datasource.
    fn stored(&self, store: &str) -> Vec<(String, u64)> {
        let (_, list) = self.call("GET", &format!("/api/v1/stores/{store}/datasources"), None);
        list.as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let id = d["id"].as_str().unwrap().to_owned();
                let n = self.length(store, &id);
                (id, n)
            })
            .collect()
    }

    fn wait_until_not_running(&self, id: &str) -> Value {
        let started = Instant::now();
        loop {
            let (status, job) = self.call("GET", &format!("/api/v1/imports/{id}"), None);
            assert_eq!(status, 200, "{job}");
            if job["state"] != "running" {
                return job;
            }
            assert!(
                started.elapsed() < Duration::from_secs(300),
                "the import never ended: {job}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn total(stored: &[(String, u64)]) -> u64 {
    stored.iter().map(|(_, n)| n).sum()
}

#[test]
fn the_cli_imports_an_apple_health_export_with_progress_and_skips_duplicates() {
    let files = tempfile::tempdir().unwrap();
    let export = generate(files.path(), 8, true);
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let token = b.new_token.clone().unwrap();
    let (ok, out, err) = b.cli(&token, &["import", "apple-health", export.path.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    let expected = export.total_items() - export.duplicates;
    assert!(
        out.contains(&format!("done: {expected} items written into store apple-health")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{} × duplicate record", export.duplicates)),
        "{out}"
    );
    let owner = Owner::new(&b, &token);
    let stored = owner.stored("apple-health");
    assert_eq!(total(&stored), expected, "{stored:?}");
    assert!(
        stored.iter().any(|(ds, n)| ds == "step-count" && *n > 0),
        "{stored:?}"
    );
    // The health types keep their units in the catalogue.
    let (_, hr) = owner.call("GET", "/api/v1/stores/apple-health/datasources/heart-rate", None);
    assert_eq!(hr["meta"]["unit"], "count/min", "{hr}");
    // The job reports what it skipped and why, and the audit log records the import.
    let (_, jobs) = owner.call("GET", "/api/v1/imports", None);
    let job = &jobs[0];
    assert_eq!(job["state"], "done");
    for (reason, n) in &export.skips {
        assert_eq!(job["skipped"][reason].as_u64(), Some(*n), "{reason}: {job}");
    }
    let (ok, list, err) = b.cli(&token, &["import", "list"]);
    assert!(ok, "{err}");
    let line = list
        .lines()
        .find(|l| l.starts_with(job["id"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("a line for the import: {list}"));
    assert!(
        line.contains(" apple-health ")
            && line.contains(" done ")
            && line.contains(&format!(" {} ", job["committed"])),
        "{list}"
    );
    let (_, audit) = owner.call("GET", "/api/v1/audit?operation=import", None);
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["detail"].as_str().unwrap_or("").starts_with("Done")),
        "{audit}"
    );
    drop(owner);
    b.stop();
}

#[test]
fn a_stopped_or_killed_import_resumes_to_exactly_the_uninterrupted_result() {
    let files = tempfile::tempdir().unwrap();
    let export = generate(files.path(), 48, false);
    let expected = export.total_items() - export.duplicates;
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let token = b.new_token.clone().unwrap();
    let owner = Owner::new(&b, &token);

    // Stopped by the owner as soon as it has written something.
    let (status, job) = owner.call(
        "POST",
        "/api/v1/imports",
        Some(json!({"format": "apple-health", "path": export.path})),
    );
    assert_eq!(status, 202, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let (_, j) = owner.call("GET", &format!("/api/v1/imports/{id}"), None);
        if j["committed"].as_u64().unwrap_or(0) > 0 || j["state"] != "running" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{j}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, _) = owner.call("POST", &format!("/api/v1/imports/{id}/stop"), None);
    assert_eq!(status, 200);
    let stopped = owner.wait_until_not_running(&id);
    assert_eq!(stopped["state"], "stopped", "{stopped}");
    let partial = total(&owner.stored("apple-health"));
    assert!(
        partial < expected,
        "stopped before the end: {partial} of {expected}"
    );
    assert_eq!(
        partial,
        stopped["committed"].as_u64().unwrap() - stopped["skipped"]["duplicate record"].as_u64().unwrap_or(0)
    );

    // Resumed, then the box is killed in the middle of it.
    let (status, _) = owner.call("POST", &format!("/api/v1/imports/{id}/resume"), None);
    assert_eq!(status, 200);
    let started = Instant::now();
    loop {
        let (_, j) = owner.call("GET", &format!("/api/v1/imports/{id}"), None);
        if j["committed"].as_u64().unwrap_or(0) > stopped["committed"].as_u64().unwrap()
            || j["state"] != "running"
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{j}");
        std::thread::sleep(Duration::from_millis(20));
    }
    b.kill();

    // After the restart the job says it was interrupted; resumed, it ends where an
    // uninterrupted import ends.
    let b = BoxProcess::start(dir.path(), &[]);
    let owner = Owner::new(&b, &token);
    let (_, j) = owner.call("GET", &format!("/api/v1/imports/{id}"), None);
    assert_eq!(j["state"], "stopped", "{j}");
    assert!(j["error"].as_str().unwrap_or("").contains("box stopped"), "{j}");
    let (status, _) = owner.call("POST", &format!("/api/v1/imports/{id}/resume"), None);
    assert_eq!(status, 200);
    let done = owner.wait_until_not_running(&id);
    assert_eq!(done["state"], "done", "{done}");
    let stored = owner.stored("apple-health");
    assert_eq!(
        total(&stored),
        expected,
        "nothing missing, nothing twice: {stored:?}"
    );
    assert_eq!(
        done["skipped"]["duplicate record"].as_u64(),
        Some(export.duplicates),
        "{done}"
    );
    // A finished import cannot be resumed; an unknown one is 404.
    let (status, _) = owner.call("POST", &format!("/api/v1/imports/{id}/resume"), None);
    assert_eq!(status, 409);
    let (status, _) = owner.call("POST", "/api/v1/imports/import-0/resume", None);
    assert_eq!(status, 404);
    drop(owner);
    b.stop();
}

#[test]
fn google_location_history_and_bad_requests() {
    let files = tempfile::tempdir().unwrap();
    // A Takeout Records.json as Google writes it: E7 coordinates, both timestamp styles.
    let records = files.path().join("Records.json");
    let mut f = std::fs::File::create(&records).unwrap();
    write!(f, "{{\"locations\": [").unwrap();
    for i in 0..5_000i64 {
        if i > 0 {
            write!(f, ",").unwrap();
        }
        let ms = 1_600_000_000_000 + i * 60_000;
        let time = if i % 2 == 0 {
            format!("\"timestampMs\": \"{ms}\"")
        } else {
            format!(
                "\"timestamp\": \"{}\"",
                humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64))
            )
        };
        write!(
            f,
            "{{\"latitudeE7\": {}, \"longitudeE7\": {}, \"accuracy\": 12, {time}, \"source\": \"GPS\"}}",
            515_000_000 + i * 10,
            -1_000_000 - i * 10
        )
        .unwrap();
    }
    write!(f, "]}}").unwrap();
    drop(f);

    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let token = b.new_token.clone().unwrap();
    let (ok, out, err) = b.cli(&token, &["import", "google", records.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    let owner = Owner::new(&b, &token);
    assert_eq!(owner.length("google-location", "locations"), 5_000);
    let (_, first) = owner.call(
        "GET",
        "/api/v1/stores/google-location/ts/locations/earliest",
        None,
    );
    assert_eq!(first[0]["timestamp"], 1_600_000_000_000i64);
    assert!(
        (first[0]["data"]["lat"].as_f64().unwrap() - 51.5).abs() < 1e-9,
        "{first}"
    );
    assert!(
        (first[0]["data"]["lon"].as_f64().unwrap() + 0.1).abs() < 1e-9,
        "{first}"
    );

    // Clear refusals, and the box keeps going.
    let (status, v) = owner.call(
        "POST",
        "/api/v1/imports",
        Some(json!({"format": "apple-health", "path": "/no/such/export.zip"})),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("/no/such/export.zip"),
        "{v}"
    );
    let (status, v) = owner.call(
        "POST",
        "/api/v1/imports",
        Some(json!({"format": "fitbit", "path": records})),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("apple-health or google"),
        "{v}"
    );
    // A file of the wrong format fails the job with the reason, not the box.
    let (status, job) = owner.call(
        "POST",
        "/api/v1/imports",
        Some(json!({"format": "apple-health", "path": records})),
    );
    assert_eq!(status, 202, "{job}");
    let failed = owner.wait_until_not_running(job["id"].as_str().unwrap());
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(!failed["error"].as_str().unwrap().is_empty());
    // Imports are the owner's: a principal's token is refused.
    let (ok, _, _) = b.cli(&token, &["principals", "add", "someone"]);
    assert!(ok);
    let (ok, minted, _) = b.cli(&token, &["token", "mint", "someone"]);
    assert!(ok);
    let other = Owner {
        url: b.url.clone(),
        token: minted
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap()
            .trim()
            .to_owned(),
        rt: tokio::runtime::Runtime::new().unwrap(),
    };
    let (status, _) = other.call("GET", "/api/v1/imports", None);
    assert_eq!(status, 403);
    drop((owner, other));
    b.stop();
}
