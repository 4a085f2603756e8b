//! Hostile input, class by class, against every endpoint that takes it: a 4xx answer in the
//! house JSON format, never a 500; the server healthy afterwards; every stored record still
//! readable through `/records` paging.

use std::collections::BTreeSet;

use chorus::config::ConnectorConfig;
use chorus::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{checked, demo_settings, metric, spawn_app_with, TestApp, SECRET};

const SECRET_ENV: &str = "CHORUS_E2E_HOSTILE_SECRET";

/// A push instance for DE that also takes HMAC-signed pushes.
fn signed_push_instance() -> ConnectorConfig {
    std::env::set_var(SECRET_ENV, "hostile-secret");
    toml::from_str(&format!(
        r#"
        id = "webhook"
        plugin = "push"
        market = "DE"
        channel = "survey.digital"
        settings = {{ hmac_secret_env = "{SECRET_ENV}" }}
        "#
    ))
    .unwrap()
}

async fn app(dir: &std::path::Path) -> TestApp {
    let mut settings = demo_settings(None);
    settings.connectors.push(signed_push_instance());
    let app = spawn_app_with(settings, dir).await;
    app.wait_for_startup_runs().await;
    app
}

/// Asserts a 4xx answer with `code` and a message, in JSON.
fn assert_refused(what: &str, status: u16, body: &Value, expected: (u16, &str)) {
    assert_eq!(
        (status, body["code"].as_str()),
        (expected.0, Some(expected.1)),
        "{what}: {body}"
    );
    assert!(
        !body["message"].as_str().unwrap_or("").is_empty(),
        "{what}: {body}"
    );
}

async fn push_raw(
    app: &TestApp,
    token: Option<&str>,
    content_type: Option<&str>,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/ingest/webhook", app.address))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    checked("POST", request.send().await.unwrap()).await
}

fn at(id: &str, occurred_at: &str) -> Value {
    json!({"external_id": id, "occurred_at": occurred_at, "nps": 7, "text": "ok"})
}

