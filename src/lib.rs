//! adrec: product recommendations for advertisers.
//!
//! The binary serves precomputed recommendations from Postgres (`routes`) and runs the nightly
//! pipeline that computes them (`jobs`), one stage per authenticated HTTP call or CLI command.
#![cfg_attr(test, allow(clippy::unwrap_used))]
pub mod cli;
#[cfg(feature = "ballista")]
pub mod cluster;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod gen_data;
pub mod jobs;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod telemetry;
