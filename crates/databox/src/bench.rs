//! `databox bench`: the store's speed, measured in one run against raw SQLite doing the same work
//! on the same machine, so the figures are ratios that survive a noisy, shared machine.
//!
//! 1. batched ingest: 1,000-point batches through the store (encrypted, group-committed, durable)
//!    vs plain rusqlite inserting the same rows in 1,000-row transactions (WAL, synchronous=FULL);
//! 2. single-point durable writes over HTTP (keep-alive, concurrent clients) vs raw SQLite
//!    committing one row per transaction;
//! 3. `latest` over HTTP (p50/p99) vs the same query on raw SQLite in-process;
//! 4. `mean` over a 1,000,000-point range: through the store and over HTTP vs raw SQLite `avg()`.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use databox_api::AppState;
use databox_store::query::{Form, ReadQuery};
use databox_store::{
    Aggregate, DatasourceId, DatasourceKind, DatasourceMeta, MasterKeySource, NumericPoint, StoreId, Stores,
};
use rusqlite::{Connection, params};

/// Options of `databox bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Points in the big series (ingest, `latest` and `mean` run over it).
    #[arg(long, default_value_t = 1_000_000)]
    points: u64,
    /// Seconds each throughput or latency phase runs.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Concurrent HTTP clients for single-point writes.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Where to put the temporary databases (default: the system's temp folder).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

const BATCH: u64 = 1000;
const START_TS: i64 = 1_700_000_000_000;

fn point(i: u64) -> (i64, f64, &'static str) {
    let room = ["lounge", "kitchen", "bedroom", "hall"][(i % 4) as usize];
    (START_TS + i as i64 * 1000, 15.0 + (i % 1000) as f64 / 100.0, room)
}

