//! The query engine: DataFusion on a runtime of its own, inside a memory limit, in this process
//! or on a Ballista cluster (`ENGINE_URL`). The stages see only [`Engine`]: sessions and
//! running work on it.
//!
//! * `session`: the tables and parameters the SQL in `queries/` sees;
//! * `scan`: the raw-log data source;
//! * `write`, `part_files`, `insert`, `reports`: a query's output written by partition where it
//!   runs (bucketed by a column if asked), and checked from what each partition reported;
//! * `bucketed`: reading bucketed files back as a table hash partitioned on that column;
//! * `cluster`: the Ballista backend (scheduler, executors, codecs, the scheduler's watchdog).
//!
//! The service answers reads on the main tokio runtime. Query plans are CPU-bound for seconds,
//! and a tokio worker busy with one cannot poll anything else, so plans run on a second runtime
//! whose threads also have a lower scheduling priority: on a 1-vCPU instance the kernel then
//! gives request handling the CPU first, and the job takes what is left (DataFusion's documented
//! pattern, `thread_pools.rs` in its examples). Object-store reads issued by the log scan run on
//! the main runtime, which stays responsive.
//!
//! Rule for callers: only DataFusion work goes into [`Engine::run`]. Postgres connections are
//! opened on the main runtime (a connection's I/O task lives where it was opened, and reads
//! share the pool), so stages touch the database outside `run`.
//!
//! Every plan shares one memory pool of `JOB_MEMORY_LIMIT` bytes (`Engine::new`): operators
//! that can spill (sorts, aggregations) spill to the local disk when it is full; what cannot
//! fit fails the run with an error naming the setting, and never takes the process down.
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;

use anyhow::Context;
use datafusion::error::DataFusionError;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};

pub mod bucketed;
pub mod cluster;
mod insert;
mod part_files;
mod reports;
pub mod scan;
pub mod session;
mod write;

pub use part_files::PartFile;
pub use reports::{PartReport, Written};
pub use write::{PartSink, PartWriteExec, WriteSpec};

use crate::config::EngineConfig;
use crate::jobs::store::Storage;

/// Rows per batch in every plan (and per batch of the log scan), unless
/// `DATAFUSION_EXECUTION_BATCH_SIZE` says otherwise.
const BATCH_ROWS: usize = 32 << 10;

/// Niceness of query threads: a request thread wins the CPU about 9 times in 10 when both run.
const QUERY_NICE: i32 = 10;

pub struct Engine {
    /// `Some` until dropped (a runtime cannot be dropped inside another's async context).
    runtime: Option<tokio::runtime::Runtime>,
    io: tokio::runtime::Handle,
    env: Arc<RuntimeEnv>,
    memory_limit: u64,
    /// `ENGINE_URL` and its scheduler's endpoint, when jobs run on a Ballista cluster.
    remote: Option<(url::Url, String)>,
    cluster_job_timeout: std::time::Duration,
    /// What every session starts from: `DATAFUSION_*` options, read once here.
    session_config: SessionConfig,
}

