//! Key driver analysis: what moves a score. Ordinary least squares of the score on driver
//! indicators (a comment mentions a topic: 1, else 0), with control columns (channel fixed
//! effects) in every model; per driver the coefficient with a heteroskedasticity-robust HC3
//! standard error (MacKinnon & White 1985), a normal 95 % interval and p-value (as
//! statsmodels' `fit(cov_type="HC3")`), Holm-adjusted across the drivers; the variance
//! inflation factor; and its relative importance by LMG (Lindeman, Merenda & Gold 1980), the
//! Shapley decomposition of R² over the drivers with the controls always in (relaimpo's
//! `always`), so the importances add up to what the drivers explain together.
//!
//! Rows carry a frequency weight: identical (score, drivers, controls) rows collapse into one,
//! which gives exactly the estimates of the uncollapsed data, HC3 included (identical rows
//! share their leverage), and keeps a million records to a few thousand rows.
//!
//! Linear algebra is nalgebra's Cholesky factorisation (SVD where a subset is singular);
//! checked against statsmodels in `tests/reference/drivers/`.

use nalgebra::{DMatrix, DVector};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Binomial, Distribution};

use super::multiple::holm;
use super::normal::two_sided_p;

/// More drivers than this would make the exact LMG decomposition (2^k models) too costly.
pub const MAX_DRIVERS: usize = 15;

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// One row: a score, its driver indicators and controls, and how many records it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub score: f64,
    pub drivers: Vec<f64>,
    pub controls: Vec<f64>,
    pub weight: f64,
}

/// The model as a whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Records (sum of weights).
    pub n: f64,
    pub r2: f64,
    pub r2_adjusted: f64,
    /// R² of the controls alone; the drivers' importances add up to `r2` minus this.
    pub r2_controls: f64,
    pub intercept: f64,
    /// One per control column.
    pub control_effects: Vec<f64>,
    /// One per driver column, in order.
    pub drivers: Vec<DriverEstimate>,
}

/// One driver's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverEstimate {
    /// Change in the score when a comment mentions it, other drivers and controls equal.
    pub coefficient: f64,
    /// HC3 standard error.
    pub se: f64,
    pub ci95: (f64, f64),
    pub p_value: f64,
    /// Holm-adjusted across the model's drivers.
    pub p_holm: f64,
    /// LMG share of R².
    pub importance: f64,
    /// Weighted share of records mentioning it.
    pub prevalence: f64,
    /// Records mentioning it.
    pub mentions: f64,
    /// Mean score of the records mentioning it: how well it goes where it comes up.
    pub performance: f64,
    /// 1 / (1 − R²) of this driver on the other drivers and the controls.
    pub vif: f64,
}

/// Why no model could be fitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    #[error("between 1 and {MAX_DRIVERS} drivers are needed, got {0}")]
    DriverCount(usize),
    #[error("rows must all have {drivers} drivers and {controls} controls")]
    Ragged { drivers: usize, controls: usize },
    #[error("{0} records are too few for {1} parameters")]
    TooFew(u64, usize),
    #[error("the drivers and controls are perfectly collinear")]
    Singular,
    /// Driver `.0` is (almost) a linear function of the others and the controls, e.g. when
    /// every comment mentions exactly one of the topics.
    #[error("driver {0} is perfectly collinear with the others")]
    Collinear(usize),
}

/// A VIF this large means the driver is a linear function of the others: its coefficient
/// is not identified, whatever the arithmetic returns.
const SINGULAR_VIF: f64 = 1e8;

