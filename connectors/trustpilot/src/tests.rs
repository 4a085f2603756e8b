//! The connector against a local server serving Trustpilot review pages.

use std::time::{Duration, Instant};

use chorus_http_kit::test_server::{drain, serve};
use serde_json::json;

use super::*;

fn fixture(name: &str) -> String {
    // The folder cargo gives at run time: a binary reused from a shared target dir by a
    // clone at another path would otherwise read the first clone's fixtures.
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    std::fs::read_to_string(format!("{dir}/fixtures/{name}")).unwrap()
}

fn pages(target: &str) -> String {
    if target.contains("&page=2&") {
        fixture("reviews-page-2.json")
    } else if target.contains("&page=3&") {
        fixture("reviews-page-3.json")
    } else {
        fixture("reviews-page-1.json")
    }
}

fn open(base: &str) -> Trustpilot {
    std::env::set_var("CHORUS_TEST_TRUSTPILOT_KEY", "secret-api-key");
    Trustpilot::open(json!({
        "base_url": base, "business_unit_id": "46d6a890000064000500e0c3",
        "api_key_env": "CHORUS_TEST_TRUSTPILOT_KEY", "backoff_ms": 5, "max_retries": 3
    }))
    .unwrap()
}

#[test]
fn pages_by_next_page_links_then_reads_only_newer_reviews() {
    let (base, seen) = serve(|target, _| (200, None, pages(target)));
    let mut trustpilot = open(&base);
    let mut cursor: Option<String> = None;
    let all = drain(&mut trustpilot, &mut cursor);
    let stars: Vec<Option<i64>> = all.records.iter().map(|r| r.stars).collect();
    assert_eq!(
        stars,
        [Some(5), Some(1), Some(4), Some(2), Some(3), Some(5)]
    );
    assert_eq!(all.rejected.len(), 1);
    assert_eq!(
        all.records[0].text.as_deref(),
        Some("Top Service. Lieferung am nächsten Tag, alles bestens.")
    );
    assert_eq!(all.records[5].language_hint.as_deref(), Some("en"));
    assert_eq!(all.records[0].attributes["has_reply"], true);
    assert!(
        !serde_json::to_string(&all.records)
            .unwrap()
            .contains("Kunde"),
        "no consumer names"
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert!(seen.lock().unwrap()[0].0.contains("orderBy=createdat.desc"));

    let again = trustpilot.read(cursor.as_deref(), 100).unwrap();
    assert!(again.records.is_empty() && !again.has_more);
}

#[test]
fn retries_and_never_leaks_the_api_key() {
    let (base, _) = serve(|target, n| match n {
        0 => (429, Some(("Retry-After", "1".into())), "{}".into()),
        1 => (500, None, "{}".into()),
        _ => (200, None, pages(target)),
    });
    let started = Instant::now();
    assert_eq!(open(&base).read(None, 10).unwrap().records.len(), 3);
    assert!(started.elapsed() >= Duration::from_secs(1));

    let (base, _) = serve(|_, _| (401, None, "{\"message\":\"Invalid ApiKey\"}".into()));
    let error = open(&base).read(None, 10).unwrap_err();
    assert!(
        error.message().contains("CHORUS_TEST_TRUSTPILOT_KEY"),
        "{error}"
    );
    assert!(!error.message().contains("secret-api-key"), "{error}");
    let (base, _) = serve(|_, _| (503, None, "down".into()));
    let error = open(&base).read(None, 10).unwrap_err();
    assert!(!error.message().contains("secret-api-key"), "{error}");
    let (base, _) = serve(|_, _| (200, None, "{\"reviews\": 7}".into()));
    assert!(open(&base)
        .read(None, 10)
        .unwrap_err()
        .message()
        .contains("reviews"));
}
