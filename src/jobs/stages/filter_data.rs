//! filter_data: the day's rows of active advertisers, from the raw logs, as a multiset in Parquet.
//!
//! The active list is read here (it is small) and given dense codes in SQL; the logs are tables
//! of the log scan (`engine::scan`), which skips and counts unusable lines, keeps only the day's
//! rows, looks each row's advertiser up in those codes and combines each partition's identical
//! rows into one counting them (`n`). The filter queries give each such group its outcome; each
//! partition of the plan writes its kept groups where it runs (`Engine::write`). The output is
//! the two logs' multisets and the `advertisers` table of codes, under one manifest.
use std::sync::Arc;

use anyhow::{Context, bail};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int32Type;
use datafusion::common::ScalarValue;
use datafusion::physical_plan::collect;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::{JobEnv, RunCtx, StageResult};
use crate::domain::{
    FilterDetails, FilterInputs, LogReport, Outcome, OutcomeCounts, Output, TaskDetails,
};
use crate::jobs::engine::scan::{self, Codes, LogFormat};
use crate::jobs::engine::session::{self, CodesTable, codes_schema, query};
use crate::jobs::engine::{WriteSpec, Written};
use crate::jobs::store::{self, ACTIVE_NAMES, Input, OutputWriter, stage_dir};

const ACTIVE: &str = include_str!("../../../queries/active_advertisers.sql");
const PRODUCT_VIEWS: &str = include_str!("../../../queries/filter_product_views.sql");
const ADS_VIEWS: &str = include_str!("../../../queries/filter_ads_views.sql");

/// The output's table of advertiser codes, `(code, advertiser_id)`.
pub const ADVERTISERS: &str = "advertisers";

/// The column the output's event tables are bucketed by: the advertiser's code.
pub const BUCKET_BY: &str = "advertiser";

