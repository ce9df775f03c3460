//! Writing a query's result where it is computed: each partition of the plan writes its own
//! Parquet file, in this process and on every Ballista task alike.
//!
//! DataFusion's own Parquet sink needs one input partition, so on a cluster every row would move
//! to one task to be written. Here the query is inserted (`INSERT INTO`, a DML plan that travels
//! to the scheduler) into a [`PartSink`], whose [`PartWriteExec`] writes partition by partition.
//! The query's `outcome` column decides which rows are the output (`kept`); the others are only
//! counted. A row's weight is its `n` column (a multiset), else 1.
//!
//! What each partition did comes back as a report next to the files (`<dir>_parts/<table>/`):
//! the file, its rows and events, the rows by outcome, and the scan partitions that fed it with
//! their line counts (`scan::SlicedScanExec::ran`). A report is written only after its file is
//! complete, so a task that died mid-write leaves a file without a report, and a task run twice
//! (a retry) leaves two reports for the same scan partitions: `reports::collect` keeps exactly
//! one per scan partition and says which files to delete.
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, UInt64Array};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties, ReplaceChildrenOptions,
};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::reports::PartReport;
use crate::domain::{Outcome, OutcomeCounts};
use crate::jobs::store;

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
}

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
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: WriteSpec) -> Result<Self> {
        input.schema().index_of("outcome")?;
        let schema = Arc::new(Schema::new(vec![Field::new(
            "count",
            DataType::UInt64,
            false,
        )]));
        let n = input.output_partitioning().partition_count();
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
            let report = write_partition(stream, store.clone(), &spec).await?;
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

/// Streams one partition: kept rows to a new file (none if nothing is kept), every row counted.
async fn write_partition(
    mut stream: SendableRecordBatchStream,
    store: Arc<dyn object_store::ObjectStore>,
    spec: &WriteSpec,
) -> Result<PartReport> {
    let schema = stream.schema();
    let outcome_idx = schema.index_of("outcome")?;
    let n_idx = schema.index_of("n").ok();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|i| *i != outcome_idx)
        .collect();
    let file_schema = store::plain_schema(&schema.project(&keep)?);
    let attempt = format!("{}{}", spec.attempt_prefix(), Uuid::new_v4().simple());
    let rel = format!("{}/part-{attempt}.parquet", spec.table);
    let mut writer: Option<AsyncArrowWriter<BufWriter>> = None;
    let (mut outcomes, mut rows, mut events) = (OutcomeCounts::default(), 0u64, 0u64);
    while let Some(batch) = stream.try_next().await? {
        let outcome = cast(batch.column(outcome_idx), &DataType::Utf8)?;
        let outcome = outcome.as_string::<i32>();
        let n = n_idx
            .map(|i| cast(batch.column(i), &DataType::Int64))
            .transpose()?;
        let n = n.as_ref().map(|a| a.as_primitive::<Int64Type>());
        let weight = |i: usize| n.map_or(1, |n| n.value(i).max(0) as u64);
        let mut mask = Vec::with_capacity(outcome.len());
        for i in 0..outcome.len() {
            let o: Outcome = outcome
                .value(i)
                .parse()
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let w = weight(i);
            outcomes.add(o, w);
            let kept = o == Outcome::Kept;
            if kept {
                events += w;
            }
            mask.push(kept);
        }
        let mask = BooleanArray::from(mask);
        if mask.true_count() == 0 {
            continue;
        }
        let kept = filter_record_batch(&batch.project(&keep)?, &mask)?;
        let kept = store::normalize(kept).map_err(|e| DataFusionError::External(e.into()))?;
        rows += kept.num_rows() as u64;
        if writer.is_none() {
            let key = ObjPath::from(format!("{}{rel}", spec.dir));
            let sink = BufWriter::new(store.clone(), key);
            let props = store::writer_properties(spec.intermediate);
            writer = Some(AsyncArrowWriter::try_new(
                sink,
                file_schema.clone(),
                Some(props),
            )?);
        }
        if let Some(w) = writer.as_mut() {
            w.write(&kept).await?;
        }
    }
    let file = match writer {
        Some(w) => {
            w.close().await?;
            Some(rel)
        }
        None => None,
    };
    Ok(PartReport {
        table: spec.table.clone(),
        attempt,
        file,
        rows,
        events,
        outcomes,
        scans: Vec::new(),
    })
}