/// Fits the model.
///
/// # Errors
/// When the rows are inconsistent, too few, or the design is singular.
pub fn fit(rows: &[Row]) -> Result<Model, DriverError> {
    let k = rows.first().map_or(0, |r| r.drivers.len());
    let c = rows.first().map_or(0, |r| r.controls.len());
    if k == 0 || k > MAX_DRIVERS {
        return Err(DriverError::DriverCount(k));
    }
    if rows
        .iter()
        .any(|r| r.drivers.len() != k || r.controls.len() != c)
    {
        return Err(DriverError::Ragged {
            drivers: k,
            controls: c,
        });
    }
    let rows: Vec<&Row> = rows.iter().filter(|r| r.weight > 0.0).collect();
    let n: f64 = rows.iter().map(|r| r.weight).sum();
    let parameters = 1 + k + c;
    if n <= parameters as f64 {
        return Err(DriverError::TooFew(n as u64, parameters));
    }
    let design = |r: &Row| -> DVector<f64> {
        DVector::from_iterator(
            parameters,
            std::iter::once(1.0)
                .chain(r.drivers.iter().copied())
                .chain(r.controls.iter().copied()),
        )
    };
    // X'WX and X'Wy.
    let mut xtx = DMatrix::<f64>::zeros(parameters, parameters);
    let mut xty = DVector::<f64>::zeros(parameters);
    for row in &rows {
        let x = design(row);
        xtx += row.weight * &x * x.transpose();
        xty += row.weight * row.score * &x;
    }
    let moments = Moments::of(&rows, k, c, n);
    let vifs: Vec<f64> = (0..k).map(|j| moments.vif(j, k + c)).collect();
    if let Some(worst) = (0..k)
        .filter(|j| vifs[*j].is_nan() || vifs[*j] >= SINGULAR_VIF)
        .max_by(|a, b| vifs[*a].total_cmp(&vifs[*b]))
    {
        return Err(DriverError::Collinear(worst));
    }
    let cholesky = xtx.clone().cholesky().ok_or(DriverError::Singular)?;
    let beta = cholesky.solve(&xty);
    let bread = cholesky.inverse();
    // HC3: Σ w e² / (1 − h)² · x x', sandwiched.
    let mut meat = DMatrix::<f64>::zeros(parameters, parameters);
    let mean_y = rows.iter().map(|r| r.weight * r.score).sum::<f64>() / n;
    let (mut ssr, mut sst) = (0.0, 0.0);
    for row in &rows {
        let x = design(row);
        let residual = row.score - beta.dot(&x);
        let leverage = (x.transpose() * &bread * &x)[(0, 0)];
        let scale = residual / (1.0 - leverage);
        meat += row.weight * scale * scale * &x * x.transpose();
        ssr += row.weight * residual * residual;
        sst += row.weight * (row.score - mean_y).powi(2);
    }
    let covariance = &bread * meat * &bread;
    let r2 = if sst > 0.0 { 1.0 - ssr / sst } else { 0.0 };
    let r2_adjusted = 1.0 - (n - 1.0) / (n - parameters as f64) * (1.0 - r2);

    let importance = lmg(&moments, k, c);
    let p_values: Vec<f64> = (1..=k)
        .map(|i| two_sided_p(beta[i] / covariance[(i, i)].sqrt()))
        .collect();
    let adjusted = holm(&p_values);
    let drivers = (0..k)
        .map(|j| {
            let (coefficient, se) = (beta[j + 1], covariance[(j + 1, j + 1)].sqrt());
            let mentions: f64 = rows.iter().map(|r| r.weight * r.drivers[j]).sum();
            let scored: f64 = rows.iter().map(|r| r.weight * r.drivers[j] * r.score).sum();
            DriverEstimate {
                coefficient,
                se,
                ci95: (coefficient - Z95 * se, coefficient + Z95 * se),
                p_value: p_values[j],
                p_holm: adjusted[j],
                importance: importance.0[j],
                prevalence: mentions / n,
                mentions,
                performance: scored / mentions,
                vif: vifs[j],
            }
        })
        .collect();
    Ok(Model {
        n,
        r2,
        r2_adjusted,
        r2_controls: importance.1,
        intercept: beta[0],
        control_effects: (0..c).map(|i| beta[1 + k + i]).collect(),
        drivers,
    })
}

