//! A component whose behaviour the test chooses through the `behave` setting: a good citizen that
//! writes and reads within its grants, or a hostile one (an endless loop, a memory bomb, a read of
//! data it was not granted, a read finer than granted, a panic, a failing start, an outbound
//! request). Built with the `net` feature it makes outbound HTTP requests (a driver); without it,
//! it imports nothing a driver has and an app lacks, so it loads as either. Built with the
//! `export` feature it sends data out through the export service (an app).

wit_bindgen::generate!({ world: "all", path: "../../../../wit" });

use databox::component::{config, datastore, log};
use exports::databox::component::handlers::{Guest, Request, Response};

struct TestDriver;

fn behave() -> String {
    config::get("behave").unwrap_or_default()
}

#[cfg(feature = "net")]
fn fetch(url: &str) -> Result<(u16, usize), String> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};
    use wasi::io::streams::StreamError;
    let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let req = OutgoingRequest::new(Fields::new());
    req.set_method(&Method::Get).map_err(|_| "method")?;
    req.set_scheme(Some(if scheme == "https" {
        &Scheme::Https
    } else {
        &Scheme::Http
    }))
    .map_err(|_| "scheme")?;
    req.set_authority(Some(authority)).map_err(|_| "authority")?;
    req.set_path_with_query(Some(path)).map_err(|_| "path")?;
    let pending = outgoing_handler::handle(req, None).map_err(|e| format!("refused: {e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|_| "taken")?
        .map_err(|e| format!("failed: {e:?}"))?;
    let status = response.status();
    let body = response.consume().map_err(|_| "body")?;
    let stream = body.stream().map_err(|_| "stream")?;
    // Keeps everything it reads, as a careless driver would.
    let mut kept: Vec<u8> = Vec::new();
    loop {
        match stream.blocking_read(1 << 16) {
            Ok(chunk) => kept.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!("reading the body failed: {}", e.to_debug_string()));
            }
        }
    }
    Ok((status, kept.len()))
}

/// Asks the export service to send `body` out (an app's only way out).
#[cfg(feature = "export")]
fn export(destination: &str, body: &[u8]) -> Result<String, String> {
    databox::component::data_export::send(destination, "application/octet-stream", body)
        .map_err(|e| format!("{e:?}"))
}

#[cfg(not(feature = "export"))]
fn export(_: &str, _: &[u8]) -> Result<String, String> {
    Err("built without the export feature".into())
}

#[cfg(not(feature = "net"))]
fn fetch(_: &str) -> Result<(u16, usize), String> {
    Err("built without the net feature".into())
}

impl Guest for TestDriver {
    fn start() -> Result<(), String> {
        log::write(log::Level::Info, "started");
        match behave().as_str() {
            "fail-start" => Err("cannot start today".into()),
            "observe" => datastore::observe("source").map_err(|e| format!("{e:?}")),
            _ => Ok(()),
        }
    }

    fn on_timer() -> Result<(), String> {
        match behave().as_str() {
            "spin" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "snoop" => {
                let answer = datastore::read("secret", "latest").map_err(|e| format!("{e:?}"))?;
                log::write(log::Level::Info, &format!("read {} bytes", answer.len()));
                Ok(())
            }
            "raw" => {
                let answer = datastore::read("source", "last/5").map_err(|e| format!("{e:?}"))?;
                log::write(log::Level::Info, &format!("read raw {answer}"));
                Ok(())
            }
            "hourly" => {
                let answer = datastore::read("source", "hourly/since/0").map_err(|e| format!("{e:?}"))?;
                log::write(log::Level::Info, &format!("read hourly {answer}"));
                Ok(())
            }
            "fetch" => {
                let url = config::get("url").unwrap_or_default();
                let (status, size) = fetch(&url)?;
                log::write(
                    log::Level::Info,
                    &format!("fetched {size} bytes, status {status}"),
                );
                Ok(())
            }
            "read-loop" => {
                // The benchmark: many small reads through the host, nothing else.
                let n: u32 = config::get("n").and_then(|v| v.parse().ok()).unwrap_or(1000);
                let mut bytes = 0;
                for _ in 0..n {
                    bytes += datastore::read("source", "latest")
                        .map_err(|e| format!("{e:?}"))?
                        .len();
                }
                std::hint::black_box(bytes);
                Ok(())
            }
            "escape" => {
                // Tries every way out a WASI program has; the box grants none of them.
                let file = std::fs::read("/etc/passwd")
                    .map(|b| b.len())
                    .map_err(|e| e.kind());
                let listing = std::fs::read_dir("/").map(|d| d.count()).map_err(|e| e.kind());
                let created = std::fs::write("escape.txt", b"x").map_err(|e| e.kind());
                let env = std::env::vars().count();
                let addr = config::get("addr").unwrap_or_else(|| "127.0.0.1:9".into());
                let socket = std::net::TcpStream::connect(&addr)
                    .map(|_| ())
                    .map_err(|e| e.kind());
                let udp = std::net::UdpSocket::bind("0.0.0.0:0")
                    .map(|_| ())
                    .map_err(|e| e.kind());
                log::write(
                    log::Level::Info,
                    &format!(
                        "file {file:?}; listing {listing:?}; create {created:?}; env {env}; tcp {socket:?}; udp {udp:?}"
                    ),
                );
                Ok(())
            }
            "export" => {
                let destination = config::get("destination").unwrap_or_default();
                let body: Vec<u8> = (0..=255u8).chain(b"result: 42".iter().copied()).collect();
                let id = export(&destination, &body)?;
                log::write(log::Level::Info, &format!("export {id}"));
                Ok(())
            }
            "panic" => panic!("a bug in the component"),
            _ => {
                let n = datastore::write("counter", "{\"value\": 1, \"source\": \"timer\"}")
                    .map_err(|e| format!("{e:?}"))?;
                let total = datastore::read("counter", "since/0/sum").map_err(|e| format!("{e:?}"))?;
                let seen = datastore::read("source", "latest").map_err(|e| format!("{e:?}"))?;
                log::write(
                    log::Level::Info,
                    &format!("wrote {n}; total {total}; source {seen}"),
                );
                Ok(())
            }
        }
    }

    fn on_data(datasource: String, event: String) -> Result<(), String> {
        log::write(
            log::Level::Info,
            &format!("data of {datasource}: {} bytes", event.len()),
        );
        datastore::write("counter", "{\"value\": 1, \"source\": \"data\"}").map_err(|e| format!("{e:?}"))?;
        Ok(())
    }

    fn handle(req: Request) -> Response {
        match (behave().as_str(), req.path.as_str()) {
            ("big-page", _) => Response {
                status: 200,
                headers: vec![],
                body: vec![b'x'; 4 << 20],
            },
            (_, "/hello") => Response {
                status: 200,
                headers: vec![("content-type".into(), "text/plain".into())],
                body: format!("hello {}", req.query).into_bytes(),
            },
            _ => Response {
                status: 404,
                headers: vec![],
                body: b"nothing here".to_vec(),
            },
        }
    }
}

export!(TestDriver);
