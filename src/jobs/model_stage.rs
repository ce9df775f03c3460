//! What top_ctr and top_product share: read one table of the day's filtered output, rank it with
//! a query from `queries/`, and publish the result as that model's output for the day.
use anyhow::Context;
use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use serde_json::json;

use super::output::{self, Manifest, OutputWriter, read_manifest};
use super::session::{self, query};
use super::{JobEnv, StageResult};

pub struct ModelStage<'a> {
    env: &'a JobEnv,
    date: NaiveDate,
    input: Manifest,
    rows_in: u64,
    /// The session, with the filtered table registered under its own name.
    pub ctx: SessionContext,
}

/// Opens `table` of the filtered output of `date`; fails, naming them, if that output is incomplete.
pub async fn open<'a>(
    env: &'a JobEnv,
    date: NaiveDate,
    table: &str,
) -> anyhow::Result<ModelStage<'a>> {
    let work = &env.storage.work;
    let input = read_manifest(work, "filtered", date).await?;
    let rows_in = input
        .files
        .iter()
        .filter(|f| f.table == table)
        .map(|f| f.rows)
        .sum();
    let ctx = session::context(&env.storage);
    session::register_parquet(&ctx, table, input.urls(work, table)).await?;
    Ok(ModelStage {
        env,
        date,
        input,
        rows_in,
        ctx,
    })
}

impl ModelStage<'_> {
    /// Runs the model's query and publishes its output (`WORK_URL/<model>/date=D/`).
    pub async fn publish(
        self,
        model: &'static str,
        sql: &str,
        mut counts: serde_json::Value,
    ) -> anyhow::Result<StageResult> {
        let mut out = OutputWriter::new(&self.env.storage.work, model, self.date);
        let df = query(&self.ctx, model, sql, &[]).await?;
        let rows_out = output::write_df(&mut out, model, df)
            .await
            .with_context(|| format!("computing {model}"))?;
        counts["rows"] = json!(rows_out);
        counts["input_run_id"] = json!(self.input.run_id);
        out.publish(counts.clone()).await?;
        Ok(StageResult {
            rows_in: self.rows_in as i64,
            rows_out: rows_out as i64,
            bad_rows: 0,
            details: counts,
        })
    }
}
