//! The WebAssembly host: runs a component of the `driver` world under wasmtime with no files, no
//! sockets and no environment (WASI with nothing granted), memory and time limits, and the
//! Databox imports, each of which mediates through the arbiter and the audit log.
//!
//! One module per import: [`datastore`], and the small `log` and `config` ones here.

mod datastore;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use databox_arbiter::{Arbiter, Caller};
use databox_audit::{AuditLog, Event, Kind, Outcome};
use databox_store::{DatasourceId, StoreId, Stores};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::manifest::Limits;

pub(crate) mod bindings {
    wasmtime::component::bindgen!({ world: "driver", path: "../../wit" });
}

use bindings::databox::component::{config, log};

/// How often the engine's clock ticks; time limits are counted in ticks.
const TICK: Duration = Duration::from_millis(5);

/// Why running a component failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The component is not a valid component of the world, or its imports do not link.
    #[error("the component cannot be loaded: {0}")]
    Load(String),
    /// The sandbox stopped it: it ran out of time or memory, or it crashed.
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
    /// Largest output of one host call, bytes.
    pub output_limit: usize,
    /// The box.
    pub env: Env,
}

/// The per-instance state wasmtime hands to imports.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    ctx: Arc<ComponentCtx>,
    /// Lines the component logged during this call.
    pub logs: Vec<String>,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl log::Host for HostState {
    fn write(&mut self, level: log::Level, message: String) {
        // Bounded, so a component cannot fill the box's memory through its log.
        if self.logs.len() < 1000 {
            let message: String = message.chars().take(1000).collect();
            self.logs.push(format!("{level:?}: {message}"));
        }
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.ctx.config.get(&key).cloned()
    }
}

/// The engine every component runs on, with the clock that enforces time limits.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
}

impl Runtime {
    /// A runtime; starts the engine's clock thread.
    pub fn new() -> Result<Runtime, RunError> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| RunError::Load(e.to_string()))?;
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
            .map_err(|e| RunError::Load(e.to_string()))?;
        let mut linker = Linker::new(&engine);
        // WASI with nothing granted: no preopened folders, no environment, no sockets.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| RunError::Load(e.to_string()))?;
        bindings::Driver::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| RunError::Load(e.to_string()))?;
        Ok(Runtime { engine, linker })
    }

    /// Compiles a component and checks it against the `driver` world.
    pub fn load(&self, wasm: &[u8], ctx: ComponentCtx, limits: &Limits) -> Result<Loaded, RunError> {
        let component = Component::new(&self.engine, wasm).map_err(|e| RunError::Load(format!("{e:#}")))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| RunError::Load(format!("{e:#}")))?;
        let pre = bindings::DriverPre::new(pre).map_err(|e| RunError::Load(format!("{e:#}")))?;
        Ok(Loaded {
            pre,
            engine: self.engine.clone(),
            ctx: Arc::new(ctx),
            limits: limits.clone(),
        })
    }
}

/// A loaded component, instantiated afresh for each handler call.
pub struct Loaded {
    pre: bindings::DriverPre<HostState>,
    engine: Engine,
    ctx: Arc<ComponentCtx>,
    limits: Limits,
}

/// What a handler call left behind.
#[derive(Debug, Default)]
pub struct Report {
    /// What it logged.
    pub logs: Vec<String>,
}

impl Loaded {
    fn call(
        &self,
        handler: &str,
        f: impl FnOnce(&bindings::Driver, &mut Store<HostState>) -> wasmtime::Result<Result<(), String>>,
    ) -> Result<Report, RunError> {
        let state = HostState {
            wasi: WasiCtx::builder().build(),
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
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (u64::from(self.limits.cpu_ms) / TICK.as_millis() as u64).max(1);
        store.set_epoch_deadline(ticks);
        let outcome = self
            .pre
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        let report = Report {
            logs: std::mem::take(&mut store.data_mut().logs),
        };
        let result = match outcome {
            Ok(Ok(())) => Ok(report),
            Ok(Err(message)) => Err(RunError::Failed(message)),
            Err(trap) => {
                let why = match trap.downcast_ref::<wasmtime::Trap>() {
                    Some(wasmtime::Trap::Interrupt) => {
                        format!("it ran longer than its limit of {} ms", self.limits.cpu_ms)
                    }
                    Some(t) => format!("{t}"),
                    None => format!("{trap:#}"),
                };
                let why = if why.contains("memory") || why.contains("grow") {
                    format!(
                        "it needed more than its limit of {} MiB of memory ({why})",
                        self.limits.memory_mb
                    )
                } else {
                    why
                };
                Err(RunError::Killed(why))
            }
        };
        if let Err(e) = &result {
            let mut ev = Event::of(Kind::Admin, &self.ctx.name, &format!("run {handler}"));
            ev.detail = Some(e.to_string());
            ev.outcome = Some(Outcome::Failed);
            self.ctx.env.audit.record(ev);
        }
        result
    }

    /// Runs the component's `start` handler.
    pub fn start(&self) -> Result<Report, RunError> {
        self.call("start", |i, s| i.databox_component_handlers().call_start(s))
    }

    /// Runs the component's `on-timer` handler.
    pub fn timer(&self) -> Result<Report, RunError> {
        self.call("on-timer", |i, s| i.databox_component_handlers().call_on_timer(s))
    }
}