/// Percentile bootstrap 95 % intervals of each driver's LMG importance: `resamples`
/// multinomial resamples of the records (pattern by pattern, each a binomial draw of what is
/// left), from a fixed `seed`, so the same data always give the same intervals.
pub fn importance_intervals(rows: &[Row], resamples: usize, seed: u64) -> Vec<(f64, f64)> {
    let k = rows.first().map_or(0, |r| r.drivers.len());
    let c = rows.first().map_or(0, |r| r.controls.len());
    let total: f64 = rows.iter().map(|r| r.weight).sum();
    let mut random = ChaCha8Rng::seed_from_u64(seed);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); k];
    for _ in 0..resamples {
        let (mut left, mut left_weight) = (total.round() as u64, total);
        let mut resample: Vec<&Row> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for row in rows {
            let p = (row.weight / left_weight).clamp(0.0, 1.0);
            let drawn = Binomial::new(left, p).map_or(0, |b| b.sample(&mut random));
            left -= drawn;
            left_weight -= row.weight;
            if drawn > 0 {
                resample.push(row);
                weights.push(drawn as f64);
            }
        }
        let moments = Moments::weighted(&resample, &weights, k, c);
        for (j, importance) in lmg(&moments, k, c).0.into_iter().enumerate() {
            draws[j].push(importance);
        }
    }
    draws
        .into_iter()
        .map(|mut d| {
            d.sort_by(f64::total_cmp);
            (quantile(&d, 0.025), quantile(&d, 0.975))
        })
        .collect()
}

/// The `q` quantile of sorted values, interpolating (R's type 7).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = q * (sorted.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (at - at.floor())
}

/// Weighted covariances of the regressors (drivers, then controls) and with the score: every
/// subset model's R² follows from them without touching the rows again.
struct Moments {
    /// Covariance matrix of the regressors.
    xx: DMatrix<f64>,
    /// Covariance of each regressor with the score.
    xy: DVector<f64>,
    /// Variance of the score.
    yy: f64,
}

impl Moments {
    fn of(rows: &[&Row], k: usize, c: usize, n: f64) -> Moments {
        let weights: Vec<f64> = rows.iter().map(|r| r.weight).collect();
        debug_assert!((weights.iter().sum::<f64>() - n).abs() <= 1e-9 * n.max(1.0));
        Moments::weighted(rows, &weights, k, c)
    }

    /// The moments of `rows` counted with `weights` instead of their own.
    fn weighted(rows: &[&Row], weights: &[f64], k: usize, c: usize) -> Moments {
        let n: f64 = weights.iter().sum();
        let p = k + c;
        let values = |r: &Row| -> DVector<f64> {
            DVector::from_iterator(p, r.drivers.iter().chain(&r.controls).copied())
        };
        let mut mean = DVector::<f64>::zeros(p);
        let mut mean_y = 0.0;
        for (row, &weight) in rows.iter().zip(weights) {
            mean += weight * values(row);
            mean_y += weight * row.score;
        }
        mean /= n;
        mean_y /= n;
        let (mut xx, mut xy, mut yy) = (DMatrix::zeros(p, p), DVector::zeros(p), 0.0);
        for (row, &weight) in rows.iter().zip(weights) {
            let d = values(row) - &mean;
            let e = row.score - mean_y;
            xx += weight * &d * d.transpose();
            xy += weight * e * &d;
            yy += weight * e * e;
        }
        Moments { xx, xy, yy }
    }

    /// R² of the score on the regressors at `columns`.
    fn r2(&self, columns: &[usize]) -> f64 {
        if columns.is_empty() || self.yy <= 0.0 {
            return 0.0;
        }
        let sub = self.xx.select_rows(columns).select_columns(columns);
        let c = self.xy.select_rows(columns);
        let explained = match sub.clone().cholesky() {
            Some(cholesky) => c.dot(&cholesky.solve(&c)),
            // A singular subset explains what its independent part explains.
            None => sub
                .svd(true, true)
                .solve(&c, 1e-12)
                .map_or(0.0, |b| c.dot(&b)),
        };
        (explained / self.yy).clamp(0.0, 1.0)
    }

    /// The moments of the first `k` regressors and the score after partialling out the `c`
    /// controls that follow them; `yy` stays the score's total variation, so `explained`
    /// gives R² beyond the controls.
    fn without_controls(&self, k: usize, c: usize) -> Moments {
        let drivers: Vec<usize> = (0..k).collect();
        let xx = self.xx.select_rows(&drivers).select_columns(&drivers);
        let xy = self.xy.select_rows(&drivers);
        if c == 0 {
            return Moments {
                xx,
                xy,
                yy: self.yy,
            };
        }
        let controls: Vec<usize> = (k..k + c).collect();
        let cc = self.xx.select_rows(&controls).select_columns(&controls);
        let cd = self.xx.select_rows(&controls).select_columns(&drivers);
        let cy = self.xy.select_rows(&controls);
        // Σ_CC⁻¹ [Σ_CD | Σ_Cy], by SVD: channel and market dummies may be collinear.
        let mut rhs = DMatrix::<f64>::zeros(c, k + 1);
        rhs.columns_mut(0, k).copy_from(&cd);
        rhs.set_column(k, &cy);
        let solved = cc
            .svd(true, true)
            .solve(&rhs, 1e-12)
            .unwrap_or_else(|_| DMatrix::zeros(c, k + 1));
        let (a, b) = (solved.columns(0, k), solved.column(k));
        Moments {
            xx: xx - cd.transpose() * a,
            xy: xy - cd.transpose() * b,
            yy: self.yy,
        }
    }

