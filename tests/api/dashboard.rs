//! `/dashboard` after the demo pipeline: the charts hold the data (one bar per published date,
//! bad rows by reason summing to the runs' counts, every served score in a histogram), failed
//! runs carry their error, nothing is fetched from elsewhere, and it is not slower than /stats.
//! (scripts/dashboard-check.sh renders it in headless Chromium.)
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Options, spawn_app};
use crate::metrics::{DAYS, demo_app};

/// The markup of the chart `id`.
fn chart<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!(r#"data-chart="{id}""#))
        .unwrap_or_else(|| panic!("no chart {id}"));
    let end = start + html[start..].find("</svg>").unwrap();
    &html[start..end]
}

/// Every value of attribute `attr` in `markup`, in order.
fn attrs<'a>(markup: &'a str, attr: &str) -> Vec<&'a str> {
    let key = format!(r#"{attr}=""#);
    markup
        .match_indices(&key)
        .map(|(i, _)| {
            let v = &markup[i + key.len()..];
            &v[..v.find('"').unwrap()]
        })
        .collect()
}

fn sum(values: &[&str]) -> f64 {
    values.iter().map(|v| v.parse::<f64>().unwrap()).sum()
}

/// Rows served on the demo's latest date for one model (`$1`).
pub const SERVED_ROWS: &str = "SELECT count(*) FROM recommendations \
     WHERE date = '2024-11-25' AND model = $1::text::rec_model";

#[tokio::test]
async fn an_empty_service_renders_without_data() {
    let app = spawn_app().await;
    let r = app.get("/dashboard").await;
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("No runs yet."), "{html}");
    assert!(html.contains("Nothing is published yet."));
    app.stop().await;
}

#[tokio::test]
async fn the_charts_hold_the_demo_pipelines_data() {
    let (app, runs) = demo_app(Options::default()).await;
    let cache = app.get("/dashboard/").await.headers()["cache-control"].clone();
    assert_eq!(cache, "no-store");
    let html = app.page("/dashboard/", "text/html").await;

    // One bar per published date, oldest first, in each per-date chart.
    for id in ["advertisers", "rows", "bad-rows"] {
        assert_eq!(attrs(chart(&html, id), "data-x"), DAYS, "{id}");
    }
    let (_, stats) = app.get_json("/stats").await;
    let mut dates: Vec<&Value> = stats["dates"].as_array().unwrap().iter().collect();
    dates.reverse();
    let rows: Vec<String> = dates.iter().map(|d| d["rows"].to_string()).collect();
    assert_eq!(attrs(chart(&html, "rows"), "data-total"), rows);
    // Bad rows by reason add up to each day's pipeline run's count, and every reason shows.
    let bad = chart(&html, "bad-rows");
    let totals: Vec<f64> = attrs(bad, "data-total")
        .iter()
        .map(|v| v.parse().unwrap())
        .collect();
    let expected: Vec<f64> = runs[..3]
        .iter()
        .map(|r| r["bad_rows"].as_f64().unwrap())
        .collect();
    assert_eq!(totals, expected);
    for reason in ["malformed", "bad_date", "bad_type"] {
        assert!(
            bad.contains(&format!(r#"data-series="{reason}""#)),
            "{reason}"
        );
    }
    // Durations: a point per date for each stage and for the pipeline as a whole.
    let durations = chart(&html, "durations");
    assert_eq!(
        attrs(durations, "data-series"),
        [
            "filter_data",
            "top_ctr",
            "top_product",
            "db_writing",
            "pipeline"
        ]
    );
    assert_eq!(attrs(durations, "data-value").len(), 5 * DAYS.len());

    // Every row of the latest date is in its model's score histogram.
    for model in ["top_ctr", "top_product"] {
        let n = app.count(SERVED_ROWS, &[&model]).await;
        let svg = chart(&html, &format!("scores-{model}"));
        assert_eq!(sum(&attrs(svg, "data-total")), n as f64, "{model}");
    }
    // The agreement histogram counts each advertiser once.
    let advertisers = stats["model_agreement"]["advertisers"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        sum(&attrs(chart(&html, "jaccard"), "data-total")),
        advertisers as f64
    );
    let changed = stats["most_changed"].as_array().unwrap();
    assert_eq!(html.matches("<tr data-advertiser=").count(), changed.len());

    // The failed run is highlighted with its error; the others are not.
    let last = &html[html.find(r#"id="last-runs""#).unwrap()..];
    let last = &last[..last.find("</table>").unwrap()];
    let error = runs[3]["error"].as_str().unwrap();
    let failed_row = last
        .split("<tr class=\"run ")
        .find(|r| r.starts_with("failed"))
        .expect("a failed row");
    assert!(
        failed_row.contains(r#"data-task="top_ctr""#),
        "{failed_row}"
    );
    let shown = error
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    assert!(
        failed_row.contains(&shown.replace('\'', "&#39;")),
        "{failed_row} lacks {error}"
    );
    assert!(last.contains(r#"<tr class="run succeeded" data-task="pipeline""#));
    // Requests this process served so far.
    assert!(html.contains(r#"data-route="/jobs/{task}""#));
    for external in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(external),
            "nothing from elsewhere: {external}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_dashboard_is_not_slower_than_stats() {
    let (app, _) = demo_app(Options::default()).await;
    let time = |path: &'static str| {
        let app = &app;
        async move {
            let t = Instant::now();
            let r = app.get(path).await;
            assert_eq!(r.status().as_u16(), 200);
            r.bytes().await.unwrap();
            t.elapsed()
        }
    };
    let (mut stats, mut dash) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        time("/stats").await;
        time("/dashboard").await;
    }
    for _ in 0..25 {
        stats.push(time("/stats").await);
        dash.push(time("/dashboard").await);
    }
    stats.sort();
    dash.sort();
    let (s, d) = (stats[stats.len() / 2], dash[dash.len() / 2]);
    eprintln!("median: /stats {s:?}, /dashboard {d:?}");
    // Same order of work; the margin is for a shared CI machine's noise.
    assert!(
        d <= s.mul_f64(1.3) + Duration::from_millis(2),
        "/dashboard {d:?} vs /stats {s:?}"
    );
    app.stop().await;
}
