//! Starting and stopping a real `databox serve` child process for end-to-end tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_databox");

/// A running box.
pub struct BoxProcess {
    pub child: Child,
    pub url: String,
    /// The owner token, printed on first start only.
    pub new_token: Option<String>,
    /// The one-time dashboard link, printed while no password is set.
    pub login_link: Option<String>,
}

impl BoxProcess {
    /// Starts a box on a free loopback port and waits until it serves.
    pub fn start(dir: &Path, extra: &[&str]) -> BoxProcess {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env_remove("DATABOX_PASSPHRASE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start databox");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut url = None;
        let mut new_token = None;
        let mut login_link = None;
        for line in lines.by_ref() {
            let line = line.expect("read box output");
            if let Some(u) = line.strip_prefix("listening on ") {
                url = Some(u.trim().to_owned());
            }
            if let Some(t) = line.trim().strip_prefix("export DATABOX_TOKEN=") {
                new_token = Some(t.to_owned());
            }
            if line.contains("/login/once?code=") {
                login_link = Some(line.trim().to_owned());
                break;
            }
            // The dashboard line comes last: its link on the next line when no password is set.
            if line.starts_with("Dashboard: http") {
                break;
            }
        }
        // Keep draining so the box never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        BoxProcess {
            child,
            url: url.expect("the box printed its address"),
            new_token,
            login_link,
        }
    }

    /// Stops the box with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "box exited with {status}");
    }

    /// Kills the box with SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Runs the CLI against this box; returns (success, stdout, stderr).
    pub fn cli(&self, token: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(BIN)
            .args(args)
            .env("DATABOX_URL", &self.url)
            .env("DATABOX_TOKEN", token)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for BoxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client with the owner's token.
pub fn client(token: &str) -> (reqwest::Client, String) {
    let _ = Duration::from_secs(1);
    (reqwest::Client::new(), format!("Bearer {token}"))
}

/// Runs a `databox` CLI command that must succeed, and answers what it printed.
pub fn ok(b: &BoxProcess, token: &str, args: &[&str]) -> String {
    let (success, out, err) = b.cli(token, args);
    assert!(success, "databox {args:?} failed:\n{out}\n{err}");
    out
}

/// Asks `check` again and again (every 100 ms) until it answers, failing the test after
/// `timeout` with `what` it was waiting for.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// HTTP to the box with a bearer token, for tests that are not async themselves.
pub struct HttpClient {
    pub url: String,
    pub token: String,
    /// For requests a test makes its own way (other credentials, none at all).
    pub rt: tokio::runtime::Runtime,
}

/// What the box answered.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Reply {
    /// A header's value, or "" when it is absent.
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

impl HttpClient {
    pub fn new(url: &str, token: &str) -> HttpClient {
        HttpClient {
            url: url.to_owned(),
            token: token.to_owned(),
            rt: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    /// Sends `method path` with `headers` and `body`.
    pub fn send(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        self.rt.block_on(async {
            let mut req = reqwest::Client::new()
                .request(method.parse().unwrap(), format!("{}{path}", self.url))
                .bearer_auth(&self.token);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let req = req.body(body);
            let r = req.send().await.unwrap();
            Reply {
                status: r.status().as_u16(),
                headers: r.headers().clone(),
                body: r.text().await.unwrap(),
            }
        })
    }
}

/// The UTC calendar date `(year, month, day)` of a day counted from 1970-01-01 (Howard
/// Hinnant's `civil_from_days`), written here apart from the SDK's so that the tests' expected
/// dates do not come from the code under test.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
