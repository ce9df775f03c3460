//! DataFusion sessions for the jobs: one `SessionContext` per run, with the raw and work stores
//! registered, and the raw CSVs exposed as tables of lines (see `register_lines`).
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::prelude::{
    CsvReadOptions, DataFrame, ParquetReadOptions, SessionConfig, SessionContext,
};

use super::storage::Storage;

pub fn context(storage: &Storage) -> SessionContext {
    let config = SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .with_information_schema(false);
    let ctx = SessionContext::new_with_config(config);
    for loc in [&storage.raw, &storage.work] {
        ctx.register_object_store(&loc.store_url, Arc::clone(&loc.store));
    }
    ctx
}

/// Registers CSV files as a table with one text column, `line`, one row per non-header line.
///
/// Raw logs have rows with the wrong number of fields, which a typed CSV reader rejects (failing
/// the whole query). Splitting lines in SQL instead lets the queries classify and count every
/// bad row. The delimiter and quote are control characters that never occur in the logs; CRLF and
/// LF both end a line.
pub async fn register_lines(
    ctx: &SessionContext,
    table: &str,
    urls: Vec<String>,
) -> anyhow::Result<()> {
    let schema = Schema::new(vec![Field::new("line", DataType::Utf8, true)]);
    let options = CsvReadOptions::new()
        .has_header(true)
        .delimiter(0x1f)
        .quote(0x1e)
        .schema(&schema)
        .file_extension("");
    let df = ctx
        .read_csv(urls, options)
        .await
        .with_context(|| format!("opening the {table} input"))?;
    ctx.register_table(table, df.into_view())?;
    Ok(())
}

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

/// Plans one SQL statement with named parameters (`$day`, …) bound to text values.
pub async fn query(
    ctx: &SessionContext,
    name: &str,
    sql: &str,
    params: &[(&str, Option<String>)],
) -> anyhow::Result<DataFrame> {
    let values: HashMap<String, _> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), ScalarValue::Utf8(v.clone()).into()))
        .collect();
    let df = ctx
        .sql(sql)
        .await
        .with_context(|| format!("planning queries/{name}.sql"))?;
    Ok(df.with_param_values(ParamValues::Map(values))?)
}
