//! The nightly pipeline: one module per stage, each a DataFusion SQL query from `queries/` run
//! over object storage, and the runner that records every run in `job_runs`.
//!
//! A run is started by `POST /jobs/{task}` or `adrec run`, executes in the background on this
//! process, and is waited for by long polls. Stages are idempotent per date: outputs are keyed by
//! date and published by a manifest written last (see `output`).
pub mod aws;
mod db_writing;
mod filter_data;
mod inputs;
mod model_stage;
pub mod output;
mod runs;
pub mod session;
pub mod storage;
mod top_ctr;
mod top_product;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use deadpool_postgres::Pool;
use futures::FutureExt;
use serde_json::json;
use tokio::sync::Notify;
use uuid::Uuid;

pub use db_writing::PUBLISH_SQL;
pub use runs::{ALL_SQL as RUNS_SQL, Outcome, Run};
pub use storage::Storage;

use anyhow::Context;

use crate::config::{DbConfig, StorageConfig};
use crate::domain::Task;
use crate::error::AppError;

/// What every stage needs.
pub struct JobEnv {
    pub pool: Pool,
    pub storage: Storage,
    pub retention_days: u32,
}

impl JobEnv {
    /// Opens the pool, migrates the database and sets up storage: what `serve` and `run` share.
    pub async fn connect(db: &DbConfig, storage: &StorageConfig) -> anyhow::Result<Self> {
        let pool = crate::db::pool(db)?;
        let applied = crate::db::migrate(&pool)
            .await
            .context("migrating the database")?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
        Ok(Self {
            pool,
            storage: Storage::from_config(storage).await?,
            retention_days: storage.retention_days,
        })
    }
}

/// What a stage reports: rows read, rows written, rows skipped as bad, and details for the run.
#[derive(Debug, Default)]
pub struct StageResult {
    pub rows_in: i64,
    pub rows_out: i64,
    pub bad_rows: i64,
    pub details: serde_json::Value,
}

/// No stage may run longer than this; Airflow retries a failed one.
const JOB_TIMEOUT: Duration = Duration::from_secs(3600);

pub struct JobRunner {
    env: Arc<JobEnv>,
    /// Woken whenever a run of this process finishes, so long polls answer at once.
    finished: Notify,
    /// Runs executing in this process, failed on shutdown so none is left `running`.
    in_flight: Mutex<HashSet<Uuid>>,
    pub metrics: JobMetrics,
}

impl JobRunner {
    pub fn new(env: JobEnv) -> Self {
        Self {
            env: Arc::new(env),
            finished: Notify::new(),
            in_flight: Mutex::default(),
            metrics: JobMetrics::default(),
        }
    }

    /// Records a new run and starts it in the background. 409 if the same task and date runs.
    pub async fn start(
        self: &Arc<Self>,
        task: Task,
        date: NaiveDate,
        trigger: &str,
    ) -> Result<Run, AppError> {
        let run = runs::insert(&self.env.pool, task, date, trigger).await?;
        self.in_flight.lock().expect("poisoned").insert(run.id);
        let this = self.clone();
        let id = run.id;
        tokio::spawn(async move { this.execute(id, task, date).await });
        Ok(run)
    }

    async fn execute(&self, id: Uuid, task: Task, date: NaiveDate) {
        let started = Instant::now();
        tracing::info!(%id, %task, %date, "run started");
        let work = std::panic::AssertUnwindSafe(run_task(&self.env, task, date)).catch_unwind();
        let work = async {
            match tokio::time::timeout(JOB_TIMEOUT, work).await {
                Ok(Ok(Ok(r))) => Outcome {
                    succeeded: true,
                    rows_in: r.rows_in,
                    rows_out: r.rows_out,
                    bad_rows: r.bad_rows,
                    details: r.details,
                    error: None,
                },
                Ok(Ok(Err(e))) => failure(format!("{e:#}")),
                Ok(Err(_panic)) => {
                    failure("internal error: the stage panicked (see the service log)".into())
                }
                Err(_) => failure(format!("timed out after {} s", JOB_TIMEOUT.as_secs())),
            }
        };
        // While the run works, its heartbeat tells other instances this process is alive.
        let beat = async {
            let mut tick = tokio::time::interval(runs::HEARTBEAT_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = runs::heartbeat(&self.env.pool, id).await {
                    tracing::warn!(%id, error = %crate::error::chain(&e), "run heartbeat failed");
                }
            }
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = beat => unreachable!("the heartbeat never stops"),
        };
        let secs = started.elapsed().as_secs_f64();
        match &outcome.error {
            None => {
                tracing::info!(%id, %task, %date, secs, rows_out = outcome.rows_out, "run succeeded")
            }
            Some(e) => tracing::warn!(%id, %task, %date, secs, error = %e, "run failed"),
        }
        self.metrics.observe(task, outcome.succeeded, secs);
        if let Err(e) = runs::finish(&self.env.pool, id, &outcome).await {
            tracing::error!(%id, error = %crate::error::chain(&e), "could not record the run's outcome");
        }
        self.in_flight.lock().expect("poisoned").remove(&id);
        self.finished.notify_waiters();
    }

