//! Tokens from identity providers (SSO): RS/PS/ES-signed JWTs whose keys a provider publishes
//! as a JWKS (or one static key), with the provider's groups mapped to Chorus roles, regions
//! and markets. Each issuer has one algorithm, fixed in the configuration: a token that names
//! any other (`none`, HS256 signed with the public key, …) is refused before any key is used.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, Algorithm, DecodingKey, Header, Validation};

use crate::auth::{times_checked_by_us, Claims, TokenError, TokenTimes};
use crate::config::IssuerSettings;
use crate::domain::Role;

/// Keys of one provider and how its tokens map to Chorus.
pub struct Issuer {
    settings: IssuerSettings,
    algorithm: Algorithm,
    validation: Validation,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    leeway: u64,
    /// The keys known now; locked only to read or replace them, never across a fetch, so a
    /// fetch never holds up a token whose key is known.
    keys: Mutex<KeyCache>,
    /// Held by the one fetch under way; tokens naming unknown keys wait here for it.
    fetching: tokio::sync::Mutex<()>,
    client: reqwest::Client,
}

/// Least time between two key fetches of one issuer, whatever `jwks_refetch_seconds` says: a
/// flood of tokens naming unknown keys costs the provider at most one request this often.
pub const MIN_REFETCH: Duration = Duration::from_secs(5);

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.settings.issuer)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

#[derive(Default)]
struct KeyCache {
    /// The static key, when configured.
    fixed: Option<DecodingKey>,
    by_kid: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
}

/// Algorithms a provider may sign with; HMAC is not among them (its key would be public).
const ASYMMETRIC: [(&str, Algorithm); 6] = [
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
];

/// Roles from most to least powerful, for callers in several groups.
const PRECEDENCE: [Role; 5] = [
    Role::Admin,
    Role::HqAnalyst,
    Role::RegionalLead,
    Role::MarketLead,
    Role::Integrator,
];

