//! The owner's page: pure functions of the [`Summary`], tested natively.
//!
//! One self-contained HTML document: no script (app pages may run none), no map tiles or other
//! outside assets (the box fetches nothing from elsewhere), inline SVG drawn here. Each chart is
//! an image with a title and a description, followed by a table of the same numbers. Names of
//! places come from outside (visits) and are escaped like every other text.

use std::fmt::Write as _;

use databox_sdk::Response;
use databox_sdk::time::{DAY_MS, HOUR_MS, civil_from_days};

use crate::places::PlaceTime;
use crate::refresh::{DaySummary, KNOWN_HOUR_S, MOVING_HOUR_S, PlacesPeriod, Summary};
use crate::track::{MAX_ACCURACY_M, MIN_STAY_MS, STAY_RADIUS_M};

/// The page as a response, with a policy that forbids scripts and outside assets.
pub fn page_response(summary: Option<&Summary>) -> Response {
    Response::html(page(summary))
        .with_header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
        )
        .with_header("cache-control", "no-store")
}

/// `404` with a JSON message, for `/data.json` before the first computation.
pub fn no_data_json() -> Response {
    let mut r = Response::json(&serde_json::json!({
        "error": "no summary yet: it is made within seconds of the app starting, then every 15 minutes"
    }));
    r.status = 404;
    r
}

