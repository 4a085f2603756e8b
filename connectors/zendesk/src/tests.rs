//! The connector against a local HTTP server that serves Zendesk's export format: pages to
//! the end, an expired cursor, 429 with Retry-After, a 500 then success, malformed JSON, 401.

use std::time::{Duration, Instant};

use chorus_http_kit::test_server::serve;

use chorus_plugin_api::Connector;
use serde_json::json;

use super::*;

fn fixture(name: &str) -> String {
    // The folder cargo gives at run time: a binary reused from a shared target dir by a
    // clone at another path would otherwise read the first clone's fixtures.
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    std::fs::read_to_string(format!("{dir}/fixtures/{name}")).unwrap()
}

fn open(base: &str) -> Zendesk {
    std::env::set_var("CHORUS_TEST_ZENDESK_EMAIL", "agent@example.com");
    std::env::set_var("CHORUS_TEST_ZENDESK_TOKEN", "t0ken");
    Zendesk::open(json!({
        "base_url": base,
        "email_env": "CHORUS_TEST_ZENDESK_EMAIL",
        "token_env": "CHORUS_TEST_ZENDESK_TOKEN",
        "market_tag_prefix": "market_",
        "backoff_ms": 5,
        "max_retries": 3,
        "timeout_seconds": 5
    }))
    .unwrap()
}

/// Pages by cursor as Zendesk does: start → page 1 → page 2 → page 3 (end).
fn pages(target: &str) -> String {
    if target.contains("cursor=MTc3NTAwMDAwMi4wfHw0fA%3D%3D") {
        fixture("export-page-2.json")
    } else if target.contains("cursor=MTc3NTAwMDAwNy4wfHw3fA%3D%3D") {
        fixture("export-page-3.json")
    } else if target.contains("cursor=") {
        fixture("export-empty.json")
    } else {
        fixture("export-page-1.json")
    }
}

#[test]
fn reads_every_page_to_the_end_and_maps_tickets() {
    let (base, seen) = serve(|target, _| (200, None, pages(target)));
    let mut zendesk = open(&base);
    let mut cursor: Option<String> = None;
    let mut records = Vec::new();
    let mut reads = 0;
    loop {
        let batch = zendesk.read(cursor.as_deref(), 100).unwrap();
        reads += 1;
        records.extend(batch.records);
        cursor = batch.cursor.or(cursor);
        if !batch.has_more {
            break;
        }
    }
    assert_eq!(reads, 3, "three pages");
    let ids: Vec<&str> = records.iter().map(|r| r.external_id.as_str()).collect();
    assert_eq!(
        ids,
        ["1", "2", "4", "5", "7", "8", "9"],
        "solved and closed only"
    );
    let csat: Vec<Option<i64>> = records.iter().map(|r| r.csat).collect();
    assert_eq!(
        csat,
        [Some(5), Some(1), None, Some(5), Some(1), None, Some(5)]
    );
    assert_eq!(records[0].market.as_deref(), Some("DE"));
    assert_eq!(records[3].market.as_deref(), Some("AT"));
    assert_eq!(records[3].touchpoint.as_deref(), Some("chat"));
    assert_eq!(
        records[0].attributes["satisfaction_comment"],
        "Schnelle Hilfe, danke"
    );
    assert!(records[0].text.as_deref().unwrap().contains("Rechnung"));
    // API token authentication: "{email}/token:{token}", base64.
    let (first_target, auth) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        auth,
        chorus_http_kit::basic("agent@example.com/token", "t0ken")
    );
    assert!(first_target.contains("start_time=0"), "{first_target}");

    // Nothing new: the stored cursor yields an empty page.
    let again = zendesk.read(cursor.as_deref(), 100).unwrap();
    assert!(again.records.is_empty() && !again.has_more);
}

#[test]
fn an_expired_cursor_restarts_from_the_newest_change_seen() {
    let (base, seen) = serve(|target, _| {
        if target.contains("cursor=") {
            (422, None, r#"{"error":"InvalidCursor"}"#.to_owned())
        } else {
            (200, None, fixture("export-page-3.json"))
        }
    });
    let mut zendesk = open(&base);
    let stale = serde_json::to_string(&ExportCursor {
        after_cursor: Some("expired".into()),
        last_updated: Some(1_775_000_000),
    })
    .unwrap();
    let batch = zendesk.read(Some(&stale), 100).unwrap();
    assert_eq!(batch.records.len(), 2);
    let targets: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.clone())
        .collect();
    assert!(targets[0].contains("cursor=expired"));
    assert!(targets[1].contains("start_time=1775000000"), "{targets:?}");
}

#[test]
fn a_429_waits_for_retry_after_and_a_500_is_retried() {
    let (base, _) = serve(|target, n| match n {
        0 => (429, Some(("Retry-After", "1".into())), "{}".into()),
        1 => (500, None, "oops".into()),
        _ => (200, None, pages(target)),
    });
    let mut zendesk = open(&base);
    let started = Instant::now();
    let batch = zendesk.read(None, 100).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(batch.records.len(), 3);
}

#[test]
fn persistent_server_errors_give_up_with_the_last_error() {
    let (base, seen) = serve(|_, _| (503, None, "maintenance".into()));
    let error = open(&base).read(None, 100).unwrap_err();
    assert!(error.message().contains("failed 4 times"), "{error}");
    assert!(error.message().contains("503 maintenance"), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 4, "one try and three retries");
}

#[test]
fn malformed_json_and_refused_credentials_are_clear_errors() {
    let (base, _) = serve(|_, _| (200, None, "{\"tickets\": [".into()));
    let error = open(&base).read(None, 100).unwrap_err();
    assert!(error.message().contains("not the expected JSON"), "{error}");

    let (base, seen) = serve(|_, _| {
        (
            401,
            None,
            "{\"error\":\"Couldn't authenticate you\"}".into(),
        )
    });
    let error = open(&base).read(None, 100).unwrap_err();
    assert!(
        error
            .message()
            .contains("CHORUS_TEST_ZENDESK_EMAIL and CHORUS_TEST_ZENDESK_TOKEN"),
        "{error}"
    );
    assert!(
        !error.message().contains("t0ken"),
        "the secret never appears"
    );
    assert_eq!(seen.lock().unwrap().len(), 1, "401 is not retried");
    assert!(open(&base).check().is_err());
}

#[test]
fn unset_credential_variables_are_named() {
    let error = Zendesk::open(json!({
        "base_url": "http://127.0.0.1:9",
        "oauth_token_env": "CHORUS_TEST_ZENDESK_UNSET"
    }))
    .unwrap_err();
    assert!(
        error.message().contains("CHORUS_TEST_ZENDESK_UNSET"),
        "{error}"
    );
}
