//! Trustpilot reviews of one business unit (`GET /v1/business-units/{id}/reviews`, newest
//! first with `orderBy=createdat.desc`, numbered pages announced by a `next-page` link). A
//! business unit is one domain, so one instance per market is the natural setup. Stars only,
//! never NPS; consumer names are not kept.
//!
//! Incremental like the other review connectors: each run pages down to the newest
//! `createdAt` of the previous complete pass.

use chorus_http_kit::pass::{self, NewestFirst};
use chorus_http_kit::{credential, defaults, Client, HttpError, Policy};
use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, SourceRecord};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Instance settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `https://api.trustpilot.com` unless tests point elsewhere.
    #[serde(default = "default_base")]
    pub base_url: String,
    pub business_unit_id: String,
    /// Variable holding the API key.
    pub api_key_env: String,
    /// Reviews per page (Trustpilot allows up to 100).
    #[serde(default = "hundred")]
    pub per_page: u32,
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u64,
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    #[serde(default = "defaults::backoff_ms")]
    pub backoff_ms: u64,
}

fn default_base() -> String {
    "https://api.trustpilot.com".into()
}
fn hundred() -> u32 {
    100
}

/// One configured business unit.
#[derive(Debug)]
pub struct Trustpilot {
    settings: Settings,
    client: Client,
    api_key: String,
}

impl Trustpilot {
    fn url(&self, page: u32) -> String {
        let s = &self.settings;
        format!(
            "{}/v1/business-units/{}/reviews?apikey={}&perPage={}&page={page}&orderBy=createdat.desc",
            s.base_url.trim_end_matches('/'),
            s.business_unit_id,
            self.api_key,
            s.per_page.clamp(1, 100)
        )
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        // The API key travels in the URL: never let it reach a message.
        let message = error.to_string().replace(&self.api_key, "***");
        match error {
            HttpError::Unauthorized { .. } => ConnectorError::new(format!(
                "{message}; check the API key in {}",
                self.settings.api_key_env
            )),
            _ => ConnectorError::new(message),
        }
    }
}

fn to_record(review: &Value) -> Result<(SourceRecord, i64), String> {
    let id = review
        .get("id")
        .and_then(Value::as_str)
        .ok_or("review without id")?;
    let stars = review
        .get("stars")
        .and_then(Value::as_i64)
        .ok_or("review without stars")?;
    let created = review
        .get("createdAt")
        .and_then(Value::as_str)
        .ok_or("review without createdAt")?;
    let time =
        DateTime::parse_from_rfc3339(created).map_err(|e| format!("createdAt {created:?}: {e}"))?;
    let text: Vec<&str> = ["title", "text"]
        .iter()
        .filter_map(|k| review.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    let mut attributes = Map::new();
    for key in ["isVerified", "status"] {
        if let Some(value) = review.get(key).filter(|v| !v.is_null()) {
            attributes.insert(key.into(), value.clone());
        }
    }
    attributes.insert(
        "has_reply".into(),
        Value::Bool(review.get("companyReply").is_some_and(|r| !r.is_null())),
    );
    Ok((
        SourceRecord {
            external_id: id.to_owned(),
            occurred_at: time.to_utc().to_rfc3339(),
            stars: Some(stars),
            text: (!text.is_empty()).then(|| text.join(". ")),
            language_hint: review
                .get("language")
                .and_then(Value::as_str)
                .map(str::to_owned),
            attributes,
            ..SourceRecord::default()
        },
        time.timestamp(),
    ))
}

impl Connector for Trustpilot {
    fn manifest() -> Manifest {
        Manifest {
            name: "trustpilot".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "review".into(),
            description: "Trustpilot reviews of one business unit".into(),
            config_schema: json!({
                "type": "object",
                "required": ["business_unit_id", "api_key_env"],
                "properties": {
                    "base_url": {"type": "string"}, "business_unit_id": {"type": "string"},
                    "api_key_env": {"type": "string"}, "per_page": {"type": "integer", "maximum": 100},
                    "timeout_seconds": {"type": "integer"}, "max_retries": {"type": "integer"},
                    "backoff_ms": {"type": "integer"}
                }
            }),
            records_may_change: true,
        }
    }

    fn open(settings: Value) -> Result<Self, ConnectorError> {
        let settings: Settings = serde_json::from_value(settings)
            .map_err(|e| ConnectorError::new(format!("invalid settings: {e}")))?;
        let api_key = credential(&settings.api_key_env).map_err(ConnectorError::new)?;
        let policy = Policy::from_settings(
            settings.timeout_seconds,
            settings.max_retries,
            settings.backoff_ms,
        );
        Ok(Trustpilot {
            settings,
            client: Client::new(policy, None),
            api_key,
        })
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        self.client
            .get_json(&self.url(1))
            .map(|_| ())
            .map_err(|e| self.explain(e))
    }

    fn read(&mut self, cursor: Option<&str>, _max_records: usize) -> Result<Batch, ConnectorError> {
        pass::read(self, cursor)
    }
}

impl NewestFirst for Trustpilot {
    type Position = u32;

    fn fetch(&self, page: Option<&u32>) -> Result<Value, HttpError> {
        self.client.get_json(&self.url(page.copied().unwrap_or(1)))
    }

    fn items(&self, page: &Value) -> Result<Vec<Value>, ConnectorError> {
        page.get("reviews")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| ConnectorError::new("page has no \"reviews\" array"))
    }

    fn record(&self, item: &Value) -> Result<(SourceRecord, i64), String> {
        to_record(item)
    }

    fn id_field(&self) -> &'static str {
        "id"
    }

    fn next(&self, page: &Value, position: Option<&u32>, items: usize) -> Option<u32> {
        let has_next = page
            .get("links")
            .and_then(Value::as_array)
            .is_some_and(|links| {
                links
                    .iter()
                    .any(|l| l.get("rel").and_then(Value::as_str) == Some("next-page"))
            });
        (has_next && items > 0).then(|| position.copied().unwrap_or(1) + 1)
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        Trustpilot::explain(self, error)
    }
}

chorus_plugin_api::export_connector!(Trustpilot);

#[cfg(test)]
mod tests;
