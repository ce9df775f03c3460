//! The same jobs on an Apache DataFusion Ballista cluster.
//!
//! `ENGINE_URL=df://host:port` makes every job session a Ballista client of that scheduler
//! (`remote_session`): the queries in `queries/` are planned there and run on executors.
//! `adrec scheduler` and `adrec executor` (`process`) are Ballista's own scheduler and
//! executor with adrec's codecs, so the log scan travels in plans and runs on executors
//! (`codec`), which read and write the object stores themselves (`registry`). What plans
//! cannot bring back, the scan's bad-row counts, comes back through small files (`report`);
//! filter_data writes its Parquet on the executors (`filter`).
mod codec;
pub mod filter;
mod process;
mod registry;
pub mod report;

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
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(env)
        .build()
        .upgrade_for_ballista(endpoint.to_owned())?;
    Ok(SessionContext::new_with_state(state))
}
