//! A log edited by hand fails verification at the right record: a record changed, removed,
//! reordered, the tail cut, or the chain rewritten with fresh hashes.

use std::path::Path;

use databox_audit::{AuditLog, Event, Kind, Outcome, Query, Record, verify};

fn write_log(dir: &Path, n: usize) {
    let log = AuditLog::open(dir).unwrap();
    for i in 0..n {
        let mut e = Event::access(if i % 2 == 0 { "app-a" } else { "phone" }, "read");
        e.store = Some("home".into());
        e.datasource = Some(format!("ds{}", i % 3));
        e.count = Some(i as u64);
        log.record(e);
    }
    log.close();
}

fn lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn save(dir: &Path, lines: &[String]) {
    std::fs::write(dir.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn first_bad(dir: &Path) -> (u64, String) {
    verify(dir).unwrap().first_bad.expect("tampering must be found")
}

#[test]
fn an_untouched_log_verifies_with_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 2500);
    let report = verify(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checkpoints, 3, "two periodic checkpoints and one at close");
    // Reopening continues the chain.
    write_log(dir.path(), 10);
    assert!(verify(dir.path()).unwrap().is_intact());
}

#[test]
fn a_changed_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50);
    let mut l = lines(dir.path());
    l[19] = l[19].replace("\"count\":18", "\"count\":99");
    save(dir.path(), &l);
    let (line, why) = first_bad(dir.path());
    assert_eq!(line, 20, "{why}");
    assert!(why.contains("changed"), "{why}");
}

#[test]
fn a_removed_record_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50);
    let mut l = lines(dir.path());
    l.remove(9);
    save(dir.path(), &l);
    let (line, why) = first_bad(dir.path());
    assert_eq!(line, 10, "{why}");
    assert!(why.contains("removed"), "{why}");
}

#[test]
fn reordered_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50);
    let mut l = lines(dir.path());
    l.swap(14, 15);
    save(dir.path(), &l);
    let (line, why) = first_bad(dir.path());
    assert_eq!(line, 15, "{why}");
}

#[test]
fn a_cut_tail_is_found_against_the_checkpoint_kept_outside_the_log() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 50);
    let mut l = lines(dir.path());
    let total = l.len();
    l.truncate(total - 5);
    save(dir.path(), &l);
    let (line, why) = first_bad(dir.path());
    assert_eq!(line as usize, total - 4, "{why}");
    assert!(why.contains("tail was cut"), "{why}");
}

#[test]
fn a_rewritten_chain_with_fresh_hashes_fails_at_the_next_signature() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 1500);
    let mut l = lines(dir.path());
    // An attacker changes record 100 and recomputes every hash after it.
    let mut prev = String::new();
    for (i, line) in l.iter_mut().enumerate() {
        let mut r: Record = serde_json::from_str(line).unwrap();
        if i == 99 {
            r.count = Some(123_456);
        }
        if i >= 99 {
            r.prev = prev.clone();
            r.hash = r.compute_hash();
            *line = serde_json::to_string(&r).unwrap();
        }
        prev = r.hash;
    }
    save(dir.path(), &l);
    let (line, why) = first_bad(dir.path());
    let checkpoint_line = l
        .iter()
        .position(|x| x.contains("\"kind\":\"checkpoint\""))
        .unwrap()
        + 1;
    assert_eq!(line as usize, checkpoint_line, "{why}");
    assert!(why.contains("signature"), "{why}");
}

#[test]
fn a_torn_final_record_is_dropped_on_reopen_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), 5);
    let mut text = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
    text.push_str("{\"seq\":99,\"ti");
    std::fs::write(dir.path().join("log.jsonl"), text).unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let started = log
        .query(&Query {
            kind: Some(Kind::BoxStarted),
            ..Query::default()
        })
        .unwrap();
    assert!(
        started
            .last()
            .unwrap()
            .detail
            .as_deref()
            .unwrap_or("")
            .contains("torn")
    );
    log.close();
    assert!(verify(dir.path()).unwrap().is_intact());
}

#[test]
fn writes_are_folded_per_principal_datasource_and_second() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    for _ in 0..500 {
        log.record_write("sensor", "home", "power", 2, Outcome::Ok);
    }
    log.record_write("sensor", "home", "temp", 1, Outcome::Ok);
    let writes = log
        .query(&Query {
            operation: Some("write".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(writes.len(), 2, "{writes:?}");
    let power = writes
        .iter()
        .find(|r| r.datasource.as_deref() == Some("power"))
        .unwrap();
    assert_eq!(power.count, Some(1000));
    assert_eq!(power.detail.as_deref(), Some("500 write requests"));
    log.close();
}
