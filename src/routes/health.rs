//! `GET /healthz` (the process answers) and `GET /readyz` (the database answers too).
use std::time::Duration;

use serde_json::json;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::{AppError, respond};
use super::{AppState, table, with_state};
use crate::db::reads;

/// Readiness must answer quickly even when the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// GET /healthz and GET /readyz
pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let healthz = table::exact(&table::HEALTHZ)
        .map(|| warp::reply::json(&json!({"status": "ok"})).into_response());
    let readyz = table::exact(&table::READYZ)
        .and(with_state(state))
        .then(|state: AppState| async move { respond(ready(&state).await) });
    healthz.or(readyz).unify()
}

async fn ready(state: &AppState) -> Result<Response, AppError> {
    let check = state.pool.run(async |c| c.simple_query(reads::READY).await);
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Ok(_)) => Ok(warp::reply::json(&json!({"status": "ready"})).into_response()),
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::telemetry::chain(&e), "readiness check failed");
            Err(AppError::Unavailable("the database is unreachable".into()))
        }
        Err(_) => Err(AppError::Unavailable(
            "the database did not answer in time".into(),
        )),
    }
}
