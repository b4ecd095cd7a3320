//! The WebAssembly host: runs a component under wasmtime with no files, no sockets and no
//! environment (WASI with nothing granted), memory, CPU, wall-time and output limits, and the
//! Databox imports, each of which mediates through the arbiter and the audit log.
//!
//! What a component can import depends on its kind, fixed when it is linked: an app gets
//! `datastore`, `data-export`, `log` and `config`; a driver gets `datastore`, `log`, `config` and
//! outbound HTTP filtered by [`net`]; a driver whose manifest asks for `host.metrics` also gets
//! [`metrics`]. A component that imports anything else does not load.
//!
//! One module per import: [`datastore`], [`export`], [`metrics`], [`net`], and the small `log`
//! and `config` ones here.

mod datastore;
mod export;
pub mod metrics;
mod net;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use databox_arbiter::{Arbiter, Caller};
use databox_audit::{AuditLog, Event, Kind as AuditKind, Outcome};
use databox_store::{DatasourceId, StoreId, Stores};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::manifest::{Kind, Limits, Manifest};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({ world: "all", path: "../../wit" });
}

use bindings::databox::component::{config, log, types};

pub use bindings::databox::component::types::{Request as HttpRequest, Response as HttpResponse};

/// How often the engine's clock ticks; time limits are checked at each tick.
const TICK: Duration = Duration::from_millis(5);

/// Most log lines kept from one handler call, so a component cannot fill the box's memory.
const MAX_LOG_LINES: usize = 1000;

/// Why running a component failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The component is not a valid component of its world, or imports what its kind may not.
    #[error("the component cannot be loaded: {0}")]
    Load(String),
    /// The sandbox stopped it: it ran out of time, CPU or memory, gave too large an answer, or
    /// crashed.
    #[error("the component was stopped: {0}")]
    Killed(String),
    /// The component reported a failure of its own.
    #[error("the component failed: {0}")]
    Failed(String),
}

/// What the box lends a component.
#[derive(Clone)]
pub struct Env {
    /// The stores.
    pub stores: Arc<Stores>,
    /// The one check.
    pub arbiter: Arc<Arbiter>,
    /// The record of every access.
    pub audit: Arc<AuditLog>,
    /// The folder whose disk `host-metrics` measures (the box's data folder).
    pub data_dir: PathBuf,
    /// The only way out for data; without it, apps' exports are refused as unavailable.
    pub exports: Option<databox_export::ExportService>,
}

/// Who a running component is and what it may name.
pub struct ComponentCtx {
    /// Its name (and principal id).
    pub name: String,
    /// Its principal, from its runtime token: every import passes the arbiter as this caller.
    pub caller: Caller,
    /// Its own store.
    pub own_store: StoreId,
    /// Its names for datasources (manifest requests mapped at install, and its provided ids).
    pub datasources: BTreeMap<String, (StoreId, DatasourceId)>,
    /// The owner's settings.
    pub config: BTreeMap<String, String>,
    /// Export destinations the owner approved (exact URLs, or prefixes ending in `/`), with
    /// their limits.
    pub export_destinations: Vec<crate::manifest::Export>,
    /// Hosts (`host` or `host:port`) a driver may connect to.
    pub network_hosts: Vec<String>,
    /// Largest output of one host call or handler answer, bytes.
    pub output_limit: usize,
    /// The box.
    pub env: Env,
}

