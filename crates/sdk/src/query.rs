//! The store's read language, built by a typed builder so that a component can only send what
//! the store parses.
//!
//! ```text
//! read    := [ "hourly/" ] form { "/filter/" tag "/" ("equals" | "contains") "/" value } [ "/" aggregate ]
//! form    := "latest" | "earliest" | "last/" N | "first/" N | "since/" T | "range/" T1 "/" T2 | "length"
//! agg     := "sum" | "count" | "min" | "max" | "mean" | "median" | "sd"
//! ```
//!
//! N is 1..=10,000,000; T is epoch milliseconds; ranges are inclusive. Filter values are
//! percent-encoded as one path segment each (everything but `A-Z a-z 0-9 - _ . ~ ,`), exactly as
//! in the box's HTTP API, so a value may hold any text, `/` included; the box decodes each
//! segment after splitting the query on `/`.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{Error, Result};

/// Largest N of `last/N` and `first/N`.
pub const MAX_N: u64 = 10_000_000;
/// Latest timestamp the store accepts: 9999-12-31T23:59:59.999Z, in epoch milliseconds.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799_999;
/// Longest filter value, in bytes (before encoding).
pub const MAX_FILTER_VALUE: usize = 256;

/// Characters escaped in a path segment: everything but unreserved characters and `,` (the same
/// set as the box's command-line client).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b',');

/// Which points a read selects, before filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// The newest point.
    Latest,
    /// The oldest point.
    Earliest,
    /// The newest N points, newest first.
    Last(u64),
    /// The oldest N points, oldest first.
    First(u64),
    /// Points with timestamp >= T (epoch ms), oldest first.
    Since(i64),
    /// Points with T1 <= timestamp <= T2 (epoch ms), oldest first.
    Range(i64, i64),
    /// The number of points (`{"result": n}`).
    Length,
}

/// How a filter compares a tag's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOp {
    /// The tag equals the value exactly.
    Equals,
    /// The tag contains the value as a substring.
    Contains,
}

/// One tag filter; several are combined with AND.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    /// Tag name (for blob series: a top-level field).
    pub tag: String,
    /// Comparison.
    pub op: FilterOp,
    /// The value compared against (case-sensitive), unencoded.
    pub value: String,
}

/// An aggregate over the values a read selects; the answer is `{"result": x}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregate {
    /// Sum (0 for no points).
    Sum,
    /// Number of points.
    Count,
    /// Smallest value (null for no points).
    Min,
    /// Largest value (null for no points).
    Max,
    /// Arithmetic mean (null for no points).
    Mean,
    /// Median (null for no points); not available over hourly history.
    Median,
    /// Sample standard deviation (null for fewer than two points); not available over hourly
    /// history.
    Sd,
}

impl Aggregate {
    /// The word of the aggregate in the read language.
    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Sum => "sum",
            Aggregate::Count => "count",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Mean => "mean",
            Aggregate::Median => "median",
            Aggregate::Sd => "sd",
        }
    }
}

/// A read, built step by step and checked when it is turned into the read language.
///
/// ```
/// use databox_sdk::{Aggregate, Query};
///
/// let q = Query::last(10).filter_equals("phase", "L1").aggregate(Aggregate::Mean);
/// assert_eq!(q.to_path().unwrap(), "last/10/filter/phase/equals/L1/mean");
///
/// let day = Query::since(1_700_000_000_000).hourly();
/// assert_eq!(day.to_path().unwrap(), "hourly/since/1700000000000");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    hourly: bool,
    form: Form,
    filters: Vec<Filter>,
    aggregate: Option<Aggregate>,
}

impl Query {
    /// A read of the given form, without filters or aggregate.
    pub fn new(form: Form) -> Self {
        Query {
            hourly: false,
            form,
            filters: Vec::new(),
            aggregate: None,
        }
    }

    /// The newest point.
    pub fn latest() -> Self {
        Self::new(Form::Latest)
    }

    /// The oldest point.
    pub fn earliest() -> Self {
        Self::new(Form::Earliest)
    }

    /// The newest `n` points, newest first.
    pub fn last(n: u64) -> Self {
        Self::new(Form::Last(n))
    }

    /// The oldest `n` points, oldest first.
    pub fn first(n: u64) -> Self {
        Self::new(Form::First(n))
    }

    /// Points at or after `t` (epoch milliseconds), oldest first.
    pub fn since(t: i64) -> Self {
        Self::new(Form::Since(t))
    }

    /// Points from `t1` to `t2` inclusive (epoch milliseconds), oldest first.
    pub fn range(t1: i64, t2: i64) -> Self {
        Self::new(Form::Range(t1, t2))
    }

