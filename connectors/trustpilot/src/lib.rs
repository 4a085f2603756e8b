//! Trustpilot reviews of one business unit (`GET /v1/business-units/{id}/reviews`, newest
//! first with `orderBy=createdat.desc`, numbered pages announced by a `next-page` link). A
//! business unit is one domain, so one instance per market is the natural setup. Stars only,
//! never NPS; consumer names are not kept.
//!
//! Incremental like the other review connectors: each run pages down to the newest
//! `createdAt` of the previous complete pass.

use chorus_http_kit::{credential, Client, HttpError, Policy};
use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, RowRejection, SourceRecord};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
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
    #[serde(default = "thirty")]
    pub timeout_seconds: u64,
    #[serde(default = "five")]
    pub max_retries: u32,
    #[serde(default = "half_second")]
    pub backoff_ms: u64,
}

fn default_base() -> String {
    "https://api.trustpilot.com".into()
}
fn hundred() -> u32 {
    100
}
fn thirty() -> u64 {
    30
}
fn five() -> u32 {
    5
}
fn half_second() -> u64 {
    500
}

/// Where a pass stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewCursor {
    /// Newest `createdAt` (Unix seconds) of the last complete pass.
    pub high_water: Option<i64>,
    /// Next page number of the pass in progress.
    pub page: Option<u32>,
    /// Newest `createdAt` seen in the pass in progress.
    pub pass_max: Option<i64>,
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
        }
    }

    fn open(settings: Value) -> Result<Self, ConnectorError> {
        let settings: Settings = serde_json::from_value(settings)
            .map_err(|e| ConnectorError::new(format!("invalid settings: {e}")))?;
        let api_key = credential(&settings.api_key_env).map_err(ConnectorError::new)?;
        let policy = Policy {
            timeout: std::time::Duration::from_secs(settings.timeout_seconds),
            max_retries: settings.max_retries,
            backoff: std::time::Duration::from_millis(settings.backoff_ms),
            ..Policy::default()
        };
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
        let mut state: ReviewCursor = match cursor {
            None => ReviewCursor::default(),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ConnectorError::new(format!("unreadable cursor {text:?}: {e}")))?,
        };
        let number = state.page.unwrap_or(1);
        let page = self
            .client
            .get_json(&self.url(number))
            .map_err(|e| self.explain(e))?;
        let reviews = page
            .get("reviews")
            .and_then(Value::as_array)
            .ok_or_else(|| ConnectorError::new("page has no \"reviews\" array"))?;
        let mut batch = Batch::default();
        let mut reached_known = false;
        for (index, review) in reviews.iter().enumerate() {
            match to_record(review) {
                Ok((record, created)) => {
                    if state.high_water.is_some_and(|h| created <= h) {
                        reached_known = true;
                        break;
                    }
                    state.pass_max = Some(state.pass_max.map_or(created, |m| m.max(created)));
                    batch.records.push(record);
                }
                Err(reason) => batch.rejected.push(RowRejection {
                    location: format!(
                        "review {}",
                        review
                            .get("id")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("#{index}"), str::to_owned)
                    ),
                    reason,
                }),
            }
        }
        let has_next = page
            .get("links")
            .and_then(Value::as_array)
            .is_some_and(|links| {
                links
                    .iter()
                    .any(|l| l.get("rel").and_then(Value::as_str) == Some("next-page"))
            });
        if has_next && !reached_known && !reviews.is_empty() {
            state.page = Some(number + 1);
            batch.has_more = true;
        } else {
            state.page = None;
            if let Some(max) = state.pass_max.take() {
                state.high_water = Some(state.high_water.map_or(max, |h| h.max(max)));
            }
        }
        batch.cursor = Some(
            serde_json::to_string(&state)
                .map_err(|e| ConnectorError::new(format!("cannot encode cursor: {e}")))?,
        );
        Ok(batch)
    }
}

chorus_plugin_api::export_connector!(Trustpilot);

#[cfg(test)]
mod tests;
