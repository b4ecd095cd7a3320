//! The driver's HTTP side: routes, what each client is answered, and when. It takes the box as
//! a [`Store`], so the whole request handling is tested natively against
//! [`MemoryStore`](crate::memory::MemoryStore).
//!
//! | route | client | success |
//! |---|---|---|
//! | `GET /` | the owner's browser | the page: devices seen, how to set up each app |
//! | `POST /owntracks` | OwnTracks (HTTP mode); Overland's OwnTracks mode | `200 []` (`{"result":"ok"}` to Overland) |
//! | `POST /overland` | Overland | `200 {"result":"ok"}` |
//! | `GET` or `POST /gpslogger` | GPSLogger's custom URL | `200 ok` |
//!
//! # When a push is answered, and with what
//!
//! Success is answered only after every write returned, which the box does only after it
//! committed them durably (`synchronous=FULL`). Then the phone may forget what it sent.
//!
//! The OwnTracks iOS app deletes a queued message on any 4xx answer and keeps it (and retries,
//! the oldest first, nothing after it going out meanwhile) on 5xx or no answer (owntracks/ios
//! issue 665); the Android app and Overland keep and retry whatever was not acknowledged, and
//! Overland takes only `{"result":"ok"}` as an acknowledgement. So:
//!
//! - a fault of the box (a write that failed, the store unavailable) is a 5xx: `503` when the
//!   box says to retry later, `500` otherwise; nothing is lost, the phone sends it again;
//! - a body that is not JSON at all, or JSON that is no message, or an encrypted message whose
//!   `data` is not even a sealed box, is a `400`: nothing the box can change will make it
//!   readable, and the iOS app would otherwise retry it forever ahead of everything after it;
//! - single messages or features that cannot be stored (no position, a position out of range,
//!   an unknown `_type`) are skipped and the rest stored, and the body is acknowledged: they
//!   would be as unreadable next time;
//! - an encrypted message that does not open is the box's fault as long as it may be the
//!   owner's setting: without `owntracks_key` it is always `503` (setting the key makes every
//!   queued message readable); with a key that does not open it, `503` for
//!   [`DECRYPT_GRACE_MS`] from the device's first such failure (time to correct the key), then
//!   `400`, so that a message sealed under an old key cannot block the phone's queue forever.
//!   The page shows the problem while it lasts.

use databox_sdk::{Error, Request, Response};
use serde_json::json;

use crate::gpslogger;
use crate::overland::{self, Body};
use crate::owntracks::{self, Context, Refusal};
use crate::page;
use crate::records::{ClientNames, Row, Waypoint, device_id};
use crate::registry::{DecryptNote, DecryptProblem, Seen};
use crate::store::{self, Store, Written};

/// The header in which the box names the device that pushed (absent for the owner).
pub const DEVICE_HEADER: &str = "x-databox-device";

/// The largest body taken, far above an Overland batch of 1,000 points (about 500 KB).
pub const MAX_BODY: usize = 8 << 20;

/// How long messages that do not open under the owner's `owntracks_key` are answered `503`
/// (kept by the phone) before they are answered `400` (dropped): three days.
pub const DECRYPT_GRACE_MS: i64 = 3 * 24 * 3600 * 1000;

/// What the driver knows besides the request: the time and the owner's settings.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// Now, epoch ms.
    pub now_ms: i64,
    /// The owner's `owntracks_key` (empty counts as unset).
    pub owntracks_key: Option<String>,
}

/// Handles one request.
pub fn handle(req: &Request, env: &Env, store: &dyn Store) -> Response {
    let device = device_id(req.header(DEVICE_HEADER));
    if req.body().len() > MAX_BODY {
        return Response::text(413, format!("the body is over {MAX_BODY} bytes"));
    }
    let path = req.path().trim_end_matches('/');
    match path {
        "" => {
            if !(req.is("GET") || req.is("HEAD")) {
                return Response::method_not_allowed("GET");
            }
            // The page lists every device: the owner's, not a phone's to read.
            if req.header(DEVICE_HEADER).is_some() {
                return Response::text(403, "this page is the owner's; phones only push here");
            }
            page::response(store, env, req.header("host"))
        }
        "/owntracks" => {
            if !(req.is("POST") || req.is("PUT")) {
                return Response::method_not_allowed("POST");
            }
            owntracks(req, env, store, &device)
        }
        "/overland" => {
            if !req.is("POST") {
                return Response::method_not_allowed("POST");
            }
            overland(req, env, store, &device)
        }
        "/gpslogger" => {
            if !(req.is("GET") || req.is("POST")) {
                return Response::method_not_allowed("GET, POST");
            }
            gpslogger(req, env, store, &device)
        }
        _ => Response::not_found(),
    }
}

