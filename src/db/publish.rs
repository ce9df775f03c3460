//! Publishing a date: the Postgres half of db_writing, in one transaction.
//!
//! Delete the date's old rows, binary COPY the new ones straight into the served table, and
//! prune past retention, in one transaction: readers see the previous answer until the commit,
//! then the new one; a failure anywhere leaves the served data as it was. The NOTIFY in the same
//! transaction tells every instance to drop its read cache once the commit is visible. (A
//! staging table, then `INSERT … SELECT … ORDER BY`, measured no faster on the bench day's
//! 40,000 rows: this is the shorter of the two.)
use chrono::NaiveDate;
use deadpool_postgres::Pool;
use futures::pin_mut;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::DbError;
use super::cache::CHANNEL;
use crate::domain::Model;

const COPY_TYPES: &str = include_str!("../../sql/statements/publish_copy_types.sql");
const COPY: &str = include_str!("../../sql/statements/publish_copy.sql");
const DELETE: &str = include_str!("../../sql/statements/publish_delete.sql");
const PRUNE: &str = include_str!("../../sql/statements/publish_prune.sql");
const PRUNE_PENDING: &str = include_str!("../../sql/statements/publish_prune_pending.sql");
const LATEST: &str = include_str!("../../sql/statements/publish_latest.sql");
const NOTIFY: &str = include_str!("../../sql/statements/publish_notify.sql");

/// The publication's statements, for the test that prepares every statement against a migrated
/// database.
pub const PUBLISH_SQL: [&str; 7] = [
    COPY_TYPES,
    COPY,
    DELETE,
    PRUNE,
    PRUNE_PENDING,
    NOTIFY,
    LATEST,
];

/// One row of the served `recommendations` table, but its date.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRow<'a> {
    pub advertiser_id: &'a str,
    pub model: Model,
    pub rank: i16,
    pub product_id: &'a str,
    pub score: f64,
    pub clicks: Option<i64>,
    pub impressions: Option<i64>,
    pub views: Option<i64>,
}

/// Which old dates a publication removes.
pub struct Retention {
    /// Dates more than this many days before the published one go.
    pub days: u32,
    /// At most this many dates per publication, the oldest first; `None`: no bound (forced).
    pub max_dates: Option<i64>,
}

/// What a publication changed.
#[derive(Debug)]
pub struct Published {
    pub copied: u64,
    pub replaced: u64,
    pub inserted: u64,
    pub pruned_rows: i64,
    pub pruned_dates: Vec<NaiveDate>,
    /// Dates past retention that the bound left for later publications.
    pub pending_dates: i64,
}

/// The latest published date, which a new one is judged against.
pub async fn latest(pool: &Pool) -> Result<Option<NaiveDate>, DbError> {
    let client = pool.get().await?;
    Ok(client.query_one(LATEST, &[]).await?.get(0))
}

/// Replaces `date`'s rows with `rows` and prunes past `retention`, atomically.
pub async fn publish(
    pool: &Pool,
    date: NaiveDate,
    rows: &[NewRow<'_>],
    retention: &Retention,
) -> Result<Published, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let replaced = tx.execute(DELETE, &[&date]).await?;
    let model_type = tx.prepare(COPY_TYPES).await?.columns()[0].type_().clone();
    let types = [
        Type::DATE,
        Type::TEXT,
        model_type,
        Type::INT2,
        Type::TEXT,
        Type::FLOAT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
    ];
    let writer = BinaryCopyInWriter::new(tx.copy_in(COPY).await?, &types);
    pin_mut!(writer);
    for r in rows {
        let row: [&(dyn ToSql + Sync); 9] = [
            &date,
            &r.advertiser_id,
            &r.model,
            &r.rank,
            &r.product_id,
            &r.score,
            &r.clicks,
            &r.impressions,
            &r.views,
        ];
        writer.as_mut().write(&row).await?;
    }
    let copied = writer.finish().await?;
    let days = retention.days as i32;
    let pruned = tx
        .query_one(PRUNE, &[&date, &days, &retention.max_dates])
        .await?;
    let pending_dates: i64 = tx.query_one(PRUNE_PENDING, &[&date, &days]).await?.get(0);
    tx.execute(NOTIFY, &[&CHANNEL, &date.to_string()]).await?;
    tx.commit().await?;
    Ok(Published {
        copied,
        replaced,
        inserted: copied,
        pruned_rows: pruned.get(0),
        pruned_dates: pruned.get(1),
        pending_dates,
    })
}
