//! `databox new`: the scaffolded app and driver build, with a plain `cargo build --release`, into
//! WebAssembly components whose manifests the box accepts; bad names and taken folders are
//! refused before anything is written.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn databox(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_databox"))
        .args(args)
        .arg("--dir")
        .arg(dir)
        .output()
        .expect("run databox")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Whether `rustup` lists the WebAssembly target (without rustup, assume it and let the build say).
fn wasm_target_installed() -> bool {
    match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == "wasm32-wasip2"),
        _ => true,
    }
}

/// A target folder shared by runs, so the SDK is built once.
fn shared_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("scaffold")
}

#[test]
fn scaffolded_app_and_driver_build_into_components_the_box_accepts() {
    if !wasm_target_installed() {
        eprintln!("skipped: the wasm32-wasip2 target is not installed (rustup target add wasm32-wasip2)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let running = common::BoxProcess::start(data.path(), &["--demo"]);
    let token = running.new_token.clone().unwrap();
    for (kind, name) in [("app", "demo-app"), ("driver", "demo-driver")] {
        let out = databox(&["new", kind, name], tmp.path());
        assert!(
            out.status.success(),
            "databox new {kind} {name}: {}",
            stderr(&out)
        );
        let project = tmp.path().join(name);
        for file in [
            "Cargo.toml",
            ".cargo/config.toml",
            "manifest.toml",
            "src/lib.rs",
            "README.md",
        ] {
            assert!(project.join(file).is_file(), "{name}: no {file}");
        }

        let manifest = std::fs::read_to_string(project.join("manifest.toml")).unwrap();
        let m = databox_runtime::Manifest::parse(&manifest).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(m.component.name, name);
        assert_eq!(format!("{:?}", m.component.kind).to_lowercase(), kind);

        let build = Command::new(env!("CARGO"))
            .args(["build", "--release"])
            .current_dir(&project)
            .env("CARGO_TARGET_DIR", shared_target())
            .output()
            .expect("run cargo");
        assert!(
            build.status.success(),
            "building {name} failed:\n{}",
            stderr(&build)
        );

        let wasm = shared_target()
            .join("wasm32-wasip2/release")
            .join(format!("{}.wasm", name.replace('-', "_")));
        let bytes = std::fs::read(&wasm).unwrap_or_else(|e| panic!("{}: {e}", wasm.display()));
        // `\0asm`, then the component layer's version and layer bytes (a core module has 01 00 00 00).
        assert_eq!(
            &bytes[..8],
            b"\0asm\x0d\x00\x01\x00",
            "{} is not a component",
            wasm.display()
        );

        // It installs into a running box: from its folder, from a package, from the .wasm.
        let project_arg = project.to_string_lossy().into_owned();
        // The app asks for a series; the driver asks for nothing.
        let map: &[&str] = if kind == "app" {
            &["--map", "source=demo/temperature"]
        } else {
            &[]
        };
        let from_folder = Command::new(common::BIN)
            .args(["component", "install", &project_arg])
            .args(map)
            .env("DATABOX_URL", &running.url)
            .env("DATABOX_TOKEN", &token)
            .env("CARGO_TARGET_DIR", shared_target())
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&from_folder.stdout);
        assert!(
            from_folder.status.success() && out.contains(&format!("installed {name}")),
            "{out}{}",
            stderr(&from_folder)
        );
        let (ok, list, _) = running.cli(&token, &["component", "list"]);
        assert!(ok && list.contains(name), "{list}");
        let (ok, _, err) = running.cli(&token, &["component", "uninstall", name, "--erase"]);
        assert!(ok, "{err}");

        let package = tmp
            .path()
            .join(format!("{name}.dbx"))
            .to_string_lossy()
            .into_owned();
        std::fs::copy(&wasm, project.join("component.wasm")).unwrap();
        let (ok, _, err) = running.cli(&token, &["component", "pack", &project_arg, "--output", &package]);
        assert!(ok, "{err}");
        let (ok, out, err) = running.cli(&token, &[&["component", "install", &package][..], map].concat());
        assert!(ok && out.contains(&format!("installed {name}")), "{out}{err}");
        let (ok, _, err) = running.cli(&token, &["component", "uninstall", name, "--erase"]);
        assert!(ok, "{err}");

        let manifest_path = project.join("manifest.toml").to_string_lossy().into_owned();
        let wasm_arg = wasm.to_string_lossy().into_owned();
        let (ok, out, err) = running.cli(
            &token,
            &[
                &["component", "install", &wasm_arg, "--manifest", &manifest_path][..],
                map,
            ]
            .concat(),
        );
        assert!(ok && out.contains(&format!("installed {name}")), "{out}{err}");
    }
    // A damaged package is refused with a clear message, and the box goes on.
    let bad = tmp.path().join("bad.dbx").to_string_lossy().into_owned();
    std::fs::write(&bad, b"not a tar archive at all").unwrap();
    let (ok, _, err) = running.cli(&token, &["component", "install", &bad]);
    assert!(!ok && err.contains("not a Databox package"), "{err}");
    let (ok, list, _) = running.cli(&token, &["component", "list"]);
    assert!(
        ok && list.contains("demo-driver") && list.contains("demo-app"),
        "{list}"
    );
    running.stop();
}

#[test]
fn refuses_bad_names_unknown_kinds_and_taken_folders() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["Demo", "1app", "my_app", "my.app", "fn", "a b"] {
        let out = databox(&["new", "app", bad], tmp.path());
        assert!(!out.status.success(), "{bad:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains("invalid name"), "{bad:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    }
    let out = databox(&["new", "widget", "ok-name"], tmp.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown kind \"widget\""),
        "{}",
        stderr(&out)
    );

    let taken = tmp.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("notes.txt"), "mine").unwrap();
    let out = databox(&["new", "driver", "taken"], tmp.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("already exists and is not empty"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert_eq!(std::fs::read_to_string(taken.join("notes.txt")).unwrap(), "mine");
    assert!(!taken.join("Cargo.toml").exists());

    std::fs::write(tmp.path().join("a-file"), "x").unwrap();
    let out = databox(&["new", "app", "a-file"], tmp.path());
    assert!(stderr(&out).contains("is not a folder"), "{}", stderr(&out));

    let out = Command::new(env!("CARGO_BIN_EXE_databox"))
        .args(["new", "app", "no-sdk", "--sdk-path", "/nonexistent/sdk", "--dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(stderr(&out).contains("--sdk-path"), "{}", stderr(&out));
    assert!(!tmp.path().join("no-sdk").exists());

    // An empty folder is fine.
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = databox(&["new", "app", "empty"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tmp.path().join("empty/manifest.toml").is_file());
}
