//! The Prometheus text exposition format (version 0.0.4) and the few primitives adrec needs:
//! a counter and a fixed-bucket histogram, both plain atomics so recording is one relaxed add.
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A family's type, as written on its `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Writes families one after another; each family's samples follow its `HELP`/`TYPE` lines.
pub struct Encoder {
    out: String,
    family: &'static str,
}

impl Default for Encoder {
    fn default() -> Self {
        Self {
            out: String::with_capacity(32 * 1024),
            family: "",
        }
    }
}

impl Encoder {
    /// Starts a family. Every sample written until the next `family` call belongs to it.
    pub fn family(&mut self, name: &'static str, help: &str, kind: Kind) -> &mut Self {
        let _ = writeln!(
            self.out,
            "# HELP {name} {help}\n# TYPE {name} {}",
            kind.as_str()
        );
        self.family = name;
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.line("", labels, None, value);
        self
    }

    /// A histogram of the current family: cumulative `_bucket`s, `_sum` and `_count`.
    pub fn histogram(&mut self, labels: &[(&str, &str)], h: &HistogramData) -> &mut Self {
        let mut cumulative = 0;
        for (le, n) in h.bounds.iter().zip(&h.counts) {
            cumulative += n;
            self.line("_bucket", labels, Some(*le), cumulative as f64);
        }
        let count = h.count();
        self.line("_bucket", labels, Some(f64::INFINITY), count as f64);
        self.line("_sum", labels, None, h.sum);
        self.line("_count", labels, None, count as f64);
        self
    }

    pub fn finish(self) -> String {
        self.out
    }

    fn line(&mut self, suffix: &str, labels: &[(&str, &str)], le: Option<f64>, value: f64) {
        self.out.push_str(self.family);
        self.out.push_str(suffix);
        if !labels.is_empty() || le.is_some() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"");
                escape_into(&mut self.out, v);
                self.out.push('"');
            }
            if let Some(le) = le {
                if !labels.is_empty() {
                    self.out.push(',');
                }
                let _ = write!(self.out, "le=\"{}\"", Float(le));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", Float(value));
    }
}

/// Label values escape backslash, double quote and newline.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Floats as Prometheus spells them (`+Inf`, `NaN`; Rust would write `inf`).
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

/// A monotonic counter.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A histogram of durations in seconds over fixed upper bounds (plus the implicit `+Inf`).
/// The sum is kept in microseconds, so recording is two relaxed adds and no lock.
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then the overflow bucket.
    counts: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, secs: f64) {
        let i = self
            .bounds
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add((secs.max(0.0) * 1e6) as u64, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramData {
        HistogramData {
            bounds: self.bounds.to_vec(),
            counts: self.counts.iter().map(|n| n.load(Relaxed)).collect(),
            sum: self.sum_micros.load(Relaxed) as f64 / 1e6,
        }
    }
}

/// A histogram's values at one moment: per-bucket (not cumulative) counts, the last one the
/// overflow past the highest bound.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramData {
    pub bounds: Vec<f64>,
    pub counts: Vec<u64>,
    pub sum: f64,
}

impl HistogramData {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &[f64]) -> Self {
        Self {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Adds `n` observations of `value`.
    pub fn add(&mut self, value: f64, n: u64) {
        let i = self
            .bounds
            .iter()
            .position(|&le| value <= le)
            .unwrap_or(self.bounds.len());
        self.counts[i] += n;
        self.sum += value * n as f64;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The bucket-wise difference `self - earlier` (for rates over an interval).
    pub fn since(&self, earlier: &HistogramData) -> HistogramData {
        HistogramData {
            bounds: self.bounds.clone(),
            counts: self
                .counts
                .iter()
                .zip(&earlier.counts)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            sum: self.sum - earlier.sum,
        }
    }

    /// The q-quantile estimated as Prometheus's `histogram_quantile` does: linear within the
    /// bucket it falls in; the highest bound when it falls in the overflow. `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0u64;
        for (i, &n) in self.counts.iter().enumerate() {
            if (below + n) as f64 >= rank && n > 0 {
                let Some(&hi) = self.bounds.get(i) else {
                    return self.bounds.last().copied();
                };
                let lo = if i == 0 { 0.0 } else { self.bounds[i - 1] };
                return Some(lo + (hi - lo) * (rank - below as f64) / n as f64);
            }
            below += n;
        }
        self.bounds.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_labels_and_cumulative_buckets() {
        let h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.5);
        h.observe(7.0);
        let mut enc = Encoder::default();
        enc.family("x_seconds", "A test.", Kind::Histogram)
            .histogram(&[("route", "/a\"b")], &h.snapshot());
        enc.family("y", "Gauge.", Kind::Gauge).sample(&[], 1.5);
        let text = enc.finish();
        assert_eq!(
            text,
            "# HELP x_seconds A test.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{route=\"/a\\\"b\",le=\"0.1\"} 1\n\
             x_seconds_bucket{route=\"/a\\\"b\",le=\"1\"} 2\n\
             x_seconds_bucket{route=\"/a\\\"b\",le=\"+Inf\"} 3\n\
             x_seconds_sum{route=\"/a\\\"b\"} 7.55\n\
             x_seconds_count{route=\"/a\\\"b\"} 3\n\
             # HELP y Gauge.\n# TYPE y gauge\ny 1.5\n"
        );
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        let mut h = HistogramData::new(&[1.0, 2.0, 4.0]);
        assert_eq!(h.quantile(0.5), None);
        h.add(0.5, 50);
        h.add(1.5, 50);
        assert_eq!(h.quantile(0.5), Some(1.0));
        assert_eq!(h.quantile(0.75), Some(1.5));
        h.add(100.0, 100);
        assert_eq!(h.quantile(0.99), Some(4.0), "overflow: the highest bound");
        let later = h.clone();
        assert_eq!(later.since(&h).count(), 0);
    }
}
