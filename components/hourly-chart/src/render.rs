//! The statistics document and the page that draws it: pure functions (no host imports), so
//! the page is tested natively.
//!
//! The page is one self-contained HTML document: no scripts, no external assets (its
//! `content-security-policy` forbids them), an inline SVG chart of the hourly means with the
//! min–max band of each hour, time labels in UTC, a caption, and the same numbers as a table.
//! Every text that comes from outside (the owner's label) is escaped.

use std::fmt::Write as _;

use databox_sdk::time::{DAY_MS, HOUR_MS, civil_from_days, hour_start};
use databox_sdk::{HourlyRow, Response};
use serde::{Deserialize, Serialize};

/// How many hours the chart covers, the current one included.
pub const WINDOW_HOURS: i64 = 48;

/// The start of the oldest hour charted at `now`: 47 whole hours before the current one.
pub fn window_start(now: i64) -> i64 {
    hour_start(now) - (WINDOW_HOURS - 1) * HOUR_MS
}

/// The document kept under `last-48h` and served as `/data.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The component's name for the series (`source`).
    pub source: String,
    /// When it was made, epoch ms.
    pub generated: i64,
    /// The start of the window (the oldest hour), epoch ms.
    pub since: i64,
    /// The end of the window (the end of the current hour), epoch ms.
    pub until: i64,
    /// The hours that hold data, oldest first.
    pub hours: Vec<Hour>,
}

/// The statistics of one hour.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hour {
    /// The start of the hour, epoch ms (UTC).
    pub hour: i64,
    /// How many points it holds.
    pub count: u64,
    /// The lowest value.
    pub min: f64,
    /// The highest value.
    pub max: f64,
    /// The mean.
    pub mean: f64,
}

impl Summary {
    /// The summary of an hourly read made at `now`: hours inside the window, oldest first, one
    /// row per hour.
    pub fn new(source: &str, now: i64, rows: &[HourlyRow]) -> Self {
        let since = window_start(now);
        let until = hour_start(now) + HOUR_MS;
        let mut hours: Vec<Hour> = rows
            .iter()
            .filter(|r| r.timestamp >= since && r.timestamp < until && r.data.count > 0)
            .map(|r| Hour {
                hour: r.timestamp,
                count: r.data.count,
                min: r.data.min,
                max: r.data.max,
                mean: r.data.mean,
            })
            .collect();
        hours.sort_by_key(|h| h.hour);
        hours.dedup_by_key(|h| h.hour);
        Summary {
            source: source.to_owned(),
            generated: now,
            since,
            until,
            hours,
        }
    }
}

/// `404` with a JSON message, for `/data.json` before the first refresh.
pub fn no_data_json() -> Response {
    let mut r = Response::json(&serde_json::json!({
        "error": "no statistics yet: they are kept within a minute of the app starting"
    }));
    r.status = 404;
    r
}

/// The page as a response, with a policy that forbids scripts and outside assets.
pub fn page_response(summary: Option<&Summary>, label: Option<&str>) -> Response {
    Response::html(page(summary, label))
        .with_header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'",
        )
        .with_header("cache-control", "no-store")
}

