//! `databox principals|grant|grants|revoke|token|audit|statement`: the owner's access and audit
//! commands, over the box's API (and `audit verify --data-dir` offline, on a stopped box).

use std::path::PathBuf;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Conn, Payload, print_json, seg, time_of};

/// A time: epoch milliseconds, an RFC 3339 date (`2026-12-01` or `2026-12-01T10:00:00Z`), or a
/// duration from now (`30d`, `12h`) — ahead of now for expiries, back from now for windows.
fn when(s: &str, ahead: bool) -> anyhow::Result<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let now = databox_store::now_ms();
    if let Ok(d) = humantime::parse_duration(s) {
        let d = d.as_millis() as i64;
        return Ok(if ahead { now + d } else { now - d });
    }
    let text = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    let t = humantime::parse_rfc3339_weak(&text).with_context(|| {
        format!("{s:?} is not a time: give epoch ms, 2026-12-01, 2026-12-01T10:00:00Z or a duration like 30d")
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64)
}

#[derive(clap::Subcommand)]
pub enum PrincipalsCmd {
    /// List principals (the default).
    List,
    /// Register an app, a driver or an external client.
    Add {
        /// Its id.
        id: String,
        /// app, driver or client.
        #[arg(long, default_value = "client")]
        kind: String,
        /// What it is.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Remove a principal with its grants and tokens.
    Remove {
        /// Its id.
        id: String,
    },
}

#[derive(clap::Args)]
pub struct PrincipalsArgs {
    #[command(flatten)]
    conn: Conn,
    #[command(subcommand)]
    cmd: Option<PrincipalsCmd>,
}

#[derive(clap::Args)]
pub struct GrantArgs {
    #[command(flatten)]
    conn: Conn,
    /// Who.
    principal: String,
    /// read, observe, write, actuate or export.
    operation: String,
    /// STORE/DATASOURCE, or STORE for every datasource of the store.
    target: String,
    /// The oldest data it may see (a time, or a duration back from now like 30d).
    #[arg(long)]
    since: Option<String>,
    /// The newest data it may see.
    #[arg(long)]
    until: Option<String>,
    /// When the grant ends (a time, or a duration from now like 7d).
    #[arg(long)]
    expires: Option<String>,
    /// raw (default), aggregates or hourly.
    #[arg(long)]
    granularity: Option<String>,
    /// Why.
    #[arg(long, default_value = "")]
    purpose: String,
}

#[derive(clap::Subcommand)]
pub enum TokenCmd {
    /// List the tokens minted (never the tokens themselves).
    List(#[command(flatten)] Conn),
    /// Mint a token for a principal and print it (once: the box keeps no copy).
    Mint {
        #[command(flatten)]
        conn: Conn,
        /// For whom.
        principal: String,
        /// When it expires (a time, or a duration like 90d).
        #[arg(long)]
        expires: Option<String>,
        /// What for.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Narrow a token: fewer operations, fewer datasources, an earlier expiry.
    Attenuate {
        #[command(flatten)]
        conn: Conn,
        /// The token to narrow (default: read from standard input).
        #[arg(long = "from")]
        from: Option<String>,
        /// Allow only this operation (repeatable).
        #[arg(long = "op")]
        operations: Vec<String>,
        /// Allow only this datasource, STORE/DATASOURCE or STORE/* (repeatable).
        #[arg(long = "datasource")]
        datasources: Vec<String>,
        /// Expire by then.
        #[arg(long)]
        expires: Option<String>,
        /// Narrow offline with the box's public key (hex, from `databox token public-key`),
        /// without contacting the box.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Print the box's public key for tokens, for narrowing them offline.
    PublicKey(#[command(flatten)] Conn),
    /// Revoke a token by id, or a token given in full (then only it and what was narrowed from it).
    Revoke {
        #[command(flatten)]
        conn: Conn,
        /// Token id (t-...) or the token.
        #[arg(value_name = "TOKEN")]
        id_or_token: String,
    },
}

#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Recompute the chain and check the signatures; exits 1 and names the first bad record.
    Verify {
        #[command(flatten)]
        conn: Conn,
        /// Verify the files of a (stopped) box directly instead of asking the running box.
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Records matching filters, oldest first.
    Query {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        principal: Option<String>,
        #[arg(long)]
        store: Option<String>,
        #[arg(long)]
        datasource: Option<String>,
        /// read, observe, write, actuate, export, or an admin verb.
        #[arg(long)]
        operation: Option<String>,
        /// ok, refused or failed.
        #[arg(long)]
        outcome: Option<String>,
        /// From (a time, or a duration back like 24h).
        #[arg(long)]
        since: Option<String>,
        /// Until.
        #[arg(long)]
        until: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Print every new record as a JSON line, until interrupted.
    Tail(#[command(flatten)] Conn),
}

/// One access command.
pub enum Action {
    Principals(PrincipalsArgs),
    Grant(GrantArgs),
    Grants {
        conn: Conn,
        principal: Option<String>,
        json: bool,
    },
    Revoke {
        conn: Conn,
        grant: String,
    },
    Token(TokenCmd),
    Audit(AuditCmd),
    Statement {
        conn: Conn,
        month: Option<String>,
    },
    DashboardLink {
        conn: Conn,
    },
}

/// Prints grants as a table, one line each, with their time limits on a line below when they
/// have any.
fn print_grants(grants: &[Value]) {
    if grants.is_empty() {
        println!("no grants: no app, driver or client can reach any data");
        return;
    }
    println!(
        "{:<20} {:<18} {:<8} {:<32} {:<10} WHY",
        "PRINCIPAL", "ID", "MAY", "DATA", "HOW FINE"
    );
    for g in grants {
        let text = |k: &str| g[k].as_str().unwrap_or("").to_owned();
        println!(
            "{:<20} {:<18} {:<8} {:<32} {:<10} {}",
            text("principal"),
            text("id"),
            text("operation"),
            format!("{}/{}", text("store"), g["datasource"].as_str().unwrap_or("*")),
            text("granularity"),
            if text("purpose").is_empty() {
                "-".to_owned()
            } else {
                text("purpose")
            },
        );
        let at = |k: &str| g[k].as_i64().map(time_of);
        let limits: Vec<String> = [
            at("since").map(|t| format!("data from {t}")),
            at("until").map(|t| format!("data until {t}")),
            at("expires").map(|t| format!("ends {t}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !limits.is_empty() {
            println!("    {}", limits.join("; "));
        }
    }
}

/// Runs an access command.
pub fn run(action: Action) -> anyhow::Result<()> {
    if let Action::Audit(AuditCmd::Verify {
        data_dir: Some(dir), ..
    }) = &action
    {
        let report = databox_audit::verify(&dir.join("audit"))?;
        return report_verify(&serde_json::to_value(report)?);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(action))
}

fn report_verify(v: &Value) -> anyhow::Result<()> {
    match v.get("first_bad").filter(|b| !b.is_null()) {
        None => {
            println!(
                "The audit log is intact: {} records, {} signed checkpoints verified.",
                v["records"], v["checkpoints"]
            );
            Ok(())
        }
        Some(bad) => bail!(
            "the audit log was tampered with: at line {}: {}",
            bad[0],
            bad[1].as_str().unwrap_or("")
        ),
    }
}

async fn run_async(action: Action) -> anyhow::Result<()> {
    match action {
        Action::Principals(PrincipalsArgs { conn, cmd }) => {
            let c = Client::new(conn)?;
            let v = match cmd.unwrap_or(PrincipalsCmd::List) {
                PrincipalsCmd::List => c.json(Method::GET, "/api/v1/principals", Payload::None).await?,
                PrincipalsCmd::Add {
                    id,
                    kind,
                    description,
                } => {
                    let body = json!({ "kind": kind, "description": description });
                    c.json(
                        Method::PUT,
                        &format!("/api/v1/principals/{}", seg(&id)),
                        Payload::Json(body),
                    )
                    .await?
                }
                PrincipalsCmd::Remove { id } => {
                    c.json(
                        Method::DELETE,
                        &format!("/api/v1/principals/{}", seg(&id)),
                        Payload::None,
                    )
                    .await?
                }
            };
            print_json(&v);
        }
        Action::Grant(g) => {
            let (store, datasource) = match g.target.split_once('/') {
                Some((s, d)) if d != "*" => (s.to_owned(), Some(d.to_owned())),
                Some((s, _)) => (s.to_owned(), None),
                None => (g.target.clone(), None),
            };
            let body = json!({
                "principal": g.principal, "operation": g.operation, "store": store, "datasource": datasource,
                "since": g.since.as_deref().map(|s| when(s, false)).transpose()?,
                "until": g.until.as_deref().map(|s| when(s, false)).transpose()?,
                "expires": g.expires.as_deref().map(|s| when(s, true)).transpose()?,
                "granularity": g.granularity, "purpose": g.purpose,
            });
            print_json(
                &Client::new(g.conn)?
                    .json(Method::POST, "/api/v1/grants", Payload::Json(body))
                    .await?,
            );
        }
        Action::Grants {
            conn,
            principal,
            json,
        } => {
            let path = match principal {
                Some(p) => format!("/api/v1/grants?principal={}", seg(&p)),
                None => "/api/v1/grants".into(),
            };
            let grants = Client::new(conn)?.json(Method::GET, &path, Payload::None).await?;
            if json {
                print_json(&grants);
            } else {
                print_grants(grants.as_array().map(Vec::as_slice).unwrap_or_default());
            }
        }
        Action::Revoke { conn, grant } => {
            print_json(
                &Client::new(conn)?
                    .json(
                        Method::DELETE,
                        &format!("/api/v1/grants/{}", seg(&grant)),
                        Payload::None,
                    )
                    .await?,
            );
        }
        Action::Token(cmd) => match cmd {
            TokenCmd::List(conn) => print_json(
                &Client::new(conn)?
                    .json(Method::GET, "/api/v1/tokens", Payload::None)
                    .await?,
            ),
            TokenCmd::Mint {
                conn,
                principal,
                expires,
                description,
            } => {
                let body = json!({
                    "principal": principal, "description": description,
                    "expires": expires.as_deref().map(|s| when(s, true)).transpose()?,
                });
                let v = Client::new(conn)?
                    .json(Method::POST, "/api/v1/tokens", Payload::Json(body))
                    .await?;
                eprintln!(
                    "Token {} for {principal}. It is shown only this once:",
                    v["id"].as_str().unwrap_or("")
                );
                println!("{}", v["token"].as_str().unwrap_or(""));
            }
            TokenCmd::PublicKey(conn) => {
                let v = Client::new(conn)?
                    .json(Method::GET, "/api/v1/tokens/public-key", Payload::None)
                    .await?;
                println!("{}", v["public_key"].as_str().unwrap_or(""));
            }
            TokenCmd::Attenuate {
                conn,
                from,
                operations,
                datasources,
                expires,
                public_key,
            } => {
                let token = match from {
                    Some(t) => t,
                    None => {
                        let mut s = String::new();
                        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                        s.trim().to_owned()
                    }
                };
                let expires = expires.as_deref().map(|s| when(s, true)).transpose()?;
                if let Some(key) = public_key {
                    // Offline: the box is not asked; its public key is enough to append a block.
                    let key = biscuit_auth::PublicKey::from_bytes_hex(
                        key.trim(),
                        biscuit_auth::builder::Algorithm::Ed25519,
                    )
                    .map_err(|e| anyhow::anyhow!("--public-key is not a public key: {e}"))?;
                    let operations = operations
                        .iter()
                        .map(|o| databox_arbiter::Operation::parse(o))
                        .collect::<Result<Vec<_>, _>>()?;
                    let a = databox_arbiter::Attenuation {
                        operations,
                        resources: datasources,
                        expires,
                    };
                    println!("{}", databox_arbiter::tokens::attenuate(&token, key, &a)?);
                    return Ok(());
                }
                let body = json!({ "token": token, "operations": operations, "datasources": datasources, "expires": expires });
                let v = Client::new(conn)?
                    .json(Method::POST, "/api/v1/tokens/attenuate", Payload::Json(body))
                    .await?;
                println!("{}", v["token"].as_str().unwrap_or(""));
            }
            TokenCmd::Revoke {
                conn,
                id_or_token: token,
            } => {
                let c = Client::new(conn)?;
                let v = if token.starts_with("t-") {
                    c.json(
                        Method::DELETE,
                        &format!("/api/v1/tokens/{}", seg(&token)),
                        Payload::None,
                    )
                    .await?
                } else {
                    c.json(
                        Method::POST,
                        "/api/v1/tokens/revoke",
                        Payload::Json(json!({ "token": token })),
                    )
                    .await?
                };
                print_json(&v);
            }
        },
        Action::Audit(cmd) => match cmd {
            AuditCmd::Verify { conn, .. } => {
                let v = Client::new(conn)?
                    .json(Method::GET, "/api/v1/audit/verify", Payload::None)
                    .await?;
                report_verify(&v)?;
            }
            AuditCmd::Query {
                conn,
                principal,
                store,
                datasource,
                operation,
                outcome,
                since,
                until,
                limit,
            } => {
                let mut params = vec![format!("limit={limit}")];
                for (k, v) in [
                    ("principal", principal),
                    ("store", store),
                    ("datasource", datasource),
                    ("operation", operation),
                    ("outcome", outcome),
                ] {
                    if let Some(v) = v {
                        params.push(format!("{k}={}", seg(&v)));
                    }
                }
                if let Some(s) = since {
                    params.push(format!("since={}", when(&s, false)?));
                }
                if let Some(u) = until {
                    params.push(format!("until={}", when(&u, false)?));
                }
                let path = format!("/api/v1/audit?{}", params.join("&"));
                print_json(&Client::new(conn)?.json(Method::GET, &path, Payload::None).await?);
            }
            AuditCmd::Tail(conn) => {
                crate::client::stream_lines(Client::new(conn)?, "/api/v1/audit/tail").await?
            }
        },
        Action::Statement { conn, month } => {
            // RFC 3339 starts with YYYY-MM.
            let month = month.unwrap_or_else(|| {
                humantime::format_rfc3339(std::time::SystemTime::now()).to_string()[..7].to_owned()
            });
            let resp = Client::new(conn)?
                .send(
                    Method::GET,
                    &format!("/api/v1/statement?month={}", seg(&month)),
                    Payload::None,
                )
                .await?;
            print!("{}", resp.text().await?);
        }
        Action::DashboardLink { conn } => {
            let base = conn.url().trim_end_matches('/').to_owned();
            let resp = Client::new(conn)?
                .send(Method::POST, "/api/v1/owner/login-link", Payload::None)
                .await?;
            let v: Value = resp.json().await?;
            println!(
                "Open this link in your browser to log in to the dashboard (it works once, for 15 minutes):"
            );
            println!("  {base}{}", v["path"].as_str().unwrap_or_default());
        }
    }
    Ok(())
}
