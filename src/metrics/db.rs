//! What `/metrics` reads from Postgres: the last run of each task and its last success (from
//! `job_runs`, so they survive restarts and agree across instances), the latest published date,
//! the distribution of the scores it serves, and whether the database answers at all.
//!
//! Scrapes must not turn into load: the queries run at most once per `FRESH_FOR` whatever the
//! number of scrapers (one refresh at a time; the others wait for it and reuse it), each under
//! `TIMEOUT`, and the score histograms are recomputed only when a publication changed them.
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::Pool;
use tokio::sync::Mutex;

use super::text::{Encoder, HistogramData, Kind};
use crate::db::reads::{self, TaskSummary};
use crate::domain::{Model, RunStatus, Task};

const FRESH_FOR: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(2);

/// Bucket bounds of the served-score histograms: CTR is a ratio, views a count.
pub const CTR_BOUNDS: [f64; 14] = [
    0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
];
pub const VIEWS_BOUNDS: [f64; 14] = [
    1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1e3, 1e4, 1e5, 1e6,
];

pub fn score_bounds(model: Model) -> &'static [f64] {
    match model {
        Model::TopCtr => &CTR_BOUNDS,
        Model::TopProduct => &VIEWS_BOUNDS,
    }
}

/// What the last refresh found.
#[derive(Default)]
struct Snapshot {
    up: bool,
    tasks: Vec<TaskSummary>,
    latest: Option<NaiveDate>,
    /// The scores of `latest` as of the publication `key` (latest date, last publishing run).
    scores: Option<(ScoresKey, Vec<(Model, HistogramData)>)>,
}

type ScoresKey = (NaiveDate, Option<DateTime<Utc>>);

pub struct DbMetrics {
    pool: Pool,
    state: Mutex<(Option<Instant>, Arc<Snapshot>)>,
}

impl DbMetrics {
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            state: Mutex::new((None, Arc::default())),
        }
    }

    /// Refreshes if stale, then writes the families.
    pub async fn encode(&self, enc: &mut Encoder) {
        let snapshot = self.current().await;
        encode(&snapshot, enc);
    }

    async fn current(&self) -> Arc<Snapshot> {
        let mut state = self.state.lock().await;
        if state.0.is_some_and(|at| at.elapsed() < FRESH_FOR) {
            return state.1.clone();
        }
        let fresh = match tokio::time::timeout(TIMEOUT, self.read(&state.1)).await {
            Ok(Ok(s)) => s,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => format!("{e:#}"),
                    _ => "timed out".into(),
                };
                tracing::warn!(error = %why, "metrics: the database did not answer");
                // Keep what was last read (still true as of then); only `up` changes.
                let old = &state.1;
                Snapshot {
                    up: false,
                    tasks: old.tasks.clone(),
                    latest: old.latest,
                    scores: old.scores.clone(),
                }
            }
        };
        *state = (Some(Instant::now()), Arc::new(fresh));
        state.1.clone()
    }

    async fn read(&self, old: &Snapshot) -> anyhow::Result<Snapshot> {
        let client = self.pool.get().await?;
        let tasks = reads::task_summaries(&client).await?;
        let latest = reads::latest_date(&client).await?;
        let published = tasks
            .iter()
            .filter(|t| matches!(t.last.task, Task::DbWriting | Task::Pipeline))
            .filter_map(|t| t.last_success)
            .max();
        let scores = match latest {
            None => None,
            Some(date) => {
                let key = (date, published);
                match &old.scores {
                    Some((k, s)) if *k == key => Some((key, s.clone())),
                    _ => {
                        let counts = reads::score_counts(&client, date).await?;
                        Some((key, score_histograms(&counts)))
                    }
                }
            }
        };
        Ok(Snapshot {
            up: true,
            tasks,
            latest,
            scores,
        })
    }
}

/// Histograms of (model, score, rows) counts over each model's bounds.
pub fn score_histograms(counts: &[(Model, f64, i64)]) -> Vec<(Model, HistogramData)> {
    Model::ALL
        .iter()
        .map(|&m| {
            let mut h = HistogramData::new(score_bounds(m));
            for (_, score, n) in counts.iter().filter(|(cm, ..)| *cm == m) {
                h.add(*score, *n as u64);
            }
            (m, h)
        })
        .collect()
}

