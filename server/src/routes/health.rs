//! Liveness, readiness and Prometheus metrics. No user token: they reveal no feedback. The
//! per-market business figures of `/metrics` (cases) go only to a scraper with the scrape token.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use super::openapi::ErrorBody;
use crate::config::SecretText;
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

/// Who may read the business figures of `/metrics`: scrapers that send the token configured
/// by `server.metrics_token_env`. With no token configured, nobody: operational figures only.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    token: Option<SecretText>,
}

impl MetricsAccess {
    /// Access with this scrape token (or none).
    pub fn new(token: Option<SecretText>) -> MetricsAccess {
        MetricsAccess { token }
    }

    /// Whether the request may see business figures.
    ///
    /// # Errors
    /// `401` for a request that sends a bearer token other than the scrape token, so a
    /// misconfigured scraper is told instead of silently getting fewer series.
    fn business_figures(&self, request: &HttpRequest) -> Result<bool, ApiError> {
        let Some(sent) = request.headers().get(header::AUTHORIZATION) else {
            return Ok(false);
        };
        let matches = match (&self.token, sent.to_str().ok()) {
            (Some(SecretText(token)), Some(sent)) => sent
                .strip_prefix("Bearer ")
                .is_some_and(|sent| constant_time_eq(sent.trim().as_bytes(), token.as_bytes())),
            _ => false,
        };
        if matches {
            Ok(true)
        } else {
            Err(ApiError::Unauthorized(
                "this is not the scrape token of /metrics (server.metrics_token_env); send none \
                 for the operational figures"
                    .into(),
            ))
        }
    }
}

/// Compares without stopping at the first difference, so timing tells nothing of the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Counters in the Prometheus text format. Per-market case figures only with the scrape token
/// (`Authorization: Bearer <server.metrics_token_env>`).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody),
    ))]
pub async fn metrics(
    request: HttpRequest,
    access: web::Data<MetricsAccess>,
    warehouse: web::Data<Arc<Warehouse>>,
    counters: web::Data<Arc<Counters>>,
    federation: web::Data<Arc<FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let business = access.business_figures(&request)?;
    let warehouse = warehouse.get_ref().clone();
    let role = federation.role();
    let (stored, webhooks, cases, outbox, nodes) = spawn_blocking_with_tracing(move || {
        let now = chrono::Utc::now().naive_utc();
        (
            warehouse.record_count().ok(),
            warehouse.webhook_delivery_states().ok(),
            business
                .then(|| warehouse.case_figures(None, now).ok())
                .flatten(),
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
    if let Some(webhooks) = webhooks {
        text.push_str(&Counters::render_webhooks(&webhooks));
    }
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
