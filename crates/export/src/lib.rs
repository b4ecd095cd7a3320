//! The export service: the only way data leaves the box. An app (through its `data-export`
//! import) asks to send a body to a destination; the caller has already checked that the owner
//! approved that destination for that app. The service:
//!
//! - refuses destinations the owner revoked since, and bodies over the app's size limit;
//! - queues each export **durably** in its own encrypted store (`exports`) before answering, so a
//!   crash or restart loses none;
//! - holds it for the owner's decision when the app is on **review**; a rejected export is never
//!   sent and its body is deleted;
//! - delivers with retries and exponential backoff, within the app's hourly rate, sending the
//!   export's id as `Idempotency-Key`, so a destination that honours it sees each export once even
//!   when a delivery is repeated after a crash;
//! - delivers in **per-app lanes**: different apps' exports go out concurrently (at most eight
//!   deliveries at once), so a destination that hangs delays only its own app's exports; one
//!   app's exports go out one after the other, oldest first, so its hourly rate stays exact;
//! - records every attempt and outcome in the audit log and a **receipt** for every delivery
//!   (destination, size, SHA-256 of the body, the approval it used, time, HTTP status); keeps a
//!   copy of what was sent only when the owner chose to.

pub mod ca;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use databox_audit::{AuditLog, Event, Kind, Outcome};
use databox_store::{
    DatasourceId, DatasourceKind, DatasourceMeta, KvKey, KvValue, Store, StoreError, StoreId, Stores, now_ms,
};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The store holding the queue, the bodies and the settings.
pub const STORE: &str = "exports";
const QUEUE: &str = "queue";
const BODIES: &str = "bodies";
const SETTINGS: &str = "settings";
/// After this many failed attempts an export is given up.
pub const MAX_ATTEMPTS: u32 = 12;
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Most deliveries in flight at once, over all apps: each is an open connection that may hang
/// for the client's whole timeout, so a flood of apps or clients cannot open unbounded ones.
const LANES: usize = 8;

/// Why the service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The owner revoked this destination, or the body is over the app's limit.
    #[error("{0}")]
    Refused(String),
    /// No such export.
    #[error("no export {0}")]
    NotFound(String),
    /// The export is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The queue's store failed.
    #[error("the export queue: {0}")]
    Store(#[from] StoreError),
}

/// Where an export is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportState {
    /// Waiting for the owner to approve or reject it.
    Review,
    /// Waiting to be sent (or to be sent again).
    Queued,
    /// Sent; the destination answered 2xx.
    Delivered,
    /// Given up: the destination refused it, or every attempt failed.
    Failed,
    /// The owner rejected it; never sent.
    Rejected,
    /// The owner revoked its destination before it was sent.
    Cancelled,
}

/// The proof of a delivery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Where it went.
    pub destination: String,
    /// Body size, bytes.
    pub size: u64,
    /// SHA-256 of the body, hex.
    pub sha256: String,
    /// The owner's approval it was sent under.
    pub grant: String,
    /// When the destination answered, epoch ms.
    pub delivered_ms: i64,
    /// The destination's HTTP status.
    pub status: u16,
    /// Attempts it took.
    pub attempts: u32,
}

/// One export.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Export {
    /// Its id, also its `Idempotency-Key`.
    pub id: String,
    /// The app that asked.
    pub app: String,
    /// Where to.
    pub destination: String,
    /// The body's media type.
    pub content_type: String,
    /// Body size, bytes.
    pub size: u64,
    /// SHA-256 of the body, hex.
    pub sha256: String,
    /// The owner's approval it falls under (the manifest destination approved at install).
    pub grant: String,
    /// The app's hourly limit, from its manifest.
    pub per_hour: u32,
    /// Where it is.
    pub state: ExportState,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due, epoch ms.
    pub next_attempt_ms: i64,
    /// When it was asked for, epoch ms.
    pub created_ms: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Its receipt, once delivered.
    pub receipt: Option<Receipt>,
}

/// What an app asks to send, with the limits its approval carries.
pub struct Submission<'a> {
    /// The app.
    pub app: &'a str,
    /// The destination (already checked against the owner's approvals by the caller).
    pub destination: &'a str,
    /// The approval it falls under.
    pub grant: &'a str,
    /// The body's media type.
    pub content_type: &'a str,
    /// The body.
    pub body: &'a [u8],
    /// Largest body, bytes.
    pub max_bytes: u64,
    /// Most deliveries per hour for this app.
    pub per_hour: u32,
}

/// A destination the owner approved for an external client (apps have theirs in their
/// manifest, approved at install).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    /// An exact URL, or a prefix ending in `/`.
    pub destination: String,
    /// Largest body, bytes.
    pub max_bytes: u64,
    /// Most deliveries per hour.
    pub per_hour: u32,
}

/// Whether `destination` is `approved` exactly, or lies under an approved prefix ending in `/`.
/// The URL is normalised first, so `..` segments cannot climb out of a prefix, and URLs with
/// credentials never match. Under a prefix, the destination must also have the prefix's scheme,
/// host and port, and nothing after the prefix that a server could read as a `..` segment once
/// it percent-decodes it (`..%2f`, `%2e%2e%5c`, `..;/`, double encoding): normalising resolves
/// only the `..` it can see.
pub fn is_approved(approved: &str, destination: &str) -> bool {
    let (Some(a), Some(d)) = (normalize(approved), normalize(destination)) else {
        return false;
    };
    if d == a {
        return true;
    }
    if !(a.ends_with('/') && d.starts_with(&a)) {
        return false;
    }
    let (Ok(au), Ok(du)) = (url::Url::parse(&a), url::Url::parse(&d)) else {
        return false;
    };
    // Always so for http(s); a URL without a host (`x:/`) would otherwise lend its prefix to
    // every host (`x://evil/`).
    if au.scheme() != du.scheme()
        || au.host() != du.host()
        || au.port_or_known_default() != du.port_or_known_default()
    {
        return false;
    }
    if au.query().is_some() || au.fragment().is_some() {
        // The prefix ends in the query or fragment: the path is the approved one.
        return true;
    }
    du.path()
        .strip_prefix(au.path())
        .is_some_and(|rest| !climbs(rest))
}

