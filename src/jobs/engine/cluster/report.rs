//! Bad-row counts across processes: a scan that leaves its line counts in the object store.
//!
//! In-process, a stage reads the log scan's counts from the executed plan's metrics. On Ballista
//! the plan runs on executors and its metrics never come back to the service, so the stage
//! registers its logs as [`ReportedLogTable`]s: their scans are wrapped in a [`ReportScanExec`],
//! which, when a partition's stream ends, writes that partition's counts as
//! `<report>part-<i>-of-<n>.json`. The stage then reads all `n` files ([`read_counts`]) and
//! fails if one is missing. A retried task or a recomputed stage writes the same file again with
//! the same counts, so retries never count twice.
use std::fmt;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties, ReplaceChildrenOptions,
};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};

use crate::jobs::engine::scan::{LineCounts, LogScanExec, LogTable, partition_counts};
use crate::jobs::store::Location;

/// A log table whose scans report their line counts under `report` (a directory URL).
#[derive(Debug)]
pub struct ReportedLogTable {
    log: LogTable,
    report: String,
}

impl ReportedLogTable {
    pub fn new(log: LogTable, report: String) -> Self {
        Self { log, report }
    }

    pub fn log(&self) -> &LogTable {
        &self.log
    }

    pub fn report(&self) -> &str {
        &self.report
    }
}

#[async_trait]
impl TableProvider for ReportedLogTable {
    fn schema(&self) -> SchemaRef {
        self.log.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.log.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let scan = self.log.scan(state, projection, filters, limit).await?;
        let any: Arc<dyn std::any::Any + Send + Sync> = scan;
        let scan = any
            .downcast::<LogScanExec>()
            .map_err(|_| DataFusionError::Internal("a log table plans a LogScanExec".into()))?;
        Ok(Arc::new(ReportScanExec::over(scan, self.report.clone())?))
    }
}

/// One partition's line counts, as written by [`ReportScanExec`].
#[derive(Debug, Default, Serialize, Deserialize)]
struct Report {
    partition: usize,
    partitions: usize,
    #[serde(flatten)]
    counts: LineCounts,
}

/// Runs a `LogScanExec`'s partitions as its child, a one-column table of partition numbers,
/// lists them, and at the end of each writes the partition's line counts under `report`.
///
/// Why the indirection: Ballista hands a stage's partitions to tasks by rewriting the leaves
/// it knows (file and memory scans, shuffle readers) to the task's slice, and leaves any other
/// leaf whole. A `LogScanExec` leaf would make every task of a stage scan every partition: with
/// two executors, the day twice. Here the leaf Ballista slices is the memory table, and the
/// scan (not a child, so no rewrite touches it) runs only the partitions that reach the task.
#[derive(Debug)]
pub struct ReportScanExec {
    scan: Arc<LogScanExec>,
    /// `UInt32` column `partition`: the scan's partitions, one per row, one row per partition.
    slices: Arc<dyn ExecutionPlan>,
    report: String,
    props: Arc<PlanProperties>,
}

impl ReportScanExec {
    /// Over every partition of `scan`, one per output partition.
    pub fn over(scan: Arc<LogScanExec>, report: String) -> Result<Self> {
        let n = scan.properties().output_partitioning().partition_count();
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
        Ok(Self::new(scan, slices, report))
    }

    /// With `slices` as decoded (or restricted): the partitions its output partitions run.
    pub fn new(scan: Arc<LogScanExec>, slices: Arc<dyn ExecutionPlan>, report: String) -> Self {
        let n = slices.output_partitioning().partition_count();
        let props = Arc::new(
            scan.properties()
                .as_ref()
                .clone()
                .with_partitioning(Partitioning::UnknownPartitioning(n)),
        );
        Self {
            scan,
            slices,
            report,
            props,
        }
    }

    pub fn scan(&self) -> &LogScanExec {
        &self.scan
    }

    pub fn report(&self) -> &str {
        &self.report
    }
}

