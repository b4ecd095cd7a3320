//! Running imports: the parser of the file's format feeds a [`StoreSink`] that creates the
//! datasources it needs and writes in large batches; [`Imports`] runs each import on its own
//! thread, shows its progress, stops it, and resumes it after an interruption (a stop, a crash, a
//! restart of the box) without writing anything twice.
//!
//! Resuming relies on the parsers being deterministic: the same file gives the same items in the
//! same order. The job's checkpoint is the number of items whose writes the store acknowledged;
//! a resumed run skips that many. A crash between a write and the checkpoint's save can leave one
//! batch written but not counted: the first batch after a resume is therefore checked against the
//! store, point by point, before it is written.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use databox_store::query::{Form, ReadQuery};
use databox_store::{
    BlobPoint, DatasourceId, DatasourceKind, DatasourceMeta, NumericPoint, Store, StoreError, StoreId, Stores,
};
use serde::{Deserialize, Serialize};

use crate::{ImportError, Item, ItemSink, Progress, SeriesMeta};

/// Items written per batch: large enough that a group commit costs little per item, small enough
/// that memory stays flat.
const BATCH: usize = 20_000;
/// A batch is also written once its documents reach this much JSON: a workout with a long route
/// is a big document, and a batch holding several would otherwise swell the importer's memory.
const BATCH_DOCUMENT_BYTES: usize = 2 << 20;
/// How many recent items per datasource the exact-duplicate check remembers. Exports repeat a
/// record next to itself (the same sample saved twice by its source), so a window finds them
/// without remembering every item of a multi-GB file.
const DEDUP_WINDOW: usize = 8_192;
/// The skip reason of an exact duplicate.
const DUPLICATE: &str = "duplicate record";
/// The skip reason of an item whose datasource name is not a valid id.
const BAD_NAME: &str = "an item for a datasource name the box does not accept";
/// The skip reasons of an item of the other kind than its datasource.
const NOT_NUMERIC: &str = "a number for a datasource of documents";
const NOT_DOCUMENT: &str = "a document for a datasource of numbers";
/// The skip reasons the sink counts, only past the checkpoint (the parsers count theirs from the
/// file's start on every run).
const SINK_SKIPS: [&str; 4] = [DUPLICATE, BAD_NAME, NOT_NUMERIC, NOT_DOCUMENT];

/// The skip counts of a job after a run: a resumed run parses the file from its start again, so
/// its parser-side counts replace the earlier ones; the sink's own skips are counted only past
/// the checkpoint, so they add up.
fn merge_skips(before: &BTreeMap<String, u64>, run: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out = run;
    for reason in SINK_SKIPS {
        if let Some(n) = before.get(reason) {
            *out.entry(reason.to_owned()).or_default() += n;
        }
    }
    out
}

/// The formats the box imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Apple Health `export.zip` or `export.xml`.
    AppleHealth,
    /// Google location history: Takeout `Records.json`, Semantic Location History files or
    /// folders, or the on-device Timeline export.
    Google,
}

impl Format {
    /// The store an import of this format goes to unless the owner names another.
    pub fn default_store(self) -> &'static str {
        match self {
            Format::AppleHealth => "apple-health",
            Format::Google => "google-location",
        }
    }

    fn store_description(self) -> &'static str {
        match self {
            Format::AppleHealth => "Imported from Apple Health exports",
            Format::Google => "Imported from Google location history",
        }
    }

    /// Parses `kebab-case` names.
    pub fn parse(s: &str) -> Result<Format, ImportError> {
        match s {
            "apple-health" => Ok(Format::AppleHealth),
            "google" | "google-location" => Ok(Format::Google),
            other => Err(ImportError::Format(format!(
                "unknown import format {other:?}: use apple-health or google"
            ))),
        }
    }

    fn run(
        self,
        path: &Path,
        sink: &mut dyn ItemSink,
        progress: &Progress,
        stop: &AtomicBool,
    ) -> Result<(), ImportError> {
        match self {
            Format::AppleHealth => crate::apple_health::import(path, sink, progress, stop).map(|_| ()),
            Format::Google => crate::google::import(path, sink, progress, stop).map(|_| ()),
        }
    }
}

