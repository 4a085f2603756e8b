//! Alerts on significant change: each market and channel's last complete week and month
//! against its own trailing baseline (the 52 weeks or 12 months before), with the test
//! `/trends` uses (z-test of two independent estimates, server/DESIGN.md); and each topic's
//! share of comments against its baseline share, rises only. Every test of one run is one
//! family, Holm-adjusted, so twenty markets of noise do not raise an alert a week.
//! Pure: counts in, findings out.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::disclosure::Thresholds;
use super::estimate::{difference, ALPHA};
use super::multiple::holm;
use super::proportion::share;
use super::scale::{Histogram, Measure};

/// Which kind of period an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

/// A complete period and the baseline it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    /// `2026-W47` or `2026-10`: with market, channel and subject, what alerts are
    /// deduplicated on.
    pub label: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub baseline_start: NaiveDate,
    pub baseline_end: NaiveDate,
}

/// The last complete ISO week and calendar month before `today`.
pub fn last_complete_periods(today: NaiveDate) -> [Period; 2] {
    let this_monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let week_start = this_monday - Duration::days(7);
    let iso = week_start.iso_week();
    let week = Period {
        kind: PeriodKind::Week,
        label: format!("{}-W{:02}", iso.year(), iso.week()),
        start: week_start,
        end: this_monday - Duration::days(1),
        baseline_start: week_start - Duration::weeks(52),
        baseline_end: week_start - Duration::days(1),
    };
    let this_first = today.with_day(1).expect("day 1 exists");
    let month_start = months_before(this_first, 1);
    let month = Period {
        kind: PeriodKind::Month,
        label: format!("{}-{:02}", month_start.year(), month_start.month()),
        start: month_start,
        end: this_first - Duration::days(1),
        baseline_start: months_before(month_start, 12),
        baseline_end: month_start - Duration::days(1),
    };
    [week, month]
}

fn months_before(first: NaiveDate, n: u32) -> NaiveDate {
    first
        .checked_sub_months(chrono::Months::new(n))
        .unwrap_or(first)
}

/// A score measure of one market and channel in a period and in its baseline.
#[derive(Debug, Clone)]
pub struct ScoreCell {
    pub market: String,
    pub channel: String,
    /// Index into the periods of the run.
    pub period: usize,
    pub current: Histogram,
    pub baseline: Histogram,
}

/// A topic's comments among all comments of one market and channel, in a period and in its
/// baseline.
#[derive(Debug, Clone)]
pub struct TopicCell {
    pub market: String,
    pub channel: String,
    pub topic: String,
    pub period: usize,
    /// (comments with the topic, all comments).
    pub current: (u64, u64),
    pub baseline: (u64, u64),
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Score(Measure),
    /// A topic whose share of comments rose.
    Topic(String),
}

/// A significant change.
#[derive(Debug, Clone)]
pub struct Finding {
    pub market: String,
    pub channel: String,
    pub subject: Subject,
    pub period: usize,
    /// The period's headline (NPS points, CSAT %, mean; for topics the share in %).
    pub value: f64,
    pub baseline_value: f64,
    pub n: u64,
    pub baseline_n: u64,
    pub p_value: f64,
    /// Holm-adjusted over every test of the run.
    pub p_adjusted: f64,
}

impl Finding {
    /// `drop` or `rise`.
    pub fn direction(&self) -> &'static str {
        if self.value < self.baseline_value {
            "drop"
        } else {
            "rise"
        }
    }
}

