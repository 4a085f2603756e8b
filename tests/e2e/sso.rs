//! Sign-in through an identity provider: RS256 and ES256 tokens verified with keys from a
//! local JWKS server (the provider's documented format), groups mapped to Chorus roles and
//! scopes, key rotation picked up, and every forged or misdirected token refused with a 401.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chorus::config::IssuerSettings;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::helpers::{demo_settings, json_server, repo_root, spawn_app_with, TestApp};

const PROVIDER: &str = "https://login.example.test/tenant";
const EC_PROVIDER: &str = "https://ec.example.test";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("tests/fixtures/sso").join(name)).unwrap()
}

/// Serves whatever `jwks` holds at any path, counting requests.
fn jwks_server(jwks: Arc<Mutex<String>>, fetches: Arc<AtomicUsize>) -> String {
    json_server(move |_| {
        fetches.fetch_add(1, Ordering::SeqCst);
        jwks.lock().unwrap().clone()
    })
}

fn issuer(issuer: &str, algorithm: &str, jwks_url: String) -> IssuerSettings {
    toml::from_str(&format!(
        r#"
        issuer = "{issuer}"
        audience = "chorus"
        algorithm = "{algorithm}"
        jwks_url = "{jwks_url}"
        jwks_refetch_seconds = 0
        groups_claim = "groups"
        [groups]
        "cx-hq" = {{ role = "hq_analyst" }}
        "cx-region-west" = {{ role = "regional_lead", regions = ["west"] }}
        "cx-market-de" = {{ role = "market_lead", markets = ["DE"] }}
        "#
    ))
    .unwrap()
}

fn claims(iss: &str, groups: &[&str], exp_in: i64, aud: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": "alice@example.test", "iss": iss, "aud": aud, "iat": now,
           "exp": now + exp_in, "groups": groups})
}

fn sign(algorithm: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, key).unwrap()
}

async fn status(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    app.get(path, Some(token)).await
}

#[tokio::test]
async fn provider_tokens_sign_in_with_their_groups_and_nothing_forged_passes() {
    let rsa_jwks = Arc::new(Mutex::new(fixture("jwks-1.json")));
    let fetches = Arc::new(AtomicUsize::new(0));
    let rsa_url = jwks_server(rsa_jwks.clone(), fetches.clone());
    let ec_url = jwks_server(
        Arc::new(Mutex::new(fixture("jwks-ec.json"))),
        Arc::new(AtomicUsize::new(0)),
    );
    let mut settings = demo_settings(None);
    for connector in &mut settings.connectors {
        connector.run_on_start = false;
    }
    settings.auth.issuers = vec![
        issuer(PROVIDER, "RS256", format!("{rsa_url}/keys")),
        issuer(EC_PROVIDER, "ES256", format!("{ec_url}/keys")),
    ];
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings, dir.path()).await;
    let rsa_1 = EncodingKey::from_rsa_pem(fixture("rsa-1.pem").as_bytes()).unwrap();
    let rsa_2 = EncodingKey::from_rsa_pem(fixture("rsa-2.pem").as_bytes()).unwrap();
    let ec_1 = EncodingKey::from_ec_pem(fixture("ec-1.pem").as_bytes()).unwrap();

    // A regional lead of the west through a group: the west's markets, nothing else.
    let west = sign(
        Algorithm::RS256,
        "rsa-1",
        &rsa_1,
        &claims(PROVIDER, &["staff", "cx-region-west"], 600, "chorus"),
    );
    assert_eq!(status(&app, "/api/v1/nps?markets=FR", &west).await.0, 200);
    let (code, body) = status(&app, "/api/v1/nps?markets=DE", &west).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (403, Some("market_out_of_scope"))
    );
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        1,
        "the keys are fetched once"
    );
    assert_eq!(status(&app, "/api/v1/nps?markets=ES", &west).await.0, 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "and then cached");

    // Several groups: the most powerful role wins.
    let hq = sign(
        Algorithm::RS256,
        "rsa-1",
        &rsa_1,
        &claims(PROVIDER, &["cx-market-de", "cx-hq"], 600, "chorus"),
    );
    assert_eq!(status(&app, "/api/v1/nps?markets=PL", &hq).await.0, 200);

    // ES256 from a second provider.
    let ec = sign(
        Algorithm::ES256,
        "ec-1",
        &ec_1,
        &claims(EC_PROVIDER, &["cx-market-de"], 600, "chorus"),
    );
    assert_eq!(status(&app, "/api/v1/nps?markets=DE", &ec).await.0, 200);

    // A key the provider does not publish yet: refetched (once the least time between
    // fetches has passed), still unknown, refused.
    tokio::time::sleep(chorus::sso::MIN_REFETCH).await;
    let rotated = sign(
        Algorithm::RS256,
        "rsa-2",
        &rsa_2,
        &claims(PROVIDER, &["cx-hq"], 600, "chorus"),
    );
    let (code, body) = status(&app, "/api/v1/nps", &rotated).await;
    assert_eq!(
        (code, body["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // The provider rotates: the new key is picked up on its first use after the least time
    // between fetches (`jwks_refetch_seconds = 0` cannot make a flood of unknown kids fetch).
    *rsa_jwks.lock().unwrap() = fixture("jwks-2.json");
    assert_eq!(status(&app, "/api/v1/nps", &rotated).await.0, 401);
    assert_eq!(
        fetches.load(Ordering::SeqCst),
        2,
        "no second fetch within the interval"
    );
    tokio::time::sleep(chorus::sso::MIN_REFETCH).await;
    assert_eq!(status(&app, "/api/v1/nps", &rotated).await.0, 200);
    assert_eq!(fetches.load(Ordering::SeqCst), 3);

    // Refused, each with a 401 and a reason.
    let public_key = fixture("rsa-1.pub.pem");
    let confused = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("rsa-1".into());
        encode(
            &header,
            &claims(PROVIDER, &["cx-hq"], 600, "chorus"),
            &EncodingKey::from_secret(public_key.as_bytes()),
        )
        .unwrap()
    };
    let unsigned = {
        let b64 = |v: &Value| {
            let text = serde_json::to_string(v).unwrap();
            base64_url(text.as_bytes())
        };
        format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "rsa-1"})),
            b64(&claims(PROVIDER, &["cx-hq"], 600, "chorus"))
        )
    };
    let cases = [
        ("alg none", unsigned),
        ("HS256 signed with the public key", confused),
        (
            "expired",
            sign(
                Algorithm::RS256,
                "rsa-1",
                &rsa_1,
                &claims(PROVIDER, &["cx-hq"], -3600, "chorus"),
            ),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::RS256,
                "rsa-1",
                &rsa_1,
                &claims(PROVIDER, &["cx-hq"], 600, "other"),
            ),
        ),
        (
            "no mapped group",
            sign(
                Algorithm::RS256,
                "rsa-1",
                &rsa_1,
                &claims(PROVIDER, &["staff"], 600, "chorus"),
            ),
        ),
        (
            "signed by another key under a known kid",
            sign(
                Algorithm::RS256,
                "rsa-1",
                &rsa_2,
                &claims(PROVIDER, &["cx-hq"], 600, "chorus"),
            ),
        ),
    ];
    for (what, token) in cases {
        let (code, body) = status(&app, "/api/v1/nps", &token).await;
        assert_eq!(
            (code, body["code"].as_str()),
            (401, Some("unauthorized")),
            "{what}: {body}"
        );
        assert!(!body["message"].as_str().unwrap_or("").is_empty(), "{what}");
    }
    // Chorus's own tokens keep working next to the providers'.
    let own = app.token(chorus::domain::Role::HqAnalyst, &[], &[]);
    assert_eq!(status(&app, "/api/v1/nps", &own).await.0, 200);
}

