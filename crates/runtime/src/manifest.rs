//! The manifest of an app or a driver (DESIGN.md §4): what it is, what data it provides and
//! requests, where it may send data or connect, its limits, its settings and its schedule.
//!
//! One TOML file. Unknown fields are errors; every error names the field (`requests[1].operations`)
//! and what is wrong with it. [`Manifest::review`] turns a valid manifest into the plain-language
//! list an owner approves at install.

use std::collections::BTreeSet;

use databox_store::{DatasourceKind, DatasourceMeta};
use serde::Deserialize;

/// A manifest that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, or fields of the wrong type or unknown.
    #[error("the manifest is not valid: {0}")]
    Syntax(String),
    /// A field's value is not acceptable.
    #[error("manifest field `{field}`: {problem}")]
    Field {
        /// Where, e.g. `requests[1].operations[0]`.
        field: String,
        /// What is wrong, and what would be right.
        problem: String,
    },
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> ManifestError {
    ManifestError::Field {
        field: field.into(),
        problem: problem.into(),
    }
}

/// App or driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Processes data; no network at all; may export only to approved destinations.
    App,
    /// Brings data in; may reach only the hosts it lists.
    Driver,
}

impl Kind {
    /// `app` or `driver`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Driver => "driver",
        }
    }
}

/// What the component is.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Its id: 1-64 of `a-z 0-9 -`, starting with a letter.
    pub name: String,
    /// Semantic version.
    pub version: String,
    /// App or driver.
    pub kind: Kind,
    /// What it does, for the owner.
    pub description: String,
    /// Who made it.
    #[serde(default)]
    pub author: String,
    /// Where to learn more (https).
    #[serde(default)]
    pub homepage: Option<String>,
    /// Whether it serves its own UI page.
    #[serde(default)]
    pub ui: bool,
}

/// A datasource the component creates in its own store.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provided {
    /// The datasource id.
    pub id: String,
    /// Its Hypercat metadata (`store_type`, `type`, `unit`, ...).
    #[serde(flatten)]
    pub meta: ProvidedMeta,
}

/// The metadata of a provided datasource.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProvidedMeta {
    /// `ts`, `ts/blob` or `kv`.
    pub store_type: String,
    /// Kind of data, e.g. `temperature`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// Unit.
    pub unit: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Vendor.
    pub vendor: Option<String>,
    /// Whether writing to it makes something happen.
    #[serde(default)]
    pub actuator: bool,
}

/// A datasource the component asks to use; the owner maps it to a concrete datasource.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    /// The name the component uses for it.
    pub name: String,
    /// The kind of data wanted (Hypercat `hasType`), e.g. `temperature`.
    #[serde(rename = "type")]
    pub data_type: String,
    /// `ts`, `ts/blob` or `kv`.
    #[serde(default = "default_store_type")]
    pub store_type: String,
    /// What it will do: read, observe, write, actuate.
    pub operations: Vec<String>,
    /// Why, in words the owner will read.
    pub purpose: String,
    /// Whether the component cannot work without it.
    #[serde(default = "yes")]
    pub required: bool,
    /// The finest data it needs: raw (default), aggregates or hourly.
    #[serde(default)]
    pub granularity: Option<String>,
}

fn default_store_type() -> String {
    "ts".into()
}

fn yes() -> bool {
    true
}

/// A destination an app asks to send data to.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// An exact URL, or a prefix ending with `/`; https unless on loopback.
    pub destination: String,
    /// Why.
    pub purpose: String,
    /// Largest body, in bytes.
    #[serde(default = "default_export_bytes")]
    pub max_bytes: u64,
    /// Most exports per hour.
    #[serde(default = "default_export_rate")]
    pub per_hour: u32,
}

fn default_export_bytes() -> u64 {
    1 << 20
}

fn default_export_rate() -> u32 {
    60
}

/// Outbound connections of a driver.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `host` or `host:port` (https on 443 unless a port is given); no schemes, paths or wildcards.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Why it needs them.
    #[serde(default)]
    pub purpose: String,
}

/// What a component may measure of the box's own machine.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Whether it may read the host's CPU load, memory and disk use (the `host-metrics` import).
    #[serde(default)]
    pub metrics: bool,
}