impl DisplayAs for ReportScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ReportScanExec: report={}, over ", self.report)?;
        self.scan.fmt_as(t, f)
    }
}

impl ExecutionPlan for ReportScanExec {
    fn name(&self) -> &'static str {
        "ReportScanExec"
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
            DataFusionError::Internal(format!("ReportScanExec has one input, got {}", c.len()))
        })?;
        Ok(Arc::new(Self::new(
            self.scan.clone(),
            slices,
            self.report.clone(),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(
                datafusion::physical_plan::ChildrenPropertiesMode::Recompute,
            ),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let url = url::Url::parse(&self.report)
            .map_err(|e| DataFusionError::Configuration(format!("report URL: {e}")))?;
        let store = context
            .runtime_env()
            .object_store(ObjectStoreUrl::parse(store_root(&url))?)?;
        let dir = key_of(&url);
        let slices = self.slices.execute(partition, context.clone())?;
        let scan = self.scan.clone();
        let partitions = scan.properties().output_partitioning().partition_count();
        let runs = async move {
            let batches: Vec<RecordBatch> = slices.try_collect().await?;
            let mut ids = Vec::new();
            for b in &batches {
                let col = b
                    .column(0)
                    .as_any()
                    .downcast_ref::<UInt32Array>()
                    .ok_or_else(|| {
                        DataFusionError::Internal("ReportScanExec: partitions not UInt32".into())
                    })?;
                ids.extend(col.values().iter().map(|&p| p as usize));
            }
            let each = futures::stream::iter(ids).map(move |p| {
                let stream = scan.execute(p, context.clone())?;
                let (scan, store) = (scan.clone(), store.clone());
                let key = format!("{dir}part-{p}-of-{partitions}.json");
                let write = async move {
                    let report = Report {
                        partition: p,
                        partitions,
                        counts: partition_counts(scan.as_ref(), p),
                    };
                    let body = serde_json::to_vec(&report)
                        .map_err(|e| DataFusionError::External(e.into()))?;
                    store.put(&ObjPath::from(key.as_str()), body.into()).await?;
                    Ok::<_, DataFusionError>(())
                };
                // Runs once the partition's stream has ended; yields no batch, only an error.
                let tail =
                    futures::stream::once(write).filter_map(|r| async move { r.err().map(Err) });
                Ok::<_, DataFusionError>(stream.chain(tail))
            });
            Ok::<_, DataFusionError>(each.try_flatten())
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.scan.schema(),
            futures::stream::once(runs).try_flatten(),
        )))
    }
}

/// `s3://bucket` of `s3://bucket/a/b/`, `file://` of `file:///a/b/`.
fn store_root(url: &url::Url) -> String {
    format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""))
}

fn key_of(url: &url::Url) -> String {
    percent_encoding::percent_decode_str(url.path().trim_start_matches('/'))
        .decode_utf8_lossy()
        .into_owned()
}

/// Sums the reports under `rel` (relative to `work`); fails unless every partition reported.
pub async fn read_counts(work: &Location, rel: &str) -> anyhow::Result<LineCounts> {
    let entries = work.list(rel).await.context("listing the scan reports")?;
    let mut total = LineCounts::default();
    let mut seen = std::collections::BTreeSet::new();
    let mut expected = None;
    for e in entries.iter().filter(|e| e.rel.ends_with(".json")) {
        let bytes = work
            .get(&e.rel)
            .await?
            .with_context(|| format!("scan report {} vanished", e.rel))?;
        let r: Report = serde_json::from_slice(&bytes)
            .with_context(|| format!("scan report {} is unreadable", e.rel))?;
        if !seen.insert(r.partition) {
            continue;
        }
        expected = Some(r.partitions);
        total.add(&r.counts);
    }
    match expected {
        Some(n) if seen.len() == n => Ok(total),
        n => anyhow::bail!(
            "the cluster's log scan reported {} of {} partitions under {}: bad-row counts \
             would be incomplete",
            seen.len(),
            n.map_or("?".to_owned(), |n| n.to_string()),
            work.url_of(rel)
        ),
    }
}
