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
mod watchdog;

use std::sync::Arc;

use ballista_core::extension::{SessionConfigExt, SessionStateExt};
use datafusion::error::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use codec::{AdrecLogicalCodec, AdrecPhysicalCodec};
pub use process::{ExecutorOptions, SchedulerOptions, Scheduling, run_executor, run_scheduler};

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

/// Whether `e` is the cluster saying it lost a job (Ballista's client answers a failed or
/// cancelled job with `Job <id> failed: <reason>`), as opposed to the query failing to plan, the
/// scheduler being unreachable or the job timing out: only a lost job is worth a second attempt.
pub fn lost_job(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<DataFusionError>().is_some_and(|d| {
            matches!(d.find_root(), DataFusionError::Execution(m)
                if m.starts_with("Job ") && m.contains(" failed: "))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_failed_or_cancelled_job_counts_as_lost() {
        let failed = |m: &str| anyhow::Error::from(DataFusionError::Execution(m.to_owned()));
        let lost = failed("Job aBc12 failed: Cancelled").context("writing ads_views");
        assert!(lost_job(&lost));
        let wrapped = DataFusionError::Context(
            "in a stream".into(),
            Box::new(DataFusionError::Execution("Job x failed: Task lost".into())),
        );
        assert!(lost_job(&anyhow::Error::from(wrapped)));
        assert!(!lost_job(&failed("Division by zero")));
        let plan = anyhow::Error::from(DataFusionError::Plan("Job x failed: no".into()));
        assert!(!lost_job(&plan));
        assert!(!lost_job(&anyhow::anyhow!(
            "Job x failed: not a DataFusion error"
        )));
    }
}
