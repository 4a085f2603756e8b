//! Comment texts end to end: redacted before storage, tagged with topics, read back through
//! `/records` and `/topics` within scope, originals only for allowed roles, and `chorus
//! retag` applying a changed taxonomy to stored records.

use std::collections::BTreeSet;

use chorus::analysis::scale::Measure;
use chorus::domain::Role;
use chorus::warehouse::queries::CellQuery;
use chorus::warehouse::records::RecordQuery;
use chorus::warehouse::Warehouse;
use serde_json::Value;

use crate::helpers::{demo_settings, repo_root, spawn_app_with, DemoFiles, TestApp};

/// Every record of a query, page by page.
async fn all_records(app: &TestApp, token: &str, query: &str, page: u32) -> Vec<Value> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/records?{query}&limit={page}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = app.get(&path, Some(token)).await;
        assert_eq!(status, 200, "{path}: {body}");
        records.extend(body["records"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return records,
        }
    }
}

fn texts(records: &[Value]) -> Vec<&str> {
    records.iter().filter_map(|r| r["text"].as_str()).collect()
}

#[tokio::test]
async fn records_are_redacted_scoped_and_paginated() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let central = app.token(Role::RegionalLead, &["central"], &[]);

    let paged = all_records(&app, &central, "channels=survey.digital", 7).await;
    let whole = all_records(&app, &central, "channels=survey.digital", 500).await;
    assert_eq!(paged, whole, "pages add up to the whole, in the same order");
    assert_eq!(whole.len(), 150, "DE 90 + PL 60 digital answers");
    let ids: BTreeSet<&str> = whole
        .iter()
        .map(|r| r["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), whole.len(), "no record twice");
    let times: Vec<&str> = whole
        .iter()
        .map(|r| r["occurred_at"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    assert!(whole
        .iter()
        .all(|r| r["market"] == "DE" || r["market"] == "PL"));

    // Personal data never reaches the warehouse; typed placeholders do.
    let all = texts(&whole).join("\n");
    for secret in ["0171 2345678", "Schneider", "@example", "PL61", "1090 1014"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    for placeholder in ["[phone]", "[name]", "[email]", "[iban]"] {
        assert!(all.contains(placeholder), "{placeholder} missing");
    }
    let kinds: BTreeSet<&str> = whole
        .iter()
        .flat_map(|r| r["redactions"].as_array().unwrap())
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["email", "iban", "name", "phone"]
    );

    // Filters: text search, topic, language, score range.
    let searched = all_records(&app, &central, "q=HOTLINE", 500).await;
    assert!(!searched.is_empty());
    assert!(texts(&searched)
        .iter()
        .all(|t| t.to_lowercase().contains("hotline")));
    let detractors = all_records(
        &app,
        &central,
        "score_max=6&languages=pl&topic=delivery",
        500,
    )
    .await;
    assert!(!detractors.is_empty());
    for r in &detractors {
        assert!(
            r["nps"].as_u64().unwrap() <= 6 && r["language"] == "pl",
            "{r}"
        );
        assert!(
            r["topics"]
                .as_array()
                .unwrap()
                .contains(&Value::from("delivery")),
            "{r}"
        );
    }

    let (status, body) = app.get("/api/v1/records?markets=FR", Some(&central)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("market_out_of_scope"))
    );
    for bad in [
        "cursor=zz",
        "limit=0",
        "limit=501",
        "score_min=9&score_max=3",
        "measure=joy",
    ] {
        let (status, _) = app
            .get(&format!("/api/v1/records?{bad}"), Some(&central))
            .await;
        assert_eq!(status, 400, "{bad}");
    }
}

#[tokio::test]
async fn originals_are_kept_where_the_market_allows_and_shown_only_to_allowed_roles() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let query = "markets=FR&channels=survey.digital&q=rappelez";
    let admin = all_records(&app, &app.token(Role::Admin, &[], &[]), query, 100).await;
    let hq = all_records(&app, &app.token(Role::HqAnalyst, &[], &[]), query, 100).await;
    assert!(!admin.is_empty() && admin.len() == hq.len());
    for (a, h) in admin.iter().zip(&hq) {
        assert!(a["text"].as_str().unwrap().contains("[phone]"));
        assert!(a["text_original"]
            .as_str()
            .unwrap()
            .contains("06 12 34 56 78"));
        assert!(h.get("text_original").is_none(), "{h}");
    }
    // Germany does not keep originals, whoever asks.
    let german = all_records(
        &app,
        &app.token(Role::Admin, &[], &[]),
        "markets=DE&q=%5Bphone%5D",
        100,
    )
    .await;
    assert!(!german.is_empty());
    assert!(german.iter().all(|r| r.get("text_original").is_none()));
}

#[tokio::test]
async fn the_topic_driver_view_is_scoped_and_matches_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let west = app.token(Role::RegionalLead, &["west"], &[]);

    let (status, by_hq) = app.get("/api/v1/topics", Some(&hq)).await;
    assert_eq!(status, 200, "{by_hq}");
    let (_, by_west) = app.get("/api/v1/topics?markets=FR", Some(&west)).await;
    let fr_of = |body: &Value| -> Vec<Value> {
        body["topics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["market"] == "FR")
            .cloned()
            .collect()
    };
    assert!(!fr_of(&by_west).is_empty());
    assert_eq!(
        fr_of(&by_west),
        fr_of(&by_hq),
        "same numbers for the same market"
    );

    // Mentions equal the records tagged with the topic.
    let row = by_hq["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["market"] == "DE" && r["channel"] == "survey.relational" && r["topic"] == "delivery"
        })
        .unwrap();
    let tagged = all_records(
        &app,
        &hq,
        "markets=DE&channels=survey.relational&topic=delivery",
        500,
    )
    .await;
    assert_eq!(row["mentions"].as_u64().unwrap(), tagged.len() as u64);
    assert!(row["mentions"].as_u64().unwrap() > 0);
    let with = &row["nps_with"];
    let without = &row["nps_without"];
    assert_eq!(
        with["n"].as_u64().unwrap() + without["n"].as_u64().unwrap(),
        row["records_with_text"].as_u64().unwrap(),
        "every demo comment has an NPS"
    );

    let (status, body) = app.get("/api/v1/topics?markets=DE", Some(&west)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("market_out_of_scope"))
    );
    let (status, body) = app.get("/api/v1/topics?group_by=channel", Some(&hq)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("pooling_not_allowed"))
    );
    let (status, body) = app.get("/api/v1/topics?topics=weather", Some(&hq)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("unknown_topic"))
    );
}

