//! The read side: one function per read statement in `sql/statements/`, each a prepared (cached)
//! statement, so the hot path is one round trip with no parsing or planning.
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;

use super::Run;
use crate::domain::Model;

pub const RECOMMENDATIONS: &str = include_str!("../../sql/statements/recommendations.sql");
pub const HISTORY: &str = include_str!("../../sql/statements/history.sql");
pub const STATS_DATES: &str = include_str!("../../sql/statements/stats_dates.sql");
pub const STATS_AGREEMENT: &str = include_str!("../../sql/statements/stats_agreement.sql");
pub const STATS_CHANGES: &str = include_str!("../../sql/statements/stats_changes.sql");
pub const METRICS_JOB_RUNS: &str = include_str!("../../sql/statements/metrics_job_runs.sql");
pub const METRICS_LATEST_DATE: &str = include_str!("../../sql/statements/metrics_latest_date.sql");
pub const DASHBOARD_SCORES: &str = include_str!("../../sql/statements/dashboard_scores.sql");
pub const DASHBOARD_DAILY_RUNS: &str =
    include_str!("../../sql/statements/dashboard_daily_runs.sql");
pub const READY: &str = include_str!("../../sql/statements/ready.sql");

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

/// A task's last finished run and when a run of it last succeeded.
#[derive(Debug, Clone)]
pub struct TaskSummary {
    pub last: Run,
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
                last: Run::from_row(r)?,
                last_success: r.try_get("last_success")?,
            })
        })
        .collect()
}

/// The last successful run of each task for each date from `from` on, oldest date first.
pub async fn daily_runs(
    client: &impl GenericClient,
    from: NaiveDate,
) -> Result<Vec<Run>, tokio_postgres::Error> {
    let stmt = client.prepare_cached(DASHBOARD_DAILY_RUNS).await?;
    client
        .query(&stmt, &[&from])
        .await?
        .iter()
        .map(Run::from_row)
        .collect()
}

fn ratio(num: i64, den: i64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
