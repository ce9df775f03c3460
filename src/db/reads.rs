//! The read side: one function per statement in `sql/queries/`, each a prepared (cached)
//! statement, so the hot path is one round trip with no parsing or planning.
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;

use crate::domain::Model;

pub const RECOMMENDATIONS: &str = include_str!("../../sql/queries/recommendations.sql");
pub const HISTORY: &str = include_str!("../../sql/queries/history.sql");
pub const STATS_DATES: &str = include_str!("../../sql/queries/stats_dates.sql");
pub const STATS_AGREEMENT: &str = include_str!("../../sql/queries/stats_agreement.sql");
pub const STATS_CHANGES: &str = include_str!("../../sql/queries/stats_changes.sql");
pub const METRICS_JOB_RUNS: &str = include_str!("../../sql/queries/metrics_job_runs.sql");
pub const METRICS_LATEST_DATE: &str = include_str!("../../sql/queries/metrics_latest_date.sql");
pub const DASHBOARD_SCORES: &str = include_str!("../../sql/queries/dashboard_scores.sql");
pub const DASHBOARD_DAILY_RUNS: &str = include_str!("../../sql/queries/dashboard_daily_runs.sql");
pub const READY: &str = include_str!("../../sql/queries/ready.sql");

/// Every read statement, for the test that prepares them all against a migrated database.
pub const ALL_SQL: [&str; 10] = [
    RECOMMENDATIONS,
    HISTORY,
    STATS_DATES,
    STATS_AGREEMENT,
    STATS_CHANGES,
    METRICS_JOB_RUNS,
    METRICS_LATEST_DATE,
    DASHBOARD_SCORES,
    DASHBOARD_DAILY_RUNS,
    READY,
];

/// One ranked product. The score columns that do not apply to the model are left out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Recommendation {
    pub rank: i16,
    pub product_id: String,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clicks: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impressions: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub views: Option<i64>,
}

impl Recommendation {
    /// Reads the columns `rank, product_id, score, clicks, impressions, views` by name.
    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            rank: row.try_get("rank")?,
            product_id: row.try_get("product_id")?,
            score: row.try_get("score")?,
            clicks: row.try_get("clicks")?,
            impressions: row.try_get("impressions")?,
            views: row.try_get("views")?,
        })
    }
}

/// The date served and its ranked list; `None` when the advertiser has nothing on that date.
pub async fn recommendations(
    client: &impl GenericClient,
    advertiser_id: &str,
    model: Model,
    date: Option<NaiveDate>,
) -> Result<Option<(NaiveDate, Vec<Recommendation>)>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(RECOMMENDATIONS).await?;
    let rows = client
        .query(&stmt, &[&advertiser_id, &model, &date])
        .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let served: NaiveDate = first.try_get("date")?;
    let recs = rows
        .iter()
        .map(Recommendation::from_row)
        .collect::<Result<_, _>>()?;
    Ok(Some((served, recs)))
}

/// (date, model, recommendation) rows of the window, newest date first.
pub struct History {
    /// The latest published date; `None` when nothing is published at all.
    pub latest: Option<NaiveDate>,
    pub rows: Vec<(NaiveDate, Model, Recommendation)>,
}

pub async fn history(
    client: &impl GenericClient,
    advertiser_id: &str,
    days: i32,
) -> Result<History, tokio_postgres::Error> {
    let stmt = client.prepare_cached(HISTORY).await?;
    let rows = client.query(&stmt, &[&advertiser_id, &days]).await?;
    let latest = match rows.first() {
        Some(r) => r.try_get("latest")?,
        None => None,
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        // The LEFT JOIN yields one all-NULL row when the window is empty.
        if let Some(date) = row.try_get::<_, Option<NaiveDate>>("date")? {
            out.push((date, row.try_get("model")?, Recommendation::from_row(row)?));
        }
    }
    Ok(History { latest, rows: out })
}

#[derive(Debug, Serialize)]
pub struct PublishedDate {
    pub date: NaiveDate,
    pub advertisers: i64,
    pub rows: i64,
}

pub async fn published_dates(
    client: &impl GenericClient,
) -> Result<Vec<PublishedDate>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(STATS_DATES).await?;
    client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| {
            Ok(PublishedDate {
                date: r.try_get("date")?,
                advertisers: r.try_get("advertisers")?,
                rows: r.try_get("rows")?,
            })
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct Agreement {
    pub advertiser_id: String,
    pub overlap: i64,
    pub jaccard: f64,
}

pub async fn model_agreement(
    client: &impl GenericClient,
    date: NaiveDate,
) -> Result<Vec<Agreement>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(STATS_AGREEMENT).await?;
    client
        .query(&stmt, &[&date])
        .await?
        .iter()
        .map(|r| {
            let overlap: i64 = r.try_get("overlap")?;
            let union: i64 = r.try_get("union_size")?;
            Ok(Agreement {
                advertiser_id: r.try_get("advertiser_id")?,
                overlap,
                jaccard: ratio(overlap, union),
            })
        })
        .collect()
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub advertiser_id: String,
    pub added: i64,
    pub removed: i64,
    /// Jaccard index of the two days' product sets (both models): 1 = unchanged, 0 = all new.
    pub jaccard: f64,
}

