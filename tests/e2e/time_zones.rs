//! Time zones end to end: an export whose timestamps carry an offset, and one read in its
//! instance's zone across the night summer time begins, land on the right UTC instants and
//! count on their market's calendar days.

use std::path::Path;

use chorus::config::Settings;
use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp};

/// The US counts days in Los Angeles (UTC-7 in late March), Germany in Berlin. The US export
/// carries offsets; the German one local times, read in the instance's zone.
fn settings(us: &Path, de: &Path) -> Settings {
    let text = format!(
        r#"
        [warehouse]
        path = "unused"
        [[regions]]
        id = "world"
        name = "World"
        [[markets]]
        code = "US"
        name = "United States"
        region = "world"
        languages = ["en"]
        time_zone = "America/Los_Angeles"
        [[markets]]
        code = "DE"
        name = "Germany"
        region = "world"
        languages = ["de"]
        time_zone = "Europe/Berlin"
        [[channels]]
        id = "survey.web"
        name = "Web survey"
        [[connectors]]
        id = "us-web"
        plugin = "survey_csv"
        market = "US"
        channel = "survey.web"
        [connectors.settings]
        path = {us:?}
        columns = {{ id = "id", timestamp = "at", nps = "nps" }}
        [[connectors]]
        id = "de-web"
        plugin = "survey_csv"
        market = "DE"
        channel = "survey.web"
        [connectors.settings]
        path = {de:?}
        time_zone = "Europe/Berlin"
        columns = {{ id = "id", timestamp = "at", nps = "nps" }}
        "#,
        us = us.display().to_string(),
        de = de.display().to_string(),
    );
    Settings::from_toml(&text, [], Path::new("zones.toml")).unwrap()
}

/// `(external id, occurred_at)` of every record of `market`.
async fn instants(app: &TestApp, token: &str, market: &str) -> Vec<(String, String)> {
    let (status, page) = app
        .get(
            &format!("/api/v1/records?markets={market}&limit=100"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let mut found: Vec<(String, String)> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["external_id"].as_str().unwrap().to_owned(),
                r["occurred_at"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

/// `(day, n)` of `market`'s NPS cells grouped by day.
async fn days(app: &TestApp, token: &str, market: &str, range: &str) -> Vec<(String, u64)> {
    let (status, answer) = app
        .get(
            &format!("/api/v1/nps?group_by=market,channel,day&markets={market}&{range}"),
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["group_by"],
        serde_json::json!(["market", "channel", "day"])
    );
    let cells: &Vec<Value> = answer["cells"].as_array().unwrap();
    cells
        .iter()
        .map(|c| {
            (
                c["day"].as_str().unwrap().to_owned(),
                c["n"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn records_land_on_utc_instants_and_count_on_their_markets_days() {
    let dir = tempfile::tempdir().unwrap();
    let (us, de) = (dir.path().join("us.csv"), dir.path().join("de.csv"));
    std::fs::write(
        &us,
        "id,at,nps\n\
         a,2026-03-29T01:30:00-07:00,9\n\
         b,2026-03-28T23:30:00-07:00,9\n",
    )
    .unwrap();
    // 00:30 is still winter time (UTC+1); at 02:00 clocks jump to 03:00 (UTC+2).
    std::fs::write(
        &de,
        "id,at,nps\n\
         c,2026-03-29 00:30:00,9\n\
         d,2026-03-29 03:30:00,9\n\
         e,2026-03-30 01:30:00,9\n",
    )
    .unwrap();
    let app = spawn_app_with(settings(&us, &de), dir.path()).await;
    for run in app.wait_for_startup_runs().await {
        assert_eq!(run["last_run"]["status"], "succeeded", "{run}");
    }
    let admin = app.token(Role::Admin, &[], &[]);

    assert_eq!(
        instants(&app, &admin, "US").await,
        [
            ("a".to_owned(), "2026-03-29T08:30:00Z".to_owned()),
            ("b".to_owned(), "2026-03-29T06:30:00Z".to_owned()),
        ]
    );
    assert_eq!(
        instants(&app, &admin, "DE").await,
        [
            ("c".to_owned(), "2026-03-28T23:30:00Z".to_owned()),
            ("d".to_owned(), "2026-03-29T01:30:00Z".to_owned()),
            ("e".to_owned(), "2026-03-29T23:30:00Z".to_owned()),
        ]
    );
    // Both US answers were given on the 29th in UTC, on the 28th and 29th in Los Angeles.
    let march = "from=2026-03-01&to=2026-03-31";
    assert_eq!(
        days(&app, &admin, "US", march).await,
        [("2026-03-28".to_owned(), 1), ("2026-03-29".to_owned(), 1)]
    );
    // c and d on Berlin's 29th (UTC: 28th and 29th), e on Berlin's 30th (UTC: 29th).
    assert_eq!(
        days(&app, &admin, "DE", march).await,
        [("2026-03-29".to_owned(), 2), ("2026-03-30".to_owned(), 1)]
    );
    // Date filters are market days too: `to=2026-03-29` keeps c and d, not e.
    assert_eq!(
        days(&app, &admin, "DE", "from=2026-03-29&to=2026-03-29").await,
        [("2026-03-29".to_owned(), 2)]
    );
    let (status, page) = app
        .get(
            "/api/v1/records?markets=DE&from=2026-03-30&to=2026-03-30",
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["e"]);
    // One period at a time.
    let (status, answer) = app
        .get(
            "/api/v1/nps?group_by=market,channel,month,day",
            Some(&admin),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (400, Some("invalid_group_by")),
        "{answer}"
    );
}
