//! `GET /stats`: what is published, how the two models agree, what changed, and the last runs.
use chrono::NaiveDate;
use serde::Serialize;
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::{AppError, respond};
use super::{AppState, table, with_state, within};
use crate::db::reads::{self, Agreement, Change, PublishedDate};

/// How many advertisers `most_changed` lists.
const MOST_CHANGED: i64 = 10;

#[derive(Serialize)]
struct Body {
    latest_date: Option<NaiveDate>,
    previous_date: Option<NaiveDate>,
    /// Advertisers served on the latest date.
    advertisers: i64,
    /// Every published date, newest first.
    dates: Vec<PublishedDate>,
    model_agreement: ModelAgreement,
    most_changed: Vec<Change>,
    /// The most recent run of each task.
    last_runs: Vec<serde_json::Value>,
}

#[derive(Serialize)]
struct ModelAgreement {
    date: Option<NaiveDate>,
    mean_overlap: f64,
    mean_jaccard: f64,
    advertisers: Vec<Agreement>,
}

/// GET /stats
pub fn route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    table::exact(&table::STATS)
        .and(with_state(state))
        .then(|state: AppState| async move { respond(get(&state).await) })
}

async fn get(state: &AppState) -> Result<Response, AppError> {
    let (dates, agreement, most_changed) = state
        .pool
        .run(async |c| {
            let dates = reads::published_dates(c).await?;
            let latest = dates.first().map(|d| d.date);
            let previous = dates.get(1).map(|d| d.date);
            let agreement = match latest {
                Some(d) => reads::model_agreement(c, d).await?,
                None => Vec::new(),
            };
            let most_changed = match (latest, previous) {
                (Some(l), Some(p)) => reads::most_changed(c, l, p, MOST_CHANGED).await?,
                _ => Vec::new(),
            };
            Ok((dates, agreement, most_changed))
        })
        .await?;
    let latest = dates.first().map(|d| d.date);
    let previous = dates.get(1).map(|d| d.date);
    // The connection above is back in the pool: the run records come through the job runner's.
    let last_runs = within(state.pool.deadline(), state.jobs.last_runs()).await?;
    let last_runs = last_runs
        .iter()
        .map(super::jobs::run_json)
        .collect::<Result<_, _>>()?;
    let n = agreement.len().max(1) as f64;
    let body = Body {
        latest_date: latest,
        previous_date: previous,
        advertisers: dates.first().map_or(0, |d| d.advertisers),
        model_agreement: ModelAgreement {
            date: latest,
            mean_overlap: agreement.iter().map(|a| a.overlap as f64).sum::<f64>() / n,
            mean_jaccard: agreement.iter().map(|a| a.jaccard).sum::<f64>() / n,
            advertisers: agreement,
        },
        dates,
        most_changed,
        last_runs,
    };
    Ok(warp::reply::json(&body).into_response())
}
