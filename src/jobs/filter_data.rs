//! filter_data: the day's rows of active advertisers, from the raw logs, as Parquet.
//!
//! The logs are tables of the log scan (`scan`), which skips and counts unusable lines and
//! keeps only the day's rows; the filter queries join them with the active list and give each
//! row its outcome. Each partition of the plan streams its kept rows into its own Parquet file,
//! so every query thread encodes too.
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, BooleanArray, StringArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlanProperties, execute_stream_partitioned};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use serde_json::json;

use super::inputs::{self, ACTIVE_NAMES};
use super::output::{FILTERED, ManifestFile, OutputWriter, TableWriter};
use super::progress::Progress;
use super::scan::{self, LineCounts, LogFormat};
use super::session::{self, query};
use super::tasks::RunCtx;
use super::{JobEnv, StageResult};

const ACTIVE: &str = include_str!("../../queries/active_advertisers.sql");
const PRODUCT_VIEWS: &str = include_str!("../../queries/filter_product_views.sql");
const ADS_VIEWS: &str = include_str!("../../queries/filter_ads_views.sql");

/// A row's outcome: kept, skipped by the filter query, or skipped by the scan (bad rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Kept,
    Inactive,
    BadType,
    BadEncoding,
    Malformed,
    BadDate,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::Inactive => "inactive",
            Outcome::BadType => "bad_type",
            Outcome::BadEncoding => "bad_encoding",
            Outcome::Malformed => "malformed",
            Outcome::BadDate => "bad_date",
        }
    }

    /// The outcomes the filter queries give (the others come from the scan).
    fn from_query(s: &str) -> Option<Self> {
        match s {
            "kept" => Some(Outcome::Kept),
            "inactive" => Some(Outcome::Inactive),
            "bad_type" => Some(Outcome::BadType),
            _ => None,
        }
    }

    fn is_bad(self) -> bool {
        !matches!(self, Outcome::Kept | Outcome::Inactive)
    }

    /// Rows that surely belong to the day (bad lines may name no day).
    fn of_day(self) -> bool {
        matches!(self, Outcome::Kept | Outcome::Inactive | Outcome::BadType)
    }
}

type Counts = BTreeMap<Outcome, u64>;

pub async fn run(env: &JobEnv, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    let (date, progress) = (run.date, run.progress);
    let raw = &env.storage.raw;
    let entries = raw.list("").await.context("listing RAW_URL")?;
    let active = inputs::find(&entries, &ACTIVE_NAMES, date)?;
    let logs = [
        (
            "product_views",
            LogFormat::product_views(),
            PRODUCT_VIEWS,
            inputs::find(&entries, &["product_views"], date)?,
        ),
        (
            "ads_views",
            LogFormat::ads_views(),
            ADS_VIEWS,
            inputs::find(&entries, &["ads_views"], date)?,
        ),
    ];
    progress.expect_bytes(logs.iter().map(|l| l.3.bytes()).sum());

    let ctx = env.engine.session();
    let io = env.engine.io();
    session::register_log(
        &ctx,
        "advertiser_ids",
        LogFormat::advertiser_ids(),
        &active,
        raw,
        io.clone(),
    )?;
    let active_counts = load_active(env, &ctx, run).await?;
    let mut details = json!({
        "inputs": { "advertiser_ids": active.names() },
        "advertiser_ids": { "rows": counts_json(&active_counts) },
    });
    let mut out = OutputWriter::new(&env.storage.work, FILTERED, date, run.id);
    let mut result = StageResult::default();
    for (table, format, sql, input) in logs {
        session::register_log(&ctx, table, format, &input, raw, io.clone())?;
        let counts = match filter_log(env, &ctx, &mut out, table, sql, run).await {
            Ok(c) => c,
            Err(e) => {
                out.abort().await;
                return Err(e);
            }
        };
        if counts
            .iter()
            .filter(|(o, _)| o.of_day())
            .map(|(_, n)| n)
            .sum::<u64>()
            == 0
        {
            out.abort().await;
            bail!(
                "the {table} input ({}) holds no rows for {date}",
                input.names().join(", ")
            );
        }
        result.rows_in += counts.values().sum::<u64>() as i64;
        result.rows_out += counts.get(&Outcome::Kept).copied().unwrap_or(0) as i64;
        result.bad_rows += counts
            .iter()
            .filter(|(o, _)| o.is_bad())
            .map(|(_, n)| n)
            .sum::<u64>() as i64;
        details[table] = json!({
            "files": input.names(), "layout": input.layout, "rows": counts_json(&counts),
        });
    }
    let manifest = out.publish(details.clone()).await?;
    details["manifest_run_id"] = json!(manifest.run_id);
    result.details = details;
    Ok(result)
}

/// Collects the active list once and registers it as `active`; returns its bad lines.
async fn load_active(
    env: &JobEnv,
    ctx: &SessionContext,
    run: &RunCtx<'_>,
) -> anyhow::Result<Counts> {
    #[cfg(feature = "ballista")]
    if env.engine.is_remote() {
        return load_active_on_cluster(env, ctx, run).await;
    }
    let _ = run;
    let df = query(ctx, "active_advertisers", ACTIVE, &[]).await?;
    let schema = df.schema().inner().clone();
    let plan = df.create_physical_plan().await?;
    let task = ctx.task_ctx();
    let scanned = plan.clone();
    let batches = env
        .engine
        .run(async move { Ok(datafusion::physical_plan::collect(scanned, task).await?) })
        .await
        .context("reading the active advertisers")?;
    session::register_batches(ctx, "active", schema, batches)?;
    Ok(scan_outcomes(&scan::scan_counts(&plan)))
}

