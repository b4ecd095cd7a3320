//! The audit log: an append-only, hash-chained record of every access, with signed checkpoints,
//! verification, queries and the owner's monthly statement.
//!
//! Not built yet: this crate is the place for it (issue 3). Until then the box keeps no audit
//! records; nothing in the box pretends otherwise.
