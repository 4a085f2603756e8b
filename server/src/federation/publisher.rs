//! Regional node: drains the outbox to JetStream in sequence order. A message counts as
//! sent only once JetStream acknowledged it; until then it stays in the outbox, so a crash
//! or an unreachable NATS loses nothing (a republished message is dropped by JetStream's
//! duplicate window or by headquarters' applied sequence).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::HeaderMap;
use tokio::task::JoinHandle;

use super::{jetstream_or_degraded, stream_config, FederationSettings, FederationStatus, MSG_ID};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::Warehouse;

/// How long the publisher rests when the outbox is empty.
const IDLE: Duration = Duration::from_millis(100);
/// How long it waits before trying again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the publisher.
pub fn spawn(
    warehouse: Arc<Warehouse>,
    settings: FederationSettings,
    status: Arc<FederationStatus>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(js) = jetstream_or_degraded(&settings, &status, "publisher").await else {
            return;
        };
        loop {
            if let Err(error) = publish(&js, &warehouse, &settings, &status).await {
                let depth = warehouse.outbox_state().map(|s| s.depth).unwrap_or(0);
                tracing::warn!(error = %format!("{error:#}"), outbox = depth,
                    "federation: cannot publish; the outbox keeps every change");
                status.set_degraded(format!("{error:#}"));
                tokio::time::sleep(RETRY).await;
            }
        }
    })
}

/// Publishes until something fails.
async fn publish(
    js: &jetstream::Context,
    warehouse: &Arc<Warehouse>,
    settings: &FederationSettings,
    status: &FederationStatus,
) -> anyhow::Result<()> {
    js.get_or_create_stream(stream_config(settings))
        .await
        .map_err(|e| anyhow::anyhow!("stream {}: {e}", settings.stream))?;
    status.set_healthy();
    let node = settings.node_id.clone();
    let subject = settings.subject(&node);
    loop {
        let (w, window) = (warehouse.clone(), settings.publish_window);
        let pending = spawn_blocking_with_tracing(move || {
            let after = w.outbox_state()?.published;
            w.outbox_after(after, window)
        })
        .await??;
        if pending.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let span = tracing::info_span!("federation_publish", messages = pending.len());
        let _guard = span.enter();
        let mut acks = Vec::with_capacity(pending.len());
        for (seq, payload) in pending {
            let mut headers = HeaderMap::new();
            headers.insert(MSG_ID, format!("{node}:{seq}").as_str());
            let ack = js
                .publish_with_headers(subject.clone(), headers, payload.into())
                .await?;
            acks.push((seq, ack));
        }
        let mut acknowledged = None;
        let mut failure = None;
        for (seq, ack) in acks {
            match ack.await {
                Ok(_) => acknowledged = Some(seq),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        if let Some(seq) = acknowledged {
            let (w, node) = (warehouse.clone(), node.clone());
            spawn_blocking_with_tracing(move || w.mark_published(&node, seq)).await??;
        }
        if let Some(error) = failure {
            return Err(error.into());
        }
        status.set_healthy();
    }
}
