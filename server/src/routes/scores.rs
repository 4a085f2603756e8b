//! `GET /api/v1/{nps,csat,ces,stars}`: one measure per market and channel (and month), never
//! pooled across markets, channels or measures.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use super::params::{self, CellFilters};
use crate::analysis::scale::{Figures, Histogram, Measure};
use crate::config::AnalysisSettings;
use crate::dates::DateRange;
use crate::error::ApiError;
use crate::permission::FeedbackReader;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::queries::{CellKey, Period};
use crate::warehouse::Warehouse;

/// Query string of the score routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ScoreParams {
    /// Comma list of `market`, `channel` and at most one of `month`, `day` (the market's
    /// calendar day); `market` and `channel` are required.
    group_by: Option<String>,
    /// Comma list of market codes.
    markets: Option<String>,
    /// Comma list of channel ids.
    channels: Option<String>,
    /// First day, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last day included, `YYYY-MM-DD`.
    to: Option<String>,
}

/// One cell of the answer (documented as [`CellDoc`]).
#[derive(Debug, Serialize)]
pub struct Cell {
    pub market: String,
    pub channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    pub n: u64,
    #[serde(flatten)]
    pub figures: Figures,
    /// n below `n_min`: read with care.
    pub low_n: bool,
    /// n below the privacy floor: values withheld, n still shown.
    pub suppressed: bool,
}

impl Cell {
    /// A cell's figures with the thresholds applied.
    pub fn new(key: CellKey, histogram: &Histogram, analysis: &AnalysisSettings) -> Cell {
        let n = histogram.n();
        let disclosure = analysis.thresholds().disclose(n);
        Cell {
            market: key.market,
            channel: key.channel,
            month: key.month,
            day: key.day,
            n,
            figures: Figures::of(histogram, disclosure.suppressed),
            low_n: disclosure.low_n,
            suppressed: disclosure.suppressed,
        }
    }
}

/// A cell as the OpenAPI document describes it: one object per measure's figures, each with
/// the common fields. (The flattened enum would be `allOf` of a `oneOf`, which generated
/// clients cannot read.) Documentation only: answers serialise [`Cell`].
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = ScoreCell)]
#[allow(dead_code)]
enum CellDoc {
    Nps(NpsCellDoc),
    ShareAndMean(ShareCellDoc),
    Mean(MeanCellDoc),
}

/// Fields every cell has.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct CommonCellDoc {
    market: String,
    channel: String,
    /// `YYYY-MM`, with `group_by` month.
    month: Option<String>,
    /// `YYYY-MM-DD`, with `group_by` day: the market's calendar day (`markets.time_zone`).
    day: Option<String>,
    n: u64,
    /// n below `n_min`: read with care.
    low_n: bool,
    /// n below the privacy floor: values withheld (null), n still shown.
    suppressed: bool,
}

/// An NPS cell: counts by class, NPS, SE and adjusted-Wald interval.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct NpsCellDoc {
    #[serde(flatten)]
    common: CommonCellDoc,
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
    ci95: Option<crate::analysis::estimate::Interval>,
}

/// A CSAT or stars cell: share of 4-5 with Wilson interval, and the mean.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct ShareCellDoc {
    #[serde(flatten)]
    common: CommonCellDoc,
    #[schema(required = true)]
    share_4_5: Option<f64>,
    #[schema(required = true)]
    share_4_5_ci95: Option<crate::analysis::estimate::Interval>,
    #[schema(required = true)]
    mean: Option<f64>,
    #[schema(required = true)]
    mean_se: Option<f64>,
    #[schema(required = true)]
    mean_ci95: Option<crate::analysis::estimate::Interval>,
}

/// A CES cell: the mean with SE and interval.
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct MeanCellDoc {
    #[serde(flatten)]
    common: CommonCellDoc,
    #[schema(required = true)]
    mean: Option<f64>,
    #[schema(required = true)]
    se: Option<f64>,
    #[schema(required = true)]
    ci95: Option<crate::analysis::estimate::Interval>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ScoreCells)]
