//! The read and delete path language of the store, the same forms as the original Databox store
//! (zestdb), parsed into typed queries.
//!
//! ```text
//! read    := [ "hourly/" ] form { "/filter/" tag "/" ("equals" | "contains") "/" value } [ "/" aggregate ]
//! form    := "latest" | "earliest" | "last/" N | "first/" N | "since/" T | "range/" T1 "/" T2 | "length"
//! agg     := "sum" | "count" | "min" | "max" | "mean" | "median" | "sd"
//! delete  := "since/" T | "range/" T1 "/" T2
//! ```
//! N is 1..=[`MAX_N`]; T is epoch milliseconds in 0..=[`MAX_TIMESTAMP`]; ranges are inclusive.
//! Segments arrive percent-decoded, one per path segment.

use crate::{StoreError, TagName};

/// Largest N in `last/N` and `first/N`.
pub const MAX_N: u64 = 10_000_000;
/// Latest accepted timestamp: 9999-12-31T23:59:59.999Z.
pub const MAX_TIMESTAMP: i64 = 253_402_300_799_999;
/// Longest filter value.
pub const MAX_FILTER_VALUE: usize = 256;

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
    /// Points with timestamp >= T, oldest first.
    Since(i64),
    /// Points with T1 <= timestamp <= T2, oldest first.
    Range(i64, i64),
    /// The number of points (`{"result": n}`).
    Length,
}

impl Form {
    /// True for forms that return the newest points first.
    pub fn newest_first(self) -> bool {
        matches!(self, Form::Latest | Form::Last(_))
    }

    /// The row limit of the form, if it has one.
    pub fn limit(self) -> Option<u64> {
        match self {
            Form::Latest | Form::Earliest => Some(1),
            Form::Last(n) | Form::First(n) => Some(n),
            _ => None,
        }
    }

    /// The inclusive timestamp bounds of the form.
    pub fn bounds(self) -> (Option<i64>, Option<i64>) {
        match self {
            Form::Since(t) => (Some(t), None),
            Form::Range(a, b) => (Some(a), Some(b)),
            _ => (None, None),
        }
    }
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
    /// Tag name (for blobs: a top-level field).
    pub tag: TagName,
    /// Comparison.
    pub op: FilterOp,
    /// Value compared against (case-sensitive).
    pub value: String,
}

impl Filter {
    /// Whether a tag value passes this filter (the reference semantics the SQL must match).
    pub fn matches(&self, tag_value: Option<&str>) -> bool {
        match (tag_value, self.op) {
            (None, _) => false,
            (Some(v), FilterOp::Equals) => v == self.value,
            (Some(v), FilterOp::Contains) => v.contains(self.value.as_str()),
        }
    }
}

/// An aggregate applied to the values a read selects.
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
    /// Median; the mean of the two middle values for an even count (null for no points).
    Median,
    /// Sample standard deviation (null for fewer than two points).
    Sd,
}

impl Aggregate {
    /// All aggregates, in the order of the docs.
    pub const ALL: [Aggregate; 7] = [
        Aggregate::Sum,
        Aggregate::Count,
        Aggregate::Min,
        Aggregate::Max,
        Aggregate::Mean,
        Aggregate::Median,
        Aggregate::Sd,
    ];

    /// The path word of the aggregate.
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

    fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == word)
    }

    /// Computes the aggregate over `values` in memory (used for median and by the tests' model).
    pub fn compute(self, values: &mut [f64]) -> Option<f64> {
        let n = values.len();
        match self {
            Aggregate::Count => Some(n as f64),
            Aggregate::Sum => Some(values.iter().sum()),
            _ if n == 0 => None,
            Aggregate::Min => values.iter().copied().reduce(f64::min),
            Aggregate::Max => values.iter().copied().reduce(f64::max),
            Aggregate::Mean => Some(values.iter().sum::<f64>() / n as f64),
            Aggregate::Median => {
                let mid = n / 2;
                let (lower, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
                let m = *m;
                if n % 2 == 1 {
                    Some(m)
                } else {
                    let below = lower.iter().copied().reduce(f64::max).expect("n >= 2");
                    Some((below + m) / 2.0)
                }
            }
            Aggregate::Sd => {
                if n < 2 {
                    return None;
                }
                let mean = values.iter().sum::<f64>() / n as f64;
                let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
                Some((ss / (n - 1) as f64).sqrt())
            }
        }
    }
}

/// A parsed read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadQuery {
    /// Read the downsampled hourly history instead of the raw points.
    pub hourly: bool,
    /// Which points.
    pub form: Form,
    /// Tag filters, all of which must match.
    pub filters: Vec<Filter>,
    /// Aggregate over the selected values, if any.
    pub aggregate: Option<Aggregate>,
    /// Inclusive time bounds the reader may see (from its grant), applied on top of the form:
    /// `last/10` with a window is the last 10 points inside the window.
    pub window: Option<(i64, i64)>,
}

