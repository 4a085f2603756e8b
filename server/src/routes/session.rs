//! Signing in to the dashboard: a one-time code exchanged for the session token, and who the
//! caller is with what they may see (the page builds its menus from it, never from the token).

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use crate::catalog::Catalog;
use crate::domain::{Programme, Role};
use crate::error::ApiError;
use crate::login::LoginCodes;
use crate::permission::SignedIn;

/// Longest code accepted; longer input is refused before any lookup.
const MAX_CODE_LENGTH: usize = 128;

/// Body of `POST /api/v1/session`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeExchange {
    /// The code from the URL that `chorus serve` printed.
    #[schema(min_length = 1, max_length = 128)]
    code: String,
}

/// The session token for a redeemed code.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SessionToken {
    token: String,
}

/// `POST /api/v1/session`: exchanges a one-time sign-in code for its token, once.
#[utoipa::path(post, path = "/api/v1/session", tag = "session",
    request_body = CodeExchange,
    responses(
        (status = 200, body = SessionToken),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ))]
pub async fn exchange(
    body: web::Json<CodeExchange>,
    codes: web::Data<Arc<LoginCodes>>,
) -> Result<HttpResponse, ApiError> {
    let code = body.into_inner().code;
    if code.is_empty() || code.chars().count() > MAX_CODE_LENGTH {
        return Err(ApiError::bad_request(
            "invalid_code",
            format!("a sign-in code has 1 to {MAX_CODE_LENGTH} characters"),
        ));
    }
    let token = codes.redeem(&code).ok_or_else(|| {
        ApiError::Unauthorized("the sign-in code is unknown, already used or expired".into())
    })?;
    Ok(HttpResponse::Ok().json(SessionToken { token }))
}

/// What the caller may do.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Abilities {
    read_feedback: bool,
    see_connectors: bool,
    run_connectors: bool,
    work_cases: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MarketView<'a> {
    code: &'a str,
    name: &'a str,
    region: &'a str,
    region_name: &'a str,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChannelView<'a> {
    id: &'a str,
    name: &'a str,
    programme: Programme,
}

/// The signed-in caller.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Me<'a> {
    sub: &'a str,
    role: Role,
    /// Token expiry, seconds since the epoch.
    expires_at: u64,
    can: Abilities,
    /// The configured markets the caller may read (none for an integrator).
    markets: Vec<MarketView<'a>>,
    /// Every configured channel.
    channels: Vec<ChannelView<'a>>,
}

/// `GET /api/v1/me`: the caller's role, token expiry, and the markets in their scope.
#[utoipa::path(get, path = "/api/v1/me", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn me(
    caller: SignedIn,
    catalog: web::Data<Arc<Catalog>>,
) -> Result<HttpResponse, ApiError> {
    let role = caller.role;
    let markets = if role.reads_feedback() {
        catalog
            .markets()
            .filter(|(code, _)| caller.scope.covers(code))
            .map(|(code, market)| MarketView {
                code: code.as_str(),
                name: &market.name,
                region: &market.region,
                region_name: catalog
                    .region_name(&market.region)
                    .unwrap_or(&market.region),
            })
            .collect()
    } else {
        Vec::new()
    };
    let channels = catalog
        .channels()
        .map(|(id, name, programme)| ChannelView {
            id,
            name,
            programme,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Me {
        sub: &caller.sub,
        role,
        expires_at: caller.expires_at,
        can: Abilities {
            read_feedback: role.reads_feedback(),
            see_connectors: role.sees_connectors(),
            run_connectors: role.operates_connectors(),
            work_cases: role.works_cases(),
        },
        markets,
        channels,
    }))
}
