//! The places-summary app: from the owner's location fixes (pushed by phones through the
//! phone-location driver, or imported from Google) it shows how far they travelled each day, where
//! they spent the most time, and an hour-by-hour chart of moving and still, without a map: the
//! page is drawn on the box, as inline SVG, and loads nothing from anywhere.
//!
//! Every 15 minutes (and at start) [`refresh::refresh`] brings the summary up to date: it counts
//! each shown day's fixes, computes again only the days whose count changed (today, and past days
//! that received late points), newest first, for at most [`WORK_BUDGET_MS`] per call, and keeps
//! the finished days and the summary in the app's own key-value datasource `summary`.
//!
//! | module | what |
//! |---|---|
//! | [`track`] | one day of one device's fixes: distance, stays, moving and still per hour |
//! | [`places`] | stays or visits gathered into places, ranked by time |
//! | [`refresh`] | which days to compute, reading them in slices, the cache and the summary |
//! | [`page`] | the page and its SVG charts |
//! | [`geo`] | haversine distances |
//! | [`location`] | the box's location shapes (the `databox-location` crate) |
//!
//! All of it is tested natively; this file only ties it to the box.

pub mod geo;
/// The box's one location document shape (the `databox-location` crate, shared with the importers).
pub use databox_location as location;
pub mod page;
pub mod places;
pub mod refresh;
pub mod track;

use std::time::{Duration, Instant};

use databox_sdk::{Aggregate, Component, Datasource, Error, Query, Request, Response, Result, config};

use location::PlaceVisit;
use refresh::{Cache, FixPoint, Settings, Source, Summary};

/// The fixes (a `[[requests]]` entry, required).
pub const LOCATIONS: &str = "locations";
/// The visits (a `[[requests]]` entry, optional).
pub const VISITS: &str = "visits";
/// The app's own key-value datasource (a `[[provides]]` entry).
pub const STATE: &str = "summary";
/// The key of the summary the page draws.
pub const SUMMARY_KEY: &str = "summary";
/// The key of the finished days.
pub const DAYS_KEY: &str = "days";
/// After this much time in a call no further day is started: with the reads of the day under
/// way it stays well inside the manifest's 5 s of CPU, even for a day of a fix every second.
pub const WORK_BUDGET_MS: u64 = 1_500;
/// Days shown when the setting is missing or unreadable.
pub const DEFAULT_DAYS: u32 = 30;
/// The most days shown: a quarter of a year.
pub const MAX_DAYS: u32 = 92;

/// The owner's settings, with a message for the log when one was unusable.
pub fn settings_from(days: Option<&str>, device: Option<&str>) -> (Settings, Option<String>) {
    let (days, problem) = match days.map(str::trim).filter(|d| !d.is_empty()) {
        None => (DEFAULT_DAYS, None),
        Some(d) => match d.parse::<u32>() {
            Ok(n) if (1..=MAX_DAYS).contains(&n) => (n, None),
            Ok(n) => (
                n.clamp(1, MAX_DAYS),
                Some(format!(
                    "days = {n} is outside 1..={MAX_DAYS}; showing {}",
                    n.clamp(1, MAX_DAYS)
                )),
            ),
            Err(_) => (
                DEFAULT_DAYS,
                Some(format!("days = {d:?} is not a number; showing {DEFAULT_DAYS}")),
            ),
        },
    };
    let device = device.map(str::trim).filter(|d| !d.is_empty()).map(str::to_owned);
    (Settings { days, device }, problem)
}

/// The box's datasources, through the SDK.
struct BoxSource {
    device: Option<String>,
}

impl BoxSource {
    fn query(&self, q: Query) -> Query {
        match &self.device {
            Some(d) => q.filter_equals("device", d),
            None => q,
        }
    }
}

impl Source for BoxSource {
    fn count(&mut self, from: i64, to: i64) -> Result<u64> {
        let q = self.query(Query::range(from, to).aggregate(Aggregate::Count));
        Ok(Datasource::named(LOCATIONS).read_number(&q)?.unwrap_or(0.0) as u64)
    }

