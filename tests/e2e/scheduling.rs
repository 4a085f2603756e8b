//! The schedule: runs on an interval, never two runs of one instance at once, and a time
//! limit on plugin calls.

use std::time::{Duration, Instant};

use chorus::config::Settings;
use chorus::domain::Role;

use crate::helpers::{spawn_app_with, ONE_MARKET};

fn settings(instances: &str, call_timeout_seconds: u64) -> Settings {
    let text = format!(
        "[warehouse]\npath = \"unused\"\n[plugins]\ncall_timeout_seconds = {call_timeout_seconds}\n\
         {ONE_MARKET}\n{instances}"
    );
    Settings::from_toml(&text, [], std::path::Path::new("test.toml")).unwrap()
}

fn instance(id: &str, mode: &str, extra: &str) -> String {
    format!(
        "[[connectors]]\nid = \"{id}\"\nplugin = \"misbehaving\"\nmarket = \"DE\"\n\
         channel = \"survey.relational\"\nrun_on_start = false\n{extra}\n\
         settings = {{ mode = \"{mode}\", sleep_ms = 700 }}\n"
    )
}

#[tokio::test]
async fn a_second_run_of_a_running_instance_is_refused_with_409() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings(&instance("slow", "slow", ""), 60), dir.path()).await;
    let token = app.token(Role::Integrator, &[], &[]);
    let (status, first) = app.post("/api/v1/connectors/slow/run", Some(&token)).await;
    assert_eq!(status, 202, "{first}");
    let (status, second) = app.post("/api/v1/connectors/slow/run", Some(&token)).await;
    assert_eq!(
        (status, second["code"].as_str()),
        (409, Some("conflict")),
        "{second}"
    );
    // Once the first run is over, the instance can run again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, runs) = app.get("/api/v1/connectors/slow/runs", Some(&token)).await;
        if runs["runs"][0]["status"] == "succeeded" {
            assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the first run did not end: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.run("slow").await["status"], "succeeded");
}

#[tokio::test]
async fn instances_run_on_their_interval() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(
        settings(&instance("ticking", "empty", "interval_seconds = 1"), 60),
        dir.path(),
    )
    .await;
    let token = app.token(Role::Integrator, &[], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, body) = app
            .get("/api/v1/connectors/ticking/runs", Some(&token))
            .await;
        let runs = body["runs"].as_array().unwrap();
        if runs.len() >= 2 {
            assert!(runs.iter().all(|r| r["trigger"] == "schedule"), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than two scheduled runs: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_plugin_call_over_the_time_limit_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let slow = instance("stuck", "slow", "").replace("sleep_ms = 700", "sleep_ms = 2500");
    let app = spawn_app_with(settings(&slow, 1), dir.path()).await;
    let run = app.run("stuck").await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("did not return within 1 s"),
        "{run}"
    );
    assert_eq!(app.get("/health", None).await.0, 200);
}
