//! Sends due deliveries from the outbox: signed POSTs, a 2xx is delivered, anything else is
//! retried after the next wait of the schedule (with jitter), and after the last wait, or on
//! `410 Gone`, the delivery is dead and listed as such. A receiver that is down loses nothing:
//! the outbox keeps every event until it is delivered or dead.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;
use tokio::task::JoinHandle;

use super::{DeliverySettings, Secret, WebhookConfig};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::webhooks::{AttemptOutcome, DueDelivery};
use crate::warehouse::Warehouse;

/// Deliveries handled per look at the outbox.
const BATCH: u32 = 100;
/// Longest error text kept on a delivery.
const MAX_ERROR_CHARS: usize = 300;

/// A configured endpoint with its secret.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub url: reqwest::Url,
    pub secret: Secret,
}

/// The endpoints of the configuration, their secrets read from the environment.
///
/// # Errors
/// A missing or malformed secret, or a URL that does not parse, naming the endpoint.
pub fn endpoints(
    configs: &[WebhookConfig],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Endpoint>, String> {
    configs
        .iter()
        .map(|config| {
            let id = &config.id;
            let secret = env(&config.secret_env).ok_or_else(|| {
                format!(
                    "webhooks {id}: set {} to its signing secret",
                    config.secret_env
                )
            })?;
            Ok(Endpoint {
                id: id.clone(),
                url: reqwest::Url::parse(&config.url)
                    .map_err(|e| format!("webhooks {id}: url: {e}"))?,
                secret: Secret::parse(&secret)
                    .map_err(|e| format!("webhooks {id}: {}: {e}", config.secret_env))?,
            })
        })
        .collect()
}

/// Spawns the delivery loop. Abort the handle to stop it.
pub fn spawn(
    warehouse: Arc<Warehouse>,
    endpoints: Vec<Endpoint>,
    settings: DeliverySettings,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_seconds))
            // The specification counts a redirect as a failure; following one would send the
            // event somewhere nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("chorus-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client without custom TLS settings builds");
        let endpoints: BTreeMap<String, Endpoint> =
            endpoints.into_iter().map(|e| (e.id.clone(), e)).collect();
        let mut ticks = tokio::time::interval(Duration::from_secs(settings.poll_seconds));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            if let Err(e) = deliver_due(&warehouse, &client, &endpoints, &settings).await {
                tracing::error!(error = %e, "webhook delivery round failed");
            }
        }
    })
}

async fn deliver_due(
    warehouse: &Arc<Warehouse>,
    client: &reqwest::Client,
    endpoints: &BTreeMap<String, Endpoint>,
    settings: &DeliverySettings,
) -> Result<(), String> {
    let due = {
        let warehouse = warehouse.clone();
        let now = chrono::Utc::now().naive_utc();
        spawn_blocking_with_tracing(move || warehouse.due_deliveries(now, BATCH))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    for delivery in due {
        // An endpoint removed from the configuration keeps its deliveries pending (listed),
        // in case it comes back.
        let Some(endpoint) = endpoints.get(&delivery.endpoint) else {
            continue;
        };
        let outcome = attempt(client, endpoint, &delivery, settings).await;
        match &outcome {
            AttemptOutcome::Delivered { status } => tracing::info!(
                message_id = %delivery.message_id, endpoint = %endpoint.id, status,
                "webhook delivered"
            ),
            AttemptOutcome::Failed {
                status,
                error,
                retry_at,
            } => tracing::warn!(
                message_id = %delivery.message_id, endpoint = %endpoint.id, ?status,
                error = %error, dead = retry_at.is_none(), "webhook delivery failed"
            ),
        }
        let warehouse = warehouse.clone();
        let now = chrono::Utc::now().naive_utc();
        spawn_blocking_with_tracing(move || warehouse.record_attempt(&delivery, &outcome, now))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn attempt(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    delivery: &DueDelivery,
    settings: &DeliverySettings,
) -> AttemptOutcome {
    let timestamp = chrono::Utc::now().timestamp();
    let body = delivery.payload.as_bytes();
    let signature = endpoint.secret.sign(&delivery.message_id, timestamp, body);
    let sent = client
        .post(endpoint.url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", &delivery.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    let now = chrono::Utc::now().naive_utc();
    match sent {
        Ok(response) if response.status().is_success() => AttemptOutcome::Delivered {
            status: response.status().as_u16(),
        },
        Ok(response) => {
            let status = response.status().as_u16();
            AttemptOutcome::Failed {
                status: Some(status),
                error: format!("answered {}", response.status()),
                // 410 Gone: the receiver wants no more of it.
                retry_at: (status != 410)
                    .then(|| retry_at(&settings.retry_seconds, delivery.attempts, now))
                    .flatten(),
            }
        }
        Err(e) => AttemptOutcome::Failed {
            status: None,
            error: error_text(&e),
            retry_at: retry_at(&settings.retry_seconds, delivery.attempts, now),
        },
    }
}

/// When to try again after attempt number `attempts + 1` failed: the next wait of the
/// schedule, plus up to 10 % jitter so retries of many events do not arrive together; `None`
/// when the schedule is used up.
pub fn retry_at(schedule: &[u64], attempts: u32, now: NaiveDateTime) -> Option<NaiveDateTime> {
    let wait_ms = i64::try_from(*schedule.get(attempts as usize)?)
        .ok()?
        .checked_mul(1000)?;
    let jitter_ms = (wait_ms as f64 * 0.1 * rand::random::<f64>()) as i64;
    now.checked_add_signed(chrono::Duration::milliseconds(wait_ms + jitter_ms))
}

fn error_text(e: &reqwest::Error) -> String {
    let text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        e.to_string()
    };
    text.chars().take(MAX_ERROR_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_with_bounded_jitter_then_stop() {
        let now: NaiveDateTime = "2026-01-01T00:00:00".parse().unwrap();
        let schedule = [5, 300];
        let first = retry_at(&schedule, 0, now).unwrap();
        assert!(first >= now + chrono::Duration::seconds(5));
        assert!(first <= now + chrono::Duration::milliseconds(5_500));
        let second = retry_at(&schedule, 1, now).unwrap();
        assert!(second >= now + chrono::Duration::seconds(300));
        assert!(second <= now + chrono::Duration::seconds(330));
        assert_eq!(retry_at(&schedule, 2, now), None);
    }

    #[test]
    fn an_endpoint_without_its_secret_is_named() {
        let config = WebhookConfig {
            id: "crm".into(),
            url: "https://crm.example/hook".into(),
            secret_env: "CRM_SECRET".into(),
            events: vec!["case.created".into()],
        };
        let missing = endpoints(std::slice::from_ref(&config), |_| None).unwrap_err();
        assert!(missing.contains("set CRM_SECRET"), "{missing}");
        let malformed = endpoints(std::slice::from_ref(&config), |_| Some("whsec_x".into()));
        assert!(malformed.unwrap_err().contains("webhooks crm"));
        let fine = endpoints(&[config], |_| {
            Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into())
        });
        assert_eq!(fine.unwrap()[0].id, "crm");
    }
}
