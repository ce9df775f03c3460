//! db_writing: publish the day's two models to Postgres, atomically.
//!
//! Binary COPY into a staging table, then delete the date's old rows, insert the new ones and
//! prune past retention, all in one transaction: readers see the previous day's answer until
//! the commit, then the new one; a failure anywhere leaves the served data as it was.
//!
//! A stray date must not wipe served history (one row dated months ahead would otherwise become
//! "latest" and retention would prune everything before it), so without `force` a date in the
//! future, more than `PUBLISH_MAX_GAP_DAYS` after the latest, or already past retention is
//! refused; retention counts back from the date being published, never from the latest; and a
//! run prunes at most `RETENTION_MAX_PRUNE_DATES` dates.
use anyhow::{Context, bail};
use chrono::{NaiveDate, Utc};
use datafusion::arrow::array::{Array, Float64Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use futures::pin_mut;
use serde_json::json;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};

use super::output::read_manifest;
use super::session::{self, query};
use super::tasks::RunCtx;
use super::{JobEnv, StageResult};

use crate::db::cache::CHANNEL;
use crate::domain::Model;

const DB_ROWS: &str = include_str!("../../queries/db_rows.sql");
const STAGING: &str = include_str!("../../sql/queries/publish_staging.sql");
const COPY_TYPES: &str = include_str!("../../sql/queries/publish_copy_types.sql");
const COPY: &str = include_str!("../../sql/queries/publish_copy.sql");
const DELETE: &str = include_str!("../../sql/queries/publish_delete.sql");
const INSERT: &str = include_str!("../../sql/queries/publish_insert.sql");
const PRUNE: &str = include_str!("../../sql/queries/publish_prune.sql");
const PRUNE_PENDING: &str = include_str!("../../sql/queries/publish_prune_pending.sql");
const LATEST: &str = include_str!("../../sql/queries/publish_latest.sql");
const NOTIFY: &str = include_str!("../../sql/queries/publish_notify.sql");

/// The publication's statements in order (the first creates the table the others use), for the
/// test that prepares every statement against a migrated database.
pub const PUBLISH_SQL: [&str; 9] = [
    STAGING,
    COPY_TYPES,
    COPY,
    DELETE,
    INSERT,
    PRUNE,
    PRUNE_PENDING,
    NOTIFY,
    LATEST,
];

pub async fn run(env: &JobEnv, run: &RunCtx<'_>) -> anyhow::Result<StageResult> {
    let date = run.date;
    let policy = &env.publish;
    let latest: Option<NaiveDate> = {
        let client = env.pool.get().await.context("connecting to the database")?;
        client.query_one(LATEST, &[]).await?.get(0)
    };
    if !run.force {
        policy.check(date, latest, Utc::now().date_naive())?;
    }
    let work = &env.storage.work;
    let ctx = env.engine.session();
    let mut inputs = json!({});
    for model in Model::ALL {
        let m = read_manifest(work, model.as_str(), date).await?;
        session::register_parquet(&ctx, model.as_str(), m.urls(work, model.as_str())).await?;
        inputs[model.as_str()] =
            json!({ "run_id": m.run_id, "rows": m.files.iter().map(|f| f.rows).sum::<u64>() });
    }
    let df = query(&ctx, "db_rows", DB_ROWS, &[]).await?;
    let batches = env
        .engine
        .run(async move { Ok(df.collect().await?) })
        .await
        .context("reading the model outputs")?;
    let rows_in: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows_in == 0 {
        bail!("both model outputs for {date} are empty: nothing to publish");
    }

    let mut client = env.pool.get().await.context("connecting to the database")?;
    let tx = client.transaction().await?;
    tx.batch_execute(STAGING)
        .await
        .context("creating the staging table")?;
    let model_type = tx.prepare(COPY_TYPES).await?.columns()[0].type_().clone();
    let types = [
        Type::DATE,
        Type::TEXT,
        model_type,
        Type::INT2,
        Type::TEXT,
        Type::FLOAT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
    ];
    let sink = tx.copy_in(COPY).await?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    for batch in &batches {
        copy_batch(writer.as_mut(), date, batch).await?;
    }
    let copied = writer
        .finish()
        .await
        .context("copying into the staging table")?;
    let replaced = tx.execute(DELETE, &[&date]).await?;
    let inserted = tx
        .execute(INSERT, &[])
        .await
        .context("publishing the staged rows")?;
    let retention = policy.retention_days as i32;
    let bound = (!run.force).then_some(i64::from(policy.max_prune_dates));
    let pruned = tx.query_one(PRUNE, &[&date, &retention, &bound]).await?;
    let (pruned_rows, pruned_dates): (i64, Vec<NaiveDate>) = (pruned.get(0), pruned.get(1));
    let pending: i64 = tx
        .query_one(PRUNE_PENDING, &[&date, &retention])
        .await?
        .get(0);
    if pending > 0 {
        tracing::warn!(%date, pending, bound = policy.max_prune_dates,
            "dates past retention left for later runs (RETENTION_MAX_PRUNE_DATES)");
    }
    tx.execute(NOTIFY, &[&CHANNEL, &date.to_string()]).await?;
    tx.commit().await.context("committing the publication")?;

    Ok(StageResult {
        rows_in: rows_in as i64,
        rows_out: inserted as i64,
        bad_rows: 0,
        details: json!({
            "inputs": inputs, "copied": copied, "replaced_rows": replaced,
            "inserted_rows": inserted, "previous_latest": latest, "forced": run.force,
            "pruned_rows": pruned_rows, "pruned_dates": pruned_dates,
            "prune_pending_dates": pending, "retention_days": policy.retention_days,
        }),
    })
}

async fn copy_batch(
    mut writer: std::pin::Pin<&mut BinaryCopyInWriter>,
    date: NaiveDate,
    batch: &RecordBatch,
) -> anyhow::Result<()> {
    let text = |name: &str| -> anyhow::Result<StringArray> {
        let col = cast(
            batch.column_by_name(name).context(name.to_owned())?,
            &DataType::Utf8,
        )?;
        Ok(col
            .as_any()
            .downcast_ref::<StringArray>()
            .context("a text column")?
            .clone())
    };
    let int = |name: &str| -> anyhow::Result<Int64Array> {
        let col = cast(
            batch.column_by_name(name).context(name.to_owned())?,
            &DataType::Int64,
        )?;
        Ok(col
            .as_any()
            .downcast_ref::<Int64Array>()
            .context("an integer column")?
            .clone())
    };
    let (adv, model, product) = (text("advertiser_id")?, text("model")?, text("product_id")?);
    let (rank, clicks, impressions, views) = (
        int("rank")?,
        int("clicks")?,
        int("impressions")?,
        int("views")?,
    );
    let score = cast(
        batch.column_by_name("score").context("score")?,
        &DataType::Float64,
    )?;
    let score = score
        .as_any()
        .downcast_ref::<Float64Array>()
        .context("score column")?;
    let opt = |a: &Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
    for i in 0..batch.num_rows() {
        let model = match model.value(i) {
            "top_ctr" => Model::TopCtr,
            _ => Model::TopProduct,
        };
        let rank = i16::try_from(rank.value(i)).context("rank out of range")?;
        let (c, im, v) = (opt(&clicks, i), opt(&impressions, i), opt(&views, i));
        let row: [&(dyn ToSql + Sync); 9] = [
            &date,
            &adv.value(i),
            &model,
            &rank,
            &product.value(i),
            &score.value(i),
            &c,
            &im,
            &v,
        ];
        writer.as_mut().write(&row).await?;
    }
    Ok(())
}
