//! External clients, as docs/external-clients.md tells them: the owner lets a client in with the
//! real CLI, then the client uses the box over plain HTTP. Runs examples/external_client.py and
//! every block of the page marked `<!-- test: NAME -->` against a real box, checks their output
//! (also the outputs the page shows in `# ...` comments) and that the audit log recorded it all.
//!
//! Needs `bash`, `curl` and `python3` (CI installs them).

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{BIN, BoxProcess};
use serde_json::{Value, json};

const HOUR: i64 = 3_600_000;
const DOC: &str = "docs/external-clients.md";
const EXAMPLE: &str = "examples/external_client.py";
/// The marked blocks the page must have, in the order they run.
const BLOCKS: &[&str] = &[
    "owner-setup",
    "catalogue",
    "read",
    "read-hourly",
    "write",
    "observe",
    "refusals",
    "attenuate",
    "openapi",
    "python",
    "owner-audit",
];
/// Longest a block may run.
const BLOCK_TIMEOUT: Duration = Duration::from_secs(60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Fails with a clear message when a tool the page uses is missing.
fn require(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "`{tool}` is not installed, and this test runs the curl examples of {DOC} and {EXAMPLE} \
         with it: install it (Debian: `apt-get install -y bash curl python3`)"
    );
}

/// A ```sh block of the page marked for testing.
struct Block {
    name: String,
    /// Its line in the page (1-based), for messages.
    line: usize,
    code: String,
}

/// Every ```sh block directly preceded by a line `<!-- test: NAME -->`.
fn marked_blocks(doc: &str) -> Vec<Block> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if let Some(name) = line
            .strip_prefix("<!-- test:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            let name = name.trim().to_owned();
            assert_eq!(
                lines.get(i + 1).map(|l| l.trim()),
                Some("```sh"),
                "{DOC}:{}: the marker of {name:?} must be directly followed by a ```sh block",
                i + 1
            );
            let start = i + 2;
            let end = (start..lines.len())
                .find(|&j| lines[j].trim() == "```")
                .unwrap_or_else(|| panic!("{DOC}:{}: the block {name:?} is not closed", i + 2));
            blocks.push(Block {
                name,
                line: start,
                code: lines[start..end].join("\n"),
            });
            i = end;
        }
        i += 1;
    }
    blocks
}

/// What the page shows a block's commands print: its `# ` comment lines, a line indented by
/// two more spaces continuing the previous one.
fn shown_outputs(block: &Block) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in block.code.lines() {
        let Some(text) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        match (text.strip_prefix("  "), out.last_mut()) {
            (Some(more), Some(last)) => last.push_str(more.trim_start()),
            _ => out.push(text.trim().to_owned()),
        }
    }
    out
}

/// Epoch-millisecond timestamps (13 digits) replaced by `T`: they differ from run to run.
fn normalize(s: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() == 13 {
            out.push('T');
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// Checks that every line a block printed is among the outputs the page shows for it (a shown
/// line ending in `...` stands for any line starting with what precedes it).
fn assert_shown(block: &Block, stdout: &str, skip: impl Fn(&str) -> bool) {
    let shown: Vec<String> = shown_outputs(block).iter().map(|s| normalize(s)).collect();
    for line in stdout.lines().filter(|l| !l.trim().is_empty() && !skip(l)) {
        let line = normalize(line);
        let found = shown.iter().any(|s| match s.strip_suffix("...") {
            Some(prefix) => line.starts_with(prefix.trim_end()),
            None => *s == line,
        });
        assert!(
            found,
            "{DOC}:{}: block {:?} printed\n  {line}\nwhich the page does not show; it shows\n  {}",
            block.line,
            block.name,
            shown.join("\n  ")
        );
    }
}

/// What a block did.
struct Run {
    /// `None` when the test stopped it (a stream).
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self, block: &Block) -> String {
        format!(
            "{DOC}:{} block {:?} ({:?})\n--- code\n{}\n--- stdout\n{}\n--- stderr\n{}",
            block.line, block.name, self.status, block.code, self.stdout, self.stderr
        )
    }

    fn assert_ok(&self, block: &Block) {
        assert!(
            self.status.is_some_and(|s| s.success()),
            "{}",
            self.describe(block)
        );
    }

    /// Each non-empty line of stdout as JSON.
    fn json_lines(&self, block: &Block) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", self.describe(block)))
            })
            .collect()
    }
}

