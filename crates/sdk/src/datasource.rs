//! Typed handles on the component's datasources, over the `datastore` import. Every call passes
//! the box's one permission check under the component's own principal and is audited.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::databox::component::datastore;
use crate::data::{Answer, HourlyRow, KvValue, NumericRow, Point, Row, parse_number, parse_rows};
use crate::{Query, Result};

/// A datasource by the component's own name for it: the `name` of a `[[requests]]` entry of its
/// manifest (mapped by the owner to a real datasource at install) or the `id` of a
/// `[[provides]]` entry (in its own store).
///
/// ```no_run
/// use databox_sdk::{Datasource, Query};
///
/// # fn main() -> databox_sdk::Result<()> {
/// let power = Datasource::named("power");
/// power.write_value(230.5)?;
/// let last_hour = power.read_numeric(&Query::last(60))?;
/// let mean = power.read_number(&Query::since(0).aggregate(databox_sdk::Aggregate::Mean))?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Datasource {
    name: String,
}

impl Datasource {
    /// The datasource the component calls `name`.
    pub fn named(name: impl Into<String>) -> Self {
        Datasource { name: name.into() }
    }

    /// The component's name for it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads with a query string of the read language as is, answering the box's JSON text.
    /// Prefer [`Datasource::read`] and the typed readers, which check the query first.
    pub fn read_raw(&self, query: &str) -> Result<String> {
        Ok(datastore::read(&self.name, query)?)
    }

    /// Reads: rows (with raw JSON data) or a number, whichever the query asks for.
    pub fn read(&self, query: &Query) -> Result<Answer> {
        Answer::parse(&self.read_raw(&query.to_path()?)?)
    }

    /// Reads rows with `data` parsed as `D` (the documents of a blob series, for example).
    pub fn read_rows<D: DeserializeOwned>(&self, query: &Query) -> Result<Vec<Row<D>>> {
        parse_rows(&self.read_raw(&query.to_path()?)?)
    }

    /// Reads the rows of a numeric series.
    pub fn read_numeric(&self, query: &Query) -> Result<Vec<NumericRow>> {
        self.read_rows(query)
    }

    /// Reads hourly statistics: one row per hour (start of the hour, count, sum, min, max, mean).
    /// The query is made hourly if it is not already.
    pub fn read_hourly(&self, query: &Query) -> Result<Vec<HourlyRow>> {
        self.read_rows(&query.clone().hourly())
    }

    /// Reads the number an aggregate or `length` answers (`None` where it is undefined).
    pub fn read_number(&self, query: &Query) -> Result<Option<f64>> {
        parse_number(&self.read_raw(&query.to_path()?)?)
    }

    /// The newest point of a numeric series, if there is one.
    pub fn latest(&self) -> Result<Option<NumericRow>> {
        Ok(self.read_numeric(&Query::latest())?.into_iter().next())
    }

    /// Writes one value, timed by the box. Returns how many points were written.
    pub fn write_value(&self, value: f64) -> Result<u64> {
        self.write_points(&[Point::new(value)])
    }

    /// Writes one value at `timestamp` (epoch milliseconds).
    pub fn write_value_at(&self, timestamp: i64, value: f64) -> Result<u64> {
        self.write_points(&[Point::at(timestamp, value)])
    }

    /// Writes numeric points (with their tags) in one batch: all or none are written.
    pub fn write_points(&self, points: &[Point]) -> Result<u64> {
        if points.is_empty() {
            return Ok(0);
        }
        let batch = points.iter().map(Point::to_json).collect::<Result<Vec<_>>>()?;
        Ok(datastore::write(&self.name, &Value::Array(batch).to_string())?)
    }

    /// Writes one JSON document to a blob series, timed by the box. An array is taken as a batch
    /// of rows (see [`Datasource::write_documents_at`]); to store an array as one document, write
    /// `[{"data": [...]}]`.
    pub fn write_json(&self, document: &Value) -> Result<u64> {
        Ok(datastore::write(&self.name, &document.to_string())?)
    }

    /// Writes documents to a blob series, each at its own timestamp (epoch milliseconds), in one
    /// batch: all or none are written. Returns how many.
    pub fn write_documents_at<T: Serialize>(&self, documents: &[(i64, T)]) -> Result<u64> {
        if documents.is_empty() {
            return Ok(0);
        }
        let rows = documents
            .iter()
            .map(|(t, d)| Ok(serde_json::json!({"timestamp": t, "data": serde_json::to_value(d)?})))
            .collect::<Result<Vec<_>>>()?;
        self.write_json(&Value::Array(rows))
    }

    /// Serializes `document` and writes it to a blob series.
    pub fn write_document<T: Serialize>(&self, document: &T) -> Result<u64> {
        self.write_json(&serde_json::to_value(document)?)
    }

    /// Reads the value under `key` of a key-value datasource, `None` if there is none.
    pub fn kv_get(&self, key: &str) -> Result<Option<KvValue>> {
        Ok(datastore::kv_get(&self.name, key)?.map(|(content_type, bytes)| KvValue { content_type, bytes }))
    }

    /// Stores `bytes` under `key` with its media type.
    pub fn kv_put(&self, key: &str, content_type: &str, bytes: &[u8]) -> Result<()> {
        Ok(datastore::kv_put(&self.name, key, content_type, bytes)?)
    }

    /// Reads the value under `key` as JSON.
    pub fn kv_get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        self.kv_get(key)?.map(|v| v.json()).transpose()
    }

    /// Stores `value` as JSON (`application/json`) under `key`.
    pub fn kv_put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<()> {
        self.kv_put(key, "application/json", &serde_json::to_vec(value)?)
    }

    /// Asks for every new write to this datasource to be delivered to
    /// [`Component::on_data`](crate::Component::on_data).
    pub fn observe(&self) -> Result<()> {
        Ok(datastore::observe(&self.name)?)
    }

    /// Sends a command to an actuator datasource (makes something happen in the world): a
    /// numeric point such as `{"value": 1}` or a document, as the actuator takes it.
    pub fn actuate(&self, command: &Value) -> Result<()> {
        Ok(datastore::actuate(&self.name, &command.to_string())?)
    }
}

impl From<&str> for Datasource {
    fn from(name: &str) -> Self {
        Datasource::named(name)
    }
}
