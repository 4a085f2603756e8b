//! Connector instances and their runs.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::ingest::Ingestor;
use crate::permission::{ConnectorOperator, ConnectorViewer};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{RunSummary, Warehouse};

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct InstanceView<'a> {
    id: &'a str,
    plugin: &'a str,
    market: Option<&'a str>,
    markets: Vec<&'a str>,
    channel: Option<&'a str>,
    interval_seconds: Option<u64>,
    running: bool,
    last_run: Option<RunSummary>,
}

/// Every configured instance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConnectorList<'a> {
    connectors: Vec<InstanceView<'a>>,
}

/// A run started without waiting.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RunStarted {
    run_id: i64,
    /// Always `running`.
    status: &'static str,
}

/// Run history, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RunList {
    runs: Vec<RunSummary>,
}

/// What one run could not store.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RejectionList {
    run_id: i64,
    rejections: Vec<crate::warehouse::StoredRejection>,
}

/// `GET /api/v1/connectors`: every instance with its latest run.
#[utoipa::path(get, operation_id = "list_connectors", path = "/api/v1/connectors", tag = "connectors",
    responses(
        (status = 200, body = ConnectorList),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    _caller: ConnectorViewer,
    ingestor: web::Data<Arc<Ingestor>>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse.get_ref().clone();
    let mut last_runs = spawn_blocking_with_tracing(move || warehouse.last_runs()).await??;
    let views: Vec<InstanceView<'_>> = ingestor
        .settings()
        .connectors
        .iter()
        .map(|c| {
            let last = last_runs
                .iter()
                .position(|r| r.instance == c.id)
                .map(|i| last_runs.swap_remove(i));
            InstanceView {
                id: &c.id,
                plugin: &c.plugin,
                market: c.market.as_ref().map(|m| m.as_str()),
                markets: c.markets.iter().map(|m| m.as_str()).collect(),
                channel: c.channel.as_deref(),
                interval_seconds: c.interval_seconds,
                running: ingestor.is_running(&c.id),
                last_run: last,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(ConnectorList { connectors: views }))
}

/// Query of `POST /run`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunParams {
    /// Wait for the run to end and answer with its summary.
    #[serde(default)]
    wait: bool,
}

/// `POST /api/v1/connectors/{id}/run`: starts a run now.
#[utoipa::path(post, path = "/api/v1/connectors/{id}/run", tag = "connectors",
    params(("id" = String, Path, description = "Connector instance id"), RunParams),
    responses(
        (status = 200, description = "The run ended (`wait=true`)", body = RunSummary),
        (status = 202, description = "The run started", body = RunStarted),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The instance is already running", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn run(
    caller: ConnectorOperator,
    id: web::Path<String>,
    params: web::Query<RunParams>,
    ingestor: web::Data<Arc<Ingestor>>,
) -> Result<HttpResponse, ApiError> {
    tracing::info!(instance = %id, by = %caller.sub, "run requested through the API");
    let started = ingestor.start(&id, "api").await?;
    if !params.wait {
        return Ok(HttpResponse::Accepted().json(RunStarted {
            run_id: started.run_id,
            status: "running",
        }));
    }
    let summary = started
        .done
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or_else(|| {
            ApiError::Internal("the run ended but its summary could not be read".into())
        })?;
    Ok(HttpResponse::Ok().json(summary))
}

/// Query of `GET /runs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsParams {
    /// Most runs returned, newest first (default 20, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Most runs one answer lists.
const MAX_RUNS: u32 = 500;

/// `GET /api/v1/connectors/{id}/runs`: run history, newest first.
#[utoipa::path(get, path = "/api/v1/connectors/{id}/runs", tag = "connectors",
    params(("id" = String, Path, description = "Connector instance id"), RunsParams),
    responses(
        (status = 200, body = RunList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn runs(
    _caller: ConnectorViewer,
    id: web::Path<String>,
    params: web::Query<RunsParams>,
    ingestor: web::Data<Arc<Ingestor>>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    known_instance(&ingestor, &id)?;
    let limit = params.limit.unwrap_or(20);
    if !(1..=MAX_RUNS).contains(&limit) {
        // As every other route: a limit out of range is said, not silently changed.
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1-{MAX_RUNS}"),
        ));
    }
    let warehouse = warehouse.get_ref().clone();
    let runs = spawn_blocking_with_tracing(move || warehouse.runs(&id, limit)).await??;
    Ok(HttpResponse::Ok().json(RunList { runs }))
}

/// `GET /api/v1/connectors/{id}/runs/{run_id}/rejections`: what a run could not store.
#[utoipa::path(get, path = "/api/v1/connectors/{id}/runs/{run_id}/rejections", tag = "connectors",
    params(
        ("id" = String, Path, description = "Connector instance id"),
        ("run_id" = i64, Path, description = "Run id", minimum = 1),
    ),
    responses(
        (status = 200, body = RejectionList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rejections(
    _caller: ConnectorViewer,
    path: web::Path<(String, i64)>,
    ingestor: web::Data<Arc<Ingestor>>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let (id, run_id) = path.into_inner();
    known_instance(&ingestor, &id)?;
    let warehouse = warehouse.get_ref().clone();
    let (run, rejections) =
        spawn_blocking_with_tracing(move || -> Result<_, crate::warehouse::WarehouseError> {
            Ok((warehouse.run(run_id)?, warehouse.rejections(run_id, 1_000)?))
        })
        .await??;
    match run {
        Some(run) if run.instance == id => {
            Ok(HttpResponse::Ok().json(RejectionList { run_id, rejections }))
        }
        _ => Err(ApiError::NotFound(format!(
            "connector {id:?} has no run {run_id}"
        ))),
    }
}

fn known_instance(ingestor: &Ingestor, id: &str) -> Result<(), ApiError> {
    ingestor
        .settings()
        .connector(id)
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("no connector instance {id:?} is configured")))
}
