//! Per-source storage for Databox.
//!
//! A box holds many stores, one per driver or app; each is its own SQLCipher file under
//! `<data dir>/stores/` with its own key under `<data dir>/keys/`, sealed by the box master key
//! (see [`keys`]). A store holds datasources of three kinds: numeric time series, blob time series
//! and key-value. [`Stores`] opens, creates, lists and erases stores; [`Store`] does the reads and
//! the group-committed, durable writes; [`query`] parses the read and delete path language;
//! [`Store::buckets`] cuts a numeric series into chart buckets.

mod buckets;
pub mod catalogue;
mod engine;
mod error;
mod id;
pub mod keys;
pub mod model;
pub mod query;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use buckets::{Bucket, MAX_CHART_POINTS, MIN_CHART_POINTS, bucket_width};
pub use engine::{PAGE_BYTES, Page, PageCursor, Store, WriteAck, WriteTicket, now_ms};
pub use error::StoreError;
pub use id::{BOX_STORE, DatasourceId, HOST_METRICS, KvKey, MAX_ID_LEN, MAX_KEY_LEN, StoreId, TagName};
pub use keys::{MasterKey, MasterKeySource, write_private_file};
pub use model::{
    BlobPoint, Datasource, DatasourceKind, DatasourceMeta, Event, KvValue, NumericPoint, ReadOutput,
    Retention, Row, ValueType,
};
pub use query::{Aggregate, DeleteQuery, ReadQuery};

/// Every store of one box.
pub struct Stores {
    dir: PathBuf,
    master: MasterKey,
    open: RwLock<BTreeMap<StoreId, Arc<Store>>>,
    /// Stores that exist but could not be opened (damaged file, unreadable key), with the reason:
    /// the box keeps serving the others and tells the owner about these.
    broken: RwLock<BTreeMap<StoreId, String>>,
}

