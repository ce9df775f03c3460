//! `GET /metrics`: Prometheus text format.
use warp::http::header::CONTENT_TYPE;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::AppState;

/// GET /metrics
pub fn route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    warp::path!("metrics").and(warp::get()).map(move || {
        let mut text = state.metrics.render();
        text.push_str(&state.jobs.metrics.render());
        text.push_str(&state.cache.render());
        let pool = state.pool.status();
        text.push_str(&format!(
            "# HELP adrec_db_pool_connections Database pool connections by state.\n\
             # TYPE adrec_db_pool_connections gauge\n\
             adrec_db_pool_connections{{state=\"open\"}} {}\n\
             adrec_db_pool_connections{{state=\"idle\"}} {}\n\
             adrec_db_pool_connections{{state=\"waiting\"}} {}\n",
            pool.size, pool.available, pool.waiting
        ));
        warp::reply::with_header(text, CONTENT_TYPE, "text/plain; version=0.0.4").into_response()
    })
}
