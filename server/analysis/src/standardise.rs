//! Direct standardisation: a market-level figure over a common reference channel mix,
//! S = Σ_c w_c·x_c with Var(S) = Σ_c w_c²·SE_c² (server/DESIGN.md). Markets are compared on the same
//! footing whatever their own channel mix; a channel is never silently dropped.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::estimate::{weighted_sum, Estimate};

/// Weights per channel, positive and summing to 1.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ReferenceMix {
    weights: BTreeMap<String, f64>,
}

impl ReferenceMix {
    /// A mix from configured weights, which must be positive and sum to 1 (± 0.001; the
    /// rounding is then removed).
    ///
    /// # Errors
    /// Naming the offending channel or the sum.
    pub fn new(weights: BTreeMap<String, f64>) -> Result<ReferenceMix, String> {
        if weights.is_empty() {
            return Err("the reference mix names no channel".into());
        }
        if let Some((channel, w)) = weights.iter().find(|(_, w)| !(w.is_finite() && **w > 0.0)) {
            return Err(format!("weight of {channel} must be positive, not {w}"));
        }
        let total: f64 = weights.values().sum();
        if (total - 1.0).abs() > 1e-3 {
            return Err(format!("weights must sum to 1, not {total}"));
        }
        Ok(ReferenceMix::normalised(weights))
    }

    /// The mix of `responses` per channel (channels without responses left out); `None` when
    /// there are none at all.
    pub fn from_responses(responses: &BTreeMap<String, u64>) -> Option<ReferenceMix> {
        let weights: BTreeMap<String, f64> = responses
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c.clone(), *n as f64))
            .collect();
        (!weights.is_empty()).then(|| ReferenceMix::normalised(weights))
    }

    /// The mix over `channels` only, renormalised; `None` when it keeps no channel.
    pub fn restricted_to(&self, channels: &BTreeSet<String>) -> Option<ReferenceMix> {
        let weights: BTreeMap<String, f64> = self
            .weights
            .iter()
            .filter(|(c, _)| channels.contains(*c))
            .map(|(c, w)| (c.clone(), *w))
            .collect();
        (!weights.is_empty()).then(|| ReferenceMix::normalised(weights))
    }

    /// Channel → weight.
    pub fn weights(&self) -> &BTreeMap<String, f64> {
        &self.weights
    }

    fn normalised(mut weights: BTreeMap<String, f64>) -> ReferenceMix {
        let total: f64 = weights.values().sum();
        weights.values_mut().for_each(|w| *w /= total);
        ReferenceMix { weights }
    }
}

/// What one market has in one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelCell {
    /// Responses.
    pub n: u64,
    /// The measure's headline figure; `None` when it cannot be estimated.
    pub estimate: Option<Estimate>,
}

/// The standardised figure of one market.
#[derive(Debug, Clone, PartialEq)]
pub enum Standardised {
    /// Every reference channel had enough responses.
    Complete(Estimate),
    /// Asked for: computed over the usable channels with their weights renormalised.
    Partial {
        /// The estimate over the usable channels.
        estimate: Estimate,
        /// Share of the reference mix those channels carry (0-1).
        coverage: f64,
        /// Reference channels left out, with their n.
        left_out: Vec<(String, u64)>,
    },
    /// Not computable: reference channels without responses or below `n_min`.
    Unavailable {
        /// Reference channels with no responses.
        missing: Vec<String>,
        /// Reference channels with fewer than `n_min` responses, with their n.
        too_small: Vec<(String, u64)>,
    },
}

impl Standardised {
    /// The estimate, complete or partial.
    pub fn estimate(&self) -> Option<Estimate> {
        match self {
            Standardised::Complete(e) | Standardised::Partial { estimate: e, .. } => Some(*e),
            Standardised::Unavailable { .. } => None,
        }
    }
}

