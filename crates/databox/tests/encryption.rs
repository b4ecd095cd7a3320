//! Encryption at rest: no written value appears in plain text in any file of the box, and erasing a
//! store destroys its key so that even a copy of its file taken before cannot be read.

mod common;

use std::path::Path;

use common::BoxProcess;

const MARKER: &str = "PLAINTEXT-MARKER-7f3a91";

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in walk(dir) {
        let bytes = std::fs::read(&entry).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(entry.display().to_string());
        }
    }
    hits
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn store_files_hold_no_plaintext_and_erase_makes_data_unrecoverable() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let token = b.new_token.clone().unwrap();
    let ok = |args: &[&str]| {
        let (success, out, err) = b.cli(&token, args);
        assert!(success, "{args:?} failed: {err}");
        out
    };
    ok(&[
        "store",
        "create",
        "diary",
        "--description",
        &format!("store {MARKER}"),
    ]);
    ok(&[
        "datasource",
        "create",
        "diary",
        "notes",
        "--kind",
        "ts/blob",
        "--description",
        MARKER,
    ]);
    ok(&[
        "datasource",
        "create",
        "diary",
        "temp",
        "--kind",
        "ts",
        "--unit",
        "celsius",
    ]);
    ok(&["datasource", "create", "diary", "secrets", "--kind", "kv"]);
    ok(&[
        "ts",
        "write",
        "diary",
        "notes",
        "--json",
        &format!("{{\"text\": \"{MARKER} in a note\"}}"),
    ]);
    ok(&[
        "ts",
        "write",
        "diary",
        "temp",
        "21.123456789",
        "--tag",
        &format!("room={MARKER}"),
    ]);
    ok(&[
        "kv",
        "put",
        "diary",
        "secrets",
        "pin",
        &format!("{MARKER} as a value"),
    ]);
    // The value is readable through the API...
    assert!(ok(&["ts", "read", "diary", "notes", "latest"]).contains(MARKER));
    assert!(ok(&["kv", "get", "diary", "secrets", "pin"]).contains(MARKER));

    // ...and in no file, while running (WAL) and after a clean stop (checkpointed).
    let value_bytes = 21.123456789f64.to_be_bytes();
    for when in ["while running", "after stopping"] {
        assert_eq!(
            files_containing(dir.path(), MARKER.as_bytes()),
            Vec::<String>::new(),
            "marker in plain text {when}"
        );
        assert_eq!(
            files_containing(&dir.path().join("stores"), &value_bytes),
            Vec::<String>::new(),
            "raw value {when}"
        );
        if when == "while running" {
            b.cli(&token, &["store", "list"]);
        }
    }
    b.stop();
    assert_eq!(
        files_containing(dir.path(), MARKER.as_bytes()),
        Vec::<String>::new()
    );

    // Keep a copy of the store's files, as a thief or a backup would, then erase it.
    let copy = tempfile::tempdir().unwrap();
    for f in walk(&dir.path().join("stores")) {
        std::fs::copy(&f, copy.path().join(f.file_name().unwrap())).unwrap();
    }
    let b = BoxProcess::start(dir.path(), &[]);
    let (success, _, err) = b.cli(&token, &["store", "erase", "diary"]);
    assert!(
        !success && err.contains("--yes"),
        "erase asks for confirmation: {err}"
    );
    let out = b.cli(&token, &["store", "erase", "diary", "--yes"]).1;
    assert!(out.contains("erased"), "{out}");
    let (success, _, err) = b.cli(&token, &["ts", "read", "diary", "notes", "latest"]);
    assert!(!success && err.contains("does not exist"), "{err}");
    b.stop();
    assert!(
        !dir.path().join("keys/diary.key").exists(),
        "the store key is destroyed"
    );
    assert!(
        !dir.path().join("stores/diary.db").exists(),
        "the store file is removed"
    );

    // The copy cannot be opened: not without a key, not with the master key.
    let master = std::fs::read(dir.path().join("master.key")).unwrap();
    let copied = copy.path().join("diary.db");
    for key in [
        None,
        Some(format!(
            "x'{}'",
            master.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )),
    ] {
        let c = rusqlite::Connection::open(&copied).unwrap();
        if let Some(k) = &key {
            c.execute_batch(&format!("PRAGMA key = \"{k}\";")).unwrap();
        }
        let err = c
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
            .unwrap_err();
        assert!(err.to_string().contains("not a database"), "{err}");
    }
    // Putting the copy back does not resurrect the store: without its key the box discards it.
    std::fs::copy(&copied, dir.path().join("stores/diary.db")).unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let (_, out, _) = b.cli(&token, &["store", "list"]);
    assert!(!out.contains("diary"), "{out}");
    assert!(!dir.path().join("stores/diary.db").exists());
    b.stop();
}

#[test]
fn a_damaged_store_is_set_aside_and_the_box_keeps_serving_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let b = BoxProcess::start(dir.path(), &[]);
    let token = b.new_token.clone().unwrap();
    for s in ["good", "bad"] {
        assert!(b.cli(&token, &["store", "create", s]).0);
        assert!(b.cli(&token, &["datasource", "create", s, "t"]).0);
        assert!(b.cli(&token, &["ts", "write", s, "t", "1.5"]).0);
    }
    b.stop();
    // Damage the second store's file: overwrite its first page (header and schema).
    let bad = dir.path().join("stores/bad.db");
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[..4096].fill(0x5a);
    std::fs::write(&bad, &bytes).unwrap();

    let b = BoxProcess::start(dir.path(), &[]);
    let (ok, out, err) = b.cli(&token, &["ts", "read", "good", "t", "latest"]);
    assert!(ok && out.contains("1.5"), "{out}{err}");
    let (ok, _, err) = b.cli(&token, &["ts", "read", "bad", "t", "latest"]);
    assert!(!ok && err.contains("503") && err.contains("unavailable"), "{err}");
    let (_, list, _) = b.cli(&token, &["store", "list"]);
    assert!(list.contains("\"unavailable\""), "{list}");
    // The damaged file is kept as it was, for the owner to inspect or restore.
    assert_eq!(std::fs::read(&bad).unwrap(), bytes);
    let (ok, _, err) = b.cli(&token, &["store", "create", "bad"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    // Erasing it clears the way.
    assert!(b.cli(&token, &["store", "erase", "bad", "--yes"]).0);
    assert!(b.cli(&token, &["store", "create", "bad"]).0);
    b.stop();
}

#[test]
fn a_passphrase_box_refuses_a_wrong_passphrase_and_opens_with_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |pass: &str| {
        std::process::Command::new(common::BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("DATABOX_PASSPHRASE", pass)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // First start derives the master key; stop it once it serves.
    let mut first = serve("correct horse battery staple");
    let mut out = std::io::BufReader::new(first.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("Try:") {
        line.clear();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    }
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        !dir.path().join("master.key").exists(),
        "no key file in passphrase mode"
    );

    let wrong = serve("wrong horse battery staple").wait_with_output().unwrap();
    assert!(!wrong.status.success());
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("wrong passphrase"), "{err}");
    let short = serve("short").wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12"));
}
