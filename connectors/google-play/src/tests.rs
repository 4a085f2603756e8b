//! The connector against a local server serving Google Play review pages.

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
    if target.contains("token=page2token") {
        fixture("play-page-2.json")
    } else if target.contains("token=page3token") {
        fixture("play-page-3.json")
    } else {
        fixture("play-page-1.json")
    }
}

fn open(base: &str) -> GooglePlay {
    std::env::set_var("CHORUS_TEST_PLAY_TOKEN", "ya29.play");
    GooglePlay::open(json!({
        "base_url": base, "package_name": "com.example.shop",
        "oauth_token_env": "CHORUS_TEST_PLAY_TOKEN",
        "markets_by_language": {"fr": "FR", "es": "ES"},
        "backoff_ms": 5, "max_retries": 3
    }))
    .unwrap()
}

#[test]
fn reads_three_pages_then_only_newer_changes() {
    let (base, seen) = serve(|target, _| (200, None, pages(target)));
    let mut play = open(&base);
    let mut cursor = None;
    let all = drain(&mut play, &mut cursor);
    let stars: Vec<Option<i64>> = all.records.iter().map(|r| r.stars).collect();
    assert_eq!(
        stars,
        [Some(5), Some(1), Some(4), Some(2), Some(3), Some(5)]
    );
    assert_eq!(all.rejected.len(), 1);
    assert!(all.rejected[0].reason.contains("starRating"));
    let first = &all.records[0];
    assert_eq!(first.occurred_at, "2026-03-10T09:52:00Z");
    assert_eq!(
        first.text.as_deref(),
        Some("Super App, Lieferung kam schnell."),
        "tab trimmed"
    );
    assert_eq!(
        first.market, None,
        "German is not mapped: the instance's market"
    );
    assert_eq!(all.records[1].market.as_deref(), Some("FR"));
    assert_eq!(all.records[5].language_hint.as_deref(), Some("pl"));
    assert_eq!(first.attributes["has_reply"], true);
    assert!(
        !serde_json::to_string(&all.records)
            .unwrap()
            .contains("Nutzer"),
        "no author names"
    );
    assert_eq!(seen.lock().unwrap()[0].1, "Bearer ya29.play");

    let again = drain(&mut play, &mut cursor);
    assert!(
        again.records.is_empty(),
        "nothing changed since the high-water mark"
    );
}

#[test]
fn an_expired_token_restarts_and_failures_are_retried_or_explained() {
    let (base, _) = serve(|target, n| {
        if target.contains("token=stale") {
            (400, None, "{}".into())
        } else if n == 1 {
            (429, Some(("Retry-After", "1".into())), "{}".into())
        } else if n == 2 {
            (500, None, "{}".into())
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
    let started = Instant::now();
    let batch = open(&base).read(Some(&stale), 100).unwrap();
    assert_eq!(batch.records.len(), 3);
    assert!(started.elapsed() >= Duration::from_secs(1));

    let (base, _) = serve(|_, _| (403, None, "{}".into()));
    assert!(open(&base)
        .read(None, 10)
        .unwrap_err()
        .message()
        .contains("CHORUS_TEST_PLAY_TOKEN"));
    let (base, _) = serve(|_, _| (200, None, "{\"reviews\": [".into()));
    assert!(open(&base)
        .read(None, 10)
        .unwrap_err()
        .message()
        .contains("not the expected JSON"));
}
