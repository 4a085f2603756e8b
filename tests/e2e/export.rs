//! `chorus export --format parquet`: the demo ingested by the real server, exported by the
//! real binary, read back with DuckDB and compared with the warehouse row for row.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chorus::auth::AuthKeys;
use chorus::config::AuthSettings;
use chorus::domain::Role;
use chorus::warehouse::Warehouse;
use serde_json::Value;

use crate::helpers::{built_artifacts, repo_root, start_server, SECRET};

/// The shipped demo configuration with its export paths made absolute.
fn demo_config(dir: &Path) -> std::path::PathBuf {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("config/chorus.toml"))
        .unwrap()
        .replace("\"config/", &format!("\"{}/config/", root.display()));
    let path = dir.join("chorus.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Waits until every connector instance of the server at `address` has finished a run.
pub async fn wait_for_runs(address: &str, token: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let body: Value = client
            .get(format!("{address}/api/v1/connectors"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let done =
            body["connectors"].as_array().unwrap().iter().all(|c| {
                !c["running"].as_bool().unwrap() && c["last_run"]["finished_at"].is_string()
            });
        if done {
            return;
        }
        assert!(Instant::now() < deadline, "runs did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn export(config: &Path, env: &[(&str, String)], out: &Path) -> std::process::Output {
    Command::new(built_artifacts().join("chorus"))
        .args([
            "export",
            "--format",
            "parquet",
            "--markets",
            "DE,FR",
            "--config",
        ])
        .arg(config)
        .arg("--out")
        .arg(out)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn parquet_export_round_trips_records_and_score_counts() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path());
    let database = dir.path().join("chorus.duckdb");
    let env = [
        ("CHORUS_WAREHOUSE__PATH", database.display().to_string()),
        (
            "CHORUS_PLUGINS__DIR",
            built_artifacts().display().to_string(),
        ),
        ("CHORUS_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
    ];
    let token = AuthKeys::hs256(SECRET, &AuthSettings::default()).mint(
        "e2e",
        Role::Admin,
        &[],
        &[],
        Duration::from_secs(600),
    );
    let (mut server, address) = start_server(&config, &env);
    wait_for_runs(&address, &token).await;
    // DuckDB lets one process open the file: the export runs with the server stopped.
    server.kill().unwrap();
    server.wait().unwrap();

    let out = dir.path().join("out");
    let done = export(&config, &env, &out);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).starts_with("wrote "));
    assert!(out.join("records/market=DE/month=2026-08").is_dir());
    assert!(out.join("score_counts/market=FR/month=2026-10").is_dir());
    assert!(
        !out.join("records/market=PL").exists(),
        "--markets limits the export"
    );

    // A second export into the same folder overwrites nothing and says why.
    let again = export(&config, &env, &out);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    let warehouse = Warehouse::open(&database).unwrap();
    let records = format!(
        "read_parquet('{}/records/**/*.parquet', hive_partitioning = true)",
        out.display()
    );
    let counts = format!(
        "(SELECT * FROM read_parquet('{}/score_counts/**/*.parquet', hive_partitioning = true) \
          WHERE measure = 'nps')",
        out.display()
    );
    let stored = "(SELECT *, strftime(occurred_at, '%Y-%m') AS month FROM records \
                  WHERE market IN ('DE', 'FR'))";
    let columns = "source_instance, external_id, market, month, channel, touchpoint, \
                   occurred_at, nps, csat, ces, stars, text, language";
    let recounted = "(SELECT market, strftime(occurred_at, '%Y-%m') AS month, channel, \
                     'nps' AS measure, nps AS score, count(*) AS responses FROM records \
                     WHERE market IN ('DE', 'FR') AND nps IS NOT NULL GROUP BY ALL)";
    let number = |sql: String| {
        warehouse
            .read(|c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let exported = number(format!("SELECT count(*) FROM {records}"));
    assert!(exported > 1_000, "{exported}");
    assert_eq!(exported, number(format!("SELECT count(*) FROM {stored}")));
    for (a, b) in [(records.as_str(), stored), (stored, records.as_str())] {
        let differing = number(format!(
            "SELECT count(*) FROM (SELECT {columns} FROM {a} EXCEPT SELECT {columns} FROM {b})"
        ));
        assert_eq!(differing, 0, "rows of {a} missing in {b}");
    }
    let cell_columns = "market, month, channel, measure, score, responses";
    for (a, b) in [(counts.as_str(), recounted), (recounted, counts.as_str())] {
        let differing = number(format!(
            "SELECT count(*) FROM (SELECT {cell_columns} FROM {a} EXCEPT \
             SELECT {cell_columns} FROM {b})"
        ));
        assert_eq!(differing, 0, "score counts of {a} missing in {b}");
    }
}
