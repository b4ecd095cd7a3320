//! The owner's dashboard, served by the box itself.
//!
//! - **Log in** (`/login`, `/login/once`, `/logout`): the owner's password or a one-time link; a
//!   session is an HTTP-only, `SameSite=Strict`, `Secure` cookie. These pages are rendered here.
//! - **Pages** (`/`, `/data`, `/apps`, `/access`, `/audit`, `/statement`, `/exports`,
//!   `/imports`, `/settings`): without a session each redirects to log in; with one, each answers the same
//!   shell, whose script (`assets/app.js`) draws the page from the JSON API. The script and the
//!   styles are compiled into the binary: the dashboard makes no request off the box.
//! - **The API** accepts the session in place of the owner's token ([`crate::access::authenticate`]);
//!   every change must carry the session's CSRF token in `X-CSRF-Token`.
//! - A few owner routes exist for the dashboard ([`owner_api`]): the box's status, QR codes,
//!   one-time links, the password, and the first-party catalogue.

mod owner_api;
mod pages;

pub use owner_api::{FirstParty, owner_api};
pub use pages::pages;

use axum::http::{HeaderMap, Method, Uri, header};
use databox_arbiter::Session;
use databox_arbiter::login::secrets_equal;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "databox_session";
/// The header the dashboard sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's value in `headers`, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether a request made with a session may change something: safe methods always may; others
/// must come from the box's own pages (an `Origin`, when the browser sends one, naming this
/// host) and carry the session's CSRF token.
pub fn change_allowed(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    session: &Session,
) -> Result<(), &'static str> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    if !same_origin(uri, headers) {
        return Err("this request comes from another site");
    }
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if secrets_equal(sent, &session.csrf) {
        Ok(())
    } else {
        Err("this change needs the dashboard's CSRF token (X-CSRF-Token): reload the page")
    }
}

/// True unless the browser says the request comes from a page of another origin. The box's own
/// name is the `Host` header, or (HTTP/2, which has none) the request's `:authority`.
pub(crate) fn same_origin(uri: &Uri, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or("");
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host))
}

/// Escapes text for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; databox_session=abc; b=2")]);
        assert_eq!(session_cookie(&h).as_deref(), Some("abc"));
        assert_eq!(session_cookie(&headers(&[("cookie", "databox_session=")])), None);
        assert_eq!(session_cookie(&headers(&[("cookie", "other=x")])), None);
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn changes_need_the_csrf_token_and_the_same_origin() {
        let s = Session {
            csrf: "tok".into(),
            created_ms: 0,
        };
        assert!(change_allowed(&Method::GET, &Uri::from_static("/"), &HeaderMap::new(), &s).is_ok());
        assert!(change_allowed(&Method::POST, &Uri::from_static("/"), &HeaderMap::new(), &s).is_err());
        assert!(
            change_allowed(
                &Method::POST,
                &Uri::from_static("/"),
                &headers(&[("x-csrf-token", "tok")]),
                &s
            )
            .is_ok()
        );
        assert!(
            change_allowed(
                &Method::DELETE,
                &Uri::from_static("/"),
                &headers(&[("x-csrf-token", "tol")]),
                &s
            )
            .is_err()
        );
        let same = headers(&[
            ("x-csrf-token", "tok"),
            ("host", "127.0.0.1:8000"),
            ("origin", "http://127.0.0.1:8000"),
        ]);
        assert!(change_allowed(&Method::POST, &Uri::from_static("/"), &same, &s).is_ok());
        let other = headers(&[
            ("x-csrf-token", "tok"),
            ("host", "127.0.0.1:8000"),
            ("origin", "http://evil.example"),
        ]);
        assert!(change_allowed(&Method::POST, &Uri::from_static("/"), &other, &s).is_err());
        let h2: Uri = "http://127.0.0.1:8000/api/v1/stores".parse().unwrap();
        let no_host = headers(&[("x-csrf-token", "tok"), ("origin", "http://127.0.0.1:8000")]);
        assert!(
            change_allowed(&Method::POST, &h2, &no_host, &s).is_ok(),
            "HTTP/2 names the host in :authority"
        );
        let null = headers(&[
            ("x-csrf-token", "tok"),
            ("host", "127.0.0.1:8000"),
            ("origin", "null"),
        ]);
        assert!(change_allowed(&Method::PUT, &Uri::from_static("/"), &null, &s).is_err());
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
