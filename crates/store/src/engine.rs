//! One store: one SQLCipher database file with its own key, one writer thread that group-commits,
//! a small pool of read connections, and a broadcast channel of committed writes.
//!
//! Guarantees:
//! - a write is acknowledged only after the transaction holding it committed with
//!   `synchronous=FULL` in WAL mode (durable across process kills and power loss);
//! - concurrent writes are committed together (group commit): one fsync serves every write that
//!   arrived while the previous commit was running, and each write is its own savepoint, so one bad
//!   write never takes the others down with it;
//! - readers never block the writer (WAL) and see only committed data.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use rusqlite::{
    Connection, OpenFlags, OptionalExtension, params, params_from_iter, types::Value as SqlValue,
};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot};

use crate::buckets::Bucket;
use crate::keys::SecretKey;
use crate::model::{
    BlobPoint, Datasource, DatasourceKind, DatasourceMeta, Event, KvValue, MAX_ROWS, NumericPoint,
    ReadOutput, Retention, Row, ValueType, numeric_data,
};
use crate::query::{Aggregate, DeleteQuery, FilterOp, Form, ReadQuery, check_timestamp};
use crate::{DatasourceId, KvKey, StoreError, StoreId};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS store_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS datasource(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    meta TEXT NOT NULL,
    retention TEXT
);
CREATE TABLE IF NOT EXISTS point(
    ds INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, value REAL NOT NULL, tags TEXT,
    PRIMARY KEY(ds, ts, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blob_point(
    ds INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY(ds, ts, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hourly(
    ds INTEGER NOT NULL, hour INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL,
    PRIMARY KEY(ds, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rollup(
    ds INTEGER NOT NULL, hour INTEGER NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL,
    min REAL NOT NULL, max REAL NOT NULL,
    PRIMARY KEY(ds, hour)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv(
    ds INTEGER NOT NULL, key TEXT NOT NULL, vtype INTEGER NOT NULL, ctype TEXT NOT NULL, value BLOB NOT NULL,
    PRIMARY KEY(ds, key)
) WITHOUT ROWID;
";

/// Most writes folded into one group commit.
const MAX_GROUP: usize = 4096;
/// Most idle read connections kept open.
const MAX_IDLE_READERS: usize = 8;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// About how much data one page of [`Store::read_page`] or [`Store::kv_page`] holds at most
/// (besides its row limit): a page of large documents or values stays this small.
pub const PAGE_BYTES: usize = 8 * 1024 * 1024;

/// Where a page of [`Store::read_page`] ended: the time and write order of its last row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageCursor {
    ts: i64,
    seq: i64,
}

/// One page of a series read in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// The rows, oldest first, as a read returns them.
    pub rows: Vec<Row>,
    /// Where the next page starts, or `None` when the range is read to its end.
    pub next: Option<PageCursor>,
}

/// What a committed write changed.
#[derive(Clone, Debug, PartialEq)]
pub enum WriteAck {
    /// Points written, with the timestamps they were stored at.
    Written {
        /// Number of points.
        count: u64,
        /// Timestamp of each point, in input order.
        timestamps: Vec<i64>,
    },
    /// Points or keys deleted.
    Deleted(u64),
    /// A key was stored.
    Stored,
    /// A datasource was created or updated.
    Datasource(Datasource),
    /// Retention ran: `(datasource, points purged, hourly rows written)`.
    Retention(Vec<(String, u64, u64)>),
}

enum WriteOp {
    Numeric {
        ds: DsRef,
        points: Vec<NumericPoint>,
    },
    Blob {
        ds: DsRef,
        points: Vec<BlobPoint>,
    },
    Delete {
        ds: Vec<DsRef>,
        query: DeleteQuery,
    },
    KvPut {
        ds: DsRef,
        key: KvKey,
        value: KvValue,
    },
    KvDelete {
        ds: DsRef,
        key: Option<KvKey>,
    },
    Upsert {
        name: DatasourceId,
        meta: DatasourceMeta,
    },
    Drop {
        ds: DsRef,
    },
    SetRetention {
        ds: DsRef,
        retention: Option<Retention>,
    },
    ApplyRetention {
        now_ms: i64,
    },
}

struct Job {
    op: WriteOp,
    reply: oneshot::Sender<Result<WriteAck, StoreError>>,
}

#[derive(Clone, Debug)]
struct DsRef {
    rowid: i64,
    name: String,
    kind: DatasourceKind,
}

#[derive(Clone, Debug)]
struct DsEntry {
    rowid: i64,
    info: Datasource,
}

struct Shared {
    id: StoreId,
    datasources: RwLock<HashMap<String, DsEntry>>,
    events: broadcast::Sender<Arc<Event>>,
}

/// A pending write; await it (async) or [`WriteTicket::wait`] (blocking) for the durable ack.
pub struct WriteTicket(oneshot::Receiver<Result<WriteAck, StoreError>>, StoreId);

impl WriteTicket {
    /// Blocks until the write is durable.
    pub fn wait(self) -> Result<WriteAck, StoreError> {
        self.0
            .blocking_recv()
            .unwrap_or_else(|_| Err(StoreError::Closed(self.1.to_string())))
    }
}

impl std::future::IntoFuture for WriteTicket {
    type Output = Result<WriteAck, StoreError>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            self.0
                .await
                .unwrap_or_else(|_| Err(StoreError::Closed(self.1.to_string())))
        })
    }
}

/// One open store.
pub struct Store {
    shared: Arc<Shared>,
    path: PathBuf,
    key: SecretKey,
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    description: String,
}

fn open_connection(
    path: &Path,
    key: &SecretKey,
    store: &StoreId,
    create: bool,
) -> Result<Connection, StoreError> {
    let mut flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    let pragma = zeroize::Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", key.to_hex().as_str()));
    conn.execute_batch(&pragma)?;
    conn.execute_batch("PRAGMA cipher_page_size = 16384;")?;
    // The first real read is where SQLCipher finds out whether the key fits.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
        .map_err(|e| StoreError::Crypto(format!("store {store} does not open with its key ({e})")))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000; PRAGMA temp_store=MEMORY;")?;
    Ok(conn)
}

impl Store {
    /// Opens (creating if `create`) the store file at `path` with `key`.
    pub(crate) fn open(
        id: StoreId,
        path: PathBuf,
        key: SecretKey,
        create: bool,
        description: Option<&str>,
    ) -> Result<Arc<Store>, StoreError> {
        let conn = open_connection(&path, &key, &id, create)?;
        conn.execute_batch(SCHEMA)?;
        if let Some(d) = description {
            conn.execute(
                "INSERT INTO store_meta(key, value) VALUES('description', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [d],
            )?;
        }
        let description: String = conn
            .query_row(
                "SELECT value FROM store_meta WHERE key = 'description'",
                [],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default();
        let mut datasources = HashMap::new();
        {
            let mut stmt = conn.prepare("SELECT id, name, meta, retention FROM datasource")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })?;
            for row in rows {
                let (rowid, name, meta, retention) = row?;
                let meta: DatasourceMeta = serde_json::from_str(&meta).map_err(|e| {
                    StoreError::BadData(format!("stored metadata of {name} is unreadable: {e}"))
                })?;
                let retention = retention.and_then(|r| serde_json::from_str(&r).ok());
                datasources.insert(
                    name.clone(),
                    DsEntry {
                        rowid,
                        info: Datasource {
                            id: name,
                            meta,
                            retention,
                        },
                    },
                );
            }
        }
        let next_seq: i64 = conn.query_row(
            "SELECT max(coalesce((SELECT max(seq) FROM point), 0), coalesce((SELECT max(seq) FROM blob_point), 0)) + 1",
            [],
            |r| r.get(0),
        )?;
        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            id: id.clone(),
            datasources: RwLock::new(datasources),
            events,
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let writer_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("store-{id}"))
            .spawn(move || {
                Writer {
                    conn,
                    shared: writer_shared,
                    next_seq,
                }
                .run(rx)
            })
            .map_err(|e| StoreError::io("starting the store writer", e))?;
        Ok(Arc::new(Store {
            shared,
            path,
            key,
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(handle)),
            readers: Mutex::new(Vec::new()),
            description,
        }))
    }

    /// The store's id.
    pub fn id(&self) -> &StoreId {
        &self.shared.id
    }

    /// The store's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the writer after it finished what it holds; later writes fail with `Closed`.
    pub(crate) fn close(&self) {
        self.writer.lock().expect("writer lock").take();
        if let Some(h) = self.writer_thread.lock().expect("writer thread lock").take() {
            let _ = h.join();
        }
        self.readers.lock().expect("readers lock").clear();
    }

    fn submit(&self, op: WriteOp) -> WriteTicket {
        let (reply, rx) = oneshot::channel();
        if let Some(tx) = self.writer.lock().expect("writer lock").as_ref() {
            let _ = tx.send(Job { op, reply });
        }
        WriteTicket(rx, self.shared.id.clone())
    }

    /// The series a read or delete names, each once.
    fn series_list(&self, names: &[DatasourceId]) -> Result<Vec<DsRef>, StoreError> {
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(StoreError::BadQuery(format!(
                    "datasource {:?} is named twice",
                    n.as_str()
                )));
            }
        }
        names.iter().map(|n| self.series(n)).collect()
    }

    fn ds(&self, name: &DatasourceId) -> Result<DsRef, StoreError> {
        let map = self.shared.datasources.read().expect("datasource lock");
        let e = map
            .get(name.as_str())
            .ok_or_else(|| StoreError::UnknownDatasource {
                store: self.shared.id.to_string(),
                datasource: name.to_string(),
            })?;
        Ok(DsRef {
            rowid: e.rowid,
            name: e.info.id.clone(),
            kind: e.info.meta.kind,
        })
    }

    fn ds_of_kind(&self, name: &DatasourceId, kind: DatasourceKind) -> Result<DsRef, StoreError> {
        let d = self.ds(name)?;
        if d.kind != kind {
            return Err(StoreError::WrongKind {
                datasource: d.name,
                actual: d.kind.as_str(),
                expected: kind.as_str(),
            });
        }
        Ok(d)
    }

    /// A time series datasource of either kind (numeric or blob).
    fn series(&self, name: &DatasourceId) -> Result<DsRef, StoreError> {
        let d = self.ds(name)?;
        if d.kind == DatasourceKind::KeyValue {
            return Err(StoreError::WrongKind {
                datasource: d.name,
                actual: "kv",
                expected: "ts or ts/blob",
            });
        }
        Ok(d)
    }

    /// Whether a datasource is an actuator (writes to it make something happen in the world).
    pub fn is_actuator(&self, name: &DatasourceId) -> bool {
        let map = self.shared.datasources.read().expect("datasource lock");
        map.get(name.as_str()).is_some_and(|e| e.info.meta.actuator)
    }

    /// Every datasource, sorted by id.
    pub fn datasources(&self) -> Vec<Datasource> {
        let mut v: Vec<_> = self
            .shared
            .datasources
            .read()
            .expect("datasource lock")
            .values()
            .map(|e| e.info.clone())
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// One datasource.
    pub fn datasource(&self, name: &DatasourceId) -> Result<Datasource, StoreError> {
        let map = self.shared.datasources.read().expect("datasource lock");
        map.get(name.as_str())
            .map(|e| e.info.clone())
            .ok_or_else(|| StoreError::UnknownDatasource {
                store: self.shared.id.to_string(),
                datasource: name.to_string(),
            })
    }

    /// Creates a datasource, or updates its metadata if it exists with the same kind.
    pub fn upsert_datasource(
        &self,
        name: DatasourceId,
        meta: DatasourceMeta,
    ) -> Result<WriteTicket, StoreError> {
        meta.validate()?;
        Ok(self.submit(WriteOp::Upsert { name, meta }))
    }

    /// Removes a datasource and all its data.
    pub fn drop_datasource(&self, name: &DatasourceId) -> Result<WriteTicket, StoreError> {
        let ds = self.ds(name)?;
        Ok(self.submit(WriteOp::Drop { ds }))
    }

    /// Sets (or with `None` clears) a series' retention.
    pub fn set_retention(
        &self,
        name: &DatasourceId,
        retention: Option<Retention>,
    ) -> Result<WriteTicket, StoreError> {
        let ds = self.series(name)?;
        if let Some(r) = retention {
            if !(1..=36_500).contains(&r.keep_days) {
                return Err(StoreError::BadData("keep_days must be within 1..=36500".into()));
            }
            if r.downsample_hourly && ds.kind != DatasourceKind::Numeric {
                return Err(StoreError::BadData(
                    "only numeric series can be downsampled".into(),
                ));
            }
        }
        Ok(self.submit(WriteOp::SetRetention { ds, retention }))
    }

    /// Purges points older than each series' retention, downsampling first where asked.
    pub fn apply_retention(&self, now_ms: i64) -> WriteTicket {
        self.submit(WriteOp::ApplyRetention { now_ms })
    }

    /// Appends numeric points.
    pub fn write_numeric(
        &self,
        name: &DatasourceId,
        points: Vec<NumericPoint>,
    ) -> Result<WriteTicket, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::Numeric)?;
        Ok(self.submit(WriteOp::Numeric { ds, points }))
    }

    /// Appends JSON documents to a blob series.
    pub fn write_blob(&self, name: &DatasourceId, points: Vec<BlobPoint>) -> Result<WriteTicket, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::Blob)?;
        Ok(self.submit(WriteOp::Blob { ds, points }))
    }

    /// Deletes points of one or more series by time.
    pub fn delete(&self, names: &[DatasourceId], query: DeleteQuery) -> Result<WriteTicket, StoreError> {
        let ds = self.series_list(names)?;
        Ok(self.submit(WriteOp::Delete { ds, query }))
    }

    /// Stores a key-value value.
    pub fn kv_put(&self, name: &DatasourceId, key: KvKey, value: KvValue) -> Result<WriteTicket, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::KeyValue)?;
        Ok(self.submit(WriteOp::KvPut { ds, key, value }))
    }

    /// Deletes one key, or with `None` every key of the datasource.
    pub fn kv_delete(&self, name: &DatasourceId, key: Option<KvKey>) -> Result<WriteTicket, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::KeyValue)?;
        Ok(self.submit(WriteOp::KvDelete { ds, key }))
    }

    /// Subscribes to every committed write of this store (filter by datasource on receipt).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.shared.events.subscribe()
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = self.readers.lock().expect("readers lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                if self.writer.lock().expect("writer lock").is_none() {
                    return Err(StoreError::Closed(self.shared.id.to_string()));
                }
                open_connection(&self.path, &self.key, &self.shared.id, false)?
            }
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().expect("readers lock");
        if pool.len() < MAX_IDLE_READERS {
            pool.push(conn);
        }
        out
    }

    /// Runs SQLite's integrity check and SQLCipher's page authentication check over the whole file.
    pub fn check_integrity(&self) -> Result<(), StoreError> {
        self.with_reader(|c| {
            let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            if ok != "ok" {
                return Err(StoreError::Crypto(format!(
                    "store {} fails its integrity check: {ok}",
                    self.shared.id
                )));
            }
            let mut stmt = c.prepare("PRAGMA cipher_integrity_check")?;
            let problems = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            if !problems.is_empty() {
                return Err(StoreError::Crypto(format!(
                    "store {} has pages that fail authentication: {}",
                    self.shared.id,
                    problems.join("; ")
                )));
            }
            Ok(())
        })
    }

    /// Reads one value of a key-value datasource.
    pub fn kv_get(&self, name: &DatasourceId, key: &KvKey) -> Result<KvValue, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::KeyValue)?;
        self.with_reader(|c| {
            c.query_row(
                "SELECT vtype, ctype, value FROM kv WHERE ds = ?1 AND key = ?2",
                params![ds.rowid, key.as_str()],
                |r| {
                    Ok(KvValue {
                        value_type: ValueType::from_code(r.get(0)?),
                        content_type: r.get(1)?,
                        bytes: r.get(2)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| StoreError::KeyNotFound {
                datasource: ds.name.clone(),
                key: key.to_string(),
            })
        })
    }

    /// Lists the keys of a key-value datasource, sorted.
    pub fn kv_keys(&self, name: &DatasourceId) -> Result<Vec<String>, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::KeyValue)?;
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached("SELECT key FROM kv WHERE ds = ?1 ORDER BY key")?;
            let keys = stmt
                .query_map([ds.rowid], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(keys)
        })
    }

    /// Counts the keys of a key-value datasource.
    pub fn kv_count(&self, name: &DatasourceId) -> Result<u64, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::KeyValue)?;
        self.with_reader(|c| {
            let n: i64 = c.query_row("SELECT count(*) FROM kv WHERE ds = ?1", [ds.rowid], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    /// Keys and values of a key-value datasource in key order, starting after the key `after`
    /// (from the first with `None`): at most `limit` of them, and fewer once their values add up
    /// to [`PAGE_BYTES`] (always at least one), so that reading a whole datasource page by page
    /// holds one bounded page at a time. An empty page means the end.
    pub fn kv_page(
        &self,
        name: &DatasourceId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, KvValue)>, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::KeyValue)?;
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, vtype, ctype, value FROM kv WHERE ds = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
            )?;
            // Keys are never empty, so "" is before the first.
            let mut rows = stmt.query(params![ds.rowid, after.unwrap_or(""), limit.max(1) as i64])?;
            let (mut out, mut bytes) = (Vec::new(), 0);
            while let Some(r) = rows.next()? {
                let value = KvValue {
                    value_type: ValueType::from_code(r.get(1)?),
                    content_type: r.get(2)?,
                    bytes: r.get(3)?,
                };
                bytes += value.bytes.len();
                out.push((r.get(0)?, value));
                if bytes >= PAGE_BYTES {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// The time of the oldest and of the newest data of a series, `None` when it holds none. The
    /// downsampled hourly history of a numeric series counts too, at the start of its hours.
    pub fn span(&self, name: &DatasourceId) -> Result<Option<(i64, i64)>, StoreError> {
        let ds = self.series(name)?;
        self.with_reader(|c| {
            // Each arm is one seek at an end of the (ds, time) primary key.
            let sql = if ds.kind == DatasourceKind::Numeric {
                "SELECT min(t), max(t) FROM (
                    SELECT min(ts) AS t FROM point WHERE ds = ?1 UNION ALL SELECT max(ts) FROM point WHERE ds = ?1
                    UNION ALL SELECT min(hour) FROM hourly WHERE ds = ?1
                    UNION ALL SELECT max(hour) FROM hourly WHERE ds = ?1)"
            } else {
                "SELECT min(ts), max(ts) FROM blob_point WHERE ds = ?1"
            };
            let (lo, hi): (Option<i64>, Option<i64>) =
                c.prepare_cached(sql)?.query_row([ds.rowid], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(lo.zip(hi))
        })
    }

    /// The points of a numeric series in `from..=to` cut into at most `points` buckets of equal
    /// width ([`crate::bucket_width`]; `points` is clamped to
    /// [`crate::MIN_CHART_POINTS`]`..=`[`crate::MAX_CHART_POINTS`]), each with the count, min, max
    /// and mean of its points; empty buckets are left out, the others come in time order.
    ///
    /// Buckets narrower than an hour are computed from the raw points of the range (one SQL
    /// `GROUP BY` over its slice of the primary key). Buckets of an hour or more are computed from
    /// the hourly rollups of the whole hours inside the range plus the raw points of the partial
    /// hours at its two edges, which is what keeps a chart of a million points fast (a few
    /// hundred rollup rows instead of every point), and what makes bucket edges approximate to
    /// the hour: a rollup hour counts whole in the bucket that holds the hour's start, so a
    /// bucket boundary inside an hour does not split it. The range's own edges stay exact, and
    /// the counts add up to the points in `from..=to`; only the downsampled history of purged
    /// points (which has nothing finer than hours) counts whole for the hours at the edges too.
    pub fn buckets(
        &self,
        name: &DatasourceId,
        from: i64,
        to: i64,
        points: u32,
    ) -> Result<Vec<Bucket>, StoreError> {
        let ds = self.ds_of_kind(name, DatasourceKind::Numeric)?;
        let (from, to) = (check_timestamp(from)?, check_timestamp(to)?);
        if from > to {
            return Err(StoreError::BadQuery(format!(
                "the chart's start {from} is after its end {to}"
            )));
        }
        let width = crate::bucket_width(from, to, points);
        self.with_reader(|c| crate::buckets::compute(c, ds.rowid, from, to, width))
    }

    /// One page of a series (numeric or blob) in time order, the rows as a read returns them:
    /// those in `from..=to` after `after` (from the start with `None`), at most `limit`, and fewer
    /// once their data adds up to [`PAGE_BYTES`] (always at least one). Pass the page's `next`
    /// back for the following page; `None` there means the series is read to the end.
    ///
    /// The cursor is the time and write order of the last row, not just its time, so points that
    /// share a timestamp (a batch written without timestamps shares the box's time) are neither
    /// repeated nor skipped across pages. Each page is its own read: points written meanwhile
    /// after the cursor show up in later pages.
    pub fn read_page(
        &self,
        name: &DatasourceId,
        from: i64,
        to: i64,
        after: Option<PageCursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let ds = self.series(name)?;
        let limit = limit.max(1);
        // With no cursor every row at `from` or later passes `ts > from OR seq > MIN`.
        let cursor = after.unwrap_or(PageCursor {
            ts: from,
            seq: i64::MIN,
        });
        let sql = if ds.kind == DatasourceKind::Numeric {
            "SELECT ts, seq, value, tags FROM point
             WHERE ds = ?1 AND ts >= ?2 AND ts <= ?3 AND (ts > ?4 OR seq > ?5) ORDER BY ts, seq LIMIT ?6"
        } else {
            "SELECT ts, seq, data FROM blob_point
             WHERE ds = ?1 AND ts >= ?2 AND ts <= ?3 AND (ts > ?4 OR seq > ?5) ORDER BY ts, seq LIMIT ?6"
        };
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let mut rows = stmt.query(params![
                ds.rowid,
                from.max(cursor.ts),
                to,
                cursor.ts,
                cursor.seq,
                limit as i64
            ])?;
            let (mut out, mut bytes, mut last) = (Vec::new(), 0, None);
            while let Some(r) = rows.next()? {
                let (ts, seq): (i64, i64) = (r.get(0)?, r.get(1)?);
                let data = if ds.kind == DatasourceKind::Numeric {
                    let tags: Option<String> = r.get(3)?;
                    bytes += 32 + tags.as_ref().map_or(0, String::len);
                    numeric_data(r.get(2)?, tags.as_deref())
                } else {
                    let text: String = r.get(2)?;
                    bytes += text.len();
                    serde_json::from_str(&text).unwrap_or(Value::Null)
                };
                out.push(Row {
                    timestamp: ts,
                    datasource: None,
                    data,
                });
                last = Some(PageCursor { ts, seq });
                if bytes >= PAGE_BYTES {
                    break;
                }
            }
            let full = out.len() == limit || bytes >= PAGE_BYTES;
            Ok(Page {
                rows: out,
                next: if full { last } else { None },
            })
        })
    }

    /// Runs a read over one or more series of this store (more than one is a join, merged by time).
    pub fn read(&self, names: &[DatasourceId], query: &ReadQuery) -> Result<ReadOutput, StoreError> {
        if names.is_empty() {
            return Err(StoreError::BadQuery("name at least one datasource".into()));
        }
        let ds: Vec<DsRef> = self.series_list(names)?;
        let kind = ds[0].kind;
        if let Some(other) = ds.iter().find(|d| d.kind != kind) {
            return Err(StoreError::BadQuery(format!(
                "a join needs series of one kind; {} is {} but {} is {}",
                ds[0].name,
                kind.as_str(),
                other.name,
                other.kind.as_str()
            )));
        }
        let joined = ds.len() > 1;
        self.with_reader(|c| {
            if query.hourly {
                return read_hourly(c, &ds, query, joined);
            }
            match kind {
                DatasourceKind::Numeric => read_series(c, &ds, query, joined, Table::Numeric),
                _ => read_series(c, &ds, query, joined, Table::Blob),
            }
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Table {
    Numeric,
    Blob,
    /// Downsampled history: one row per datasource and hour, timed by `hour`.
    Hourly,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Numeric => "point",
            Table::Blob => "blob_point",
            // History of purged hours together with the rollups of the hours still held raw: the
            // hourly statistics of all the data, old and new (an hour can be in both when late
            // points arrive after a purge).
            Table::Hourly => {
                "(SELECT ds, hour, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max \
                 FROM (SELECT * FROM hourly UNION ALL SELECT * FROM rollup) GROUP BY ds, hour)"
            }
        }
    }
    /// The JSON column tag filters look into.
    fn field_column(self) -> &'static str {
        match self {
            Table::Numeric => "tags",
            Table::Blob => "data",
            Table::Hourly => "NULL",
        }
    }
    /// The time column and the column that orders rows of equal time.
    fn time_and_tie(self) -> (&'static str, &'static str) {
        match self {
            Table::Hourly => ("hour", "ds"),
            _ => ("ts", "seq"),
        }
    }
}

/// Builds the SQL selecting `ts, seq, ds, {cols}` of the rows a query picks, merged across
/// datasources in the form's order. Each datasource gets its own ordered, limited arm so that
/// `last/N` over a join reads N rows per datasource, not the whole series.
fn select_rows(
    table: Table,
    ds: &[DsRef],
    q: &ReadQuery,
    cols: &str,
    row_cap: Option<u64>,
    params: &mut Vec<SqlValue>,
) -> String {
    let (form, filters) = (q.form, &q.filters);
    let dir = if form.newest_first() { "DESC" } else { "ASC" };
    let (lo, hi) = q.bounds();
    let limit = form.limit().or(row_cap);
    // Aggregates over a whole range need no order; sorting there only slows the scan down.
    let ordered = limit.is_some();
    let mut arms = Vec::with_capacity(ds.len());
    let (time, tie) = table.time_and_tie();
    for d in ds {
        let mut sql = format!(
            "SELECT {time} AS ts, {tie} AS seq, ds, {cols} FROM {} WHERE ds = ?",
            table.name()
        );
        params.push(SqlValue::Integer(d.rowid));
        if let Some(lo) = lo {
            sql.push_str(&format!(" AND {time} >= ?"));
            params.push(SqlValue::Integer(lo));
        }
        if let Some(hi) = hi {
            sql.push_str(&format!(" AND {time} <= ?"));
            params.push(SqlValue::Integer(hi));
        }
        let col = table.field_column();
        for f in filters {
            let test = match f.op {
                FilterOp::Equals => "json_extract({col}, ?) = ?",
                FilterOp::Contains => "instr(json_extract({col}, ?), ?) > 0",
            };
            sql.push_str(&format!(
                " AND json_type({col}, ?) = 'text' AND {}",
                test.replace("{col}", col)
            ));
            let path = format!("$.\"{}\"", f.tag);
            params.push(SqlValue::Text(path.clone()));
            params.push(SqlValue::Text(path));
            params.push(SqlValue::Text(f.value.clone()));
        }
        if ordered {
            sql.push_str(&format!(" ORDER BY ts {dir}, seq {dir}"));
        }
        if let Some(n) = limit {
            sql.push_str(&format!(" LIMIT {n}"));
        }
        arms.push(sql);
    }
    if arms.len() == 1 {
        return arms.pop().expect("one arm");
    }
    let mut sql = arms
        .iter()
        .map(|a| format!("SELECT * FROM ({a})"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    sql.push_str(&format!(" ORDER BY ts {dir}, seq {dir}"));
    if let Some(n) = limit {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    sql
}

fn read_series(
    c: &Connection,
    ds: &[DsRef],
    q: &ReadQuery,
    joined: bool,
    table: Table,
) -> Result<ReadOutput, StoreError> {
    let names: HashMap<i64, &str> = ds.iter().map(|d| (d.rowid, d.name.as_str())).collect();
    let aggregate = match (q.form, q.aggregate) {
        (Form::Length, _) => Some(Aggregate::Count),
        (_, a) => a,
    };
    if let Some(agg @ (Aggregate::Count | Aggregate::Sum | Aggregate::Min | Aggregate::Max | Aggregate::Mean)) =
        aggregate
        && table == Table::Numeric
        && q.filters.is_empty()
        && q.form.limit().is_none()
    {
        let (lo, hi) = q.bounds();
        return aggregate_from_rollups(
            c,
            ds,
            lo.unwrap_or(0),
            hi.unwrap_or(crate::query::MAX_TIMESTAMP),
            agg,
        );
    }
    let mut params = Vec::new();
    match aggregate {
        None => {
            let cols = if table == Table::Numeric {
                "value, tags"
            } else {
                "data"
            };
            let sql = select_rows(table, ds, q, cols, Some(MAX_ROWS as u64 + 1), &mut params);
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(params))?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                if out.len() == MAX_ROWS {
                    return Err(StoreError::TooManyResults(format!(
                        "more than {MAX_ROWS} points match; narrow the range, use last/N, or add an aggregate"
                    )));
                }
                let data = match table {
                    Table::Numeric => numeric_data(r.get(3)?, r.get::<_, Option<String>>(4)?.as_deref()),
                    Table::Blob | Table::Hourly => {
                        serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or(Value::Null)
                    }
                };
                let dsid: i64 = r.get(2)?;
                out.push(Row {
                    timestamp: r.get(0)?,
                    datasource: joined.then(|| names.get(&dsid).copied().unwrap_or_default().to_owned()),
                    data,
                });
            }
            Ok(ReadOutput::Rows(out))
        }
        Some(Aggregate::Count) => {
            let inner = select_rows(table, ds, q, "NULL", None, &mut params);
            let n: i64 = c
                .prepare_cached(&format!("SELECT count(*) FROM ({inner})"))?
                .query_row(params_from_iter(params), |r| r.get(0))?;
            Ok(ReadOutput::Count(n as u64))
        }
        Some(_) if table == Table::Blob => Err(StoreError::BadQuery(
            "blob series have no numeric values; only count and length apply".into(),
        )),
        Some(agg @ (Aggregate::Sum | Aggregate::Min | Aggregate::Max | Aggregate::Mean)) => {
            let inner = select_rows(table, ds, q, "value AS payload", None, &mut params);
            let func = match agg {
                Aggregate::Sum => "total(payload)",
                Aggregate::Min => "min(payload)",
                Aggregate::Max => "max(payload)",
                _ => "avg(payload)",
            };
            let x: Option<f64> = c
                .prepare_cached(&format!("SELECT {func} FROM ({inner})"))?
                .query_row(params_from_iter(params), |r| r.get(0))?;
            Ok(ReadOutput::Aggregate(x))
        }
        Some(agg) => {
            let inner = select_rows(table, ds, q, "value AS payload", None, &mut params);
            let mut stmt = c.prepare_cached(&format!("SELECT payload FROM ({inner})"))?;
            let mut values = stmt
                .query_map(params_from_iter(params), |r| r.get::<_, f64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ReadOutput::Aggregate(agg.compute(&mut values)))
        }
    }
}

fn read_hourly(c: &Connection, ds: &[DsRef], q: &ReadQuery, joined: bool) -> Result<ReadOutput, StoreError> {
    if !q.filters.is_empty() {
        return Err(StoreError::BadQuery(
            "hourly history has no tags to filter on".into(),
        ));
    }
    if ds.iter().any(|d| d.kind != DatasourceKind::Numeric) {
        return Err(StoreError::BadQuery(
            "only numeric series have hourly history".into(),
        ));
    }
    let names: HashMap<i64, &str> = ds.iter().map(|d| (d.rowid, d.name.as_str())).collect();
    let aggregate = if q.form == Form::Length {
        Some(Aggregate::Count)
    } else {
        q.aggregate
    };
    let mut params = Vec::new();
    let cap = aggregate.is_none().then_some(MAX_ROWS as u64 + 1);
    let sql = select_rows(Table::Hourly, ds, q, "count, sum, min, max", cap, &mut params);
    let mut stmt = c.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(params))?;
    let mut total = Partial::default();
    let mut out = Vec::new();
    let mut hours = 0u64;
    while let Some(r) = rows.next()? {
        let (hour, d): (i64, i64) = (r.get(0)?, r.get(2)?);
        let p = Partial {
            count: r.get::<_, i64>(3)? as u64,
            sum: r.get(4)?,
            min: r.get(5)?,
            max: r.get(6)?,
        };
        hours += 1;
        if aggregate.is_some() {
            total.add(&p);
            continue;
        }
        if out.len() == MAX_ROWS {
            return Err(StoreError::TooManyResults(format!(
                "more than {MAX_ROWS} hours match; narrow the range"
            )));
        }
        out.push(Row {
            timestamp: hour,
            datasource: joined.then(|| names[&d].to_owned()),
            data: serde_json::json!({
                "count": p.count, "sum": p.sum, "min": p.min, "max": p.max, "mean": p.sum / p.count as f64,
            }),
        });
    }
    match aggregate {
        None => Ok(ReadOutput::Rows(out)),
        // `length` counts hours; `count` counts the points they summarise.
        Some(_) if q.form == Form::Length => Ok(ReadOutput::Count(hours)),
        Some(a @ (Aggregate::Count | Aggregate::Sum | Aggregate::Min | Aggregate::Max | Aggregate::Mean)) => {
            Ok(total.finish(a))
        }
        Some(a) => Err(StoreError::BadQuery(format!(
            "{} cannot be computed from hourly history (it keeps count, sum, min and max)",
            a.name()
        ))),
    }
}

/// Adds freshly written points to the hourly rollups (count, sum, min, max per datasource and
/// hour), which let unfiltered aggregates over long ranges read one row per hour instead of every
/// point. Rollups always describe exactly the raw points present.
fn add_to_rollups(
    conn: &Connection,
    ds: i64,
    points: impl Iterator<Item = (i64, f64)>,
) -> Result<(), StoreError> {
    let mut hours: HashMap<i64, Partial> = HashMap::new();
    for (ts, v) in points {
        hours
            .entry(ts.div_euclid(HOUR_MS) * HOUR_MS)
            .or_default()
            .add(&Partial::of(v));
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO rollup(ds, hour, count, sum, min, max) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(ds, hour) DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum,
            min = min(min, excluded.min), max = max(max, excluded.max)",
    )?;
    for (hour, p) in hours {
        stmt.execute(params![ds, hour, p.count as i64, p.sum, p.min, p.max])?;
    }
    Ok(())
}

/// Rebuilds the rollups of every hour touching `lo..=hi` from the raw points left there.
fn recompute_rollups(conn: &Connection, ds: i64, lo: i64, hi: i64) -> Result<(), StoreError> {
    let first = lo.div_euclid(HOUR_MS) * HOUR_MS;
    let last = hi.div_euclid(HOUR_MS) * HOUR_MS;
    conn.prepare_cached("DELETE FROM rollup WHERE ds = ?1 AND hour >= ?2 AND hour <= ?3")?
        .execute(params![ds, first, last])?;
    conn.prepare_cached(
        "INSERT INTO rollup(ds, hour, count, sum, min, max)
         SELECT ds, (ts / 3600000) * 3600000, count(*), total(value), min(value), max(value)
         FROM point WHERE ds = ?1 AND ts >= ?2 AND ts <= ?3 GROUP BY 1, 2",
    )?
    .execute(params![ds, first, last.saturating_add(HOUR_MS - 1)])?;
    Ok(())
}

/// Count, sum, min and max of some values: what rollups keep and aggregates combine.
#[derive(Clone, Copy, Debug)]
struct Partial {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Partial {
    fn default() -> Self {
        Partial {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Partial {
    fn of(v: f64) -> Self {
        Partial {
            count: 1,
            sum: v,
            min: v,
            max: v,
        }
    }

    fn add(&mut self, o: &Partial) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    fn finish(&self, agg: Aggregate) -> ReadOutput {
        let defined = self.count > 0;
        match agg {
            Aggregate::Count => ReadOutput::Count(self.count),
            Aggregate::Sum => ReadOutput::Aggregate(Some(self.sum)),
            Aggregate::Min => ReadOutput::Aggregate(defined.then_some(self.min)),
            Aggregate::Max => ReadOutput::Aggregate(defined.then_some(self.max)),
            _ => ReadOutput::Aggregate(defined.then(|| self.sum / self.count as f64)),
        }
    }
}

/// Count/sum/min/max/mean of an unfiltered time range from the rollups of the whole hours inside
/// it plus the raw points of the partial hours at its edges.
fn aggregate_from_rollups(
    c: &Connection,
    ds: &[DsRef],
    lo: i64,
    hi: i64,
    agg: Aggregate,
) -> Result<ReadOutput, StoreError> {
    let first_full = lo.div_euclid(HOUR_MS) * HOUR_MS + if lo.rem_euclid(HOUR_MS) == 0 { 0 } else { HOUR_MS };
    let last_full = (hi.saturating_add(1)).div_euclid(HOUR_MS) * HOUR_MS - HOUR_MS;
    let mut total = Partial::default();
    let raw = |c: &Connection, ds: i64, a: i64, b: i64| -> Result<Partial, StoreError> {
        Ok(c.prepare_cached(
            "SELECT count(*), total(value), min(value), max(value) FROM point WHERE ds = ?1 AND ts >= ?2 AND ts <= ?3",
        )?
        .query_row(params![ds, a, b], partial_of_row)?)
    };
    for d in ds {
        if first_full > last_full {
            total.add(&raw(c, d.rowid, lo, hi)?);
            continue;
        }
        total.add(
            &c.prepare_cached(
                "SELECT total(count), total(sum), min(min), max(max) FROM rollup WHERE ds = ?1 AND hour >= ?2 AND hour <= ?3",
            )?
            .query_row(params![d.rowid, first_full, last_full], partial_of_row)?,
        );
        if lo < first_full {
            total.add(&raw(c, d.rowid, lo, first_full - 1)?);
        }
        if last_full + HOUR_MS <= hi {
            total.add(&raw(c, d.rowid, last_full + HOUR_MS, hi)?);
        }
    }
    Ok(total.finish(agg))
}

fn partial_of_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Partial> {
    let count: f64 = r.get(0)?;
    Ok(Partial {
        count: count as u64,
        sum: r.get(1)?,
        min: r.get::<_, Option<f64>>(2)?.unwrap_or(f64::INFINITY),
        max: r.get::<_, Option<f64>>(3)?.unwrap_or(f64::NEG_INFINITY),
    })
}

/// Milliseconds since the epoch by the wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Writer {
    conn: Connection,
    shared: Arc<Shared>,
    next_seq: i64,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        while let Ok(first) = rx.recv() {
            let mut jobs = vec![first];
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            self.commit_group(jobs);
        }
    }

    fn commit_group(&mut self, jobs: Vec<Job>) {
        let mut results = Vec::with_capacity(jobs.len());
        let mut events = Vec::new();
        let mut registry_changes = Vec::new();
        let seq_before = self.next_seq;
        let began = self.conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = began {
            let msg = e.to_string();
            for j in jobs {
                let _ = j.reply.send(Err(StoreError::Commit(msg.clone())));
            }
            return;
        }
        for job in &jobs {
            let _ = self.conn.execute_batch("SAVEPOINT op");
            let mut op_events = Vec::new();
            let r = self.apply(&job.op, &mut op_events, &mut registry_changes);
            if r.is_ok() {
                let _ = self.conn.execute_batch("RELEASE op");
                events.extend(op_events);
            } else {
                let _ = self.conn.execute_batch("ROLLBACK TO op; RELEASE op");
            }
            results.push(r);
        }
        if let Err(e) = self.conn.execute_batch("COMMIT") {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.next_seq = seq_before;
            let msg = e.to_string();
            for j in jobs {
                let _ = j.reply.send(Err(StoreError::Commit(msg.clone())));
            }
            return;
        }
        {
            let mut map = self.shared.datasources.write().expect("datasource lock");
            for change in registry_changes {
                match change {
                    RegistryChange::Put(e) => {
                        map.insert(e.info.id.clone(), e);
                    }
                    RegistryChange::Remove(name) => {
                        map.remove(&name);
                    }
                }
            }
        }
        for (job, r) in jobs.into_iter().zip(results) {
            let _ = job.reply.send(r);
        }
        if self.shared.events.receiver_count() > 0 {
            for e in events {
                let _ = self.shared.events.send(Arc::new(e));
            }
        }
    }

    fn seq(&mut self) -> i64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    fn apply(
        &mut self,
        op: &WriteOp,
        events: &mut Vec<Event>,
        registry: &mut Vec<RegistryChange>,
    ) -> Result<WriteAck, StoreError> {
        let observed = self.shared.events.receiver_count() > 0;
        match op {
            WriteOp::Numeric { ds, points } => {
                let now = now_ms();
                let mut timestamps = Vec::with_capacity(points.len());
                let mut stmt = self.conn.prepare_cached(
                    "INSERT INTO point(ds, ts, seq, value, tags) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for p in points {
                    let ts = p.timestamp.unwrap_or(now);
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    let tags = p.tags_json();
                    stmt.execute(params![ds.rowid, ts, seq, p.value, tags])?;
                    timestamps.push(ts);
                    if observed {
                        events.push(Event::Point {
                            datasource: ds.name.clone(),
                            timestamp: ts,
                            data: numeric_data(p.value, tags.as_deref()),
                        });
                    }
                }
                drop(stmt);
                add_to_rollups(
                    &self.conn,
                    ds.rowid,
                    timestamps.iter().copied().zip(points.iter().map(|p| p.value)),
                )?;
                Ok(WriteAck::Written {
                    count: points.len() as u64,
                    timestamps,
                })
            }
            WriteOp::Blob { ds, points } => {
                let now = now_ms();
                let mut timestamps = Vec::with_capacity(points.len());
                for p in points {
                    let ts = p.timestamp.unwrap_or(now);
                    let seq = self.seq();
                    let text = serde_json::to_string(&p.data).expect("json value");
                    self.conn
                        .prepare_cached("INSERT INTO blob_point(ds, ts, seq, data) VALUES (?1, ?2, ?3, ?4)")?
                        .execute(params![ds.rowid, ts, seq, text])?;
                    timestamps.push(ts);
                    if observed {
                        events.push(Event::Point {
                            datasource: ds.name.clone(),
                            timestamp: ts,
                            data: p.data.clone(),
                        });
                    }
                }
                Ok(WriteAck::Written {
                    count: points.len() as u64,
                    timestamps,
                })
            }
            WriteOp::Delete { ds, query } => {
                let (lo, hi) = match *query {
                    DeleteQuery::Since(t) => (t, i64::MAX),
                    DeleteQuery::Range(a, b) => (a, b),
                };
                let mut total = 0;
                for d in ds {
                    let table = if d.kind == DatasourceKind::Numeric {
                        "point"
                    } else {
                        "blob_point"
                    };
                    let n = self
                        .conn
                        .prepare_cached(&format!(
                            "DELETE FROM {table} WHERE ds = ?1 AND ts >= ?2 AND ts <= ?3"
                        ))?
                        .execute(params![d.rowid, lo, hi])? as u64;
                    if d.kind == DatasourceKind::Numeric && n > 0 {
                        recompute_rollups(&self.conn, d.rowid, lo, hi)?;
                    }
                    total += n;
                    events.push(Event::Delete {
                        datasource: d.name.clone(),
                        key: None,
                        count: n,
                    });
                }
                Ok(WriteAck::Deleted(total))
            }
            WriteOp::KvPut { ds, key, value } => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO kv(ds, key, vtype, ctype, value) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT(ds, key) DO UPDATE SET vtype = excluded.vtype, ctype = excluded.ctype,
                            value = excluded.value",
                    )?
                    .execute(params![
                        ds.rowid,
                        key.as_str(),
                        value.value_type.code(),
                        value.content_type,
                        value.bytes
                    ])?;
                events.push(Event::Put {
                    datasource: ds.name.clone(),
                    key: key.to_string(),
                    value_type: value.value_type,
                });
                Ok(WriteAck::Stored)
            }
            WriteOp::KvDelete { ds, key } => {
                let n = match key {
                    Some(k) => {
                        let n = self.conn.execute(
                            "DELETE FROM kv WHERE ds = ?1 AND key = ?2",
                            params![ds.rowid, k.as_str()],
                        )?;
                        if n == 0 {
                            return Err(StoreError::KeyNotFound {
                                datasource: ds.name.clone(),
                                key: k.to_string(),
                            });
                        }
                        n
                    }
                    None => self.conn.execute("DELETE FROM kv WHERE ds = ?1", [ds.rowid])?,
                } as u64;
                events.push(Event::Delete {
                    datasource: ds.name.clone(),
                    key: key.as_ref().map(|k| k.to_string()),
                    count: n,
                });
                Ok(WriteAck::Deleted(n))
            }
            WriteOp::Upsert { name, meta } => {
                let existing: Option<(i64, String, Option<String>)> = self
                    .conn
                    .query_row(
                        "SELECT id, meta, retention FROM datasource WHERE name = ?1",
                        [name.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let meta_json = serde_json::to_string(meta).expect("meta serializes");
                let (rowid, retention) = match existing {
                    Some((rowid, old, retention)) => {
                        let old: DatasourceMeta =
                            serde_json::from_str(&old).map_err(|e| StoreError::BadData(e.to_string()))?;
                        if old.kind != meta.kind {
                            return Err(StoreError::DatasourceExists {
                                datasource: name.to_string(),
                                existing: old.kind.as_str(),
                            });
                        }
                        self.conn.execute(
                            "UPDATE datasource SET meta = ?1 WHERE id = ?2",
                            params![meta_json, rowid],
                        )?;
                        (rowid, retention.and_then(|r| serde_json::from_str(&r).ok()))
                    }
                    None => {
                        self.conn.execute(
                            "INSERT INTO datasource(name, meta) VALUES (?1, ?2)",
                            params![name.as_str(), meta_json],
                        )?;
                        (self.conn.last_insert_rowid(), None)
                    }
                };
                let info = Datasource {
                    id: name.to_string(),
                    meta: meta.clone(),
                    retention,
                };
                registry.push(RegistryChange::Put(DsEntry {
                    rowid,
                    info: info.clone(),
                }));
                Ok(WriteAck::Datasource(info))
            }
            WriteOp::Drop { ds } => {
                for table in ["point", "blob_point", "rollup", "hourly", "kv"] {
                    self.conn
                        .execute(&format!("DELETE FROM {table} WHERE ds = ?1"), [ds.rowid])?;
                }
                self.conn
                    .execute("DELETE FROM datasource WHERE id = ?1", [ds.rowid])?;
                registry.push(RegistryChange::Remove(ds.name.clone()));
                Ok(WriteAck::Deleted(1))
            }
            WriteOp::SetRetention { ds, retention } => {
                let json = retention.map(|r| serde_json::to_string(&r).expect("retention serializes"));
                self.conn.execute(
                    "UPDATE datasource SET retention = ?1 WHERE id = ?2",
                    params![json, ds.rowid],
                )?;
                let mut info = self
                    .shared
                    .datasources
                    .read()
                    .expect("datasource lock")
                    .get(&ds.name)
                    .map(|e| e.info.clone())
                    .ok_or_else(|| StoreError::Closed(ds.name.clone()))?;
                info.retention = *retention;
                registry.push(RegistryChange::Put(DsEntry {
                    rowid: ds.rowid,
                    info: info.clone(),
                }));
                Ok(WriteAck::Datasource(info))
            }
            WriteOp::ApplyRetention { now_ms } => {
                let entries: Vec<DsEntry> = self
                    .shared
                    .datasources
                    .read()
                    .expect("datasource lock")
                    .values()
                    .cloned()
                    .collect();
                let mut report = Vec::new();
                for e in entries {
                    let Some(r) = e.info.retention else { continue };
                    let table = if e.info.meta.kind == DatasourceKind::Numeric {
                        "point"
                    } else {
                        "blob_point"
                    };
                    // Count the days back from the older of the clock and the newest point, so a
                    // wall clock that jumps ahead (or a sensor that went quiet) never purges
                    // everything: at least `keep_days` of the newest data always stay.
                    let newest: Option<i64> = self.conn.query_row(
                        &format!("SELECT max(ts) FROM {table} WHERE ds = ?1"),
                        [e.rowid],
                        |r| r.get(0),
                    )?;
                    let Some(newest) = newest else { continue };
                    let mut cutoff = (*now_ms).min(newest) - i64::from(r.keep_days) * DAY_MS;
                    let mut hours = 0;
                    if r.downsample_hourly && table == "point" {
                        // Whole hours only, so an hour is never split between raw points and history.
                        cutoff = cutoff.div_euclid(HOUR_MS) * HOUR_MS;
                        hours = self.conn.execute(
                            "INSERT INTO hourly(ds, hour, count, sum, min, max)
                             SELECT ds, (ts / 3600000) * 3600000, count(*), total(value), min(value), max(value)
                             FROM point WHERE ds = ?1 AND ts < ?2 GROUP BY 1, 2
                             ON CONFLICT(ds, hour) DO UPDATE SET count = count + excluded.count,
                                sum = sum + excluded.sum, min = min(min, excluded.min), max = max(max, excluded.max)",
                            params![e.rowid, cutoff],
                        )? as u64;
                    }
                    let purged = self.conn.execute(
                        &format!("DELETE FROM {table} WHERE ds = ?1 AND ts < ?2"),
                        params![e.rowid, cutoff],
                    )? as u64;
                    if table == "point" && purged > 0 {
                        recompute_rollups(&self.conn, e.rowid, 0, cutoff - 1)?;
                    }
                    if purged > 0 {
                        events.push(Event::Delete {
                            datasource: e.info.id.clone(),
                            key: None,
                            count: purged,
                        });
                    }
                    report.push((e.info.id, purged, hours));
                }
                Ok(WriteAck::Retention(report))
            }
        }
    }
}

enum RegistryChange {
    Put(DsEntry),
    Remove(String),
}

#[cfg(test)]
mod page_tests {
    use super::*;
    use crate::{MasterKeySource, Stores};

    const MAX_TS: i64 = crate::query::MAX_TIMESTAMP;

    fn store() -> (tempfile::TempDir, Stores, Arc<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let stores = Stores::open(dir.path(), &MasterKeySource::KeyFile).unwrap();
        let store = stores.create(&StoreId::new("pages").unwrap(), "").unwrap();
        (dir, stores, store)
    }

    fn datasource(store: &Store, name: &str, kind: DatasourceKind) -> DatasourceId {
        let id = DatasourceId::new(name).unwrap();
        store
            .upsert_datasource(id.clone(), DatasourceMeta::of_kind(kind))
            .unwrap()
            .wait()
            .unwrap();
        id
    }

    fn all_pages(store: &Store, id: &DatasourceId, from: i64, to: i64, limit: usize) -> (Vec<Row>, usize) {
        let (mut rows, mut pages, mut after) = (Vec::new(), 0, None);
        loop {
            let page = store.read_page(id, from, to, after, limit).unwrap();
            assert!(page.rows.len() <= limit);
            pages += 1;
            rows.extend(page.rows);
            match page.next {
                Some(next) => after = Some(next),
                None => return (rows, pages),
            }
        }
    }

    #[test]
    fn pages_of_a_series_are_its_rows_in_order_even_when_timestamps_repeat() {
        let (_dir, _stores, store) = store();
        let id = datasource(&store, "t", DatasourceKind::Numeric);
        // 25 points at each of 8 timestamps, so page boundaries fall inside runs of equal times.
        let points: Vec<NumericPoint> = (0..200)
            .map(|i| NumericPoint {
                timestamp: Some(1000 * (i / 25)),
                value: i as f64,
                tags: [("n".to_owned(), i.to_string())].into(),
            })
            .collect();
        store.write_numeric(&id, points).unwrap().wait().unwrap();
        let whole = match store
            .read(
                std::slice::from_ref(&id),
                &crate::query::parse_read(&["since".into(), "0".into()]).unwrap(),
            )
            .unwrap()
        {
            ReadOutput::Rows(r) => r,
            other => panic!("{other:?}"),
        };
        for limit in [1, 7, 25, 200, 1000] {
            let (rows, pages) = all_pages(&store, &id, 0, MAX_TS, limit);
            assert_eq!(rows, whole, "limit {limit}: the same rows as one read");
            assert!(pages <= 200 / limit + 1, "limit {limit}: {pages} pages");
        }
        let (rows, _) = all_pages(&store, &id, 2000, 4000, 10);
        assert_eq!(rows, whole[50..125].to_vec(), "from and to are inclusive");
        let (rows, pages) = all_pages(&store, &id, 7001, MAX_TS, 10);
        assert_eq!((rows.len(), pages), (0, 1));
    }

    #[test]
    fn pages_of_large_documents_stop_at_the_byte_budget() {
        let (_dir, _stores, store) = store();
        let id = datasource(&store, "docs", DatasourceKind::Blob);
        let doc = serde_json::json!({"text": "x".repeat(3 * 1024 * 1024)});
        for ts in 0..5 {
            store
                .write_blob(
                    &id,
                    vec![BlobPoint {
                        timestamp: Some(ts),
                        data: doc.clone(),
                    }],
                )
                .unwrap()
                .wait()
                .unwrap();
        }
        let page = store.read_page(&id, 0, MAX_TS, None, 1000).unwrap();
        assert_eq!(page.rows.len(), 3, "8 MiB reached on the third document");
        assert_eq!(page.rows[0].data, doc);
        let (rows, pages) = all_pages(&store, &id, 0, MAX_TS, 1000);
        assert_eq!((rows.len(), pages), (5, 2));
        let kv = datasource(&store, "kv", DatasourceKind::KeyValue);
        assert!(matches!(
            store.read_page(&kv, 0, MAX_TS, None, 10),
            Err(StoreError::WrongKind { .. })
        ));
        assert_eq!(store.span(&id).unwrap(), Some((0, 4)));
    }

    #[test]
    fn pages_of_a_key_value_datasource_follow_key_order() {
        let (_dir, _stores, store) = store();
        let id = datasource(&store, "settings", DatasourceKind::KeyValue);
        for i in (0..30).rev() {
            let value =
                KvValue::new(Some("application/json"), format!("{{\"i\":{i}}}").into_bytes()).unwrap();
            store
                .kv_put(&id, KvKey::new(format!("k{i:02}")).unwrap(), value)
                .unwrap()
                .wait()
                .unwrap();
        }
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.kv_page(&id, after.as_deref(), 7).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 7);
            after = page.last().map(|(k, _)| k.clone());
            keys.extend(
                page.into_iter()
                    .map(|(k, v)| (k, String::from_utf8(v.bytes).unwrap())),
            );
        }
        let want: Vec<(String, String)> = (0..30)
            .map(|i| (format!("k{i:02}"), format!("{{\"i\":{i}}}")))
            .collect();
        assert_eq!(keys, want);
        let ts = datasource(&store, "t", DatasourceKind::Numeric);
        assert!(matches!(
            store.kv_page(&ts, None, 7),
            Err(StoreError::WrongKind { .. })
        ));
    }
}
