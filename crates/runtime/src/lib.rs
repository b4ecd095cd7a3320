//! The runtime: installs apps and drivers from their manifests and runs them as WebAssembly
//! components in a sandbox (wasmtime, WASI 0.2) with memory, CPU, wall-time and output limits.
//!
//! - [`manifest`]: the manifest, parsed and validated with errors that name the field, and the
//!   plain-language permission review;
//! - [`install`]: the owner's choices become a principal, grants, a token and the component's
//!   own store;
//! - [`host`]: the wasmtime host, linking per kind (apps: no network; drivers: HTTP filtered to
//!   their manifest's hosts), with every data import through the arbiter and the audit log;
//! - [`supervisor`]: the lifecycle (install, upgrade, start, stop, restart with backoff,
//!   uninstall, restore after a restart), timers, observed data and HTTP requests.

pub mod host;
pub mod install;
pub mod manifest;
pub mod supervisor;

pub use manifest::{Manifest, ManifestError};
pub use supervisor::{ComponentInfo, InstallRequest, Status, Supervisor, SupervisorError};
