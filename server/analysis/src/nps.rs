//! Net Promoter Score of one cell, its variance and interval (server/DESIGN.md, "Metrics — the
//! math"). Everything works on counts, so figures computed from shipped counts equal figures
//! computed from records.

use serde::Serialize;

use super::estimate::{Estimate, Interval};

/// What an NPS can take.
pub const NPS_BOUNDS: (f64, f64) = (-100.0, 100.0);

/// Responses of one cell (one market, one channel, maybe one month).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct NpsCounts {
    /// Responses.
    pub n: u64,
    /// Scores 9-10.
    pub promoters: u64,
    /// Scores 0-6.
    pub detractors: u64,
}

impl NpsCounts {
    /// Counts from a histogram of scores 0..=10 (`histogram[s]` responses scored `s`).
    pub fn from_histogram(histogram: &[u64; 11]) -> NpsCounts {
        NpsCounts {
            n: histogram.iter().sum(),
            promoters: histogram[9] + histogram[10],
            detractors: histogram[..=6].iter().sum(),
        }
    }

    /// Scores 7-8.
    pub fn passives(&self) -> u64 {
        self.n - self.promoters - self.detractors
    }

    /// NPS = 100·(p − d); `None` for an empty cell.
    pub fn nps(&self) -> Option<f64> {
        let (p, d) = self.shares()?;
        Some(100.0 * (p - d))
    }

    /// Var = (p + d − (p − d)²)/n in proportion units; `None` for an empty cell.
    pub fn variance(&self) -> Option<f64> {
        let (p, d) = self.shares()?;
        Some((p + d - (p - d).powi(2)) / self.n as f64)
    }

    /// Standard error in NPS points: 100·√Var.
    pub fn standard_error(&self) -> Option<f64> {
        self.variance().map(|v| 100.0 * v.sqrt())
    }

    /// NPS with its standard error; `None` for an empty cell.
    pub fn estimate(&self) -> Option<Estimate> {
        Some(Estimate {
            value: self.nps()?,
            standard_error: self.standard_error()?,
        })
    }

    /// Adjusted-Wald interval (Rocks 2016): ¾ of a promoter and of a detractor added, ñ = n + 3,
    /// clipped to [−100, 100]. Defined for n = 0 too (it is then wide, as it should be).
    pub fn adjusted_wald_interval(&self, z: f64) -> Interval {
        let n = self.n as f64 + 3.0;
        let p = (self.promoters as f64 + 0.75) / n;
        let d = (self.detractors as f64 + 0.75) / n;
        let m = p - d;
        let half = z * ((p + d - m * m) / n).sqrt();
        Interval {
            low: 100.0 * (m - half),
            high: 100.0 * (m + half),
        }
        .clipped(NPS_BOUNDS)
    }

    fn shares(&self) -> Option<(f64, f64)> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        Some((self.promoters as f64 / n, self.detractors as f64 / n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::{difference, weighted_sum, Z_95};
    use crate::testing::Lcg;

    /// Σ w·NPS over channels, as the comparison computes it.
    fn standardised(cells: &[(f64, NpsCounts)]) -> Option<Estimate> {
        let terms: Option<Vec<_>> = cells
            .iter()
            .map(|(w, c)| Some((*w, c.estimate()?)))
            .collect();
        weighted_sum(&terms?)
    }

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not {expected} ± {tolerance}"
        );
    }

    /// Counts with the given promoter and detractor shares (exact for the n used here).
    fn cell(n: u64, promoters: f64, detractors: f64) -> NpsCounts {
        let n_f = n as f64;
        NpsCounts {
            n,
            promoters: (promoters * n_f).round() as u64,
            detractors: (detractors * n_f).round() as u64,
        }
    }

    #[test]
    fn design_test_vector_gives_nps_se_and_adjusted_wald_interval() {
        let mut histogram = [0u64; 11];
        for (score, count) in [
            (10, 30),
            (9, 20),
            (8, 15),
            (7, 10),
            (5, 10),
            (3, 10),
            (0, 5),
        ] {
            histogram[score] = count;
        }
        let counts = NpsCounts::from_histogram(&histogram);
        assert_eq!(
            counts,
            NpsCounts {
                n: 100,
                promoters: 50,
                detractors: 25
            }
        );
        assert_eq!(counts.passives(), 25);
        close(counts.nps().unwrap(), 25.0, 1e-12);
        close(counts.standard_error().unwrap(), 8.29, 0.005);
        let ci = counts.adjusted_wald_interval(Z_95);
        close(ci.low, 8.30, 0.005);
        close(ci.high, 40.24, 0.005);
    }

