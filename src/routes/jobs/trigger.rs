//! What `POST /jobs/{task}` asks for, by one rule for each of its two values: the date
//! (required) and `force` (default false) may each be given in the query (`?date=`, `?force=`),
//! in the JSON body (`{"date": …, "force": …}`) or in both; each one given must be valid, and
//! when both are given they must agree. Anything else is a 400 that says which.
use bytes::{Buf, Bytes};
use chrono::NaiveDate;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use warp::reply::Response;
use warp::{Filter, Rejection};

use super::auth::authorized;
use super::runs::{parse_wait, run_reply};
use crate::db::Run;
use crate::domain::{Task, Trigger as Source, Triggered, parse_date};
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
    let Trigger { date, force } = parse(&q, &body)?;
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

#[derive(Deserialize)]
pub(super) struct TriggerQuery {
    pub date: Option<String>,
    pub wait: Option<String>,
    pub force: Option<String>,
}

/// A trigger's date and whether it is forced.
#[derive(Debug, PartialEq)]
pub(super) struct Trigger {
    pub date: NaiveDate,
    pub force: bool,
}

pub(super) fn parse(q: &TriggerQuery, body: &[u8]) -> Result<Trigger, AppError> {
    let (body_date, body_force) = parse_body(body)?;
    Ok(Trigger {
        date: trigger_date(q.date.as_deref(), body_date.as_deref())?,
        force: trigger_force(q.force.as_deref(), body_force)?,
    })
}

/// The optional JSON body: an object with `date` (a string) and/or `force` (a boolean), and
/// nothing else.
fn parse_body(body: &[u8]) -> Result<(Option<String>, Option<bool>), AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, None));
    }
    let invalid = |why: String| {
        AppError::bad_request(
            "invalid_body",
            format!(
                "invalid JSON body: {why} (expected {{\"date\": \"YYYY-MM-DD\", \"force\": true|false}}, either may be left out)"
            ),
        )
    };
    let map = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(invalid("the body is not a JSON object".into())),
        Err(e) => return Err(invalid(e.to_string())),
    };
    if map.is_empty() {
        return Err(invalid("the object is empty".into()));
    }
    let (mut date, mut force) = (None, None);
    for (key, value) in map {
        match (key.as_str(), value) {
            ("date", Value::String(d)) => date = Some(d),
            ("date", other) => return Err(invalid(format!("date is {other}, not a string"))),
            ("force", Value::Bool(f)) => force = Some(f),
            ("force", other) => {
                return Err(AppError::bad_request(
                    "invalid_force",
                    format!("invalid body force {other}: expected true or false"),
                ));
            }
            (other, _) => return Err(invalid(format!("unknown field {other:?}"))),
        }
    }
    Ok((date, force))
}

/// The date: required, in the query, the body or both (the same date).
fn trigger_date(query: Option<&str>, body: Option<&str>) -> Result<NaiveDate, AppError> {
    let in_query = query.map(|d| parse_date("?date", d)).transpose()?;
    let in_body = body.map(|d| parse_date("body date", d)).transpose()?;
    match (in_query, in_body) {
        (Some(q), Some(b)) if q != b => Err(AppError::bad_request(
            "conflicting_date",
            format!(
                "the query date {q} and the body date {b} differ: give the date once, or the same date in both"
            ),
        )),
        (Some(d), _) | (None, Some(d)) => Ok(d),
        (None, None) => Err(AppError::bad_request(
            "missing_date",
            "missing date: pass ?date=YYYY-MM-DD or a JSON body {\"date\": \"YYYY-MM-DD\"}",
        )),
    }
}

/// `force`: `?force=true|false` and/or a JSON boolean in the body; the same when both.
fn trigger_force(query: Option<&str>, body: Option<bool>) -> Result<bool, AppError> {
    let in_query = query
        .map(|raw| match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(AppError::bad_request(
                "invalid_force",
                format!("invalid ?force={raw:?}: expected true or false"),
            )),
        })
        .transpose()?;
    match (in_query, body) {
        (Some(q), Some(b)) if q != b => Err(AppError::bad_request(
            "conflicting_force",
            format!(
                "the query force={q} and the body force={b} differ: give force once, or the same in both"
            ),
        )),
        (Some(f), _) | (None, Some(f)) => Ok(f),
        (None, None) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(q: (Option<&str>, Option<&str>), body: &str) -> &'static str {
        let q = TriggerQuery {
            date: q.0.map(str::to_owned),
            wait: None,
            force: q.1.map(str::to_owned),
        };
        match parse(&q, body.as_bytes()) {
            Err(AppError::BadRequest { code, .. }) => code,
            other => panic!("{other:?}"),
        }
    }

    fn ok(q: (Option<&str>, Option<&str>), body: &str) -> (String, bool) {
        let q = TriggerQuery {
            date: q.0.map(str::to_owned),
            wait: None,
            force: q.1.map(str::to_owned),
        };
        let t = parse(&q, body.as_bytes()).unwrap();
        (t.date.to_string(), t.force)
    }

    #[test]
    fn the_date_is_given_once_or_the_same_twice() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            trigger_date(Some("2024-05-01"), None).unwrap(),
            d("2024-05-01")
        );
        assert_eq!(
            trigger_date(None, Some("2024-05-01")).unwrap(),
            d("2024-05-01")
        );
        assert_eq!(
            trigger_date(Some("2024-05-01"), Some("2024-05-01")).unwrap(),
            d("2024-05-01")
        );
        let code = |q, b| match trigger_date(q, b) {
            Err(AppError::BadRequest { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(code(None, None), "missing_date");
        assert_eq!(
            code(Some("2024-05-01"), Some("2024-05-02")),
            "conflicting_date"
        );
        assert_eq!(code(Some("2024-05-01"), Some("nope")), "invalid_date");
        assert_eq!(code(Some("nope"), Some("2024-05-01")), "invalid_date");
    }

    #[test]
    fn force_follows_the_same_rule() {
        let day = Some("2024-05-01");
        assert_eq!(ok((day, None), ""), ("2024-05-01".into(), false));
        assert_eq!(ok((day, Some("true")), ""), ("2024-05-01".into(), true));
        assert_eq!(ok((day, Some("false")), ""), ("2024-05-01".into(), false));
        assert!(ok((day, None), r#"{"force": true}"#).1);
        assert!(ok((day, Some("true")), r#"{"force": true}"#).1);
        assert_eq!(
            ok((None, None), r#"{"date": "2024-05-01", "force": true}"#),
            ("2024-05-01".into(), true)
        );
        assert_eq!(
            code((day, Some("true")), r#"{"force": false}"#),
            "conflicting_force"
        );
        for bad in ["1", "yes", "True", ""] {
            assert_eq!(code((day, Some(bad)), ""), "invalid_force", "{bad:?}");
        }
        for bad in [r#""true""#, "1", "null"] {
            let body = format!(r#"{{"force": {bad}}}"#);
            assert_eq!(code((day, None), &body), "invalid_force", "{body}");
        }
        assert_eq!(code((None, Some("true")), ""), "missing_date");
        assert_eq!(code((day, None), "{}"), "invalid_body");
        assert_eq!(code((day, None), r#"{"date": null}"#), "invalid_body");
        assert_eq!(
            code((day, None), r#"{"force": true, "x": 1}"#),
            "invalid_body"
        );
    }
}
