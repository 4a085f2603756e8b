//! Push ingest and every connector kind into one warehouse: the survey-csv plugin, the
//! Zendesk, Google Business Profile, Google Play, App Store and Trustpilot plugins against a local server
//! serving the vendors' formats, and records pushed with a token or an HMAC signature.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use chorus::config::Settings;
use chorus::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{checked, json_server, repo_root, spawn_app_with, TestApp};

const SECRET_ENV: &str = "CHORUS_E2E_PUSH_SECRET";
const SECRET: &str = "push-secret-for-tests";

/// The second or third page name when the request line carries that page's mark, else
/// the first.
fn pick<'a>(line: &str, marks: [&str; 2], names: [&'a str; 3]) -> &'a str {
    if line.contains(marks[0]) {
        names[1]
    } else if line.contains(marks[1]) {
        names[2]
    } else {
        names[0]
    }
}

/// A local server answering Zendesk export and Google review requests from the
/// connectors' fixtures.
fn fake_vendors() -> String {
    let fixture = |folder: &str, name: &str| {
        std::fs::read_to_string(
            repo_root()
                .join("connectors")
                .join(folder)
                .join("fixtures")
                .join(name),
        )
        .unwrap()
    };
    json_server(move |line| {
        if line.contains("/v4/") {
            let name = pick(
                line,
                ["pageToken=CiAKGjBhVEN2eHR0", "pageToken=CiAKGjBhVEN2eHR1"],
                [
                    "reviews-page-1.json",
                    "reviews-page-2.json",
                    "reviews-page-3.json",
                ],
            );
            fixture("google-reviews", name)
        } else if line.contains("/androidpublisher/") {
            let name = pick(
                line,
                ["token=page2token", "token=page3token"],
                ["play-page-1.json", "play-page-2.json", "play-page-3.json"],
            );
            fixture("google-play", name)
        } else if line.contains("/v1/business-units/") {
            let name = pick(
                line,
                ["&page=2&", "&page=3&"],
                [
                    "reviews-page-1.json",
                    "reviews-page-2.json",
                    "reviews-page-3.json",
                ],
            );
            fixture("trustpilot", name)
        } else if line.contains("/v1/apps/") {
            let name = pick(
                line,
                ["cursor=AQ.AMnS3kI", "cursor=AQ.AMnS3kJ"],
                [
                    "reviews-page-1.json",
                    "reviews-page-2.json",
                    "reviews-page-3.json",
                ],
            );
            fixture("app-store", name)
        } else if line.contains("cursor=") && !line.contains("cursor=MTc3NTAwMDAw") {
            fixture("zendesk", "export-empty.json")
        } else {
            let name = pick(
                line,
                [
                    "cursor=MTc3NTAwMDAwMi4wfHw0fA%3D%3D",
                    "cursor=MTc3NTAwMDAwNy4wfHw3fA%3D%3D",
                ],
                [
                    "export-page-1.json",
                    "export-page-2.json",
                    "export-page-3.json",
                ],
            );
            fixture("zendesk", name)
        }
    })
}

