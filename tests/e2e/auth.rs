//! Authentication and role scopes over HTTP.

use chorus::auth::{AuthKeys, Claims};
use chorus::config::AuthSettings;
use chorus::domain::Role;

use crate::helpers::{checked, demo_settings, spawn_app_with, TestApp};

async fn demo_app(dir: &std::path::Path) -> TestApp {
    let mut settings = demo_settings(None);
    for connector in &mut settings.connectors {
        connector.run_on_start = false;
    }
    spawn_app_with(settings, dir).await
}

#[tokio::test]
async fn requests_without_a_valid_token_get_401_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;

    let (status, body) = app.get("/api/v1/nps", None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );

    let (status, body) = app.get("/api/v1/nps", Some("not-a-jwt")).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("malformed"),
        "{body}"
    );

    let mut claims: Claims = app
        .keys
        .verify_own(&app.token(Role::Admin, &[], &[]))
        .unwrap();
    claims.exp = jsonwebtoken::get_current_timestamp() - 3600;
    let (status, body) = app.get("/api/v1/nps", Some(&app.keys.sign(&claims))).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (401, Some("the token has expired"))
    );

    let forger = AuthKeys::hs256(
        b"guessed-secret-guessed-secret-guessed",
        &AuthSettings::default(),
    );
    let forged = forger.mint(
        "mallory",
        Role::Admin,
        &[],
        &[],
        std::time::Duration::from_secs(60),
    );
    let (status, body) = app.get("/api/v1/nps", Some(&forged)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("signature"),
        "{body}"
    );

    let response = app
        .client
        .get(format!("{}/api/v1/nps", app.address))
        .header("Authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(checked("GET", response).await.0, 401);
}

#[tokio::test]
async fn markets_outside_the_callers_scope_are_403_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    let de_lead = app.token(Role::MarketLead, &[], &["DE"]);
    let (status, body) = app.get("/api/v1/nps?markets=DE,FR", Some(&de_lead)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("market_out_of_scope")),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains("FR"));

    let central = app.token(Role::RegionalLead, &["central"], &[]);
    let (status, _) = app.get("/api/v1/nps?markets=PL", Some(&central)).await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/api/v1/nps?markets=ES", Some(&central)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn each_role_reaches_only_what_it_is_for() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    let integrator = app.token(Role::Integrator, &[], &[]);
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let lead = app.token(Role::MarketLead, &[], &["DE"]);

    let (status, body) = app.get("/api/v1/nps", Some(&integrator)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("role_not_allowed")),
        "{body}"
    );
    assert_eq!(
        app.get("/api/v1/connectors", Some(&integrator)).await.0,
        200
    );
    assert_eq!(app.get("/api/v1/connectors", Some(&lead)).await.0, 403);
    assert_eq!(app.get("/api/v1/connectors", Some(&hq)).await.0, 200);
    assert_eq!(
        app.post("/api/v1/connectors/de-service/run", Some(&hq))
            .await
            .0,
        403
    );
    assert_eq!(
        app.post("/api/v1/connectors/de-service/run", Some(&lead))
            .await
            .0,
        403
    );
    assert_eq!(app.get("/health", None).await.0, 200);
    assert_eq!(app.get("/ready", None).await.0, 200);
}