/// Writes items into one store: datasources are created on first use from the items' metadata,
/// points are buffered per datasource and written in batches whose acknowledgement is awaited.
pub struct StoreSink<'a> {
    store: Arc<Store>,
    progress: &'a Progress,
    /// Items to pass over (already written by an earlier run).
    skip_first: u64,
    /// Items seen so far (written, skipped as written before, or duplicates).
    seen: u64,
    /// Items whose writes were acknowledged, or which needed none.
    committed: u64,
    /// After a resume, the items still to check against the store before writing them: the
    /// batch a crash may have left written but uncounted.
    unverified: Option<BatchFill>,
    pending: BTreeMap<String, Pending>,
    /// How full the batch in `pending` is.
    pending_fill: BatchFill,
    known: HashSet<String>,
    recent: HashMap<String, Recent>,
    /// Items written, per datasource.
    pub written: BTreeMap<String, u64>,
    on_commit: Option<&'a mut dyn FnMut(u64)>,
}

enum Pending {
    Numeric(Vec<NumericPoint>),
    Blob(Vec<BlobPoint>),
}

#[derive(Default)]
struct Recent {
    order: VecDeque<u64>,
    set: HashSet<u64>,
}

impl Recent {
    /// Whether `h` was seen among the last [`DEDUP_WINDOW`] items; remembers it.
    fn seen_before(&mut self, h: u64) -> bool {
        if !self.set.insert(h) {
            return true;
        }
        self.order.push_back(h);
        if self.order.len() > DEDUP_WINDOW
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        false
    }
}

/// How much a batch holds: the one rule for where a batch ends, used to write it and, after a
/// resume, to find where a crashed run's last batch ended.
#[derive(Default)]
struct BatchFill {
    items: usize,
    document_bytes: usize,
}

impl BatchFill {
    fn add(&mut self, document_bytes: usize) {
        self.items += 1;
        self.document_bytes += document_bytes;
    }

    fn is_full(&self) -> bool {
        self.items >= BATCH || self.document_bytes >= BATCH_DOCUMENT_BYTES
    }
}

/// The item's content hash, and for a document the size of its JSON.
fn item_hash(item: &Item) -> (u64, usize) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let size = match item {
        Item::Numeric {
            timestamp,
            value,
            tags,
            ..
        } => {
            timestamp.hash(&mut h);
            value.to_bits().hash(&mut h);
            tags.hash(&mut h);
            0
        }
        Item::Document { timestamp, data, .. } => {
            timestamp.hash(&mut h);
            let json = data.to_string();
            json.hash(&mut h);
            json.len()
        }
    };
    (h.finish(), size)
}

fn meta_of(kind: DatasourceKind, m: &SeriesMeta, vendor: &str) -> DatasourceMeta {
    DatasourceMeta {
        kind,
        description: m.description.clone(),
        data_type: m.r#type.clone(),
        unit: m.unit.clone(),
        location: None,
        vendor: Some(vendor.to_owned()),
        actuator: false,
    }
}

impl<'a> StoreSink<'a> {
    /// A sink writing into `store`, passing over the first `skip_first` items (written by an
    /// earlier run) and checking the next batch against the store before writing it.
    pub fn new(store: Arc<Store>, progress: &'a Progress, skip_first: u64) -> Self {
        let known = store
            .datasources()
            .into_iter()
            .map(|d| d.id.as_str().to_owned())
            .collect();
        StoreSink {
            store,
            progress,
            skip_first,
            seen: 0,
            committed: skip_first,
            unverified: (skip_first > 0).then(BatchFill::default),
            pending: BTreeMap::new(),
            pending_fill: BatchFill::default(),
            known,
            recent: HashMap::new(),
            written: BTreeMap::new(),
            on_commit: None,
        }
    }

    /// Calls `f` with the number of items committed after every acknowledged batch (to save a
    /// checkpoint).
    pub fn on_commit(mut self, f: &'a mut dyn FnMut(u64)) -> Self {
        self.on_commit = Some(f);
        self
    }

    /// Items committed so far (the checkpoint).
    pub fn committed(&self) -> u64 {
        self.committed
    }

    fn ensure_datasource(
        &mut self,
        id: &DatasourceId,
        kind: DatasourceKind,
        meta: &SeriesMeta,
    ) -> Result<(), ImportError> {
        if self.known.contains(id.as_str()) {
            return Ok(());
        }
        self.store
            .upsert_datasource(id.clone(), meta_of(kind, meta, "import"))?
            .wait()?;
        self.known.insert(id.as_str().to_owned());
        Ok(())
    }

