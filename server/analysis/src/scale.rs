//! The four measures Chorus keeps (NPS 0-10, CSAT 1-5, CES 1-7, review stars 1-5), the
//! per-score counts every figure is computed from, and each measure's figures. Measures are
//! never mixed: a histogram belongs to one measure, and so does every figure built on it.

use std::fmt;
use std::ops::RangeInclusive;

use serde::Serialize;

use super::estimate::{Estimate, Interval, Z_95};
use super::nps::{NpsCounts, NPS_BOUNDS};
use super::proportion::{share, wilson_interval, PERCENT_BOUNDS};

/// A score kept in the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    /// Net Promoter Score question, 0-10.
    Nps,
    /// Customer satisfaction, 1-5.
    Csat,
    /// Customer effort score, 1-7 (higher = easier).
    Ces,
    /// Review stars, 1-5.
    Stars,
}

/// The single figure of a measure that comparisons, standardisation and tests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Headline {
    /// NPS in points, −100…100.
    Nps,
    /// Percent of responses scoring 4 or 5.
    #[serde(rename = "share_4_5")]
    Share4To5,
    /// Mean score.
    Mean,
}

impl Measure {
    /// Every measure.
    pub const ALL: [Measure; 4] = [Measure::Nps, Measure::Csat, Measure::Ces, Measure::Stars];

