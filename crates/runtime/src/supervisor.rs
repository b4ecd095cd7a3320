//! The lifecycle of installed apps and drivers: install (and upgrade), start, stop, restart on
//! failure with backoff, uninstall, list with status, and restore after the box restarts.
//!
//! Each running component has one task that calls `start`, then its timer on its schedule and
//! `on-data` for each new point of a datasource it observes, one call at a time. A failed or
//! killed call puts it in `failing`: the task waits (1 s, 2 s, 4 s, ... up to 5 min) and starts
//! it again. HTTP requests to a component run beside that task, each in a fresh instance.
//!
//! What is installed lives in `<data>/components/`: `installed.json` (manifests, the owner's
//! choices, runtime tokens, whether each should run; owner-only) and `<name>.wasm`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use databox_arbiter::{DataRequest, Operation, PrincipalId};
use databox_audit::{Event, Kind as AuditKind, Outcome};
use databox_store::{DatasourceId, StoreId, now_ms};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::host::{
    CallError, ComponentCtx, Env, HttpRequest, HttpResponse, Loaded, Report, RunError, Runtime,
};
use crate::install::{
    Candidates, Choices, InstallError, candidates, check_choices, grant_measuring_the_machine, install,
    new_asks, shrink_grants,
};
use crate::manifest::Manifest;

/// Lines of a component's log kept for the owner.
const LOG_LINES: usize = 500;
/// The longest wait before restarting a failing component.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Largest accepted component, bytes.
pub const MAX_WASM_BYTES: usize = 12 << 20;

/// Why a lifecycle request failed. Nothing half-done remains.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// No component by that name.
    #[error("no component called {0:?} is installed")]
    NotFound(String),
    /// The manifest, the component or the owner's choices are not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// An upgrade asks for more than the owner approved.
    #[error("the new version asks for more than the owner approved: {}; install it again with approval", .0.join("; "))]
    NeedsApproval(Vec<String>),
    /// The component is not running (so its pages cannot be served).
    #[error("{0} is not running")]
    NotRunning(String),
    /// A handler call failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// Installing failed.
    #[error(transparent)]
    Install(#[from] InstallError),
    /// The box could not keep its records.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SupervisorError {
    let context = context.into();
    move |source| SupervisorError::Io { context, source }
}

/// What the owner decided at install.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// For each request of the manifest, `"store/datasource"`, or `null` to decline an optional one.
    #[serde(default)]
    pub mapping: BTreeMap<String, Option<String>>,
    /// Values of the manifest's `[[config]]` settings.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// The owner approves what an upgrade asks for beyond the installed version.
    #[serde(default)]
    pub approve: bool,
    /// Start it at once (default true).
    #[serde(default = "yes")]
    pub start: bool,
    /// Run its timer every this many seconds instead of its manifest's schedule (1-86400).
    #[serde(default)]
    pub every_seconds: Option<u32>,
}

fn yes() -> bool {
    true
}

impl Default for InstallRequest {
    fn default() -> Self {
        InstallRequest {
            mapping: BTreeMap::new(),
            config: BTreeMap::new(),
            approve: false,
            start: true,
            every_seconds: None,
        }
    }
}

/// What the owner sees before installing.
#[derive(Clone, Debug, Serialize)]
pub struct Review {
    /// The component's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `app` or `driver`.
    pub kind: String,
    /// What it does, in its author's words.
    pub description: String,
    /// Whether it has its own page.
    pub ui: bool,
    /// The settings the owner fills in.
    pub config: Vec<crate::manifest::ConfigField>,
    /// What installing it means, in plain language.
    pub review: Vec<String>,
    /// For each request, the datasources that could serve it.
    pub candidates: Vec<CandidateView>,
    /// When a version is installed: what this one asks for beyond it (empty: nothing more).
    pub upgrade_asks: Option<Vec<String>>,
}

/// The datasources that could serve one request.
#[derive(Clone, Debug, Serialize)]
pub struct CandidateView {
    /// The request's name.
    pub request: String,
    /// Whether it is required.
    pub required: bool,
    /// `store/datasource` of each match.
    pub matches: Vec<String>,
}

impl From<Candidates> for CandidateView {
    fn from(c: Candidates) -> Self {
        CandidateView {
            request: c.request,
            required: c.required,
            matches: c.matches.iter().map(|(s, d)| format!("{s}/{d}")).collect(),
        }
    }
}

/// A component's state.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Installed, not running.
    Stopped,
    /// Its `start` handler is running.
    Starting,
    /// Running.
    Running,
    /// Its last call failed or was killed; it is started again after a wait.
    Failing {
        /// Consecutive failures.
        failures: u32,
        /// When it is started again, epoch ms.
        retry_at_ms: i64,
    },
    /// It cannot run (its component does not load, or its token was revoked).
    Broken {
        /// Why.
        reason: String,
    },
}

/// One line of a component's log.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    /// Epoch ms.
    pub at_ms: i64,
    /// The line (`Info: ...`, or what the box did: `box: ...`).
    pub line: String,
}

