//! End to end, as the owner would: install the first-party host-metrics driver and hourly-chart
//! app with the CLI into a running box, see the driver's points arrive in its store, the app's
//! hourly statistics in its own store and its page served through the box, the audit records of
//! their reads and writes; then stop, restart the box (what ran runs again), and uninstall.

mod common;

use std::time::Duration;

use common::{BoxProcess, eventually, ok};
use serde_json::Value;

fn json(b: &BoxProcess, token: &str, args: &[&str]) -> Value {
    serde_json::from_str(&ok(b, token, args)).unwrap_or(Value::Null)
}

fn state_of(b: &BoxProcess, token: &str, name: &str) -> String {
    let list = json(b, token, &["component", "list", "--json"]);
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| c["status"]["state"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| "absent".into())
}

#[test]
fn install_the_metrics_driver_and_the_chart_app_and_see_them_work() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let token = b.new_token.clone().unwrap();

    let available = ok(&b, &token, &["component", "available"]);
    assert!(
        available.contains("host-metrics") && available.contains("hourly-chart"),
        "{available}"
    );

    let out = ok(
        &b,
        &token,
        &["component", "install", "host-metrics", "--every", "1"],
    );
    assert!(
        out.contains("measures this box's machine"),
        "the review is shown: {out}"
    );
    assert!(out.contains("installed host-metrics"), "{out}");
    eventually("cpu-load points from the driver", Duration::from_secs(30), || {
        let v = json(&b, &token, &["ts", "read", "host-metrics", "cpu-load", "length"]);
        (v["result"].as_u64()? >= 2).then(|| v.to_string())
    });
    let memory = json(
        &b,
        &token,
        &["ts", "read", "host-metrics", "memory-used", "latest"],
    );
    assert!(memory.to_string().contains("value"), "{memory}");

    // The chart app may read only hourly statistics of the one series the owner maps.
    let out = ok(
        &b,
        &token,
        &[
            "component",
            "install",
            "hourly-chart",
            "--map",
            "source=host-metrics/cpu-load",
            "--every",
            "1",
        ],
    );
    assert!(out.contains("hourly statistics only"), "{out}");
    assert!(out.contains("/app/hourly-chart/"), "{out}");
    let grants = ok(&b, &token, &["grants", "--principal", "hourly-chart"]);
    let source = grants
        .lines()
        .find(|l| l.contains(" read ") && l.contains("host-metrics/cpu-load"))
        .unwrap_or_else(|| panic!("a line for reading the mapped source: {grants}"));
    assert!(
        source.starts_with("hourly-chart") && source.contains(" hourly "),
        "{grants}"
    );

    let stats = eventually("the app's hourly statistics", Duration::from_secs(30), || {
        let (success, out, _) = b.cli(&token, &["kv", "get", "hourly-chart", "hourly", "last-48h"]);
        (success && out.contains("mean")).then_some(out)
    });
    assert!(stats.contains("count"), "{stats}");

    // Its page, through the box, behind the owner's token.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, ctype, csp, body) = rt.block_on(async {
        let r = reqwest::Client::new()
            .get(format!("{}/app/hourly-chart/", b.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ctype = r.headers()["content-type"].to_str().unwrap().to_owned();
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        (status, ctype, csp, r.text().await.unwrap())
    });
    assert_eq!(status, 200, "{body}");
    // It shares the dashboard's origin, where the owner's session works: no script may run there.
    assert!(csp.contains("script-src 'none'"), "{csp}");
    assert!(ctype.starts_with("text/html"), "{ctype}");
    assert!(body.contains("<svg"), "a chart: {body}");
    let anonymous = rt.block_on(async {
        reqwest::get(format!("{}/app/hourly-chart/", b.url))
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    assert_eq!(anonymous, 401, "the page needs the owner");

    // Every read and write is in the audit log.
    let audit = ok(&b, &token, &["audit", "query", "--principal", "host-metrics"]);
    assert!(audit.contains("write") && audit.contains("cpu-load"), "{audit}");
    assert!(
        audit.contains("the load, memory and disk of the box's machine"),
        "each measurement of the machine is audited: {audit}"
    );
    let month = ok(&b, &token, &["statement"]);
    assert!(
        month.contains("read the load, memory and disk of the box's machine:"),
        "the statement says what the driver measured: {month}"
    );
    let audit = ok(&b, &token, &["audit", "query", "--principal", "hourly-chart"]);
    assert!(audit.contains("hourly/since/"), "the app's hourly reads: {audit}");
    assert!(
        audit.contains("\"write\""),
        "the app's writes to its own store: {audit}"
    );

    // Stopped stays stopped across a restart of the box; running runs again.
    ok(&b, &token, &["component", "stop", "hourly-chart"]);
    assert_eq!(state_of(&b, &token, "hourly-chart"), "stopped");
    b.stop();
    let b = BoxProcess::start(dir.path(), &[]);
    assert_eq!(state_of(&b, &token, "hourly-chart"), "stopped");
    let before = json(&b, &token, &["ts", "read", "host-metrics", "cpu-load", "length"])["result"]
        .as_u64()
        .unwrap();
    eventually(
        "the driver running again after the restart",
        Duration::from_secs(30),
        || {
            let v = json(&b, &token, &["ts", "read", "host-metrics", "cpu-load", "length"]);
            (v["result"].as_u64()? > before).then(|| v.to_string())
        },
    );
    let logs = ok(&b, &token, &["component", "logs", "host-metrics"]);
    assert!(logs.contains("started"), "{logs}");

    // Measuring the machine is a grant like any other: revoked, the driver measures no more,
    // and each attempt is refused and audited.
    let grants = json(&b, &token, &["grants", "--principal", "host-metrics", "--json"]);
    let measuring = grants
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["store"] == "box" && g["datasource"] == "host-metrics")
        .unwrap_or_else(|| panic!("a grant to measure the machine: {grants}"));
    assert_eq!(measuring["operation"], "read", "{measuring}");
    ok(&b, &token, &["revoke", measuring["id"].as_str().unwrap()]);
    eventually("a refused measurement", Duration::from_secs(30), || {
        let audit = ok(&b, &token, &["audit", "query", "--principal", "host-metrics"]);
        audit
            .contains("host-metrics has no grant to read box/host-metrics")
            .then_some(audit)
    });
    let after = json(&b, &token, &["ts", "read", "host-metrics", "cpu-load", "length"])["result"]
        .as_u64()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2_500));
    let later = json(&b, &token, &["ts", "read", "host-metrics", "cpu-load", "length"])["result"]
        .as_u64()
        .unwrap();
    assert_eq!(later, after, "no measurement after the refusal");

    // Uninstall: erased means its store is gone; kept means it stays.
    ok(&b, &token, &["component", "uninstall", "hourly-chart", "--erase"]);
    ok(&b, &token, &["component", "uninstall", "host-metrics"]);
    let stores = ok(&b, &token, &["store", "list"]);
    assert!(!stores.contains("hourly-chart"), "{stores}");
    assert!(stores.contains("host-metrics"), "{stores}");
    assert_eq!(state_of(&b, &token, "host-metrics"), "absent");
    let principals = ok(&b, &token, &["principals"]);
    assert!(!principals.contains("hourly-chart"), "{principals}");
    b.stop();
}
