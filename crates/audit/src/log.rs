//! Appending to the log: one writer thread owns the file, chains and signs.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::AuditError;
use crate::record::{Event, Kind, Outcome, Query, Record};

/// The box signs the chain's head every this many records (and when the log closes).
pub const CHECKPOINT_EVERY: u64 = 1000;
/// The writer drains what was recorded this often; recording does not wake it, because a
/// wake-up per request costs the request more than writing its record does.
const DRAIN_EVERY: Duration = Duration::from_millis(20);
/// ... or at once when this many records wait.
const URGENT_LEN: usize = 1024;
/// Folded write records and the file buffer are flushed this often.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(crate) const LOG_FILE: &str = "log.jsonl";
pub(crate) const KEY_FILE: &str = "signing.key";
pub(crate) const PUBLIC_FILE: &str = "signing.pub";
pub(crate) const CHECKPOINT_FILE: &str = "checkpoint.json";

/// The latest signed checkpoint, also kept outside the log so a cut tail is noticed.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Checkpoint {
    pub seq: u64,
    pub hash: String,
    pub signature: String,
}

pub(crate) fn checkpoint_message(seq: u64, hash: &str) -> Vec<u8> {
    format!("databox-audit-checkpoint:{seq}:{hash}").into_bytes()
}

enum Msg {
    Event(Event),
    Write {
        principal: String,
        store: String,
        datasource: String,
        points: u64,
        outcome: Outcome,
    },
    Sync(mpsc::Sender<()>),
}

#[derive(Default)]
struct Waiting {
    items: Vec<Msg>,
    open: bool,
    urgent: bool,
}

/// What waits for the writer thread.
#[derive(Default)]
struct Queue {
    waiting: Mutex<Waiting>,
    ready: Condvar,
}

/// The box's audit log.
pub struct AuditLog {
    dir: PathBuf,
    queue: Arc<Queue>,
    thread: Mutex<Option<JoinHandle<()>>>,
    tail: broadcast::Sender<Arc<Record>>,
    verifying_key: VerifyingKey,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    let ctx = || format!("writing {}", path.display());
    let tmp = path.with_extension("tmp");
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(|e| AuditError::io(ctx(), e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| AuditError::io(ctx(), e))?;
    fs::rename(&tmp, path).map_err(|e| AuditError::io(ctx(), e))?;
    Ok(())
}

fn load_or_create_key(dir: &Path) -> Result<SigningKey, AuditError> {
    let path = dir.join(KEY_FILE);
    if path.exists() {
        let bytes = fs::read(&path).map_err(|e| AuditError::io(format!("reading {}", path.display()), e))?;
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AuditError::Tampered(format!("{} is not a 32-byte key", path.display())))?;
        return Ok(SigningKey::from_bytes(&seed));
    }
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let key = SigningKey::from_bytes(&seed);
    write_private(&path, &seed)?;
    write_private(
        &dir.join(PUBLIC_FILE),
        hex::encode(key.verifying_key().to_bytes()).as_bytes(),
    )?;
    Ok(key)
}

/// Reads the head (last seq and hash) of an existing log, dropping a torn final line left by a
/// crash in the middle of a write.
fn read_head(path: &Path) -> Result<(u64, String, bool), AuditError> {
    let Ok(file) = File::open(path) else {
        return Ok((0, ZERO_HASH.to_owned(), false));
    };
    let mut reader = BufReader::new(file);
    let mut last: Option<Record> = None;
    let mut good_len = 0u64;
    let mut line = String::new();
    let mut torn = false;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| AuditError::io("reading the audit log", e))?;
        if n == 0 {
            break;
        }
        if !line.ends_with('\n') {
            torn = true;
            break;
        }
        if let Ok(r) = serde_json::from_str::<Record>(line.trim_end()) {
            last = Some(r);
        }
        good_len += n as u64;
    }
    if torn {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| AuditError::io("repairing the audit log", e))?;
        f.set_len(good_len)
            .and_then(|_| f.sync_all())
            .map_err(|e| AuditError::io("repairing the audit log", e))?;
    }
    Ok(match last {
        Some(r) => (r.seq, r.hash, torn),
        None => (0, ZERO_HASH.to_owned(), torn),
    })
}

