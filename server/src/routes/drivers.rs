//! `GET /api/v1/drivers`: what moves NPS (or CSAT) in each market in scope, and in all of
//! them together: a regression of the score on the topics commenters mention, with channel
//! (and market) fixed effects, HC3 intervals, Holm-adjusted p-values and LMG importance
//! (`analysis::drivers`). Scoped like `/topics`; one programme at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::compare::programme_channels;
use super::openapi::ErrorBody;
use super::params::{self, CellFilters};
use super::TopicList;
use crate::analysis::drivers::{analyse, DriverAnalysis, DriverRules, Observation};
use crate::analysis::estimate::Interval;
use crate::analysis::scale::Measure;
use crate::catalog::Catalog;
use crate::config::AnalysisSettings;
use crate::dates::DateRange;
use crate::domain::{MarketCode, Programme};
use crate::error::ApiError;
use crate::federation::{FederationStatus, NodeRole, Residency};
use crate::permission::FeedbackReader;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::queries::CellQuery;
use crate::warehouse::{DriverPattern, Warehouse};

/// A driver is flagged as collinear above this variance inflation factor.
const VIF_LIMIT: u64 = 5;

/// Bootstrap resamples for the importance intervals unless the caller says otherwise, and
/// the most a caller may ask for.
const DEFAULT_BOOTSTRAP: usize = 200;
const MAX_BOOTSTRAP: usize = 1000;
/// More mentions than any warehouse holds per topic and market.
const MAX_MIN_MENTIONS: u64 = 1_000_000;

/// Query string of `/api/v1/drivers`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DriverParams {
    /// Comma list of market codes (default: every market in scope).
    markets: Option<String>,
    /// Comma list of channels of the programme (default: all of them).
    channels: Option<String>,
    /// `transactional` (default) or `relational`.
    #[param(pattern = "^(transactional|relational)$")]
    programme: Option<String>,
    /// First day, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last day included, `YYYY-MM-DD`.
    to: Option<String>,
    /// `nps` (default) or `csat`.
    #[param(pattern = "^(nps|csat)$")]
    measure: Option<String>,
    /// Topics mentioned fewer times are left out (default `n_min`; never below the privacy
    /// floor, which it is raised to).
    #[param(minimum = 0, maximum = 1_000_000)]
    min_mentions: Option<u64>,
    /// Bootstrap resamples for the importance intervals (default 200; 0: none).
    #[param(minimum = 0, maximum = 1000)]
    bootstrap: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DriverView {
    topic: String,
    name: String,
    /// Change in the score when a comment mentions the topic, other topics and channel equal.
    coefficient: f64,
    /// HC3 standard error.
    se: f64,
    ci95: Interval,
    p_value: f64,
    /// Holm-adjusted across this model's drivers.
    p_holm: f64,
    /// `p_holm` < 0.05.
    significant: bool,
    /// LMG share of R².
    importance: f64,
    /// Seeded bootstrap 95 % interval of `importance` (absent with `bootstrap=0`).
    #[serde(skip_serializing_if = "Option::is_none")]
    importance_ci95: Option<Interval>,
    /// `importance` / R² of the drivers: their ranking, summing to 1.
    importance_share: f64,
    /// Share of commented records mentioning the topic.
    prevalence: f64,
    mentions: u64,
    vif: f64,
    /// VIF above 5: moves with other topics too much to be told apart.
    collinear: bool,
    /// Mean score of the records mentioning the topic.
    performance: f64,
    /// Focus areas: the same topic's importance and performance in all markets in scope
    /// together, when they are modelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    all_markets: Option<Focus>,
}

