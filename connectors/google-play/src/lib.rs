//! Google Play reviews of one app (`GET /androidpublisher/v3/applications/{package}/reviews`,
//! `token` pagination). Google returns only reviews created or changed in the last seven
//! days, so a run reads every page and keeps the reviews changed after the previous run's
//! newest change (the high-water mark); schedule it at least daily. Stars only, never NPS.
//!
//! Reviews do not carry a country. The market is the instance's, or, with
//! `markets_by_language`, the one configured for the reviewer's language — a language is not
//! a country, so use that only where the mapping is unambiguous for the app.

use std::collections::BTreeMap;

use chorus_http_kit::pass::{self, NewestFirst};
use chorus_http_kit::{bearer_client, defaults, Client, HttpError, Policy};
use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, SourceRecord};
use chrono::{DateTime, SecondsFormat};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Instance settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `https://androidpublisher.googleapis.com` unless tests point elsewhere.
    #[serde(default = "default_base")]
    pub base_url: String,
    /// The app's package name, e.g. `com.example.shop`.
    pub package_name: String,
    /// Variable holding an OAuth 2.0 access token (androidpublisher scope).
    pub oauth_token_env: String,
    /// Reviewer language (first two letters) → market.
    #[serde(default)]
    pub markets_by_language: BTreeMap<String, String>,
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u64,
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    #[serde(default = "defaults::backoff_ms")]
    pub backoff_ms: u64,
}

fn default_base() -> String {
    "https://androidpublisher.googleapis.com".into()
}

/// One configured app.
#[derive(Debug)]
pub struct GooglePlay {
    settings: Settings,
    client: Client,
}

impl GooglePlay {
    fn url(&self, token: Option<&str>) -> String {
        let mut url = format!(
            "{}/androidpublisher/v3/applications/{}/reviews?maxResults=100",
            self.settings.base_url.trim_end_matches('/'),
            self.settings.package_name
        );
        if let Some(token) = token {
            url.push_str("&token=");
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

    /// The record of a review and its `lastModified`.
    fn to_record(&self, review: &Value) -> Result<(SourceRecord, i64), String> {
        let id = review
            .get("reviewId")
            .and_then(Value::as_str)
            .ok_or("review without reviewId")?;
        let comments = review.get("comments").and_then(Value::as_array);
        let user = comments
            .and_then(|c| c.iter().find_map(|c| c.get("userComment")))
            .ok_or("review without userComment")?;
        let stars = user
            .get("starRating")
            .and_then(Value::as_i64)
            .ok_or("userComment without starRating")?;
        let seconds = user
            .get("lastModified")
            .and_then(|m| m.get("seconds"))
            .and_then(|s| {
                s.as_str()
                    .and_then(|s| s.parse().ok())
                    .or_else(|| s.as_i64())
            })
            .ok_or("userComment without lastModified.seconds")?;
        let occurred_at = DateTime::from_timestamp(seconds, 0)
            .ok_or("lastModified out of range")?
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        let language = user
            .get("reviewerLanguage")
            .and_then(Value::as_str)
            .map(|l| l.chars().take(2).collect::<String>().to_ascii_lowercase());
        let market = language
            .as_ref()
            .and_then(|l| self.settings.markets_by_language.get(l))
            .cloned();
        let mut attributes = Map::new();
        for key in ["appVersionName", "device"] {
            if let Some(value) = user.get(key).filter(|v| !v.is_null()) {
                attributes.insert(key.into(), value.clone());
            }
        }
        let replied =
            comments.is_some_and(|c| c.iter().any(|c| c.get("developerComment").is_some()));
        attributes.insert("has_reply".into(), Value::Bool(replied));
        let record = SourceRecord {
            external_id: id.to_owned(),
            occurred_at,
            market,
            stars: Some(stars),
            text: user
                .get("text")
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            language_hint: language,
            attributes,
            ..SourceRecord::default()
        };
        Ok((record, seconds))
    }
}

impl Connector for GooglePlay {
    fn manifest() -> Manifest {
        Manifest {
            name: "google-play-reviews".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "review".into(),
            description: "Google Play reviews of one app (last seven days, incremental)".into(),
            config_schema: json!({
                "type": "object",
                "required": ["package_name", "oauth_token_env"],
                "properties": {
                    "base_url": {"type": "string"}, "package_name": {"type": "string"},
                    "oauth_token_env": {"type": "string"},
                    "markets_by_language": {"type": "object", "additionalProperties": {"type": "string"}},
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
        Ok(GooglePlay { settings, client })
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

impl NewestFirst for GooglePlay {
    type Position = String;

    fn fetch(&self, token: Option<&String>) -> Result<Value, HttpError> {
        self.client.get_json(&self.url(token.map(String::as_str)))
    }

    fn expired(&self, status: u16) -> bool {
        status == 400
    }

    fn items(&self, page: &Value) -> Result<Vec<Value>, ConnectorError> {
        Ok(page
            .get("reviews")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default())
    }

    fn record(&self, item: &Value) -> Result<(SourceRecord, i64), String> {
        self.to_record(item)
    }

    fn id_field(&self) -> &'static str {
        "reviewId"
    }

    fn next(&self, page: &Value, _: Option<&String>, _: usize) -> Option<String> {
        page.get("tokenPagination")
            .and_then(|p| p.get("nextPageToken"))
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }

    /// Google does not promise the order of these pages: read them all.
    fn stops_at_known(&self) -> bool {
        false
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        GooglePlay::explain(self, error)
    }
}

chorus_plugin_api::export_connector!(GooglePlay);

#[cfg(test)]
mod tests;
