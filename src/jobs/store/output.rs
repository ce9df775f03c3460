//! Date-keyed stage outputs under `WORK_URL/<stage>/date=D/`, published by a manifest.
//!
//! A stage writes its Parquet files under names that carry its run's id, then writes
//! `_manifest.json` (row counts, run id, files) last, then deletes files of earlier runs. Readers
//! go by the manifest's file list only, so they never see a half-written or mixed output, and a
//! rerun replaces exactly that date's output. A run that fails deletes what it wrote (`abort`);
//! the files of a run whose process died are deleted by `sweep_run` when it is found dead.
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjPath;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::location::Location;
use crate::domain::Output;

pub const MANIFEST: &str = "_manifest.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub stage: String,
    pub date: NaiveDate,
    pub run_id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The output's tables (e.g. `product_views`, `ads_views`), each one or more files.
    pub files: Vec<ManifestFile>,
    /// Stage-specific counts (rows kept and skipped by reason, …).
    pub counts: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    pub table: String,
    /// Relative to the stage's date directory.
    pub path: String,
    pub rows: u64,
    /// The events the rows stand for, when a row is a group of them (a multiset's `n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<u64>,
    /// `(bucket, buckets)` of a table bucketed by advertiser (`engine::bucketed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<(u32, u32)>,
}

impl ManifestFile {
    /// The events the file holds: its rows, or the sum of their counts.
    pub fn events(&self) -> u64 {
        self.events.unwrap_or(self.rows)
    }
}

impl Manifest {
    /// One table's files as `(key in the store, bucket, buckets)`, if they are bucketed (all
    /// of them: a table is bucketed whole or not at all).
    pub fn buckets(&self, work: &Location, table: &str) -> Option<Vec<(String, u32, u32)>> {
        self.files_of(table)
            .map(|(rel, f)| {
                let (bucket, buckets) = f.bucket?;
                Some((work.key(&rel), bucket, buckets))
            })
            .collect()
    }

    /// Full URLs of one table's files, for DataFusion.
    pub fn urls(&self, work: &Location, table: &str) -> Vec<String> {
        self.files_of(table)
            .map(|(rel, _)| work.url_of(&rel))
            .collect()
    }

    /// One table's files, each with its path relative to `WORK_URL`.
    fn files_of<'a>(
        &'a self,
        table: &'a str,
    ) -> impl Iterator<Item = (String, &'a ManifestFile)> + 'a {
        let dir = format!("{}/date={}/", self.stage, self.date);
        self.files
            .iter()
            .filter(move |f| f.table == table)
            .map(move |f| (format!("{dir}{}", f.path), f))
    }
}

/// `<output>/date=D/`, relative to `WORK_URL`.
pub fn stage_dir(output: Output, date: NaiveDate) -> String {
    format!("{output}/date={date}/")
}

/// A stage output being written by one run.
pub struct OutputWriter<'a> {
    work: &'a Location,
    stage: Output,
    date: NaiveDate,
    run_id: Uuid,
    files: Vec<ManifestFile>,
}

impl<'a> OutputWriter<'a> {
    pub fn new(work: &'a Location, stage: Output, date: NaiveDate, run_id: Uuid) -> Self {
        Self {
            work,
            stage,
            date,
            run_id,
            files: Vec::new(),
        }
    }

    /// Opens part `part` of `table`, named after this run so it never overwrites live data.
    pub fn table(
        &self,
        table: &str,
        part: usize,
        schema: SchemaRef,
    ) -> anyhow::Result<TableWriter> {
        let path = format!("{table}/part-{}-{part}.parquet", self.run_id);
        let key = self
            .work
            .key(&format!("{}{path}", stage_dir(self.stage, self.date)));
        let props = self.properties();
        let sink = BufWriter::new(Arc::clone(&self.work.store), ObjPath::from(key.as_str()));
        let writer = AsyncArrowWriter::try_new(sink, schema, Some(props))?;
        Ok(TableWriter {
            table: table.to_owned(),
            path,
            writer,
            rows: 0,
        })
    }

    fn properties(&self) -> WriterProperties {
        writer_properties(self.stage == Output::Filtered)
    }

    /// Records a closed file in the manifest to be.
    pub fn add(&mut self, file: ManifestFile) {
        self.files.push(file);
    }

    /// Deletes every file this run wrote under the output (finished or not): a failed run
    /// leaves nothing behind. The previous manifest and its files are untouched.
    pub async fn abort(self) {
        if let Err(e) = sweep_run(self.work, self.stage, self.date, self.run_id).await {
            tracing::warn!(stage = %self.stage, date = %self.date, error = %format!("{e:#}"),
                "could not delete a failed run's files");
        }
    }

