//! `POST /jobs/{task}`: start a run (its date and `force` by the rule in `params`), and with
//! `?wait=` long-poll it. The body is read here, at most 16 KiB.
use bytes::{Buf, Bytes};
use chrono::NaiveDate;
use futures::StreamExt;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::auth::authorized;
use super::params::{Trigger, TriggerQuery, parse};
use super::runs::{parse_wait, run_reply};
use crate::db::Run;
use crate::domain::{Task, Trigger as Source, Triggered};
use crate::jobs::JobError;
use crate::routes::error::{AppError, respond};
use crate::routes::query::query;
use crate::routes::{AppState, table, with_state, within};

/// POST /jobs/{task}?date=YYYY-MM-DD&force=true&wait=SECONDS
/// (or JSON body {"date": "YYYY-MM-DD", "force": true})
pub fn route(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    table::path(&table::JOB_TRIGGER)
        .and(authorized(state.clone()))
        .and(query::<TriggerQuery>())
        .and(small_body())
        .and(with_state(state))
        .then(|[task]: [String; 1], q, body, state| async move {
            respond(trigger(&task, q, body, state).await)
        })
}

async fn trigger(
    task: &str,
    q: TriggerQuery,
    body: Bytes,
    state: AppState,
) -> Result<Response, AppError> {
    // The route only matches tasks a caller may start.
    let Triggered(task) = task
        .parse()
        .map_err(|e: crate::domain::UnknownTask| AppError::NotFound(e.to_string()))?;
    let today = chrono::Utc::now().date_naive();
    let Trigger { date, force } = parse(&q, &body, today)?;
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
    let run = match within(deadline, state.jobs.start(task, date, Source::Http, force)).await {
        Err(JobError::Conflict { running: None, .. }) => {
            within(deadline, state.jobs.start(task, date, Source::Http, force)).await
        }
        other => other,
    };
    Ok(run?)
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
