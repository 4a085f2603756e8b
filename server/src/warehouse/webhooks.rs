//! The webhook outbox: events written in the transaction that causes them, deliveries per
//! subscribed endpoint, and their progress (delivered, retried, dead-lettered).

use chrono::{DateTime, NaiveDateTime, Utc};
use duckdb::{params, params_from_iter, Transaction};
use serde::Serialize;

use super::{Warehouse, WarehouseError};

/// Whether any endpoint wants events of this type (checked once before writing many).
pub(super) fn subscribed(tx: &Transaction<'_>, event_type: &str) -> Result<bool, WarehouseError> {
    Ok(tx.query_row(
        "SELECT EXISTS (FROM webhook_subscriptions WHERE event_type = ?)",
        params![event_type],
        |r| r.get(0),
    )?)
}

/// Writes one event and a delivery for every endpoint subscribed to its type, inside `tx`.
pub(super) fn record(
    tx: &Transaction<'_>,
    event_type: &str,
    data: serde_json::Value,
    now: NaiveDateTime,
) -> Result<(), WarehouseError> {
    record_all(tx, event_type, [data], now)
}

/// Writes events of one type (one per `data`) and their deliveries inside `tx`, set-based, so a
/// batch that opens thousands of cases costs two statements, not two per case.
pub(super) fn record_all(
    tx: &Transaction<'_>,
    event_type: &str,
    data: impl IntoIterator<Item = serde_json::Value>,
    now: NaiveDateTime,
) -> Result<(), WarehouseError> {
    let timestamp = now
        .and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    {
        let mut events = tx.appender("webhook_events")?;
        for data in data {
            let message_id = format!("msg_{:032x}", rand::random::<u128>());
            let payload = serde_json::json!({
                "type": event_type,
                "timestamp": timestamp,
                "data": data,
            })
            .to_string();
            events.append_row(params![message_id, event_type, payload, now])?;
        }
        events.flush()?;
    }
    // The events just written are those of this type at this transaction's time (zone maps
    // keep the scan to the newest rows); an earlier one with the same time already has its
    // deliveries, which the key leaves as they are.
    tx.execute(
        "INSERT INTO webhook_deliveries \
         SELECT e.message_id, s.endpoint, 0, e.created_at, NULL, NULL, NULL, NULL \
         FROM webhook_events e JOIN webhook_subscriptions s ON s.event_type = e.type \
         WHERE e.type = ? AND e.created_at = ? ON CONFLICT DO NOTHING",
        params![event_type, now],
    )?;
    Ok(())
}

