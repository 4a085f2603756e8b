//! `POST /api/v1/ingest/{instance}`: records pushed to a push instance, in the canonical JSON
//! shape (`{"records": [...]}`, each as `chorus_plugin_api::SourceRecord`). Authenticated by
//! an admin or integrator token, or by an HMAC-SHA256 signature with the instance's secret:
//!
//! ```text
//! X-Chorus-Timestamp: 1767225600                      (Unix seconds, within 5 minutes)
//! X-Chorus-Signature: sha256=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>
//! ```
//!
//! Valid records are stored, invalid ones listed with index, field and reason; pushing the
//! same external id again stores nothing new.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::openapi::ErrorBody;
use crate::error::ApiError;
use crate::ingest::{Ingestor, PushOutcome, MAX_PUSH_RECORDS, PUSH};
use crate::permission::ConnectorOperator;

/// Largest clock difference accepted between the signer and this server.
const MAX_SKEW_SECONDS: u64 = 300;

/// Records in the canonical shape of `chorus_plugin_api::SourceRecord`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PushBody {
    #[schema(value_type = Vec<Object>)]
    records: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PushAnswer)]
struct Answer {
    instance: String,
    #[serde(flatten)]
    outcome: PushOutcome,
}

/// Pushes records into a push instance.
///
/// Credentials are checked before anything reveals whether the instance exists: an
/// anonymous caller gets the same 401 for every instance id.
#[utoipa::path(post, path = "/api/v1/ingest/{instance}", tag = "ingest",
    params(
        ("instance" = String, Path, description = "A push connector instance"),
        ("X-Chorus-Timestamp" = Option<String>, Header, description = "Unix seconds, with a signature"),
        ("X-Chorus-Signature" = Option<String>, Header, description = "sha256=<hex HMAC-SHA256(secret, \"{timestamp}.{body}\")>"),
    ),
    request_body = PushBody,
    responses(
        (status = 200, description = "Valid records stored, invalid ones listed", body = Answer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 408, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = []), ()))]
pub async fn ingest(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    ingestor: web::Data<Arc<Ingestor>>,
) -> Result<HttpResponse, ApiError> {
    let instance = path.into_inner();
    let config = ingestor
        .settings()
        .connector(&instance)
        .filter(|c| c.plugin == PUSH)
        .cloned();
    let signed = req.headers().contains_key("X-Chorus-Signature");
    // Everything that can be checked before the body is read is checked first.
    let signature = if signed {
        Some(SignatureHeaders::read(
            &req,
            chrono::Utc::now().timestamp(),
        )?)
    } else {
        ConnectorOperator::of(&req).await?;
        None
    };
    require_json(&req)?;
    let limit = ingestor.settings().server.max_body_bytes;
    let body = payload
        .to_bytes_limited(limit)
        .await
        .map_err(|_| {
            ApiError::PayloadTooLarge(format!(
                "body exceeds the limit of {limit} bytes; send fewer records per request"
            ))
        })?
        .map_err(|e| {
            let timed_out = e
                .as_error::<actix_web::error::PayloadError>()
                .is_some_and(crate::body_deadline::is_timeout);
            if timed_out {
                crate::error::body_too_slow()
            } else {
                ApiError::bad_request("invalid_body", e.to_string())
            }
        })?;
    if let Some(signature) = signature {
        let secret = config.as_ref().and_then(|c| signing_secret(&instance, c));
        // Without a secret (no such push instance, or none configured) the signature is
        // checked against a key nobody has: the same checks, the same answer.
        let secret = secret.unwrap_or_else(|| UNKNOWN_SECRET.clone());
        signature.verify(&body, secret.as_bytes())?;
    }
    let config =
        config.ok_or_else(|| ApiError::NotFound(format!("no push instance {instance:?}")))?;
    let parsed: PushBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("body must be {{\"records\": [...]}}: {e}"),
        )
    })?;
    if parsed.records.len() > MAX_PUSH_RECORDS {
        return Err(ApiError::PayloadTooLarge(format!(
            "{} records in one request; at most {MAX_PUSH_RECORDS}",
            parsed.records.len()
        )));
    }
    let outcome = ingestor.push(&config.id, parsed.records).await?;
    Ok(HttpResponse::Ok().json(Answer { instance, outcome }))
}

