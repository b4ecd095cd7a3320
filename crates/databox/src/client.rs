//! The command-line client: `databox store|datasource|ts|kv|cat` talk to a running box over its
//! HTTP API with the owner's token, print JSON (or CSV) for scripts, and exit non-zero with the
//! box's error message when a request is refused.

use std::io::{Read, Write};

use anyhow::{Context, bail};
use futures::StreamExt;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, header};
use serde_json::{Value, json};

/// Where the box is and how to prove we are the owner.
#[derive(clap::Args, Clone)]
pub struct Conn {
    /// The box's URL.
    #[arg(
        long,
        env = "DATABOX_URL",
        default_value = "http://127.0.0.1:5990",
        global = true
    )]
    url: String,
    /// The owner's token (printed by the box on first start).
    #[arg(long, env = "DATABOX_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
}

impl Conn {
    /// The box's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[derive(clap::Subcommand)]
pub enum StoreCmd {
    /// List stores and their datasources.
    List(#[command(flatten)] Conn),
    /// Create a store.
    Create {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// What it holds.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Erase a store and destroy its key: its data cannot be recovered.
    Erase {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Confirm that the data is to be destroyed.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum DatasourceCmd {
    /// List a store's datasources.
    List {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
    },
    /// Create a datasource (or update its description).
    Create {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
        /// ts (numeric series), ts/blob (JSON documents) or kv (key-value).
        #[arg(long, default_value = "ts")]
        kind: String,
        /// Description for people.
        #[arg(long, default_value = "")]
        description: String,
        /// Type of data, e.g. temperature.
        #[arg(long = "type", default_value = "")]
        data_type: String,
        /// Unit, e.g. celsius.
        #[arg(long)]
        unit: Option<String>,
        /// Where, e.g. kitchen.
        #[arg(long)]
        location: Option<String>,
        /// Who made the device or service.
        #[arg(long)]
        vendor: Option<String>,
        /// The datasource is an actuator.
        #[arg(long)]
        actuator: bool,
    },
    /// Keep only the last N days of a series (optionally downsampling older points to hourly).
    Retention {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
        /// Days to keep; omit to keep everything.
        #[arg(long)]
        keep_days: Option<u32>,
        /// Fold purged points into hourly count/sum/min/max/mean first.
        #[arg(long)]
        downsample: bool,
    },
    /// Remove a datasource and all its data.
    Remove {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
    },
}

#[derive(clap::Subcommand)]
pub enum TsCmd {
    /// Write a point: a number (with --tag), a JSON document (--json, blob series), or a batch.
    Write {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
        /// The numeric value.
        #[arg(allow_negative_numbers = true)]
        value: Option<f64>,
        /// A tag, as name=value (repeatable).
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Timestamp in epoch milliseconds (default: now, by the box's clock).
        #[arg(long)]
        timestamp: Option<i64>,
        /// A JSON document for a blob series.
        #[arg(long, conflicts_with = "value")]
        json: Option<String>,
        /// A file (or - for standard input) holding a JSON array of {"timestamp", "data"} points.
        #[arg(long, conflicts_with_all = ["value", "json"])]
        batch: Option<String>,
    },
    /// Read: QUERY is a read path such as latest, last/10, since/T, range/T1/T2/mean,
    /// last/100/filter/room/equals/lounge/max. DATASOURCE may be a comma-separated join.
    Read {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id(s).
        datasource: String,
        /// The read path.
        #[arg(default_value = "latest")]
        query: String,
        /// Print rows as CSV (timestamp, datasource, data fields) instead of JSON.
        #[arg(long)]
        csv: bool,
    },
    /// Delete points: RANGE is since/T or range/T1/T2.
    Delete {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id(s).
        datasource: String,
        /// since/T or range/T1/T2.
        range: String,
    },
    /// Print every new write to a datasource as a JSON line, until interrupted.
    Observe {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
    },
}

#[derive(clap::Subcommand)]
pub enum KvCmd {
    /// Print a value (raw bytes) to standard output.
    Get {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
        /// Key.
        key: String,
    },
    /// Store a value given as an argument, or read from --file (- for standard input).
    Put {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
        /// Key.
        key: String,
        /// The value.
        value: Option<String>,
        /// Read the value from a file (- for standard input).
        #[arg(long, conflicts_with = "value")]
        file: Option<String>,
        /// json, text or binary (default: json if the value parses as JSON, else text).
        #[arg(long = "type")]
        value_type: Option<String>,
    },
    /// List the keys.
    List {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
    },
    /// Delete a key, or every key with --all.
    Delete {
        #[command(flatten)]
        conn: Conn,
        /// Store id.
        store: String,
        /// Datasource id.
        datasource: String,
        /// Key.
        #[arg(required_unless_present = "all")]
        key: Option<String>,
        /// Delete every key.
        #[arg(long)]
        all: bool,
    },
}

#[derive(clap::Args)]
pub struct CatArgs {
    #[command(flatten)]
    conn: Conn,
    /// A store's catalogue instead of the root one.
    store: Option<String>,
    /// Search: items with this relation.
    #[arg(long)]
    rel: Option<String>,
    /// Search: items with this value.
    #[arg(long)]
    val: Option<String>,
    /// Search: the item with this href.
    #[arg(long)]
    href: Option<String>,
}

/// One client command.
pub enum Action {
    Store(StoreCmd),
    Datasource(DatasourceCmd),
    Ts(TsCmd),
    Kv(KvCmd),
    Cat(CatArgs),
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not name=value"))
}

/// Characters escaped in a path segment: everything but unreserved characters and `,`.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b',');

/// Percent-encodes one path segment.
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

fn path_of(query: &str) -> String {
    query
        .trim_matches('/')
        .split('/')
        .map(seg)
        .collect::<Vec<_>>()
        .join("/")
}

/// An HTTP client of the box with the owner's token.
pub struct Client {
    http: reqwest::Client,
    conn: Conn,
}

/// A request body.
pub enum Payload {
    None,
    Json(Value),
    Bytes(Vec<u8>, std::borrow::Cow<'static, str>),
}

impl Client {
    /// A client of the box `conn` names.
    pub fn new(conn: Conn) -> anyhow::Result<Self> {
        if conn.token.as_deref().unwrap_or("").is_empty() {
            bail!("no owner token: set DATABOX_TOKEN (the box prints it on first start) or pass --token");
        }
        Ok(Client {
            http: reqwest::Client::new(),
            conn,
        })
    }

    /// Sends a request; a refusal becomes an error with the box's reason.
    pub async fn send(&self, method: Method, path: &str, body: Payload) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{}", self.conn.url.trim_end_matches('/'), path);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.conn.token.as_deref().unwrap_or(""));
        req = match body {
            Payload::None => req,
            Payload::Json(v) => req.json(&v),
            Payload::Bytes(b, ct) => req.header(header::CONTENT_TYPE, ct.as_ref()).body(b),
        };
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the box at {}", self.conn.url))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let msg = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(text);
            bail!("the box answered {status}: {msg}");
        }
        Ok(resp)
    }

    /// Sends a request and parses the JSON answer.
    pub async fn json(&self, method: Method, path: &str, body: Payload) -> anyhow::Result<Value> {
        Ok(self.send(method, path, body).await?.json().await?)
    }
}

/// Prints JSON for people and scripts.
pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("json prints"));
}

/// An epoch-milliseconds time as people read it (RFC 3339, UTC, to the second).
pub fn time_of(ms: i64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64),
    )
    .to_string()
}

fn read_input(source: &str) -> anyhow::Result<Vec<u8>> {
    if source == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(source).with_context(|| format!("reading {source}"))
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn print_csv(rows: &Value) -> anyhow::Result<()> {
    let Some(rows) = rows.as_array() else {
        print_json(rows);
        return Ok(());
    };
    let mut fields: Vec<String> = Vec::new();
    for r in rows {
        if let Some(obj) = r.get("data").and_then(Value::as_object) {
            for k in obj.keys() {
                if !fields.contains(k) {
                    fields.push(k.clone());
                }
            }
        }
    }
    let out = std::io::stdout();
    let mut out = out.lock();
    writeln!(
        out,
        "timestamp,datasource{}",
        fields
            .iter()
            .map(|f| format!(",{}", csv_field(f)))
            .collect::<String>()
    )?;
    for r in rows {
        let mut line = format!(
            "{},{}",
            r["timestamp"],
            csv_field(r.get("datasource").and_then(Value::as_str).unwrap_or(""))
        );
        for f in &fields {
            let v = match r["data"].get(f) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            line.push(',');
            line.push_str(&csv_field(&v));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Runs a client command against the box.
pub fn run(action: Action) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(action))
}

async fn run_async(action: Action) -> anyhow::Result<()> {
    match action {
        Action::Store(cmd) => match cmd {
            StoreCmd::List(conn) => print_json(
                &Client::new(conn)?
                    .json(Method::GET, "/api/v1/stores", Payload::None)
                    .await?,
            ),
            StoreCmd::Create {
                conn,
                store,
                description,
            } => {
                let v = Client::new(conn)?
                    .json(
                        Method::PUT,
                        &format!("/api/v1/stores/{}", seg(&store)),
                        Payload::Json(json!({ "description": description })),
                    )
                    .await?;
                print_json(&v);
            }
            StoreCmd::Erase { conn, store, yes } => {
                if !yes {
                    bail!("erasing {store} destroys its key and all its data for good; add --yes to confirm");
                }
                print_json(
                    &Client::new(conn)?
                        .json(
                            Method::DELETE,
                            &format!("/api/v1/stores/{}", seg(&store)),
                            Payload::None,
                        )
                        .await?,
                );
            }
        },
        Action::Datasource(cmd) => match cmd {
            DatasourceCmd::List { conn, store } => print_json(
                &Client::new(conn)?
                    .json(
                        Method::GET,
                        &format!("/api/v1/stores/{}/datasources", seg(&store)),
                        Payload::None,
                    )
                    .await?,
            ),
            DatasourceCmd::Create {
                conn,
                store,
                datasource,
                kind,
                description,
                data_type,
                unit,
                location,
                vendor,
                actuator,
            } => {
                let body = json!({
                    "store_type": kind, "description": description, "type": data_type, "unit": unit,
                    "location": location, "vendor": vendor, "actuator": actuator,
                });
                let body = Value::Object(
                    body.as_object()
                        .expect("object")
                        .iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                );
                let path = format!("/api/v1/stores/{}/datasources/{}", seg(&store), seg(&datasource));
                print_json(
                    &Client::new(conn)?
                        .json(Method::PUT, &path, Payload::Json(body))
                        .await?,
                );
            }
            DatasourceCmd::Retention {
                conn,
                store,
                datasource,
                keep_days,
                downsample,
            } => {
                let path = format!(
                    "/api/v1/stores/{}/datasources/{}/retention",
                    seg(&store),
                    seg(&datasource)
                );
                let c = Client::new(conn)?;
                let v = match keep_days {
                    Some(days) => {
                        c.json(
                            Method::PUT,
                            &path,
                            Payload::Json(json!({ "keep_days": days, "downsample_hourly": downsample })),
                        )
                        .await?
                    }
                    None => c.json(Method::DELETE, &path, Payload::None).await?,
                };
                print_json(&v);
            }
            DatasourceCmd::Remove {
                conn,
                store,
                datasource,
            } => {
                let path = format!("/api/v1/stores/{}/datasources/{}", seg(&store), seg(&datasource));
                print_json(
                    &Client::new(conn)?
                        .json(Method::DELETE, &path, Payload::None)
                        .await?,
                );
            }
        },
        Action::Ts(cmd) => match cmd {
            TsCmd::Write {
                conn,
                store,
                datasource,
                value,
                tags,
                timestamp,
                json: doc,
                batch,
            } => {
                let c = Client::new(conn)?;
                let base = format!("/api/v1/stores/{}/ts/{}", seg(&store), seg(&datasource));
                let v = if let Some(source) = batch {
                    let bytes = read_input(&source)?;
                    c.json(
                        Method::POST,
                        &format!("{base}/batch"),
                        Payload::Bytes(bytes, "application/json".into()),
                    )
                    .await?
                } else if let Some(doc) = doc {
                    let doc: Value = serde_json::from_str(&doc).context("--json is not valid JSON")?;
                    let path = match timestamp {
                        Some(t) => format!("{base}?timestamp={t}"),
                        None => base,
                    };
                    c.json(Method::POST, &path, Payload::Json(doc)).await?
                } else {
                    let Some(value) = value else {
                        bail!("give a VALUE, --json DOCUMENT or --batch FILE")
                    };
                    let mut point = serde_json::Map::new();
                    point.insert("value".into(), json!(value));
                    for (k, v) in tags {
                        point.insert(k, json!(v));
                    }
                    if let Some(t) = timestamp {
                        point.insert("timestamp".into(), json!(t));
                    }
                    c.json(Method::POST, &base, Payload::Json(Value::Object(point)))
                        .await?
                };
                print_json(&v);
            }
            TsCmd::Read {
                conn,
                store,
                datasource,
                query,
                csv,
            } => {
                let path = format!(
                    "/api/v1/stores/{}/ts/{}/{}",
                    seg(&store),
                    seg(&datasource),
                    path_of(&query)
                );
                let v = Client::new(conn)?.json(Method::GET, &path, Payload::None).await?;
                if csv { print_csv(&v)? } else { print_json(&v) }
            }
            TsCmd::Delete {
                conn,
                store,
                datasource,
                range,
            } => {
                let path = format!(
                    "/api/v1/stores/{}/ts/{}/{}",
                    seg(&store),
                    seg(&datasource),
                    path_of(&range)
                );
                print_json(
                    &Client::new(conn)?
                        .json(Method::DELETE, &path, Payload::None)
                        .await?,
                );
            }
            TsCmd::Observe {
                conn,
                store,
                datasource,
            } => {
                let path = format!("/api/v1/stores/{}/ts/{}/observe", seg(&store), seg(&datasource));
                stream_lines(Client::new(conn)?, &path).await?;
            }
        },
        Action::Kv(cmd) => match cmd {
            KvCmd::Get {
                conn,
                store,
                datasource,
                key,
            } => {
                let path = format!(
                    "/api/v1/stores/{}/kv/{}/key/{}",
                    seg(&store),
                    seg(&datasource),
                    seg(&key)
                );
                let bytes = Client::new(conn)?
                    .send(Method::GET, &path, Payload::None)
                    .await?
                    .bytes()
                    .await?;
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)?;
                if !bytes.ends_with(b"\n") && std::io::IsTerminal::is_terminal(&out) {
                    writeln!(out)?;
                }
            }
            KvCmd::Put {
                conn,
                store,
                datasource,
                key,
                value,
                file,
                value_type,
            } => {
                let bytes = match (value, file) {
                    (Some(v), _) => v.into_bytes(),
                    (None, Some(f)) => read_input(&f)?,
                    (None, None) => bail!("give a VALUE or --file"),
                };
                let ct = match value_type.as_deref() {
                    Some("json") => "application/json",
                    Some("text") => "text/plain; charset=utf-8",
                    Some("binary") => "application/octet-stream",
                    Some(other) => bail!("--type {other:?}: expected json, text or binary"),
                    None if serde_json::from_slice::<Value>(&bytes).is_ok() => "application/json",
                    None if std::str::from_utf8(&bytes).is_ok() => "text/plain; charset=utf-8",
                    None => "application/octet-stream",
                };
                let path = format!(
                    "/api/v1/stores/{}/kv/{}/key/{}",
                    seg(&store),
                    seg(&datasource),
                    seg(&key)
                );
                print_json(
                    &Client::new(conn)?
                        .json(Method::PUT, &path, Payload::Bytes(bytes, ct.into()))
                        .await?,
                );
            }
            KvCmd::List {
                conn,
                store,
                datasource,
            } => {
                let path = format!("/api/v1/stores/{}/kv/{}/keys", seg(&store), seg(&datasource));
                print_json(&Client::new(conn)?.json(Method::GET, &path, Payload::None).await?);
            }
            KvCmd::Delete {
                conn,
                store,
                datasource,
                key,
                all,
            } => {
                let base = format!("/api/v1/stores/{}/kv/{}", seg(&store), seg(&datasource));
                let path = match (key, all) {
                    (_, true) => format!("{base}/keys"),
                    (Some(k), false) => format!("{base}/key/{}", seg(&k)),
                    (None, false) => bail!("give a KEY or --all"),
                };
                print_json(
                    &Client::new(conn)?
                        .json(Method::DELETE, &path, Payload::None)
                        .await?,
                );
            }
        },
        Action::Cat(CatArgs {
            conn,
            store,
            rel,
            val,
            href,
        }) => {
            let mut path = match store {
                Some(s) => format!("/api/v1/stores/{}/cat", seg(&s)),
                None => "/cat".to_owned(),
            };
            let params: Vec<String> = [("rel", rel), ("val", val), ("href", href)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={}", seg(&v))))
                .collect();
            if !params.is_empty() {
                path = format!("{path}?{}", params.join("&"));
            }
            print_json(&Client::new(conn)?.json(Method::GET, &path, Payload::None).await?);
        }
    }
    Ok(())
}

/// Prints each `data:` line of an SSE stream as one JSON line.
pub async fn stream_lines(client: Client, path: &str) -> anyhow::Result<()> {
    let resp = client.send(Method::GET, path, Payload::None).await?;
    let mut stream = resp.bytes_stream();
    let mut buf = Vec::new();
    let mut out = std::io::stdout();
    while let Some(chunk) = stream.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            if let Some(data) = line.trim_end().strip_prefix("data:") {
                writeln!(out, "{}", data.trim_start())?;
                out.flush()?;
            }
        }
    }
    Ok(())
}
