//! The same jobs on an Apache DataFusion Ballista cluster.
//!
//! `ENGINE_URL=df://host:port` makes every job session a Ballista client of that scheduler
//! (`remote_session`): the queries in `queries/` are planned there and run on executors.
//! `adrec scheduler` and `adrec executor` (`process`) are Ballista's own scheduler and
//! executor with adrec's codecs, so the log scan and the partition writer travel in plans and
//! run on executors (`codec`), which read and write the object stores themselves (`registry`).
//! Nothing else differs from a session in this process: the stages run the same plans.
mod codec;
mod process;
mod registry;

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use codec::{AdrecLogicalCodec, AdrecPhysicalCodec};
pub use process::{ExecutorOptions, SchedulerOptions, run_executor, run_scheduler};

/// `http://host:port`, the scheduler's gRPC endpoint, of `ENGINE_URL=df://host:port`.
pub fn scheduler_endpoint(engine_url: &url::Url) -> anyhow::Result<String> {
    let host = engine_url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("ENGINE_URL {engine_url} names no host"))?;
    Ok(format!(
        "http://{host}:{}",
        engine_url.port().unwrap_or(50050)
    ))
}

/// A job session whose plans run on the cluster: the service's stores (the client reads
/// Parquet footers to plan) and adrec's codecs.
pub fn remote_session(
    config: SessionConfig,
    env: Arc<RuntimeEnv>,
    endpoint: &str,
) -> anyhow::Result<SessionContext> {
    let config = config
        .with_ballista_logical_extension_codec(Arc::new(AdrecLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(AdrecPhysicalCodec::default()));
    let mut state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(env)
        .build()
        .upgrade_for_ballista(endpoint.to_owned())?;
    // After the upgrade, which would reset them. One partition per task: a task runs one scan
    // partition through to its file, and a lost executor loses one partition's work each.
    // DataFusion's window top-K operator has no codec, so it could not reach an executor.
    let options = state.config_mut().options_mut();
    options.set("ballista.scheduler.max_partitions_per_task", "1")?;
    options.optimizer.enable_window_topn = false;
    Ok(SessionContext::new_with_state(state))
}
