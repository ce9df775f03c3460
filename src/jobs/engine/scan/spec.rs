//! `LogScanSpec`: what a scan reads (its files cut into ranges, dealt over the partitions) and
//! outputs. It is plain data, so a plan carrying it can travel to a cluster's executors.
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::Partitioning;
use serde::{Deserialize, Serialize};

use super::codes::Codes;
use super::format::{LogFormat, PART, TableColumn};

/// Bytes per ranged GET: large enough for S3 throughput, small enough to spread a day over cores.
pub const RANGE_BYTES: u64 = 8 << 20;

/// One range of one input file; the scan owns the lines that *start* in `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRange {
    pub path: String,
    pub size: u64,
    pub start: u64,
    pub end: u64,
    /// The hive partition's date (days since epoch), whose rows may leave the date out.
    pub partition_date: Option<i32>,
}

/// Everything that defines a scan; serializable, so a plan can travel to other processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogScanSpec {
    pub format: LogFormat,
    /// The advertiser codes the table's `advertiser_code` column looks up, if it has one.
    pub codes: Option<Arc<Codes>>,
    pub store_url: String,
    /// Per output partition, its ranges in reading order.
    pub partitions: Vec<Vec<FileRange>>,
    /// Indices of the table's columns (`LogFormat::table_columns`) that are output.
    pub projection: Vec<usize>,
    /// Keep only this day's rows (days since epoch): the pushed-down `date = …` predicate.
    pub day: Option<i32>,
}

impl LogScanSpec {
    /// Cuts `files` (path, size, partition date) into ranges dealt over `target` partitions.
    pub fn plan_ranges(files: &[(String, u64, Option<i32>)], target: usize) -> Vec<Vec<FileRange>> {
        let mut ranges = Vec::new();
        for (path, size, partition_date) in files {
            let mut start = 0;
            while start < *size {
                let end = (start + RANGE_BYTES).min(*size);
                // Avoid a sliver at the end of a file: the last range takes it.
                let end = if size - end < RANGE_BYTES / 4 {
                    *size
                } else {
                    end
                };
                ranges.push(FileRange {
                    path: path.clone(),
                    size: *size,
                    start,
                    end,
                    partition_date: *partition_date,
                });
                start = end;
            }
        }
        let n = target.clamp(1, ranges.len().max(1));
        let mut parts = vec![Vec::new(); n];
        for (i, r) in ranges.into_iter().enumerate() {
            parts[i % n].push(r);
        }
        parts
    }

    pub fn total_bytes(&self) -> u64 {
        self.partitions
            .iter()
            .flatten()
            .map(|r| r.end - r.start)
            .sum()
    }

    /// The table columns output, in order.
    pub fn outputs(&self) -> Vec<(String, TableColumn)> {
        let all = self.format.table_columns(self.codes.is_some());
        self.projection.iter().map(|&i| all[i].clone()).collect()
    }

    /// The output schema.
    pub fn schema(&self) -> SchemaRef {
        let table = self.format.table_schema(self.codes.is_some());
        Arc::new(table.project(&self.projection).expect("a valid projection"))
    }

    /// Hash partitioned on `part` when it is output (each value is read by one partition, so
    /// rows with equal `part` are in one partition: what a hash partitioning promises), else
    /// of unknown partitioning. `n` partitions.
    pub fn partitioning(&self, n: usize) -> Partitioning {
        let part = self
            .outputs()
            .iter()
            .position(|(_, c)| *c == TableColumn::Part);
        match part {
            Some(i) => Partitioning::Hash(vec![Arc::new(Column::new(PART, i))], n),
            None => Partitioning::UnknownPartitioning(n),
        }
    }
}
