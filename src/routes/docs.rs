//! `GET /openapi.json` and `GET /docs`: the API reference, served by adrec itself so it works
//! with no internet access (no CDN-hosted viewer).
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::reply::Response;
use warp::{Filter, Reply};

use super::table;

const OPENAPI: &str = include_str!("../../static/openapi.json");
const DOCS_HTML: &str = include_str!("../../static/docs.html");

/// GET /openapi.json and GET /docs
pub fn routes() -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone {
    let spec = table::exact(&table::OPENAPI).map(|| static_reply(OPENAPI, "application/json"));
    let docs =
        table::exact(&table::DOCS).map(|| static_reply(DOCS_HTML, "text/html; charset=utf-8"));
    spec.or(docs).unify()
}

fn static_reply(body: &'static str, content_type: &'static str) -> Response {
    let reply = warp::reply::with_header(body, CONTENT_TYPE, content_type);
    warp::reply::with_header(reply, CACHE_CONTROL, "public, max-age=300").into_response()
}
