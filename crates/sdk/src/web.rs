//! HTTP requests to the component (its own pages, or pushes to a driver) and its responses.
//! Plain data, testable natively: build a [`Request`] in a test, call your handler, look at
//! the [`Response`].

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::exports::databox::component::handlers as wit;
use crate::{Error, Result};

/// An HTTP request to the component. Paths are relative to the component's base URL: its front
/// page is `/` (or the empty path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A request with no query, headers or body (for tests).
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Sets the query string (without `?`).
    pub fn with_query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The method, upper case as sent (`GET`, `POST`, ...).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Whether the method is `method` (ignoring case).
    pub fn is(&self, method: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
    }

    /// The path, relative to the component's base URL.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether this is the front page: the path `/` or the empty path.
    pub fn is_root(&self) -> bool {
        self.path.is_empty() || self.path == "/"
    }

    /// The raw query string (without `?`).
    pub fn query_string(&self) -> &str {
        &self.query
    }

    /// The first value of query parameter `name`, percent-decoded (`+` as a space); `Some("")`
    /// for a parameter without a value.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| decode_form(k) == name)
            .map(|(_, v)| decode_form(v))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All headers, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body's bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8 text.
    pub fn body_str(&self) -> Result<&str> {
        std::str::from_utf8(&self.body).map_err(|e| Error::Data(format!("the body is not UTF-8: {e}")))
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Data(format!("the body is not the JSON expected: {e}")))
    }
}

fn decode_form(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

impl From<wit::Request> for Request {
    fn from(r: wit::Request) -> Self {
        Request {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
        }
    }
}

/// The component's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with a body of the given media type.
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    /// `200 OK` with an HTML page (`text/html; charset=utf-8`).
    pub fn html(page: impl Into<String>) -> Self {
        Self::bytes(200, "text/html; charset=utf-8", page.into())
    }

    /// `200 OK` with `value` as JSON; a value that cannot be serialized answers `500`.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::bytes(200, "application/json", body),
            Err(e) => Self::text(500, format!("the answer could not be serialized: {e}")),
        }
    }

    /// A plain-text response (`text/plain; charset=utf-8`) with any status.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::bytes(status, "text/plain; charset=utf-8", body.into())
    }

    /// `404 Not Found`.
    pub fn not_found() -> Self {
        Self::text(404, "not found")
    }

    /// `405 Method Not Allowed`, naming the allowed methods.
    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::text(405, "method not allowed").with_header("allow", allowed)
    }

    /// An error as `500` (or the status that fits an [`Error`]: 403 for denied, 404 for not
    /// found, 400 for bad requests, 413 for too large, 503 for unavailable), as plain text.
    pub fn error(e: &Error) -> Self {
        let status = match e {
            Error::Denied(_) => 403,
            Error::NotFound(_) => 404,
            Error::BadRequest(_) | Error::Invalid(_) => 400,
            Error::TooLarge(_) => 413,
            Error::Unavailable(_) => 503,
            _ => 500,
        };
        Self::text(status, e.to_string())
    }

    /// Sets a header, replacing any of the same name.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for tests and logs.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl From<Response> for wit::Response {
    fn from(r: Response) -> Self {
        wit::Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_query_parameters_decoded() {
        let r = Request::new("GET", "/").with_query("a=1&name=living+room%2F2&flag&empty=&a=2");
        assert_eq!(r.query("a").as_deref(), Some("1"));
        assert_eq!(r.query("name").as_deref(), Some("living room/2"));
        assert_eq!(r.query("flag").as_deref(), Some(""));
        assert_eq!(r.query("empty").as_deref(), Some(""));
        assert_eq!(r.query("missing"), None);
        assert_eq!(r.query_string(), "a=1&name=living+room%2F2&flag&empty=&a=2");
    }

    #[test]
    fn finds_headers_ignoring_case() {
        let r = Request::new("POST", "/push")
            .with_header("Content-Type", "application/json")
            .with_header("X-Token", "t");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("x-token"), Some("t"));
        assert_eq!(r.header("accept"), None);
        assert_eq!(r.headers().len(), 2);
        assert!(r.is("post") && !r.is("GET"));
    }

    #[test]
    fn reads_the_body_as_text_and_json() {
        let r = Request::new("POST", "/").with_body(r#"{"lat": 1.5}"#);
        assert_eq!(r.body_str().unwrap(), r#"{"lat": 1.5}"#);
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["lat"], 1.5);
        let bad = Request::new("POST", "/").with_body(vec![0xff]);
        assert!(bad.body_str().is_err());
        assert!(matches!(bad.json::<serde_json::Value>(), Err(Error::Data(_))));
    }

    #[test]
    fn knows_the_front_page() {
        assert!(Request::new("GET", "/").is_root());
        assert!(Request::new("GET", "").is_root());
        assert!(!Request::new("GET", "/data.json").is_root());
    }

    #[test]
    fn builds_responses_with_their_media_types() {
        let h = Response::html("<p>hi</p>");
        assert_eq!(
            (h.status, h.header("Content-Type")),
            (200, Some("text/html; charset=utf-8"))
        );
        assert_eq!(h.body_text(), "<p>hi</p>");

        let j = Response::json(&serde_json::json!({"a": 1}));
        assert_eq!(
            (j.status, j.header("content-type")),
            (200, Some("application/json"))
        );
        assert_eq!(j.body, br#"{"a":1}"#);

        let n = Response::not_found();
        assert_eq!(
            (n.status, n.header("content-type")),
            (404, Some("text/plain; charset=utf-8"))
        );

        let t = Response::text(201, "made");
        assert_eq!((t.status, t.body_text().as_str()), (201, "made"));

        let m = Response::method_not_allowed("GET");
        assert_eq!((m.status, m.header("allow")), (405, Some("GET")));
    }

    #[test]
    fn replaces_headers_of_the_same_name() {
        let r = Response::html("x")
            .with_header("Content-Type", "text/html")
            .with_header("cache-control", "no-store");
        assert_eq!(r.header("content-type"), Some("text/html"));
        assert_eq!(r.headers.len(), 2);
    }

    #[test]
    fn maps_errors_to_statuses() {
        assert_eq!(Response::error(&Error::Denied("x".into())).status, 403);
        assert_eq!(Response::error(&Error::NotFound("x".into())).status, 404);
        assert_eq!(Response::error(&Error::Invalid("x".into())).status, 400);
        assert_eq!(Response::error(&Error::Unavailable("x".into())).status, 503);
        assert_eq!(Response::error(&Error::Other("x".into())).status, 500);
    }

    #[test]
    fn converts_to_and_from_the_wit_records() {
        let wit_req = wit::Request {
            method: "GET".into(),
            path: "/a".into(),
            query: "x=1".into(),
            headers: vec![("h".into(), "v".into())],
            body: b"b".to_vec(),
        };
        let r = Request::from(wit_req);
        assert_eq!(
            (r.method(), r.path(), r.query("x").as_deref()),
            ("GET", "/a", Some("1"))
        );
        let w: wit::Response = Response::text(418, "teapot").into();
        assert_eq!((w.status, w.body.as_slice()), (418, b"teapot".as_slice()));
    }
}

/// Escapes text for HTML (element content and quoted attribute values alike), for the pages a
/// component draws itself.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod escape_tests {
    use super::escape_html;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
