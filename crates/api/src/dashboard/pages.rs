//! The dashboard's pages: log in, one-time links, log out, the page shell and its assets.

use axum::Form;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use databox_arbiter::{LoginError, NewSession};
use databox_audit::{Event, Kind, Outcome};
use serde::Deserialize;

use super::{SESSION_COOKIE, escape, same_origin, session_cookie};
use crate::AppState;

/// The dashboard's own pages (each answers the shell, or a redirect to log in).
const PAGES: &[&str] = &[
    "/",
    "/data",
    "/data/{*rest}",
    "/apps",
    "/apps/{*rest}",
    "/access",
    "/audit",
    "/statement",
    "/exports",
    "/imports",
    "/settings",
];

/// The routes of the pages, the log-in forms and the assets; none needs a token (the pages check
/// the session themselves).
pub fn pages() -> Router<AppState> {
    let mut r = Router::new()
        .route("/login", get(login_page).post(login))
        .route("/login/once", get(link_page).post(link_login))
        .route("/logout", axum::routing::post(logout))
        .route("/assets/{file}", get(asset));
    for p in PAGES {
        r = r.route(p, get(shell));
    }
    r
}

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/icon.svg");

/// The dashboard's own pages may run only its own script and styles, talk only to the box, and
/// never be framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn now_ms() -> i64 {
    databox_store::now_ms()
}

fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not `no-referrer`: with it, browsers send `Origin: null` on the box's own form posts and
    // fetches, which the same-origin check must then refuse.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

fn document(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Databox</title>
<link rel="icon" href="/assets/icon.svg">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
{body}
</body>
</html>
"#,
        title = escape(title)
    )
}

/// Only a path of the dashboard itself may follow a log-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        // Browsers drop tabs and newlines from URLs, so `/\t/evil.example` would become
        // `//evil.example`: no control characters at all, and nothing that starts like a host.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.chars().any(char::is_control)
                && !n.starts_with("/login")
                && !n.starts_with("/logout") =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn session_cookie_header(id: &str) -> HeaderValue {
    let c = cookie::Cookie::build((SESSION_COOKIE, id.to_owned()))
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::days(30))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie is a valid header")
}

fn clear_cookie_header() -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0"
    ))
    .expect("valid header")
}

fn logged_in(session: NewSession, next: &str) -> Response {
    let mut r = Redirect::to(next).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&session.id));
    r
}

fn record_login(state: &AppState, how: &str, outcome: Outcome, detail: Option<String>) {
    state.audit.record(Event {
        detail,
        outcome: Some(outcome),
        ..Event::of(Kind::Admin, "owner", &format!("log in ({how})"))
    });
}

