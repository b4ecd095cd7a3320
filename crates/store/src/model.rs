//! The data the store holds and returns: datasource descriptions, points, rows, key-value values
//! and the events observers see.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::query::check_timestamp;
use crate::{StoreError, TagName};

/// Most tags on one numeric point.
pub const MAX_TAGS: usize = 32;
/// Longest tag value.
pub const MAX_TAG_VALUE: usize = 256;
/// Most rows a read returns; larger results must be narrowed or aggregated.
pub const MAX_ROWS: usize = 100_000;

/// The kind of a datasource, Hypercat's `urn:X-databox:rels:hasStoreType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Hash)]
pub enum DatasourceKind {
    /// Numeric time series: `{"value": number, tag: "string"...}`.
    #[serde(rename = "ts")]
    Numeric,
    /// Time series of arbitrary JSON documents.
    #[serde(rename = "ts/blob")]
    Blob,
    /// Key-value: JSON, text or binary values under keys.
    #[serde(rename = "kv")]
    KeyValue,
}

impl DatasourceKind {
    /// The Hypercat store type string.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasourceKind::Numeric => "ts",
            DatasourceKind::Blob => "ts/blob",
            DatasourceKind::KeyValue => "kv",
        }
    }

    /// Parses a Hypercat store type string.
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "ts" => Ok(DatasourceKind::Numeric),
            "ts/blob" | "blob" => Ok(DatasourceKind::Blob),
            "kv" => Ok(DatasourceKind::KeyValue),
            other => Err(StoreError::BadData(format!(
                "unknown store type {other:?}; expected ts, ts/blob or kv"
            ))),
        }
    }
}

/// What the owner or a driver says about a datasource: its Hypercat metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasourceMeta {
    /// Numeric series, blob series or key-value.
    #[serde(rename = "store_type")]
    pub kind: DatasourceKind,
    /// `urn:X-hypercat:rels:hasDescription:en`.
    #[serde(default)]
    pub description: String,
    /// `urn:X-databox:rels:hasType`, e.g. `temperature`.
    #[serde(default, rename = "type")]
    pub data_type: String,
    /// `urn:X-databox:rels:hasUnit`, e.g. `celsius`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// `urn:X-databox:rels:hasLocation`, e.g. `kitchen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `urn:X-databox:rels:hasVendor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// `urn:X-databox:rels:isActuator`.
    #[serde(default)]
    pub actuator: bool,
}

impl DatasourceMeta {
    /// A description with only a kind.
    pub fn of_kind(kind: DatasourceKind) -> Self {
        DatasourceMeta {
            kind,
            description: String::new(),
            data_type: String::new(),
            unit: None,
            location: None,
            vendor: None,
            actuator: false,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        let fields = [
            ("description", Some(&self.description)),
            ("type", Some(&self.data_type)),
            ("unit", self.unit.as_ref()),
            ("location", self.location.as_ref()),
            ("vendor", self.vendor.as_ref()),
        ];
        for (name, value) in fields {
            if let Some(v) = value
                && (v.len() > 1024 || v.chars().any(char::is_control))
            {
                return Err(StoreError::BadData(format!(
                    "datasource field {name:?} must be at most 1024 characters without control characters"
                )));
            }
        }
        Ok(())
    }
}

/// How long a datasource keeps its raw points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Keep raw points for this many days (1..=36500).
    pub keep_days: u32,
    /// Before purging, fold the purged numeric points into hourly aggregates (count, sum, min,
    /// max, mean) readable under `hourly/`.
    #[serde(default)]
    pub downsample_hourly: bool,
}

/// A datasource as the store knows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Datasource {
    /// Its id.
    pub id: String,
    /// Its metadata.
    pub meta: DatasourceMeta,
    /// Its retention policy, if any.
    pub retention: Option<Retention>,
}

/// A numeric point ready to write.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericPoint {
    /// Epoch milliseconds; `None` lets the box assign the time of the write.
    pub timestamp: Option<i64>,
    /// The value (finite).
    pub value: f64,
    /// Tags (string values).
    pub tags: BTreeMap<String, String>,
}

