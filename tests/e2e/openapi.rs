//! The OpenAPI document against reality: every response the suite reads through
//! [`crate::helpers::checked`] must be documented for its method, path and status, and its
//! JSON body must validate against the documented schema. Also: the document served at
//! `/api/v1/openapi.json` is the generated one, in OpenAPI 3.1.

use std::sync::LazyLock;

use serde_json::Value;

use crate::helpers::{demo_settings, spawn_app_with};

/// The generated document, as the server serves it.
static DOCUMENT: LazyLock<Value> =
    LazyLock::new(|| serde_json::to_value(chorus::routes::openapi::document()).unwrap());

/// The documented path template `path` falls under; literal segments win over `{params}`
/// (`/api/v1/records` is not `/api/v1/{measure}`).
pub fn template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    DOCUMENT["paths"]
        .as_object()?
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(t, s)| {
                    t == s || (t.starts_with('{') && t.ends_with('}') && !s.is_empty())
                });
            let literal = parts.iter().filter(|t| !t.starts_with('{')).count();
            matches.then_some((literal, template.as_str()))
        })
        .max()
        .map(|(_, template)| template)
}

/// Every documented operation as (upper-case method, path template).
pub fn operations() -> Vec<(String, String)> {
    let paths = DOCUMENT["paths"]
        .as_object()
        .expect("the document has paths");
    paths
        .iter()
        .flat_map(|(template, item)| {
            let methods = item.as_object().expect("a path item is an object");
            methods
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.to_ascii_uppercase(), template.clone()))
        })
        .collect()
}

/// Panics when the answer is undocumented or its body does not fit the documented schema.
/// Paths the API does not have (a test of unknown routes) and methods a path does not
/// document (405) are not the document's business.
pub fn validate(method: &str, path: &str, status: u16, body: &Value) {
    let Some(template) = template(path) else {
        return;
    };
    let Some(operation) = DOCUMENT["paths"][template].get(method.to_ascii_lowercase()) else {
        return;
    };
    let Some(response) = operation["responses"].get(status.to_string()) else {
        panic!("{method} {path} answered {status}, which {template} does not document: {body}");
    };
    let Some(schema) = response
        .get("content")
        .and_then(|c| c.get("application/json"))
        .map(|c| c["schema"].clone())
    else {
        return;
    };
    let mut root = schema;
    root["components"] = DOCUMENT["components"].clone();
    // Formats too: a `date-time` without its offset is not one.
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{method} {template} {status}: unusable schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: the body does not fit the documented schema:\n  {}\nbody: {body}",
        errors.join("\n  ")
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_openapi_3_1_one() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    let (status, served) = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(served["openapi"], "3.1.0");
    // The compiled document with the configured markets and channels filled in.
    let catalog = chorus::catalog::Catalog::new(&demo_settings(None));
    let expected = chorus::routes::served_document::ServedDocument::new(&catalog);
    assert_eq!(served, *expected.0);
    assert_ne!(served, *DOCUMENT);
    let markets = &served["paths"]["/api/v1/alerts"]["get"]["parameters"][0];
    assert_eq!(markets["name"], "markets");
    let pattern = markets["schema"]["pattern"].as_str().unwrap();
    assert!(
        pattern.contains("[Dd][Ee]") && pattern.contains("[Ee][Ss]"),
        "{pattern}"
    );
    for path in [
        "/api/v1/nps",
        "/api/v1/compare",
        "/api/v1/records",
        "/api/v1/connectors/{id}/runs",
        "/api/v1/ingest/{instance}",
    ] {
        assert!(template(path).is_some(), "{path} is documented");
    }
    assert_eq!(template("/api/v1/records"), Some("/api/v1/records"));
    assert_eq!(template("/api/v1/csat"), Some("/api/v1/{measure}"));
}

