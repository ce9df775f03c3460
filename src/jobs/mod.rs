//! The nightly pipeline: stages that run DataFusion SQL from `queries/` over object storage,
//! and the runner that records every run in `job_runs`.
//!
//! A run is started by `POST /jobs/{task}` or `adrec run`, executes in the background on this
//! process, and is waited for by long polls. Stages are idempotent per date: outputs are keyed by
//! date and published by a manifest written last (see `output`).
//!
//! * running: `runner` (start, wait, heartbeats, orphans), `runs` (the `job_runs` records),
//!   `tasks` (task → stage; `pipeline`), `progress`, `error` (`JobError`, mapped at the HTTP edge);
//! * stages: `filter_data`, `top_ctr`, `top_product` (both on `model_stage`), `db_writing`
//!   (with `publish_policy`: which dates it may publish, how much it may prune);
//! * the engine: `engine` (query runtime, memory pool), `scan` (the raw-log data source),
//!   `session` (tables and parameters for the SQL);
//! * storage: `storage` and `aws` (object stores, S3), `inputs` (finding a day's raw files),
//!   `output` (date-keyed Parquet outputs and their manifests), `sweeper` (deleting what failed
//!   and interrupted runs wrote);
//! * `unpublish`: deleting one published date (an admin undoing a wrong publication).
pub mod aws;
mod db_writing;
pub mod engine;
mod error;
mod filter_data;
mod inputs;
mod model_stage;
pub mod output;
pub mod progress;
mod publish_policy;
mod runner;
mod runs;
pub mod scan;
pub mod session;
pub mod storage;
mod sweeper;
mod tasks;
mod top_ctr;
mod top_product;
mod unpublish;

use anyhow::Context;

pub use db_writing::PUBLISH_SQL;
pub use engine::Engine;
pub use error::{JobError, RunningRun};
pub use progress::{Progress, ProgressReport};
pub use publish_policy::PublishPolicy;
pub use runner::{JobMetrics, JobRunner};
pub use runs::{ALL_SQL as RUNS_SQL, Run, RunStatus};
pub use storage::Storage;
pub use unpublish::{UNPUBLISH_SQL, unpublish};

use crate::config::{DbConfig, EngineConfig, StorageConfig};

/// What every stage needs.
pub struct JobEnv {
    pub pool: deadpool_postgres::Pool,
    pub storage: Storage,
    pub engine: Engine,
    pub publish: PublishPolicy,
}

impl JobEnv {
    /// Opens the pool, migrates the database, sets up storage and starts the query engine: what
    /// `serve` and `run` share.
    pub async fn connect(
        db: &DbConfig,
        storage: &StorageConfig,
        engine: &EngineConfig,
    ) -> anyhow::Result<Self> {
        let pool = crate::db::pool(db)?;
        let applied = crate::db::migrate(&pool)
            .await
            .context("migrating the database")?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
        let stores = Storage::from_config(storage).await?;
        tracing::info!(
            threads = engine.threads,
            memory_limit_mib = engine.memory_limit >> 20,
            "query engine"
        );
        Ok(Self {
            engine: Engine::new(engine, &stores)?,
            pool,
            storage: stores,
            publish: PublishPolicy {
                retention_days: storage.retention_days,
                max_prune_dates: storage.max_prune_dates,
                max_gap_days: storage.max_gap_days,
            },
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
