//! Undoing a wrong publication: one date's served rows deleted in one transaction, recorded as a
//! finished run of task `unpublish` and announced like a publication (`publish_notify.sql`,
//! delivered on commit), so every instance drops its read cache and the date is no longer served.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::DbError;
use super::cache::CHANNEL;
use super::runs::{self, Run, RunningRun};
use crate::domain::{Model, RunDetails, TaskDetails, UnpublishDetails};

const RUNNING: &str = include_str!("../../sql/statements/unpublish_running.sql");
const DELETE: &str = include_str!("../../sql/statements/unpublish_delete.sql");
const RECORD: &str = include_str!("../../sql/statements/unpublish_record.sql");
const LATEST: &str = include_str!("../../sql/statements/publish_latest.sql");
const NOTIFY: &str = include_str!("../../sql/statements/publish_notify.sql");

/// The statements of its own, for the test that prepares every statement.
pub const UNPUBLISH_SQL: [&str; 3] = [RUNNING, DELETE, RECORD];

/// What `unpublish` did.
pub enum Unpublished {
    /// The date's rows are gone; the run recording it.
    Deleted(Box<Run>),
    /// The date had no rows: nothing changed.
    NotPublished,
    /// A run that would publish the date again (db_writing or pipeline) is under way: nothing
    /// changed.
    Publishing(RunningRun),
}

/// Deletes `date`'s recommendations, unless a run is about to publish it again.
pub async fn unpublish(pool: &Pool, date: NaiveDate) -> Result<Unpublished, DbError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(row) = tx.query_opt(RUNNING, &[&date]).await? {
        let (id, task): (Uuid, &str) = (row.get("id"), row.get("task"));
        let task = task.parse().unwrap_or(crate::domain::Task::Pipeline);
        return Ok(Unpublished::Publishing(RunningRun { id, task }));
    }
    let latest_before: Option<NaiveDate> = tx.query_one(LATEST, &[]).await?.get(0);
    let gone = tx.query_one(DELETE, &[&date]).await?;
    let rows: i64 = gone.get("rows");
    if rows == 0 {
        return Ok(Unpublished::NotPublished);
    }
    let latest_after: Option<NaiveDate> = tx.query_one(LATEST, &[]).await?.get(0);
    let details = RunDetails {
        task: Some(TaskDetails::Unpublish(UnpublishDetails {
            deleted_rows: rows,
            advertisers: gone.get("advertisers"),
            by_model: BTreeMap::from([
                (Model::TopCtr, gone.get("top_ctr")),
                (Model::TopProduct, gone.get("top_product")),
            ]),
            latest_before,
            latest_after,
        })),
        ..RunDetails::default()
    };
    let id = Uuid::new_v4();
    let details = serde_json::to_value(&details).expect("a run record serializes");
    tx.execute(RECORD, &[&id, &date, &rows, &details]).await?;
    tx.execute(NOTIFY, &[&CHANNEL, &date.to_string()]).await?;
    let run = runs::get(&tx, id).await?;
    tx.commit().await?;
    tracing::warn!(%date, rows, %id, "unpublished a date");
    Ok(Unpublished::Deleted(Box::new(
        run.expect("the run this transaction inserted"),
    )))
}
