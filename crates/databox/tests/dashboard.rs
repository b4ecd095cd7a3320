//! The owner's dashboard in a real browser: Debian's chromium driven by playwright-core
//! (`tests/browser/dashboard.test.mjs`) through a real box, from the first-run link to the
//! statement. Screenshots of the main pages land in `<target>/tmp/dashboard-screenshots/`.
//!
//! `.ci/run` installs chromium and the browser test's npm packages and sets
//! `DATABOX_REQUIRE_BROWSER=1`, so there a missing browser fails the test; elsewhere it is skipped
//! with a message saying what to install.

mod common;

use std::path::Path;
use std::process::Command;

use common::BoxProcess;

#[test]
fn the_owner_walks_through_the_dashboard_in_a_real_browser() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("DATABOX_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<String> = [
        (!Path::new(&chromium).exists()).then(|| format!("{chromium} (apt-get install chromium)")),
        (!browser_dir.join("node_modules/playwright-core").exists())
            .then(|| format!("playwright-core (npm ci --prefix {})", browser_dir.display())),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        let message = format!("the browser test needs {}", missing.join(" and "));
        if std::env::var_os("DATABOX_REQUIRE_BROWSER").is_some() {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}; .ci/run installs both");
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let token = b.new_token.clone().expect("first start prints the owner token");
    let link = b
        .login_link
        .clone()
        .expect("a box without a password prints a one-time link");
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    // A small Apple Health export for the Imports page, as the phone would have written it.
    let files = tempfile::tempdir().unwrap();
    let export = databox_import::testgen::apple_health_export(
        files.path(),
        &databox_import::testgen::HealthExportOptions {
            target_bytes: 2 << 20,
            seed: 3,
            zip: true,
        },
    )
    .expect("generating an export");
    let out = Command::new("node")
        .arg(browser_dir.join("dashboard.test.mjs"))
        .current_dir(&browser_dir)
        .env("BOX_URL", &b.url)
        .env("OWNER_TOKEN", &token)
        .env("LOGIN_LINK", &link)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .env("HEALTH_EXPORT", &export.path)
        .env(
            "HEALTH_ITEMS",
            (export.total_items() - export.duplicates).to_string(),
        )
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser walk-through failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok: the dashboard walk-through passed"),
        "{stdout}"
    );
    for name in [
        "00-home",
        "02-install-review",
        "04-app-chart",
        "07-audit",
        "09-export-review",
        "10-statement",
    ] {
        assert!(
            screenshots.join(format!("{name}.png")).exists(),
            "screenshot {name} was saved"
        );
    }
    b.stop();
}
