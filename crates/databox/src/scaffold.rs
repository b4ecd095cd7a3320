//! `databox new app|driver NAME`: scaffolds a component project that builds with a plain
//! `cargo build --release` into the WebAssembly component `databox component install` takes.
//!
//! The project depends on the Databox SDK by path: the SDK next to the sources this binary was
//! built from, or `--sdk-path`. It refuses invalid names and existing non-empty folders before
//! writing anything. The templates are in `crates/databox/templates/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Arguments of `databox new`.
#[derive(clap::Args)]
pub struct NewArgs {
    /// `app` or `driver`.
    pub kind: String,
    /// The component's name (a-z 0-9 -, starting with a letter).
    pub name: String,
    /// Where to create the project folder (default: the current folder).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The Databox SDK crate (`crates/sdk` of a Databox checkout) the project depends on
    /// (default: the one this binary was built with).
    #[arg(long)]
    pub sdk_path: Option<PathBuf>,
}

/// The SDK in the source tree this binary was built from.
const DEFAULT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

const CARGO_TOML: &str = include_str!("../templates/Cargo.toml.txt");
const CARGO_CONFIG: &str = include_str!("../templates/cargo-config.toml.txt");
const GITIGNORE: &str = include_str!("../templates/gitignore.txt");
const README: &str = include_str!("../templates/README.md.txt");
const APP_LIB: &str = include_str!("../templates/app/lib.rs.txt");
const APP_MANIFEST: &str = include_str!("../templates/app/manifest.toml.txt");
const DRIVER_LIB: &str = include_str!("../templates/driver/lib.rs.txt");
const DRIVER_MANIFEST: &str = include_str!("../templates/driver/manifest.toml.txt");

/// What to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    App,
    Driver,
}

impl Kind {
    fn parse(s: &str) -> anyhow::Result<Kind> {
        match s {
            "app" => Ok(Kind::App),
            "driver" => Ok(Kind::Driver),
            other => bail!("unknown kind {other:?}: make an `app` or a `driver`"),
        }
    }

    fn word(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Driver => "driver",
        }
    }
}

/// Names Cargo or Rust would refuse or confuse as a crate name.
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "databox-sdk",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc-macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// Checks a component name as the manifest does: 1-64 of `a-z 0-9 -`, starting with a letter.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        bail!("invalid name {name:?}: use 1-64 of a-z 0-9 -, starting with a letter (e.g. my-app)");
    }
    if RESERVED.contains(&name) {
        bail!("invalid name {name:?}: Rust or Cargo reserves it; choose another");
    }
    Ok(())
}

/// The SDK folder, canonical, checked to hold the `databox-sdk` crate.
fn sdk_path(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let candidate = given.unwrap_or(Path::new(DEFAULT_SDK));
    let hint = "pass --sdk-path with the crates/sdk folder of a Databox checkout";
    let path = candidate
        .canonicalize()
        .with_context(|| format!("the Databox SDK is not at {} ({hint})", candidate.display()))?;
    let manifest = std::fs::read_to_string(path.join("Cargo.toml")).unwrap_or_default();
    if !manifest.contains("name = \"databox-sdk\"") {
        bail!("{} holds no databox-sdk crate ({hint})", path.display());
    }
    Ok(path)
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The project's files: `(path inside the project, contents)`.
fn files(kind: Kind, name: &str, sdk: &Path) -> Vec<(&'static str, String)> {
    let crate_name = name.replace('-', "_");
    let sdk = toml_string(&sdk.to_string_lossy());
    let handlers = match kind {
        Kind::App => "`start` and `handle`, which serves its page",
        Kind::Driver => "`start` and `on_timer`, which writes a reading",
    };
    let fill = |template: &str| {
        template
            .replace("\"{{sdk_path}}\"", &sdk)
            .replace("{{name}}", name)
            .replace("{{crate_name}}", &crate_name)
            .replace("{{kind}}", kind.word())
            .replace("{{handlers}}", handlers)
    };
    let (lib, manifest) = match kind {
        Kind::App => (APP_LIB, APP_MANIFEST),
        Kind::Driver => (DRIVER_LIB, DRIVER_MANIFEST),
    };
    vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        (".cargo/config.toml", fill(CARGO_CONFIG)),
        ("manifest.toml", fill(manifest)),
        ("src/lib.rs", fill(lib)),
        ("README.md", fill(README)),
        (".gitignore", fill(GITIGNORE)),
    ]
}

