//! The closed loop through the real server: unhappy customers open one case each, however
//! often their record arrives; people in scope work the case through its statuses; an
//! overdue case escalates to the regional lead.

use std::path::Path;
use std::time::{Duration, Instant};

use chorus::domain::Role;
use serde_json::{json, Value};

use crate::helpers::{checked, demo_settings_with, metric, spawn_app_with, TestApp};

/// A push instance and a survey-csv instance on a channel of their own, each rule limited to
/// it (so the demo data opens no cases here).
fn extra(exports: &Path, sla: &str) -> String {
    format!(
        r#"
[cases]
escalation_interval_seconds = 1

[[channels]]
id = "webhook.cases"
name = "App feedback"

[[channels]]
id = "survey.cases"
name = "Survey with cases"

[[connectors]]
id = "app-cases"
plugin = "push"
markets = ["DE", "PL"]
channel = "webhook.cases"

[[connectors]]
id = "survey-cases"
plugin = "survey_csv"
market = "DE"
channel = "survey.cases"
[connectors.settings]
path = {exports:?}
[connectors.settings.columns]
id = "id"
timestamp = "when"
nps = "nps"
comment = "comment"

[[case_rules]]
id = "detractors"
when = "nps <= 6"
channels = ["webhook.cases", "survey.cases"]
owner = "owner-de"
owners = {{ "attributes.store" = {{ "berlin" = "store-berlin" }} }}
escalate_to = ["lead-central"]
sla = "{sla}"
"#,
        exports = exports.display().to_string()
    )
}

/// A fresh app whose survey-cases instance reads two copies of the same export: scores 0-9
/// with `detractors`, else only 9s and 10s (no cases from it).
async fn app(dir: &Path, sla: &str, detractors: bool) -> TestApp {
    let exports = dir.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S");
    let rows: String = (0..10)
        .map(|i| {
            let nps = if detractors { i % 11 } else { 9 + i % 2 };
            format!("s{i},{now},{nps},Lieferung zu spät\n")
        })
        .collect();
    for copy in ["export.csv", "export-again.csv"] {
        std::fs::write(exports.join(copy), format!("id,when,nps,comment\n{rows}")).unwrap();
    }
    let mut settings = demo_settings_with(&extra(&exports, sla), None);
    // Only this test's rule: the demo's own opens cases for the demo data.
    settings.case_rules.retain(|rule| rule.id == "detractors");
    let app = spawn_app_with(settings, dir).await;
    app.wait_for_startup_runs().await;
    app
}

fn record(id: &str, market: &str, nps: i64) -> Value {
    json!({
        "external_id": id,
        "market": market,
        "occurred_at": chrono::Utc::now().to_rfc3339(),
        "nps": nps,
        "text": "Niemand hat mir geholfen, bitte ruft mich an"
    })
}

async fn push(app: &TestApp, records: &[Value]) {
    let token = app.token(Role::Integrator, &[], &[]);
    app.push("app-cases", &token, records).await;
}

async fn patch(app: &TestApp, token: &str, id: i64, body: Value) -> (u16, Value) {
    let response = app
        .client
        .patch(format!("{}/api/v1/cases/{id}", app.address))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    checked("PATCH", response).await
}

async fn cases(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get(&format!("/api/v1/cases{query}"), Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["cases"].as_array().unwrap().clone()
}

fn case_of<'a>(cases: &'a [Value], external_id: &str) -> &'a Value {
    cases
        .iter()
        .find(|c| c["record"]["external_id"] == external_id)
        .unwrap_or_else(|| panic!("no case for {external_id}: {cases:?}"))
}

