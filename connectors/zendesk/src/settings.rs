//! Settings of one Zendesk instance. Credentials are never in the settings: they name the
//! environment variables that hold them.

use chorus_http_kit::{basic, credential, defaults, Policy};
use serde::Deserialize;
use serde_json::{json, Value};

/// What the `settings` table of a `zendesk` instance holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `https://{subdomain}.zendesk.com`; tests point it at a local server.
    pub base_url: String,
    /// Variable holding the agent's e-mail (API token authentication).
    #[serde(default)]
    pub email_env: Option<String>,
    /// Variable holding the API token (with `email_env`).
    #[serde(default)]
    pub token_env: Option<String>,
    /// Variable holding an OAuth access token (instead of e-mail and API token).
    #[serde(default)]
    pub oauth_token_env: Option<String>,
    /// Unix time the first export starts at.
    #[serde(default)]
    pub start_time: i64,
    /// Ticket statuses exported; others are skipped until they reach one of these.
    #[serde(default = "final_statuses")]
    pub statuses: Vec<String>,
    /// Tags like `market_de` give the record's market when set (`market_`).
    #[serde(default)]
    pub market_tag_prefix: Option<String>,
    /// Per-request timeout.
    #[serde(default = "defaults::timeout_seconds")]
    pub timeout_seconds: u64,
    /// Retries after a 5xx, 429 or network error.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// First backoff in milliseconds (doubled per retry, with jitter).
    #[serde(default = "defaults::backoff_ms")]
    pub backoff_ms: u64,
}

fn final_statuses() -> Vec<String> {
    vec!["solved".into(), "closed".into()]
}

impl Settings {
    /// The retry and timeout policy.
    pub fn policy(&self) -> Policy {
        Policy::from_settings(self.timeout_seconds, self.max_retries, self.backoff_ms)
    }

    /// The `Authorization` header from the environment.
    ///
    /// # Errors
    /// When no credential variables are configured or one is unset.
    pub fn authorization(&self) -> Result<String, String> {
        match (&self.oauth_token_env, &self.email_env, &self.token_env) {
            (Some(oauth), _, _) => Ok(format!("Bearer {}", credential(oauth)?)),
            (None, Some(email), Some(token)) => Ok(basic(
                &format!("{}/token", credential(email)?),
                &credential(token)?,
            )),
            _ => Err(
                "set oauth_token_env, or email_env and token_env, to the names of the \
                      environment variables holding the credentials"
                    .into(),
            ),
        }
    }

    /// The variable names to check when credentials are refused.
    pub fn credential_variables(&self) -> String {
        match (&self.oauth_token_env, &self.email_env, &self.token_env) {
            (Some(oauth), _, _) => oauth.clone(),
            (None, Some(email), Some(token)) => format!("{email} and {token}"),
            _ => "the configured credential variables".into(),
        }
    }
}

/// JSON Schema of the settings, for the manifest.
pub fn schema() -> Value {
    json!({
        "type": "object",
        "required": ["base_url"],
        "properties": {
            "base_url": {"type": "string", "description": "https://{subdomain}.zendesk.com"},
            "email_env": {"type": "string"},
            "token_env": {"type": "string"},
            "oauth_token_env": {"type": "string"},
            "start_time": {"type": "integer", "description": "Unix time of the first export"},
            "statuses": {"type": "array", "items": {"type": "string"}},
            "market_tag_prefix": {"type": "string"},
            "timeout_seconds": {"type": "integer"},
            "max_retries": {"type": "integer"},
            "backoff_ms": {"type": "integer"}
        }
    })
}
