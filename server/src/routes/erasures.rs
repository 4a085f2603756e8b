//! Erasure (GDPR art. 17), for admins: erase a person's records, and read the erasure log.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::ingest::Ingestor;
use crate::permission::Admin;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{Erasure, Warehouse};

/// Body of `POST /api/v1/erasures`: an attribute match, or an external id (optionally in one
/// instance).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    attribute: Option<AttributeMatch>,
    external_id: Option<String>,
    instance: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AttributeMatch {
    key: String,
    value: String,
}

impl ErasureRequest {
    fn into_erasure(self) -> Result<Erasure, ApiError> {
        let erasure = match (self.attribute, self.external_id, self.instance) {
            (Some(AttributeMatch { key, value }), None, None) => Erasure::Attribute { key, value },
            (None, Some(external_id), instance) => Erasure::ExternalId {
                instance,
                external_id,
            },
            _ => {
                return Err(invalid(
                    "send either {\"attribute\": {\"key\", \"value\"}} or \
                     {\"external_id\"[, \"instance\"]}",
                ))
            }
        };
        erasure.validate().map_err(invalid)?;
        Ok(erasure)
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_erasure", message)
}

/// The erasure log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ErasureList {
    erasures: Vec<crate::warehouse::ErasureEntry>,
}

/// `POST /api/v1/erasures`: erases the matching records and answers with the log entry.
#[utoipa::path(post, path = "/api/v1/erasures", tag = "erasures",
    request_body = ErasureRequest,
    responses(
        (status = 201, body = crate::warehouse::ErasureEntry),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn erase(
    caller: Admin,
    body: web::Json<ErasureRequest>,
    warehouse: web::Data<Arc<Warehouse>>,
    ingestor: web::Data<Arc<Ingestor>>,
) -> Result<HttpResponse, ApiError> {
    let erasure = body.into_inner().into_erasure()?;
    if let Erasure::ExternalId {
        instance: Some(instance),
        ..
    } = &erasure
    {
        if ingestor.settings().connector(instance).is_none() {
            return Err(invalid(format!(
                "no connector instance {instance:?} is configured; leave \"instance\" out to \
                 erase the id in every instance"
            )));
        }
    }
    let (warehouse, by) = (warehouse.get_ref().clone(), caller.sub.clone());
    let entry = spawn_blocking_with_tracing(move || warehouse.erase(&erasure, &by)).await??;
    tracing::info!(
        erasure = entry.id,
        records = entry.records,
        by = %caller.sub,
        "records erased"
    );
    Ok(HttpResponse::Created().json(entry))
}

/// `GET /api/v1/erasures`: the erasure log, newest first.
#[utoipa::path(get, operation_id = "list_erasures", path = "/api/v1/erasures", tag = "erasures",
    responses(
        (status = 200, body = ErasureList),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    _caller: Admin,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse.get_ref().clone();
    let entries = spawn_blocking_with_tracing(move || warehouse.erasures()).await??;
    Ok(HttpResponse::Ok().json(ErasureList { erasures: entries }))
}