impl ReadQuery {
    /// The read's form without filter values (what was asked, never data), for the audit log.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.hourly {
            s.push_str("hourly/");
        }
        s.push_str(&match self.form {
            Form::Latest => "latest".into(),
            Form::Earliest => "earliest".into(),
            Form::Last(n) => format!("last/{n}"),
            Form::First(n) => format!("first/{n}"),
            Form::Since(t) => format!("since/{t}"),
            Form::Range(a, b) => format!("range/{a}/{b}"),
            Form::Length => "length".into(),
        });
        for f in &self.filters {
            s.push_str(&format!("/filter/{}", f.tag));
        }
        if let Some(a) = self.aggregate {
            s.push('/');
            s.push_str(a.name());
        }
        s
    }

    /// The inclusive time bounds of the read: the form's, narrowed by the window.
    pub fn bounds(&self) -> (Option<i64>, Option<i64>) {
        let (lo, hi) = self.form.bounds();
        match self.window {
            None => (lo, hi),
            Some((wlo, whi)) => (
                Some(lo.map_or(wlo, |l| l.max(wlo))),
                Some(hi.map_or(whi, |h| h.min(whi))),
            ),
        }
    }
}

/// A parsed delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteQuery {
    /// Delete points with timestamp >= T.
    Since(i64),
    /// Delete points with T1 <= timestamp <= T2.
    Range(i64, i64),
}

fn bad(msg: impl Into<String>) -> StoreError {
    StoreError::BadQuery(msg.into())
}

/// Parses an epoch-millisecond timestamp path segment.
pub fn parse_timestamp(s: &str) -> Result<i64, StoreError> {
    let t: i64 = s.parse().map_err(|_| {
        bad(format!(
            "{s:?} is not a timestamp (epoch milliseconds, an integer)"
        ))
    })?;
    check_timestamp(t)
}

/// Checks that a timestamp is within the accepted range.
pub fn check_timestamp(t: i64) -> Result<i64, StoreError> {
    if !(0..=MAX_TIMESTAMP).contains(&t) {
        return Err(bad(format!(
            "timestamp {t} is outside 0..={MAX_TIMESTAMP} (epoch milliseconds)"
        )));
    }
    Ok(t)
}

fn parse_n(s: &str) -> Result<u64, StoreError> {
    let n: u64 = s
        .parse()
        .map_err(|_| bad(format!("{s:?} is not a count (a positive integer)")))?;
    if n == 0 || n > MAX_N {
        return Err(bad(format!("count {n} is out of range 1..={MAX_N}")));
    }
    Ok(n)
}

fn parse_range(a: &str, b: &str) -> Result<(i64, i64), StoreError> {
    let (t1, t2) = (parse_timestamp(a)?, parse_timestamp(b)?);
    if t1 > t2 {
        return Err(bad(format!("range start {t1} is after its end {t2}")));
    }
    Ok((t1, t2))
}

struct Cursor<'a> {
    segs: &'a [String],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn next(&mut self, what: &str) -> Result<&'a str, StoreError> {
        let s = self
            .segs
            .get(self.pos)
            .ok_or_else(|| bad(format!("missing {what}")))?;
        self.pos += 1;
        Ok(s.as_str())
    }
    fn peek(&self) -> Option<&'a str> {
        self.segs.get(self.pos).map(String::as_str)
    }
}

const FORMS: &str = "latest, earliest, last/N, first/N, since/T, range/T1/T2 or length";

fn parse_form(c: &mut Cursor<'_>) -> Result<Form, StoreError> {
    let word = c.next(&format!("read form ({FORMS})"))?;
    Ok(match word {
        "latest" => Form::Latest,
        "earliest" => Form::Earliest,
        "length" => Form::Length,
        "last" => Form::Last(parse_n(c.next("N after last/")?)?),
        "first" => Form::First(parse_n(c.next("N after first/")?)?),
        "since" => Form::Since(parse_timestamp(c.next("T after since/")?)?),
        "range" => {
            let (a, b) = parse_range(c.next("T1 after range/")?, c.next("T2 after range/T1/")?)?;
            Form::Range(a, b)
        }
        other => return Err(bad(format!("unknown read form {other:?}; expected {FORMS}"))),
    })
}

