//! `adrec scheduler` and `adrec executor`: Ballista's scheduler and executor as libraries, with
//! adrec's codecs (`codec`) and plan-named object stores (`registry`).
//!
//! Tasks are pushed by default (`--task-scheduling push`, Ballista's `PushStaged`): executors
//! register with the scheduler, which sends a task to a free slot as soon as its stage can run,
//! and an executor reports a finished task at once. Pulled tasks (`pull`) wait for an idle
//! executor's next poll, every 50 ms, at every stage boundary (a model job has four), but the
//! scheduler then never connects to executors, for networks where it cannot. Executors and the
//! service fetch shuffle partitions from an executor's Flight port. Ports: the scheduler's gRPC
//! port (50050 by default), each executor's Flight port (50051) and, pushed, its gRPC port (the
//! Flight port + 1), which the scheduler connects to.
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::utils::default_session_builder;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};

use super::codec::{AdrecLogicalCodec, AdrecPhysicalCodec};
use super::registry::PlanStores;
use super::watchdog::Slots;

/// How often an executor reports it is alive; the scheduler's timeout is a few of these.
const HEARTBEAT_SECS: u64 = 5;

/// How tasks reach executors; the scheduler and its executors must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduling {
    /// The scheduler sends tasks to executors' gRPC ports as soon as they can run.
    Push,
    /// Executors poll the scheduler for tasks; the scheduler never connects to them.
    Pull,
}

impl Scheduling {
    fn policy(self) -> TaskSchedulingPolicy {
        match self {
            Self::Push => TaskSchedulingPolicy::PushStaged,
            Self::Pull => TaskSchedulingPolicy::PullStaged,
        }
    }
}

pub struct SchedulerOptions {
    pub bind: SocketAddr,
    /// The host executors and the service reach the scheduler at (default: the bind address).
    pub external_host: Option<String>,
    /// An executor silent this long is dead: its tasks run again elsewhere.
    pub executor_timeout_secs: u64,
    pub scheduling: Scheduling,
}

