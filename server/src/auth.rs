//! Bearer JWTs: validation, scope resolution and development tokens.
//!
//! A token's role and its `regions` / `markets` claims resolve to a [`Scope`] against the
//! configured catalog; handlers take a [`Caller`] argument, so no route can forget auth, and
//! pass the scope into their queries.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::config::AuthSettings;
use crate::domain::{MarketCode, Role};
use crate::error::ApiError;
use crate::sso::Issuer;

/// The claims Chorus reads and writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who the caller is.
    pub sub: String,
    /// What the caller may do.
    pub role: Role,
    /// Regions of a regional lead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// Markets of a market lead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markets: Vec<String>,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// Signing and validation keys with the expected issuer and audience, and the identity
/// providers whose tokens are accepted too.
pub struct AuthKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    leeway: u64,
    providers: Vec<Issuer>,
}

impl std::fmt::Debug for AuthKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("AuthKeys")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Why a token was refused; the message goes to the client.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TokenError(String);

impl TokenError {
    /// A reason in words.
    pub fn new(reason: impl Into<String>) -> TokenError {
        TokenError(reason.into())
    }

    /// The reason for a failed validation.
    pub fn from_jwt(e: jsonwebtoken::errors::Error) -> TokenError {
        use jsonwebtoken::errors::ErrorKind;
        TokenError(match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired".into(),
            ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".into(),
            ErrorKind::InvalidSignature => "the token signature is invalid".into(),
            ErrorKind::InvalidIssuer => "the token was issued by someone else".into(),
            ErrorKind::InvalidAudience => "the token is meant for another audience".into(),
            ErrorKind::InvalidAlgorithm => {
                "the token uses an algorithm this server does not accept".into()
            }
            ErrorKind::MissingRequiredClaim(claim) => {
                format!("the token lacks the {claim} claim")
            }
            _ => format!("the token is malformed ({e})"),
        })
    }
}

impl AuthKeys {
    /// HS256 keys from a shared secret.
    pub fn hs256(secret: &[u8], settings: &AuthSettings) -> AuthKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        times_checked_by_us(&mut validation);
        AuthKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            leeway: settings.leeway_seconds,
            providers: Vec::new(),
        }
    }

    /// Also accepts the tokens of the configured identity providers.
    ///
    /// # Errors
    /// A provider whose settings cannot be used (see `Issuer::new`).
    pub fn with_providers(mut self, settings: &AuthSettings) -> Result<AuthKeys, String> {
        self.providers = settings
            .issuers
            .iter()
            .map(|issuer| Issuer::new(issuer, settings.leeway_seconds))
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Signs a token for `sub` with `role` and scope claims, valid for `ttl`.
    pub fn mint(
        &self,
        sub: &str,
        role: Role,
        regions: &[String],
        markets: &[String],
        ttl: Duration,
    ) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            regions: regions.to_vec(),
            markets: markets.to_vec(),
            exp: now + ttl.as_secs(),
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it for expired or foreign tokens).
    pub fn sign(&self, claims: &Claims) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// Validates signature, algorithm, expiry, issuer and audience: with a provider's keys
    /// when the token names a configured provider as its issuer, else as a Chorus token.
    ///
    /// # Errors
    /// A client-facing reason.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if !self.providers.is_empty() {
            let header = jsonwebtoken::decode_header(token).map_err(TokenError::from_jwt)?;
            let issuer = crate::sso::unverified_issuer(token);
            if let Some(provider) = self
                .providers
                .iter()
                .find(|p| issuer.as_deref() == Some(p.name()))
            {
                return provider.verify(token, &header).await;
            }
        }
        self.verify_own(token)
    }

    /// Validates a Chorus (HS256) token.
    ///
    /// # Errors
    /// A client-facing reason.
    pub fn verify_own(&self, token: &str) -> Result<Claims, TokenError> {
        let mut claims = decode::<serde_json::Value>(token, &self.decoding, &self.validation)
            .map_err(TokenError::from_jwt)?
            .claims;
        let times = TokenTimes::check(&claims, self.leeway, jsonwebtoken::get_current_timestamp())?;
        claims["exp"] = times.expires_at.into();
        claims["iat"] = times.issued_at.into();
        serde_json::from_value(claims)
            .map_err(|e| TokenError::new(format!("the token's claims are malformed ({e})")))
    }
}

