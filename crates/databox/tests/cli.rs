//! The command line as an owner or a script uses it, against a real box started with demo data.

mod common;

use common::BoxProcess;
use serde_json::Value;

#[test]
fn owner_uses_the_cli_for_data_and_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &["--demo"]);
    let token = b.new_token.clone().unwrap();
    let run = |args: &[&str]| {
        let (ok, out, err) = b.cli(&token, args);
        assert!(ok, "{args:?} failed: {err}");
        out
    };
    let json = |args: &[&str]| -> Value { serde_json::from_str(&run(args)).unwrap() };

    // Demo data is there.
    let stores = json(&["store", "list"]);
    assert_eq!(stores[0]["id"], "demo");
    let mean = json(&[
        "ts",
        "read",
        "demo",
        "temperature",
        "since/0/filter/room/equals/lounge/mean",
    ]);
    let m = mean["result"].as_f64().unwrap();
    assert!((15.0..25.0).contains(&m), "{mean}");

    // Write and read back, with tags, timestamps and a join.
    run(&[
        "datasource",
        "create",
        "demo",
        "humidity",
        "--kind",
        "ts",
        "--type",
        "humidity",
        "--unit",
        "percent",
    ]);
    run(&[
        "ts",
        "write",
        "demo",
        "humidity",
        "41.5",
        "--tag",
        "room=lounge",
        "--timestamp",
        "1000",
    ]);
    run(&[
        "ts",
        "write",
        "demo",
        "humidity",
        "-3",
        "--tag",
        "room=hall",
        "--timestamp",
        "2000",
    ]);
    let rows = json(&["ts", "read", "demo", "humidity", "range/0/5000"]);
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["data"]["value"], 41.5);
    assert_eq!(rows[1]["data"]["room"], "hall");
    let csv = run(&["ts", "read", "demo", "humidity", "first/2", "--csv"]);
    assert_eq!(csv.lines().next().unwrap(), "timestamp,datasource,room,value");
    assert_eq!(csv.lines().nth(1).unwrap(), "1000,,lounge,41.5");
    let sum = json(&["ts", "read", "demo", "humidity", "since/0/sum"]);
    assert_eq!(sum["result"], 38.5);
    let joined = json(&["ts", "read", "demo", "humidity,steps", "last/3"]);
    assert!(
        joined
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["datasource"].is_string())
    );

    // A batch from standard input.
    let batch = r#"[{"timestamp": 3000, "data": {"value": 50, "room": "lounge"}}, {"data": {"value": 51}}]"#;
    let out = std::process::Command::new(common::BIN)
        .args(["ts", "write", "demo", "humidity", "--batch", "-"])
        .env("DATABOX_URL", &b.url)
        .env("DATABOX_TOKEN", &token)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(batch.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    assert_eq!(json(&["ts", "read", "demo", "humidity", "length"])["result"], 4);
    assert_eq!(
        json(&["ts", "delete", "demo", "humidity", "range/0/2500"])["deleted"],
        2
    );

    // Key-value.
    run(&["kv", "put", "demo", "settings", "wifi", r#"{"ssid": "home"}"#]);
    assert_eq!(
        run(&["kv", "get", "demo", "settings", "wifi"]),
        r#"{"ssid": "home"}"#
    );
    let keys = json(&["kv", "list", "demo", "settings"]);
    assert_eq!(keys, serde_json::json!(["greeting", "thermostat", "wifi"]));

    // Catalogue and simple search.
    let found = json(&["cat", "--rel", "urn:X-databox:rels:hasType", "--val", "humidity"]);
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert!(
        items[0]["href"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/stores/demo/ts/humidity")
    );
    let store_cat = json(&["cat", "demo"]);
    assert_eq!(store_cat["items"].as_array().unwrap().len(), 5);

    // Refusals exit non-zero with the box's reason.
    let (ok, _, err) = b.cli(&token, &["ts", "read", "demo", "humidity", "range/9/5"]);
    assert!(!ok && err.contains("after its end"), "{err}");
    let (ok, _, err) = b.cli("dbx_owner_wrong", &["store", "list"]);
    assert!(!ok && err.contains("401"), "{err}");
    let (ok, _, err) = b.cli(&token, &["ts", "write", "demo", "nowhere", "1"]);
    assert!(!ok && err.contains("does not exist"), "{err}");
    b.stop();

    // Demo data is created once: a restart with --demo keeps what the owner changed.
    let b = BoxProcess::start(dir.path(), &["--demo"]);
    let (ok, out, _) = b.cli(&token, &["ts", "read", "demo", "humidity", "length"]);
    assert!(ok && out.contains("\"result\": 2"), "{out}");
    b.stop();
}

#[test]
fn observe_prints_new_points_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &["--demo"]);
    let token = b.new_token.clone().unwrap();
    let mut observer = std::process::Command::new(common::BIN)
        .args(["ts", "observe", "demo", "steps"])
        .env("DATABOX_URL", &b.url)
        .env("DATABOX_TOKEN", &token)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(b.cli(&token, &["ts", "write", "demo", "steps", "1234"]).0);
    assert!(b.cli(&token, &["ts", "write", "demo", "temperature", "99"]).0);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(observer.stdout.take().unwrap()));
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "point");
    assert_eq!(first["datasource"], "steps");
    assert_eq!(first["data"]["value"], 1234.0);
    // Stopping the box ends the stream (a graceful shutdown does not wait for observers forever).
    b.stop();
    assert!(lines.next().is_none(), "the stream ends when the box stops");
    observer.wait().unwrap();
}
