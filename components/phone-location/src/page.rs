//! The driver's page for the owner: the devices it has heard from (the apps' names, the last
//! fix's time, how many fixes, region events, visits and trips each has, problems to fix) and how
//! to set up each app. One self-contained HTML document: no script, no outside assets, every
//! text from a phone escaped. [`render`] is pure and tested natively.

use std::fmt::Write as _;

use databox_sdk::Response;

use crate::app::{DECRYPT_GRACE_MS, Env};
use crate::records::Series;
use crate::registry::{DecryptProblem, DeviceRecord};
use crate::store::{self, Store};
use crate::time::format_utc;

/// The driver's base path on the box (the manifest's `name`).
pub const BASE: &str = "/app/phone-location";

/// One device as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceView {
    /// The device's record.
    pub record: DeviceRecord,
    /// How many documents it has in each series, in [`Series::ALL`]'s order.
    pub counts: [u64; 4],
    /// When its newest fix was taken, epoch ms.
    pub last_fix_ms: Option<i64>,
}

/// Reads what the page shows.
pub fn devices(store: &dyn Store) -> databox_sdk::Result<Vec<DeviceView>> {
    let mut out = Vec::new();
    for id in store::device_ids(store)? {
        let record = store::device_record(store, &id)?.unwrap_or_else(|| DeviceRecord {
            device: id.clone(),
            ..DeviceRecord::default()
        });
        let mut counts = [0; 4];
        for (n, series) in counts.iter_mut().zip(Series::ALL) {
            *n = store.count(series.id(), &id)?;
        }
        let last_fix_ms = store.latest(Series::Locations.id(), &id)?;
        out.push(DeviceView {
            record,
            counts,
            last_fix_ms,
        });
    }
    Ok(out)
}

/// The page as a response, with a policy that forbids scripts and outside assets.
pub fn response(store: &dyn Store, env: &Env, host: Option<&str>) -> Response {
    let key_set = env.owntracks_key.as_deref().is_some_and(|k| !k.is_empty());
    match devices(store) {
        Ok(views) => Response::html(render(&views, env.now_ms, key_set, host))
            .with_header(
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
            )
            .with_header("cache-control", "no-store"),
        Err(e) => Response::error(&e),
    }
}

/// Escapes text for HTML (the SDK's one escaper, shared by every component's page).
pub use databox_sdk::escape_html as escape;

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#555;--line:#d4d4d4;--warn:#8a4b00;--code:#f2f2f2}\
@media (prefers-color-scheme:dark){:root{--fg:#ececec;--bg:#161616;--muted:#b0b0b0;--line:#454545;--warn:#ffb35c;--code:#262626}}\
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif}\
main{max-width:60rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .25rem}\
.muted{color:var(--muted)}.warn{color:var(--warn)}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}\
caption{text-align:left;font-weight:600;padding:.25rem 0}\
th,td{padding:.25rem .5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}\
td.n{text-align:right}\
code{background:var(--code);padding:0 .2rem;border-radius:.2rem;word-break:break-all}\
.empty{padding:1rem;border:1px solid var(--line);border-radius:.25rem}";

fn names(r: &DeviceRecord) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &r.card_name {
        parts.push(format!("card “{}”", escape(c)));
    }
    if let Some(u) = &r.client.user {
        parts.push(format!("user {}", escape(u)));
    }
    if let Some(d) = &r.client.device {
        parts.push(format!("device {}", escape(d)));
    }
    if let Some(t) = &r.tracker_id {
        parts.push(format!("tracker {}", escape(t)));
    }
    if parts.is_empty() {
        "<span class=\"muted\">none sent</span>".to_owned()
    } else {
        parts.join(", ")
    }
}

fn notes(r: &DeviceRecord, now_ms: i64) -> String {
    let mut out = Vec::new();
    if let Some(f) = &r.decrypt_failures {
        let since = format_utc(f.since_ms);
        out.push(match f.problem {
            DecryptProblem::NoKey => format!(
                "<span class=\"warn\">Sends encrypted OwnTracks messages since {since} UTC, but no \
                 <code>owntracks_key</code> is set: set it to the phone's encryption key. The messages wait \
                 on the phone until then.</span>"
            ),
            DecryptProblem::WrongKey => {
                let refused_from = format_utc(f.since_ms + DECRYPT_GRACE_MS);
                if now_ms - f.since_ms < DECRYPT_GRACE_MS {
                    format!(
                        "<span class=\"warn\">Its OwnTracks messages do not open with <code>owntracks_key</code> \
                         since {since} UTC: make it the phone's encryption key. They wait on the phone until \
                         {refused_from} UTC, then the phone is told to drop them.</span>"
                    )
                } else {
                    format!(
                        "<span class=\"warn\">Its OwnTracks messages have not opened with \
                         <code>owntracks_key</code> since {since} UTC and are now refused (the phone drops \
                         them): make the key the phone's encryption key.</span>"
                    )
                }
            }
        });
    }
    if let Some(w) = r.last_will_ms {
        out.push(format!("OwnTracks last connected {} UTC.", format_utc(w)));
    }
    out.join(" ")
}

