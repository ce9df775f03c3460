//! `SlicedScanExec`: a log scan whose partitions are listed by a child, so that a Ballista task
//! runs only its own, and which remembers which it ran, with their line counts.
//!
//! Ballista hands a stage's partitions to tasks by rewriting the leaves it knows (file and
//! memory scans, shuffle readers) to the task's slice and leaves any other leaf whole: a
//! `LogScanExec` leaf would make every task of a stage scan every partition (on two executors,
//! the day twice). Here the leaf Ballista slices is a memory table of partition numbers, one row
//! per partition, and the scan (not a child, so no rewrite touches it) runs only the partitions
//! that reach the task. In this process the child lists every partition, and output partition
//! `i` is scan partition `i`.
//!
//! A writer above it (`write::PartWriteExec`) asks, once its input partition is over, which scan
//! partitions fed it and what they counted ([`SlicedScanExec::ran`]): the bad-row counts of every
//! scan come back with the written files, in either engine.
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};

use super::counts::LineCounts;
use super::exec::LogScanExec;
use super::metrics::partition_counts;

#[derive(Debug)]
pub struct SlicedScanExec {
    scan: Arc<LogScanExec>,
    /// `UInt32` column `partition`: the scan's partitions this plan runs, one row each.
    slices: Arc<dyn ExecutionPlan>,
    props: Arc<PlanProperties>,
    /// Output partition -> the scan partitions it ran, recorded as they start.
    ran: Arc<Mutex<BTreeMap<usize, Vec<usize>>>>,
}

impl SlicedScanExec {
    /// Over every partition of `scan`, one per output partition.
    pub fn over(scan: Arc<LogScanExec>) -> Result<Self> {
        let n = scan.spec().partitions.len().max(1);
        let schema = Arc::new(Schema::new(vec![Field::new(
            "partition",
            DataType::UInt32,
            false,
        )]));
        let parts = (0..n as u32)
            .map(|p| {
                let col = Arc::new(UInt32Array::from(vec![p])) as ArrayRef;
                Ok(vec![RecordBatch::try_new(schema.clone(), vec![col])?])
            })
            .collect::<Result<Vec<_>>>()?;
        let slices = MemorySourceConfig::try_new_exec(&parts, schema, None)?;
        Ok(Self::new(scan, slices))
    }

    /// With `slices` as decoded (or restricted): the partitions its output partitions run.
    pub fn new(scan: Arc<LogScanExec>, slices: Arc<dyn ExecutionPlan>) -> Self {
        let n = slices.output_partitioning().partition_count();
        let props = scan
            .properties()
            .as_ref()
            .clone()
            .with_partitioning(scan.spec().partitioning(n));
        Self {
            scan,
            slices,
            props: Arc::new(props),
            ran: Arc::default(),
        }
    }

    pub fn scan(&self) -> &LogScanExec {
        &self.scan
    }

    /// How many partitions the whole scan has (this plan may run only some).
    pub fn scan_partitions(&self) -> usize {
        self.scan.spec().partitions.len().max(1)
    }

    /// The scan partitions output partition `i` ran, with their line counts. Complete once `i`'s
    /// stream has ended.
    pub fn ran(&self, i: usize) -> Vec<(usize, LineCounts)> {
        let ran = self.ran.lock().expect("poisoned");
        ran.get(&i)
            .into_iter()
            .flatten()
            .map(|&p| (p, partition_counts(self.scan.as_ref(), p)))
            .collect()
    }
}

impl DisplayAs for SlicedScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SlicedScanExec: over ")?;
        self.scan.fmt_as(t, f)
    }
}

impl ExecutionPlan for SlicedScanExec {
    fn name(&self) -> &'static str {
        "SlicedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.slices]
    }

    // A repartitioned list of partition numbers would still run each once, but nothing gains.
    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [slices] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!("SlicedScanExec has one input, got {}", c.len()))
        })?;
        Ok(Arc::new(Self::new(self.scan.clone(), slices)))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    /// The whole scan's (the planner needs the magnitude, to build on the small side of a
    /// join); per partition, unknown.
    #[allow(deprecated)]
    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        match partition {
            None => self.scan.partition_statistics(None),
            Some(_) => Ok(Arc::new(Statistics::new_unknown(&self.scan.schema()))),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let slices = self.slices.execute(partition, context.clone())?;
        let (scan, ran) = (self.scan.clone(), self.ran.clone());
        let runs = async move {
            let batches: Vec<RecordBatch> = slices.try_collect().await?;
            let mut ids = Vec::new();
            for b in &batches {
                let col = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<UInt32Array>()
                    .ok_or_else(|| {
                        DataFusionError::Internal("SlicedScanExec: partitions not UInt32".into())
                    })?;
                ids.extend(col.values().iter().map(|&p| p as usize));
            }
            ran.lock()
                .expect("poisoned")
                .entry(partition)
                .or_default()
                .extend(&ids);
            let each = futures::stream::iter(ids).map(move |p| scan.execute(p, context.clone()));
            Ok::<_, DataFusionError>(each.try_flatten())
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.scan.schema(),
            futures::stream::once(runs).try_flatten(),
        )))
    }
}
