//! Principals, operations, grants and tokens as the arbiter keeps them.

use std::fmt;

use databox_store::query::Form;
use databox_store::{DatasourceId, ReadQuery, StoreId};
use serde::{Deserialize, Serialize};

use crate::ArbiterError;

/// The id of a principal: same rules as store ids (1-64 of `A-Z a-z 0-9 _ -`, starting with a
/// letter or digit); `owner`, `box` and `unknown` are reserved.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalId(String);

impl PrincipalId {
    /// Validates an id.
    pub fn new(id: impl Into<String>) -> Result<Self, ArbiterError> {
        let id = id.into();
        StoreId::new(id.clone())
            .map_err(|e| ArbiterError::Invalid(e.to_string().replace("store id", "principal id")))?;
        if ["owner", "box", "unknown"].contains(&id.as_str()) {
            return Err(ArbiterError::Invalid(format!("principal id {id:?} is reserved")));
        }
        Ok(PrincipalId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PrincipalId {
    type Error = ArbiterError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PrincipalId::new(s)
    }
}

impl From<PrincipalId> for String {
    fn from(p: PrincipalId) -> String {
        p.0
    }
}

impl fmt::Display for PrincipalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What kind of principal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// An installed app.
    App,
    /// An installed driver.
    Driver,
    /// Anything outside the box: a phone, a script, a third party.
    Client,
}

impl PrincipalKind {
    /// Parses `app`, `driver` or `client`.
    pub fn parse(s: &str) -> Result<Self, ArbiterError> {
        match s {
            "app" => Ok(PrincipalKind::App),
            "driver" => Ok(PrincipalKind::Driver),
            "client" => Ok(PrincipalKind::Client),
            other => Err(ArbiterError::Invalid(format!(
                "unknown principal kind {other:?}; expected app, driver or client"
            ))),
        }
    }
}

/// Someone or something the owner lets near the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Principal {
    /// Its id.
    pub id: PrincipalId,
    /// App, driver or client.
    pub kind: PrincipalKind,
    /// What it is, in the owner's words.
    pub description: String,
    /// When it was added (epoch ms).
    pub created: i64,
}

/// An operation on data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Read points, values and aggregates.
    Read,
    /// Stream new writes.
    Observe,
    /// Write, and delete, data.
    Write,
    /// Write to an actuator datasource (makes something happen in the world).
    Actuate,
    /// Send data out of the box.
    Export,
}

impl Operation {
    /// All operations.
    pub const ALL: [Operation; 5] = [
        Operation::Read,
        Operation::Observe,
        Operation::Write,
        Operation::Actuate,
        Operation::Export,
    ];

    /// The operation's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Observe => "observe",
            Operation::Write => "write",
            Operation::Actuate => "actuate",
            Operation::Export => "export",
        }
    }

    /// Parses an operation name.
    pub fn parse(s: &str) -> Result<Self, ArbiterError> {
        Operation::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                ArbiterError::Invalid(format!(
                    "unknown operation {s:?}; expected read, observe, write, actuate or export"
                ))
            })
    }
}

/// How fine the data a grant lets its holder read may be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// Individual points and values.
    #[default]
    Raw,
    /// Only aggregates (sum, count, min, max, mean, median, sd, length) over time ranges of at
    /// least an hour: never a single point, never the newest or oldest N.
    Aggregates,
    /// Only hourly statistics (`hourly/...`): count, sum, min, max and mean per hour.
    Hourly,
}

impl Granularity {
    /// Parses `raw`, `aggregates` or `hourly`.
    pub fn parse(s: &str) -> Result<Self, ArbiterError> {
        match s {
            "raw" => Ok(Granularity::Raw),
            "aggregates" => Ok(Granularity::Aggregates),
            "hourly" => Ok(Granularity::Hourly),
            other => Err(ArbiterError::Invalid(format!(
                "unknown granularity {other:?}; expected raw, aggregates or hourly"
            ))),
        }
    }