/// The whole page. `host` is the request's `Host` header, used only as an example of the
/// address to give the apps: the box cannot know the address phones reach it at.
pub fn render(devices: &[DeviceView], now_ms: i64, key_set: bool, host: Option<&str>) -> String {
    let mut body = String::new();
    body.push_str(
        "<p>This driver receives the locations your phones send with OwnTracks, Overland or GPSLogger \
         and keeps them in its own store: positions in <code>locations</code>, OwnTracks region \
         events in <code>region-events</code> and waypoints in <code>waypoints</code>, Overland visits in \
         <code>visits</code> and trips in <code>trips</code>. A point a phone sends twice is kept once; \
         points that arrive late keep their own time.</p>",
    );
    body.push_str("<h2>Devices</h2>");
    if devices.is_empty() {
        body.push_str(
            "<p class=\"empty\" role=\"status\"><strong>No phone has sent anything yet.</strong> Set up an \
             app as shown below; its device appears here after its first push.</p>",
        );
    } else {
        body.push_str(
            "<table><caption>Devices that pushed here, in the order first heard from (times in UTC)</caption>\
             <thead><tr><th scope=\"col\">Device</th><th scope=\"col\">Names the app gave</th>\
             <th scope=\"col\">Apps</th><th scope=\"col\">Last fix</th><th scope=\"col\">Fixes</th>\
             <th scope=\"col\">Region events</th><th scope=\"col\">Visits</th><th scope=\"col\">Trips</th>\
             <th scope=\"col\">Notes</th></tr></thead><tbody>",
        );
        for d in devices {
            let r = &d.record;
            let device = if r.device == crate::records::OWNER_DEVICE {
                "you (the owner's token or session)".to_owned()
            } else {
                escape(&r.device)
            };
            let apps: Vec<String> = r.sources.iter().map(|s| escape(s)).collect();
            let last = d
                .last_fix_ms
                .map(format_utc)
                .unwrap_or_else(|| "<span class=\"muted\">none</span>".to_owned());
            let _ = write!(
                body,
                "<tr><th scope=\"row\">{device}</th><td>{}</td><td>{}</td><td>{last}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td>{}</td></tr>",
                names(r),
                apps.join(", "),
                d.counts[0],
                d.counts[1],
                d.counts[2],
                d.counts[3],
                notes(r, now_ms)
            );
        }
        body.push_str("</tbody></table>");
    }
    let example = match host.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => format!(
            "If phones reach your box at the address you opened this page at, that is \
             <code>https://{}{BASE}/overland</code> for Overland.",
            escape(h)
        ),
        None => String::new(),
    };
    let _ = write!(
        body,
        "<h2>Setting up a phone</h2>\
         <p>Each app is given a URL: your box's address as phones reach it (for example \
         <code>https://box.example.org</code>; this page cannot know it for sure) followed by the path \
         for the app below. {example}</p>\
         <p>Each phone signs in with its own <strong>device token</strong>, made for it in the dashboard, \
         so that you can see and revoke each phone on its own. Apps that take a token send it as \
         <code>Authorization: Bearer</code>; apps that take a user name and a password send the token as \
         the password (any user name).</p>\
         <h3>OwnTracks (iPhone, Android)</h3>\
         <p>Path <code>{BASE}/owntracks</code>. In the app's settings choose mode <em>HTTP</em>, enter the \
         URL, turn authentication on with any user name and the device token as the password. The user \
         and device ID you give there are shown above. If you set an encryption key in the app, set the \
         same one as this driver's <code>owntracks_key</code>{key}. Positions, region enter and leave \
         events and waypoints are kept; friends' positions are not sent back.</p>\
         <h3>Overland (iPhone)</h3>\
         <p>Path <code>{BASE}/overland</code>. Enter the URL as the receiver endpoint and the device token \
         as the access token. Batches of up to 1,000 points are fine. Visits are kept once they have \
         ended (with their arrival and departure), and trips when they stop. Its OwnTracks mode works too, \
         at this path or at <code>{BASE}/owntracks</code>.</p>\
         <h3>GPSLogger (Android)</h3>\
         <p>Path <code>{BASE}/gpslogger</code>. Under <em>Log to custom URL</em>, either use method GET with \
         the URL <code>…{BASE}/gpslogger?lat=%LAT&amp;lon=%LON&amp;acc=%ACC&amp;alt=%ALT&amp;spd=%SPD&amp;dir=%DIR&amp;time=%TIME&amp;prov=%PROV&amp;aid=%AID</code>, \
         or method POST with the body <code>%ALL</code> and the header \
         <code>Content-Type: application/x-www-form-urlencoded</code>. Keep <code>time</code> in: a point \
         without it is timed when it arrives, so a point sent again could not be recognised. Turn on \
         basic authentication with any user name and the device token as the password. A request without \
         <code>lat</code> and <code>lon</code> is answered with an error saying so.</p>",
        key = if key_set {
            " (it is set)"
        } else {
            " (it is not set now)"
        }
    );
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Phone locations</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>Phone locations</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::ClientNames;
    use crate::registry::DecryptFailures;

    const NOW: i64 = 1_795_976_400_000;

    fn view(device: &str) -> DeviceView {
        DeviceView {
            record: DeviceRecord {
                device: device.into(),
                first_seen_ms: 1,
                sources: ["owntracks".to_owned(), "overland".to_owned()].into(),
                client: ClientNames::new(Some("jane"), Some("<iphone>")),
                ..DeviceRecord::default()
            },
            counts: [120, 3, 2, 1],
            last_fix_ms: Some(NOW - 60_000),
        }
    }

    #[test]
    fn says_clearly_when_no_phone_has_pushed() {
        let p = render(&[], NOW, false, None);
        assert!(p.contains("No phone has sent anything yet."), "{p}");
        assert!(p.contains("role=\"status\""));
        assert!(!p.contains("<table"));
    }

    #[test]
    fn lists_devices_with_their_last_fix_and_counts() {
        let p = render(&[view("anna-phone"), view("owner")], NOW, true, None);
        assert_eq!(p.matches("<tr><th scope=\"row\">").count(), 2);
        assert!(p.contains(">anna-phone</th>"));
        assert!(p.contains("you (the owner's token or session)"));
        assert!(p.contains("<td>2026-11-29 18:19:00</td>"), "{p}");
        assert!(p.contains(
            "<td class=\"n\">120</td><td class=\"n\">3</td><td class=\"n\">2</td><td class=\"n\">1</td>"
        ));
        assert!(p.contains("user jane, device &lt;iphone&gt;"), "escaped: {p}");
        assert!(p.contains("overland, owntracks"));
        assert!(!p.contains("<iphone>"));
    }

    #[test]
    fn shows_each_apps_path_and_how_to_set_it_up() {
        let p = render(&[], NOW, false, Some("box.example.net\"><script>"));
        for path in [
            "/app/phone-location/owntracks",
            "/app/phone-location/overland",
            "/app/phone-location/gpslogger",
        ] {
            assert!(p.contains(&format!("<code>{path}</code>")), "{path}");
        }
        assert!(p.contains("https://box.example.net&quot;&gt;&lt;script&gt;/app/phone-location/overland"));
        assert!(p.contains("(it is not set now)"));
        assert!(p.contains("%ALL"));
        assert!(!p.contains("<script"));
    }

    #[test]
    fn tells_the_owner_about_messages_that_do_not_open() {
        let mut v = view("d");
        v.record.decrypt_failures = Some(DecryptFailures {
            problem: DecryptProblem::WrongKey,
            since_ms: NOW - 3_600_000,
        });
        let p = render(std::slice::from_ref(&v), NOW, true, None);
        assert!(
            p.contains("do not open with <code>owntracks_key</code> since 2026-11-29 17:20:00"),
            "{p}"
        );
        assert!(p.contains("until 2026-12-02 17:20:00 UTC"), "{p}");
        v.record.decrypt_failures = Some(DecryptFailures {
            problem: DecryptProblem::NoKey,
            since_ms: NOW,
        });
        assert!(render(&[v], NOW, false, None).contains("no <code>owntracks_key</code> is set"));
    }
}
