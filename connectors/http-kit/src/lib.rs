//! The HTTP side every Chorus connector for a web API shares, so each connector only maps
//! its vendor's payloads:
//!
//! - credentials come from environment variables named in the instance settings, never from
//!   the configuration file, and never appear in errors or logs;
//! - every request has a timeout;
//! - 5xx answers and network errors are retried with exponential backoff and full jitter;
//! - `429 Too Many Requests` waits as long as `Retry-After` says (seconds), then retries;
//! - `401`/`403` fail at once with a message naming the credential variables to check;
//! - a body that is not JSON is an error naming the URL, not a panic.
//!
//! Blocking on purpose: plugin calls already run on the host's blocking threads.

pub mod pass;
pub mod test_server;

use std::time::Duration;

/// Retry and timeout policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubled per retry, with full jitter.
    pub backoff: Duration,
    /// Longest wait honoured from a `Retry-After` header.
    pub max_retry_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: Duration::from_secs(30),
            max_retries: 5,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// Why a request failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// 401/403: the credentials are wrong or lack a permission.
    Unauthorized { status: u16, url: String },
    /// Another 4xx, with the start of the body.
    Client {
        status: u16,
        url: String,
        body: String,
    },
    /// 5xx, 429 or network errors, still failing after every retry.
    GaveUp {
        attempts: u32,
        url: String,
        last: String,
    },
    /// The body is not the JSON expected.
    Malformed { url: String, reason: String },
    /// The request could not be made at all (e.g. a token could not be signed).
    Setup(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Unauthorized { status, url } => {
                write!(f, "{url} answered {status}: the credentials were refused")
            }
            HttpError::Client { status, url, body } => write!(f, "{url} answered {status}: {body}"),
            HttpError::GaveUp {
                attempts,
                url,
                last,
            } => write!(f, "{url} failed {attempts} times; last: {last}"),
            HttpError::Malformed { url, reason } => {
                write!(
                    f,
                    "{url} returned a body that is not the expected JSON: {reason}"
                )
            }
            HttpError::Setup(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for HttpError {}

/// Reads a credential from the environment variable `name`.
///
/// # Errors
/// A message naming the variable (never its value).
pub fn credential(name: &str) -> Result<String, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(format!(
            "environment variable {name} is not set; it must hold the credential"
        )),
    }
}

/// A JSON-over-HTTP client with the policy applied.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    policy: Policy,
    /// The `Authorization` header value.
    authorization: Option<String>,
}

impl Client {
    /// A client sending `authorization` (if any) with every request.
    pub fn new(policy: Policy, authorization: Option<String>) -> Client {
        Client {
            agent: ureq::AgentBuilder::new().timeout(policy.timeout).build(),
            policy,
            authorization,
        }
    }

    /// GETs `url` and parses the body as JSON, retrying as the policy says.
    ///
    /// # Errors
    /// See [`HttpError`].
    pub fn get_json(&self, url: &str) -> Result<serde_json::Value, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut request = self.agent.get(url).set("Accept", "application/json");
            if let Some(authorization) = &self.authorization {
                request = request.set("Authorization", authorization);
            }
            let (wait, last) = match request.call() {
                Ok(response) => {
                    let text = response.into_string().map_err(|e| HttpError::Malformed {
                        url: url.to_owned(),
                        reason: e.to_string(),
                    })?;
                    return serde_json::from_str(&text).map_err(|e| HttpError::Malformed {
                        url: url.to_owned(),
                        reason: e.to_string(),
                    });
                }
                Err(ureq::Error::Status(status @ (401 | 403), _)) => {
                    return Err(HttpError::Unauthorized {
                        status,
                        url: url.to_owned(),
                    })
                }
                Err(ureq::Error::Status(429, response)) => {
                    let wait = response
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs)
                        .unwrap_or_else(|| self.backoff(attempt))
                        .min(self.policy.max_retry_after);
                    (wait, "429 Too Many Requests".to_owned())
                }
                Err(ureq::Error::Status(status, response)) if status >= 500 => {
                    let body = response.into_string().unwrap_or_default();
                    (self.backoff(attempt), format!("{status} {}", short(&body)))
                }
                Err(ureq::Error::Status(status, response)) => {
                    let body = response.into_string().unwrap_or_default();
                    return Err(HttpError::Client {
                        status,
                        url: url.to_owned(),
                        body: short(&body),
                    });
                }
                Err(ureq::Error::Transport(transport)) => {
                    (self.backoff(attempt), transport.to_string())
                }
            };
            if attempt > self.policy.max_retries {
                return Err(HttpError::GaveUp {
                    attempts: attempt,
                    url: url.to_owned(),
                    last,
                });
            }
            std::thread::sleep(wait);
        }
    }

    /// Full jitter: uniform in [0, backoff·2^(attempt−1)].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .policy
            .backoff
            .saturating_mul(1 << (attempt - 1).min(16));
        ceiling.mul_f64(jitter())
    }
}

/// A number in [0, 1) from the clock's nanoseconds: enough to spread retries apart, no
/// randomness crate needed.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

fn short(body: &str) -> String {
    body.chars().take(200).collect()
}

/// Basic authentication header value.
pub fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_rfc_4648_base64() {
        assert_eq!(
            basic("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn missing_credentials_name_the_variable_only() {
        let message = credential("CHORUS_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(message.contains("CHORUS_TEST_SURELY_UNSET_VARIABLE"));
    }
}

/// Serde defaults of the retry settings every HTTP connector exposes (flat in its settings:
/// `timeout_seconds`, `max_retries`, `backoff_ms`).
pub mod defaults {
    /// 30 s per request.
    pub fn timeout_seconds() -> u64 {
        30
    }
    /// Five retries.
    pub fn max_retries() -> u32 {
        5
    }
    /// Half a second before the first retry.
    pub fn backoff_ms() -> u64 {
        500
    }
}

/// A client sending the OAuth access token held by the variable `token_env` as a bearer.
///
/// # Errors
/// When the variable is unset, naming it.
pub fn bearer_client(token_env: &str, policy: Policy) -> Result<Client, String> {
    Ok(Client::new(
        policy,
        Some(format!("Bearer {}", credential(token_env)?)),
    ))
}

impl Policy {
    /// A policy from the flat settings, other fields as default.
    pub fn from_settings(timeout_seconds: u64, max_retries: u32, backoff_ms: u64) -> Policy {
        Policy {
            timeout: Duration::from_secs(timeout_seconds),
            max_retries,
            backoff: Duration::from_millis(backoff_ms),
            ..Policy::default()
        }
    }
}
