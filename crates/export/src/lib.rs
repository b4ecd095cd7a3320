//! The export service: the only way data leaves the box, only to destinations the owner approved,
//! durably queued, retried, and receipted.
//!
//! Not built yet: this crate is the place for it (issue 5).
