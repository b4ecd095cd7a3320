//! The phone-location driver: receives the locations phones push with the real OwnTracks,
//! Overland and GPSLogger apps and keeps them in its own store, each point once, at its own time.
//!
//! The box passes it the requests to `/app/phone-location/...` with the header
//! `x-databox-device` naming the device whose token pushed (none for the owner, who is device
//! `owner`). [`app`] routes and answers them; [`owntracks`], [`overland`] and [`gpslogger`] parse
//! each app's payloads into the box's location documents ([`location`], the `databox-location`
//! crate); [`store`] writes them without duplicates; [`page`] draws the owner's page. All of it
//! is tested natively against [`memory::MemoryStore`]; this file only ties it to the box.
//!
//! | datasource | kind | what |
//! |---|---|---|
//! | `locations` | blob series | [`location::Fix`] per position, at the fix's time |
//! | `region-events` | blob series | [`records::RegionEvent`] per OwnTracks enter/leave, at its time |
//! | `visits` | blob series | [`location::PlaceVisit`] per ended Overland visit, at its arrival |
//! | `trips` | blob series | [`location::ActivitySegment`] per Overland trip, at its start |
//! | `waypoints` | key-value | [`records::Waypoint`] per OwnTracks waypoint, by device and id or name |
//! | `devices` | key-value | [`registry::DeviceRecord`] per device, and the index of devices |

pub mod app;
pub mod gpslogger;
/// The box's one location document shape (the `databox-location` crate, shared with the importers).
pub use databox_location as location;
pub mod memory;
pub mod overland;
pub mod owntracks;
pub mod page;
pub mod records;
pub mod registry;
pub mod store;
pub mod time;

use databox_sdk::{Component, Datasource, Query, Request, Response, Result, config};
use serde_json::Value;

use crate::store::Store;

/// The box, through the SDK: the driver's own datasources.
pub struct BoxStore;

impl Store for BoxStore {
    fn read_rows(&self, series: &str, from: i64, to: i64, device: &str) -> Result<Vec<(i64, Value)>> {
        let query = Query::range(from, to).filter_equals("device", device);
        Ok(Datasource::named(series)
            .read_rows::<Value>(&query)?
            .into_iter()
            .map(|r| (r.timestamp, r.data))
            .collect())
    }

    fn write_rows(&self, series: &str, rows: &[(i64, Value)]) -> Result<u64> {
        // A batch in the read format, `[{"timestamp": ms, "data": document}]`, as the box's
        // `POST .../batch` takes it: each document at its own time, all in one transaction.
        let batch: Vec<Value> = rows
            .iter()
            .map(|(t, doc)| serde_json::json!({"timestamp": t, "data": doc}))
            .collect();
        Datasource::named(series).write_json(&Value::Array(batch))
    }

    fn count(&self, series: &str, device: &str) -> Result<u64> {
        let n = Datasource::named(series).read_number(&Query::length().filter_equals("device", device))?;
        Ok(n.unwrap_or(0.0) as u64)
    }

    fn latest(&self, series: &str, device: &str) -> Result<Option<i64>> {
        let rows =
            Datasource::named(series).read_rows::<Value>(&Query::latest().filter_equals("device", device))?;
        Ok(rows.first().map(|r| r.timestamp))
    }

    fn kv_get(&self, datasource: &str, key: &str) -> Result<Option<Value>> {
        Datasource::named(datasource).kv_get_json(key)
    }

    fn kv_put(&self, datasource: &str, key: &str, value: &Value) -> Result<()> {
        Datasource::named(datasource).kv_put_json(key, value)
    }
}

struct PhoneLocation;

impl Component for PhoneLocation {
    fn start() -> Result<()> {
        databox_sdk::info!(
            "receiving OwnTracks, Overland and GPSLogger pushes at /owntracks, /overland and /gpslogger"
        );
        Ok(())
    }

    fn handle(request: Request) -> Response {
        let env = app::Env {
            now_ms: databox_sdk::time::now_ms(),
            owntracks_key: config::get("owntracks_key"),
        };
        app::handle(&request, &env, &BoxStore)
    }
}

databox_sdk::export_component!(PhoneLocation);
