//! The scan's metrics: each partition's line counts and bytes as DataFusion metrics (so
//! `EXPLAIN ANALYZE` shows them), and their sums over the scans of a plan, which the stages read.
use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder,
};

use super::exec::LogScanExec;
use super::parse::LineCounts;

/// The scan's own metrics, by name; summed over partitions by [`scan_counts`].
pub(super) struct ScanMetrics {
    pub baseline: BaselineMetrics,
    bytes: Count,
    reasons: [Count; 5],
}

/// The metric of the bytes each partition has parsed (progress reads it while the scan runs).
const BYTES_SCANNED: &str = "bytes_scanned";

/// The line-count metrics, in `LineCounts` order after `rows`.
pub const REASONS: [&str; 5] = [
    "blank",
    "bad_encoding",
    "malformed",
    "bad_date",
    "other_day",
];

impl ScanMetrics {
    pub fn new(set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        let c = |name: &'static str| MetricBuilder::new(set).counter(name, partition);
        Self {
            baseline: BaselineMetrics::new(set, partition),
            bytes: c(BYTES_SCANNED),
            reasons: REASONS.map(c),
        }
    }

    pub fn record(&self, c: &LineCounts, bytes: usize) {
        self.bytes.add(bytes);
        let values = [
            c.blank,
            c.bad_encoding,
            c.malformed,
            c.bad_date,
            c.other_day,
        ];
        for (m, v) in self.reasons.iter().zip(values) {
            m.add(v as usize);
        }
    }
}

/// Line counts summed over every log scan in an executed plan.
pub fn scan_counts(plan: &Arc<dyn ExecutionPlan>) -> LineCounts {
    let mut total = LineCounts::default();
    visit(plan, &mut |scan: &LogScanExec| {
        if let Some(m) = scan.metrics() {
            let [blank, bad_encoding, malformed, bad_date, other_day] =
                REASONS.map(|name| m.sum_by_name(name).map_or(0, |v| v.as_usize() as u64));
            total.add(&LineCounts {
                rows: m.output_rows().unwrap_or(0) as u64,
                blank,
                bad_encoding,
                malformed,
                bad_date,
                other_day,
            });
        }
    });
    total
}

/// Bytes scanned so far and in all by the log scans of a plan (live while it runs).
pub fn scan_progress(plan: &Arc<dyn ExecutionPlan>) -> (u64, u64) {
    let (mut done, mut total) = (0, 0);
    visit(plan, &mut |scan: &LogScanExec| {
        total += scan.spec().total_bytes();
        if let Some(m) = scan.metrics() {
            done += m
                .sum_by_name(BYTES_SCANNED)
                .map_or(0, |v| v.as_usize() as u64);
        }
    });
    (done, total)
}

fn visit(plan: &Arc<dyn ExecutionPlan>, f: &mut dyn FnMut(&LogScanExec)) {
    if let Some(scan) = plan.downcast_ref::<LogScanExec>() {
        f(scan);
    }
    for child in plan.children() {
        visit(child, f);
    }
}