fn settings(vendors: &str) -> Settings {
    std::env::set_var(SECRET_ENV, SECRET);
    std::env::set_var("CHORUS_E2E_ZENDESK_EMAIL", "agent@example.com");
    std::env::set_var("CHORUS_E2E_ZENDESK_TOKEN", "token");
    std::env::set_var("CHORUS_E2E_GOOGLE_TOKEN", "ya29.token");
    std::env::set_var("CHORUS_E2E_TRUSTPILOT_KEY", "tp-key");
    std::env::set_var(
        "CHORUS_E2E_ASC_KEY",
        std::fs::read_to_string(repo_root().join("connectors/app-store/fixtures/test-key.p8"))
            .unwrap(),
    );
    let survey = repo_root().join("config/demo/exports/fr-relational.csv");
    let text = format!(
        r#"
        [warehouse]
        path = "unused"
        [[regions]]
        id = "europe"
        name = "Europe"
        [[markets]]
        code = "DE"
        name = "Germany"
        region = "europe"
        languages = ["de", "en"]
        [[markets]]
        code = "FR"
        name = "France"
        region = "europe"
        languages = ["fr", "en"]
        [[markets]]
        code = "ES"
        name = "Spain"
        region = "europe"
        languages = ["es", "en"]
        [[markets]]
        code = "PL"
        name = "Poland"
        region = "europe"
        languages = ["pl", "en"]
        [[markets]]
        code = "US"
        name = "United States"
        region = "europe"
        languages = ["en"]
        [[channels]]
        id = "survey.relational"
        name = "Relational survey"
        programme = "relational"
        [[channels]]
        id = "complaint.service_desk"
        name = "Service desk"
        [[channels]]
        id = "webhook.app_feedback"
        name = "In-app feedback"
        [[channels]]
        id = "review.google"
        name = "Google reviews"
        [[channels]]
        id = "review.app_store"
        name = "App Store reviews"
        [[channels]]
        id = "review.google_play"
        name = "Google Play reviews"
        [[channels]]
        id = "review.trustpilot"
        name = "Trustpilot"

        [[connectors]]
        id = "fr-survey"
        plugin = "survey_csv"
        market = "FR"
        channel = "survey.relational"
        settings = {{ path = {survey:?}, columns = {{ id = "response_id", timestamp = "submitted_at", nps = "nps", comment = "comment" }} }}

        [[connectors]]
        id = "de-zendesk"
        plugin = "zendesk"
        market = "DE"
        channel = "complaint.service_desk"
        settings = {{ base_url = {vendors:?}, email_env = "CHORUS_E2E_ZENDESK_EMAIL", token_env = "CHORUS_E2E_ZENDESK_TOKEN", backoff_ms = 5 }}

        [[connectors]]
        id = "fr-google"
        plugin = "google_business_reviews"
        market = "FR"
        channel = "review.google"
        settings = {{ base_url = {vendors:?}, account_id = "1234567890", location_id = "987654321", oauth_token_env = "CHORUS_E2E_GOOGLE_TOKEN", backoff_ms = 5 }}

        [[connectors]]
        id = "app-store"
        plugin = "app_store_reviews"
        markets = ["DE", "FR", "ES", "PL", "US"]
        channel = "review.app_store"
        settings = {{ base_url = {vendors:?}, app_id = "1234567890", issuer_id = "issuer", key_id = "KEY1", private_key_env = "CHORUS_E2E_ASC_KEY", backoff_ms = 5 }}

        [[connectors]]
        id = "es-play"
        plugin = "google_play_reviews"
        market = "ES"
        channel = "review.google_play"
        settings = {{ base_url = {vendors:?}, package_name = "com.example.shop", oauth_token_env = "CHORUS_E2E_GOOGLE_TOKEN", backoff_ms = 5 }}

        [[connectors]]
        id = "de-trustpilot"
        plugin = "trustpilot"
        market = "DE"
        channel = "review.trustpilot"
        settings = {{ base_url = {vendors:?}, business_unit_id = "46d6a890000064000500e0c3", api_key_env = "CHORUS_E2E_TRUSTPILOT_KEY", backoff_ms = 5 }}

        [[connectors]]
        id = "app-feedback"
        plugin = "push"
        market = "DE"
        channel = "webhook.app_feedback"
        settings = {{ hmac_secret_env = "{SECRET_ENV}" }}
        "#,
        survey = survey.display().to_string(),
    );
    Settings::from_toml(&text, [], Path::new("push.toml")).unwrap()
}

async fn app(dir: &Path) -> TestApp {
    let app = spawn_app_with(settings(&fake_vendors()), dir).await;
    app.wait_for_startup_runs().await;
    app
}

async fn push(app: &TestApp, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/ingest/app-feedback", app.address))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    checked("POST", request.send().await.unwrap()).await
}

fn record(id: &str, nps: i64) -> Value {
    json!({
        "external_id": id,
        "occurred_at": "2026-10-01T10:00:00Z",
        "nps": nps,
        "text": "Die App ist super, schreib mir an anna@example.de"
    })
}

