//! `GET /api/v1/compare`: markets side by side on the same footing. Each market's figure is
//! directly standardised over one reference channel mix, with its interval, the cells it was
//! built from, and tests against a chosen market and against its own baseline period.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use super::params;
use crate::analysis::comparison::{
    add_market_tests, adjust_holm, market_answer, rank, Footing, MarketAnswer,
};
use crate::analysis::scale::{Headline, Histogram, Measure};
use crate::analysis::standardise::ReferenceMix;
use crate::catalog::Catalog;
use crate::config::AnalysisSettings;
use crate::dates::DateRange;
use crate::domain::{MarketCode, Programme};
use crate::error::ApiError;
use crate::permission::FeedbackReader;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::queries::{CellKey, CellQuery};
use crate::warehouse::Warehouse;

/// Query string of `/api/v1/compare`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CompareParams {
    /// First day of the period, `YYYY-MM-DD` (required).
    #[param(required = true)]
    from: Option<String>,
    /// Last day of the period, included (required).
    #[param(required = true)]
    to: Option<String>,
    /// Comma list of markets; default: every market in the caller's scope.
    markets: Option<String>,
    /// `transactional` or `relational`: which programme's channels are compared. Default:
    /// the programme of the configured reference mix, else transactional.
    #[param(pattern = "^(transactional|relational)$")]
    programme: Option<String>,
    /// Restrict the comparison to these channels of the programme (the reference mix is
    /// renormalised).
    channels: Option<String>,
    /// `nps` (default), `csat`, `ces` or `stars`.
    #[param(pattern = "^(nps|csat|ces|stars)$")]
    measure: Option<String>,
    /// Test every market against this one.
    against: Option<String>,
    /// `previous_period` (default: the same number of days just before) or `trailing_12m`.
    baseline: Option<String>,
    /// Standardise over the usable channels when some are missing, flagged.
    partial: Option<bool>,
    /// `none` (default) or `holm`, across the markets compared.
    adjust: Option<String>,
}

/// Which earlier period a market is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum BaselineKind {
    PreviousPeriod,
    Trailing12m,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum Adjustment {
    None,
    Holm,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ComparisonPeriod)]
struct Period {
    from: NaiveDate,
    to: NaiveDate,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MixAnswer {
    /// `config` (set by HQ) or `warehouse` (all markets' mix in the period).
    source: &'static str,
    weights: BTreeMap<String, f64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ComparisonAnswer)]
struct Answer {
    measure: Measure,
    programme: Programme,
    statistic: Headline,
    period: Period,
    baseline: BaselineAnswer,
    reference_mix: MixAnswer,
    partial: bool,
    adjust: Adjustment,
    against: Option<String>,
    n_min: u64,
    privacy_floor: u64,
    markets: Vec<MarketAnswer>,
    /// On headquarters: per market, when its region committed the last change applied.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::dates::rfc3339::map"
    )]
    as_of: Option<std::collections::BTreeMap<String, chrono::NaiveDateTime>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct BaselineAnswer {
    kind: BaselineKind,
    from: NaiveDate,
    to: NaiveDate,
}

/// What the handler asks of the warehouse.
struct Request {
    measure: Measure,
    markets: Vec<String>,
    /// The programme's channels, maybe narrowed by the caller.
    channels: BTreeSet<String>,
    period: (NaiveDate, NaiveDate),
    baseline: (NaiveDate, NaiveDate),
}

