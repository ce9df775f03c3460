//! Which stage a task runs; `pipeline` runs the four in order, recording each as it goes.
use std::time::Instant;

use chrono::NaiveDate;
use serde_json::json;
use uuid::Uuid;

use super::{JobEnv, Progress, StageResult, db_writing, filter_data, runs, top_ctr, top_product};
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

/// The four stages in order, stopping at the first failure; top_ctr and top_product, which
/// both read filter_data's output and nothing of each other, run side by side (as the DAG
/// runs them). Each stage's result (or error) goes into the run's details as it is known, and
/// into its `job_runs` row at once, so the run shows its finished stages while it goes on.
async fn pipeline(env: &JobEnv, run: &RunCtx<'_>) -> Result<StageResult, Failure> {
    // Held while a stage's result is recorded and stored, so stores land in order.
    let total = tokio::sync::Mutex::new(StageResult {
        details: json!({}),
        ..StageResult::default()
    });
    let steps = STAGES.len() as u32;
    let step = |stage: Task| {
        let total = &total;
        async move {
            let started = Instant::now();
            let r = Box::pin(run_stage(env, stage, run)).await;
            let mut total = total.lock().await;
            let outcome = record(&mut total, (stage, r, started.elapsed().as_secs_f64()));
            if let Err(e) = runs::stage_details(&env.pool, run.id, &total.details).await {
                tracing::warn!(id = %run.id, %stage, error = %crate::error::chain(&e),
                    "could not store the stage's result");
            }
            outcome
        }
    };
    let outcome = async {
        run.progress.stage(Task::FilterData, 1, steps);
        step(Task::FilterData).await?;
        run.progress.stage(Task::TopCtr, 2, steps);
        let (ctr, product) = tokio::join!(step(Task::TopCtr), step(Task::TopProduct));
        ctr.and(product)?;
        run.progress.stage(Task::DbWriting, 4, steps);
        step(Task::DbWriting).await
    }
    .await;
    let total = total.into_inner();
    match outcome {
        Ok(()) => Ok(total),
        Err(error) => Err(Failure {
            error,
            partial: total,
        }),
    }
}

/// Adds a stage's outcome to the pipeline's; returns its error, naming the stage.
fn record(
    total: &mut StageResult,
    (stage, result, seconds): (Task, anyhow::Result<StageResult>, f64),
) -> anyhow::Result<()> {
    match result {
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
                "seconds": seconds, "details": r.details,
            });
            Ok(())
        }
        Err(e) => {
            total.details[stage.as_str()] =
                json!({ "seconds": seconds, "error": format!("{e:#}") });
            Err(e.context(format!("stage {stage} failed")))
        }
    }
}