    /// The run, once finished or when `wait` is over, whichever comes first.
    pub async fn wait(&self, id: Uuid, wait: Duration) -> Result<Option<Run>, AppError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register for the wake-up before reading, so a finish in between is not missed.
            let notified = self.finished.notified();
            let client = self.env.pool.get().await?;
            let run = runs::get(&client, id).await?;
            drop(client);
            let Some(run) = run else { return Ok(None) };
            let now = tokio::time::Instant::now();
            if run.is_finished() || now >= deadline {
                return Ok(Some(run));
            }
            // Runs of other instances finish without waking us: poll once a second as well.
            let tick = (deadline - now).min(Duration::from_secs(1));
            let _ = tokio::time::timeout(tick, notified).await;
        }
    }

    pub async fn list(
        &self,
        task: Option<Task>,
        date: Option<NaiveDate>,
        limit: i64,
    ) -> Result<Vec<Run>, AppError> {
        let client = self.env.pool.get().await?;
        runs::list(&client, task, date, limit).await
    }

    pub async fn last_runs(&self) -> Result<Vec<Run>, AppError> {
        let client = self.env.pool.get().await?;
        runs::last_per_task(&client).await
    }

    /// Runs whose process died (no heartbeat for a minute) are marked failed: at startup, then
    /// every half minute by `sweep`, on every instance.
    pub async fn fail_orphans(&self) -> Result<u64, AppError> {
        runs::fail_orphans(&self.env.pool, None).await
    }

    pub async fn sweep(&self) {
        loop {
            tokio::time::sleep(runs::HEARTBEAT_EVERY * 3).await;
            match self.fail_orphans().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(runs = n, "failed runs whose process stopped"),
                Err(e) => tracing::warn!(error = %crate::error::chain(&e), "orphan sweep failed"),
            }
        }
    }

    /// At shutdown: this process's unfinished runs are marked failed rather than left running.
    pub async fn abandon_in_flight(&self) {
        let ids: Vec<Uuid> = self
            .in_flight
            .lock()
            .expect("poisoned")
            .iter()
            .copied()
            .collect();
        if ids.is_empty() {
            return;
        }
        match runs::fail_orphans(&self.env.pool, Some(&ids)).await {
            Ok(n) => tracing::warn!(runs = n, "shutdown interrupted running jobs"),
            Err(e) => {
                tracing::error!(error = %crate::error::chain(&e), "could not mark interrupted runs")
            }
        }
    }
}

fn failure(error: String) -> Outcome {
    Outcome {
        succeeded: false,
        error: Some(error),
        details: json!({}),
        ..Outcome::default()
    }
}

/// Runs one task for one date. `pipeline` runs the four stages in order and stops at the first failure.
pub async fn run_task(env: &JobEnv, task: Task, date: NaiveDate) -> anyhow::Result<StageResult> {
    match task {
        Task::FilterData => filter_data::run(env, date).await,
        Task::TopCtr => top_ctr::run(env, date).await,
        Task::TopProduct => top_product::run(env, date).await,
        Task::DbWriting => db_writing::run(env, date).await,
        Task::Pipeline => {
            let mut total = StageResult {
                details: json!({}),
                ..StageResult::default()
            };
            for stage in [
                Task::FilterData,
                Task::TopCtr,
                Task::TopProduct,
                Task::DbWriting,
            ] {
                let started = Instant::now();
                let r = Box::pin(run_task(env, stage, date))
                    .await
                    .map_err(|e| e.context(format!("stage {stage} failed")))?;
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
            Ok(total)
        }
    }
}

/// Job counters and durations for `/metrics`.
#[derive(Default)]
pub struct JobMetrics {
    /// Per task (in `Task::ALL` order): succeeded, failed, total seconds (as micros).
    counts: [[std::sync::atomic::AtomicU64; 3]; 5],
}

impl JobMetrics {
    fn observe(&self, task: Task, ok: bool, secs: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        let i = Task::ALL
            .iter()
            .position(|t| *t == task)
            .expect("known task");
        self.counts[i][usize::from(!ok)].fetch_add(1, Relaxed);
        self.counts[i][2].fetch_add((secs * 1e6) as u64, Relaxed);
    }

    pub fn render(&self) -> String {
        use std::fmt::Write;
        use std::sync::atomic::Ordering::Relaxed;
        let mut out = String::from(
            "# HELP adrec_job_runs_total Job runs finished by this process, by task and status.\n\
             # TYPE adrec_job_runs_total counter\n",
        );
        for (task, c) in Task::ALL.iter().zip(&self.counts) {
            for (status, n) in [("succeeded", &c[0]), ("failed", &c[1])] {
                let _ = writeln!(
                    out,
                    "adrec_job_runs_total{{task=\"{task}\",status=\"{status}\"}} {}",
                    n.load(Relaxed)
                );
            }
        }
        out.push_str(
            "# HELP adrec_job_seconds_total Time spent in finished job runs, by task.\n\
             # TYPE adrec_job_seconds_total counter\n",
        );
        for (task, c) in Task::ALL.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "adrec_job_seconds_total{{task=\"{task}\"}} {}",
                c[2].load(Relaxed) as f64 / 1e6
            );
        }
        out
    }
}