    /// Whether a read is at or above this granularity; if not, what is allowed.
    pub fn allows(self, q: &ReadQuery) -> Result<(), String> {
        match self {
            Granularity::Raw => Ok(()),
            Granularity::Hourly if q.hourly => Ok(()),
            Granularity::Hourly => Err("this grant allows hourly statistics only: read hourly/FORM \
                 (count, sum, min, max and mean per hour)"
                .into()),
            Granularity::Aggregates => {
                let aggregated = q.aggregate.is_some() || q.form == Form::Length;
                let wide = match q.form {
                    Form::Since(_) | Form::Length => true,
                    Form::Range(a, b) => b - a >= 3_600_000 - 1,
                    _ => false,
                };
                if aggregated && wide {
                    Ok(())
                } else {
                    Err(
                        "this grant allows aggregates only, over since/T, length, or a range of at least an \
                         hour (e.g. since/T/mean); individual points, latest and last/N are not allowed"
                            .into(),
                    )
                }
            }
        }
    }
}

/// The owner's permission: a principal may do an operation on a datasource (or every datasource
/// of a store), within limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Its id (`g-` and 16 hex digits).
    pub id: String,
    /// Who.
    pub principal: PrincipalId,
    /// What.
    pub operation: Operation,
    /// Which store.
    pub store: StoreIdText,
    /// Which datasource; `None` for every datasource of the store.
    pub datasource: Option<String>,
    /// The oldest data it may see (epoch ms).
    pub since: Option<i64>,
    /// The newest data it may see (epoch ms).
    pub until: Option<i64>,
    /// When the grant ends (epoch ms).
    pub expires: Option<i64>,
    /// How fine the data may be.
    #[serde(default)]
    pub granularity: Granularity,
    /// Why the owner gave it (shown in the statement and the dashboard).
    #[serde(default)]
    pub purpose: String,
    /// When it was given (epoch ms).
    pub created: i64,
}

/// A store id kept as text in the registry (validated on the way in).
pub type StoreIdText = String;

impl Grant {
    /// Whether the grant covers `op` on `store`/`ds` at `now`.
    pub fn covers(&self, op: Operation, store: &StoreId, ds: Option<&DatasourceId>, now: i64) -> bool {
        self.operation == op
            && self.store == store.as_str()
            && match (&self.datasource, ds) {
                (None, _) => true,
                (Some(g), Some(d)) => g == d.as_str(),
                (Some(_), None) => false,
            }
            && self.expires.is_none_or(|e| now < e)
    }

    /// The window of data the grant lets its holder see.
    pub fn window(&self) -> Option<(i64, i64)> {
        (self.since.is_some() || self.until.is_some()).then(|| {
            (
                self.since.unwrap_or(0),
                self.until.unwrap_or(databox_store::query::MAX_TIMESTAMP),
            )
        })
    }

    /// Whether a read stays within the grant's window; explicit bounds outside it are refused,
    /// forms without bounds are narrowed to it.
    pub fn window_allows(&self, q: &ReadQuery) -> Result<(), String> {
        let Some((lo, hi)) = self.window() else {
            return Ok(());
        };
        let (qlo, qhi) = q.form.bounds();
        if qlo.is_some_and(|t| t < lo) || qhi.is_some_and(|t| t > hi) {
            return Err(format!(
                "outside the time window: this grant covers data from {} to {}",
                crate::tokens::rfc3339(lo),
                crate::tokens::rfc3339(hi)
            ));
        }
        Ok(())
    }
}

/// A token the arbiter minted (the token itself is never stored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Its id (`t-` and 16 hex digits).
    pub id: String,
    /// Whose.
    pub principal: PrincipalId,
    /// What it is for.
    pub description: String,
    /// When it was minted (epoch ms).
    pub created: i64,
    /// When it expires (epoch ms).
    pub expires: Option<i64>,
    /// The revocation id of its first block (hex): revoking it revokes the token and every token
    /// attenuated from it.
    pub revocation_id: String,
    /// Whether it was revoked.
    pub revoked: bool,
}
