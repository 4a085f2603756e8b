//! `GET /api/v1/nps`: NPS per market and channel (and month), never pooled across either.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::comma_list;
use crate::analysis::nps::{Interval, NpsCounts, Z_95};
use crate::auth::Caller;
use crate::config::AnalysisSettings;
use crate::domain::MarketCode;
use crate::error::ApiError;
use crate::warehouse::queries::{NpsCellQuery, NpsCellRow};
use crate::warehouse::Warehouse;

/// Query string of `/api/v1/nps`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NpsParams {
    /// Comma list of `market`, `channel`, `month`; `market` and `channel` are required.
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

/// One cell of the answer.
#[derive(Debug, Serialize)]
struct Cell {
    market: String,
    channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    month: Option<String>,
    n: u64,
    promoters: Option<u64>,
    passives: Option<u64>,
    detractors: Option<u64>,
    nps: Option<f64>,
    se: Option<f64>,
    ci95: Option<Interval>,
    /// n below `n_min`: read with care.
    low_n: bool,
    /// n below the privacy floor: values withheld.
    suppressed: bool,
}

#[derive(Debug, Serialize)]
struct Answer {
    group_by: Vec<&'static str>,
    n_min: u64,
    privacy_floor: u64,
    cells: Vec<Cell>,
}

/// Handler.
pub async fn nps(
    caller: Caller,
    params: web::Query<NpsParams>,
    warehouse: web::Data<Arc<Warehouse>>,
    analysis: web::Data<AnalysisSettings>,
) -> Result<HttpResponse, ApiError> {
    caller.require_feedback_reader()?;
    let params = params.into_inner();
    let group_by = parse_group_by(params.group_by.as_deref())?;
    let requested = params
        .markets
        .as_deref()
        .map(|m| {
            comma_list(m)
                .iter()
                .map(|c| MarketCode::parse(c))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_market", e))?;
    let query = NpsCellQuery {
        by_month: group_by.contains(&"month"),
        markets: caller.scope.filter(requested)?,
        channels: params.channels.as_deref().map(comma_list),
        from: parse_date("from", params.from.as_deref())?,
        to: parse_date("to", params.to.as_deref())?,
    };
    if let (Some(from), Some(to)) = (query.from, query.to) {
        if from > to {
            return Err(ApiError::bad_request(
                "invalid_range",
                format!("from {from} is after to {to}"),
            ));
        }
    }
    let warehouse = warehouse.get_ref().clone();
    let rows = web::block(move || warehouse.nps_cells(&query)).await??;
    let analysis = **analysis;
    Ok(HttpResponse::Ok().json(Answer {
        group_by,
        n_min: analysis.n_min,
        privacy_floor: analysis.privacy_floor,
        cells: rows.into_iter().map(|row| cell(row, analysis)).collect(),
    }))
}

fn parse_group_by(text: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let mut group_by = vec!["market", "channel"];
    let Some(text) = text else {
        return Ok(group_by);
    };
    let asked = comma_list(text);
    for key in &asked {
        match key.as_str() {
            "market" | "channel" => {}
            "month" => group_by.push("month"),
            other => {
                return Err(ApiError::bad_request(
                    "invalid_group_by",
                    format!("cannot group by {other:?}; use market, channel and optionally month"),
                ))
            }
        }
    }
    for required in ["market", "channel"] {
        if !asked.iter().any(|k| k == required) {
            return Err(ApiError::bad_request(
                "pooling_not_allowed",
                format!(
                    "group_by must include {required}: NPS of different markets or channels is never \
                     pooled, because channel levels and mixes differ; compare markets with a \
                     standardised channel mix instead"
                ),
            ));
        }
    }
    Ok(group_by)
}

fn parse_date(name: &str, text: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request(
                "invalid_date",
                format!("{name} {t:?} is not a date like 2026-03-31"),
            )
        })
    })
    .transpose()
}

fn cell(row: NpsCellRow, analysis: AnalysisSettings) -> Cell {
    let counts: NpsCounts = row.counts;
    let suppressed = counts.n < analysis.privacy_floor;
    let shown = |v: u64| (!suppressed).then_some(v);
    Cell {
        market: row.market,
        channel: row.channel,
        month: row.month,
        n: counts.n,
        promoters: shown(counts.promoters),
        passives: shown(counts.passives()),
        detractors: shown(counts.detractors),
        nps: counts.nps().filter(|_| !suppressed),
        se: counts.standard_error().filter(|_| !suppressed),
        ci95: (!suppressed).then(|| counts.adjusted_wald_interval(Z_95)),
        low_n: counts.n < analysis.n_min,
        suppressed,
    }
}
