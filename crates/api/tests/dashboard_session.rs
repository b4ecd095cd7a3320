//! The owner's dashboard sessions end to end, over the real router in process (`oneshot`): pages
//! that send strangers to log in, the API refusing anyone without a token or a live session, the
//! first run through a one-time link, the CSRF token and origin check on every change, password
//! log-in with its throttle, log-out, password changes, and QR codes.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use databox_api::dashboard::SESSION_COOKIE;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::json;
use support::{Resp, TestBox};

const PASSWORD: &str = "correct horse battery staple";
const FORM: &str = "application/x-www-form-urlencoded";

/// Every page of the dashboard (one per route pattern, wildcards filled in).
const PAGES: &[&str] = &[
    "/",
    "/data",
    "/data/s/ds",
    "/apps",
    "/apps/install/x",
    "/access",
    "/audit",
    "/statement",
    "/exports",
    "/settings",
];

impl Resp {
    /// Asserts an HTML answer with `status`; returns the page.
    fn html(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.text());
        assert_eq!(self.header(header::CONTENT_TYPE), "text/html; charset=utf-8");
        self.text()
    }

    /// Asserts a `303 See Other` (what axum's `Redirect::to` answers); returns where it leads.
    fn redirect(&self) -> &str {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.text());
        self.header(header::LOCATION)
    }

    /// The session cookie set by this response: its value and its attributes (lowercase).
    fn session_cookie(&self) -> (String, Vec<String>) {
        let set = self.header(header::SET_COOKIE);
        let mut parts = set.split(';').map(str::trim);
        let first = parts.next().unwrap_or("");
        let value = first
            .strip_prefix(&format!("{SESSION_COOKIE}="))
            .unwrap_or_else(|| panic!("not the session cookie: {set}"));
        (value.to_owned(), parts.map(str::to_ascii_lowercase).collect())
    }
}

/// A logged-in browser: its cookie value and the CSRF token its pages carry.
struct Session {
    cookie: String,
    csrf: String,
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The CSRF token on the script tag of the page shell.
fn csrf_in(html: &str) -> String {
    let start = html
        .find("data-csrf=\"")
        .unwrap_or_else(|| panic!("no data-csrf in the shell: {html}"))
        + "data-csrf=\"".len();
    let len = html[start..].find('"').expect("a closing quote");
    let token = &html[start..start + len];
    assert!(token.len() >= 32, "a CSRF token worth the name: {token:?}");
    token.to_owned()
}

/// Fills in a path template of the OpenAPI document with sample values.
fn sample(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("a closed parameter") + open;
        out.push_str(match rest[open + 1..close].trim_start_matches('*') {
            "store" => "s",
            "key" => "k",
            "query" => "latest",
            n if n.starts_with("datasource") || n == "ds" => "ds",
            _ => "x",
        });
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

impl TestBox {
    /// A box whose owner has set [`PASSWORD`].
    fn with_password() -> TestBox {
        let b = TestBox::new();
        b.arbiter
            .login()
            .set_password(PASSWORD, None)
            .expect("set the password");
        b
    }

    /// A new one-time link code, as `databox dashboard link` makes one.
    fn link(&self) -> String {
        self.arbiter.login().new_link(databox_store::now_ms()).to_string()
    }

    /// A request with neither token nor cookie.
    async fn anonymous(&self, method: Method, uri: &str) -> Resp {
        self.send(
            Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// A request carrying the session cookie `cookie` and `headers`; a non-empty body is JSON.
    async fn with_cookie(
        &self,
        method: Method,
        uri: &str,
        cookie: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, format!("theme=dark; {SESSION_COOKIE}={cookie}"));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !body.is_empty() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        self.send(req.body(Body::from(body.to_owned())).unwrap()).await
    }

    /// A form POST, with the session cookie when one is given.
    async fn post_form(&self, uri: &str, cookie: Option<&str>, body: &str) -> Resp {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, FORM);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, format!("{SESSION_COOKIE}={c}"));
        }
        self.send(req.body(Body::from(body.to_owned())).unwrap()).await
    }

