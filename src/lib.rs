//! adrec: product recommendations for advertisers.
//!
//! The binary serves precomputed recommendations from Postgres (`routes`) and runs the nightly
//! pipeline that computes them (`jobs`), one stage per authenticated HTTP call or CLI command.
//!
//! Layers, each using only the ones below it:
//!
//! 1. `cli`, `startup`: the commands, and building and running the service;
//! 2. `routes`: the HTTP edge (route table, handlers, the one error shape);
//! 3. `jobs`: the pipeline (runs, stages, query engine, storage);
//! 4. `metrics`: the Prometheus registry;
//! 5. `db`: every Postgres statement, the pools, migrations, the read cache;
//! 6. the ground floor: `domain` (the service's concepts), `config` (the environment, read
//!    once), `system` (what the host gives), `telemetry` (logs), `gen_data` (synthetic logs).
#![cfg_attr(test, allow(clippy::unwrap_used))]
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod gen_data;
pub mod jobs;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod system;
pub mod telemetry;