fn sigterm_group(pid: u32) {
    let _ = Command::new("kill")
        .args(["-TERM", "--", &format!("-{pid}")])
        .status();
}

/// Runs a block with bash as the page says (`set -euo pipefail`, in the repository root, with
/// `databox` on the PATH and `DATABOX_URL`, `DATABOX_TOKEN` set). With `stop_when`, stops it
/// (its whole process group) once its output satisfies it; `tick` runs every 200 ms meanwhile.
fn run_block(
    block: &Block,
    url: &str,
    token: &str,
    stop_when: Option<&dyn Fn(&str) -> bool>,
    tick: &mut dyn FnMut(),
) -> Run {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{}", block.code))
        .current_dir(repo_root())
        .env("PATH", path)
        .env("DATABOX_URL", url)
        .env("DATABOX_TOKEN", token)
        .env_remove("DATABOX_PASSPHRASE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("start bash");
    let collect = |mut r: Box<dyn Read + Send>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        (buf, reader)
    };
    let (out, out_reader) = collect(Box::new(child.stdout.take().unwrap()));
    let (err, err_reader) = collect(Box::new(child.stderr.take().unwrap()));
    let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    let started = Instant::now();
    let mut last_tick = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if stop_when.is_some_and(|stop| stop(&text(&out))) {
            sigterm_group(child.id());
            child.wait().unwrap();
            break None;
        }
        if started.elapsed() > BLOCK_TIMEOUT {
            sigterm_group(child.id());
            child.wait().unwrap();
            panic!(
                "{DOC}:{} block {:?} ran for more than {BLOCK_TIMEOUT:?}\n--- stdout\n{}\n--- stderr\n{}",
                block.line,
                block.name,
                text(&out),
                text(&err)
            );
        }
        if last_tick.elapsed() >= Duration::from_millis(200) {
            tick();
            last_tick = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    out_reader.join().unwrap();
    err_reader.join().unwrap();
    Run {
        status,
        stdout: text(&out),
        stderr: text(&err),
    }
}

/// The owner's box with the data the page assumes.
struct Fixture {
    b: BoxProcess,
    owner: String,
    /// The start of the current hour: the page's data sits one minute into each of the three
    /// hours before it.
    hour: i64,
}

impl Fixture {
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.b.cli(&self.owner, args);
        assert!(ok, "databox {args:?} failed: {err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// The audit records of the client since `since` (epoch ms), oldest first.
    fn audit(&self, since: i64) -> Vec<Value> {
        let since = since.to_string();
        let v = self.json(&[
            "audit",
            "query",
            "--principal",
            "heating-report",
            "--since",
            &since,
            "--limit",
            "1000",
        ]);
        v.as_array().unwrap().clone()
    }

    /// Waits (writes are recorded folded per second) until the client's audit records since
    /// `since` hold one matching `want`.
    fn await_audit(&self, since: i64, want: impl Fn(&Value) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let records = self.audit(since);
            if records.iter().any(&want) || Instant::now() > deadline {
                return records;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn start_box(dir: &Path) -> Fixture {
    let b = BoxProcess::start(dir, &[]);
    let owner = b.new_token.clone().unwrap();
    let f = Fixture {
        b,
        owner,
        hour: now_ms() / HOUR * HOUR,
    };
    f.ok(&["store", "create", "home", "--description", "Sensors at home"]);
    for (ds, ty, unit) in [
        ("temperature", "temperature", "celsius"),
        ("power", "power", "W"),
        ("humidity", "humidity", "percent"),
    ] {
        f.ok(&[
            "datasource",
            "create",
            "home",
            ds,
            "--kind",
            "ts",
            "--type",
            ty,
            "--unit",
            unit,
            "--location",
            "lounge",
        ]);
    }
    // A store the client has no grant in: the catalogue must not show it.
    f.ok(&["store", "create", "private"]);
    f.ok(&["datasource", "create", "private", "diary", "--kind", "ts"]);
    let at = |hours_back: i64, minutes: i64| (f.hour - hours_back * HOUR + minutes * 60_000).to_string();
    for (value, hours_back) in [("20.5", 3), ("21.0", 2), ("21.5", 1)] {
        f.ok(&[
            "ts",
            "write",
            "home",
            "temperature",
            value,
            "--tag",
            "room=lounge",
            "--timestamp",
            &at(hours_back, 1),
        ]);
    }
    for (value, hours_back, minutes) in [("100", 3, 1), ("300", 3, 2), ("400", 2, 1), ("600", 1, 1)] {
        f.ok(&[
            "ts",
            "write",
            "home",
            "power",
            value,
            "--timestamp",
            &at(hours_back, minutes),
        ]);
    }
    f.ok(&["ts", "write", "home", "humidity", "45"]);
    f.ok(&["ts", "write", "private", "diary", "1"]);
    f
}

#[test]
fn an_external_client_uses_the_box_as_the_page_says() {
    for tool in ["bash", "curl", "python3"] {
        require(tool);
    }
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join(DOC)).unwrap();
    let blocks = marked_blocks(&doc);
    let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names, BLOCKS,
        "{DOC}: the marked blocks changed; every marked block needs its checks in this test"
    );
    let block = |name: &str| blocks.iter().find(|b| b.name == name).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let f = start_box(dir.path());
    let url = f.b.url.clone();
    let (hour, owner) = (f.hour, f.owner.clone());

    // The owner lets the client in, with the page's commands.
    let setup = block("owner-setup");
    let run = run_block(setup, &url, &owner, None, &mut || {});
    run.assert_ok(setup);
    assert!(
        run.stdout.contains(r#""granularity": "hourly""#) && run.stdout.contains(r#""kind": "client""#),
        "{}",
        run.describe(setup)
    );
    let token = run.stdout.lines().last().unwrap_or("").trim().to_owned();
    assert!(
        token.len() > 100 && !token.contains(char::is_whitespace) && !token.starts_with(['{', '}']),
        "the last line of owner-setup is the client's token\n{}",
        run.describe(setup)
    );

    // (a) The Python client, with its audit trail.
    let since = now_ms();
    let python = |args: &[&str]| {
        let out = Command::new("python3")
            .arg(EXAMPLE)
            .args(args)
            .current_dir(&root)
            .env("DATABOX_URL", &url)
            .env("DATABOX_TOKEN", &token)
            .output()
            .expect("run python3");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (status, out, err) = python(&["home/temperature", "home/power", "--write", "reports/heating"]);
    assert!(status.success(), "{EXAMPLE} failed ({status}):\n{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        "catalogue stores=home,reports".to_owned(),
        "catalogue datasources=home/power,home/temperature,reports/heating".to_owned(),
        format!("home/temperature latest=21.5 timestamp={}", hour - HOUR + 60_000),
        "home/temperature hourly_mean_24h=21.0".to_owned(),
        "home/power refused status=403 reason=home/power: this grant allows hourly statistics only: \
         read hourly/FORM (count, sum, min, max and mean per hour)"
            .to_owned(),
        format!("home/power latest_hour_mean=600.0 hour={}", hour - HOUR),
        "home/power hourly_mean_24h=350.0".to_owned(),
    ];
    assert_eq!(lines[..lines.len().min(7)], expected, "{out}\n{err}");
    assert_eq!(lines.len(), 8, "{out}");
    assert!(
        lines[7].starts_with("reports/heating wrote value=21.0 timestamp="),
        "{out}"
    );
    // What it wrote is in the box, tagged as it said.
    let written = f.json(&["ts", "read", "reports", "heating", "latest"]);
    assert_eq!(
        written[0]["data"],
        json!({"value": 21.0, "source": "home/temperature", "hours": "24"})
    );
    // The audit log has its reads, its write and the refusal.
    let is = |r: &Value, op: &str, outcome: &str, ds: &str| {
        r["operation"] == op && r["outcome"] == outcome && r["datasource"] == ds
    };
    let records = f.await_audit(since, |r| is(r, "write", "ok", "heating"));
    let has = |what: &str, p: &dyn Fn(&Value) -> bool| {
        assert!(
            records.iter().any(p),
            "no audit record of {what} by the Python client:\n{}",
            serde_json::to_string_pretty(&records).unwrap()
        );
    };
    has("its latest read", &|r| {
        is(r, "read", "ok", "temperature") && r["detail"] == "latest" && r["count"] == 1
    });
    has("its hourly mean", &|r| {
        is(r, "read", "ok", "temperature")
            && r["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("hourly/since/") && d.ends_with("/mean"))
    });
    has("the refusal", &|r| {
        is(r, "read", "refused", "power")
            && r["store"] == "home"
            && r["detail"]
                .as_str()
                .is_some_and(|d| d.contains("hourly statistics only"))
    });
    has("its fallback to hourly statistics", &|r| {
        is(r, "read", "ok", "power") && r["detail"] == "hourly/latest"
    });
    has("its write", &|r| {
        is(r, "write", "ok", "heating") && r["store"] == "reports" && r["count"] == 1
    });
    // A refused write is an error it reports, with the box's reason.
    let (status, out, err) = python(&["home/power", "--write", "home/temperature"]);
    assert_eq!(status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("heating-report has no grant to write home/temperature"),
        "{out}\n{err}"
    );

    // (b) Every marked block of the page, in order.
    for b in blocks.iter().skip(1) {
        let token = if b.name.starts_with("owner-") {
            owner.as_str()
        } else {
            token.as_str()
        };
        let run = if b.name == "observe" {
            // Someone writes while the client watches (old points: the reads after this stay as
            // the page shows them); stop the stream once it showed one.
            let mut n = 0;
            let mut write = || {
                n += 1;
                let t = (hour - 30 * HOUR + n * 1000).to_string();
                f.ok(&[
                    "ts",
                    "write",
                    "home",
                    "temperature",
                    "19.25",
                    "--tag",
                    "room=lounge",
                    "--timestamp",
                    &t,
                ]);
            };
            let stop = |s: &str| s.lines().any(|l| l.starts_with("data: ") && l.contains("19.25"));
            run_block(b, &url, token, Some(&stop), &mut write)
        } else {
            let run = run_block(b, &url, token, None, &mut || {});
            run.assert_ok(b);
            run
        };
        let ctx = run.describe(b);
        match b.name.as_str() {
            "catalogue" => {
                let v = run.json_lines(b);
                assert_eq!(v.len(), 3, "{ctx}");
                let hrefs = |cat: &Value| -> BTreeSet<String> {
                    cat["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|i| i["href"].as_str().unwrap().to_owned())
                        .collect()
                };
                let set = |items: &[&str]| -> BTreeSet<String> {
                    items.iter().map(|i| format!("{url}/api/v1/stores/{i}")).collect()
                };
                assert_eq!(hrefs(&v[0]), set(&["home/cat", "reports/cat"]), "{ctx}");
                assert_eq!(
                    hrefs(&v[1]),
                    set(&["home/ts/power", "home/ts/temperature"]),
                    "{ctx}"
                );
                assert_eq!(
                    hrefs(&v[2]),
                    set(&["home/ts/power", "home/ts/temperature", "reports/ts/heating"]),
                    "{ctx}"
                );
                assert!(
                    !run.stdout.contains("/stores/private") && !run.stdout.contains("humidity"),
                    "{ctx}"
                );
            }
            "read" => {
                let v = run.json_lines(b);
                assert_eq!(
                    v[0],
                    json!([{"data": {"room": "lounge", "value": 21.5}, "timestamp": hour - HOUR + 60_000}]),
                    "{ctx}"
                );
                assert_eq!(v[1][0]["data"]["value"], 21.5, "{ctx}");
                assert_eq!(v[1][1]["data"]["value"], 21.0, "{ctx}");
                assert_eq!(v[1].as_array().map(Vec::len), Some(2), "{ctx}");
                assert_eq!(v[2], json!({"result": 21.0}), "{ctx}");
                assert_shown(b, &run.stdout, |_| false);
            }
            "read-hourly" => {
                let v = run.json_lines(b);
                let hours: Vec<(i64, f64)> = v[0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["timestamp"].as_i64().unwrap(),
                            r["data"]["mean"].as_f64().unwrap(),
                        )
                    })
                    .collect();
                assert_eq!(hours, [(hour - HOUR, 600.0), (hour - 2 * HOUR, 400.0)], "{ctx}");
                assert_eq!(v[1], json!({"result": 350.0}), "{ctx}");
                assert_shown(b, &run.stdout, |_| false);
            }
            "write" => {
                let v = run.json_lines(b);
                assert_eq!(v[0]["written"], 1, "{ctx}");
                assert_eq!(v[1], json!({"written": 2}), "{ctx}");
                assert_shown(b, &run.stdout, |_| false);
                let rows = f.json(&[
                    "ts",
                    "read",
                    "reports",
                    "heating",
                    "range/1795975200000/1795978800000",
                ]);
                assert_eq!(
                    rows,
                    json!([{"data": {"value": 20.5}, "timestamp": 1_795_975_200_000_i64},
                           {"data": {"value": 20.75}, "timestamp": 1_795_978_800_000_i64}])
                );
            }
            "observe" => {
                assert!(run.status.is_none(), "the stream ended by itself\n{ctx}");
                assert!(run.stdout.contains("event: data\n"), "{ctx}");
                assert_shown(b, &run.stdout, |l| !l.starts_with("data: "));
            }
            "refusals" => {
                let v = run.json_lines(b);
                let expect = [
                    (403, "home/power: this grant allows hourly statistics only"),
                    (403, "heating-report has no grant to read home/humidity"),
                    (403, "heating-report has no grant to write home/temperature"),
                    (403, "only the owner may do this"),
                    (401, "the token is not a valid token of this box"),
                ];
                assert_eq!(v.len(), expect.len(), "{ctx}");
                for (got, (status, error)) in v.iter().zip(expect) {
                    assert_eq!(got["status"], status, "{ctx}");
                    assert!(got["error"].as_str().unwrap().starts_with(error), "{ctx}");
                }
                assert_shown(b, &run.stdout, |_| false);
            }
            "attenuate" => {
                let v = run.json_lines(b);
                assert_eq!(v.len(), 2, "{ctx}");
                assert_eq!(v[0][0]["data"]["value"], 21.5, "{ctx}");
                assert_eq!(v[1]["status"], 403, "{ctx}");
                assert_shown(b, &run.stdout, |_| false);
            }
            "openapi" => {
                let paths: Vec<&str> = run.stdout.lines().collect();
                for p in [
                    "/cat",
                    "/api/v1/stores/{store}/cat",
                    "/api/v1/stores/{store}/ts/{datasource}",
                    "/api/v1/stores/{store}/ts/{datasource}/batch",
                    "/api/v1/stores/{store}/ts/{datasource}/observe",
                    "/api/v1/stores/{store}/ts/{datasources}/{query}",
                    "/api/v1/tokens/attenuate",
                    "/api/v1/tokens/public-key",
                ] {
                    assert!(paths.contains(&p), "{p} missing\n{ctx}");
                }
            }
            "python" => {
                assert!(
                    run.stdout.contains("home/temperature latest=21.5 ")
                        && run.stdout.contains("home/power refused status=403 ")
                        && run.stdout.contains("reports/heating wrote value=21.0 "),
                    "{ctx}"
                );
                assert_shown(b, &run.stdout, |_| false);
            }
            "owner-audit" => {
                let mut parts = serde_json::Deserializer::from_str(&run.stdout).into_iter::<Value>();
                let refused = parts.next().unwrap().unwrap();
                let statement = &run.stdout[parts.byte_offset()..];
                let details: Vec<&str> = refused
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        assert_eq!(r["outcome"], "refused", "{ctx}");
                        r["detail"].as_str().unwrap()
                    })
                    .collect();
                for want in [
                    "hourly statistics only",
                    "no grant to read home/humidity",
                    "no grant to write home/temperature",
                    "only the owner may do this",
                    "narrowed by its holder",
                ] {
                    assert!(
                        details.iter().any(|d| d.contains(want)),
                        "no refusal {want:?} in the audit log\n{ctx}"
                    );
                }
                assert!(
                    statement.contains("heating-report (Heating report script)")
                        && statement.contains("watched home/temperature")
                        && statement.contains("was refused"),
                    "{ctx}"
                );
            }
            other => panic!("no checks for the block {other:?}"),
        }
    }

    let (verified, out, err) = f.b.cli(&owner, &["audit", "verify"]);
    assert!(verified && out.contains("intact"), "{out}{err}");
    f.b.stop();
}
