//! filter_data: the day's rows of active advertisers, from the raw logs, as Parquet.
use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::NaiveDate;
use datafusion::arrow::array::{Array, BooleanArray, StringArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::DataType;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;
use serde_json::json;

use super::inputs::{self, ACTIVE_NAMES, Input};
use super::output::{ManifestFile, OutputWriter, TableWriter, normalize, plain_schema};
use super::session::{self, query};
use super::{JobEnv, StageResult};

const ACTIVE: &str = include_str!("../../queries/active_advertisers.sql");
const PRODUCT_VIEWS: &str = include_str!("../../queries/filter_product_views.sql");
const ADS_VIEWS: &str = include_str!("../../queries/filter_ads_views.sql");

/// Outcomes that count as bad rows (skipped and reported).
const BAD: [&str; 3] = ["malformed", "bad_date", "bad_type"];

pub async fn run(env: &JobEnv, date: NaiveDate) -> anyhow::Result<StageResult> {
    let raw = &env.storage.raw;
    let entries = raw.list("").await.context("listing RAW_URL")?;
    let active = inputs::find(&entries, &ACTIVE_NAMES, date)?;
    let logs = [
        (
            "product_views",
            PRODUCT_VIEWS,
            inputs::find(&entries, &["product_views"], date)?,
        ),
        (
            "ads_views",
            ADS_VIEWS,
            inputs::find(&entries, &["ads_views"], date)?,
        ),
    ];

    let ctx = session::context(&env.storage);
    session::register_lines(&ctx, "raw_advertiser_ids", active.urls(raw)).await?;
    let active_view = query(&ctx, "active_advertisers", ACTIVE, &[]).await?;
    ctx.register_table("active", active_view.into_view())?;
    let mut out = OutputWriter::new(&env.storage.work, "filtered", date);
    let mut result = StageResult::default();
    let mut details = json!({ "inputs": { "advertiser_ids": active.files } });
    for (table, sql, input) in &logs {
        session::register_lines(&ctx, &format!("raw_{table}"), input.urls(raw)).await?;
        let counts = filter_log(&ctx, &mut out, table, sql, input, date).await?;
        // Rows surely of the day; malformed ones and bad dates name no day.
        let of_day: u64 = ["kept", "inactive", "bad_type"]
            .iter()
            .filter_map(|o| counts.get(*o))
            .sum();
        if of_day == 0 {
            bail!(
                "the {table} input ({}) holds no rows for {date}",
                input.files.join(", ")
            );
        }
        result.rows_in += counts.values().sum::<u64>() as i64;
        result.rows_out += counts.get("kept").copied().unwrap_or(0) as i64;
        result.bad_rows += BAD.iter().filter_map(|b| counts.get(*b)).sum::<u64>() as i64;
        details[*table] = json!({ "files": input.files, "layout": input.layout, "rows": counts });
    }
    let manifest = out.publish(details.clone()).await?;
    details["manifest_run_id"] = json!(manifest.run_id);
    result.details = details;
    Ok(result)
}

/// The outcomes the filter queries give every row, in counting order.
const OUTCOMES: [&str; 6] = [
    "kept",
    "inactive",
    "malformed",
    "bad_date",
    "bad_type",
    "other",
];

/// Runs one log's classification query, writes the kept rows and counts every outcome. Each of
/// the plan's output partitions is split and encoded to its own Parquet file on its own task, so
/// both cores work on the encoding too.
async fn filter_log(
    ctx: &SessionContext,
    out: &mut OutputWriter<'_>,
    table: &str,
    sql: &str,
    input: &Input,
    date: NaiveDate,
) -> anyhow::Result<BTreeMap<String, u64>> {
    let params = [
        ("day", Some(date.to_string())),
        ("partition", input.partition_date.map(|d| d.to_string())),
    ];
    let df = query(ctx, &format!("filter_{table}"), sql, &params).await?;
    let full = df.schema().as_arrow().clone();
    let outcome_idx = full.index_of("outcome")?;
    let keep: Arc<[usize]> = (0..full.fields().len())
        .filter(|i| *i != outcome_idx)
        .collect();
    let schema = plain_schema(&full.project(&keep)?);
    let streams = df
        .execute_stream_partitioned()
        .await
        .with_context(|| format!("reading {table}"))?;
    let mut tasks = Vec::with_capacity(streams.len());
    for (part, stream) in streams.into_iter().enumerate() {
        let writer = out.table(table, part, schema.clone())?;
        let keep = keep.clone();
        tasks.push(tokio::spawn(split(stream, writer, keep, outcome_idx)));
    }
    let mut counts = [0u64; OUTCOMES.len()];
    for task in tasks {
        let (file, part_counts) = task.await.context("a filter task panicked")??;
        out.add(file);
        counts
            .iter_mut()
            .zip(part_counts)
            .for_each(|(c, n)| *c += n);
    }
    Ok(OUTCOMES
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(o, n)| ((*o).to_owned(), n))
        .collect())
}

/// Writes one partition's kept rows; counts its outcomes.
async fn split(
    mut stream: SendableRecordBatchStream,
    mut writer: TableWriter,
    keep: Arc<[usize]>,
    outcome_idx: usize,
) -> anyhow::Result<(ManifestFile, [u64; OUTCOMES.len()])> {
    let mut counts = [0u64; OUTCOMES.len()];
    while let Some(batch) = stream.try_next().await.context("reading the raw logs")? {
        let outcome = cast(batch.column(outcome_idx), &DataType::Utf8)?;
        let outcome = outcome
            .as_any()
            .downcast_ref::<StringArray>()
            .context("outcome column")?;
        let mask: BooleanArray = outcome
            .iter()
            .map(|o| {
                let i = match o {
                    Some("kept") => 0,
                    Some("inactive") => 1,
                    Some("malformed") | None => 2,
                    Some("bad_date") => 3,
                    Some("bad_type") => 4,
                    Some(_) => 5,
                };
                counts[i] += 1;
                Some(i == 0)
            })
            .collect();
        if mask.true_count() > 0 {
            let rows = filter_record_batch(&batch.project(&keep)?, &mask)?;
            writer.write(&normalize(rows)?).await?;
        }
    }
    Ok((writer.close().await?, counts))
}
