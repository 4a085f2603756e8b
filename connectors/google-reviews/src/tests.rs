//! The connector against a local server serving Google Business Profile review pages.

use std::time::{Duration, Instant};

use chorus_http_kit::pass::Pass;
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
    if target.contains("pageToken=CiAKGjBhVEN2eHR0") {
        fixture("reviews-page-2.json")
    } else if target.contains("pageToken=CiAKGjBhVEN2eHR1") {
        fixture("reviews-page-3.json")
    } else {
        fixture("reviews-page-1.json")
    }
}

fn open(base: &str) -> GoogleReviews {
    std::env::set_var("CHORUS_TEST_GOOGLE_TOKEN", "ya29.test");
    GoogleReviews::open(json!({
        "base_url": base, "account_id": "1234567890", "location_id": "987654321",
        "oauth_token_env": "CHORUS_TEST_GOOGLE_TOKEN", "backoff_ms": 5, "max_retries": 3
    }))
    .unwrap()
}

#[test]
fn pages_to_the_end_then_reads_only_what_is_newer() {
    let (base, seen) = serve(|target, _| (200, None, pages(target)));
    let mut google = open(&base);
    let mut cursor = None;
    let all = drain(&mut google, &mut cursor);
    let stars: Vec<Option<i64>> = all.records.iter().map(|r| r.stars).collect();
    assert_eq!(
        stars,
        [Some(5), Some(1), Some(4), Some(3), Some(2), Some(5)]
    );
    assert!(
        all.records.iter().all(|r| r.nps.is_none()),
        "reviews carry stars, never NPS"
    );
    assert_eq!(all.rejected.len(), 1, "STAR_RATING_UNSPECIFIED is rejected");
    assert!(
        all.records[3].text.is_none(),
        "a review without comment has no text"
    );
    assert_eq!(all.records[0].attributes["has_reply"], true);
    assert!(
        !serde_json::to_string(&all.records)
            .unwrap()
            .contains("Kunde"),
        "no reviewer names"
    );
    let (first, auth) = seen.lock().unwrap()[0].clone();
    assert_eq!(auth, "Bearer ya29.test");
    assert!(first.starts_with("/v4/accounts/1234567890/locations/987654321/reviews?pageSize=50"));

    // Next run: page 1 again starts at the high-water mark, so nothing is new.
    let again = google.read(cursor.as_deref(), 100).unwrap();
    assert!(again.records.is_empty() && !again.has_more);
    assert_eq!(
        seen.lock().unwrap().len(),
        4,
        "three pages, then one page to see nothing new"
    );
}

#[test]
fn an_expired_page_token_restarts_the_pass() {
    let (base, _) = serve(|target, _| {
        if target.contains("pageToken=stale") {
            (
                400,
                None,
                r#"{"error":{"code":400,"message":"Invalid page token"}}"#.into(),
            )
        } else {
            (200, None, pages(target))
        }
    });
    let stale = pass::encode(&Pass {
        high_water: None,
        next: Some("stale".to_owned()),
        pass_max: None,
    })
    .unwrap();
    let batch = open(&base).read(Some(&stale), 100).unwrap();
    assert_eq!(batch.records.len(), 3, "the first page again");
}

#[test]
fn retries_429_and_500_and_reports_401_malformed_and_empty_locations() {
    let (base, _) = serve(|target, n| match n {
        0 => (429, Some(("Retry-After", "1".into())), "{}".into()),
        1 => (502, None, "bad gateway".into()),
        _ => (200, None, pages(target)),
    });
    let started = Instant::now();
    assert_eq!(open(&base).read(None, 100).unwrap().records.len(), 3);
    assert!(started.elapsed() >= Duration::from_secs(1));

    let (base, _) = serve(|_, _| (401, None, "{}".into()));
    let error = open(&base).read(None, 100).unwrap_err();
    assert!(
        error.message().contains("CHORUS_TEST_GOOGLE_TOKEN"),
        "{error}"
    );

    let (base, _) = serve(|_, _| (200, None, "<html>".into()));
    assert!(open(&base)
        .read(None, 100)
        .unwrap_err()
        .message()
        .contains("not the expected JSON"));

    let (base, _) = serve(|_, _| (200, None, fixture("reviews-none.json")));
    let empty = open(&base).read(None, 100).unwrap();
    assert!(empty.records.is_empty() && !empty.has_more);
}