    /// Logs in with `password`, answering the form's response.
    async fn password_login(&self, password: &str, next: &str) -> Resp {
        self.post_form("/login", None, &form(&[("password", password), ("next", next)]))
            .await
    }

    /// The session a log-in response opened, with the CSRF token of its pages.
    async fn session_of(&self, r: &Resp) -> Session {
        let (cookie, _) = r.session_cookie();
        let shell = self.with_cookie(Method::GET, "/", &cookie, &[], "").await;
        let csrf = csrf_in(&shell.html(StatusCode::OK));
        Session { cookie, csrf }
    }

    /// Logs in with [`PASSWORD`].
    async fn session(&self) -> Session {
        let r = self.password_login(PASSWORD, "/").await;
        assert_eq!(r.redirect(), "/");
        self.session_of(&r).await
    }
}

#[tokio::test]
async fn without_a_session_pages_send_the_browser_to_log_in_and_keep_where_it_was_going() {
    let b = TestBox::new();
    for page in PAGES {
        let r = b.anonymous(Method::GET, page).await;
        let expected = format!("/login?next={}", utf8_percent_encode(page, NON_ALPHANUMERIC));
        assert_eq!(r.redirect(), expected, "{page}");
        assert!(r.headers.get(header::SET_COOKIE).is_none(), "{page}");
    }
    assert_eq!(
        b.anonymous(Method::GET, "/data/s/ds").await.redirect(),
        "/login?next=%2Fdata%2Fs%2Fds"
    );
    let r = b
        .anonymous(Method::GET, "/audit?principal=app&outcome=refused")
        .await;
    assert_eq!(
        r.redirect(),
        "/login?next=%2Faudit%3Fprincipal%3Dapp%26outcome%3Drefused",
        "the query is kept"
    );

    // The log-in page carries that destination into its form.
    let page = b
        .anonymous(
            Method::GET,
            "/login?next=%2Faudit%3Fprincipal%3Dapp%26outcome%3Drefused",
        )
        .await
        .html(StatusCode::OK);
    assert!(
        page.contains(r#"name="next" value="/audit?principal=app&amp;outcome=refused""#),
        "{page}"
    );
    assert!(page.contains(r#"type="password""#), "{page}");
    assert!(
        page.contains("No password is set yet"),
        "a new box says how to begin: {page}"
    );

    let r = b.anonymous(Method::GET, "/login").await;
    let page = r.html(StatusCode::OK);
    assert!(page.contains(r#"<form method="post" action="/login""#), "{page}");
    assert!(page.contains(r#"name="password" type="password""#), "{page}");
    assert!(
        r.header(header::CONTENT_SECURITY_POLICY)
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(r.header(header::CACHE_CONTROL), "no-store");

    for (asset, kind, marker) in [
        ("/assets/app.js", "text/javascript; charset=utf-8", ""),
        ("/assets/style.css", "text/css; charset=utf-8", "{"),
        ("/assets/icon.svg", "image/svg+xml", "<svg"),
    ] {
        let r = b.anonymous(Method::GET, asset).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}: {}", r.text());
        assert_eq!(r.header(header::CONTENT_TYPE), kind, "{asset}");
        assert_eq!(r.header(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{asset}");
        assert!(r.body.len() > 100 && r.text().contains(marker), "{asset}");
    }
    assert_eq!(
        b.anonymous(Method::GET, "/assets/secret.key").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn without_a_token_or_a_live_session_every_api_route_answers_401() {
    let b = TestBox::new();
    let doc = b.fetch("/api/v1/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK, "{}", doc.text());
    let doc = doc.json();
    let paths = doc["paths"].as_object().expect("paths");
    let mut routes: Vec<(Method, String)> = Vec::new();
    for (template, item) in paths {
        let methods = item.as_object().expect("a path item");
        for m in ["get", "put", "post", "delete", "patch"] {
            if methods.contains_key(m) {
                routes.push((m.to_uppercase().parse().unwrap(), sample(template)));
            }
        }
    }
    assert!(routes.len() >= 40, "the whole API is documented: {routes:?}");
    assert!(routes.contains(&(Method::PUT, "/api/v1/stores/s".to_owned())));
    assert!(routes.contains(&(Method::GET, "/api/v1/stores/s/ts/ds/latest".to_owned())));
    for (m, p) in [
        (Method::GET, "/api/v1/box"),
        (Method::POST, "/api/v1/qr"),
        (Method::POST, "/api/v1/owner/login-link"),
        (Method::PUT, "/api/v1/owner/password"),
        (Method::GET, "/api/v1/components/available"),
        (Method::POST, "/api/v1/components/available/x/review"),
        (Method::POST, "/api/v1/components/available/x/install"),
        (Method::GET, "/app/x/"),
        (Method::POST, "/app/x/"),
        (Method::GET, "/app/x/page?q=1"),
        (Method::GET, "/api/v1/no-such-route"),
    ] {
        routes.push((m, p.to_owned()));
    }

    for (method, path) in &routes {
        let r = b.anonymous(method.clone(), path).await;
        r.error(StatusCode::UNAUTHORIZED);
        let r = b
            .with_cookie(method.clone(), path, "made-up-session", &[], "")
            .await;
        let msg = r.error(StatusCode::UNAUTHORIZED);
        assert!(msg.contains("session has ended"), "{method} {path}: {msg}");
    }
    // Nothing of the refused requests happened.
    let r = b.fetch("/api/v1/stores/s").await;
    r.error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_first_run_sets_the_password_through_a_one_time_link_that_works_once() {
    let b = TestBox::new();
    let code = b.link();

    let page = b
        .anonymous(Method::GET, &format!("/login/once?code={code}"))
        .await
        .html(StatusCode::OK);
    assert!(page.contains("Set up your box"), "{page}");
    assert!(page.contains(r#"name="password" type="password""#), "{page}");
    assert!(page.contains(r#"name="confirm" type="password""#), "{page}");
    assert!(page.contains(&format!(r#"name="code" value="{code}""#)), "{page}");

    let page = b
        .anonymous(Method::GET, "/login/once?code=not-a-code")
        .await
        .html(StatusCode::NOT_FOUND);
    assert!(page.contains("this link is not valid"), "{page}");
    assert!(
        b.anonymous(Method::GET, "/login/once")
            .await
            .html(StatusCode::NOT_FOUND)
            .contains("not valid")
    );

    // Two different passwords: refused before the link is used, so it still works.
    let r = b
        .post_form(
            "/login/once",
            None,
            &form(&[
                ("code", &code),
                ("password", PASSWORD),
                ("confirm", "correct horse battery stapler"),
            ]),
        )
        .await;
    assert!(
        r.html(StatusCode::BAD_REQUEST)
            .contains("the two passwords differ")
    );
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    let r = b
        .post_form(
            "/login/once",
            None,
            &form(&[
                ("code", &code),
                ("password", "short one"),
                ("confirm", "short one"),
            ]),
        )
        .await;
    assert!(r.html(StatusCode::BAD_REQUEST).contains("at least 10 characters"));
    assert_eq!(
        b.anonymous(Method::GET, &format!("/login/once?code={code}"))
            .await
            .status,
        StatusCode::OK,
        "the refused forms did not use the link up"
    );

    let r = b
        .post_form(
            "/login/once",
            None,
            &form(&[("code", &code), ("password", PASSWORD), ("confirm", PASSWORD)]),
        )
        .await;
    assert_eq!(r.redirect(), "/");
    let (cookie, attributes) = r.session_cookie();
    assert!(cookie.len() >= 40, "a session id worth the name: {cookie}");
    for a in ["httponly", "secure", "samesite=strict", "path=/"] {
        assert!(
            attributes.iter().any(|x| x == a),
            "{a} missing from {attributes:?}"
        );
    }

    // Used up.
    let again = b
        .post_form(
            "/login/once",
            None,
            &form(&[("code", &code), ("password", PASSWORD), ("confirm", PASSWORD)]),
        )
        .await;
    assert!(
        again
            .html(StatusCode::UNAUTHORIZED)
            .contains("this link is not valid")
    );
    assert!(again.headers.get(header::SET_COOKIE).is_none());
    assert_eq!(
        b.anonymous(Method::GET, &format!("/login/once?code={code}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The session works, and the password is set.
    let status = b.with_cookie(Method::GET, "/api/v1/box", &cookie, &[], "").await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.text());
    assert_eq!(status.json()["password_set"], json!(true), "{}", status.text());
    assert!(b.arbiter.login().has_password());
    assert_eq!(b.password_login(PASSWORD, "/").await.redirect(), "/");

    // With a password set, a link logs in once and leaves the password alone.
    let code = b.link();
    let page = b
        .anonymous(Method::GET, &format!("/login/once?code={code}"))
        .await
        .html(StatusCode::OK);
    assert!(
        page.contains("One-time log in") && !page.contains(r#"name="confirm""#),
        "{page}"
    );
    let r = b.post_form("/login/once", None, &form(&[("code", &code)])).await;
    assert_eq!(r.redirect(), "/");
    r.session_cookie();
    assert_eq!(b.password_login(PASSWORD, "/").await.redirect(), "/");
}

#[tokio::test]
async fn a_session_reads_freely_but_changes_only_with_its_csrf_token_from_the_box_itself() {
    let b = TestBox::with_password();
    let s = b.session().await;

    let r = b.with_cookie(Method::GET, "/", &s.cookie, &[], "").await;
    let page = r.html(StatusCode::OK);
    assert!(page.contains(&format!(r#"data-csrf="{}""#, s.csrf)), "{page}");
    assert!(
        page.contains(&format!(r#"name="csrf" value="{}""#, s.csrf)),
        "the log-out form: {page}"
    );
    let csp = r.header(header::CONTENT_SECURITY_POLICY);
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    for page in PAGES {
        let r = b.with_cookie(Method::GET, page, &s.cookie, &[], "").await;
        assert_eq!(csrf_in(&r.html(StatusCode::OK)), s.csrf, "{page}");
    }
    // Logged in already, the log-in page moves on.
    let r = b
        .with_cookie(Method::GET, "/login?next=%2Fapps", &s.cookie, &[], "")
        .await;
    assert_eq!(r.redirect(), "/apps");

    let r = b
        .with_cookie(Method::GET, "/api/v1/stores", &s.cookie, &[], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.json(), json!([]));

    let msg = b
        .with_cookie(Method::PUT, "/api/v1/stores/s2", &s.cookie, &[], "")
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(msg.contains("CSRF"), "{msg}");
    let wrong = format!("{}x", &s.csrf[..s.csrf.len() - 1]);
    let msg = b
        .with_cookie(
            Method::PUT,
            "/api/v1/stores/s2",
            &s.cookie,
            &[("x-csrf-token", &wrong)],
            "",
        )
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(msg.contains("CSRF"), "{msg}");
    // Another session's token is no good either.
    let other = b.session().await;
    b.with_cookie(
        Method::PUT,
        "/api/v1/stores/s2",
        &s.cookie,
        &[("x-csrf-token", &other.csrf)],
        "",
    )
    .await
    .error(StatusCode::FORBIDDEN);
    b.fetch("/api/v1/stores/s2").await.error(StatusCode::NOT_FOUND);

    let r = b
        .with_cookie(
            Method::PUT,
            "/api/v1/stores/s2",
            &s.cookie,
            &[("x-csrf-token", &s.csrf)],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(b.fetch("/api/v1/stores/s2").await.status, StatusCode::OK);

    // The right token, but sent by a page of another site.
    let evil = [
        ("x-csrf-token", s.csrf.as_str()),
        ("host", "box.test:8000"),
        ("origin", "http://evil.example"),
    ];
    let msg = b
        .with_cookie(Method::PUT, "/api/v1/stores/s3", &s.cookie, &evil, "")
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(msg.contains("another site"), "{msg}");
    b.fetch("/api/v1/stores/s3").await.error(StatusCode::NOT_FOUND);
    let same = [
        ("x-csrf-token", s.csrf.as_str()),
        ("host", "box.test:8000"),
        ("origin", "http://box.test:8000"),
    ];
    let r = b
        .with_cookie(Method::PUT, "/api/v1/stores/s3", &s.cookie, &same, "")
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "the box's own origin may: {}",
        r.text()
    );

    // Every refusal is in the audit log, with its reason.
    let r = b.fetch("/api/v1/audit?outcome=refused").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let records = r.json();
    let records = records.as_array().expect("records");
    let reasons: Vec<&str> = records
        .iter()
        .filter(|r| r["principal"] == "owner" && r["operation"] == "authenticate")
        .filter_map(|r| r["detail"].as_str())
        .collect();
    assert_eq!(
        reasons.iter().filter(|d| d.contains("CSRF")).count(),
        3,
        "no, wrong and another session's token: {records:?}"
    );
    assert_eq!(
        reasons.iter().filter(|d| d.contains("another site")).count(),
        1,
        "{records:?}"
    );
}

#[tokio::test]
async fn the_password_logs_in_to_a_local_page_and_wrong_ones_are_throttled() {
    let b = TestBox::with_password();

    let r = b.password_login(PASSWORD, "/data").await;
    assert_eq!(r.redirect(), "/data");
    let (cookie, attributes) = r.session_cookie();
    assert!(attributes.iter().any(|a| a == "httponly"), "{attributes:?}");
    let s = b.session_of(&r).await;
    assert_eq!(s.cookie, cookie);

    // No open redirect: only the box's own paths follow a log-in.
    for next in [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "/login",
        "",
    ] {
        let r = b.password_login(PASSWORD, next).await;
        assert_eq!(r.redirect(), "/", "next={next:?}");
        r.session_cookie();
    }
    // A log-in form sent from another site is refused.
    let r = b
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/login")
                .header(header::CONTENT_TYPE, FORM)
                .header(header::HOST, "box.test")
                .header(header::ORIGIN, "https://evil.example")
                .body(Body::from(form(&[("password", PASSWORD), ("next", "/")])))
                .unwrap(),
        )
        .await;
    assert!(r.html(StatusCode::FORBIDDEN).contains("another site"));
    assert!(r.headers.get(header::SET_COOKIE).is_none());

    let r = b.password_login("Tr0ub4dor&3 is wrong", "/data").await;
    let page = r.html(StatusCode::UNAUTHORIZED);
    assert!(page.contains("that is not the password of this box"), "{page}");
    assert!(
        page.contains(r#"name="next" value="/data""#),
        "the form keeps the destination: {page}"
    );
    assert!(r.headers.get(header::SET_COOKIE).is_none());

    // That was the first of five free failures (a success clears the count).
    assert_eq!(b.password_login(PASSWORD, "/").await.redirect(), "/");
    for i in 1..=5 {
        let r = b.password_login(&format!("wrong guess {i}"), "/").await;
        assert!(
            r.html(StatusCode::UNAUTHORIZED).contains("not the password"),
            "failure {i} is free"
        );
    }
    // The sixth attempt comes within the first second of waiting and is refused before the
    // password is checked, even the right one. A slow machine may let that second pass during the
    // request; each wrong guess after that doubles the wait, so one of the next few is throttled.
    let mut throttled = None;
    for _ in 0..4 {
        let r = b.password_login("wrong guess again", "/").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(r);
            break;
        }
        assert!(r.html(StatusCode::UNAUTHORIZED).contains("not the password"));
    }
    let r = throttled.expect("repeated wrong passwords are throttled");
    let page = r.html(StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("too many wrong passwords: try again in"), "{page}");
    let r = b.password_login(PASSWORD, "/").await;
    assert!(
        r.html(StatusCode::TOO_MANY_REQUESTS).contains("try again"),
        "the right password waits too"
    );
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    // Sessions already open are not affected.
    let r = b
        .with_cookie(Method::GET, "/api/v1/stores", &s.cookie, &[], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn a_log_in_cannot_redirect_off_the_box_through_control_characters() {
    let b = TestBox::with_password();
    for next in ["/\t/evil.example", "/\t\\evil.example"] {
        let r = b.password_login(PASSWORD, next).await;
        let location: String = r
            .redirect()
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect();
        assert!(
            location.starts_with('/') && !location.starts_with("//") && !location.contains('\\'),
            "next={next:?} led to {location:?}"
        );
    }
    // The same through the log-in page of a browser that is logged in already.
    let s = b.session().await;
    let r = b
        .with_cookie(
            Method::GET,
            "/login?next=%2F%09%2Fevil.example",
            &s.cookie,
            &[],
            "",
        )
        .await;
    let location: String = r.redirect().chars().filter(|c| *c != '\t').collect();
    assert!(!location.starts_with("//"), "{location:?}");

    // A destination that is no header value at all falls back to the home page, not a 500.
    for next in ["/data\n", "/data\r\nSet-Cookie: x=y", "/data\u{7f}"] {
        let r = b.password_login(PASSWORD, next).await;
        assert_eq!(r.redirect(), "/", "next={next:?}");
    }
}

#[tokio::test]
async fn logging_out_ends_the_session_but_only_from_the_dashboard() {
    let b = TestBox::with_password();
    let s = b.session().await;

    // Without the form's CSRF field, or with another one, nothing ends.
    let r = b.post_form("/logout", Some(&s.cookie), "").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    let r = b
        .post_form("/logout", Some(&s.cookie), &form(&[("csrf", "guess")]))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = b
        .with_cookie(Method::GET, "/api/v1/stores", &s.cookie, &[], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "the session still works: {}", r.text());
    assert_eq!(
        b.with_cookie(Method::GET, "/", &s.cookie, &[], "").await.status,
        StatusCode::OK
    );

    let other = b.session().await;
    let r = b
        .post_form("/logout", Some(&s.cookie), &form(&[("csrf", &s.csrf)]))
        .await;
    assert_eq!(r.redirect(), "/login");
    let (value, attributes) = r.session_cookie();
    assert_eq!(value, "", "the cookie is cleared");
    assert!(attributes.iter().any(|a| a == "max-age=0"), "{attributes:?}");
    assert!(attributes.iter().any(|a| a == "path=/"), "{attributes:?}");

    assert_eq!(
        b.with_cookie(Method::GET, "/", &s.cookie, &[], "")
            .await
            .redirect(),
        "/login?next=%2F"
    );
    let msg = b
        .with_cookie(Method::GET, "/api/v1/stores", &s.cookie, &[], "")
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert!(msg.contains("session has ended"), "{msg}");
    // Another browser's session carries on.
    let r = b
        .with_cookie(Method::GET, "/api/v1/stores", &other.cookie, &[], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn the_password_changes_through_the_api_with_the_current_one() {
    let b = TestBox::with_password();
    let s = b.session().await;
    let elsewhere = b.session().await;
    let new = "a brand new passphrase";
    let change = |current: &str, new: &str| json!({"current": current, "new": new}).to_string();
    let csrf = [("x-csrf-token", s.csrf.as_str())];

    // Without the CSRF token, nothing is even checked.
    let msg = b
        .with_cookie(
            Method::PUT,
            "/api/v1/owner/password",
            &s.cookie,
            &[],
            &change(PASSWORD, new),
        )
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(msg.contains("CSRF"), "{msg}");

    let msg = b
        .with_cookie(
            Method::PUT,
            "/api/v1/owner/password",
            &s.cookie,
            &csrf,
            &change("not it at all", new),
        )
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(msg.contains("not the password"), "{msg}");
    let msg = b
        .with_cookie(
            Method::PUT,
            "/api/v1/owner/password",
            &s.cookie,
            &csrf,
            &change(PASSWORD, "12345"),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("at least 10 characters"), "{msg}");
    b.with_cookie(
        Method::PUT,
        "/api/v1/owner/password",
        &s.cookie,
        &csrf,
        r#"{"new": 5}"#,
    )
    .await
    .error(StatusCode::BAD_REQUEST);
    // None of these changed anything.
    assert_eq!(b.password_login(PASSWORD, "/").await.redirect(), "/");

    let r = b
        .with_cookie(
            Method::PUT,
            "/api/v1/owner/password",
            &s.cookie,
            &csrf,
            &change(PASSWORD, new),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    assert!(r.body.is_empty());

    assert_eq!(
        b.password_login(PASSWORD, "/").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(b.password_login(new, "/").await.redirect(), "/");
    let r = b
        .with_cookie(Method::GET, "/api/v1/stores", &s.cookie, &[], "")
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the session that changed it carries on: {}",
        r.text()
    );
    let msg = b
        .with_cookie(Method::GET, "/api/v1/stores", &elsewhere.cookie, &[], "")
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert!(msg.contains("session has ended"), "other sessions end: {msg}");

    // The changes are audited, the refused ones with their reason.
    let r = b.fetch("/api/v1/audit?operation=set%20password").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let outcomes: Vec<(String, String)> = r
        .json()
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap_or("").to_owned(),
                r["detail"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[0].0, "refused");
    assert!(outcomes[0].1.contains("not the password"), "{outcomes:?}");
    assert_eq!(outcomes[2], ("ok".to_owned(), String::new()));
}

#[tokio::test]
async fn a_first_run_password_the_box_refuses_leaves_the_link_usable() {
    let b = TestBox::new();
    let code = b.link();
    let long = "x".repeat(1025);
    let r = b
        .post_form(
            "/login/once",
            None,
            &form(&[("code", &code), ("password", &long), ("confirm", &long)]),
        )
        .await;
    assert!(r.html(StatusCode::BAD_REQUEST).contains("1024"), "{}", r.text());
    assert!(b.arbiter.login().link_is_valid(&code, databox_store::now_ms()));
}

#[tokio::test]
async fn app_pages_are_behind_the_session_and_without_components_say_so() {
    // Installing a component here would need a wasm32-wasip2 build; the CSP of a component's
    // page (`script-src 'none'`) is asserted where one is built. What this router alone decides:
    // a session opens /app/... like the owner's token, and its changes need the CSRF token.
    let b = TestBox::with_password();
    let s = b.session().await;
    let r = b.with_cookie(Method::GET, "/app/x/", &s.cookie, &[], "").await;
    let msg = r.error(StatusCode::SERVICE_UNAVAILABLE);
    assert!(msg.contains("no apps"), "{msg}");
    let msg = b
        .with_cookie(Method::POST, "/app/x/form", &s.cookie, &[], "")
        .await
        .error(StatusCode::FORBIDDEN);
    assert!(msg.contains("CSRF"), "{msg}");
}

#[tokio::test]
async fn qr_codes_are_svg_for_short_texts_only() {
    let b = TestBox::new();
    let r = b
        .send(
            Request::builder()
                .method(Method::POST)
                .uri("/api/v1/qr")
                .header(header::AUTHORIZATION, format!("Bearer {}", b.token))
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("databox-token-En0aQ3xZ"))
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.header(header::CONTENT_TYPE), "image/svg+xml");
    assert_eq!(r.header(header::CACHE_CONTROL), "no-store");
    let svg = r.text();
    assert!(svg.starts_with("<?xml"), "{svg}");
    assert!(svg.contains("<svg") && svg.contains("</svg>"), "{svg}");

    let at_limit = b.call(Method::POST, "/api/v1/qr", &"7".repeat(2000)).await;
    assert_eq!(
        at_limit.status,
        StatusCode::OK,
        "2000 bytes fit: {}",
        at_limit.text()
    );
    let msg = b
        .call(Method::POST, "/api/v1/qr", &"7".repeat(2001))
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("2000") && msg.contains("2001"), "{msg}");

    // The dashboard's session may ask for one too (with its CSRF token: POST is a change).
    let b = TestBox::with_password();
    let s = b.session().await;
    let r = b
        .with_cookie(
            Method::POST,
            "/api/v1/qr",
            &s.cookie,
            &[("x-csrf-token", &s.csrf)],
            "hello",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("<svg"));
}
