//! `GET /api/v1/alerts`: significant changes in the caller's markets, newest first.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use super::params;
use crate::error::ApiError;
use crate::permission::FeedbackReader;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::alerts::{AlertView, MAX_ALERTS_PER_PAGE};
use crate::warehouse::Warehouse;

const DEFAULT_LIMIT: u32 = 100;

/// Query string of `/api/v1/alerts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertParams {
    /// Comma list of market codes (within your scope).
    markets: Option<String>,
    /// Most items in one answer (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Alerts, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AlertList {
    alerts: Vec<AlertView>,
}

/// Significant changes found in the caller's markets, newest first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "cases", params(AlertParams),
    responses(
        (status = 200, body = AlertList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn alerts(
    caller: FeedbackReader,
    catalog: web::Data<Arc<crate::catalog::Catalog>>,
    params: web::Query<AlertParams>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_ALERTS_PER_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1-{MAX_ALERTS_PER_PAGE}"),
        ));
    }
    let markets = caller
        .scope
        .filter(params::markets(params.markets.as_deref(), &catalog)?)?;
    let warehouse = warehouse.get_ref().clone();
    let alerts =
        spawn_blocking_with_tracing(move || warehouse.alerts(markets.as_deref(), limit)).await??;
    Ok(HttpResponse::Ok().json(AlertList { alerts }))
}
