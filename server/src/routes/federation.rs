//! `GET /api/v1/federation`, for admins: this node's role and link, the regional nodes
//! headquarters applies (last sequence, lag, what it waits for), or a regional node's outbox.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::Serialize;

use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::federation::{FederationStatus, NodeRole};
use crate::permission::Admin;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{NodeState, OutboxState, Warehouse};

/// A regional node as headquarters applies it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Node {
    #[serde(flatten)]
    state: NodeState,
    /// Seconds from the region's commit to headquarters' apply of the last message.
    lag_seconds: f64,
}

/// What a regional node has not yet shipped.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Outbox {
    /// Messages not yet acknowledged by JetStream.
    depth: u64,
    /// When the oldest of them was committed.
    #[serde(serialize_with = "crate::dates::rfc3339::option")]
    oldest: Option<NaiveDateTime>,
    /// The last sequence acknowledged.
    published_seq: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Federation {
    /// standalone, regional or hq.
    role: &'static str,
    /// `ok`, or `degraded: <why>`; absent on a standalone node.
    #[serde(skip_serializing_if = "Option::is_none")]
    link: Option<String>,
    /// On headquarters.
    #[serde(skip_serializing_if = "Option::is_none")]
    nodes: Option<Vec<Node>>,
    /// On a regional node.
    #[serde(skip_serializing_if = "Option::is_none")]
    outbox: Option<Outbox>,
}

/// Federation state: the regional nodes headquarters applies, or this region's outbox.
#[utoipa::path(get, path = "/api/v1/federation", tag = "operations",
    responses(
        (status = 200, body = Federation),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn federation(
    _caller: Admin,
    warehouse: web::Data<Arc<Warehouse>>,
    status: web::Data<Arc<FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let role = status.role();
    let warehouse = warehouse.get_ref().clone();
    let (nodes, outbox) = spawn_blocking_with_tracing(move || {
        let nodes = match role {
            NodeRole::Hq => Some(warehouse.federation_nodes()?),
            _ => None,
        };
        let outbox = match role {
            NodeRole::Regional => Some(warehouse.outbox_state()?),
            _ => None,
        };
        Ok::<_, crate::warehouse::WarehouseError>((nodes, outbox))
    })
    .await??;
    Ok(HttpResponse::Ok().json(Federation {
        role: role.as_str(),
        link: status.describe(),
        nodes: nodes.map(|nodes| nodes.into_iter().map(node).collect()),
        outbox: outbox.map(|o: OutboxState| Outbox {
            depth: o.depth,
            oldest: o.oldest,
            published_seq: o.published,
        }),
    }))
}

fn node(state: NodeState) -> Node {
    let lag = (state.applied_at - state.committed_at).num_milliseconds() as f64 / 1000.0;
    Node {
        state,
        lag_seconds: lag.max(0.0),
    }
}

/// The `as_of` of an aggregate answer on headquarters: per market in it, when its region
/// committed the last change applied here. `None` on other nodes (their data is their own).
///
/// # Errors
/// On a database error.
pub(super) async fn as_of(
    warehouse: &Arc<Warehouse>,
    status: &FederationStatus,
    markets: std::collections::BTreeSet<String>,
) -> Result<Option<std::collections::BTreeMap<String, NaiveDateTime>>, ApiError> {
    if status.role() != NodeRole::Hq {
        return Ok(None);
    }
    let warehouse = warehouse.clone();
    let mut all = spawn_blocking_with_tracing(move || warehouse.markets_as_of()).await??;
    all.retain(|market, _| markets.contains(market));
    Ok(Some(all))
}