/// Runs a Python tool the tests need (`deploy/install-test-parts.sh` installs them), or fails
/// saying how to get it.
pub fn python_tool(module: &str, args: &[&str]) -> std::process::Output {
    let present = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        present,
        "the Python module {module} is not installed: run `bash deploy/install-test-parts.sh` \
         (README's test command does) and try again"
    );
    std::process::Command::new("python3")
        .args(["-m", module])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_document_passes_openapi_spec_validator() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_string_pretty(&*DOCUMENT).unwrap()).unwrap();
    let out = python_tool("openapi_spec_validator", &[file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A client generated from the document by a tool nobody on the project wrote reads every
/// GET route of the demo: the document is one that real clients can use.
#[tokio::test]
async fn a_generated_python_client_reads_every_route() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let document = dir.path().join("openapi.json");
    std::fs::write(&document, serde_json::to_string(&*DOCUMENT).unwrap()).unwrap();
    let client = dir.path().join("client");
    let generated = python_tool(
        "openapi_python_client",
        &[
            "generate",
            "--path",
            document.to_str().unwrap(),
            "--output-path",
            client.to_str().unwrap(),
            "--overwrite",
        ],
    );
    let said = String::from_utf8_lossy(&generated.stdout).into_owned()
        + &String::from_utf8_lossy(&generated.stderr);
    assert!(generated.status.success(), "{said}");
    assert!(
        !said.contains("Warning"),
        "the generator left something out:\n{said}"
    );
    let token = app.token(chorus::domain::Role::Admin, &[], &[]);
    let read = std::process::Command::new("python3")
        .arg(crate::helpers::repo_root().join("tests/client/read_every_route.py"))
        .arg(&client)
        .arg(&app.address)
        .arg(&token)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&read.stdout);
    assert!(
        read.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(said.contains("20 passed, 0 failed"), "{said}");
}

#[test]
fn a_date_time_without_its_offset_is_caught() {
    let naive = serde_json::json!({"records": [{"occurred_at": "2026-10-31T23:34:00"}]});
    let mut schema = serde_json::json!({"type": "object", "properties": {"records": {"type": "array",
        "items": {"type": "object", "properties": {"occurred_at": {"type": "string", "format": "date-time"}}}}}});
    schema["components"] = serde_json::json!({});
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    assert!(!validator.is_valid(&naive));
    assert!(validator
        .is_valid(&serde_json::json!({"records": [{"occurred_at": "2026-10-31T23:34:00Z"}]})));
}

#[test]
fn a_body_that_breaks_the_schema_is_caught() {
    let broken = serde_json::json!({"connectors": [{"id": 7}]});
    let caught = std::panic::catch_unwind(|| validate("GET", "/api/v1/connectors", 200, &broken));
    assert!(caught.is_err(), "a number where a string belongs must fail");
    let undocumented = std::panic::catch_unwind(|| {
        validate("GET", "/api/v1/connectors", 418, &Value::Null);
    });
    assert!(undocumented.is_err(), "an undocumented status must fail");
}

/// Runs schemathesis against the served document as `token`, every check on (`tests/schemathesis.toml`
/// says where one is off, and why); returns how many requests it generated. Fails on any
/// failed check, with schemathesis' own report.
fn schemathesis(address: &str, token: &str, max_examples: u32) -> u64 {
    let config = crate::helpers::repo_root().join("tests/schemathesis.toml");
    let out = python_tool(
        "schemathesis.cli",
        &[
            "--config-file",
            config.to_str().unwrap(),
            "run",
            &format!("{address}/api/v1/openapi.json"),
            "--url",
            address,
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--max-examples",
            &max_examples.to_string(),
            "--seed",
            "1",
            // One thread: CPython 3.11's parser is not thread-safe where hypothesis describes
            // its filters (SystemError: AST constructor recursion depth mismatch).
            "--workers",
            "1",
            "--no-color",
        ],
    );
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "schemathesis found failures:\n{said}");
    // "Test cases:" is followed by "N generated, N passed, …".
    said.lines()
        .find_map(|line| line.trim().split_once(" generated, "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no count of generated requests in:\n{said}"))
}

/// A schema-driven fuzzer nobody on the project wrote, as an administrator and as a regional
/// lead, over every operation of the served document (writes included): no server error, no
/// answer outside the document (status, content type, headers, body), no request the document
/// calls invalid accepted, no request it calls valid refused (except where
/// `tests/schemathesis.toml` says why), no resource that vanishes after it was created.
#[tokio::test]
async fn schemathesis_finds_no_server_error_schema_violation_or_accepted_invalid_request() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let admin = app.token(chorus::domain::Role::Admin, &[], &[]);
    let lead = app.token(chorus::domain::Role::RegionalLead, &["west"], &[]);
    let address = app.address.clone();
    let generated = tokio::task::spawn_blocking(move || {
        schemathesis(&address, &admin, 55) + schemathesis(&address, &lead, 15)
    })
    .await
    .unwrap();
    assert!(generated >= 3_000, "only {generated} requests generated");
}
