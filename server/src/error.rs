//! The one place where errors become HTTP responses: `{"code": "...", "message": "..."}` with
//! a stable snake_case code. Causes go to the log, not to the client.

use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::ingest::IngestError;
use crate::warehouse::WarehouseError;

/// Errors a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// Valid credentials, not allowed.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// The request cannot be understood as sent.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// The resource is busy.
    #[error("{0}")]
    Conflict(String),
    /// The records asked for stay in their region: read them on its node.
    #[error("{message}")]
    Residency {
        message: String,
        node_url: Option<String>,
    },
    /// The body did not arrive within `server.body_timeout_seconds`.
    #[error("{0}")]
    RequestTimeout(String),
    /// The body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body is not in a format the endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The caller holds as much of a bounded resource as one caller may.
    #[error("{0}")]
    TooManyRequests(String),
    /// A dependency is not ready.
    #[error("{0}")]
    Unavailable(String),
    /// Our fault; details are logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    /// Where the resource can be read instead (`residency`).
    #[serde(skip_serializing_if = "Option::is_none")]
    node_url: Option<&'a str>,
}

impl ApiError {
    /// A 400 with a code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden { code, .. } | ApiError::BadRequest { code, .. } => code,
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Residency { .. } => "residency",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests(_) => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) | ApiError::Residency { .. } => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                "something went wrong on the server; the log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        let node_url = match self {
            ApiError::Residency { node_url, .. } => node_url.as_deref(),
            _ => None,
        };
        response.json(ErrorBody {
            code: self.code(),
            message,
            node_url,
        })
    }
}

impl From<WarehouseError> for ApiError {
    fn from(e: WarehouseError) -> ApiError {
        ApiError::Internal(error_chain(&e))
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> ApiError {
        match e {
            IngestError::UnknownInstance(_) => ApiError::NotFound(e.to_string()),
            IngestError::AlreadyRunning(_) => ApiError::Conflict(e.to_string()),
            IngestError::NotRunnable(_) => ApiError::bad_request("push_instance", e.to_string()),
            IngestError::NotPush(_) => ApiError::bad_request("not_a_push_instance", e.to_string()),
            other => ApiError::Internal(error_chain(&other)),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> ApiError {
        ApiError::Internal(format!("a blocking task failed: {e}"))
    }
}

/// `error` and every cause beneath it, outermost first: what the log needs to find the root.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(" ← ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Maps actix's query-string errors to the house format.
pub fn query_error(
    err: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request("invalid_query", format!("invalid query string: {err}")).into()
}

/// Maps actix's JSON body errors to the house format.
pub fn json_error(
    err: actix_web::error::JsonPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::PayloadTooLarge(
            format!("body of {length} bytes exceeds the limit of {limit} bytes"),
        ),
        JsonPayloadError::Overflow { limit } => {
            ApiError::PayloadTooLarge(format!("body exceeds the limit of {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("send the body as application/json".into())
        }
        JsonPayloadError::Payload(e) if crate::body_deadline::is_timeout(&e) => body_too_slow(),
        other => ApiError::bad_request("invalid_json", format!("invalid JSON body: {other}")),
    }
    .into()
}

/// The answer to a body that did not arrive in time (`body_deadline`).
pub fn body_too_slow() -> ApiError {
    ApiError::RequestTimeout(format!(
        "{}; send the whole body within server.body_timeout_seconds",
        crate::body_deadline::TIMED_OUT
    ))
}

/// Maps actix's path errors to the house format.
pub fn path_error(
    err: actix_web::error::PathError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::bad_request("invalid_path", format!("invalid path parameter: {err}")).into()
}

/// Gives every error answer the house format, also those actix writes itself with an empty
/// body (405 for a wrong method, 413 or 415 from an extractor, …). Answers that already
/// carry JSON pass unchanged.
///
/// # Errors
/// Never; the signature is actix's.
pub fn house_format<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, res) = res.into_parts();
    let status = res.status();
    let (code, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!("{} does not take {}", req.path(), req.method()),
        ),
        StatusCode::NOT_FOUND => (
            "not_found",
            "no such endpoint; GET /api/v1/openapi.json lists every route".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body is too large".into()),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", crate::body_deadline::TIMED_OUT.into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "send the body as application/json".into(),
        ),
        StatusCode::UNAUTHORIZED => ("unauthorized", "authentication is required".into()),
        other if other.is_server_error() => {
            tracing::error!(
                status = other.as_u16(),
                path = req.path(),
                "error answer without a body"
            );
            (
                "internal",
                "something went wrong on the server; the log has the details".into(),
            )
        }
        other => (
            "bad_request",
            other
                .canonical_reason()
                .unwrap_or("bad request")
                .to_lowercase(),
        ),
    };
    let mut response = HttpResponse::build(status);
    for (name, value) in res.headers() {
        if name != actix_web::http::header::CONTENT_TYPE
            && name != actix_web::http::header::CONTENT_LENGTH
        {
            response.insert_header((name.clone(), value.clone()));
        }
    }
    let response = response.json(ErrorBody {
        code,
        message,
        node_url: None,
    });
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, response).map_into_right_body(),
    ))
}

/// The answer for unknown routes.
pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "no such endpoint; GET /api/v1/openapi.json lists every route".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_every_cause_outermost_first() {
        let io = std::io::Error::other("disk full");
        let wrapped = WarehouseError::Open {
            path: "w.duckdb".into(),
            source: duckdb::Error::ToSqlConversionFailure(Box::new(io)),
        };
        let text = error_chain(&wrapped);
        assert!(text.starts_with("cannot open warehouse w.duckdb"), "{text}");
        assert!(text.ends_with("disk full"), "{text}");
    }
}
