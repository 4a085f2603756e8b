//! Webhooks to a real local receiver: events written with the cases that cause them arrive
//! signed as Standard Webhooks says, exactly once per webhook-id after the receiver was down
//! for a while; an endpoint that never accepts ends with dead letters.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chorus::domain::Role;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{checked, demo_settings_with, spawn_app_with, TestApp};

const SECRET_ENV: &str = "CHORUS_E2E_WEBHOOK_SECRET";
/// The specification's example secret; its key is the base64 after `whsec_`.
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
}

/// A webhook receiver on a local port that answers every request with `status` (changeable
/// while it runs) and keeps what it got.
struct Receiver {
    url: String,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hooks/chorus", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(status));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (answer, log) = (status.clone(), received.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                    }
                }
                let header = |name: &str| {
                    headers
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                let length: usize = header("content-length").parse().unwrap_or(0);
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let status = answer.load(Ordering::SeqCst);
                if (200..300).contains(&status) {
                    log.lock().unwrap().push(Received {
                        id: header("webhook-id"),
                        timestamp: header("webhook-timestamp"),
                        signature: header("webhook-signature"),
                        body,
                    });
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Receiver {
            url,
            status,
            received,
        }
    }
}

/// Verifies a delivery the way a receiver's library does, independently of Chorus's code.
fn signature_holds(received: &Received, body: &[u8]) -> bool {
    let key = STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{}.", received.id, received.timestamp).as_bytes());
    mac.update(body);
    received.signature.split(' ').any(|s| {
        s.strip_prefix("v1,")
            .and_then(|b| STANDARD.decode(b).ok())
            .is_some_and(|tag| mac.clone().verify_slice(&tag).is_ok())
    })
}

async fn app(dir: &std::path::Path, receiver: &str, broken: &str) -> TestApp {
    std::env::set_var(SECRET_ENV, SECRET);
    let extra = format!(
        r#"
[webhook_delivery]
retry_seconds = [1, 1, 1, 1, 1, 1]
poll_seconds = 1
timeout_seconds = 5

[[channels]]
id = "webhook.hooks"
name = "App feedback"

[[connectors]]
id = "app-hooks"
plugin = "push"
market = "DE"
channel = "webhook.hooks"

[[case_rules]]
id = "detractors"
when = "nps <= 6"
channels = ["webhook.hooks"]
owner = "owner-de"

[[webhooks]]
id = "receiver"
url = "{receiver}"
secret_env = "{SECRET_ENV}"

[[webhooks]]
id = "broken"
url = "{broken}"
secret_env = "{SECRET_ENV}"
events = ["case.created"]
"#
    );
    let mut settings = demo_settings_with(&extra, None);
    // Only this test's rule: the demo's own opens cases for the demo data.
    settings.case_rules.retain(|rule| rule.id == "detractors");
    let app = spawn_app_with(settings, dir).await;
    app.wait_for_startup_runs().await;
    app
}

async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    let admin = app.token(Role::Admin, &[], &[]);
    let (status, body) = app
        .get(&format!("/api/v1/webhooks/deliveries{query}"), Some(&admin))
        .await;
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

#[tokio::test]
async fn every_event_arrives_once_by_id_after_the_receiver_comes_back_and_the_rest_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(503);
    let broken = Receiver::start(500);
    let app = app(dir.path(), &receiver.url, &broken.url).await;

    // Three unhappy customers (and one happy one) while the receiver is down.
    let now = chrono::Utc::now().to_rfc3339();
    let records: Vec<Value> = [("a", 2), ("b", 9), ("c", 0), ("d", 6)]
        .iter()
        .map(|(id, nps)| json!({"external_id": id, "occurred_at": now, "nps": nps}))
        .collect();
    let integrator = app.token(Role::Integrator, &[], &[]);
    app.push("app-hooks", &integrator, &records).await;
    // One is resolved: a fourth event for the receiver.
    let lead = app.token(Role::MarketLead, &[], &["DE"]);
    let (_, cases) = app.get("/api/v1/cases", Some(&lead)).await;
    let id = cases["cases"][0]["id"].as_i64().unwrap();
    let response = app
        .client
        .patch(format!("{}/api/v1/cases/{id}", app.address))
        .bearer_auth(&lead)
        .json(
            &json!({"status": "resolved", "resolution_code": "called_back", "note": "Apologised"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(checked("PATCH", response).await.0, 200);

    // Down for a while: attempts fail and are retried, nothing is lost.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let pending = deliveries(&app, "?state=pending").await;
    assert!(
        pending.iter().any(|d| d["endpoint"] == "receiver"
            && d["attempts"].as_u64() >= Some(1)
            && d["last_status"] == 503),
        "{pending:?}"
    );
    assert!(receiver.received.lock().unwrap().is_empty());
    receiver.status.store(204, Ordering::SeqCst);

    let deadline = Instant::now() + Duration::from_secs(30);
    let (delivered, dead) = loop {
        let all = deliveries(&app, "").await;
        let settled = all.iter().all(|d| d["state"] != "pending");
        if settled {
            let of = |endpoint: &str| -> Vec<Value> {
                all.iter()
                    .filter(|d| d["endpoint"] == endpoint)
                    .cloned()
                    .collect()
            };
            break (of("receiver"), of("broken"));
        }
        assert!(
            Instant::now() < deadline,
            "deliveries did not settle: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // Every event of the receiver arrived, once per webhook-id, signed.
    assert_eq!(delivered.len(), 4, "{delivered:?}");
    assert!(
        delivered.iter().all(|d| d["state"] == "delivered"),
        "{delivered:?}"
    );
    let got = receiver.received.lock().unwrap().clone();
    let mut ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut expected: Vec<&str> = delivered
        .iter()
        .map(|d| d["message_id"].as_str().unwrap())
        .collect();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let mut types: Vec<String> = Vec::new();
    for received in &got {
        assert!(signature_holds(received, &received.body), "{received:?}");
        let mut tampered = received.body.clone();
        tampered[0] ^= 1;
        assert!(!signature_holds(received, &tampered));
        let body: Value = serde_json::from_slice(&received.body).unwrap();
        assert!(
            body["timestamp"].is_string() && body["data"]["case_id"].is_i64(),
            "{body}"
        );
        assert!(
            body["data"].get("text").is_none(),
            "thin payloads carry no feedback"
        );
        types.push(body["type"].as_str().unwrap().to_owned());
    }
    types.sort();
    types.dedup();
    assert_eq!(types, ["case.created", "case.resolved"]);

    // The endpoint that never accepts: its events are dead letters after the retry window.
    assert_eq!(dead.len(), 3, "only case.created goes to it: {dead:?}");
    for delivery in &dead {
        assert_eq!(delivery["state"], "dead", "{delivery}");
        assert_eq!(delivery["attempts"], 7, "the first attempt and six retries");
        assert_eq!(delivery["last_status"], 500);
    }
    assert_eq!(deliveries(&app, "?state=dead").await.len(), 3);
    assert!(broken.received.lock().unwrap().is_empty());
    let (status, _) = app
        .get(
            "/api/v1/webhooks/deliveries?state=lost",
            Some(&app.token(Role::Admin, &[], &[])),
        )
        .await;
    assert_eq!(status, 400);
}
