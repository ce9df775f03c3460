//! What this process's job runs did: counts by outcome and a duration histogram per task.
//! (What every instance's runs did, from `job_runs`, is in `db`.)
use super::text::{Counter, Encoder, Histogram, Kind};
use crate::domain::{RunStatus, Task};

/// Upper bounds in seconds, from a small day's stage to the one-hour job timeout.
const BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

struct TaskStats {
    succeeded: Counter,
    failed: Counter,
    duration: Histogram,
}

/// Job counters and durations for `/metrics`, in `Task::TRIGGERED` order.
pub struct JobMetrics {
    tasks: Vec<TaskStats>,
}

impl Default for JobMetrics {
    fn default() -> Self {
        Self {
            tasks: Task::TRIGGERED
                .iter()
                .map(|_| TaskStats {
                    succeeded: Counter::default(),
                    failed: Counter::default(),
                    duration: Histogram::new(&BUCKETS),
                })
                .collect(),
        }
    }
}

impl JobMetrics {
    /// Records a finished run.
    pub fn observe(&self, task: Task, ok: bool, secs: f64) {
        let t = &self.tasks[task_index(task)];
        let outcome = if ok { &t.succeeded } else { &t.failed };
        outcome.inc();
        t.duration.observe(secs);
    }

    pub fn encode(&self, enc: &mut Encoder) {
        enc.family(
            "adrec_job_runs_total",
            "Job runs finished by this process, by task and status.",
            Kind::Counter,
        );
        for (task, t) in Task::TRIGGERED.iter().zip(&self.tasks) {
            let task = task.as_str();
            for (status, n) in [
                (RunStatus::Succeeded, &t.succeeded),
                (RunStatus::Failed, &t.failed),
            ] {
                enc.sample(
                    &[("task", task), ("status", status.as_str())],
                    n.get() as f64,
                );
            }
        }
        enc.family(
            "adrec_job_duration_seconds",
            "Duration of the job runs finished by this process, by task.",
            Kind::Histogram,
        );
        for (task, t) in Task::TRIGGERED.iter().zip(&self.tasks) {
            enc.histogram(&[("task", task.as_str())], &t.duration.snapshot());
        }
    }
}

fn task_index(task: Task) -> usize {
    Task::TRIGGERED
        .iter()
        .position(|t| *t == task)
        .expect("only triggered tasks run")
}
