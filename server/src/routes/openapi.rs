//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the handlers'
//! annotations and the types they answer with, so it cannot drift from the code. The e2e
//! suite validates every response it receives against it.

use actix_web::HttpResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Every error answer: a stable code (listed in `server/src/error.rs`) and a message for
/// people.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    /// With `residency`: the regional node that holds the records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_url: Option<String>,
}

/// Bearer JWTs, as every protected route expects.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chorus",
        description = "One honest view of customer feedback across markets."
    ),
    paths(
        super::health::health,
        super::health::ready,
        super::health::metrics,
        super::scores::cells,
        super::compare::compare,
        super::drivers::drivers,
        super::trends::trends,
        super::records::records,
        super::topics::topics,
        super::ingest::ingest,
        super::erasures::erase,
        super::erasures::list,
        super::alerts::alerts,
        super::cases::list,
        super::cases::summary,
        super::cases::show,
        super::cases::update,
        super::webhooks::deliveries,
        super::federation::federation,
        super::session::exchange,
        super::session::me,
        super::events::events,
        super::connectors::list,
        super::connectors::run,
        super::connectors::runs,
        super::connectors::rejections,
        openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

/// The document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
pub async fn openapi_json(
    served: actix_web::web::Data<super::served_document::ServedDocument>,
) -> HttpResponse {
    HttpResponse::Ok().json(&*served.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_route() {
        let json = serde_json::to_value(document()).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        let paths: Vec<&str> = json["paths"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(paths.len(), 25, "{paths:?}");
    }

    #[test]
    fn every_operation_has_its_own_id_and_a_summary_that_says_what_it_does() {
        let json = serde_json::to_value(document()).unwrap();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap_or_default();
                assert!(
                    ids.insert(id.to_owned()),
                    "{method} {path}: operationId {id} twice"
                );
                let summary = operation["summary"].as_str().unwrap_or_default();
                assert!(
                    summary.len() > 12 && !summary.starts_with("Handler"),
                    "{method} {path}: summary {summary:?}"
                );
            }
        }
    }
}