/// Resource limits.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Memory, MiB (1-1024).
    #[serde(default = "default_memory")]
    pub memory_mb: u32,
    /// CPU time per handler call, ms (1-60000).
    #[serde(default = "default_cpu")]
    pub cpu_ms: u32,
    /// Wall time per handler call, ms (1-300000).
    #[serde(default = "default_wall")]
    pub wall_ms: u32,
    /// Largest output of one call (HTTP body, written batch), KiB (1-65536).
    #[serde(default = "default_output")]
    pub output_kb: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: default_memory(),
            cpu_ms: default_cpu(),
            wall_ms: default_wall(),
            output_kb: default_output(),
        }
    }
}

fn default_memory() -> u32 {
    64
}
fn default_cpu() -> u32 {
    200
}
fn default_wall() -> u32 {
    5_000
}
fn default_output() -> u32 {
    1_024
}

/// A setting the owner fills in at install.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigField {
    /// Its key: 1-64 of `a-z 0-9 _`.
    pub key: String,
    /// What it is.
    pub description: String,
    /// Whether it must be set.
    #[serde(default)]
    pub required: bool,
    /// A secret (shown masked, never logged).
    #[serde(default)]
    pub secret: bool,
    /// The value when the owner gives none.
    pub default: Option<String>,
}

/// When the component's timer handler runs.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Every this many seconds (1-86400).
    pub every_seconds: u32,
}

/// A parsed, validated manifest.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// What it is.
    pub component: Component,
    /// Datasources it creates in its own store.
    #[serde(default)]
    pub provides: Vec<Provided>,
    /// Datasources it asks to use.
    #[serde(default)]
    pub requests: Vec<Requested>,
    /// Destinations it asks to send data to (apps).
    #[serde(default)]
    pub exports: Vec<Export>,
    /// Hosts it connects to (drivers).
    #[serde(default)]
    pub network: Network,
    /// What it may measure of the box's machine (drivers).
    #[serde(default)]
    pub host: Host,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// Settings.
    #[serde(default)]
    pub config: Vec<ConfigField>,
    /// Timer.
    pub schedule: Option<Schedule>,
}

/// A request `type` that any kind of data of the request's store type satisfies (a chart app
/// that can draw any series); the owner still chooses the one datasource.
pub const ANY_TYPE: &str = "*";

const OPERATIONS: [&str; 4] = ["read", "observe", "write", "actuate"];

fn check_name(field: &str, v: &str, extra: &[u8]) -> Result<(), ManifestError> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.as_bytes()[0].is_ascii_lowercase()
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || extra.contains(&b));
    if ok {
        Ok(())
    } else {
        let chars = String::from_utf8_lossy(extra)
            .chars()
            .map(|c| format!(" {c}"))
            .collect::<String>();
        Err(bad(
            field,
            format!("{v:?} must be 1-64 of a-z 0-9{chars}, starting with a letter"),
        ))
    }
}

fn check_text(field: &str, v: &str, required: bool) -> Result<(), ManifestError> {
    if required && v.trim().is_empty() {
        return Err(bad(
            field,
            "must not be empty: say it in words the owner will read",
        ));
    }
    if v.len() > 1024 || v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(bad(
            field,
            "must be at most 1024 characters without control characters",
        ));
    }
    Ok(())
}

fn check_range(field: &str, v: u64, lo: u64, hi: u64) -> Result<(), ManifestError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        Err(bad(field, format!("{v} is outside {lo}..={hi}")))
    }
}

