//! The hourly-chart app: every minute it reads the hourly statistics of the last 48 hours of the
//! series the owner chose as `source` (it is granted hourly statistics only), keeps them as one
//! JSON document under the key `last-48h` of its own key-value datasource `hourly`, and serves a
//! page drawing them (`GET /`) and the document itself (`GET /data.json`).
//!
//! The page is drawn by [`render`], which calls no host import, so it is tested natively.

pub mod render;

use databox_sdk::time::now_ms;
use databox_sdk::{Component, Datasource, Query, Request, Response, Result, config};

use render::Summary;

/// The component's name for the series it charts (a `[[requests]]` entry).
pub const SOURCE: &str = "source";
/// Its own key-value datasource (a `[[provides]]` entry).
pub const STATE: &str = "hourly";
/// The key the statistics are kept under.
pub const KEY: &str = "last-48h";

/// Reads the last 48 hours of hourly statistics and keeps them; returns how many hours hold data.
fn refresh() -> Result<usize> {
    let now = now_ms();
    let since = render::window_start(now);
    let rows = Datasource::named(SOURCE).read_hourly(&Query::since(since))?;
    let summary = Summary::new(SOURCE, now, &rows);
    Datasource::named(STATE).kv_put_json(KEY, &summary)?;
    Ok(summary.hours.len())
}

struct HourlyChart;

impl Component for HourlyChart {
    fn start() -> Result<()> {
        databox_sdk::info!("hourly chart started; refreshing every minute");
        // The first refresh may fail (the box busy, no data yet): the timer tries again.
        if let Err(e) = refresh() {
            databox_sdk::warn!("the first refresh failed, the timer will retry: {e}");
        }
        Ok(())
    }

    fn on_timer() -> Result<()> {
        refresh().map(|_| ())
    }

    fn handle(request: Request) -> Response {
        if !request.is("GET") {
            return Response::not_found();
        }
        let state = Datasource::named(STATE);
        if request.is_root() {
            let summary = match state.kv_get_json::<Summary>(KEY) {
                Ok(s) => s,
                Err(e) => return Response::error(&e),
            };
            let label = config::get("label").filter(|l| !l.trim().is_empty());
            return render::page_response(summary.as_ref(), label.as_deref());
        }
        if request.path() == "/data.json" {
            return match state.kv_get(KEY) {
                Ok(Some(v)) => Response::bytes(200, &v.content_type, v.bytes),
                Ok(None) => render::no_data_json(),
                Err(e) => Response::error(&e),
            };
        }
        Response::not_found()
    }
}

databox_sdk::export_component!(HourlyChart);
