//! The runtime: installs apps and drivers from their manifests and runs them as WebAssembly
//! components in a sandbox (wasmtime, WASI 0.2) with memory, CPU and time limits.
//!
//! Not built yet: this crate is the place for it (issue 4).
