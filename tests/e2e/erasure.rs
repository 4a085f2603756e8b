//! Records that change and records that must go: a push instance with `on_change = "update"`
//! replaces a changed record and moves its counts; an admin erases one customer's records,
//! which leave `/records` and every count, never come back when pushed again, and leave a
//! log entry that names no content.

use chorus::config::ConnectorConfig;
use chorus::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{checked, demo_settings, spawn_app_with, TestApp};

async fn app(dir: &std::path::Path) -> TestApp {
    let mut settings = demo_settings(None);
    let push: ConnectorConfig = toml::from_str(
        r#"
        id = "kiosk"
        plugin = "push"
        market = "DE"
        channel = "survey.digital"
        on_change = "update"
        "#,
    )
    .unwrap();
    settings.connectors.push(push);
    let app = spawn_app_with(settings, dir).await;
    app.wait_for_startup_runs().await;
    app
}

fn answer(id: &str, customer: &str, nps: u8) -> Value {
    json!({
        "external_id": id,
        "occurred_at": "2026-05-04T10:00:00Z",
        "nps": nps,
        "text": format!("Kundin {customer} sagt: Lieferung kam zu spät"),
        "attributes": {"customer_id": customer},
    })
}

async fn push(app: &TestApp, token: &str, records: &[Value]) -> Value {
    app.push("kiosk", token, records).await
}

/// `POST /api/v1/erasures` with `body`; status and JSON answer.
async fn erase(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/erasures", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    checked("POST", response).await
}

