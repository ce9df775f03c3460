//! The dashboard's sections as HTML, put into `static/dashboard.html`.
use std::collections::BTreeMap;
use std::fmt::Write;

use super::Data;
use super::charts::{self, Series, esc};
use crate::db::Run;
use crate::domain::{Outcome, RunStatus, Task};

const SHELL: &str = include_str!("../../../static/dashboard.html");
const MARK: &str = "<!--CONTENT-->";
/// Bad-row reasons in the order their bars stack.
const REASONS: [Outcome; 4] = [
    Outcome::Malformed,
    Outcome::BadDate,
    Outcome::BadType,
    Outcome::BadEncoding,
];

pub fn render(d: &Data) -> String {
    let mut body = String::with_capacity(64 * 1024);
    summary(&mut body, d);
    runs(&mut body, d);
    per_date(&mut body, d);
    super::latest::section(&mut body, d);
    live(&mut body, d);
    SHELL.replacen(MARK, &body, 1)
}

fn summary(out: &mut String, d: &Data) {
    let latest = d.latest().map_or("none".into(), |x| x.to_string());
    let previous = d.previous().map_or("none".into(), |x| x.to_string());
    let advertisers = d.dates.last().map_or(0, |x| x.advertisers);
    let failed = d
        .last_runs
        .iter()
        .filter(|r| r.status == RunStatus::Failed)
        .count();
    let _ = write!(
        out,
        r#"<section class="summary"><div><b id="latest-date">{latest}</b>latest published date</div><div><b>{previous}</b>previous</div><div><b>{}</b>dates published</div><div><b>{advertisers}</b>advertisers served</div><div class="{}"><b>{failed}</b>tasks whose last run failed</div></section>"#,
        d.dates.len(),
        if failed > 0 { "bad" } else { "" },
    );
}

fn runs(out: &mut String, d: &Data) {
    out.push_str("<section><h2>Last run of each task</h2>");
    runs_table(out, "last-runs", &d.last_runs);
    out.push_str("<h2>Recent runs</h2>");
    runs_table(out, "recent-runs", &d.recent_runs);
    out.push_str("</section>");
}