#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
struct Focus {
    importance: f64,
    importance_share: f64,
    performance: f64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct LeftOut {
    topic: String,
    reason: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MarketDrivers {
    /// A market code, or `*` for all markets in scope together (market fixed effects).
    market: String,
    /// Commented records with a score.
    n: u64,
    r2: Option<f64>,
    r2_adjusted: Option<f64>,
    /// Why there is no model.
    reason: Option<String>,
    /// Most important first.
    drivers: Vec<DriverView>,
    left_out: Vec<LeftOut>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = DriverAnswer)]
struct Answer {
    measure: Measure,
    programme: Programme,
    n_min: u64,
    privacy_floor: u64,
    min_mentions: u64,
    markets: Vec<MarketDrivers>,
    /// All markets in scope together; absent with fewer than two.
    #[serde(skip_serializing_if = "Option::is_none")]
    all_markets: Option<MarketDrivers>,
}

/// Key drivers of a score per market: which topics and attributes move it, with intervals.
#[utoipa::path(get, path = "/api/v1/drivers", tag = "analysis", params(DriverParams),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
// Extractors: one argument per thing the route reads.
#[allow(clippy::too_many_arguments)]
pub async fn drivers(
    caller: FeedbackReader,
    params: web::Query<DriverParams>,
    warehouse: web::Data<Arc<Warehouse>>,
    analysis: web::Data<AnalysisSettings>,
    catalog: web::Data<Arc<Catalog>>,
    list: web::Data<TopicList>,
    dates: web::Data<DateRange>,
    federation: web::Data<Arc<FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let measure = match params.measure.as_deref().map(Measure::parse) {
        None => Measure::Nps,
        Some(Some(measure @ (Measure::Nps | Measure::Csat))) => measure,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_measure",
                "measure must be nps or csat",
            ))
        }
    };
    let programme = params::programme(params.programme.as_deref(), Programme::default())?;
    let min_mentions = params.min_mentions.unwrap_or(analysis.n_min);
    if min_mentions > MAX_MIN_MENTIONS {
        return Err(ApiError::bad_request(
            "invalid_min_mentions",
            format!("min_mentions must be 0-{MAX_MIN_MENTIONS}"),
        ));
    }
    // A topic mentioned by fewer people than the privacy floor would disclose them.
    let min_mentions = min_mentions.max(analysis.privacy_floor.max(1));
    let channels = programme_channels(&catalog, programme, params.channels.as_deref())?;
    let mut query = CellFilters {
        markets: params.markets.as_deref(),
        channels: None,
        from: params.from.as_deref(),
        to: params.to.as_deref(),
        dates: &dates,
        catalog: &catalog,
    }
    .query(&caller, measure, None)?;
    query.channels = Some(channels.into_iter().collect());
    let asked: Vec<MarketCode> = match &query.markets {
        Some(codes) => codes
            .iter()
            .filter_map(|c| MarketCode::parse(c).ok())
            .collect(),
        None => catalog.markets().map(|(code, _)| code.clone()).collect(),
    };
    let topics: Vec<String> = list.0.iter().map(|(id, _)| id.clone()).collect();
    let numeric: Vec<String> = analysis.numeric_drivers.keys().cloned().collect();
    let at_headquarters = federation.role() == NodeRole::Hq;
    // Headquarters holds no records of a regional market: it models its region's counts.
    let counted: BTreeSet<String> = asked
        .iter()
        .filter(|code| {
            at_headquarters
                && catalog
                    .market(code)
                    .is_some_and(|m| m.residency == Residency::Regional)
        })
        .map(MarketCode::to_string)
        .collect();
    let from_counts = CellQuery {
        markets: Some(counted.iter().cloned().collect()),
        ..query.clone()
    };
    if at_headquarters {
        query.markets = Some(
            asked
                .iter()
                .map(MarketCode::to_string)
                .filter(|code| !counted.contains(code))
                .collect(),
        );
    }
    let warehouse = warehouse.get_ref().clone();
    let (wanted, attributes) = (topics.clone(), numeric.clone());
    let patterns = spawn_blocking_with_tracing(move || {
        warehouse.driver_patterns_and_counts(&query, &from_counts, &wanted, &attributes)
    })
    .await??;
    let bootstrap = params.bootstrap.unwrap_or(DEFAULT_BOOTSTRAP);
    if bootstrap > MAX_BOOTSTRAP {
        return Err(ApiError::bad_request(
            "invalid_bootstrap",
            format!("bootstrap must be 0-{MAX_BOOTSTRAP} resamples"),
        ));
    }
    let rules = DriverRules {
        n_min: analysis.n_min.max(analysis.privacy_floor),
        min_mentions,
        vif_limit: VIF_LIMIT,
        bootstrap,
    };
    let numeric_names = analysis.numeric_drivers.clone();
    let name_of = |id: &str| {
        list.0
            .iter()
            .find(|(t, _)| t == id)
            .map(|(_, name)| name.clone())
            .or_else(|| numeric_names.get(id).cloned())
            .unwrap_or_else(|| id.to_owned())
    };
    let (markets, all) = spawn_blocking_with_tracing(move || {
        let mut by_market: BTreeMap<&str, Vec<Observation>> = BTreeMap::new();
        for pattern in &patterns {
            by_market
                .entry(&pattern.market)
                .or_default()
                .push(observation(pattern, vec![pattern.channel.clone()]));
        }
        // Markets are independent: their models (and bootstraps) use every core.
        // Numeric answers stay in the region: a counted market is modelled on topics alone.
        let numeric_of = |market: &str| match counted.contains(market) {
            true => &[][..],
            false => &numeric[..],
        };
        let markets: Vec<(String, DriverAnalysis)> = by_market
            .par_iter()
            .map(|(market, rows)| {
                let mut analysis = analyse(rows, &topics, numeric_of(market), &rules);
                if counted.contains(*market) {
                    analysis.left_out.extend(
                        numeric
                            .iter()
                            .map(|key| (key.clone(), NUMERIC_STAY.to_owned())),
                    );
                }
                ((*market).to_owned(), analysis)
            })
            .collect();
        // Together, markets share one model: topics alone once any of them is counted.
        let topics_only = !counted.is_empty();
        let all = (by_market.len() > 1).then(|| {
            let rows: Vec<Observation> = patterns
                .iter()
                .map(|p| {
                    let mut row = observation(p, vec![p.market.clone(), p.channel.clone()]);
                    if topics_only {
                        row.values.clear();
                    }
                    row
                })
                .collect();
            analyse(
                &rows,
                &topics,
                if topics_only { &[] } else { &numeric },
                &rules,
            )
        });
        (markets, all)
    })
    .await?;
    let view = |market: String, analysis: DriverAnalysis| shape(market, analysis, &rules, &name_of);
    let all_markets = all.map(|a| view("*".into(), a));
    let mut markets: Vec<MarketDrivers> = markets.into_iter().map(|(m, a)| view(m, a)).collect();
    if let Some(all) = &all_markets {
        for driver in markets.iter_mut().flat_map(|m| m.drivers.iter_mut()) {
            driver.all_markets = all
                .drivers
                .iter()
                .find(|d| d.topic == driver.topic)
                .map(|d| Focus {
                    importance: d.importance,
                    importance_share: d.importance_share,
                    performance: d.performance,
                });
        }
    }
    // Every market asked for is in the answer: one without a model says why.
    let at_headquarters = federation.role() == NodeRole::Hq;
    for code in asked {
        if markets.iter().all(|m| m.market != code.as_str()) {
            let market = catalog.market(&code);
            markets.push(MarketDrivers::without_model(
                code.to_string(),
                no_records_reason(market, at_headquarters),
            ));
        }
    }
    markets.sort_by(|a, b| a.market.cmp(&b.market));
    Ok(HttpResponse::Ok().json(Answer {
        measure,
        programme,
        n_min: analysis.n_min,
        privacy_floor: analysis.privacy_floor,
        min_mentions,
        markets,
        all_markets,
    }))
}