/// Whether a path, read the way a lenient server may read it (percent-decoded until nothing is
/// left to decode, `\\` as `/`, `;parameters` dropped), has a `..` segment. A path still
/// encoded after a few rounds counts as climbing: no real path needs that, and a bound keeps the
/// work linear in its length.
fn climbs(path: &str) -> bool {
    let mut bytes = path.as_bytes().to_vec();
    for _ in 0..4 {
        // Invalid escapes stay as they are, as a lenient server leaves them.
        let decoded: Vec<u8> = percent_encoding::percent_decode(&bytes).collect();
        if decoded == bytes {
            return bytes
                .split(|b| *b == b'/' || *b == b'\\')
                .any(|seg| seg.split(|b| *b == b';').next() == Some(b".."));
        }
        bytes = decoded;
    }
    true
}

/// The one spelling of a URL (scheme and host lower-cased, `.` and `..` resolved, default port
/// dropped), or `None` for what is not a URL or carries credentials. Approvals, revocations and
/// queued exports are all compared in this form, so no other spelling slips past them.
pub fn normalize(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !u.username().is_empty() || u.password().is_some() {
        return None;
    }
    Some(u.as_str().to_owned())
}

/// Whether a destination may be approved: https, or plain http to loopback, with a path.
pub fn check_destination(destination: &str) -> Result<(), ExportError> {
    match destination_problem(destination) {
        None => Ok(()),
        Some(problem) => Err(ExportError::Refused(format!("{destination} {problem}"))),
    }
}

/// What is wrong with `destination` as an approval (a phrase to follow the URL), if anything.
pub fn destination_problem(destination: &str) -> Option<String> {
    let url = match url::Url::parse(destination) {
        Ok(url) => url,
        Err(e) => return Some(format!("is not a URL ({e})")),
    };
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !(url.scheme() == "https" || (url.scheme() == "http" && loopback)) {
        return Some("must be https (plain http only to loopback)".into());
    }
    // The parsed URL of `https://a.example` has the path `/`, which as an approval would cover
    // the whole host; the owner reading the bare origin could not tell. So say which is meant.
    let bare_origin = destination
        .split_once("://")
        .is_some_and(|(_, rest)| !rest.contains('/'));
    if bare_origin {
        return Some(format!(
            "names no path: write {}/ to approve everything on that host, or the full URL of the \
             one endpoint",
            destination.split(['?', '#']).next().unwrap_or(destination)
        ));
    }
    None
}

/// The owner's settings of the service.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Settings {
    /// Destinations approved for external clients, by principal.
    #[serde(default)]
    pub approved: BTreeMap<String, Vec<Approval>>,
    /// Apps whose exports wait for the owner's approval.
    pub review: BTreeSet<String>,
    /// `(app, destination)` pairs the owner revoked.
    pub revoked: BTreeSet<(String, String)>,
    /// Keep a copy of every delivered body for the owner to see.
    pub keep_copies: bool,
}

impl Settings {
    /// Whether the owner revoked `destination` (or a prefix of it) for `app`.
    pub fn is_revoked(&self, app: &str, destination: &str) -> bool {
        self.revoked
            .iter()
            .any(|(a, d)| a == app && covered_by(d, destination))
    }
}

struct State {
    exports: BTreeMap<String, Export>,
    settings: Settings,
    /// Apps whose delivery lane is running. Kept under the same lock as `exports`, so a lane
    /// finding nothing due and leaving, and the loop deciding to start one, cannot interleave:
    /// an app never has two lanes (which could both pass `sent_last_hour` and overrun its rate),
    /// and an export queued as a lane leaves is never stranded.
    lanes: BTreeSet<String>,
}

struct Inner {
    store: Arc<Store>,
    audit: Arc<AuditLog>,
    client: reqwest::Client,
    state: Mutex<State>,
    wake: tokio::sync::Notify,
    retry_base: Duration,
    /// One permit per delivery in flight ([`LANES`]); a lane takes one for each delivery, not
    /// for its whole life, so lanes stuck on hanging destinations take turns with the others
    /// (the semaphore is fair) instead of holding every slot.
    slots: tokio::sync::Semaphore,
}

/// The export service of one box.
#[derive(Clone)]
pub struct ExportService {
    inner: Arc<Inner>,
}

fn ds(name: &str) -> DatasourceId {
    DatasourceId::new(name).expect("a valid constant id")
}

fn key(k: &str) -> Result<KvKey, ExportError> {
    KvKey::new(k).map_err(ExportError::Store)
}

fn random_id() -> String {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    format!("x-{}", hex::encode(b))
}

/// Whether `destination` is the revoked `revoked` or lies under it (a prefix ending in `/`),
/// both normalised. Deliberately broader than [`is_approved`]: whatever an approval of
/// `revoked`, or of anything under it, lets through is covered, and so is what no approval
/// would let through (a destination that climbs out with `..%2f`).
fn covered_by(revoked: &str, destination: &str) -> bool {
    match (normalize(revoked), normalize(destination)) {
        (Some(r), Some(d)) => d == r || (r.ends_with('/') && d.starts_with(&r)),
        _ => false,
    }
}

