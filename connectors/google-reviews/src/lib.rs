//! Google Business Profile reviews of one location
//! (`GET /v4/accounts/{account}/locations/{location}/reviews`, newest change first, page
//! tokens). Reviews carry stars (`starRating` = `ONE`…`FIVE`), never NPS; the reviewer's name
//! is not kept.
//!
//! Incremental: each run pages from the newest change down to the newest `updateTime` of the
//! previous complete pass (the high-water mark) and stops there. The cursor keeps the page
//! token and the running maximum, so a run that dies mid-pass resumes at its page; an expired
//! page token restarts the pass from the first page, and what is read twice is dropped by the
//! warehouse's deduplication. An edited review keeps its id, so its first version stays.

use chorus_http_kit::{credential, Client, HttpError, Policy};
use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, RowRejection, SourceRecord};
use serde::{Deserialize, Serialize};
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
    #[serde(default = "thirty")]
    pub timeout_seconds: u64,
    #[serde(default = "five")]
    pub max_retries: u32,
    #[serde(default = "half_second")]
    pub backoff_ms: u64,
}

fn default_base() -> String {
    "https://mybusiness.googleapis.com".into()
}
fn fifty() -> u32 {
    50
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
    /// Newest `updateTime` of the last complete pass (RFC 3339 UTC sorts as text).
    pub high_water: Option<String>,
    /// Next page of the pass in progress.
    pub page_token: Option<String>,
    /// Newest `updateTime` seen in the pass in progress.
    pub pass_max: Option<String>,
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

/// An RFC 3339 UTC time in a form that sorts as text: fraction padded to nine digits
/// (`…:00Z` and `…:00.5Z` would otherwise sort the wrong way round).
fn sortable(time: &str) -> String {
    let plain = time.trim_end_matches('Z');
    let (seconds, fraction) = plain.split_once('.').unwrap_or((plain, ""));
    format!("{seconds}.{fraction:0<9}")
}

/// `ONE`…`FIVE` → 1…5.
fn stars(word: &str) -> Option<i64> {
    ["ONE", "TWO", "THREE", "FOUR", "FIVE"]
        .iter()
        .position(|w| *w == word)
        .map(|i| i as i64 + 1)
}

fn to_record(review: &Value) -> Result<SourceRecord, String> {
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
    let mut attributes = Map::new();
    attributes.insert(
        "has_reply".into(),
        Value::Bool(review.get("reviewReply").is_some()),
    );
    Ok(SourceRecord {
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
    })
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
        }
    }

    fn open(settings: Value) -> Result<Self, ConnectorError> {
        let settings: Settings = serde_json::from_value(settings)
            .map_err(|e| ConnectorError::new(format!("invalid settings: {e}")))?;
        let token = credential(&settings.oauth_token_env).map_err(ConnectorError::new)?;
        let policy = Policy {
            timeout: std::time::Duration::from_secs(settings.timeout_seconds),
            max_retries: settings.max_retries,
            backoff: std::time::Duration::from_millis(settings.backoff_ms),
            ..Policy::default()
        };
        let client = Client::new(policy, Some(format!("Bearer {token}")));
        Ok(GoogleReviews { settings, client })
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        self.client
            .get_json(&self.url(None))
            .map(|_| ())
            .map_err(|e| self.explain(e))
    }

    fn read(&mut self, cursor: Option<&str>, _max_records: usize) -> Result<Batch, ConnectorError> {
        let mut state: ReviewCursor = match cursor {
            None => ReviewCursor::default(),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ConnectorError::new(format!("unreadable cursor {text:?}: {e}")))?,
        };
        let page = match self.client.get_json(&self.url(state.page_token.as_deref())) {
            Ok(page) => page,
            // An expired page token: start the pass again from the newest review.
            Err(HttpError::Client { status: 400, .. }) if state.page_token.is_some() => {
                state.page_token = None;
                self.client
                    .get_json(&self.url(None))
                    .map_err(|e| self.explain(e))?
            }
            Err(other) => return Err(self.explain(other)),
        };
        let reviews = match page.get("reviews") {
            None => Vec::new(), // Google omits the field when there are none.
            Some(Value::Array(reviews)) => reviews.clone(),
            Some(_) => return Err(ConnectorError::new("\"reviews\" is not an array")),
        };
        let mut batch = Batch::default();
        let mut reached_known = false;
        for (index, review) in reviews.iter().enumerate() {
            let updated = sortable(
                review
                    .get("updateTime")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            );
            let updated = updated.as_str();
            if state.high_water.as_deref().is_some_and(|h| updated <= h) {
                reached_known = true;
                break;
            }
            if state.pass_max.as_deref().is_none_or(|m| updated > m) {
                state.pass_max = Some(updated.to_owned());
            }
            match to_record(review) {
                Ok(record) => batch.records.push(record),
                Err(reason) => batch.rejected.push(RowRejection {
                    location: format!(
                        "review {}",
                        review
                            .get("reviewId")
                            .and_then(Value::as_str)
                            .map_or_else(|| format!("#{index}"), str::to_owned)
                    ),
                    reason,
                }),
            }
        }
        let next = page
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty());
        match next {
            Some(token) if !reached_known => {
                state.page_token = Some(token.to_owned());
                batch.has_more = true;
            }
            _ => {
                // The pass is complete: what it saw becomes the high-water mark.
                state.page_token = None;
                if let Some(max) = state.pass_max.take() {
                    if state.high_water.as_deref().is_none_or(|h| max.as_str() > h) {
                        state.high_water = Some(max);
                    }
                }
            }
        }
        batch.cursor = Some(
            serde_json::to_string(&state)
                .map_err(|e| ConnectorError::new(format!("cannot encode cursor: {e}")))?,
        );
        Ok(batch)
    }
}

chorus_plugin_api::export_connector!(GoogleReviews);

#[cfg(test)]
mod tests;
