//! The four pipeline stages, each a function of (environment, run) to [`StageResult`]:
//! `filter_data`, `top_ctr` and `top_product` (both on `model`), `db_writing` (with
//! `publish_policy`: which dates it may publish). `progress` is how far a stage has got.
mod db_writing;
mod filter_data;
mod model;
mod progress;
mod publish_policy;
mod top_ctr;
mod top_product;

use chrono::NaiveDate;
use uuid::Uuid;

pub use progress::Progress;
pub use publish_policy::PublishPolicy;

use crate::config::{EngineConfig, StorageConfig};
use crate::domain::{Task, TaskDetails};
use crate::jobs::engine::Engine;
use crate::jobs::store::Storage;

/// What every stage needs.
pub struct JobEnv {
    pub pool: deadpool_postgres::Pool,
    pub storage: Storage,
    pub engine: Engine,
    pub publish: PublishPolicy,
}

impl JobEnv {
    /// Sets up storage and starts the query engine over the jobs' pool (`db::pool`, already
    /// migrated): what `serve` and `run` share.
    pub async fn new(
        pool: deadpool_postgres::Pool,
        storage: &StorageConfig,
        engine: &EngineConfig,
    ) -> anyhow::Result<Self> {
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

/// The run a stage works for: its id names the files it writes, and its progress is reported.
pub struct RunCtx<'a> {
    pub id: Uuid,
    pub date: NaiveDate,
    pub progress: &'a Progress,
    /// Publish even a date far from the latest one, and prune past the per-run bound.
    pub force: bool,
}

/// What a stage reports: rows read, rows written, rows skipped as bad, and its details.
#[derive(Debug, Default)]
pub struct StageResult {
    pub rows_in: i64,
    pub rows_out: i64,
    pub bad_rows: i64,
    pub details: Option<TaskDetails>,
}

/// Runs one stage (not `pipeline`, which is a sequence of them: `run::dispatch`).
pub async fn run(env: &JobEnv, stage: Task, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    match stage {
        Task::FilterData => filter_data::run(env, run).await,
        Task::TopCtr => top_ctr::run(env, run).await,
        Task::TopProduct => top_product::run(env, run).await,
        Task::DbWriting => db_writing::run(env, run).await,
        Task::Pipeline | Task::Unpublish => anyhow::bail!("{stage} is not a stage"),
    }
}