fn has_session(state: &AppState, headers: &HeaderMap) -> Option<databox_arbiter::Session> {
    let id = session_cookie(headers)?;
    state.arbiter.login().session(&id, now_ms())
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// A dashboard page: the shell with the session's CSRF token, or a redirect to log in.
async fn shell(State(state): State<AppState>, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let Some(session) = has_session(&state, &headers) else {
        let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let next: String =
            percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC).collect();
        return Redirect::to(&format!("/login?next={next}")).into_response();
    };
    let nav = [
        ("/", "Home"),
        ("/data", "Data"),
        ("/apps", "Apps & drivers"),
        ("/access", "Access"),
        ("/audit", "Audit"),
        ("/statement", "Statement"),
        ("/exports", "Exports"),
        ("/imports", "Imports"),
        ("/settings", "Settings"),
    ]
    .iter()
    .map(|(href, label)| format!(r#"<li><a href="{href}">{label}</a></li>"#))
    .collect::<String>();
    let body = format!(
        r##"<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/"><img src="/assets/icon.svg" alt="" width="24" height="24"> Databox</a>
  <button class="menu" type="button" aria-expanded="false" aria-controls="nav">Menu</button>
  <nav id="nav" aria-label="Main"><ul>{nav}</ul></nav>
  <form class="logout" method="post" action="/logout">
    <input type="hidden" name="csrf" value="{csrf}">
    <button type="submit">Log out</button>
  </form>
</header>
<main id="main" tabindex="-1"><p class="loading">Loading…</p></main>
<div id="toast" role="status" aria-live="polite"></div>
<noscript><p class="error">The dashboard needs JavaScript (its own script, served by the box).</p></noscript>
<script type="module" src="/assets/app.js" data-csrf="{csrf}"></script>"##,
        csrf = escape(&session.csrf)
    );
    html(StatusCode::OK, document("Dashboard", &body))
}

fn login_form(next: &str, error: Option<&str>, has_password: bool) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let hint = if has_password {
        String::new()
    } else {
        r#"<p class="note">No password is set yet. Open the one-time link the box printed when it started (or run <code>databox dashboard link</code>) to log in and choose one.</p>"#.to_owned()
    };
    format!(
        r#"<main class="narrow" id="main">
<h1><img src="/assets/icon.svg" alt="" width="32" height="32"> Databox</h1>
<h2>Log in</h2>
{hint}{error}
<form method="post" action="/login" class="stack">
  <input type="hidden" name="next" value="{next}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required autofocus>
  <button type="submit" class="primary">Log in</button>
</form>
</main>"#,
        next = escape(next)
    )
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    if has_session(&state, &headers).is_some() {
        return Redirect::to(&next).into_response();
    }
    let has_password = state.arbiter.login().has_password();
    html(
        StatusCode::OK,
        document("Log in", &login_form(&next, None, has_password)),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = safe_next(f.next.as_deref());
    if !same_origin(&uri, &headers) {
        return html(
            StatusCode::FORBIDDEN,
            document(
                "Log in",
                &login_form(&next, Some("this form was sent from another site"), true),
            ),
        );
    }
    let login = state.arbiter.login();
    let password = zeroize::Zeroizing::new(f.password);
    let arbiter = state.arbiter.clone();
    let result =
        tokio::task::spawn_blocking(move || arbiter.login().login_with_password(&password, now_ms()))
            .await
            .unwrap_or_else(|e| {
                Err(LoginError::Arbiter(databox_arbiter::ArbiterError::Invalid(
                    e.to_string(),
                )))
            });
    match result {
        Ok(session) => {
            record_login(&state, "password", Outcome::Ok, None);
            logged_in(session, &next)
        }
        Err(e) => {
            record_login(&state, "password", Outcome::Refused, Some(e.to_string()));
            let status = match e {
                LoginError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                LoginError::Arbiter(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::UNAUTHORIZED,
            };
            html(
                status,
                document(
                    "Log in",
                    &login_form(&next, Some(&e.to_string()), login.has_password()),
                ),
            )
        }
    }
}

#[derive(Deserialize)]
struct LinkQuery {
    code: Option<String>,
}

fn link_form(code: &str, has_password: bool, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, escape(e)))
        .unwrap_or_default();
    let password = if has_password {
        r#"<p>This link logs you in once. Your password stays as it is.</p>"#.to_owned()
    } else {
        format!(
            r#"<p>Welcome to your Databox. Choose a password for this dashboard (at least {min} characters). Or leave both fields empty and continue: you can set it later under Settings.</p>
  <label for="password">New password</label>
  <input id="password" name="password" type="password" autocomplete="new-password" minlength="{min}">
  <label for="confirm">Repeat it</label>
  <input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="{min}">"#,
            min = databox_arbiter::login::MIN_PASSWORD_LEN
        )
    };
    format!(
        r#"<main class="narrow" id="main">
<h1><img src="/assets/icon.svg" alt="" width="32" height="32"> Databox</h1>
<h2>{title}</h2>
{error}
<form method="post" action="/login/once" class="stack">
  <input type="hidden" name="code" value="{code}">
  {password}
  <button type="submit" class="primary">{button}</button>
</form>
</main>"#,
        title = if has_password {
            "One-time log in"
        } else {
            "Set up your box"
        },
        button = if has_password { "Log in" } else { "Continue" },
        code = escape(code),
    )
}

/// A one-time link shows a form first, so that a link previewer fetching it does not use it up.
async fn link_page(State(state): State<AppState>, Query(q): Query<LinkQuery>) -> Response {
    let login = state.arbiter.login();
    let code = q.code.unwrap_or_default();
    if !login.link_is_valid(&code, now_ms()) {
        return html(
            StatusCode::NOT_FOUND,
            document(
                "Link",
                &format!(
                    r#"<main class="narrow" id="main"><h1>Databox</h1><p class="error" role="alert">{}</p><p><a href="/login">Log in with your password</a></p></main>"#,
                    escape(&LoginError::BadLink.to_string())
                ),
            ),
        );
    }
    html(
        StatusCode::OK,
        document("Log in", &link_form(&code, login.has_password(), None)),
    )
}

#[derive(Deserialize)]
struct LinkForm {
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn link_login(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Form(f): Form<LinkForm>,
) -> Response {
    let login = state.arbiter.login();
    let has_password = login.has_password();
    let password = zeroize::Zeroizing::new(f.password);
    let confirm = zeroize::Zeroizing::new(f.confirm);
    let problem = if !same_origin(&uri, &headers) {
        Some("this form was sent from another site".to_owned())
    } else if !has_password && password.as_str() != confirm.as_str() {
        Some("the two passwords differ".to_owned())
    } else if !has_password && !password.is_empty() {
        // Checked before the link is used up, so a refused password leaves the link working.
        databox_arbiter::login::check_password(&password)
            .err()
            .map(|e| e.to_string())
    } else {
        None
    };
    if let Some(p) = problem {
        return html(
            StatusCode::BAD_REQUEST,
            document("Log in", &link_form(&f.code, has_password, Some(&p))),
        );
    }
    let session = match login.login_with_link(&f.code, now_ms()) {
        Ok(s) => s,
        Err(e) => {
            record_login(&state, "one-time link", Outcome::Refused, Some(e.to_string()));
            return html(
                StatusCode::UNAUTHORIZED,
                document(
                    "Log in",
                    &format!(
                        r#"<main class="narrow" id="main"><h1>Databox</h1><p class="error" role="alert">{}</p></main>"#,
                        escape(&e.to_string())
                    ),
                ),
            );
        }
    };
    record_login(&state, "one-time link", Outcome::Ok, None);
    if !has_password && !password.is_empty() {
        let arbiter = state.arbiter.clone();
        let id = session.id.clone();
        let set =
            tokio::task::spawn_blocking(move || arbiter.login().set_password(&password, Some(&id))).await;
        let detail = match set {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        state.audit.record(Event {
            outcome: Some(if detail.is_none() {
                Outcome::Ok
            } else {
                Outcome::Failed
            }),
            detail,
            ..Event::of(Kind::Admin, "owner", "set password")
        });
    }
    logged_in(session, "/")
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Form(f): Form<LogoutForm>,
) -> Response {
    if let Some(id) = session_cookie(&headers) {
        let login = state.arbiter.login();
        let session = login.session(&id, now_ms());
        // A page of another site must not be able to log the owner out either.
        if let Some(s) = session {
            if !same_origin(&uri, &headers) || !databox_arbiter::login::secrets_equal(&f.csrf, &s.csrf) {
                return (
                    StatusCode::FORBIDDEN,
                    "this log-out did not come from the dashboard",
                )
                    .into_response();
            }
            if let Err(e) = login.logout(&id) {
                tracing::warn!("could not save the end of a session: {e}");
            }
            state.audit.record(Event::of(Kind::Admin, "owner", "log out"));
        }
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie_header());
    r
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        "app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "icon.svg" => (ICON, "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // Assets change only with the binary; a short cache keeps upgrades visible.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=300"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_follow_a_login() {
        assert_eq!(safe_next(Some("/data/home")), "/data/home");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/login")), "/");
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/data\r\nSet-Cookie: x=y")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
