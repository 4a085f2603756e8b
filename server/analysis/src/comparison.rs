//! Comparing markets on the same footing (server/DESIGN.md, "Metrics — the math"): each market's figure
//! directly standardised over one reference channel mix, the cells it was built from under the
//! disclosure rule, the reason when it is partial or unavailable, ranks, tests against a chosen
//! market and against its own baseline, and Holm's adjustment within each family of tests.
//! Pure: histograms in, answers out.

use std::collections::BTreeMap;

use serde::Serialize;

use super::disclosure::Thresholds;
use super::estimate::{difference, Difference, Estimate, Interval, ALPHA, Z_95};
use super::multiple::holm;
use super::scale::{Histogram, Measure};
use super::standardise::{standardise, ChannelCell, ReferenceMix, Standardised};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelAnswer {
    pub channel: String,
    pub weight: f64,
    pub n: u64,
    pub value: Option<f64>,
    pub se: Option<f64>,
    pub ci95: Option<Interval>,
    pub low_n: bool,
    pub suppressed: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Test {
    #[serde(flatten)]
    pub difference: Difference,
    /// Holm-adjusted p-value, when asked for; `significant` then uses it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_adjusted: Option<f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgainstMarket {
    pub market: String,
    #[serde(flatten)]
    pub test: Test,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AgainstBaseline {
    pub baseline_value: f64,
    pub baseline_se: f64,
    #[serde(flatten)]
    pub test: Test,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MarketAnswer {
    pub market: String,
    pub name: Option<String>,
    /// `complete`, `partial` or `unavailable`.
    pub status: &'static str,
    pub value: Option<f64>,
    pub se: Option<f64>,
    pub ci95: Option<Interval>,
    /// 1 = highest value among the markets with one.
    pub rank: Option<usize>,
    /// Share of the reference mix the figure covers (1 unless partial).
    pub coverage: Option<f64>,
    /// Why the figure is null or partial.
    pub reason: Option<String>,
    /// Responses in the reference channels.
    pub n: u64,
    pub cells: Vec<ChannelAnswer>,
    pub vs_market: Option<AgainstMarket>,
    pub vs_baseline: Option<AgainstBaseline>,
    /// Why `vs_baseline` is absent: no value now, or none in the baseline period (and why).
    pub vs_baseline_reason: Option<String>,
}

/// What every market of one answer is computed with.
#[derive(Debug, Clone, Copy)]
pub struct Footing<'a> {
    pub measure: Measure,
    pub mix: &'a ReferenceMix,
    pub partial: bool,
    pub thresholds: Thresholds,
}

pub fn standardised(cells: &BTreeMap<String, Histogram>, footing: &Footing<'_>) -> Standardised {
    let inputs: BTreeMap<String, ChannelCell> = cells
        .iter()
        .map(|(channel, h)| {
            let cell = ChannelCell {
                n: h.n(),
                estimate: h.headline(),
            };
            (channel.clone(), cell)
        })
        .collect();
    standardise(
        footing.mix,
        &inputs,
        footing.thresholds.n_min,
        footing.partial,
    )
}

pub fn market_answer(
    market: &str,
    name: Option<String>,
    cells: &BTreeMap<String, Histogram>,
    previous: &BTreeMap<String, Histogram>,
    footing: &Footing<'_>,
) -> MarketAnswer {
    let Footing {
        measure,
        mix,
        thresholds,
        ..
    } = *footing;
    let result = standardised(cells, footing);
    let (status, coverage, reason) = match &result {
        Standardised::Complete(_) => ("complete", Some(1.0), None),
        Standardised::Partial {
            coverage, left_out, ..
        } => (
            "partial",
            Some(*coverage),
            Some(format!(
                "partial: standardised over the channels present; left out {}",
                describe(&[], left_out, thresholds.n_min)
            )),
        ),
        Standardised::Unavailable { missing, too_small } => (
            "unavailable",
            None,
            Some(describe(missing, too_small, thresholds.n_min)),
        ),
    };
    let estimate = result.estimate();
    let before = standardised(previous, footing);
    let vs_baseline = estimate
        .zip(before.estimate())
        .map(|(now, before)| AgainstBaseline {
            baseline_value: before.value,
            baseline_se: before.standard_error,
            test: Test {
                difference: difference(now, before),
                p_adjusted: None,
            },
        });
    let vs_baseline_reason = match (estimate, &before) {
        (_, _) if vs_baseline.is_some() => None,
        (None, _) => Some("no value in the period to test".to_owned()),
        (Some(_), Standardised::Unavailable { missing, too_small }) => Some(format!(
            "no value in the baseline period: {}",
            describe(missing, too_small, thresholds.n_min)
        )),
        (Some(_), _) => Some("no value in the baseline period".to_owned()),
    };
    MarketAnswer {
        market: market.to_owned(),
        name,
        status,
        value: estimate.map(|e| e.value),
        se: estimate.map(|e| e.standard_error),
        ci95: estimate.map(|e| e.interval(Z_95, measure.headline_bounds())),
        rank: None,
        coverage,
        reason,
        n: cells.values().map(Histogram::n).sum(),
        cells: mix
            .weights()
            .iter()
            .map(|(channel, weight)| {
                channel_answer(channel, *weight, cells.get(channel), thresholds)
            })
            .collect(),
        vs_market: None,
        vs_baseline,
        vs_baseline_reason,
    }
}

pub fn channel_answer(
    channel: &str,
    weight: f64,
    histogram: Option<&Histogram>,
    thresholds: Thresholds,
) -> ChannelAnswer {
    let n = histogram.map_or(0, Histogram::n);
    let disclosure = thresholds.disclose(n);
    let shown = disclosure.shown(histogram);
    let estimate = shown.and_then(Histogram::headline);
    ChannelAnswer {
        channel: channel.to_owned(),
        weight,
        n,
        value: estimate.map(|e| e.value),
        se: estimate.map(|e| e.standard_error),
        ci95: shown.and_then(|h| h.headline_interval(Z_95)),
        low_n: disclosure.low_n,
        suppressed: disclosure.suppressed,
    }
}

/// "no responses in a, b; fewer than 30 responses in c (n = 12)".
pub fn describe(missing: &[String], too_small: &[(String, u64)], n_min: u64) -> String {
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("no responses in {}", missing.join(", ")));
    }
    let empty: Vec<&String> = too_small
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(c, _)| c)
        .collect();
    if !empty.is_empty() {
        let names: Vec<&str> = empty.iter().map(|c| c.as_str()).collect();
        parts.push(format!("no responses in {}", names.join(", ")));
    }
    let small: Vec<String> = too_small
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| format!("{c} (n = {n})"))
        .collect();
    if !small.is_empty() {
        parts.push(format!(
            "fewer than {n_min} responses in {}",
            small.join(", ")
        ));
    }
    parts.join("; ")
}