impl Manifest {
    /// Parses and validates a manifest.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string().trim().to_owned()))?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), ManifestError> {
        let c = &self.component;
        check_name("component.name", &c.name, b"-")?;
        semver::Version::parse(&c.version).map_err(|e| {
            bad(
                "component.version",
                format!("{:?} is not a semantic version like 1.2.0 ({e})", c.version),
            )
        })?;
        check_text("component.description", &c.description, true)?;
        check_text("component.author", &c.author, false)?;
        if let Some(h) = &c.homepage {
            let u = url::Url::parse(h)
                .map_err(|e| bad("component.homepage", format!("{h:?} is not a URL ({e})")))?;
            if u.scheme() != "https" {
                return Err(bad("component.homepage", "must be an https URL"));
            }
        }
        let mut ids = BTreeSet::new();
        for (i, p) in self.provides.iter().enumerate() {
            let f = |name: &str| format!("provides[{i}].{name}");
            databox_store::DatasourceId::new(p.id.clone()).map_err(|e| bad(f("id"), e.to_string()))?;
            if !ids.insert(p.id.as_str()) {
                return Err(bad(f("id"), format!("{:?} is provided twice", p.id)));
            }
            DatasourceKind::parse(&p.meta.store_type).map_err(|e| bad(f("store_type"), e.to_string()))?;
            check_text(&f("type"), &p.meta.data_type, true)?;
            self.provided_meta(p).map_err(|e| bad(f("description"), e))?;
        }
        let mut names = BTreeSet::new();
        for (i, r) in self.requests.iter().enumerate() {
            let f = |name: &str| format!("requests[{i}].{name}");
            check_name(&f("name"), &r.name, b"-_")?;
            if !names.insert(r.name.as_str()) {
                return Err(bad(f("name"), format!("{:?} is requested twice", r.name)));
            }
            check_text(&f("type"), &r.data_type, true)?;
            let kind =
                DatasourceKind::parse(&r.store_type).map_err(|e| bad(f("store_type"), e.to_string()))?;
            check_text(&f("purpose"), &r.purpose, true)?;
            if r.operations.is_empty() {
                return Err(bad(
                    f("operations"),
                    "name at least one of read, observe, write, actuate",
                ));
            }
            for (j, op) in r.operations.iter().enumerate() {
                if !OPERATIONS.contains(&op.as_str()) {
                    return Err(bad(
                        format!("requests[{i}].operations[{j}]"),
                        format!("unknown operation {op:?}; expected read, observe, write or actuate"),
                    ));
                }
            }
            if let Some(g) = &r.granularity {
                databox_arbiter::Granularity::parse(g).map_err(|e| bad(f("granularity"), e.to_string()))?;
                if g != "raw" && kind == DatasourceKind::KeyValue {
                    return Err(bad(
                        f("granularity"),
                        "key-value data has no aggregates; use raw or drop it",
                    ));
                }
                if g != "raw" && r.operations.iter().any(|o| o != "read") {
                    return Err(bad(
                        f("granularity"),
                        "a granularity limits reads only; ask for read alone",
                    ));
                }
            }
        }
        if c.kind == Kind::Driver && !self.exports.is_empty() {
            return Err(bad(
                "exports",
                "drivers cannot export; only apps send data out, through the export service",
            ));
        }
        for (i, e) in self.exports.iter().enumerate() {
            let f = |name: &str| format!("exports[{i}].{name}");
            let u = url::Url::parse(&e.destination).map_err(|err| {
                bad(
                    f("destination"),
                    format!("{:?} is not a URL ({err})", e.destination),
                )
            })?;
            // The export service's own rule, so a manifest approves only what it will send to.
            if databox_export::check_destination(&e.destination).is_err() {
                return Err(bad(
                    f("destination"),
                    "must be https (plain http only to loopback)",
                ));
            }
            if !u.username().is_empty() || u.password().is_some() {
                return Err(bad(
                    f("destination"),
                    "must not carry credentials; use a config field",
                ));
            }
            check_text(&f("purpose"), &e.purpose, true)?;
            check_range(&f("max_bytes"), e.max_bytes, 1, 64 << 20)?;
            check_range(&f("per_hour"), e.per_hour.into(), 1, 3600)?;
        }
        if c.kind == Kind::App && !self.network.hosts.is_empty() {
            return Err(bad(
                "network.hosts",
                "apps have no network; only drivers may list hosts",
            ));
        }
        for (i, h) in self.network.hosts.iter().enumerate() {
            let field = format!("network.hosts[{i}]");
            let parsed = url::Url::parse(&format!("https://{h}")).ok().filter(|u| {
                u.path() == "/" && u.query().is_none() && u.username().is_empty() && !h.contains('/')
            });
            match parsed {
                Some(u) if u.host_str().is_some_and(|x| !x.contains('*')) => {}
                _ => {
                    return Err(bad(
                        field,
                        format!("{h:?} must be host or host:port, without scheme, path or wildcard"),
                    ));
                }
            }
        }
        if !self.network.hosts.is_empty() {
            check_text("network.purpose", &self.network.purpose, true)?;
        }
        if c.kind == Kind::App && self.host.metrics {
            return Err(bad(
                "host.metrics",
                "apps cannot measure the host; only drivers may",
            ));
        }
        let l = &self.limits;
        check_range("limits.memory_mb", l.memory_mb.into(), 1, 1024)?;
        check_range("limits.cpu_ms", l.cpu_ms.into(), 1, 60_000)?;
        check_range("limits.wall_ms", l.wall_ms.into(), 1, 300_000)?;
        check_range("limits.output_kb", l.output_kb.into(), 1, 65_536)?;
        if l.wall_ms < l.cpu_ms {
            return Err(bad("limits.wall_ms", "must be at least limits.cpu_ms"));
        }
        let mut keys = BTreeSet::new();
        for (i, k) in self.config.iter().enumerate() {
            check_name(&format!("config[{i}].key"), &k.key, b"_")?;
            if !keys.insert(k.key.as_str()) {
                return Err(bad(
                    format!("config[{i}].key"),
                    format!("{:?} appears twice", k.key),
                ));
            }
            check_text(&format!("config[{i}].description"), &k.description, true)?;
            if k.required && k.default.is_some() {
                return Err(bad(
                    format!("config[{i}].default"),
                    "a required setting has no default",
                ));
            }
        }
        if let Some(s) = &self.schedule {
            check_range("schedule.every_seconds", s.every_seconds.into(), 1, 86_400)?;
        }
        Ok(())
    }

    /// The store metadata of a provided datasource.
    pub fn provided_meta(&self, p: &Provided) -> Result<DatasourceMeta, String> {
        let mut m =
            DatasourceMeta::of_kind(DatasourceKind::parse(&p.meta.store_type).map_err(|e| e.to_string())?);
        m.description = p.meta.description.clone();
        m.data_type = p.meta.data_type.clone();
        m.unit = p.meta.unit.clone();
        m.location = p.meta.location.clone();
        m.vendor = p
            .meta
            .vendor
            .clone()
            .or_else(|| Some(self.component.author.clone()).filter(|a| !a.is_empty()));
        m.actuator = p.meta.actuator;
        Ok(m)
    }

    /// What installing it means, in plain language, one line per thing the owner approves.
    pub fn review(&self) -> Vec<String> {
        let c = &self.component;
        let mut out = vec![format!(
            "{} {} ({}) by {}: {}",
            c.name,
            c.version,
            if c.kind == Kind::App { "an app" } else { "a driver" },
            if c.author.is_empty() {
                "an unnamed author"
            } else {
                &c.author
            },
            c.description
        )];
        for p in &self.provides {
            out.push(format!(
                "It keeps its own {} data ({}) in its own store{}.",
                p.meta.data_type,
                p.id,
                p.meta
                    .unit
                    .as_deref()
                    .map(|u| format!(", in {u}"))
                    .unwrap_or_default()
            ));
        }
        for r in &self.requests {
            let verbs: Vec<&str> = r
                .operations
                .iter()
                .map(|o| match o.as_str() {
                    "read" => "read",
                    "observe" => "watch for new",
                    "write" => "add to",
                    _ => "act through",
                })
                .collect();
            let how_fine = match r.granularity.as_deref() {
                Some("hourly") => " (hourly statistics only)",
                Some("aggregates") => " (totals and averages only, never single values)",
                _ => "",
            };
            let what = if r.data_type == ANY_TYPE {
                "one series of your choice (any kind of data)".to_owned()
            } else {
                format!("your {} data", r.data_type)
            };
            out.push(format!(
                "{}: it wants to {} {what}{how_fine}, to {}.",
                if r.required { "Required" } else { "Optional" },
                verbs.join(" and "),
                r.purpose.trim_end_matches('.')
            ));
        }
        for e in &self.exports {
            out.push(format!(
                "It may ask to send data out of your box to {} (at most {} bytes, {} times an hour), to {}. Each send is logged.",
                e.destination,
                e.max_bytes,
                e.per_hour,
                e.purpose.trim_end_matches('.')
            ));
        }
        if !self.network.hosts.is_empty() {
            out.push(format!(
                "It connects to {} and nowhere else, to {}.",
                self.network.hosts.join(", "),
                self.network.purpose.trim_end_matches('.')
            ));
        } else {
            out.push("It cannot connect to the Internet.".into());
        }
        if self.host.metrics {
            out.push("It measures this box's machine: CPU load, memory and disk use.".into());
        }
        out.push(format!(
            "Limits: {} MiB of memory, {} ms of computing per call.",
            self.limits.memory_mb, self.limits.cpu_ms
        ));
        out
    }
}