impl ComponentCtx {
    /// The context of an installed component: its names for datasources from its manifest and
    /// the owner's choices, its settings with the manifest's defaults, and its limits.
    pub fn for_manifest(
        m: &Manifest,
        caller: Caller,
        mapping: &BTreeMap<String, Option<(StoreId, DatasourceId)>>,
        config: &BTreeMap<String, String>,
        env: Env,
    ) -> Result<ComponentCtx, RunError> {
        let own_store = StoreId::new(m.component.name.clone()).map_err(|e| RunError::Load(e.to_string()))?;
        let mut datasources = BTreeMap::new();
        for p in &m.provides {
            let ds = DatasourceId::new(p.id.clone()).map_err(|e| RunError::Load(e.to_string()))?;
            datasources.insert(p.id.clone(), (own_store.clone(), ds));
        }
        for (name, choice) in mapping {
            if let Some(pair) = choice {
                datasources.insert(name.clone(), pair.clone());
            }
        }
        let mut settings: BTreeMap<String, String> = m
            .config
            .iter()
            .filter_map(|c| c.default.clone().map(|d| (c.key.clone(), d)))
            .collect();
        settings.extend(config.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(ComponentCtx {
            name: m.component.name.clone(),
            caller,
            own_store,
            datasources,
            config: settings,
            export_destinations: m.exports.clone(),
            network_hosts: m.network.hosts.clone(),
            output_limit: m.limits.output_kb as usize * 1024,
            env,
        })
    }
}

/// What a component asked for during a call that the caller acts on after it.
#[derive(Debug, Default)]
pub struct Requests {
    /// Datasources it asked to observe (already checked by the arbiter): its name for each, and
    /// the store's events from the moment it asked, so nothing written meanwhile is missed.
    pub observe: Vec<(
        String,
        tokio::sync::broadcast::Receiver<Arc<databox_store::Event>>,
    )>,
}

/// The per-instance state wasmtime hands to imports.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    net: net::NetFilter,
    table: ResourceTable,
    limits: StoreLimits,
    ctx: Arc<ComponentCtx>,
    logs: Vec<String>,
    requests: Requests,
    /// When the call started, and the thread's CPU time then.
    started: Instant,
    cpu_at_start: Duration,
    budget: Limits,
    /// Which limit stopped the call, if one did.
    breach: Option<String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.net,
        }
    }
}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) {
        if self.logs.len() < MAX_LOG_LINES {
            let message: String = message.chars().take(1000).collect();
            let level = match level {
                log::Level::Debug => "Debug",
                log::Level::Info => "Info",
                log::Level::Warn => "Warn",
                log::Level::Error => "Error",
            };
            self.logs.push(format!("{level}: {message}"));
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.ctx.config.get(&key).cloned()
    }
}

impl types::Host for HostState {}

/// CPU time used by the calling thread. Components run on the thread that calls them, so the
/// difference across a call is the CPU the call used, host calls included.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux and
    // the call writes nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What a component of a given kind is linked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Linking {
    App,
    Driver,
    MetricsDriver,
}

/// The engine every component runs on, with the clock that enforces time limits.
pub struct Runtime {
    engine: Engine,
    app: Linker<HostState>,
    driver: Linker<HostState>,
    metrics_driver: Linker<HostState>,
}

fn load_error(e: impl std::fmt::Display) -> RunError {
    RunError::Load(e.to_string())
}