/// Longest a token counts as valid from now, whatever its `exp` says: timers and clocks that
/// add it to the present stay in range (ten years, as for minted tokens).
pub const MAX_VALIDITY_SECONDS: u64 = 10 * 366 * 86_400;

/// `exp`, `nbf` and `iat` are checked by [`TokenTimes::check`], not by `jsonwebtoken`, which
/// reads them as whole numbers only (RFC 7519 2: a NumericDate may have fractions).
pub(crate) fn times_checked_by_us(validation: &mut Validation) {
    validation.set_required_spec_claims(&["iss", "aud", "sub"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
}

/// A verified token's times, in whole seconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTimes {
    /// `exp`, at most [`MAX_VALIDITY_SECONDS`] from now.
    pub expires_at: u64,
    /// `iat`, or 0 when absent.
    pub issued_at: u64,
}

impl TokenTimes {
    /// Reads `exp` (required), `nbf` and `iat` as RFC 7519 NumericDates (any JSON number,
    /// fractions, negatives and huge values included) and checks them against `now`, with
    /// `leeway` seconds of clock skew either way.
    ///
    /// # Errors
    /// A missing or non-numeric `exp`, a non-numeric `nbf` or `iat`, an expired token or one
    /// not valid yet; the reason is for the client.
    pub fn check(
        claims: &serde_json::Value,
        leeway: u64,
        now: u64,
    ) -> Result<TokenTimes, TokenError> {
        let date = |name: &str| -> Result<Option<f64>, TokenError> {
            match &claims[name] {
                serde_json::Value::Null => Ok(None),
                serde_json::Value::Number(n) => Ok(n.as_f64()),
                _ => Err(TokenError::new(format!(
                    "the token's {name} claim is not a number of seconds"
                ))),
            }
        };
        let exp = date("exp")?.ok_or_else(|| TokenError::new("the token lacks the exp claim"))?;
        // Compared as floats: exact for every whole second a clock reads, never overflowing.
        let (now_f, leeway_f) = (now as f64, leeway as f64);
        if exp + leeway_f < now_f {
            return Err(TokenError::new("the token has expired"));
        }
        if date("nbf")?.is_some_and(|nbf| nbf > now_f + leeway_f) {
            return Err(TokenError::new("the token is not valid yet (nbf)"));
        }
        let cap = now.saturating_add(MAX_VALIDITY_SECONDS);
        Ok(TokenTimes {
            // `as` saturates a float into u64's range (and maps NaN to 0).
            expires_at: (exp.floor() as u64).min(cap),
            issued_at: date("iat")?.map_or(0, |iat| iat.floor() as u64),
        })
    }
}

/// The markets a caller may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every market, configured or not.
    All,
    /// These markets only (possibly none).
    Markets(BTreeSet<MarketCode>),
}

impl Scope {
    /// The scope of verified claims against the configured catalog.
    pub fn resolve(claims: &Claims, catalog: &Catalog) -> Scope {
        match claims.role {
            Role::Admin | Role::HqAnalyst => Scope::All,
            Role::RegionalLead => Scope::Markets(
                claims
                    .regions
                    .iter()
                    .flat_map(|r| catalog.markets_in_region(r))
                    .cloned()
                    .collect(),
            ),
            Role::MarketLead => Scope::Markets(
                claims
                    .markets
                    .iter()
                    .filter_map(|m| MarketCode::parse(m).ok())
                    .filter(|m| catalog.market(m).is_some())
                    .collect(),
            ),
            Role::Integrator => Scope::Markets(BTreeSet::new()),
        }
    }

    /// Whether the caller may read `market`.
    pub fn covers(&self, market: &MarketCode) -> bool {
        match self {
            Scope::All => true,
            Scope::Markets(allowed) => allowed.contains(market),
        }
    }

