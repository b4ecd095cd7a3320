//! `databox component ...`: the owner installs, runs and removes apps and drivers. A component
//! comes from a project folder (`manifest.toml` and its built `.wasm`), a `.wasm` with
//! `--manifest`, a package (`.dbx`, made by `databox component pack`), or by name from the
//! first-party components built into this binary.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Conn, Payload, print_json, seg, time_of};

/// The file names inside a package.
const PACKAGE_MANIFEST: &str = "manifest.toml";
const PACKAGE_WASM: &str = "component.wasm";

#[derive(clap::Subcommand)]
pub enum ComponentCmd {
    /// List installed apps and drivers with their state.
    List {
        #[command(flatten)]
        conn: Conn,
        /// Print the box's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The first-party components this box can install by name.
    Available,
    /// Show what installing a component would mean, without installing it.
    Review {
        #[command(flatten)]
        conn: Conn,
        /// A project folder, a manifest.toml, a .dbx package, or a first-party name.
        source: String,
    },
    /// Install (or upgrade) an app or a driver.
    Install(InstallArgs),
    /// Start a component (it also runs after the box restarts).
    Start {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
    /// Stop a component (it stays stopped after the box restarts).
    Stop {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
    /// Stop and start a component.
    Restart {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
    /// Show a component's recent log.
    Logs {
        #[command(flatten)]
        conn: Conn,
        name: String,
    },
    /// Uninstall a component: its grants and tokens go; its data stays unless --erase.
    Uninstall {
        #[command(flatten)]
        conn: Conn,
        name: String,
        /// Also erase its store and everything in it.
        #[arg(long)]
        erase: bool,
    },
    /// Make a package (.dbx) from a project folder, to install elsewhere.
    Pack {
        /// The project folder (with manifest.toml and the built component).
        dir: PathBuf,
        /// The package to write.
        #[arg(long, short)]
        output: PathBuf,
    },
}

/// Options of `databox component install`.
#[derive(clap::Args)]
pub struct InstallArgs {
    #[command(flatten)]
    conn: Conn,
    /// A project folder, a .wasm (with --manifest), a .dbx package, or a first-party name.
    source: String,
    /// The manifest, when SOURCE is a .wasm file.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Map a request of the manifest to a datasource: REQUEST=STORE/DATASOURCE.
    #[arg(long = "map", value_name = "REQUEST=STORE/DS")]
    map: Vec<String>,
    /// Decline an optional request.
    #[arg(long = "decline", value_name = "REQUEST")]
    decline: Vec<String>,
    /// A setting: KEY=VALUE.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Approve what an upgrade asks for beyond the installed version.
    #[arg(long)]
    approve: bool,
    /// Install without starting it.
    #[arg(long)]
    no_start: bool,
    /// Run its timer every this many seconds instead of its manifest's schedule.
    #[arg(long, value_name = "SECONDS")]
    every: Option<u32>,
}

/// A component ready to send: its manifest and its WebAssembly.
pub struct Package {
    pub manifest: String,
    pub wasm: Vec<u8>,
}

fn wasm_name(manifest: &str) -> anyhow::Result<String> {
    let m = databox_runtime::Manifest::parse(manifest)?;
    Ok(format!("{}.wasm", m.component.name.replace('-', "_")))
}

/// Reads a component from a folder, a .wasm with a manifest, a package, or a first-party name.
pub fn load(source: &str, manifest: Option<&Path>) -> anyhow::Result<Package> {
    let path = Path::new(source);
    if !path.exists() {
        if let Some(fp) = crate::first_party::find(source) {
            return Ok(Package {
                manifest: fp.manifest.to_owned(),
                wasm: fp.wasm.to_vec(),
            });
        }
        bail!(
            "{source}: no such file or folder, and not a first-party component ({})",
            crate::first_party::names().join(", ")
        );
    }
    if path.is_dir() {
        let manifest = std::fs::read_to_string(path.join("manifest.toml"))
            .with_context(|| format!("reading {}", path.join("manifest.toml").display()))?;
        let built = Path::new("wasm32-wasip2/release").join(wasm_name(&manifest)?);
        let mut candidates = vec![path.join(PACKAGE_WASM), path.join("target").join(&built)];
        // Where cargo put it when the author builds into a shared target folder.
        if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
            candidates.push(Path::new(&target).join(&built));
        }
        let wasm_path = candidates.iter().find(|p| p.is_file()).with_context(|| {
            format!(
                "no built component in {}: build it (cargo build --release) or put it at {}",
                path.display(),
                candidates[0].display()
            )
        })?;
        let wasm = std::fs::read(wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
        return Ok(Package { manifest, wasm });
    }
    if source.ends_with(".wasm") {
        let m = manifest.context("a .wasm needs its manifest: --manifest manifest.toml")?;
        return Ok(Package {
            manifest: std::fs::read_to_string(m).with_context(|| format!("reading {}", m.display()))?,
            wasm: std::fs::read(path).with_context(|| format!("reading {source}"))?,
        });
    }
    unpack(path)
}

/// Reads a `.dbx` package: a tar archive holding `manifest.toml` and `component.wasm`.
fn unpack(path: &Path) -> anyhow::Result<Package> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut archive = tar::Archive::new(file);
    let (mut manifest, mut wasm) = (None, None);
    for entry in archive
        .entries()
        .with_context(|| format!("{} is not a Databox package (a tar archive)", path.display()))?
    {
        let mut entry = entry.with_context(|| {
            format!(
                "{} is not a Databox package: it is damaged or not a tar archive",
                path.display()
            )
        })?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let limit = databox_runtime::supervisor::MAX_WASM_BYTES as u64 + 1;
        let mut bytes = Vec::new();
        entry.by_ref().take(limit).read_to_end(&mut bytes)?;
        match name.as_str() {
            PACKAGE_MANIFEST => {
                manifest = Some(String::from_utf8(bytes).context("the manifest is not UTF-8")?)
            }
            PACKAGE_WASM => wasm = Some(bytes),
            _ => {}
        }
    }
    match (manifest, wasm) {
        (Some(manifest), Some(wasm)) => Ok(Package { manifest, wasm }),
        _ => bail!(
            "{} is not a Databox package: it needs {PACKAGE_MANIFEST} and {PACKAGE_WASM}",
            path.display()
        ),
    }
}

fn pack(dir: &Path, output: &Path) -> anyhow::Result<()> {
    let p = load(&dir.to_string_lossy(), None)?;
    databox_runtime::Manifest::parse(&p.manifest)?;
    let file = std::fs::File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let mut b = tar::Builder::new(file);
    for (name, bytes) in [
        (PACKAGE_MANIFEST, p.manifest.as_bytes()),
        (PACKAGE_WASM, &p.wasm[..]),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, bytes)?;
    }
    b.finish()?;
    println!(
        "packed {} ({} bytes of component)",
        output.display(),
        p.wasm.len()
    );
    Ok(())
}

fn pair(s: &str, what: &str) -> anyhow::Result<(String, String)> {
    s.split_once('=')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .with_context(|| format!("{s:?} should be {what}"))
}

/// The installed components as a table: what each is, whether it runs, and why not.
fn print_components(list: &Value) {
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no apps or drivers installed (see `databox component available`)");
        return;
    }
    println!(
        "{:<20} {:<6} {:<9} {:<9} {:>8}  PAGE",
        "NAME", "KIND", "VERSION", "STATE", "RESTARTS"
    );
    for c in &list {
        let status = &c["status"];
        println!(
            "{:<20} {:<6} {:<9} {:<9} {:>8}  {}",
            c["name"].as_str().unwrap_or(""),
            c["kind"].as_str().unwrap_or(""),
            c["version"].as_str().unwrap_or(""),
            status["state"].as_str().unwrap_or("unknown"),
            c["restarts"].as_u64().unwrap_or(0),
            c["url"].as_str().unwrap_or("-"),
        );
        // Why it is not running as it should, in the box's words; otherwise its last problem,
        // with its time and whether it has worked since.
        if let Some(reason) = status["reason"].as_str() {
            println!("    {reason}");
        } else if let Some(problem) = c["last_error"].as_str() {
            let at = c["last_error_ms"].as_i64();
            let over = at.zip(c["last_ok_ms"].as_i64()).is_some_and(|(e, ok)| ok > e);
            match at {
                Some(ms) if over => println!(
                    "    last problem, at {} (it has worked since): {problem}",
                    time_of(ms)
                ),
                Some(ms) => println!("    last problem, at {}: {problem}", time_of(ms)),
                None => println!("    {problem}"),
            }
        }
    }
}

fn print_review(review: &Value) {
    println!(
        "{} {} asks:",
        review["name"].as_str().unwrap_or(""),
        review["version"].as_str().unwrap_or("")
    );
    for line in review["review"].as_array().into_iter().flatten() {
        println!("  - {}", line.as_str().unwrap_or(""));
    }
    if let Some(asks) = review["upgrade_asks"].as_array() {
        if asks.is_empty() {
            println!("  (an upgrade of the installed version that asks for nothing new)");
        } else {
            println!("  Beyond the installed version it asks for:");
            for a in asks {
                println!("    * {}", a.as_str().unwrap_or(""));
            }
        }
    }
}

/// The owner's mapping: given ones, declined ones, and the only candidate where there is one.
fn mapping(review: &Value, args: &InstallArgs) -> anyhow::Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for m in &args.map {
        let (req, ds) = pair(m, "REQUEST=STORE/DATASOURCE")?;
        out.insert(req, json!(ds));
    }
    for d in &args.decline {
        out.insert(d.clone(), Value::Null);
    }
    for c in review["candidates"].as_array().into_iter().flatten() {
        let req = c["request"].as_str().unwrap_or("").to_owned();
        if out.contains_key(&req) {
            continue;
        }
        let matches: Vec<&str> = c["matches"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let required = c["required"].as_bool().unwrap_or(true);
        match matches.as_slice() {
            [only] => {
                println!("  {req} -> {only} (the only datasource that fits)");
                out.insert(req, json!(only));
            }
            [] if required => bail!("{req:?} is required, but no datasource on this box fits it"),
            [] => {
                println!("  {req}: declined (optional; nothing on this box fits)");
                out.insert(req, Value::Null);
            }
            several if required => bail!(
                "choose a datasource for {req:?} with --map {req}=STORE/DS; these fit: {}",
                several.join(", ")
            ),
            _ => {
                println!("  {req}: declined (optional; choose one with --map {req}=STORE/DS)");
                out.insert(req, Value::Null);
            }
        }
    }
    Ok(out)
}

pub fn run(cmd: ComponentCmd) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run_async(cmd))
}