    #[test]
    fn design_simpson_example_standardises_to_the_right_ranking() {
        // Shares chosen to give the NPS and SE of server/DESIGN.md's worked example.
        let a_call = cell(800, 0.70, 0.10); // NPS 60
        let a_app = cell(200, 0.30, 0.30); // NPS 0
        let b_call = cell(200, 0.80, 0.10); // NPS 70
        let b_app = cell(800, 0.40, 0.30); // NPS 10

        let pooled = |x: NpsCounts, y: NpsCounts| NpsCounts {
            n: x.n + y.n,
            promoters: x.promoters + y.promoters,
            detractors: x.detractors + y.detractors,
        };
        close(pooled(a_call, a_app).nps().unwrap(), 48.0, 1e-9);
        close(pooled(b_call, b_app).nps().unwrap(), 22.0, 1e-9);

        let a = standardised(&[(0.5, a_call), (0.5, a_app)]).unwrap();
        let b = standardised(&[(0.5, b_call), (0.5, b_app)]).unwrap();
        close(a.value, 30.0, 1e-9);
        close(a.standard_error, 2.98, 0.005);
        close(b.value, 40.0, 1e-9);
        close(b.standard_error, 2.70, 0.005);
        let test = difference(b, a);
        assert!(test.significant, "{test:?}");
        close(
            test.z,
            10.0 / (2.98f64.powi(2) + 2.70f64.powi(2)).sqrt(),
            0.01,
        );
    }

    #[test]
    fn a_weight_of_one_gives_that_channels_own_nps_and_se() {
        let only = cell(400, 0.5, 0.2);
        let other = cell(100, 0.1, 0.6);
        let s = standardised(&[(1.0, only), (0.0, other)]).unwrap();
        close(s.value, only.nps().unwrap(), 1e-9);
        close(s.standard_error, only.standard_error().unwrap(), 1e-9);
    }

    #[test]
    fn empty_cells_have_no_nps_and_extreme_cells_stay_in_range() {
        assert_eq!(NpsCounts::default().nps(), None);
        let all_promoters = NpsCounts {
            n: 3,
            promoters: 3,
            detractors: 0,
        };
        let ci = all_promoters.adjusted_wald_interval(Z_95);
        assert!(
            ci.high <= 100.0 && ci.low > -100.0 && ci.low < 100.0,
            "{ci:?}"
        );
        let empty = NpsCounts::default().adjusted_wald_interval(Z_95);
        assert!(empty.low >= -100.0 && empty.high <= 100.0);
    }

    #[test]
    fn the_variance_formula_agrees_with_a_simulation() {
        let mut random = Lcg::new(0x2545_f491_4f6c_dd1d);
        let (p, d, n, trials) = (0.45, 0.25, 200u64, 4_000);
        let estimates: Vec<f64> = (0..trials)
            .map(|_| random.nps_sample(n, p, d).nps().unwrap())
            .collect();
        let mean = estimates.iter().sum::<f64>() / trials as f64;
        let sd = (estimates.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (trials - 1) as f64)
            .sqrt();
        let expected = 100.0 * ((p + d - (p - d) * (p - d)) / n as f64).sqrt();
        close(sd, expected, expected * 0.05);
    }

    #[test]
    fn permuting_responses_changes_nothing() {
        let scores = [10u8, 3, 9, 7, 0, 8, 10, 6, 9, 2];
        let histogram_of = |scores: &[u8]| {
            let mut h = [0u64; 11];
            scores.iter().for_each(|&s| h[s as usize] += 1);
            h
        };
        let mut reversed = scores;
        reversed.reverse();
        assert_eq!(
            NpsCounts::from_histogram(&histogram_of(&scores)),
            NpsCounts::from_histogram(&histogram_of(&reversed))
        );
    }
}
