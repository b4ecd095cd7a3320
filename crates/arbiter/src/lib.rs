//! The arbiter decides who may do what in the box.
//!
//! For now it knows one principal, the owner, holding one bearer token: created on first start,
//! printed once, and kept on disk only as its SHA-256 hash, so reading the data directory does not
//! give the token away. Every HTTP route passes [`OwnerToken::verify`] (constant-time). Principals,
//! grants and scoped, attenuable tokens come next (issue 3) and will replace this single check
//! behind the same call site.

mod owner;

pub use owner::{ArbiterError, OwnerToken, TOKEN_PREFIX};
