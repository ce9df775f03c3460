//! The route table. Each resource has its own file with its filters (documented with the route
//! they answer) and handlers; this file chains them and adds the cross-cutting parts: the single
//! rejection handler, `Allow` on 405 (and OPTIONS), HEAD wherever GET is answered, strict
//! decoding of path segments and query strings, and per-route metrics.
mod dashboard;
mod dates;
mod docs;
mod health;
mod history;
mod jobs;
mod metrics;
mod recommendations;
mod stats;

use std::convert::Infallible;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;
use warp::http::{HeaderValue, Method, StatusCode, header};
use warp::path::FullPath;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::db::Db;
use crate::db::cache::ReadCache;
use crate::error::{AppError, recover};
use crate::jobs::JobRunner;
use crate::metrics::Metrics;

pub use jobs::run_path;

/// What handlers share. Cheap to clone: everything inside is reference-counted.
#[derive(Clone)]
pub struct AppState {
    /// The serving pool, with the request path's deadlines.
    pub pool: Db,
    pub cache: Arc<ReadCache>,
    pub jobs: Arc<JobRunner>,
    pub auth: Arc<jobs::Auth>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(
        pool: Db,
        cache: Arc<ReadCache>,
        jobs: Arc<JobRunner>,
        tokens: &[secrecy::SecretString],
    ) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(pool.pool().clone())),
            pool,
            cache,
            jobs,
            auth: Arc::new(jobs::Auth::new(tokens)),
        }
    }
}

pub fn routes(
    state: AppState,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    let metrics = state.metrics.clone();
    let table = recommendations::route(state.clone())
        .or(history::route(state.clone()))
        .unify()
        .or(stats::route(state.clone()))
        .unify()
        .or(dashboard::route(state.clone()))
        .unify()
        .or(health::routes(state.clone()))
        .unify()
        .or(metrics::route(state.clone()))
        .unify()
        .or(docs::routes())
        .unify()
        .or(dates::route(state.clone()))
        .unify()
        .or(jobs::routes(state))
        .unify()
        .recover(recover)
        .unify();
    warp::path::full()
        .and(warp::method())
        .and(table)
        .map(|path: FullPath, method: Method, resp: Response| {
            with_allow(path.as_str(), &method, resp)
        })
        .with(warp::log::custom(move |info| {
            metrics.observe(info.path(), info.status().as_u16(), info.elapsed());
            tracing::debug!(method = %info.method(), path = info.path(), status = info.status().as_u16(),
                micros = info.elapsed().as_micros() as u64, "request");
        }))
}

/// The methods each path answers, for `Allow`: (first segment, segment count, methods). Paths
/// are matched with or without a trailing slash.
const ALLOW: &[(&str, usize, &str)] = &[
    ("recommendations", 3, "GET, HEAD"),
    ("history", 2, "GET, HEAD"),
    ("stats", 1, "GET, HEAD"),
    ("healthz", 1, "GET, HEAD"),
    ("readyz", 1, "GET, HEAD"),
    ("metrics", 1, "GET, HEAD"),
    ("dashboard", 1, "GET, HEAD"),
    ("openapi.json", 1, "GET, HEAD"),
    ("docs", 1, "GET, HEAD"),
];

fn allowed_methods(path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let segs = match segs.split_last() {
        Some((last, rest)) if last.is_empty() && !rest.is_empty() => rest,
        _ => &segs[..],
    };
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    match segs {
        ["jobs", "runs"] | ["jobs", "runs", _] => Some("GET, HEAD"),
        ["jobs", "dates", _] => Some("DELETE"),
        ["jobs", task] => task.parse::<crate::domain::Task>().ok().map(|_| "POST"),
        [first, ..] => ALLOW
            .iter()
            .find(|(name, n, _)| name == first && *n == segs.len())
            .map(|(_, _, methods)| *methods),
        [] => None,
    }
}

/// A 405 says which methods the path takes (RFC 9110 §15.5.6); OPTIONS answers them.
fn with_allow(path: &str, method: &Method, mut resp: Response) -> Response {
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
        return resp;
    }
    let Some(methods) = allowed_methods(path) else {
        return resp;
    };
    if method == Method::OPTIONS {
        resp = Response::new(bytes::Bytes::new().into());
        *resp.status_mut() = StatusCode::NO_CONTENT;
    }
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(methods));
    resp
}