/// Escapes text for HTML (the SDK's one escaper, shared by every component's page).
pub use databox_sdk::escape_html as escape;

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#555;--grid:#d4d4d4;--line:#0b57a4;--still:#9fc2e7;--note:#fff6d6}\
@media (prefers-color-scheme:dark){:root{--fg:#ececec;--bg:#161616;--muted:#b0b0b0;--grid:#454545;--line:#7ab8ff;--still:#2f5678;--note:#3a3320}}\
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif}\
main{max-width:52rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.2rem;margin:1.5rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .25rem}\
.muted{color:var(--muted)}\
.note{background:var(--note);padding:.5rem .75rem;border-radius:.25rem}\
figure{margin:1rem 0}\
svg{width:100%;height:auto;display:block}\
svg text{fill:var(--fg);font-size:12px}\
.grid{stroke:var(--grid);stroke-width:1}\
.axis{stroke:var(--muted);stroke-width:1}\
.bar{fill:var(--line)}\
.pending{fill:none;stroke:var(--muted);stroke-dasharray:3 2}\
.m{fill:var(--line)}.s{fill:var(--still)}.n{fill:none;stroke:var(--grid)}\
table{border-collapse:collapse;width:100%;margin:1rem 0}\
caption{text-align:left;font-weight:600;padding:.25rem 0}\
th,td{padding:.25rem .5rem;border-bottom:1px solid var(--grid);text-align:right}\
th:first-child,td:first-child{text-align:left}tbody th{white-space:nowrap}\
.empty{padding:1rem;border:1px solid var(--grid);border-radius:.25rem}";

/// The whole page, or a clear message before the first summary or without any location.
pub fn page(summary: Option<&Summary>) -> String {
    let mut body = String::new();
    match summary {
        None => body.push_str(
            "<p class=\"empty\" role=\"status\"><strong>Nothing computed yet.</strong> The summary is \
             made within seconds of the app starting, then every 15 minutes.</p>",
        ),
        Some(s) => sections(&mut body, s),
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Places and movement</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>Places and movement</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
}

fn sections(body: &mut String, s: &Summary) {
    let n = s.days.len();
    let _ = write!(
        body,
        "<p class=\"muted\">The last {n} days, made {} UTC and refreshed every 15 minutes. \
         <strong>Days are UTC</strong>: from midnight to midnight in Coordinated Universal Time, \
         whatever your time zone.{}</p>",
        datetime(s.generated_ms),
        match &s.device {
            Some(d) => format!(" Only the locations of device “{}”.", escape(d)),
            None => String::new(),
        }
    );
    if s.pending > 0 {
        let _ = write!(
            body,
            "<p class=\"note\" role=\"status\">Still computing: {} of the {n} days {} not done yet. \
             They follow within the next runs, a few days each time.</p>",
            s.pending,
            if s.pending == 1 { "is" } else { "are" }
        );
    }
    let fixes: u64 = s.days.iter().map(|d| u64::from(d.fixes)).sum();
    if fixes == 0 && s.pending == 0 {
        body.push_str(
            "<p class=\"empty\" role=\"status\"><strong>No locations in these days.</strong> The page fills \
             in once your phone sends its locations to the box (the phone-location driver) or you import \
             your Google location history, and the app's “locations” are mapped to them.</p>",
        );
    }

    let total: f64 = s.days.iter().map(|d| d.distance_m).sum();
    let with_data = s.days.iter().filter(|d| d.fixes > 0).count();
    let _ = write!(
        body,
        "<h2 id=\"distance\">Distance per day</h2><p>{} km in {n} days{}.</p>",
        km(total),
        if with_data > 0 {
            format!(
                "; {} km a day on the {with_data} days with locations",
                km(total / with_data as f64)
            )
        } else {
            String::new()
        }
    );
    body.push_str("<figure>");
    body.push_str(&distance_chart(s));
    body.push_str(
        "<figcaption>Kilometres travelled each day (UTC), oldest on the left. A dashed outline marks a \
         day not computed yet. The table below gives every day.</figcaption></figure>",
    );

    body.push_str("<h2 id=\"movement\">Moving and still, hour by hour</h2><figure>");
    body.push_str(&movement_chart(s));
    let _ = write!(
        body,
        "<figcaption>Each row is a day (newest at the top), each cell an hour (UTC). An hour is \
         <em>moving</em> with at least {} minutes of movement, <em>still</em> with at least {} minutes \
         known otherwise, and <em>no data</em> when the locations do not say.</figcaption></figure>",
        MOVING_HOUR_S / 60,
        KNOWN_HOUR_S / 60
    );
    body.push_str(&day_table(s));

    body.push_str("<h2 id=\"places\">Where the time went</h2>");
    let _ = write!(
        body,
        "<p>{}</p>",
        if s.places_from == "visits" {
            format!(
                "From the {} visits recorded in these days (top-level visits; a visit inside another one is not \
                 counted twice).",
                s.visits
            )
        } else {
            format!(
                "From your locations: a stay is {} minutes or more within {} m.{}",
                MIN_STAY_MS / 60_000,
                STAY_RADIUS_M,
                if s.visits_mapped {
                    " No visits were recorded in these days."
                } else {
                    ""
                }
            )
        }
    );
    for period in &s.periods {
        places_section(body, period);
    }
    let _ = write!(
        body,
        "<p class=\"muted\">How the distance is measured: locations less accurate than {MAX_ACCURACY_M} m and \
         jumps faster than 300 km/h (GPS glitches) are left out; a move counts only when it is larger than \
         the accuracy of the two locations, so a phone lying still adds nothing. On a day with locations from \
         several devices the one with the most is measured.</p>"
    );
}

// The charts' geometry, in SVG user units.
const WIDTH: f64 = 760.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;

fn distance_chart(s: &Summary) -> String {
    const HEIGHT: f64 = 240.0;
    const TOP: f64 = 16.0;
    const BOTTOM: f64 = 48.0;
    let n = s.days.len().max(1);
    let max_km = s.days.iter().map(|d| d.distance_m / 1000.0).fold(0.0, f64::max);
    let ticks = ticks(max_km);
    let top_km = ticks[ticks.len() - 1];
    let plot_h = HEIGHT - TOP - BOTTOM;
    let y = |v: f64| TOP + (1.0 - v / top_km) * plot_h;
    let slot = (WIDTH - LEFT - RIGHT) / n as f64;
    let longest = s
        .days
        .iter()
        .filter(|d| d.computed)
        .max_by(|a, b| a.distance_m.total_cmp(&b.distance_m));
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"dist-title dist-desc\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"dist-title\">Distance travelled per day</title>\
         <desc id=\"dist-desc\">{n} days from {} to {} (UTC). {}</desc>",
        date(s.days.first().map_or(0, |d| d.day)),
        date(s.days.last().map_or(0, |d| d.day)),
        match longest {
            Some(d) if d.distance_m > 0.0 =>
                format!("The longest: {} km on {}.", km(d.distance_m), date(d.day)),
            _ => "No distance travelled.".to_owned(),
        }
    );
    for v in &ticks {
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y(*v) + 4.0,
            tick_label(*v),
            y = y(*v)
        );
    }
    let base = TOP + plot_h;
    let every = n.div_ceil(15);
    for (i, d) in s.days.iter().enumerate() {
        let x = LEFT + i as f64 * slot;
        let w = (slot * 0.7).max(1.0);
        let bx = x + (slot - w) / 2.0;
        if d.computed {
            let h = base - y(d.distance_m / 1000.0);
            let _ = write!(
                svg,
                "<rect class=\"bar\" x=\"{bx:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\">\
                 <title>{}: {} km</title></rect>",
                base - h,
                date(d.day),
                km(d.distance_m)
            );
        } else {
            let _ = write!(
                svg,
                "<rect class=\"pending\" x=\"{bx:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\">\
                 <title>{}: not computed yet</title></rect>",
                TOP + plot_h * 0.75,
                plot_h * 0.25,
                date(d.day)
            );
        }
        let (_, _, dom) = civil_from_days(d.day);
        if i % every == 0 || i == n - 1 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{dom}</text>",
                x + slot / 2.0,
                base + 16.0
            );
        }
        if i == 0 || dom == 1 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x + slot / 2.0,
                base + 30.0,
                month(d.day)
            );
        }
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{base:.1}\" y2=\"{base:.1}\"/>\
         <text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">km</text></svg>",
        WIDTH - RIGHT,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    svg
}