fn runs_table(out: &mut String, id: &str, runs: &[Run]) {
    if runs.is_empty() {
        let _ = write!(out, r#"<p class="empty" id="{id}">No runs yet.</p>"#);
        return;
    }
    let _ = write!(
        out,
        r#"<table class="runs" id="{id}"><thead><tr><th>task</th><th>date</th><th>status</th><th>trigger</th><th>started (UTC)</th><th>duration</th><th>rows in</th><th>rows out</th><th>bad rows</th><th>error</th></tr></thead><tbody>"#
    );
    for r in runs {
        let status = r.status.as_str();
        let opt = |v: Option<i64>| v.map_or(String::new(), |n| n.to_string());
        let _ = write!(
            out,
            r#"<tr class="run {status}" data-task="{task}" data-status="{status}" data-bad-rows="{bad}"><td>{task}</td><td>{date}</td><td><span class="badge {status}">{status}</span></td><td>{trigger}</td><td>{started}</td><td>{dur}</td><td class="n">{rin}</td><td class="n">{rout}</td><td class="n">{bad}</td><td class="error">{error}</td></tr>"#,
            task = r.task,
            date = r.date,
            trigger = r.trigger.as_str(),
            started = r
                .started_at
                .map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            dur = r
                .duration_ms
                .map_or(String::new(), |ms| format!("{:.2} s", ms as f64 / 1e3)),
            rin = opt(r.rows_in),
            rout = opt(r.rows_out),
            bad = opt(r.bad_rows),
            error = esc(r.error.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</tbody></table>");
}

fn per_date(out: &mut String, d: &Data) {
    out.push_str("<section><h2>Per published date</h2>");
    if d.dates.is_empty() {
        out.push_str(r#"<p class="empty">Nothing is published yet.</p></section>"#);
        return;
    }
    let labels: Vec<String> = d.dates.iter().map(|x| x.date.to_string()).collect();
    let one = |name: &str, f: &dyn Fn(usize) -> f64| {
        vec![Series {
            name: name.into(),
            values: (0..labels.len()).map(|i| Some(f(i))).collect(),
        }]
    };
    let runs_of = |date| d.daily_runs.iter().filter(move |r: &&Run| r.date == date);

    // Bad rows: from the date's last filter (a filter_data run or a pipeline's first stage).
    let mut bad: Vec<BTreeMap<Outcome, u64>> = Vec::new();
    for x in &d.dates {
        let filter = runs_of(x.date)
            .filter(|r| matches!(r.task, Task::FilterData | Task::Pipeline))
            .max_by_key(|r| r.finished_at);
        let mut by_reason = BTreeMap::new();
        if let Some(f) = filter.and_then(|r| r.details.filter()) {
            for (_, log) in f.logs() {
                for (outcome, n) in log.rows.iter().filter(|(o, _)| o.is_bad()) {
                    *by_reason.entry(outcome).or_insert(0) += n;
                }
            }
        }
        bad.push(by_reason);
    }
    let bad_series: Vec<Series> = REASONS
        .iter()
        .map(|r| Series {
            name: r.as_str().into(),
            values: bad
                .iter()
                .map(|b| Some(*b.get(r).unwrap_or(&0) as f64))
                .collect(),
        })
        .collect();

    // Durations: each stage from the date's latest run that did it, alone or in a pipeline.
    let mut lines = Vec::new();
    for task in Task::TRIGGERED {
        let values = d
            .dates
            .iter()
            .map(|x| {
                runs_of(x.date)
                    .filter(|r| r.task == task || r.task == Task::Pipeline)
                    .filter_map(|r| {
                        let s = if task == Task::Pipeline {
                            r.seconds().filter(|_| r.task == Task::Pipeline)
                        } else {
                            r.stage_seconds()
                                .into_iter()
                                .find(|(st, _)| *st == task)
                                .map(|(_, s)| s)
                        };
                        Some((r.finished_at, s?))
                    })
                    .max_by_key(|(at, _)| *at)
                    .map(|(_, s)| s)
            })
            .collect();
        lines.push(Series {
            name: task.as_str().into(),
            values,
        });
    }

    let _ = write!(
        out,
        r#"<div class="grid"><figure><figcaption>Advertisers served</figcaption>{}</figure><figure><figcaption>Rows served (both models)</figcaption>{}</figure><figure><figcaption>Bad rows skipped, by reason</figcaption>{}</figure><figure><figcaption>Run durations by stage (last successful run)</figcaption>{}</figure></div></section>"#,
        charts::bars(
            "advertisers",
            &labels,
            &one("advertisers", &|i| d.dates[i].advertisers as f64),
            "advertisers"
        ),
        charts::bars(
            "rows",
            &labels,
            &one("rows", &|i| d.dates[i].rows as f64),
            "rows"
        ),
        charts::bars("bad-rows", &labels, &bad_series, "rows"),
        charts::lines("durations", &labels, &lines, "seconds"),
    );
}

fn live(out: &mut String, d: &Data) {
    let _ = write!(
        out,
        r#"<section><h2>Requests (this process)</h2><p class="note">Since start ({}); the page then reads <a href="/metrics">/metrics</a> every 2 s and shows the last interval: <span id="live-status">waiting for data</span></p><svg id="live-rate" class="spark" viewBox="0 0 560 60" preserveAspectRatio="none"></svg><table id="live"><thead><tr><th>route</th><th>requests</th><th>req/s</th><th>5xx</th><th>p50</th><th>p95</th><th>p99</th></tr></thead><tbody>"#,
        fmt_duration(d.uptime)
    );
    for r in &d.routes {
        let ms = |q| {
            r.latency
                .quantile(q)
                .map_or("–".into(), |s| format!("{:.1} ms", s * 1e3))
        };
        let count = r.latency.count();
        let _ = write!(
            out,
            r#"<tr class="live-route" data-route="{route}"><td>{route}</td><td class="n">{count}</td><td class="n">{:.2}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            count as f64 / d.uptime,
            r.by_class[4],
            ms(0.5),
            ms(0.95),
            ms(0.99),
            route = esc(r.route),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn fmt_duration(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}
