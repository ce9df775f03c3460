//! top_product: per advertiser, the 20 most viewed products on the day.
use anyhow::Context;
use chrono::NaiveDate;
use serde_json::json;

use super::output::{self, OutputWriter, read_manifest};
use super::session::{self, query};
use super::{JobEnv, StageResult};

const TOP_PRODUCT: &str = include_str!("../../queries/top_product.sql");

pub async fn run(env: &JobEnv, date: NaiveDate) -> anyhow::Result<StageResult> {
    let work = &env.storage.work;
    let input = read_manifest(work, "filtered", date).await?;
    let rows_in = input
        .files
        .iter()
        .filter(|f| f.table == "product_views")
        .map(|f| f.rows)
        .sum::<u64>();
    let ctx = session::context(&env.storage);
    session::register_parquet(&ctx, "product_views", input.urls(work, "product_views")).await?;

    let mut out = OutputWriter::new(work, "top_product", date);
    let df = query(&ctx, "top_product", TOP_PRODUCT, &[]).await?;
    let rows_out = output::write_df(&mut out, "top_product", df)
        .await
        .context("computing top_product")?;
    let counts = json!({ "rows": rows_out, "input_run_id": input.run_id });
    out.publish(counts.clone()).await?;
    Ok(StageResult {
        rows_in: rows_in as i64,
        rows_out: rows_out as i64,
        bad_rows: 0,
        details: counts,
    })
}