impl ExportService {
    /// Opens the service over the box's stores (creating its store on first use) and starts its
    /// delivery task. Call inside a tokio runtime.
    pub fn open(
        stores: &Stores,
        audit: Arc<AuditLog>,
        box_ca_pem: Option<&str>,
    ) -> Result<ExportService, ExportError> {
        Self::open_trusting(stores, audit, Duration::from_secs(1), box_ca_pem)
    }

    /// [`ExportService::open`] with the first wait before a retry (tests use a short one).
    pub fn open_with(
        stores: &Stores,
        audit: Arc<AuditLog>,
        retry_base: Duration,
    ) -> Result<ExportService, ExportError> {
        Self::open_trusting(stores, audit, retry_base, None)
    }

    /// [`ExportService::open_with`], trusting the box's own CA (PEM) for TLS destinations
    /// besides the public web roots.
    pub fn open_trusting(
        stores: &Stores,
        audit: Arc<AuditLog>,
        retry_base: Duration,
        box_ca_pem: Option<&str>,
    ) -> Result<ExportService, ExportError> {
        let id = StoreId::new(STORE)?;
        let store = match stores.get(&id) {
            Ok(s) => s,
            Err(e) if e.is_not_found() => stores.create(
                &id,
                "The export service: what apps asked to send out, and receipts",
            )?,
            Err(e) => return Err(e.into()),
        };
        for name in [QUEUE, BODIES, SETTINGS] {
            if store.datasource(&ds(name)).is_err() {
                let mut meta = DatasourceMeta::of_kind(DatasourceKind::KeyValue);
                meta.data_type = format!("export-{name}");
                store.upsert_datasource(ds(name), meta)?.wait()?;
            }
        }
        let mut exports = BTreeMap::new();
        for k in store.kv_keys(&ds(QUEUE))? {
            let v = store.kv_get(&ds(QUEUE), &key(&k)?)?;
            match serde_json::from_slice::<Export>(&v.bytes) {
                Ok(e) => {
                    exports.insert(e.id.clone(), e);
                }
                Err(err) => tracing::error!(key = %k, %err, "an unreadable export record was skipped"),
            }
        }
        let settings = match store.kv_get(&ds(SETTINGS), &key("settings")?) {
            Ok(v) => serde_json::from_slice(&v.bytes).unwrap_or_default(),
            Err(e) if e.is_not_found() => Settings::default(),
            Err(e) => return Err(e.into()),
        };
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = box_ca_pem {
            let ca = reqwest::Certificate::from_pem(pem.as_bytes())
                .map_err(|e| ExportError::Refused(format!("the box's CA certificate: {e}")))?;
            builder = builder.add_root_certificate(ca);
        }
        let client = builder
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ExportError::Refused(format!("no HTTP client: {e}")))?;
        let svc = ExportService {
            inner: Arc::new(Inner {
                store,
                audit,
                client,
                state: Mutex::new(State {
                    exports,
                    settings,
                    lanes: BTreeSet::new(),
                }),
                wake: tokio::sync::Notify::new(),
                retry_base,
                slots: tokio::sync::Semaphore::new(LANES),
            }),
        };
        let worker = svc.clone();
        tokio::spawn(async move { worker.deliver_forever().await });
        Ok(svc)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, e: &Export) -> Result<(), ExportError> {
        let json = serde_json::to_vec(e).expect("exports serialise");
        self.inner
            .store
            .kv_put(
                &ds(QUEUE),
                key(&e.id)?,
                KvValue::new(Some("application/json"), json)?,
            )?
            .wait()?;
        Ok(())
    }

    fn save_settings(&self, s: &Settings) -> Result<(), ExportError> {
        let json = serde_json::to_vec(s).expect("settings serialise");
        self.inner
            .store
            .kv_put(
                &ds(SETTINGS),
                key("settings")?,
                KvValue::new(Some("application/json"), json)?,
            )?
            .wait()?;
        Ok(())
    }

    fn drop_body(&self, id: &str) {
        if let Ok(k) = key(id)
            && let Ok(t) = self.inner.store.kv_delete(&ds(BODIES), Some(k))
        {
            let _ = t.wait();
        }
    }

    fn audit(&self, app: &str, operation: &str, detail: String, outcome: Outcome) {
        let mut ev = Event::access(app, operation);
        ev.detail = Some(detail);
        ev.outcome = Some(outcome);
        self.inner.audit.record(ev);
    }

    fn owner_event(&self, operation: &str, detail: String) {
        let mut ev = Event::of(Kind::Admin, "owner", operation);
        ev.detail = Some(detail);
        self.inner.audit.record(ev);
    }

    /// Audits a refused submission (`detail`, for the owner) and returns the refusal the
    /// submitter sees (`message`).
    fn refuse(&self, app: &str, detail: String, message: String) -> ExportError {
        self.audit(app, "export", detail, Outcome::Refused);
        ExportError::Refused(message)
    }

    /// Queues an export durably (or holds it for review) and returns its id. Blocking: call off
    /// the async threads.
    pub fn submit(&self, s: &Submission<'_>) -> Result<Export, ExportError> {
        let Some(destination) = normalize(s.destination) else {
            return Err(self.refuse(
                s.app,
                format!("{}: not a URL without credentials", s.destination),
                format!("{} is not a URL (without credentials)", s.destination),
            ));
        };
        let s = &Submission {
            destination: &destination,
            ..*s
        };
        let what = format!(
            "{} bytes of {} to {}",
            s.body.len(),
            s.content_type,
            s.destination
        );
        let (revoked, review) = {
            let st = self.state();
            let revoked = st.settings.is_revoked(s.app, s.destination);
            (revoked, st.settings.review.contains(s.app))
        };
        if revoked {
            return Err(self.refuse(
                s.app,
                format!("{what}: the owner revoked this destination"),
                format!("the owner revoked {} for this app", s.destination),
            ));
        }
        if s.body.len() as u64 > s.max_bytes {
            return Err(self.refuse(
                s.app,
                format!("{what}: over the limit of {} bytes", s.max_bytes),
                format!(
                    "the body is over this destination's limit of {} bytes",
                    s.max_bytes
                ),
            ));
        }
        let now = now_ms();
        let e = Export {
            id: random_id(),
            app: s.app.to_owned(),
            destination: s.destination.to_owned(),
            content_type: s.content_type.to_owned(),
            size: s.body.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(s.body)),
            grant: s.grant.to_owned(),
            per_hour: s.per_hour,
            state: if review {
                ExportState::Review
            } else {
                ExportState::Queued
            },
            attempts: 0,
            next_attempt_ms: now,
            created_ms: now,
            last_error: None,
            receipt: None,
        };
        // The body first: a queued record always has its body.
        self.inner
            .store
            .kv_put(
                &ds(BODIES),
                key(&e.id)?,
                KvValue::new(Some(s.content_type), s.body.to_vec())?,
            )?
            .wait()?;
        self.save(&e)?;
        // A revocation that landed while this was being written wins.
        let revoked_meanwhile = {
            let mut st = self.state();
            let revoked = st.settings.is_revoked(s.app, s.destination);
            if !revoked {
                st.exports.insert(e.id.clone(), e.clone());
            }
            revoked
        };
        if revoked_meanwhile {
            let mut cancelled = e;
            cancelled.state = ExportState::Cancelled;
            self.save(&cancelled)?;
            self.drop_body(&cancelled.id);
            self.state().exports.insert(cancelled.id.clone(), cancelled);
            return Err(self.refuse(
                s.app,
                format!("{what}: the owner revoked this destination"),
                format!("the owner revoked {} for this app", s.destination),
            ));
        }
        self.audit(
            s.app,
            "export request",
            format!(
                "{what}: {} as {}",
                if review {
                    "held for the owner's review"
                } else {
                    "queued"
                },
                e.id
            ),
            Outcome::Ok,
        );
        self.inner.wake.notify_one();
        Ok(e)
    }

    /// Every export, newest first; optionally only those in `state`.
    pub fn list(&self, state: Option<ExportState>) -> Vec<Export> {
        let mut v: Vec<Export> = self
            .state()
            .exports
            .values()
            .filter(|e| state.is_none_or(|s| e.state == s))
            .cloned()
            .collect();
        v.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
        v
    }

    /// One export and, while the box holds it (waiting, or kept as a copy), its body.
    pub fn show(&self, id: &str) -> Result<(Export, Option<KvValue>), ExportError> {
        let e = self
            .state()
            .exports
            .get(id)
            .cloned()
            .ok_or_else(|| ExportError::NotFound(id.into()))?;
        let body = match self.inner.store.kv_get(&ds(BODIES), &key(id)?) {
            Ok(v) => Some(v),
            Err(err) if err.is_not_found() => None,
            Err(err) => return Err(err.into()),
        };
        Ok((e, body))
    }

    /// Receipts of every delivered export, newest first.
    pub fn receipts(&self) -> Vec<(String, String, Receipt)> {
        self.list(Some(ExportState::Delivered))
            .into_iter()
            .filter_map(|e| Some((e.id, e.app, e.receipt?)))
            .collect()
    }

    fn decide(&self, id: &str, approve: bool) -> Result<Export, ExportError> {
        let mut e = self
            .state()
            .exports
            .get(id)
            .cloned()
            .ok_or_else(|| ExportError::NotFound(id.into()))?;
        if e.state != ExportState::Review {
            return Err(ExportError::Conflict(format!(
                "{id} is not waiting for review (it is {:?})",
                e.state
            )));
        }
        e.state = if approve {
            ExportState::Queued
        } else {
            ExportState::Rejected
        };
        e.next_attempt_ms = now_ms();
        self.save(&e)?;
        if !approve {
            self.drop_body(id);
        }
        self.state().exports.insert(e.id.clone(), e.clone());
        self.owner_event(
            if approve {
                "approve export"
            } else {
                "reject export"
            },
            format!("{id}: {} bytes from {} to {}", e.size, e.app, e.destination),
        );
        self.inner.wake.notify_one();
        Ok(e)
    }

    /// The owner approves an export held for review: it is queued.
    pub fn approve(&self, id: &str) -> Result<Export, ExportError> {
        self.decide(id, true)
    }

    /// The owner rejects an export held for review: it is never sent, its body is deleted.
    pub fn reject(&self, id: &str) -> Result<Export, ExportError> {
        self.decide(id, false)
    }

    /// The owner's settings.
    pub fn settings(&self) -> Settings {
        self.state().settings.clone()
    }

    /// Puts an app on review (its exports wait for approval) or takes it off.
    pub fn set_review(&self, app: &str, on: bool) -> Result<Settings, ExportError> {
        let mut s = self.settings();
        if on {
            s.review.insert(app.to_owned());
        } else {
            s.review.remove(app);
        }
        self.save_settings(&s)?;
        self.state().settings = s.clone();
        self.owner_event(
            "export review",
            format!("{app}: {}", if on { "on" } else { "off" }),
        );
        Ok(s)
    }

    /// Keeps (or stops keeping) a copy of every delivered body.
    pub fn set_keep_copies(&self, keep: bool) -> Result<Settings, ExportError> {
        let mut s = self.settings();
        s.keep_copies = keep;
        self.save_settings(&s)?;
        self.state().settings = s.clone();
        self.owner_event("export copies", if keep { "kept" } else { "not kept" }.into());
        Ok(s)
    }

    /// Revokes a destination (or prefix) for an app at once: later submissions are refused and
    /// exports to it that were not sent yet are cancelled. Returns how many were cancelled.
    pub fn revoke(&self, app: &str, destination: &str) -> Result<usize, ExportError> {
        let normal = normalize(destination).ok_or_else(|| {
            ExportError::Refused(format!("{destination:?} is not a URL without credentials"))
        })?;
        let destination = normal.as_str();
        let mut s = self.settings();
        s.revoked.insert((app.to_owned(), destination.to_owned()));
        if let Some(list) = s.approved.get_mut(app) {
            list.retain(|a| !covered_by(destination, &a.destination));
        }
        self.save_settings(&s)?;
        let pending: Vec<Export> = {
            let mut st = self.state();
            st.settings = s;
            st.exports
                .values()
                .filter(|e| {
                    e.app == app
                        && covered_by(destination, &e.destination)
                        && matches!(e.state, ExportState::Queued | ExportState::Review)
                })
                .cloned()
                .collect()
        };
        for mut e in pending.clone() {
            e.state = ExportState::Cancelled;
            self.save(&e)?;
            self.drop_body(&e.id);
            self.audit(
                &e.app,
                "export",
                format!("{}: cancelled, the owner revoked {destination}", e.id),
                Outcome::Refused,
            );
            self.state().exports.insert(e.id.clone(), e);
        }
        self.owner_event(
            "revoke export destination",
            format!("{app}: {destination} ({} queued cancelled)", pending.len()),
        );
        Ok(pending.len())
    }

    /// Approves a destination for an external client (a principal that is not an installed app).
    pub fn allow(&self, principal: &str, mut approval: Approval) -> Result<Settings, ExportError> {
        check_destination(&approval.destination)?;
        approval.destination = normalize(&approval.destination).ok_or_else(|| {
            ExportError::Refused(format!("{} must not carry credentials", approval.destination))
        })?;
        let mut s = self.settings();
        s.revoked
            .remove(&(principal.to_owned(), approval.destination.clone()));
        let list = s.approved.entry(principal.to_owned()).or_default();
        list.retain(|a| a.destination != approval.destination);
        list.push(approval.clone());
        self.save_settings(&s)?;
        self.state().settings = s.clone();
        self.owner_event(
            "approve export destination",
            format!(
                "{principal}: {} (at most {} bytes, {} an hour)",
                approval.destination, approval.max_bytes, approval.per_hour
            ),
        );
        Ok(s)
    }

    /// The owner's approval covering `destination` for an external client, if any.
    pub fn approval_for(&self, principal: &str, destination: &str) -> Option<Approval> {
        self.state()
            .settings
            .approved
            .get(principal)?
            .iter()
            .find(|a| is_approved(&a.destination, destination))
            .cloned()
    }

    /// Deliveries of `app` in the hour before `now`.
    fn sent_last_hour(&self, app: &str, now: i64) -> (u32, Option<i64>) {
        let st = self.state();
        let times: Vec<i64> = st
            .exports
            .values()
            .filter(|e| e.app == app)
            .filter_map(|e| e.receipt.as_ref().map(|r| r.delivered_ms))
            .filter(|t| *t > now - 3_600_000)
            .collect();
        (times.len() as u32, times.iter().min().copied())
    }

    /// The delivery loop: starts a lane for every app with an export due and no lane running,
    /// then sleeps until the next export of an app without a lane is due, or until woken (a
    /// submission, an approval, a lane that finished).
    async fn deliver_forever(self) {
        loop {
            let now = now_ms();
            let (start, next) = {
                let mut st = self.state();
                let st = &mut *st;
                let queued = || st.exports.values().filter(|e| e.state == ExportState::Queued);
                let start: BTreeSet<String> = queued()
                    .filter(|e| e.next_attempt_ms <= now && !st.lanes.contains(&e.app))
                    .map(|e| e.app.clone())
                    .collect();
                // Apps with a lane are its business (it wakes this loop when it leaves); counting
                // them here would spin the loop while a lane waits on a hanging destination.
                let next = queued()
                    .filter(|e| !st.lanes.contains(&e.app) && !start.contains(&e.app))
                    .map(|e| e.next_attempt_ms)
                    .min();
                st.lanes.extend(start.iter().cloned());
                (start, next)
            };
            for app in start {
                let lane = Lane {
                    svc: self.clone(),
                    app,
                    running: true,
                };
                // On the runtime this loop runs on, like the loop itself: the lanes live and die
                // with it.
                tokio::spawn(lane.run());
            }
            let wait = next
                .map(|t| Duration::from_millis((t - now_ms()).clamp(10, 60_000) as u64))
                .unwrap_or(Duration::from_secs(60));
            tokio::select! {
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// The export as it is now, if it is still waiting to be sent and its destination was not
    /// revoked (a revocation cancels it here).
    async fn still_due(&self, id: &str) -> Option<Export> {
        let (current, revoked) = {
            let st = self.state();
            let e = st
                .exports
                .get(id)
                .filter(|e| e.state == ExportState::Queued)?
                .clone();
            let revoked = st.settings.is_revoked(&e.app, &e.destination);
            (e, revoked)
        };
        if revoked {
            let mut cancelled = current;
            cancelled.state = ExportState::Cancelled;
            self.audit(
                &cancelled.app,
                "export",
                format!("{}: cancelled, the owner revoked its destination", cancelled.id),
                Outcome::Refused,
            );
            self.finish(cancelled, true).await;
            return None;
        }
        Some(current)
    }

    async fn deliver(&self, e: Export) {
        let Some(mut e) = self.still_due(&e.id).await else {
            return;
        };
        let now = now_ms();
        let (sent, oldest) = self.sent_last_hour(&e.app, now);
        if sent >= e.per_hour {
            e.next_attempt_ms = oldest.unwrap_or(now) + 3_600_000;
            e.last_error = Some(format!("waiting: {} already sent {sent} this hour", e.app));
            self.finish(e, false).await;
            return;
        }
        let store = self.inner.store.clone();
        let id = e.id.clone();
        let body = tokio::task::spawn_blocking(move || {
            store.kv_get(&ds(BODIES), &key(&id)?).map_err(ExportError::from)
        })
        .await;
        let body = match body {
            Ok(Ok(b)) => b,
            _ => {
                e.state = ExportState::Failed;
                e.last_error = Some("its body is missing from the queue".into());
                self.finish(e, false).await;
                return;
            }
        };
        // The attempt is on record before anything leaves, so a crash mid-send cannot hide it.
        e.attempts += 1;
        let Some(current) = self.still_due(&e.id).await else {
            return;
        };
        e.state = current.state;
        self.audit(
            &e.app,
            "export attempt",
            format!("{}: sending attempt {} to {}", e.id, e.attempts, e.destination),
            Outcome::Ok,
        );
        self.finish(e.clone(), false).await;
        let sent = self
            .inner
            .client
            .post(&e.destination)
            .header(reqwest::header::CONTENT_TYPE, &e.content_type)
            .header("Idempotency-Key", &e.id)
            .body(body.bytes)
            .send()
            .await;
        let what = format!(
            "{} ({} bytes) to {}, attempt {}",
            e.id, e.size, e.destination, e.attempts
        );
        match sent {
            Ok(r) if r.status().is_success() => {
                let status = r.status().as_u16();
                e.state = ExportState::Delivered;
                e.last_error = None;
                e.receipt = Some(Receipt {
                    destination: e.destination.clone(),
                    size: e.size,
                    sha256: e.sha256.clone(),
                    grant: e.grant.clone(),
                    delivered_ms: now_ms(),
                    status,
                    attempts: e.attempts,
                });
                // The record the statement counts: what left, to where, how much.
                let mut ev = Event::access(&e.app, "export");
                ev.detail = Some(e.destination.clone());
                ev.count = Some(e.size);
                ev.outcome = Some(Outcome::Ok);
                self.inner.audit.record(ev);
                self.audit(
                    &e.app,
                    "export attempt",
                    format!("{what}: delivered, {status}"),
                    Outcome::Ok,
                );
                let keep = self.state().settings.keep_copies;
                self.finish(e, !keep).await;
            }
            Ok(r) if r.status().is_client_error() && r.status() != 408 && r.status() != 429 => {
                let status = r.status();
                e.state = ExportState::Failed;
                e.last_error = Some(format!("the destination refused it: {status}"));
                self.audit(
                    &e.app,
                    "export attempt",
                    format!("{what}: refused by the destination, {status}"),
                    Outcome::Failed,
                );
                self.finish(e, true).await;
            }
            other => {
                let why = match other {
                    Ok(r) => format!("the destination answered {}", r.status()),
                    Err(err) => {
                        // reqwest's message hides the cause (a refused certificate, a refused
                        // connection); the owner needs it.
                        let mut why = err.to_string();
                        let mut source = std::error::Error::source(&err);
                        while let Some(s) = source {
                            why.push_str(": ");
                            why.push_str(&s.to_string());
                            source = s.source();
                        }
                        format!("could not deliver: {why}")
                    }
                };
                self.audit(
                    &e.app,
                    "export attempt",
                    format!("{what}: {why}"),
                    Outcome::Failed,
                );
                e.last_error = Some(why);
                let give_up = e.attempts >= MAX_ATTEMPTS;
                if give_up {
                    e.state = ExportState::Failed;
                } else {
                    let wait = self
                        .inner
                        .retry_base
                        .saturating_mul(1u32 << (e.attempts - 1).min(20))
                        .min(MAX_BACKOFF);
                    e.next_attempt_ms = now_ms() + wait.as_millis() as i64;
                }
                self.finish(e, give_up).await;
            }
        }
    }

    /// Records where a delivery left an export (durably, off the async threads) and, when its
    /// body is no longer needed, deletes the body.
    async fn finish(&self, e: Export, drop_body: bool) {
        if e.state != ExportState::Cancelled
            && self
                .state()
                .exports
                .get(&e.id)
                .is_some_and(|cur| matches!(cur.state, ExportState::Cancelled | ExportState::Rejected))
        {
            return;
        }
        let svc = self.clone();
        let saved = e.clone();
        let result = tokio::task::spawn_blocking(move || {
            svc.save(&saved)?;
            if drop_body {
                svc.drop_body(&saved.id);
            }
            Ok::<_, ExportError>(())
        })
        .await;
        if !matches!(result, Ok(Ok(()))) {
            tracing::error!(id = %e.id, "could not record an export's delivery state");
        }
        self.state().exports.insert(e.id.clone(), e);
    }
}

/// One app's delivery lane: delivers that app's due exports one after the other, oldest first,
/// re-reading the queue before each (so approvals, rejections and revocations made meanwhile are
/// honoured), and leaves when the app has nothing due.
struct Lane {
    svc: ExportService,
    app: String,
    /// Still listed in `State::lanes`; if the task ends otherwise (a panic, the runtime shutting
    /// down), dropping it takes the app off, so the app is not left without deliveries.
    running: bool,
}

impl Lane {
    async fn run(mut self) {
        loop {
            let slot = self
                .svc
                .inner
                .slots
                .acquire()
                .await
                .expect("the delivery slots are never closed");
            let next = {
                let mut st = self.svc.state();
                let now = now_ms();
                let next = st
                    .exports
                    .values()
                    .filter(|e| {
                        e.app == self.app && e.state == ExportState::Queued && e.next_attempt_ms <= now
                    })
                    .min_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)))
                    .cloned();
                if next.is_none() {
                    // Under the lock that guards the queue: see `State::lanes`.
                    st.lanes.remove(&self.app);
                    self.running = false;
                }
                next
            };
            let Some(e) = next else { break };
            self.svc.deliver(e).await;
            drop(slot);
        }
        // The loop skipped this app while its lane ran: it must look again (a retry's time).
        self.svc.inner.wake.notify_one();
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if self.running {
            self.svc.state().lanes.remove(&self.app);
            self.svc.inner.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{check_destination, covered_by, is_approved, normalize};
    use proptest::prelude::*;

    #[test]
    fn destinations_match_exactly_or_under_a_prefix() {
        let prefix = "https://research.example.org/upload/";
        assert!(is_approved(prefix, "https://research.example.org/upload/a/b"));
        assert!(is_approved("https://x.example/one", "https://x.example/one"));
        assert!(!is_approved("https://x.example/one", "https://x.example/one/two"));
        assert!(!is_approved(
            prefix,
            "https://research.example.org/upload/../admin"
        ));
        assert!(!is_approved(
            prefix,
            "https://research.example.org.evil.example/upload/"
        ));
        assert!(!is_approved(
            prefix,
            "https://user:pw@research.example.org/upload/x"
        ));
        assert!(!is_approved(prefix, "not a url"));
    }

    #[test]
    fn revocations_cover_the_destination_and_what_lies_under_a_prefix() {
        assert!(covered_by("https://a.example/x", "https://a.example/x"));
        assert!(covered_by("https://a.example/up/", "https://a.example/up/1"));
        assert!(!covered_by("https://a.example/x", "https://a.example/x/1"));
        assert!(!covered_by("https://a.example/up/", "https://b.example/up/1"));
    }

    /// The segments of a path as the most lenient server could act on them: percent-decoded
    /// until nothing is left to decode, `\` read as `/`, `;parameters` dropped, empty and `.`
    /// segments dropped, and `..` climbing.
    fn served(path: &str) -> Vec<Vec<u8>> {
        let mut bytes = path.as_bytes().to_vec();
        loop {
            let decoded: Vec<u8> = percent_encoding::percent_decode(&bytes).collect();
            if decoded == bytes {
                break;
            }
            bytes = decoded;
        }
        let mut out: Vec<Vec<u8>> = Vec::new();
        for seg in bytes.split(|b| *b == b'/' || *b == b'\\') {
            match seg.split(|b| *b == b';').next().unwrap_or_default() {
                b"" | b"." => {}
                b".." => {
                    out.pop();
                }
                s => out.push(s.to_vec()),
            }
        }
        out
    }

    /// The safety property of approvals: what `approved` lets through is its own normal form, or
    /// lies under it, on the same scheme, host and port, without any path a server could read
    /// as climbing out of it.
    fn assert_within(approved: &str, destination: &str) -> Result<(), TestCaseError> {
        if !is_approved(approved, destination) {
            return Ok(());
        }
        let a = normalize(approved);
        let d = normalize(destination);
        prop_assert!(
            a.is_some() && d.is_some(),
            "{approved:?} approved {destination:?}"
        );
        let (a, d) = (a.unwrap(), d.unwrap());
        if d == a {
            return Ok(());
        }
        prop_assert!(a.ends_with('/') && d.starts_with(&a), "{a} approved {d}");
        let (au, du) = (url::Url::parse(&a).unwrap(), url::Url::parse(&d).unwrap());
        prop_assert_eq!(au.scheme(), du.scheme(), "{} approved {}", a, d);
        prop_assert_eq!(au.host(), du.host(), "{} approved {}", a, d);
        prop_assert_eq!(
            au.port_or_known_default(),
            du.port_or_known_default(),
            "{} approved {}",
            a,
            d
        );
        let (ap, dp) = (served(au.path()), served(du.path()));
        prop_assert!(
            dp.starts_with(&ap),
            "{a} approved {d}, which a server may read as outside it"
        );
        Ok(())
    }

    fn scheme() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "https", "https", "HTTPS", "http", "hTTp", "ftp", "x", "file", "web+demo",
        ])
    }

    fn host() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "good.example",
            "good.example",
            "GOOD.Example",
            "good.example.",
            "good.example..",
            "evil.example",
            "good.example.evil.example",
            "evil.example\\@good.example",
            "good%2eexample",
            "ｇｏｏｄ.example",
            "127.0.0.1",
            "0x7f.1",
            "localhost",
            "[::1]",
            "",
        ])
    }

    /// Path segments, plain and adversarial.
    fn segment() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "up",
            "upload",
            "a",
            "admin",
            "",
            ".",
            "..",
            "%2e",
            "%2e%2e",
            "%2E.",
            ".%2e",
            "..%2f",
            "%2e%2e%2f",
            "..%2F..%2Fadmin",
            "\\",
            "..\\",
            "%5c..%5c",
            "..%5C",
            "..;",
            "..;x",
            "%2e%2e;",
            "a%2Fb",
            "%252e%252e%252f",
            "%25",
            "%",
            "é",
            "@evil.example",
        ])
    }

    /// What may follow a path: a query, a fragment, or characters that start one.
    fn tail() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "",
            "",
            "",
            "?",
            "?a=/../",
            "?x=%2f..%2f",
            "#",
            "#/../x",
            "?q#f/",
        ])
    }

    fn path() -> impl Strategy<Value = String> {
        (
            prop::collection::vec(segment(), 0..5),
            prop::sample::select(vec!["/", "/", "\\"]),
            prop::sample::select(vec!["", "/"]),
        )
            .prop_map(|(segs, sep, end)| format!("{}{end}", segs.join(sep)))
    }

    /// URLs made of adversarial pieces: scheme, separators, userinfo, host, port, path, tail.
    fn url() -> impl Strategy<Value = String> {
        (
            scheme(),
            prop::sample::select(vec!["://", "://", "://", ":/", ":", ":\\\\", ":///"]),
            prop::sample::select(vec![
                "",
                "",
                "",
                "",
                "user@",
                "user:pw@",
                ":@",
                "@",
                "good.example@",
                "good.example:443@",
                ":pw@",
            ]),
            host(),
            prop::sample::select(vec!["", "", "", ":443", ":80", ":8443", ":", ":0443", ":99999"]),
            path(),
            tail(),
        )
            .prop_map(|(s, sep, user, host, port, path, tail)| {
                format!("{s}{sep}{user}{host}{port}/{path}{tail}")
            })
    }

    /// An approval and a destination: unrelated, or the destination built on the approval.
    fn approval_and_destination() -> impl Strategy<Value = (String, String)> {
        prop_oneof![
            (url(), url()),
            (url(), path(), tail()).prop_map(|(a, p, t)| {
                let d = format!("{a}{p}{t}");
                (a, d)
            }),
        ]
    }

    #[test]
    fn encoded_climbs_and_hostless_prefixes_are_not_approved_but_stay_revocable() {
        let prefix = "https://good.example/up/";
        for d in [
            "https://good.example/up/..%2fadmin",
            "https://good.example/up/%2e%2e%2Fadmin",
            "https://good.example/up/..%5cadmin",
            "https://good.example/up/..;/admin",
            "https://good.example/up/%252e%252e%252fadmin",
        ] {
            assert!(!is_approved(prefix, d), "{d}");
            // A revocation of the prefix still covers it: revoking errs on the side of blocking.
            assert!(covered_by(prefix, d), "{d}");
        }
        // Encoded slashes that climb nowhere are fine, and so is a literal `%` (`%25`, even
        // encoded twice); a path still encoded after four rounds of decoding is refused.
        assert!(is_approved(prefix, "https://good.example/up/a%2Fb"));
        assert!(is_approved(prefix, "https://good.example/up/100%25/x%252525"));
        assert!(!is_approved(prefix, "https://good.example/up/x%2525252525"));
        let deep = format!("https://good.example/up/x%{}", "25".repeat(100_000));
        assert!(!is_approved(prefix, &deep));
        assert!(is_approved(prefix, "https://good.example/up/v1.2/x..y"));
        // A URL without a host (never an allowed destination) does not lend its prefix to hosts.
        assert!(!is_approved("x:/", "x://evil.example/"));
        // Raw `..`, `\\` and percent-encoded dot segments are resolved before comparing.
        assert!(!is_approved(prefix, "https://good.example/up/%2e%2e/admin"));
        assert!(!is_approved(prefix, "https://good.example/up/..\\admin"));
        assert!(!is_approved(prefix, "https://good.example@evil.example/up/"));
        assert!(!is_approved(prefix, "https://good.example./up/x"));
        assert!(!is_approved(prefix, "https://good.example:8443/up/x"));
        assert!(is_approved(prefix, "HTTPS://GOOD.example:443/up/x"));
    }

    #[test]
    fn a_bare_origin_is_refused_as_an_approval_so_the_owner_sees_what_is_meant() {
        let err = check_destination("https://lab.example").unwrap_err().to_string();
        assert!(
            err.contains("https://lab.example/ to approve everything"),
            "{err}"
        );
        assert!(check_destination("https://lab.example?x=1").is_err());
        assert!(check_destination("https://lab.example/").is_ok());
        assert!(check_destination("https://lab.example/in").is_ok());
        assert!(check_destination("http://127.0.0.1:8080/in/").is_ok());
        assert!(check_destination("http://lab.example/in/").is_err());
    }

    proptest! {
        #[test]
        fn normalizing_is_stable_and_drops_no_credentials_silently(u in url()) {
            if let Some(n) = normalize(&u) {
                // Approvals are stored normalised and normalised again when compared.
                prop_assert_eq!(normalize(&n), Some(n.clone()));
                let parsed = url::Url::parse(&n).unwrap();
                prop_assert!(parsed.username().is_empty() && parsed.password().is_none(), "{n}");
            }
            if check_destination(&u).is_ok() {
                let parsed = url::Url::parse(&u).unwrap();
                let loopback = match parsed.host() {
                    Some(url::Host::Domain(d)) => d == "localhost",
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                };
                prop_assert!(parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback), "{u}");
            }
        }

        #[test]
        fn an_approval_never_reaches_outside_its_prefix((a, d) in approval_and_destination()) {
            assert_within(&a, &d)?;
        }

        #[test]
        fn an_exact_approval_approves_itself_in_any_spelling(u in url()) {
            let n = normalize(&u);
            prop_assert_eq!(is_approved(&u, &u), n.is_some(), "{}", u);
            if let Some(n) = n {
                prop_assert!(is_approved(&u, &n) && is_approved(&n, &u), "{u} / {n}");
            }
        }

        /// Revoking a destination blocks everything approving it allowed, and revoking a prefix
        /// blocks everything an approval under it allows; a revocation stays within what it names.
        #[test]
        fn a_revocation_covers_whatever_its_approvals_allow(
            (r, a) in approval_and_destination(), p in path(), t in tail(), other in url(),
        ) {
            let d = format!("{a}{p}{t}");
            for d in [&a, &d, &other] {
                if is_approved(&r, d) {
                    prop_assert!(covered_by(&r, d), "{r} approves {d} but revoking it does not cover it");
                }
                if covered_by(&r, &a) && is_approved(&a, d) {
                    prop_assert!(covered_by(&r, d), "revoking {r} leaves {d}, approved by {a}");
                }
                if covered_by(&r, d) {
                    let (r, d) = (normalize(&r).unwrap(), normalize(d).unwrap());
                    prop_assert!(d == r || (r.ends_with('/') && d.starts_with(&r)), "{r} covers {d}");
                }
            }
        }
    }
}