pub async fn most_changed(
    client: &impl GenericClient,
    latest: NaiveDate,
    previous: NaiveDate,
    limit: i64,
) -> Result<Vec<Change>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(STATS_CHANGES).await?;
    client
        .query(&stmt, &[&latest, &previous, &limit])
        .await?
        .iter()
        .map(|r| {
            let kept: i64 = r.try_get("kept")?;
            let union: i64 = r.try_get("union_size")?;
            Ok(Change {
                advertiser_id: r.try_get("advertiser_id")?,
                added: r.try_get("added")?,
                removed: r.try_get("removed")?,
                jaccard: ratio(kept, union),
            })
        })
        .collect()
}

/// The latest published date; `None` when nothing is published.
pub async fn latest_date(
    client: &impl GenericClient,
) -> Result<Option<NaiveDate>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(METRICS_LATEST_DATE).await?;
    client.query_one(&stmt, &[]).await?.try_get("latest")
}

/// The scores served on `date`: (model, score, rows with that score), by model then score.
pub async fn score_counts(
    client: &impl GenericClient,
    date: NaiveDate,
) -> Result<Vec<(Model, f64, i64)>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(DASHBOARD_SCORES).await?;
    client
        .query(&stmt, &[&date])
        .await?
        .iter()
        .map(|r| Ok((r.try_get("model")?, r.try_get("score")?, r.try_get("n")?)))
        .collect()
}

/// A finished run, as `/metrics` and `/dashboard` read it.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub task: String,
    pub date: NaiveDate,
    pub succeeded: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub bad_rows: Option<i64>,
    pub details: serde_json::Value,
    pub error: Option<String>,
}

/// The logs `filter_data` filters, whose row counts by outcome its run's details carry.
pub const FILTERED_LOGS: [&str; 2] = ["product_views", "ads_views"];

impl FinishedRun {
    fn from_row(r: &Row) -> Result<Self, tokio_postgres::Error> {
        Ok(Self {
            task: r.try_get("task")?,
            date: r.try_get("date")?,
            succeeded: r.try_get::<_, &str>("status")? == "succeeded",
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            rows_in: r.try_get("rows_in")?,
            rows_out: r.try_get("rows_out")?,
            bad_rows: r.try_get("bad_rows")?,
            details: r.try_get("details")?,
            error: r.try_get("error")?,
        })
    }

    pub fn seconds(&self) -> Option<f64> {
        let (s, f) = self.started_at.zip(self.finished_at)?;
        Some((f - s).num_milliseconds() as f64 / 1e3)
    }

    /// The filter's rows by log and outcome (`kept`, `inactive`, `malformed`, …): from
    /// `details.<log>.rows` of a filter_data run, `details.filter_data.details.<log>.rows` of a
    /// pipeline run; empty for other tasks.
    pub fn filter_rows(&self) -> Vec<(&'static str, String, i64)> {
        let details = match self.task.as_str() {
            "filter_data" => &self.details,
            "pipeline" => &self.details["filter_data"]["details"],
            _ => return Vec::new(),
        };
        let mut out = Vec::new();
        for log in FILTERED_LOGS {
            if let Some(rows) = details[log]["rows"].as_object() {
                for (outcome, n) in rows {
                    out.push((log, outcome.clone(), n.as_i64().unwrap_or(0)));
                }
            }
        }
        out
    }

    /// Seconds each stage took: the run's own duration for a stage, each stage's `seconds`
    /// for a pipeline.
    pub fn stage_seconds(&self) -> Vec<(String, f64)> {
        if self.task != "pipeline" {
            return self
                .seconds()
                .map(|s| (self.task.clone(), s))
                .into_iter()
                .collect();
        }
        self.details
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(stage, d)| Some((stage.clone(), d["seconds"].as_f64()?)))
            .collect()
    }
}

/// A task's last finished run and when a run of it last succeeded.
#[derive(Debug, Clone)]
pub struct TaskSummary {
    pub last: FinishedRun,
    pub last_success: Option<DateTime<Utc>>,
}

pub async fn task_summaries(
    client: &impl GenericClient,
) -> Result<Vec<TaskSummary>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(METRICS_JOB_RUNS).await?;
    client
        .query(&stmt, &[])
        .await?
        .iter()
        .map(|r| {
            Ok(TaskSummary {
                last: FinishedRun::from_row(r)?,
                last_success: r.try_get("last_success")?,
            })
        })
        .collect()
}

/// The last successful run of each task for each date from `from` on, oldest date first.
pub async fn daily_runs(
    client: &impl GenericClient,
    from: NaiveDate,
) -> Result<Vec<FinishedRun>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(DASHBOARD_DAILY_RUNS).await?;
    client
        .query(&stmt, &[&from])
        .await?
        .iter()
        .map(FinishedRun::from_row)
        .collect()
}

fn ratio(num: i64, den: i64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