    /// Whether the store already holds this item (used only for the batch after a resume).
    fn already_stored(&self, id: &DatasourceId, item: &Item) -> Result<bool, ImportError> {
        let t = item.timestamp();
        let q = ReadQuery {
            hourly: false,
            form: Form::Range(t, t),
            filters: Vec::new(),
            aggregate: None,
            window: None,
        };
        let out = match self.store.read(std::slice::from_ref(id), &q) {
            Ok(o) => o,
            Err(StoreError::UnknownDatasource { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let rows = out.to_json();
        let want = match item {
            Item::Numeric { value, tags, .. } => {
                let mut d = serde_json::Map::new();
                d.insert("value".into(), serde_json::json!(value));
                for (k, v) in tags {
                    d.insert(k.clone(), serde_json::json!(v));
                }
                serde_json::Value::Object(d)
            }
            Item::Document { data, .. } => data.clone(),
        };
        Ok(rows
            .as_array()
            .is_some_and(|rows| rows.iter().any(|r| r.get("data") == Some(&want))))
    }

    /// Writes everything buffered and waits for the store to acknowledge it.
    pub fn flush(&mut self) -> Result<(), ImportError> {
        let mut tickets = Vec::new();
        for (name, batch) in std::mem::take(&mut self.pending) {
            let id = DatasourceId::new(name.clone())?;
            let (n, ticket) = match batch {
                Pending::Numeric(points) => (points.len(), self.store.write_numeric(&id, points)?),
                Pending::Blob(points) => (points.len(), self.store.write_blob(&id, points)?),
            };
            *self.written.entry(name).or_default() += n as u64;
            tickets.push(ticket);
        }
        for t in tickets {
            t.wait()?;
        }
        self.pending_fill = BatchFill::default();
        self.committed = self.seen;
        if let Some(f) = self.on_commit.as_mut() {
            f(self.committed);
        }
        Ok(())
    }
}

impl ItemSink for StoreSink<'_> {
    fn item(&mut self, item: Item) -> Result<(), ImportError> {
        self.seen += 1;
        let (hash, document_bytes) = item_hash(&item);
        let duplicate = self
            .recent
            .entry(item.datasource().to_owned())
            .or_default()
            .seen_before(hash);
        // Items an earlier run wrote are passed over, but remembered: a duplicate of one of them
        // just after the checkpoint is still a duplicate.
        if self.seen <= self.skip_first {
            return Ok(());
        }
        if duplicate {
            self.progress.skip(DUPLICATE);
            return Ok(());
        }
        let id = match DatasourceId::new(item.datasource().to_owned()) {
            Ok(id) => id,
            Err(_) => {
                self.progress.skip(BAD_NAME);
                return Ok(());
            }
        };
        // The uncounted batch of a crashed run began at the checkpoint and held the items that
        // reached this point until it was full; duplicates and skips passed over on the way do
        // not fill it, so its end is found by filling an empty batch the same way. This run's
        // first batch ends at the same item, so a crash of this run before its first checkpoint
        // leaves nothing uncounted past what the next resume checks.
        let mut last_unverified = false;
        if let Some(fill) = &mut self.unverified {
            fill.add(document_bytes);
            last_unverified = fill.is_full();
            if last_unverified {
                self.unverified = None;
            }
            if self.already_stored(&id, &item)? {
                if last_unverified {
                    self.flush()?;
                }
                return Ok(());
            }
        }
        match item {
            Item::Numeric {
                meta,
                timestamp,
                value,
                tags,
                ..
            } => {
                self.ensure_datasource(&id, DatasourceKind::Numeric, &meta)?;
                let entry = self
                    .pending
                    .entry(id.as_str().to_owned())
                    .or_insert_with(|| Pending::Numeric(Vec::new()));
                let Pending::Numeric(v) = entry else {
                    self.progress.skip(NOT_NUMERIC);
                    return Ok(());
                };
                v.push(NumericPoint {
                    timestamp: Some(timestamp),
                    value,
                    tags,
                });
            }
            Item::Document {
                meta,
                timestamp,
                data,
                ..
            } => {
                self.ensure_datasource(&id, DatasourceKind::Blob, &meta)?;
                let entry = self
                    .pending
                    .entry(id.as_str().to_owned())
                    .or_insert_with(|| Pending::Blob(Vec::new()));
                let Pending::Blob(v) = entry else {
                    self.progress.skip(NOT_DOCUMENT);
                    return Ok(());
                };
                v.push(BlobPoint {
                    timestamp: Some(timestamp),
                    data,
                });
            }
        }
        self.pending_fill.add(document_bytes);
        if self.pending_fill.is_full() || last_unverified {
            self.flush()?;
        }
        Ok(())
    }
}

/// Where an import is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Reading and writing.
    Running,
    /// Finished: everything in the file was imported or skipped with a reason.
    Done,
    /// Stopped by the owner, or interrupted by the box stopping: it can be resumed.
    Stopped,
    /// Failed; the error says why. It can be resumed once the cause is fixed.
    Failed,
}

/// One import, as the owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// The file's format.
    pub format: Format,
    /// The file (or folder) on the box's machine.
    pub path: PathBuf,
    /// The store it imports into.
    pub store: String,
    /// Where it is.
    pub state: JobState,
    /// Items committed to the store (the checkpoint a resume starts from).
    pub committed: u64,
    /// Items found so far in this run (including those passed over on a resume).
    pub items: u64,
    /// Bytes of the file read so far.
    pub bytes_read: u64,
    /// The file's size.
    pub bytes_total: u64,
    /// Items skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Items written, by datasource (over every run).
    pub written: BTreeMap<String, u64>,
    /// When it started (epoch ms).
    pub started_ms: i64,
    /// When it ended (epoch ms).
    pub finished_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

struct Running {
    progress: Arc<Progress>,
    stop: Arc<AtomicBool>,
    /// The skip counts of earlier runs.
    before: BTreeMap<String, u64>,
}

struct Inner {
    stores: Arc<Stores>,
    file: PathBuf,
    jobs: Mutex<BTreeMap<String, Job>>,
    running: Mutex<HashMap<String, Running>>,
    on_event: Box<dyn Fn(&Job) + Send + Sync>,
}

/// The box's imports: started, watched, stopped and resumed by the owner.
#[derive(Clone)]
pub struct Imports {
    inner: Arc<Inner>,
}

impl Imports {
    /// Opens the record of imports in `data_dir/imports/jobs.json`. Imports that were running
    /// when the box stopped are marked stopped, to be resumed. `on_event` hears every start and
    /// end (for the audit log).
    pub fn open(
        stores: Arc<Stores>,
        data_dir: &Path,
        on_event: impl Fn(&Job) + Send + Sync + 'static,
    ) -> Result<Imports, ImportError> {
        let dir = data_dir.join("imports");
        let io = ImportError::io(&dir);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let file = dir.join("jobs.json");
        let mut jobs: BTreeMap<String, Job> = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ImportError::Format(format!("{} is damaged: {e}", file.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(e)),
        };
        for job in jobs.values_mut() {
            if job.state == JobState::Running {
                job.state = JobState::Stopped;
                job.error = Some("the box stopped during the import; resume it to go on".into());
            }
        }
        let imports = Imports {
            inner: Arc::new(Inner {
                stores,
                file,
                jobs: Mutex::new(jobs),
                running: Mutex::new(HashMap::new()),
                on_event: Box::new(on_event),
            }),
        };
        imports.save();
        Ok(imports)
    }

