//! Apple Health import throughput, as ratios against a baseline measured in the same run (the
//! machine is shared and noisy): the baseline reads the same file through a buffered reader doing
//! nothing but counting `<Record`, the parse runs the importer into a sink that only counts. The
//! parse's peak memory is measured in a child process (this binary again) from its `VmHWM`.
//!
//! `DATABOX_BENCH_HEALTH_MB` sets the size of the generated `export.xml` (default 1024).
//! Run: `cargo bench -p databox-import --bench apple_health`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use databox_import::apple_health;
use databox_import::job::StoreSink;
use databox_import::testgen::{self, HealthExportOptions};
use databox_import::{ImportError, Item, ItemSink, Progress};
use databox_store::{MasterKeySource, StoreId, Stores};

/// Counts items without keeping them.
#[derive(Default)]
struct CountingSink {
    items: u64,
}

impl ItemSink for CountingSink {
    fn item(&mut self, _item: Item) -> Result<(), ImportError> {
        self.items += 1;
        Ok(())
    }
}

/// The baseline: reads `path` through a buffer as big as the importer's and counts `<Record`.
/// Returns (occurrences, seconds).
fn bench_raw_scan(path: &Path) -> (u64, f64) {
    let started = Instant::now();
    let mut reader = BufReader::with_capacity(128 * 1024, File::open(path).expect("the export"));
    let finder = memchr::memmem::Finder::new(b"<Record");
    let mut buffer = vec![0u8; 128 * 1024];
    // The last bytes of a read, which may begin a `<Record` that the next read ends.
    let mut carried = 0;
    let mut records = 0u64;
    loop {
        let read = reader.read(&mut buffer[carried..]).expect("reading the export");
        if read == 0 {
            break;
        }
        let filled = carried + read;
        records += finder.find_iter(&buffer[..filled]).count() as u64;
        carried = (b"<Record".len() - 1).min(filled);
        buffer.copy_within(filled - carried..filled, 0);
    }
    (records, started.elapsed().as_secs_f64())
}

/// The parse: imports `path` into a counting sink. Returns (items, seconds). The store-writing
/// stage can wrap the same call with another sink.
fn bench_parse(path: &Path) -> (u64, f64) {
    let started = Instant::now();
    let mut sink = CountingSink::default();
    let summary = apple_health::import(path, &mut sink, &Progress::default(), &AtomicBool::new(false))
        .expect("importing the generated export");
    assert_eq!(summary.items(), sink.items);
    (sink.items, started.elapsed().as_secs_f64())
}

fn peak_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .expect("VmHWM");
    line.trim().trim_end_matches(" kB").parse().expect("VmHWM in kB")
}

/// The whole import as the box runs it: the parse feeding a [`StoreSink`] that creates the
/// datasources and writes batches into a new encrypted store, waiting for every acknowledgement.
/// Returns (items written, seconds).
fn bench_import(path: &Path, data_dir: &Path) -> (u64, f64) {
    let stores = Stores::open(data_dir, &MasterKeySource::KeyFile).expect("opening the stores");
    let store = stores
        .create(&StoreId::new("apple-health").unwrap(), "benchmark")
        .expect("creating the store");
    let progress = Progress::default();
    let started = Instant::now();
    let mut sink = StoreSink::new(store, &progress, 0);
    apple_health::import(path, &mut sink, &progress, &AtomicBool::new(false)).expect("importing");
    sink.flush().expect("the last batch");
    let seconds = started.elapsed().as_secs_f64();
    let written = sink.written.values().sum();
    drop(sink);
    stores.close();
    (written, seconds)
}

/// Runs the parse in a child process and returns its (items, seconds, peak KiB).
fn parse_in_child(path: &Path) -> (u64, f64, u64) {
    in_child(&["--child-parse", path.to_str().expect("a UTF-8 path")])
}

/// Runs the whole import in a child process into a new store under `data_dir`; returns
/// (items written, seconds, peak KiB).
fn import_in_child(path: &Path, data_dir: &Path) -> (u64, f64, u64) {
    in_child(&[
        "--child-import",
        path.to_str().expect("a UTF-8 path"),
        data_dir.to_str().expect("a UTF-8 path"),
    ])
}

