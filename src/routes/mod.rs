//! The HTTP edge. Each resource has its own file with its filter (built from the route list in
//! `table`) and handlers; this file chains them and adds what cuts across: the single rejection
//! handler and error shape (`error`), `Allow` on 405 and OPTIONS, strict decoding of path
//! segments and query strings (`query`), and per-route metrics.
mod dashboard;
mod docs;
pub mod error;
mod health;
mod history;
mod jobs;
mod metrics;
mod query;
mod recommendations;
mod stats;
pub mod table;

use std::convert::Infallible;
use std::sync::Arc;

use warp::http::{Method, StatusCode};
use warp::reply::Response;
use warp::{Filter, Reply};

use crate::db::Db;
use crate::db::cache::ReadCache;
use crate::jobs::JobRunner;
use crate::metrics::Metrics;
use error::recover;

pub use jobs::run_path;

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
        auth: &crate::config::AuthConfig,
    ) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(pool.pool().clone(), table::templates())),
            pool,
            cache,
            jobs,
            auth: Arc::new(jobs::Auth::new(auth)),
        }
    }
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let metrics = state.metrics.clone();
    let table = recommendations::route(state.clone())
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
        .unify();
    warp::method()
        .and(table)
        .map(options_answered)
        .with(warp::log::custom(move |info| {
            let route = table::find(info.path());
            metrics
                .http
                .observe(route, info.status().as_u16(), info.elapsed());
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(),
                micros = info.elapsed().as_micros() as u64, "request");
        }))
}

/// OPTIONS on a route is answered with its `Allow` (set on the 405 by `recover`).
fn options_answered(method: Method, mut resp: Response) -> Response {
    if method == Method::OPTIONS && resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        *resp.status_mut() = StatusCode::NO_CONTENT;
        *resp.body_mut() = bytes::Bytes::new().into();
        resp.headers_mut().remove(warp::http::header::CONTENT_TYPE);
    }
    resp
}

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Bounds a database-backed call that does not go through `Db::run` (the job runner's): past
/// `deadline` it is dropped and answered 503.
async fn within<T, E: From<crate::db::DbError>>(
    deadline: std::time::Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or(Err(E::from(crate::db::DbError::Timeout(deadline))))
}
