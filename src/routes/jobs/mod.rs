//! `/jobs`: trigger pipeline stages (`trigger`, what it takes: `params`), follow their runs
//! (`runs`), undo a publication (`dates`). Bearer auth on every route (`auth`).
mod auth;
mod dates;
mod params;
mod runs;
mod trigger;

use warp::reply::Response;
use warp::{Filter, Rejection};

pub use auth::Auth;
pub use runs::{run_json, run_path};

use super::AppState;

pub fn routes(state: AppState) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    trigger::route(state.clone())
        .or(runs::routes(state.clone()))
        .unify()
        .or(dates::route(state))
        .unify()
}
