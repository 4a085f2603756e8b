//! `GET /api/v1/topics`: the driver view. Per topic and cell (market and channel, month on
//! request): how many commented records mention it, their share, and NPS among records that
//! mention it next to NPS among commented records that do not, with intervals and a test.
//! A topic whose mentions come with a much lower NPS is one that pulls the market down.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use super::params::{self, CellFilters};
use crate::analysis::estimate::{difference, Difference, Interval, Z_95};
use crate::analysis::nps::NpsCounts;
use crate::analysis::scale::Measure;
use crate::config::AnalysisSettings;
use crate::dates::DateRange;
use crate::error::ApiError;
use crate::permission::FeedbackReader;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::topics::TopicCounts;
use crate::warehouse::Warehouse;

/// The configured topics, (id, display name) in taxonomy order.
#[derive(Debug, Clone, Default)]
pub struct TopicList(pub Vec<(String, String)>);

/// Query string of `/api/v1/topics`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TopicParams {
    /// `market,channel` (default), `market,channel,month` or `market,channel,day`.
    group_by: Option<String>,
    markets: Option<String>,
    channels: Option<String>,
    /// Comma list of topic ids; default: all.
    topics: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct NpsFigure {
    n: u64,
    nps: Option<f64>,
    ci95: Option<Interval>,
    low_n: bool,
    suppressed: bool,
}

impl NpsFigure {
    fn of(counts: NpsCounts, analysis: &AnalysisSettings) -> NpsFigure {
        let disclosure = analysis.thresholds().disclose(counts.n);
        NpsFigure {
            n: counts.n,
            nps: disclosure.shown(counts.nps()),
            ci95: disclosure.shown((counts.n > 0).then(|| counts.adjusted_wald_interval(Z_95))),
            low_n: disclosure.low_n,
            suppressed: disclosure.suppressed,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TopicRow {
    topic: String,
    name: String,
    market: String,
    channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    month: Option<String>,
    /// `YYYY-MM-DD`, with `group_by` day (the market's calendar day).
    #[serde(skip_serializing_if = "Option::is_none")]
    day: Option<String>,
    /// Records with a text in the cell.
    records_with_text: u64,
    mentions: u64,
    /// mentions / records_with_text, in percent.
    share: Option<f64>,
    nps_with: NpsFigure,
    nps_without: NpsFigure,
    /// NPS with − NPS without; null when either side is below the privacy floor.
    difference: Option<Difference>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = TopicAnswer)]
struct Answer {
    group_by: Vec<&'static str>,
    n_min: u64,
    privacy_floor: u64,
    topics: Vec<TopicRow>,
    /// On headquarters: per market, when its region committed the last change applied.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::dates::rfc3339::map"
    )]
    as_of: Option<std::collections::BTreeMap<String, chrono::NaiveDateTime>>,
}

/// Topics per market and channel: mentions, and the score of those who mention them.
#[utoipa::path(get, path = "/api/v1/topics", tag = "feedback", params(TopicParams),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
// Extractors: one argument per thing the route reads.
#[allow(clippy::too_many_arguments)]
pub async fn topics(
    caller: FeedbackReader,
    catalog: web::Data<Arc<crate::catalog::Catalog>>,
    params: web::Query<TopicParams>,
    warehouse: web::Data<Arc<Warehouse>>,
    analysis: web::Data<AnalysisSettings>,
    list: web::Data<TopicList>,
    dates: web::Data<DateRange>,
    federation: web::Data<Arc<crate::federation::FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let group_by = super::scores::parse_group_by(params.group_by.as_deref())?;
    let wanted: Vec<String> = match params::list(params.topics.as_deref()) {
        None => list.0.iter().map(|(id, _)| id.clone()).collect(),
        Some(asked) => {
            if let Some(unknown) = asked
                .iter()
                .find(|t| !list.0.iter().any(|(id, _)| id == *t))
            {
                return Err(ApiError::bad_request(
                    "unknown_topic",
                    format!("no topic {unknown:?} in the taxonomy"),
                ));
            }
            asked
        }
    };
    let query = CellFilters {
        markets: params.markets.as_deref(),
        channels: params.channels.as_deref(),
        from: params.from.as_deref(),
        to: params.to.as_deref(),
        dates: &dates,
        catalog: &catalog,
    }
    .query(&caller, Measure::Nps, super::scores::period(&group_by))?;
    let warehouse = warehouse.get_ref().clone();
    let reading = warehouse.clone();
    let counts =
        spawn_blocking_with_tracing(move || reading.topic_counts(&query, &wanted)).await??;
    let markets = counts.keys().map(|(_, key)| key.market.clone()).collect();
    let as_of = super::federation::as_of(&warehouse, &federation, markets).await?;
    let name_of = |id: &str| {
        list.0
            .iter()
            .find(|(t, _)| t == id)
            .map_or_else(|| id.to_owned(), |(_, name)| name.clone())
    };
    let rows = counts
        .into_iter()
        .map(|((topic, key), c)| row(&topic, name_of(&topic), key, c, &analysis))
        .collect();
    Ok(HttpResponse::Ok().json(Answer {
        as_of,
        group_by,
        n_min: analysis.n_min,
        privacy_floor: analysis.privacy_floor,
        topics: rows,
    }))
}

fn row(
    topic: &str,
    name: String,
    key: crate::warehouse::queries::CellKey,
    counts: TopicCounts,
    analysis: &AnalysisSettings,
) -> TopicRow {
    let shown = |c: NpsCounts| analysis.thresholds().may_show(c.n);
    let test = (shown(counts.nps_with) && shown(counts.nps_without))
        .then(|| {
            Some(difference(
                counts.nps_with.estimate()?,
                counts.nps_without.estimate()?,
            ))
        })
        .flatten();
    TopicRow {
        topic: topic.to_owned(),
        name,
        market: key.market,
        channel: key.channel,
        month: key.month,
        day: key.day,
        records_with_text: counts.with_text,
        mentions: counts.mentions,
        share: (counts.with_text > 0)
            .then(|| 100.0 * counts.mentions as f64 / counts.with_text as f64),
        nps_with: NpsFigure::of(counts.nps_with, analysis),
        nps_without: NpsFigure::of(counts.nps_without, analysis),
        difference: test,
    }
}
