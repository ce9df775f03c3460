//! The `job_runs` table: one function per statement in `sql/queries/job_runs_*.sql`.
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde::Serialize;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::error::{JobError, RunningRun};
use super::{ProgressReport, StageResult};
use crate::domain::Task;

const INSERT: &str = include_str!("../../sql/queries/job_runs_insert.sql");
const FINISH: &str = include_str!("../../sql/queries/job_runs_finish.sql");
const GET: &str = include_str!("../../sql/queries/job_runs_get.sql");
const RUNNING: &str = include_str!("../../sql/queries/job_runs_running.sql");
const LIST: &str = include_str!("../../sql/queries/job_runs_list.sql");
const LAST: &str = include_str!("../../sql/queries/job_runs_last.sql");
const FAIL_ORPHANS: &str = include_str!("../../sql/queries/job_runs_fail_orphans.sql");
const HEARTBEAT: &str = include_str!("../../sql/queries/job_runs_heartbeat.sql");
const STAGE: &str = include_str!("../../sql/queries/job_runs_stage.sql");
const SWEPT: &str = include_str!("../../sql/queries/job_runs_swept.sql");
const UNSWEPT: &str = include_str!("../../sql/queries/job_runs_unswept.sql");

/// Every statement above, for the test that prepares them all against a migrated database.
pub const ALL_SQL: [&str; 11] = [
    INSERT,
    FINISH,
    GET,
    RUNNING,
    LIST,
    LAST,
    FAIL_ORPHANS,
    HEARTBEAT,
    STAGE,
    SWEPT,
    UNSWEPT,
];

/// A running run's process beats this often; a run silent for `STALE_AFTER` is taken as dead.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
pub const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub id: Uuid,
    pub task: String,
    pub date: NaiveDate,
    pub status: RunStatus,
    /// `http` or `cli`.
    pub trigger: String,
    /// Triggered with force: db_writing may publish a date far from the latest and prune past
    /// the per-run bound.
    pub force: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub rows_in: Option<i64>,
    pub rows_out: Option<i64>,
    pub bad_rows: Option<i64>,
    pub details: serde_json::Value,
    pub error: Option<String>,
    /// While running: the stage under way and bytes scanned (see `progress`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressReport>,
}

/// A run's state; the `job_runs.status` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

impl Run {
    pub fn is_finished(&self) -> bool {
        self.status != RunStatus::Running
    }

    fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        let id: Uuid = row.try_get("id")?;
        let started_at: Option<DateTime<Utc>> = row.try_get("started_at")?;
        let finished_at: Option<DateTime<Utc>> = row.try_get("finished_at")?;
        let status: &str = row.try_get("status")?;
        let status = RunStatus::parse(status).unwrap_or(RunStatus::Failed);
        let progress: Option<serde_json::Value> = row.try_get("progress")?;
        Ok(Self {
            id,
            task: row.try_get("task")?,
            date: row.try_get("date")?,
            status,
            trigger: row.try_get("trigger")?,
            force: row.try_get("force")?,
            created_at: row.try_get("created_at")?,
            started_at,
            finished_at,
            duration_ms: started_at
                .zip(finished_at)
                .map(|(s, f)| (f - s).num_milliseconds()),
            rows_in: row.try_get("rows_in")?,
            rows_out: row.try_get("rows_out")?,
            bad_rows: row.try_get("bad_rows")?,
            details: row.try_get("details")?,
            error: row.try_get("error")?,
            progress: progress
                .filter(|_| status == RunStatus::Running)
                .and_then(|p| serde_json::from_value(p).ok()),
        })
    }
}