/// Tests every cell where both the period and its baseline have at least `n_min` responses
/// (comments, for topics), adjusts the p-values of all of them together (Holm), and returns
/// the significant ones: score changes either way, topic shares that rose.
pub fn detect(scores: &[ScoreCell], topics: &[TopicCell], thresholds: Thresholds) -> Vec<Finding> {
    let enough = |n: u64| thresholds.is_enough(n);
    let mut tested: Vec<Finding> = Vec::new();
    for cell in scores {
        if !enough(cell.current.n()) || !enough(cell.baseline.n()) {
            continue;
        }
        let (Some(now), Some(before)) = (cell.current.headline(), cell.baseline.headline()) else {
            continue;
        };
        tested.push(Finding {
            market: cell.market.clone(),
            channel: cell.channel.clone(),
            subject: Subject::Score(cell.current.measure()),
            period: cell.period,
            value: now.value,
            baseline_value: before.value,
            n: cell.current.n(),
            baseline_n: cell.baseline.n(),
            p_value: difference(now, before).p_value,
            p_adjusted: 1.0,
        });
    }
    for cell in topics {
        let ((x, n), (x0, n0)) = (cell.current, cell.baseline);
        if !enough(n) || !enough(n0) {
            continue;
        }
        let (Some(now), Some(before)) = (share(x.min(n), n), share(x0.min(n0), n0)) else {
            continue;
        };
        let test = difference(now, before);
        tested.push(Finding {
            market: cell.market.clone(),
            channel: cell.channel.clone(),
            subject: Subject::Topic(cell.topic.clone()),
            period: cell.period,
            value: now.value,
            baseline_value: before.value,
            n,
            baseline_n: n0,
            // A topic alert is about a rise: a fall is not tested (one-sided would be the
            // honest p for "rose"; the two-sided one is more conservative).
            p_value: if test.difference > 0.0 {
                test.p_value
            } else {
                1.0
            },
            p_adjusted: 1.0,
        });
    }
    let adjusted = holm(&tested.iter().map(|f| f.p_value).collect::<Vec<_>>());
    tested
        .into_iter()
        .zip(adjusted)
        .filter(|(_, p)| *p < ALPHA)
        .map(|(finding, p)| Finding {
            p_adjusted: p,
            ..finding
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Lcg;

    const THRESHOLDS: Thresholds = Thresholds {
        privacy_floor: 5,
        n_min: 30,
    };

    fn nps(rng: &mut Lcg, n: u64, promoters: f64, detractors: f64) -> Histogram {
        let counts = rng.nps_sample(n, promoters, detractors);
        let mut histogram = Histogram::new(Measure::Nps);
        histogram.add(10, counts.promoters).unwrap();
        histogram.add(0, counts.detractors).unwrap();
        histogram
            .add(8, counts.n - counts.promoters - counts.detractors)
            .unwrap();
        histogram
    }

    #[test]
    fn periods_are_the_last_complete_week_and_month_with_their_baselines() {
        let today: NaiveDate = "2026-11-24".parse().unwrap(); // a Tuesday
        let [week, month] = last_complete_periods(today);
        assert_eq!(week.label, "2026-W47");
        assert_eq!(
            (week.start.to_string(), week.end.to_string()),
            ("2026-11-16".into(), "2026-11-22".into())
        );
        assert_eq!(week.baseline_end.to_string(), "2026-11-15");
        assert_eq!((week.start - week.baseline_start).num_days(), 364);
        assert_eq!(month.label, "2026-10");
        assert_eq!(
            (month.start.to_string(), month.end.to_string()),
            ("2026-10-01".into(), "2026-10-31".into())
        );
        assert_eq!(
            (
                month.baseline_start.to_string(),
                month.baseline_end.to_string()
            ),
            ("2025-10-01".into(), "2026-09-30".into())
        );
        let [january_week, january] = last_complete_periods("2027-01-04".parse().unwrap());
        assert_eq!(january_week.label, "2026-W53");
        assert_eq!(january.label, "2026-12");
    }

    #[test]
    fn a_planted_drop_is_found_among_twenty_markets() {
        let mut rng = Lcg::new(7);
        let mut scores = Vec::new();
        for market in 0..20 {
            let drop = market == 3;
            scores.push(ScoreCell {
                market: format!("M{market}"),
                channel: "survey".into(),
                period: 0,
                current: if drop {
                    nps(&mut rng, 150, 0.25, 0.45)
                } else {
                    nps(&mut rng, 150, 0.5, 0.2)
                },
                baseline: nps(&mut rng, 4000, 0.5, 0.2),
            });
        }
        let found = detect(&scores, &[], THRESHOLDS);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].market, "M3");
        assert_eq!(found[0].direction(), "drop");
        assert!(found[0].p_adjusted < 0.05 && found[0].p_adjusted >= found[0].p_value);
    }

    /// The false-alert rate: 200 simulated periods of twenty markets and a topic each, with no
    /// change at all; Holm keeps the chance of any alert in a period near 5 %.
    #[test]
    fn twenty_markets_of_noise_rarely_raise_an_alert() {
        let mut rng = Lcg::new(2026);
        let (mut periods_with_alerts, mut alerts, mut most) = (0, 0, 0);
        for _ in 0..200 {
            let mut scores = Vec::new();
            let mut topics = Vec::new();
            for market in 0..20 {
                scores.push(ScoreCell {
                    market: format!("M{market}"),
                    channel: "survey".into(),
                    period: 0,
                    current: nps(&mut rng, 120, 0.45, 0.25),
                    baseline: nps(&mut rng, 3000, 0.45, 0.25),
                });
                let draw =
                    |rng: &mut Lcg, n: u64| (0..n).filter(|_| rng.uniform() < 0.2).count() as u64;
                topics.push(TopicCell {
                    market: format!("M{market}"),
                    channel: "survey".into(),
                    topic: "billing".into(),
                    period: 0,
                    current: (draw(&mut rng, 80), 80),
                    baseline: (draw(&mut rng, 2000), 2000),
                });
            }
            let found = detect(&scores, &topics, THRESHOLDS).len();
            periods_with_alerts += usize::from(found > 0);
            alerts += found;
            most = most.max(found);
        }
        let rate = periods_with_alerts as f64 / 200.0;
        println!(
            "false alerts over 200 periods of 20 noisy markets (40 tests each): {alerts} in \
             {periods_with_alerts} periods = {:.1} % of periods, at most {most} in one",
            100.0 * rate
        );
        assert!(rate <= 0.08, "family-wise false-alert rate {rate}");
        assert!(most <= 1, "a noisy period raised {most} alerts");
    }

    #[test]
    fn a_rising_topic_is_found_and_a_falling_one_is_not() {
        let cell = |topic: &str, current| TopicCell {
            market: "DE".into(),
            channel: "survey".into(),
            topic: topic.into(),
            period: 1,
            current,
            baseline: (200, 2000),
        };
        let found = detect(
            &[],
            &[
                cell("delivery", (60, 150)),
                cell("billing", (2, 150)),
                cell("tiny", (20, 20)),
            ],
            THRESHOLDS,
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].subject, Subject::Topic("delivery".into()));
        assert_eq!(found[0].direction(), "rise");
        assert_eq!(found[0].period, 1);
    }
}
