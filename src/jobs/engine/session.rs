//! The SQL side of a stage's DataFusion session: the tables the queries in `queries/` read, and
//! planning a query file with named parameters. Sessions come from `engine::Engine::session`.
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::{MemTable, TableProvider, TableType};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};

use super::scan::{self, Codes, LogFormat, LogTable};
use crate::jobs::store::{Input, Location};

/// Registers a raw log's files as a table read by the log scan (`scan`); with `codes`, the
/// table has an `advertiser_code` column looked up in them.
pub fn register_log(
    ctx: &SessionContext,
    table: &str,
    format: LogFormat,
    codes: Option<Arc<Codes>>,
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
    let provider = LogTable::new(format, codes, raw.store_url.as_str(), files, Some(io));
    ctx.register_table(table, Arc::new(provider))?;
    Ok(())
}

/// The advertisers and their codes as a table, `(code INT, advertiser_id TEXT)`: one small
/// in-memory partition, which travels in plans (a Ballista task reads it whole, as the build
/// side of a join).
#[derive(Debug)]
pub struct CodesTable {
    codes: Arc<Codes>,
}

impl CodesTable {
    pub fn new(codes: Arc<Codes>) -> Self {
        Self { codes }
    }

    pub fn codes(&self) -> &Arc<Codes> {
        &self.codes
    }

    /// Its one batch.
    pub fn batch(&self) -> datafusion::common::Result<RecordBatch> {
        let n = self.codes.len() as i32;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_iter_values(0..n)),
            Arc::new(StringArray::from_iter_values(self.codes.ids())),
        ];
        Ok(RecordBatch::try_new(codes_schema(), columns)?)
    }
}

/// `code INT NOT NULL, advertiser_id TEXT NOT NULL`.
pub fn codes_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("code", DataType::Int32, false),
        Field::new("advertiser_id", DataType::Utf8, false),
    ]))
}

#[async_trait]
impl TableProvider for CodesTable {
    fn schema(&self) -> SchemaRef {
        codes_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _: &dyn Session,
        projection: Option<&Vec<usize>>,
        _: &[Expr],
        _: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let batch = self.batch()?;
        let exec =
            MemorySourceConfig::try_new_exec(&[vec![batch]], codes_schema(), projection.cloned())?;
        Ok(exec)
    }
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

/// Registers already computed rows, by partition, as a table, so that the queries reading it
/// do not compute them again (a view would).
pub fn register_batches(
    ctx: &SessionContext,
    table: &str,
    schema: SchemaRef,
    partitions: Vec<Vec<RecordBatch>>,
) -> anyhow::Result<()> {
    let mem = MemTable::try_new(schema, partitions)?;
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