impl NumericPoint {
    /// Parses `{"value": number, "timestamp"?: ms, tag: "string"...}`.
    pub fn from_json(v: &Value) -> Result<Self, StoreError> {
        let obj = v.as_object().ok_or_else(|| {
            StoreError::BadData("a point must be a JSON object with a numeric \"value\"".into())
        })?;
        let mut value = None;
        let mut timestamp = None;
        let mut tags = BTreeMap::new();
        for (k, v) in obj {
            match k.as_str() {
                "value" => {
                    value = Some(v.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
                        StoreError::BadData(format!("\"value\" must be a number, got {}", kind_of(v)))
                    })?)
                }
                "timestamp" => timestamp = Some(timestamp_of(v)?),
                tag => {
                    TagName::new(tag)?;
                    let s = v.as_str().ok_or_else(|| {
                        StoreError::BadData(format!("tag {tag:?} must be a string, got {}", kind_of(v)))
                    })?;
                    if s.len() > MAX_TAG_VALUE {
                        return Err(StoreError::BadData(format!(
                            "tag {tag:?} is longer than {MAX_TAG_VALUE} bytes"
                        )));
                    }
                    tags.insert(tag.to_owned(), s.to_owned());
                }
            }
        }
        if tags.len() > MAX_TAGS {
            return Err(StoreError::BadData(format!(
                "a point has at most {MAX_TAGS} tags"
            )));
        }
        let value = value.ok_or_else(|| StoreError::BadData("a point needs a numeric \"value\"".into()))?;
        Ok(NumericPoint {
            timestamp,
            value,
            tags,
        })
    }

    /// Parses one point, or an array of points, in the flat format.
    pub fn from_json_points(v: &Value) -> Result<Vec<Self>, StoreError> {
        match v {
            Value::Array(items) => items.iter().map(NumericPoint::from_json).collect(),
            one => NumericPoint::from_json(one).map(|p| vec![p]),
        }
    }

    /// Parses the read format `{"timestamp"?: ms, "data": {"value": n, tag...}}` or the flat format.
    pub fn from_row_json(v: &Value) -> Result<Self, StoreError> {
        match v.get("data") {
            Some(data) => {
                let mut p = NumericPoint::from_json(data)?;
                if let Some(t) = v.get("timestamp") {
                    p.timestamp = Some(timestamp_of(t)?);
                }
                Ok(p)
            }
            None => NumericPoint::from_json(v),
        }
    }

    pub(crate) fn tags_json(&self) -> Option<String> {
        (!self.tags.is_empty()).then(|| serde_json::to_string(&self.tags).expect("string map"))
    }
}

/// A JSON document ready to write to a blob series.
#[derive(Clone, Debug, PartialEq)]
pub struct BlobPoint {
    /// Epoch milliseconds; `None` lets the box assign the time of the write.
    pub timestamp: Option<i64>,
    /// The document.
    pub data: Value,
}

impl BlobPoint {
    /// Parses the read format `{"timestamp"?: ms, "data": any}`.
    pub fn from_row_json(v: &Value) -> Result<Self, StoreError> {
        let data = v
            .get("data")
            .ok_or_else(|| StoreError::BadData("each batch entry needs a \"data\" field".into()))?
            .clone();
        let timestamp = v.get("timestamp").map(timestamp_of).transpose()?;
        Ok(BlobPoint { timestamp, data })
    }
}

fn timestamp_of(v: &Value) -> Result<i64, StoreError> {
    let t = v.as_i64().ok_or_else(|| {
        StoreError::BadData(format!(
            "\"timestamp\" must be an integer (epoch ms), got {}",
            kind_of(v)
        ))
    })?;
    check_timestamp(t).map_err(|e| StoreError::BadData(e.to_string()))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One row of a read result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Epoch milliseconds.
    pub timestamp: i64,
    /// The datasource, present in joined reads only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource: Option<String>,
    /// `{"value": n, tags...}` for numeric series, the document for blobs.
    pub data: Value,
}

/// The result of a read: rows, or `{"result": x}` for aggregates and `length`.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadOutput {
    /// Rows, in the form's order.
    Rows(Vec<Row>),
    /// An aggregate; `None` where it is undefined (e.g. the mean of nothing).
    Aggregate(Option<f64>),
    /// A count (`length` or `count`).
    Count(u64),
}

impl ReadOutput {
    /// The JSON the API returns.
    pub fn to_json(&self) -> Value {
        match self {
            ReadOutput::Rows(rows) => serde_json::to_value(rows).expect("rows serialize"),
            ReadOutput::Aggregate(x) => serde_json::json!({ "result": x }),
            ReadOutput::Count(n) => serde_json::json!({ "result": n }),
        }
    }
}

