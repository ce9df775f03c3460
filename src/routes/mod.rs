//! The route table. Each resource has its own file with its filters (documented with the route
//! they answer) and handlers; this file only chains them and adds the cross-cutting parts:
//! the single rejection handler and per-route metrics.
mod docs;
mod health;
mod history;
mod jobs;
mod metrics;
mod recommendations;
mod stats;

use std::convert::Infallible;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use warp::{Filter, Reply};

use crate::db::Db;
use crate::db::cache::ReadCache;
use crate::error::{AppError, recover};
use crate::jobs::JobRunner;
use crate::metrics::Metrics;

/// What handlers share. Cheap to clone: everything inside is reference-counted.
#[derive(Clone)]
pub struct AppState {
    /// The serving pool, with the request path's deadlines.
    pub pool: Db,
    pub cache: Arc<ReadCache>,
    pub jobs: Arc<JobRunner>,
    pub auth: Arc<jobs::Auth>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(
        pool: Db,
        cache: Arc<ReadCache>,
        jobs: Arc<JobRunner>,
        tokens: &[secrecy::SecretString],
    ) -> Self {
        Self {
            pool,
            cache,
            jobs,
            auth: Arc::new(jobs::Auth::new(tokens)),
            metrics: Arc::new(Metrics::default()),
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

/// Bounds a database-backed call that does not go through `Db::run` (the job runner's): past
/// `deadline` it is dropped and answered 503.
async fn within<T>(
    deadline: std::time::Duration,
    call: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or(Err(AppError::Database(crate::db::DbError::Timeout(
            deadline,
        ))))
}

/// warp hands path segments over still percent-encoded.
fn decode_segment(name: &str, raw: &str) -> Result<String, AppError> {
    percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| AppError::bad_request("invalid_path", format!("{name} is not valid UTF-8")))
}
