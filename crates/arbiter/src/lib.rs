//! The arbiter decides who may do what in the box.
//!
//! - The **owner** holds one bearer token, created on first start, printed once and kept only as
//!   its SHA-256 (`owner.rs`).
//! - **Principals** (apps, drivers, external clients) hold capability tokens (biscuit) minted by
//!   the arbiter (`tokens.rs`); a holder can narrow a token offline.
//! - **Grants** say what each principal may do on which datasources, with time windows, expiry
//!   and granularity (`model.rs`).
//! - The owner's **dashboard login**: a password, one-time links and sessions (`login.rs`).
//! - [`Arbiter::authorize`] is the one check on the path to every data operation.

mod arbiter;
pub mod login;
mod model;
mod owner;
pub mod tokens;

pub use arbiter::{Access, Arbiter, Caller, DataRequest, Denial};
pub use login::{LoginError, NewSession, OwnerLogin, Session};
pub use model::{Grant, Granularity, Operation, Principal, PrincipalId, PrincipalKind, TokenInfo};
pub use owner::{OwnerToken, TOKEN_PREFIX};
pub use tokens::Attenuation;

/// The arbiter crate's error.
#[derive(Debug, thiserror::Error)]
pub enum ArbiterError {
    /// A file could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The owner token's hash file is damaged.
    #[error("{0} is damaged (expected 64 hex digits); reset the token with `databox owner-token reset`")]
    Corrupt(std::path::PathBuf),
    /// A malformed id, operation, grant or request.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It exists already.
    #[error("{0}")]
    Conflict(String),
    /// A token could not be made, read or narrowed.
    #[error("{0}")]
    Token(String),
}
