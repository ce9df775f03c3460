//! `DELETE /jobs/dates/{date}`: an admin undoes a wrong publication. Bearer auth.
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::jobs::{authorized, run_reply};
use super::{AppState, decode_segment, with_state, within};
use crate::domain::parse_date;
use crate::error::{AppError, respond};

/// DELETE /jobs/dates/{date}
pub fn route(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("jobs" / "dates" / String)
        .and(warp::delete())
        .and(authorized(state.clone()))
        .and(with_state(state))
        .then(|date: String, state| async move { respond(unpublish(&date, state).await) })
}

/// Deletes the date's recommendations in one transaction that also records the deletion as a
/// run (task `unpublish`) and notifies every instance to drop its read cache; 200 with that run,
/// whose details say what was deleted. 404 if the date is not published.
async fn unpublish(raw: &str, state: AppState) -> Result<Response, AppError> {
    let date = parse_date("date", &decode_segment("date", raw)?)?;
    let pool = &state.jobs.env().pool;
    match within(state.pool.deadline(), crate::jobs::unpublish(pool, date)).await? {
        Some(run) => run_reply(&run),
        None => Err(AppError::NotFound(format!(
            "{date} is not published: no recommendations for it"
        ))),
    }
}