#[tokio::test]
async fn pushed_records_are_stored_rejections_listed_and_repeats_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let integrator = app.token(Role::Integrator, &[], &[]);
    let body = json!({"records": [
        record("p1", 9),
        record("p2", 11),
        {"external_id": "p3", "nps": 5},
    ]});
    let (status, answer) = push(&app, Some(&integrator), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["received"].as_u64(), answer["stored"].as_u64()),
        (Some(3), Some(1))
    );
    let rejected = answer["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (rejected[0]["index"].as_u64(), rejected[0]["field"].as_str()),
        (Some(1), Some("nps"))
    );
    assert_eq!(
        (rejected[1]["index"].as_u64(), rejected[1]["field"].as_str()),
        (Some(2), Some("occurred_at"))
    );

    let (_, again) = push(&app, Some(&integrator), &body).await;
    assert_eq!(
        (again["stored"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(1))
    );

    // Stored like any record: redacted, in its market and channel, visible in run history.
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let (_, records) = app
        .get("/api/v1/records?channels=webhook.app_feedback", Some(&hq))
        .await;
    let stored = records["records"].as_array().unwrap();
    assert_eq!(stored.len(), 1);
    assert!(stored[0]["text"].as_str().unwrap().contains("[email]"));
    let (_, runs) = app
        .get("/api/v1/connectors/app-feedback/runs", Some(&integrator))
        .await;
    assert_eq!(runs["runs"][0]["trigger"], "push");

    // Who may push, and what is refused.
    assert_eq!(push(&app, None, &body).await.0, 401);
    let lead = app.token(Role::MarketLead, &[], &["DE"]);
    assert_eq!(push(&app, Some(&lead), &body).await.0, 403);
    let (status, answer) = app
        .post("/api/v1/connectors/app-feedback/run", Some(&integrator))
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("push_instance"))
    );
    let response = app
        .client
        .post(format!("{}/api/v1/ingest/de-zendesk", app.address))
        .bearer_auth(&integrator)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(checked("POST", response).await.0, 404);
    let response = app
        .client
        .post(format!("{}/api/v1/ingest/app-feedback", app.address))
        .bearer_auth(&integrator)
        .header("Content-Type", "application/json")
        .body("{\"records\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(checked("POST", response).await.0, 400);
    let huge = json!({"records": [{"external_id": "x", "text": "a".repeat(2 << 20)}]});
    let (status, answer) = push(&app, Some(&integrator), &huge).await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (413, Some("payload_too_large"))
    );
}

fn signature(timestamp: i64, body: &[u8], secret: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[tokio::test]
async fn hmac_signed_pushes_need_the_right_secret_and_a_fresh_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let body = serde_json::to_vec(&json!({"records": [record("s1", 10)]})).unwrap();
    let now = chrono::Utc::now().timestamp();
    let send = |timestamp: i64, signature: String| {
        app.client
            .post(format!("{}/api/v1/ingest/app-feedback", app.address))
            .header("Content-Type", "application/json")
            .header("X-Chorus-Timestamp", timestamp.to_string())
            .header("X-Chorus-Signature", signature)
            .body(body.clone())
            .send()
    };
    let ok = send(now, signature(now, &body, SECRET)).await.unwrap();
    assert_eq!(checked("POST", ok).await.0, 200);
    let wrong = send(now, signature(now, &body, "another-secret"))
        .await
        .unwrap();
    assert_eq!(checked("POST", wrong).await.0, 401);
    let stale = send(now - 3600, signature(now - 3600, &body, SECRET))
        .await
        .unwrap();
    let (status, error) = checked("POST", stale).await;
    assert_eq!(status, 401);
    assert!(
        error["message"].as_str().unwrap().contains("5 minutes"),
        "{error}"
    );
}