/// What the warehouse answers.
struct Counts {
    mix: Option<(ReferenceMix, &'static str)>,
    current: BTreeMap<CellKey, Histogram>,
    baseline: BTreeMap<CellKey, Histogram>,
}

/// Markets compared on one reference channel mix (direct standardisation), with tests.
#[utoipa::path(get, path = "/api/v1/compare", tag = "analysis", params(CompareParams),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn compare(
    caller: FeedbackReader,
    params: web::Query<CompareParams>,
    warehouse: web::Data<Arc<Warehouse>>,
    catalog: web::Data<Arc<Catalog>>,
    analysis: web::Data<AnalysisSettings>,
    dates: web::Data<DateRange>,
    federation: web::Data<Arc<crate::federation::FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let measure = params::measure(params.measure.as_deref())?;
    let from = required_date("from", params.from.as_deref(), &dates)?;
    let to = required_date("to", params.to.as_deref(), &dates)?;
    params::ordered(Some(from), Some(to))?;
    let baseline_kind = match params.baseline.as_deref() {
        None | Some("previous_period") => BaselineKind::PreviousPeriod,
        Some("trailing_12m") => BaselineKind::Trailing12m,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_baseline",
                format!("unknown baseline {other:?}; use previous_period or trailing_12m"),
            ))
        }
    };
    let adjust = match params.adjust.as_deref() {
        None | Some("none") => Adjustment::None,
        Some("holm") => Adjustment::Holm,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_adjust",
                format!("unknown adjustment {other:?}; use none or holm"),
            ))
        }
    };
    let partial = params.partial.unwrap_or(false);

    let mut markets = match caller
        .scope
        .filter(params::markets(params.markets.as_deref(), &catalog)?)?
    {
        Some(markets) => markets,
        None => catalog
            .market_codes()
            .map(|m| m.as_str().to_owned())
            .collect(),
    };
    let against = params::markets(params.against.as_deref(), &catalog)?
        .map(|list| match <[MarketCode; 1]>::try_from(list) {
            Ok([one]) => Ok(one),
            Err(_) => Err(ApiError::bad_request(
                "invalid_market",
                "against names exactly one market",
            )),
        })
        .transpose()?;
    if let Some(against) = &against {
        caller.scope.filter(Some(vec![against.clone()]))?;
        if !markets.iter().any(|m| m == against.as_str()) {
            markets.push(against.as_str().to_owned());
        }
    }
    let baseline = baseline_period(baseline_kind, from, to)?;
    let configured = (!analysis.reference_mix.is_empty())
        .then(|| ReferenceMix::new(analysis.reference_mix.clone()))
        .transpose()
        .map_err(ApiError::Internal)?;
    let configured_programme = configured
        .as_ref()
        .and_then(|mix| mix.weights().keys().next())
        .and_then(|channel| catalog.programme(channel));
    let programme = params::programme(
        params.programme.as_deref(),
        configured_programme.unwrap_or_default(),
    )?;
    let channels = programme_channels(&catalog, programme, params.channels.as_deref())?;
    let configured = configured.filter(|_| configured_programme == Some(programme));
    let from_config = configured.is_some();
    let request = Request {
        measure,
        markets: markets.clone(),
        channels,
        period: (from, to),
        baseline,
    };
    let warehouse = warehouse.get_ref().clone();
    let reading = warehouse.clone();
    let counts =
        spawn_blocking_with_tracing(move || count(&reading, &request, configured)).await??;
    let as_of =
        super::federation::as_of(&warehouse, &federation, markets.iter().cloned().collect())
            .await?;

    let Some((mix, source)) = counts.mix.as_ref() else {
        if from_config {
            return Err(ApiError::bad_request(
                "no_reference_channels",
                "none of the requested channels is in the configured reference mix",
            ));
        }
        // Nothing to compare in this period: every market says so, with a 200.
        let reason = format!(
            "no market has {measure} responses in the {} channels in this period",
            programme.name()
        );
        let empty = ReferenceMix::from_responses(&BTreeMap::from([("-".to_owned(), 1)]))
            .expect("one channel with one response is a mix");
        let footing = Footing {
            measure,
            mix: &empty,
            partial,
            thresholds: analysis.thresholds(),
        };
        let markets = markets
            .iter()
            .map(|market| {
                let mut answer =
                    market_answer(market, None, &BTreeMap::new(), &BTreeMap::new(), &footing);
                answer.cells.clear();
                answer.reason = Some(reason.clone());
                answer
            })
            .collect();
        return Ok(HttpResponse::Ok().json(Answer {
            as_of,
            measure,
            programme,
            statistic: measure.headline(),
            period: Period { from, to },
            baseline: BaselineAnswer {
                kind: baseline_kind,
                from: baseline.0,
                to: baseline.1,
            },
            reference_mix: MixAnswer {
                source: "warehouse",
                weights: BTreeMap::new(),
            },
            partial,
            adjust,
            against: against.map(|a| a.as_str().to_owned()),
            n_min: analysis.n_min,
            privacy_floor: analysis.privacy_floor,
            markets,
        }));
    };
    let footing = Footing {
        measure,
        mix,
        partial,
        thresholds: analysis.thresholds(),
    };
    let mut answers: Vec<MarketAnswer> = markets
        .iter()
        .map(|market| {
            let cells = channel_cells(&counts.current, market, mix);
            let previous = channel_cells(&counts.baseline, market, mix);
            let name = MarketCode::parse(market)
                .ok()
                .and_then(|code| catalog.market(&code).map(|m| m.name.clone()));
            market_answer(market, name, &cells, &previous, &footing)
        })
        .collect();
    if let Some(against) = &against {
        let against_cells = channel_cells(&counts.current, against.as_str(), mix);
        add_market_tests(&mut answers, against.as_str(), &against_cells, &footing);
    }
    rank(&mut answers);
    if adjust == Adjustment::Holm {
        adjust_holm(&mut answers);
    }
    Ok(HttpResponse::Ok().json(Answer {
        as_of,
        measure,
        programme,
        statistic: measure.headline(),
        period: Period { from, to },
        baseline: BaselineAnswer {
            kind: baseline_kind,
            from: baseline.0,
            to: baseline.1,
        },
        reference_mix: MixAnswer {
            source,
            weights: mix.weights().clone(),
        },
        partial,
        adjust,
        against: against.map(|a| a.as_str().to_owned()),
        n_min: analysis.n_min,
        privacy_floor: analysis.privacy_floor,
        markets: answers,
    }))
}