    fn save(&self) {
        let jobs = self.inner.jobs.lock().expect("imports lock").clone();
        let bytes = serde_json::to_vec_pretty(&jobs).expect("jobs serialize");
        if let Err(e) = databox_store::write_private_file(&self.inner.file, &bytes) {
            tracing::warn!("could not save the import checkpoints: {e}");
        }
    }

    /// Every import, newest first, with live progress for those running.
    pub fn list(&self) -> Vec<Job> {
        let ids: Vec<String> = self
            .inner
            .jobs
            .lock()
            .expect("imports lock")
            .keys()
            .cloned()
            .collect();
        let mut v: Vec<Job> = ids.iter().filter_map(|id| self.get(id)).collect();
        v.sort_by(|a, b| b.started_ms.cmp(&a.started_ms).then(b.id.cmp(&a.id)));
        v
    }

    /// One import, with live progress while it runs.
    pub fn get(&self, id: &str) -> Option<Job> {
        let mut job = self.inner.jobs.lock().expect("imports lock").get(id)?.clone();
        if let Some(r) = self.inner.running.lock().expect("imports lock").get(id) {
            job.items = r.progress.items.load(Ordering::Relaxed);
            job.bytes_read = r.progress.bytes_read.load(Ordering::Relaxed);
            job.bytes_total = r.progress.bytes_total.load(Ordering::Relaxed);
            job.skipped = merge_skips(&r.before, r.progress.skipped());
        }
        Some(job)
    }

