//! App Store Connect customer reviews of one app (`GET /v1/apps/{id}/customerReviews`,
//! JSON:API, newest first, `links.next` pagination). Each review's `territory` (ISO 3166-1
//! alpha-3) becomes its market; `rating` becomes stars (never NPS); title and body are the
//! text. Requests carry a short-lived ES256 token signed with the API key from the
//! environment, made fresh for every run.
//!
//! Incremental like the other review connectors: each run pages down to the newest
//! `createdDate` of the previous complete pass; an unusable `next` link restarts the pass.

mod territory;

use std::collections::BTreeMap;

use chorus_http_kit::pass::{self, NewestFirst};
use chorus_http_kit::{credential, defaults, Client, HttpError, Policy};
use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, SourceRecord};
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Instance settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `https://api.appstoreconnect.apple.com` unless tests point elsewhere.
    #[serde(default = "default_base")]
    pub base_url: String,
    /// The app's Apple id.
    pub app_id: String,
    /// Issuer id of the API key (App Store Connect → Users and Access → Integrations).
    pub issuer_id: String,
    /// Key id of the API key.
    pub key_id: String,
    /// Variable holding the key's `.p8` contents (PKCS#8 PEM).
    pub private_key_env: String,
    /// Territory (alpha-3) → market overrides and additions.
    #[serde(default)]
    pub territories: BTreeMap<String, String>,
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u64,
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    #[serde(default = "defaults::backoff_ms")]
    pub backoff_ms: u64,
}

fn default_base() -> String {
    "https://api.appstoreconnect.apple.com".into()
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
    exp: i64,
    aud: &'a str,
}

/// One configured app.
#[derive(Debug)]
pub struct AppStore {
    settings: Settings,
    key: String,
}

impl AppStore {
    /// A client with a fresh ES256 token (App Store Connect allows at most 20 minutes).
    fn client(&self) -> Result<Client, ConnectorError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: &self.settings.issuer_id,
            iat: now,
            exp: now + 15 * 60,
            aud: "appstoreconnect-v1",
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.settings.key_id.clone());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(self.key.as_bytes()).map_err(|e| {
            ConnectorError::new(format!(
                "{} does not hold a .p8 private key: {e}",
                self.settings.private_key_env
            ))
        })?;
        let token = jsonwebtoken::encode(&header, &claims, &key)
            .map_err(|e| ConnectorError::new(format!("cannot sign the API token: {e}")))?;
        let policy = Policy::from_settings(
            self.settings.timeout_seconds,
            self.settings.max_retries,
            self.settings.backoff_ms,
        );
        Ok(Client::new(policy, Some(format!("Bearer {token}"))))
    }

    fn first_page(&self) -> String {
        format!(
            "/v1/apps/{}/customerReviews?sort=-createdDate&limit=200",
            self.settings.app_id
        )
    }

    fn url(&self, path_and_query: &str) -> String {
        format!(
            "{}{path_and_query}",
            self.settings.base_url.trim_end_matches('/')
        )
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        match error {
            HttpError::Unauthorized { .. } => ConnectorError::new(format!(
                "{error}; check key {} of issuer {} in {}",
                self.settings.key_id, self.settings.issuer_id, self.settings.private_key_env
            )),
            other => ConnectorError::new(other.to_string()),
        }
    }

    /// The record of a review and its creation time.
    fn to_record(&self, review: &Value) -> Result<(SourceRecord, i64), String> {
        let id = review
            .get("id")
            .and_then(Value::as_str)
            .ok_or("review without id")?;
        let a = review
            .get("attributes")
            .ok_or("review without attributes")?;
        let rating = a
            .get("rating")
            .and_then(Value::as_i64)
            .ok_or("review without rating")?;
        let created = a
            .get("createdDate")
            .and_then(Value::as_str)
            .ok_or("review without createdDate")?;
        let time = DateTime::parse_from_rfc3339(created)
            .map_err(|e| format!("createdDate {created:?}: {e}"))?;
        let territory = a.get("territory").and_then(Value::as_str).unwrap_or("");
        let market =
            territory::market_of(territory, &self.settings.territories).ok_or_else(|| {
                format!("territory {territory:?} has no market; add it to territories")
            })?;
        let text: Vec<&str> = ["title", "body"]
            .iter()
            .filter_map(|k| a.get(*k).and_then(Value::as_str))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        let mut attributes = Map::new();
        attributes.insert("territory".into(), Value::String(territory.to_owned()));
        Ok((
            SourceRecord {
                external_id: id.to_owned(),
                occurred_at: time.to_utc().to_rfc3339(),
                market: Some(market),
                stars: Some(rating),
                text: (!text.is_empty()).then(|| text.join(". ")),
                attributes,
                ..SourceRecord::default()
            },
            time.timestamp(),
        ))
    }
}

/// The path and query of an absolute `next` link, so pages follow the configured base URL.
fn path_of(link: &str) -> Option<String> {
    let rest = link.split_once("://")?.1;
    rest.find('/').map(|i| rest[i..].to_owned())
}

impl Connector for AppStore {
    fn manifest() -> Manifest {
        Manifest {
            name: "app-store-reviews".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "review".into(),
            description: "App Store Connect customer reviews of one app".into(),
            config_schema: json!({
                "type": "object",
                "required": ["app_id", "issuer_id", "key_id", "private_key_env"],
                "properties": {
                    "base_url": {"type": "string"}, "app_id": {"type": "string"},
                    "issuer_id": {"type": "string"}, "key_id": {"type": "string"},
                    "private_key_env": {"type": "string"},
                    "territories": {"type": "object", "additionalProperties": {"type": "string"}},
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
        let key = credential(&settings.private_key_env).map_err(ConnectorError::new)?;
        let store = AppStore { settings, key };
        store.client()?; // a key that cannot sign fails at open, not mid-run
        Ok(store)
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        let url = self.url(&self.first_page().replace("limit=200", "limit=1"));
        self.client()?
            .get_json(&url)
            .map(|_| ())
            .map_err(|e| self.explain(e))
    }

    fn read(&mut self, cursor: Option<&str>, _max_records: usize) -> Result<Batch, ConnectorError> {
        pass::read(self, cursor)
    }
}

impl NewestFirst for AppStore {
    /// Path and query of the page (App Store Connect hands out absolute `next` links).
    type Position = String;

    fn fetch(&self, next: Option<&String>) -> Result<Value, HttpError> {
        let target = next.cloned().unwrap_or_else(|| self.first_page());
        // A fresh token per request: they live at most 20 minutes.
        self.client()
            .map_err(|e| HttpError::Setup(e.to_string()))?
            .get_json(&self.url(&target))
    }

    fn expired(&self, status: u16) -> bool {
        matches!(status, 400 | 404)
    }

    fn items(&self, page: &Value) -> Result<Vec<Value>, ConnectorError> {
        page.get("data")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| ConnectorError::new("page has no \"data\" array"))
    }

    fn record(&self, item: &Value) -> Result<(SourceRecord, i64), String> {
        self.to_record(item)
    }

    fn id_field(&self) -> &'static str {
        "id"
    }

    fn next(&self, page: &Value, _: Option<&String>, _: usize) -> Option<String> {
        page.get("links")
            .and_then(|l| l.get("next"))
            .and_then(Value::as_str)
            .and_then(path_of)
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        AppStore::explain(self, error)
    }
}

chorus_plugin_api::export_connector!(AppStore);

#[cfg(test)]
mod tests;