#[tokio::test]
async fn retag_applies_a_changed_taxonomy_to_stored_records() {
    let dir = tempfile::tempdir().unwrap();
    let taxonomy = dir.path().join("topics.toml");
    std::fs::copy(repo_root().join("config/taxonomy/cx.toml"), &taxonomy).unwrap();
    let demo = DemoFiles::new(dir.path(), Some(&taxonomy));
    demo.ingest().await;

    // A new topic: thanks, in German and French.
    let mut text = std::fs::read_to_string(&taxonomy).unwrap();
    text.push_str(
        "\n[[topics]]\nid = \"gratitude\"\nname = \"Gratitude\"\n[topics.terms]\n\
         de = [\"danke\"]\nfr = [\"merci\"]\n",
    );
    std::fs::write(&taxonomy, text).unwrap();
    let output = demo.chorus(&["retag"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("retagged"), "{stdout}");

    let warehouse = Warehouse::open(&demo.database).unwrap();
    let query = |topic: Option<&str>, contains: Option<&str>| RecordQuery {
        cells: CellQuery::all(Measure::Nps),
        languages: None,
        topic: topic.map(str::to_owned),
        score_min: None,
        score_max: None,
        contains: contains.map(str::to_owned),
        after: None,
        limit: 100_000,
    };
    let grateful = warehouse.records(&query(Some("gratitude"), None)).unwrap();
    let thanking_de = warehouse.records(&query(None, Some("danke"))).unwrap();
    let thanking_fr = warehouse.records(&query(None, Some("merci"))).unwrap();
    assert!(!thanking_de.is_empty() && !thanking_fr.is_empty());
    assert_eq!(grateful.len(), thanking_de.len() + thanking_fr.len());
    // The topics already there stay.
    assert!(!warehouse
        .records(&query(Some("delivery"), None))
        .unwrap()
        .is_empty());
}
