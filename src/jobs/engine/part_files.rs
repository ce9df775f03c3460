//! One written partition's files (`write::PartWriteExec`): its kept rows streamed into Parquet,
//! one file, or one per bucket of `WriteSpec::bucket_by`, opened as the first row for it comes.
//!
//! Rows are bucketed by DataFusion's own [`BatchPartitioner`] (the hash and the modulo its
//! `RepartitionExec` applies), so that a reader may declare the files of bucket `b` to be
//! partition `b` of a hash partitioning on the column (`bucketed`) and be right, joins included.
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::metrics::Time;
use datafusion::physical_plan::repartition::BatchPartitioner;
use futures::TryStreamExt;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::reports::PartReport;
use super::write::WriteSpec;
use crate::domain::{Outcome, OutcomeCounts};
use crate::jobs::store;

/// The least a bucket's file holds per row group before it is written out.
const MIN_ROW_GROUP_BYTES: usize = 1 << 20;

/// What a file buffers before its upload turns multipart (`BufWriter::new`'s default), and the
/// least: a multipart part smaller than 5 MiB is refused by S3.
const UPLOAD_BUFFER_BYTES: usize = 10 << 20;
const MIN_UPLOAD_BUFFER_BYTES: usize = 5 << 20;

/// A file a partition wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartFile {
    /// Relative to the date directory.
    pub path: String,
    pub rows: u64,
    /// The events its rows stand for (the sum of `n`).
    pub events: u64,
    /// `(bucket, buckets)` when the rows were bucketed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<(u32, u32)>,
}

/// Streams one partition: kept rows to new files (none if nothing is kept), every row counted.
pub(super) async fn write_partition(
    mut stream: SendableRecordBatchStream,
    store: Arc<dyn ObjectStore>,
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
    let mut files = Files::new(spec, &attempt, file_schema, store)?;
    let mut outcomes = OutcomeCounts::default();
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
            outcomes.add(o, weight(i));
            mask.push(o == Outcome::Kept);
        }
        let mask = BooleanArray::from(mask);
        if mask.true_count() == 0 {
            continue;
        }
        let kept = filter_record_batch(&batch.project(&keep)?, &mask)?;
        let kept = store::normalize(kept).map_err(|e| DataFusionError::External(e.into()))?;
        files.write(kept).await?;
    }
    let files = files.close().await?;
    Ok(PartReport {
        table: spec.table.clone(),
        attempt,
        rows: files.iter().map(|f| f.rows).sum(),
        events: files.iter().map(|f| f.events).sum(),
        files,
        outcomes,
        scans: Vec::new(),
    })
}

struct Open {
    path: String,
    writer: AsyncArrowWriter<BufWriter>,
    rows: u64,
    events: u64,
}

/// The partition's open files, one per bucket (one in all without bucketing).
struct Files<'a> {
    spec: &'a WriteSpec,
    attempt: &'a str,
    schema: SchemaRef,
    store: Arc<dyn ObjectStore>,
    /// Where `n` is in the written rows, if they are a multiset.
    n_idx: Option<usize>,
    partitioner: Option<BatchPartitioner>,
    open: Vec<Option<Open>>,
}

impl<'a> Files<'a> {
    fn new(
        spec: &'a WriteSpec,
        attempt: &'a str,
        schema: SchemaRef,
        store: Arc<dyn ObjectStore>,
    ) -> Result<Self> {
        let (partitioner, buckets) = match &spec.bucket_by {
            Some(column) => {
                let buckets = spec.buckets.max(1) as usize;
                let key = Arc::new(Column::new(column, schema.index_of(column)?));
                let p = BatchPartitioner::new_hash_partitioner(vec![key], buckets, Time::new())?;
                (Some(p), buckets)
            }
            None => (None, 1),
        };
        Ok(Self {
            spec,
            attempt,
            n_idx: schema.index_of("n").ok(),
            schema,
            store,
            partitioner,
            open: (0..buckets).map(|_| None).collect(),
        })
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        let Some(partitioner) = self.partitioner.as_mut() else {
            return self.write_to(0, batch).await;
        };
        // Split first: the iterator borrows the partitioner, the writes borrow `self`.
        let parts = partitioner
            .partition_iter(batch)?
            .collect::<Result<Vec<_>>>()?;
        for (bucket, part) in parts {
            if part.num_rows() > 0 {
                self.write_to(bucket, part).await?;
            }
        }
        Ok(())
    }

    async fn write_to(&mut self, bucket: usize, batch: RecordBatch) -> Result<()> {
        let events = match self.n_idx {
            Some(i) => {
                let n = cast(batch.column(i), &DataType::Int64)?;
                let n = n.as_primitive::<Int64Type>();
                n.iter().map(|v| v.unwrap_or(0).max(0) as u64).sum()
            }
            None => batch.num_rows() as u64,
        };
        let file = match self.open[bucket].take() {
            Some(file) => file,
            None => self.open_file(bucket)?,
        };
        let file = self.open[bucket].insert(file);
        file.rows += batch.num_rows() as u64;
        file.events += events;
        file.writer.write(&batch).await?;
        Ok(())
    }

    fn open_file(&self, bucket: usize) -> Result<Open> {
        let path = match self.partitioner {
            Some(_) => format!(
                "{}/part-{}-b{bucket}.parquet",
                self.spec.table, self.attempt
            ),
            None => format!("{}/part-{}.parquet", self.spec.table, self.attempt),
        };
        // A writer holds its row group until it is flushed, and its upload buffer until that
        // outgrows a multipart part; a partition has a writer per bucket, so they share one
        // file's budgets, down to floors (S3's least part is 5 MiB): at most about 6 MiB per
        // bucket, where one file would hold up to 26 MiB.
        let key = ObjPath::from(format!("{}{path}", self.spec.dir));
        let upload = (UPLOAD_BUFFER_BYTES / self.open.len()).max(MIN_UPLOAD_BUFFER_BYTES);
        let sink = BufWriter::with_capacity(self.store.clone(), key, upload);
        let budget = (store::ROW_GROUP_BYTES / self.open.len()).max(MIN_ROW_GROUP_BYTES);
        let props = store::writer_properties(self.spec.intermediate)
            .into_builder()
            .set_max_row_group_bytes(Some(budget))
            .build();
        Ok(Open {
            path,
            writer: AsyncArrowWriter::try_new(sink, self.schema.clone(), Some(props))?,
            rows: 0,
            events: 0,
        })
    }

    async fn close(self) -> Result<Vec<PartFile>> {
        let buckets = self.open.len() as u32;
        let bucketed = self.partitioner.is_some();
        let mut files = Vec::new();
        for (bucket, file) in self.open.into_iter().enumerate() {
            let Some(f) = file else { continue };
            f.writer.close().await?;
            files.push(PartFile {
                path: f.path,
                rows: f.rows,
                events: f.events,
                bucket: bucketed.then_some((bucket as u32, buckets)),
            });
        }
        Ok(files)
    }
}
