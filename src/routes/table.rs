//! The one list of every route adrec answers. The warp filters are built from it ([`path`]),
//! a 405 and OPTIONS answer `Allow` from it, the metrics label requests by its templates, and a
//! test holds it equal to the paths and methods of `/openapi.json`.
//!
//! A request path belongs to at most one route: the template it fits with the most literal
//! segments (`/jobs/runs` before `/jobs/{task}`), with or without a trailing slash.
use warp::http::Method;
use warp::path::FullPath;
use warp::{Filter, Rejection};

use crate::domain::Triggered;

/// The methods a route answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Methods {
    /// GET, and HEAD answered the same way (hyper sends no body for HEAD).
    Read,
    Post,
    Delete,
}

impl Methods {
    /// The `Allow` header's value.
    pub fn allow(self) -> &'static str {
        match self {
            Methods::Read => "GET, HEAD",
            Methods::Post => "POST",
            Methods::Delete => "DELETE",
        }
    }

    fn accepts(self, m: &Method) -> bool {
        match self {
            Methods::Read => m == Method::GET || m == Method::HEAD,
            Methods::Post => m == Method::POST,
            Methods::Delete => m == Method::DELETE,
        }
    }
}

#[derive(Debug)]
pub struct Route {
    /// As `/openapi.json` writes it: `{name}` matches any one non-empty segment.
    pub template: &'static str,
    pub methods: Methods,
    /// Segments a `{param}` must be for the path to belong here at all (else 404).
    valid: fn(&str) -> bool,
}

const fn route(template: &'static str, methods: Methods) -> Route {
    Route {
        template,
        methods,
        valid: |_| true,
    }
}

pub static RECOMMENDATIONS: Route =
    route("/recommendations/{advertiser_id}/{model}", Methods::Read);
pub static HISTORY: Route = route("/history/{advertiser_id}", Methods::Read);
pub static STATS: Route = route("/stats", Methods::Read);
pub static DASHBOARD: Route = route("/dashboard", Methods::Read);
pub static HEALTHZ: Route = route("/healthz", Methods::Read);
pub static READYZ: Route = route("/readyz", Methods::Read);
pub static METRICS: Route = route("/metrics", Methods::Read);
pub static OPENAPI: Route = route("/openapi.json", Methods::Read);
pub static DOCS: Route = route("/docs", Methods::Read);
/// Only the tasks a caller may start: `/jobs/nope` is no route at all.
pub static JOB_TRIGGER: Route = Route {
    template: "/jobs/{task}",
    methods: Methods::Post,
    valid: |s| s.parse::<Triggered>().is_ok(),
};
pub static JOB_RUN: Route = route("/jobs/runs/{id}", Methods::Read);
pub static JOB_RUNS: Route = route("/jobs/runs", Methods::Read);
pub static JOB_DATE: Route = route("/jobs/dates/{date}", Methods::Delete);

/// Statics, not consts: a route is known by its address (`path` compares it).
pub static ROUTES: [&Route; 13] = [
    &RECOMMENDATIONS,
    &HISTORY,
    &STATS,
    &DASHBOARD,
    &HEALTHZ,
    &READYZ,
    &METRICS,
    &OPENAPI,
    &DOCS,
    &JOB_TRIGGER,
    &JOB_RUN,
    &JOB_RUNS,
    &JOB_DATE,
];

/// The templates, in `ROUTES` order (the metrics' labels).
pub fn templates() -> Vec<&'static str> {
    ROUTES.iter().map(|r| r.template).collect()
}

