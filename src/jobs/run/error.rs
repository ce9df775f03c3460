//! Why a call into the jobs failed, in the jobs' own terms. Nothing here knows HTTP:
//! `routes::error::AppError` maps a `JobError` at the edge (a conflict: 409 with the running run's
//! `Location`; the database unavailable or late: 503; anything else: 500).
use chrono::NaiveDate;

use crate::db::{DbError, RunningRun};
use crate::domain::Task;

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A run that conflicts with this one is under way: the same task for the same date, or
    /// `pipeline` and a single stage for the same date (they would delete each other's output).
    /// `running` is `None` when that run finished between the refused insert and the look-up.
    #[error("{}", conflict_message(*.task, *.date, *.running))]
    Conflict {
        task: Task,
        date: NaiveDate,
        running: Option<RunningRun>,
    },
    /// A date cannot be unpublished while `running` (db_writing or pipeline) would publish it.
    #[error(
        "{} for {date} is running as run {} and would publish the date again: \
         wait for it to finish, then delete the date", .running.task, .running.id
    )]
    Publishing {
        date: NaiveDate,
        running: RunningRun,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A conflict's message (the 409's).
fn conflict_message(task: Task, date: NaiveDate, running: Option<RunningRun>) -> String {
    match running {
        Some(r) if r.task == task => {
            format!("{task} for {date} is already running as run {}", r.id)
        }
        Some(r) => format!(
            "{task} for {date} cannot start while {} for {date} is running as run {} \
             (a pipeline and a single stage of the same date would delete each other's output)",
            r.task, r.id
        ),
        None => format!("{task} for {date} is already running as run (just finished)"),
    }
}
