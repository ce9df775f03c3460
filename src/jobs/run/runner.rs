//! The runner: starts runs in the background, records them in `job_runs`, and answers long polls.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::FutureExt;
use tokio::sync::Notify;
use uuid::Uuid;

use super::dispatch::{self, Failure};
use super::error::JobError;
use crate::db::runs::{self, Orphan, Run, Started};
use crate::db::{DbError, Unpublished};
use crate::domain::{RunDetails, Task, Trigger};
use crate::jobs::stages::JobEnv;
use crate::jobs::stages::{Progress, RunCtx, StageResult};
use crate::jobs::store;
use crate::metrics::JobMetrics;

/// No stage may run longer than this; Airflow retries a failed one.
const JOB_TIMEOUT: Duration = Duration::from_secs(3600);

pub struct JobRunner {
    env: Arc<JobEnv>,
    /// Woken whenever a run of this process finishes, so long polls answer at once.
    finished: Notify,
    /// Runs executing in this process, with their live progress; failed on shutdown so that
    /// none is left `running`.
    in_flight: Mutex<HashMap<Uuid, Arc<Progress>>>,
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

    pub fn env(&self) -> &JobEnv {
        &self.env
    }

    /// Records a new run and starts it in the background; a conflict if a run that excludes it is
    /// under way (see `runs::insert`).
    /// `force` lifts db_writing's publication refusals and its prune bound.
    pub async fn start(
        self: &Arc<Self>,
        task: Task,
        date: NaiveDate,
        trigger: Trigger,
        force: bool,
    ) -> Result<Run, JobError> {
        debug_assert!(task.is_triggered(), "{task} is not started as a run");
        let run = match runs::insert(&self.env.pool, task, date, trigger, force).await? {
            Started::Run(run) => *run,
            Started::Conflict(running) => {
                return Err(JobError::Conflict {
                    task,
                    date,
                    running,
                });
            }
        };
        let progress = Arc::new(Progress::default());
        self.in_flight
            .lock()
            .expect("poisoned")
            .insert(run.id, progress.clone());
        let this = self.clone();
        let id = run.id;
        tokio::spawn(async move { this.execute(id, task, date, force, progress).await });
        Ok(run)
    }

    async fn execute(
        &self,
        id: Uuid,
        task: Task,
        date: NaiveDate,
        force: bool,
        progress: Arc<Progress>,
    ) {
        let started = Instant::now();
        tracing::info!(%id, %task, %date, force, "run started");
        let run = RunCtx {
            id,
            date,
            progress: &progress,
            force,
        };
        let work =
            std::panic::AssertUnwindSafe(dispatch::run_task(&self.env, task, &run)).catch_unwind();
        let work = async {
            match tokio::time::timeout(JOB_TIMEOUT, work).await {
                Ok(Ok(r)) => r,
                Ok(Err(_panic)) => Err(failure(
                    "internal error: the stage panicked (see the service log)",
                )),
                Err(_) => Err(failure(&format!(
                    "timed out after {} s",
                    JOB_TIMEOUT.as_secs()
                ))),
            }
        };
        // While the run works, its heartbeat tells other instances this process is alive and
        // how far it has got.
        let beat = async {
            let mut tick = tokio::time::interval(runs::HEARTBEAT_EVERY);
            loop {
                tick.tick().await;
                if let Err(e) = runs::heartbeat(&self.env.pool, id, &progress.report()).await {
                    tracing::warn!(%id, error = %crate::telemetry::chain(&e), "run heartbeat failed");
                }
            }
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            () = beat => unreachable!("the heartbeat never stops"),
        };
        let secs = started.elapsed().as_secs_f64();
        let mut swept = None;
        let (result, error) = match outcome {
            Ok(r) => {
                tracing::info!(%id, %task, %date, secs, rows_out = r.rows_out, "run succeeded");
                (r, None)
            }
            Err(Failure { error, partial }) => {
                let error = format!("{error:#}");
                tracing::warn!(%id, %task, %date, secs, error = %error, "run failed");
                // The stages delete what they wrote when they fail; this catches what they missed.
                match store::sweep(&self.env.storage.work, task, date, id).await {
                    Ok(0) => {}
                    Ok(n) => swept = Some(n as u64),
                    Err(e) => tracing::warn!(%id, error = %format!("{e:#}"),
                        "could not delete a failed run's files"),
                }
                (partial, Some(error))
            }
        };
        let details = RunDetails {
            task: result.details,
            engine: Some(self.env.engine.name()),
            swept_files: swept,
        };
        self.metrics.observe(task, error.is_none(), secs);
        let recorded = runs::Outcome {
            rows_in: result.rows_in,
            rows_out: result.rows_out,
            bad_rows: result.bad_rows,
            details: &details,
            error: error.as_deref(),
        };
        if let Err(e) = runs::finish(&self.env.pool, id, recorded).await {
            tracing::error!(%id, error = %crate::telemetry::chain(&e), "could not record the run's outcome");
        }
        self.in_flight.lock().expect("poisoned").remove(&id);
        self.finished.notify_waiters();
    }

