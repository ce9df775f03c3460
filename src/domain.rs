//! Small domain types shared by the API, the jobs and the database. Nothing here knows HTTP:
//! parse failures are a `DomainError`, which `error::AppError` turns into a 400 at the edge.
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use postgres_types::{FromSql, ToSql};
use serde::{Deserialize, Serialize};

/// A value from outside (a URL, a command line) that is not a valid domain value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error(
        "unknown model {0:?}: expected one of TopCTR, TopProduct (case-insensitive) or top_ctr, top_product"
    )]
    UnknownModel(String),
    #[error("invalid {param} {raw:?}: expected a calendar date formatted {DATE_FORMAT_HINT}")]
    InvalidDate { param: &'static str, raw: String },
}

/// The two recommendation models; the Postgres enum `rec_model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSql, FromSql)]
#[postgres(name = "rec_model")]
#[serde(rename_all = "snake_case")]
pub enum Model {
    #[postgres(name = "top_ctr")]
    TopCtr,
    #[postgres(name = "top_product")]
    TopProduct,
}

impl Model {
    pub const ALL: [Model; 2] = [Model::TopCtr, Model::TopProduct];

    pub fn as_str(self) -> &'static str {
        match self {
            Model::TopCtr => "top_ctr",
            Model::TopProduct => "top_product",
        }
    }

    /// Accepts `TopCTR`/`TopProduct` (any case) and `top_ctr`/`top_product`.
    pub fn parse(raw: &str) -> Result<Model, DomainError> {
        match raw.to_ascii_lowercase().as_str() {
            "topctr" | "top_ctr" => Ok(Model::TopCtr),
            "topproduct" | "top_product" => Ok(Model::TopProduct),
            _ => Err(DomainError::UnknownModel(raw.to_owned())),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub const DATE_FORMAT_HINT: &str = "YYYY-MM-DD";

/// Parses a strict `YYYY-MM-DD` date (zero-padded), naming the parameter in the error.
pub fn parse_date(param: &'static str, raw: &str) -> Result<NaiveDate, DomainError> {
    let well_formed = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    well_formed
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| DomainError::InvalidDate {
            param,
            raw: raw.to_owned(),
        })
}

/// The pipeline stages, plus `pipeline` (all four in order). Parsed from the URL, so an unknown
/// task is a 404 like any unknown path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    FilterData,
    TopCtr,
    TopProduct,
    DbWriting,
    Pipeline,
}

impl Task {
    pub const ALL: [Task; 5] = [
        Task::FilterData,
        Task::TopCtr,
        Task::TopProduct,
        Task::DbWriting,
        Task::Pipeline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Task::FilterData => "filter_data",
            Task::TopCtr => "top_ctr",
            Task::TopProduct => "top_product",
            Task::DbWriting => "db_writing",
            Task::Pipeline => "pipeline",
        }
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown task {0:?}: expected filter_data, top_ctr, top_product, db_writing or pipeline")]
pub struct UnknownTask(String);

impl FromStr for Task {
    type Err = UnknownTask;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Task::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTask(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_aliases_are_case_insensitive() {
        for raw in ["TopCTR", "topctr", "TOPCTR", "top_ctr", "Top_Ctr"] {
            assert_eq!(Model::parse(raw).unwrap(), Model::TopCtr, "{raw}");
        }
        for raw in ["TopProduct", "topproduct", "top_product"] {
            assert_eq!(Model::parse(raw).unwrap(), Model::TopProduct, "{raw}");
        }
        assert!(Model::parse("top").is_err());
    }

    #[test]
    fn dates_must_be_zero_padded_calendar_days() {
        assert!(parse_date("date", "2024-05-01").is_ok());
        for bad in [
            "2024-5-1",
            "2024-02-30",
            "20240501",
            "2024-05-01T00:00",
            "",
            "abcd-ef-gh",
        ] {
            assert!(parse_date("date", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tasks_round_trip() {
        for t in Task::ALL {
            assert_eq!(t.as_str().parse::<Task>().unwrap(), t);
        }
        assert!("nope".parse::<Task>().is_err());
    }
}
