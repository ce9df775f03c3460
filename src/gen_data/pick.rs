//! Product picks: uniform over a catalogue, or by rank with a Zipf law.
use rand::Rng;
use rand::rngs::SmallRng;

/// How a product is picked from a catalogue: uniformly, or by rank with a Zipf law.
pub(super) enum Pick {
    Uniform(usize),
    /// The cumulative weights of the ranks, the last 1.
    Zipf(Vec<f64>),
}

impl Pick {
    pub(super) fn new(products: usize, zipf: Option<f64>) -> anyhow::Result<Self> {
        anyhow::ensure!(products > 0, "--products must be at least 1");
        let Some(s) = zipf else {
            return Ok(Pick::Uniform(products));
        };
        anyhow::ensure!(
            s > 0.0 && s.is_finite(),
            "--zipf must be a positive exponent"
        );
        let mut cdf: Vec<f64> = (1..=products).map(|k| (k as f64).powf(-s)).collect();
        let mut sum = 0.0;
        for w in &mut cdf {
            sum += *w;
            *w = sum;
        }
        cdf.iter_mut().for_each(|w| *w /= sum);
        Ok(Pick::Zipf(cdf))
    }

    #[inline]
    pub(super) fn one(&self, rng: &mut SmallRng) -> usize {
        match self {
            Pick::Uniform(n) => rng.random_range(0..*n),
            Pick::Zipf(cdf) => {
                let u: f64 = rng.random();
                cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
            }
        }
    }
}
