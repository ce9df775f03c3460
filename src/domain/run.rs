//! What a run record says besides its numbers: its status, what started it, and its live
//! progress. Its `details` are in `details`.
use serde::{Deserialize, Serialize};

use super::Task;

/// A run's state; the `job_runs.status` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

    pub fn parse(s: &str) -> Option<Self> {
        [RunStatus::Running, RunStatus::Succeeded, RunStatus::Failed]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// What started a run; the `job_runs.trigger` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// `POST /jobs/{task}` (or `DELETE /jobs/dates/{date}`).
    Http,
    /// `adrec run`.
    Cli,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Cli => "cli",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Trigger::Http, Trigger::Cli]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// What a run reports while it runs (each part only when known).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressReport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<Task>,
    /// 1-based position of `stage` among the run's `steps` (4 for `pipeline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_scanned: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_total: Option<u64>,
    /// Rows the scans have produced so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}
