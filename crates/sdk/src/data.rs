//! The shapes of the box's data as JSON: rows a read returns, the answer of an aggregate, and the
//! points a write takes. Pure types and parsers, testable natively.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// One row of a read: `{"timestamp": ms, "data": ...}`, with `"datasource"` in joined reads.
///
/// `D` is the shape of `data`: [`Numeric`] for numeric series, [`HourlyStats`] for `hourly/`
/// reads, any deserializable type for the documents of blob series (default: raw JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row<D = Value> {
    /// Epoch milliseconds; for hourly rows, the start of the hour.
    pub timestamp: i64,
    /// The datasource, present in joined reads only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<String>,
    /// The point's data.
    pub data: D,
}

/// The data of a numeric point: `{"value": x, tag: "text", ...}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Numeric {
    /// The value.
    pub value: f64,
    /// Its tags (names to text values).
    #[serde(flatten)]
    pub tags: BTreeMap<String, String>,
}

/// A row of a numeric series.
pub type NumericRow = Row<Numeric>;

/// The statistics of one hour of a numeric series, as an `hourly/...` read returns them:
/// `{"timestamp": hour_start_ms, "data": {"count": n, "sum": s, "min": a, "max": b, "mean": m}}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HourlyStats {
    /// How many points the hour holds (at least 1).
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
    /// Their mean (`sum / count`).
    pub mean: f64,
}

/// A row of an `hourly/...` read; its `timestamp` is the start of the hour (UTC, epoch ms).
pub type HourlyRow = Row<HourlyStats>;

/// What a read answers: rows, or a number for aggregates and `length`.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Rows in the form's order, `data` as raw JSON.
    Rows(Vec<Row>),
    /// `{"result": x}`: `None` where the aggregate is undefined (the mean of nothing).
    Number(Option<f64>),
}

impl Answer {
    /// Parses the JSON a read returns.
    pub fn parse(json: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(json)?;
        match v {
            Value::Array(_) => Ok(Answer::Rows(serde_json::from_value(v)?)),
            Value::Object(ref m) if m.contains_key("result") => Ok(Answer::Number(result_of(&v)?)),
            other => Err(Error::Data(format!(
                "a read answers rows or {{\"result\": x}}, not {}",
                short(&other)
            ))),
        }
    }
}

/// Parses the rows of a read, each `data` as `D`.
pub fn parse_rows<D: DeserializeOwned>(json: &str) -> Result<Vec<Row<D>>> {
    match serde_json::from_str::<Value>(json)? {
        v @ Value::Array(_) => serde_json::from_value(v).map_err(|e| Error::Data(format!("a row: {e}"))),
        other => Err(Error::Data(format!(
            "expected rows (a JSON array), got {}; is the query an aggregate?",
            short(&other)
        ))),
    }
}

/// Parses the answer of an aggregate or `length`: `{"result": x}`, `None` for `null`.
pub fn parse_number(json: &str) -> Result<Option<f64>> {
    result_of(&serde_json::from_str::<Value>(json)?)
}

fn result_of(v: &Value) -> Result<Option<f64>> {
    match v.get("result") {
        Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        _ => Err(Error::Data(format!(
            "expected {{\"result\": number or null}}, got {}; is the query missing an aggregate?",
            short(v)
        ))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 80 {
        let mut end = 77;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    } else {
        s
    }
}

/// A numeric point to write: a value, an optional time and text tags.
///
/// ```
/// use databox_sdk::Point;
///
/// let p = Point::at(1_700_000_000_000, 230.5).tag("phase", "L1");
/// assert_eq!(
///     p.to_json().unwrap().to_string(),
///     r#"{"phase":"L1","timestamp":1700000000000,"value":230.5}"#
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Epoch milliseconds; `None` lets the box use the time of the write.
    pub timestamp: Option<i64>,
    /// The value (finite).
    pub value: f64,
    /// Tags: names (1-64 of `A-Z a-z 0-9 _ -`) to text.
    pub tags: BTreeMap<String, String>,
}

impl Point {
    /// A point timed by the box when it is written.
    pub fn new(value: f64) -> Self {
        Point {
            timestamp: None,
            value,
            tags: BTreeMap::new(),
        }
    }

    /// A point at `timestamp` (epoch milliseconds).
    pub fn at(timestamp: i64, value: f64) -> Self {
        Point {
            timestamp: Some(timestamp),
            ..Point::new(value)
        }
    }

    /// Adds a tag.
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(name.into(), value.into());
        self
    }

    /// The point as the box takes it: `{"value": x, "timestamp"?: ms, tag: "text"...}`, or
    /// [`Error::Invalid`] for a value that is not finite or a tag the box would refuse.
    pub fn to_json(&self) -> Result<Value> {
        if !self.value.is_finite() {
            return Err(Error::Invalid(format!(
                "a point's value must be finite, not {}",
                self.value
            )));
        }
        let mut m = serde_json::Map::new();
        for (k, v) in &self.tags {
            if k == "value" || k == "timestamp" {
                return Err(Error::Invalid(format!("{k:?} cannot be a tag name")));
            }
            crate::query::check_tag(k)?;
            m.insert(k.clone(), Value::String(v.clone()));
        }
        if let Some(t) = self.timestamp {
            if !(0..=crate::query::MAX_TIMESTAMP).contains(&t) {
                return Err(Error::Invalid(format!(
                    "timestamp {t} is outside 0..={} (epoch milliseconds)",
                    crate::query::MAX_TIMESTAMP
                )));
            }
            m.insert("timestamp".into(), Value::from(t));
        }
        m.insert("value".into(), Value::from(self.value));
        Ok(Value::Object(m))
    }
}