/// The channels of `programme`, narrowed to `asked` when given.
pub(super) fn programme_channels(
    catalog: &Catalog,
    programme: Programme,
    asked: Option<&str>,
) -> Result<BTreeSet<String>, ApiError> {
    let all = catalog.channels_of(programme);
    let Some(asked) = params::list(asked) else {
        return Ok(all);
    };
    let mut chosen = BTreeSet::new();
    for channel in asked {
        match catalog.programme(&channel) {
            None => {
                return Err(ApiError::bad_request(
                    "unknown_channel",
                    format!("no channel {channel:?} is configured"),
                ))
            }
            Some(other) if other != programme => {
                return Err(ApiError::bad_request(
                    "programmes_not_combined",
                    format!(
                        "{channel} belongs to the {} programme, not {}: relational and \
                         transactional feedback measure different things and are never combined",
                        other.name(),
                        programme.name()
                    ),
                ))
            }
            Some(_) => {
                chosen.insert(channel);
            }
        }
    }
    Ok(chosen)
}

fn required_date(name: &str, text: Option<&str>, dates: &DateRange) -> Result<NaiveDate, ApiError> {
    params::date(name, text, dates)?.ok_or_else(|| {
        ApiError::bad_request(
            "missing_period",
            format!("{name} is required: compare a period, e.g. from=2026-01-01&to=2026-03-31"),
        )
    })
}

fn baseline_period(
    kind: BaselineKind,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let out_of_range = || ApiError::bad_request("invalid_range", "the period is out of range");
    let end = from.pred_opt().ok_or_else(out_of_range)?;
    let start = match kind {
        BaselineKind::PreviousPeriod => end - (to - from),
        BaselineKind::Trailing12m => from
            .checked_sub_months(Months::new(12))
            .ok_or_else(out_of_range)?,
    };
    Ok((start, end))
}

/// The three queries: the mix (over all markets, so it never depends on the caller), and the
/// cells of the asked markets in the period and in its baseline.
fn count(
    warehouse: &Warehouse,
    request: &Request,
    configured: Option<ReferenceMix>,
) -> Result<Counts, ApiError> {
    let in_period = |(from, to): (NaiveDate, NaiveDate), channels: Vec<String>| CellQuery {
        measure: request.measure,
        period: None,
        markets: Some(request.markets.clone()),
        channels: Some(channels),
        from: Some(from),
        to: Some(to),
    };
    let mix = match configured {
        Some(mix) => mix.restricted_to(&request.channels).map(|m| (m, "config")),
        None => {
            let channels = request.channels.iter().cloned().collect();
            let responses =
                warehouse.responses_per_channel(&in_period(request.period, channels))?;
            ReferenceMix::from_responses(&responses).map(|m| (m, "warehouse"))
        }
    };
    let Some((reference, _)) = &mix else {
        return Ok(Counts {
            mix,
            current: BTreeMap::new(),
            baseline: BTreeMap::new(),
        });
    };
    let channels: Vec<String> = reference.weights().keys().cloned().collect();
    let current = warehouse.score_cells(&in_period(request.period, channels.clone()))?;
    let baseline = warehouse.score_cells(&in_period(request.baseline, channels))?;
    Ok(Counts {
        mix,
        current,
        baseline,
    })
}

fn channel_cells(
    cells: &BTreeMap<CellKey, Histogram>,
    market: &str,
    mix: &ReferenceMix,
) -> BTreeMap<String, Histogram> {
    mix.weights()
        .keys()
        .filter_map(|channel| {
            let key = CellKey {
                market: market.to_owned(),
                channel: channel.clone(),
                month: None,
                day: None,
            };
            cells.get(&key).map(|h| (channel.clone(), h.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_end_the_day_before_the_period() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(
            baseline_period(
                BaselineKind::PreviousPeriod,
                d("2026-04-01"),
                d("2026-06-30")
            )
            .unwrap(),
            (d("2025-12-31"), d("2026-03-31"))
        );
        assert_eq!(
            baseline_period(BaselineKind::Trailing12m, d("2026-04-01"), d("2026-06-30")).unwrap(),
            (d("2025-04-01"), d("2026-03-31"))
        );
    }
}
