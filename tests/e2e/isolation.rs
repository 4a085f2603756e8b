//! Process isolation through the real `chorus` binary: a plugin that segfaults, aborts,
//! exits, never returns, allocates without end or prints garbage fails its own run, with the
//! cause named, while the server keeps answering, the warehouse keeps exactly the batch
//! committed before, no thread is left behind, and a healthy instance runs next.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chorus::auth::AuthKeys;
use chorus::config::AuthSettings;
use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{checked, start_server, ONE_MARKET, SECRET};

const CRASHES: [(&str, &str); 5] = [
    (
        "good_then_segfault",
        "plugin host killed by SIGSEGV during read",
    ),
    (
        "good_then_abort",
        "plugin host killed by SIGABRT during read",
    ),
    (
        "good_then_exit",
        "plugin host exited with status 3 during read",
    ),
    ("good_then_endless", "read did not return within 2 s"),
    (
        "good_then_allocate",
        "plugin host exceeded its memory limit of 512 MB",
    ),
];

fn write_config(dir: &Path) -> PathBuf {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[warehouse]\npath = {:?}\n[plugins]\nisolation = \"process\"\n\
         call_timeout_seconds = 2\nmemory_limit_mb = 512\n{ONE_MARKET}",
        dir.join("chorus.duckdb").display().to_string()
    );
    let modes = CRASHES.iter().map(|(mode, _)| *mode);
    for mode in modes.chain(["noisy", "healthy"]) {
        text.push_str(&format!(
            "[[connectors]]\nid = \"{mode}\"\nplugin = \"misbehaving\"\nmarket = \"DE\"\n\
             channel = \"survey.relational\"\nrun_on_start = false\n\
             settings = {{ mode = \"{mode}\" }}\n"
        ));
    }
    let path = dir.join("chorus.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Threads of a process, from /proc.
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// Kills the server when the test ends, failed or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Server {
    address: String,
    client: reqwest::Client,
    token: String,
}

impl Server {
    async fn run(&self, instance: &str) -> Value {
        let response = self
            .client
            .post(format!(
                "{}/api/v1/connectors/{instance}/run?wait=true",
                self.address
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let (status, body) = checked("POST", response).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    async fn healthy(&self) -> bool {
        let response = self
            .client
            .get(format!("{}/health", self.address))
            .send()
            .await;
        response.is_ok_and(|r| r.status().is_success())
    }

    async fn stored(&self, instance: &str) -> usize {
        let response = self
            .client
            .get(format!("{}/api/v1/records?limit=500", self.address))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let (_, body) = checked("GET", response).await;
        body["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["instance"] == instance)
            .count()
    }
}

#[tokio::test]
async fn a_crashing_hanging_or_noisy_plugin_fails_only_its_own_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let (child, address) = start_server(&config, &[]);
    let child = Killed(child);
    let server = Server {
        address,
        client: reqwest::Client::new(),
        token: AuthKeys::hs256(SECRET, &AuthSettings::default()).mint(
            "e2e",
            Role::Admin,
            &[],
            &[],
            Duration::from_secs(600),
        ),
    };
    // A healthy run first, so the server's thread pools are as large as a run makes them.
    assert_eq!(server.run("healthy").await["status"], "succeeded");
    let baseline = threads(child.0.id());

    for (instance, cause) in CRASHES {
        // The server answers while the child crashes, hangs or is killed.
        let (run, answered_during) = tokio::join!(server.run(instance), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.healthy().await
        });
        assert!(answered_during, "{instance}: /health during the run");
        assert_eq!(run["status"], "failed", "{instance}: {run}");
        let error = run["error"].as_str().unwrap();
        assert!(
            error.contains(cause),
            "{instance}: {error:?} should say {cause:?}"
        );
        assert_eq!(
            run["inserted"], 3,
            "{instance}: the first batch is committed"
        );
        assert_eq!(
            server.stored(instance).await,
            3,
            "{instance}: exactly that batch"
        );
        assert!(
            server.healthy().await,
            "{instance}: the server still answers"
        );
        // No thread waits on the dead or hung child; idle pool threads may take their
        // keep-alive (10 s) to go.
        let deadline = Instant::now() + Duration::from_secs(30);
        while threads(child.0.id()) > baseline {
            assert!(
                Instant::now() < deadline,
                "{instance}: {} threads, {baseline} before",
                threads(child.0.id())
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(server.run("healthy").await["status"], "succeeded");
    }

    // Garbage on the plugin's stdout cannot reach the protocol: the batch arrives intact.
    let noisy = server.run("noisy").await;
    assert_eq!(
        (noisy["status"].as_str(), noisy["inserted"].as_u64()),
        (Some("succeeded"), Some(2)),
        "{noisy}"
    );
}