    /// Name in the API and column name in the warehouse.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Nps => "nps",
            Measure::Csat => "csat",
            Measure::Ces => "ces",
            Measure::Stars => "stars",
        }
    }

    /// The measure with this name.
    pub fn parse(name: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.name() == name)
    }

    /// Valid scores.
    pub fn scale(self) -> RangeInclusive<u8> {
        match self {
            Measure::Nps => 0..=10,
            Measure::Csat | Measure::Stars => 1..=5,
            Measure::Ces => 1..=7,
        }
    }

    /// What comparisons of this measure compare: CSAT is read as its share of 4-5 (the
    /// industry's "CSAT %"), CES and stars as means.
    pub fn headline(self) -> Headline {
        match self {
            Measure::Nps => Headline::Nps,
            Measure::Csat => Headline::Share4To5,
            Measure::Ces | Measure::Stars => Headline::Mean,
        }
    }

    /// The range the headline figure can take, for clipping intervals.
    pub fn headline_bounds(self) -> (f64, f64) {
        match self.headline() {
            Headline::Nps => NPS_BOUNDS,
            Headline::Share4To5 => PERCENT_BOUNDS,
            Headline::Mean => {
                let scale = self.scale();
                (f64::from(*scale.start()), f64::from(*scale.end()))
            }
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Responses per score of one cell of one measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    measure: Measure,
    /// `counts[i]` responses scored `scale.start() + i`.
    counts: Vec<u64>,
}

impl Histogram {
    /// An empty histogram.
    pub fn new(measure: Measure) -> Histogram {
        Histogram {
            measure,
            counts: vec![0; measure.scale().len()],
        }
    }

    /// The measure counted.
    pub fn measure(&self) -> Measure {
        self.measure
    }

    /// Adds `count` responses scored `score`.
    ///
    /// # Errors
    /// A score outside the measure's scale (the warehouse's CHECK constraints make this a
    /// bug, never data).
    pub fn add(&mut self, score: u8, count: u64) -> Result<(), String> {
        let start = *self.measure.scale().start();
        if !self.measure.scale().contains(&score) {
            return Err(format!("{} score {score} is off its scale", self.measure));
        }
        self.counts[usize::from(score - start)] += count;
        Ok(())
    }

    /// Adds another histogram of the same measure (e.g. the months of a window).
    pub fn merge(&mut self, other: &Histogram) {
        debug_assert_eq!(self.measure, other.measure, "histograms of two measures");
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// (score, responses) for every score of the scale.
    pub fn counts(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        self.measure.scale().zip(self.counts.iter().copied())
    }

    /// Responses.
    pub fn n(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Responses scoring at least `threshold`.
    pub fn at_least(&self, threshold: u8) -> u64 {
        self.counts()
            .filter(|(s, _)| *s >= threshold)
            .map(|(_, c)| c)
            .sum()
    }

    /// Promoters, passives and detractors, for an NPS histogram.
    pub fn nps_counts(&self) -> NpsCounts {
        debug_assert_eq!(self.measure, Measure::Nps);
        NpsCounts {
            n: self.n(),
            promoters: self.at_least(9),
            detractors: self.n() - self.at_least(7),
        }
    }

    /// Mean score with SE = s/√n (s the sample standard deviation); `None` for n < 2, where
    /// no spread can be estimated.
    pub fn mean(&self) -> Option<Estimate> {
        let n = self.n();
        if n < 2 {
            return None;
        }
        let nf = n as f64;
        let sum: f64 = self.counts().map(|(s, c)| f64::from(s) * c as f64).sum();
        let mean = sum / nf;
        let squares: f64 = self
            .counts()
            .map(|(s, c)| (f64::from(s) - mean).powi(2) * c as f64)
            .sum();
        let sd = (squares / (nf - 1.0)).sqrt();
        Some(Estimate {
            value: mean,
            standard_error: sd / nf.sqrt(),
        })
    }

    /// Percent of responses scoring 4 or 5 (CSAT and stars).
    pub fn share_4_to_5(&self) -> Option<Estimate> {
        share(self.at_least(4), self.n())
    }

    /// The interval of the headline figure: adjusted Wald for NPS, Wilson for shares, normal
    /// for means; `None` where the headline has none.
    pub fn headline_interval(&self, z: f64) -> Option<Interval> {
        match self.measure.headline() {
            Headline::Nps => (self.n() > 0).then(|| self.nps_counts().adjusted_wald_interval(z)),
            Headline::Share4To5 => wilson_interval(self.at_least(4), self.n(), z),
            Headline::Mean => self
                .mean()
                .map(|m| m.interval(z, self.measure.headline_bounds())),
        }
    }

    /// The measure's headline figure (see [`Measure::headline`]).
    pub fn headline(&self) -> Option<Estimate> {
        match self.measure.headline() {
            Headline::Nps => self.nps_counts().estimate(),
            Headline::Share4To5 => self.share_4_to_5(),
            Headline::Mean => self.mean(),
        }
    }
}

/// The figures shown for one cell; every field is `None` when the cell is suppressed. Every
/// field is always present (null when withheld), which also tells the variants apart in the
/// OpenAPI document.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Figures {
    /// NPS: counts by class, NPS, SE and adjusted-Wald interval.
    Nps {
        #[schema(required = true)]
        promoters: Option<u64>,
        #[schema(required = true)]
        passives: Option<u64>,
        #[schema(required = true)]
        detractors: Option<u64>,
        #[schema(required = true)]
        nps: Option<f64>,
        #[schema(required = true)]
        se: Option<f64>,
        #[schema(required = true)]
        ci95: Option<Interval>,
    },
    /// CSAT and stars: share of 4-5 with Wilson interval, and the mean.
    ShareAndMean {
        #[schema(required = true)]
        share_4_5: Option<f64>,
        #[schema(required = true)]
        share_4_5_ci95: Option<Interval>,
        #[schema(required = true)]
        mean: Option<f64>,
        #[schema(required = true)]
        mean_se: Option<f64>,
        #[schema(required = true)]
        mean_ci95: Option<Interval>,
    },
    /// CES: the mean with SE and interval.
    Mean {
        #[schema(required = true)]
        mean: Option<f64>,
        #[schema(required = true)]
        se: Option<f64>,
        #[schema(required = true)]
        ci95: Option<Interval>,
    },
}

impl Figures {
    /// Figures of a histogram; all withheld when `suppressed`.
    pub fn of(histogram: &Histogram, suppressed: bool) -> Figures {
        fn shown<T>(value: Option<T>, suppressed: bool) -> Option<T> {
            value.filter(|_| !suppressed)
        }
        let measure = histogram.measure();
        let bounds = measure.scale();
        let mean_bounds = (f64::from(*bounds.start()), f64::from(*bounds.end()));
        let mean = shown(histogram.mean(), suppressed);
        match measure {
            Measure::Nps => {
                let counts = histogram.nps_counts();
                Figures::Nps {
                    promoters: shown(Some(counts.promoters), suppressed),
                    passives: shown(Some(counts.passives()), suppressed),
                    detractors: shown(Some(counts.detractors), suppressed),
                    nps: shown(counts.nps(), suppressed),
                    se: shown(counts.standard_error(), suppressed),
                    ci95: shown(Some(counts.adjusted_wald_interval(Z_95)), suppressed),
                }
            }
            Measure::Csat | Measure::Stars => Figures::ShareAndMean {
                share_4_5: shown(histogram.share_4_to_5(), suppressed).map(|s| s.value),
                share_4_5_ci95: shown(
                    wilson_interval(histogram.at_least(4), histogram.n(), Z_95),
                    suppressed,
                ),
                mean: mean.map(|m| m.value),
                mean_se: mean.map(|m| m.standard_error),
                mean_ci95: mean.map(|m| m.interval(Z_95, mean_bounds)),
            },
            Measure::Ces => Figures::Mean {
                mean: mean.map(|m| m.value),
                se: mean.map(|m| m.standard_error),
                ci95: mean.map(|m| m.interval(Z_95, mean_bounds)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(measure: Measure, scores: &[(u8, u64)]) -> Histogram {
        let mut h = Histogram::new(measure);
        for &(score, count) in scores {
            h.add(score, count).unwrap();
        }
        h
    }

    #[test]
    fn the_design_vector_gives_the_same_nps_through_a_histogram() {
        let h = histogram(
            Measure::Nps,
            &[
                (10, 30),
                (9, 20),
                (8, 15),
                (7, 10),
                (5, 10),
                (3, 10),
                (0, 5),
            ],
        );
        let counts = h.nps_counts();
        assert_eq!(
            (counts.n, counts.promoters, counts.detractors),
            (100, 50, 25)
        );
        let headline = h.headline().unwrap();
        assert!((headline.value - 25.0).abs() < 1e-12);
        assert!((headline.standard_error - 8.29).abs() < 0.005);
    }

    #[test]
    fn ces_mean_has_the_standard_error_of_a_mean() {
        // One response at each of 1..7: mean 4, s² = 28/6, SE = s/√7.
        let h = histogram(Measure::Ces, &(1..=7).map(|s| (s, 1)).collect::<Vec<_>>());
        let mean = h.mean().unwrap();
        assert!((mean.value - 4.0).abs() < 1e-12);
        assert!((mean.standard_error - (28.0f64 / 6.0).sqrt() / 7f64.sqrt()).abs() < 1e-12);
        assert_eq!(h.headline(), Some(mean));
    }

    #[test]
    fn csat_headline_is_the_share_of_4_and_5() {
        let h = histogram(
            Measure::Csat,
            &[(5, 40), (4, 20), (3, 10), (2, 10), (1, 20)],
        );
        let headline = h.headline().unwrap();
        assert!((headline.value - 60.0).abs() < 1e-12);
        let Figures::ShareAndMean {
            share_4_5,
            mean,
            share_4_5_ci95,
            ..
        } = Figures::of(&h, false)
        else {
            panic!("CSAT shows share and mean");
        };
        assert_eq!(share_4_5, Some(60.0));
        assert!((mean.unwrap() - 3.5).abs() < 1e-12);
        let ci = share_4_5_ci95.unwrap();
        assert!(ci.low < 60.0 && ci.high > 60.0);
    }

    #[test]
    fn scores_off_the_scale_are_refused_and_suppression_withholds_everything() {
        assert!(Histogram::new(Measure::Csat).add(0, 1).is_err());
        assert!(Histogram::new(Measure::Ces).add(8, 1).is_err());
        assert!(Histogram::new(Measure::Nps).add(10, 1).is_ok());
        let h = histogram(Measure::Stars, &[(5, 2), (1, 1)]);
        assert_eq!(
            Figures::of(&h, true),
            Figures::ShareAndMean {
                share_4_5: None,
                share_4_5_ci95: None,
                mean: None,
                mean_se: None,
                mean_ci95: None
            }
        );
    }

    #[test]
    fn merging_adds_counts_and_permutation_changes_nothing() {
        let a = histogram(Measure::Stars, &[(5, 2), (1, 1)]);
        let b = histogram(Measure::Stars, &[(4, 3)]);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.n(), 6);
        assert_eq!(ab.at_least(4), 5);
        assert_eq!(Measure::parse("stars"), Some(Measure::Stars));
        assert_eq!(Measure::parse("NPS"), None);
    }
}