/// Starts a run, or fails with a conflict naming the run under way that it conflicts with: one
/// of the same task and date (the index `job_runs_one_running`), or for the same date `pipeline`
/// and a single stage (the trigger `job_runs_date_exclusive`, V4).
pub async fn insert(
    pool: &Pool,
    task: Task,
    date: NaiveDate,
    trigger: &str,
    force: bool,
) -> Result<Run, JobError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(INSERT).await?;
    match client
        .query_one(
            &stmt,
            &[&Uuid::new_v4(), &task.as_str(), &date, &trigger, &force],
        )
        .await
    {
        Ok(row) => Ok(Run::from_row(&row)?),
        Err(e)
            if [SqlState::UNIQUE_VIOLATION, SqlState::EXCLUSION_VIOLATION]
                .iter()
                .any(|c| e.code() == Some(c)) =>
        {
            let stmt = client.prepare_cached(RUNNING).await?;
            let running = client
                .query_opt(&stmt, &[&task.as_str(), &date])
                .await?
                .map(|r| RunningRun {
                    id: r.get(0),
                    task: r.get::<_, &str>(1).parse().unwrap_or(task),
                });
            Err(JobError::Conflict {
                task,
                date,
                running,
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// Records a finished run: what its stages did (a failed pipeline keeps the stages that ran)
/// and, when it failed, why.
pub async fn finish(
    pool: &Pool,
    id: Uuid,
    result: &StageResult,
    error: Option<&str>,
) -> Result<(), JobError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(FINISH).await?;
    let status = match error {
        None => RunStatus::Succeeded,
        Some(_) => RunStatus::Failed,
    };
    client
        .execute(
            &stmt,
            &[
                &id,
                &status.as_str(),
                &result.rows_in,
                &result.rows_out,
                &result.bad_rows,
                &result.details,
                &error,
            ],
        )
        .await?;
    Ok(())
}

pub async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<Run>, JobError> {
    let stmt = client.prepare_cached(GET).await?;
    Ok(client
        .query_opt(&stmt, &[&id])
        .await?
        .as_ref()
        .map(Run::from_row)
        .transpose()?)
}

pub async fn list(
    client: &impl GenericClient,
    task: Option<Task>,
    date: Option<NaiveDate>,
    limit: i64,
) -> Result<Vec<Run>, JobError> {
    let stmt = client.prepare_cached(LIST).await?;
    let task = task.map(Task::as_str);
    let rows = client.query(&stmt, &[&task, &date, &limit]).await?;
    Ok(rows.iter().map(Run::from_row).collect::<Result<_, _>>()?)
}

pub async fn last_per_task(client: &impl GenericClient) -> Result<Vec<Run>, JobError> {
    let stmt = client.prepare_cached(LAST).await?;
    let rows = client.query(&stmt, &[]).await?;
    Ok(rows.iter().map(Run::from_row).collect::<Result<_, _>>()?)
}

/// A run marked failed because its process stopped: what the sweeper needs to find its files.
#[derive(Clone, Debug)]
pub struct Orphan {
    pub id: Uuid,
    pub task: String,
    pub date: NaiveDate,
}

/// Marks running runs failed: the given ones (at shutdown), or with `None` every run whose
/// process stopped beating for `STALE_AFTER` (it died).
pub async fn fail_orphans(pool: &Pool, ids: Option<&[Uuid]>) -> Result<Vec<Orphan>, JobError> {
    let client = pool.get().await?;
    let ids = ids.map(<[Uuid]>::to_vec);
    let stale = STALE_AFTER.as_secs() as i32;
    let rows = client.query(FAIL_ORPHANS, &[&ids, &stale]).await?;
    Ok(rows.iter().map(Orphan::from_row).collect())
}

impl Orphan {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            task: r.get("task"),
            date: r.get("date"),
        }
    }
}

/// Interrupted runs failed at least `STALE_AFTER` ago whose files were never swept (a shutdown
/// marks its runs failed while their work may still be writing; a sweep may have failed).
pub async fn unswept(pool: &Pool) -> Result<Vec<Orphan>, JobError> {
    let client = pool.get().await?;
    let stale = STALE_AFTER.as_secs() as i32;
    let rows = client.query(UNSWEPT, &[&stale]).await?;
    Ok(rows.iter().map(Orphan::from_row).collect())
}

/// Records how many files of an orphan run the sweeper deleted.
pub async fn swept(pool: &Pool, id: Uuid, files: usize) -> Result<(), JobError> {
    let client = pool.get().await?;
    let files = i32::try_from(files).unwrap_or(i32::MAX);
    client.execute(SWEPT, &[&id, &files]).await?;
    Ok(())
}

/// A running pipeline's stage results so far, shown by the run while it goes on.
pub async fn stage_details(
    pool: &Pool,
    id: Uuid,
    details: &serde_json::Value,
) -> Result<(), JobError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(STAGE).await?;
    client.execute(&stmt, &[&id, details]).await?;
    Ok(())
}

pub async fn heartbeat(pool: &Pool, id: Uuid, progress: &ProgressReport) -> Result<(), JobError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(HEARTBEAT).await?;
    let progress = serde_json::to_value(progress).map_err(anyhow::Error::from)?;
    client.execute(&stmt, &[&id, &progress]).await?;
    Ok(())
}