async fn run_async(cmd: ComponentCmd) -> anyhow::Result<()> {
    match cmd {
        ComponentCmd::List { conn, json } => {
            let v = Client::new(conn)?
                .json(Method::GET, "/api/v1/components", Payload::None)
                .await?;
            if json {
                print_json(&v);
            } else {
                print_components(&v);
            }
        }
        ComponentCmd::Available => {
            for fp in crate::first_party::ALL {
                let m = databox_runtime::Manifest::parse(fp.manifest)?;
                println!(
                    "{} {}: {}",
                    m.component.name, m.component.version, m.component.description
                );
            }
        }
        ComponentCmd::Review { conn, source } => {
            let p = load(&source, None)?;
            let v = Client::new(conn)?
                .json(
                    Method::POST,
                    "/api/v1/components/review",
                    Payload::Bytes(p.manifest.into_bytes(), "application/toml".into()),
                )
                .await?;
            print_review(&v);
            for c in v["candidates"].as_array().into_iter().flatten() {
                println!(
                    "  {} could use: {}",
                    c["request"].as_str().unwrap_or(""),
                    c["matches"]
                );
            }
        }
        ComponentCmd::Install(args) => {
            let p = load(&args.source, args.manifest.as_deref())?;
            let client = Client::new(args.conn.clone())?;
            let review = client
                .json(
                    Method::POST,
                    "/api/v1/components/review",
                    Payload::Bytes(p.manifest.clone().into_bytes(), "application/toml".into()),
                )
                .await?;
            print_review(&review);
            let mapping = mapping(&review, &args)?;
            let config: BTreeMap<String, String> = args
                .set
                .iter()
                .map(|s| pair(s, "KEY=VALUE"))
                .collect::<Result<_, _>>()?;
            let body = json!({
                "manifest": p.manifest,
                "wasm_base64": base64::engine::general_purpose::STANDARD.encode(&p.wasm),
                "mapping": mapping,
                "config": config,
                "approve": args.approve,
                "start": !args.no_start,
                "every_seconds": args.every,
            });
            let v = client
                .json(Method::POST, "/api/v1/components", Payload::Json(body))
                .await?;
            println!(
                "installed {} {}: {}",
                v["name"].as_str().unwrap_or(""),
                v["version"].as_str().unwrap_or(""),
                v["status"]["state"].as_str().unwrap_or("")
            );
            if let Some(url) = v["url"].as_str() {
                println!("its page: {}{url}", args.conn.url().trim_end_matches('/'));
            }
        }
        ComponentCmd::Start { conn, name } => act(conn, &name, "start").await?,
        ComponentCmd::Stop { conn, name } => act(conn, &name, "stop").await?,
        ComponentCmd::Restart { conn, name } => act(conn, &name, "restart").await?,
        ComponentCmd::Logs { conn, name } => {
            let v = Client::new(conn)?
                .json(
                    Method::GET,
                    &format!("/api/v1/components/{}/logs", seg(&name)),
                    Payload::None,
                )
                .await?;
            for l in v.as_array().into_iter().flatten() {
                let when = time_of(l["at_ms"].as_i64().unwrap_or(0));
                println!("{when} {}", l["line"].as_str().unwrap_or(""));
            }
        }
        ComponentCmd::Uninstall { conn, name, erase } => {
            Client::new(conn)?
                .send(
                    Method::DELETE,
                    &format!("/api/v1/components/{}?erase={erase}", seg(&name)),
                    Payload::None,
                )
                .await?;
            println!(
                "uninstalled {name}{}",
                if erase {
                    " and erased its data"
                } else {
                    " (its data is kept)"
                }
            );
        }
        ComponentCmd::Pack { dir, output } => pack(&dir, &output)?,
    }
    Ok(())
}

async fn act(conn: Conn, name: &str, action: &str) -> anyhow::Result<()> {
    let v = Client::new(conn)?
        .json(
            Method::POST,
            &format!("/api/v1/components/{}/{action}", seg(name)),
            Payload::None,
        )
        .await?;
    println!("{name}: {}", v["status"]["state"].as_str().unwrap_or("unknown"));
    Ok(())
}
