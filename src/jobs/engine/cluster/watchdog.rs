//! The scheduler's watchdog: what Ballista 55 leaves to timeouts, noticed within seconds.
//!
//! * **A dead executor.** Ballista drops an executor only when its heartbeat has been silent for
//!   `--executor-timeout-secs`; an executor beats every 5 s (pulling tasks, only as it polls
//!   for work: at most every 5 s while busy), so the timeout cannot be short, and a killed
//!   executor's tasks waited for it. The watchdog connects to every executor's Flight port each
//!   second: two refused or timed-out connections in a row, and the executor is removed and its
//!   tasks given to the others (what the timeout would have done, `PROBE_EVERY` * 2 after the
//!   death instead).
//! * **A lost job.** When an executor dies holding a finished stage's output, Ballista 55's
//!   adaptive planner can lose the job ("Can't find active stage to update stage outputs",
//!   apache/datafusion-ballista#1986): it stays running with no task to run and none running.
//!   A job in that state for `STUCK_AFTER` is cancelled, so its client (the service) gets an
//!   error at once and runs the query again.
//!
//! It also keeps the count of the live executors' task slots (`Slots`), which the scheduler
//! plans each query's partitions by: one scan partition per slot.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ballista_core::serde::protobuf::ExecutorStoppedParams;
use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::logical_plan::AsLogicalPlan;
use datafusion_proto::physical_plan::AsExecutionPlan;
use tonic::Request;

const PROBE_EVERY: Duration = Duration::from_secs(1);
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);
/// Consecutive failed probes that make an executor dead.
const FAILED_PROBES: u32 = 2;
/// Checks a job may make no progress (no task to run, none running) before it is cancelled.
const STUCK_CHECKS: u32 = 5;

/// The task slots (`vcores`) of the executors registered and not found dead; 0 before any.
#[derive(Clone, Debug, Default)]
pub struct Slots(Arc<AtomicUsize>);

impl Slots {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

pub async fn run<T, U>(scheduler: SchedulerServer<T, U>, slots: Slots)
where
    T: 'static + AsLogicalPlan,
    U: 'static + AsExecutionPlan,
{
    let mut failures: HashMap<String, u32> = HashMap::new();
    let mut idle: HashMap<String, u32> = HashMap::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    loop {
        tick.tick().await;
        let live = probe_executors(&scheduler, &mut failures).await;
        if let Some(n) = live
            && slots.0.swap(n, Ordering::Relaxed) != n
        {
            tracing::info!(
                slots = n,
                "the executors' task slots changed: queries plan this many partitions"
            );
        }
        cancel_stuck_jobs(&scheduler, &mut idle).await;
    }
}

/// Probes every executor and removes the dead; the live ones' task slots, if they could be listed.
async fn probe_executors<T, U>(
    scheduler: &SchedulerServer<T, U>,
    failures: &mut HashMap<String, u32>,
) -> Option<usize>
where
    T: 'static + AsLogicalPlan,
    U: 'static + AsExecutionPlan,
{
    let Ok(executors) = scheduler.state.executor_manager.get_executors_state().await else {
        return None;
    };
    let mut slots = 0;
    let alive: Vec<String> = executors.iter().map(|(m, ..)| m.id.clone()).collect();
    failures.retain(|id, _| alive.contains(id));
    for (meta, ..) in executors {
        let addr = format!("{}:{}", meta.host, meta.port);
        let ok = matches!(
            tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(&addr)).await,
            Ok(Ok(_))
        );
        let n = failures.entry(meta.id.clone()).or_default();
        *n = if ok { 0 } else { *n + 1 };
        if *n < FAILED_PROBES {
            slots += meta.specification.vcores as usize;
            continue;
        }
        let reason = format!("adrec watchdog: {addr} refused {FAILED_PROBES} connections in a row");
        tracing::warn!(executor = %meta.id, %addr, "executor gone: its tasks run elsewhere");
        // The scheduler's own removal path (an executor's "I stopped" call): it removes the
        // executor and posts ExecutorLost, whose handler resets the tasks and, with tasks pushed,
        // offers them to the others. Removing it from the state directly offers nothing, and
        // pushed tasks then wait for an offer that never comes.
        let stopped = ExecutorStoppedParams {
            executor_id: meta.id.clone(),
            reason,
        };
        if let Err(e) = scheduler.executor_stopped(Request::new(stopped)).await {
            tracing::warn!(executor = %meta.id, error = %e, "could not remove the executor");
        }
        failures.remove(&meta.id);
    }
    Some(slots)
}

async fn cancel_stuck_jobs<T, U>(scheduler: &SchedulerServer<T, U>, idle: &mut HashMap<String, u32>)
where
    T: 'static + AsLogicalPlan,
    U: 'static + AsExecutionPlan,
{
    let jobs = scheduler.state.task_manager.get_running_job_cache();
    idle.retain(|id, _| jobs.contains_key(id.as_str()));
    for (job_id, info) in jobs.iter() {
        let graph = info.execution_graph.read().await;
        let stuck = graph.available_tasks() == 0 && graph.running_tasks().is_empty();
        drop(graph);
        let n = idle.entry(job_id.to_string()).or_default();
        *n = if stuck { *n + 1 } else { 0 };
        if *n < STUCK_CHECKS {
            continue;
        }
        tracing::warn!(job = %job_id, "job made no progress for {STUCK_CHECKS} s: cancelled, for its client to run it again");
        if let Err(e) = scheduler.cancel_job(job_id.clone()).await {
            tracing::warn!(job = %job_id, error = %e, "could not cancel the job");
        }
        idle.remove(&job_id.to_string());
    }
}
