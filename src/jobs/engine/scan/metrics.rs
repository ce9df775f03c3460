//! The scan's metrics: each partition's line counts and bytes as DataFusion metrics (so
//! `EXPLAIN ANALYZE` shows them), and their sums over the scans of a plan, which the stages read.
use std::sync::Arc;

use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder,
};

use super::counts::{LineCounts, Skip};
use super::exec::LogScanExec;
use super::sliced::SlicedScanExec;

/// The scan's own metrics, by name; summed over partitions by [`scan_counts`].
pub(super) struct ScanMetrics {
    pub baseline: BaselineMetrics,
    bytes: Count,
    /// Lines kept: the output rows, or more when the scan combines them (`combine`).
    kept: Count,
    /// In `Skip::ALL` order, each named by its `Skip`.
    skipped: [Count; 5],
}

/// The metric of the bytes each partition has parsed (progress reads it while the scan runs).
const BYTES_SCANNED: &str = "bytes_scanned";
/// The metric of the lines each partition kept.
const ROWS_KEPT: &str = "rows_kept";

impl ScanMetrics {
    pub fn new(set: &ExecutionPlanMetricsSet, partition: usize) -> Self {
        let c = |name: &'static str| MetricBuilder::new(set).counter(name, partition);
        Self {
            baseline: BaselineMetrics::new(set, partition),
            bytes: c(BYTES_SCANNED),
            kept: c(ROWS_KEPT),
            skipped: Skip::ALL.map(|k| c(k.as_str())),
        }
    }

    pub fn record(&self, c: &LineCounts, bytes: usize) {
        self.bytes.add(bytes);
        self.kept.add(c.rows as usize);
        for (m, k) in self.skipped.iter().zip(Skip::ALL) {
            m.add(c.skipped(k) as usize);
        }
    }
}

/// Line counts summed over every log scan in an executed plan.
pub fn scan_counts(plan: &Arc<dyn ExecutionPlan>) -> LineCounts {
    let mut total = LineCounts::default();
    visit(plan, &mut |scan: &LogScanExec| {
        if let Some(m) = scan.metrics() {
            total.rows += m.sum_by_name(ROWS_KEPT).map_or(0, |v| v.as_usize() as u64);
            for k in Skip::ALL {
                *total.skipped_mut(k) +=
                    m.sum_by_name(k.as_str()).map_or(0, |v| v.as_usize() as u64);
            }
        }
    });
    total
}

/// Line counts of one partition of one executed scan (for reports sent across processes).
pub fn partition_counts(scan: &dyn ExecutionPlan, partition: usize) -> LineCounts {
    let mut c = LineCounts::default();
    let Some(metrics) = scan.metrics() else {
        return c;
    };
    for m in metrics.iter().filter(|m| m.partition() == Some(partition)) {
        let v = m.value().as_usize() as u64;
        match m.value().name() {
            ROWS_KEPT => c.rows += v,
            name => {
                if let Some(k) = Skip::parse(name) {
                    *c.skipped_mut(k) += v;
                }
            }
        }
    }
    c
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
    if let Some(sliced) = plan.downcast_ref::<SlicedScanExec>() {
        f(sliced.scan());
    }
    for child in plan.children() {
        visit(child, f);
    }
}
