//! The shape of a raw log: its fields, in file order, as the scan types them, and the columns its
//! table adds (`TableColumn`).
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    /// Text, as `Utf8View`.
    Text,
    /// A `YYYY-MM-DD` date, as `Date32`. At most one, and last: hive partitions may leave it out.
    Date,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
    /// An empty value makes the row malformed (ids); otherwise it is kept for SQL to judge.
    pub required: bool,
}

/// A headed CSV log with a fixed column order and no quoting (the course's files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogFormat {
    columns: Vec<Column>,
}

impl LogFormat {
    /// `columns` as (name, kind, required).
    pub fn new(columns: &[(&str, ColumnKind, bool)]) -> Self {
        let dates = columns.iter().filter(|c| c.1 == ColumnKind::Date).count();
        assert!(
            dates == 0 || (dates == 1 && columns.last().is_some_and(|c| c.1 == ColumnKind::Date)),
            "a log has at most one date column, and it is the last"
        );
        Self {
            columns: columns
                .iter()
                .map(|&(name, kind, required)| Column {
                    name: name.to_owned(),
                    kind,
                    required,
                })
                .collect(),
        }
    }

    /// `advertiser_ids`: the active advertisers.
    pub fn advertiser_ids() -> Self {
        Self::new(&[("advertiser_id", ColumnKind::Text, true)])
    }

    /// `product_views`: one row per product page view.
    pub fn product_views() -> Self {
        Self::new(&[
            ("advertiser_id", ColumnKind::Text, true),
            ("product_id", ColumnKind::Text, true),
            ("date", ColumnKind::Date, true),
        ])
    }

    /// `ads_views`: ad impressions and clicks (`type`, judged by the filter query).
    pub fn ads_views() -> Self {
        Self::new(&[
            ("advertiser_id", ColumnKind::Text, true),
            ("product_id", ColumnKind::Text, true),
            ("type", ColumnKind::Text, false),
            ("date", ColumnKind::Date, true),
        ])
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    pub fn date_column(&self) -> Option<usize> {
        self.columns.iter().position(|c| c.kind == ColumnKind::Date)
    }

    /// The table's schema (every column; values are never null).
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| {
                    let t = match c.kind {
                        ColumnKind::Text => DataType::Utf8View,
                        ColumnKind::Date => DataType::Date32,
                    };
                    Field::new(&c.name, t, false)
                })
                .collect::<Vec<_>>(),
        ))
    }
}

/// A column of a log's table, as the queries see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableColumn {
    /// Field `i` of the file.
    Field(usize),
    /// `part`: the scan partition that read the row. The scan declares its output hash
    /// partitioned on it, so a `GROUP BY part, …` is aggregated where the rows were read, with no
    /// exchange between threads or executors (a key may then appear once per partition).
    Part,
    /// `advertiser_code`: the code of field `i` (the advertiser id) in the table's `Codes`; NULL
    /// for an id that has none.
    Code(usize),
    /// `n`: how many lines of the partition the row stands for. A scan that outputs it combines
    /// identical rows (of the other columns it outputs) into one (`combine`), so a query reading
    /// the table counts with `sum(n)`, not `count(*)`; without it every line is a row.
    Count,
}

/// The name of the partition column.
pub const PART: &str = "part";
/// The name of the count column.
pub const COUNT: &str = "n";

impl LogFormat {
    /// The table's columns: the fields, `part`, `n`, and with codes `advertiser_code`.
    pub fn table_columns(&self, coded: bool) -> Vec<(String, TableColumn)> {
        let mut cols: Vec<(String, TableColumn)> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), TableColumn::Field(i)))
            .collect();
        cols.push((PART.to_owned(), TableColumn::Part));
        cols.push((COUNT.to_owned(), TableColumn::Count));
        if coded {
            let id = &self.columns[0].name;
            let name = format!("{}_code", id.strip_suffix("_id").unwrap_or(id));
            cols.push((name, TableColumn::Code(0)));
        }
        cols
    }

    /// The table's schema (fields are never null; a code is NULL for an id without one).
    pub fn table_schema(&self, coded: bool) -> SchemaRef {
        let fields: Vec<Field> = self
            .table_columns(coded)
            .into_iter()
            .map(|(name, c)| match c {
                TableColumn::Field(i) => self.schema().field(i).clone(),
                TableColumn::Part => Field::new(name, DataType::Int32, false),
                TableColumn::Count => Field::new(name, DataType::Int64, false),
                TableColumn::Code(_) => Field::new(name, DataType::Int32, true),
            })
            .collect();
        Arc::new(Schema::new(fields))
    }
}