    fn fixes(&mut self, from: i64, to: i64) -> Result<Vec<FixPoint>> {
        let q = self.query(Query::range(from, to));
        // Parsed straight from the answer's text: only the fields measured are kept.
        refresh::parse_fixes(&Datasource::named(LOCATIONS).read_raw(&q.to_path()?)?)
    }

    fn visits(&mut self, from: i64, to: i64) -> Result<Option<Vec<PlaceVisit>>> {
        match Datasource::named(VISITS).read_raw(&Query::range(from, to).to_path()?) {
            Ok(json) => refresh::parse_visits(&json).map(Some),
            // Not mapped (the owner declined it), the datasource gone, or the grant revoked: the
            // visits are optional, so the places come from the fixes instead of the app failing.
            Err(Error::NotFound(_) | Error::Denied(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// One refresh: reads the cache, computes what changed within the budget, keeps the result.
fn run() -> Result<()> {
    let started = Instant::now();
    let (settings, problem) = settings_from(config::get("days").as_deref(), config::get("device").as_deref());
    if let Some(p) = problem {
        databox_sdk::warn!("{p}");
    }
    let state = Datasource::named(STATE);
    // A cache that no longer reads (an older version of the app) is computed again.
    let cache: Option<Cache> = state.kv_get_json(DAYS_KEY).unwrap_or_else(|e| {
        databox_sdk::warn!("the cached days do not read ({e}); computing them again");
        None
    });
    let mut src = BoxSource {
        device: settings.device.clone(),
    };
    let budget = Duration::from_millis(WORK_BUDGET_MS);
    let done = refresh::refresh(
        &mut src,
        cache,
        &settings,
        databox_sdk::time::now_ms(),
        &mut || started.elapsed() >= budget,
    )?;
    state.kv_put_json(DAYS_KEY, &done.cache)?;
    state.kv_put_json(SUMMARY_KEY, &done.summary)?;
    databox_sdk::info!(
        "computed {} days ({} fixes in {} reads) in {} ms; {} of {} days still to compute",
        done.computed.len(),
        done.fixes_read,
        done.reads,
        started.elapsed().as_millis(),
        done.summary.pending,
        settings.days
    );
    Ok(())
}

struct PlacesSummary;

impl Component for PlacesSummary {
    fn start() -> Result<()> {
        databox_sdk::info!("places summary started; refreshing every 15 minutes");
        // The first refresh may fail (the box busy): the timer tries again.
        if let Err(e) = run() {
            databox_sdk::warn!("the first refresh failed, the timer will retry: {e}");
        }
        Ok(())
    }

    fn on_timer() -> Result<()> {
        run()
    }

    fn handle(request: Request) -> Response {
        if !request.is("GET") {
            return Response::method_not_allowed("GET");
        }
        let state = Datasource::named(STATE);
        if request.is_root() {
            return match state.kv_get_json::<Summary>(SUMMARY_KEY) {
                Ok(s) => page::page_response(s.as_ref()),
                // A summary of an older version: say so rather than fail.
                Err(Error::Data(_)) => page::page_response(None),
                Err(e) => Response::error(&e),
            };
        }
        if request.path() == "/data.json" {
            return match state.kv_get(SUMMARY_KEY) {
                Ok(Some(v)) => Response::bytes(200, &v.content_type, v.bytes),
                Ok(None) => page::no_data_json(),
                Err(e) => Response::error(&e),
            };
        }
        Response::not_found()
    }
}

databox_sdk::export_component!(PlacesSummary);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_fall_back_to_defaults_and_say_why() {
        let (s, p) = settings_from(None, None);
        assert_eq!((s.days, s.device, p), (30, None, None));
        let (s, p) = settings_from(Some(" 7 "), Some(" pixel "));
        assert_eq!((s.days, s.device.as_deref(), p), (7, Some("pixel"), None));
        let (s, p) = settings_from(Some("400"), Some(""));
        assert_eq!((s.days, s.device), (92, None));
        assert!(p.unwrap().contains("outside"));
        let (s, p) = settings_from(Some("a month"), None);
        assert_eq!(s.days, 30);
        assert!(p.unwrap().contains("not a number"));
    }
}
