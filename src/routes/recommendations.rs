//! `GET /recommendations/{advertiser_id}/{model}`: the hot path advertisers call for every ad.
use anyhow::Context;
use bytes::Bytes;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::Response;

use super::{AppState, decode_segment, with_state};
use crate::db::reads::{self, Recommendation};
use crate::domain::{Model, parse_date};
use crate::error::{AppError, error_json, json_bytes, respond};

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
    warp::path!("recommendations" / String / String)
        .and(warp::get())
        .and(warp::query::<Query>())
        .and(with_state(state))
        .then(
            |adv: String, model: String, q: Query, state: AppState| async move {
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
    // Answers, 404s included, are cached per instance until the next publication (db::cache).
    let key = format!("{advertiser_id}\0{model}\0{date:?}");
    if let Some(hit) = state.cache.get(&key) {
        return Ok(json_bytes(hit.status, hit.body));
    }
    let generation = state.cache.generation();
    let (status, body) = match lookup(&advertiser_id, model, date, state).await {
        Ok(body) => (StatusCode::OK, body),
        Err(AppError::NotFound(message)) => {
            (StatusCode::NOT_FOUND, error_json("not_found", &message))
        }
        Err(e) => return Err(e),
    };
    let body = Bytes::from(body);
    state.cache.put(key, generation, status, body.clone());
    Ok(json_bytes(status, body))
}

/// The served JSON, from the database.
async fn lookup(
    advertiser_id: &str,
    model: Model,
    date: Option<NaiveDate>,
    state: &AppState,
) -> Result<Vec<u8>, AppError> {
    let client = state.pool.get().await?;
    let Some((date, recommendations)) =
        reads::recommendations(&client, advertiser_id, model, date).await?
    else {
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