/// An installed component, as the owner sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ComponentInfo {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// `app` or `driver`.
    pub kind: String,
    /// What it does.
    pub description: String,
    /// Its state.
    pub status: Status,
    /// The last failure, if any (kept after it recovers, with its time, so the owner can tell
    /// an old problem from a current one).
    pub last_error: Option<String>,
    /// When the last failure happened (epoch ms).
    pub last_error_ms: Option<i64>,
    /// When one of its handlers (timer, new data, a page) last ran without failing: after
    /// `last_error_ms`, the last problem is over.
    pub last_ok_ms: Option<i64>,
    /// How many times it was started again after failing.
    pub restarts: u32,
    /// Its page, served through the box, when it has one.
    pub url: Option<String>,
    /// Its own store.
    pub store: String,
    /// The owner's mapping of its requests.
    pub mapping: BTreeMap<String, Option<String>>,
    /// Seconds between timer calls.
    pub every_seconds: Option<u32>,
    /// When it was installed, epoch ms.
    pub installed_ms: i64,
}

/// What is kept of an installed component.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Record {
    manifest: String,
    wasm_sha256: String,
    mapping: BTreeMap<String, Option<String>>,
    config: BTreeMap<String, String>,
    token: String,
    running: bool,
    installed_ms: i64,
    /// The owner's schedule, overriding the manifest's.
    #[serde(default)]
    every_seconds: Option<u32>,
    /// Whether its approval of `host.metrics` has become a grant. Components installed before
    /// measuring was a grant get it once, when the box starts; one the owner revoked since
    /// stays revoked.
    #[serde(default)]
    machine_grant_made: bool,
}

impl Record {
    fn every(&self, m: &Manifest) -> Option<u32> {
        m.schedule
            .as_ref()
            .map(|s| self.every_seconds.unwrap_or(s.every_seconds))
    }
}

struct Slot {
    record: Record,
    manifest: Manifest,
    loaded: Option<Arc<Loaded>>,
    status: Status,
    last_error: Option<(i64, String)>,
    last_ok_ms: Option<i64>,
    restarts: u32,
    logs: VecDeque<LogLine>,
    worker: Option<(watch::Sender<bool>, JoinHandle<()>)>,
}

struct Inner {
    runtime: Runtime,
    env: Env,
    dir: PathBuf,
    slots: Mutex<BTreeMap<String, Slot>>,
    tokio: tokio::runtime::Handle,
    backoff_base: Duration,
    /// What went wrong reading `installed.json` at open, for the owner (see [`Supervisor::problem`]).
    problem: Option<String>,
}

/// The box's installed components and their workers.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

fn parse_pair(v: &str) -> Result<(StoreId, DatasourceId), SupervisorError> {
    let (s, d) = v
        .split_once('/')
        .ok_or_else(|| SupervisorError::Invalid(format!("{v:?} should be store/datasource")))?;
    let s = StoreId::new(s.to_owned()).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
    let d = DatasourceId::new(d.to_owned()).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
    Ok((s, d))
}

fn typed_mapping(
    mapping: &BTreeMap<String, Option<String>>,
) -> Result<BTreeMap<String, Option<(StoreId, DatasourceId)>>, SupervisorError> {
    mapping
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.as_deref().map(parse_pair).transpose()?)))
        .collect()
}

/// Installed components by name, as `installed.json` records them, with their parsed manifests.
type Installed = BTreeMap<String, (Record, Manifest)>;

/// Installed components as `installed.json` records them, each with its parsed manifest, and
/// what was wrong with the file. A file that cannot be read as a whole, or a record whose
/// manifest no longer parses, does not stop the box: the file is copied aside
/// (`installed.json.damaged-<ms>`) before anything could overwrite it, and the box runs with the
/// records it could read.
fn read_records(dir: &Path) -> Result<(Installed, Option<String>), SupervisorError> {
    let path = dir.join("installed.json");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((BTreeMap::new(), None)),
        Err(e) => return Err(io_error("reading installed.json")(e)),
    };
    let mut unreadable = Vec::new();
    let mut records = BTreeMap::new();
    match serde_json::from_slice::<BTreeMap<String, serde_json::Value>>(&bytes) {
        Err(e) => unreadable.push(format!("the file is damaged ({e})")),
        Ok(raw) => {
            for (name, value) in raw {
                let parsed = serde_json::from_value::<Record>(value)
                    .map_err(|e| e.to_string())
                    .and_then(|r| Ok((Manifest::parse(&r.manifest).map_err(|e| e.to_string())?, r)));
                match parsed {
                    Ok((manifest, record)) => {
                        records.insert(name, (record, manifest));
                    }
                    Err(e) => unreadable.push(format!("{name}: {e}")),
                }
            }
        }
    }
    if unreadable.is_empty() {
        return Ok((records, None));
    }
    // One copy per damaged content: the file stays as it is (the owner decides), so every start
    // finds the same damage and must not pile up copies.
    let same_copy = std::fs::read_dir(dir)
        .map_err(io_error(format!("listing {}", dir.display())))?
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("installed.json.damaged-")
        })
        .map(|e| e.path())
        .find(|p| std::fs::read(p).is_ok_and(|copy| copy == bytes));
    let aside = match same_copy {
        Some(aside) => aside,
        None => {
            let aside = dir.join(format!("installed.json.damaged-{}", now_ms()));
            std::fs::copy(&path, &aside).map_err(io_error(format!("copying {} aside", path.display())))?;
            aside
        }
    };
    let problem = format!(
        "components/installed.json could not be read in full: {}. A copy is kept as {}. The box runs \
         without what it could not read; those components' stores and data are kept: remove each \
         one's principal ('databox principals remove NAME') and install it again.",
        unreadable.join("; "),
        aside.display()
    );
    Ok((records, Some(problem)))
}