/// Escapes text for HTML (the SDK's one escaper, shared by every component's page).
pub use databox_sdk::escape_html as escape;

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#555;--grid:#d4d4d4;--line:#0b57a4;--band:rgba(11,87,164,.2)}\
@media (prefers-color-scheme:dark){:root{--fg:#ececec;--bg:#161616;--muted:#b0b0b0;--grid:#454545;--line:#7ab8ff;--band:rgba(122,184,255,.28)}}\
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif}\
main{max-width:52rem;margin:0 auto;padding:1rem}\
h1{font-size:1.5rem;margin:.5rem 0}\
.muted{color:var(--muted)}\
figure{margin:1rem 0}\
svg{width:100%;height:auto;display:block}\
svg text{fill:var(--fg);font-size:12px}\
.grid{stroke:var(--grid);stroke-width:1}\
.axis{stroke:var(--muted);stroke-width:1}\
.band{fill:var(--band)}\
.mean{fill:none;stroke:var(--line);stroke-width:2;stroke-linejoin:round}\
.dot{fill:var(--line)}\
.range{stroke:var(--band);stroke-width:6}\
table{border-collapse:collapse;width:100%;margin:1rem 0}\
caption{text-align:left;font-weight:600;padding:.25rem 0}\
th,td{padding:.25rem .5rem;border-bottom:1px solid var(--grid);text-align:right}\
th:first-child,td:first-child{text-align:left}\
.empty{padding:1rem;border:1px solid var(--grid);border-radius:.25rem}";

/// The whole page: the chart, its caption and the table, or a clear message without data.
pub fn page(summary: Option<&Summary>, label: Option<&str>) -> String {
    let series = match label {
        Some(l) => format!("{} (the series chosen as “source”)", escape(l)),
        None => "the series chosen as “source” at install".to_owned(),
    };
    let mut body = String::new();
    match summary {
        Some(s) if !s.hours.is_empty() => {
            let _ = write!(
                body,
                "<p class=\"muted\">Statistics of the last {WINDOW_HOURS} hours, made {} UTC and refreshed every minute.</p>",
                datetime(s.generated)
            );
            body.push_str("<figure>");
            body.push_str(&chart(s, &series));
            let _ = write!(
                body,
                "<figcaption>Hourly mean (line) of {series}, with the lowest and highest value of each hour \
                 (shaded band), from {} to {} UTC. Times are in UTC.</figcaption></figure>",
                datetime(s.since),
                datetime(s.until)
            );
            body.push_str(&table(s, &series));
        }
        _ => {
            let _ = write!(
                body,
                "<p class=\"empty\" role=\"status\"><strong>No data yet.</strong> There are no hourly \
                 statistics of {series} for the last {WINDOW_HOURS} hours. The chart appears once the series has \
                 points; the app looks for them every minute.</p>"
            );
        }
    }
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Hourly chart</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
         <h1>Hourly chart</h1>\n{body}\n</main>\n</body>\n</html>\n"
    )
}

// The chart's geometry, in SVG user units.
const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 64.0;

struct Scale {
    t0: i64,
    t1: i64,
    y0: f64,
    y1: f64,
}

impl Scale {
    fn x(&self, t: i64) -> f64 {
        LEFT + (t - self.t0) as f64 / (self.t1 - self.t0) as f64 * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        TOP + (self.y1 - v) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)
    }
}

/// The y axis: a range covering `lo..=hi` in round steps, and its ticks.
pub fn y_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo, hi) = if hi - lo > f64::EPSILON * hi.abs().max(1.0) {
        (lo, hi)
    } else {
        let pad = (hi.abs() * 0.05).max(1.0);
        (lo - pad, hi + pad)
    };
    let step = nice_step((hi - lo) / 5.0);
    let first = (lo / step).floor();
    let last = (hi / step).ceil();
    let n = (last - first).round() as i64;
    (0..=n).map(|i| (first + i as f64) * step).collect()
}

fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let norm = raw / magnitude;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Consecutive hours, each run drawn as one line and band (a missing hour breaks them).
fn runs(hours: &[Hour]) -> Vec<&[Hour]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=hours.len() {
        if i == hours.len() || hours[i].hour != hours[i - 1].hour + HOUR_MS {
            out.push(&hours[start..i]);
            start = i;
        }
    }
    out
}

