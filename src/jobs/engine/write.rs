//! Writing a query's result where it is computed: each partition of the plan writes its own
//! Parquet file, in this process and on every Ballista task alike.
//!
//! DataFusion's own Parquet sink needs one input partition, so on a cluster every row would move
//! to one task to be written. Here the query is inserted (`INSERT INTO`, a DML plan that travels
//! to the scheduler) into a [`PartSink`], whose [`PartWriteExec`] writes partition by partition.
//! The query's `outcome` column decides which rows are the output (`kept`); the others are only
//! counted. A row's weight is its `n` column (a multiset), else 1.
//!
//! With `bucket_by`, each partition splits its rows into buckets by that column, with the hash
//! and the bucket count DataFusion's own hash repartitioning would use, and writes a file per
//! bucket: a reader that groups the files by bucket has its rows hash partitioned on the
//! column as if an exchange had moved them (`bucketed`), so the models aggregate and rank each
//! bucket where it is read, with no exchange on any engine.
//!
//! What each partition did comes back as a report next to the files (`<dir>_parts/<table>/`):
//! the files with their rows and events, the rows by outcome, and the scan partitions that fed
//! it with their line counts (`scan::SlicedScanExec::ran`). A report is written only after its
//! files are complete, so a task that died mid-write leaves files without a report, and a task
//! run twice (a retry) leaves two reports for the same scan partitions: `reports::collect` keeps
//! exactly one per scan partition and says which files to delete.
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::UInt64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties, ReplaceChildrenOptions,
};
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::reports::PartReport;

/// Where and how a query's partitions are written; travels in plans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteSpec {
    /// The object store's URL (`file://`, `s3://bucket`).
    pub store_url: String,
    /// The key prefix of the output's date directory, ending with `/`.
    pub dir: String,
    pub table: String,
    pub run_id: Uuid,
    /// The stage's attempt at the query: 1, and 2 when a cluster lost the first one's job
    /// (`Engine::write`). It names the files, so the retry's are told from the lost attempt's.
    pub attempt: u32,
    /// Parquet settings for an intermediate read once, whole (see `store::output`).
    pub intermediate: bool,
    /// The column each partition's rows are bucketed by (`None`: one file per partition).
    pub bucket_by: Option<String>,
    /// How many buckets: set once by the plan that writes (its partition count, at most
    /// `MAX_BUCKETS`) and kept as the plan travels, so every task splits alike.
    pub buckets: u32,
}

/// At most this many buckets: a partition writes a file per bucket, so files grow as the
/// square of the partitions up to here, and linearly beyond; and a task's open files buffer up
/// to about 6 MiB each (`part_files`), 190 MiB at 32 buckets.
pub const MAX_BUCKETS: u32 = 32;

impl WriteSpec {
    /// Where this table's partition reports go, relative to `dir`.
    pub fn reports(&self) -> String {
        format!("_parts/{}/", self.table)
    }

    /// What every file and report of this attempt is named from: `<run id>-a<attempt>-`.
    pub fn attempt_prefix(&self) -> String {
        format!("{}-a{}-", self.run_id, self.attempt)
    }
}

/// The table a query is inserted into to be written by partition (`INSERT INTO`).
#[derive(Debug)]
pub struct PartSink {
    pub spec: WriteSpec,
    /// The query's schema: `outcome` and `n` included.
    pub schema: SchemaRef,
}

#[async_trait]
impl TableProvider for PartSink {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _: &dyn Session,
        _: Option<&Vec<usize>>,
        _: &[Expr],
        _: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Err(DataFusionError::Plan(format!(
            "{} is written, not read",
            self.spec.table
        )))
    }

    async fn insert_into(
        &self,
        _: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        _: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(PartWriteExec::new(input, self.spec.clone())?))
    }
}

/// Writes each input partition's kept rows to a file of its own; outputs one `count` row per
/// partition (what a DML plan answers) and leaves a [`PartReport`] beside the files.
#[derive(Debug)]
pub struct PartWriteExec {
    input: Arc<dyn ExecutionPlan>,
    spec: WriteSpec,
    props: Arc<PlanProperties>,
}

impl PartWriteExec {
    pub fn new(input: Arc<dyn ExecutionPlan>, mut spec: WriteSpec) -> Result<Self> {
        input.schema().index_of("outcome")?;
        let n = input.output_partitioning().partition_count();
        if let Some(column) = &spec.bucket_by {
            input.schema().index_of(column)?;
            if spec.buckets == 0 {
                spec.buckets = (n as u32).clamp(1, MAX_BUCKETS);
            }
        }
        let schema = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )]));
        let props = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(n),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Ok(Self {
            input,
            spec,
            props: Arc::new(props),
        })
    }

    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }

    pub fn input(&self) -> &Arc<dyn ExecutionPlan> {
        &self.input
    }
}

impl DisplayAs for PartWriteExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "PartWriteExec: {}{}", self.spec.dir, self.spec.table)
    }
}

impl ExecutionPlan for PartWriteExec {
    fn name(&self) -> &'static str {
        "PartWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.props
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    // Writing where the rows are: no repartitioning, no merge in front of it.
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
        let [input] = <[_; 1]>::try_from(children).map_err(|c| {
            DataFusionError::Internal(format!("PartWriteExec has one input, got {}", c.len()))
        })?;
        Ok(Arc::new(Self::new(input, self.spec.clone())?))
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

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context.clone())?;
        let store = context
            .runtime_env()
            .object_store(ObjectStoreUrl::parse(&self.spec.store_url)?)?;
        let (spec, input) = (self.spec.clone(), self.input.clone());
        let schema = self.schema();
        let out = schema.clone();
        let written = async move {
            let report = super::part_files::write_partition(stream, store.clone(), &spec).await?;
            let report = PartReport {
                scans: super::reports::scans_of(&input, partition),
                ..report
            };
            let key = format!("{}{}{}.json", spec.dir, spec.reports(), report.attempt);
            let body =
                serde_json::to_vec(&report).map_err(|e| DataFusionError::External(e.into()))?;
            store.put(&ObjPath::from(key.as_str()), body.into()).await?;
            let count = Arc::new(UInt64Array::from(vec![report.rows]));
            Ok(RecordBatch::try_new(out, vec![count])?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(written),
        )))
    }
}
