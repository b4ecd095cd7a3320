//! Outbound HTTP for drivers (feature `http`), over `wasi:http/outgoing-handler@0.2`.
//!
//! The box filters every request against the manifest's `network.hosts` (scheme, host, port and
//! the resolved address); apps have no network at all. Bodies are read up to a cap
//! ([`DEFAULT_MAX_BODY`] unless [`HttpRequest::max_body`] says otherwise) so a large answer
//! fails cleanly instead of exhausting the component's memory.
//!
//! ```no_run
//! # fn main() -> databox_sdk::Result<()> {
//! let weather = databox_sdk::http::get("https://api.example.org/now?city=Berlin")?;
//! if weather.status == 200 {
//!     let doc: serde_json::Value = weather.json()?;
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The largest response body read unless a request says otherwise: 4 MiB.
pub const DEFAULT_MAX_BODY: usize = 4 << 20;
/// The default time to connect, to the first byte and between bytes: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// An outbound request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// `http://` or `https://` URL.
    pub url: String,
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
    /// Largest response body accepted, bytes.
    pub max_body: usize,
    /// Timeout to connect, to the first byte of the answer, and between its bytes.
    pub timeout: Duration,
}

impl HttpRequest {
    /// A request with no headers or body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        HttpRequest {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
            max_body: DEFAULT_MAX_BODY,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and its `content-type`.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<Self> {
        Ok(self
            .header("content-type", "application/json")
            .body(serde_json::to_vec(value)?))
    }

    /// Sets the largest response body accepted.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets the timeouts.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the request and reads the whole answer.
    pub fn send(&self) -> Result<HttpResponse> {
        send(self)
    }
}

/// The answer to an outbound request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names lower case as HTTP/2 and wasi:http give them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).map_err(|e| Error::Data(format!("the body is not UTF-8: {e}")))
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

/// `GET url`.
pub fn get(url: &str) -> Result<HttpResponse> {
    HttpRequest::new("GET", url).send()
}

/// `POST url` with a body of the given media type.
pub fn post(url: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Result<HttpResponse> {
    HttpRequest::new("POST", url)
        .header("content-type", content_type)
        .body(body)
        .send()
}

/// The parts of an absolute URL that an outgoing request takes.
#[derive(Debug, PartialEq, Eq)]
struct Target<'a> {
    https: bool,
    authority: &'a str,
    path_with_query: String,
}

fn parse_url(url: &str) -> Result<Target<'_>> {
    let bad = |why: &str| Error::Invalid(format!("{url:?} is not a usable URL: {why}"));
    let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("it has no scheme"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" => true,
        "http" => false,
        _ => return Err(bad("only http and https are supported")),
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(bad("it has no host"));
    }
    if authority.contains('@') {
        return Err(bad(
            "credentials in URLs are not supported; send them in a header",
        ));
    }
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return Err(bad(
            "it contains spaces or control characters; percent-encode them",
        ));
    }
    Ok(Target {
        https,
        authority,
        path_with_query: if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        },
    })
}

/// Reads chunks into a body, refusing more than `max` bytes.
fn append_capped(body: &mut Vec<u8>, chunk: &[u8], max: usize) -> Result<()> {
    if body.len() + chunk.len() > max {
        return Err(Error::TooLarge(format!("the response body is over {max} bytes")));
    }
    body.extend_from_slice(chunk);
    Ok(())
}

