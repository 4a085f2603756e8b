//! Cases: the work queue of the closed loop. Everyone who reads feedback reads the cases of
//! their markets; market and regional leads (and admins) work them.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use super::params;
use crate::auth::Caller;
use crate::cases::{Status, TransitionError};
use crate::domain::MarketCode;
use crate::error::ApiError;
use crate::permission::{CaseWorker, FeedbackReader};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::cases::{
    CaseChange, CaseQuery, CaseUpdate, CaseView, MarketCaseFigures, MAX_ASSIGNEE_CHARS,
    MAX_CASES_PER_PAGE,
};
use crate::warehouse::Warehouse;

const DEFAULT_LIMIT: u32 = 100;

/// Query string of `GET /api/v1/cases`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseParams {
    /// open, in_progress, resolved, closed or reopened; or `active` for open, in_progress and
    /// reopened together.
    #[param(pattern = "^(open|in_progress|resolved|closed|reopened|active)$")]
    status: Option<String>,
    /// Comma list of market codes (within your scope).
    markets: Option<String>,
    /// true: only overdue cases; false: only cases that are not.
    overdue: Option<bool>,
    /// A token subject: 1-256 characters, not only white space, no control characters.
    #[param(
        max_length = 256,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    assignee: Option<String>,
    /// `next_before` of the previous page.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Most items in one answer (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// A page of cases, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CaseList {
    cases: Vec<CaseView>,
    /// Pass as `before` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<i64>,
}

/// Figures per market.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CaseSummary {
    markets: Vec<MarketCaseFigures>,
}

/// Body of `PATCH /api/v1/cases/{id}`: any of a new status, an assignee and a note.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    /// in_progress, resolved, closed or reopened (as the current status allows).
    status: Option<String>,
    assignee: Option<String>,
    /// Logged with the change; required (with `resolution_code`) to resolve.
    note: Option<String>,
    /// Why the case is resolved, e.g. `refund`, `explained`, `no_reply`.
    resolution_code: Option<String>,
}

impl CasePatch {
    fn into_change(self) -> Result<CaseChange, ApiError> {
        let status = self
            .status
            .map(|s| {
                Status::parse(&s).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_status",
                        format!(
                            "status {s:?} is not one of open, in_progress, resolved, closed, \
                             reopened"
                        ),
                    )
                })
            })
            .transpose()?;
        if let Some(assignee) = &self.assignee {
            check_assignee(assignee)?;
        }
        if self.note.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(ApiError::bad_request(
                "invalid_case_change",
                "a note must say something; leave it out instead",
            ));
        }
        if status.is_none() && self.assignee.is_none() && self.note.is_none() {
            return Err(ApiError::bad_request(
                "empty_change",
                "send a status, an assignee or a note",
            ));
        }
        Ok(CaseChange {
            status,
            assignee: self.assignee.map(|a| a.trim().to_owned()),
            note: self.note,
            resolution_code: self.resolution_code,
        })
    }
}

/// Refuses what `CaseParams::assignee`'s documented pattern refuses: control characters
/// (Unicode Cc), nothing but white space, more than 256 characters.
fn check_assignee(assignee: &str) -> Result<(), ApiError> {
    if assignee.trim().is_empty()
        || assignee.chars().count() > MAX_ASSIGNEE_CHARS
        || assignee.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_assignee",
            format!("assignee must be 1 to {MAX_ASSIGNEE_CHARS} characters, no control characters"),
        ));
    }
    Ok(())
}

fn refused(e: TransitionError) -> ApiError {
    let code = match e {
        TransitionError::NotAllowed { .. } => "invalid_transition",
        TransitionError::ResolutionMissing => "resolution_required",
        TransitionError::Invalid(_) => "invalid_case_change",
    };
    ApiError::bad_request(code, e.to_string())
}

fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

fn case_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request("invalid_case_id", "a case id is a positive number"))
}

/// 404 when the case does not exist or is outside the caller's markets: the same answer, so
/// walking ids tells nothing about other markets' cases.
async fn check_scope(caller: &Caller, id: i64, warehouse: &Arc<Warehouse>) -> Result<(), ApiError> {
    let warehouse = warehouse.clone();
    let market = spawn_blocking_with_tracing(move || warehouse.case_market(id)).await??;
    let covered = market
        .as_deref()
        .and_then(|m| MarketCode::parse(m).ok())
        .is_some_and(|m| caller.scope.covers(&m));
    if !covered {
        return Err(no_case(id));
    }
    Ok(())
}