fn chart(s: &Summary, series: &str) -> String {
    let lo = s.hours.iter().map(|h| h.min).fold(f64::INFINITY, f64::min);
    let hi = s.hours.iter().map(|h| h.max).fold(f64::NEG_INFINITY, f64::max);
    let ticks = y_ticks(lo, hi);
    let scale = Scale {
        t0: s.since,
        t1: s.until,
        y0: ticks[0],
        y1: ticks[ticks.len() - 1],
    };
    let (first, last) = (s.hours[0], s.hours[s.hours.len() - 1]);
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" \
         xmlns=\"http://www.w3.org/2000/svg\">\
         <title id=\"chart-title\">Hourly mean, lowest and highest value of {series}</title>\
         <desc id=\"chart-desc\">{} hours with data from {} to {} UTC. Lowest value {}, highest {}. \
         The table below gives every hour.</desc>",
        s.hours.len(),
        datetime(first.hour),
        datetime(last.hour + HOUR_MS),
        num(lo),
        num(hi)
    );
    // Horizontal grid and value labels.
    for v in &ticks {
        let y = scale.y(*v);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            num(*v)
        );
    }
    // Time ticks every 6 hours, with the date under midnight and under the first tick.
    let step = 6 * HOUR_MS;
    let mut t = (s.since + step - 1).div_euclid(step) * step;
    let mut first_tick = true;
    let axis_y = HEIGHT - BOTTOM;
    while t <= s.until {
        let x = scale.x(t);
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{axis_y:.1}\" y2=\"{:.1}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            axis_y + 5.0,
            axis_y + 18.0,
            clock(t)
        );
        if first_tick || t.rem_euclid(DAY_MS) == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                axis_y + 32.0,
                day(t)
            );
            first_tick = false;
        }
        t += step;
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{axis_y:.1}\" y2=\"{axis_y:.1}\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">Time (UTC)</text>",
        WIDTH - RIGHT,
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 8.0
    );
    // Bands and lines, one per run of consecutive hours; the mean sits in the middle of its hour.
    let mid = |h: &Hour| scale.x(h.hour + HOUR_MS / 2);
    for run in runs(&s.hours) {
        if run.len() == 1 {
            let h = &run[0];
            let x = mid(h);
            let _ = write!(
                svg,
                "<line class=\"range\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
                scale.y(h.min),
                scale.y(h.max)
            );
            continue;
        }
        let upper = run.iter().map(|h| format!("{:.1},{:.1}", mid(h), scale.y(h.max)));
        let lower = run
            .iter()
            .rev()
            .map(|h| format!("{:.1},{:.1}", mid(h), scale.y(h.min)));
        let band: Vec<String> = upper.chain(lower).collect();
        let _ = write!(svg, "<polygon class=\"band\" points=\"{}\"/>", band.join(" "));
        let line: Vec<String> = run
            .iter()
            .map(|h| format!("{:.1},{:.1}", mid(h), scale.y(h.mean)))
            .collect();
        let _ = write!(svg, "<polyline class=\"mean\" points=\"{}\"/>", line.join(" "));
    }
    for h in &s.hours {
        let _ = write!(
            svg,
            "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{} UTC: mean {}, min {}, max {}, {} points</title></circle>",
            mid(h),
            scale.y(h.mean),
            datetime(h.hour),
            num(h.mean),
            num(h.min),
            num(h.max),
            h.count
        );
    }
    svg.push_str("</svg>");
    svg
}

fn table(s: &Summary, series: &str) -> String {
    let mut t = format!(
        "<table><caption>Hourly statistics of {series}, newest first (UTC)</caption><thead><tr>\
         <th scope=\"col\">Hour (UTC)</th><th scope=\"col\">Count</th><th scope=\"col\">Min</th>\
         <th scope=\"col\">Mean</th><th scope=\"col\">Max</th></tr></thead><tbody>"
    );
    for h in s.hours.iter().rev() {
        let _ = write!(
            t,
            "<tr><th scope=\"row\">{}–{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            datetime(h.hour),
            clock(h.hour + HOUR_MS),
            h.count,
            num(h.min),
            num(h.mean),
            num(h.max)
        );
    }
    t.push_str("</tbody></table>");
    t
}