#[tokio::test]
async fn hostile_input_gets_a_json_4xx_and_every_record_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let admin = app.token(Role::Admin, &[], &[]);
    let integrator = app.token(Role::Integrator, &[], &[]);

    // 1. Dates at the edge of ingest: the batch keeps what is valid, names what is not.
    let records = json!({"records": [
        at("before-1970", "1969-12-31T23:59:59.5Z"),
        at("year-zero", "0000-01-01T00:00:00Z"),
        at("year-minus-one", "-0001-06-01 00:00:00"),
        at("year-10000", "+10000-01-01 00:00:00"),
        at("1899", "1899-12-31T23:59:59Z"),
        at("leap-second", "2016-12-31T23:59:60Z"),
        at("nanos", "2026-01-02T03:04:05.123456789+02:00"),
    ]});
    let (status, answer) = push_raw(
        &app,
        Some(&integrator),
        Some("application/json"),
        &[],
        serde_json::to_vec(&records).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["stored"], 3, "{answer}");
    let rejected: Vec<(u64, &str)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [
            (1, "occurred_at"),
            (2, "occurred_at"),
            (3, "occurred_at"),
            (4, "occurred_at")
        ]
    );

    // 2. Dates, months and lists in query strings, on every endpoint that takes them.
    let dated = [
        "/api/v1/nps?",
        "/api/v1/csat?",
        "/api/v1/ces?",
        "/api/v1/stars?",
        "/api/v1/records?",
        "/api/v1/topics?",
        "/api/v1/compare?to=2026-10-31&",
    ];
    for endpoint in dated {
        for (query, expected) in [
            ("from=%2B10000-01-01", (400, "invalid_date")),
            ("from=-0001-01-01", (400, "invalid_date")),
            ("from=0000-01-01", (400, "date_out_of_range")),
            ("from=1800-01-01", (400, "date_out_of_range")),
            ("from=2026-02-30", (400, "invalid_date")),
        ] {
            let path = format!("{endpoint}{query}");
            let (status, body) = app.get(&path, Some(&admin)).await;
            assert_refused(&path, status, &body, expected);
        }
        // Blank, whitespace-only and comma-only lists mean no filter, everywhere.
        for blank in ["markets=", "channels=", "markets=%20,%20,", "channels=,,"] {
            let from = if endpoint.contains("compare") {
                "from=2026-08-01&"
            } else {
                ""
            };
            let path = format!("{endpoint}{from}{blank}");
            let (status, body) = app.get(&path, Some(&admin)).await;
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    for (path, expected) in [
        ("/api/v1/trends?from=%2B100-01", (400, "invalid_month")),
        ("/api/v1/trends?from=0000-01", (400, "date_out_of_range")),
        ("/api/v1/trends?to=9999-12", (400, "date_out_of_range")),
        (
            "/api/v1/compare?from=2026-01-01&to=%2B20000-01-01",
            (400, "invalid_date"),
        ),
    ] {
        let (status, body) = app.get(path, Some(&admin)).await;
        assert_refused(path, status, &body, expected);
    }
    for blank in [
        "/api/v1/records?languages=",
        "/api/v1/records?languages=%20",
        "/api/v1/records?languages=,,",
        "/api/v1/topics?topics=,",
        "/api/v1/nps?group_by=",
        "/api/v1/trends?channels=%20&markets=,",
        "/api/v1/compare?from=2026-08-01&to=2026-10-31&against=",
    ] {
        let (status, body) = app.get(blank, Some(&admin)).await;
        assert_eq!(status, 200, "{blank}: {body}");
    }

    // 3. Cursors: garbage, and well-formed ones at times no record can have.
    let hex = |raw: String| raw.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    for micros in [
        i64::MIN,
        i64::MAX,
        253_402_300_800_000_000,
        -62_167_219_200_000_000,
    ] {
        let cursor = hex(format!("{micros}\u{1f}de-service\u{1f}x"));
        let path = format!("/api/v1/records?cursor={cursor}");
        let (status, body) = app.get(&path, Some(&admin)).await;
        assert_refused(&path, status, &body, (400, "invalid_cursor"));
    }

    // 4. Header arithmetic: extreme timestamps are refused without credentials and a panic.
    let body =
        serde_json::to_vec(&json!({"records": [at("signed", "2026-01-01T00:00:00Z")]})).unwrap();
    for timestamp in [
        i64::MIN.to_string(),
        i64::MAX.to_string(),
        "99999999999999999999".into(),
        "-1".into(),
    ] {
        let (status, answer) = push_raw(
            &app,
            None,
            Some("application/json"),
            &[
                ("X-Chorus-Timestamp", &timestamp),
                ("X-Chorus-Signature", "sha256=00"),
            ],
            body.clone(),
        )
        .await;
        assert_refused(&timestamp, status, &answer, (401, "unauthorized"));
    }

    // 5. Token time claims: not before `nbf`.
    let now = chrono::Utc::now().timestamp();
    let early = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": "e2e", "role": "admin", "iss": "chorus", "aud": "chorus-api",
                "iat": now, "exp": now + 7200, "nbf": now + 3600}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let (status, body) = app.get("/api/v1/nps", Some(&early)).await;
    assert_refused("nbf", status, &body, (401, "unauthorized"));

    // 6. Every error in the house format: wrong method, unknown path, media type, size.
    let (status, body) = app.post("/api/v1/nps", Some(&admin)).await;
    assert_refused("POST /nps", status, &body, (405, "method_not_allowed"));
    let (status, body) = app.get("/api/v1/ingest/webhook", Some(&admin)).await;
    assert_refused("GET ingest", status, &body, (405, "method_not_allowed"));
    let (status, body) = app.get("/nowhere", None).await;
    assert_refused("/nowhere", status, &body, (404, "not_found"));
    let records = serde_json::to_vec(&json!({"records": []})).unwrap();
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let (status, body) =
            push_raw(&app, Some(&integrator), content_type, &[], records.clone()).await;
        assert_refused(
            "content type",
            status,
            &body,
            (415, "unsupported_media_type"),
        );
    }
    let (status, body) = push_raw(
        &app,
        Some(&integrator),
        Some("application/json; charset=utf-8"),
        &[],
        records,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let huge = vec![b' '; 2 << 20];
    let (status, body) =
        push_raw(&app, Some(&integrator), Some("application/json"), &[], huge).await;
    assert_refused("huge", status, &body, (413, "payload_too_large"));

    // Afterwards: healthy, and every stored record reads back, page by page.
    let (status, _) = app.get("/health", None).await;
    assert_eq!(status, 200);
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/records?limit=97&cursor={c}"),
            None => "/api/v1/records?limit=97".to_owned(),
        };
        let (status, page) = app.get(&path, Some(&admin)).await;
        assert_eq!(status, 200, "{path}: {page}");
        for record in page["records"].as_array().unwrap() {
            let key = format!("{}/{}", record["instance"], record["external_id"]);
            assert!(seen.insert(key.clone()), "{key} twice");
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert!(seen.contains("\"webhook\"/\"before-1970\""), "{seen:?}");
    let (_, early) = app
        .get(
            // Its market's calendar (Berlin) already says 1 January 1970.
            "/api/v1/records?from=1970-01-01&to=1970-01-01",
            Some(&admin),
        )
        .await;
    assert_eq!(
        early["records"][0]["occurred_at"], "1969-12-31T23:59:59.500Z",
        "{early}"
    );
    let (status, trends) = app
        .get(
            "/api/v1/trends?from=1969-12&to=1970-01&markets=DE",
            Some(&admin),
        )
        .await;
    assert_eq!(status, 200, "{trends}");
    let stored = metric(&app.client, &app.address, "chorus_warehouse_records").await;
    assert_eq!(
        seen.len() as u64,
        stored,
        "paging must list every stored record"
    );
    let (status, body) = app
        .get("/api/v1/nps?group_by=market,channel,month", Some(&admin))
        .await;
    assert_eq!(status, 200, "{body}");
}