    /// Writes the manifest (publishing the output), then removes files of earlier runs.
    pub async fn publish(self, counts: serde_json::Value) -> anyhow::Result<Manifest> {
        let manifest = Manifest {
            stage: self.stage.as_str().to_owned(),
            date: self.date,
            run_id: self.run_id,
            created_at: Utc::now(),
            files: self.files,
            counts,
        };
        let dir = stage_dir(self.stage, self.date);
        let put = self
            .work
            .put(
                &format!("{dir}{MANIFEST}"),
                serde_json::to_vec_pretty(&manifest)?.into(),
            )
            .await;
        if let Err(e) = put {
            let _ = sweep_run(self.work, self.stage, self.date, self.run_id).await;
            return Err(e.context("publishing the output's manifest"));
        }
        // Published. Earlier runs' files are garbage now; failing to delete them is no failure.
        let stale = async {
            let stale: Vec<String> = self
                .work
                .list(&dir)
                .await?
                .into_iter()
                .map(|e| e.rel)
                .filter(|rel| {
                    let name = &rel[dir.len()..];
                    name != MANIFEST && !manifest.files.iter().any(|f| f.path == name)
                })
                .collect();
            self.work.delete(&stale).await
        };
        if let Err(e) = stale.await {
            tracing::warn!(stage = %self.stage, date = %self.date, error = %format!("{e:#}"),
                "could not delete an earlier run's output files");
        }
        Ok(manifest)
    }
}

/// The most a row group of an output file holds before it is written out.
pub const ROW_GROUP_BYTES: usize = 16 << 20;

/// Parquet settings of an output's files. The filtered rows are an `intermediate` the model
/// stages read once, whole, so (measured with callgrind, filter_data then top_ctr):
/// - no statistics: nothing prunes by them, and min/max cost 8 % of filter_data;
/// - product ids, too many to share a dictionary page, are written plain (each row group's
///   dictionary outgrew its limit and fell back to plain after hashing them all): 6 %;
/// - no block compression: Parquet's own encodings already shrink the repeated ids, types
///   and dates; Snappy cost 4 % of filter_data and 11 % of top_ctr (decompressing) to make
///   the files a fifth smaller.
pub fn writer_properties(intermediate: bool) -> WriterProperties {
    let props = WriterProperties::builder()
        .set_compression(if intermediate {
            Compression::UNCOMPRESSED
        } else {
            Compression::SNAPPY
        })
        .set_max_row_group_row_count(Some(1 << 20))
        // A writer holds its row group until it is flushed: bounded in bytes too, so that a
        // larger day never means more memory per open file.
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES));
    if !intermediate {
        return props.build();
    }
    props
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_dictionary_enabled(ColumnPath::from("product_id"), false)
        .build()
}

pub struct TableWriter {
    table: String,
    path: String,
    writer: AsyncArrowWriter<BufWriter>,
    rows: u64,
}

impl TableWriter {
    pub async fn write(&mut self, batch: &RecordBatch) -> anyhow::Result<()> {
        if batch.num_rows() > 0 {
            self.rows += batch.num_rows() as u64;
            self.writer.write(batch).await?;
        }
        Ok(())
    }

    /// Finishes the file (footer, upload) and describes it for the manifest.
    pub async fn close(self) -> anyhow::Result<ManifestFile> {
        self.writer
            .close()
            .await
            .with_context(|| format!("writing {} output", self.table))?;
        Ok(ManifestFile {
            table: self.table,
            path: self.path,
            rows: self.rows,
            events: None,
            bucket: None,
        })
    }
}

/// Deletes the files run `run_id` wrote under `stage`'s output for `date` (object names carry
/// the run id, staging files of unfinished uploads included); returns how many.
pub async fn sweep_run(
    work: &Location,
    stage: Output,
    date: NaiveDate,
    run_id: Uuid,
) -> anyhow::Result<usize> {
    let id = run_id.to_string();
    let dir = stage_dir(stage, date);
    let mine: Vec<String> = work
        .list(&dir)
        .await?
        .into_iter()
        .map(|e| e.rel)
        .filter(|rel| rel[dir.len()..].contains(&id))
        .collect();
    work.delete(&mine).await?;
    Ok(mine.len())
}

/// The manifest of an upstream stage's output; a clear error if that output is not complete.
pub async fn read_manifest(
    work: &Location,
    stage: Output,
    date: NaiveDate,
) -> anyhow::Result<Manifest> {
    let rel = format!("{}{MANIFEST}", stage_dir(stage, date));
    let Some(bytes) = work.get(&rel).await? else {
        let task = stage.producer();
        bail!(
            "no complete {stage} output for {date} (no manifest at {}): run {task} for {date} first",
            work.url_of(&rel)
        );
    };
    let m: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("the {stage} manifest for {date} is unreadable"))?;
    if m.stage != stage.as_str() || m.date != date {
        bail!(
            "the manifest at {} describes {} {}, not {stage} {date}",
            work.url_of(&rel),
            m.stage,
            m.date
        );
    }
    Ok(m)
}

/// Parquet outputs use plain Utf8 strings, whatever string view types the plan produced.
pub fn plain_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 => {
                f.as_ref().clone().with_data_type(DataType::Utf8)
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

pub fn normalize(batch: RecordBatch) -> anyhow::Result<RecordBatch> {
    let schema = plain_schema(&batch.schema());
    let cols = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, cols)?)
}