    /// VIF of regressor `j` among the first `p`.
    fn vif(&self, j: usize, p: usize) -> f64 {
        let others: Vec<usize> = (0..p).filter(|i| *i != j).collect();
        let variance = self.xx[(j, j)];
        if variance <= 0.0 {
            return f64::INFINITY;
        }
        if others.is_empty() {
            return 1.0;
        }
        let sub = self.xx.select_rows(&others).select_columns(&others);
        let c = self.xx.column(j).select_rows(&others);
        let explained = sub
            .svd(true, true)
            .solve(&c, 1e-12)
            .map_or(0.0, |b| c.dot(&b));
        let r2 = (explained / variance).clamp(0.0, 1.0);
        if r2 >= 1.0 {
            f64::INFINITY
        } else {
            1.0 / (1.0 - r2)
        }
    }
}

/// LMG importance of each of the `k` drivers (regressors `0..k`), with the `c` controls
/// (regressors `k..k + c`) in every model; also the controls' own R².
fn lmg(moments: &Moments, k: usize, c: usize) -> (Vec<f64>, f64) {
    // With the controls in every model, only what the drivers add beyond them matters:
    // partial the controls out once (Frisch-Waugh-Lovell) and every subset model is a
    // k-dimensional one, however many market and channel effects there are.
    let partial = moments.without_controls(k, c);
    let drivers: Vec<usize> = (0..k).collect();
    // R² of every subset of drivers (bit i: driver i) on top of the controls.
    let r2: Vec<f64> = (0u32..1 << k)
        .map(|subset| {
            let columns: Vec<usize> = drivers
                .iter()
                .copied()
                .filter(|i| subset & (1 << i) != 0)
                .collect();
            partial.r2(&columns)
        })
        .collect();
    let factorial = |m: usize| (1..=m).map(|i| i as f64).product::<f64>();
    let importance = (0..k)
        .map(|j| {
            (0u32..1 << k)
                .filter(|subset| subset & (1 << j) == 0)
                .map(|subset| {
                    let size = subset.count_ones() as usize;
                    let weight = factorial(size) * factorial(k - size - 1) / factorial(k);
                    weight * (r2[(subset | 1 << j) as usize] - r2[subset as usize])
                })
                .sum()
        })
        .collect();
    (importance, moments.r2(&(k..k + c).collect::<Vec<_>>()))
}

/// What a market's records look like to the analysis: a score, the topics mentioned (bit
/// `i`: `topics[i]`), the groups it belongs to (e.g. its channel; market and channel when
/// several markets are modelled together) and how many records it stands for.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub score: f64,
    pub mentions: u32,
    /// Values of the numeric drivers (sub-ratings), in the order of their names.
    pub values: Vec<f64>,
    pub groups: Vec<String>,
    pub weight: f64,
}

/// Thresholds of disclosure for a driver model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverRules {
    /// No model below this many records.
    pub n_min: u64,
    /// Drivers mentioned fewer times are left out (never below the privacy floor).
    pub min_mentions: u64,
    /// VIF above which a driver is flagged as collinear.
    pub vif_limit: u64,
    /// Bootstrap resamples for the importance intervals; 0: none.
    pub bootstrap: usize,
}

/// The bootstrap's seed: the same data always give the same intervals.
const BOOTSTRAP_SEED: u64 = 20_261_124;

