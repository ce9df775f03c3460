//! Per-request cost of recording a request's metrics: adrec's hand-written atomics vs the
//! prometheus-client and metrics crates (see src/metrics/mod.rs). `cargo run` here (opt-level 3).
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    120.0,
];
const ROUTES: [&str; 3] = [
    "/recommendations/{advertiser_id}/{model}",
    "/history/{advertiser_id}",
    "/stats",
];

#[derive(Default)]
struct RouteStats {
    by_class: [AtomicU64; 5],
    buckets: [AtomicU64; 16],
    sum: AtomicU64,
}
#[derive(Default)]
struct Hand {
    routes: [RouteStats; 3],
}
impl Hand {
    fn observe(&self, route: usize, status: u16, d: Duration) {
        let r = &self.routes[route];
        r.by_class[usize::from(status / 100).clamp(1, 5) - 1].fetch_add(1, Relaxed);
        let s = d.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|&le| s <= le) {
            r.buckets[b].fetch_add(1, Relaxed);
        }
        r.sum.fetch_add(d.as_micros() as u64, Relaxed);
    }
}

mod pc {
    use prometheus_client::encoding::EncodeLabelSet;
    use prometheus_client::metrics::{counter::Counter, family::Family, histogram::Histogram};
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    pub struct ReqLabels {
        pub route: &'static str,
        pub status: &'static str,
    }
    #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
    pub struct RouteLabel {
        pub route: &'static str,
    }
    pub struct Pc {
        pub reqs: Family<ReqLabels, Counter>,
        pub lat: Family<RouteLabel, Histogram, fn() -> Histogram>,
    }
    impl Pc {
        pub fn new() -> Self {
            Self {
                reqs: Family::default(),
                lat: Family::new_with_constructor(|| Histogram::new(super::BUCKETS.into_iter())),
            }
        }
    }
}

fn run<F: Fn(usize) + Sync + Send + 'static>(name: &str, threads: usize, n: usize, f: Arc<F>) {
    let t = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let f = f.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    f(i)
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let el = t.elapsed();
    println!(
        "{name:40} threads={threads} {:6.1} ns/observe (wall per op per thread)",
        el.as_nanos() as f64 / n as f64
    );
}

const TEMPLATES: [&str; 12] = [
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
];

/// adrec's route_index (src/metrics/http.rs), copied.
fn route_index(path: &str) -> usize {
    static SPLIT: std::sync::LazyLock<Vec<Vec<&'static str>>> = std::sync::LazyLock::new(|| {
        TEMPLATES
            .iter()
            .map(|t| t.trim_start_matches('/').split('/').collect())
            .collect()
    });
    let mut segs = [""; 4];
    let mut n = 0;
    for s in path.trim_matches('/').split('/') {
        if n == segs.len() {
            return TEMPLATES.len();
        }
        segs[n] = s;
        n += 1;
    }
    let segs = &segs[..n];
    let mut best = (TEMPLATES.len(), 0);
    for (i, t) in SPLIT.iter().enumerate() {
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
        if fits && (best.0 == TEMPLATES.len() || literals > best.1) {
            best = (i, literals);
        }
    }
    best.0
}

/// The hand-numbered match it replaced.
fn old_route_index(path: &str) -> usize {
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

fn main() {
    let n = 5_000_000;
    let paths = [
        "/recommendations/9Z77N44VDW6KX6VBWJ4X/TopCTR",
        "/history/KD9PHCBGYFBRI9ET1O9R",
    ];
    run(
        "old hand-numbered match",
        1,
        n,
        Arc::new(move |i: usize| {
            std::hint::black_box(old_route_index(std::hint::black_box(paths[i & 1])));
        }),
    );
    run(
        "route template lookup",
        1,
        n,
        Arc::new(move |i: usize| {
            std::hint::black_box(route_index(std::hint::black_box(paths[i & 1])));
        }),
    );
    for threads in [1, 2] {
        let h = Arc::new(Hand::default());
        run(
            "hand-written atomics",
            threads,
            n,
            Arc::new(move |i: usize| h.observe(0, 200, Duration::from_micros((i % 3000) as u64))),
        );
        let p = Arc::new(pc::Pc::new());
        run(
            "prometheus-client Family+Histogram",
            threads,
            n,
            Arc::new(move |i: usize| {
                p.reqs
                    .get_or_create(&pc::ReqLabels {
                        route: ROUTES[0],
                        status: "2xx",
                    })
                    .inc();
                p.lat
                    .get_or_create(&pc::RouteLabel { route: ROUTES[0] })
                    .observe((i % 3000) as f64 / 1e6);
            }),
        );
    }
    let rec = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .unwrap()
        .build_recorder();
    let handle = rec.handle();
    metrics::set_global_recorder(rec).unwrap();
    for threads in [1, 2] {
        run(
            "metrics + exporter-prometheus",
            threads,
            n,
            Arc::new(move |i: usize| {
                metrics::counter!("adrec_http_requests_total", "route" => ROUTES[0], "status" => "2xx").increment(1);
                metrics::histogram!("adrec_http_request_duration_seconds", "route" => ROUTES[0])
                    .record((i % 3000) as f64 / 1e6);
            }),
        );
    }
    let t = Instant::now();
    let text = handle.render();
    println!(
        "metrics exporter render after 15M samples: {:?}, {} bytes",
        t.elapsed(),
        text.len()
    );
}
