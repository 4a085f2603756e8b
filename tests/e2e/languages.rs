//! A multilingual market end to end: Switzerland answers in German, French and Italian (and
//! English, allowed everywhere); short comments pushed in each get their own language, a
//! step of the detection chain that is not the market default, and the topics of that
//! language's terms.

use chorus::config::{ConnectorConfig, MarketConfig};
use chorus::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{checked, demo_settings, spawn_app_with};

/// One-liners as customers write them: `(id, text, language, topics)`.
const COMMENTS: [(&str, &str, &str, &[&str]); 8] = [
    ("de-1", "Paket kam zwei Tage zu spät", "de", &["delivery"]),
    (
        "de-2",
        "Sehr freundliche Beratung im Laden",
        "de",
        &["staff_friendliness"],
    ),
    (
        "fr-1",
        "Le livreur a laissé le colis chez le voisin",
        "fr",
        &["delivery"],
    ),
    (
        "fr-2",
        "Trop cher pour ce que c est",
        "fr",
        &["price_billing"],
    ),
    ("it-1", "Il corriere non è mai passato", "it", &["delivery"]),
    (
        "it-2",
        "Personale gentilissimo, grazie",
        "it",
        &["staff_friendliness"],
    ),
    (
        "en-1",
        "App keeps crashing at checkout",
        "en",
        &["app_website"],
    ),
    ("none-1", "10/10", "", &[]),
];

#[tokio::test]
async fn comments_in_each_language_of_a_multilingual_market_get_their_language_and_topics() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = demo_settings(None);
    let switzerland: MarketConfig = toml::from_str(
        r#"
        code = "CH"
        name = "Switzerland"
        region = "central"
        languages = ["de", "fr", "it"]
        "#,
    )
    .unwrap();
    settings.markets.push(switzerland);
    settings.text.global_languages = vec!["en".to_owned()];
    let push: ConnectorConfig = toml::from_str(
        r#"
        id = "ch-kiosk"
        plugin = "push"
        market = "CH"
        channel = "survey.digital"
        "#,
    )
    .unwrap();
    settings.connectors.push(push);
    let app = spawn_app_with(settings, dir.path()).await;
    app.wait_for_startup_runs().await;
    let admin = app.token(Role::Admin, &[], &[]);

    let records: Vec<Value> = COMMENTS
        .iter()
        .map(|(id, text, _, _)| {
            json!({
                "external_id": id,
                "occurred_at": "2026-05-04T10:00:00Z",
                "nps": 8,
                "text": text,
            })
        })
        .collect();
    let response = app
        .client
        .post(format!("{}/api/v1/ingest/ch-kiosk", app.address))
        .bearer_auth(&admin)
        .json(&json!({ "records": records }))
        .send()
        .await
        .unwrap();
    let (status, answer) = checked("POST", response).await;
    assert_eq!(status, 200, "{answer}");

    let (status, body) = app
        .get("/api/v1/records?markets=CH&limit=100", Some(&admin))
        .await;
    assert_eq!(status, 200, "{body}");
    let stored = body["records"].as_array().unwrap();
    assert_eq!(stored.len(), COMMENTS.len(), "{body}");
    for (id, text, language, topics) in COMMENTS {
        let record = stored
            .iter()
            .find(|r| r["external_id"] == id)
            .unwrap_or_else(|| panic!("{id} stored"));
        let step = record["language_decided_by"].as_str();
        if language.is_empty() {
            assert_eq!(
                record["language"],
                Value::Null,
                "{text}: no language in a score"
            );
            assert_eq!(step, None, "{text}");
        } else {
            assert_eq!(record["language"], language, "{text}: {record}");
            assert!(
                matches!(
                    step,
                    Some("detector" | "detector_lead" | "function_words" | "second_detector")
                ),
                "{text}: decided by a detector, not the market default: {record}"
            );
        }
        let tagged: Vec<&str> = record["topics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tagged, topics, "{text}: {record}");
    }
}
