//! What one audit record says, and how it is hashed.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A data operation (read, observe, write, actuate, export) was attempted.
    Access,
    /// A token was minted.
    TokenMinted,
    /// A token was revoked.
    TokenRevoked,
    /// A grant was given.
    GrantAdded,
    /// A grant was taken back.
    GrantRevoked,
    /// A principal was registered.
    PrincipalAdded,
    /// A principal was removed.
    PrincipalRemoved,
    /// A store was created or erased, or a datasource changed, by the owner.
    Admin,
    /// The box started.
    BoxStarted,
    /// The box stopped.
    BoxStopped,
    /// The box signed the chain's head.
    Checkpoint,
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Allowed and done.
    Ok,
    /// Refused by the arbiter (401/403).
    Refused,
    /// Allowed but failed (bad request or box error).
    Failed,
}

/// An event to record; the log adds sequence number, time and hashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: Option<Kind>,
    /// Who (principal id; `owner` for the owner; `unknown` for an unauthenticated caller).
    pub principal: String,
    /// Operation: read, observe, write, actuate, export, or an admin verb.
    pub operation: String,
    /// Store id, when a store is concerned.
    pub store: Option<String>,
    /// Datasource id(s), when datasources are concerned.
    pub datasource: Option<String>,
    /// The query form or other detail (never data values), or the reason of a refusal.
    pub detail: Option<String>,
    /// Rows returned, points written, or requests folded together.
    pub count: Option<u64>,
    /// How it ended.
    pub outcome: Option<Outcome>,
}

impl Event {
    /// An access by `principal` doing `operation`.
    pub fn access(principal: &str, operation: &str) -> Event {
        Event {
            kind: Some(Kind::Access),
            principal: principal.to_owned(),
            operation: operation.to_owned(),
            outcome: Some(Outcome::Ok),
            ..Event::default()
        }
    }

    /// An event of another kind.
    pub fn of(kind: Kind, principal: &str, operation: &str) -> Event {
        Event {
            kind: Some(kind),
            principal: principal.to_owned(),
            operation: operation.to_owned(),
            outcome: Some(Outcome::Ok),
            ..Event::default()
        }
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the log, from 1, without gaps.
    pub seq: u64,
    /// Epoch milliseconds.
    pub time: i64,
    /// What happened.
    pub kind: Kind,
    /// Who.
    pub principal: String,
    /// Operation.
    pub operation: String,
    /// Store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Datasource(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<String>,
    /// Detail or reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
    /// SHA-256 (hex) of the previous record; zeros for the first.
    pub prev: String,
    /// SHA-256 (hex) of this record's other fields and `prev`.
    pub hash: String,
}

impl Record {
    /// The hash this record must carry: SHA-256 over its canonical JSON with `hash` empty.
    pub fn compute_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let bytes = serde_json::to_vec(&unhashed).expect("records serialize");
        hex::encode(Sha256::digest(&bytes))
    }

    /// Sets `hash` and returns the record's line (JSON and a newline), serializing only once:
    /// `hash` is the last field, so the hashed form and the line differ only in its value.
    pub(crate) fn seal(&mut self) -> Vec<u8> {
        self.hash = String::new();
        let mut line = serde_json::to_vec(&*self).expect("records serialize");
        self.hash = hex::encode(Sha256::digest(&line));
        debug_assert!(line.ends_with(b"\"hash\":\"\"}"));
        line.truncate(line.len() - 2);
        line.extend_from_slice(self.hash.as_bytes());
        line.extend_from_slice(b"\"}\n");
        line
    }
}

/// A filter over records; every given field must match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Principal id.
    pub principal: Option<String>,
    /// Store id.
    pub store: Option<String>,
    /// Datasource id (matches a record naming it, also within a join).
    pub datasource: Option<String>,
    /// Operation.
    pub operation: Option<String>,
    /// Outcome.
    pub outcome: Option<Outcome>,
    /// Kind.
    pub kind: Option<Kind>,
    /// From this time (epoch ms, inclusive).
    pub since: Option<i64>,
    /// Until this time (epoch ms, inclusive).
    pub until: Option<i64>,
    /// At most this many records, the newest ones (default 1000).
    pub limit: Option<usize>,
}

impl Query {
    /// Whether a record matches.
    pub fn matches(&self, r: &Record) -> bool {
        self.principal.as_ref().is_none_or(|p| &r.principal == p)
            && self.store.as_ref().is_none_or(|s| r.store.as_ref() == Some(s))
            && self.datasource.as_ref().is_none_or(|d| {
                r.datasource
                    .as_deref()
                    .is_some_and(|rd| rd.split(',').any(|x| x == d))
            })
            && self.operation.as_ref().is_none_or(|o| &r.operation == o)
            && self.outcome.is_none_or(|o| r.outcome == o)
            && self.kind.is_none_or(|k| r.kind == k)
            && self.since.is_none_or(|t| r.time >= t)
            && self.until.is_none_or(|t| r.time <= t)
    }
}