/// POSTs `body` to `/api/v1/ingest/{instance}` with optional headers; status and JSON.
async fn push_to(app: &TestApp, instance: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/api/v1/ingest/{instance}", app.address))
        .header("Content-Type", "application/json")
        .body(r#"{"records": []}"#);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    checked("POST", request.send().await.unwrap()).await
}

#[tokio::test]
async fn anonymous_pushes_learn_nothing_about_which_instances_exist() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let now = chrono::Utc::now().timestamp().to_string();
    let forged = vec![
        ("X-Chorus-Timestamp", now),
        ("X-Chorus-Signature", format!("sha256={}", "ab".repeat(32))),
    ];
    // A push instance, a pulling instance and no instance at all answer alike.
    for credentials in [vec![], forged] {
        let mut answers = Vec::new();
        for instance in ["webhook", "de-service", "no-such-instance"] {
            answers.push(push_to(&app, instance, &credentials).await);
        }
        assert!(
            answers.iter().all(|a| a == &answers[0]) && answers[0].0 == 401,
            "{answers:?}"
        );
    }
    // With a valid token, the instance's existence is the caller's business.
    let token = app.token(Role::Integrator, &[], &[]);
    let bearer = vec![("Authorization", format!("Bearer {token}"))];
    assert_eq!(push_to(&app, "no-such-instance", &bearer).await.0, 404);
    assert_eq!(push_to(&app, "webhook", &bearer).await.0, 200);
}

/// Sends `head` (with `Content-Length: 100000`) and then a byte every 300 ms, and returns what
/// the server answered, read as text, within 15 s.
async fn trickle(address: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    stream
        .write_all(format!("{head}Host: {host}\r\nContent-Length: 100000\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let sender = tokio::spawn(async move {
        for _ in 0..50 {
            if writer.write_all(b"{").await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        let mut buffer = [0u8; 4096];
        loop {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") && answer.ends_with(b"}") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    sender.abort();
    assert!(read.is_ok(), "no answer within 15 s");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn bodies_sent_a_byte_at_a_time_are_cut_off_with_a_408() {
    let mut settings = demo_settings(None);
    for connector in &mut settings.connectors {
        connector.run_on_start = false;
    }
    settings.server.body_timeout_seconds = 2;
    settings.connectors.push(signed_push_instance());
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings, dir.path()).await;
    let now = chrono::Utc::now().timestamp();
    let heads = [
        (
            "anonymous sign-in",
            "POST /api/v1/session HTTP/1.1\r\nContent-Type: application/json\r\n".to_owned(),
        ),
        (
            "a signed push before its signature can be checked",
            format!(
                "POST /api/v1/ingest/webhook HTTP/1.1\r\nContent-Type: application/json\r\n\
                 X-Chorus-Timestamp: {now}\r\nX-Chorus-Signature: sha256={}\r\n",
                "ab".repeat(32)
            ),
        ),
    ];
    for (what, head) in heads {
        let answer = trickle(&app.address, &head).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
        assert!(
            answer.contains("\"code\":\"request_timeout\""),
            "{what}: {answer}"
        );
    }
    // A signed push whose headers cannot pass is refused before its body is awaited.
    let stale = format!(
        "POST /api/v1/ingest/webhook HTTP/1.1\r\nContent-Type: application/json\r\n\
         X-Chorus-Timestamp: {}\r\nX-Chorus-Signature: sha256=00\r\n",
        now - 3600
    );
    let answer = trickle(&app.address, &stale).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let (status, _) = app.get("/health", None).await;
    assert_eq!(status, 200);
}
