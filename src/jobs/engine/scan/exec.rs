//! `LogScanExec`: the physical scan of raw logs, as ranged reads of the object store.
//!
//! The input files are cut into ranges of about `RANGE_BYTES`, dealt to the output partitions in
//! turn (range i to partition i mod n), so that a day's rows, contiguous in a date-sorted
//! multi-day file, are spread over every core. Each partition keeps `PREFETCH` ranged GETs in
//! flight on the I/O runtime while it parses the previous one, and reports its bad rows, bytes
//! and rows as DataFusion metrics (`EXPLAIN ANALYZE` shows them; the stages read them).
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, Statistics};
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::codes::Codes;
use super::counts::LineCounts;
use super::format::{LogFormat, PART, TableColumn};
use super::metrics::ScanMetrics;
use super::parse::Parser;
use super::read::{OVERHANG, Source, read_lines, slices};

/// Bytes per ranged GET: large enough for S3 throughput, small enough to spread a day over cores.
pub const RANGE_BYTES: u64 = 8 << 20;
/// Ranged GETs each partition keeps in flight ahead of the one it parses.
const PREFETCH: usize = 2;

/// One range of one input file; the scan owns the lines that *start* in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRange {
    pub path: String,
    pub size: u64,
    pub start: u64,
    pub end: u64,
    /// The hive partition's date (days since epoch), whose rows may leave the date out.
    pub partition_date: Option<i32>,
}

/// Everything that defines a scan; serializable, so a plan can travel to other processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogScanSpec {
    pub format: LogFormat,
    /// The advertiser codes the table's `advertiser_code` column looks up, if it has one.
    pub codes: Option<Arc<Codes>>,
    pub store_url: String,
    /// Per output partition, its ranges in reading order.
    pub partitions: Vec<Vec<FileRange>>,
    /// Indices of the table's columns (`LogFormat::table_columns`) that are output.
    pub projection: Vec<usize>,
    /// Keep only this day's rows (days since epoch): the pushed-down `date = …` predicate.
    pub day: Option<i32>,
}

impl LogScanSpec {
    /// Cuts `files` (path, size, partition date) into ranges dealt over `target` partitions.
    pub fn plan_ranges(files: &[(String, u64, Option<i32>)], target: usize) -> Vec<Vec<FileRange>> {
        let mut ranges = Vec::new();
        for (path, size, partition_date) in files {
            let mut start = 0;
            while start < *size {
                let end = (start + RANGE_BYTES).min(*size);
                // Avoid a sliver at the end of a file: the last range takes it.
                let end = if size - end < RANGE_BYTES / 4 {
                    *size
                } else {
                    end
                };
                ranges.push(FileRange {
                    path: path.clone(),
                    size: *size,
                    start,
                    end,
                    partition_date: *partition_date,
                });
                start = end;
            }
        }
        let n = target.clamp(1, ranges.len().max(1));
        let mut parts = vec![Vec::new(); n];
        for (i, r) in ranges.into_iter().enumerate() {
            parts[i % n].push(r);
        }
        parts
    }

    pub fn total_bytes(&self) -> u64 {
        self.partitions
            .iter()
            .flatten()
            .map(|r| r.end - r.start)
            .sum()
    }

    /// The table columns output, in order.
    pub fn outputs(&self) -> Vec<(String, TableColumn)> {
        let all = self.format.table_columns(self.codes.is_some());
        self.projection.iter().map(|&i| all[i].clone()).collect()
    }

    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        let table = self.format.table_schema(self.codes.is_some());
        Arc::new(table.project(&self.projection).expect("a valid projection"))
    }

    /// Hash partitioned on `part` when it is output (each value is read by one partition, so
    /// rows with equal `part` are in one partition: what a hash partitioning promises), else
    /// of unknown partitioning. `n` partitions.
    pub fn partitioning(&self, n: usize) -> Partitioning {
        let part = self
            .outputs()
            .iter()
            .position(|(_, c)| *c == TableColumn::Part);
        match part {
            Some(i) => Partitioning::Hash(vec![Arc::new(Column::new(PART, i))], n),
            None => Partitioning::UnknownPartitioning(n),
        }
    }
}

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
                let result = slices(&bytes).try_for_each(|s| {
                    parser.parse(&s, r.partition_date, part, &mut out, &mut counts)
                });
                timer.done();
                m.record(&counts, bytes.len());
                result
                    .map(|()| futures::stream::iter(out.into_iter().map(Ok::<_, DataFusionError>)))
            })
            .and_then(futures::future::ready)
            .try_flatten();
        let stream = batches.inspect_ok(move |b| {
            output.baseline.record_output(b.num_rows());
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema.clone(),
            stream,
        )))
    }
}
