//! How far a running run has got: the stage under way and, while the raw logs are scanned, the
//! bytes read of the total. Read live from the running plans' scan metrics, so reporting costs
//! the scan nothing; `GET /jobs/runs/{id}` shows it, and the heartbeat stores it for other
//! instances.
use std::sync::{Arc, Mutex};

use datafusion::physical_plan::ExecutionPlan;

use crate::domain::{ProgressReport, Task};
use crate::jobs::engine::scan;

#[derive(Default)]
pub struct Progress {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    stage: Option<(Task, u32, u32)>,
    bytes_total: Option<u64>,
    plans: Vec<Arc<dyn ExecutionPlan>>,
}

impl Progress {
    /// A new stage starts (step of steps): its scans are counted from zero.
    pub fn stage(&self, task: Task, step: u32, steps: u32) {
        let mut s = self.state.lock().expect("poisoned");
        *s = State {
            stage: Some((task, step, steps)),
            ..State::default()
        };
    }

    /// The bytes this stage's scans will read in all.
    pub fn expect_bytes(&self, total: u64) {
        self.state.lock().expect("poisoned").bytes_total = Some(total);
    }

    /// A plan whose log scans count towards this stage.
    pub fn watch(&self, plan: Arc<dyn ExecutionPlan>) {
        self.state.lock().expect("poisoned").plans.push(plan);
    }

    pub fn report(&self) -> ProgressReport {
        let s = self.state.lock().expect("poisoned");
        let mut r = ProgressReport {
            stage: s.stage.map(|(t, ..)| t),
            step: s.stage.map(|(_, i, _)| i),
            steps: s.stage.map(|(.., n)| n),
            bytes_total: s.bytes_total,
            ..ProgressReport::default()
        };
        if s.bytes_total.is_some() {
            let (mut bytes, mut rows) = (0, 0);
            for p in &s.plans {
                bytes += scan::scan_progress(p).0;
                rows += scan::scan_counts(p).rows;
            }
            r.bytes_scanned = Some(bytes);
            r.rows = Some(rows);
        }
        r
    }
}