fn in_child(args: &[&str]) -> (u64, f64, u64) {
    let output = Command::new(std::env::current_exe().expect("this binary"))
        .args(args)
        .output()
        .expect("running the child");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("CHILD "))
        .expect("the child's figures");
    let mut fields = line.split(' ');
    let mut next = || fields.next().expect("three figures");
    (
        next().parse().unwrap(),
        next().parse().unwrap(),
        next().parse().unwrap(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == "--child-parse") {
        let (items, seconds) = bench_parse(Path::new(&args[at + 1]));
        println!("CHILD {items} {seconds} {}", peak_memory_kib());
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == "--child-import") {
        let (items, seconds) = bench_import(Path::new(&args[at + 1]), Path::new(&args[at + 2]));
        println!("CHILD {items} {seconds} {}", peak_memory_kib());
        return;
    }
    // `cargo bench` passes `--bench`; anything else we ignore.
    let megabytes: u64 = std::env::var("DATABOX_BENCH_HEALTH_MB")
        .ok()
        .and_then(|mb| mb.parse().ok())
        .unwrap_or(1024);
    let folder = tempfile::tempdir().expect("a temporary folder");
    let started = Instant::now();
    let options = HealthExportOptions {
        target_bytes: megabytes << 20,
        seed: 1,
        zip: false,
    };
    let generated = testgen::apple_health_export(folder.path(), &options).expect("generating the export");
    let size_mb = generated.xml_bytes as f64 / 1_048_576.0;
    println!(
        "generated export.xml: {size_mb:.0} MB, {} records, {} items expected, {} route files, in {:.1} s",
        generated.records,
        generated.total_items(),
        generated.route_files,
        started.elapsed().as_secs_f64()
    );

    // Alternate the two, twice, and keep each one's best: the machine's noise hits both alike.
    let mut best_scan = (0, f64::INFINITY);
    let mut best_parse = (0, f64::INFINITY, 0);
    for _ in 0..2 {
        let scan = bench_raw_scan(&generated.path);
        if scan.1 < best_scan.1 {
            best_scan = scan;
        }
        let parse = parse_in_child(&generated.path);
        if parse.1 < best_parse.1 {
            best_parse = parse;
        }
    }
    // The whole import once (it writes a store of the export's size; twice would double the disk
    // the benchmark needs).
    let store_dir = tempfile::tempdir().expect("a temporary folder");
    let (written, import_seconds, import_peak_kib) = import_in_child(&generated.path, store_dir.path());
    let duplicates = generated.duplicates;
    let (records, scan_seconds) = best_scan;
    let (items, parse_seconds, peak_kib) = best_parse;
    assert_eq!(items, generated.total_items());
    let scan_rate = records as f64 / scan_seconds;
    let parse_rate = items as f64 / parse_seconds;
    println!();
    println!("| stage                          | items     | seconds | items/s    | MB/s   | vs baseline |");
    println!("|--------------------------------|-----------|---------|------------|--------|-------------|");
    println!(
        "| baseline: read + count <Record | {records:>9} | {scan_seconds:>7.2} | {scan_rate:>10.0} | {:>6.0} | 1.00        |",
        size_mb / scan_seconds
    );
    println!(
        "| parse (counting sink)          | {items:>9} | {parse_seconds:>7.2} | {parse_rate:>10.0} | {:>6.0} | {:<11.3} |",
        size_mb / parse_seconds,
        parse_rate / scan_rate
    );
    let import_rate = written as f64 / import_seconds;
    println!(
        "| import into an encrypted store | {written:>9} | {import_seconds:>7.2} | {import_rate:>10.0} | {:>6.0} | {:<11.3} |",
        size_mb / import_seconds,
        import_rate / scan_rate
    );
    println!();
    println!(
        "import vs parse alone: {:.2}x the parse's items/s; {} duplicates skipped of {} items",
        import_rate / parse_rate,
        items - written,
        items
    );
    assert!(
        items - written >= duplicates,
        "every generated duplicate was skipped"
    );
    println!(
        "peak memory (VmHWM of the child process): parse {:.1} MiB, whole import {:.1} MiB",
        peak_kib as f64 / 1024.0,
        import_peak_kib as f64 / 1024.0
    );
}