impl Runtime {
    /// A runtime; starts the engine's clock thread.
    pub fn new() -> Result<Runtime, RunError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(load_error)?;
        let ticking = engine.weak();
        std::thread::Builder::new()
            .name("wasm-clock".into())
            .spawn(move || {
                while let Some(engine) = ticking.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(TICK);
                }
            })
            .map_err(load_error)?;
        Ok(Runtime {
            app: Self::linker(&engine, Linking::App)?,
            driver: Self::linker(&engine, Linking::Driver)?,
            metrics_driver: Self::linker(&engine, Linking::MetricsDriver)?,
            engine,
        })
    }

    fn linker(engine: &Engine, linking: Linking) -> Result<Linker<HostState>, RunError> {
        use bindings::databox::component as dbx;
        let mut l = Linker::new(engine);
        // WASI with nothing granted: no preopened folders, no environment, no sockets.
        wasmtime_wasi::p2::add_to_linker_sync(&mut l).map_err(load_error)?;
        dbx::types::add_to_linker::<_, HasSelf<HostState>>(&mut l, |s| s).map_err(load_error)?;
        dbx::datastore::add_to_linker::<_, HasSelf<HostState>>(&mut l, |s| s).map_err(load_error)?;
        dbx::log::add_to_linker::<_, HasSelf<HostState>>(&mut l, |s| s).map_err(load_error)?;
        dbx::config::add_to_linker::<_, HasSelf<HostState>>(&mut l, |s| s).map_err(load_error)?;
        match linking {
            Linking::App => {
                dbx::data_export::add_to_linker::<_, HasSelf<HostState>>(&mut l, |s| s)
                    .map_err(load_error)?;
            }
            Linking::Driver | Linking::MetricsDriver => {
                wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut l).map_err(load_error)?;
                if linking == Linking::MetricsDriver {
                    dbx::host_metrics::add_to_linker::<_, HasSelf<HostState>>(&mut l, |s| s)
                        .map_err(load_error)?;
                }
            }
        }
        Ok(l)
    }

    /// Compiles a component (no linking yet): the slow step, done once per installed version.
    pub fn compile(&self, wasm: &[u8]) -> Result<Component, RunError> {
        Component::new(&self.engine, wasm).map_err(|e| RunError::Load(format!("{e:#}")))
    }

    /// The machine code of a compiled component, to keep beside its `.wasm` so the next start
    /// need not compile it again (compiling takes tens of milliseconds per component; loading
    /// the result takes well under one).
    pub fn serialize(&self, component: &Component) -> Result<Vec<u8>, RunError> {
        component.serialize().map_err(load_error)
    }

    /// Loads machine code that [`Runtime::serialize`] wrote into the box's own data folder.
    /// Wasmtime refuses code made by another wasmtime version or engine configuration; the
    /// caller then compiles the `.wasm` again.
    pub fn deserialize_file(&self, path: &std::path::Path) -> Result<Component, RunError> {
        // Read into memory rather than mapped: a file truncated under a mapping would kill the
        // whole box with SIGBUS.
        let bytes = std::fs::read(path).map_err(load_error)?;
        // SAFETY: wasmtime runs deserialized code as native code, so it must come from a trusted
        // source. This file was written by this box (`serialize`) into its private data folder
        // (0600, beside `master.key`); whoever can rewrite it can already read every key.
        unsafe { Component::deserialize(&self.engine, bytes) }.map_err(load_error)
    }

    /// Compiles a component and links it for its manifest's kind.
    pub fn load(&self, wasm: &[u8], ctx: ComponentCtx, manifest: &Manifest) -> Result<Loaded, RunError> {
        let component = self.compile(wasm)?;
        self.link(&component, ctx, manifest)
    }

    /// Links a compiled component for its manifest's kind: an app cannot reach the network, and
    /// only a driver that asked for `host.metrics` can measure the host.
    pub fn link(&self, component: &Component, ctx: ComponentCtx, m: &Manifest) -> Result<Loaded, RunError> {
        let pre = self.instance_pre(component, m)?;
        Ok(Loaded {
            pre,
            engine: self.engine.clone(),
            ctx: Arc::new(ctx),
            limits: m.limits.clone(),
            runs: Mutex::new(()),
        })
    }

    /// Checks that a component imports only what its kind gets and exports the handlers.
    pub fn check_imports(&self, component: &Component, m: &Manifest) -> Result<(), RunError> {
        self.instance_pre(component, m).map(|_| ())
    }

    fn instance_pre(
        &self,
        component: &Component,
        m: &Manifest,
    ) -> Result<bindings::AllPre<HostState>, RunError> {
        let (linker, what) = match (m.component.kind, m.host.metrics) {
            (Kind::App, _) => (&self.app, "an app"),
            (Kind::Driver, false) => (&self.driver, "a driver"),
            (Kind::Driver, true) => (&self.metrics_driver, "a driver"),
        };
        let pre = linker.instantiate_pre(component).map_err(|e| {
            let why = format!("{e:#}");
            let import = why
                .split('`')
                .nth(1)
                .filter(|_| why.contains("import"))
                .unwrap_or("")
                .to_owned();
            if import.starts_with("wasi:http/") {
                RunError::Load(format!(
                    "it imports {import}, but {what} may not make outbound HTTP requests{}",
                    if m.component.kind == Kind::App {
                        " (apps have no network; data leaves only through the export service)"
                    } else {
                        ""
                    }
                ))
            } else if import.contains("host-metrics") {
                RunError::Load(format!(
                    "it imports {import}, which only a driver whose manifest asks for host.metrics gets"
                ))
            } else if !import.is_empty() {
                RunError::Load(format!("it imports {import}, which {what} is not given ({why})"))
            } else {
                RunError::Load(why)
            }
        })?;
        bindings::AllPre::new(pre).map_err(|e| RunError::Load(format!("{e:#}")))
    }

    /// The engine (for precompiling and measuring).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// A loaded component, instantiated afresh for each handler call: nothing a call leaves in
/// memory survives it, so a component keeps its state in its own store.
pub struct Loaded {
    pre: bindings::AllPre<HostState>,
    engine: Engine,
    ctx: Arc<ComponentCtx>,
    limits: Limits,
    /// Serialises the timer, start and data handlers (HTTP requests run beside them).
    runs: Mutex<()>,
}

/// What a handler call left behind.
#[derive(Debug, Default)]
pub struct Report {
    /// What it logged.
    pub logs: Vec<String>,
    /// What it asked for.
    pub requests: Requests,
}

/// A failed call, with what the component logged before it failed.
#[derive(Debug)]
pub struct CallError {
    /// Why it failed.
    pub error: RunError,
    /// What it logged.
    pub logs: Vec<String>,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for CallError {}

impl From<CallError> for RunError {
    fn from(e: CallError) -> RunError {
        e.error
    }
}

/// The marker a limit breach leaves in the trap, to tell it from a crash.
#[derive(Debug)]
struct Breach;

impl std::fmt::Display for Breach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a limit was reached")
    }
}

impl std::error::Error for Breach {}

impl Loaded {
    /// The component's name.
    pub fn name(&self) -> &str {
        &self.ctx.name
    }

