//! Killing the real `chorus` process in the middle of a run loses nothing and duplicates
//! nothing after a restart: records, their cases and the cursor commit together.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chorus::auth::AuthKeys;
use chorus::config::AuthSettings;
use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{built_artifacts, checked, metric, start_server, ONE_MARKET, SECRET};

const ROWS: usize = 120_000;

fn write_config(dir: &Path) -> std::path::PathBuf {
    let export = dir.join("big.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&export).unwrap());
    writeln!(file, "id,when,nps,comment").unwrap();
    for i in 0..ROWS {
        writeln!(
            file,
            "r{i},2026-09-{:02} 10:00:00,{},Lieferung war pünktlich",
            1 + i % 28,
            i % 11
        )
        .unwrap();
    }
    drop(file);
    let config = dir.join("chorus.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [server]
            listen = "127.0.0.1:0"
            [warehouse]
            path = {warehouse:?}
            [plugins]
            dir = {plugins:?}
            batch_size = 1000
            {ONE_MARKET}
            [[connectors]]
            id = "big"
            plugin = "survey_csv"
            market = "DE"
            channel = "survey.relational"
            settings = {{ path = {export:?}, columns = {{ id = "id", timestamp = "when", nps = "nps", comment = "comment" }} }}
            [[case_rules]]
            id = "detractors"
            when = "nps <= 6"
            owner = "cx-de"
            max_record_age = "3650d"
            "#,
            warehouse = dir.join("chorus.duckdb").display().to_string(),
            plugins = built_artifacts().display().to_string(),
            export = export.display().to_string(),
        ),
    )
    .unwrap();
    config
}

/// `chorus verify` on the stopped server's file: every record reads back and the cubes equal
/// a recount of the records.
fn verify(config: &Path) {
    let out = std::process::Command::new(built_artifacts().join("chorus"))
        .arg("--config")
        .arg(config)
        .arg("verify")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chorus verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn get(client: &reqwest::Client, url: String, token: &str) -> Value {
    let response = client.get(url).bearer_auth(token).send().await.unwrap();
    checked("GET", response).await.1
}

#[tokio::test]
async fn killing_the_server_mid_run_loses_nothing_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let token = AuthKeys::hs256(SECRET, &AuthSettings::default()).mint(
        "e2e",
        Role::Admin,
        &[],
        &[],
        Duration::from_secs(600),
    );
    let client = reqwest::Client::new();

    // First life: kill -9 as soon as some batches are in.
    let (mut child, address) = start_server(&config, &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let inserted_before_kill = loop {
        let inserted = metric(
            &client,
            &address,
            "chorus_ingested_records_total{outcome=\"inserted\"}",
        )
        .await;
        if inserted > 0 {
            break inserted;
        }
        assert!(Instant::now() < deadline, "nothing was ingested");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("killed after at least {inserted_before_kill} of {ROWS} records");
    verify(&config);

    // Second life: the startup run resumes from the stored cursor.
    let (mut child, address) = start_server(&config, &[]);
    let deadline = Instant::now() + Duration::from_secs(300);
    let runs = loop {
        let body = get(
            &client,
            format!("{address}/api/v1/connectors/big/runs"),
            &token,
        )
        .await;
        let runs = body["runs"].as_array().unwrap().clone();
        if runs.len() == 2 && runs[0]["status"] != "running" {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "the resumed run did not finish: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stored = metric(&client, &address, "chorus_warehouse_records").await;
    let nps = get(&client, format!("{address}/api/v1/nps"), &token).await;
    let cases = metric(&client, &address, "chorus_cases_open{market=\"DE\"}").await;
    child.kill().unwrap();
    child.wait().unwrap();

    verify(&config);

    let (first, resumed) = (&runs[1], &runs[0]);
    assert_eq!(first["status"], "interrupted", "{first}");
    assert_eq!(resumed["status"], "succeeded", "{resumed}");
    assert_eq!(
        resumed["duplicates"], 0,
        "the cursor lagged behind the records: {resumed}"
    );
    assert_eq!(stored, ROWS as u64, "records were lost or repeated");
    // Cases open in the records' transaction: one per detractor, none lost, none doubled.
    let detractors = (0..ROWS).filter(|i| i % 11 <= 6).count() as u64;
    assert_eq!(cases, detractors, "cases were lost or opened twice");
    assert_eq!(nps["cells"][0]["n"], ROWS as u64);
    assert_eq!(
        first["inserted"].as_u64().unwrap() + resumed["inserted"].as_u64().unwrap(),
        ROWS as u64,
        "{first} {resumed}"
    );
}