#[tokio::test]
async fn a_slow_key_fetch_never_holds_up_tokens_whose_key_is_known() {
    // The first fetch answers at once; every later one takes three seconds.
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let url = json_server(move |_| {
        if counter.fetch_add(1, Ordering::SeqCst) > 0 {
            std::thread::sleep(std::time::Duration::from_secs(3));
        }
        fixture("jwks-1.json")
    });
    let mut settings = demo_settings(None);
    for connector in &mut settings.connectors {
        connector.run_on_start = false;
    }
    settings.auth.issuers = vec![issuer(PROVIDER, "RS256", format!("{url}/keys"))];
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(spawn_app_with(settings, dir.path()).await);
    let rsa_1 = EncodingKey::from_rsa_pem(fixture("rsa-1.pem").as_bytes()).unwrap();
    let rsa_2 = EncodingKey::from_rsa_pem(fixture("rsa-2.pem").as_bytes()).unwrap();
    let valid = sign(
        Algorithm::RS256,
        "rsa-1",
        &rsa_1,
        &claims(PROVIDER, &["cx-hq"], 600, "chorus"),
    );
    assert_eq!(status(&app, "/api/v1/me", &valid).await.0, 200);
    tokio::time::sleep(chorus::sso::MIN_REFETCH).await;

    // An anonymous token naming an unknown key starts the slow fetch …
    let unknown = sign(
        Algorithm::RS256,
        "rsa-2",
        &rsa_2,
        &claims(PROVIDER, &["cx-hq"], 600, "chorus"),
    );
    let stranger = {
        let app = app.clone();
        tokio::spawn(async move { status(&app, "/api/v1/me", &unknown).await.0 })
    };
    while fetches.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // … while valid tokens of the same issuer are answered from the cached keys.
    for _ in 0..3 {
        assert_eq!(status(&app, "/api/v1/me", &valid).await.0, 200);
    }
    assert!(
        !stranger.is_finished(),
        "the valid tokens were answered during the fetch"
    );
    assert_eq!(stranger.await.unwrap(), 401);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

/// Base64url without padding, as JWTs encode their parts.
fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
