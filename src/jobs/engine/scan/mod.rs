//! A DataFusion data source for the raw logs: lenient, parallel, and counting what it skips.
//!
//! DataFusion's CSV reader fails a whole query on one row with the wrong field count, so the
//! logs get a scan of their own. `LogTable` is the table the filter queries see (typed columns:
//! `Utf8View` text, `Date32` dates); it plans a [`LogScanExec`] that reads byte ranges of the
//! files in parallel (ranged GETs on S3, aligned to line ends), tokenizes bytes straight into
//! Arrow arrays, counts bad rows by reason as it parses, and applies a pushed-down
//! `date = <day>` predicate during the scan so other days' rows never become arrays.
//!
//! * `format` — a log's columns;
//! * `parse` — bytes to batches, and the rules for bad rows;
//! * `counts` — the lines kept and skipped, by reason;
//! * `codes` — advertiser ids to dense integer codes, looked up as rows are parsed;
//! * `combine` — a partition's identical rows as one with their count, when `n` is read;
//! * `batch` — the columns those batches are built in;
//! * `delims` — where the commas and line ends are (64 bytes at a time);
//! * `read` — one range's lines, aligned to line ends;
//! * `spec` — what a scan reads (files cut into ranges, dealt over partitions) and outputs;
//! * `exec` — the execution plan: ranged reads, prefetching;
//! * `sliced` — the scan as it is planned: partitions listed by a child a Ballista task slices;
//! * `metrics` — what each scan counts, and the counts of a plan's scans.
mod batch;
mod codes;
mod combine;
mod counts;
mod delims;
mod exec;
mod format;
mod metrics;
mod parse;
mod read;
mod sliced;
mod spec;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{Result, ScalarValue};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

pub use codes::Codes;
pub use counts::{LineCounts, Skip};
pub use exec::LogScanExec;
pub use format::{COUNT, ColumnKind, LogFormat, PART, TableColumn};
pub use metrics::{partition_counts, scan_counts, scan_progress};
pub use parse::{epoch_days, parse_ymd};
pub use sliced::SlicedScanExec;
pub use spec::{FileRange, LogScanSpec};

/// The files of one log, as a table.
#[derive(Debug)]
pub struct LogTable {
    format: LogFormat,
    /// Seeds the `advertiser_code` column; without, the table has none.
    codes: Option<Arc<Codes>>,
    schema: SchemaRef,
    /// The object store's URL (`file://`, `s3://bucket`), registered with the session.
    store_url: String,
    /// (object key, size, hive partition date) of each file.
    files: Vec<(String, u64, Option<i32>)>,
    io: Option<tokio::runtime::Handle>,
}

impl LogTable {
    pub fn new(
        format: LogFormat,
        codes: Option<Arc<Codes>>,
        store_url: impl Into<String>,
        files: Vec<(String, u64, Option<i32>)>,
        io: Option<tokio::runtime::Handle>,
    ) -> Self {
        Self {
            schema: format.table_schema(codes.is_some()),
            format,
            codes,
            store_url: store_url.into(),
            files,
            io,
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }

    /// What defines the table (for plans sent to other processes; see `cluster::codec`).
    pub fn format(&self) -> &LogFormat {
        &self.format
    }

    pub fn codes(&self) -> Option<&Arc<Codes>> {
        self.codes.as_ref()
    }

    pub fn store_url(&self) -> &str {
        &self.store_url
    }

    pub fn files(&self) -> &[(String, u64, Option<i32>)] {
        &self.files
    }

    /// The day of a `date = <Date32 literal>` filter.
    fn day_of(&self, e: &Expr) -> Option<i32> {
        let date = &self.format.columns()[self.format.date_column()?].name;
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = e
        else {
            return None;
        };
        match (left.as_ref(), right.as_ref()) {
            (Expr::Column(c), Expr::Literal(ScalarValue::Date32(Some(d)), _))
            | (Expr::Literal(ScalarValue::Date32(Some(d)), _), Expr::Column(c))
                if &c.name == date =>
            {
                Some(*d)
            }
            _ => None,
        }
    }
}

#[async_trait]
impl TableProvider for LogTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// One `date = <day>` filter is applied exactly by the scan; others stay with DataFusion.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let mut taken = false;
        Ok(filters
            .iter()
            .map(|f| {
                if !taken && self.day_of(f).is_some() {
                    taken = true;
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let config = state.config();
        let spec = LogScanSpec {
            format: self.format.clone(),
            codes: self.codes.clone(),
            store_url: self.store_url.clone(),
            partitions: LogScanSpec::plan_ranges(&self.files, config.target_partitions()),
            projection: projection
                .cloned()
                .unwrap_or_else(|| (0..self.schema.fields().len()).collect()),
            day: filters.iter().find_map(|f| self.day_of(f)),
        };
        let scan = LogScanExec::new(spec, self.io.clone(), config.batch_size());
        Ok(Arc::new(SlicedScanExec::over(Arc::new(scan))?))
    }
}