/// A random key per process, for signatures addressed to no verifiable instance.
static UNKNOWN_SECRET: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
});

/// The instance's HMAC secret, if it accepts signatures and the variable is set (a missing
/// variable is the operator's to fix: logged, and answered like a bad signature).
fn signing_secret(instance: &str, config: &crate::config::ConnectorConfig) -> Option<String> {
    let variable = config.settings.get("hmac_secret_env")?.as_str()?;
    match std::env::var(variable) {
        Ok(secret) => Some(secret),
        Err(_) => {
            tracing::error!(instance, variable, "HMAC secret variable is not set");
            None
        }
    }
}

/// Refuses bodies not declared as JSON (`application/json`, parameters such as charset
/// allowed).
fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match declared {
        Some(essence) if essence.eq_ignore_ascii_case("application/json") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(
            "send the records as Content-Type: application/json".into(),
        )),
    }
}

/// The signature headers of a signed push, checked for form and freshness before the body is
/// read: a request that cannot pass is refused without waiting for its body.
struct SignatureHeaders {
    timestamp: String,
    signature: Vec<u8>,
}

fn invalid_signature(why: &str) -> ApiError {
    ApiError::Unauthorized(format!("invalid signature: {why}"))
}

impl SignatureHeaders {
    fn read(req: &HttpRequest, now: i64) -> Result<SignatureHeaders, ApiError> {
        let invalid = invalid_signature;
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let timestamp =
            header("X-Chorus-Timestamp").ok_or_else(|| invalid("X-Chorus-Timestamp is missing"))?;
        let seconds: i64 = timestamp
            .parse()
            .map_err(|_| invalid("X-Chorus-Timestamp is not Unix seconds"))?;
        // abs_diff cannot overflow, whatever number the header holds.
        if now.abs_diff(seconds) > MAX_SKEW_SECONDS {
            return Err(invalid("X-Chorus-Timestamp is more than 5 minutes off"));
        }
        let signature = header("X-Chorus-Signature")
            .and_then(|s| s.strip_prefix("sha256="))
            .and_then(decode_hex)
            .ok_or_else(|| invalid("X-Chorus-Signature must be sha256=<hex>"))?;
        Ok(SignatureHeaders {
            timestamp: timestamp.to_owned(),
            signature,
        })
    }

    /// Whether the signature is the HMAC of `{timestamp}.{body}` under `secret`.
    fn verify(&self, body: &[u8], secret: &[u8]) -> Result<(), ApiError> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).map_err(|_| invalid_signature("bad secret"))?;
        mac.update(self.timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&self.signature)
            .map_err(|_| invalid_signature("it does not match the body"))
    }
}

#[cfg(test)]
fn verify_signature(
    req: &HttpRequest,
    body: &[u8],
    secret: &[u8],
    now: i64,
) -> Result<(), ApiError> {
    SignatureHeaders::read(req, now)?.verify(body, secret)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;
    use proptest::prelude::*;

    use super::*;

    fn check(timestamp: &str, now: i64) -> Result<(), ApiError> {
        let req = TestRequest::default()
            .insert_header(("X-Chorus-Timestamp", timestamp))
            .insert_header(("X-Chorus-Signature", "sha256=00"))
            .to_http_request();
        verify_signature(&req, b"{}", b"secret", now)
    }

    #[test]
    fn extreme_timestamps_are_refused_without_overflow() {
        for (timestamp, now) in [
            (i64::MIN.to_string(), i64::MAX),
            (i64::MAX.to_string(), i64::MIN),
            (i64::MIN.to_string(), 0),
            ("99999999999999999999".to_owned(), 0),
        ] {
            let message = check(&timestamp, now).unwrap_err().to_string();
            assert!(message.starts_with("invalid signature"), "{message}");
        }
    }

    proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any header value at any clock: refused (the signature is wrong), never a panic.
        #[test]
        fn any_timestamp_header_is_refused_cleanly(
            timestamp in "[-+]?[0-9]{1,21}|[ -~]{0,24}",
            now in any::<i64>(),
        ) {
            prop_assert!(check(&timestamp, now).is_err());
        }
    }
}