fn ts(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1e3
}

fn encode(s: &Snapshot, enc: &mut Encoder) {
    enc.family(
        "adrec_database_up",
        "1 if the database answered adrec's last metrics query (at most 5 s old), else 0.",
        Kind::Gauge,
    )
    .sample(&[], f64::from(u8::from(s.up)));

    enc.family(
        "adrec_latest_published_date_timestamp_seconds",
        "The latest published date (its 00:00 UTC) as a Unix timestamp; 0 when nothing is published.",
        Kind::Gauge,
    )
    .sample(
        &[],
        s.latest.map_or(0.0, |d| {
            ts(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        }),
    );

    let task = |task: Task| s.tasks.iter().find(|t| t.last.task == task);
    enc.family(
        "adrec_job_last_success_timestamp_seconds",
        "When a run of the task last succeeded (any instance; from job_runs), 0 if never.",
        Kind::Gauge,
    );
    for t in Task::TRIGGERED {
        let at = task(t).and_then(|s| s.last_success).map_or(0.0, ts);
        enc.sample(&[("task", t.as_str())], at);
    }
    let last = |name: &'static str,
                help: &str,
                kind: Kind,
                enc: &mut Encoder,
                f: &dyn Fn(&TaskSummary) -> Option<f64>| {
        enc.family(name, help, kind);
        for t in &s.tasks {
            if let Some(v) = f(t) {
                enc.sample(&[("task", t.last.task.as_str())], v);
            }
        }
    };
    last(
        "adrec_job_last_run_timestamp_seconds",
        "When the task's last finished run finished.",
        Kind::Gauge,
        enc,
        &|t| t.last.finished_at.map(ts),
    );
    last(
        "adrec_job_last_run_failed",
        "1 if the task's last finished run failed, 0 if it succeeded.",
        Kind::Gauge,
        enc,
        &|t| Some(f64::from(u8::from(t.last.status != RunStatus::Succeeded))),
    );
    last(
        "adrec_job_last_run_duration_seconds",
        "How long the task's last finished run took.",
        Kind::Gauge,
        enc,
        &|t| t.last.seconds(),
    );
    last(
        "adrec_job_last_run_rows_in",
        "Rows the task's last finished run read.",
        Kind::Gauge,
        enc,
        &|t| t.last.rows_in.map(|n| n as f64),
    );
    last(
        "adrec_job_last_run_rows_out",
        "Rows the task's last finished run wrote.",
        Kind::Gauge,
        enc,
        &|t| t.last.rows_out.map(|n| n as f64),
    );
    last(
        "adrec_job_last_run_bad_rows",
        "Bad rows the task's last finished run skipped.",
        Kind::Gauge,
        enc,
        &|t| t.last.bad_rows.map(|n| n as f64),
    );
    enc.family(
        "adrec_job_last_run_filter_rows",
        "Rows of each log the last finished filter_data or pipeline run classified, by outcome \
         (kept, inactive, malformed, bad_date, bad_type, bad_encoding).",
        Kind::Gauge,
    );
    for t in &s.tasks {
        let Some(filter) = t.last.details.filter() else {
            continue;
        };
        for (log, report) in filter.logs() {
            for (outcome, n) in report.rows.iter() {
                let labels = [
                    ("task", t.last.task.as_str()),
                    ("log", log),
                    ("outcome", outcome.as_str()),
                ];
                enc.sample(&labels, n as f64);
            }
        }
    }

    enc.family(
        "adrec_served_score",
        "Scores served for the latest published date, by model (ctr for top_ctr, views for \
         top_product): the distribution of what /recommendations answers, recomputed when a \
         date is published.",
        Kind::Histogram,
    );
    if let Some((_, scores)) = &s.scores {
        for (model, h) in scores {
            enc.histogram(&[("model", model.as_str())], h);
        }
    }
}
