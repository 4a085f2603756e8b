//! Proportions: the share of responses in a category, with the Wilson score interval, which
//! keeps its coverage for small n and shares near 0 or 1 where the Wald interval does not.

use super::estimate::{Estimate, Interval};

/// What a share in percent can take.
pub const PERCENT_BOUNDS: (f64, f64) = (0.0, 100.0);

/// `successes` of `n` as a percentage with SE = 100·√(p(1−p)/n); `None` for n = 0.
pub fn share(successes: u64, n: u64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let p = successes as f64 / n as f64;
    Some(Estimate {
        value: 100.0 * p,
        standard_error: 100.0 * (p * (1.0 - p) / n as f64).sqrt(),
    })
}

/// Wilson score interval of `successes` of `n`, in percent; `None` for n = 0.
pub fn wilson_interval(successes: u64, n: u64, z: f64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(
        Interval {
            low: 100.0 * (centre - half),
            high: 100.0 * (centre + half),
        }
        .clipped(PERCENT_BOUNDS),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::estimate::Z_95;

    #[test]
    fn wilson_matches_the_textbook_value_for_8_of_10() {
        // Newcombe (1998), method 3: 8/10 → 0.4902 to 0.9433.
        let ci = wilson_interval(8, 10, Z_95).unwrap();
        assert!((ci.low - 49.02).abs() < 0.01, "{ci:?}");
        assert!((ci.high - 94.33).abs() < 0.01, "{ci:?}");
    }

    #[test]
    fn wilson_stays_inside_0_and_100_at_the_edges() {
        let none = wilson_interval(0, 20, Z_95).unwrap();
        assert_eq!(none.low, 0.0);
        assert!(none.high > 10.0 && none.high < 20.0, "{none:?}");
        let all = wilson_interval(20, 20, Z_95).unwrap();
        assert!((all.high - 100.0).abs() < 1e-9 && all.low > 80.0, "{all:?}");
        assert_eq!(wilson_interval(0, 0, Z_95), None);
    }

    #[test]
    fn share_has_the_binomial_standard_error() {
        let s = share(30, 120).unwrap();
        assert!((s.value - 25.0).abs() < 1e-12);
        assert!((s.standard_error - 100.0 * (0.25f64 * 0.75 / 120.0).sqrt()).abs() < 1e-12);
        assert_eq!(share(0, 0), None);
    }
}
