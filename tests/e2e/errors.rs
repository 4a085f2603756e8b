//! Malformed requests get a precise JSON error.

use chorus::domain::Role;

use crate::helpers::{demo_settings, spawn_app_with};

#[tokio::test]
async fn malformed_requests_get_a_json_error_with_a_stable_code() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = demo_settings(None);
    settings
        .connectors
        .iter_mut()
        .for_each(|c| c.run_on_start = false);
    let app = spawn_app_with(settings, dir.path()).await;
    let admin = app.token(Role::Admin, &[], &[]);
    let cases = [
        ("/api/v1/nps?grup_by=market", 400, "invalid_query"),
        ("/api/v1/nps?from=31.12.2026", 400, "invalid_date"),
        (
            "/api/v1/nps?from=2026-10-01&to=2026-09-01",
            400,
            "invalid_range",
        ),
        ("/api/v1/nps?group_by=market", 400, "pooling_not_allowed"),
        (
            "/api/v1/nps?group_by=channel,month",
            400,
            "pooling_not_allowed",
        ),
        (
            "/api/v1/nps?group_by=market,channel,week",
            400,
            "invalid_group_by",
        ),
        (
            "/api/v1/drivers?min_mentions=1000001",
            400,
            "invalid_min_mentions",
        ),
        ("/api/v1/drivers?bootstrap=1001", 400, "invalid_bootstrap"),
        // White space other than spaces and tabs is not forgiven (the document's pattern).
        ("/api/v1/nps?markets=%E2%80%83DE", 400, "invalid_market"),
        ("/api/v1/nps?markets=Germany", 400, "invalid_market"),
        // Values nobody configured are mistakes to name, not empty answers.
        ("/api/v1/nps?markets=DE,XX", 400, "unknown_market"),
        (
            "/api/v1/trends?from=2026-08&to=2026-10&markets=XX",
            400,
            "unknown_market",
        ),
        (
            "/api/v1/compare?from=2026-08-01&to=2026-10-31&against=XX",
            400,
            "unknown_market",
        ),
        ("/api/v1/cases?markets=XX", 400, "unknown_market"),
        ("/api/v1/alerts?markets=XX", 400, "unknown_market"),
        ("/api/v1/records?markets=XX", 400, "unknown_market"),
        ("/api/v1/nps?channels=nope", 400, "unknown_channel"),
        (
            "/api/v1/trends?from=2026-08&to=2026-10&channels=nope",
            400,
            "unknown_channel",
        ),
        ("/api/v1/records?channels=nope", 400, "unknown_channel"),
        ("/api/v1/records?topic=nope", 400, "unknown_topic"),
        ("/api/v1/connectors/nope/runs", 404, "not_found"),
        (
            "/api/v1/connectors/de-service/runs?limit=many",
            400,
            "invalid_query",
        ),
        (
            "/api/v1/connectors/de-service/runs?limit=0",
            400,
            "invalid_limit",
        ),
        (
            "/api/v1/connectors/de-service/runs?limit=501",
            400,
            "invalid_limit",
        ),
        (
            "/api/v1/connectors/de-service/runs/abc/rejections",
            400,
            "invalid_path",
        ),
        (
            "/api/v1/connectors/de-service/runs/999/rejections",
            404,
            "not_found",
        ),
        ("/api/v2/everything", 404, "not_found"),
    ];
    for (path, status, code) in cases {
        let (actual, body) = app.get(path, Some(&admin)).await;
        assert_eq!(
            (actual, body["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
        let message = body["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{path}");
        if code.starts_with("unknown_") {
            let value = if path.contains("XX") { "XX" } else { "nope" };
            assert!(
                message.contains(value),
                "{path}: the value is named: {message}"
            );
        }
    }
    // A known market outside the caller's scope stays a 403.
    let lead = app.token(chorus::domain::Role::MarketLead, &[], &["DE"]);
    let (status, body) = app.get("/api/v1/nps?markets=FR", Some(&lead)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("market_out_of_scope")),
        "{body}"
    );
    let (status, body) = app.post("/api/v1/connectors/nope/run", Some(&admin)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("not_found")),
        "{body}"
    );
}
