//! The read side: one function per statement in `sql/queries/`, each a prepared (cached)
//! statement, so the hot path is one round trip with no parsing or planning.
use chrono::NaiveDate;
use deadpool_postgres::GenericClient;
use serde::Serialize;
use tokio_postgres::Row;

use crate::domain::Model;

pub const RECOMMENDATIONS: &str = include_str!("../../sql/queries/recommendations.sql");
pub const HISTORY: &str = include_str!("../../sql/queries/history.sql");
pub const STATS_DATES: &str = include_str!("../../sql/queries/stats_dates.sql");
pub const STATS_AGREEMENT: &str = include_str!("../../sql/queries/stats_agreement.sql");
pub const STATS_CHANGES: &str = include_str!("../../sql/queries/stats_changes.sql");

/// Every read statement, for the test that prepares them all against a migrated database.
pub const ALL_SQL: [&str; 5] = [
    RECOMMENDATIONS,
    HISTORY,
    STATS_DATES,
    STATS_AGREEMENT,
    STATS_CHANGES,
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

fn ratio(num: i64, den: i64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}
