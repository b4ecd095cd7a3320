//! Builds the test component of `tests/guest` for wasm32-wasip2, once per test binary, with or
//! without outbound HTTP (the `net` feature). Shared by the runtime's tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

/// The test component; `net` builds the variant that makes outbound HTTP requests.
pub fn component(net: bool) -> &'static [u8] {
    variant(if net { "net" } else { "" })
}

/// The test component built with `features` (`""`, `"net"` or `"export"`).
pub fn variant(features: &'static str) -> &'static [u8] {
    static PLAIN: OnceLock<Vec<u8>> = OnceLock::new();
    static NET: OnceLock<Vec<u8>> = OnceLock::new();
    static EXPORT: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = match features {
        "net" => &NET,
        "export" => &EXPORT,
        _ => &PLAIN,
    };
    cell.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/guest");
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("guest-{features}"));
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target);
        if !features.is_empty() {
            cmd.args(["--features", features]);
        }
        let out = cmd.output().expect("run cargo");
        assert!(
            out.status.success(),
            "building the test component failed (is `rustup target add wasm32-wasip2` done?):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(target.join("wasm32-wasip2/release/test_driver.wasm")).unwrap()
    })
}