/// The status of a fault of the box.
fn status_of(e: &Error) -> u16 {
    if e.is_transient() { 503 } else { 500 }
}

fn owntracks_ok() -> Response {
    Response::bytes(200, "application/json", "[]")
}

fn overland_ok() -> Response {
    Response::json(&json!({"result": "ok"}))
}

fn overland_error(status: u16, message: &str) -> Response {
    let mut r = Response::json(&json!({"error": message}));
    r.status = status;
    r
}

/// Which client a push came from, for the shape of its answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    OwnTracks,
    Overland,
    GpsLogger,
}

impl Client {
    fn ok(self) -> Response {
        match self {
            Client::OwnTracks => owntracks_ok(),
            Client::Overland => overland_ok(),
            Client::GpsLogger => Response::text(200, "ok"),
        }
    }

    fn error(self, status: u16, message: &str) -> Response {
        match self {
            Client::Overland => overland_error(status, message),
            _ => Response::text(status, message.to_owned()),
        }
    }
}

/// What one push brought, parsed.
struct Push {
    rows: Vec<Row>,
    waypoints: Vec<Waypoint>,
    seen: Seen,
    note: DecryptNote,
    skipped: Vec<String>,
}

/// Stores a push and answers it: success only after the writes returned.
fn store_push(client: Client, push: Push, env: &Env, store: &dyn Store, device: &str) -> Response {
    let source = push.seen.source.unwrap_or("a phone");
    let written = store::write_rows(store, device, push.rows).and_then(|mut w: Written| {
        w.waypoints = store::write_waypoints(store, &push.waypoints)?;
        Ok(w)
    });
    let written = match written {
        Ok(w) => w,
        Err(e) => {
            databox_sdk::error!(
                "storing a push from {device} ({source}) failed, the phone will send it again: {e}"
            );
            return client.error(status_of(&e), &format!("the box could not store this now: {e}"));
        }
    };
    // The data is durable; the device's record can wait for its next push.
    if let Err(e) = store::note_device(store, device, &push.seen, push.note, env.now_ms) {
        databox_sdk::warn!("the record of device {device} was not updated: {e}");
    }
    if !push.skipped.is_empty() {
        databox_sdk::warn!(
            "{} item(s) from {device} ({source}) skipped: {}",
            push.skipped.len(),
            push.skipped.join("; ")
        );
    }
    databox_sdk::debug!(
        "{source} from {device}: {} stored, {} already there, {} waypoint(s)",
        written.total(),
        written.duplicates,
        written.waypoints
    );
    client.ok()
}

/// OwnTracks' names from the request: `X-Limit-U`/`X-Limit-D`, else `?u=&d=`.
fn owntracks_names(req: &Request) -> ClientNames {
    let user = req
        .header("x-limit-u")
        .map(str::to_owned)
        .or_else(|| req.query("u"));
    let device = req
        .header("x-limit-d")
        .map(str::to_owned)
        .or_else(|| req.query("d"));
    ClientNames::new(user.as_deref(), device.as_deref())
}

/// An OwnTracks body, from the OwnTracks apps or Overland's OwnTracks mode (`client`).
fn owntracks_body(client: Client, req: &Request, env: &Env, store: &dyn Store, device: &str) -> Response {
    let key = env.owntracks_key.as_deref().filter(|k| !k.is_empty());
    let ctx = Context {
        device,
        client: owntracks_names(req),
        now_ms: env.now_ms,
        key,
    };
    match owntracks::parse(req.body(), &ctx) {
        Ok(p) => {
            if p.corrected_2001 > 0 {
                databox_sdk::info!(
                    "{} OwnTracks time(s) from {device} were counted from 2001 (Overland's OwnTracks mode) and corrected",
                    p.corrected_2001
                );
            }
            let push = Push {
                rows: p.rows,
                waypoints: p.waypoints,
                seen: p.seen,
                note: if p.decrypted {
                    DecryptNote::Succeeded
                } else {
                    DecryptNote::Nothing
                },
                skipped: p.skipped,
            };
            store_push(client, push, env, store, device)
        }
        Err(Refusal::NotMessages(why)) | Err(Refusal::MalformedEncryption(why)) => {
            databox_sdk::warn!("an OwnTracks body from {device} was refused: {why}");
            client.error(400, &format!("not OwnTracks messages: {why}"))
        }
        Err(Refusal::Undecryptable(problem)) => undecryptable(client, problem, env, store, device),
    }
}

