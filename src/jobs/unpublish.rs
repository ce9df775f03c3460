//! Undoing a wrong publication: one date's served rows deleted in one transaction, recorded as a
//! finished run of task `unpublish` and announced like a publication (the `publish_notify.sql` NOTIFY,
//! delivered on commit), so every instance drops its read cache and the date is no longer served.
use chrono::NaiveDate;
use deadpool_postgres::Pool;
use serde_json::json;
use uuid::Uuid;

use super::error::{JobError, RunningRun};
use super::runs::{self, Run};
use crate::db::cache::CHANNEL;
use crate::domain::Task;

const RUNNING: &str = include_str!("../../sql/queries/unpublish_running.sql");
const DELETE: &str = include_str!("../../sql/queries/unpublish_delete.sql");
const RECORD: &str = include_str!("../../sql/queries/unpublish_record.sql");
const LATEST: &str = include_str!("../../sql/queries/publish_latest.sql");
const NOTIFY: &str = include_str!("../../sql/queries/publish_notify.sql");

/// The statements of its own, for the test that prepares every statement.
pub const UNPUBLISH_SQL: [&str; 3] = [RUNNING, DELETE, RECORD];

/// Deletes `date`'s recommendations; the run recording it, or `None` if the date had none (then
/// nothing changes). 409 while a `db_writing` or `pipeline` run for the date is running.
pub async fn unpublish(pool: &Pool, date: NaiveDate) -> Result<Option<Run>, JobError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    if let Some(row) = tx.query_opt(RUNNING, &[&date]).await? {
        let (id, task): (Uuid, String) = (row.get("id"), row.get("task"));
        let task: Task = task.parse().map_err(anyhow::Error::from)?;
        return Err(JobError::Publishing {
            date,
            running: RunningRun { id, task },
        });
    }
    let latest_before: Option<NaiveDate> = tx.query_one(LATEST, &[]).await?.get(0);
    let gone = tx.query_one(DELETE, &[&date]).await?;
    let rows: i64 = gone.get("rows");
    if rows == 0 {
        return Ok(None);
    }
    let latest_after: Option<NaiveDate> = tx.query_one(LATEST, &[]).await?.get(0);
    let details = json!({
        "deleted_rows": rows,
        "advertisers": gone.get::<_, i64>("advertisers"),
        "by_model": {
            "top_ctr": gone.get::<_, i64>("top_ctr"),
            "top_product": gone.get::<_, i64>("top_product"),
        },
        "latest_before": latest_before,
        "latest_after": latest_after,
    });
    let id = Uuid::new_v4();
    tx.execute(RECORD, &[&id, &date, &rows, &details]).await?;
    tx.execute(NOTIFY, &[&CHANNEL, &date.to_string()]).await?;
    let run = runs::get(&tx, id).await?;
    tx.commit().await?;
    tracing::warn!(%date, rows, %id, "unpublished a date");
    Ok(run)
}
