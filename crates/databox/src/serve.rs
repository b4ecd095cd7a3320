//! `databox serve`: the daemon.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use databox_api::AppState;
use databox_arbiter::Arbiter;
use databox_audit::AuditLog;
use databox_store::{MasterKeySource, Stores};

/// Options of `databox serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Where the box keeps its stores, keys and token hash.
    #[arg(long, env = "DATABOX_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,
    /// Address to listen on. Loopback only until the box serves TLS.
    #[arg(long, env = "DATABOX_LISTEN", default_value = "127.0.0.1:5990")]
    pub listen: SocketAddr,
    /// Create a `demo` store with a week of sample data on first start.
    #[arg(long)]
    pub demo: bool,
    /// How often retention runs, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub retention_interval: u64,
}

/// `$XDG_DATA_HOME/databox`, or `~/.local/share/databox`, or `./databox-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("databox");
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/share/databox"),
        None => PathBuf::from("databox-data"),
    }
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {}: the box does not serve TLS yet, so it listens on loopback only \
             (e.g. 127.0.0.1:5990)",
            args.listen
        );
    }
    let source = match std::env::var("DATABOX_PASSPHRASE") {
        Ok(p) if !p.is_empty() => MasterKeySource::Passphrase(zeroize::Zeroizing::new(p)),
        _ => MasterKeySource::KeyFile,
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let stores = Arc::new(
        Stores::open(&args.data_dir, &source)
            .with_context(|| format!("opening the box in {}", args.data_dir.display()))?,
    );
    let (arbiter, new_token) = Arbiter::open(&args.data_dir).context("opening the arbiter")?;
    let audit = AuditLog::open(&args.data_dir.join("audit")).context("opening the audit log")?;
    let first_start = new_token.is_some();
    if args.demo {
        crate::demo::seed(&stores).context("creating the demo data")?;
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        println!("Databox is running: data in {}", args.data_dir.display());
        println!("listening on http://{addr}");
        match &new_token {
            Some(token) => {
                println!("This is the owner's token. It is shown only this once: keep it safe.");
                println!("  export DATABOX_TOKEN={}", token.as_str());
                println!("(Lost it? Stop the box and run `databox owner-token reset`.)");
            }
            None => println!("Use the owner token shown on first start (DATABOX_TOKEN)."),
        }
        println!("Try: curl -H \"Authorization: Bearer $DATABOX_TOKEN\" http://{addr}/cat");
        if arbiter.login().has_password() {
            println!("Dashboard: http://{addr}/ (log in with your password; `databox dashboard link` makes a one-time link)");
        } else {
            let code = arbiter.login().new_link(databox_store::now_ms());
            println!("Dashboard: open this one-time link to set your password (valid for 15 minutes):");
            println!("  http://{addr}/login/once?code={}", code.as_str());
        }
        drop(new_token);
        let retention_stores = stores.clone();
        let interval = Duration::from_secs(args.retention_interval.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let s = retention_stores.clone();
                let report =
                    tokio::task::spawn_blocking(move || s.apply_retention(databox_store::now_ms())).await;
                for (store, ds, purged, hours) in report.unwrap_or_default() {
                    if purged > 0 {
                        tracing::info!(%store, %ds, purged, hours, "retention purged old points");
                    }
                }
            }
        });
        let arbiter = Arc::new(arbiter);
        let export_stores = stores.clone();
        let export_audit = audit.clone();
        let ca = databox_export::ca::BoxCa::load_or_create(&args.data_dir).context("opening the box's CA")?;
        let ca_pem = ca.cert_pem().to_owned();
        let exports = tokio::task::spawn_blocking(move || {
            databox_export::ExportService::open(&export_stores, export_audit, Some(&ca_pem))
        })
        .await?
        .context("opening the export service")?;
        let env = databox_runtime::host::Env {
            stores: stores.clone(),
            arbiter: arbiter.clone(),
            audit: audit.clone(),
            data_dir: args.data_dir.clone(),
            exports: Some(exports.clone()),
        };
        let data_dir = args.data_dir.clone();
        let components =
            tokio::task::spawn_blocking(move || databox_runtime::Supervisor::open(&data_dir, env))
                .await?
                .context("opening the installed apps and drivers")?;
        for c in components.list() {
            println!("  {} {} ({}): {:?}", c.kind, c.name, c.version, c.status);
        }
        if let Some(problem) = components.problem() {
            eprintln!("warning: {problem}");
        }
        if args.demo && first_start {
            // In the background: the box serves at once, the demo's components arrive in a moment.
            let c = components.clone();
            tokio::task::spawn_blocking(move || crate::first_party::install_demo(&c));
        }
        let import_audit = audit.clone();
        let imports = databox_import::job::Imports::open(stores.clone(), &args.data_dir, move |job| {
            let mut e = databox_audit::Event::of(databox_audit::Kind::Admin, "owner", "import");
            e.store = Some(job.store.clone());
            e.count = Some(job.written.values().sum());
            e.detail = Some(format!(
                "{:?} {} from {}{}",
                job.state,
                job.id,
                job.path.display(),
                job.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
            ));
            import_audit.record(e);
        })
        .context("opening the imports")?;
        let state = AppState::new(stores.clone(), arbiter, audit.clone())
            .with_imports(imports.clone())
            .with_components(components.clone())
            .with_exports(exports)
            .with_first_party(crate::first_party::ALL);
        let closer = state.clone();
        let (stopping, stop_requested) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, databox_api::router(state)).with_graceful_shutdown(async move {
            shutdown_signal().await;
            closer.close_streams();
            let _ = stopping.send(());
        });
        // Open requests get a few seconds to finish; a client that keeps a connection open
        // without using it must not keep the box from stopping (and saving its state).
        tokio::select! {
            served = server => served.context("serving the API")?,
            () = async {
                if stop_requested.await.is_ok() {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => tracing::warn!("connections were still open 10 s after the stop signal; closing them"),
        }
        components.shutdown();
        tokio::task::spawn_blocking(move || imports.shutdown()).await?;
        tokio::task::spawn_blocking(move || {
            stores.close();
            audit.close();
        })
        .await?;
        println!("Databox stopped cleanly.");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
