//! The nightly pipeline: stages that run DataFusion SQL from `queries/` over object storage,
//! and the runner that records every run in `job_runs`.
//!
//! A run is started by `POST /jobs/{task}` or `adrec run`, executes in the background on this
//! process, and is waited for by long polls. Stages are idempotent per date: outputs are keyed by
//! date and published by a manifest written last (`store`). Four parts, each behind its `mod.rs`,
//! each using only the ones listed after it:
//!
//! * `run`: running runs ([`JobRunner`], [`JobError`]);
//! * `stages`: filter_data, top_ctr, top_product, db_writing, and their progress;
//! * `engine`: the query engine ([`Engine`]) in this process or on a Ballista cluster, the
//!   raw-log scan, the SQL session;
//! * `store`: `RAW_URL` and `WORK_URL`, a day's inputs, the date-keyed outputs and their
//!   manifests, sweeping what failed runs wrote.
pub mod engine;
mod run;
mod stages;
pub mod store;

pub use engine::Engine;
pub use run::{JobError, JobRunner};
pub use stages::{JobEnv, PublishPolicy};
pub use store::Storage;