    /// Turns the markets a request asks for into the market filter of its query.
    /// `None` means no filter (scope `All` and nothing asked).
    ///
    /// # Errors
    /// `403 market_out_of_scope` naming the first market outside the scope.
    pub fn filter(
        &self,
        requested: Option<Vec<MarketCode>>,
    ) -> Result<Option<Vec<String>>, ApiError> {
        let as_strings = |set: &mut dyn Iterator<Item = &MarketCode>| {
            set.map(|m| m.as_str().to_owned()).collect()
        };
        match (self, requested) {
            (Scope::All, None) => Ok(None),
            (Scope::All, Some(markets)) => Ok(Some(as_strings(&mut markets.iter()))),
            (Scope::Markets(allowed), None) => Ok(Some(as_strings(&mut allowed.iter()))),
            (Scope::Markets(allowed), Some(markets)) => {
                if let Some(outside) = markets.iter().find(|m| !allowed.contains(*m)) {
                    return Err(ApiError::Forbidden {
                        code: "market_out_of_scope",
                        message: format!("market {outside} is outside your scope"),
                    });
                }
                Ok(Some(as_strings(&mut markets.iter())))
            }
        }
    }
}

/// An authenticated caller, extracted from the `Authorization: Bearer …` header.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Token subject.
    pub sub: String,
    /// Token role.
    pub role: Role,
    /// Markets the caller may read.
    pub scope: Scope,
    /// When the token expires, seconds since the epoch.
    pub expires_at: u64,
}

/// The caller of a request from its bearer token.
///
/// # Errors
/// `401` without a valid token.
pub async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let keys = req
        .app_data::<web::Data<AuthKeys>>()
        .expect("AuthKeys is registered in startup");
    let catalog = req
        .app_data::<web::Data<Arc<Catalog>>>()
        .expect("Catalog is registered in startup");
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized("send an Authorization: Bearer <token> header".into())
        })?;
    let token = header
        .to_str()
        .ok()
        .and_then(bearer_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be \"Bearer <token>\"".into())
        })?;
    let claims = keys
        .verify(token)
        .await
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let scope = Scope::resolve(&claims, catalog);
    Ok(Caller {
        sub: claims.sub,
        role: claims.role,
        scope,
        expires_at: claims.exp,
    })
}