impl Supervisor {
    /// Opens the components of the box in `data_dir` and starts those that were running. Call
    /// inside a tokio runtime.
    pub fn open(data_dir: &Path, env: Env) -> Result<Supervisor, SupervisorError> {
        Self::open_with(data_dir, env, Duration::from_secs(1))
    }

    /// [`Supervisor::open`] with the first wait before a restart (tests use a short one).
    pub fn open_with(
        data_dir: &Path,
        env: Env,
        backoff_base: Duration,
    ) -> Result<Supervisor, SupervisorError> {
        let dir = data_dir.join("components");
        std::fs::create_dir_all(&dir).map_err(io_error(format!("creating {}", dir.display())))?;
        let runtime = Runtime::new()?;
        // The caller tells the owner about `problem` (see `Supervisor::problem`).
        let (records, problem) = read_records(&dir)?;
        let sup = Supervisor {
            inner: Arc::new(Inner {
                runtime,
                env,
                dir,
                slots: Mutex::new(BTreeMap::new()),
                tokio: tokio::runtime::Handle::current(),
                backoff_base,
                problem,
            }),
        };
        let mut granted_since = false;
        for (name, (mut record, manifest)) in records {
            if manifest.host.metrics && !record.machine_grant_made {
                let principal =
                    PrincipalId::new(name.clone()).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
                match grant_measuring_the_machine(&sup.inner.env.arbiter, &principal) {
                    Ok(_) => {
                        record.machine_grant_made = true;
                        granted_since = true;
                    }
                    Err(e) => tracing::warn!("could not grant {name} its approved host.metrics: {e}"),
                }
            }
            let (manifest, loaded, status) = match sup.load(&record) {
                Ok((m, l)) => (m, Some(l), Status::Stopped),
                Err(e) => (
                    manifest,
                    None,
                    Status::Broken {
                        reason: e.to_string(),
                    },
                ),
            };
            let running = record.running;
            sup.slots().insert(
                name.clone(),
                Slot {
                    record,
                    manifest,
                    loaded,
                    status,
                    last_error: None,
                    last_ok_ms: None,
                    restarts: 0,
                    logs: VecDeque::new(),
                    worker: None,
                },
            );
            if running {
                let _ = sup.spawn_worker(&name);
            }
        }
        if granted_since && let Err(e) = sup.persist(&sup.slots()) {
            tracing::warn!("could not record the host.metrics grants made: {e}");
        }
        sup.prune_compiled();
        Ok(sup)
    }

    /// What went wrong reading the list of installed components when the box started, in words
    /// for the owner, if anything did. The box runs on without what it could not read; the
    /// damaged file is kept beside it, so nothing is lost.
    pub fn problem(&self) -> Option<&str> {
        self.inner.problem.as_deref()
    }

    fn slots(&self) -> MutexGuard<'_, BTreeMap<String, Slot>> {
        self.inner.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wasm_path(&self, name: &str) -> PathBuf {
        self.inner.dir.join(format!("{name}.wasm"))
    }

    fn persist(&self, slots: &BTreeMap<String, Slot>) -> Result<(), SupervisorError> {
        let records: BTreeMap<&String, &Record> = slots.iter().map(|(k, s)| (k, &s.record)).collect();
        let json = serde_json::to_vec_pretty(&records).expect("records serialise");
        databox_store::write_private_file(&self.inner.dir.join("installed.json"), &json)
            .map_err(io_error("saving installed.json"))
    }

    /// Compiles (from its saved `.wasm`) and links an installed component under its runtime token.
    fn load(&self, record: &Record) -> Result<(Manifest, Arc<Loaded>), SupervisorError> {
        self.load_compiled(record, None)
    }

    /// [`Supervisor::load`], with the component already compiled when the caller has it (an
    /// install compiles it first to check its imports, and need not compile it again).
    fn load_compiled(
        &self,
        record: &Record,
        compiled: Option<&wasmtime::component::Component>,
    ) -> Result<(Manifest, Arc<Loaded>), SupervisorError> {
        let manifest =
            Manifest::parse(&record.manifest).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
        let caller = self
            .inner
            .env
            .arbiter
            .authenticate(Some(&record.token))
            .map_err(|d| {
                SupervisorError::Invalid(format!("its runtime token no longer works ({})", d.reason))
            })?;
        let ctx = ComponentCtx::for_manifest(
            &manifest,
            caller,
            &typed_mapping(&record.mapping)?,
            &record.config,
            self.inner.env.clone(),
        )?;
        let loaded = match compiled {
            Some(component) => self.inner.runtime.link(component, ctx, &manifest)?,
            None => {
                let component = self.compiled(record, &manifest.component.name)?;
                self.inner.runtime.link(&component, ctx, &manifest)?
            }
        };
        Ok((manifest, Arc::new(loaded)))
    }

