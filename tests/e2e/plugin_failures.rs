//! Plugins that panic, return garbage or refuse to start fail their own run only.

use chorus::config::Settings;
use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{metric, spawn_app_with, TestApp, ONE_MARKET};

fn settings(dir: &std::path::Path) -> Settings {
    let export = dir.join("good.csv");
    std::fs::write(&export, "id,when,nps\ng1,2026-09-01,9\ng2,2026-09-02,3\n").unwrap();
    let mut text = format!("[warehouse]\npath = \"unused\"\n{ONE_MARKET}");
    for mode in [
        "panic_on_read",
        "invalid_json",
        "good_then_panic",
        "garbage_records",
        "refuse_open",
    ] {
        text.push_str(&format!(
            "[[connectors]]\nid = \"{mode}\"\nplugin = \"misbehaving\"\nmarket = \"DE\"\n\
             channel = \"survey.relational\"\nrun_on_start = false\nsettings = {{ mode = \"{mode}\" }}\n"
        ));
    }
    text.push_str(&format!(
        "[[connectors]]\nid = \"missing\"\nplugin = \"no_such_plugin\"\nmarket = \"DE\"\n\
         channel = \"survey.relational\"\nrun_on_start = false\n\
         [[connectors]]\nid = \"good\"\nplugin = \"survey_csv\"\nmarket = \"DE\"\n\
         channel = \"survey.relational\"\nrun_on_start = false\n\
         settings = {{ path = {:?}, columns = {{ id = \"id\", timestamp = \"when\", nps = \"nps\" }} }}\n",
        export.display().to_string()
    ));
    Settings::from_toml(&text, [], std::path::Path::new("test.toml")).unwrap()
}

async fn stored_records(app: &TestApp) -> u64 {
    metric(&app.client, &app.address, "chorus_warehouse_records ").await
}

fn assert_failed_with(run: &Value, needle: &str) {
    assert_eq!(run["status"], "failed", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains(needle),
        "error {error:?} should mention {needle:?}"
    );
}

#[tokio::test]
async fn a_panicking_plugin_fails_its_run_and_leaves_server_and_warehouse_intact() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings(dir.path()), dir.path()).await;
    assert_eq!(app.run("good").await["inserted"], 2);

    let run = app.run("panic_on_read").await;
    assert_failed_with(
        &run,
        "panicked: connector panicked: deliberate panic in read",
    );
    assert_eq!(stored_records(&app).await, 2);
    assert_eq!(app.get("/health", None).await.0, 200);

    // The failure is in the run history, and the next run of the same plugin works again.
    let token = app.token(Role::Integrator, &[], &[]);
    let (_, history) = app
        .get("/api/v1/connectors/panic_on_read/runs", Some(&token))
        .await;
    assert_eq!(history["runs"][0]["status"], "failed");
    assert_failed_with(&app.run("panic_on_read").await, "deliberate panic");
    assert_eq!(app.run("good").await["status"], "succeeded");
}

#[tokio::test]
async fn a_plugin_returning_invalid_json_fails_its_run_without_storing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings(dir.path()), dir.path()).await;
    let run = app.run("invalid_json").await;
    assert_failed_with(&run, "not valid JSON");
    assert_eq!(run["inserted"], 0);
    assert_eq!(stored_records(&app).await, 0);
}

#[tokio::test]
async fn a_panic_after_a_committed_batch_keeps_that_batch_and_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings(dir.path()), dir.path()).await;
    let run = app.run("good_then_panic").await;
    assert_failed_with(&run, "deliberate panic in the second read");
    assert_eq!(run["inserted"], 3);
    assert_eq!(stored_records(&app).await, 3);
    // The next run resumes after the committed batch: the plugin sees the cursor and
    // panics at once, storing nothing twice.
    let again = app.run("good_then_panic").await;
    assert_failed_with(&again, "second read");
    assert_eq!(
        (again["inserted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(stored_records(&app).await, 3);
}

#[tokio::test]
async fn invalid_records_are_rejected_one_by_one_while_valid_ones_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings(dir.path()), dir.path()).await;
    let run = app.run("garbage_records").await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (run["inserted"].as_u64(), run["rejected"].as_u64()),
        (Some(2), Some(2)),
        "{run}"
    );
    let token = app.token(Role::Integrator, &[], &[]);
    let path = format!(
        "/api/v1/connectors/garbage_records/runs/{}/rejections",
        run["id"]
    );
    let (status, body) = app.get(&path, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let reasons: Vec<&str> = body["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["nps 42 is not in 0-10", "nps -1 is not in 0-10"]);
    assert!(body["rejections"][0]["location"]
        .as_str()
        .unwrap()
        .contains("garbage_records-1"));
}

#[tokio::test]
async fn a_plugin_that_refuses_to_open_or_cannot_be_loaded_fails_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings(dir.path()), dir.path()).await;
    assert_failed_with(
        &app.run("refuse_open").await,
        "open failed: settings refused on purpose",
    );
    assert_failed_with(&app.run("missing").await, "cannot load plugin");
    assert_eq!(app.run("good").await["status"], "succeeded");
}
