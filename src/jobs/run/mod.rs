//! Running runs: the [`JobRunner`] starts them in the background, records them in `job_runs`,
//! beats their heartbeat, answers long polls and fails the runs of dead processes;
//! `dispatch` maps a task to its stages; `error` is the jobs' error type.
mod dispatch;
mod error;
mod runner;

pub use error::JobError;
pub use runner::JobRunner;