    /// Where the machine code of an installed version is kept, named by its `.wasm`'s SHA-256.
    fn compiled_path(&self, wasm_sha256: &str) -> PathBuf {
        self.inner
            .dir
            .join("compiled")
            .join(format!("{wasm_sha256}.cwasm"))
    }

    /// An installed component, compiled: the machine code kept from its last compile when it
    /// still loads, otherwise compiled again from its `.wasm`, which must still be the very file
    /// the owner installed.
    fn compiled(
        &self,
        record: &Record,
        name: &str,
    ) -> Result<wasmtime::component::Component, SupervisorError> {
        let kept = self.compiled_path(&record.wasm_sha256);
        if kept.exists() {
            match self.inner.runtime.deserialize_file(&kept) {
                Ok(component) => return Ok(component),
                // Another wasmtime version or a damaged file: compile again and replace it.
                Err(e) => {
                    tracing::info!(component = name, "compiling again: {e}");
                    let _ = std::fs::remove_file(&kept);
                }
            }
        }
        let wasm = std::fs::read(self.wasm_path(name)).map_err(io_error(format!("reading {name}.wasm")))?;
        if hex::encode(sha2::Sha256::digest(&wasm)) != record.wasm_sha256 {
            return Err(SupervisorError::Invalid(format!(
                "{name}.wasm is not the file that was installed (its SHA-256 changed); install it again"
            )));
        }
        let component = self.inner.runtime.compile(&wasm)?;
        self.keep_compiled(&component, &record.wasm_sha256);
        Ok(component)
    }

