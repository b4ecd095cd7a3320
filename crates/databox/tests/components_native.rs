//! The first-party components' own tests (their pure parts and their handlers against an
//! in-memory box, built natively) run with the box's, so that one `cargo test --workspace` runs
//! every test of the repository. The components are their own cargo workspace (they build for
//! WebAssembly), hence a nested cargo, with its own target folder.

use std::path::Path;
use std::process::Command;

#[test]
fn the_first_party_components_pass_their_own_tests() {
    let components = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../components/Cargo.toml");
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("components-native");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--workspace", "--manifest-path"])
        .arg(&components)
        .arg("--target-dir")
        .arg(&target);
    // The outer run's settings are not the components'.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().expect("running cargo test for the components");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the components' tests failed:\n{stdout}\n{stderr}"
    );
    let passed: u64 = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test result: ok. "))
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .sum();
    println!("{passed} tests of the first-party components passed");
    assert!(passed > 100, "the components' tests ran: {stdout}");
}
