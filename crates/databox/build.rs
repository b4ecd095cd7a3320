//! Builds the first-party components in `components/` for wasm32-wasip2 and embeds them
//! (`first_party.rs` in OUT_DIR), so that `cargo build` of the box builds them too.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The components, by crate folder.
const COMPONENTS: [&str; 4] = ["host-metrics", "hourly-chart", "phone-location", "places-summary"];

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = here.join("../..").canonicalize().expect("the repository root");
    let components = root.join("components");
    for watched in ["components", "crates/sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets it"));
    // OUT_DIR is <target>/<profile>/build/<pkg>/out: build beside the profiles, kept between builds.
    let target = out
        .ancestors()
        .nth(4)
        .map(|t| t.join("wasm-components"))
        .unwrap_or_else(|| out.join("wasm-components"));
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "--locked",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(components.join("Cargo.toml"))
    .arg("--target-dir")
    .arg(&target);
    // The outer build's settings (clippy as the compiler, host flags) are not the components'.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CLIPPY_ARGS",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("running cargo to build the first-party components");
    if !status.success() {
        panic!(
            "building the first-party components in {} failed; they need the WebAssembly target: \
             rustup target add wasm32-wasip2",
            components.display()
        );
    }
    let mut code = String::from("/// Every first-party component.\npub const ALL: &[FirstParty] = &[\n");
    for name in COMPONENTS {
        let wasm = target
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let manifest = components.join(name).join("manifest.toml");
        assert!(wasm.is_file(), "{} was not built", wasm.display());
        code.push_str(&format!(
            "    FirstParty {{ name: {name:?}, manifest: include_str!({:?}), wasm: include_bytes!({:?}) }},\n",
            path(&manifest),
            path(&wasm)
        ));
    }
    code.push_str("];\n");
    std::fs::write(out.join("first_party.rs"), code).expect("writing first_party.rs");
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}