fn raw_sqlite(path: &Path) -> anyhow::Result<Connection> {
    let c = Connection::open(path)?;
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
    c.execute_batch(
        "PRAGMA synchronous=FULL;
         CREATE TABLE point(ds INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, value REAL NOT NULL,
                            tags TEXT, PRIMARY KEY(ds, ts, seq)) WITHOUT ROWID;",
    )?;
    Ok(c)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Row {
    what: String,
    databox: String,
    baseline: String,
    ratio: String,
    target: &'static str,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let tmp = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let phase = Duration::from_secs_f64(args.seconds);
    let mut rows = Vec::new();
    println!(
        "databox bench: {} points, {:.1} s phases, {} HTTP clients",
        args.points, args.seconds, args.clients
    );

    // 1. Batched ingest.
    let raw = raw_sqlite(&tmp.path().join("raw.db"))?;
    let t = Instant::now();
    let mut i = 0;
    while i < args.points {
        let tx = raw.unchecked_transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT INTO point(ds, ts, seq, value, tags) VALUES (1, ?1, ?2, ?3, ?4)")?;
            for j in i..(i + BATCH).min(args.points) {
                let (ts, v, room) = point(j);
                stmt.execute(params![ts, j as i64, v, format!("{{\"room\":\"{room}\"}}")])?;
            }
        }
        tx.commit()?;
        i += BATCH;
    }
    let raw_ingest = args.points as f64 / t.elapsed().as_secs_f64();

    let box_dir = tmp.path().join("box");
    std::fs::create_dir_all(&box_dir)?;
    let stores = Arc::new(Stores::open(&box_dir, &MasterKeySource::KeyFile)?);
    let store = stores.create(&StoreId::new("bench")?, "bench")?;
    let big = DatasourceId::new("big")?;
    let single = DatasourceId::new("single")?;
    for ds in [&big, &single] {
        store
            .upsert_datasource(ds.clone(), DatasourceMeta::of_kind(DatasourceKind::Numeric))?
            .wait()?;
    }
    let t = Instant::now();
    let mut i = 0;
    while i < args.points {
        let batch = (i..(i + BATCH).min(args.points))
            .map(|j| {
                let (ts, value, room) = point(j);
                NumericPoint {
                    timestamp: Some(ts),
                    value,
                    tags: [("room".to_owned(), room.to_owned())].into(),
                }
            })
            .collect();
        store.write_numeric(&big, batch)?.wait()?;
        i += BATCH;
    }
    let box_ingest = args.points as f64 / t.elapsed().as_secs_f64();
    rows.push(Row {
        what: "batched ingest, 1,000-point batches (points/s)".into(),
        databox: format!("{box_ingest:.0}"),
        baseline: format!("{raw_ingest:.0}"),
        ratio: format!("{:.2}x slower", raw_ingest / box_ingest),
        target: "within 2x",
    });
    println!("  ingest: databox {box_ingest:.0} points/s, raw SQLite {raw_ingest:.0} points/s");
    let size = |db: &Path| -> u64 {
        ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
            .map(|m| m.len())
            .sum()
    };
    let (box_bytes, raw_bytes) = (size(store.path()), size(&tmp.path().join("raw.db")));
    rows.push(Row {
        what: "file size per point after ingest, incl. WAL (bytes)".into(),
        databox: format!("{:.1}", box_bytes as f64 / args.points as f64),
        baseline: format!("{:.1}", raw_bytes as f64 / args.points as f64),
        ratio: format!("{:.2}x", box_bytes as f64 / raw_bytes as f64),
        target: "(none yet)",
    });

    // Baselines of single commits, latest and mean on raw SQLite.
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed() < phase {
        raw.execute(
            "INSERT INTO point(ds, ts, seq, value, tags) VALUES (2, ?1, ?2, 1.0, NULL)",
            params![START_TS + n as i64, n as i64],
        )?;
        n += 1;
    }
    let raw_single = n as f64 / t.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let t = Instant::now();
    while t.elapsed() < phase {
        let s = Instant::now();
        raw.prepare_cached(
            "SELECT ts, value, tags FROM point WHERE ds = 1 ORDER BY ts DESC, seq DESC LIMIT 1",
        )?
        .query_row([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, f64>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?;
        lat.push(s.elapsed());
    }
    lat.sort();
    let raw_latest = (percentile(&lat, 0.5), percentile(&lat, 0.99));
    let (lo, hi) = (START_TS, START_TS + (args.points as i64 - 1) * 1000);
    let mut raw_mean = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        let _: f64 = raw.query_row(
            "SELECT avg(value) FROM point WHERE ds = 1 AND ts >= ?1 AND ts <= ?2",
            params![lo, hi],
            |r| r.get(0),
        )?;
        raw_mean.push(s.elapsed());
    }
    raw_mean.sort();

    // The store's mean, in-process.
    let mean_q = ReadQuery {
        hourly: false,
        form: Form::Range(lo, hi),
        filters: vec![],
        aggregate: Some(Aggregate::Mean),
        window: None,
    };
    let mut box_mean = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        store.read(std::slice::from_ref(&big), &mean_q)?;
        box_mean.push(s.elapsed());
    }
    box_mean.sort();

    // A filtered mean cannot use the rollups: it scans and decrypts every point of the range.
    let filtered_q = ReadQuery {
        filters: vec![databox_store::query::Filter {
            tag: databox_store::TagName::new("room")?,
            op: databox_store::query::FilterOp::Equals,
            value: "lounge".into(),
        }],
        ..mean_q.clone()
    };
    let mut box_scan = Vec::new();
    let mut raw_scan = Vec::new();
    for _ in 0..3 {
        let s = Instant::now();
        store.read(std::slice::from_ref(&big), &filtered_q)?;
        box_scan.push(s.elapsed());
        let s = Instant::now();
        let _: f64 = raw.query_row(
            "SELECT avg(value) FROM point WHERE ds = 1 AND ts >= ?1 AND ts <= ?2 AND json_extract(tags, '$.room') = 'lounge'",
            params![lo, hi],
            |r| r.get(0),
        )?;
        raw_scan.push(s.elapsed());
    }
    box_scan.sort();
    raw_scan.sort();

    // HTTP phases against the real router on loopback.
    let arbiter_dir = tempfile::tempdir()?;
    let (arbiter, token) = databox_arbiter::Arbiter::open(arbiter_dir.path())?;
    let arbiter = Arc::new(arbiter);
    let token = token.context("new owner token")?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let http = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = AppState::new(
            stores.clone(),
            arbiter.clone(),
            databox_audit::AuditLog::discarding(),
        );
        tokio::spawn(async move { axum::serve(listener, databox_api::router(state)).await });
        let base = format!("http://{addr}/api/v1/stores/bench/ts");
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(args.clients * 2)
            .build()?;
        let auth = format!("Bearer {}", token.as_str());

        // Single-point durable writes with keep-alive.
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let t = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..args.clients {
            let (client, url, auth, written, stop) = (
                client.clone(),
                format!("{base}/single"),
                auth.clone(),
                written.clone(),
                stop.clone(),
            );
            tasks.push(tokio::spawn(write_until_stopped(
                client, url, auth, written, stop, c,
            )));
        }
        tokio::time::sleep(phase).await;
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            t.await??;
        }
        let http_single = written.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64();

        // latest, sequential, keep-alive.
        let url = format!("{base}/big/latest");
        let mut lat = Vec::new();
        let t = Instant::now();
        while t.elapsed() < phase {
            let s = Instant::now();
            let r = client.get(&url).header("authorization", &auth).send().await?;
            anyhow::ensure!(r.status().is_success());
            r.bytes().await?;
            lat.push(s.elapsed());
        }
        lat.sort();
        let latest = (percentile(&lat, 0.5), percentile(&lat, 0.99));

        let url = format!("{base}/big/range/{lo}/{hi}/mean");
        let mut mean = Vec::new();
        for _ in 0..5 {
            let s = Instant::now();
            let r = client.get(&url).header("authorization", &auth).send().await?;
            anyhow::ensure!(r.status().is_success());
            r.bytes().await?;
            mean.push(s.elapsed());
        }
        mean.sort();
        anyhow::Ok((http_single, latest, mean))
    })?;
    let (http_single, latest, http_mean) = http;
    println!("  single-point HTTP writes: {http_single:.0}/s; raw SQLite single commits {raw_single:.0}/s");
    rows.push(Row {
        what: format!(
            "single-point durable writes over HTTP, {} clients (writes/s)",
            args.clients
        ),
        databox: format!("{http_single:.0}"),
        baseline: format!("{raw_single:.0} (one commit per row)"),
        ratio: format!("{:.2}x faster", http_single / raw_single),
        target: "at least 20,000/s",
    });
    rows.push(Row {
        what: format!(
            "`latest` over HTTP on a {}-point series, p50 / p99 (ms)",
            args.points
        ),
        databox: format!("{:.3} / {:.3}", ms(latest.0), ms(latest.1)),
        baseline: format!("{:.3} / {:.3} (in-process)", ms(raw_latest.0), ms(raw_latest.1)),
        ratio: format!("{:.1}x the p99", ms(latest.1) / ms(raw_latest.1)),
        target: "p99 under 1 ms",
    });
    rows.push(Row {
        what: format!("`mean` over a {}-point range, median of 5 (ms)", args.points),
        databox: format!(
            "{:.1} in-process, {:.1} over HTTP",
            ms(box_mean[2]),
            ms(http_mean[2])
        ),
        baseline: format!("{:.1}", ms(raw_mean[2])),
        ratio: format!("{:.2}x (HTTP)", ms(http_mean[2]) / ms(raw_mean[2])),
        target: "under 100 ms",
    });
    let overhead = rt.block_on(access_overhead(
        &stores,
        &arbiter,
        &token,
        tmp.path(),
        phase,
        args.clients,
    ))?;
    println!(
        "  access check + audit: latest p50 {:.3} vs {:.3} ms, writes {:.0} vs {:.0}/s",
        ms(overhead.latest_checked),
        ms(overhead.latest_owner),
        overhead.writes_checked,
        overhead.writes_owner
    );
    rows.push(Row {
        what: "`latest` over HTTP, p50: a principal's token, the one check and audit logging (ms)".into(),
        databox: format!("{:.3}", ms(overhead.latest_checked)),
        baseline: format!("{:.3} (owner token, logging off)", ms(overhead.latest_owner)),
        ratio: format!(
            "{:+.1}%",
            (ms(overhead.latest_checked) / ms(overhead.latest_owner) - 1.0) * 100.0
        ),
        target: "under +10%",
    });
    rows.push(Row {
        what: format!(
            "single-point writes over HTTP, {} clients: a principal's token, check and audit (writes/s)",
            args.clients
        ),
        databox: format!("{:.0}", overhead.writes_checked),
        baseline: format!("{:.0} (owner token, logging off)", overhead.writes_owner),
        ratio: format!(
            "{:+.1}% time per write",
            (overhead.writes_owner / overhead.writes_checked - 1.0) * 100.0
        ),
        target: "under +10%",
    });
    rows.push(Row {
        what: format!(
            "`mean` with a tag filter over the {}-point range (a full scan), median of 3 (ms)",
            args.points
        ),
        databox: format!("{:.1} in-process", ms(box_scan[1])),
        baseline: format!("{:.1}", ms(raw_scan[1])),
        ratio: format!("{:.2}x slower", ms(box_scan[1]) / ms(raw_scan[1])),
        target: "(none yet)",
    });
    stores.close();
    println!();
    println!("| measure | databox | raw SQLite baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.what, r.databox, r.baseline, r.ratio, r.target
        );
    }
    Ok(())
}