/// Tests every market against `against`; `against_cells` is that market's cells, for when it
/// is not among the answers (outside the caller's list but inside their scope).
pub fn add_market_tests(
    answers: &mut [MarketAnswer],
    against: &str,
    against_cells: &BTreeMap<String, Histogram>,
    footing: &Footing<'_>,
) {
    let estimate_of = |answer: &MarketAnswer| -> Option<Estimate> {
        Some(Estimate {
            value: answer.value?,
            standard_error: answer.se?,
        })
    };
    let reference = answers
        .iter()
        .find(|a| a.market == against)
        .and_then(estimate_of)
        .or_else(|| standardised(against_cells, footing).estimate());
    let Some(reference) = reference else {
        return;
    };
    for answer in answers.iter_mut().filter(|a| a.market != against) {
        answer.vs_market = estimate_of(answer).map(|own| AgainstMarket {
            market: against.to_owned(),
            test: Test {
                difference: difference(own, reference),
                p_adjusted: None,
            },
        });
    }
}

pub fn rank(answers: &mut [MarketAnswer]) {
    let mut order: Vec<(usize, f64)> = answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| a.value.map(|v| (i, v)))
        .collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1));
    for (rank, (index, _)) in order.into_iter().enumerate() {
        answers[index].rank = Some(rank + 1);
    }
}

