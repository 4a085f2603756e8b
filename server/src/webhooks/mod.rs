//! Webhooks: case and alert events to other systems (a CRM, a ticketing tool, n8n), signed as
//! Standard Webhooks says (`server/specs/standard-webhooks.md`). Events wait in the
//! warehouse's outbox, written in the transaction that causes them; [`deliverer`] sends them,
//! retries with backoff and dead-letters what never arrives.

pub mod deliverer;
pub mod signature;

use serde::Deserialize;

pub use signature::Secret;

/// The event types Chorus sends.
pub const EVENT_TYPES: [&str; 4] = [
    "case.created",
    "case.overdue",
    "case.resolved",
    "alert.created",
];

/// One `[[webhooks]]` endpoint as configured.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Identifier, shown on deliveries.
    pub id: String,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// Environment variable holding the signing secret, `whsec_<base64>`.
    pub secret_env: String,
    /// Event types sent to it; default: all.
    #[serde(default = "all_events")]
    pub events: Vec<String>,
}

fn all_events() -> Vec<String> {
    EVENT_TYPES.iter().map(|e| (*e).to_owned()).collect()
}

/// How deliveries are made and retried (`[webhook_delivery]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// Waits between attempts after the first: the specification's example schedule by
    /// default (5 s … 24 h, about three days). After the last, a delivery is dead.
    pub retry_seconds: Vec<u64>,
    /// Time an endpoint has to answer.
    pub timeout_seconds: u64,
    /// How often the outbox is looked at.
    pub poll_seconds: u64,
}

impl Default for DeliverySettings {
    fn default() -> DeliverySettings {
        DeliverySettings {
            retry_seconds: vec![5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 86_400],
            timeout_seconds: 15,
            poll_seconds: 1,
        }
    }
}

/// Most endpoints, retries and the longest wait a configuration may ask for.
const MAX_ENDPOINTS: usize = 50;
const MAX_RETRIES: usize = 20;
const MAX_WAIT_SECONDS: u64 = 7 * 86_400;

/// Problems with the webhook settings, each naming its entry.
pub fn validate(endpoints: &[WebhookConfig], delivery: &DeliverySettings) -> Vec<String> {
    let mut problems = Vec::new();
    if endpoints.len() > MAX_ENDPOINTS {
        problems.push(format!("webhooks: at most {MAX_ENDPOINTS}"));
    }
    let mut ids = std::collections::BTreeSet::new();
    for endpoint in endpoints {
        let id = &endpoint.id;
        if !ids.insert(id.as_str()) {
            problems.push(format!("webhooks {id}: duplicate id"));
        }
        let url = reqwest::Url::parse(&endpoint.url);
        if !url.is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()) {
            problems.push(format!("webhooks {id}: url must be an http(s) URL"));
        }
        if endpoint.events.is_empty() {
            problems.push(format!("webhooks {id}: events must name at least one"));
        }
        for event in &endpoint.events {
            if !EVENT_TYPES.contains(&event.as_str()) {
                problems.push(format!(
                    "webhooks {id}: unknown event {event:?}; known: {}",
                    EVENT_TYPES.join(", ")
                ));
            }
        }
    }
    if delivery.retry_seconds.len() > MAX_RETRIES
        || delivery
            .retry_seconds
            .iter()
            .any(|s| !(1..=MAX_WAIT_SECONDS).contains(s))
    {
        problems.push(format!(
            "webhook_delivery.retry_seconds: at most {MAX_RETRIES} waits of 1 to {MAX_WAIT_SECONDS} s"
        ));
    }
    if !(1..=60).contains(&delivery.timeout_seconds) {
        problems.push("webhook_delivery.timeout_seconds must be 1 to 60".to_owned());
    }
    if !(1..=3600).contains(&delivery.poll_seconds) {
        problems.push("webhook_delivery.poll_seconds must be 1 to 3600".to_owned());
    }
    problems
}
