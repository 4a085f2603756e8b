//! `GET /api/v1/trends`: monthly series per market and channel with intervals, trailing 3-
//! and 12-month windows, and each month against the market's own baseline (the 12 months
//! before it). A change against one's own baseline stays comparable across cultures even
//! when levels are not.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use super::params;
use crate::analysis::estimate::{difference, Difference, Interval, Z_95};
use crate::analysis::scale::{Headline, Histogram, Measure};
use crate::analysis::trend::{Month, MonthlySeries};
use crate::config::AnalysisSettings;
use crate::dates::DateRange;
use crate::error::ApiError;
use crate::permission::FeedbackReader;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::queries::{CellQuery, Period};
use crate::warehouse::Warehouse;

/// Query string of `/api/v1/trends`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrendParams {
    /// First month, `YYYY-MM`; default: 11 months before `to`.
    from: Option<String>,
    /// Last month, `YYYY-MM`; default: the current month (UTC).
    to: Option<String>,
    /// Comma list of markets; default: the caller's scope.
    markets: Option<String>,
    /// Comma list of channels; default: all.
    channels: Option<String>,
    /// `nps` (default), `csat`, `ces` or `stars`.
    #[param(pattern = "^(nps|csat|ces|stars)$")]
    measure: Option<String>,
}

/// The headline figure of a window of months.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrendWindow)]
struct Window {
    n: u64,
    value: Option<f64>,
    se: Option<f64>,
    ci95: Option<Interval>,
    low_n: bool,
    suppressed: bool,
}

impl Window {
    fn of(histogram: &Histogram, analysis: &AnalysisSettings) -> Window {
        let n = histogram.n();
        let disclosure = analysis.thresholds().disclose(n);
        let estimate = disclosure.shown(histogram.headline());
        Window {
            n,
            value: estimate.map(|e| e.value),
            se: estimate.map(|e| e.standard_error),
            ci95: disclosure.shown(histogram.headline_interval(Z_95)),
            low_n: disclosure.low_n,
            suppressed: disclosure.suppressed,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrendAgainstBaseline)]
struct AgainstBaseline {
    /// Responses in the 12 months before.
    baseline_n: u64,
    baseline_value: f64,
    #[serde(flatten)]
    test: Difference,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrendPoint)]
struct Point {
    month: String,
    #[serde(flatten)]
    month_figure: Window,
    trailing_3m: Window,
    trailing_12m: Window,
    /// This month against the 12 months before it; null when either side is too small
    /// (month below the privacy floor, baseline below `n_min`).
    vs_baseline: Option<AgainstBaseline>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrendSeries)]
struct Series {
    market: String,
    channel: String,
    points: Vec<Point>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TrendAnswer)]
struct Answer {
    measure: Measure,
    statistic: Headline,
    from: String,
    to: String,
    n_min: u64,
    privacy_floor: u64,
    series: Vec<Series>,
    /// On headquarters: per market, when its region committed the last change applied.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::dates::rfc3339::map"
    )]
    as_of: Option<std::collections::BTreeMap<String, chrono::NaiveDateTime>>,
}

/// Monthly series per market and channel, each month against its trailing baseline.
#[utoipa::path(get, path = "/api/v1/trends", tag = "analysis", params(TrendParams),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn trends(
    caller: FeedbackReader,
    catalog: web::Data<Arc<crate::catalog::Catalog>>,
    params: web::Query<TrendParams>,
    warehouse: web::Data<Arc<Warehouse>>,
    analysis: web::Data<AnalysisSettings>,
    dates: web::Data<DateRange>,
    federation: web::Data<Arc<crate::federation::FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let measure = params::measure(params.measure.as_deref())?;
    let today = Utc::now().date_naive();
    let to = match params.to.as_deref() {
        Some(text) => month("to", text, &dates)?,
        None => Month::new(today.year(), today.month())
            .ok_or_else(|| ApiError::Internal("the current month is out of range".into()))?,
    };
    let from = match params.from.as_deref() {
        Some(text) => month("from", text, &dates)?,
        None => to.plus(-11),
    };
    params::ordered(Some(from), Some(to))?;
    if to.plus(-119) > from {
        return Err(ApiError::bad_request(
            "invalid_range",
            "a trend spans at most 120 months",
        ));
    }
    // The 12 months before `from` feed its trailing windows and its baseline.
    let query = CellQuery {
        measure,
        period: Some(Period::Month),
        markets: caller
            .scope
            .filter(params::markets(params.markets.as_deref(), &catalog)?)?,
        channels: params::channels(params.channels.as_deref(), &catalog)?,
        from: first_day(from.plus(-12)),
        to: first_day(to.plus(1)).and_then(|d| d.pred_opt()),
    };
    let warehouse = warehouse.get_ref().clone();
    let reading = warehouse.clone();
    let cells = spawn_blocking_with_tracing(move || reading.score_cells(&query)).await??;
    let markets = cells.keys().map(|key| key.market.clone()).collect();
    let as_of = super::federation::as_of(&warehouse, &federation, markets).await?;

    let mut by_series: BTreeMap<(String, String), MonthlySeries> = BTreeMap::new();
    for (key, histogram) in cells {
        let Some(month) = key.month.as_deref().and_then(Month::parse) else {
            return Err(ApiError::Internal(format!(
                "unreadable month {:?}",
                key.month
            )));
        };
        by_series
            .entry((key.market, key.channel))
            .or_insert_with(|| MonthlySeries::new(measure))
            .add(month, &histogram);
    }
    let series = by_series
        .into_iter()
        .map(|((market, channel), series)| Series {
            market,
            channel,
            points: from
                .through(to)
                .map(|m| point(&series, m, &analysis))
                .collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Answer {
        as_of,
        measure,
        statistic: measure.headline(),
        from: from.to_string(),
        to: to.to_string(),
        n_min: analysis.n_min,
        privacy_floor: analysis.privacy_floor,
        series,
    }))
}

fn point(series: &MonthlySeries, month: Month, analysis: &AnalysisSettings) -> Point {
    let this_month = series.window(month, 1);
    let baseline = series.baseline_before(month);
    let vs_baseline = (analysis.thresholds().may_show(this_month.n())
        && analysis.thresholds().is_enough(baseline.n()))
    .then(|| {
        let now = this_month.headline()?;
        let before = baseline.headline()?;
        Some(AgainstBaseline {
            baseline_n: baseline.n(),
            baseline_value: before.value,
            test: difference(now, before),
        })
    })
    .flatten();
    Point {
        month: month.to_string(),
        month_figure: Window::of(&this_month, analysis),
        trailing_3m: Window::of(&series.window(month, 3), analysis),
        trailing_12m: Window::of(&series.window(month, 12), analysis),
        vs_baseline,
    }
}

/// A `YYYY-MM` parameter whose first day is inside the accepted dates.
fn month(name: &str, text: &str, dates: &DateRange) -> Result<Month, ApiError> {
    let month = Month::parse(text.trim()).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_month",
            format!("{name} {text:?} is not a month like 2026-03"),
        )
    })?;
    first_day(month)
        .ok_or_else(|| format!("{name} {month} is outside the dates Chorus accepts ({dates})"))
        .and_then(|day| dates.check(name, day))
        .map_err(|e| ApiError::bad_request("date_out_of_range", e))?;
    Ok(month)
}

fn first_day(month: Month) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(month.year(), month.month(), 1)
}
