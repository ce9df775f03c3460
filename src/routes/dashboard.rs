//! `GET /dashboard`: the operations page an admin opens first. Runs (failed ones with their
//! error), per published date the rows, bad rows and stage durations, the latest date's score
//! distributions and model agreement, what changed most, and live request rates. Public and
//! read-only: it holds no token and triggers nothing.
//!
//! It reads through the same statements as `/stats` (plus `dashboard_*.sql`), each on its own
//! pooled connection and concurrently, so it costs about its slowest query, where `/stats` runs
//! its queries one after another. Charts are SVG drawn here (`charts`), so the page is one
//! self-contained HTML document (`static/dashboard.html` around `page`'s sections).
mod charts;
mod latest;
mod page;

use chrono::NaiveDate;
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::error::{AppError, respond};
use super::{AppState, table, with_state};
use crate::db::Run;
use crate::db::reads::{self, Agreement, Change, PublishedDate};
use crate::domain::Model;
use crate::metrics::http::RouteSnapshot;

/// How many of the most recent runs the page lists.
const RECENT_RUNS: i64 = 20;
/// How many advertisers the most-changed table lists.
const MOST_CHANGED: i64 = 10;

/// GET /dashboard
pub fn route(
    state: AppState,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    table::exact(&table::DASHBOARD)
        .and(with_state(state))
        .then(|state: AppState| async move { respond(get(&state).await) })
}

/// Everything the page shows.
pub struct Data {
    /// Published dates, oldest first.
    pub dates: Vec<PublishedDate>,
    pub last_runs: Vec<Run>,
    pub recent_runs: Vec<Run>,
    /// The last successful run of each task per published date.
    pub daily_runs: Vec<Run>,
    pub agreement: Vec<Agreement>,
    pub changes: Vec<Change>,
    /// (model, score, rows) of the latest date.
    pub scores: Vec<(Model, f64, i64)>,
    pub routes: Vec<RouteSnapshot>,
    /// Seconds since this process started.
    pub uptime: f64,
}

impl Data {
    pub fn latest(&self) -> Option<NaiveDate> {
        self.dates.last().map(|d| d.date)
    }

    pub fn previous(&self) -> Option<NaiveDate> {
        self.dates.iter().rev().nth(1).map(|d| d.date)
    }
}

async fn get(state: &AppState) -> Result<Response, AppError> {
    let data = gather(state).await?;
    let html = page::render(&data);
    let reply = warp::reply::with_header(html, CONTENT_TYPE, "text/html; charset=utf-8");
    Ok(warp::reply::with_header(reply, CACHE_CONTROL, "no-store").into_response())
}

async fn gather(state: &AppState) -> Result<Data, AppError> {
    let pool = &state.pool;
    let deadline = pool.deadline();
    let (mut dates, last_runs, recent_runs) = tokio::try_join!(
        async { Ok::<_, AppError>(pool.run(async |c| reads::published_dates(c).await).await?) },
        async { Ok::<_, AppError>(super::within(deadline, state.jobs.last_runs()).await?) },
        async {
            let recent = super::within(deadline, state.jobs.list(None, None, RECENT_RUNS));
            Ok::<_, AppError>(recent.await?)
        },
    )?;
    dates.reverse();
    let latest = dates.last().map(|d| d.date);
    let previous = dates.iter().rev().nth(1).map(|d| d.date);
    let oldest = dates.first().map(|d| d.date);
    let (agreement, changes, scores, daily_runs) = tokio::try_join!(
        async {
            Ok::<_, AppError>(match latest {
                Some(d) => {
                    pool.run(async |c| reads::model_agreement(c, d).await)
                        .await?
                }
                None => Vec::new(),
            })
        },
        async {
            Ok::<_, AppError>(match latest.zip(previous) {
                Some((l, p)) => {
                    pool.run(async |c| reads::most_changed(c, l, p, MOST_CHANGED).await)
                        .await?
                }
                None => Vec::new(),
            })
        },
        async {
            Ok::<_, AppError>(match latest {
                Some(d) => pool.run(async |c| reads::score_counts(c, d).await).await?,
                None => Vec::new(),
            })
        },
        async {
            Ok::<_, AppError>(match oldest {
                Some(d) => pool.run(async |c| reads::daily_runs(c, d).await).await?,
                None => Vec::new(),
            })
        },
    )?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    Ok(Data {
        dates,
        last_runs,
        recent_runs,
        daily_runs,
        agreement,
        changes,
        scores,
        routes: state.metrics.http.snapshot(),
        uptime: (now - state.metrics.started).max(0.001),
    })
}
