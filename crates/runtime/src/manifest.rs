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
            if let Some(problem) = databox_export::destination_problem(&e.destination) {
                return Err(bad(f("destination"), problem));
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
            // Nothing but host and port: a fragment or an (empty) userinfo would parse too, and
            // show the owner a host (`evil.example#@good.example`) other than the one allowed.
            let parsed = url::Url::parse(&format!("https://{h}")).ok().filter(|u| {
                u.path() == "/"
                    && u.query().is_none()
                    && u.fragment().is_none()
                    && u.username().is_empty()
                    && !h.contains(['/', '\\', '@', '#'])
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

#[cfg(test)]
mod tests {
    use super::{Kind, Manifest, ManifestError};
    use proptest::prelude::*;

    /// TOML's spelling of a string.
    fn q(s: &str) -> String {
        toml::Value::String(s.to_owned()).to_string()
    }

    #[derive(Clone, Debug)]
    struct Prov {
        id: String,
        store_type: String,
        data_type: String,
        unit: Option<String>,
    }

    #[derive(Clone, Debug)]
    struct Req {
        name: String,
        data_type: String,
        store_type: String,
        operations: Vec<String>,
        purpose: String,
        required: bool,
        granularity: Option<String>,
    }

    #[derive(Clone, Debug)]
    struct Exp {
        destination: String,
        purpose: String,
        max_bytes: u64,
        per_hour: u32,
    }

    #[derive(Clone, Debug)]
    struct Conf {
        key: String,
        description: String,
        required: bool,
        default: Option<String>,
    }

    /// A manifest as its pieces, rendered to TOML by [`Spec::render`].
    #[derive(Clone, Debug)]
    struct Spec {
        name: String,
        version: String,
        kind: Kind,
        description: String,
        author: String,
        homepage: Option<String>,
        ui: bool,
        provides: Vec<Prov>,
        requests: Vec<Req>,
        exports: Vec<Exp>,
        hosts: Vec<String>,
        network_purpose: String,
        metrics: bool,
        /// memory_mb, cpu_ms, wall_ms, output_kb.
        limits: [u32; 4],
        config: Vec<Conf>,
        schedule: Option<u32>,
        /// A field no manifest has: `(table header, line)`.
        unknown: Option<(String, String)>,
        /// The `kind` as written, when it is not `app` or `driver`.
        kind_text: Option<String>,
    }

    impl Spec {
        fn render(&self) -> String {
            let mut t = String::new();
            let unknown = |t: &mut String, table: &str| {
                if let Some((at, line)) = &self.unknown
                    && at == table
                {
                    t.push_str(line);
                    t.push('\n');
                }
            };
            t.push_str("[component]\n");
            t.push_str(&format!("name = {}\n", q(&self.name)));
            t.push_str(&format!("version = {}\n", q(&self.version)));
            let kind = self
                .kind_text
                .clone()
                .unwrap_or_else(|| self.kind.as_str().to_owned());
            t.push_str(&format!("kind = {}\n", q(&kind)));
            t.push_str(&format!("description = {}\n", q(&self.description)));
            t.push_str(&format!("author = {}\n", q(&self.author)));
            if let Some(h) = &self.homepage {
                t.push_str(&format!("homepage = {}\n", q(h)));
            }
            t.push_str(&format!("ui = {}\n", self.ui));
            unknown(&mut t, "component");
            let [memory, cpu, wall, output] = self.limits;
            t.push_str(&format!(
                "\n[limits]\nmemory_mb = {memory}\ncpu_ms = {cpu}\nwall_ms = {wall}\noutput_kb = {output}\n"
            ));
            unknown(&mut t, "limits");
            if !self.hosts.is_empty() || !self.network_purpose.is_empty() {
                let hosts: Vec<String> = self.hosts.iter().map(|h| q(h)).collect();
                t.push_str(&format!(
                    "\n[network]\nhosts = [{}]\npurpose = {}\n",
                    hosts.join(", "),
                    q(&self.network_purpose)
                ));
            }
            t.push_str(&format!("\n[host]\nmetrics = {}\n", self.metrics));
            if let Some(s) = self.schedule {
                t.push_str(&format!("\n[schedule]\nevery_seconds = {s}\n"));
            }
            for p in &self.provides {
                t.push_str(&format!(
                    "\n[[provides]]\nid = {}\nstore_type = {}\ntype = {}\n",
                    q(&p.id),
                    q(&p.store_type),
                    q(&p.data_type)
                ));
                if let Some(u) = &p.unit {
                    t.push_str(&format!("unit = {}\n", q(u)));
                }
            }
            for r in &self.requests {
                let ops: Vec<String> = r.operations.iter().map(|o| q(o)).collect();
                t.push_str(&format!(
                    "\n[[requests]]\nname = {}\ntype = {}\nstore_type = {}\noperations = [{}]\npurpose = {}\nrequired = {}\n",
                    q(&r.name),
                    q(&r.data_type),
                    q(&r.store_type),
                    ops.join(", "),
                    q(&r.purpose),
                    r.required
                ));
                if let Some(g) = &r.granularity {
                    t.push_str(&format!("granularity = {}\n", q(g)));
                }
            }
            for (i, e) in self.exports.iter().enumerate() {
                t.push_str(&format!(
                    "\n[[exports]]\ndestination = {}\npurpose = {}\nmax_bytes = {}\nper_hour = {}\n",
                    q(&e.destination),
                    q(&e.purpose),
                    e.max_bytes,
                    e.per_hour
                ));
                if i == 0 {
                    unknown(&mut t, "exports");
                }
            }
            for c in &self.config {
                t.push_str(&format!(
                    "\n[[config]]\nkey = {}\ndescription = {}\nrequired = {}\n",
                    q(&c.key),
                    q(&c.description),
                    c.required
                ));
                if let Some(d) = &c.default {
                    t.push_str(&format!("default = {}\n", q(d)));
                }
            }
            t
        }
    }

    /// Words an owner reads: never empty, with quotes, backslashes, newlines and non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        "[A-Za-z\u{e9}][A-Za-z0-9 ,.'\"\\\\\n\u{e9}\u{4e2d}-]{0,40}"
    }

    fn store_type() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["ts", "ts/blob", "blob", "kv"]).prop_map(str::to_owned)
    }

    fn version() -> impl Strategy<Value = String> {
        (
            0u64..1000,
            0u64..1000,
            0u64..1000,
            prop::option::of("[a-z][a-z0-9-]{0,5}(\\.[a-z][a-z0-9]{0,3})?"),
        )
            .prop_map(|(a, b, c, pre)| match pre {
                Some(p) => format!("{a}.{b}.{c}-{p}"),
                None => format!("{a}.{b}.{c}"),
            })
    }

    fn provided() -> impl Strategy<Value = Prov> {
        (
            "[A-Za-z0-9][A-Za-z0-9_-]{0,20}",
            store_type(),
            "[a-z][a-z-]{0,15}",
            prop::option::of("[a-z%/ ]{1,8}"),
        )
            .prop_map(|(id, store_type, data_type, unit)| Prov {
                id,
                store_type,
                data_type,
                unit,
            })
    }

    fn requested() -> impl Strategy<Value = Req> {
        (
            "[a-z][a-z0-9_-]{0,20}",
            prop_oneof![Just("*".to_owned()), "[a-z][a-z-]{0,15}"],
            store_type(),
            prop::sample::subsequence(vec!["read", "observe", "write", "actuate"], 1..=4),
            text(),
            any::<bool>(),
            prop::sample::select(vec![None, Some("raw"), Some("aggregates"), Some("hourly")]),
        )
            .prop_map(|(name, data_type, store_type, ops, purpose, required, g)| {
                let operations: Vec<String> = ops.into_iter().map(str::to_owned).collect();
                // Coarser than raw only for reads of series.
                let g = match g {
                    Some(g) if g != "raw" && (store_type == "kv" || operations != ["read"]) => Some("raw"),
                    g => g,
                };
                Req {
                    name,
                    data_type,
                    store_type,
                    operations,
                    purpose,
                    required,
                    granularity: g.map(str::to_owned),
                }
            })
    }

    fn exported() -> impl Strategy<Value = Exp> {
        (
            prop_oneof![
                "https://[a-z]{1,10}\\.example(:[1-9][0-9]{1,3})?/([a-z0-9]{1,8}/){0,3}",
                "https://[a-z]{1,10}\\.example/[a-z0-9]{1,8}",
                "http://(localhost|127\\.0\\.0\\.1|\\[::1\\]):[1-9][0-9]{1,3}/in/",
            ],
            text(),
            1u64..=64 << 20,
            1u32..=3600,
        )
            .prop_map(|(destination, purpose, max_bytes, per_hour)| Exp {
                destination,
                purpose,
                max_bytes,
                per_hour,
            })
    }

    fn configured() -> impl Strategy<Value = Conf> {
        (
            "[a-z][a-z0-9_]{0,15}",
            text(),
            any::<bool>(),
            prop::option::of("[ -~]{0,12}"),
        )
            .prop_map(|(key, description, required, default)| Conf {
                key,
                description,
                required,
                default: default.filter(|_| !required),
            })
    }

    /// A manifest every field of which is valid.
    fn valid() -> impl Strategy<Value = Spec> {
        let component = (
            "[a-z][a-z0-9-]{0,30}",
            version(),
            prop::sample::select(vec![Kind::App, Kind::Driver]),
            text(),
            prop_oneof![Just(String::new()), text()],
            prop::option::of("https://[a-z]{1,10}\\.example/[a-z]{0,8}"),
            any::<bool>(),
        );
        let data = (
            prop::collection::vec(provided(), 0..4),
            prop::collection::vec(requested(), 0..4),
            prop::collection::vec(exported(), 0..3),
            prop::collection::vec("[a-z]{1,10}\\.example(:[1-9][0-9]{0,3})?", 0..3),
            text(),
            any::<bool>(),
        );
        let rest = (
            1u32..=1024,
            1u32..=60_000,
            0u32..=300_000,
            1u32..=65_536,
            prop::collection::vec(configured(), 0..3),
            prop::option::of(1u32..=86_400),
        );
        (component, data, rest).prop_map(
            |(
                (name, version, kind, description, author, homepage, ui),
                (mut provides, mut requests, exports, hosts, network_purpose, metrics),
                (memory, cpu, wall, output, mut config, schedule),
            )| {
                // Distinct ids, names and keys: a suffix per position.
                for (i, p) in provides.iter_mut().enumerate() {
                    p.id = format!("{}-{i}", p.id);
                }
                for (i, r) in requests.iter_mut().enumerate() {
                    r.name = format!("{}-{i}", r.name);
                }
                for (i, c) in config.iter_mut().enumerate() {
                    c.key = format!("{}_{i}", c.key);
                }
                let app = kind == Kind::App;
                Spec {
                    name,
                    version,
                    kind,
                    description,
                    author,
                    homepage,
                    ui,
                    provides,
                    requests,
                    exports: if app { exports } else { Vec::new() },
                    hosts: if app { Vec::new() } else { hosts },
                    network_purpose: if app { String::new() } else { network_purpose },
                    metrics: metrics && !app,
                    limits: [memory, cpu, wall.max(cpu), output],
                    config,
                    schedule,
                    unknown: None,
                    kind_text: None,
                }
            },
        )
    }

    /// Every single-field change of `s` that makes it invalid, with the field the error must
    /// name; `pick` chooses among the bad values of each field.
    fn mutations(s: &Spec, pick: &prop::sample::Index) -> Vec<(Spec, String)> {
        let mut out = Vec::new();
        let mut one = |field: String, f: &dyn Fn(&mut Spec)| {
            let mut m = s.clone();
            f(&mut m);
            out.push((m, field));
        };
        let any = |values: &[&str]| pick.get(values).to_string();
        let long = |n: usize| "x".repeat(n);

        let v = any(&["", "X Y", "1abc", "-a", "a_b", "\u{fc}n\u{ef}", &long(65)]);
        one("component.name".into(), &|m| m.name = v.clone());
        let v = any(&["one", "1.2", "", "1.2.3.4", "v1.0.0", "01.2.3", "1.0.0-"]);
        one("component.version".into(), &|m| m.version = v.clone());
        let v = any(&["", "   ", "\n", "tab\there", "nul\0", &long(1025)]);
        one("component.description".into(), &|m| m.description = v.clone());
        let v = any(&["bell\u{7}", "\r", &long(1025)]);
        one("component.author".into(), &|m| m.author = v.clone());
        let v = any(&["http://a.example/", "not a url", "ftp://a.example/", "a.example"]);
        one("component.homepage".into(), &|m| m.homepage = Some(v.clone()));

        for i in 0..s.provides.len() {
            let v = any(&["", "..", "a/b", "a.b", "-a", "_a", "a b", &long(65)]);
            one(format!("provides[{i}].id"), &|m| m.provides[i].id = v.clone());
            if i > 0 {
                one(format!("provides[{i}].id"), &|m| {
                    m.provides[i].id = m.provides[0].id.clone()
                });
            }
            let v = any(&["table", "", "TS", "ts/"]);
            one(format!("provides[{i}].store_type"), &|m| {
                m.provides[i].store_type = v.clone()
            });
            let v = any(&["", " ", "\u{1b}[31m"]);
            one(format!("provides[{i}].type"), &|m| {
                m.provides[i].data_type = v.clone()
            });
        }
        for (i, r) in s.requests.iter().enumerate() {
            let v = any(&["", "A", "a b", "1a", "a.b", &long(65)]);
            one(format!("requests[{i}].name"), &|m| m.requests[i].name = v.clone());
            if i > 0 {
                one(format!("requests[{i}].name"), &|m| {
                    m.requests[i].name = m.requests[0].name.clone()
                });
            }
            let v = any(&["", "  ", "\u{1}"]);
            one(format!("requests[{i}].type"), &|m| {
                m.requests[i].data_type = v.clone()
            });
            let v = any(&["sql", "", "KV"]);
            one(format!("requests[{i}].store_type"), &|m| {
                m.requests[i].store_type = v.clone()
            });
            let v = any(&["", " \n "]);
            one(format!("requests[{i}].purpose"), &|m| {
                m.requests[i].purpose = v.clone()
            });
            one(format!("requests[{i}].operations"), &|m| {
                m.requests[i].operations.clear()
            });
            let j = pick.index(r.operations.len() + 1);
            let v = any(&["delete", "Read", "", "export"]);
            one(format!("requests[{i}].operations[{j}]"), &|m| {
                m.requests[i].operations.insert(j, v.clone())
            });
            let v = any(&["daily", "Raw", ""]);
            one(format!("requests[{i}].granularity"), &|m| {
                m.requests[i].granularity = Some(v.clone())
            });
            if r.store_type == "kv" || r.operations != ["read"] {
                let v = any(&["hourly", "aggregates"]);
                one(format!("requests[{i}].granularity"), &|m| {
                    m.requests[i].granularity = Some(v.clone())
                });
            }
        }
        if s.kind == Kind::App {
            for i in 0..s.exports.len() {
                let v = any(&[
                    "http://evil.example/",
                    "not a url",
                    "ftp://a.example/",
                    "https://user:pw@a.example/",
                    "https://a.example@evil.example/",
                    "http://localhost.evil.example/",
                    "",
                ]);
                one(format!("exports[{i}].destination"), &|m| {
                    m.exports[i].destination = v.clone()
                });
                let v = any(&["", " "]);
                one(format!("exports[{i}].purpose"), &|m| {
                    m.exports[i].purpose = v.clone()
                });
                let v = *pick.get(&[0, (64 << 20) + 1, u64::MAX]);
                one(format!("exports[{i}].max_bytes"), &|m| m.exports[i].max_bytes = v);
                let v = *pick.get(&[0, 3601, u32::MAX]);
                one(format!("exports[{i}].per_hour"), &|m| m.exports[i].per_hour = v);
            }
            one("network.hosts".into(), &|m| {
                m.hosts = vec!["a.example".into()];
                m.network_purpose = "to fetch".into();
            });
            one("host.metrics".into(), &|m| m.metrics = true);
        } else {
            one("exports".into(), &|m| {
                m.exports = vec![Exp {
                    destination: "https://a.example/".into(),
                    purpose: "to share".into(),
                    max_bytes: 1,
                    per_hour: 1,
                }]
            });
            let i = pick.index(s.hosts.len() + 1);
            let v = any(&[
                "https://a.example",
                "a.example/x",
                "*.example",
                "user@a.example",
                "a.example?x",
                "a.example#x",
                "evil.example#@a.example",
                ":@evil.example",
                "a.example\\",
                "a.example:99999",
                "",
            ]);
            one(format!("network.hosts[{i}]"), &|m| {
                m.hosts.insert(i, v.clone());
                m.network_purpose = "to fetch".into();
            });
            let v = any(&["", "  "]);
            one("network.purpose".into(), &|m| {
                m.hosts.push("a.example".into());
                m.network_purpose = v.clone();
            });
        }
        let cpu = s.limits[1];
        let v = *pick.get(&[0, 1025, u32::MAX]);
        one("limits.memory_mb".into(), &|m| m.limits[0] = v);
        let v = *pick.get(&[0, 60_001, u32::MAX]);
        one("limits.cpu_ms".into(), &|m| m.limits[1] = v);
        let v = *pick.get(&[0, 300_001, cpu - 1]);
        one("limits.wall_ms".into(), &|m| m.limits[2] = v);
        let v = *pick.get(&[0, 65_537, u32::MAX]);
        one("limits.output_kb".into(), &|m| m.limits[3] = v);
        for i in 0..s.config.len() {
            let v = any(&["", "A", "a-b", "1a", &long(65)]);
            one(format!("config[{i}].key"), &|m| m.config[i].key = v.clone());
            if i > 0 {
                one(format!("config[{i}].key"), &|m| {
                    m.config[i].key = m.config[0].key.clone()
                });
            }
            let v = any(&["", "\t"]);
            one(format!("config[{i}].description"), &|m| {
                m.config[i].description = v.clone()
            });
            one(format!("config[{i}].default"), &|m| {
                m.config[i].required = true;
                m.config[i].default = Some("x".into());
            });
        }
        let v = *pick.get(&[0, 86_401, u32::MAX]);
        one("schedule.every_seconds".into(), &|m| m.schedule = Some(v));
        out
    }

    /// A valid manifest with one character inserted or removed somewhere.
    fn damaged() -> impl Strategy<Value = String> {
        (
            valid(),
            any::<prop::sample::Index>(),
            any::<char>(),
            any::<bool>(),
        )
            .prop_map(|(s, at, c, insert)| {
                let mut text = s.render();
                let places: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
                let at = *at.get(&places);
                if insert {
                    text.insert(at, c);
                } else if at < text.len() {
                    text.remove(at);
                }
                text
            })
    }

    #[test]
    fn a_field_error_reads_as_the_fixtures_do() {
        // The format `an_invalid_field_is_named_in_the_error` relies on (see tests/manifests/bad).
        let err = Manifest::parse(
            "[component]\nname = \"X\"\nversion = \"1.0.0\"\nkind = \"app\"\ndescription = \"d\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "manifest field `component.name`: \"X\" must be 1-64 of a-z 0-9 -, starting with a letter"
        );
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panicking(text in any::<String>()) {
            if let Ok(m) = Manifest::parse(&text) {
                let _ = m.review();
            }
        }

        #[test]
        fn damaged_manifests_parse_or_fail_without_panicking(text in damaged()) {
            if let Ok(m) = Manifest::parse(&text) {
                prop_assert!(m.review().len() >= 3);
            }
        }

        #[test]
        fn a_valid_manifest_parses_and_its_fields_round_trip(s in valid()) {
            let text = s.render();
            let m = Manifest::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let c = &m.component;
            prop_assert_eq!(&c.name, &s.name);
            prop_assert_eq!(&c.version, &s.version);
            prop_assert_eq!(c.kind, s.kind);
            prop_assert_eq!(&c.description, &s.description);
            prop_assert_eq!(&c.author, &s.author);
            prop_assert_eq!(&c.homepage, &s.homepage);
            prop_assert_eq!(c.ui, s.ui);
            prop_assert_eq!(m.provides.len(), s.provides.len());
            for (p, e) in m.provides.iter().zip(&s.provides) {
                prop_assert_eq!(&p.id, &e.id);
                prop_assert_eq!(&p.meta.store_type, &e.store_type);
                prop_assert_eq!(&p.meta.data_type, &e.data_type);
                prop_assert_eq!(&p.meta.unit, &e.unit);
                prop_assert!(m.provided_meta(p).is_ok());
            }
            prop_assert_eq!(m.requests.len(), s.requests.len());
            for (r, e) in m.requests.iter().zip(&s.requests) {
                prop_assert_eq!(&r.name, &e.name);
                prop_assert_eq!(&r.data_type, &e.data_type);
                prop_assert_eq!(&r.store_type, &e.store_type);
                prop_assert_eq!(&r.operations, &e.operations);
                prop_assert_eq!(&r.purpose, &e.purpose);
                prop_assert_eq!(r.required, e.required);
                prop_assert_eq!(&r.granularity, &e.granularity);
            }
            prop_assert_eq!(m.exports.len(), s.exports.len());
            for (x, e) in m.exports.iter().zip(&s.exports) {
                prop_assert_eq!(&x.destination, &e.destination);
                prop_assert_eq!(&x.purpose, &e.purpose);
                prop_assert_eq!(x.max_bytes, e.max_bytes);
                prop_assert_eq!(x.per_hour, e.per_hour);
            }
            prop_assert_eq!(&m.network.hosts, &s.hosts);
            prop_assert_eq!(m.host.metrics, s.metrics);
            let l = &m.limits;
            prop_assert_eq!([l.memory_mb, l.cpu_ms, l.wall_ms, l.output_kb], s.limits);
            let keys: Vec<&str> = m.config.iter().map(|c| c.key.as_str()).collect();
            let expected: Vec<&str> = s.config.iter().map(|c| c.key.as_str()).collect();
            prop_assert_eq!(keys, expected);
            prop_assert_eq!(m.schedule.as_ref().map(|x| x.every_seconds), s.schedule);
            // One line for what it is, each provided, requested and exported thing, the network
            // and the limits, and one for measuring the host.
            let review = m.review();
            let lines = 3 + s.provides.len() + s.requests.len() + s.exports.len() + usize::from(s.metrics);
            prop_assert_eq!(review.len(), lines, "{:?}", review);
            prop_assert!(review[0].starts_with(&format!("{} {} ", s.name, s.version)), "{}", review[0]);
        }

        #[test]
        fn an_invalid_field_is_named_in_the_error(s in valid(), pick in any::<prop::sample::Index>()) {
            for (m, field) in mutations(&s, &pick) {
                let text = m.render();
                match Manifest::parse(&text) {
                    Err(e @ ManifestError::Field { .. }) => {
                        let ManifestError::Field { field: named, .. } = &e else { unreachable!() };
                        prop_assert_eq!(named, &field, "{}\n{}", e, text);
                        let shown = e.to_string();
                        prop_assert!(shown.starts_with(&format!("manifest field `{field}`: ")), "{}", shown);
                    }
                    other => prop_assert!(false, "{field}: expected an error naming it, got {other:?}\n{text}"),
                }
            }
        }

        #[test]
        fn unknown_fields_and_kinds_are_named_in_the_error(
            s in valid(),
            table in prop::sample::select(vec!["component", "limits", "exports"]),
            kind in "[a-z]{1,8}",
        ) {
            let mut m = s.clone();
            m.unknown = Some((table.to_owned(), "colour = \"red\"".into()));
            let err = Manifest::parse(&m.render());
            if table != "exports" || !s.exports.is_empty() {
                prop_assert!(
                    matches!(&err, Err(ManifestError::Syntax(e)) if e.contains("unknown field `colour`")),
                    "{:?}", err
                );
            }
            prop_assume!(kind != "app" && kind != "driver");
            let mut m = s;
            m.kind_text = Some(kind.clone());
            let err = Manifest::parse(&m.render());
            prop_assert!(
                matches!(&err, Err(ManifestError::Syntax(e)) if e.contains(&format!("unknown variant `{kind}`"))),
                "{:?}", err
            );
        }
    }
}