    /// Its context.
    pub fn ctx(&self) -> &ComponentCtx {
        &self.ctx
    }

    fn new_store(&self) -> Store<HostState> {
        let state = HostState {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            net: net::NetFilter::new(&self.ctx, &self.limits),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.limits.memory_mb as usize * 1024 * 1024)
                .instances(4)
                .tables(8)
                .memories(2)
                .trap_on_grow_failure(true)
                .build(),
            ctx: self.ctx.clone(),
            logs: Vec::new(),
            requests: Requests::default(),
            started: Instant::now(),
            cpu_at_start: thread_cpu_time(),
            budget: self.limits.clone(),
            breach: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let s = ctx.data_mut();
            let wall = s.started.elapsed();
            let cpu = thread_cpu_time().saturating_sub(s.cpu_at_start);
            if wall > Duration::from_millis(s.budget.wall_ms.into()) {
                s.breach = Some(format!(
                    "it ran longer than its limit of {} ms of wall time",
                    s.budget.wall_ms
                ));
            } else if cpu > Duration::from_millis(s.budget.cpu_ms.into()) {
                s.breach = Some(format!(
                    "it used more than its limit of {} ms of CPU time",
                    s.budget.cpu_ms
                ));
            }
            if s.breach.is_some() {
                return Err(wasmtime::Error::new(Breach));
            }
            Ok(UpdateDeadline::Continue(1))
        });
        store
    }

    fn explain(&self, store: &Store<HostState>, trap: wasmtime::Error) -> RunError {
        if let Some(breach) = store.data().breach.clone() {
            return RunError::Killed(breach);
        }
        let why = match trap.downcast_ref::<wasmtime::Trap>() {
            Some(t) => format!("{t}"),
            None => format!("{trap:#}"),
        };
        if why.contains("memory") || why.contains("grow") {
            RunError::Killed(format!(
                "it needed more than its limit of {} MiB of memory ({why})",
                self.limits.memory_mb
            ))
        } else {
            RunError::Killed(why)
        }
    }

    fn call<R>(
        &self,
        handler: &str,
        f: impl FnOnce(&bindings::All, &mut Store<HostState>) -> wasmtime::Result<Result<R, String>>,
    ) -> Result<(R, Report), CallError> {
        let mut store = self.new_store();
        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        let logs = std::mem::take(&mut store.data_mut().logs);
        let result = match outcome {
            Ok(Ok(r)) => {
                let requests = std::mem::take(&mut store.data_mut().requests);
                return Ok((r, Report { logs, requests }));
            }
            Ok(Err(message)) => RunError::Failed(message),
            Err(trap) => self.explain(&store, trap),
        };
        self.audit_failure(handler, &result);
        Err(CallError { error: result, logs })
    }

    fn audit_failure(&self, handler: &str, e: &RunError) {
        let mut ev = Event::of(AuditKind::Admin, &self.ctx.name, &format!("run {handler}"));
        ev.detail = Some(e.to_string());
        ev.outcome = Some(Outcome::Failed);
        self.ctx.env.audit.record(ev);
    }

    /// Runs the component's `start` handler.
    pub fn start(&self) -> Result<Report, CallError> {
        let _one = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        self.call("start", |i, s| i.databox_component_handlers().call_start(s))
            .map(|((), r)| r)
    }

    /// Runs the component's `on-timer` handler.
    pub fn timer(&self) -> Result<Report, CallError> {
        let _one = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        self.call("on-timer", |i, s| i.databox_component_handlers().call_on_timer(s))
            .map(|((), r)| r)
    }

    /// Delivers new data of an observed datasource (its name for it) to `on-data`.
    pub fn on_data(&self, datasource: &str, event: &str) -> Result<Report, CallError> {
        let _one = self.runs.lock().unwrap_or_else(|p| p.into_inner());
        self.call("on-data", |i, s| {
            i.databox_component_handlers().call_on_data(s, datasource, event)
        })
        .map(|((), r)| r)
    }

    /// Runs the component's HTTP handler. An answer over the output limit is not passed on.
    pub fn handle(&self, request: &HttpRequest) -> Result<(HttpResponse, Report), CallError> {
        let limit = self.ctx.output_limit;
        let out = self.call("handle", |i, s| {
            i.databox_component_handlers().call_handle(s, request).map(Ok)
        })?;
        let size = out.0.body.len()
            + out
                .0
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        if size > limit {
            let e = RunError::Killed(format!(
                "its answer of {size} bytes is over its limit of {limit} bytes"
            ));
            self.audit_failure("handle", &e);
            return Err(CallError {
                error: e,
                logs: out.1.logs,
            });
        }
        Ok(out)
    }
}
