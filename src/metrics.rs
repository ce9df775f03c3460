//! Prometheus metrics: request counts and latency histograms per route, lock-free on the hot path.
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Route templates, so label cardinality stays fixed whatever paths clients send.
const ROUTES: [&str; 12] = [
    "/recommendations/{advertiser_id}/{model}",
    "/history/{advertiser_id}",
    "/stats",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/jobs/{task}",
    "/jobs/runs/{id}",
    "/jobs/runs",
    "other",
];

/// Upper bounds in seconds; long ones cover job requests that long-poll.
const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Default)]
struct RouteStats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    routes: [RouteStats; ROUTES.len()],
}

impl Metrics {
    pub fn observe(&self, path: &str, status: u16, elapsed: Duration) {
        let r = &self.routes[route_index(path)];
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        r.by_class[class].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|&le| secs <= le) {
            r.buckets[b].fetch_add(1, Relaxed);
        }
        r.sum_micros.fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str("# HELP adrec_http_requests_total HTTP requests by route and status class.\n");
        out.push_str("# TYPE adrec_http_requests_total counter\n");
        for (route, r) in ROUTES.iter().zip(&self.routes) {
            for (class, n) in STATUS_CLASSES.iter().zip(&r.by_class) {
                let n = n.load(Relaxed);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "adrec_http_requests_total{{route=\"{route}\",status=\"{class}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP adrec_http_request_duration_seconds HTTP request latency by route.\n");
        out.push_str("# TYPE adrec_http_request_duration_seconds histogram\n");
        for (route, r) in ROUTES.iter().zip(&self.routes) {
            let count: u64 = r.by_class.iter().map(|n| n.load(Relaxed)).sum();
            if count == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (le, n) in BUCKETS.iter().zip(&r.buckets) {
                cumulative += n.load(Relaxed);
                let _ = writeln!(
                    out,
                    "adrec_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let sum = r.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "adrec_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}\n\
                 adrec_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}\n\
                 adrec_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        out
    }
}

fn route_index(path: &str) -> usize {
    let mut segs = path.trim_matches('/').split('/');
    match (segs.next(), segs.next(), segs.next(), segs.next()) {
        (Some("recommendations"), Some(_), Some(_), None) => 0,
        (Some("history"), Some(_), None, _) => 1,
        (Some("stats"), None, ..) => 2,
        (Some("healthz"), None, ..) => 3,
        (Some("readyz"), None, ..) => 4,
        (Some("metrics"), None, ..) => 5,
        (Some("openapi.json"), None, ..) => 6,
        (Some("docs"), ..) => 7,
        (Some("jobs"), Some("runs"), Some(_), None) => 9,
        (Some("jobs"), Some("runs"), None, _) => 10,
        (Some("jobs"), Some(_), None, _) => 8,
        _ => 11,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_route_templates() {
        assert_eq!(
            ROUTES[route_index("/recommendations/A1/TopCTR/")],
            ROUTES[0]
        );
        assert_eq!(ROUTES[route_index("/jobs/runs/abc")], "/jobs/runs/{id}");
        assert_eq!(ROUTES[route_index("/jobs/runs")], "/jobs/runs");
        assert_eq!(ROUTES[route_index("/jobs/top_ctr")], "/jobs/{task}");
        assert_eq!(ROUTES[route_index("/nope/x/y/z/w")], "other");
    }

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = Metrics::default();
        m.observe("/stats", 200, Duration::from_micros(300));
        m.observe("/stats", 500, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("adrec_http_requests_total{route=\"/stats\",status=\"2xx\"} 1"));
        assert!(text.contains("adrec_http_requests_total{route=\"/stats\",status=\"5xx\"} 1"));
        assert!(text.contains("route=\"/stats\",le=\"0.0005\"} 1"));
        assert!(text.contains("route=\"/stats\",le=\"0.005\"} 2"));
        assert!(text.contains("adrec_http_request_duration_seconds_count{route=\"/stats\"} 2"));
    }
}
