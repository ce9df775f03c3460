//! `GET /jobs/runs/{id}` (long-polls with `?wait=`) and `GET /jobs/runs`: run records; and how
//! a run is answered everywhere under `/jobs`.
use std::time::Duration;

use serde::Deserialize;
use uuid::Uuid;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::auth::authorized;
use crate::db::Run;
use crate::domain::{Task, parse_date};
use crate::routes::error::{AppError, respond};
use crate::routes::query::query;
use crate::routes::{AppState, table, with_state, within};

/// App Runner cuts a request at 120 s; a long poll must answer well before.
pub const MAX_WAIT_SECS: u64 = 110;
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    task: Option<String>,
    date: Option<String>,
    limit: Option<String>,
}

/// GET /jobs/runs/{id}?wait=SECONDS and GET /jobs/runs?task=&date=&limit=
pub fn routes(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let get = table::path(&table::JOB_RUN)
        .and(authorized(state.clone()))
        .and(query::<WaitQuery>())
        .and(with_state(state.clone()))
        .then(|[id]: [String; 1], q: WaitQuery, state| async move {
            respond(get_run(&id, q, state).await)
        });
    let list = table::exact(&table::JOB_RUNS)
        .and(authorized(state.clone()))
        .and(query::<ListQuery>())
        .and(with_state(state))
        .then(|q: ListQuery, state| async move { respond(list_runs(q, state).await) });
    get.or(list).unify()
}

async fn get_run(id: &str, q: WaitQuery, state: AppState) -> Result<Response, AppError> {
    let id: Uuid = id.parse().map_err(|_| {
        AppError::bad_request(
            "invalid_id",
            format!("invalid run id {id:?}: expected a UUID"),
        )
    })?;
    let wait = parse_wait(q.wait.as_deref())?;
    let deadline = wait + state.pool.deadline();
    match within(deadline, state.jobs.wait(id, wait)).await? {
        Some(run) => run_reply(&run),
        None => Err(AppError::NotFound(format!("no run {id}"))),
    }
}

async fn list_runs(q: ListQuery, state: AppState) -> Result<Response, AppError> {
    let task = q
        .task
        .map(|t| {
            t.parse::<Task>()
                .map_err(|e| AppError::bad_request("invalid_task", e.to_string()))
        })
        .transpose()?;
    let date = q
        .date
        .as_deref()
        .map(|d| parse_date("date", d))
        .transpose()?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                AppError::bad_request(
                    "invalid_limit",
                    format!("invalid limit {raw:?}: expected an integer from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let runs = within(state.pool.deadline(), state.jobs.list(task, date, limit)).await?;
    let runs = runs.iter().map(run_json).collect::<Result<Vec<_>, _>>()?;
    Ok(warp::reply::json(&serde_json::json!({ "runs": runs })).into_response())
}

/// `?wait=` in whole seconds, 0 to `MAX_WAIT_SECS`.
pub(super) fn parse_wait(raw: Option<&str>) -> Result<Duration, AppError> {
    let Some(raw) = raw else {
        return Ok(Duration::ZERO);
    };
    raw.parse::<u64>()
        .ok()
        .filter(|s| *s <= MAX_WAIT_SECS)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_wait",
                format!(
                    "invalid wait {raw:?}: expected whole seconds, 0 to {MAX_WAIT_SECS} (then long-poll GET /jobs/runs/{{id}}?wait=)"
                ),
            )
        })
}

/// Where a run is answered: `links.self` and `Location`.
pub fn run_path(id: Uuid) -> String {
    format!("/jobs/runs/{id}")
}

/// A run as served, its links built here.
pub fn run_json(run: &Run) -> Result<serde_json::Value, AppError> {
    let mut body = serde_json::to_value(run).map_err(anyhow::Error::from)?;
    body["links"] = serde_json::json!({ "self": run_path(run.id) });
    Ok(body)
}

/// 200 for a finished run, 202 (with Location) while it runs.
pub fn run_reply(run: &Run) -> Result<Response, AppError> {
    let status = if run.is_finished() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let reply = warp::reply::with_status(warp::reply::json(&run_json(run)?), status);
    Ok(warp::reply::with_header(reply, header::LOCATION, run_path(run.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_validated() {
        assert_eq!(parse_wait(None).unwrap(), Duration::ZERO);
        assert_eq!(
            parse_wait(Some("110")).unwrap(),
            Duration::from_secs(MAX_WAIT_SECS)
        );
        for bad in ["111", "500", "-1", "soon", "1.5"] {
            assert!(parse_wait(Some(bad)).is_err(), "{bad}");
        }
    }
}
