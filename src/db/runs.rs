//! The `job_runs` table: the [`Run`] record, and one function per statement in
//! `sql/statements/job_runs_*.sql`.
use chrono::{DateTime, NaiveDate, Utc};
use deadpool_postgres::{GenericClient, Pool};
use serde::Serialize;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::DbError;
use crate::domain::{ProgressReport, RunDetails, RunStatus, Task, Trigger};

const INSERT: &str = include_str!("../../sql/statements/job_runs_insert.sql");
const FINISH: &str = include_str!("../../sql/statements/job_runs_finish.sql");
const GET: &str = include_str!("../../sql/statements/job_runs_get.sql");
const RUNNING: &str = include_str!("../../sql/statements/job_runs_running.sql");
const LIST: &str = include_str!("../../sql/statements/job_runs_list.sql");
const LAST: &str = include_str!("../../sql/statements/job_runs_last.sql");
const FAIL_ORPHANS: &str = include_str!("../../sql/statements/job_runs_fail_orphans.sql");
const HEARTBEAT: &str = include_str!("../../sql/statements/job_runs_heartbeat.sql");
const STAGE: &str = include_str!("../../sql/statements/job_runs_stage.sql");
const SWEPT: &str = include_str!("../../sql/statements/job_runs_swept.sql");
const UNSWEPT: &str = include_str!("../../sql/statements/job_runs_unswept.sql");

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

/// One row of `job_runs`, as served by `GET /jobs/runs/{id}`.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    pub id: Uuid,
    pub task: Task,
    pub date: NaiveDate,
    pub status: RunStatus,
    pub trigger: Trigger,
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
    pub details: RunDetails,
    pub error: Option<String>,
    /// While running: the stage under way and bytes scanned (see `jobs::run::progress`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<ProgressReport>,
}

impl Run {
    pub fn is_finished(&self) -> bool {
        self.status != RunStatus::Running
    }

    pub fn seconds(&self) -> Option<f64> {
        self.duration_ms.map(|ms| ms as f64 / 1e3)
    }

    /// Seconds each stage took: the run's own duration for a stage, each stage's `seconds`
    /// for a pipeline.
    pub fn stage_seconds(&self) -> Vec<(Task, f64)> {
        match self.details.stages() {
            Some(stages) => stages.iter().map(|(t, r)| (*t, r.seconds)).collect(),
            None => self.seconds().map(|s| (self.task, s)).into_iter().collect(),
        }
    }

    /// Reads the full column list (`SELECT` of every statement here and of `reads`' run queries).
    pub(super) fn from_row(row: &Row) -> Result<Self, tokio_postgres::Error> {
        let started_at: Option<DateTime<Utc>> = row.try_get("started_at")?;
        let finished_at: Option<DateTime<Utc>> = row.try_get("finished_at")?;
        let status = RunStatus::parse(row.try_get("status")?).unwrap_or(RunStatus::Failed);
        // Tasks and triggers are written by this code only; an unknown one (a newer version's,
        // during a rolling deploy) reads as the nearest meaning rather than failing the page.
        let task: Task = row
            .try_get::<_, &str>("task")?
            .parse()
            .unwrap_or(Task::Pipeline);
        let trigger = Trigger::parse(row.try_get("trigger")?).unwrap_or(Trigger::Http);
        let details: serde_json::Value = row.try_get("details")?;
        let progress: Option<serde_json::Value> = row.try_get("progress")?;
        Ok(Self {
            id: row.try_get("id")?,
            task,
            date: row.try_get("date")?,
            status,
            trigger,
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
            details: RunDetails::from_value(task, &details),
            error: row.try_get("error")?,
            progress: progress
                .filter(|_| status == RunStatus::Running)
                .and_then(|p| serde_json::from_value(p).ok()),
        })
    }
}

/// The run a new one conflicts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunningRun {
    pub id: Uuid,
    pub task: Task,
}

/// What `insert` did.
pub enum Started {
    Run(Box<Run>),
    /// A conflicting run is under way: the same task and date (the index
    /// `job_runs_one_running`), or for the same date `pipeline` and a single stage (the trigger
    /// `job_runs_date_exclusive`: V4's raised exclusion_violation, V6's unique_violation). `None` when it finished between the refused insert and
    /// the look-up for it.
    Conflict(Option<RunningRun>),
}

/// Starts a run, unless a run it conflicts with is under way.
pub async fn insert(
    pool: &Pool,
    task: Task,
    date: NaiveDate,
    trigger: Trigger,
    force: bool,
) -> Result<Started, DbError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(INSERT).await?;
    let args: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &Uuid::new_v4(),
        &task.as_str(),
        &date,
        &trigger.as_str(),
        &force,
    ];
    match client.query_one(&stmt, &args).await {
        Ok(row) => Ok(Started::Run(Box::new(Run::from_row(&row)?))),
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
            Ok(Started::Conflict(running))
        }
        Err(e) => Err(e.into()),
    }
}