/// A driver model with what went into it and what was left out, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverAnalysis {
    /// Records.
    pub n: u64,
    /// The model; `None` with `reason`.
    pub model: Option<Model>,
    /// Topic ids in the model, in the order of `model.drivers`.
    pub drivers: Vec<String>,
    /// Topics left out, with the reason.
    pub left_out: Vec<(String, String)>,
    pub reason: Option<String>,
    /// Bootstrap 95 % interval of each driver's importance (empty without a bootstrap).
    pub importance_ci95: Vec<(f64, f64)>,
}

/// A column of a driver model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    /// Topic `i`, by its bit.
    Topic(usize),
    /// Numeric driver `i`.
    Numeric(usize),
}

/// Fits the model of `observations` on the topics mentioned often enough, with one fixed
/// effect per group level beyond the first of each group dimension.
pub fn analyse(
    observations: &[Observation],
    topics: &[String],
    numeric: &[String],
    rules: &DriverRules,
) -> DriverAnalysis {
    let n: f64 = observations.iter().map(|o| o.weight).sum();
    let mut analysis = DriverAnalysis {
        n: n as u64,
        model: None,
        drivers: Vec::new(),
        left_out: Vec::new(),
        reason: None,
        importance_ci95: Vec::new(),
    };
    if analysis.n < rules.n_min {
        analysis.reason = Some(format!(
            "{} commented records, fewer than n_min = {}",
            analysis.n, rules.n_min
        ));
        return analysis;
    }
    // Columns of the model: topics (by bit) and numeric drivers (by position).
    let mut kept: Vec<Column> = Vec::new();
    for (i, topic) in topics.iter().enumerate() {
        let mentions: f64 = observations
            .iter()
            .filter(|o| o.mentions & (1 << i) != 0)
            .fold(0.0, |sum, o| sum + o.weight);
        if (mentions as u64) < rules.min_mentions {
            analysis.left_out.push((
                topic.clone(),
                format!(
                    "{} mentions, fewer than {}",
                    mentions as u64, rules.min_mentions
                ),
            ));
        } else if n - mentions < rules.min_mentions as f64 {
            analysis.left_out.push((
                topic.clone(),
                format!(
                    "mentioned by all but {} records: nothing to compare with",
                    (n - mentions) as u64
                ),
            ));
        } else if kept.len() == MAX_DRIVERS {
            analysis
                .left_out
                .push((topic.clone(), format!("more than {MAX_DRIVERS} drivers")));
        } else {
            kept.push(Column::Topic(i));
        }
    }
    kept.extend((0..numeric.len()).map(Column::Numeric));
    if kept.is_empty() {
        analysis.reason = Some("no topic is mentioned often enough".into());
        return analysis;
    }
    let name = |column: &Column| match column {
        Column::Topic(i) => topics[*i].clone(),
        Column::Numeric(i) => numeric[*i].clone(),
    };
    // Levels of each group dimension; the first level of each is the reference.
    let dimensions = observations.first().map_or(0, |o| o.groups.len());
    let levels: Vec<Vec<&str>> = (0..dimensions)
        .map(|d| {
            let mut values: Vec<&str> = observations.iter().map(|o| o.groups[d].as_str()).collect();
            values.sort_unstable();
            values.dedup();
            values
        })
        .collect();
    let rows: Vec<Row> = observations
        .iter()
        .map(|o| Row {
            score: o.score,
            drivers: kept
                .iter()
                .map(|column| match column {
                    Column::Topic(i) => f64::from(u8::from(o.mentions & (1 << i) != 0)),
                    Column::Numeric(i) => o.values[*i],
                })
                .collect(),
            controls: levels
                .iter()
                .enumerate()
                .flat_map(|(d, values)| {
                    values[1..]
                        .iter()
                        .map(move |level| f64::from(u8::from(o.groups[d] == *level)))
                })
                .collect(),
            weight: o.weight,
        })
        .collect();
    // A topic the others determine (every comment mentions exactly one of them) has no
    // coefficient of its own: leave it out, say why, and fit the rest.
    let mut rows = rows;
    loop {
        match fit(&rows) {
            Ok(mut model) => {
                analysis.drivers = kept.iter().map(name).collect();
                // A numeric driver is present in every record: its "performance" is its
                // mean value.
                for (j, column) in kept.iter().enumerate() {
                    if let Column::Numeric(_) = column {
                        let driver = &mut model.drivers[j];
                        let total: f64 = rows.iter().map(|r| r.weight * r.drivers[j]).sum();
                        driver.performance = total / model.n;
                        driver.mentions = model.n;
                        driver.prevalence = 1.0;
                    }
                }
                analysis.model = Some(model);
                if rules.bootstrap > 0 {
                    analysis.importance_ci95 =
                        importance_intervals(&rows, rules.bootstrap, BOOTSTRAP_SEED);
                }
                return analysis;
            }
            Err(DriverError::Collinear(j)) if kept.len() > 1 => {
                analysis.left_out.push((
                    name(&kept[j]),
                    "determined by the other drivers (perfectly collinear); its effect is in theirs"
                        .into(),
                ));
                kept.remove(j);
                for row in &mut rows {
                    row.drivers.remove(j);
                }
            }
            Err(error) => {
                analysis.reason = Some(error.to_string());
                return analysis;
            }
        }
    }
}