pub(crate) fn numeric_data(value: f64, tags: Option<&str>) -> Value {
    let mut m = match tags {
        Some(t) => serde_json::from_str::<Map<String, Value>>(t).unwrap_or_default(),
        None => Map::new(),
    };
    m.insert("value".into(), serde_json::json!(value));
    Value::Object(m)
}

/// How a key-value value is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ValueType {
    /// A JSON document (`application/json`).
    #[serde(rename = "json")]
    Json,
    /// UTF-8 text (`text/plain`).
    #[serde(rename = "text")]
    Text,
    /// Bytes (`application/octet-stream`).
    #[serde(rename = "binary")]
    Binary,
}

impl ValueType {
    /// The type for a request's Content-Type (JSON, text, anything else binary).
    pub fn from_content_type(ct: Option<&str>) -> Self {
        let essence = ct
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            ValueType::Json
        } else if essence.starts_with("text/") {
            ValueType::Text
        } else {
            ValueType::Binary
        }
    }

    pub(crate) fn code(self) -> i64 {
        self as i64
    }

    pub(crate) fn from_code(c: i64) -> Self {
        match c {
            0 => ValueType::Json,
            1 => ValueType::Text,
            _ => ValueType::Binary,
        }
    }

    /// Checks that bytes are what the type says.
    pub fn validate(self, bytes: &[u8]) -> Result<(), StoreError> {
        match self {
            ValueType::Json => serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
                .map(|_| ())
                .map_err(|e| StoreError::BadData(format!("the value is not valid JSON: {e}"))),
            ValueType::Text => std::str::from_utf8(bytes)
                .map(|_| ())
                .map_err(|_| StoreError::BadData("a text value must be UTF-8".into())),
            ValueType::Binary => Ok(()),
        }
    }
}

/// A key-value value with its type.
#[derive(Clone, Debug, PartialEq)]
pub struct KvValue {
    /// How the bytes are typed (and validated).
    pub value_type: ValueType,
    /// The exact media type the value was stored with, answered back on reads.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl KvValue {
    /// A value of the given media type (none: `application/octet-stream`), validated against it:
    /// JSON must parse, text must be UTF-8.
    pub fn new(content_type: Option<&str>, bytes: Vec<u8>) -> Result<Self, StoreError> {
        let content_type = content_type
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .unwrap_or("application/octet-stream");
        let essence = content_type.split(';').next().unwrap_or("").trim();
        let valid_essence = essence.split_once('/').is_some_and(|(t, s)| {
            let token = |x: &str| {
                !x.is_empty()
                    && x.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
            };
            token(t) && token(s)
        });
        if content_type.len() > 255 || !valid_essence || content_type.bytes().any(|b| b.is_ascii_control()) {
            return Err(StoreError::BadData(format!(
                "{:?} is not a media type (type/subtype, at most 255 characters)",
                content_type.chars().take(80).collect::<String>()
            )));
        }
        let value_type = ValueType::from_content_type(Some(content_type));
        value_type.validate(&bytes)?;
        Ok(KvValue {
            value_type,
            content_type: content_type.to_owned(),
            bytes,
        })
    }
}

/// What observers of a datasource are told after each committed write.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A point was written to a series.
    Point {
        /// Datasource.
        datasource: String,
        /// Epoch milliseconds.
        timestamp: i64,
        /// The point's data as a read would return it.
        data: Value,
    },
    /// A key was written.
    Put {
        /// Datasource.
        datasource: String,
        /// Key.
        key: String,
        /// The value's type (values themselves are read with a get).
        value_type: ValueType,
    },
    /// Keys or points were deleted.
    Delete {
        /// Datasource.
        datasource: String,
        /// The key, for a key-value delete of one key.
        #[serde(skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        /// How many points or keys went.
        count: u64,
    },
}

impl Event {
    /// The datasource the event is about.
    pub fn datasource(&self) -> &str {
        match self {
            Event::Point { datasource, .. }
            | Event::Put { datasource, .. }
            | Event::Delete { datasource, .. } => datasource,
        }
    }

    /// Whether a watcher whose grant covers only `window` (inclusive epoch milliseconds) may see
    /// it: points timed outside the window are hidden; other events carry no data values.
    pub fn is_visible_in(&self, window: Option<(i64, i64)>) -> bool {
        match (self, window) {
            (Event::Point { timestamp, .. }, Some((lo, hi))) => (lo..=hi).contains(timestamp),
            _ => true,
        }
    }
}
