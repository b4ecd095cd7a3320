//! The audit log: an append-only, hash-chained record of every access to the box, with Ed25519
//! signed checkpoints, verification, queries, a live tail and the owner's monthly statement.
//!
//! Guarantees:
//! - every record carries the SHA-256 of the one before it, so changing, removing or reordering a
//!   record breaks the chain at that record ([`verify`] names it);
//! - every [`CHECKPOINT_EVERY`] records, and when the log closes, the box signs the chain's head
//!   with its own key; the latest checkpoint is also kept outside the log, so cutting the log's
//!   tail is detected too;
//! - records describe accesses (who, what operation, which datasource, which query form, how many
//!   rows), never the data itself;
//! - high-rate writes are folded into one record per principal, datasource and second.

mod log;
mod record;
mod statement;
mod verify;

pub use log::{AuditLog, CHECKPOINT_EVERY};
pub use record::{Event, Kind, Outcome, Query, Record};
pub use statement::{month_bounds, statement};
pub use verify::{VerifyReport, verify};

/// The audit crate's error.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The log or its keys are damaged or were tampered with.
    #[error("{0}")]
    Tampered(String),
    /// A query or statement request is malformed.
    #[error("{0}")]
    BadRequest(String),
}

impl AuditError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        AuditError::Io {
            context: context.into(),
            source,
        }
    }
}