/// The token of a `Bearer <token>` header value; the scheme is case-insensitive (RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Parses a duration such as `8h`, `30m`, `90s` or `2d`.
///
/// # Errors
/// When the text is not a number followed by s, m, h or d.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 8h or 30m"))?;
    let unit_seconds: u64 = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    // A token valid for more than ten years is a typo.
    const MAX_SECONDS: u64 = 10 * 366 * 86_400;
    n.checked_mul(unit_seconds)
        .filter(|s| *s <= MAX_SECONDS)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is longer than ten years"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    fn keys() -> AuthKeys {
        AuthKeys::hs256(
            b"test-secret-test-secret-test-secret",
            &AuthSettings::default(),
        )
    }

    #[test]
    fn a_minted_token_verifies_and_keeps_its_claims() {
        let keys = keys();
        let token = keys.mint(
            "ana",
            Role::RegionalLead,
            &["west".into()],
            &[],
            Duration::from_secs(60),
        );
        let claims = keys.verify_own(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role),
            ("ana", Role::RegionalLead)
        );
        assert_eq!(claims.regions, ["west"]);
    }

    #[test]
    fn expired_foreign_and_tampered_tokens_are_refused_with_a_reason() {
        let keys = keys();
        let mut claims = keys
            .verify_own(&keys.mint("a", Role::Admin, &[], &[], Duration::from_secs(60)))
            .unwrap();
        claims.exp = jsonwebtoken::get_current_timestamp() - 3600;
        assert_eq!(
            keys.verify_own(&keys.sign(&claims))
                .unwrap_err()
                .to_string(),
            "the token has expired"
        );

        let other = AuthKeys::hs256(
            b"another-secret-another-secret-123",
            &AuthSettings::default(),
        );
        let foreign = other.mint("a", Role::Admin, &[], &[], Duration::from_secs(60));
        assert!(keys
            .verify_own(&foreign)
            .unwrap_err()
            .to_string()
            .contains("signature"));

        let audience = AuthSettings {
            audience: "elsewhere".into(),
            ..AuthSettings::default()
        };
        let misdirected = AuthKeys::hs256(b"test-secret-test-secret-test-secret", &audience).mint(
            "a",
            Role::Admin,
            &[],
            &[],
            Duration::from_secs(60),
        );
        assert!(keys
            .verify_own(&misdirected)
            .unwrap_err()
            .to_string()
            .contains("audience"));
        assert!(keys.verify_own("not.a.token").is_err());
    }

    #[test]
    fn a_token_is_refused_before_its_nbf_and_accepted_after() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = keys
            .verify_own(&keys.mint("a", Role::Admin, &[], &[], Duration::from_secs(600)))
            .unwrap();
        let with_nbf = |nbf: u64| {
            let mut value = serde_json::to_value(&claims).unwrap();
            value["nbf"] = nbf.into();
            encode(
                &Header::new(Algorithm::HS256),
                &value,
                &EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
            )
            .unwrap()
        };
        assert_eq!(
            keys.verify_own(&with_nbf(now + 300))
                .unwrap_err()
                .to_string(),
            "the token is not valid yet (nbf)"
        );
        // Within the leeway (30 s by default), and in the past, it is fine.
        assert!(keys.verify_own(&with_nbf(now + 10)).is_ok());
        assert!(keys.verify_own(&with_nbf(now - 60)).is_ok());
    }

    fn signed(claims: &serde_json::Value) -> String {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(b"test-secret-test-secret-test-secret"),
        )
        .unwrap()
    }

    #[test]
    fn fractional_huge_and_negative_times_are_read_as_numeric_dates() {
        let keys = keys();
        let now = jsonwebtoken::get_current_timestamp();
        let claims = keys
            .verify_own(&keys.mint("a", Role::Admin, &[], &[], Duration::from_secs(600)))
            .unwrap();
        let with = |exp: serde_json::Value, iat: serde_json::Value| {
            let mut value = serde_json::to_value(&claims).unwrap();
            value["exp"] = exp;
            value["iat"] = iat;
            keys.verify_own(&signed(&value))
        };
        let fractional = with((now as f64 + 600.75).into(), (now as f64 - 0.5).into()).unwrap();
        assert_eq!(fractional.exp, now + 600);
        assert_eq!(fractional.iat, now - 1);
        let huge = with(u64::MAX.into(), 1e300.into()).unwrap();
        assert_eq!(huge.exp, now + MAX_VALIDITY_SECONDS);
        assert_eq!(huge.iat, u64::MAX);
        assert_eq!(
            with((-5).into(), (-5).into()).unwrap_err().to_string(),
            "the token has expired"
        );
        assert!(with("soon".into(), 0.into())
            .unwrap_err()
            .to_string()
            .contains("exp"));
        assert!(with(serde_json::Value::Null, 0.into())
            .unwrap_err()
            .to_string()
            .contains("lacks the exp"));
    }

    mod numeric_dates {
        use super::super::{TokenTimes, MAX_VALIDITY_SECONDS};
        use proptest::prelude::*;

        fn any_number() -> impl Strategy<Value = serde_json::Value> {
            prop_oneof![
                any::<i64>().prop_map(serde_json::Value::from),
                any::<u64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                Just(serde_json::Value::Null),
            ]
        }

        proptest! {
            #[test]
            fn any_numeric_dates_are_checked_without_panicking(
                exp in any_number(),
                nbf in any_number(),
                iat in any_number(),
                now in any::<u64>(),
                leeway in 0u64..100_000,
            ) {
                let claims = serde_json::json!({ "exp": exp, "nbf": nbf, "iat": iat });
                if let Ok(times) = TokenTimes::check(&claims, leeway, now) {
                    prop_assert!(times.expires_at <= now.saturating_add(MAX_VALIDITY_SECONDS));
                }
            }
        }
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_ttl("8h").unwrap(), Duration::from_secs(8 * 3600));
        assert_eq!(parse_ttl("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_ttl("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_ttl("8 hours").is_err());
    }
}
