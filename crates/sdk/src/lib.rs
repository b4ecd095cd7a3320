//! The SDK for Databox apps and drivers: WebAssembly components (target `wasm32-wasip2`) that
//! the box runs in its sandbox.
//!
//! A component implements [`Component`] (the handlers it needs: `start`, `on_timer`, `on_data`,
//! `handle`) and exports it with [`export_component!`]. It reaches data only through
//! [`Datasource`] handles, by the names its manifest gives them: the `name` of a `[[requests]]`
//! entry (mapped by the owner to one of their datasources at install) or the `id` of a
//! `[[provides]]` entry (in its own store). Every call passes the box's permission check under
//! the component's own principal and is audited, exactly like an HTTP API call.
//!
//! | module | what |
//! |---|---|
//! | [`Datasource`], [`Query`] | reads in the store's read language, typed rows, writes, key-value, observe, actuate |
//! | [`Request`], [`Response`] | the component's own pages (apps with `ui = true`) and push endpoints |
//! | [`log`] and [`info!`] etc. | the component's log, shown to the owner (never log data values) |
//! | [`config`] | the owner's settings (`[[config]]`) |
//! | [`export`] | sending data out of the box (apps, to approved destinations only) |
//! | [`host_metrics`] | the box host's CPU, memory and disk (the host-metrics driver only) |
//! | `http` (feature `http`) | outbound HTTP for drivers, to the manifest's `network.hosts` |
//! | [`time`] | epoch milliseconds, as the box counts time |
//!
//! # Example: an app that charts the last day of a series
//!
//! `Cargo.toml`: `crate-type = ["cdylib"]` and `databox-sdk` as a dependency; build with
//! `cargo build --release --target wasm32-wasip2`. The manifest requests `source`
//! (`type = "*"`, `operations = ["read"]`, `granularity = "hourly"`), provides a key-value
//! datasource `state`, and sets `[schedule] every_seconds = 300`.
//!
//! ```
//! use databox_sdk::time::{HOUR_MS, now_ms};
//! use databox_sdk::{Component, Datasource, HourlyRow, Query, Request, Response, Result};
//!
//! struct DayChart;
//!
//! impl Component for DayChart {
//!     fn start() -> Result<()> {
//!         databox_sdk::info!("day chart started");
//!         Self::on_timer()
//!     }
//!
//!     /// Every five minutes: keep the hourly statistics of the last day in our own store.
//!     fn on_timer() -> Result<()> {
//!         let query = Query::since(now_ms() - 24 * HOUR_MS).hourly();
//!         let hours: Vec<HourlyRow> = Datasource::named("source").read_hourly(&query)?;
//!         Datasource::named("state").kv_put_json("day", &hours)?;
//!         databox_sdk::info!("kept {} hours", hours.len());
//!         Ok(())
//!     }
//!
//!     fn handle(request: Request) -> Response {
//!         if !request.is("GET") {
//!             return Response::not_found();
//!         }
//!         let hours: Vec<HourlyRow> = match Datasource::named("state").kv_get_json("day") {
//!             Ok(found) => found.unwrap_or_default(),
//!             Err(e) => return Response::error(&e),
//!         };
//!         match request.path() {
//!             "" | "/" => Response::html(page(&hours)),
//!             "/data.json" => Response::json(&hours),
//!             _ => Response::not_found(),
//!         }
//!     }
//! }
//!
//! /// Pure, so a native `cargo test` can check it.
//! fn page(hours: &[HourlyRow]) -> String {
//!     let rows: String = hours
//!         .iter()
//!         .map(|h| format!("<tr><td>{}</td><td>{:.2}</td></tr>", h.timestamp, h.data.mean))
//!         .collect();
//!     format!("<!doctype html><title>Day</title><table>{rows}</table>")
//! }
//!
//! databox_sdk::export_component!(DayChart);
//! # fn main() {}
//! ```
//!
//! # Testing natively
//!
//! The crate also compiles for the machine you develop on, so pure parts of a component (page
//! rendering, parsing) can be unit-tested with a plain `cargo test`; calls into the box panic
//! there, except logging, which goes to standard error.

#![warn(missing_docs)]

extern crate self as databox_sdk;

mod component;
mod data;
mod datasource;
mod error;
mod query;
mod web;

pub mod config;
pub mod export;
pub mod host_metrics;
#[cfg(feature = "http")]
pub mod http;
pub mod log;
pub mod time;

#[doc(hidden)]
pub use component::__private;
pub use component::Component;
pub use data::{
    Answer, HourlyRow, HourlyStats, KvValue, Numeric, NumericRow, Point, Row, parse_number, parse_rows,
};
pub use datasource::Datasource;
pub use error::{Error, Result};
pub use query::{
    Aggregate, Filter, FilterOp, Form, MAX_FILTER_VALUE, MAX_N, MAX_TIMESTAMP, Query, encode_segment,
};
pub use web::{Request, Response, escape_html};

/// The bindings generated from the WIT world `all` (`wit/databox.wit`): the raw imports and the
/// `handlers` export. Prefer the typed API above; these are here for what it does not cover.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "all",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "__export_all",
        default_bindings_module: "databox_sdk::bindings",
    });
}
