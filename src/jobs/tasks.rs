//! Which stage a task runs; `pipeline` runs the four in order, recording each as it goes.
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::{JobEnv, Progress, StageResult, db_writing, filter_data, top_ctr, top_product};
use crate::domain::Task;

/// The run a stage works for: its id names the files it writes, and its progress is reported.
pub struct RunCtx<'a> {
    pub id: Uuid,
    pub date: NaiveDate,
    pub progress: &'a Progress,
    /// Publish even a date far from the latest one, and prune past the per-run bound.
    pub force: bool,
}

/// The stages of `pipeline`, in order.
pub const STAGES: [Task; 4] = [
    Task::FilterData,
    Task::TopCtr,
    Task::TopProduct,
    Task::DbWriting,
];

/// A failed run: why, and what its stages did before (a pipeline's earlier stages).
pub struct Failure {
    pub error: anyhow::Error,
    pub partial: StageResult,
}

/// Runs one task for one date.
pub async fn run_task(env: &JobEnv, task: Task, run: &RunCtx<'_>) -> Result<StageResult, Failure> {
    if task == Task::Pipeline {
        return pipeline(env, run).await;
    }
    run.progress.stage(task, 1, 1);
    run_stage(env, task, run).await.map_err(|error| Failure {
        error,
        partial: StageResult::default(),
    })
}

async fn run_stage(env: &JobEnv, task: Task, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    match task {
        Task::FilterData => filter_data::run(env, run).await,
        Task::TopCtr => top_ctr::run(env, run).await,
        Task::TopProduct => top_product::run(env, run).await,
        Task::DbWriting => db_writing::run(env, run).await,
        Task::Pipeline => unreachable!("pipeline is not a stage"),
    }
}

/// The four stages in order, stopping at the first failure. Each stage's result (or error)
/// goes into the run's details as soon as it is known.
async fn pipeline(env: &JobEnv, run: &RunCtx<'_>) -> Result<StageResult, Failure> {
    let mut total = StageResult {
        details: json!({}),
        ..StageResult::default()
    };
    for (i, stage) in STAGES.into_iter().enumerate() {
        run.progress.stage(stage, i as u32 + 1, STAGES.len() as u32);
        let started = Instant::now();
        match Box::pin(run_stage(env, stage, run)).await {
            Ok(r) => {
                if stage == Task::FilterData {
                    total.rows_in = r.rows_in;
                    total.bad_rows = r.bad_rows;
                }
                if stage == Task::DbWriting {
                    total.rows_out = r.rows_out;
                }
                total.details[stage.as_str()] = json!({
                    "rows_in": r.rows_in, "rows_out": r.rows_out, "bad_rows": r.bad_rows,
                    "seconds": started.elapsed().as_secs_f64(), "details": r.details,
                });
            }
            Err(e) => {
                total.details[stage.as_str()] = json!({
                    "seconds": started.elapsed().as_secs_f64(), "error": format!("{e:#}"),
                });
                return Err(Failure {
                    error: e.context(format!("stage {stage} failed")),
                    partial: total,
                });
            }
        }
    }
    Ok(total)
}
