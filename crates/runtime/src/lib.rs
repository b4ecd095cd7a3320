//! The runtime: installs apps and drivers from their manifests and runs them as WebAssembly
//! components in a sandbox (wasmtime, WASI 0.2) with memory, CPU and time limits.
//!
//! Built so far: the manifest ([`manifest`]), parsed and validated with errors that name the field,
//! and the plain-language permission review an owner sees before installing. The WIT worlds are in
//! `wit/`. The wasmtime host, lifecycle and limits are not built yet (issue 4).

pub mod install;
pub mod manifest;

pub use manifest::{Manifest, ManifestError};
