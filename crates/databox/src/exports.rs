//! `databox export ...`: what leaves the box. The owner lists exports, reviews held ones (with
//! the payload), approves or rejects them, reads receipts, puts an app on review, keeps copies,
//! and revokes a destination at once.

use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Conn, Payload, print_json, seg, time_of};

#[derive(clap::Subcommand)]
pub enum ExportCmd {
    /// List exports, newest first.
    List {
        #[command(flatten)]
        conn: Conn,
        /// Only those in this state: review, queued, delivered, failed, rejected, cancelled.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show one export, with its payload while the box holds it.
    Show {
        #[command(flatten)]
        conn: Conn,
        id: String,
    },
    /// Approve an export held for review: it is sent.
    Approve {
        #[command(flatten)]
        conn: Conn,
        id: String,
    },
    /// Reject an export held for review: it is never sent.
    Reject {
        #[command(flatten)]
        conn: Conn,
        id: String,
    },
    /// Receipts of every delivery: where, how much, the body's SHA-256, when, the answer.
    Receipts {
        #[command(flatten)]
        conn: Conn,
        /// Print the box's JSON answer instead of one line per receipt.
        #[arg(long)]
        json: bool,
    },
    /// Hold every export of an app for your approval (--off to stop).
    Review {
        #[command(flatten)]
        conn: Conn,
        app: String,
        #[arg(long)]
        off: bool,
    },
    /// Keep a copy of everything sent, to see later (--off to stop).
    Copies {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        off: bool,
    },
    /// Approve a destination (or URL prefix ending in /) for an external client.
    Allow {
        #[command(flatten)]
        conn: Conn,
        principal: String,
        destination: String,
        /// Largest body, bytes.
        #[arg(long, default_value_t = 1 << 20)]
        max_bytes: u64,
        /// Most deliveries per hour.
        #[arg(long, default_value_t = 60)]
        per_hour: u32,
    },
    /// As an external client (DATABOX_TOKEN is its token): send a file to an approved destination.
    Send {
        #[command(flatten)]
        conn: Conn,
        destination: String,
        /// The file to send (- for standard input).
        file: String,
        /// Its media type.
        #[arg(long, default_value = "application/octet-stream")]
        content_type: String,
    },
    /// Revoke a destination (or URL prefix) for an app at once; what was not sent is cancelled.
    Revoke {
        #[command(flatten)]
        conn: Conn,
        app: String,
        destination: String,
    },
}

fn line(e: &Value) -> String {
    format!(
        "{}  {:<9}  {} -> {}  {} bytes{}",
        e["id"].as_str().unwrap_or(""),
        e["state"].as_str().unwrap_or(""),
        e["app"].as_str().unwrap_or(""),
        e["destination"].as_str().unwrap_or(""),
        e["size"],
        e["last_error"]
            .as_str()
            .map(|w| format!("  ({w})"))
            .unwrap_or_default()
    )
}

/// One paragraph per delivery: when, who, where, how much, the answer, and the body's hash
/// (to compare with what the destination says it received).
fn print_receipts(list: &Value) {
    let list = list.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!("no receipts: nothing has left the box");
    }
    for r in list {
        println!(
            "{}  {} sent {} bytes to {}: HTTP {} after {} attempt(s)",
            time_of(r["delivered_ms"].as_i64().unwrap_or(0)),
            r["app"].as_str().unwrap_or(""),
            r["size"],
            r["destination"].as_str().unwrap_or(""),
            r["status"],
            r["attempts"],
        );
        println!(
            "    export {}, approval {}, sha256 {}",
            r["id"].as_str().unwrap_or(""),
            r["grant"].as_str().unwrap_or("-"),
            r["sha256"].as_str().unwrap_or(""),
        );
    }
}

pub fn run(cmd: ExportCmd) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run_async(cmd))
}

async fn run_async(cmd: ExportCmd) -> anyhow::Result<()> {
    match cmd {
        ExportCmd::List { conn, state } => {
            let path = match state {
                Some(s) => format!("/api/v1/exports?state={}", seg(&s)),
                None => "/api/v1/exports".into(),
            };
            let v = Client::new(conn)?.json(Method::GET, &path, Payload::None).await?;
            let list = v.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("no exports");
            }
            for e in list {
                println!("{}", line(&e));
            }
        }
        ExportCmd::Show { conn, id } => {
            let v = Client::new(conn)?
                .json(
                    Method::GET,
                    &format!("/api/v1/exports/{}", seg(&id)),
                    Payload::None,
                )
                .await?;
            print_json(&v);
        }
        ExportCmd::Approve { conn, id } => decide(conn, &id, "approve").await?,
        ExportCmd::Reject { conn, id } => decide(conn, &id, "reject").await?,
        ExportCmd::Receipts { conn, json } => {
            let v = Client::new(conn)?
                .json(Method::GET, "/api/v1/exports/receipts", Payload::None)
                .await?;
            if json {
                print_json(&v);
            } else {
                print_receipts(&v);
            }
        }
        ExportCmd::Review { conn, app, off } => {
            Client::new(conn)?
                .json(
                    Method::PUT,
                    &format!("/api/v1/exports/review/{}", seg(&app)),
                    Payload::Json(json!({ "on": !off })),
                )
                .await?;
            println!(
                "{app}: {}",
                if off {
                    "exports are sent without review"
                } else {
                    "every export waits for your approval"
                }
            );
        }
        ExportCmd::Copies { conn, off } => {
            Client::new(conn)?
                .json(
                    Method::PUT,
                    "/api/v1/exports/copies",
                    Payload::Json(json!({ "on": !off })),
                )
                .await?;
            println!(
                "copies of what is sent are {}",
                if off { "not kept" } else { "kept" }
            );
        }
        ExportCmd::Allow {
            conn,
            principal,
            destination,
            max_bytes,
            per_hour,
        } => {
            Client::new(conn)?
                .json(
                    Method::PUT,
                    &format!("/api/v1/exports/approved/{}", seg(&principal)),
                    Payload::Json(json!({
                        "destination": destination, "max_bytes": max_bytes, "per_hour": per_hour
                    })),
                )
                .await?;
            println!("{principal} may send to {destination} (at most {max_bytes} bytes, {per_hour} an hour)");
        }
        ExportCmd::Send {
            conn,
            destination,
            file,
            content_type,
        } => {
            let body = if file == "-" {
                let mut b = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)?;
                b
            } else {
                std::fs::read(&file).map_err(|e| anyhow::anyhow!("reading {file}: {e}"))?
            };
            let v = Client::new(conn)?
                .json(
                    Method::POST,
                    &format!("/api/v1/exports?destination={}", seg(&destination)),
                    Payload::Bytes(body, content_type.into()),
                )
                .await?;
            println!("{}", line(&v));
        }
        ExportCmd::Revoke {
            conn,
            app,
            destination,
        } => {
            let v = Client::new(conn)?
                .json(
                    Method::POST,
                    "/api/v1/exports/revoke",
                    Payload::Json(json!({ "app": app, "destination": destination })),
                )
                .await?;
            println!(
                "revoked {destination} for {app}; {} export(s) not yet sent were cancelled",
                v["cancelled"]
            );
        }
    }
    Ok(())
}

async fn decide(conn: Conn, id: &str, decision: &str) -> anyhow::Result<()> {
    let v = Client::new(conn)?
        .json(
            Method::POST,
            &format!("/api/v1/exports/{}/{decision}", seg(id)),
            Payload::None,
        )
        .await?;
    println!("{}", line(&v));
    Ok(())
}
