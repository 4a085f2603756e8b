//! Dashboard sign-in and live events over HTTP: one-time codes, `/me`, and the scope of the
//! event stream.

use std::time::Duration;

use chorus::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{checked, demo_settings, spawn_app_with, TestApp};

async fn demo(dir: &std::path::Path) -> TestApp {
    let app = spawn_app_with(demo_settings(None), dir).await;
    app.wait_for_startup_runs().await;
    app
}

async fn exchange(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/session", app.address))
        .json(&body)
        .send()
        .await
        .unwrap();
    checked("POST", response).await
}

#[tokio::test]
async fn a_sign_in_code_gives_its_token_once_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    let token = app.token(Role::HqAnalyst, &[], &[]);
    let code = app.login_codes.issue(token.clone());
    assert_eq!(
        exchange(&app, json!({ "code": code })).await,
        (200, json!({ "token": token }))
    );
    let (status, body) = exchange(&app, json!({ "code": code })).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    assert!(body["message"].as_str().unwrap().contains("already used"));
    for hostile in [json!({ "code": "" }), json!({ "code": "x".repeat(10_000) })] {
        let (status, body) = exchange(&app, hostile).await;
        assert_eq!((status, body["code"].as_str()), (400, Some("invalid_code")));
    }
    let (status, body) = exchange(&app, json!({ "code": 5 })).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_json")),
        "{body}"
    );
}

#[tokio::test]
async fn me_tells_the_role_its_markets_and_what_it_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    let codes = |body: &Value| -> Vec<String> {
        body["markets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["code"].as_str().unwrap().to_owned())
            .collect()
    };
    let west = app.token(Role::RegionalLead, &["west"], &[]);
    let (status, body) = app.get("/api/v1/me", Some(&west)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codes(&body), ["ES", "FR"]);
    assert_eq!(body["role"], "regional_lead");
    assert_eq!(body["markets"][1]["region_name"], "Western Europe");
    assert_eq!(
        body["can"],
        json!({"read_feedback": true, "see_connectors": false, "run_connectors": false, "work_cases": true})
    );
    let (_, body) = app
        .get("/api/v1/me", Some(&app.token(Role::HqAnalyst, &[], &[])))
        .await;
    assert_eq!(codes(&body), ["DE", "ES", "FR", "PL"]);
    assert_eq!(
        body["can"]["work_cases"], false,
        "HQ reads cases, works none"
    );
    let (_, body) = app
        .get("/api/v1/me", Some(&app.token(Role::Integrator, &[], &[])))
        .await;
    assert_eq!(codes(&body), Vec::<String>::new());
    assert_eq!(body["can"]["run_connectors"], true);
    let (status, _) = app.get("/api/v1/me", None).await;
    assert_eq!(status, 401);
}

/// Reads server-sent events until `wanted` has been seen or `timeout` passes.
async fn events_until(response: &mut reqwest::Response, wanted: &str, timeout: Duration) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while !text.contains(wanted) {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => break,
        }
    }
    text
}

async fn open_events(app: &TestApp, token: &str) -> reqwest::Response {
    let response = app
        .client
        .get(format!("{}/api/v1/events", app.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    response
}

#[tokio::test]
async fn the_event_stream_tells_each_caller_only_what_its_scope_covers() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo(dir.path()).await;
    let mut west = open_events(&app, &app.token(Role::RegionalLead, &["west"], &[])).await;
    let mut central = open_events(&app, &app.token(Role::RegionalLead, &["central"], &[])).await;
    let mut integrator = open_events(&app, &app.token(Role::Integrator, &[], &[])).await;
    for stream in [&mut west, &mut central, &mut integrator] {
        assert!(events_until(stream, "event: ready", Duration::from_secs(5))
            .await
            .contains("event: ready"));
    }
    // Erasing a French record changes a western cell, and nothing in the centre.
    let admin = app.token(Role::Admin, &[], &[]);
    let (_, records) = app
        .get("/api/v1/records?markets=FR&limit=1", Some(&admin))
        .await;
    let record = &records["records"][0];
    let response = app
        .client
        .post(format!("{}/api/v1/erasures", app.address))
        .bearer_auth(&admin)
        .json(&json!({"external_id": record["external_id"], "instance": record["instance"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let seen = events_until(&mut west, "event: records", Duration::from_secs(5)).await;
    let data: Value = serde_json::from_str(
        seen.split("event: records\ndata: ")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or_else(|| panic!("no records event: {seen}")),
    )
    .unwrap();
    assert_eq!(
        data["cells"],
        json!([{"market": "FR", "channel": record["channel"], "added": 0, "removed": 1}])
    );
    // A run is announced to connector viewers, and never to the regional leads.
    app.run("de-service").await;
    let seen = events_until(&mut integrator, "\"succeeded\"", Duration::from_secs(5)).await;
    assert!(seen.contains("event: run\n"), "{seen}");
    assert!(!seen.contains("event: records"), "{seen}");
    let central_seen = events_until(&mut central, "event:", Duration::from_millis(500)).await;
    assert_eq!(central_seen, "", "the centre heard: {central_seen}");
    let west_seen = events_until(&mut west, "event:", Duration::from_millis(500)).await;
    assert_eq!(west_seen, "", "the west heard: {west_seen}");
}

#[tokio::test]
async fn the_event_stream_ends_when_the_token_expires() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    let short = app
        .keys
        .mint("brief", Role::HqAnalyst, &[], &[], Duration::from_secs(2));
    let mut stream = open_events(&app, &short).await;
    let seen = events_until(&mut stream, "event: expired", Duration::from_secs(10)).await;
    assert!(seen.contains("event: expired"), "{seen}");
    // And then the stream is over.
    let rest = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
        .await
        .expect("the stream ends");
    assert!(matches!(rest, Ok(None)), "{rest:?}");
}

#[tokio::test]
async fn the_page_is_served_from_the_binary_with_its_policy_and_revalidates() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    let page = app.client.get(&app.address).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert!(headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("/dashboard/app.js"));
    let again = app
        .client
        .get(&app.address)
        .header("If-None-Match", headers["etag"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // The charting library travels compressed, and nothing outside the list is served.
    let library = app
        .client
        .get(format!("{}/dashboard/vendor/echarts.min.js", app.address))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(library.headers()["content-encoding"], "gzip");
    for path in ["/dashboard/../Cargo.toml", "/dashboard/secret.js"] {
        let response = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}
