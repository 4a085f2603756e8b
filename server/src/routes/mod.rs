//! HTTP routes. Handlers parse, check the caller, call one layer below and shape JSON.

mod connectors;
mod health;
mod nps;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health::health))
        .route("/ready", web::get().to(health::ready))
        .route("/metrics", web::get().to(health::metrics))
        .service(
            web::scope("/api/v1")
                .route("/nps", web::get().to(nps::nps))
                .route("/connectors", web::get().to(connectors::list))
                .route("/connectors/{id}/run", web::post().to(connectors::run))
                .route("/connectors/{id}/runs", web::get().to(connectors::runs))
                .route(
                    "/connectors/{id}/runs/{run_id}/rejections",
                    web::get().to(connectors::rejections),
                ),
        );
}

/// Splits `a,b,,c` into trimmed, non-empty parts.
fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