impl Issuer {
    /// An issuer from its settings; reads a static key file now.
    ///
    /// # Errors
    /// An unknown algorithm, neither or both of `jwks_url` and `public_key_pem`, or an
    /// unreadable key.
    pub fn new(settings: &IssuerSettings, leeway_seconds: u64) -> Result<Issuer, String> {
        let who = &settings.issuer;
        let algorithm = ASYMMETRIC
            .iter()
            .find(|(name, _)| *name == settings.algorithm)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                format!(
                    "issuer {who}: algorithm {:?} is not one of RS256, RS384, RS512, PS256, \
                     ES256, ES384",
                    settings.algorithm
                )
            })?;
        let mut keys = KeyCache::default();
        match (&settings.jwks_url, &settings.public_key_pem) {
            (Some(_), None) => {}
            (None, Some(path)) => {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("issuer {who}: cannot read {}: {e}", path.display()))?;
                let key = if settings.algorithm.starts_with("ES") {
                    DecodingKey::from_ec_pem(&pem)
                } else {
                    DecodingKey::from_rsa_pem(&pem)
                }
                .map_err(|e| format!("issuer {who}: {}: {e}", path.display()))?;
                keys.fixed = Some(key);
            }
            _ => {
                return Err(format!(
                    "issuer {who}: give exactly one of jwks_url and public_key_pem"
                ))
            }
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        times_checked_by_us(&mut validation);
        Ok(Issuer {
            settings: settings.clone(),
            leeway: leeway_seconds,
            algorithm,
            validation,
            keys: Mutex::new(keys),
            fetching: tokio::sync::Mutex::new(()),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| format!("issuer {who}: {e}"))?,
        })
    }

    /// The configured `iss`.
    pub fn name(&self) -> &str {
        &self.settings.issuer
    }

    /// Verifies a token of this issuer and maps its groups to Chorus claims.
    ///
    /// # Errors
    /// A client-facing reason.
    pub async fn verify(&self, token: &str, header: &Header) -> Result<Claims, TokenError> {
        if header.alg != self.algorithm {
            return Err(TokenError::new(
                "the token uses an algorithm this server does not accept",
            ));
        }
        let key = self.key(header.kid.as_deref()).await?;
        let data = decode::<serde_json::Value>(token, &key, &self.validation)
            .map_err(TokenError::from_jwt)?;
        let times = TokenTimes::check(
            &data.claims,
            self.leeway,
            jsonwebtoken::get_current_timestamp(),
        )?;
        self.claims(&data.claims, times)
    }

    /// The key for `kid`: from the cache, else after fetching the JWKS once more (at most
    /// every `jwks_refetch_seconds`, and never more often than [`MIN_REFETCH`]).
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, TokenError> {
        let cache = || self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(fixed) = &cache().fixed {
            return Ok(fixed.clone());
        }
        let kid = kid.ok_or_else(|| TokenError::new("the token names no key (kid)"))?;
        let known = || cache().by_kid.get(kid).cloned();
        if let Some(key) = known() {
            return Ok(key);
        }
        let unpublished =
            || TokenError::new("the token is signed with a key the issuer does not publish");
        // One fetch at a time; whoever waited for it looks at its result first.
        let _fetching = self.fetching.lock().await;
        if let Some(key) = known() {
            return Ok(key);
        }
        let wait = Duration::from_secs(self.settings.jwks_refetch_seconds).max(MIN_REFETCH);
        {
            let mut cache = cache();
            if cache.fetched_at.is_some_and(|at| at.elapsed() < wait) {
                return Err(unpublished());
            }
            cache.fetched_at = Some(Instant::now());
        }
        match self.fetch().await {
            Ok(keys) => cache().by_kid = keys,
            Err(e) => tracing::warn!(issuer = self.name(), error = %e, "JWKS fetch failed"),
        }
        known().ok_or_else(unpublished)
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let url = self.settings.jwks_url.as_deref().unwrap_or_default();
        let set: JwkSet = self
            .client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(issuer = self.name(), keys = set.keys.len(), "fetched JWKS");
        Ok(set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect())
    }

    /// Chorus claims from the provider's: the most powerful role its groups grant, with the
    /// regions and markets of every group granting that role.
    fn claims(
        &self,
        provider: &serde_json::Value,
        times: TokenTimes,
    ) -> Result<Claims, TokenError> {
        let groups: BTreeSet<&str> = match &provider[&self.settings.groups_claim] {
            serde_json::Value::Array(items) => items.iter().filter_map(|g| g.as_str()).collect(),
            serde_json::Value::String(one) => BTreeSet::from([one.as_str()]),
            _ => BTreeSet::new(),
        };
        let grants: Vec<_> = groups
            .iter()
            .filter_map(|g| self.settings.groups.get(*g))
            .collect();
        let role = PRECEDENCE
            .into_iter()
            .find(|role| grants.iter().any(|g| g.role == *role))
            .ok_or_else(|| TokenError::new("none of the token's groups grants a Chorus role"))?;
        let of_role = || grants.iter().filter(|g| g.role == role);
        let unique = |items: Vec<String>| -> Vec<String> {
            items
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        Ok(Claims {
            sub: provider["sub"].as_str().unwrap_or_default().to_owned(),
            role,
            regions: unique(of_role().flat_map(|g| g.regions.clone()).collect()),
            markets: unique(of_role().flat_map(|g| g.markets.clone()).collect()),
            exp: times.expires_at,
            iat: times.issued_at,
            iss: self.settings.issuer.clone(),
            aud: self.settings.audience.clone(),
        })
    }
}

/// The `iss` of a token, read without verifying anything: only to pick whose keys verify it.
pub fn unverified_issuer(token: &str) -> Option<String> {
    let data = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(token).ok()?;
    data.claims["iss"].as_str().map(str::to_owned)
}