/// A value with four significant digits, trailing zeros dropped.
pub fn num(x: f64) -> String {
    if !x.is_finite() {
        return "–".to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let decimals = (3 - x.abs().log10().floor() as i32).clamp(0, 9) as usize;
    let mut s = format!("{x:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    if s == "-0" { "0".to_owned() } else { s }
}

/// `2026-11-29 18:00` (UTC).
pub fn datetime(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY_MS));
    format!("{y:04}-{m:02}-{d:02} {}", clock(t))
}

/// `18:00` (UTC).
fn clock(t: i64) -> String {
    let ms = t.rem_euclid(DAY_MS);
    format!("{:02}:{:02}", ms / HOUR_MS, ms % HOUR_MS / 60_000)
}

/// `29 Nov` (UTC).
fn day(t: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, m, d) = civil_from_days(t.div_euclid(DAY_MS));
    format!("{d} {}", MONTHS[(m - 1) as usize])
}

#[cfg(test)]
mod tests {
    use super::*;
    use databox_sdk::{HourlyStats, Row};

    /// 2026-11-29 18:20 UTC.
    const NOW: i64 = 1_795_975_200_000 + 20 * 60_000;

    fn row(hour: i64, min: f64, mean: f64, max: f64) -> HourlyRow {
        Row {
            timestamp: hour,
            datasource: None,
            data: HourlyStats {
                count: 60,
                sum: mean * 60.0,
                min,
                max,
                mean,
            },
        }
    }

    fn summary(rows: &[HourlyRow]) -> Summary {
        Summary::new("source", NOW, rows)
    }

    #[test]
    fn the_window_is_the_current_hour_and_the_47_before_it() {
        let s = summary(&[]);
        assert_eq!(datetime(NOW), "2026-11-29 18:20");
        assert_eq!(datetime(s.since), "2026-11-27 19:00");
        assert_eq!(datetime(s.until), "2026-11-29 19:00");
        assert_eq!((s.until - s.since) / HOUR_MS, WINDOW_HOURS);
    }

    #[test]
    fn keeps_hours_inside_the_window_oldest_first_once_each() {
        let h = hour_start(NOW);
        let s = summary(&[
            row(h, 1.0, 2.0, 3.0),
            row(h - HOUR_MS, 1.0, 2.0, 3.0),
            row(h - HOUR_MS, 9.0, 9.0, 9.0),
            row(h - 48 * HOUR_MS, 1.0, 2.0, 3.0),
            row(h + HOUR_MS, 1.0, 2.0, 3.0),
        ]);
        let hours: Vec<i64> = s.hours.iter().map(|x| x.hour).collect();
        assert_eq!(hours, vec![h - HOUR_MS, h]);
        assert_eq!(s.hours[1].mean, 2.0);
    }

