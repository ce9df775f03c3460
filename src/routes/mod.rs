//! The route table. Each resource has its own file with its filters (documented with the route
//! they answer) and handlers; this file only chains them and adds the cross-cutting parts:
//! the single rejection handler and per-route metrics.
mod dashboard;
mod docs;
mod health;
mod history;
mod jobs;
mod metrics;
mod recommendations;
mod stats;

use std::convert::Infallible;
use std::sync::Arc;

use deadpool_postgres::Pool;
use percent_encoding::percent_decode_str;
use warp::{Filter, Reply};

use crate::db::cache::ReadCache;
use crate::error::{AppError, recover};
use crate::jobs::JobRunner;
use crate::metrics::Metrics;

/// What handlers share. Cheap to clone: everything inside is reference-counted.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub cache: Arc<ReadCache>,
    pub jobs: Arc<JobRunner>,
    pub auth: Arc<jobs::Auth>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(
        pool: Pool,
        cache: Arc<ReadCache>,
        jobs: Arc<JobRunner>,
        tokens: &[secrecy::SecretString],
    ) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(pool.clone())),
            pool,
            cache,
            jobs,
            auth: Arc::new(jobs::Auth::new(tokens)),
        }
    }
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let metrics = state.metrics.clone();
    recommendations::route(state.clone())
        .or(history::route(state.clone()))
        .unify()
        .or(stats::route(state.clone()))
        .unify()
        .or(dashboard::route(state.clone()))
        .unify()
        .or(health::routes(state.clone()))
        .unify()
        .or(metrics::route(state.clone()))
        .unify()
        .or(docs::routes())
        .unify()
        .or(jobs::routes(state))
        .unify()
        .recover(recover)
        .unify()
        .with(warp::log::custom(move |info| {
            metrics.observe(info.path(), info.status().as_u16(), info.elapsed());
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(),
                micros = info.elapsed().as_micros() as u64, "request");
        }))
}

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// warp hands path segments over still percent-encoded.
fn decode_segment(name: &str, raw: &str) -> Result<String, AppError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AppError::bad_request("invalid_path", format!("{name} is not valid UTF-8")))
}