    /// The run, once finished or when `wait` is over, whichever comes first; a run of this
    /// process that is still running carries its live progress.
    pub async fn wait(&self, id: Uuid, wait: Duration) -> Result<Option<Run>, JobError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Register for the wake-up before reading, so a finish in between is not missed.
            let notified = self.finished.notified();
            let client = self.env.pool.get().await.map_err(DbError::from)?;
            let run = runs::get(&client, id).await?;
            drop(client);
            let Some(mut run) = run else { return Ok(None) };
            let now = tokio::time::Instant::now();
            if run.is_finished() || now >= deadline {
                if !run.is_finished() {
                    let live = self.in_flight.lock().expect("poisoned").get(&id).cloned();
                    if let Some(p) = live {
                        run.progress = Some(p.report());
                    }
                }
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
    ) -> Result<Vec<Run>, JobError> {
        let client = self.env.pool.get().await.map_err(DbError::from)?;
        Ok(runs::list(&client, task, date, limit).await?)
    }

    pub async fn last_runs(&self) -> Result<Vec<Run>, JobError> {
        let client = self.env.pool.get().await.map_err(DbError::from)?;
        Ok(runs::last_per_task(&client).await?)
    }

    /// Deletes a published date, recording it as a finished `unpublish` run; `None` if the date
    /// was not published. A conflict while a run that would publish it again is under way.
    pub async fn unpublish(&self, date: NaiveDate) -> Result<Option<Run>, JobError> {
        match crate::db::unpublish(&self.env.pool, date).await? {
            Unpublished::Deleted(run) => Ok(Some(*run)),
            Unpublished::NotPublished => Ok(None),
            Unpublished::Publishing(running) => Err(JobError::Publishing { date, running }),
        }
    }

    /// Runs whose process died (no heartbeat for a minute) are marked failed: at startup, then
    /// every half minute by `sweep`, on every instance.
    /// Their unmanifested output files are deleted (`sweeper`), and those of runs a shutdown
    /// interrupted, once they have been failed for `STALE_AFTER`.
    pub async fn fail_orphans(&self) -> Result<u64, JobError> {
        let orphans = runs::fail_orphans(&self.env.pool, None).await?;
        self.sweep_files(&orphans).await;
        self.sweep_files(&runs::unswept(&self.env.pool).await?)
            .await;
        Ok(orphans.len() as u64)
    }

    /// Deletes the unmanifested files the given failed runs wrote, and records how many.
    async fn sweep_files(&self, orphans: &[Orphan]) {
        for o in orphans {
            match store::sweep(&self.env.storage.work, o.task, o.date, o.id).await {
                Ok(n) => {
                    tracing::info!(id = %o.id, task = %o.task, date = %o.date, files = n,
                        "deleted an interrupted run's files");
                    if let Err(e) = runs::swept(&self.env.pool, o.id, n).await {
                        tracing::warn!(id = %o.id, error = %crate::telemetry::chain(&e),
                            "could not record the sweep");
                    }
                }
                Err(e) => tracing::warn!(id = %o.id, error = %format!("{e:#}"),
                    "could not delete an interrupted run's files"),
            }
        }
    }

    pub async fn sweep(&self) {
        loop {
            tokio::time::sleep(runs::HEARTBEAT_EVERY * 3).await;
            match self.fail_orphans().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(runs = n, "failed runs whose process stopped"),
                Err(e) => {
                    tracing::warn!(error = %crate::telemetry::chain(&e), "orphan sweep failed")
                }
            }
        }
    }

    /// At shutdown: this process's unfinished runs are marked failed rather than left running.
    pub async fn abandon_in_flight(&self) {
        let ids: Vec<Uuid> = self
            .in_flight
            .lock()
            .expect("poisoned")
            .keys()
            .copied()
            .collect();
        if ids.is_empty() {
            return;
        }
        match runs::fail_orphans(&self.env.pool, Some(&ids)).await {
            // Their files are swept later (`fail_orphans`): their work may still be writing.
            Ok(gone) => tracing::warn!(runs = gone.len(), "shutdown interrupted running jobs"),
            Err(e) => {
                tracing::error!(error = %crate::telemetry::chain(&e), "could not mark interrupted runs")
            }
        }
    }
}

fn failure(message: &str) -> Failure {
    Failure {
        error: anyhow::anyhow!("{message}"),
        partial: StageResult::default(),
    }
}