    /// Keeps a compiled component's machine code for the next start. Failing to keep it only
    /// costs a compile then, so it is logged, not returned.
    fn keep_compiled(&self, component: &wasmtime::component::Component, wasm_sha256: &str) {
        let path = self.compiled_path(wasm_sha256);
        let kept = self
            .inner
            .runtime
            .serialize(component)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                std::fs::create_dir_all(self.inner.dir.join("compiled")).map_err(|e| e.to_string())?;
                databox_store::write_private_file(&path, &bytes).map_err(|e| e.to_string())
            });
        if let Err(e) = kept {
            tracing::warn!("could not keep compiled code at {}: {e}", path.display());
        }
    }

    /// Removes kept machine code that no installed version uses any more (after upgrades and
    /// uninstalls, and leftovers of an interrupted write).
    fn prune_compiled(&self) {
        let used: std::collections::HashSet<String> = self
            .slots()
            .values()
            .map(|s| format!("{}.cwasm", s.record.wasm_sha256))
            .collect();
        let Ok(entries) = std::fs::read_dir(self.inner.dir.join("compiled")) else {
            return;
        };
        for entry in entries.flatten() {
            if !used.contains(entry.file_name().to_string_lossy().as_ref()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// What installing `manifest_text` would mean: the plain-language review, the datasources
    /// that could serve each request, and for an upgrade what it asks for beyond the installed
    /// version.
    pub fn review(&self, manifest_text: &str) -> Result<Review, SupervisorError> {
        let m = Manifest::parse(manifest_text).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
        let upgrade_asks = self
            .slots()
            .get(&m.component.name)
            .map(|s| new_asks(&s.manifest, &m));
        Ok(Review {
            name: m.component.name.clone(),
            version: m.component.version.clone(),
            kind: m.component.kind.as_str().into(),
            description: m.component.description.clone(),
            ui: m.component.ui,
            config: m.config.clone(),
            review: m.review(),
            candidates: candidates(&m, &self.inner.env.stores)
                .into_iter()
                .map(CandidateView::from)
                .collect(),
            upgrade_asks,
        })
    }

    /// Installs (or upgrades) a component with the owner's choices. An upgrade that asks for
    /// nothing new keeps the grants; one that asks for more needs `approve` and the choices are
    /// made again. The component's own store and its data are kept across upgrades.
    pub fn install(
        &self,
        manifest_text: &str,
        wasm: &[u8],
        req: &InstallRequest,
    ) -> Result<ComponentInfo, SupervisorError> {
        let m = Manifest::parse(manifest_text).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
        let name = m.component.name.clone();
        if let Some(every) = req.every_seconds {
            if m.schedule.is_none() {
                return Err(SupervisorError::Invalid(format!(
                    "{name} has no timer to schedule"
                )));
            }
            if !(1..=86_400).contains(&every) {
                return Err(SupervisorError::Invalid(format!(
                    "every_seconds {every} is outside 1..=86400"
                )));
            }
        }
        if wasm.len() > MAX_WASM_BYTES {
            return Err(SupervisorError::Invalid(format!(
                "the component is {} bytes; the most is {MAX_WASM_BYTES}",
                wasm.len()
            )));
        }
        for key in req.config.keys() {
            if !m.config.iter().any(|c| &c.key == key) {
                return Err(SupervisorError::Invalid(format!(
                    "the manifest has no setting {key:?}"
                )));
            }
        }
        if let Some(missing) = m
            .config
            .iter()
            .find(|c| c.required && !req.config.contains_key(&c.key))
        {
            return Err(SupervisorError::Invalid(format!(
                "the setting {:?} is required: {}",
                missing.key, missing.description
            )));
        }
        // Before anything is registered: does it load, and does it import only what its kind gets?
        let component = self.inner.runtime.compile(wasm)?;
        self.inner.runtime.check_imports(&component, &m)?;

        let (existing, was_running) = {
            let slots = self.slots();
            let slot = slots.get(&name);
            (
                slot.map(|s| (s.manifest.clone(), s.record.clone())),
                slot.is_some_and(|s| s.worker.is_some()),
            )
        };
        let sha = hex::encode(sha2::Sha256::digest(wasm));
        // The version an upgrade without approval replaces: what it no longer asks for is taken
        // back once the new version is in place.
        let mut shrink_from = None;
        let record = match existing {
            Some((old, old_record)) => {
                let asks = new_asks(&old, &m);
                if asks.is_empty() && !req.approve {
                    let mut mapping = old_record.mapping.clone();
                    mapping.retain(|name, _| m.requests.iter().any(|r| &r.name == name));
                    let record = Record {
                        manifest: manifest_text.to_owned(),
                        wasm_sha256: sha,
                        every_seconds: req.every_seconds.or(old_record.every_seconds),
                        config: if req.config.is_empty() {
                            old_record.config.clone()
                        } else {
                            req.config.clone()
                        },
                        mapping,
                        ..old_record.clone()
                    };
                    shrink_from = Some((old, old_record.mapping));
                    record
                } else if !req.approve {
                    return Err(SupervisorError::NeedsApproval(asks));
                } else {
                    // Everything that can be refused is checked before the old grants go.
                    let choices = Choices {
                        mapping: typed_mapping(&req.mapping)?,
                    };
                    check_choices(&m, &choices, &self.inner.env.stores)?;
                    self.stop_worker(&name);
                    let principal = PrincipalId::new(name.clone())
                        .map_err(|e| SupervisorError::Invalid(e.to_string()))?;
                    let _ = self.inner.env.arbiter.remove_principal(&principal);
                    self.fresh_record(&m, manifest_text, sha, req)?
                }
            }
            None => self.fresh_record(&m, manifest_text, sha, req)?,
        };
        let path = self.wasm_path(&name);
        databox_store::write_private_file(&path, wasm)
            .map_err(io_error(format!("saving {}", path.display())))?;
        let (manifest, loaded) = match self.load_compiled(&record, Some(&component)) {
            Ok(x) => x,
            Err(e) => {
                let principal =
                    PrincipalId::new(name.clone()).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
                let _ = self.inner.env.arbiter.remove_principal(&principal);
                let _ = std::fs::remove_file(&path);
                self.slots().remove(&name);
                return Err(e);
            }
        };
        {
            let mut slots = self.slots();
            let old = slots.remove(&name);
            let mut slot = Slot {
                record,
                manifest,
                loaded: Some(loaded),
                status: Status::Stopped,
                last_error: None,
                last_ok_ms: None,
                restarts: 0,
                logs: old.map(|o| o.logs).unwrap_or_default(),
                worker: None,
            };
            slot.record.running = req.start || was_running;
            push_log(
                &mut slot.logs,
                format!("box: installed version {}", slot.manifest.component.version),
            );
            slots.insert(name.clone(), slot);
            self.persist(&slots)?;
        }
        self.stop_worker(&name);
        if let Some((old, old_mapping)) = shrink_from {
            self.take_back_what_is_no_longer_asked(&name, &old, &m, &old_mapping)?;
        }
        let sha = self.slots().get(&name).map(|s| s.record.wasm_sha256.clone());
        if let Some(sha) = sha {
            self.keep_compiled(&component, &sha);
        }
        self.prune_compiled();
        let mut ev = Event::of(AuditKind::Admin, "owner", "install component");
        ev.detail = Some(format!("{name} {}", m.component.version));
        self.inner.env.audit.record(ev);
        if req.start || was_running {
            self.spawn_worker(&name)?;
        }
        self.info(&name)
    }

    /// After an upgrade without approval: the grants of what the new version no longer asks for
    /// are taken back, and the owner is told in its log and the audit log.
    fn take_back_what_is_no_longer_asked(
        &self,
        name: &str,
        old: &Manifest,
        new: &Manifest,
        old_mapping: &BTreeMap<String, Option<String>>,
    ) -> Result<(), SupervisorError> {
        let principal =
            PrincipalId::new(name.to_owned()).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
        let taken = shrink_grants(
            old,
            new,
            &typed_mapping(old_mapping)?,
            &self.inner.env.arbiter,
            &principal,
        )?;
        if taken.is_empty() {
            return Ok(());
        }
        self.note(name, |s| {
            for t in &taken {
                push_log(
                    &mut s.logs,
                    format!("box: the new version no longer asks for it: {t}"),
                );
            }
        });
        let mut ev = Event::of(AuditKind::GrantRevoked, "owner", "take back a grant");
        ev.detail = Some(format!(
            "{name}: the new version no longer asks for it: {}",
            taken.join("; ")
        ));
        self.inner.env.audit.record(ev);
        Ok(())
    }

    fn fresh_record(
        &self,
        m: &Manifest,
        manifest_text: &str,
        wasm_sha256: String,
        req: &InstallRequest,
    ) -> Result<Record, SupervisorError> {
        let choices = Choices {
            mapping: typed_mapping(&req.mapping)?,
        };
        let installed = install(m, &choices, &self.inner.env.stores, &self.inner.env.arbiter)?;
        Ok(Record {
            manifest: manifest_text.to_owned(),
            wasm_sha256,
            mapping: req.mapping.clone(),
            config: req.config.clone(),
            token: installed.token,
            running: req.start,
            installed_ms: now_ms(),
            every_seconds: req.every_seconds,
            machine_grant_made: m.host.metrics,
        })
    }

    /// Starts a stopped (or failing, or broken after its cause was fixed) component; it will
    /// also run after the box restarts.
    pub fn start(&self, name: &str) -> Result<ComponentInfo, SupervisorError> {
        {
            let mut slots = self.slots();
            let slot = slots
                .get_mut(name)
                .ok_or_else(|| SupervisorError::NotFound(name.into()))?;
            slot.record.running = true;
            self.persist(&slots)?;
        }
        self.spawn_worker(name)?;
        self.audit_owner("start component", name);
        self.info(name)
    }

    /// Stops a component; it stays stopped after the box restarts.
    pub fn stop(&self, name: &str) -> Result<ComponentInfo, SupervisorError> {
        {
            let mut slots = self.slots();
            let slot = slots
                .get_mut(name)
                .ok_or_else(|| SupervisorError::NotFound(name.into()))?;
            slot.record.running = false;
            self.persist(&slots)?;
        }
        self.stop_worker(name);
        if let Some(slot) = self.slots().get_mut(name) {
            if !matches!(slot.status, Status::Broken { .. }) {
                slot.status = Status::Stopped;
            }
            push_log(&mut slot.logs, "box: stopped by the owner".into());
        }
        self.audit_owner("stop component", name);
        self.info(name)
    }

    /// Stops and starts a component.
    pub fn restart(&self, name: &str) -> Result<ComponentInfo, SupervisorError> {
        self.stop_worker(name);
        self.start(name)
    }

    /// Uninstalls a component: stops it, removes its principal, grants and tokens, and with
    /// `erase` its store and all its data.
    pub fn uninstall(&self, name: &str, erase: bool) -> Result<(), SupervisorError> {
        if !self.slots().contains_key(name) {
            return Err(SupervisorError::NotFound(name.into()));
        }
        self.stop_worker(name);
        let principal =
            PrincipalId::new(name.to_owned()).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
        let _ = self.inner.env.arbiter.remove_principal(&principal);
        if erase {
            let store = StoreId::new(name.to_owned()).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
            if let Err(e) = self.inner.env.stores.erase(&store)
                && !e.is_not_found()
            {
                return Err(SupervisorError::Invalid(format!("erasing its store failed: {e}")));
            }
        }
        {
            let mut slots = self.slots();
            slots.remove(name);
            self.persist(&slots)?;
        }
        let _ = std::fs::remove_file(self.wasm_path(name));
        self.prune_compiled();
        let mut ev = Event::of(AuditKind::Admin, "owner", "uninstall component");
        ev.detail = Some(format!(
            "{name}{}",
            if erase {
                ", its store erased"
            } else {
                ", its store kept"
            }
        ));
        self.inner.env.audit.record(ev);
        Ok(())
    }

    /// Every installed component.
    pub fn list(&self) -> Vec<ComponentInfo> {
        let slots = self.slots();
        slots.iter().map(|(n, s)| info_of(n, s)).collect()
    }

    /// One component.
    pub fn info(&self, name: &str) -> Result<ComponentInfo, SupervisorError> {
        let slots = self.slots();
        let slot = slots
            .get(name)
            .ok_or_else(|| SupervisorError::NotFound(name.into()))?;
        Ok(info_of(name, slot))
    }

    /// Its recent log lines, oldest first.
    pub fn logs(&self, name: &str) -> Result<Vec<LogLine>, SupervisorError> {
        let slots = self.slots();
        let slot = slots
            .get(name)
            .ok_or_else(|| SupervisorError::NotFound(name.into()))?;
        Ok(slot.logs.iter().cloned().collect())
    }

    /// Passes an HTTP request to a running component's handler (its pages, or pushes).
    pub async fn handle(&self, name: &str, request: HttpRequest) -> Result<HttpResponse, SupervisorError> {
        let loaded = {
            let slots = self.slots();
            let slot = slots
                .get(name)
                .ok_or_else(|| SupervisorError::NotFound(name.into()))?;
            if slot.worker.is_none() {
                return Err(SupervisorError::NotRunning(name.into()));
            }
            slot.loaded
                .clone()
                .ok_or_else(|| SupervisorError::NotRunning(name.into()))?
        };
        let result = tokio::task::spawn_blocking(move || loaded.handle(&request))
            .await
            .map_err(|e| RunError::Killed(e.to_string()))?;
        let (response, report) = match result {
            Ok(x) => x,
            Err(e) => {
                self.note_logs(name, e.logs.clone());
                self.note(name, |slot| {
                    push_log(
                        &mut slot.logs,
                        format!("box: its page handler failed: {}", e.error),
                    );
                    slot.last_error = Some((now_ms(), e.error.to_string()));
                });
                return Err(e.error.into());
            }
        };
        self.note_logs(name, report.logs);
        self.note(name, |s| s.last_ok_ms = Some(now_ms()));
        Ok(response)
    }

    /// Stops every worker without changing what runs after a restart (the box is shutting down).
    pub fn shutdown(&self) {
        let names: Vec<String> = self.slots().keys().cloned().collect();
        for n in names {
            self.stop_worker(&n);
        }
    }

    /// The engine's runtime (benchmarks).
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    fn audit_owner(&self, what: &str, name: &str) {
        let mut ev = Event::of(AuditKind::Admin, "owner", what);
        ev.detail = Some(name.to_owned());
        self.inner.env.audit.record(ev);
    }

    fn note(&self, name: &str, f: impl FnOnce(&mut Slot)) {
        if let Some(slot) = self.slots().get_mut(name) {
            f(slot);
        }
    }

    fn note_logs(&self, name: &str, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        self.note(name, |slot| {
            for l in lines {
                push_log(&mut slot.logs, l);
            }
        });
    }

    fn stop_worker(&self, name: &str) {
        let worker = self.slots().get_mut(name).and_then(|s| s.worker.take());
        if let Some((stop, handle)) = worker {
            let _ = stop.send(true);
            // The task ends at its next await; a handler call in progress finishes (it is bounded
            // by its time limits) and its result is dropped.
            handle.abort();
        }
    }

    fn spawn_worker(&self, name: &str) -> Result<(), SupervisorError> {
        self.stop_worker(name);
        let mut slots = self.slots();
        let slot = slots
            .get_mut(name)
            .ok_or_else(|| SupervisorError::NotFound(name.into()))?;
        if slot.loaded.is_none() {
            // Broken at open: try again (its cause may be fixed, e.g. a store made available).
            match self.load(&slot.record) {
                Ok((m, l)) => {
                    slot.manifest = m;
                    slot.loaded = Some(l);
                }
                Err(e) => {
                    slot.status = Status::Broken {
                        reason: e.to_string(),
                    };
                    return Err(e);
                }
            }
        }
        let loaded = slot.loaded.clone().expect("loaded above");
        let every = slot
            .record
            .every(&slot.manifest)
            .map(|s| Duration::from_secs(s.into()));
        let (stop_tx, stop_rx) = watch::channel(false);
        slot.status = Status::Starting;
        let sup = self.clone();
        let n = name.to_owned();
        let handle = self
            .inner
            .tokio
            .spawn(async move { sup.work(n, loaded, every, stop_rx).await });
        slot.worker = Some((stop_tx, handle));
        Ok(())
    }

    /// Runs one call of a component on a blocking thread and records what it did.
    async fn run_call(
        &self,
        name: &str,
        call: impl FnOnce() -> Result<Report, CallError> + Send + 'static,
    ) -> Result<Report, RunError> {
        let result = tokio::task::spawn_blocking(call).await.unwrap_or_else(|e| {
            Err(CallError {
                error: RunError::Killed(format!("the call crashed the thread: {e}")),
                logs: vec![],
            })
        });
        match result {
            Ok(mut report) => {
                self.note_logs(name, std::mem::take(&mut report.logs));
                Ok(report)
            }
            Err(e) => {
                self.note_logs(name, e.logs);
                Err(e.error)
            }
        }
    }

    async fn work(
        self,
        name: String,
        loaded: Arc<Loaded>,
        every: Option<Duration>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut failures: u32 = 0;
        let (data_tx, mut data_rx) = mpsc::channel::<(String, String)>(1024);
        // Aborted when this task ends or is aborted (stop, uninstall, shutdown).
        let mut watchers = Watchers::default();
        'restart: loop {
            watchers.abort_all();
            self.note(&name, |s| s.status = Status::Starting);
            let l = loaded.clone();
            let failed = match self.run_call(&name, move || l.start()).await {
                Ok(report) => {
                    self.note(&name, |s| {
                        s.status = Status::Running;
                        push_log(&mut s.logs, "box: started".into());
                    });
                    for (ds, events) in report.requests.observe {
                        watchers
                            .0
                            .push(self.watch(&loaded, ds, events, data_tx.clone(), stop.clone()));
                    }
                    None
                }
                Err(e) => Some(e),
            };
            if let Some(e) = failed {
                failures += 1;
                if self.back_off(&name, failures, &e, &mut stop).await {
                    break 'restart;
                }
                continue 'restart;
            }
            let mut timer = every.map(|d| {
                let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            });
            loop {
                let outcome = tokio::select! {
                    _ = stop.changed() => break 'restart,
                    _ = tick(&mut timer) => {
                        let l = loaded.clone();
                        self.run_call(&name, move || l.timer()).await
                    }
                    Some((ds, ev)) = data_rx.recv() => {
                        let l = loaded.clone();
                        self.run_call(&name, move || l.on_data(&ds, &ev)).await
                    }
                };
                match outcome {
                    Ok(report) => {
                        failures = 0;
                        for (ds, events) in report.requests.observe {
                            watchers
                                .0
                                .push(self.watch(&loaded, ds, events, data_tx.clone(), stop.clone()));
                        }
                        self.note(&name, |s| {
                            s.status = Status::Running;
                            s.last_ok_ms = Some(now_ms());
                        });
                    }
                    Err(e) => {
                        failures += 1;
                        if self.back_off(&name, failures, &e, &mut stop).await {
                            break 'restart;
                        }
                        continue 'restart;
                    }
                }
            }
        }
    }

    /// Records a failure and waits before the restart; true when stopped meanwhile.
    async fn back_off(
        &self,
        name: &str,
        failures: u32,
        e: &RunError,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let wait = self
            .inner
            .backoff_base
            .saturating_mul(1u32 << (failures - 1).min(16))
            .min(MAX_BACKOFF);
        self.note(name, |s| {
            s.status = Status::Failing {
                failures,
                retry_at_ms: now_ms() + wait.as_millis() as i64,
            };
            s.last_error = Some((now_ms(), e.to_string()));
            s.restarts += 1;
            push_log(
                &mut s.logs,
                format!("box: {e}; starting it again in {} s", wait.as_secs_f64()),
            );
        });
        tokio::select! {
            _ = stop.changed() => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }

    /// Forwards new data of an observed datasource (the component's name for it) to the worker,
    /// each event passing the arbiter's one check again, so a revoked grant stops it at once.
    ///
    /// Aborting the task takes effect only at its next await, so it also ends by itself once
    /// the worker is told to `stop`: an uninstall removes the principal right after telling it,
    /// and an event caught in between must not be checked, or refused, in the name of a
    /// component that no longer exists.
    fn watch(
        &self,
        loaded: &Arc<Loaded>,
        name: String,
        mut events: tokio::sync::broadcast::Receiver<Arc<databox_store::Event>>,
        tx: mpsc::Sender<(String, String)>,
        stop: watch::Receiver<bool>,
    ) -> JoinHandle<()> {
        let ctx_loaded = loaded.clone();
        let sup = self.clone();
        self.inner.tokio.spawn(async move {
            let ctx = ctx_loaded.ctx();
            let Some((store_id, ds)) = ctx.datasources.get(&name).cloned() else {
                return;
            };
            let list = [ds.clone()];
            loop {
                let ev = match events.recv().await {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        sup.note(ctx.name.as_str(), |s| {
                            push_log(
                                &mut s.logs,
                                format!("box: {n} events of {name} were missed (too many at once)"),
                            )
                        });
                        continue;
                    }
                    Err(_) => return,
                };
                if *stop.borrow() {
                    return;
                }
                if ev.datasource() != ds.as_str() {
                    continue;
                }
                let req = DataRequest {
                    operation: Operation::Observe,
                    store: &store_id,
                    datasources: &list,
                    read: None,
                };
                match ctx.env.arbiter.authorize(&ctx.caller, &req) {
                    Ok(access) if ev.is_visible_in(access.window) => {
                        let json = serde_json::to_string(&*ev).unwrap_or_default();
                        if tx.send((name.clone(), json)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Refused because it was stopped meanwhile (its principal removed): not a refusal
                    // of the component's doing. The stop is sent before the removal, and the
                    // arbiter's lock orders the two, so this sees it.
                    Err(_) if *stop.borrow() => return,
                    Err(d) => {
                        let mut e = Event::access(&ctx.name, "observe");
                        e.store = Some(store_id.to_string());
                        e.datasource = Some(ds.to_string());
                        e.detail = Some(d.reason);
                        e.outcome = Some(Outcome::Refused);
                        ctx.env.audit.record(e);
                        return;
                    }
                }
            }
        })
    }
}

/// The observation tasks of one worker, aborted with it.
#[derive(Default)]
struct Watchers(Vec<JoinHandle<()>>);

impl Watchers {
    fn abort_all(&mut self) {
        for w in self.0.drain(..) {
            w.abort();
        }
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        self.abort_all();
    }
}

async fn tick(timer: &mut Option<tokio::time::Interval>) {
    match timer {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

fn push_log(logs: &mut VecDeque<LogLine>, line: String) {
    if logs.len() >= LOG_LINES {
        logs.pop_front();
    }
    logs.push_back(LogLine {
        at_ms: now_ms(),
        line,
    });
}

fn info_of(name: &str, s: &Slot) -> ComponentInfo {
    let c = &s.manifest.component;
    ComponentInfo {
        name: name.to_owned(),
        version: c.version.clone(),
        kind: c.kind.as_str().into(),
        description: c.description.clone(),
        status: s.status.clone(),
        last_error: s.last_error.as_ref().map(|(_, e)| e.clone()),
        last_error_ms: s.last_error.as_ref().map(|(ms, _)| *ms),
        last_ok_ms: s.last_ok_ms,
        restarts: s.restarts,
        url: c.ui.then(|| format!("/app/{name}/")),
        store: name.to_owned(),
        mapping: s.record.mapping.clone(),
        every_seconds: s.record.every(&s.manifest),
        installed_ms: s.record.installed_ms,
    }
}
