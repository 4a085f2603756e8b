//! Deterministic pseudo-random numbers for property tests: the same cases every run, no
//! randomness crate.

/// A 64-bit linear congruential generator (Knuth's MMIX constants).
pub struct Lcg(u64);

impl Lcg {
    /// A generator with a fixed seed.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + (self.uniform() * (high - low + 1) as f64) as u64
    }

    /// NPS counts of `n` responses with promoter and detractor probabilities `p` and `d`.
    pub fn nps_sample(&mut self, n: u64, p: f64, d: f64) -> super::nps::NpsCounts {
        let mut counts = super::nps::NpsCounts {
            n,
            ..Default::default()
        };
        for _ in 0..n {
            let u = self.uniform();
            if u < p {
                counts.promoters += 1;
            } else if u < p + d {
                counts.detractors += 1;
            }
        }
        counts
    }
}
