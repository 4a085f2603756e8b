//! HTTP routes. Handlers parse, check the caller, call one layer below and shape JSON.

mod alerts;
mod cases;
mod compare;
mod connectors;
mod dashboard;
mod drivers;
mod erasures;
mod events;
mod federation;
pub mod health;
mod ingest;
pub mod openapi;
mod params;
mod records;
mod scores;
pub mod served_document;
mod session;
mod topics;
mod trends;
mod webhooks;

pub use topics::TopicList;

use actix_web::web;

use crate::analysis::scale::Measure;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Resources, not bare routes, so a known path with the wrong method answers 405.
    let mut api = web::scope("/api/v1")
        .service(web::resource("/openapi.json").route(web::get().to(openapi::openapi_json)))
        .service(web::resource("/compare").route(web::get().to(compare::compare)))
        .service(web::resource("/drivers").route(web::get().to(drivers::drivers)))
        .service(web::resource("/trends").route(web::get().to(trends::trends)))
        .service(web::resource("/records").route(web::get().to(records::records)))
        .service(web::resource("/topics").route(web::get().to(topics::topics)))
        .service(web::resource("/ingest/{instance}").route(web::post().to(ingest::ingest)))
        .service(
            web::resource("/erasures")
                .route(web::post().to(erasures::erase))
                .route(web::get().to(erasures::list)),
        )
        .service(web::resource("/alerts").route(web::get().to(alerts::alerts)))
        .service(web::resource("/cases").route(web::get().to(cases::list)))
        // Before /cases/{id}, which would take "summary" for an id.
        .service(web::resource("/cases/summary").route(web::get().to(cases::summary)))
        .service(
            web::resource("/cases/{id}")
                .route(web::get().to(cases::show))
                .route(web::patch().to(cases::update)),
        )
        .service(web::resource("/webhooks/deliveries").route(web::get().to(webhooks::deliveries)))
        .service(web::resource("/federation").route(web::get().to(federation::federation)))
        .service(web::resource("/session").route(web::post().to(session::exchange)))
        .service(web::resource("/me").route(web::get().to(session::me)))
        .service(web::resource("/events").route(web::get().to(events::events)))
        .service(web::resource("/connectors").route(web::get().to(connectors::list)))
        .service(web::resource("/connectors/{id}/run").route(web::post().to(connectors::run)))
        .service(web::resource("/connectors/{id}/runs").route(web::get().to(connectors::runs)))
        .service(
            web::resource("/connectors/{id}/runs/{run_id}/rejections")
                .route(web::get().to(connectors::rejections)),
        );
    // One route per measure (/nps, /csat, /ces, /stars): same grouping, filters and scope.
    for measure in Measure::ALL {
        api = api.service(
            web::resource(format!("/{}", measure.name()))
                .app_data(web::Data::new(measure))
                .route(web::get().to(scores::cells)),
        );
    }
    // The dashboard's files are compressed (the charting library is 1.1 MB); the API is not,
    // so the event stream is never buffered by a compressor.
    cfg.service(
        web::resource("/")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(dashboard::index)),
    )
    .service(
        web::resource("/dashboard/{file:.*}")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(dashboard::file)),
    )
    .service(web::resource("/health").route(web::get().to(health::health)))
    .service(web::resource("/ready").route(web::get().to(health::ready)))
    .service(web::resource("/metrics").route(web::get().to(health::metrics)))
    .service(api);
}
