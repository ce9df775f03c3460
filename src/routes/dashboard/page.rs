//! The dashboard's sections as HTML, put into `static/dashboard.html`.
use std::collections::BTreeMap;
use std::fmt::Write;

use super::Data;
use super::charts::{self, Series, esc, fmt_num};
use crate::db::reads::FinishedRun;
use crate::domain::{Model, Task};
use crate::jobs::{Run, RunStatus};

const SHELL: &str = include_str!("../../../static/dashboard.html");
const MARK: &str = "<!--CONTENT-->";
/// The outcomes of a filtered row that are not bad rows.
const NOT_BAD: [&str; 2] = ["kept", "inactive"];
/// Bad-row reasons in the order their bars stack (others found in runs follow).
const REASONS: [&str; 4] = ["malformed", "bad_date", "bad_type", "bad_encoding"];
const SCORE_BINS: usize = 12;

pub fn render(d: &Data) -> String {
    let mut body = String::with_capacity(64 * 1024);
    summary(&mut body, d);
    runs(&mut body, d);
    per_date(&mut body, d);
    latest(&mut body, d);
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
            task = esc(&r.task),
            date = r.date,
            trigger = esc(&r.trigger),
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
    let runs_of = |date| {
        d.daily_runs
            .iter()
            .filter(move |r: &&FinishedRun| r.date == date)
    };

    // Bad rows: from the date's last filter (a filter_data run or a pipeline's first stage).
    let mut bad: Vec<BTreeMap<String, i64>> = Vec::new();
    for x in &d.dates {
        let filter = runs_of(x.date)
            .filter(|r| r.task == "filter_data" || r.task == "pipeline")
            .max_by_key(|r| r.finished_at);
        let mut by_reason = BTreeMap::new();
        for (_, outcome, n) in filter.map(|r| r.filter_rows()).unwrap_or_default() {
            if !NOT_BAD.contains(&outcome.as_str()) {
                *by_reason.entry(outcome).or_insert(0) += n;
            }
        }
        bad.push(by_reason);
    }
    let mut reasons: Vec<String> = REASONS.iter().map(|r| (*r).to_owned()).collect();
    for r in bad.iter().flat_map(|b| b.keys()) {
        if !reasons.contains(r) {
            reasons.push(r.clone());
        }
    }
    let bad_series: Vec<Series> = reasons
        .iter()
        .map(|r| Series {
            name: r.clone(),
            values: bad
                .iter()
                .map(|b| Some(*b.get(r).unwrap_or(&0) as f64))
                .collect(),
        })
        .collect();

    // Durations: each stage from the date's latest run that did it, alone or in a pipeline.
    let mut lines = Vec::new();
    for task in Task::ALL {
        let values = d
            .dates
            .iter()
            .map(|x| {
                runs_of(x.date)
                    .filter(|r| r.task == task.as_str() || r.task == "pipeline")
                    .filter_map(|r| {
                        let s = if task == Task::Pipeline {
                            r.seconds().filter(|_| r.task == "pipeline")
                        } else {
                            r.stage_seconds()
                                .into_iter()
                                .find(|(st, _)| st == task.as_str())
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

fn latest(out: &mut String, d: &Data) {
    let Some(date) = d.latest() else { return };
    let _ = write!(
        out,
        "<section><h2>Latest date: {date}</h2><div class=\"grid\">"
    );
    for (model, caption, integer) in [
        (
            Model::TopCtr,
            "TopCTR: CTR of the products recommended",
            false,
        ),
        (
            Model::TopProduct,
            "TopProduct: views of the products recommended",
            true,
        ),
    ] {
        let values: Vec<(f64, i64)> = d
            .scores
            .iter()
            .filter(|(m, ..)| *m == model)
            .map(|(_, s, n)| (*s, *n))
            .collect();
        let (labels, counts) = equal_bins(&values, SCORE_BINS, integer);
        let _ = write!(
            out,
            "<figure><figcaption>{caption}</figcaption>{}</figure>",
            charts::bars(
                &format!("scores-{model}"),
                &labels,
                &[Series {
                    name: "recommendations".into(),
                    values: counts
                }],
                "recommendations"
            )
        );
    }
    let mut jaccard = vec![Some(0.0); 10];
    for a in &d.agreement {
        let i = ((a.jaccard * 10.0) as usize).min(9);
        jaccard[i] = jaccard[i].map(|n| n + 1.0);
    }
    let labels: Vec<String> = (0..10)
        .map(|i| format!("{:.1}", f64::from(i) / 10.0))
        .collect();
    let n = d.agreement.len().max(1) as f64;
    let mean = d.agreement.iter().map(|a| a.jaccard).sum::<f64>() / n;
    let _ = write!(
        out,
        r#"<figure><figcaption>Model agreement: Jaccard of TopCTR and TopProduct per advertiser (mean <b id="mean-jaccard">{mean:.3}</b>)</figcaption>{}</figure>"#,
        charts::bars(
            "jaccard",
            &labels,
            &[Series {
                name: "advertisers".into(),
                values: jaccard
            }],
            "advertisers"
        )
    );
    out.push_str("<figure><figcaption>Most changed since the previous date</figcaption>");
    if d.changes.is_empty() {
        out.push_str(r#"<p class="empty">No previous date to compare with.</p>"#);
    } else {
        out.push_str(r#"<table id="most-changed"><thead><tr><th>advertiser</th><th>added</th><th>removed</th><th>Jaccard</th></tr></thead><tbody>"#);
        for c in &d.changes {
            let _ = write!(
                out,
                r#"<tr data-advertiser="{a}"><td>{a}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{:.3}<span class="meter" style="width:{:.0}px"></span></td></tr>"#,
                c.added,
                c.removed,
                c.jaccard,
                c.jaccard * 60.0,
                a = esc(&c.advertiser_id),
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</figure></div></section>");
}

/// Equal-width bins over the values' range: labels and counts.
fn equal_bins(values: &[(f64, i64)], n: usize, integer: bool) -> (Vec<String>, Vec<Option<f64>>) {
    let (Some(lo), Some(hi)) = (
        values.iter().map(|v| v.0).reduce(f64::min),
        values.iter().map(|v| v.0).reduce(f64::max),
    ) else {
        return (Vec::new(), Vec::new());
    };
    let width = if integer {
        ((hi - lo + 1.0) / n as f64).ceil().max(1.0)
    } else {
        (hi - lo) / n as f64
    };
    let bins = if width > 0.0 {
        (((hi - lo) / width).floor() as usize + 1).min(n)
    } else {
        1
    };
    let mut counts = vec![Some(0.0); bins];
    for (v, k) in values {
        let i = if width > 0.0 {
            ((v - lo) / width) as usize
        } else {
            0
        }
        .min(bins - 1);
        counts[i] = counts[i].map(|c| c + *k as f64);
    }
    let labels = (0..bins)
        .map(|i| {
            let a = lo + width * i as f64;
            match (integer, width) {
                (true, w) if w <= 1.0 => fmt_num(a),
                (true, w) => format!("{}–{}", fmt_num(a), fmt_num(a + w - 1.0)),
                (false, _) => fmt_num(a),
            }
        })
        .collect();
    (labels, counts)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_value() {
        let (labels, counts) = equal_bins(&[(0.0, 2), (0.5, 1), (1.0, 3)], 4, false);
        assert_eq!(labels.len(), 4);
        assert_eq!(counts, [Some(2.0), Some(0.0), Some(1.0), Some(3.0)]);
        let (labels, counts) = equal_bins(&[(1.0, 5), (2.0, 1), (3.0, 1)], 12, true);
        assert_eq!(labels, ["1", "2", "3"]);
        assert_eq!(counts, [Some(5.0), Some(1.0), Some(1.0)]);
        let (_, counts) = equal_bins(&[(4.0, 7)], 12, false);
        assert_eq!(counts, [Some(7.0)]);
        assert!(equal_bins(&[], 12, true).0.is_empty());
    }
}
