//! `databox import ...`: the owner imports an export file lying on the box's machine (Apple
//! Health `export.zip`/`export.xml`, Google location history) and watches it with a progress bar.
//! The import runs in the box: leaving the CLI (or Ctrl-C) does not stop it; `stop` does, and
//! `resume` goes on from its checkpoint without writing anything twice.

use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, Conn, Payload, print_json, seg, time_of};

#[derive(clap::Subcommand)]
pub enum ImportCmd {
    /// Import an Apple Health export (export.zip or export.xml).
    AppleHealth(StartArgs),
    /// Import Google location history (Takeout Records.json, Semantic Location History files or
    /// folder, or the on-device Timeline.json).
    Google(StartArgs),
    /// Every import with its state, newest first.
    List {
        #[command(flatten)]
        conn: Conn,
        /// Print the box's JSON answer instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Watch an import until it ends.
    Watch {
        #[command(flatten)]
        conn: Conn,
        id: String,
    },
    /// Stop a running import (resume it later).
    Stop {
        #[command(flatten)]
        conn: Conn,
        id: String,
    },
    /// Resume a stopped or failed import from its checkpoint.
    Resume {
        #[command(flatten)]
        conn: Conn,
        id: String,
        /// Return at once instead of showing progress.
        #[arg(long)]
        detach: bool,
    },
}

#[derive(clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    conn: Conn,
    /// The file (or folder), on the box's machine.
    path: PathBuf,
    /// Import into this store (default: apple-health or google-location).
    #[arg(long)]
    store: Option<String>,
    /// Return at once instead of showing progress.
    #[arg(long)]
    detach: bool,
}

/// Runs an import command.
pub fn run(cmd: ImportCmd) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run_async(cmd))
}

async fn start(format: &str, a: StartArgs) -> anyhow::Result<()> {
    // The box reads the file itself, so it needs a path it can open: make it absolute here.
    let path = std::path::absolute(&a.path)?;
    let client = Client::new(a.conn)?;
    let job: Value = client
        .send(
            Method::POST,
            "/api/v1/imports",
            Payload::Json(json!({"format": format, "path": path, "store": a.store})),
        )
        .await?
        .json()
        .await?;
    let id = job["id"].as_str().unwrap_or_default().to_owned();
    println!(
        "Importing {} into store {} (import {id})",
        path.display(),
        job["store"].as_str().unwrap_or("?")
    );
    if a.detach {
        println!("Watch it with `databox import watch {id}`; stop it with `databox import stop {id}`.");
        return Ok(());
    }
    watch(&client, &id).await
}

async fn watch(client: &Client, id: &str) -> anyhow::Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let job = loop {
        let job: Value = client
            .send(
                Method::GET,
                &format!("/api/v1/imports/{}", seg(id)),
                Payload::None,
            )
            .await?
            .json()
            .await?;
        bar.set_length(job["bytes_total"].as_u64().unwrap_or(0));
        bar.set_position(job["bytes_read"].as_u64().unwrap_or(0));
        bar.set_message(format!("{} items", job["items"].as_u64().unwrap_or(0)));
        if job["state"] != "running" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    bar.finish_and_clear();
    report(&job);
    match job["state"].as_str() {
        Some("done") => Ok(()),
        Some("stopped") => {
            println!("Stopped. Resume with `databox import resume {id}`.");
            Ok(())
        }
        _ => anyhow::bail!(
            "the import failed: {}; fix the cause and `databox import resume {id}`",
            job["error"].as_str().unwrap_or("no reason given")
        ),
    }
}

fn report(job: &Value) {
    let written: u64 = job["written"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    println!(
        "{}: {written} items written into store {}.",
        job["state"].as_str().unwrap_or("?"),
        job["store"].as_str().unwrap_or("?")
    );
    if let Some(m) = job["written"].as_object() {
        for (ds, n) in m {
            println!("  {ds}: {n}");
        }
    }
    if let Some(m) = job["skipped"].as_object().filter(|m| !m.is_empty()) {
        println!("Skipped:");
        for (why, n) in m {
            println!("  {n} × {why}");
        }
    }
}

/// Prints imports as a table, with what the owner can do next (or the error) below each one
/// that did not finish.
fn print_imports(jobs: &[Value]) {
    if jobs.is_empty() {
        println!(
            "no imports yet: start one with `databox import apple-health PATH` or `databox import google PATH`"
        );
        return;
    }
    println!(
        "{:<27} {:<13} {:<8} {:>12} {:<20} {:<20} FILE",
        "ID", "FORMAT", "STATE", "ITEMS", "STORE", "STARTED"
    );
    for j in jobs {
        let text = |k: &str| j[k].as_str().unwrap_or("").to_owned();
        let id = text("id");
        let state = text("state");
        println!(
            "{:<27} {:<13} {:<8} {:>12} {:<20} {:<20} {}",
            id,
            text("format"),
            state,
            j["committed"].as_u64().unwrap_or(0),
            text("store"),
            j["started_ms"].as_i64().map(time_of).unwrap_or_default(),
            text("path"),
        );
        if let Some(error) = j["error"].as_str() {
            println!("    {error}");
        }
        if state == "stopped" || state == "failed" {
            println!("    resume it with `databox import resume {id}`");
        }
    }
}

async fn run_async(cmd: ImportCmd) -> anyhow::Result<()> {
    match cmd {
        ImportCmd::AppleHealth(a) => start("apple-health", a).await,
        ImportCmd::Google(a) => start("google", a).await,
        ImportCmd::List { conn, json } => {
            let v: Value = Client::new(conn)?
                .send(Method::GET, "/api/v1/imports", Payload::None)
                .await?
                .json()
                .await?;
            if json {
                print_json(&v);
            } else {
                print_imports(v.as_array().map(Vec::as_slice).unwrap_or_default());
            }
            Ok(())
        }
        ImportCmd::Watch { conn, id } => watch(&Client::new(conn)?, &id).await,
        ImportCmd::Stop { conn, id } => {
            Client::new(conn)?
                .send(
                    Method::POST,
                    &format!("/api/v1/imports/{}/stop", seg(&id)),
                    Payload::None,
                )
                .await?;
            println!("Stopping {id}: it saves its checkpoint and ends.");
            Ok(())
        }
        ImportCmd::Resume { conn, id, detach } => {
            let client = Client::new(conn)?;
            client
                .send(
                    Method::POST,
                    &format!("/api/v1/imports/{}/resume", seg(&id)),
                    Payload::None,
                )
                .await?;
            if detach {
                println!("Resumed {id}.");
                return Ok(());
            }
            watch(&client, &id).await
        }
    }
}
