//! `GET /metrics`: Prometheus text format, from the one registry in `crate::metrics`.
use warp::http::header::CONTENT_TYPE;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::{AppState, table, with_state};

/// GET /metrics
pub fn route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    table::exact(&table::METRICS)
        .and(with_state(state))
        .then(|state: AppState| async move {
            let text = state
                .metrics
                .render(&state.jobs.metrics, state.cache.stats())
                .await;
            warp::reply::with_header(text, CONTENT_TYPE, "text/plain; version=0.0.4")
                .into_response()
        })
}