impl AuditLog {
    /// Opens (or creates) the audit log in `dir`, with the box's signing key.
    pub fn open(dir: &Path) -> Result<Arc<AuditLog>, AuditError> {
        fs::create_dir_all(dir).map_err(|e| AuditError::io(format!("creating {}", dir.display()), e))?;
        let key = load_or_create_key(dir)?;
        let path = dir.join(LOG_FILE);
        let (seq, hash, torn) = read_head(&path)?;
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| AuditError::io(format!("opening {}", path.display()), e))?;
        file.seek(SeekFrom::End(0))
            .map_err(|e| AuditError::io("opening the audit log", e))?;
        let (tail, _) = broadcast::channel(1024);
        let queue = Arc::new(Queue::default());
        queue.waiting.lock().expect("audit lock").open = true;
        let writer_queue = queue.clone();
        let mut writer = Writer {
            out: BufWriter::new(file),
            dir: dir.to_owned(),
            key: key.clone(),
            seq,
            prev: hash,
            since_checkpoint: 0,
            dirty: false,
            tail: tail.clone(),
            writes: BTreeMap::new(),
        };
        let mut start = Event::of(Kind::BoxStarted, "box", "start");
        if torn {
            start.detail =
                Some("a torn final record, left by a crash while it was written, was dropped".into());
        }
        writer.append(start);
        let thread = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || writer.run(&writer_queue))
            .map_err(|e| AuditError::io("starting the audit writer", e))?;
        Ok(Arc::new(AuditLog {
            dir: dir.to_owned(),
            queue,
            thread: Mutex::new(Some(thread)),
            tail,
            verifying_key: key.verifying_key(),
        }))
    }

    /// A log that keeps nothing: only for measuring what logging costs (`databox bench`).
    pub fn discarding() -> Arc<AuditLog> {
        let (tail, _) = broadcast::channel(1);
        Arc::new(AuditLog {
            dir: PathBuf::new(),
            queue: Arc::new(Queue::default()),
            thread: Mutex::new(None),
            tail,
            verifying_key: SigningKey::from_bytes(&[0u8; 32]).verifying_key(),
        })
    }

    fn send(&self, msg: Msg) {
        let mut w = self.queue.waiting.lock().expect("audit lock");
        if !w.open {
            return;
        }
        let urgent = matches!(msg, Msg::Sync(_));
        w.items.push(msg);
        if urgent || w.items.len() >= URGENT_LEN {
            w.urgent = true;
            self.queue.ready.notify_one();
        }
    }

    fn is_open(&self) -> bool {
        self.queue.waiting.lock().expect("audit lock").open
    }

    /// Records an event.
    pub fn record(&self, event: Event) {
        self.send(Msg::Event(event));
    }

    /// Records points written; writes of one principal to one datasource within a second become
    /// one record with the total.
    pub fn record_write(
        &self,
        principal: &str,
        store: &str,
        datasource: &str,
        points: u64,
        outcome: Outcome,
    ) {
        self.send(Msg::Write {
            principal: principal.to_owned(),
            store: store.to_owned(),
            datasource: datasource.to_owned(),
            points,
            outcome,
        });
    }

    /// Waits until everything recorded so far is on disk.
    pub fn sync(&self) {
        if !self.is_open() {
            return;
        }
        let (ack, done) = mpsc::channel();
        self.send(Msg::Sync(ack));
        let _ = done.recv_timeout(Duration::from_secs(10));
    }

    /// Records matching `q`, oldest first, at most `q.limit` (the newest ones; default 1,000, at
    /// most 100,000).
    pub fn query(&self, q: &Query) -> Result<Vec<Record>, AuditError> {
        self.scan(q, q.limit.unwrap_or(1000).clamp(1, 100_000))
    }

    /// Every record matching `q`, oldest first (for the statement).
    pub fn query_all(&self, q: &Query) -> Result<Vec<Record>, AuditError> {
        self.scan(q, usize::MAX)
    }

    fn scan(&self, q: &Query, limit: usize) -> Result<Vec<Record>, AuditError> {
        self.sync();
        let path = self.dir.join(LOG_FILE);
        let file = File::open(&path).map_err(|e| AuditError::io(format!("reading {}", path.display()), e))?;
        let mut out = std::collections::VecDeque::with_capacity(limit.min(4096));
        for line in BufReader::new(file).lines() {
            let line = line.map_err(|e| AuditError::io("reading the audit log", e))?;
            let Ok(r) = serde_json::from_str::<Record>(&line) else {
                continue;
            };
            if q.matches(&r) {
                if out.len() == limit {
                    out.pop_front();
                }
                out.push_back(r);
            }
        }
        Ok(out.into())
    }

    /// Every record as it is appended.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.tail.subscribe()
    }

    /// The key checkpoints are signed with.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }

    /// The folder of the log.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records the box stopping, signs a final checkpoint and closes the file.
    pub fn close(&self) {
        self.record(Event::of(Kind::BoxStopped, "box", "stop"));
        {
            let mut w = self.queue.waiting.lock().expect("audit lock");
            w.open = false;
            w.urgent = true;
            self.queue.ready.notify_one();
        }
        if let Some(t) = self.thread.lock().expect("audit lock").take() {
            let _ = t.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        if self.queue.waiting.lock().map(|w| w.open).unwrap_or(false) {
            self.close();
        }
    }
}

