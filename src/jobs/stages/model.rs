//! What top_ctr and top_product share: read one table of the day's filtered output (a multiset of
//! events by advertiser code) with its `advertisers` codes, rank it with a query from `queries/`,
//! and publish the result as that model's output for the day.
use anyhow::Context;
use chrono::NaiveDate;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{DataFrame, SessionContext};
use uuid::Uuid;

use super::JobEnv;
use super::filter_data::{ADVERTISERS, BUCKET_BY};
use super::{RunCtx, StageResult};
use crate::domain::{Excluded, ModelDetails, Output, TaskDetails};
use crate::jobs::engine::bucketed;
use crate::jobs::engine::session::{self, query};
use crate::jobs::store::{self, Manifest, OutputWriter, read_manifest};

pub struct ModelStage<'a> {
    env: &'a JobEnv,
    date: NaiveDate,
    run_id: Uuid,
    input: Manifest,
    rows_in: u64,
    /// The session, with the filtered table registered under its own name.
    pub ctx: SessionContext,
}

/// Opens `table` of the filtered output of `date`; fails, naming them, if that output is incomplete.
pub async fn open<'a>(
    env: &'a JobEnv,
    run: &RunCtx<'_>,
    table: &str,
) -> anyhow::Result<ModelStage<'a>> {
    let date = run.date;
    let work = &env.storage.work;
    let input = read_manifest(work, Output::Filtered, date).await?;
    // Events, not rows: a row of the filtered multiset stands for `n` of them.
    let rows_in = input
        .files
        .iter()
        .filter(|f| f.table == table)
        .map(|f| f.events())
        .sum();
    let ctx = env.engine.session();
    match input.buckets(work, table) {
        // Bucketed by advertiser (filter_data since it buckets): read with no exchange.
        Some(files) if !files.is_empty() => {
            let store = work.store_url.as_str();
            bucketed::register(&ctx, table, store, BUCKET_BY, files).await?;
        }
        _ => session::register_parquet(&ctx, table, input.urls(work, table)).await?,
    }
    // The codes of this manifest, and only these, name its advertisers.
    let advertisers = input.urls(work, ADVERTISERS);
    if advertisers.is_empty() {
        anyhow::bail!(
            "the filtered output for {date} has no {ADVERTISERS} table (written before \
             advertiser codes): run filter_data for {date} again"
        );
    }
    session::register_parquet(&ctx, ADVERTISERS, advertisers).await?;
    Ok(ModelStage {
        env,
        date,
        run_id: run.id,
        input,
        rows_in,
        ctx,
    })
}

impl ModelStage<'_> {
    /// Runs a query on the query runtime and returns its rows.
    pub async fn collect(&self, df: DataFrame) -> anyhow::Result<Vec<RecordBatch>> {
        self.env
            .engine
            .run(async move { Ok(df.collect().await?) })
            .await
    }

    /// Computes a query once and registers its rows as `table` for the queries after it.
    pub async fn materialize(&self, table: &str, sql: &str) -> anyhow::Result<()> {
        let df = query(&self.ctx, table, sql, &[]).await?;
        // Plans sent to a cluster carry no in-memory tables: there it is a view, computed by the
        // executors in each query that reads it.
        if self.env.engine.is_remote() {
            self.ctx.register_table(table, df.into_view())?;
            return Ok(());
        }
        let schema = df.schema().inner().clone();
        // Kept in the query's partitions, so that the queries reading it start on every thread
        // (one partition of all the rows measured 0.02 s slower on the zipf bench day's top_ctr).
        let partitions = self
            .env
            .engine
            .run(async move { Ok(df.collect_partitioned().await?) })
            .await
            .with_context(|| format!("computing {table}"))?;
        session::register_batches(&self.ctx, table, schema, partitions)
    }

    /// Runs the model's query and publishes its output (`WORK_URL/<model>/date=D/`), with what
    /// `excluded` counts (top_ctr's unranked pairs) in its details. The two run side by side: on
    /// a cluster each is a job of its own, and the second would otherwise wait for the first's
    /// last task.
    pub async fn publish(
        &self,
        model: Output,
        sql: &str,
        excluded: impl Future<Output = anyhow::Result<Option<Excluded>>>,
    ) -> anyhow::Result<StageResult> {
        let mut out = OutputWriter::new(&self.env.storage.work, model, self.date, self.run_id);
        let name = model.as_str();
        // A second attempt (a cluster lost the first's job) writes the same file again.
        let written = self.env.engine.retry_lost(name, |_| async {
            let df = query(&self.ctx, name, sql, &[]).await?;
            let schema = store::plain_schema(df.schema().as_arrow());
            let mut writer = out.table(name, 0, schema)?;
            self.env
                .engine
                .run(async move {
                    let mut stream = df.execute_stream().await?;
                    while let Some(batch) = futures::TryStreamExt::try_next(&mut stream).await? {
                        writer.write(&store::normalize(batch)?).await?;
                    }
                    writer.close().await
                })
                .await
        });
        let (written, excluded) = tokio::join!(written, excluded);
        let written = written.with_context(|| format!("computing {name}"));
        let (file, excluded) = match written.and_then(|f| Ok((f, excluded?))) {
            Ok(done) => done,
            Err(e) => {
                out.abort().await;
                return Err(e);
            }
        };
        let rows_out = file.rows;
        out.add(file);
        let details = ModelDetails {
            excluded_no_impressions: excluded,
            rows: rows_out,
            input_run_id: self.input.run_id,
        };
        out.publish(serde_json::to_value(&details)?).await?;
        Ok(StageResult {
            rows_in: self.rows_in as i64,
            rows_out: rows_out as i64,
            bad_rows: 0,
            details: Some(TaskDetails::Model(details)),
        })
    }
}
