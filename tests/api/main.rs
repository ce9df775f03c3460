//! Integration tests: one binary, each test with its own freshly created and migrated database,
//! the service started on port 0 through the same startup code as `main`, requests over HTTP.
//! Needs a Postgres at ADREC_TEST_PG (default postgres://postgres@127.0.0.1:5432); `make test`
//! starts one if none answers. `TEST_LOG=1` shows the service's logs.
#![allow(clippy::unwrap_used)]
mod bad_bytes;
mod ballista;
mod dashboard;
mod engine;
mod health;
mod helpers;
mod history;
mod http;
mod jobs_api;
mod metrics;
mod migrations;
mod outage;
mod pg;
mod pipeline;
mod publish;
mod recommendations;
mod run_conflicts;
mod s3;
mod sql;
mod stages;
mod stats;
mod sweeper;
mod unpublish;