/// Standardises one market's channel cells over `mix`. A reference channel is usable when it
/// has at least `n_min` responses and an estimate. With `partial`, a market missing some
/// reference channels is standardised over the rest (flagged); otherwise it is unavailable.
pub fn standardise(
    mix: &ReferenceMix,
    cells: &BTreeMap<String, ChannelCell>,
    n_min: u64,
    partial: bool,
) -> Standardised {
    let mut usable = Vec::new();
    let mut missing = Vec::new();
    let mut too_small = Vec::new();
    for (channel, weight) in mix.weights() {
        match cells.get(channel) {
            None => missing.push(channel.clone()),
            Some(cell) if cell.n == 0 => missing.push(channel.clone()),
            Some(ChannelCell {
                n,
                estimate: Some(estimate),
            }) if *n >= n_min => usable.push((channel.clone(), *weight, *estimate)),
            Some(cell) => too_small.push((channel.clone(), cell.n)),
        }
    }
    if missing.is_empty() && too_small.is_empty() {
        let terms: Vec<_> = usable.iter().map(|(_, w, e)| (*w, *e)).collect();
        return match weighted_sum(&terms) {
            Some(estimate) => Standardised::Complete(estimate),
            None => Standardised::Unavailable { missing, too_small },
        };
    }
    let coverage: f64 = usable.iter().map(|(_, w, _)| w).sum();
    if !partial || usable.is_empty() {
        return Standardised::Unavailable { missing, too_small };
    }
    let terms: Vec<_> = usable.iter().map(|(_, w, e)| (w / coverage, *e)).collect();
    let left_out = missing
        .into_iter()
        .map(|c| (c, 0))
        .chain(too_small)
        .collect();
    match weighted_sum(&terms) {
        Some(estimate) => Standardised::Partial {
            estimate,
            coverage,
            left_out,
        },
        None => Standardised::Unavailable {
            missing: Vec::new(),
            too_small: left_out,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nps::NpsCounts;
    use crate::testing::Lcg;

    fn mix(pairs: &[(&str, f64)]) -> ReferenceMix {
        ReferenceMix::new(pairs.iter().map(|(c, w)| (c.to_string(), *w)).collect()).unwrap()
    }

    fn nps_cell(n: u64, promoters: u64, detractors: u64) -> ChannelCell {
        let counts = NpsCounts {
            n,
            promoters,
            detractors,
        };
        ChannelCell {
            n,
            estimate: counts.estimate(),
        }
    }

    fn cells(pairs: &[(&str, ChannelCell)]) -> BTreeMap<String, ChannelCell> {
        pairs
            .iter()
            .map(|(c, cell)| (c.to_string(), *cell))
            .collect()
    }

    #[test]
    fn design_simpson_example_ranks_b_above_a() {
        let mix = mix(&[("after_call", 0.5), ("app", 0.5)]);
        let a = cells(&[
            ("after_call", nps_cell(800, 560, 80)), // NPS 60
            ("app", nps_cell(200, 60, 60)),         // NPS 0
        ]);
        let b = cells(&[
            ("after_call", nps_cell(200, 160, 20)), // NPS 70
            ("app", nps_cell(800, 320, 240)),       // NPS 10
        ]);
        let a = standardise(&mix, &a, 30, false).estimate().unwrap();
        let b = standardise(&mix, &b, 30, false).estimate().unwrap();
        assert!((a.value - 30.0).abs() < 1e-9 && (a.standard_error - 2.98).abs() < 0.005);
        assert!((b.value - 40.0).abs() < 1e-9 && (b.standard_error - 2.70).abs() < 0.005);
    }

    #[test]
    fn a_weight_of_one_gives_that_channels_own_figure() {
        let only = nps_cell(400, 200, 80);
        let s = standardise(&mix(&[("x", 1.0)]), &cells(&[("x", only)]), 30, false);
        assert_eq!(s, Standardised::Complete(only.estimate.unwrap()));
    }

    #[test]
    fn a_missing_or_small_channel_makes_the_market_unavailable_and_names_it() {
        let mix = mix(&[("a", 0.25), ("b", 0.25), ("c", 0.5)]);
        let market = cells(&[("a", nps_cell(100, 50, 10)), ("b", nps_cell(12, 6, 2))]);
        assert_eq!(
            standardise(&mix, &market, 30, false),
            Standardised::Unavailable {
                missing: vec!["c".into()],
                too_small: vec![("b".into(), 12)],
            }
        );
    }

    #[test]
    fn partial_renormalises_over_the_usable_channels_and_says_so() {
        let mix = mix(&[("a", 0.25), ("b", 0.75)]);
        let a = nps_cell(100, 50, 10);
        let s = standardise(&mix, &cells(&[("a", a)]), 30, true);
        let Standardised::Partial {
            estimate,
            coverage,
            left_out,
        } = s
        else {
            panic!("expected partial, got {s:?}");
        };
        assert_eq!(estimate, a.estimate.unwrap());
        assert!((coverage - 0.25).abs() < 1e-12);
        assert_eq!(left_out, vec![("b".to_string(), 0)]);
        assert!(matches!(
            standardise(&mix, &BTreeMap::new(), 30, true),
            Standardised::Unavailable { .. }
        ));
    }

    #[test]
    fn mixes_are_validated_and_renormalised() {
        assert!(ReferenceMix::new(BTreeMap::new()).is_err());
        assert!(ReferenceMix::new([("a".to_string(), 0.5)].into()).is_err());
        assert!(
            ReferenceMix::new([("a".to_string(), -0.5), ("b".to_string(), 1.5)].into()).is_err()
        );
        let from_n = ReferenceMix::from_responses(
            &[
                ("a".to_string(), 300),
                ("b".to_string(), 100),
                ("c".to_string(), 0),
            ]
            .into(),
        )
        .unwrap();
        assert_eq!(from_n.weights().len(), 2);
        assert!((from_n.weights()["a"] - 0.75).abs() < 1e-12);
        let only_b = from_n.restricted_to(&["b".to_string()].into()).unwrap();
        assert_eq!(only_b.weights()["b"], 1.0);
        assert_eq!(from_n.restricted_to(&BTreeSet::new()), None);
    }

    #[test]
    fn permuting_channels_changes_nothing() {
        let mix = mix(&[("a", 0.3), ("b", 0.7)]);
        let forward = cells(&[("a", nps_cell(100, 50, 10)), ("b", nps_cell(90, 20, 40))]);
        let backward = cells(&[("b", nps_cell(90, 20, 40)), ("a", nps_cell(100, 50, 10))]);
        assert_eq!(
            standardise(&mix, &forward, 30, false),
            standardise(&mix, &backward, 30, false)
        );
    }

    /// Random mixes and markets: every property below must hold for each case.
    #[test]
    fn properties_hold_for_random_markets() {
        let mut random = Lcg::new(7);
        for case in 0..300 {
            let channels = random.between(1, 5) as usize;
            let names: Vec<String> = (0..channels).map(|c| format!("c{c}")).collect();
            let raw: BTreeMap<String, u64> = names
                .iter()
                .map(|c| (c.clone(), random.between(1, 100)))
                .collect();
            let mix = ReferenceMix::from_responses(&raw).unwrap();
            let market: BTreeMap<String, ChannelCell> = names
                .iter()
                .map(|c| {
                    let n = random.between(30, 2_000);
                    let p = random.uniform() * 0.8;
                    let d = random.uniform() * (1.0 - p);
                    let counts = random.nps_sample(n, p, d);
                    (
                        c.clone(),
                        ChannelCell {
                            n,
                            estimate: counts.estimate(),
                        },
                    )
                })
                .collect();
            let s = standardise(&mix, &market, 30, false).estimate().unwrap();
            // A convex combination stays between the lowest and highest channel.
            let values: Vec<f64> = market.values().map(|c| c.estimate.unwrap().value).collect();
            let (low, high) = values
                .iter()
                .fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
            assert!(
                s.value >= low - 1e-9 && s.value <= high + 1e-9,
                "case {case}"
            );
            // Its SE never exceeds the largest channel SE.
            let largest = market
                .values()
                .map(|c| c.estimate.unwrap().standard_error)
                .fold(0.0, f64::max);
            assert!(s.standard_error <= largest + 1e-9, "case {case}");
            // All weight on one channel gives that channel's own figure.
            let pick = &names[random.between(0, channels as u64 - 1) as usize];
            let one = ReferenceMix::new([(pick.clone(), 1.0)].into()).unwrap();
            assert_eq!(
                standardise(&one, &market, 30, false).estimate(),
                market[pick].estimate,
                "case {case}"
            );
            // Reversing the order the cells arrive in changes nothing.
            let reversed: BTreeMap<String, ChannelCell> = market
                .iter()
                .rev()
                .map(|(c, cell)| (c.clone(), *cell))
                .collect();
            assert_eq!(standardise(&mix, &reversed, 30, false).estimate(), Some(s));
        }
    }

    #[test]
    fn the_standardised_variance_agrees_with_a_simulation() {
        let mut random = Lcg::new(11);
        let mix = mix(&[("a", 0.3), ("b", 0.7)]);
        let (a, b) = ((150, 0.6, 0.1), (400, 0.3, 0.4));
        let trials = 3_000;
        let estimates: Vec<f64> = (0..trials)
            .map(|_| {
                let cell = |(n, p, d): (u64, f64, f64), random: &mut Lcg| {
                    let counts = random.nps_sample(n, p, d);
                    ChannelCell {
                        n,
                        estimate: counts.estimate(),
                    }
                };
                let market = cells(&[("a", cell(a, &mut random)), ("b", cell(b, &mut random))]);
                standardise(&mix, &market, 30, false)
                    .estimate()
                    .unwrap()
                    .value
            })
            .collect();
        let mean = estimates.iter().sum::<f64>() / trials as f64;
        let sd = (estimates.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (trials - 1) as f64)
            .sqrt();
        let var = |(n, p, d): (u64, f64, f64)| (p + d - (p - d) * (p - d)) / n as f64;
        let expected = 100.0 * (0.09 * var(a) + 0.49 * var(b)).sqrt();
        assert!(
            (sd - expected).abs() < expected * 0.05,
            "{sd} vs {expected}"
        );
    }
}
