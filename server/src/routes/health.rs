//! Liveness, readiness and Prometheus metrics. No auth: they reveal no feedback.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::openapi::ErrorBody;
use crate::counters::Counters;
use crate::error::ApiError;
use crate::federation::{FederationStatus, NodeRole};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::Warehouse;

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Status {
    status: &'static str,
    /// On a regional or headquarters node: `ok`, or `degraded: <why>` while NATS cannot be
    /// reached (the node keeps serving and ingesting; its outbox grows).
    #[serde(skip_serializing_if = "Option::is_none")]
    federation: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Status)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Status {
        status: "ok",
        federation: None,
    })
}

/// The warehouse answers queries.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Status), (status = 503, body = ErrorBody)))]
pub async fn ready(
    warehouse: web::Data<Arc<Warehouse>>,
    federation: web::Data<Arc<FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse.get_ref().clone();
    if spawn_blocking_with_tracing(move || warehouse.is_ready()).await? {
        Ok(HttpResponse::Ok().json(Status {
            status: "ready",
            federation: federation.describe(),
        }))
    } else {
        Err(ApiError::Unavailable(
            "the warehouse does not answer".into(),
        ))
    }
}

/// Counters in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(
    warehouse: web::Data<Arc<Warehouse>>,
    counters: web::Data<Arc<Counters>>,
    federation: web::Data<Arc<FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse.get_ref().clone();
    let role = federation.role();
    let (stored, cases, outbox, nodes) = spawn_blocking_with_tracing(move || {
        let now = chrono::Utc::now().naive_utc();
        (
            warehouse.record_count().ok(),
            warehouse.case_figures(None, now).ok(),
            (role == NodeRole::Regional)
                .then(|| warehouse.outbox_state().ok())
                .flatten(),
            (role == NodeRole::Hq)
                .then(|| warehouse.federation_nodes().ok())
                .flatten(),
        )
    })
    .await?;
    let mut text = counters.render(stored);
    if let Some(cases) = cases {
        text.push_str(&Counters::render_cases(&cases));
    }
    let now = chrono::Utc::now().naive_utc();
    text.push_str(&Counters::render_federation(
        outbox.as_ref(),
        nodes.as_deref(),
        now,
    ));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text))
}
