//! A [`Store`] in memory, for native tests of the whole request handling: it keeps documents
//! per series and key-value values, filters by `device` like the box's reads, and can be told
//! to fail (a box that is unavailable, an answer over the output limit, a box too old to write
//! a batch of documents).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use databox_sdk::{Error, Result};
use serde_json::Value;

use crate::store::Store;

/// The store. Single-threaded, like a component instance.
#[derive(Debug, Default)]
pub struct MemoryStore {
    /// Series id to `(timestamp, document)`, in write order.
    pub series: RefCell<BTreeMap<String, Vec<(i64, Value)>>>,
    /// `(datasource, key)` to value.
    pub kv: RefCell<BTreeMap<(String, String), Value>>,
    /// Reads answering more rows than this fail with [`Error::TooLarge`].
    pub max_read_rows: Option<usize>,
    /// Writes (rows and key-value) fail with [`Error::Unavailable`] while set.
    pub unavailable: Cell<bool>,
    /// Each row write acknowledges one document, as a box that stores a whole batch as one
    /// document would.
    pub acknowledge_one: bool,
    /// How many reads were made.
    pub reads: Cell<usize>,
    /// How many key-value values were written.
    pub puts: Cell<usize>,
}

impl MemoryStore {
    /// The documents of a series, oldest first (all devices).
    pub fn rows(&self, series: &str) -> Vec<(i64, Value)> {
        let mut rows = self.series.borrow().get(series).cloned().unwrap_or_default();
        rows.sort_by_key(|(t, _)| *t);
        rows
    }

    fn check_available(&self) -> Result<()> {
        if self.unavailable.get() {
            Err(Error::Unavailable("the store is busy (test)".into()))
        } else {
            Ok(())
        }
    }

    fn of_device(&self, series: &str, device: &str) -> Vec<(i64, Value)> {
        self.rows(series)
            .into_iter()
            .filter(|(_, d)| d.get("device").and_then(Value::as_str) == Some(device))
            .collect()
    }
}

impl Store for MemoryStore {
    fn read_rows(&self, series: &str, from: i64, to: i64, device: &str) -> Result<Vec<(i64, Value)>> {
        self.reads.set(self.reads.get() + 1);
        let rows: Vec<(i64, Value)> = self
            .of_device(series, device)
            .into_iter()
            .filter(|(t, _)| (from..=to).contains(t))
            .collect();
        match self.max_read_rows {
            Some(max) if rows.len() > max => Err(Error::TooLarge(format!(
                "{} rows are over the test's limit of {max}",
                rows.len()
            ))),
            _ => Ok(rows),
        }
    }

    fn write_rows(&self, series: &str, rows: &[(i64, Value)]) -> Result<u64> {
        self.check_available()?;
        self.series
            .borrow_mut()
            .entry(series.to_owned())
            .or_default()
            .extend(rows.iter().cloned());
        Ok(if self.acknowledge_one {
            1
        } else {
            rows.len() as u64
        })
    }

    fn count(&self, series: &str, device: &str) -> Result<u64> {
        Ok(self.of_device(series, device).len() as u64)
    }

    fn latest(&self, series: &str, device: &str) -> Result<Option<i64>> {
        Ok(self.of_device(series, device).iter().map(|(t, _)| *t).max())
    }

    fn kv_get(&self, datasource: &str, key: &str) -> Result<Option<Value>> {
        Ok(self
            .kv
            .borrow()
            .get(&(datasource.to_owned(), key.to_owned()))
            .cloned())
    }

    fn kv_put(&self, datasource: &str, key: &str, value: &Value) -> Result<()> {
        self.check_available()?;
        self.puts.set(self.puts.get() + 1);
        self.kv
            .borrow_mut()
            .insert((datasource.to_owned(), key.to_owned()), value.clone());
        Ok(())
    }
}
