//! Where the pipeline's files live and how its outputs are kept: the `RAW_URL` and `WORK_URL`
//! directories (`location`, with `aws` for S3), a day's raw inputs in whichever layout
//! (`inputs`), the date-keyed outputs published by a manifest (`output`), and deleting what
//! failed runs wrote (`sweeper`).
mod aws;
mod inputs;
mod location;
mod output;
mod sweeper;

pub use aws::{CachedCredentials, s3_client, sdk_config};
pub use inputs::{ACTIVE_NAMES, Input, find};
pub use location::{Entry, Location, Storage, make_store};
pub use output::{
    MANIFEST, Manifest, ManifestFile, OutputWriter, ROW_GROUP_BYTES, TableWriter, normalize,
    plain_schema, read_manifest, stage_dir, sweep_run, writer_properties,
};
pub use sweeper::sweep;
