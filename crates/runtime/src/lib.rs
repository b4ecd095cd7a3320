//! The runtime: installs apps and drivers from their manifests and runs them as WebAssembly
//! components in a sandbox (wasmtime, WASI 0.2) with memory, CPU and time limits.
//!
//! Built so far: the manifest ([`manifest`]), parsed and validated with errors that name the field,
//! the plain-language permission review, install from the owner's choices ([`install`]), and the
//! wasmtime host for the `driver` world with memory and time limits whose `datastore` import
//! passes the arbiter and the audit log ([`host`]). The WIT worlds are in `wit/`. Lifecycle
//! (start/stop/restart, timers), the app world, outbound HTTP and the SDK are not built yet.

pub mod host;
pub mod install;
pub mod manifest;

pub use manifest::{Manifest, ManifestError};