    #[test]
    fn the_summary_round_trips_as_json() {
        let s = summary(&[row(hour_start(NOW), 1.0, 2.0, 3.0)]);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"hours\":[{\"hour\":"), "{json}");
        assert_eq!(serde_json::from_str::<Summary>(&json).unwrap(), s);
    }

    #[test]
    fn says_clearly_when_there_is_no_data_yet() {
        for page in [page(None, None), page(Some(&summary(&[])), Some("Hall"))] {
            assert!(page.contains("No data yet."), "{page}");
            assert!(page.contains("role=\"status\""));
            assert!(!page.contains("<svg"));
            assert!(!page.contains("<table"));
            assert!(page.starts_with("<!doctype html>"));
        }
    }

    #[test]
    fn draws_the_chart_caption_and_table() {
        let h = hour_start(NOW);
        let s = summary(&[
            row(h - 3 * HOUR_MS, 18.0, 19.5, 21.0),
            row(h - 2 * HOUR_MS, 19.0, 20.25, 22.0),
            row(h, 20.0, 21.0, 23.5),
        ]);
        let p = page(Some(&s), Some("Living room"));
        assert!(p.contains("<html lang=\"en\">"));
        assert!(p.contains(
            "<svg viewBox=\"0 0 760 320\" role=\"img\" aria-labelledby=\"chart-title chart-desc\""
        ));
        assert!(p.contains("<figcaption>Hourly mean (line) of Living room (the series chosen as “source”)"));
        assert!(p.contains("Times are in UTC."));
        assert!(p.contains("Time (UTC)"));
        // Two runs: a band and a line for the two consecutive hours, a range mark for the last.
        assert_eq!(p.matches("<polygon class=\"band\"").count(), 1);
        assert_eq!(p.matches("<polyline class=\"mean\"").count(), 1);
        assert_eq!(p.matches("<line class=\"range\"").count(), 1);
        assert_eq!(p.matches("<circle class=\"dot\"").count(), 3);
        // Table: one row per hour, newest first, with its numbers.
        assert_eq!(p.matches("<tr><th scope=\"row\">").count(), 3);
        let newest = p.find("2026-11-29 18:00–19:00").unwrap();
        let oldest = p.find("2026-11-29 15:00–16:00").unwrap();
        assert!(newest < oldest);
        assert!(p.contains("<td>60</td><td>19</td><td>20.25</td><td>22</td>"));
        // Time labels every six hours, dates under midnight.
        assert!(p.contains(">18:00</text>") && p.contains(">00:00</text>"));
        assert!(p.contains(">29 Nov</text>") && p.contains(">28 Nov</text>"));
        // Value labels cover the data.
        assert!(p.contains(">18</text>") && p.contains(">24</text>"), "{p}");
        // Nothing from outside.
        assert!(!p.contains("<script") && !p.contains("src=") && !p.contains("href="));
    }

    #[test]
    fn escapes_the_owners_label() {
        let s = summary(&[row(hour_start(NOW), 1.0, 2.0, 3.0)]);
        let p = page(Some(&s), Some("<script>alert('x')</script> & \"co\""));
        assert!(!p.contains("<script>"));
        assert!(p.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;"));
        let empty = page(None, Some("<b>"));
        assert!(empty.contains("&lt;b&gt;") && !empty.contains("<b>"));
    }

    #[test]
    fn a_flat_series_still_gets_a_scale() {
        let ticks = y_ticks(5.0, 5.0);
        assert!(ticks[0] < 5.0 && ticks[ticks.len() - 1] > 5.0, "{ticks:?}");
        let s = summary(&[
            row(hour_start(NOW), 5.0, 5.0, 5.0),
            row(hour_start(NOW) - HOUR_MS, 5.0, 5.0, 5.0),
        ]);
        let p = page(Some(&s), None);
        assert!(!p.contains("NaN") && !p.contains("inf"), "{p}");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(y_ticks(18.0, 23.5), vec![18.0, 20.0, 22.0, 24.0]);
        assert_eq!(y_ticks(18.0, 22.0), vec![18.0, 19.0, 20.0, 21.0, 22.0]);
        assert_eq!(y_ticks(0.0, 1e9), vec![0.0, 2e8, 4e8, 6e8, 8e8, 1e9]);
        let neg = y_ticks(-3.2, 0.4);
        assert!(neg[0] <= -3.2 && *neg.last().unwrap() >= 0.4, "{neg:?}");
    }

    #[test]
    fn numbers_have_four_significant_digits() {
        assert_eq!(num(20.25), "20.25");
        assert_eq!(num(21.0), "21");
        assert_eq!(num(0.012345), "0.01235");
        assert_eq!(num(123456.7), "123457");
        assert_eq!(num(-0.00001), "-0.00001");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(f64::NAN), "–");
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(datetime(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(day(NOW), "29 Nov");
    }

    #[test]
    fn the_page_forbids_scripts_and_outside_assets() {
        let r = page_response(None, None);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .starts_with("default-src 'none'")
        );
        let j = no_data_json();
        assert_eq!(
            (j.status, j.header("content-type")),
            (404, Some("application/json"))
        );
    }
}