    /// The number of points (answered as `{"result": n}`).
    pub fn length() -> Self {
        Self::new(Form::Length)
    }

    /// Reads the hourly statistics instead of the raw points: one row per hour with count, sum,
    /// min, max and mean (see [`HourlyRow`](crate::HourlyRow)). Hourly reads take no filters.
    pub fn hourly(mut self) -> Self {
        self.hourly = true;
        self
    }

    /// Keeps only points whose tag `tag` equals `value`.
    pub fn filter_equals(self, tag: impl Into<String>, value: impl Into<String>) -> Self {
        self.filter(tag, FilterOp::Equals, value)
    }

    /// Keeps only points whose tag `tag` contains `value`.
    pub fn filter_contains(self, tag: impl Into<String>, value: impl Into<String>) -> Self {
        self.filter(tag, FilterOp::Contains, value)
    }

    /// Adds a tag filter.
    pub fn filter(mut self, tag: impl Into<String>, op: FilterOp, value: impl Into<String>) -> Self {
        self.filters.push(Filter {
            tag: tag.into(),
            op,
            value: value.into(),
        });
        self
    }

    /// Aggregates the selected values (replacing an earlier aggregate).
    pub fn aggregate(mut self, aggregate: Aggregate) -> Self {
        self.aggregate = Some(aggregate);
        self
    }

    /// Whether this reads hourly statistics.
    pub fn is_hourly(&self) -> bool {
        self.hourly
    }

    /// The form.
    pub fn form(&self) -> Form {
        self.form
    }

    /// The filters.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// The aggregate, if any.
    pub fn aggregate_of(&self) -> Option<Aggregate> {
        self.aggregate
    }

    /// Whether the answer is `{"result": x}` rather than rows.
    pub fn answers_a_number(&self) -> bool {
        self.aggregate.is_some() || self.form == Form::Length
    }

    /// The query in the store's read language, or [`Error::Invalid`] naming what the store
    /// would refuse.
    pub fn to_path(&self) -> Result<String> {
        let mut s = String::new();
        if self.hourly {
            s.push_str("hourly/");
        }
        match self.form {
            Form::Latest => s.push_str("latest"),
            Form::Earliest => s.push_str("earliest"),
            Form::Length => s.push_str("length"),
            Form::Last(n) => s.push_str(&format!("last/{}", check_n(n)?)),
            Form::First(n) => s.push_str(&format!("first/{}", check_n(n)?)),
            Form::Since(t) => s.push_str(&format!("since/{}", check_timestamp(t)?)),
            Form::Range(a, b) => {
                let (a, b) = (check_timestamp(a)?, check_timestamp(b)?);
                if a > b {
                    return Err(invalid(format!("range start {a} is after its end {b}")));
                }
                s.push_str(&format!("range/{a}/{b}"));
            }
        }
        if self.hourly && !self.filters.is_empty() {
            return Err(invalid("hourly history has no tags to filter on"));
        }
        for f in &self.filters {
            check_tag(&f.tag)?;
            if f.value.len() > MAX_FILTER_VALUE {
                return Err(invalid(format!(
                    "filter value for tag {:?} is longer than {MAX_FILTER_VALUE} bytes",
                    f.tag
                )));
            }
            let op = match f.op {
                FilterOp::Equals => "equals",
                FilterOp::Contains => "contains",
            };
            s.push_str(&format!("/filter/{}/{op}/{}", f.tag, encode_segment(&f.value)));
        }
        if let Some(a) = self.aggregate {
            if self.form == Form::Length {
                return Err(invalid("length is already an aggregate; add no other"));
            }
            if self.hourly && matches!(a, Aggregate::Median | Aggregate::Sd) {
                return Err(invalid(format!(
                    "{} cannot be computed from hourly history (it keeps count, sum, min and max)",
                    a.name()
                )));
            }
            s.push('/');
            s.push_str(a.name());
        }
        Ok(s)
    }
}

/// Shows the read language, or `<invalid query: ...>` when [`Query::to_path`] would refuse it.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_path() {
            Ok(p) => f.write_str(&p),
            Err(e) => write!(f, "<invalid query: {e}>"),
        }
    }
}

/// Percent-encodes one path segment of the read language (as the box's HTTP API expects).
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

fn check_n(n: u64) -> Result<u64> {
    if n == 0 || n > MAX_N {
        return Err(invalid(format!("count {n} is out of range 1..={MAX_N}")));
    }
    Ok(n)
}

fn check_timestamp(t: i64) -> Result<i64> {
    if !(0..=MAX_TIMESTAMP).contains(&t) {
        return Err(invalid(format!(
            "timestamp {t} is outside 0..={MAX_TIMESTAMP} (epoch milliseconds)"
        )));
    }
    Ok(t)
}