fn movement_chart(s: &Summary) -> String {
    const TOP: f64 = 24.0;
    const ROW: f64 = 16.0;
    const CELL_H: f64 = 12.0;
    const DAY_LEFT: f64 = 96.0;
    let n = s.days.len();
    let legend_y = TOP + n as f64 * ROW + 14.0;
    let height = legend_y + 20.0;
    let cell = (WIDTH - DAY_LEFT - RIGHT) / 24.0;
    let (moving, still, unknown) = s.days.iter().fold((0, 0, 0), |(m, st, u), d| {
        let (dm, ds, du) = hour_counts(s, d);
        (m + dm, st + ds, u + du)
    });
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-labelledby=\"move-title move-desc\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"move-title\">Moving and still, hour by hour</title>\
         <desc id=\"move-desc\">One row per day, newest first, 24 hours each (UTC): {moving} hours moving, \
         {still} still and {unknown} without data over {n} days. The table below gives the hours of each day.</desc>"
    );
    for h in (0..=24).step_by(3) {
        let x = DAY_LEFT + h as f64 * cell;
        let _ = write!(
            svg,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{h:02}</text>",
            TOP - 8.0
        );
    }
    let today = s.generated_ms.div_euclid(DAY_MS);
    let hour_now = (s.generated_ms.rem_euclid(DAY_MS) / HOUR_MS) as usize;
    for (row, d) in s.days.iter().rev().enumerate() {
        let y = TOP + row as f64 * ROW;
        let _ = write!(
            svg,
            "<g><title>{}: {}</title><text x=\"0\" y=\"{:.1}\">{}</text>",
            date(d.day),
            hours_phrase(hour_counts(s, d)),
            y + CELL_H - 1.0,
            short_date(d.day)
        );
        for (h, c) in d.strip.chars().enumerate() {
            if d.day == today && h > hour_now {
                break;
            }
            let class = match c {
                'm' => "m",
                's' => "s",
                _ => "n",
            };
            let _ = write!(
                svg,
                "<rect class=\"{class}\" x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{CELL_H}\"/>",
                DAY_LEFT + h as f64 * cell + 1.0,
                cell - 2.0
            );
        }
        svg.push_str("</g>");
    }
    for (i, (class, label)) in [("m", "moving"), ("s", "still"), ("n", "no data")]
        .iter()
        .enumerate()
    {
        let x = DAY_LEFT + i as f64 * 110.0;
        let _ = write!(
            svg,
            "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{:.1}\" width=\"14\" height=\"{CELL_H}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{label}</text>",
            legend_y,
            x + 20.0,
            legend_y + CELL_H - 1.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Hours moving, still and without data of a day, up to the current hour for today (the hours
/// to come are not "no data").
fn hour_counts(s: &Summary, d: &DaySummary) -> (usize, usize, usize) {
    let elapsed = if d.day == s.generated_ms.div_euclid(DAY_MS) {
        (s.generated_ms.rem_euclid(DAY_MS) / HOUR_MS) as usize + 1
    } else {
        24
    };
    let count = |c: char| d.strip.chars().take(elapsed).filter(|x| *x == c).count();
    let (m, st) = (count('m'), count('s'));
    (m, st, elapsed - m - st)
}

fn hours_phrase((m, s, u): (usize, usize, usize)) -> String {
    format!("{m} h moving, {s} h still, {u} h no data")
}

fn day_table(s: &Summary) -> String {
    let mut t = String::from(
        "<table id=\"days\"><caption>Each day (UTC), newest first</caption><thead><tr>\
         <th scope=\"col\">Day (UTC)</th><th scope=\"col\">Distance (km)</th>\
         <th scope=\"col\">Hours moving</th><th scope=\"col\">Hours still</th>\
         <th scope=\"col\">Hours without data</th><th scope=\"col\">Time moving</th>\
         <th scope=\"col\">Locations used</th><th scope=\"col\">Left out</th></tr></thead><tbody>",
    );
    for d in s.days.iter().rev() {
        if !d.computed {
            let _ = write!(
                t,
                "<tr><th scope=\"row\">{}</th><td colspan=\"7\">not computed yet</td></tr>",
                iso_date(d.day)
            );
            continue;
        }
        let (moving, still, unknown) = hour_counts(s, d);
        let _ = write!(
            t,
            "<tr><th scope=\"row\">{}</th><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            iso_date(d.day),
            d.distance_m / 1000.0,
            moving,
            still,
            unknown,
            duration(i64::from(d.moving_s)),
            d.fixes,
            d.dropped
        );
    }
    t.push_str("</tbody></table>");
    t
}

fn places_section(body: &mut String, period: &PlacesPeriod) {
    let title = format!("Top places, last {} days", period.days);
    let _ = write!(body, "<h3>{title}</h3>");
    if period.places.is_empty() {
        body.push_str("<p class=\"muted\">No stays or visits in these days.</p>");
        return;
    }
    let id = format!("places-{}", period.days);
    body.push_str("<figure>");
    body.push_str(&places_chart(&id, &title, &period.places));
    body.push_str("</figure>");
    let total: i64 = period.places.iter().map(|p| p.seconds).sum();
    let _ = write!(
        body,
        "<table id=\"{id}\"><caption>{title}: time there, most first</caption><thead><tr>\
         <th scope=\"col\">Place</th><th scope=\"col\">Time</th><th scope=\"col\">Hours</th>\
         <th scope=\"col\">Share of these places</th><th scope=\"col\">Stays or visits</th></tr></thead><tbody>"
    );
    for p in &period.places {
        let _ = write!(
            body,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{:.1}</td><td>{:.0}%</td><td>{}</td></tr>",
            escape(&p.label),
            duration(p.seconds),
            p.seconds as f64 / 3600.0,
            100.0 * p.seconds as f64 / total.max(1) as f64,
            p.dwells
        );
    }
    body.push_str("</tbody></table>");
}

fn places_chart(id: &str, title: &str, places: &[PlaceTime]) -> String {
    const ROW: f64 = 26.0;
    const LABEL: f64 = 250.0;
    let height = places.len() as f64 * ROW + 8.0;
    let most = places.iter().map(|p| p.seconds).max().unwrap_or(1).max(1) as f64;
    let room = WIDTH - LABEL - RIGHT - 90.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {WIDTH} {height:.0}\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title id=\"{id}-title\">{title}</title>\
         <desc id=\"{id}-desc\">{}</desc>",
        places
            .iter()
            .map(|p| format!("{}: {}", escape(&p.label), duration(p.seconds)))
            .collect::<Vec<_>>()
            .join("; ")
    );
    for (i, p) in places.iter().enumerate() {
        let y = 4.0 + i as f64 * ROW;
        let w = (p.seconds as f64 / most * room).max(1.0);
        let label: String = p.label.chars().take(38).collect();
        let _ = write!(
            svg,
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect class=\"bar\" x=\"{LABEL}\" y=\"{y:.1}\" width=\"{w:.1}\" \
             height=\"18\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            y + 14.0,
            escape(&label),
            LABEL + w + 6.0,
            y + 14.0,
            duration(p.seconds)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Kilometres for reading: two decimals below 10 km, one below 100, none above.
pub fn km(m: f64) -> String {
    let k = m / 1000.0;
    if k < 10.0 {
        format!("{k:.2}")
    } else if k < 100.0 {
        format!("{k:.1}")
    } else {
        format!("{k:.0}")
    }
}

/// `7 h 05 min`, `45 min`.
pub fn duration(seconds: i64) -> String {
    let minutes = (seconds + 30) / 60;
    if minutes < 60 {
        format!("{minutes} min")
    } else {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    }
}

/// Round ticks from 0 covering `max`.
fn ticks(max: f64) -> Vec<f64> {
    if max <= 0.0 || !max.is_finite() {
        return vec![0.0, 1.0];
    }
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let n = (max / step).ceil() as i64;
    (0..=n.max(1)).map(|i| i as f64 * step).collect()
}

fn tick_label(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `2026-03-02`.
pub fn iso_date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `Mon 2 Mar 2026`.
fn date(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{} {d} {} {y}", weekday(day), MONTHS[(m - 1) as usize])
}

/// `Mon 2 Mar`.
fn short_date(day: i64) -> String {
    let (_, m, d) = civil_from_days(day);
    format!("{} {d} {}", weekday(day), MONTHS[(m - 1) as usize])
}

fn month(day: i64) -> &'static str {
    MONTHS[(civil_from_days(day).1 - 1) as usize]
}

fn weekday(day: i64) -> &'static str {
    // 1970-01-01 was a Thursday.
    WEEKDAYS[(day + 4).rem_euclid(7) as usize]
}

/// `2026-03-02 18:05`.
fn datetime(t: i64) -> String {
    let ms = t.rem_euclid(DAY_MS);
    format!(
        "{} {:02}:{:02}",
        iso_date(t.div_euclid(DAY_MS)),
        ms / HOUR_MS,
        ms % HOUR_MS / 60_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-03-02T14:20Z.
    const NOW: i64 = 1_772_409_600_000 + 14 * HOUR_MS + 20 * 60_000;

    fn day(day: i64, km: f64, strip: &str) -> DaySummary {
        DaySummary {
            day,
            computed: true,
            distance_m: km * 1000.0,
            fixes: if km > 0.0 { 500 } else { 0 },
            dropped: 3,
            strip: strip.to_owned(),
            moving_s: strip.matches('m').count() as u32 * 1800,
            still_s: 0,
            device: Some("owner".into()),
            devices: 1,
        }
    }

    fn summary() -> Summary {
        let today = NOW.div_euclid(DAY_MS);
        let strip = format!("{}{}{}", "s".repeat(7), "mm", "s".repeat(15));
        let mut days: Vec<DaySummary> = (0..10)
            .map(|i| day(today - 9 + i, i as f64 * 1.5, &strip))
            .collect();
        days[3].computed = false;
        Summary {
            generated_ms: NOW,
            days,
            pending: 1,
            device: None,
            visits_mapped: false,
            visits: 0,
            places_from: "fixes".into(),
            periods: vec![PlacesPeriod {
                days: 7,
                places: vec![
                    PlaceTime {
                        label: "Place 1 (52.5200, 13.4050)".into(),
                        lat: 52.52,
                        lon: 13.405,
                        seconds: 3600 * 90,
                        dwells: 7,
                    },
                    PlaceTime {
                        label: "<b>Café</b> & Co".into(),
                        lat: 52.5,
                        lon: 13.4,
                        seconds: 3600 * 40 + 300,
                        dwells: 5,
                    },
                ],
            }],
        }
    }

    #[test]
    fn draws_the_charts_with_titles_and_the_tables_with_the_same_numbers() {
        let p = page(Some(&summary()));
        assert!(p.starts_with("<!doctype html>"));
        assert!(p.contains("Days are UTC"));
        assert_eq!(p.matches("<svg").count(), 3, "distance, movement, places");
        assert_eq!(p.matches("role=\"img\"").count(), 3);
        assert_eq!(p.matches("<title id=").count(), 3);
        assert!(p.contains("<title id=\"dist-title\">Distance travelled per day</title>"));
        // Nine computed bars and one pending outline.
        assert_eq!(p.matches("<rect class=\"bar\"").count(), 9 + 2);
        assert_eq!(p.matches("<rect class=\"pending\"").count(), 1);
        assert!(p.contains("Still computing: 1 of the 10 days is not done yet."));
        // The day table: today first, distance with two decimals.
        let today = p.find("<th scope=\"row\">2026-03-02</th><td>13.50</td>").unwrap();
        let first = p.find("<th scope=\"row\">2026-02-21</th><td>0.00</td>").unwrap();
        assert!(today < first);
        assert!(
            p.contains("<td>2</td><td>22</td><td>0</td><td>1 h 00 min</td><td>500</td><td>3</td>"),
            "{p}"
        );
        assert!(p.contains("<th scope=\"row\">2026-02-24</th><td colspan=\"7\">not computed yet</td>"));
        // Today's strip stops at the current hour (14:20: cells 0 to 14).
        let rows: Vec<&str> = p.split("<g><title>").skip(1).collect();
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[0].matches("<rect").count(), 15, "{}", rows[0]);
        assert_eq!(rows[1].matches("<rect").count(), 24);
        assert!(rows[1].starts_with("Sun 1 Mar 2026: 2 h moving, 22 h still, 0 h no data"));
        // Today's hours to come are not "no data": 15 hours so far.
        assert!(
            rows[0].starts_with("Mon 2 Mar 2026: 2 h moving, 13 h still, 0 h no data"),
            "{}",
            rows[0]
        );
        assert!(p.contains("<th scope=\"row\">2026-03-02</th><td>13.50</td><td>2</td><td>13</td><td>0</td>"));
        // Places: chart and table, names escaped.
        assert!(p.contains("<th scope=\"row\">Place 1 (52.5200, 13.4050)</th><td>90 h 00 min</td><td>90.0</td><td>69%</td><td>7</td>"));
        assert!(p.contains("&lt;b&gt;Café&lt;/b&gt; &amp; Co"));
        assert!(!p.contains("<b>Café"));
        assert!(!p.contains("<script") && !p.contains("src=") && !p.contains("href="));
        assert!(!p.contains("NaN") && !p.contains("inf"));
    }

    #[test]
    fn says_clearly_when_there_is_nothing_yet() {
        let p = page(None);
        assert!(p.contains("Nothing computed yet.") && !p.contains("<svg"));
        let mut s = summary();
        for d in &mut s.days {
            *d = day(d.day, 0.0, &".".repeat(24));
        }
        s.pending = 0;
        s.periods[0].places.clear();
        let p = page(Some(&s));
        assert!(p.contains("No locations in these days."), "{p}");
        assert!(p.contains("No stays or visits in these days."));
        assert!(p.contains("No distance travelled."));
        assert!(!p.contains("NaN") && !p.contains("inf"));
    }

    #[test]
    fn ticks_are_round_and_cover_the_longest_day() {
        assert_eq!(ticks(13.5), vec![0.0, 5.0, 10.0, 15.0]);
        assert_eq!(ticks(0.8), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8]);
        assert_eq!(ticks(0.0), vec![0.0, 1.0]);
        assert_eq!(tick_label(0.6000000000000001), "0.6");
    }

    #[test]
    fn dates_and_numbers_read_well() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(date(20_514), "Mon 2 Mar 2026");
        assert_eq!(datetime(NOW), "2026-03-02 14:20");
        assert_eq!(
            (km(1234.0), km(12_345.0), km(123_456.0)),
            ("1.23".into(), "12.3".into(), "123".into())
        );
        assert_eq!(duration(45 * 60), "45 min");
        assert_eq!(duration(7 * 3600 + 5 * 60), "7 h 05 min");
    }

    #[test]
    fn the_page_forbids_scripts_and_outside_assets() {
        let r = page_response(None);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .starts_with("default-src 'none'")
        );
        assert_eq!(no_data_json().status, 404);
    }
}