    /// Starts importing `path` (a file or folder on the box's machine) into `store` (the format's
    /// own store by default, created if missing).
    pub fn start(&self, format: Format, path: &Path, store: Option<&str>) -> Result<Job, ImportError> {
        let meta = std::fs::metadata(path).map_err(ImportError::io(path))?;
        let importable = meta.is_file() || (meta.is_dir() && format == Format::Google);
        if !importable {
            return Err(ImportError::Format(format!(
                "{} is not a file{}",
                path.display(),
                if format == Format::Google {
                    " or folder"
                } else {
                    ""
                }
            )));
        }
        let store = StoreId::new(store.unwrap_or(format.default_store()).to_owned())?;
        let path = std::fs::canonicalize(path).map_err(ImportError::io(path))?;
        let now = databox_store::now_ms();
        let id = format!(
            "import-{now}-{:04x}",
            (now as u64).wrapping_mul(2654435761) & 0xffff
        );
        let job = Job {
            id: id.clone(),
            format,
            path,
            store: store.as_str().to_owned(),
            state: JobState::Running,
            committed: 0,
            items: 0,
            bytes_read: 0,
            bytes_total: meta.len(),
            skipped: BTreeMap::new(),
            written: BTreeMap::new(),
            started_ms: now,
            finished_ms: None,
            error: None,
        };
        self.inner
            .jobs
            .lock()
            .expect("imports lock")
            .insert(id.clone(), job);
        self.save();
        self.launch(&id)?;
        Ok(self.get(&id).expect("just added"))
    }

    /// Resumes a stopped or failed import where its checkpoint says.
    pub fn resume(&self, id: &str) -> Result<Job, ImportError> {
        {
            let mut jobs = self.inner.jobs.lock().expect("imports lock");
            let job = jobs
                .get_mut(id)
                .ok_or_else(|| ImportError::Format(format!("no import {id}")))?;
            match job.state {
                JobState::Running => return Err(ImportError::Format(format!("{id} is running"))),
                JobState::Done => return Err(ImportError::Format(format!("{id} is finished"))),
                JobState::Stopped | JobState::Failed => {}
            }
            // The checkpoint counts items of this very file: a file that changed since would
            // resume at the wrong place.
            if let Ok(meta) = std::fs::metadata(&job.path)
                && meta.is_file()
                && job.committed > 0
                && meta.len() != job.bytes_total
            {
                return Err(ImportError::Format(format!(
                    "{} changed since {id} began ({} bytes then, {} now): start a new import of it",
                    job.path.display(),
                    job.bytes_total,
                    meta.len()
                )));
            }
            job.state = JobState::Running;
            job.error = None;
            job.finished_ms = None;
        }
        self.save();
        self.launch(id)?;
        Ok(self.get(id).expect("exists"))
    }

    /// Asks a running import to stop at its next checkpoint.
    pub fn stop(&self, id: &str) -> Result<(), ImportError> {
        match self.inner.running.lock().expect("imports lock").get(id) {
            Some(r) => {
                r.stop.store(true, Ordering::Relaxed);
                Ok(())
            }
            None => Err(ImportError::Format(format!("{id} is not running"))),
        }
    }