/// Checks a tag name: 1-64 of `A-Z a-z 0-9 _ -`, starting with a letter, a digit or `_`.
pub(crate) fn check_tag(tag: &str) -> Result<()> {
    let ok = !tag.is_empty()
        && tag.len() <= 64
        && tag
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "tag name {tag:?} must be 1-64 of A-Z a-z 0-9 _ -, starting with a letter, digit or _"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(q: Query) -> String {
        q.to_path().unwrap()
    }

    fn refused(q: Query) -> String {
        match q.to_path() {
            Err(Error::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn builds_every_form() {
        assert_eq!(path(Query::latest()), "latest");
        assert_eq!(path(Query::earliest()), "earliest");
        assert_eq!(path(Query::last(10)), "last/10");
        assert_eq!(path(Query::first(3)), "first/3");
        assert_eq!(path(Query::since(0)), "since/0");
        assert_eq!(path(Query::range(5, 9)), "range/5/9");
        assert_eq!(path(Query::range(7, 7)), "range/7/7");
        assert_eq!(path(Query::length()), "length");
    }

    #[test]
    fn builds_every_aggregate() {
        let all = [
            (Aggregate::Sum, "sum"),
            (Aggregate::Count, "count"),
            (Aggregate::Min, "min"),
            (Aggregate::Max, "max"),
            (Aggregate::Mean, "mean"),
            (Aggregate::Median, "median"),
            (Aggregate::Sd, "sd"),
        ];
        for (a, word) in all {
            assert_eq!(path(Query::since(1).aggregate(a)), format!("since/1/{word}"));
        }
    }

    #[test]
    fn puts_hourly_first_filters_in_order_and_the_aggregate_last() {
        assert_eq!(
            path(
                Query::since(1_700_000_000_000)
                    .hourly()
                    .aggregate(Aggregate::Mean)
            ),
            "hourly/since/1700000000000/mean"
        );
        assert_eq!(
            path(
                Query::last(10)
                    .aggregate(Aggregate::Max)
                    .filter_equals("phase", "L1")
                    .filter_contains("room", "kitchen")
            ),
            "last/10/filter/phase/equals/L1/filter/room/contains/kitchen/max"
        );
        assert_eq!(
            path(Query::length().filter_equals("a", "b")),
            "length/filter/a/equals/b"
        );
    }

    #[test]
    fn percent_encodes_filter_values_as_one_segment() {
        assert_eq!(
            path(Query::latest().filter_equals("room", "living room/2 ü%")),
            "latest/filter/room/equals/living%20room%2F2%20%C3%BC%25"
        );
        assert_eq!(
            path(Query::latest().filter_equals("t", "a-b_c.d~e,f")),
            "latest/filter/t/equals/a-b_c.d~e,f"
        );
        assert_eq!(
            path(Query::latest().filter_equals("t", "")),
            "latest/filter/t/equals/"
        );
    }

    #[test]
    fn refuses_what_the_store_would_refuse() {
        assert!(refused(Query::last(0)).contains("out of range"));
        assert!(refused(Query::first(MAX_N + 1)).contains("out of range"));
        assert!(refused(Query::since(-1)).contains("outside"));
        assert!(refused(Query::range(0, MAX_TIMESTAMP + 1)).contains("outside"));
        assert!(refused(Query::range(9, 5)).contains("after its end"));
        assert!(refused(Query::length().aggregate(Aggregate::Sum)).contains("already an aggregate"));
        assert!(refused(Query::latest().filter_equals("a/b", "x")).contains("tag name"));
        assert!(refused(Query::latest().filter_equals("", "x")).contains("tag name"));
        assert!(refused(Query::latest().filter_equals("-x", "x")).contains("tag name"));
        assert!(refused(Query::latest().filter_equals("t", "x".repeat(257))).contains("longer than"));
        assert!(refused(Query::since(0).hourly().filter_equals("t", "x")).contains("no tags"));
        assert!(refused(Query::since(0).hourly().aggregate(Aggregate::Median)).contains("hourly"));
        assert_eq!(
            path(Query::latest().filter_equals("_x-1", "v")),
            "latest/filter/_x-1/equals/v"
        );
        assert_eq!(path(Query::last(MAX_N)), format!("last/{MAX_N}"));
    }

    #[test]
    fn displays_the_path_or_why_not() {
        assert_eq!(Query::last(2).to_string(), "last/2");
        assert!(Query::last(0).to_string().starts_with("<invalid query: "));
    }

    #[test]
    fn knows_when_the_answer_is_a_number() {
        assert!(Query::length().answers_a_number());
        assert!(Query::since(0).aggregate(Aggregate::Count).answers_a_number());
        assert!(!Query::last(5).answers_a_number());
    }
}
