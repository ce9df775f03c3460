//! Request counts and latency histograms per route template, lock-free on the hot path.
use std::sync::LazyLock;
use std::time::Duration;

use super::text::{Counter, Encoder, Histogram, HistogramData, Kind};

/// Every route adrec answers, as the templates `/openapi.json` documents (a unit test holds
/// the two together), so label cardinality stays fixed whatever paths clients send. A
/// `{param}` segment matches any one segment; a path matching none is `other`.
pub const ROUTES: [&str; 14] = [
    "/recommendations/{advertiser_id}/{model}",
    "/history/{advertiser_id}",
    "/stats",
    "/dashboard",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/jobs/{task}",
    "/jobs/runs/{id}",
    "/jobs/runs",
    "/jobs/dates/{date}",
    OTHER,
];
pub const OTHER: &str = "other";

/// Upper bounds in seconds; long ones cover job requests that long-poll.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

struct RouteStats {
    by_class: [Counter; 5],
    latency: Histogram,
}

pub struct HttpMetrics {
    routes: Vec<RouteStats>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            routes: ROUTES
                .iter()
                .map(|_| RouteStats {
                    by_class: Default::default(),
                    latency: Histogram::new(&BUCKETS),
                })
                .collect(),
        }
    }
}

/// One route's totals since the process started.
pub struct RouteSnapshot {
    pub route: &'static str,
    pub by_class: [u64; 5],
    pub latency: HistogramData,
}

impl HttpMetrics {
    pub fn observe(&self, path: &str, status: u16, elapsed: Duration) {
        let r = &self.routes[route_index(path)];
        r.by_class[usize::from(status / 100).clamp(1, 5) - 1].inc();
        r.latency.observe(elapsed.as_secs_f64());
    }

    /// Routes that answered at least once.
    pub fn snapshot(&self) -> Vec<RouteSnapshot> {
        ROUTES
            .iter()
            .zip(&self.routes)
            .map(|(route, r)| RouteSnapshot {
                route,
                by_class: std::array::from_fn(|i| r.by_class[i].get()),
                latency: r.latency.snapshot(),
            })
            .filter(|s| s.latency.count() > 0)
            .collect()
    }

    pub fn encode(&self, enc: &mut Encoder) {
        let routes = self.snapshot();
        enc.family(
            "adrec_http_requests_total",
            "HTTP requests by route and status class.",
            Kind::Counter,
        );
        for r in &routes {
            for (class, n) in STATUS_CLASSES.iter().zip(r.by_class) {
                if n > 0 {
                    enc.sample(&[("route", r.route), ("status", class)], n as f64);
                }
            }
        }
        enc.family(
            "adrec_http_request_duration_seconds",
            "HTTP request latency by route.",
            Kind::Histogram,
        );
        for r in &routes {
            enc.histogram(&[("route", r.route)], &r.latency);
        }
    }
}

/// The template a path belongs to: the matching one with the most literal segments. The path
/// is split once and compared with the templates split once per process (~0.1 µs, as the
/// hand-numbered `match` it replaced; `scripts/bench-metrics`).
fn route_index(path: &str) -> usize {
    static TEMPLATES: LazyLock<Vec<Vec<&'static str>>> = LazyLock::new(|| {
        ROUTES
            .iter()
            .map(|t| t.trim_start_matches('/').split('/').collect())
            .collect()
    });
    let other = ROUTES.len() - 1;
    let mut segs = [""; 4];
    let mut n = 0;
    for s in path.trim_matches('/').split('/') {
        if n == segs.len() {
            return other;
        }
        segs[n] = s;
        n += 1;
    }
    let segs = &segs[..n];
    let mut best = (other, 0);
    for (i, t) in TEMPLATES[..other].iter().enumerate() {
        if t.len() != segs.len() {
            continue;
        }
        let mut literals = 0;
        let fits = t.iter().zip(segs).all(|(t, s)| {
            if t.starts_with('{') {
                !s.is_empty()
            } else {
                literals += 1;
                t == s
            }
        });
        if fits && (best.0 == other || literals > best.1) {
            best = (i, literals);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> &'static str {
        ROUTES[route_index(path)]
    }

    #[test]
    fn paths_map_to_route_templates() {
        assert_eq!(route("/recommendations/A1/TopCTR/"), ROUTES[0]);
        assert_eq!(route("/jobs/runs/abc"), "/jobs/runs/{id}");
        assert_eq!(route("/jobs/runs"), "/jobs/runs");
        assert_eq!(route("/jobs/runs/"), "/jobs/runs");
        assert_eq!(route("/jobs/top_ctr"), "/jobs/{task}");
        assert_eq!(route("/dashboard/"), "/dashboard");
        assert_eq!(route("/docs"), "/docs");
        assert_eq!(route("/"), OTHER);
        assert_eq!(route("/recommendations//TopCTR"), OTHER);
        assert_eq!(route("/nope/x/y/z/w"), OTHER);
    }

    #[test]
    fn every_template_is_a_documented_path() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../static/openapi.json")).unwrap();
        let paths = spec["paths"].as_object().unwrap();
        for r in &ROUTES[..ROUTES.len() - 1] {
            assert!(paths.contains_key(*r), "{r} is not in openapi.json");
        }
        for p in paths.keys() {
            assert!(ROUTES.contains(&p.as_str()), "{p} has no metrics template");
        }
    }

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = HttpMetrics::default();
        m.observe("/stats", 200, Duration::from_micros(300));
        m.observe("/stats", 500, Duration::from_millis(3));
        let mut enc = Encoder::default();
        m.encode(&mut enc);
        let text = enc.finish();
        assert!(text.contains("adrec_http_requests_total{route=\"/stats\",status=\"2xx\"} 1"));
        assert!(text.contains("adrec_http_requests_total{route=\"/stats\",status=\"5xx\"} 1"));
        assert!(text.contains("route=\"/stats\",le=\"0.0005\"} 1"));
        assert!(text.contains("route=\"/stats\",le=\"0.005\"} 2"));
        assert!(text.contains("adrec_http_request_duration_seconds_count{route=\"/stats\"} 2"));
    }
}
