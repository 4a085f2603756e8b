//! Liveness, readiness and Prometheus metrics. No auth: they reveal no feedback.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::counters::Counters;
use crate::error::ApiError;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::Warehouse;

/// The process is up.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The warehouse answers queries.
pub async fn ready(warehouse: web::Data<Arc<Warehouse>>) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse.get_ref().clone();
    if spawn_blocking_with_tracing(move || warehouse.is_ready()).await? {
        Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
    } else {
        Err(ApiError::Unavailable(
            "the warehouse does not answer".into(),
        ))
    }
}

/// Counters in the Prometheus text format.
pub async fn metrics(
    warehouse: web::Data<Arc<Warehouse>>,
    counters: web::Data<Arc<Counters>>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse.get_ref().clone();
    let stored = spawn_blocking_with_tracing(move || warehouse.record_count().ok()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(counters.render(stored)))
}
