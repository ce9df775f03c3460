//! `LogScanExec`: the physical scan of raw logs, as ranged reads of the object store.
//!
//! The input files are cut into ranges of about `RANGE_BYTES` (`spec`), dealt to the output partitions in
//! turn (range i to partition i mod n), so that a day's rows, contiguous in a date-sorted
//! multi-day file, are spread over every core. Each partition keeps `PREFETCH` ranged GETs in
//! flight on the I/O runtime while it parses the previous one, and reports its bad rows, bytes
//! and rows as DataFusion metrics (`EXPLAIN ANALYZE` shows them; the stages read them). When the
//! query reads `n`, a partition's rows go through its combiner (`combine`) instead of straight
//! into batches, and come out when it is full and at the end.
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};

use super::combine::Combiner;
use super::counts::LineCounts;
use super::metrics::ScanMetrics;
use super::parse::Parser;
use super::read::{OVERHANG, Source, read_lines, slices};
use super::spec::LogScanSpec;

/// Ranged GETs each partition keeps in flight ahead of the one it parses.
const PREFETCH: usize = 2;

#[derive(Debug)]
pub struct LogScanExec {
    spec: LogScanSpec,
    schema: SchemaRef,
    /// Where the ranged GETs run (the service's I/O runtime); the polling runtime if unset.
    io: Option<tokio::runtime::Handle>,
    batch_rows: usize,
    metrics: ExecutionPlanMetricsSet,
    props: Arc<PlanProperties>,
}

impl LogScanExec {
    pub fn new(spec: LogScanSpec, io: Option<tokio::runtime::Handle>, batch_rows: usize) -> Self {
        let schema = spec.schema();
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            spec.partitioning(spec.partitions.len().max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Self {
            spec,
            schema,
            io,
            batch_rows,
            metrics: ExecutionPlanMetricsSet::new(),
            props: Arc::new(props),
        }
    }

    pub fn spec(&self) -> &LogScanSpec {
        &self.spec
    }
}

impl DisplayAs for LogScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: std::collections::BTreeSet<&str> = self
            .spec
            .partitions
            .iter()
            .flatten()
            .map(|r| r.path.as_str())
            .collect();
        let cols: Vec<String> = self.spec.outputs().into_iter().map(|(n, _)| n).collect();
        match t {
            DisplayFormatType::TreeRender => write!(f, "files={}", files.len()),
            _ => write!(
                f,
                "LogScanExec: files={}, bytes={}, partitions={}, projection=[{}], day={:?}",
                files.len(),
                self.spec.total_bytes(),
                self.spec.partitions.len(),
                cols.join(", "),
                self.spec.day.map(super::parse::day_text),
            ),
        }
    }
}

impl ExecutionPlan for LogScanExec {
    fn name(&self) -> &'static str {
        "LogScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
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

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    #[allow(deprecated)]
    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        let bytes = match partition {
            None => self.spec.total_bytes(),
            Some(p) => self
                .spec
                .partitions
                .get(p)
                .map_or(0, |rs| rs.iter().map(|r| r.end - r.start).sum()),
        };
        // About 45 bytes a line in the course's logs; the planner only needs the magnitude
        // (to build hash tables on the small side of a join).
        let mut stats = Statistics::new_unknown(&self.schema);
        stats.num_rows = Precision::Inexact((bytes / 45) as usize);
        stats.total_byte_size = Precision::Inexact(bytes as usize);
        Ok(Arc::new(stats))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let ranges = self
            .spec
            .partitions
            .get(partition)
            .cloned()
            .unwrap_or_default();
        let url = ObjectStoreUrl::parse(&self.spec.store_url)?;
        // adrec registers `file://` as the local file system at its root (`store::make_store`).
        let source = if url.as_str() == "file:///" {
            Source::Local
        } else {
            Source::Store(context.runtime_env().object_store(&url)?)
        };
        let m = Arc::new(ScanMetrics::new(&self.metrics, partition));
        let output = m.clone();
        // The GETs in flight and the one being parsed are this scan's memory.
        let in_flight: u64 = ranges
            .iter()
            .take(PREFETCH + 1)
            .map(|r| r.end - r.start + OVERHANG)
            .sum();
        let reservation = MemoryConsumer::new(format!("LogScanExec[{partition}]"))
            .register(context.memory_pool());
        reservation.try_grow(in_flight as usize)?;
        let parser = Arc::new(Parser::new(
            Arc::new(self.spec.format.clone()),
            self.spec.codes.clone(),
            self.spec.outputs().into_iter().map(|(_, c)| c).collect(),
            self.schema.clone(),
            self.spec.day,
            self.batch_rows,
        ));
        let part = partition as i32;
        // With `n` in the output, the partition's rows are combined, then emitted when the
        // combiner is full (or the pool refuses it more memory) and at the end.
        let combiner = parser.combiner(part).map(|c| {
            let held = MemoryConsumer::new(format!("LogScanExec[{partition}] combiner"))
                .register(context.memory_pool());
            Arc::new(Mutex::new((c, held)))
        });
        let last = combiner.clone();
        let io = self.io.clone();
        let fetches = futures::stream::iter(ranges)
            .map(move |r| {
                let (source, io) = (source.clone(), io.clone());
                async move {
                    let bytes = match io {
                        Some(io) => io
                            .spawn(read_lines(source, r.clone()))
                            .await
                            .map_err(|e| DataFusionError::External(Box::new(e)))??,
                        None => read_lines(source, r.clone()).await?,
                    };
                    Ok::<_, DataFusionError>((r, bytes))
                }
            })
            .buffered(PREFETCH + 1);
        let batches = fetches
            .map_ok(move |(r, bytes)| {
                let _keep = &reservation;
                let timer = m.baseline.elapsed_compute().timer();
                let mut out = Vec::new();
                let mut counts = LineCounts::default();
                let mut combining = combiner.as_ref().map(|c| lock(c));
                let result = slices(&bytes).try_for_each(|s| {
                    let comb = combining.as_deref_mut().map(|(c, _)| c);
                    let date = r.partition_date;
                    parser.parse(&s, date, part, &mut out, &mut counts, comb)?;
                    match combining.as_deref_mut() {
                        Some((c, held)) if c.full() || held.try_resize(c.bytes()).is_err() => {
                            c.emit(&mut out)?;
                            held.resize(c.bytes());
                            Ok(())
                        }
                        _ => Ok(()),
                    }
                });
                timer.done();
                m.record(&counts, bytes.len());
                result
                    .map(|()| futures::stream::iter(out.into_iter().map(Ok::<_, DataFusionError>)))
            })
            .and_then(futures::future::ready)
            .try_flatten();
        let rest = futures::stream::once(async move {
            let mut out = Vec::new();
            if let Some(c) = &last {
                let (c, held) = &mut *lock(c);
                c.emit(&mut out)?;
                held.free();
            }
            Ok::<_, DataFusionError>(futures::stream::iter(out.into_iter().map(Ok)))
        })
        .try_flatten();
        let batches = batches.chain(rest);
        let stream = batches.inspect_ok(move |b| {
            output.baseline.record_output(b.num_rows());
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}

/// A partition's combiner and the memory it holds in the pool. Only its own stream locks it, one
/// range at a time, so the lock is never contended (nor poisoned but by a panic, which a
/// partition does not outlive).
type Held = Arc<Mutex<(Combiner, MemoryReservation)>>;

fn lock(c: &Held) -> MutexGuard<'_, (Combiner, MemoryReservation)> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}
