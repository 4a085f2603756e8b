//! Headquarters: a durable pull consumer applies the regional nodes' messages. A fetched
//! batch is applied in one transaction together with each node's last applied sequence and
//! acknowledged only after the commit, so a crash at any point has exactly one effect.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

use super::message::{Change, Expectations};
use super::{jetstream_or_degraded, stream_config, FederationSettings, FederationStatus, MSG_ID};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{Applied, Incoming, Warehouse};

/// Messages applied in one transaction at most.
const BATCH: usize = 256;
/// How long a fetch waits for messages.
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// When a message's node waits for an earlier one, it comes back after this.
const WAIT_RETRY: Duration = Duration::from_secs(1);
/// JetStream redelivers a message not acknowledged within this (after a crash of ours).
const ACK_WAIT: Duration = Duration::from_secs(10);
/// How long it waits before trying again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Starts the consumer.
pub fn spawn(
    warehouse: Arc<Warehouse>,
    settings: FederationSettings,
    expect: Expectations,
    status: Arc<FederationStatus>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(js) = jetstream_or_degraded(&settings, &status, "consumer").await else {
            return;
        };
        loop {
            if let Err(error) = consume(&js, &warehouse, &settings, &expect, &status).await {
                tracing::warn!(error = %format!("{error:#}"), "federation: cannot consume");
                status.set_degraded(format!("{error:#}"));
                tokio::time::sleep(RETRY).await;
            }
        }
    })
}

/// Consumes until something fails.
async fn consume(
    js: &jetstream::Context,
    warehouse: &Arc<Warehouse>,
    settings: &FederationSettings,
    expect: &Expectations,
    status: &FederationStatus,
) -> anyhow::Result<()> {
    let stream = js
        .get_or_create_stream(stream_config(settings))
        .await
        .map_err(|e| anyhow::anyhow!("stream {}: {e}", settings.stream))?;
    let durable = format!("hq-{}", settings.node_id);
    let consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(
            &durable,
            pull::Config {
                durable_name: Some(durable.clone()),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: ACK_WAIT,
                max_ack_pending: 20_000,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))?;
    status.set_healthy();
    loop {
        let mut fetched = consumer
            .fetch()
            .max_messages(BATCH)
            .expires(FETCH_WAIT)
            .messages()
            .await?;
        let mut messages = Vec::new();
        while let Some(message) = fetched.next().await {
            messages.push(message.map_err(|e| anyhow::anyhow!("fetch: {e}"))?);
        }
        if messages.is_empty() {
            status.set_healthy();
            continue;
        }
        let span = tracing::info_span!("federation_apply", messages = messages.len());
        let _guard = span.enter();
        let mut incoming = Vec::with_capacity(messages.len());
        let mut placed = Vec::with_capacity(messages.len());
        for message in &messages {
            match sender(message, &settings.subjects()) {
                Some((node, seq)) => {
                    incoming.push(Incoming {
                        node,
                        seq,
                        stream_seq: message.info().ok().map(|info| info.stream_sequence),
                        change: Change::decode(&message.payload, expect),
                    });
                    placed.push(true);
                }
                None => {
                    tracing::error!(subject = %message.subject,
                        "federation message without a valid <node>:<seq> id; discarded");
                    placed.push(false);
                }
            }
        }
        let w = warehouse.clone();
        let outcomes = spawn_blocking_with_tracing(move || w.apply_federated(&incoming)).await??;
        let mut outcomes = outcomes.into_iter();
        for (message, placed) in messages.iter().zip(placed) {
            let kind = if !placed {
                AckKind::Term
            } else {
                match outcomes.next() {
                    Some(Applied::Applied | Applied::Duplicate) => AckKind::Ack,
                    Some(Applied::Waiting) | None => AckKind::Nak(Some(WAIT_RETRY)),
                }
            };
            message
                .ack_with(kind)
                .await
                .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        erase_obsolete_messages(&stream, warehouse).await?;
        status.set_healthy();
    }
}

/// Stream messages erased per round at most.
const ERASE_BATCH: usize = 1_000;

/// Erases from the stream the messages whose replicated records were all erased since, so
/// the erased text is not kept in JetStream (NATS overwrites an erased message's bytes).
async fn erase_obsolete_messages(
    stream: &jetstream::stream::Stream,
    warehouse: &Arc<Warehouse>,
) -> anyhow::Result<()> {
    let w = warehouse.clone();
    let due = spawn_blocking_with_tracing(move || w.stream_erasures(ERASE_BATCH)).await??;
    if due.is_empty() {
        return Ok(());
    }
    let mut erased = Vec::with_capacity(due.len());
    for seq in due {
        match stream.delete_message(seq).await {
            Ok(_) => erased.push(seq),
            // Already gone (erased before a crash of ours, or aged out of the stream).
            Err(e) if e.to_string().contains("no message found") => erased.push(seq),
            Err(e) => {
                tracing::warn!(seq, error = %e, "federation: cannot erase a stream message yet");
                break;
            }
        }
    }
    tracing::info!(
        messages = erased.len(),
        "federation: erased obsolete stream messages"
    );
    let w = warehouse.clone();
    spawn_blocking_with_tracing(move || w.stream_erased(&erased)).await??;
    Ok(())
}

/// `(node, seq)` from the message id, when it matches the subject's node.
fn sender(message: &jetstream::Message, subjects: &str) -> Option<(String, i64)> {
    let id = message.headers.as_ref()?.get(MSG_ID)?.as_str();
    let (node, seq) = id.rsplit_once(':')?;
    let seq: i64 = seq.parse().ok().filter(|s| *s > 0)?;
    let prefix = subjects.strip_suffix('>')?;
    let subject_node = message.subject.as_str().strip_prefix(prefix)?;
    (subject_node == node).then(|| (node.to_owned(), seq))
}
