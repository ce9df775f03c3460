//! `GET /recommendations/{advertiser_id}/{model}`: the hot path advertisers call for every ad.
use anyhow::Context;
use bytes::Bytes;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use warp::Filter;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use super::error::{AppError, error_json, json_bytes, respond};
use super::query::{decode_segment, query};
use super::{AppState, table, with_state};
use crate::db::cache::Answer;
use crate::db::reads::{self, Recommendation};
use crate::domain::{Model, parse_date};

#[derive(Deserialize)]
struct Query {
    date: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    advertiser_id: &'a str,
    model: Model,
    date: NaiveDate,
    recommendations: Vec<Recommendation>,
}

/// GET /recommendations/{advertiser_id}/{model}?date=YYYY-MM-DD
pub fn route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    table::path(&table::RECOMMENDATIONS)
        .and(query::<Query>())
        .and(with_state(state))
        .then(
            |[adv, model]: [String; 2], q: Query, state: AppState| async move {
                respond(get(&adv, &model, q, &state).await)
            },
        )
}

async fn get(adv: &str, model: &str, q: Query, state: &AppState) -> Result<Response, AppError> {
    let advertiser_id = decode_segment("advertiser_id", adv)?;
    let model = Model::parse(&decode_segment("model", model)?)?;
    let date = q
        .date
        .as_deref()
        .map(|d| parse_date("date", d))
        .transpose()?;
    // Answers, 404s included, are cached per instance (db::cache): until the next publication,
    // and as the fallback while the database is unavailable.
    let key = (advertiser_id, model, date);
    if let Some(hit) = state.cache.fresh(&key) {
        return Ok(answer_reply(hit, None));
    }
    if state.cache.breaker_open()
        && let Some((held, age)) = state.cache.fallback(&key)
    {
        return Ok(answer_reply(held, Some(age)));
    }
    let generation = state.cache.generation();
    let answer = match lookup(&key.0, model, date, state).await {
        Ok(body) => Answer {
            found: true,
            body: Bytes::from(body),
        },
        Err(AppError::NotFound(message)) => Answer {
            found: false,
            body: Bytes::from(error_json("not_found", &message)),
        },
        Err(AppError::Database(e)) if e.is_unavailable() => {
            state.cache.database_failed();
            return match state.cache.fallback(&key) {
                Some((held, age)) => Ok(answer_reply(held, Some(age))),
                None => Err(AppError::Database(e)),
            };
        }
        Err(e) => return Err(e),
    };
    state.cache.database_answered();
    state.cache.put(key, generation, answer.clone());
    Ok(answer_reply(answer, None))
}

/// The response for an answer; one served from the cache because the database is unavailable
/// says how old it is (`Age`) and why (`Cache-Status`, RFC 9211).
fn answer_reply(answer: Answer, stale: Option<Duration>) -> Response {
    let status = if answer.found {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    let mut resp = json_bytes(status, answer.body);
    if let Some(age) = stale {
        let headers = resp.headers_mut();
        headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
        headers.insert(
            "cache-status",
            HeaderValue::from_static("adrec; hit; detail=database-unavailable"),
        );
    }
    resp
}

/// The served JSON, from the database.
async fn lookup(
    advertiser_id: &str,
    model: Model,
    date: Option<NaiveDate>,
    state: &AppState,
) -> Result<Vec<u8>, AppError> {
    let found = state
        .pool
        .run(async |c| reads::recommendations(c, advertiser_id, model, date).await)
        .await?;
    let Some((date, recommendations)) = found else {
        let when = date.map_or("the latest published date".to_owned(), |d| d.to_string());
        return Err(AppError::NotFound(format!(
            "no {model} recommendations for advertiser {advertiser_id:?} on {when}"
        )));
    };
    let body = Body {
        advertiser_id,
        model,
        date,
        recommendations,
    };
    Ok(serde_json::to_vec(&body).context("serializing recommendations")?)
}
