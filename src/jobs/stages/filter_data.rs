//! filter_data: the day's rows of active advertisers, from the raw logs, as Parquet.
//!
//! The logs are tables of the log scan (`scan`), which skips and counts unusable lines and
//! keeps only the day's rows; the filter queries join them with the active list and give each
//! row its outcome. Each partition of the plan streams its kept rows into its own Parquet file,
//! so every query thread encodes too.
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

use super::JobEnv;
use super::{Progress, RunCtx, StageResult};
use crate::domain::{
    FilterDetails, FilterInputs, LogReport, Outcome, OutcomeCounts, Output, TaskDetails,
};
use crate::jobs::engine::cluster;
use crate::jobs::engine::scan::{self, LineCounts, LogFormat};
use crate::jobs::engine::session::{self, query};
use crate::jobs::store::{self, ACTIVE_NAMES, ManifestFile, OutputWriter, TableWriter};

const ACTIVE: &str = include_str!("../../../queries/active_advertisers.sql");
const PRODUCT_VIEWS: &str = include_str!("../../../queries/filter_product_views.sql");
const ADS_VIEWS: &str = include_str!("../../../queries/filter_ads_views.sql");

pub async fn run(env: &JobEnv, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    let (date, progress) = (run.date, run.progress);
    let raw = &env.storage.raw;
    let entries = raw.list("").await.context("listing RAW_URL")?;
    let active = store::find(&entries, &ACTIVE_NAMES, date)?;
    let logs = [
        (
            "product_views",
            LogFormat::product_views(),
            PRODUCT_VIEWS,
            store::find(&entries, &["product_views"], date)?,
        ),
        (
            "ads_views",
            LogFormat::ads_views(),
            ADS_VIEWS,
            store::find(&entries, &["ads_views"], date)?,
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
    let mut details = FilterDetails {
        inputs: FilterInputs {
            advertiser_ids: active.names().into_iter().map(str::to_owned).collect(),
        },
        advertiser_ids: LogReport {
            rows: active_counts,
            ..LogReport::default()
        },
        manifest_run_id: run.id,
        ..FilterDetails::default()
    };
    let mut out = OutputWriter::new(&env.storage.work, Output::Filtered, date, run.id);
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
        if counts.of_day() == 0 {
            out.abort().await;
            bail!(
                "the {table} input ({}) holds no rows for {date}",
                input.names().join(", ")
            );
        }
        result.rows_in += counts.total() as i64;
        result.rows_out += counts.get(Outcome::Kept) as i64;
        result.bad_rows += counts.bad() as i64;
        let report = LogReport {
            files: input.names().into_iter().map(str::to_owned).collect(),
            layout: Some(input.layout.to_owned()),
            rows: counts,
        };
        match table {
            "product_views" => details.product_views = report,
            _ => details.ads_views = report,
        }
    }
    let manifest = out.publish(serde_json::to_value(&details)?).await?;
    details.manifest_run_id = manifest.run_id;
    result.details = Some(TaskDetails::Filter(details));
    Ok(result)
}

/// Collects the active list once and registers it as `active`; returns its bad lines.
async fn load_active(
    env: &JobEnv,
    ctx: &SessionContext,
    run: &RunCtx<'_>,
) -> anyhow::Result<OutcomeCounts> {
    if env.engine.is_remote() {
        return load_active_on_cluster(env, ctx, run).await;
    }
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
) -> anyhow::Result<OutcomeCounts> {
    let (date, progress): (NaiveDate, &Progress) = (run.date, run.progress);
    let day = ScalarValue::Date32(Some(scan::epoch_days(date)));
    if env.engine.is_remote() {
        let name = format!("filter_{table}");
        let work = &env.storage.work;
        let f = cluster::filter::filter_log(
            &env.engine,
            work,
            ctx,
            table,
            &name,
            sql,
            day,
            date,
            run.id,
        )
        .await?;
        let mut counts = scan_outcomes(&f.scan);
        for (o, n) in f.outcomes {
            let o: Outcome = o.parse()?;
            counts.add(o, n);
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
        counts.merge(&part_counts);
    }
    Ok(counts)
}

/// On a cluster the active list is a view (plans carry no in-memory tables), computed where
/// each filter query runs; counted once here, with the bad lines its scan reported.
async fn load_active_on_cluster(
    env: &JobEnv,
    ctx: &SessionContext,
    run: &RunCtx<'_>,
) -> anyhow::Result<OutcomeCounts> {
    use cluster::filter;
    let work = &env.storage.work;
    let report = filter::report_scans(work, ctx, "advertiser_ids", run.date, run.id).await?;
    let df = query(ctx, "active_advertisers", ACTIVE, &[]).await?;
    let counted = df.clone();
    env.engine
        .run(async move { Ok(counted.count().await?) })
        .await
        .context("reading the active advertisers")?;
    ctx.register_table("active", df.into_view())?;
    Ok(scan_outcomes(&filter::scan_counts(work, &report).await?))
}

/// The bad lines a scan counted, as outcomes.
fn scan_outcomes(c: &LineCounts) -> OutcomeCounts {
    c.outcomes()
}

/// Writes one partition's kept rows; counts its outcomes.
async fn split(
    mut stream: SendableRecordBatchStream,
    mut writer: TableWriter,
    keep: Arc<[usize]>,
    outcome_idx: usize,
) -> anyhow::Result<(ManifestFile, OutcomeCounts)> {
    let mut counts = OutcomeCounts::default();
    while let Some(batch) = stream.try_next().await.context("reading the raw logs")? {
        let outcome = cast(batch.column(outcome_idx), &DataType::Utf8)?;
        let outcome = outcome
            .as_any()
            .downcast_ref::<StringArray>()
            .context("outcome column")?;
        let mut mask = Vec::with_capacity(outcome.len());
        for o in outcome.iter() {
            let o: Outcome = o.unwrap_or_default().parse()?;
            counts.add(o, 1);
            mask.push(o == Outcome::Kept);
        }
        let mask = BooleanArray::from(mask);
        if mask.true_count() > 0 {
            writer
                .write(&filter_record_batch(&batch.project(&keep)?, &mask)?)
                .await?;
        }
    }
    Ok((writer.close().await?, counts))
}
