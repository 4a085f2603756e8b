//! Erasure (GDPR art. 17), for admins: erase a person's records, and read the erasure log.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::error::ApiError;
use crate::ingest::Ingestor;
use crate::permission::Admin;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{Erasure, Warehouse};

/// Body of `POST /api/v1/erasures`: an attribute match, or an external id (optionally in one
/// instance).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    attribute: Option<AttributeMatch>,
    external_id: Option<String>,
    instance: Option<String>,
}

#[derive(Debug, Deserialize)]
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

/// `POST /api/v1/erasures`: erases the matching records and answers with the log entry.
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
pub async fn list(
    _caller: Admin,
    warehouse: web::Data<Arc<Warehouse>>,
) -> Result<HttpResponse, ApiError> {
    let warehouse = warehouse.get_ref().clone();
    let entries = spawn_blocking_with_tracing(move || warehouse.erasures()).await??;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "erasures": entries })))
}