/// Why a market asked for has nothing to model.
fn no_records_reason(market: Option<&crate::catalog::Market>, at_headquarters: bool) -> String {
    match market {
        Some(market) if at_headquarters && market.residency == Residency::Regional => {
            let node = market
                .node_url
                .as_deref()
                .map_or(String::new(), |url| format!(" ({url})"));
            format!(
                "{}'s region{node} has sent no counts of commented records with a score in the \
                 period (its records stay in the region)",
                market.name
            )
        }
        _ => "no commented records with a score in the period".to_owned(),
    }
}

/// Why a numeric driver is left out of a regional market's model at headquarters.
const NUMERIC_STAY: &str =
    "numeric answers stay in the region: modelled by the market's regional node";

impl MarketDrivers {
    fn without_model(market: String, reason: String) -> MarketDrivers {
        MarketDrivers {
            market,
            n: 0,
            r2: None,
            r2_adjusted: None,
            reason: Some(reason),
            drivers: Vec::new(),
            left_out: Vec::new(),
        }
    }
}

fn observation(pattern: &DriverPattern, groups: Vec<String>) -> Observation {
    Observation {
        score: f64::from(pattern.score),
        mentions: pattern.mentions,
        values: pattern.values.clone(),
        groups,
        weight: pattern.n as f64,
    }
}

fn shape(
    market: String,
    analysis: DriverAnalysis,
    rules: &DriverRules,
    name_of: &impl Fn(&str) -> String,
) -> MarketDrivers {
    let left_out = analysis
        .left_out
        .into_iter()
        .map(|(topic, reason)| LeftOut { topic, reason })
        .collect();
    let Some(model) = analysis.model else {
        return MarketDrivers {
            market,
            n: analysis.n,
            r2: None,
            r2_adjusted: None,
            reason: analysis.reason,
            drivers: Vec::new(),
            left_out,
        };
    };
    let explained = model.r2 - model.r2_controls;
    let mut drivers: Vec<DriverView> = analysis
        .drivers
        .iter()
        .zip(&model.drivers)
        .enumerate()
        .map(|(j, (topic, d))| DriverView {
            topic: topic.clone(),
            name: name_of(topic),
            coefficient: d.coefficient,
            se: d.se,
            ci95: Interval {
                low: d.ci95.0,
                high: d.ci95.1,
            },
            p_value: d.p_value,
            p_holm: d.p_holm,
            significant: d.p_holm < 0.05,
            importance: d.importance,
            importance_ci95: analysis.importance_ci95.get(j).map(|(low, high)| Interval {
                low: *low,
                high: *high,
            }),
            importance_share: if explained > 0.0 {
                d.importance / explained
            } else {
                0.0
            },
            prevalence: d.prevalence,
            mentions: d.mentions as u64,
            vif: d.vif,
            collinear: d.collinear(rules),
            performance: d.performance,
            all_markets: None,
        })
        .collect();
    drivers.sort_by(|a, b| b.importance.total_cmp(&a.importance));
    MarketDrivers {
        market,
        n: analysis.n,
        r2: Some(model.r2),
        r2_adjusted: Some(model.r2_adjusted),
        reason: None,
        drivers,
        left_out,
    }
}