struct Overhead {
    latest_owner: Duration,
    latest_checked: Duration,
    writes_owner: f64,
    writes_checked: f64,
}

/// The cost of the arbiter's check and of audit logging: the same requests through two routers
/// over the same stores, one with the owner's token and logging off, one with a principal's
/// token and the real audit log. Both are measured at the same moments (requests alternate, or
/// run side by side), because this machine's speed drifts more than the cost being measured.
async fn access_overhead(
    stores: &Arc<Stores>,
    arbiter: &Arc<databox_arbiter::Arbiter>,
    owner_token: &str,
    dir: &Path,
    phase: Duration,
    clients: usize,
) -> anyhow::Result<Overhead> {
    use databox_arbiter::{Granularity, Operation, PrincipalId, PrincipalKind};
    let app = PrincipalId::new("bench-app")?;
    arbiter.add_principal(app.clone(), PrincipalKind::App, "bench")?;
    let store = StoreId::new("bench")?;
    for op in [Operation::Read, Operation::Write] {
        arbiter.grant(
            &app,
            op,
            &store,
            None,
            (None, None),
            None,
            Granularity::Raw,
            "bench",
        )?;
    }
    let (_, app_token) = arbiter.mint(&app, "bench", None)?;
    let audit = databox_audit::AuditLog::open(&dir.join("audit"))?;
    let mut bases = Vec::new();
    let sides = [
        (databox_audit::AuditLog::discarding(), owner_token.to_owned()),
        (audit.clone(), app_token),
    ];
    for (audit_log, token) in sides {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = AppState::new(stores.clone(), arbiter.clone(), audit_log);
        tokio::spawn(async move { axum::serve(listener, databox_api::router(state)).await });
        bases.push((
            format!("http://{addr}/api/v1/stores/bench/ts"),
            format!("Bearer {token}"),
        ));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 4)
        .build()?;

    // `latest`: one request to each side in turn.
    let mut latest: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    let urls: Vec<String> = bases.iter().map(|(b, _)| format!("{b}/big/latest")).collect();
    let t = Instant::now();
    let mut turn = 0usize;
    while t.elapsed() < phase {
        for k in 0..2 {
            let i = (turn + k) % 2;
            let s = Instant::now();
            let r = client
                .get(&urls[i])
                .header("authorization", &bases[i].1)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "latest refused: {}", r.status());
            r.bytes().await?;
            latest[i].push(s.elapsed());
        }
        turn += 1;
    }

    // Writes: half the clients on each side at the same time; the side that costs more per
    // request completes fewer of them.
    let written: [Arc<AtomicU64>; 2] = [Arc::default(), Arc::default()];
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..clients.max(2) {
        let i = c % 2;
        let url = format!("{}/single", bases[i].0);
        let (client, auth, count, stop) = (
            client.clone(),
            bases[i].1.clone(),
            written[i].clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(write_until_stopped(
            client, url, auth, count, stop, c,
        )));
    }
    let t = Instant::now();
    tokio::time::sleep(phase).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    let seconds = t.elapsed().as_secs_f64();
    audit.close();
    for l in &mut latest {
        l.sort();
    }
    Ok(Overhead {
        latest_owner: percentile(&latest[0], 0.5),
        latest_checked: percentile(&latest[1], 0.5),
        writes_owner: written[0].load(Ordering::Relaxed) as f64 / seconds,
        writes_checked: written[1].load(Ordering::Relaxed) as f64 / seconds,
    })
}

/// One HTTP client writing single points, one request after another, until told to stop.
async fn write_until_stopped(
    client: reqwest::Client,
    url: String,
    auth: String,
    written: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    client_number: usize,
) -> anyhow::Result<()> {
    let mut k = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let body = format!("{{\"value\": {k}, \"client\": \"c{client_number}\"}}");
        let r = client
            .post(&url)
            .header("authorization", &auth)
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "write refused: {}", r.status());
        written.fetch_add(1, Ordering::Relaxed);
        k += 1;
    }
    Ok(())
}
