//! `/jobs`: trigger pipeline stages and follow their runs. Bearer auth on every route.
mod trigger;
use std::time::Duration;

use bytes::{Buf, Bytes};
use chrono::NaiveDate;
use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use uuid::Uuid;
use warp::http::{StatusCode, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use super::{AppState, with_state, within};
use crate::domain::{Task, parse_date};
use crate::error::{AppError, respond};
use crate::jobs::{JobError, Run};

/// App Runner cuts a request at 120 s; a long poll must answer well before.
pub const MAX_WAIT_SECS: u64 = 110;
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// The accepted tokens. Compared in constant time; never logged.
pub struct Auth {
    tokens: Vec<SecretString>,
}

impl Auth {
    pub fn new(tokens: &[SecretString]) -> Self {
        Self {
            tokens: tokens.to_vec(),
        }
    }

    /// `Authorization: Bearer <token>`, the scheme in any case and followed by one or more
    /// spaces (RFC 9110 §11.1, §11.4). Raw bytes: a header that is not UTF-8 is simply wrong.
    fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(given) = header.and_then(bearer_token) else {
            return false;
        };
        // Check every token (no early exit), so timing does not tell which one matched.
        self.tokens.iter().fold(false, |ok, t| {
            ok | bool::from(t.expose_secret().as_bytes().ct_eq(given))
        })
    }
}

fn bearer_token(header: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer";
    let (scheme, rest) = header.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || !rest.starts_with(b" ") {
        return None;
    }
    let token = rest.trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// Placed after the path filters, so an unknown path is a 404 and not a 401.
pub(super) fn authorized(state: AppState) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and(with_state(state))
        .and_then(|h: warp::http::HeaderMap, state: AppState| async move {
            if state
                .auth
                .accepts(h.get(header::AUTHORIZATION).map(|v| v.as_bytes()))
            {
                Ok(())
            } else {
                Err(warp::reject::custom(AppError::Unauthorized))
            }
        })
        .untuple_one()
}

/// The optional JSON body, at most 16 KiB. `content_length_limit` would refuse a POST with no
/// body and no Content-Length (how curl and Airflow send `?date=` triggers), so the body is read
/// here, stopping as soon as it is too large, whether or not a length was announced.
fn small_body() -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    warp::body::stream().and_then(read_limited)
}

async fn read_limited<S, B>(stream: S) -> Result<Bytes, Rejection>
where
    S: futures::Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    const LIMIT: usize = 16 * 1024;
    let invalid =
        |message: String| warp::reject::custom(AppError::bad_request("invalid_body", message));
    let mut stream = std::pin::pin!(stream);
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| invalid("could not read the request body".into()))?;
        if body.len() + chunk.remaining() > LIMIT {
            return Err(invalid(format!(
                "request body too large (over {LIMIT} bytes)"
            )));
        }
        while chunk.has_remaining() {
            let n = chunk.chunk().len();
            body.extend_from_slice(chunk.chunk());
            chunk.advance(n);
        }
    }
    Ok(body.freeze())
}

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

pub fn routes(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    // POST /jobs/{task}?date=YYYY-MM-DD&force=true&wait=SECONDS
    // (or JSON body {"date": "YYYY-MM-DD", "force": true})
    let trigger = warp::path!("jobs" / Task)
        .and(warp::post())
        .and(authorized(state.clone()))
        .and(super::query::<trigger::TriggerQuery>())
        .and(small_body())
        .and(with_state(state.clone()))
        .then(|task, q, body, state| async move { respond(trigger(task, q, body, state).await) });
    // GET /jobs/runs/{id}?wait=SECONDS
    let get = warp::path!("jobs" / "runs" / String)
        .and(super::get_or_head())
        .and(authorized(state.clone()))
        .and(super::query::<WaitQuery>())
        .and(with_state(state.clone()))
        .then(
            |id: String, q: WaitQuery, state| async move { respond(get_run(&id, q, state).await) },
        );
    // GET /jobs/runs?task=&date=&limit=
    let list = warp::path!("jobs" / "runs")
        .and(super::get_or_head())
        .and(authorized(state.clone()))
        .and(super::query::<ListQuery>())
        .and(with_state(state))
        .then(|q: ListQuery, state| async move { respond(list_runs(q, state).await) });
    trigger.or(get).unify().or(list).unify()
}

async fn trigger(
    task: Task,
    q: trigger::TriggerQuery,
    body: Bytes,
    state: AppState,
) -> Result<Response, AppError> {
    let trigger::Trigger { date, force } = trigger::parse(&q, &body)?;
    let wait = parse_wait(q.wait.as_deref())?;
    let deadline = state.pool.deadline();
    let run = start(task, date, force, &state).await?;
    let run = if wait.is_zero() {
        run
    } else {
        within(wait + deadline, state.jobs.wait(run.id, wait))
            .await?
            .unwrap_or(run)
    };
    run_reply(&run)
}

/// Starts the run. A conflict with a run that finished between the insert and the look-up for it
/// (the runner then names no run) is no conflict any more: try again, once.
async fn start(
    task: Task,
    date: NaiveDate,
    force: bool,
    state: &AppState,
) -> Result<Run, AppError> {
    let deadline = state.pool.deadline();
    let run = match within(deadline, state.jobs.start(task, date, "http", force)).await {
        Err(JobError::Conflict { running: None, .. }) => {
            within(deadline, state.jobs.start(task, date, "http", force)).await
        }
        other => other,
    };
    Ok(run?)
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
fn parse_wait(raw: Option<&str>) -> Result<Duration, AppError> {
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
pub(super) fn run_json(run: &Run) -> Result<serde_json::Value, AppError> {
    let mut body = serde_json::to_value(run).map_err(anyhow::Error::from)?;
    body["links"] = serde_json::json!({ "self": run_path(run.id) });
    Ok(body)
}

/// 200 for a finished run, 202 (with Location) while it runs.
pub(super) fn run_reply(run: &Run) -> Result<Response, AppError> {
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
    fn tokens_are_checked_exactly() {
        let auth = Auth::new(&[SecretString::from("old"), SecretString::from("new-token")]);
        for good in [
            "Bearer new-token",
            "Bearer old",
            "bearer new-token",
            "BEARER new-token",
            "Bearer   new-token ",
        ] {
            assert!(auth.accepts(Some(good.as_bytes())), "{good}");
        }
        for bad in [
            "Bearer ",
            "Bearer new",
            "new-token",
            "Basic new-token",
            "Bearernew-token",
            "Bearer new-token\u{1}",
        ] {
            assert!(!auth.accepts(Some(bad.as_bytes())), "{bad:?}");
        }
        assert!(!auth.accepts(None));
        assert!(!auth.accepts(Some(b"Bearer \xffnew-token")));
    }

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