/// Parses the segments after `/ts/{datasources}/` of a read.
pub fn parse_read(segments: &[String]) -> Result<ReadQuery, StoreError> {
    let mut c = Cursor {
        segs: segments,
        pos: 0,
    };
    let hourly = c.peek() == Some("hourly");
    if hourly {
        c.pos += 1;
    }
    let form = parse_form(&mut c)?;
    let mut filters = Vec::new();
    let mut aggregate = None;
    while let Some(word) = c.peek() {
        c.pos += 1;
        if word == "filter" {
            let tag = TagName::new(c.next("tag name after filter/")?)?;
            let op = match c.next("equals or contains after filter/TAG/")? {
                "equals" => FilterOp::Equals,
                "contains" => FilterOp::Contains,
                other => {
                    return Err(bad(format!(
                        "unknown filter {other:?}; expected equals or contains"
                    )));
                }
            };
            let value = c.next("value after filter/TAG/OP/")?.to_owned();
            if value.len() > MAX_FILTER_VALUE {
                return Err(bad(format!(
                    "filter value is longer than {MAX_FILTER_VALUE} bytes"
                )));
            }
            filters.push(Filter { tag, op, value });
        } else if let Some(a) = Aggregate::parse(word) {
            if form == Form::Length {
                return Err(bad(
                    "length is already an aggregate; nothing may follow it but filters",
                ));
            }
            aggregate = Some(a);
            if let Some(rest) = c.peek() {
                return Err(bad(format!(
                    "unexpected {rest:?} after the aggregate {}",
                    a.name()
                )));
            }
        } else {
            return Err(bad(format!(
                "unexpected {word:?}; expected filter/TAG/equals|contains/VALUE or an aggregate \
                 (sum, count, min, max, mean, median, sd)"
            )));
        }
    }
    Ok(ReadQuery {
        hourly,
        form,
        filters,
        aggregate,
        window: None,
    })
}

/// Parses the segments after `/ts/{datasource}/` of a delete.
pub fn parse_delete(segments: &[String]) -> Result<DeleteQuery, StoreError> {
    let mut c = Cursor {
        segs: segments,
        pos: 0,
    };
    let q = match c.next("since/T or range/T1/T2")? {
        "since" => DeleteQuery::Since(parse_timestamp(c.next("T after since/")?)?),
        "range" => {
            let (a, b) = parse_range(c.next("T1 after range/")?, c.next("T2 after range/T1/")?)?;
            DeleteQuery::Range(a, b)
        }
        other => return Err(bad(format!("deletes take since/T or range/T1/T2, not {other:?}"))),
    };
    if let Some(rest) = c.peek() {
        return Err(bad(format!("unexpected {rest:?} after the delete range")));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn segs(path: &str) -> Vec<String> {
        path.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn parses_every_form_with_filters_and_aggregate() {
        let q = parse_read(&segs("last/10/filter/room/equals/lounge/mean")).unwrap();
        assert_eq!(q.form, Form::Last(10));
        assert_eq!(q.filters.len(), 1);
        assert_eq!(q.aggregate, Some(Aggregate::Mean));
        assert_eq!(
            parse_read(&segs("range/5/9/filter/a/contains/x/filter/b/equals/y"))
                .unwrap()
                .filters
                .len(),
            2
        );
        assert!(parse_read(&segs("hourly/since/0")).unwrap().hourly);
        assert_eq!(parse_read(&segs("length")).unwrap().form, Form::Length);
    }

    #[test]
    fn refuses_bad_reads_with_a_reason() {
        for (path, needle) in [
            ("last/0", "out of range"),
            ("last/99999999999", "out of range"),
            ("last/x", "not a count"),
            ("range/9/5", "after its end"),
            ("since/-1", "outside"),
            ("latest/average", "unexpected \"average\""),
            ("latest/mean/filter", "after the aggregate"),
            ("length/sum", "already an aggregate"),
            ("latest/filter/room/like/x", "unknown filter"),
            ("latest/filter/../equals/x", "tag name"),
            ("sometime", "unknown read form"),
            ("range/1", "missing T2"),
        ] {
            let err = parse_read(&segs(path)).unwrap_err().to_string();
            assert!(err.contains(needle), "{path}: {err}");
        }
        assert!(parse_delete(&segs("last/5")).is_err());
        assert_eq!(
            parse_delete(&segs("range/1/2")).unwrap(),
            DeleteQuery::Range(1, 2)
        );
    }

    #[test]
    fn aggregates_of_nothing_are_defined() {
        assert_eq!(Aggregate::Count.compute(&mut []), Some(0.0));
        assert_eq!(Aggregate::Sum.compute(&mut []), Some(0.0));
        assert_eq!(Aggregate::Mean.compute(&mut []), None);
        assert_eq!(Aggregate::Sd.compute(&mut [1.0]), None);
        assert_eq!(Aggregate::Median.compute(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    proptest! {
        #[test]
        fn parser_never_panics_and_roundtrips_valid_paths(
            words in proptest::collection::vec("[a-z0-9/]{0,12}", 0..6),
            n in 1u64..1000, t1 in 0i64..1_000_000, dt in 0i64..1_000_000,
        ) {
            let _ = parse_read(&words);
            let _ = parse_delete(&words);
            let path = format!("range/{t1}/{}/filter/tag/contains/v/sd", t1 + dt);
            let q = parse_read(&segs(&path)).unwrap();
            prop_assert_eq!(q.form, Form::Range(t1, t1 + dt));
            prop_assert_eq!(parse_read(&segs(&format!("last/{n}"))).unwrap().form, Form::Last(n));
        }
    }
}
