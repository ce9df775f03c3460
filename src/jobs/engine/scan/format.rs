//! The shape of a raw log: its columns, in file order, as the scan types them.
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