/// What a finished run did, to record.
pub struct Outcome<'a> {
    pub rows_in: i64,
    pub rows_out: i64,
    pub bad_rows: i64,
    pub details: &'a RunDetails,
    /// Why it failed; `None` if it succeeded.
    pub error: Option<&'a str>,
}

/// Records a finished run: what its stages did (a failed pipeline keeps the stages that ran)
/// and, when it failed, why.
pub async fn finish(pool: &Pool, id: Uuid, o: Outcome<'_>) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(FINISH).await?;
    let status = match o.error {
        None => RunStatus::Succeeded,
        Some(_) => RunStatus::Failed,
    };
    let details = json(o.details);
    client
        .execute(
            &stmt,
            &[
                &id,
                &status.as_str(),
                &o.rows_in,
                &o.rows_out,
                &o.bad_rows,
                &details,
                &o.error,
            ],
        )
        .await?;
    Ok(())
}

pub async fn get(client: &impl GenericClient, id: Uuid) -> Result<Option<Run>, DbError> {
    let stmt = client.prepare_cached(GET).await?;
    let row = client.query_opt(&stmt, &[&id]).await?;
    Ok(row.as_ref().map(Run::from_row).transpose()?)
}

pub async fn list(
    client: &impl GenericClient,
    task: Option<Task>,
    date: Option<NaiveDate>,
    limit: i64,
) -> Result<Vec<Run>, DbError> {
    let stmt = client.prepare_cached(LIST).await?;
    let task = task.map(Task::as_str);
    let rows = client.query(&stmt, &[&task, &date, &limit]).await?;
    Ok(rows.iter().map(Run::from_row).collect::<Result<_, _>>()?)
}

/// The most recent run of each task.
pub async fn last_per_task(client: &impl GenericClient) -> Result<Vec<Run>, DbError> {
    let stmt = client.prepare_cached(LAST).await?;
    let rows = client.query(&stmt, &[]).await?;
    Ok(rows.iter().map(Run::from_row).collect::<Result<_, _>>()?)
}

/// A run marked failed because its process stopped: what the sweeper needs to find its files.
#[derive(Clone, Debug)]
pub struct Orphan {
    pub id: Uuid,
    pub task: Task,
    pub date: NaiveDate,
}

impl Orphan {
    fn from_row(r: &Row) -> Self {
        Self {
            id: r.get("id"),
            task: r.get::<_, &str>("task").parse().unwrap_or(Task::Pipeline),
            date: r.get("date"),
        }
    }
}

/// Marks running runs failed: the given ones (at shutdown), or with `None` every run whose
/// process stopped beating for `STALE_AFTER` (it died).
pub async fn fail_orphans(pool: &Pool, ids: Option<&[Uuid]>) -> Result<Vec<Orphan>, DbError> {
    let client = pool.get().await?;
    let ids = ids.map(<[Uuid]>::to_vec);
    let stale = STALE_AFTER.as_secs() as i32;
    let rows = client.query(FAIL_ORPHANS, &[&ids, &stale]).await?;
    Ok(rows.iter().map(Orphan::from_row).collect())
}

/// Interrupted runs failed at least `STALE_AFTER` ago whose files were never swept (a shutdown
/// marks its runs failed while their work may still be writing; a sweep may have failed).
pub async fn unswept(pool: &Pool) -> Result<Vec<Orphan>, DbError> {
    let client = pool.get().await?;
    let stale = STALE_AFTER.as_secs() as i32;
    let rows = client.query(UNSWEPT, &[&stale]).await?;
    Ok(rows.iter().map(Orphan::from_row).collect())
}

/// Records how many files of an orphan run the sweeper deleted.
pub async fn swept(pool: &Pool, id: Uuid, files: usize) -> Result<(), DbError> {
    let client = pool.get().await?;
    let files = i32::try_from(files).unwrap_or(i32::MAX);
    client.execute(SWEPT, &[&id, &files]).await?;
    Ok(())
}

/// A running pipeline's stage results so far, shown by the run while it goes on.
pub async fn stage_details(pool: &Pool, id: Uuid, details: &RunDetails) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(STAGE).await?;
    client.execute(&stmt, &[&id, &json(details)]).await?;
    Ok(())
}

pub async fn heartbeat(pool: &Pool, id: Uuid, progress: &ProgressReport) -> Result<(), DbError> {
    let client = pool.get().await?;
    let stmt = client.prepare_cached(HEARTBEAT).await?;
    client.execute(&stmt, &[&id, &json(progress)]).await?;
    Ok(())
}

/// Our own records as JSON: their maps have string keys, so this cannot fail.
fn json(v: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(v).expect("a run record serializes")
}
