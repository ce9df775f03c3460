//! `GET /history/{advertiser_id}`: the recent days' recommendations, grouped by date then model.
use std::collections::BTreeMap;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::{AppError, respond};
use super::query::{decode_segment, query};
use super::{AppState, table, with_state};
use crate::db::reads::{self, Recommendation};
use crate::domain::Model;

const DEFAULT_DAYS: i32 = 7;
const MAX_DAYS: i32 = 30;

#[derive(Deserialize)]
struct Query {
    days: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    advertiser_id: &'a str,
    from: NaiveDate,
    to: NaiveDate,
    /// Every day of the window, newest first; a day with no data has empty model lists.
    days: Vec<Day>,
}

#[derive(Serialize)]
struct Day {
    date: NaiveDate,
    models: BTreeMap<Model, Vec<Recommendation>>,
}

/// GET /history/{advertiser_id}?days=N (1..=30, default 7)
pub fn route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    table::path(&table::HISTORY)
        .and(query::<Query>())
        .and(with_state(state))
        .then(|[adv]: [String; 1], q: Query, state: AppState| async move {
            respond(get(&adv, q, &state).await)
        })
}

fn parse_days(raw: Option<&str>) -> Result<i32, AppError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_DAYS);
    };
    raw.parse::<i32>()
        .ok()
        .filter(|d| (1..=MAX_DAYS).contains(d))
        .ok_or_else(|| {
            AppError::bad_request(
                "invalid_days",
                format!("invalid days {raw:?}: expected an integer from 1 to {MAX_DAYS}"),
            )
        })
}

async fn get(adv: &str, q: Query, state: &AppState) -> Result<Response, AppError> {
    let advertiser_id = decode_segment("advertiser_id", adv)?;
    let days = parse_days(q.days.as_deref())?;
    let history = state
        .pool
        .run(async |c| reads::history(c, &advertiser_id, days).await)
        .await?;
    let (Some(to), false) = (history.latest, history.rows.is_empty()) else {
        return Err(AppError::NotFound(format!(
            "no recommendations for advertiser {advertiser_id:?} in the {days} days ending at the latest published date"
        )));
    };
    let from = to - Days::new(days as u64 - 1);
    let mut by_date: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for (date, model, rec) in history.rows {
        by_date
            .entry(date)
            .or_insert_with(|| empty_day(date))
            .models
            .get_mut(&model)
            .expect("every model has a list")
            .push(rec);
    }
    let mut days: Vec<Day> = from
        .iter_days()
        .take_while(|d| *d <= to)
        .map(|d| by_date.remove(&d).unwrap_or_else(|| empty_day(d)))
        .collect();
    days.reverse();
    Ok(warp::reply::json(&Body {
        advertiser_id: &advertiser_id,
        from,
        to,
        days,
    })
    .into_response())
}

fn empty_day(date: NaiveDate) -> Day {
    Day {
        date,
        models: Model::ALL.into_iter().map(|m| (m, Vec::new())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_days;

    #[test]
    fn days_must_be_within_one_to_thirty() {
        assert_eq!(parse_days(None).unwrap(), 7);
        assert_eq!(parse_days(Some("30")).unwrap(), 30);
        for bad in ["0", "31", "-1", "x", "7.5"] {
            assert!(parse_days(Some(bad)).is_err(), "{bad}");
        }
    }
}