type WriteKey = (String, String, String, Outcome);

struct Writer {
    out: BufWriter<File>,
    dir: PathBuf,
    key: SigningKey,
    seq: u64,
    prev: String,
    since_checkpoint: u64,
    dirty: bool,
    tail: broadcast::Sender<Arc<Record>>,
    writes: BTreeMap<WriteKey, (u64, u64)>,
}

impl Writer {
    fn run(&mut self, queue: &Queue) {
        let mut next_flush = Instant::now() + FLUSH_EVERY;
        loop {
            let (batch, open) = {
                let mut w = queue.waiting.lock().expect("audit lock");
                if w.items.is_empty() && w.open && !w.urgent {
                    let wait = DRAIN_EVERY.min(next_flush.saturating_duration_since(Instant::now()));
                    w = queue.ready.wait_timeout(w, wait).expect("audit lock").0;
                }
                w.urgent = false;
                (std::mem::take(&mut w.items), w.open)
            };
            for msg in batch {
                match msg {
                    Msg::Event(e) => self.append(e),
                    Msg::Write {
                        principal,
                        store,
                        datasource,
                        points,
                        outcome,
                    } => {
                        let entry = self
                            .writes
                            .entry((principal, store, datasource, outcome))
                            .or_default();
                        entry.0 += points;
                        entry.1 += 1;
                    }
                    Msg::Sync(ack) => {
                        self.flush_writes();
                        self.sync();
                        let _ = ack.send(());
                    }
                }
            }
            if !open {
                break;
            }
            if Instant::now() >= next_flush {
                self.flush_writes();
                self.sync();
                next_flush = Instant::now() + FLUSH_EVERY;
            }
        }
        self.flush_writes();
        self.checkpoint();
        self.sync();
    }

    fn flush_writes(&mut self) {
        for ((principal, store, datasource, outcome), (points, requests)) in std::mem::take(&mut self.writes)
        {
            self.append(Event {
                kind: Some(Kind::Access),
                principal,
                operation: "write".into(),
                store: Some(store),
                datasource: Some(datasource),
                detail: Some(format!(
                    "{requests} write request{}",
                    if requests == 1 { "" } else { "s" }
                )),
                count: Some(points),
                outcome: Some(outcome),
            });
        }
    }

    fn sync(&mut self) {
        if self.dirty {
            if let Err(e) = self.out.flush().and_then(|_| self.out.get_ref().sync_data()) {
                tracing::error!(error = %e, "the audit log could not be written");
            }
            self.dirty = false;
        }
    }

    fn append(&mut self, e: Event) {
        let mut r = Record {
            seq: self.seq + 1,
            time: now_ms(),
            kind: e.kind.unwrap_or(Kind::Access),
            principal: e.principal,
            operation: e.operation,
            store: e.store,
            datasource: e.datasource,
            detail: e.detail,
            count: e.count,
            outcome: e.outcome.unwrap_or(Outcome::Ok),
            prev: self.prev.clone(),
            hash: String::new(),
        };
        let line = r.seal();
        if let Err(err) = self.out.write_all(&line) {
            tracing::error!(error = %err, "the audit log could not be written");
            return;
        }
        self.seq = r.seq;
        self.prev = r.hash.clone();
        self.dirty = true;
        let is_checkpoint = r.kind == Kind::Checkpoint;
        if self.tail.receiver_count() > 0 {
            let _ = self.tail.send(Arc::new(r));
        }
        if !is_checkpoint {
            self.since_checkpoint += 1;
            if self.since_checkpoint >= CHECKPOINT_EVERY {
                self.checkpoint();
            }
        }
    }

    /// Signs the current head, appends the signature to the log and keeps it outside the log.
    fn checkpoint(&mut self) {
        if self.since_checkpoint == 0 {
            return;
        }
        let (seq, hash) = (self.seq, self.prev.clone());
        let signature = hex::encode(self.key.sign(&checkpoint_message(seq, &hash)).to_bytes());
        let mut e = Event::of(Kind::Checkpoint, "box", "sign");
        e.count = Some(seq);
        e.detail = Some(signature.clone());
        self.append(e);
        self.since_checkpoint = 0;
        self.sync();
        let cp = Checkpoint { seq, hash, signature };
        if let Err(err) = write_private(
            &self.dir.join(CHECKPOINT_FILE),
            &serde_json::to_vec(&cp).expect("checkpoint"),
        ) {
            tracing::error!(error = %err, "the audit checkpoint could not be saved");
        }
    }
}