    /// Stops every running import and waits until each has saved its checkpoint.
    pub fn shutdown(&self) {
        for r in self.inner.running.lock().expect("imports lock").values() {
            r.stop.store(true, Ordering::Relaxed);
        }
        while !self.inner.running.lock().expect("imports lock").is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn launch(&self, id: &str) -> Result<(), ImportError> {
        let job = self.get(id).expect("exists");
        let store = match self.inner.stores.get(&StoreId::new(job.store.clone())?) {
            Ok(s) => s,
            Err(StoreError::UnknownStore(_)) => self
                .inner
                .stores
                .create(&StoreId::new(job.store.clone())?, job.format.store_description())?,
            Err(e) => return Err(e.into()),
        };
        let progress = Arc::new(Progress::default());
        progress.bytes_total.store(job.bytes_total, Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        self.inner.running.lock().expect("imports lock").insert(
            id.to_owned(),
            Running {
                progress: progress.clone(),
                stop: stop.clone(),
                before: job.skipped.clone(),
            },
        );
        (self.inner.on_event)(&job);
        let this = self.clone();
        let id = id.to_owned();
        std::thread::Builder::new()
            .name(format!("import {id}"))
            .spawn(move || this.run(&id, job, store, &progress, &stop))
            .map_err(|e| ImportError::Io {
                path: "a thread for the import".into(),
                source: e,
            })?;
        Ok(())
    }

    fn run(&self, id: &str, job: Job, store: Arc<Store>, progress: &Progress, stop: &AtomicBool) {
        // What earlier runs counted; this run's counts are merged in at every checkpoint, so a
        // crash keeps the counts that match the checkpoint.
        let before = job.skipped.clone();
        let mut save_checkpoint = |committed: u64| {
            if let Some(j) = self.inner.jobs.lock().expect("imports lock").get_mut(id) {
                j.committed = committed;
                j.skipped = merge_skips(&before, progress.skipped());
            }
            self.save();
        };
        let mut sink = StoreSink::new(store, progress, job.committed).on_commit(&mut save_checkpoint);
        let result = job
            .format
            .run(&job.path, &mut sink, progress, stop)
            .and_then(|()| sink.flush());
        // What was acknowledged before a failure or a stop is kept, and counted.
        let flushed = if result.is_err() { sink.flush() } else { Ok(()) };
        let committed = sink.committed();
        let written = std::mem::take(&mut sink.written);
        drop(sink);
        let finished = {
            let mut jobs = self.inner.jobs.lock().expect("imports lock");
            let j = jobs.get_mut(id).expect("the job exists");
            j.committed = committed;
            j.items = progress.items.load(Ordering::Relaxed);
            j.bytes_read = progress.bytes_read.load(Ordering::Relaxed);
            j.bytes_total = progress.bytes_total.load(Ordering::Relaxed);
            j.skipped = merge_skips(&job.skipped, progress.skipped());
            for (ds, n) in written {
                *j.written.entry(ds).or_default() += n;
            }
            j.finished_ms = Some(databox_store::now_ms());
            match (&result, &flushed) {
                (Ok(()), Ok(())) => {
                    j.state = JobState::Done;
                    j.error = None;
                }
                (Err(ImportError::Stopped), _) => {
                    j.state = JobState::Stopped;
                    j.error = None;
                }
                (Err(e), _) | (Ok(()), Err(e)) => {
                    j.state = JobState::Failed;
                    j.error = Some(e.to_string());
                }
            }
            j.clone()
        };
        self.save();
        self.inner.running.lock().expect("imports lock").remove(id);
        (self.inner.on_event)(&finished);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use databox_store::MasterKeySource;

    fn steps(i: i64) -> Item {
        Item::Numeric {
            datasource: "step-count".into(),
            meta: SeriesMeta {
                r#type: "step-count".into(),
                unit: Some("count".into()),
                description: "Steps".into(),
            },
            timestamp: 1_700_000_000_000 + i * 60_000,
            value: (i % 97) as f64,
            tags: BTreeMap::from([("source".into(), "phone".into())]),
        }
    }

    fn visit(i: i64) -> Item {
        Item::Document {
            datasource: "place-visits".into(),
            meta: SeriesMeta {
                r#type: "place-visit".into(),
                unit: None,
                description: "Visits".into(),
            },
            timestamp: 1_700_000_000_000 + i * 3_600_000,
            data: serde_json::json!({"name": format!("place {i}")}),
        }
    }

    fn items(n: i64) -> Vec<Item> {
        (0..n).flat_map(|i| [steps(i), visit(i)]).collect()
    }

    fn open() -> (tempfile::TempDir, Arc<Stores>, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let stores = Arc::new(Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap());
        let store = stores.create(&StoreId::new("imp").unwrap(), "test").unwrap();
        (dir, stores, store)
    }

    fn count(store: &Store, ds: &str) -> u64 {
        let q = ReadQuery {
            hourly: false,
            form: Form::Length,
            filters: Vec::new(),
            aggregate: None,
            window: None,
        };
        match store
            .read(&[DatasourceId::new(ds.to_owned()).unwrap()], &q)
            .unwrap()
        {
            databox_store::ReadOutput::Count(n) => n,
            other => panic!("{other:?}"),
        }
    }

    fn feed(sink: &mut StoreSink<'_>, items: &[Item]) {
        for it in items {
            sink.item(it.clone()).unwrap();
        }
        sink.flush().unwrap();
    }

    #[test]
    fn items_land_in_datasources_made_from_their_metadata_and_duplicates_are_skipped() {
        let (_d, _s, store) = open();
        let progress = Progress::default();
        let mut all = items(30_000);
        // Exports repeat a record next to itself, or a few records later.
        all.insert(100, all[99].clone());
        all.insert(200, all[5].clone());
        let mut sink = StoreSink::new(store.clone(), &progress, 0);
        feed(&mut sink, &all);
        assert_eq!(sink.committed(), all.len() as u64);
        assert_eq!(count(&store, "step-count"), 30_000);
        assert_eq!(count(&store, "place-visits"), 30_000);
        assert_eq!(progress.skipped().get(DUPLICATE), Some(&2));
        let ds = store
            .datasource(&DatasourceId::new("step-count".to_owned()).unwrap())
            .unwrap();
        assert_eq!(ds.meta.unit.as_deref(), Some("count"));
        assert_eq!(ds.meta.data_type, "step-count");
    }

    #[test]
    fn a_resume_from_the_checkpoint_writes_nothing_twice() {
        let (_d, _s, store) = open();
        let all = items(25_000);
        let progress = Progress::default();
        // The first run stops after 30,000 items (one batch and a half): the checkpoint holds
        // what was acknowledged.
        let mut checkpoints = Vec::new();
        let mut record = |c: u64| checkpoints.push(c);
        let mut sink = StoreSink::new(store.clone(), &progress, 0).on_commit(&mut record);
        for it in &all[..30_000] {
            sink.item(it.clone()).unwrap();
        }
        drop(sink);
        let checkpoint = *checkpoints.last().unwrap();
        assert_eq!(checkpoint, BATCH as u64);
        let mut resumed = StoreSink::new(store.clone(), &progress, checkpoint);
        feed(&mut resumed, &all);
        assert_eq!(count(&store, "step-count"), 25_000);
        assert_eq!(count(&store, "place-visits"), 25_000);
    }

    #[test]
    fn a_batch_written_but_not_counted_before_a_crash_is_not_written_again() {
        let (_d, _s, store) = open();
        let all = items(30_000);
        let progress = Progress::default();
        // Two batches were acknowledged, but the box died before the second checkpoint was
        // saved: the checkpoint is one batch behind what the store holds.
        let mut first = StoreSink::new(store.clone(), &progress, 0);
        for it in &all[..2 * BATCH] {
            first.item(it.clone()).unwrap();
        }
        drop(first);
        assert_eq!(
            count(&store, "step-count") + count(&store, "place-visits"),
            2 * BATCH as u64
        );
        let mut resumed = StoreSink::new(store.clone(), &progress, BATCH as u64);
        feed(&mut resumed, &all);
        assert_eq!(count(&store, "step-count"), 30_000);
        assert_eq!(count(&store, "place-visits"), 30_000);
    }

    #[test]
    fn an_uncounted_batch_holding_duplicates_and_skips_is_still_not_written_again() {
        let (_d, _s, store) = open();
        let mut all = items(30_000);
        // The second batch also passes over duplicates and an unacceptable name, so it spans
        // more items of the file than it writes.
        for at in [BATCH + 10, BATCH + 500, BATCH + 9_000] {
            all.insert(at, all[at - 1].clone());
        }
        let mut bad = steps(7);
        if let Item::Numeric { datasource, .. } = &mut bad {
            *datasource = "Not Valid!".into();
        }
        all.insert(BATCH + 20, bad);
        let progress = Progress::default();
        let mut checkpoints = Vec::new();
        let mut record = |c: u64| checkpoints.push(c);
        let mut first = StoreSink::new(store.clone(), &progress, 0).on_commit(&mut record);
        for it in &all[..2 * BATCH + 4] {
            first.item(it.clone()).unwrap();
        }
        drop(first);
        assert_eq!(checkpoints, [BATCH as u64, 2 * BATCH as u64 + 4]);
        // The box died before the second checkpoint was saved.
        let mut resumed = StoreSink::new(store.clone(), &progress, checkpoints[0]);
        feed(&mut resumed, &all);
        assert_eq!(count(&store, "step-count"), 30_000);
        assert_eq!(count(&store, "place-visits"), 30_000);
    }

    #[test]
    fn a_resumed_run_that_dies_before_its_first_checkpoint_leaves_nothing_to_write_twice() {
        let (_d, _s, store) = open();
        let all = items(30_000);
        let progress = Progress::default();
        // The first run's checkpoint is one batch in; the box died while writing the second
        // batch, after its steps were written but before its place visits were.
        let mut first = StoreSink::new(store.clone(), &progress, 0);
        for it in &all[..BATCH] {
            first.item(it.clone()).unwrap();
        }
        first.flush().unwrap();
        drop(first);
        let steps: Vec<NumericPoint> = all[BATCH..2 * BATCH]
            .iter()
            .filter_map(|it| match it {
                Item::Numeric {
                    timestamp,
                    value,
                    tags,
                    ..
                } => Some(NumericPoint {
                    timestamp: Some(*timestamp),
                    value: *value,
                    tags: tags.clone(),
                }),
                Item::Document { .. } => None,
            })
            .collect();
        store
            .write_numeric(&DatasourceId::new("step-count".to_owned()).unwrap(), steps)
            .unwrap()
            .wait()
            .unwrap();
        // The resumed run writes its first batch, and the box dies again before that
        // checkpoint is saved: the next resume starts from the first checkpoint once more.
        let mut checkpoints = Vec::new();
        let mut record = |c: u64| checkpoints.push(c);
        let mut second = StoreSink::new(store.clone(), &progress, BATCH as u64).on_commit(&mut record);
        let mut fed = 0;
        while fed < all.len() && second.committed() == BATCH as u64 {
            second.item(all[fed].clone()).unwrap();
            fed += 1;
        }
        drop(second);
        assert_eq!(
            checkpoints,
            [2 * BATCH as u64],
            "its first batch ends where the crashed one did"
        );
        let mut third = StoreSink::new(store.clone(), &progress, BATCH as u64);
        feed(&mut third, &all);
        assert_eq!(count(&store, "step-count"), 30_000);
        assert_eq!(count(&store, "place-visits"), 30_000);
    }

    #[test]
    fn a_bad_datasource_name_is_skipped_with_its_reason() {
        let (_d, _s, store) = open();
        let progress = Progress::default();
        let mut sink = StoreSink::new(store, &progress, 0);
        let mut bad = steps(1);
        if let Item::Numeric { datasource, .. } = &mut bad {
            *datasource = "Not Valid!".into();
        }
        feed(&mut sink, &[bad, steps(2)]);
        assert_eq!(progress.skipped().get(BAD_NAME), Some(&1));
    }

    #[test]
    fn a_resumed_run_keeps_the_sink_skips_of_earlier_runs_and_recounts_the_parsers() {
        let before = BTreeMap::from([
            (DUPLICATE.to_owned(), 3),
            (BAD_NAME.to_owned(), 2),
            ("a record without a value".to_owned(), 5),
        ]);
        let run = BTreeMap::from([
            (DUPLICATE.to_owned(), 1),
            ("a record without a value".to_owned(), 7),
        ]);
        assert_eq!(
            merge_skips(&before, run),
            BTreeMap::from([
                (DUPLICATE.to_owned(), 4),
                (BAD_NAME.to_owned(), 2),
                ("a record without a value".to_owned(), 7),
            ])
        );
    }
}

#[cfg(test)]
mod imports_tests {
    use super::*;
    use databox_store::MasterKeySource;

    #[test]
    fn a_job_runs_to_done_and_is_listed_and_a_bad_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let stores = Arc::new(Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap());
        let events = Arc::new(Mutex::new(Vec::new()));
        let seen = events.clone();
        let imports = Imports::open(stores.clone(), dir.path(), move |j| {
            seen.lock().unwrap().push(j.state)
        })
        .unwrap();
        let file = dir.path().join("Records.json");
        std::fs::write(
            &file,
            r#"{"locations": [{"latitudeE7": 515000000, "longitudeE7": -1000000, "timestampMs": "1600000000000"}]}"#,
        )
        .unwrap();
        let job = imports.start(Format::Google, &file, None).unwrap();
        let started = std::time::Instant::now();
        // The job's state changes before its callback runs: wait for both.
        while imports.get(&job.id).unwrap().state == JobState::Running || events.lock().unwrap().len() < 2 {
            assert!(started.elapsed() < std::time::Duration::from_secs(30));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let listed = imports.list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].state, JobState::Done, "{:?}", listed[0].error);
        assert_eq!(listed[0].written.get("locations"), Some(&1));
        assert_eq!(*events.lock().unwrap(), vec![JobState::Running, JobState::Done]);
        assert!(
            imports
                .start(Format::AppleHealth, &dir.path().join("missing.zip"), None)
                .is_err()
        );
        assert!(
            imports.resume(&job.id).is_err(),
            "a finished import is not resumed"
        );
        // The record survives a restart.
        drop(imports);
        let again = Imports::open(stores, dir.path(), |_| {}).unwrap();
        assert_eq!(again.list()[0].state, JobState::Done);
    }
}