/// Runs one log's filter query, writes the kept rows and counts every outcome.
async fn filter_log(
    env: &JobEnv,
    ctx: &SessionContext,
    out: &mut OutputWriter<'_>,
    table: &str,
    sql: &str,
    run: &RunCtx<'_>,
) -> anyhow::Result<Counts> {
    let (date, progress): (NaiveDate, &Progress) = (run.date, run.progress);
    let day = ScalarValue::Date32(Some(scan::epoch_days(date)));
    #[cfg(feature = "ballista")]
    if env.engine.is_remote() {
        let name = format!("filter_{table}");
        let f = crate::cluster::filter::filter_log(env, ctx, table, &name, sql, day, date, run.id)
            .await?;
        let mut counts = scan_outcomes(&f.scan);
        for (o, n) in f.outcomes {
            let o = Outcome::from_query(&o)
                .with_context(|| format!("the filter query gave an unknown outcome {o:?}"))?;
            *counts.entry(o).or_default() += n;
        }
        f.files.into_iter().for_each(|file| out.add(file));
        return Ok(counts);
    }
    let df = query(ctx, &format!("filter_{table}"), sql, &[("day", day)]).await?;
    let full = df.schema().inner().clone();
    let outcome_idx = full.index_of("outcome")?;
    let keep: Arc<[usize]> = (0..full.fields().len())
        .filter(|i| *i != outcome_idx)
        .collect();
    let schema = Arc::new(full.project(&keep)?);
    let plan = df.create_physical_plan().await?;
    progress.watch(plan.clone());
    let writers = (0..plan.output_partitioning().partition_count())
        .map(|part| out.table(table, part, schema.clone()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let task = ctx.task_ctx();
    let running = plan.clone();
    let parts = env
        .engine
        .run(async move {
            let streams = execute_stream_partitioned(running, task)?;
            let tasks: Vec<_> = streams
                .into_iter()
                .zip(writers)
                .map(|(stream, writer)| {
                    tokio::spawn(split(stream, writer, keep.clone(), outcome_idx))
                })
                .collect();
            let mut parts = Vec::with_capacity(tasks.len());
            for t in tasks {
                parts.push(t.await.context("a filter task panicked")??);
            }
            Ok(parts)
        })
        .await
        .with_context(|| format!("filtering {table}"))?;
    // What each operator took, for whoever asks (RUST_LOG=adrec::jobs=debug).
    tracing::debug!(table, plan = %DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true),
        "filter plan, with its metrics");
    let mut counts = scan_outcomes(&scan::scan_counts(&plan));
    for (file, part_counts) in parts {
        out.add(file);
        for (o, n) in part_counts {
            *counts.entry(o).or_default() += n;
        }
    }
    Ok(counts)
}

/// On a cluster the active list is a view (plans carry no in-memory tables), computed where
/// each filter query runs; counted once here, with the bad lines its scan reported.
#[cfg(feature = "ballista")]
async fn load_active_on_cluster(
    env: &JobEnv,
    ctx: &SessionContext,
    run: &RunCtx<'_>,
) -> anyhow::Result<Counts> {
    use crate::cluster::filter;
    let report = filter::report_scans(env, ctx, "advertiser_ids", run.date, run.id).await?;
    let df = query(ctx, "active_advertisers", ACTIVE, &[]).await?;
    let counted = df.clone();
    env.engine
        .run(async move { Ok(counted.count().await?) })
        .await
        .context("reading the active advertisers")?;
    ctx.register_table("active", df.into_view())?;
    Ok(scan_outcomes(&filter::scan_counts(env, &report).await?))
}

/// The bad lines a scan counted, as outcomes.
fn scan_outcomes(c: &LineCounts) -> Counts {
    [
        (Outcome::BadEncoding, c.bad_encoding),
        (Outcome::Malformed, c.malformed),
        (Outcome::BadDate, c.bad_date),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .collect()
}

fn counts_json(c: &Counts) -> serde_json::Value {
    c.iter()
        .filter(|(_, n)| **n > 0)
        .map(|(o, n)| (o.as_str().to_owned(), json!(n)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Writes one partition's kept rows; counts its outcomes.
async fn split(
    mut stream: SendableRecordBatchStream,
    mut writer: TableWriter,
    keep: Arc<[usize]>,
    outcome_idx: usize,
) -> anyhow::Result<(ManifestFile, Counts)> {
    let mut counts = [0u64; 3];
    while let Some(batch) = stream.try_next().await.context("reading the raw logs")? {
        let outcome = cast(batch.column(outcome_idx), &DataType::Utf8)?;
        let outcome = outcome
            .as_any()
            .downcast_ref::<StringArray>()
            .context("outcome column")?;
        let mut mask = Vec::with_capacity(outcome.len());
        for o in outcome.iter() {
            let o = o
                .and_then(Outcome::from_query)
                .with_context(|| format!("the filter query gave an unknown outcome {o:?}"))?;
            counts[o as usize] += 1;
            mask.push(o == Outcome::Kept);
        }
        let mask = BooleanArray::from(mask);
        if mask.true_count() > 0 {
            writer
                .write(&filter_record_batch(&batch.project(&keep)?, &mask)?)
                .await?;
        }
    }
    let counts = [Outcome::Kept, Outcome::Inactive, Outcome::BadType]
        .into_iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .collect();
    Ok((writer.close().await?, counts))
}
