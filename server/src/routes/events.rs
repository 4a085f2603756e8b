//! `GET /api/v1/events`: the caller's live event stream (server-sent events).

use std::sync::Arc;

use actix_web::{web, HttpResponse};

use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::events::{self, NoSlot, StreamSlots, MAX_STREAMS, MAX_STREAMS_PER_CALLER};
use crate::permission::SignedIn;
use crate::warehouse::Warehouse;

/// One server-sent event as the stream's fields (documentation only).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
struct StreamEvent {
    /// `ready`, `records`, `run`, `resync` or `expired`.
    event: String,
    /// A JSON object.
    data: String,
    /// Milliseconds a client waits before reconnecting (the first event only).
    retry: Option<u64>,
}

/// Server-sent events: `ready` once, then `records` (cells of the caller's markets that gained
/// or lost records), `run` (connector runs, for those who see connectors), `resync` (events
/// were missed: reload), and `expired` when the token expires, which ends the stream.
#[utoipa::path(get, path = "/api/v1/events", tag = "session",
    responses(
        (status = 200, description = "An event stream", content_type = "text/event-stream", body = StreamEvent),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn events(
    caller: SignedIn,
    warehouse: web::Data<Arc<Warehouse>>,
    slots: web::Data<Arc<StreamSlots>>,
) -> Result<HttpResponse, ApiError> {
    let slot = slots.take(&caller.sub).map_err(|bound| match bound {
        NoSlot::CallerFull => ApiError::TooManyRequests(format!(
            "you hold {MAX_STREAMS_PER_CALLER} event streams, the most one caller may; close \
             one (another tab) and retry"
        )),
        NoSlot::ServerFull => ApiError::Unavailable(format!(
            "{MAX_STREAMS} event streams are open, the most this server keeps; retry later"
        )),
    })?;
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        // Proxies such as nginx would otherwise buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(events::stream(&caller, warehouse.subscribe(), slot)))
}