pub async fn run(env: &JobEnv, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    let (date, progress) = (run.date, run.progress);
    let (raw, work) = (&env.storage.raw, &env.storage.work);
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
    let (codes, active_counts) = load_active(env, &active).await?;
    let codes = Arc::new(codes);
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
    let mut out = OutputWriter::new(work, Output::Filtered, date, run.id);
    let mut result = StageResult::default();
    let written = async {
        write_advertisers(&mut out, &codes).await?;
        let ctx = env.engine.session();
        ctx.register_table("active", Arc::new(CodesTable::new(codes.clone())))?;
        // In this process one log at a time (the scan already uses every thread, and two at
        // once would hold both logs' groups in memory); on a cluster both jobs at once, so the
        // slots the first one's last tasks leave idle run the second's.
        let at_once = if env.engine.is_remote() {
            logs.len()
        } else {
            1
        };
        let pending: Vec<_> = logs
            .into_iter()
            .map(|log| write_log(env, run, &ctx, &codes, log))
            .collect();
        let mut written_logs = futures::stream::iter(pending).buffered(at_once);
        // Every log written is in the output before an error returns, so the abort deletes it;
        // a log still running when another fails is waited for, as its files must go too.
        let mut failed = None;
        while let Some(r) = written_logs.next().await {
            let checked = r.and_then(|(table, input, w)| {
                w.files.into_iter().for_each(|f| out.add(f));
                let (counts, partitions) = (w.outcomes, w.scan_partitions as u32);
                if counts.of_day() == 0 {
                    let names = input.names().join(", ");
                    bail!("the {table} input ({names}) holds no rows for {date}");
                }
                result.rows_in += counts.total() as i64;
                result.rows_out += counts.get(Outcome::Kept) as i64;
                result.bad_rows += counts.bad() as i64;
                let report = LogReport {
                    files: input.names().into_iter().map(str::to_owned).collect(),
                    layout: Some(input.layout.to_owned()),
                    partitions: Some(partitions),
                    rows: counts,
                };
                match table {
                    "product_views" => details.product_views = report,
                    _ => details.ads_views = report,
                }
                Ok(())
            });
            if let Err(e) = checked {
                failed.get_or_insert(e);
                if at_once == 1 {
                    break;
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }
    .await;
    if let Err(e) = written {
        out.abort().await;
        return Err(e);
    }
    out.publish(serde_json::to_value(&details)?).await?;
    result.details = Some(TaskDetails::Filter(details));
    Ok(result)
}

/// A log's filter query, written by the engine where its partitions run.
async fn write_log(
    env: &JobEnv,
    run: &RunCtx<'_>,
    ctx: &SessionContext,
    codes: &Arc<Codes>,
    (table, format, sql, input): (&'static str, LogFormat, &'static str, Input),
) -> anyhow::Result<(&'static str, Input, Written)> {
    let (raw, work, io) = (&env.storage.raw, &env.storage.work, env.engine.io());
    session::register_log(ctx, table, format, Some(codes.clone()), &input, raw, io)?;
    let day = ScalarValue::Date32(Some(scan::epoch_days(run.date)));
    let df = query(ctx, &format!("filter_{table}"), sql, &[("day", day)]).await?;
    let date_dir = stage_dir(Output::Filtered, run.date);
    let spec = WriteSpec {
        store_url: work.store_url.to_string(),
        dir: work.key(&date_dir),
        table: table.to_owned(),
        run_id: run.id,
        attempt: 1, // Engine::write numbers its attempts
        intermediate: true,
        // The models group and rank by advertiser: bucketed by it, each bucket is aggregated
        // and ranked where it is read, with no exchange (`engine::bucketed`).
        bucket_by: Some(BUCKET_BY.to_owned()),
        buckets: 0, // one per partition of the plan, set as it is planned
    };
    let watch = |p| run.progress.watch(p);
    let w = env
        .engine
        .write(ctx, df, spec, (work, &date_dir), watch)
        .await?;
    Ok((table, input, w))
}

/// The active advertisers with their codes, read in this process whatever the engine (the list
/// is small); and its bad lines.
async fn load_active(env: &JobEnv, input: &Input) -> anyhow::Result<(Codes, OutcomeCounts)> {
    let ctx = env.engine.local_session();
    let (format, raw, io) = (
        LogFormat::advertiser_ids(),
        &env.storage.raw,
        env.engine.io(),
    );
    session::register_log(&ctx, "advertiser_ids", format, None, input, raw, io)?;
    let df = query(&ctx, "active_advertisers", ACTIVE, &[]).await?;
    let plan = df.create_physical_plan().await?;
    let (task, running) = (ctx.task_ctx(), plan.clone());
    let batches = env
        .engine
        .run(async move { Ok(collect(running, task).await?) })
        .await
        .context("reading the active advertisers")?;
    let mut ids: Vec<(i32, String)> = Vec::new();
    for b in &batches {
        let code = b.column_by_name("code").context("active: code")?;
        let id = datafusion::arrow::compute::cast(
            b.column_by_name("advertiser_id")
                .context("active: advertiser_id")?,
            &datafusion::arrow::datatypes::DataType::Utf8,
        )?;
        let (code, id) = (code.as_primitive::<Int32Type>(), id.as_string::<i32>());
        ids.extend((0..b.num_rows()).map(|i| (code.value(i), id.value(i).to_owned())));
    }
    ids.sort_unstable();
    if ids.iter().enumerate().any(|(i, (c, _))| *c != i as i32) {
        bail!("queries/active_advertisers.sql must give the codes 0, 1, 2, … in order");
    }
    let counts = scan::scan_counts(&plan).outcomes();
    Ok((
        Codes::new(ids.into_iter().map(|(_, id)| id).collect()),
        counts,
    ))
}

/// The codes as the output's `advertisers` table: the models name advertisers from it.
async fn write_advertisers(out: &mut OutputWriter<'_>, codes: &Arc<Codes>) -> anyhow::Result<()> {
    let batch = CodesTable::new(codes.clone()).batch()?;
    let mut writer = out.table(ADVERTISERS, 0, codes_schema())?;
    writer.write(&batch).await?;
    let file = writer.close().await?;
    out.add(file);
    Ok(())
}