/// GET, and HEAD answered the same way (hyper sends no body for HEAD).
fn get_or_head() -> impl Filter<Extract = (), Error = Rejection> + Copy {
    warp::get().or(warp::head()).unify()
}

/// The query string as `T`, strictly: every name and value valid UTF-8 without NUL bytes, each
/// name at most once; anything else is a 400. (warp's own query filter decodes bad UTF-8 lossily.)
fn query<T: DeserializeOwned + Send + 'static>()
-> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::query::raw()
        .or(warp::any().map(String::new))
        .unify()
        .and_then(|raw: String| async move { parse_query(&raw).map_err(warp::reject::custom) })
}

fn parse_query<T: DeserializeOwned>(raw: &str) -> Result<T, AppError> {
    let mut map = serde_json::Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decode_component("a query parameter name", name)?;
        let value = decode_component(&format!("query parameter {name:?}"), value)?;
        if map.insert(name.clone(), value.into()).is_some() {
            return Err(AppError::bad_request(
                "invalid_query",
                format!("query parameter {name:?} is given more than once"),
            ));
        }
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| AppError::bad_request("invalid_query", format!("invalid query string: {e}")))
}

/// One `application/x-www-form-urlencoded` component: `+` is a space, then percent-decoding.
fn decode_component(what: &str, raw: &str) -> Result<String, AppError> {
    let spaced = raw.replace('+', " ");
    let decoded = percent_decode_str(&spaced).decode_utf8().map_err(|_| {
        AppError::bad_request("invalid_query", format!("{what} is not valid UTF-8"))
    })?;
    if decoded.contains('\0') {
        return Err(AppError::bad_request(
            "invalid_query",
            format!("{what} contains a NUL byte"),
        ));
    }
    Ok(decoded.into_owned())
}

fn with_state(state: AppState) -> impl Filter<Extract = (AppState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// Bounds a database-backed call that does not go through `Db::run` (the job runner's): past
/// `deadline` it is dropped and answered 503.
async fn within<T, E: From<crate::db::DbError>>(
    deadline: std::time::Duration,
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    tokio::time::timeout(deadline, call)
        .await
        .unwrap_or(Err(E::from(crate::db::DbError::Timeout(deadline))))
}

/// warp hands path segments over still percent-encoded. Postgres text cannot hold NUL, so an id
/// with one is refused here rather than failing the query.
fn decode_segment(name: &str, raw: &str) -> Result<String, AppError> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| AppError::bad_request("invalid_path", format!("{name} is not valid UTF-8")))?;
    if decoded.contains('\0') {
        return Err(AppError::bad_request(
            "invalid_path",
            format!("{name} contains a NUL byte"),
        ));
    }
    Ok(decoded.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Q {
        date: Option<String>,
    }

    #[test]
    fn query_strings_are_decoded_strictly() {
        assert_eq!(
            parse_query::<Q>("date=2024-05-01&x=1")
                .unwrap()
                .date
                .as_deref(),
            Some("2024-05-01")
        );
        assert_eq!(parse_query::<Q>("").unwrap().date, None);
        assert_eq!(
            parse_query::<Q>("date=a+b%20c").unwrap().date.as_deref(),
            Some("a b c")
        );
        for bad in ["date=%00", "date=%FF", "%FF=1", "date=1&date=2", "d%00=1"] {
            assert!(parse_query::<Q>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allow_names_the_methods_of_known_paths() {
        assert_eq!(
            allowed_methods("/recommendations/A/TopCTR"),
            Some("GET, HEAD")
        );
        assert_eq!(
            allowed_methods("/recommendations/A/TopCTR/"),
            Some("GET, HEAD")
        );
        assert_eq!(allowed_methods("/stats/"), Some("GET, HEAD"));
        assert_eq!(allowed_methods("/jobs/top_ctr"), Some("POST"));
        assert_eq!(allowed_methods("/jobs/runs/x"), Some("GET, HEAD"));
        assert_eq!(allowed_methods("/jobs/dates/2024-05-01"), Some("DELETE"));
        assert_eq!(allowed_methods("/jobs/nope"), None);
        assert_eq!(allowed_methods("/stats/x"), None);
        assert_eq!(allowed_methods("/recommendations//TopCTR"), None);
    }
}