impl Stores {
    /// The box's data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the stores of the box in `data_dir`, creating the folders and the master key on
    /// first start. Database files whose key is gone (an erase interrupted by a crash) are removed.
    /// A store that fails to open is set aside as unavailable (see [`Stores::unavailable`]) and
    /// left untouched on disk; only a wrong master key stops the box.
    pub fn open(data_dir: &Path, source: &MasterKeySource) -> Result<Stores, StoreError> {
        for sub in ["stores", "keys"] {
            fs::create_dir_all(data_dir.join(sub))
                .map_err(|e| StoreError::io(format!("creating {}", data_dir.join(sub).display()), e))?;
        }
        let master = MasterKey::load_or_create(data_dir, source)?;
        let stores = Stores {
            dir: data_dir.to_owned(),
            master,
            open: RwLock::new(BTreeMap::new()),
            broken: RwLock::new(BTreeMap::new()),
        };
        let mut broken = BTreeMap::new();
        let mut open = BTreeMap::new();
        let keys_dir = data_dir.join("keys");
        let entries = fs::read_dir(&keys_dir)
            .map_err(|e| StoreError::io(format!("listing {}", keys_dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("listing keys", e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".key").and_then(|s| StoreId::new(s).ok()) else {
                continue;
            };
            let db = stores.db_path(&id);
            let missing = !db.exists();
            if missing {
                tracing::warn!(store = %id, "the store's file is missing; starting it empty");
            }
            let opened = stores
                .master
                .load_store_key(&id, &entry.path())
                .and_then(|key| Store::open(id.clone(), db, key, missing, None));
            match opened {
                Ok(store) => {
                    open.insert(id, store);
                }
                Err(e) => {
                    tracing::error!(store = %id, error = %e, "store unavailable: it could not be opened");
                    broken.insert(id, e.to_string());
                }
            }
        }
        let dbs = data_dir.join("stores");
        for entry in fs::read_dir(&dbs)
            .map_err(|e| StoreError::io(format!("listing {}", dbs.display()), e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or_default().to_owned();
            if StoreId::new(stem.clone())
                .map(|id| !open.contains_key(&id) && !broken.contains_key(&id))
                .unwrap_or(false)
            {
                tracing::warn!(file = %entry.path().display(), "removing a store file whose key was erased");
                let _ = fs::remove_file(entry.path());
            }
        }
        *stores.open.write().expect("stores lock") = open;
        *stores.broken.write().expect("stores lock") = broken;
        Ok(stores)
    }

    fn db_path(&self, id: &StoreId) -> PathBuf {
        self.dir.join("stores").join(format!("{id}.db"))
    }

    fn key_path(&self, id: &StoreId) -> PathBuf {
        self.dir.join("keys").join(format!("{id}.key"))
    }

    /// Creates a new store with its own key and file.
    pub fn create(&self, id: &StoreId, description: &str) -> Result<Arc<Store>, StoreError> {
        if description.len() > 1024 || description.chars().any(char::is_control) {
            return Err(StoreError::BadData(
                "a store description is at most 1024 characters, no control characters".into(),
            ));
        }
        if id.as_str() == BOX_STORE {
            return Err(StoreError::InvalidId {
                what: "store id",
                value: id.to_string(),
                reason: "it is reserved for what the box measures of itself",
            });
        }
        let mut open = self.open.write().expect("stores lock");
        if open.contains_key(id) || self.broken.read().expect("stores lock").contains_key(id) {
            return Err(StoreError::StoreExists(id.to_string()));
        }
        let key = self.master.create_store_key(id, &self.key_path(id))?;
        let store = match Store::open(id.clone(), self.db_path(id), key, true, Some(description)) {
            Ok(s) => s,
            Err(e) => {
                let _ = keys::shred(&self.key_path(id));
                return Err(e);
            }
        };
        open.insert(id.clone(), store.clone());
        Ok(store)
    }

    /// The store with this id.
    pub fn get(&self, id: &StoreId) -> Result<Arc<Store>, StoreError> {
        if let Some(reason) = self.broken.read().expect("stores lock").get(id) {
            return Err(StoreError::Unavailable {
                store: id.to_string(),
                reason: reason.clone(),
            });
        }
        self.open
            .read()
            .expect("stores lock")
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::UnknownStore(id.to_string()))
    }

    /// Stores that could not be opened at start-up, with the reason.
    pub fn unavailable(&self) -> Vec<(String, String)> {
        self.broken
            .read()
            .expect("stores lock")
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Every store, sorted by id.
    pub fn list(&self) -> Vec<Arc<Store>> {
        self.open.read().expect("stores lock").values().cloned().collect()
    }

    /// Erases a store: its key is shredded first (from then on its data is unrecoverable), then
    /// its files are removed.
    /// An unavailable store can be erased too.
    pub fn erase(&self, id: &StoreId) -> Result<(), StoreError> {
        let store = self.open.write().expect("stores lock").remove(id);
        match store {
            Some(store) => store.close(),
            None => {
                self.broken
                    .write()
                    .expect("stores lock")
                    .remove(id)
                    .ok_or_else(|| StoreError::UnknownStore(id.to_string()))?;
            }
        }
        keys::shred(&self.key_path(id))?;
        let db = self.db_path(id);
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", db.display()));
            if p.exists() {
                fs::remove_file(&p).map_err(|e| StoreError::io(format!("removing {}", p.display()), e))?;
            }
        }
        Ok(())
    }

    /// Runs every store's retention; returns `(store, datasource, purged, hourly rows)`.
    pub fn apply_retention(&self, now_ms: i64) -> Vec<(String, String, u64, u64)> {
        let mut out = Vec::new();
        for store in self.list() {
            match store.apply_retention(now_ms).wait() {
                Ok(WriteAck::Retention(r)) => {
                    out.extend(r.into_iter().map(|(ds, p, h)| (store.id().to_string(), ds, p, h)));
                }
                Ok(_) => {}
                Err(e) => tracing::error!(store = %store.id(), error = %e, "retention failed"),
            }
        }
        out
    }

    /// Stops every writer after it has committed what it holds.
    pub fn close(&self) {
        for s in self.list() {
            s.close();
        }
    }
}