/// Every route that needs a token, with the roles allowed on it. The test below fails when
/// the OpenAPI document lists a route that is neither here nor in [`PUBLIC`], so a route
/// added to the API cannot skip this check; it proves that every other role is refused with
/// 403, before the request's parameters or body are even read.
const GUARDED: [(&str, &str, &[Role]); 25] = {
    use Role::{Admin, HqAnalyst, Integrator, MarketLead, RegionalLead};
    const READERS: &[Role] = &[Admin, HqAnalyst, RegionalLead, MarketLead];
    const ANYONE: &[Role] = &[Admin, HqAnalyst, RegionalLead, MarketLead, Integrator];
    [
        ("GET", "/api/v1/nps", READERS),
        ("GET", "/api/v1/csat", READERS),
        ("GET", "/api/v1/ces", READERS),
        ("GET", "/api/v1/stars", READERS),
        ("GET", "/api/v1/compare", READERS),
        ("GET", "/api/v1/trends", READERS),
        ("GET", "/api/v1/records", READERS),
        ("GET", "/api/v1/topics", READERS),
        ("GET", "/api/v1/drivers", READERS),
        ("GET", "/api/v1/alerts", READERS),
        ("GET", "/api/v1/cases", READERS),
        ("GET", "/api/v1/cases/summary", READERS),
        ("GET", "/api/v1/cases/1", READERS),
        (
            "PATCH",
            "/api/v1/cases/1",
            &[Admin, RegionalLead, MarketLead],
        ),
        ("GET", "/api/v1/connectors", &[Admin, HqAnalyst, Integrator]),
        (
            "POST",
            "/api/v1/connectors/de-service/run",
            &[Admin, Integrator],
        ),
        (
            "GET",
            "/api/v1/connectors/de-service/runs",
            &[Admin, HqAnalyst, Integrator],
        ),
        (
            "GET",
            "/api/v1/connectors/de-service/runs/1/rejections",
            &[Admin, HqAnalyst, Integrator],
        ),
        ("POST", "/api/v1/ingest/de-service", &[Admin, Integrator]),
        ("POST", "/api/v1/erasures", &[Admin]),
        ("GET", "/api/v1/erasures", &[Admin]),
        ("GET", "/api/v1/webhooks/deliveries", &[Admin]),
        ("GET", "/api/v1/federation", &[Admin]),
        ("GET", "/api/v1/me", ANYONE),
        ("GET", "/api/v1/events", ANYONE),
    ]
};

/// Documented routes that answer without a token.
const PUBLIC: [(&str, &str); 5] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/session"),
];

/// Answers that stream until the client leaves: only their status is read.
const STREAMS: [&str; 1] = ["/api/v1/events"];

#[test]
fn every_documented_route_is_either_guarded_or_public() {
    let mut documented: Vec<(String, String)> = crate::openapi::operations();
    documented.sort();
    let mut listed: Vec<(String, String)> = GUARDED
        .iter()
        .map(|(method, path, _)| {
            let template = crate::openapi::template(path)
                .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
            ((*method).to_owned(), template.to_owned())
        })
        .chain(
            PUBLIC
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned())),
        )
        .collect();
    listed.sort();
    listed.dedup();
    assert_eq!(
        documented, listed,
        "every documented route belongs in GUARDED (with its roles) or PUBLIC"
    );
}

#[tokio::test]
async fn every_guarded_route_refuses_every_role_without_its_permission() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo_app(dir.path()).await;
    let tokens = [
        (Role::Admin, app.token(Role::Admin, &[], &[])),
        (Role::HqAnalyst, app.token(Role::HqAnalyst, &[], &[])),
        (
            Role::RegionalLead,
            app.token(Role::RegionalLead, &["west"], &[]),
        ),
        (Role::MarketLead, app.token(Role::MarketLead, &[], &["DE"])),
        (Role::Integrator, app.token(Role::Integrator, &[], &[])),
    ];
    for (method, path, allowed) in GUARDED {
        let url = format!("{}{path}", app.address);
        for (role, token) in &tokens {
            let request = match method {
                "GET" => app.client.get(&url),
                "PATCH" => app.client.patch(&url),
                _ => app.client.post(&url),
            };
            let response = request.bearer_auth(token).send().await.unwrap();
            let (status, body) = if STREAMS.contains(&path) && response.status().is_success() {
                (response.status().as_u16(), serde_json::Value::Null)
            } else {
                checked(method, response).await
            };
            if allowed.contains(role) {
                assert!(
                    ![401, 403].contains(&status),
                    "{method} {path} refused {role:?}: {body}"
                );
            } else {
                assert_eq!(
                    (status, body["code"].as_str()),
                    (403, Some("role_not_allowed")),
                    "{method} {path} let {role:?} through"
                );
            }
            // Without a token, every guarded route is a 401.
            let anonymous = match method {
                "GET" => app.client.get(&url),
                "PATCH" => app.client.patch(&url),
                _ => app.client.post(&url),
            };
            let (status, body) = checked(method, anonymous.send().await.unwrap()).await;
            assert_eq!(status, 401, "{path}: {body}");
        }
    }
}
