//! The ground floor: the service's concepts, shared by the database layer, the jobs and the API.
//! Nothing here knows HTTP or SQL: parse failures are a `DomainError`, which
//! `routes::error::AppError` turns into a 400 at the edge.
//!
//! * here: the two models and strict dates;
//! * `task`: what a run does ([`Task`]) and the stage outputs each task writes ([`Output`]);
//! * `outcome`: what became of a raw row ([`Outcome`]);
//! * `run`: a run's status, trigger and progress; `details`: its typed `details` ([`RunDetails`]).
mod details;
mod outcome;
mod run;
mod task;

use std::fmt;

use chrono::NaiveDate;
use postgres_types::{FromSql, ToSql};
use serde::{Deserialize, Serialize};

pub use details::{
    Excluded, FilterDetails, FilterInputs, InputRef, LogReport, ModelDetails, PublishDetails,
    RunDetails, StageReport, TaskDetails, UnpublishDetails,
};
pub use outcome::{Outcome, OutcomeCounts, UnknownOutcome};
pub use run::{ProgressReport, RunStatus, Trigger};
pub use task::{Output, Task, Triggered, UnknownTask};

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
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSql, FromSql,
)]
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
}
