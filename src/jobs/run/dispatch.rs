//! Which stages a task runs; `pipeline` runs the four in order, recording each as it goes.
use std::collections::BTreeMap;
use std::time::Instant;

use crate::db::runs;
use crate::domain::{RunDetails, StageReport, Task, TaskDetails};
use crate::jobs::stages::JobEnv;
use crate::jobs::stages::{self, RunCtx, StageResult};

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
    stages::run(env, task, run).await.map_err(|error| Failure {
        error,
        partial: StageResult::default(),
    })
}

/// The four stages in order, stopping at the first failure; top_ctr and top_product, which
/// both read filter_data's output and nothing of each other, run side by side (as the DAG
/// runs them). Each stage's result (or error) goes into the run's details as it is known, and
/// into its `job_runs` row at once, so the run shows its finished stages while it goes on.
async fn pipeline(env: &JobEnv, run: &RunCtx<'_>) -> Result<StageResult, Failure> {
    // Held while a stage's result is recorded and stored, so stores land in order.
    let total = tokio::sync::Mutex::new((StageResult::default(), BTreeMap::new()));
    let steps = Task::STAGES.len() as u32;
    let step = |stage: Task| {
        let total = &total;
        async move {
            let started = Instant::now();
            let r = Box::pin(stages::run(env, stage, run)).await;
            let mut total = total.lock().await;
            let (result, reports) = &mut *total;
            let outcome = record(result, reports, stage, r, started.elapsed().as_secs_f64());
            let details = RunDetails {
                task: Some(TaskDetails::Pipeline(reports.clone())),
                ..RunDetails::default()
            };
            if let Err(e) = runs::stage_details(&env.pool, run.id, &details).await {
                tracing::warn!(id = %run.id, %stage, error = %crate::telemetry::chain(&e),
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
    let (mut total, reports) = total.into_inner();
    total.details = Some(TaskDetails::Pipeline(reports));
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
    reports: &mut BTreeMap<Task, StageReport>,
    stage: Task,
    result: anyhow::Result<StageResult>,
    seconds: f64,
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
            let report = StageReport {
                rows_in: Some(r.rows_in),
                rows_out: Some(r.rows_out),
                bad_rows: Some(r.bad_rows),
                seconds,
                details: r.details,
                error: None,
            };
            reports.insert(stage, report);
            Ok(())
        }
        Err(e) => {
            let report = StageReport {
                seconds,
                error: Some(format!("{e:#}")),
                ..StageReport::default()
            };
            reports.insert(stage, report);
            Err(e.context(format!("stage {stage} failed")))
        }
    }
}