impl Engine {
    /// Starts the query runtime; must be called on the service's (I/O) runtime.
    pub fn new(cfg: &EngineConfig, storage: &Storage) -> anyhow::Result<Self> {
        let pool = TrackConsumersPool::new(
            FairSpillPool::new(cfg.memory_limit as usize),
            NonZeroUsize::new(3).expect("non-zero"),
        );
        let disk = match &cfg.spill_dir {
            Some(dir) => DiskManagerMode::Directories(vec![dir.clone()]),
            None => DiskManagerMode::OsTmpDirectory,
        };
        let env = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(pool))
            .with_disk_manager_builder(DiskManagerBuilder::default().with_mode(disk))
            .build_arc()?;
        for loc in [&storage.raw, &storage.work] {
            env.register_object_store(&loc.store_url, Arc::clone(&loc.store));
        }
        let remote = match &cfg.engine_url {
            Some(url) => Some((url.clone(), cluster::scheduler_endpoint(url)?)),
            None => None,
        };
        // `DATAFUSION_*` variables set DataFusion options (e.g. `DATAFUSION_EXECUTION_BATCH_SIZE`);
        // plans have one partition per query thread unless they say otherwise.
        let mut session_config = SessionConfig::from_env()
            .context("reading the DATAFUSION_* settings")?
            .with_information_schema(false);
        if std::env::var_os("DATAFUSION_EXECUTION_TARGET_PARTITIONS").is_none() {
            session_config = session_config.with_target_partitions(cfg.threads);
        }
        // Batches of 32k rows, not DataFusion's 8k: the models' aggregates and rankings over a
        // million groups took a fifth less time (top_ctr 0.28 -> 0.22 s on the zipf bench day),
        // and the log scan's batches grow alike (filter_data -5 %).
        if std::env::var_os("DATAFUSION_EXECUTION_BATCH_SIZE").is_none() {
            session_config = session_config.with_batch_size(BATCH_ROWS);
        }
        // The log scans are hash partitioned on `part`, which a `GROUP BY part, …` accepts
        // (a subset of its keys) at any partition count: aggregated where read, no exchange.
        // And no round-robin spreading of a scan's batches over more threads (as Ballista
        // runs it too): a written partition is then exactly the scan partition that fed it,
        // which is how the writer reports what each scan counted (`write`).
        let optimizer = &mut session_config.options_mut().optimizer;
        if std::env::var_os("DATAFUSION_OPTIMIZER_SUBSET_REPARTITION_THRESHOLD").is_none() {
            optimizer.subset_repartition_threshold = 1;
        }
        if std::env::var_os("DATAFUSION_OPTIMIZER_ENABLE_ROUND_ROBIN_REPARTITION").is_none() {
            optimizer.enable_round_robin_repartition = false;
        }
        // The models keep 20 rows per advertiser: a heap per advertiser instead of a sort of
        // every ranked row (top_ctr 0.38 -> 0.33 s, top_product 0.21 -> 0.16 s on the zipf bench
        // day). The cluster session turns it off: its operator has no codec.
        if std::env::var_os("DATAFUSION_OPTIMIZER_ENABLE_WINDOW_TOPN").is_none() {
            optimizer.enable_window_topn = true;
        }
        // Last: a runtime dropped on an error path above would panic (it may not be dropped
        // inside the service's runtime), so every fallible step comes before it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.threads)
            .thread_name("adrec-query")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .context("starting the query runtime")?;
        Ok(Self {
            runtime: Some(runtime),
            io: tokio::runtime::Handle::current(),
            env,
            memory_limit: cfg.memory_limit,
            remote,
            cluster_job_timeout: cfg.cluster_job_timeout,
            session_config,
        })
    }

    /// A session that runs in this process whatever the engine, for inputs small enough to be
    /// read by the service itself (the active advertisers).
    pub fn local_session(&self) -> SessionContext {
        SessionContext::new_with_config_rt(self.session_config.clone(), self.env.clone())
    }

    /// A session for one query or stage, sharing the engine's memory pool and stores.
    pub fn session(&self) -> SessionContext {
        let config = self.session_config.clone();
        if let Some((_, endpoint)) = &self.remote {
            // Connects lazily (at the first query), and upgrading a state cannot fail.
            return cluster::remote_session(config, self.env.clone(), endpoint)
                .expect("a Ballista session");
        }
        SessionContext::new_with_config_rt(config, self.env.clone())
    }

    /// Whether jobs run on a Ballista cluster (`ENGINE_URL`).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// What runs the jobs, as recorded in each run: `in-process` or the `ENGINE_URL`.
    pub fn name(&self) -> String {
        match &self.remote {
            Some((url, _)) => url.to_string(),
            None => "in-process".to_owned(),
        }
    }

    /// The runtime that does object-store I/O (the service's).
    pub fn io(&self) -> tokio::runtime::Handle {
        self.io.clone()
    }

    pub fn memory_limit(&self) -> u64 {
        self.memory_limit
    }

    /// Runs DataFusion work on the query runtime. Dropping the returned future cancels it.
    pub async fn run<T, F>(&self, work: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: Future<Output = anyhow::Result<T>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .context("the query runtime is shut down")?;
        let mut task = AbortOnDrop(runtime.spawn(work));
        let joined = match &self.remote {
            // Dropping the task (on return) drops the cluster job's client.
            Some((url, _)) => tokio::time::timeout(self.cluster_job_timeout, &mut task.0)
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the query did not finish on the cluster at {url} within \
                         ENGINE_JOB_TIMEOUT_SECS ({} s): an executor may have been lost \
                         (see the scheduler's log)",
                        self.cluster_job_timeout.as_secs()
                    )
                })?,
            None => (&mut task.0).await,
        };
        let result = match joined {
            Ok(r) => r,
            Err(e) if e.is_panic() => anyhow::bail!("a query panicked (see the service log)"),
            Err(e) => Err(e).context("the query was cancelled"),
        };
        result.map_err(|e| self.explain(e))
    }

    /// Runs `attempt(1)`; on a cluster that lost its job (`cluster::lost_job`: an executor
    /// died holding work Ballista could not redo, or the scheduler's watchdog cancelled a job
    /// that stopped making progress), runs `attempt(2)` once. A query that fails for any other
    /// reason is not run again.
    pub async fn retry_lost<T, F, Fut>(&self, what: &str, mut attempt: F) -> anyhow::Result<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        match attempt(1).await {
            Err(e) if self.is_remote() && cluster::lost_job(&e) => {
                tracing::warn!(what, error = %format!("{e:#}"),
                    "the cluster lost the job: running it once more");
                attempt(2)
                    .await
                    .context("the second attempt, after the cluster lost the first")
            }
            other => other,
        }
    }

    /// An out-of-memory error names the setting that bounds it.
    fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        let exhausted = e.chain().any(|c| {
            c.downcast_ref::<DataFusionError>()
                .is_some_and(|d| matches!(d.find_root(), DataFusionError::ResourcesExhausted(_)))
        });
        if exhausted {
            e.context(format!(
                "the job needs more memory than JOB_MEMORY_LIMIT ({}) allows: raise \
                 JOB_MEMORY_LIMIT, or give the container more memory",
                crate::system::human_bytes(self.memory_limit)
            ))
        } else {
            e
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(target_os = "linux")]
fn lower_priority() {
    // SAFETY: plain syscalls on the calling thread; on Linux a nice value is per thread.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, QUERY_NICE);
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}