impl Warehouse {
    /// Deliveries by state: pending (to be tried or retried), delivered, dead.
    ///
    /// # Errors
    /// On a database error.
    pub fn webhook_delivery_states(&self) -> Result<[(&'static str, u64); 3], WarehouseError> {
        self.read(|c| {
            let (pending, delivered, dead): (i64, i64, i64) = c.query_row(
                "SELECT count(*) FILTER (delivered_at IS NULL AND dead_at IS NULL), \
                        count(*) FILTER (delivered_at IS NOT NULL), \
                        count(*) FILTER (dead_at IS NOT NULL) \
                 FROM webhook_deliveries",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            Ok([
                ("pending", pending as u64),
                ("delivered", delivered as u64),
                ("dead", dead as u64),
            ])
        })
    }
}

/// A delivery whose time has come.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub message_id: String,
    pub endpoint: String,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How an attempt went.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered {
        status: u16,
    },
    /// Failed; try again at `retry_at`, or never (`None`: dead letter).
    Failed {
        status: Option<u16>,
        error: String,
        retry_at: Option<NaiveDateTime>,
    },
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Dead,
}

/// One delivery as `GET /api/v1/webhooks/deliveries` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub message_id: String,
    pub endpoint: String,
    pub event_type: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub dead_at: Option<DateTime<Utc>>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

impl Warehouse {
    /// Replaces the endpoint subscriptions with the configured ones: (endpoint, event type).
    ///
    /// # Errors
    /// On a database error.
    pub fn set_webhook_subscriptions(
        &self,
        subscriptions: &[(String, String)],
    ) -> Result<(), WarehouseError> {
        self.write(|connection| {
            let tx = connection.transaction()?;
            tx.execute("DELETE FROM webhook_subscriptions", [])?;
            for (endpoint, event_type) in subscriptions {
                tx.execute(
                    "INSERT INTO webhook_subscriptions VALUES (?, ?)",
                    params![endpoint, event_type],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Up to `limit` deliveries due at `now`, oldest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn due_deliveries(
        &self,
        now: NaiveDateTime,
        limit: u32,
    ) -> Result<Vec<DueDelivery>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare(
                "SELECT d.message_id, d.endpoint, e.payload, d.attempts \
                 FROM webhook_deliveries d JOIN webhook_events e USING (message_id) \
                 WHERE d.next_attempt_at <= ? ORDER BY d.next_attempt_at, e.created_at LIMIT ?",
            )?;
            let rows = statement.query_map(params![now, limit], |r| {
                Ok(DueDelivery {
                    message_id: r.get(0)?,
                    endpoint: r.get(1)?,
                    payload: r.get(2)?,
                    attempts: r.get::<_, i32>(3)?.max(0) as u32,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Records how an attempt of a delivery went.
    ///
    /// # Errors
    /// On a database error.
    pub fn record_attempt(
        &self,
        delivery: &DueDelivery,
        outcome: &AttemptOutcome,
        now: NaiveDateTime,
    ) -> Result<(), WarehouseError> {
        let key = [&delivery.message_id, &delivery.endpoint];
        self.write(|c| {
            match outcome {
                AttemptOutcome::Delivered { status } => c.execute(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                       next_attempt_at = NULL, delivered_at = ?, last_status = ?, \
                       last_error = NULL WHERE message_id = ? AND endpoint = ?",
                    params![now, status, key[0], key[1]],
                )?,
                AttemptOutcome::Failed {
                    status,
                    error,
                    retry_at,
                } => c.execute(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, \
                       next_attempt_at = ?::TIMESTAMP, dead_at = ?::TIMESTAMP, \
                       last_status = ?, last_error = ? WHERE message_id = ? AND endpoint = ?",
                    params![
                        retry_at,
                        retry_at.is_none().then_some(now),
                        status,
                        error,
                        key[0],
                        key[1]
                    ],
                )?,
            };
            Ok(())
        })
    }

    /// Deliveries in `state` (all without), newest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn deliveries(
        &self,
        state: Option<DeliveryState>,
        limit: u32,
    ) -> Result<Vec<DeliveryView>, WarehouseError> {
        let condition = match state {
            None => "true",
            Some(DeliveryState::Pending) => "d.next_attempt_at IS NOT NULL",
            Some(DeliveryState::Delivered) => "d.delivered_at IS NOT NULL",
            Some(DeliveryState::Dead) => "d.dead_at IS NOT NULL",
        };
        self.read(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT d.message_id, d.endpoint, e.type, d.attempts, e.created_at, \
                   d.next_attempt_at, d.delivered_at, d.dead_at, d.last_status, d.last_error \
                 FROM webhook_deliveries d JOIN webhook_events e USING (message_id) \
                 WHERE {condition} ORDER BY e.created_at DESC, d.message_id LIMIT ?"
            ))?;
            let utc = |t: Option<NaiveDateTime>| t.map(|t| t.and_utc());
            let rows = statement.query_map(params_from_iter([limit]), |r| {
                let (delivered_at, dead_at) = (
                    r.get::<_, Option<NaiveDateTime>>(6)?,
                    r.get::<_, Option<NaiveDateTime>>(7)?,
                );
                Ok(DeliveryView {
                    message_id: r.get(0)?,
                    endpoint: r.get(1)?,
                    event_type: r.get(2)?,
                    state: match (delivered_at, dead_at) {
                        (Some(_), _) => DeliveryState::Delivered,
                        (None, Some(_)) => DeliveryState::Dead,
                        (None, None) => DeliveryState::Pending,
                    },
                    attempts: r.get::<_, i32>(3)?.max(0) as u32,
                    created_at: r.get::<_, NaiveDateTime>(4)?.and_utc(),
                    next_attempt_at: utc(r.get(5)?),
                    delivered_at: utc(delivered_at),
                    dead_at: utc(dead_at),
                    last_status: r
                        .get::<_, Option<i32>>(8)?
                        .and_then(|s| u16::try_from(s).ok()),
                    last_error: r.get(9)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
