//! top_ctr: per advertiser, the 20 products with the best click-through rate on the day.
use anyhow::Context;
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, Int64Array};
use serde_json::json;

use super::output::{self, OutputWriter, read_manifest};
use super::session::{self, query};
use super::{JobEnv, StageResult};

const TOP_CTR: &str = include_str!("../../queries/top_ctr.sql");
const EXCLUDED: &str = include_str!("../../queries/top_ctr_excluded.sql");

pub async fn run(env: &JobEnv, date: NaiveDate) -> anyhow::Result<StageResult> {
    let work = &env.storage.work;
    let input = read_manifest(work, "filtered", date).await?;
    let rows_in = input
        .files
        .iter()
        .filter(|f| f.table == "ads_views")
        .map(|f| f.rows)
        .sum::<u64>();
    let ctx = session::context(&env.storage);
    session::register_parquet(&ctx, "ads_views", input.urls(work, "ads_views")).await?;

    let excluded = query(&ctx, "top_ctr_excluded", EXCLUDED, &[])
        .await?
        .collect()
        .await?;
    let (pairs, clicks) = excluded
        .first()
        .map(|b| {
            let col = |i: usize| {
                b.column(i)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .map(|a| a.value(0))
            };
            (col(0).unwrap_or(0), col(1).unwrap_or(0))
        })
        .unwrap_or_default();

    let mut out = OutputWriter::new(work, "top_ctr", date);
    let df = query(&ctx, "top_ctr", TOP_CTR, &[]).await?;
    let rows_out = output::write_df(&mut out, "top_ctr", df)
        .await
        .context("computing top_ctr")?;
    let counts = json!({
        "rows": rows_out,
        "excluded_no_impressions": { "pairs": pairs, "clicks": clicks },
        "input_run_id": input.run_id,
    });
    out.publish(counts.clone()).await?;
    Ok(StageResult {
        rows_in: rows_in as i64,
        rows_out: rows_out as i64,
        bad_rows: 0,
        details: counts,
    })
}