/// Refuses a path that exists as a file or a non-empty folder.
fn check_free(project: &Path) -> anyhow::Result<()> {
    if !project.exists() {
        return Ok(());
    }
    if !project.is_dir() {
        bail!(
            "{} already exists and is not a folder; choose another name or --dir",
            project.display()
        );
    }
    let mut entries =
        std::fs::read_dir(project).with_context(|| format!("cannot read {}", project.display()))?;
    if entries.next().is_some() {
        bail!(
            "{} already exists and is not empty; choose another name or --dir",
            project.display()
        );
    }
    Ok(())
}

/// Runs `databox new`.
pub fn run(args: NewArgs) -> anyhow::Result<()> {
    let kind = Kind::parse(&args.kind)?;
    check_name(&args.name)?;
    let sdk = sdk_path(args.sdk_path.as_deref())?;
    let project = args.dir.join(&args.name);
    check_free(&project)?;
    let created = !project.exists();
    let write_all = || -> anyhow::Result<()> {
        for (rel, contents) in files(kind, &args.name, &sdk) {
            let path = project.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    };
    if let Err(e) = write_all() {
        if created {
            let _ = std::fs::remove_dir_all(&project);
        }
        return Err(e);
    }
    let shown = project.canonicalize().unwrap_or_else(|_| project.clone());
    println!("Created the {} {} in {}", kind.word(), args.name, shown.display());
    println!("Next:");
    println!("  cd {}", shown.display());
    println!("  cargo build --release         # needs: rustup target add wasm32-wasip2");
    println!("  databox component install .   # with the box running; it shows what the manifest asks for");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_manifest_names_and_refuses_others() {
        for good in ["a", "demo-app", "x1", &"a".repeat(64)] {
            check_name(good).unwrap();
        }
        for bad in [
            "",
            "Demo",
            "1app",
            "my_app",
            "-x",
            "a b",
            "ä",
            &"a".repeat(65),
            "fn",
            "test",
            "databox-sdk",
        ] {
            let e = check_name(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid name"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn knows_two_kinds() {
        assert_eq!(Kind::parse("app").unwrap(), Kind::App);
        assert_eq!(Kind::parse("driver").unwrap(), Kind::Driver);
        assert!(Kind::parse("widget").unwrap_err().to_string().contains("app"));
    }

    #[test]
    fn fills_every_placeholder() {
        for kind in [Kind::App, Kind::Driver] {
            let files = files(kind, "demo-thing", Path::new("/opt/data \"box\"/sdk"));
            for (path, contents) in &files {
                assert!(
                    !contents.contains("{{"),
                    "{path} keeps a placeholder:\n{contents}"
                );
            }
            let cargo = &files.iter().find(|(p, _)| *p == "Cargo.toml").unwrap().1;
            assert!(
                cargo.contains(r#"databox-sdk = { path = "/opt/data \"box\"/sdk" }"#),
                "{cargo}"
            );
            assert!(cargo.contains("name = \"demo-thing\""));
            let readme = &files.iter().find(|(p, _)| *p == "README.md").unwrap().1;
            assert!(readme.contains("target/wasm32-wasip2/release/demo_thing.wasm"));
            assert!(readme.contains("databox component install ."));
        }
    }

    #[test]
    fn the_default_sdk_is_found() {
        let sdk = sdk_path(None).unwrap();
        assert!(sdk.join("src/lib.rs").exists());
        assert!(sdk_path(Some(Path::new("/nonexistent/sdk"))).is_err());
    }
}
