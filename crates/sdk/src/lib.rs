//! The SDK for app and driver authors: typed datasource handles over the WIT bindings.
//!
//! Not built yet: this crate is the place for it (issue 4). External clients use the HTTP API
//! documented by the box's OpenAPI document (`/api/v1/openapi.json`).
