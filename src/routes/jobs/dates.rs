//! `DELETE /jobs/dates/{date}`: an admin undoes a wrong publication. Bearer auth.
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::auth::authorized;
use super::runs::run_reply;
use crate::domain::parse_date;
use crate::routes::error::{AppError, respond};
use crate::routes::query::decode_segment;
use crate::routes::{AppState, table, with_state, within};

/// DELETE /jobs/dates/{date}
pub fn route(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    table::path(&table::JOB_DATE)
        .and(authorized(state.clone()))
        .and(with_state(state))
        .then(|[date]: [String; 1], state| async move { respond(unpublish(&date, state).await) })
}

/// Deletes the date's recommendations in one transaction that also records the deletion as a
/// run (task `unpublish`) and notifies every instance to drop its read cache; 200 with that run,
/// whose details say what was deleted. 404 if the date is not published.
async fn unpublish(raw: &str, state: AppState) -> Result<Response, AppError> {
    let date = parse_date("date", &decode_segment("date", raw)?)?;
    match within(state.pool.deadline(), state.jobs.unpublish(date)).await? {
        Some(run) => run_reply(&run),
        None => Err(AppError::NotFound(format!(
            "{date} is not published: no recommendations for it"
        ))),
    }
}
