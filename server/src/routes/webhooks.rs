//! `GET /api/v1/webhooks/deliveries`, for admins: what was sent where, what is still being
//! retried, and the dead letters.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::permission::Admin;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::webhooks::{DeliveryState, DeliveryView};
use crate::warehouse::Warehouse;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

/// Query string of the delivery list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// pending, delivered or dead; default: all.
    state: Option<DeliveryState>,
    /// Most items in one answer (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Deliveries, newest event first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeliveryList {
    deliveries: Vec<DeliveryView>,
}

/// Webhook deliveries and their state, newest event first (admins).
#[utoipa::path(get, path = "/api/v1/webhooks/deliveries", tag = "webhooks",
    params(DeliveryParams),
    responses(
        (status = 200, body = DeliveryList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn deliveries(
    _caller: Admin,
    params: web::Query<DeliveryParams>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1-{MAX_LIMIT}"),
        ));
    }
    let (warehouse, state) = (warehouse.get_ref().clone(), params.state);
    let deliveries =
        spawn_blocking_with_tracing(move || warehouse.deliveries(state, limit)).await??;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries }))
}