/// Holm within each family: the tests against the chosen market, and the tests against
/// each market's own baseline.
pub fn adjust_holm(answers: &mut [MarketAnswer]) {
    fn apply(tests: Vec<&mut Test>) {
        let p: Vec<f64> = tests.iter().map(|t| t.difference.p_value).collect();
        for (test, adjusted) in tests.into_iter().zip(holm(&p)) {
            test.p_adjusted = Some(adjusted);
            test.difference.significant = adjusted < ALPHA;
        }
    }
    apply(
        answers
            .iter_mut()
            .filter_map(|a| a.vs_market.as_mut().map(|t| &mut t.test))
            .collect(),
    );
    apply(
        answers
            .iter_mut()
            .filter_map(|a| a.vs_baseline.as_mut().map(|t| &mut t.test))
            .collect(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(market: &str, value: Option<f64>) -> MarketAnswer {
        MarketAnswer {
            market: market.into(),
            name: None,
            status: "complete",
            value,
            se: value.map(|_| 1.0),
            ci95: None,
            rank: None,
            coverage: None,
            reason: None,
            n: 0,
            cells: Vec::new(),
            vs_market: None,
            vs_baseline: None,
            vs_baseline_reason: None,
        }
    }

    fn test(p_value: f64) -> Test {
        Test {
            difference: Difference {
                difference: 1.0,
                z: 2.0,
                p_value,
                significant: p_value < ALPHA,
            },
            p_adjusted: None,
        }
    }

    #[test]
    fn ranks_go_to_markets_with_a_value_highest_first() {
        let mut answers = [
            answer("DE", Some(10.0)),
            answer("FR", None),
            answer("ES", Some(30.0)),
            answer("PL", Some(20.0)),
        ];
        rank(&mut answers);
        let ranks: Vec<Option<usize>> = answers.iter().map(|a| a.rank).collect();
        assert_eq!(ranks, [Some(3), None, Some(1), Some(2)]);
    }

    #[test]
    fn holm_adjusts_each_family_on_its_own() {
        let mut answers = [
            answer("DE", Some(1.0)),
            answer("FR", Some(2.0)),
            answer("ES", Some(3.0)),
        ];
        for (a, p) in answers.iter_mut().zip([0.01, 0.04, 0.03]) {
            a.vs_market = Some(AgainstMarket {
                market: "IT".into(),
                test: test(p),
            });
        }
        // The baseline family has one test: Holm leaves it as it is.
        answers[0].vs_baseline = Some(AgainstBaseline {
            baseline_value: 0.0,
            baseline_se: 1.0,
            test: test(0.04),
        });
        adjust_holm(&mut answers);
        let market: Vec<(f64, bool)> = answers
            .iter()
            .map(|a| {
                let t = &a.vs_market.as_ref().unwrap().test;
                (t.p_adjusted.unwrap(), t.difference.significant)
            })
            .collect();
        let expected = [(0.03, true), (0.06, false), (0.06, false)];
        for ((p, significant), (want_p, want_significant)) in market.iter().zip(expected) {
            assert!((p - want_p).abs() < 1e-12, "{market:?}");
            assert_eq!(*significant, want_significant, "{market:?}");
        }
        let baseline = &answers[0].vs_baseline.as_ref().unwrap().test;
        assert_eq!(baseline.p_adjusted, Some(0.04));
        assert!(baseline.difference.significant);
    }

    #[test]
    fn reasons_name_the_channels_and_their_n() {
        assert_eq!(
            describe(&["app".into()], &[("call".into(), 12)], 30),
            "no responses in app; fewer than 30 responses in call (n = 12)"
        );
    }
}
