//! Ingesting the demo and reading NPS cells back.

use std::collections::BTreeMap;
use std::path::Path;

use chorus::config::{ConnectorConfig, Settings};
use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{copy_demo_exports, demo_settings, spawn_app_with};

/// (n, promoters, detractors) per (market, channel), computed from the export files with
/// the test's own reading of them, not the plugin's.
type Expected = BTreeMap<(String, String), (u64, u64, u64)>;

fn expected_from_exports(settings: &Settings) -> Expected {
    let mut cells = Expected::new();
    for connector in &settings.connectors {
        for file in export_files(connector) {
            count_file(connector, &file, &mut cells);
        }
    }
    cells
}

fn export_files(connector: &ConnectorConfig) -> Vec<std::path::PathBuf> {
    let path = Path::new(connector.settings["path"].as_str().unwrap()).to_path_buf();
    if path.is_file() {
        return vec![path];
    }
    let mut files: Vec<_> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

fn count_file(connector: &ConnectorConfig, file: &Path, cells: &mut Expected) {
    let settings = &connector.settings;
    let delimiter = settings
        .get("delimiter")
        .and_then(|d| d.as_str())
        .unwrap_or(",")
        .as_bytes()[0];
    let columns = settings["columns"].as_table().unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_path(file)
        .unwrap();
    let headers = reader.headers().unwrap().clone();
    let index = |key: &str| {
        columns
            .get(key)
            .and_then(|c| c.as_str())
            .map(|name| headers.iter().position(|h| h == name).unwrap())
    };
    let (id, time, score, market_column) = (
        index("id").unwrap(),
        index("timestamp").unwrap(),
        index("nps").unwrap(),
        index("market"),
    );
    for row in reader.records() {
        let row = row.unwrap();
        let valid_time = row[time].len() >= 10 && row[time][..4].parse::<u16>().is_ok();
        let Ok(score) = row[score].parse::<u8>() else {
            continue;
        };
        if row[id].is_empty() || !valid_time || score > 10 {
            continue;
        }
        let market = match market_column {
            Some(i) => row[i].to_owned(),
            None => connector.market.as_ref().unwrap().to_string(),
        };
        let cell = cells
            .entry((market, connector.channel.clone().unwrap()))
            .or_default();
        cell.0 += 1;
        cell.1 += u64::from(score >= 9);
        cell.2 += u64::from(score <= 6);
    }
}

fn cells_of(body: &Value) -> BTreeMap<(String, String), Value> {
    body["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                (
                    c["market"].as_str().unwrap().to_owned(),
                    c["channel"].as_str().unwrap().to_owned(),
                ),
                c.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_demo_ingests_into_per_market_per_channel_nps_that_matches_the_export_files() {
    let dir = tempfile::tempdir().unwrap();
    let settings = demo_settings(None);
    let expected = expected_from_exports(&settings);
    let app = spawn_app_with(settings, dir.path()).await;
    let connectors = app.wait_for_startup_runs().await;
    for connector in &connectors {
        assert_eq!(connector["last_run"]["status"], "succeeded", "{connector}");
    }

    let body = app.nps("").await;
    let cells = cells_of(&body);
    assert_eq!(cells.len(), 12, "4 markets × 3 channels: {body}");
    assert_eq!(
        cells.keys().cloned().collect::<Vec<_>>(),
        expected.keys().cloned().collect::<Vec<_>>()
    );
    for (key, (n, promoters, detractors)) in &expected {
        let cell = &cells[key];
        let nf = *n as f64;
        let (p, d) = (*promoters as f64 / nf, *detractors as f64 / nf);
        assert_eq!(cell["n"], *n, "{key:?}");
        assert_eq!(cell["promoters"], *promoters, "{key:?}");
        assert_eq!(cell["detractors"], *detractors, "{key:?}");
        assert_eq!(cell["passives"], n - promoters - detractors, "{key:?}");
        let nps = cell["nps"].as_f64().unwrap();
        assert!((nps - 100.0 * (p - d)).abs() < 1e-9, "{key:?}: {nps}");
        let se = 100.0 * ((p + d - (p - d).powi(2)) / nf).sqrt();
        assert!((cell["se"].as_f64().unwrap() - se).abs() < 1e-9, "{key:?}");
        let (low, high) = (
            cell["ci95"]["low"].as_f64().unwrap(),
            cell["ci95"]["high"].as_f64().unwrap(),
        );
        assert!(
            low < nps && nps < high && high - low < 4.0 * 1.96 * se,
            "{key:?}: [{low}, {high}]"
        );
        assert_eq!(cell["low_n"], *n < 30, "{key:?}");
    }
}

#[tokio::test]
async fn monthly_cells_add_up_to_the_cells_of_the_whole_period() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let whole = cells_of(&app.nps("").await);
    let monthly = app.nps("?group_by=market,channel,month").await;
    let mut sums: BTreeMap<(String, String), u64> = BTreeMap::new();
    for cell in monthly["cells"].as_array().unwrap() {
        assert!(
            cell["month"].as_str().unwrap().starts_with("2026-"),
            "{cell}"
        );
        let key = (
            cell["market"].as_str().unwrap().to_owned(),
            cell["channel"].as_str().unwrap().to_owned(),
        );
        *sums.entry(key).or_default() += cell["n"].as_u64().unwrap();
    }
    for (key, cell) in &whole {
        assert_eq!(sums[key], cell["n"].as_u64().unwrap(), "{key:?}");
    }
    let september = app
        .nps("?from=2026-09-01&to=2026-09-30&group_by=month,market,channel")
        .await;
    assert!(september["cells"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["month"] == "2026-09"));
}

#[tokio::test]
async fn running_again_or_reingesting_a_reexported_file_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exports = dir.path().join("exports");
    copy_demo_exports(&exports);
    let app = spawn_app_with(demo_settings(Some(&exports)), dir.path()).await;
    app.wait_for_startup_runs().await;
    let before = app.nps("").await;

    for instance in ["de-relational", "pl-service", "west-callcentre"] {
        let run = app.run(instance).await;
        assert_eq!(
            (run["status"].as_str(), run["inserted"].as_u64()),
            (Some("succeeded"), Some(0)),
            "{run}"
        );
    }
    // A survey tool exports the same month again under another name: every row is read,
    // none is stored twice.
    let folder = exports.join("de-relational");
    std::fs::copy(
        folder.join("umfrage-2026-08.csv"),
        folder.join("umfrage-2026-08-reexport.csv"),
    )
    .unwrap();
    let rows = std::fs::read_to_string(folder.join("umfrage-2026-08.csv"))
        .unwrap()
        .lines()
        .count() as u64
        - 1;
    let run = app.run("de-relational").await;
    assert_eq!(run["records_read"], rows, "{run}");
    assert_eq!(run["duplicates"], rows, "{run}");
    assert_eq!(run["inserted"], 0, "{run}");
    assert_eq!(app.nps("").await, before);
}

#[tokio::test]
async fn a_regional_lead_sees_its_regions_markets_with_the_same_numbers_as_hq() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let west = app.token(Role::RegionalLead, &["west"], &[]);
    let (_, hq_body) = app.get("/api/v1/nps", Some(&hq)).await;
    let (status, west_body) = app.get("/api/v1/nps", Some(&west)).await;
    assert_eq!(status, 200);
    let west_cells = cells_of(&west_body);
    let markets: std::collections::BTreeSet<&str> =
        west_cells.keys().map(|(m, _)| m.as_str()).collect();
    assert_eq!(markets.into_iter().collect::<Vec<_>>(), ["ES", "FR"]);
    let hq_cells = cells_of(&hq_body);
    for (key, cell) in &west_cells {
        assert_eq!(cell, &hq_cells[key], "{key:?}");
    }
    let de_lead = app.token(Role::MarketLead, &[], &["DE"]);
    let (_, de_body) = app.get("/api/v1/nps?markets=de", Some(&de_lead)).await;
    assert!(cells_of(&de_body).keys().all(|(m, _)| m == "DE"));
    assert_eq!(cells_of(&de_body).len(), 3);
}
