//! Request counts and latency histograms per route template, lock-free on the hot path.
use std::time::Duration;

use super::text::{Counter, Encoder, Histogram, HistogramData, Kind};

/// The label of requests that match no route, so label cardinality stays fixed whatever
/// paths clients send.
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
    /// The route templates (`routes::table`), then `OTHER`.
    labels: Vec<&'static str>,
    routes: Vec<RouteStats>,
}

/// One route's totals since the process started.
pub struct RouteSnapshot {
    pub route: &'static str,
    pub by_class: [u64; 5],
    pub latency: HistogramData,
}

impl HttpMetrics {
    /// Counts per route `templates` (in the order `observe` indexes them), plus `OTHER`.
    pub fn new(templates: Vec<&'static str>) -> Self {
        let mut labels = templates;
        labels.push(OTHER);
        Self {
            routes: labels
                .iter()
                .map(|_| RouteStats {
                    by_class: Default::default(),
                    latency: Histogram::new(&BUCKETS),
                })
                .collect(),
            labels,
        }
    }

    /// A request to the route at `route` (an index into the templates), `None` for none.
    pub fn observe(&self, route: Option<usize>, status: u16, elapsed: Duration) {
        let i = route
            .filter(|&i| i + 1 < self.labels.len())
            .unwrap_or(self.labels.len() - 1);
        let r = &self.routes[i];
        r.by_class[usize::from(status / 100).clamp(1, 5) - 1].inc();
        r.latency.observe(elapsed.as_secs_f64());
    }

    /// Routes that answered at least once.
    pub fn snapshot(&self) -> Vec<RouteSnapshot> {
        self.labels
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_match() {
        let m = HttpMetrics::new(vec!["/stats"]);
        m.observe(Some(0), 200, Duration::from_micros(300));
        m.observe(Some(0), 500, Duration::from_millis(3));
        m.observe(None, 404, Duration::from_millis(3));
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
