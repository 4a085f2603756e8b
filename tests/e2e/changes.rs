//! Records that change at the source: a Zendesk ticket rated after it was first exported comes
//! back in the incremental export, and the Zendesk plugin (whose manifest says its records may
//! change) replaces the stored ticket instead of keeping its first version.

use chorus::config::ConnectorConfig;
use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{demo_settings, json_server, repo_root, spawn_app_with};

/// One page of the incremental export holding ticket 1 with `score`, pointing at `next`.
fn page(score: &str, updated_at: &str, next: &str) -> String {
    let text =
        std::fs::read_to_string(repo_root().join("connectors/zendesk/fixtures/export-page-1.json"))
            .unwrap();
    let mut page: Value = serde_json::from_str(&text).unwrap();
    let mut ticket = page["tickets"][0].clone();
    ticket["satisfaction_rating"]["score"] = score.into();
    ticket["updated_at"] = updated_at.into();
    page["tickets"] = Value::Array(vec![ticket]);
    page["after_cursor"] = next.into();
    page["end_of_stream"] = true.into();
    page.to_string()
}

/// A Zendesk that first exports ticket 1 rated bad, then (from that cursor on) the same ticket
/// rated good.
fn zendesk() -> String {
    let first = page("bad", "2026-04-02T10:01:00Z", "FIRST");
    let later = page("good", "2026-04-05T09:00:00Z", "SECOND");
    json_server(move |request| {
        if request.contains("cursor=FIRST") || request.contains("cursor=SECOND") {
            later.clone()
        } else {
            first.clone()
        }
    })
}

#[tokio::test]
async fn a_rating_given_later_replaces_the_stored_ticket() {
    std::env::set_var("CHORUS_E2E_CHANGES_EMAIL", "agent@example.test");
    std::env::set_var("CHORUS_E2E_CHANGES_TOKEN", "token");
    let mut settings = demo_settings(None);
    for connector in &mut settings.connectors {
        connector.run_on_start = false;
    }
    let zendesk: ConnectorConfig = toml::from_str(&format!(
        r#"
        id = "de-tickets"
        plugin = "zendesk"
        market = "DE"
        channel = "survey.after_service_call"
        run_on_start = false
        settings = {{ base_url = "{}", email_env = "CHORUS_E2E_CHANGES_EMAIL", token_env = "CHORUS_E2E_CHANGES_TOKEN", backoff_ms = 5 }}
        "#,
        zendesk()
    ))
    .unwrap();
    settings.connectors.push(zendesk);
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings, dir.path()).await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let csat_of_ticket = || async {
        let (status, body) = app
            .get(
                "/api/v1/records?markets=DE&channels=survey.after_service_call",
                Some(&hq),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let records = body["records"].as_array().unwrap().clone();
        assert_eq!(records.len(), 1, "{body}");
        records[0]["csat"].as_u64()
    };

    let first = app.run("de-tickets").await;
    assert_eq!(
        (first["inserted"].as_u64(), first["updated"].as_u64()),
        (Some(1), Some(0)),
        "{first}"
    );
    assert_eq!(csat_of_ticket().await, Some(1), "rated bad");

    let second = app.run("de-tickets").await;
    assert_eq!(
        (second["inserted"].as_u64(), second["updated"].as_u64()),
        (Some(0), Some(1)),
        "{second}"
    );
    assert_eq!(
        csat_of_ticket().await,
        Some(5),
        "rated good later, and replaced"
    );

    // Delivered again unchanged, it is a duplicate: nothing moves.
    let third = app.run("de-tickets").await;
    assert_eq!(
        (third["updated"].as_u64(), third["duplicates"].as_u64()),
        (Some(0), Some(1)),
        "{third}"
    );
}
