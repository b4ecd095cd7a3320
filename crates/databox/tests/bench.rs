//! `databox bench` runs end to end on a small data set and reports every measure with its baseline.

mod common;

#[test]
fn bench_reports_every_measure_against_its_baseline() {
    let out = std::process::Command::new(common::BIN)
        .args(["bench", "--points", "20000", "--seconds", "0.3", "--clients", "4"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for measure in [
        "batched ingest",
        "single-point durable writes",
        "`latest` over HTTP",
        "`mean` over",
    ] {
        let row = stdout
            .lines()
            .find(|l| l.contains(measure))
            .unwrap_or_else(|| panic!("{measure} missing:\n{stdout}"));
        assert_eq!(row.matches('|').count(), 6, "{row}");
    }
}