/// The index in `ROUTES` of the route `path` belongs to.
pub fn find(path: &str) -> Option<usize> {
    let path = path.strip_prefix('/').unwrap_or(path);
    let segs: Vec<&str> = path.strip_suffix('/').unwrap_or(path).split('/').collect();
    let mut best: Option<(usize, usize)> = None;
    for (i, r) in ROUTES.iter().enumerate() {
        let t = r.template.trim_start_matches('/').split('/');
        if t.clone().count() != segs.len() {
            continue;
        }
        let mut literals = 0;
        let fits = t.zip(&segs).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty() && (r.valid)(s)
            } else {
                literals += 1;
                t == *s
            }
        });
        if fits && best.is_none_or(|(_, l)| literals > l) {
            best = Some((i, literals));
        }
    }
    best.map(|(i, _)| i)
}

/// A request for a route with a method it does not answer: 405 (or 204 to OPTIONS) with `Allow`.
#[derive(Debug)]
pub struct WrongMethod {
    pub allow: &'static str,
}

impl warp::reject::Reject for WrongMethod {}

/// Matches requests for `route` and extracts its `N` `{param}` segments, still
/// percent-encoded. Any other path is rejected as not found; the route's path with a method it
/// does not answer, as [`WrongMethod`].
pub fn path<const N: usize>(
    route: &'static Route,
) -> impl Filter<Extract = ([String; N],), Error = Rejection> + Clone {
    warp::path::full().and(warp::method()).and_then(
        move |full: FullPath, method: Method| async move {
            let path = full.as_str();
            if !find(path).is_some_and(|i| std::ptr::eq(ROUTES[i], route)) {
                return Err(warp::reject::not_found());
            }
            if !route.methods.accepts(&method) {
                return Err(warp::reject::custom(WrongMethod {
                    allow: route.methods.allow(),
                }));
            }
            let mut params = path
                .trim_matches('/')
                .split('/')
                .zip(route.template.trim_start_matches('/').split('/'))
                .filter(|(_, t)| t.starts_with('{'))
                .map(|(s, _)| s.to_owned());
            Ok::<_, Rejection>(std::array::from_fn(|_| params.next().unwrap_or_default()))
        },
    )
}

/// `path` for a route without parameters.
pub fn exact(route: &'static Route) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    path::<0>(route).map(|_: [String; 0]| ()).untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(path: &str) -> Option<&'static str> {
        find(path).map(|i| ROUTES[i].template)
    }

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(
            at("/recommendations/A1/TopCTR/"),
            Some(RECOMMENDATIONS.template)
        );
        assert_eq!(at("/jobs/runs/abc"), Some("/jobs/runs/{id}"));
        assert_eq!(at("/jobs/runs"), Some("/jobs/runs"));
        assert_eq!(at("/jobs/runs/"), Some("/jobs/runs"));
        assert_eq!(at("/jobs/top_ctr"), Some("/jobs/{task}"));
        assert_eq!(at("/jobs/unpublish"), None);
        assert_eq!(at("/jobs/nope"), None);
        assert_eq!(at("/jobs/dates/2024-05-01"), Some("/jobs/dates/{date}"));
        assert_eq!(at("/dashboard/"), Some("/dashboard"));
        assert_eq!(at("/"), None);
        assert_eq!(at("/stats/x"), None);
        assert_eq!(at("/recommendations//TopCTR"), None);
        assert_eq!(at("/nope/x/y/z/w"), None);
    }

    #[test]
    fn every_route_is_documented_with_its_methods_and_nothing_else_is() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../static/openapi.json")).unwrap();
        let paths = spec["paths"].as_object().unwrap();
        assert_eq!(paths.len(), ROUTES.len());
        for r in ROUTES {
            let ops = paths[r.template].as_object().unwrap_or_else(|| {
                panic!("{} is not in openapi.json", r.template);
            });
            let mut documented: Vec<String> = ops
                .keys()
                .filter(|k| *k != "parameters")
                .map(|k| k.to_uppercase())
                .collect();
            documented.sort();
            let mut served: Vec<String> = r
                .methods
                .allow()
                .split(", ")
                .filter(|m| *m != "HEAD")
                .map(str::to_owned)
                .collect();
            served.sort();
            assert_eq!(documented, served, "{}", r.template);
        }
    }
}
