//! Google Business Profile reviews of one location
//! (`GET /v4/accounts/{account}/locations/{location}/reviews`, newest change first, page
//! tokens). Reviews carry stars (`starRating` = `ONE`…`FIVE`), never NPS; the reviewer's name
//! is not kept.
//!
//! Incremental: each run pages from the newest change down to the newest `updateTime` of the
//! previous complete pass (the high-water mark, `chorus_http_kit::pass`) and stops there. The cursor keeps the page
//! token and the running maximum, so a run that dies mid-pass resumes at its page; an expired
//! page token restarts the pass from the first page, and what is read twice is dropped by the
//! warehouse's deduplication. An edited review keeps its id, so its first version stays.

use chorus_http_kit::pass::{self, NewestFirst};
use chorus_http_kit::{bearer_client, defaults, Client, HttpError, Policy};
use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, SourceRecord};
use chrono::DateTime;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Instance settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `https://mybusiness.googleapis.com` unless tests point elsewhere.
    #[serde(default = "default_base")]
    pub base_url: String,
    pub account_id: String,
    pub location_id: String,
    /// Variable holding an OAuth 2.0 access token with the business.manage scope.
    pub oauth_token_env: String,
    /// Reviews per page (Google allows up to 50).
    #[serde(default = "fifty")]
    pub page_size: u32,
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u64,
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    #[serde(default = "defaults::backoff_ms")]
    pub backoff_ms: u64,
}

fn default_base() -> String {
    "https://mybusiness.googleapis.com".into()
}
fn fifty() -> u32 {
    50
}

/// One configured location.
#[derive(Debug)]
pub struct GoogleReviews {
    settings: Settings,
    client: Client,
}

impl GoogleReviews {
    fn url(&self, page_token: Option<&str>) -> String {
        let s = &self.settings;
        let mut url = format!(
            "{}/v4/accounts/{}/locations/{}/reviews?pageSize={}&orderBy=updateTime%20desc",
            s.base_url.trim_end_matches('/'),
            s.account_id,
            s.location_id,
            s.page_size.clamp(1, 50)
        );
        if let Some(token) = page_token {
            url.push_str("&pageToken=");
            url.push_str(token);
        }
        url
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        match error {
            HttpError::Unauthorized { .. } => ConnectorError::new(format!(
                "{error}; check the access token in {}",
                self.settings.oauth_token_env
            )),
            other => ConnectorError::new(other.to_string()),
        }
    }
}

/// `ONE`…`FIVE` → 1…5.
fn stars(word: &str) -> Option<i64> {
    ["ONE", "TWO", "THREE", "FOUR", "FIVE"]
        .iter()
        .position(|w| *w == word)
        .map(|i| i as i64 + 1)
}

/// The record of a review and its `updateTime` in microseconds.
fn to_record(review: &Value) -> Result<(SourceRecord, i64), String> {
    let id = review
        .get("reviewId")
        .and_then(Value::as_str)
        .ok_or("review without reviewId")?;
    let rating = review
        .get("starRating")
        .and_then(Value::as_str)
        .unwrap_or("");
    let stars = stars(rating).ok_or_else(|| format!("starRating {rating:?} is not ONE..FIVE"))?;
    let created = review
        .get("createTime")
        .and_then(Value::as_str)
        .ok_or("review without createTime")?;
    let updated = review
        .get("updateTime")
        .and_then(Value::as_str)
        .unwrap_or(created);
    let updated = DateTime::parse_from_rfc3339(updated)
        .map_err(|e| format!("updateTime {updated:?}: {e}"))?
        .timestamp_micros();
    let mut attributes = Map::new();
    attributes.insert(
        "has_reply".into(),
        Value::Bool(review.get("reviewReply").is_some()),
    );
    let record = SourceRecord {
        external_id: id.to_owned(),
        occurred_at: created.to_owned(),
        stars: Some(stars),
        text: review
            .get("comment")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .map(str::to_owned),
        attributes,
        ..SourceRecord::default()
    };
    Ok((record, updated))
}

impl Connector for GoogleReviews {
    fn manifest() -> Manifest {
        Manifest {
            name: "google-business-reviews".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "review".into(),
            description: "Google Business Profile reviews of one location".into(),
            config_schema: json!({
                "type": "object",
                "required": ["account_id", "location_id", "oauth_token_env"],
                "properties": {
                    "base_url": {"type": "string"}, "account_id": {"type": "string"},
                    "location_id": {"type": "string"}, "oauth_token_env": {"type": "string"},
                    "page_size": {"type": "integer", "maximum": 50},
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
        let policy = Policy::from_settings(
            settings.timeout_seconds,
            settings.max_retries,
            settings.backoff_ms,
        );
        let client =
            bearer_client(&settings.oauth_token_env, policy).map_err(ConnectorError::new)?;
        Ok(GoogleReviews { settings, client })
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        self.client
            .get_json(&self.url(None))
            .map(|_| ())
            .map_err(|e| self.explain(e))
    }

    fn read(&mut self, cursor: Option<&str>, _max_records: usize) -> Result<Batch, ConnectorError> {
        pass::read(self, cursor)
    }
}

impl NewestFirst for GoogleReviews {
    type Position = String;

    fn fetch(&self, token: Option<&String>) -> Result<Value, HttpError> {
        self.client.get_json(&self.url(token.map(String::as_str)))
    }

    fn expired(&self, status: u16) -> bool {
        status == 400
    }

    fn items(&self, page: &Value) -> Result<Vec<Value>, ConnectorError> {
        match page.get("reviews") {
            None => Ok(Vec::new()), // Google omits the field when there are none.
            Some(Value::Array(reviews)) => Ok(reviews.clone()),
            Some(_) => Err(ConnectorError::new("\"reviews\" is not an array")),
        }
    }

    fn record(&self, item: &Value) -> Result<(SourceRecord, i64), String> {
        to_record(item)
    }

    fn id_field(&self) -> &'static str {
        "reviewId"
    }

    fn next(&self, page: &Value, _: Option<&String>, _: usize) -> Option<String> {
        page.get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        GoogleReviews::explain(self, error)
    }
}

chorus_plugin_api::export_connector!(GoogleReviews);

#[cfg(test)]
mod tests;
