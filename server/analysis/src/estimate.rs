//! Estimates with standard errors, their intervals, linear combinations and the z-test of a
//! difference (server/DESIGN.md, "Metrics — the math"). Units are the measure's own (NPS points,
//! percent, score points).

use serde::Serialize;

use super::normal::two_sided_p;

/// z for a two-sided 95 % interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Significance level of every test Chorus reports.
pub const ALPHA: f64 = 0.05;

/// A confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// The interval clipped to what the measure can take.
    pub fn clipped(self, (min, max): (f64, f64)) -> Interval {
        Interval {
            low: self.low.max(min),
            high: self.high.min(max),
        }
    }
}

/// An estimate with its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// Standard error.
    pub standard_error: f64,
}

impl Estimate {
    /// Normal-approximation interval value ± z·SE, clipped to `bounds`.
    pub fn interval(&self, z: f64, bounds: (f64, f64)) -> Interval {
        let half = z * self.standard_error;
        Interval {
            low: self.value - half,
            high: self.value + half,
        }
        .clipped(bounds)
    }
}

/// Σ w·estimate with Var = Σ w²·SE²: the estimate of a weighted sum of independent estimates.
/// `None` for no terms.
pub fn weighted_sum(terms: &[(f64, Estimate)]) -> Option<Estimate> {
    if terms.is_empty() {
        return None;
    }
    let value = terms.iter().map(|(w, e)| w * e.value).sum();
    let variance: f64 = terms
        .iter()
        .map(|(w, e)| (w * e.standard_error).powi(2))
        .sum();
    Some(Estimate {
        value,
        standard_error: variance.sqrt(),
    })
}

/// Test of the difference between two independent estimates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Difference {
    /// a − b.
    pub difference: f64,
    /// (a − b)/√(SE_a² + SE_b²).
    pub z: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// p < 0.05.
    pub significant: bool,
}

/// z-test of a − b for independent estimates.
pub fn difference(a: Estimate, b: Estimate) -> Difference {
    let difference = a.value - b.value;
    let se = (a.standard_error.powi(2) + b.standard_error.powi(2)).sqrt();
    let z = if se > 0.0 { difference / se } else { 0.0 };
    let p_value = if se > 0.0 { two_sided_p(z) } else { 1.0 };
    Difference {
        difference,
        z,
        p_value,
        significant: p_value < ALPHA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weighted_sum_adds_variances_with_squared_weights() {
        let a = Estimate {
            value: 60.0,
            standard_error: 3.0,
        };
        let b = Estimate {
            value: 0.0,
            standard_error: 4.0,
        };
        let s = weighted_sum(&[(0.5, a), (0.5, b)]).unwrap();
        assert!((s.value - 30.0).abs() < 1e-12);
        assert!((s.standard_error - 2.5).abs() < 1e-12);
        assert_eq!(weighted_sum(&[]), None);
    }

    #[test]
    fn a_difference_without_uncertainty_is_never_significant() {
        let exact = Estimate {
            value: 10.0,
            standard_error: 0.0,
        };
        let test = difference(exact, exact);
        assert_eq!((test.z, test.p_value, test.significant), (0.0, 1.0, false));
    }

    #[test]
    fn intervals_are_clipped_to_the_scale() {
        let e = Estimate {
            value: 95.0,
            standard_error: 5.0,
        };
        let ci = e.interval(Z_95, (-100.0, 100.0));
        assert_eq!(ci.high, 100.0);
        assert!((ci.low - (95.0 - Z_95 * 5.0)).abs() < 1e-12);
    }
}