#[tokio::test]
async fn every_connector_kind_lands_in_one_warehouse_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let integrator = app.token(Role::Integrator, &[], &[]);
    push(
        &app,
        Some(&integrator),
        &json!({"records": [record("a1", 9), record("a2", 3)]}),
    )
    .await;
    let admin = app.token(Role::Admin, &[], &[]);

    // Zendesk: 7 solved or closed tickets, 5 of them rated (3 good, 2 bad) → CSAT 4-5 = 60 %.
    let (_, csat) = app.get("/api/v1/csat?markets=DE", Some(&admin)).await;
    let cell = &csat["cells"][0];
    assert_eq!(
        (cell["channel"].as_str(), cell["n"].as_u64()),
        (Some("complaint.service_desk"), Some(5))
    );
    assert!((cell["share_4_5"].as_f64().unwrap() - 60.0).abs() < 1e-9);
    let (_, records) = app
        .get(
            "/api/v1/records?channels=complaint.service_desk&limit=100",
            Some(&admin),
        )
        .await;
    assert_eq!(records["records"].as_array().unwrap().len(), 7);

    let (_, nps) = app.get("/api/v1/nps", Some(&admin)).await;
    let cells: Vec<(String, String, u64)> = nps["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["market"].as_str().unwrap().to_owned(),
                c["channel"].as_str().unwrap().to_owned(),
                c["n"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cells,
        [
            ("DE".to_owned(), "webhook.app_feedback".to_owned(), 2),
            ("FR".to_owned(), "survey.relational".to_owned(), 120),
        ]
    );

    // Google reviews: six rated reviews (one unrated rejected), stars only.
    let (_, stars) = app
        .get(
            "/api/v1/stars?markets=FR&channels=review.google",
            Some(&admin),
        )
        .await;
    let cell = &stars["cells"][0];
    assert_eq!(
        (cell["channel"].as_str(), cell["n"].as_u64()),
        (Some("review.google"), Some(6))
    );
    assert!(
        (cell["mean"].as_f64().unwrap() - 20.0 / 6.0).abs() < 1e-9,
        "{cell}"
    );

    // App Store: territories become markets (the XKX review is rejected at the plugin);
    // Google Play: one market for the app's reviews.
    let stars_of = |body: &Value, market: &str, channel: &str| {
        body["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["market"] == market && c["channel"] == channel)
            .map(|c| c["n"].as_u64().unwrap())
    };
    let (_, all_stars) = app.get("/api/v1/stars", Some(&admin)).await;
    assert_eq!(stars_of(&all_stars, "DE", "review.app_store"), Some(2));
    assert_eq!(stars_of(&all_stars, "US", "review.app_store"), Some(1));
    assert_eq!(stars_of(&all_stars, "ES", "review.google_play"), Some(6));
    assert_eq!(stars_of(&all_stars, "DE", "review.trustpilot"), Some(6));
    let (_, runs) = app
        .get("/api/v1/connectors/app-store/runs", Some(&admin))
        .await;
    assert_eq!(runs["runs"][0]["rejected"], 1, "{runs}");

    // A second run of every plugin instance adds nothing.
    for instance in [
        "fr-survey",
        "de-zendesk",
        "fr-google",
        "app-store",
        "es-play",
    ] {
        let run = app.run(instance).await;
        assert_eq!(run["inserted"], 0, "{instance}: {run}");
    }
}

/// A server that refuses every request with 401.
fn refusing_vendor() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let body = "{\"error\":\"Couldn't authenticate you\"}";
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).unwrap();
        }
    });
    base
}

#[tokio::test]
async fn refused_credentials_fail_the_run_naming_the_instance_and_the_variables() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings(&refusing_vendor()), dir.path()).await;
    app.wait_for_startup_runs().await;
    let admin = app.token(Role::Admin, &[], &[]);
    let (_, runs) = app
        .get("/api/v1/connectors/de-zendesk/runs", Some(&admin))
        .await;
    let run = &runs["runs"][0];
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.starts_with("instance de-zendesk: "), "{error}");
    assert!(
        error.contains("CHORUS_E2E_ZENDESK_EMAIL and CHORUS_E2E_ZENDESK_TOKEN"),
        "{error}"
    );
    assert!(
        !error.contains("token\"") && !error.contains(":token"),
        "no secret: {error}"
    );
    // The other instances of the same server ran regardless.
    let (_, survey) = app
        .get("/api/v1/connectors/fr-survey/runs", Some(&admin))
        .await;
    assert_eq!(survey["runs"][0]["status"], "succeeded");
}
