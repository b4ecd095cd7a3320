//! The owner grants, a principal reads within its grant, everything is audited, tokens survive a
//! restart, and the statement tells the owner what happened — through the real binary.

mod common;

use common::BoxProcess;

#[test]
fn owner_grants_principal_reads_and_the_statement_tells_it() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &["--demo"]);
    let owner = b.new_token.clone().unwrap();
    let run = |token: &str, args: &[&str]| b.cli(token, args);
    let ok = |token: &str, args: &[&str]| {
        let (ok, out, err) = run(token, args);
        assert!(ok, "{args:?}: {err}");
        out
    };
    ok(
        &owner,
        &[
            "principals",
            "add",
            "chart-app",
            "--kind",
            "app",
            "--description",
            "Draws charts",
        ],
    );
    let grant: serde_json::Value = serde_json::from_str(&ok(
        &owner,
        &[
            "grant",
            "chart-app",
            "read",
            "demo/temperature",
            "--granularity",
            "hourly",
            "--purpose",
            "a chart",
        ],
    ))
    .unwrap();
    let app = ok(&owner, &["token", "mint", "chart-app", "--expires", "30d"])
        .trim()
        .to_owned();

    // Within the grant: hourly statistics. Finer, or another datasource: refused with the reason.
    assert!(ok(&app, &["ts", "read", "demo", "temperature", "hourly/last/3"]).contains("\"mean\""));
    let (allowed, _, err) = run(&app, &["ts", "read", "demo", "temperature", "last/3"]);
    assert!(
        !allowed && err.contains("403") && err.contains("hourly statistics only"),
        "{err}"
    );
    let (allowed, _, err) = run(&app, &["ts", "read", "demo", "steps", "hourly/latest"]);
    assert!(!allowed && err.contains("no grant"), "{err}");
    let (allowed, _, err) = run(&app, &["store", "list"]);
    assert!(!allowed && err.contains("only the owner"), "{err}");
    // The catalogue shows the principal only what it may read.
    let cat = ok(
        &app,
        &["cat", "--rel", "urn:X-databox:rels:hasStoreType", "--val", "ts"],
    );
    assert!(
        cat.contains("/ts/temperature") && !cat.contains("/ts/steps"),
        "{cat}"
    );

    // A narrowed token for the app's UI, then revoked on its own.
    let narrow = ok(
        &app,
        &[
            "token",
            "attenuate",
            "--from",
            &app,
            "--datasource",
            "demo/temperature",
            "--op",
            "read",
        ],
    );
    let narrow = narrow.trim();
    // The same can be done offline, with only the box's public key.
    let key = ok(&app, &["token", "public-key"]);
    let offline = std::process::Command::new(common::BIN)
        .args([
            "token",
            "attenuate",
            "--from",
            &app,
            "--op",
            "read",
            "--public-key",
            key.trim(),
        ])
        .env("DATABOX_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let offline = String::from_utf8_lossy(&offline.stdout).trim().to_owned();
    assert!(ok(&offline, &["ts", "read", "demo", "temperature", "hourly/latest"]).contains("count"));
    let (allowed, _, err) = run(&offline, &["ts", "write", "demo", "temperature", "1"]);
    assert!(!allowed && err.contains("403"), "{err}");
    assert!(ok(narrow, &["ts", "read", "demo", "temperature", "hourly/latest"]).contains("count"));
    ok(&owner, &["token", "revoke", narrow]);
    let (allowed, _, err) = run(narrow, &["ts", "read", "demo", "temperature", "hourly/latest"]);
    assert!(
        !allowed && err.contains("401") && err.contains("revoked"),
        "{err}"
    );
    assert!(
        run(&app, &["ts", "read", "demo", "temperature", "hourly/latest"]).0,
        "the parent token still works"
    );

    // Tokens survive a restart.
    b.stop();
    let b = BoxProcess::start(dir.path(), &[]);
    let (allowed, out, err) = b.cli(&app, &["ts", "read", "demo", "temperature", "hourly/latest"]);
    assert!(allowed, "{out}{err}");
    // Revoking the grant takes effect on the next request.
    let id = grant["id"].as_str().unwrap();
    assert!(b.cli(&owner, &["revoke", id]).0);
    let (allowed, _, err) = b.cli(&app, &["ts", "read", "demo", "temperature", "hourly/latest"]);
    assert!(!allowed && err.contains("403"), "{err}");

    // The audit log saw all of it, and verifies.
    let (_, refused, _) = b.cli(
        &owner,
        &[
            "audit",
            "query",
            "--principal",
            "chart-app",
            "--outcome",
            "refused",
        ],
    );
    let refused: Vec<serde_json::Value> = serde_json::from_str(&refused).unwrap();
    assert!(refused.len() >= 5, "{refused:?}");
    assert!(refused.iter().all(|r| r["detail"].is_string()));
    let (ok_verify, out, err) = b.cli(&owner, &["audit", "verify"]);
    assert!(ok_verify && out.contains("intact"), "{out}{err}");
    let month = {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .to_string()[..7]
            .to_owned()
    };
    let (_, statement, _) = b.cli(&owner, &["statement", "--month", &month]);
    assert!(statement.contains("chart-app (Draws charts)"), "{statement}");
    assert!(statement.contains("read demo/temperature"), "{statement}");
    assert!(statement.contains("was refused"), "{statement}");
    assert!(statement.contains("Nothing left your box"), "{statement}");
    b.stop();

    // Offline verification of the stopped box, then tampering is found at the right line.
    let (ok_offline, out, _) = b_offline(dir.path());
    assert!(ok_offline && out.contains("intact"), "{out}");
    let log = dir.path().join("audit/log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(
        &log,
        text.replacen("\"principal\":\"chart-app\"", "\"principal\":\"someone-else\"", 1),
    )
    .unwrap();
    let (ok_offline, _, err) = b_offline(dir.path());
    assert!(
        !ok_offline && err.contains("tampered") && err.contains("changed"),
        "{err}"
    );
}

fn b_offline(dir: &std::path::Path) -> (bool, String, String) {
    let out = std::process::Command::new(common::BIN)
        .args(["audit", "verify", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn audit_tail_shows_each_access_as_it_happens() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &["--demo"]);
    let owner = b.new_token.clone().unwrap();
    let mut tail = std::process::Command::new(common::BIN)
        .args(["audit", "tail"])
        .env("DATABOX_URL", &b.url)
        .env("DATABOX_TOKEN", &owner)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(b.cli(&owner, &["ts", "read", "demo", "steps", "last/3"]).0);
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(tail.stdout.take().unwrap()));
    let record: serde_json::Value = loop {
        let r: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if r["operation"] == "read" && r["principal"] == "owner" {
            break r;
        }
    };
    assert_eq!(record["principal"], "owner");
    assert_eq!(record["datasource"], "steps");
    assert_eq!(record["detail"], "last/3");
    assert_eq!(record["count"], 3);
    b.stop();
    // Records written until the box stopped (the demo's components keep working) may still
    // come; then the stream must end rather than hang.
    for line in lines {
        let r: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        assert!(r["principal"].is_string(), "{r}");
    }
    assert!(tail.wait().unwrap().success(), "the tail ends when the box stops");
}