impl DriverEstimate {
    /// Whether this driver moves with the others too much to be told apart.
    pub fn collinear(&self, rules: &DriverRules) -> bool {
        self.vif > rules.vif_limit as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `tests/reference/drivers/data.csv` as rows (drivers: 4 topics; control: channel).
    fn reference_rows() -> Vec<Row> {
        include_str!("../../../tests/reference/drivers/data.csv")
            .lines()
            .skip(1)
            .map(|line| {
                let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
                Row {
                    score: v[0],
                    drivers: v[2..].to_vec(),
                    controls: vec![v[1]],
                    weight: 1.0,
                }
            })
            .collect()
    }

    fn expected() -> serde_json::Value {
        serde_json::from_str(include_str!(
            "../../../tests/reference/drivers/expected.json"
        ))
        .unwrap()
    }

    fn close(name: &str, actual: f64, expected: &serde_json::Value) {
        let expected = expected.as_f64().unwrap();
        assert!(
            (actual - expected).abs() < 1e-6,
            "{name}: {actual} vs statsmodels {expected}"
        );
    }

    #[test]
    fn matches_statsmodels_ols_hc3_vif_and_lmg() {
        let model = fit(&reference_rows()).unwrap();
        let e = expected();
        close("n", model.n, &e["n"]);
        close("r2", model.r2, &e["r2"]);
        close("r2_adj", model.r2_adjusted, &e["r2_adj"]);
        close("r2 controls", model.r2_controls, &e["r2_controls_only"]);
        close("intercept", model.intercept, &e["intercept"]);
        close("channel", model.control_effects[0], &e["channel_effect"]);
        for (j, driver) in model.drivers.iter().enumerate() {
            close("coefficient", driver.coefficient, &e["coefficients"][j]);
            close("hc3 se", driver.se, &e["hc3_se"][j]);
            close("p", driver.p_value, &e["p_values"][j]);
            close("lmg", driver.importance, &e["lmg"][j]);
            close("vif", driver.vif, &e["vif"][j]);
        }
    }

    #[test]
    fn weighted_rows_equal_the_rows_they_stand_for() {
        let rows = reference_rows();
        let mut collapsed: Vec<Row> = Vec::new();
        for row in &rows {
            match collapsed.iter_mut().find(|c| {
                c.score == row.score && c.drivers == row.drivers && c.controls == row.controls
            }) {
                Some(c) => c.weight += 1.0,
                None => collapsed.push(row.clone()),
            }
        }
        assert!(collapsed.len() < rows.len());
        let (a, b) = (fit(&rows).unwrap(), fit(&collapsed).unwrap());
        for (x, y) in a.drivers.iter().zip(&b.drivers) {
            assert!((x.coefficient - y.coefficient).abs() < 1e-9);
            assert!((x.se - y.se).abs() < 1e-9, "HC3 with weights");
            assert!((x.importance - y.importance).abs() < 1e-9);
        }
        assert!((a.r2 - b.r2).abs() < 1e-12);
    }

    #[test]
    fn bad_designs_are_refused_with_the_reason() {
        assert_eq!(fit(&[]), Err(DriverError::DriverCount(0)));
        let row = |score: f64, d: f64| Row {
            score,
            drivers: vec![d, d],
            controls: vec![],
            weight: 10.0,
        };
        // Two identical drivers: the second is determined by the first.
        assert_eq!(
            fit(&[row(1.0, 0.0), row(5.0, 1.0), row(3.0, 0.0)]),
            Err(DriverError::Collinear(1))
        );
        assert!(matches!(
            fit(&[Row {
                weight: 2.0,
                ..row(1.0, 1.0)
            }]),
            Err(DriverError::TooFew(2, 3))
        ));
    }

    /// A small seeded generator for the simulations (SplitMix64).
    struct Seeded(u64);

    impl Seeded {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Standard normal (Box-Muller).
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next().max(1e-300), self.next());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    #[test]
    fn a_driver_without_effect_has_an_interval_covering_zero_in_95_percent_of_samples() {
        let mut random = Seeded(17);
        let mut covered = 0;
        for _ in 0..500 {
            let rows: Vec<Row> = (0..300)
                .map(|_| {
                    let a = f64::from(u8::from(random.next() < 0.4));
                    let b = f64::from(u8::from(random.next() < 0.3 + 0.3 * a));
                    let none = f64::from(u8::from(random.next() < 0.25 + 0.2 * b));
                    // Heteroskedastic noise, which HC3 is for.
                    let noise = random.normal() * (1.5 + a);
                    Row {
                        score: 7.0 - 2.0 * a + 1.0 * b + noise,
                        drivers: vec![a, b, none],
                        controls: vec![],
                        weight: 1.0,
                    }
                })
                .collect();
            let (low, high) = fit(&rows).unwrap().drivers[2].ci95;
            covered += usize::from(low <= 0.0 && 0.0 <= high);
        }
        assert!(covered >= 470, "covered 0 in {covered} of 500");
    }

    proptest! {
        // A property of arithmetic, not a parser of outside input: a few hundred cases.
        #![proptest_config(ProptestConfig { cases: 300, ..crate::fuzz::config() })]

        /// Row order changes nothing, and the importances add up to what the drivers
        /// explain beyond the controls.
        #[test]
        fn order_is_irrelevant_and_importances_add_up(
            seed in 0u64..1000,
            rotate in 1usize..50,
        ) {
            let mut random = Seeded(seed);
            let rows: Vec<Row> = (0..60)
                .map(|_| {
                    let d: Vec<f64> = (0..3).map(|_| f64::from(u8::from(random.next() < 0.4))).collect();
                    let control = f64::from(u8::from(random.next() < 0.5));
                    Row {
                        score: (10.0 * random.next()).round() - 2.0 * d[0] + d[1],
                        drivers: d,
                        controls: vec![control],
                        weight: 1.0 + (random.next() * 3.0).floor(),
                    }
                })
                .collect();
            let Ok(model) = fit(&rows) else { return Ok(()) };
            let mut turned = rows.clone();
            turned.rotate_left(rotate % rows.len());
            turned.reverse();
            let other = fit(&turned).unwrap();
            for (a, b) in model.drivers.iter().zip(&other.drivers) {
                prop_assert!((a.coefficient - b.coefficient).abs() < 1e-9);
                prop_assert!((a.se - b.se).abs() < 1e-9);
                prop_assert!((a.importance - b.importance).abs() < 1e-9);
            }
            let total: f64 = model.drivers.iter().map(|d| d.importance).sum();
            prop_assert!((total - (model.r2 - model.r2_controls)).abs() < 1e-9);
        }
    }

    #[test]
    fn rare_topics_are_left_out_small_markets_get_no_model_and_groups_become_controls() {
        let rules = DriverRules {
            n_min: 30,
            min_mentions: 10,
            vif_limit: 5,
            bootstrap: 0,
        };
        let topics = vec!["delivery".to_owned(), "rare".to_owned()];
        let observation = |score: f64, mentions: u32, channel: &str, weight: f64| Observation {
            score,
            mentions,
            values: vec![],
            groups: vec![channel.to_owned()],
            weight,
        };
        let rows = vec![
            observation(3.0, 0b01, "app", 20.0),
            observation(9.0, 0b00, "app", 25.0),
            observation(4.0, 0b01, "web", 15.0),
            observation(8.0, 0b00, "web", 30.0),
            observation(6.0, 0b11, "web", 3.0),
            observation(7.0, 0b00, "app", 10.0),
        ];
        let analysis = analyse(&rows, &topics, &[], &rules);
        assert_eq!(analysis.n, 103);
        assert_eq!(analysis.drivers, vec!["delivery"]);
        assert_eq!(analysis.left_out.len(), 1);
        assert!(
            analysis.left_out[0].1.contains("3 mentions"),
            "{:?}",
            analysis.left_out
        );
        let model = analysis.model.unwrap();
        assert_eq!(model.control_effects.len(), 1, "web against app");
        assert!(model.drivers[0].coefficient < -3.0);
        let small = analyse(&rows[..1], &topics, &[], &rules);
        assert_eq!(small.model, None);
        assert!(small.reason.unwrap().contains("n_min"));
    }

    #[test]
    fn a_topic_the_others_determine_is_left_out_with_the_reason() {
        let rules = DriverRules {
            n_min: 10,
            min_mentions: 5,
            vif_limit: 5,
            bootstrap: 0,
        };
        let topics: Vec<String> = ["a", "b", "c"].iter().map(|t| (*t).to_owned()).collect();
        // Every comment mentions exactly one topic: c = 1 − a − b.
        let rows: Vec<Observation> = [
            (0b001, 3.0, 12.0),
            (0b010, 6.0, 9.0),
            (0b100, 9.0, 15.0),
            (0b001, 4.0, 6.0),
            (0b100, 8.0, 7.0),
        ]
        .iter()
        .map(|(mentions, score, weight)| Observation {
            score: *score,
            mentions: *mentions,
            values: vec![],
            groups: vec![],
            weight: *weight,
        })
        .collect();
        let analysis = analyse(&rows, &topics, &[], &rules);
        assert_eq!(analysis.drivers.len(), 2, "{analysis:?}");
        assert_eq!(analysis.left_out.len(), 1);
        assert!(analysis.left_out[0].1.contains("collinear"));
        let model = analysis.model.unwrap();
        assert!(model
            .drivers
            .iter()
            .all(|d| d.se.is_finite() && d.se < 10.0));
    }

    #[test]
    fn bootstrap_intervals_are_seeded_and_hold_the_estimate() {
        let rows = reference_rows();
        let model = fit(&rows).unwrap();
        let intervals = importance_intervals(&rows, 200, 7);
        assert_eq!(
            intervals,
            importance_intervals(&rows, 200, 7),
            "same seed, same answer"
        );
        for (driver, (low, high)) in model.drivers.iter().zip(&intervals) {
            assert!(low <= high && *low >= 0.0);
            assert!(
                (*low..=*high).contains(&driver.importance),
                "{} outside [{low}, {high}]",
                driver.importance
            );
        }
        // Delivery explains a quarter of the variance: its interval is far from 0.
        assert!(intervals[0].0 > 0.1, "{intervals:?}");
    }

    #[test]
    fn a_numeric_driver_enters_the_model_with_its_mean_as_performance() {
        let rules = DriverRules {
            n_min: 10,
            min_mentions: 5,
            vif_limit: 5,
            bootstrap: 0,
        };
        let topics = vec!["delivery".to_owned()];
        // Score = 2 + 1.5 · ease − 2 · delivery, exactly.
        let rows: Vec<Observation> = [
            (0b1, 2.0, 8.0),
            (0b0, 2.0, 7.0),
            (0b1, 4.0, 6.0),
            (0b0, 4.0, 9.0),
            (0b0, 1.0, 5.0),
        ]
        .iter()
        .map(|(mentions, ease, weight)| Observation {
            score: 2.0 + 1.5 * ease - 2.0 * f64::from(*mentions),
            mentions: *mentions,
            values: vec![*ease],
            groups: vec![],
            weight: *weight,
        })
        .collect();
        let analysis = analyse(&rows, &topics, &["ease".to_owned()], &rules);
        assert_eq!(analysis.drivers, vec!["delivery", "ease"]);
        let model = analysis.model.unwrap();
        assert!((model.drivers[0].coefficient + 2.0).abs() < 1e-9);
        assert!((model.drivers[1].coefficient - 1.5).abs() < 1e-9);
        let mean_ease = (2.0 * 8.0 + 2.0 * 7.0 + 4.0 * 6.0 + 4.0 * 9.0 + 5.0) / 35.0;
        assert!((model.drivers[1].performance - mean_ease).abs() < 1e-12);
        assert_eq!(model.drivers[1].prevalence, 1.0);
    }
}