/// A key-value value and its media type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvValue {
    /// Its media type, e.g. `application/json`.
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl KvValue {
    /// The value as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.bytes).map_err(|e| Error::Data(format!("the value is not UTF-8: {e}")))
    }

    /// The value parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_numeric_rows_with_their_tags() {
        let json = r#"[{"timestamp":1000,"data":{"value":1.5,"phase":"L1"}},
                       {"timestamp":2000,"data":{"value":-2}}]"#;
        let rows: Vec<NumericRow> = parse_rows(json).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].timestamp, 1000);
        assert_eq!(rows[0].data.value, 1.5);
        assert_eq!(rows[0].data.tags["phase"], "L1");
        assert_eq!(rows[0].datasource, None);
        assert_eq!(rows[1].data.value, -2.0);
        assert!(rows[1].data.tags.is_empty());
    }

    #[test]
    fn parses_joined_rows_with_their_datasource() {
        let rows: Vec<NumericRow> =
            parse_rows(r#"[{"timestamp":5,"datasource":"solar","data":{"value":3}}]"#).unwrap();
        assert_eq!(rows[0].datasource.as_deref(), Some("solar"));
    }

    #[test]
    fn parses_hourly_rows_as_the_store_writes_them() {
        let json = r#"[{"timestamp":3600000,"data":{"count":4,"sum":10.0,"min":1.0,"max":4.0,"mean":2.5}}]"#;
        let rows: Vec<HourlyRow> = parse_rows(json).unwrap();
        assert_eq!(
            rows[0],
            Row {
                timestamp: 3_600_000,
                datasource: None,
                data: HourlyStats {
                    count: 4,
                    sum: 10.0,
                    min: 1.0,
                    max: 4.0,
                    mean: 2.5
                }
            }
        );
    }

    #[test]
    fn parses_blob_rows_into_the_authors_type() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Place {
            lat: f64,
            lon: f64,
        }
        let rows: Vec<Row<Place>> =
            parse_rows(r#"[{"timestamp":1,"data":{"lat":52.5,"lon":13.4,"extra":true}}]"#).unwrap();
        assert_eq!(rows[0].data, Place { lat: 52.5, lon: 13.4 });
    }

    #[test]
    fn parses_aggregate_answers_and_null() {
        assert_eq!(parse_number(r#"{"result": 2.5}"#).unwrap(), Some(2.5));
        assert_eq!(parse_number(r#"{"result": 7}"#).unwrap(), Some(7.0));
        assert_eq!(parse_number(r#"{"result": null}"#).unwrap(), None);
        assert!(matches!(parse_number("[]"), Err(Error::Data(_))));
    }

    #[test]
    fn tells_rows_from_numbers() {
        assert_eq!(
            Answer::parse(r#"{"result":3}"#).unwrap(),
            Answer::Number(Some(3.0))
        );
        match Answer::parse(r#"[{"timestamp":1,"data":{"a":1}}]"#).unwrap() {
            Answer::Rows(rows) => assert_eq!(rows[0].data["a"], 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(Answer::parse(r#""text""#), Err(Error::Data(_))));
        let err = parse_rows::<Numeric>(r#"{"result":1}"#).unwrap_err().to_string();
        assert!(err.contains("aggregate"), "{err}");
    }

    #[test]
    fn writes_points_as_the_box_takes_them() {
        assert_eq!(
            Point::new(1.0).to_json().unwrap(),
            serde_json::json!({"value": 1.0})
        );
        assert_eq!(
            Point::at(5, 2.0).tag("room", "hall").to_json().unwrap(),
            serde_json::json!({"timestamp": 5, "value": 2.0, "room": "hall"})
        );
    }

    #[test]
    fn refuses_points_the_box_would_refuse() {
        for bad in [
            Point::new(f64::NAN),
            Point::new(f64::INFINITY),
            Point::new(1.0).tag("value", "x"),
            Point::new(1.0).tag("bad tag", "x"),
            Point::at(-5, 1.0),
        ] {
            assert!(matches!(bad.to_json(), Err(Error::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn reads_kv_values_as_text_and_json() {
        let v = KvValue {
            content_type: "application/json".into(),
            bytes: br#"{"a":[1,2]}"#.to_vec(),
        };
        assert_eq!(v.text().unwrap(), r#"{"a":[1,2]}"#);
        let parsed: serde_json::Value = v.json().unwrap();
        assert_eq!(parsed["a"][1], 2);
        let bad = KvValue {
            content_type: "application/octet-stream".into(),
            bytes: vec![0xff],
        };
        assert!(bad.text().is_err());
    }
}