/// Responses in the kiosk's cell on /nps (DE, survey.digital), and its promoters.
async fn kiosk_cell(app: &TestApp, token: &str) -> (u64, u64) {
    // One day of one cell; records of the demo on that day count in both readings.
    let (status, body) = app
        .get(
            "/api/v1/nps?markets=DE&channels=survey.digital&from=2026-05-04&to=2026-05-04",
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let cells = body["cells"].as_array().unwrap();
    cells.first().map_or((0, 0), |cell| {
        (
            cell["n"].as_u64().unwrap(),
            cell["promoters"]
                .as_u64()
                .expect("a cell above the privacy floor"),
        )
    })
}

async fn kiosk_records(app: &TestApp, token: &str) -> Vec<String> {
    let (status, body) = app
        .get(
            "/api/v1/records?markets=DE&channels=survey.digital&from=2026-05-04&to=2026-05-04",
            Some(token),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["external_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn changed_records_replace_and_erased_records_never_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let admin = app.token(Role::Admin, &[], &[]);
    let integrator = app.token(Role::Integrator, &[], &[]);
    let (n_before, _) = kiosk_cell(&app, &admin).await;

    // Customer C-2 answers often enough that the cell stays above the privacy floor.
    let mut first = vec![
        answer("k1", "C-1", 3),
        answer("k2", "C-1", 4),
        answer("k3", "C-1", 10),
        answer("k4", "C-2", 2),
    ];
    first.extend((5..=9).map(|i| answer(&format!("k{i}"), "C-2", 8)));
    let stored = push(&app, &integrator, &first).await;
    assert_eq!(stored["stored"], 9, "{stored}");
    let (n, promoters) = kiosk_cell(&app, &admin).await;
    assert_eq!(n, n_before + 9);

    // k4 was changed at the source (2 became 9): it is replaced, and its count moves.
    let changed = push(&app, &integrator, &[answer("k4", "C-2", 9)]).await;
    assert_eq!(
        (changed["stored"].as_u64(), changed["updated"].as_u64()),
        (Some(0), Some(1)),
        "{changed}"
    );
    assert_eq!(
        kiosk_cell(&app, &admin).await,
        (n, promoters + 1),
        "same n, one more promoter"
    );
    assert_eq!(
        crate::helpers::metric(
            &app.client,
            &app.address,
            "chorus_ingested_records_total{outcome=\"updated\"}"
        )
        .await,
        1
    );

    // Erasure is for admins only, and its request is checked.
    let (status, _) = erase(&app, &integrator, json!({"external_id": "k1"})).await;
    assert_eq!(status, 403);
    for bad in [
        json!({}),
        json!({"attribute": {"key": "customer id!", "value": "C-1"}}),
        json!({"attribute": {"key": "customer_id", "value": ""}}),
        json!({"external_id": "k1\u{0}"}),
        json!({"external_id": "k1", "instance": "no-such-instance"}),
        json!({"external_id": "k1", "attribute": {"key": "customer_id", "value": "C-1"}}),
    ] {
        let (status, body) = erase(&app, &admin, bad.clone()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_erasure")),
            "{bad}"
        );
    }

    let (status, entry) = erase(
        &app,
        &admin,
        json!({"attribute": {"key": "customer_id", "value": "C-1"}}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(
        (entry["records"].as_u64(), entry["markets"].clone()),
        (Some(3), json!(["DE"])),
        "{entry}"
    );

    let mut left = kiosk_records(&app, &admin).await;
    left.sort();
    assert!(left
        .iter()
        .all(|id| !["k1", "k2", "k3"].contains(&id.as_str())));
    assert!((4..=9).all(|i| left.contains(&format!("k{i}"))), "{left:?}");
    let (n_after, promoters_after) = kiosk_cell(&app, &admin).await;
    assert_eq!(
        n_after,
        n - 3,
        "counts dropped by exactly the erased records"
    );
    assert_eq!(promoters_after, promoters + 1 - 1, "k3 (10) was a promoter");

    // Delivered again, the erased records stay erased.
    let again = push(&app, &integrator, &first).await;
    assert_eq!(again["stored"], 0, "{again}");
    assert_eq!(kiosk_cell(&app, &admin).await.0, n_after);
    assert_eq!(kiosk_records(&app, &admin).await.len(), left.len());

    // The log says who, how many and where, and nothing of what was said.
    let (status, log) = app.get("/api/v1/erasures", Some(&admin)).await;
    assert_eq!(status, 200, "{log}");
    let entries = log["erasures"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["criterion"], "attribute customer_id");
    assert_eq!(entries[0]["requested_by"], "e2e");
    let text = log.to_string();
    assert!(
        !text.contains("C-1") && !text.contains("Lieferung"),
        "{text}"
    );
    let (status, _) = app
        .get(
            "/api/v1/erasures",
            Some(&app.token(Role::HqAnalyst, &[], &[])),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn chorus_erase_on_a_stopped_server_file_keeps_the_counts_exact() {
    let dir = tempfile::tempdir().unwrap();
    let demo = crate::helpers::DemoFiles::new(dir.path(), None);
    demo.ingest().await;
    let erased = demo.chorus(&[
        "erase",
        "--external-id",
        "DE-ser-00000",
        "--instance",
        "de-service",
    ]);
    let said = String::from_utf8_lossy(&erased.stdout);
    assert!(
        erased.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&erased.stderr)
    );
    assert!(
        said.contains("1 records erased") && said.contains("[DE]"),
        "{said}"
    );
    let unknown = demo.chorus(&["erase", "--external-id", "x", "--instance", "nope"]);
    assert!(!unknown.status.success());
    let verified = demo.chorus(&["verify"]);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stdout)
    );
    // Forget the instance's cursor, so its next run reads the whole export again: the erased
    // record is delivered again and must stay erased.
    {
        let warehouse = chorus::warehouse::Warehouse::open(&demo.database).unwrap();
        warehouse
            .read(|c| {
                c.execute(
                    "DELETE FROM connector_cursors WHERE instance = 'de-service'",
                    [],
                )?;
                Ok(())
            })
            .unwrap();
    }
    demo.ingest().await;
    let warehouse = chorus::warehouse::Warehouse::open(&demo.database).unwrap();
    let rerun: i64 = warehouse
        .read(|c| {
            Ok(c.query_row(
                "SELECT duplicates FROM connector_runs WHERE instance = 'de-service' \
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(rerun, 150, "the whole export was delivered again");
    let back: i64 = warehouse
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM records WHERE external_id = 'DE-ser-00000'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(back, 0);
}

/// One market that keeps original texts, a push instance, and a rule that opens a case for
/// every detractor. Only the test's records are stored, so DuckDB keeps their strings as they
/// are (uncompressed): a byte scan finds whatever the file holds.
fn keeping_originals(dir: &std::path::Path) -> std::path::PathBuf {
    let config = dir.join("chorus.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [server]
            listen = "127.0.0.1:0"
            login_link = false
            [warehouse]
            path = {warehouse:?}
            [plugins]
            dir = {plugins:?}
            [[regions]]
            id = "west"
            name = "West"
            [[markets]]
            code = "FR"
            name = "France"
            region = "west"
            languages = ["fr"]
            store_original_text = true
            [[channels]]
            id = "survey.digital"
            name = "Online"
            [[connectors]]
            id = "kiosk"
            plugin = "push"
            market = "FR"
            channel = "survey.digital"
            [[case_rules]]
            id = "detractors"
            when = "nps <= 6"
            owner = "cx-fr"
            max_record_age = "3650d"
            "#,
            warehouse = dir.join("chorus.duckdb").display().to_string(),
            plugins = crate::helpers::built_artifacts().display().to_string(),
        ),
    )
    .unwrap();
    config
}

/// `chorus <args> --config <config>`, which must succeed; its output.
fn chorus_cli(config: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(crate::helpers::chorus_binary())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "chorus {args:?}: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

#[tokio::test]
async fn erased_values_leave_every_byte_of_the_file_and_of_a_backup_replayed() {
    use crate::helpers::{file_holds, start_server, stop_cleanly, SECRET};
    let dir = tempfile::tempdir().unwrap();
    let config = keeping_originals(dir.path());
    let database = dir.path().join("chorus.duckdb");
    let keys = chorus::auth::AuthKeys::hs256(SECRET, &chorus::config::AuthSettings::default());
    let token = |role| keys.mint("e2e", role, &[], &[], std::time::Duration::from_secs(600));
    let client = reqwest::Client::new();

    // Values only the erased customer's record and case carry; the address in the comment is
    // redacted, so it is only in the original text.
    let private = "quokka.privat@example.net";
    let comment = format!("Confiture Quokka cassée, écrivez-moi à {private}");
    let comment = comment.as_str();
    let customer = "kundin-quokka-4711";
    let email = "quokka.4711@example.org";
    let note = "Rueckruf Quokka-Notiz vereinbart";
    let values = ["Confiture Quokka", private, customer, email, note];
    let (server, address) = start_server(&config, &[]);
    let record = |id: &str, customer: &str, email: &str, text: &str| {
        json!({"external_id": id, "occurred_at": "2026-10-30T10:00:00Z", "nps": 2,
               "text": text, "attributes": {"customer_id": customer, "email": email}})
    };
    let pushed = client
        .post(format!("{address}/api/v1/ingest/kiosk"))
        .bearer_auth(token(Role::Integrator))
        .json(&json!({"records": [
            record("q-1", customer, email, comment),
            record("k-2", "someone-else", "else@example.org", "Tout va bien, merci"),
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 200, "{}", pushed.text().await.unwrap());
    let cases: Value = client
        .get(format!("{address}/api/v1/cases?markets=FR&limit=500"))
        .bearer_auth(token(Role::Admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["record"]["external_id"] == "q-1")
        .unwrap_or_else(|| panic!("a case for q-1: {cases}"))["id"]
        .as_i64()
        .unwrap();
    let noted = client
        .patch(format!("{address}/api/v1/cases/{case}"))
        .bearer_auth(keys.mint(
            "lead",
            Role::MarketLead,
            &[],
            &["FR".into()],
            std::time::Duration::from_secs(600),
        ))
        .json(&json!({"note": note}))
        .send()
        .await
        .unwrap();
    assert_eq!(noted.status(), 200, "{}", noted.text().await.unwrap());
    stop_cleanly(server);

    // A backup, taken as documented: the server stopped, the file copied.
    let backup = dir.path().join("backup.duckdb");
    std::fs::copy(&database, &backup).unwrap();
    for value in values {
        assert!(
            file_holds(&backup, value),
            "the test's values are in the file: {value}"
        );
    }

    let (server, address) = start_server(&config, &[]);
    let erased = client
        .post(format!("{address}/api/v1/erasures"))
        .bearer_auth(token(Role::Admin))
        .json(&json!({"attribute": {"key": "customer_id", "value": customer}}))
        .send()
        .await
        .unwrap();
    assert_eq!(erased.status(), 201, "{}", erased.text().await.unwrap());
    stop_cleanly(server);

    let wal = dir.path().join("chorus.duckdb.wal");
    for value in values {
        assert!(
            !file_holds(&database, value),
            "{value} is still in the warehouse file"
        );
        assert!(
            !file_holds(&wal, value),
            "{value} is in the write-ahead log"
        );
    }
    assert!(
        file_holds(&database, "Tout va bien, merci"),
        "the other record stays"
    );

    // The documented procedure for a backup taken before the erasure.
    let said = chorus_cli(
        &config,
        &["erase", "--replay-into", backup.to_str().unwrap()],
    );
    assert!(said.contains("1 records erased"), "{said}");
    for value in values {
        assert!(
            !file_holds(&backup, value),
            "{value} is still in the backup"
        );
    }
    assert!(file_holds(&backup, "Tout va bien, merci"));

    // Counts stay exact in both files.
    chorus_cli(&config, &["verify"]);
    let copy = chorus::warehouse::Warehouse::open(&backup).unwrap();
    assert!(copy
        .verify(&chorus::dates::DateRange::default(), false, |_| {})
        .unwrap()
        .is_clean());
}
