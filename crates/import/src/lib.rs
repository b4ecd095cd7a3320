//! Importers of the export files people already have: Apple Health (`export.zip` /
//! `export.xml`) and Google location history (Takeout `Records.json`, Semantic Location History,
//! the on-device Timeline export).
//!
//! Each format's parser streams its file and hands every item it understands to an [`ItemSink`],
//! and every item it skips to [`Progress::skip`] with the reason. Parsers never hold a whole file:
//! memory stays flat whatever the file's size. Writing the items into a store, batching, resuming
//! and de-duplicating are the job runner's (`job.rs`), the same for every format.

pub mod apple_health;
mod calendar;
pub mod google;
pub mod job;
pub mod location;
pub mod testgen;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// One thing an importer found, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A numeric reading: a point of the numeric series `datasource`.
    Numeric {
        /// The datasource it belongs to (a valid datasource id: `a-z 0-9 - _ .`).
        datasource: String,
        /// What the series is, for the owner and the catalogue.
        meta: SeriesMeta,
        /// When (epoch ms).
        timestamp: i64,
        /// The value, finite.
        value: f64,
        /// Tags (for example the source app or device).
        tags: BTreeMap<String, String>,
    },
    /// A document (a place visit, a workout with its route, a day's activity summary): a point of
    /// the blob series `datasource`.
    Document {
        /// The datasource it belongs to.
        datasource: String,
        /// What the series is.
        meta: SeriesMeta,
        /// When (epoch ms).
        timestamp: i64,
        /// The document.
        data: serde_json::Value,
    },
}

impl Item {
    /// The datasource the item belongs to.
    pub fn datasource(&self) -> &str {
        match self {
            Item::Numeric { datasource, .. } | Item::Document { datasource, .. } => datasource,
        }
    }

    /// When it happened (epoch ms).
    pub fn timestamp(&self) -> i64 {
        match self {
            Item::Numeric { timestamp, .. } | Item::Document { timestamp, .. } => *timestamp,
        }
    }
}

/// What a series is: its Hypercat-style metadata.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SeriesMeta {
    /// The kind of data (for example `step-count`, `location`, `place-visit`).
    pub r#type: String,
    /// Its unit, if numeric (for example `count`, `kg`, `count/min`).
    pub unit: Option<String>,
    /// A sentence for the owner.
    pub description: String,
}

/// Where a parser puts what it found.
pub trait ItemSink {
    /// Takes one item. An error stops the import (the file is fine; the box is not).
    fn item(&mut self, item: Item) -> Result<(), ImportError>;
}

impl ItemSink for Vec<Item> {
    fn item(&mut self, item: Item) -> Result<(), ImportError> {
        self.push(item);
        Ok(())
    }
}

/// How far an import got, shared between the parser (which updates it) and whoever shows it.
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of the input read so far (of the compressed file for a zip).
    pub bytes_read: AtomicU64,
    /// The input's size in bytes, when known.
    pub bytes_total: AtomicU64,
    /// Items handed to the sink.
    pub items: AtomicU64,
    skipped: Mutex<BTreeMap<String, u64>>,
}

impl Progress {
    /// Counts one item skipped for `reason` (a short phrase without the item's data, such as
    /// "record without a value" or "duplicate record").
    pub fn skip(&self, reason: &str) {
        *self
            .skipped
            .lock()
            .expect("progress lock")
            .entry(reason.to_owned())
            .or_default() += 1;
    }

    /// The items skipped so far, by reason.
    pub fn skipped(&self) -> BTreeMap<String, u64> {
        self.skipped.lock().expect("progress lock").clone()
    }

    /// Sets the bytes read so far.
    pub fn read_to(&self, bytes: u64) {
        self.bytes_read.store(bytes, Ordering::Relaxed);
    }

    /// Counts one item handed on.
    pub fn count_item(&self) {
        self.items.fetch_add(1, Ordering::Relaxed);
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not of the format asked for, or too damaged to go on.
    #[error("{0}")]
    Format(String),
    /// Storing failed.
    #[error("storing the imported data: {0}")]
    Store(#[from] databox_store::StoreError),
    /// The import was stopped on request.
    #[error("stopped")]
    Stopped,
}

impl ImportError {
    /// For `map_err`: reading or writing `path` failed with the given I/O error.
    pub fn io(path: &std::path::Path) -> impl Fn(std::io::Error) -> ImportError + Copy + '_ {
        move |source| ImportError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