fn no_case(id: i64) -> ApiError {
    ApiError::NotFound(format!("no case {id} in your markets"))
}

/// `GET /api/v1/cases`: cases in the caller's markets, newest first, filtered.
#[utoipa::path(get, operation_id = "list_cases", path = "/api/v1/cases", tag = "cases", params(CaseParams),
    responses(
        (status = 200, body = CaseList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    caller: FeedbackReader,
    catalog: web::Data<Arc<crate::catalog::Catalog>>,
    params: web::Query<CaseParams>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_CASES_PER_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1-{MAX_CASES_PER_PAGE}"),
        ));
    }
    if params.before.is_some_and(|before| before < 1) {
        return Err(ApiError::bad_request(
            "invalid_cursor",
            "before is the next_before of a previous page: a positive case id",
        ));
    }
    let active = params.status.as_deref() == Some("active");
    let status = params
        .status
        .as_deref()
        .filter(|_| !active)
        .map(|s| {
            Status::parse(s).ok_or_else(|| {
                ApiError::bad_request("invalid_status", format!("status {s:?} is unknown"))
            })
        })
        .transpose()?;
    if let Some(assignee) = &params.assignee {
        check_assignee(assignee)?;
    }
    let query = CaseQuery {
        markets: caller
            .scope
            .filter(params::markets(params.markets.as_deref(), &catalog)?)?,
        status,
        active,
        overdue: params.overdue,
        assignee: params.assignee,
        before_id: params.before,
        // One more than asked tells whether another page follows.
        limit: limit + 1,
    };
    let warehouse = warehouse.get_ref().clone();
    let mut cases = spawn_blocking_with_tracing(move || warehouse.cases(&query, now())).await??;
    let next_before = (cases.len() > limit as usize).then(|| {
        cases.truncate(limit as usize);
        cases.last().map(|c| c.id)
    });
    Ok(HttpResponse::Ok().json(CaseList {
        cases,
        next_before: next_before.flatten(),
    }))
}

/// `GET /api/v1/cases/summary`: open, overdue and resolved cases and the median time to
/// resolve, per market in scope.
#[utoipa::path(get, path = "/api/v1/cases/summary", tag = "cases",
    responses(
        (status = 200, body = CaseSummary),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn summary(
    caller: FeedbackReader,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let markets = caller.scope.filter(None)?;
    let warehouse = warehouse.get_ref().clone();
    let figures =
        spawn_blocking_with_tracing(move || warehouse.case_figures(markets.as_deref(), now()))
            .await??;
    Ok(HttpResponse::Ok().json(CaseSummary { markets: figures }))
}

/// `GET /api/v1/cases/{id}`: one case with its record and history.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "Case id", minimum = 1)),
    responses(
        (status = 200, body = CaseView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    caller: FeedbackReader,
    id: web::Path<String>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    check_scope(&caller, id, &warehouse).await?;
    let warehouse = warehouse.get_ref().clone();
    let case = spawn_blocking_with_tracing(move || warehouse.case(id, now()))
        .await??
        .ok_or_else(|| no_case(id))?;
    Ok(HttpResponse::Ok().json(case))
}

/// `PATCH /api/v1/cases/{id}`: move the case on, reassign it, or add a note.
#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "Case id", minimum = 1)),
    request_body = CasePatch,
    responses(
        (status = 200, body = CaseView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    caller: CaseWorker,
    id: web::Path<String>,
    body: web::Json<CasePatch>,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let change = body.into_inner().into_change()?;
    check_scope(&caller, id, &warehouse).await?;
    let (warehouse, actor) = (warehouse.get_ref().clone(), caller.sub.clone());
    let outcome =
        spawn_blocking_with_tracing(move || warehouse.update_case(id, &change, &actor, now()))
            .await??;
    match outcome {
        CaseUpdate::Updated(case) => {
            tracing::info!(case = id, status = case.status.name(), by = %caller.sub, "case updated");
            Ok(HttpResponse::Ok().json(case))
        }
        CaseUpdate::NotFound => Err(no_case(id)),
        CaseUpdate::Refused(e) => Err(refused(e)),
    }
}
