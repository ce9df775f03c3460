//! filter_data on a cluster: executors scan, filter and write the Parquet; the service lists it.
//!
//! In-process, the stage streams each partition's kept rows into a file of its own. On Ballista
//! the same filter query runs as one job whose last stage writes Parquet on the executors,
//! split by the query's `outcome` column (`<table>/run-<id>/outcome=kept/…`): the kept files
//! are the output, the others are counted (from their footers) and deleted. The scan's bad
//! lines come back through `report`. Every name carries the run id, so a failed run's files
//! are swept like the in-process ones, and nothing is published before the manifest.
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use datafusion::prelude::SessionContext;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjPath;

use super::report::{ReportedLogTable, read_counts};
use crate::domain::Output;
use crate::jobs::engine::Engine;
use crate::jobs::engine::scan::{LineCounts, LogTable};
use crate::jobs::engine::session::query;
use crate::jobs::store::Location;
use crate::jobs::store::{ManifestFile, stage_dir};

/// What one log's filter gave: the kept rows' files, the scan's line counts, and the rows by
/// the query's outcome (`kept`, `inactive`, `bad_type`).
pub struct Filtered {
    pub files: Vec<ManifestFile>,
    pub scan: LineCounts,
    pub outcomes: BTreeMap<String, u64>,
}

/// Where the scans of `table` report, relative to WORK_URL.
fn report_dir(stage: Output, date: chrono::NaiveDate, run_id: uuid::Uuid, table: &str) -> String {
    format!("{}_scan-{run_id}/{table}/", stage_dir(stage, date))
}

/// Re-registers log table `table` so that its scans report their line counts.
pub async fn report_scans(
    work: &Location,
    ctx: &SessionContext,
    table: &str,
    date: chrono::NaiveDate,
    run_id: uuid::Uuid,
) -> anyhow::Result<String> {
    let provider = ctx
        .table_provider(table)
        .await
        .with_context(|| format!("the {table} table"))?;
    let log = provider
        .downcast_ref::<LogTable>()
        .with_context(|| format!("{table} is not a log table"))?;
    let log = LogTable::new(
        log.format().clone(),
        log.store_url(),
        log.files().to_vec(),
        None,
    );
    let rel = report_dir(Output::Filtered, date, run_id, table);
    let wrapped = ReportedLogTable::new(log, work.url_of(&rel));
    ctx.deregister_table(table)?;
    ctx.register_table(table, Arc::new(wrapped))?;
    Ok(rel)
}

/// The line counts the scans of `table` reported (all partitions, or an error).
pub async fn scan_counts(work: &Location, report: &str) -> anyhow::Result<LineCounts> {
    read_counts(work, report).await
}

/// Runs filter query `sql` over log `table` on the cluster, writing the kept rows.
#[allow(clippy::too_many_arguments)]
pub async fn filter_log(
    engine: &Engine,
    work: &Location,
    ctx: &SessionContext,
    table: &str,
    name: &str,
    sql: &str,
    day: ScalarValue,
    date: chrono::NaiveDate,
    run_id: uuid::Uuid,
) -> anyhow::Result<Filtered> {
    let report = report_scans(work, ctx, table, date, run_id).await?;
    let df = query(ctx, name, sql, &[("day", day)]).await?;
    let dir = stage_dir(Output::Filtered, date);
    let rel = format!("{dir}{table}/run-{run_id}/");
    let url = work.url_of(&rel);
    let options = DataFrameWriteOptions::new().with_partition_by(vec!["outcome".to_owned()]);
    let written = engine
        .run(async move { Ok(df.write_parquet(&url, options, None).await?) })
        .await
        .with_context(|| format!("filtering {table} on the cluster"))?;
    let reported = written_rows(&written);
    // (attempt, outcome, rel, rows) of every file written under the run's directory.
    let mut found = Vec::new();
    for e in work
        .list(&rel)
        .await
        .context("listing the cluster's output")?
    {
        let Some((outcome, file)) = e.rel[rel.len()..]
            .strip_prefix("outcome=")
            .and_then(|p| p.split_once('/'))
        else {
            continue;
        };
        // DataFusion names a write's files `<write id>[_<n>].parquet`.
        let attempt = file.split(['_', '.']).next().unwrap_or(file).to_owned();
        let rows = parquet_rows(work, &e.rel, e.size).await?;
        found.push((attempt, outcome.to_owned(), e.rel.clone(), rows));
    }
    // A task that died mid-write and ran again leaves the dead attempt's files: keep the one
    // attempt whose rows add up to what the job reports written; never mix attempts. Every row
    // the scan kept has exactly one outcome, so they must also add up to the scan's own count
    // (one report per partition): a write whose input held rows twice (as when every task ran
    // the whole scan, `report::ReportScanExec`) matches the job's count, and only the scan tells.
    let scan = scan_counts(work, &report).await?;
    let mut attempts: BTreeMap<&str, u64> = BTreeMap::new();
    for (a, _, _, rows) in &found {
        *attempts.entry(a.as_str()).or_default() += rows;
    }
    let chosen = attempts
        .iter()
        .chain(found.is_empty().then_some((&"", &0)))
        .find(|(_, rows)| Some(**rows) == reported && **rows == scan.rows)
        .map(|(a, _)| (*a).to_owned())
        .with_context(|| {
            format!(
                "the cluster's write of {table} does not add up: the scan read {} rows of the \
                 day, the job reports {reported:?} written, the files hold {attempts:?} (by \
                 write attempt)",
                scan.rows
            )
        })?;
    let mut files = Vec::new();
    let mut outcomes = BTreeMap::new();
    let mut discard = Vec::new();
    for (attempt, outcome, file, rows) in found {
        if attempt != chosen {
            discard.push(file);
            continue;
        }
        *outcomes.entry(outcome.clone()).or_default() += rows;
        if outcome == "kept" {
            files.push(ManifestFile {
                table: table.to_owned(),
                path: file[dir.len()..].to_owned(),
                rows,
            });
        } else {
            discard.push(file);
        }
    }
    if let Err(e) = work.delete(&discard).await {
        tracing::warn!(error = %format!("{e:#}"), "could not delete the filter's skipped rows");
    }
    Ok(Filtered {
        files,
        scan,
        outcomes,
    })
}

/// The `count` a write's result reports.
fn written_rows(batches: &[datafusion::arrow::record_batch::RecordBatch]) -> Option<u64> {
    use datafusion::arrow::array::{Array, UInt64Array};
    let mut total = 0;
    for b in batches {
        let c = b.column(0).as_any().downcast_ref::<UInt64Array>()?;
        total += (0..c.len()).map(|i| c.value(i)).sum::<u64>();
    }
    Some(total)
}

/// Rows in a Parquet file, from its footer (`<metadata><4-byte length>PAR1` at the end).
async fn parquet_rows(work: &Location, rel: &str, size: u64) -> anyhow::Result<u64> {
    let path = ObjPath::from(work.key(rel));
    let unreadable = || format!("reading the footer of {}", work.url_of(rel));
    anyhow::ensure!(size >= 12, "{} is no Parquet file", work.url_of(rel));
    let tail = work
        .store
        .get_range(&path, size - 8..size)
        .await
        .with_context(unreadable)?;
    let len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    anyhow::ensure!(len + 8 <= size, "{} has a bad footer", work.url_of(rel));
    let meta = work
        .store
        .get_range(&path, size - 8 - len..size - 8)
        .await
        .with_context(unreadable)?;
    let meta = ParquetMetaDataReader::decode_metadata(&meta).with_context(unreadable)?;
    Ok(meta.file_metadata().num_rows() as u64)
}