/// Answers a message that did not open (see the module's policy).
fn undecryptable(
    client: Client,
    problem: DecryptProblem,
    env: &Env,
    store: &dyn Store,
    device: &str,
) -> Response {
    let seen = Seen {
        source: Some(owntracks::SOURCE),
        ..Seen::default()
    };
    let since = store::note_device(store, device, &seen, DecryptNote::Failed(problem), env.now_ms)
        .ok()
        .and_then(|r| r.decrypt_failures.map(|f| f.since_ms))
        .unwrap_or(env.now_ms);
    match problem {
        DecryptProblem::NoKey => {
            databox_sdk::warn!(
                "device {device} sends encrypted OwnTracks messages but owntracks_key is not set; they wait on the phone"
            );
            client.error(
                503,
                "this box has no OwnTracks encryption key yet: the owner sets owntracks_key, then the phone's messages go through",
            )
        }
        DecryptProblem::WrongKey if env.now_ms - since < DECRYPT_GRACE_MS => {
            databox_sdk::warn!(
                "an OwnTracks message from {device} does not open with owntracks_key; it waits on the phone"
            );
            client.error(
                503,
                "the message does not open with this box's OwnTracks encryption key: the owner checks owntracks_key",
            )
        }
        DecryptProblem::WrongKey => {
            databox_sdk::warn!(
                "an OwnTracks message from {device} does not open with owntracks_key and has for three days: refused"
            );
            client.error(
                400,
                "the message does not open with this box's OwnTracks encryption key (for three days now): refused",
            )
        }
    }
}

fn owntracks(req: &Request, env: &Env, store: &dyn Store, device: &str) -> Response {
    // Overland's OwnTracks mode posts OwnTracks messages but needs Overland's answer.
    let client = if req
        .header("user-agent")
        .is_some_and(|ua| ua.trim_start().to_ascii_lowercase().starts_with("overland"))
    {
        Client::Overland
    } else {
        Client::OwnTracks
    };
    owntracks_body(client, req, env, store, device)
}

fn overland(req: &Request, env: &Env, store: &dyn Store, device: &str) -> Response {
    if req.body().trim_ascii().is_empty() {
        return overland_ok();
    }
    match overland::parse(req.body(), device) {
        Ok(Body::Batch(p)) => {
            let push = Push {
                rows: p.rows,
                waypoints: Vec::new(),
                seen: p.seen,
                note: DecryptNote::Nothing,
                skipped: p.skipped,
            };
            store_push(Client::Overland, push, env, store, device)
        }
        Ok(Body::OwnTracks) => owntracks_body(Client::Overland, req, env, store, device),
        Err(why) => {
            databox_sdk::warn!("an Overland body from {device} was refused: {why}");
            overland_error(400, &why)
        }
    }
}

fn gpslogger(req: &Request, env: &Env, store: &dyn Store, device: &str) -> Response {
    let params = match gpslogger::params(req.query_string(), req.body(), req.header("content-type")) {
        Ok(p) => p,
        Err(why) => return Response::text(400, why),
    };
    match gpslogger::parse(&params, device, env.now_ms) {
        Ok((row, seen)) => {
            let push = Push {
                rows: vec![row],
                waypoints: Vec::new(),
                seen,
                note: DecryptNote::Nothing,
                skipped: Vec::new(),
            };
            store_push(Client::GpsLogger, push, env, store, device)
        }
        Err(why) => {
            databox_sdk::warn!("a GPSLogger point from {device} was refused: {why}");
            Response::text(400, why)
        }
    }
}
