//! HTTP routes. Handlers parse, check the caller, call one layer below and shape JSON.

mod compare;
mod connectors;
mod health;
mod ingest;
mod params;
mod records;
mod scores;
mod topics;
mod trends;

pub use topics::TopicList;

use actix_web::web;

use crate::analysis::scale::Measure;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut api = web::scope("/api/v1")
        .route("/compare", web::get().to(compare::compare))
        .route("/trends", web::get().to(trends::trends))
        .route("/records", web::get().to(records::records))
        .route("/topics", web::get().to(topics::topics))
        .route("/ingest/{instance}", web::post().to(ingest::ingest))
        .route("/connectors", web::get().to(connectors::list))
        .route("/connectors/{id}/run", web::post().to(connectors::run))
        .route("/connectors/{id}/runs", web::get().to(connectors::runs))
        .route(
            "/connectors/{id}/runs/{run_id}/rejections",
            web::get().to(connectors::rejections),
        );
    // One route per measure (/nps, /csat, /ces, /stars): same grouping, filters and scope.
    for measure in Measure::ALL {
        api = api.service(
            web::resource(format!("/{}", measure.name()))
                .app_data(web::Data::new(measure))
                .route(web::get().to(scores::cells)),
        );
    }
    cfg.route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .service(api);
}