#[tokio::test]
async fn each_unhappy_customer_opens_one_case_across_repeats_and_duplicate_files() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), "48h", true).await;
    let admin = app.token(Role::Admin, &[], &[]);
    let mut consenting = record("c", "DE", 5);
    consenting["consent_contact"] = json!(true);
    consenting["attributes"] = json!({"email": "kunde@example.com", "store": "berlin"});
    let batch = [
        record("a", "DE", 3),
        record("b", "DE", 9),
        consenting,
        record("a", "DE", 3),
        record("p", "PL", 0),
    ];
    push(&app, &batch).await;
    push(&app, &batch).await;
    // The same ten rows in two files, read by the startup run and two more.
    app.run("survey-cases").await;
    app.run("survey-cases").await;

    let all = cases(&app, &admin, "?limit=1000").await;
    let detractor_rows = (0..10).filter(|i| i % 11 <= 6).count();
    assert_eq!(all.len(), 3 + detractor_rows, "{all:?}");
    let a = case_of(&all, "a");
    assert_eq!(
        (
            a["status"].as_str(),
            a["assignee"].as_str(),
            a["rule"].as_str()
        ),
        (Some("open"), Some("owner-de"), Some("detractors"))
    );
    assert_eq!(a["contact"], Value::Null);
    assert_eq!(a["contact_note"], "no contact consent");
    assert_eq!(a["record"]["nps"], 3);
    let c = case_of(&all, "c");
    assert_eq!(
        c["assignee"], "store-berlin",
        "routed by the store attribute"
    );
    assert_eq!(c["contact"]["email"], "kunde@example.com");
    assert_eq!(
        c["escalation"],
        json!(["lead-central"]),
        "escalate_to replaces the default chain"
    );

    // Filters, and the figures per market.
    assert_eq!(cases(&app, &admin, "?markets=PL").await.len(), 1);
    assert_eq!(cases(&app, &admin, "?assignee=store-berlin").await.len(), 1);
    assert_eq!(cases(&app, &admin, "?overdue=true").await.len(), 0);
    let (status, summary) = app.get("/api/v1/cases/summary", Some(&admin)).await;
    assert_eq!(status, 200, "{summary}");
    let de = summary["markets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["market"] == "DE")
        .unwrap();
    assert_eq!(de["open"], 2 + detractor_rows);
    let open_de = metric(
        &app.client,
        &app.address,
        "chorus_cases_open{market=\"DE\"}",
    )
    .await;
    assert_eq!(open_de, 2 + detractor_rows as u64);

    // Per-market business figures need the scrape token; a wrong one is told, not ignored.
    let metrics = |token: Option<&'static str>| {
        let mut request = app.client.get(format!("{}/metrics", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, open) = metrics(None).await;
    assert_eq!(status, 200);
    assert!(open.contains("chorus_warehouse_records"), "{open}");
    assert!(
        !open.contains("market=\""),
        "no per-market figures without the token: {open}"
    );
    let (status, body) = metrics(Some("guess")).await;
    assert_eq!(status, 401, "{body}");
    let (status, full) = metrics(Some(crate::helpers::METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(full.contains("chorus_cases_open{market=\"DE\"}"), "{full}");
}

#[tokio::test]
async fn cases_are_worked_in_scope_through_checked_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), "48h", false).await;
    push(&app, &[record("a", "DE", 2), record("p", "PL", 1)]).await;
    let admin = app.token(Role::Admin, &[], &[]);
    let all = cases(&app, &admin, "").await;
    let (de_case, pl_case) = (
        case_of(&all, "a")["id"].as_i64().unwrap(),
        case_of(&all, "p")["id"].as_i64().unwrap(),
    );
    let de_lead = app.token(Role::MarketLead, &[], &["DE"]);
    let west_lead = app.token(Role::RegionalLead, &["west"], &[]);
    let hq = app.token(Role::HqAnalyst, &[], &[]);

    // Scope: a DE lead sees DE's case only and cannot touch PL's.
    let visible = cases(&app, &de_lead, "").await;
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0]["market"], "DE");
    // A case of another market answers exactly as one that does not exist: walking ids
    // tells nothing about other markets.
    let missing = pl_case.max(de_case) + 1000;
    let outside = app
        .get(&format!("/api/v1/cases/{pl_case}"), Some(&de_lead))
        .await;
    let absent = app
        .get(&format!("/api/v1/cases/{missing}"), Some(&de_lead))
        .await;
    assert_eq!(outside.0, 404, "{}", outside.1);
    let without_id = |body: &serde_json::Value| {
        body["message"]
            .as_str()
            .unwrap()
            .replace(&missing.to_string(), "N")
            .replace(&pl_case.to_string(), "N")
    };
    assert_eq!(
        (outside.1["code"].clone(), without_id(&outside.1)),
        (absent.1["code"].clone(), without_id(&absent.1))
    );
    assert!(!outside.1.to_string().contains("PL"), "{}", outside.1);
    let (status, body) = patch(&app, &de_lead, pl_case, json!({"status": "in_progress"})).await;
    assert_eq!(status, 404, "{body}");
    assert!(cases(&app, &west_lead, "").await.is_empty());
    let (status, _) = app.get("/api/v1/cases?markets=PL", Some(&de_lead)).await;
    assert_eq!(status, 403);
    // HQ reads every case but works none.
    assert_eq!(cases(&app, &hq, "").await.len(), 2);
    let (status, body) = patch(&app, &hq, de_case, json!({"note": "seen"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("role_not_allowed"))
    );

    // Transitions.
    let (status, body) = patch(&app, &de_lead, de_case, json!({"status": "closed"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_transition")),
        "{body}"
    );
    let (status, body) = patch(&app, &de_lead, de_case, json!({"status": "in_progress"})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("in_progress")),
        "{body}"
    );
    let (status, body) = patch(
        &app,
        &de_lead,
        de_case,
        json!({"status": "resolved", "resolution_code": "refund"}),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("resolution_required")),
        "{body}"
    );
    let (status, body) = patch(&app, &de_lead, de_case, json!({"status": "finished"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_status")),
        "{body}"
    );
    let (status, body) = patch(&app, &de_lead, de_case, json!({})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("empty_change")),
        "{body}"
    );
    let (status, body) = patch(
        &app,
        &de_lead,
        de_case,
        json!({"status": "resolved", "resolution_code": "refund", "note": "Refunded the fee by phone", "assignee": "anna"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["status"].as_str(),
            body["resolution_code"].as_str(),
            body["assignee"].as_str()
        ),
        (Some("resolved"), Some("refund"), Some("anna"))
    );
    assert!(body["resolved_at"].is_string());
    let kinds: Vec<&str> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["opened", "status", "status", "assigned"]);
    let (status, body) = patch(&app, &de_lead, de_case, json!({"status": "closed"})).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("closed")),
        "{body}"
    );
    assert_eq!(cases(&app, &admin, "?status=closed").await.len(), 1);

    // Bounded and well-formed input only.
    let (status, _) = app.get("/api/v1/cases/abc", Some(&admin)).await;
    assert_eq!(status, 400);
    let (status, _) = app.get("/api/v1/cases/999999", Some(&admin)).await;
    assert_eq!(status, 404);
    let (status, body) = patch(&app, &de_lead, de_case, json!({"note": "x".repeat(5000)})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_case_change")),
        "{body}"
    );
    let (status, body) = patch(&app, &de_lead, de_case, json!({"note": "   "})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_case_change")),
        "{body}"
    );
    let (status, body) = patch(&app, &de_lead, de_case, json!({"assignee": ""})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_assignee")),
        "{body}"
    );
    let (status, _) = patch(&app, &de_lead, de_case, json!({"colour": "red"})).await;
    assert_eq!(status, 400);
    let (status, _) = app.get("/api/v1/cases?limit=0", Some(&admin)).await;
    assert_eq!(status, 400);
    let (status, body) = app.get("/api/v1/cases?before=-1", Some(&admin)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_cursor"))
    );

    // With a resolved case, /metrics (business figures included) is what Prometheus accepts,
    // and has the request histogram, webhook deliveries and process metrics.
    let text = app
        .client
        .get(format!("{}/metrics", app.address))
        .bearer_auth(crate::helpers::METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "chorus_cases_resolve_median_seconds{market=\"DE\"}",
        "chorus_cases_first_response_median_seconds{market=\"DE\"}",
        "chorus_http_request_duration_seconds_bucket{route=\"/api/v1/cases/{id}\",le=\"+Inf\"}",
        "chorus_webhook_deliveries{state=\"pending\"}",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(name), "{name} is missing:\n{text}");
    }
    crate::helpers::promtool_accepts(&text);
}

#[tokio::test]
async fn an_overdue_case_escalates_to_the_regional_lead() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), "2s", false).await;
    push(&app, &[record("late", "DE", 1)]).await;
    let lead = app.token(Role::RegionalLead, &["central"], &[]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let case = loop {
        let all = cases(&app, &lead, "").await;
        let case = case_of(&all, "late").clone();
        if case["assignee"] == "lead-central" {
            break case;
        }
        assert!(Instant::now() < deadline, "not escalated: {case}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(case["escalation_level"], 1);
    let id = case["id"].as_i64().unwrap();
    let (_, detail) = app.get(&format!("/api/v1/cases/{id}"), Some(&lead)).await;
    let escalated = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "escalated")
        .unwrap_or_else(|| panic!("{detail}"));
    assert_eq!(escalated["assignee"], "lead-central");
    // Nobody after the lead: the case stays with them (and turns overdue again).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, detail) = app.get(&format!("/api/v1/cases/{id}"), Some(&lead)).await;
    assert_eq!(detail["assignee"], "lead-central");
    assert_eq!(detail["overdue"], true);
    assert_eq!(cases(&app, &lead, "?overdue=true").await.len(), 1);
}
