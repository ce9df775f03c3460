//! The SQL side of a stage's DataFusion session: the tables the queries in `queries/` read, and
//! planning a query file with named parameters. Sessions come from `engine::Engine::session`.
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};

use super::scan::{self, LogFormat, LogTable};
use crate::jobs::store::{Input, Location};

/// Registers a raw log's files as a table read by the log scan (`scan`).
pub fn register_log(
    ctx: &SessionContext,
    table: &str,
    format: LogFormat,
    input: &Input,
    raw: &Location,
    io: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let partition = input.partition_date.map(scan::epoch_days);
    let files = input
        .files
        .iter()
        .map(|f| (raw.key(&f.rel), f.size, partition))
        .collect();
    let provider = LogTable::new(format, raw.store_url.as_str(), files, Some(io));
    ctx.register_table(table, Arc::new(provider))?;
    Ok(())
}

/// Registers Parquet files (a stage's published output) as a table.
pub async fn register_parquet(
    ctx: &SessionContext,
    table: &str,
    urls: Vec<String>,
) -> anyhow::Result<()> {
    let df = ctx
        .read_parquet(urls, ParquetReadOptions::default())
        .await
        .with_context(|| format!("opening the {table} table"))?;
    ctx.register_table(table, df.into_view())?;
    Ok(())
}

/// Registers already computed rows as a table, so that the queries reading it do not compute
/// them again (a view would).
pub fn register_batches(
    ctx: &SessionContext,
    table: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> anyhow::Result<()> {
    let mem = MemTable::try_new(schema, vec![batches])?;
    ctx.register_table(table, Arc::new(mem))?;
    Ok(())
}

/// Plans one SQL statement, binding named parameters (`$day`, …).
pub async fn query(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    params: &[(&str, ScalarValue)],
) -> anyhow::Result<DataFrame> {
    let df = ctx
        .sql(sql)
        .await
        .with_context(|| format!("planning queries/{name}.sql"))?;
    if params.is_empty() {
        return Ok(df);
    }
    let values: HashMap<String, _> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone().into()))
        .collect();
    Ok(df.with_param_values(ParamValues::Map(values))?)
}