struct Answer {
    measure: Measure,
    group_by: Vec<&'static str>,
    n_min: u64,
    privacy_floor: u64,
    #[schema(value_type = Vec<CellDoc>)]
    cells: Vec<Cell>,
    /// On headquarters: per market, when its region committed the last change applied.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::dates::rfc3339::map"
    )]
    as_of: Option<std::collections::BTreeMap<String, chrono::NaiveDateTime>>,
}

/// Score cells (NPS, CSAT, CES or stars) per market and channel, never pooled.
///
/// The measure comes from the route's app data.
#[utoipa::path(get, path = "/api/v1/{measure}", tag = "analysis",
    params(("measure" = Measure, Path, description = "nps, csat, ces or stars"), ScoreParams),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
// Extractors: one argument per thing the route reads.
#[allow(clippy::too_many_arguments)]
pub async fn cells(
    caller: FeedbackReader,
    catalog: web::Data<Arc<crate::catalog::Catalog>>,
    measure: web::Data<Measure>,
    params: web::Query<ScoreParams>,
    warehouse: web::Data<Arc<Warehouse>>,
    analysis: web::Data<AnalysisSettings>,
    dates: web::Data<DateRange>,
    federation: web::Data<Arc<crate::federation::FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let group_by = parse_group_by(params.group_by.as_deref())?;
    let query = CellFilters {
        markets: params.markets.as_deref(),
        channels: params.channels.as_deref(),
        from: params.from.as_deref(),
        to: params.to.as_deref(),
        dates: &dates,
        catalog: &catalog,
    }
    .query(&caller, **measure, period(&group_by))?;
    let warehouse = warehouse.get_ref().clone();
    let reading = warehouse.clone();
    let cells = spawn_blocking_with_tracing(move || reading.score_cells(&query)).await??;
    let markets = cells.keys().map(|key| key.market.clone()).collect();
    let as_of = super::federation::as_of(&warehouse, &federation, markets).await?;
    Ok(HttpResponse::Ok().json(Answer {
        as_of,
        measure: **measure,
        group_by,
        n_min: analysis.n_min,
        privacy_floor: analysis.privacy_floor,
        cells: cells
            .into_iter()
            .map(|(key, histogram)| Cell::new(key, &histogram, &analysis))
            .collect(),
    }))
}

/// The calendar period a parsed `group_by` splits cells by.
pub fn period(group_by: &[&str]) -> Option<Period> {
    if group_by.contains(&"day") {
        Some(Period::Day)
    } else if group_by.contains(&"month") {
        Some(Period::Month)
    } else {
        None
    }
}

/// `group_by` with market and channel required and one of month or day optional.
///
/// # Errors
/// `400 invalid_group_by` or `400 pooling_not_allowed`.
pub fn parse_group_by(text: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let mut group_by = vec!["market", "channel"];
    let Some(asked) = params::list(text) else {
        return Ok(group_by);
    };
    for key in &asked {
        match key.as_str() {
            "market" | "channel" => {}
            "month" | "day" if group_by.len() > 2 => {
                return Err(ApiError::bad_request(
                    "invalid_group_by",
                    "group by one period at most: month or day",
                ))
            }
            "month" => group_by.push("month"),
            "day" => group_by.push("day"),
            other => {
                return Err(ApiError::bad_request(
                    "invalid_group_by",
                    format!(
                        "cannot group by {other:?}; use market, channel and optionally month or day"
                    ),
                ))
            }
        }
    }
    for required in ["market", "channel"] {
        if !asked.iter().any(|k| k == required) {
            return Err(ApiError::bad_request(
                "pooling_not_allowed",
                format!(
                    "group_by must include {required}: scores of different markets or channels are \
                     never pooled, because channel levels and mixes differ; compare markets with a \
                     standardised channel mix instead (/api/v1/compare)"
                ),
            ));
        }
    }
    Ok(group_by)
}