fn send(req: &HttpRequest) -> Result<HttpResponse> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use wasi::io::streams::StreamError;

    let http = |what: &str, e: &dyn std::fmt::Debug| Error::Http(format!("{what}: {e:?}"));
    let target = parse_url(&req.url)?;

    let entries: Vec<(String, Vec<u8>)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let headers =
        Fields::from_list(&entries).map_err(|e| Error::Invalid(format!("a request header: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match req.method.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    };
    let invalid = |what: &str| Error::Invalid(format!("the request's {what} was refused"));
    outgoing.set_method(&method).map_err(|()| invalid("method"))?;
    let scheme = if target.https { Scheme::Https } else { Scheme::Http };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(target.authority))
        .map_err(|()| invalid("host"))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| invalid("path"))?;

    let options = RequestOptions::new();
    let nanos = u64::try_from(req.timeout.as_nanos()).unwrap_or(u64::MAX);
    // A host may not support every timeout; the defaults then apply.
    let _ = options.set_connect_timeout(Some(nanos));
    let _ = options.set_first_byte_timeout(Some(nanos));
    let _ = options.set_between_bytes_timeout(Some(nanos));

    let body = outgoing
        .body()
        .map_err(|()| Error::Http("the request body was taken twice".into()))?;
    let future =
        outgoing_handler::handle(outgoing, Some(options)).map_err(|e| http("the request was refused", &e))?;
    if !req.body.is_empty() {
        let stream = body
            .write()
            .map_err(|()| Error::Http("the request body stream was taken twice".into()))?;
        // blocking-write-and-flush takes at most 4096 bytes per call.
        for chunk in req.body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| http("sending the request body", &e))?;
        }
        drop(stream);
    }
    OutgoingBody::finish(body, None).map_err(|e| http("finishing the request body", &e))?;

    let response = loop {
        match future.get() {
            Some(r) => break r,
            None => future.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| Error::Http("the response was already taken".into()))?
        .map_err(|e| http("no response", &e))?;
    drop(future);

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let incoming = response
        .consume()
        .map_err(|()| Error::Http("the response body was taken twice".into()))?;
    let stream = incoming
        .stream()
        .map_err(|()| Error::Http("the response body stream was taken twice".into()))?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => append_capped(&mut out, &chunk, req.max_body)?,
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(Error::Http(format!(
                    "reading the response body: {}",
                    e.to_debug_string()
                )));
            }
        }
    }
    drop(stream);
    let _trailers = IncomingBody::finish(incoming);
    Ok(HttpResponse {
        status,
        headers,
        body: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls_into_scheme_authority_and_path() {
        assert_eq!(
            parse_url("https://api.example.org/v1/now?city=Berlin#frag").unwrap(),
            Target {
                https: true,
                authority: "api.example.org",
                path_with_query: "/v1/now?city=Berlin".into()
            }
        );
        assert_eq!(
            parse_url("http://127.0.0.1:8080").unwrap(),
            Target {
                https: false,
                authority: "127.0.0.1:8080",
                path_with_query: "/".into()
            }
        );
        assert_eq!(parse_url("HTTPS://h?q=1").unwrap().path_with_query, "/?q=1");
    }

    #[test]
    fn refuses_urls_it_cannot_send() {
        for bad in [
            "api.example.org/x",
            "ftp://h/x",
            "https:///x",
            "https://user:pw@h/x",
            "https://h/a b",
        ] {
            assert!(matches!(parse_url(bad), Err(Error::Invalid(_))), "{bad}");
        }
    }

    #[test]
    fn caps_the_body() {
        let mut body = Vec::new();
        append_capped(&mut body, b"12345", 8).unwrap();
        assert!(matches!(
            append_capped(&mut body, b"6789", 8),
            Err(Error::TooLarge(_))
        ));
        assert_eq!(body, b"12345");
        append_capped(&mut body, b"678", 8).unwrap();
        assert_eq!(body.len(), 8);
    }

    #[test]
    fn reads_answers() {
        let r = HttpResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"t": 21.5}"#.to_vec(),
        };
        assert!(r.is_success());
        assert_eq!(r.header("Content-Type"), Some("application/json"));
        assert_eq!(r.json::<serde_json::Value>().unwrap()["t"], 21.5);
        assert_eq!(r.text().unwrap(), r#"{"t": 21.5}"#);
    }

    #[test]
    fn builds_requests() {
        let r = HttpRequest::new("POST", "https://h/x")
            .json(&serde_json::json!({"a": 1}))
            .unwrap()
            .max_body(10)
            .timeout(Duration::from_secs(2));
        assert_eq!(
            r.headers,
            vec![("content-type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!((r.body.as_slice(), r.max_body), (br#"{"a":1}"#.as_slice(), 10));
    }
}