pub async fn run_scheduler(opts: SchedulerOptions) -> anyhow::Result<()> {
    let _ = tracing_log::LogTracer::init();
    let stores = Arc::new(PlanStores::load().await);
    let slots = Slots::default();
    let live = slots.clone();
    // Planning reads Parquet footers and lists files, so the scheduler needs the stores too.
    // A query is planned for the cluster as it is: one partition per live executor's task slot
    // (the client's setting is its own thread count), so every slot gets a scan partition and
    // adding executors spreads a day thinner.
    let session_builder = move |c: SessionConfig| {
        let c = match live.get() {
            0 => c,
            n => c.with_target_partitions(n),
        };
        let state = default_session_builder(c)?;
        let env = RuntimeEnvBuilder::new()
            .with_object_store_registry(stores.clone())
            .build_arc()?;
        Ok(SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(env)
            .build())
    };
    let config = SchedulerConfig {
        bind_host: opts.bind.ip().to_string(),
        bind_port: opts.bind.port(),
        external_host: opts
            .external_host
            .unwrap_or_else(|| opts.bind.ip().to_string()),
        scheduling_policy: opts.scheduling.policy(),
        executor_timeout_seconds: opts.executor_timeout_secs,
        expire_dead_executor_interval_seconds: HEARTBEAT_SECS.min(opts.executor_timeout_secs),
        override_logical_codec: Some(Arc::new(AdrecLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(AdrecPhysicalCodec::default())),
        override_session_builder: Some(Arc::new(session_builder)),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .context("setting up the scheduler's state")?;
    tracing::info!(bind = %opts.bind, "Ballista scheduler starting");
    // start_server's steps, with the watchdog beside the gRPC service.
    let config = Arc::new(config);
    config.validate().context("the scheduler's configuration")?;
    let scheduler = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .context("creating the Ballista scheduler")?;
    tokio::spawn(super::watchdog::run(scheduler.clone(), slots));
    start_grpc_service(opts.bind, scheduler)
        .await
        .context("running the Ballista scheduler")
}

pub struct ExecutorOptions {
    /// The scheduler's `host:port`.
    pub scheduler: String,
    /// Where the Flight service (shuffle reads) listens.
    pub bind: SocketAddr,
    /// The gRPC port the scheduler pushes tasks to, on the bind address (default: Flight's + 1).
    pub grpc_port: Option<u16>,
    pub scheduling: Scheduling,
    /// The host others fetch this executor's shuffle output from (default: the bind address).
    pub external_host: Option<String>,
    /// Tasks run at once (default: the cores available).
    pub concurrency: Option<usize>,
    /// Shuffle files and spills (default: a temporary directory).
    pub work_dir: Option<String>,
}

/// The executor's gRPC port: `explicit`, or the Flight port + 1 when that is one (a Flight port
/// of 0, chosen by the system, or of 65535 has no such neighbour).
fn grpc_port(flight: u16, explicit: Option<u16>) -> anyhow::Result<u16> {
    let port = match explicit {
        Some(p) => p,
        None => match flight.checked_add(1) {
            Some(p) if flight != 0 => p,
            _ => anyhow::bail!("--bind port {flight} has no next port for gRPC: pass --grpc-port"),
        },
    };
    anyhow::ensure!(
        port != 0 && port != flight,
        "--grpc-port {port} must be a fixed port other than the Flight port (--bind)"
    );
    Ok(port)
}

pub async fn run_executor(opts: ExecutorOptions) -> anyhow::Result<()> {
    let _ = tracing_log::LogTracer::init();
    let (host, port) = opts
        .scheduler
        .rsplit_once(':')
        .with_context(|| format!("--scheduler {:?} is not host:port", opts.scheduler))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("--scheduler {:?}: bad port", opts.scheduler))?;
    let stores = Arc::new(PlanStores::load().await);
    let work_dir = match opts.work_dir {
        Some(d) => d,
        None => {
            let d = std::env::temp_dir().join(format!("adrec-executor-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&d).context("creating the executor's work directory")?;
            d.to_string_lossy().into_owned()
        }
    };
    let spill = work_dir.clone();
    let mut config = ExecutorProcessConfig {
        bind_host: opts.bind.ip().to_string(),
        external_host: Some(
            opts.external_host
                .unwrap_or_else(|| opts.bind.ip().to_string()),
        ),
        port: opts.bind.port(),
        grpc_port: grpc_port(opts.bind.port(), opts.grpc_port)?,
        scheduler_host: host.to_owned(),
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 60,
        task_scheduling_policy: opts.scheduling.policy(),
        work_dir: Some(work_dir),
        executor_heartbeat_interval_seconds: HEARTBEAT_SECS,
        job_data_clean_up_interval_seconds: 600,
        job_data_ttl_seconds: 3600,
        override_logical_codec: Some(Arc::new(AdrecLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(AdrecPhysicalCodec::default())),
        override_runtime_producer: Some(Arc::new(move |_: &SessionConfig| {
            RuntimeEnvBuilder::new()
                .with_object_store_registry(stores.clone())
                .with_temp_file_path(spill.clone())
                .build_arc()
        })),
        ..ExecutorProcessConfig::default()
    };
    if let Some(n) = opts.concurrency {
        config.vcores = n;
    }
    tracing::info!(scheduler = %opts.scheduler, bind = %opts.bind, "Ballista executor starting");
    start_executor_process(Arc::new(config))
        .await
        .context("running the Ballista executor")
}

#[cfg(test)]
mod tests {
    use super::grpc_port;

    #[test]
    fn the_grpc_port_defaults_to_the_next_one_and_never_clashes() {
        assert_eq!(grpc_port(50051, None).unwrap(), 50052);
        assert_eq!(grpc_port(50051, Some(6000)).unwrap(), 6000);
        for (flight, explicit) in [(65535, None), (0, None), (50051, Some(50051)), (1, Some(0))] {
            let e = grpc_port(flight, explicit).unwrap_err().to_string();
            assert!(e.contains("--grpc-port"), "{flight} {explicit:?}: {e}");
        }
    }
}
