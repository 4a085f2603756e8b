//! The connector against a local server serving App Store Connect review pages; the server
//! side checks the ES256 token with the test key's public half.

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
    if target.contains("cursor=AQ.AMnS3kI") {
        fixture("reviews-page-2.json")
    } else if target.contains("cursor=AQ.AMnS3kJ") {
        fixture("reviews-page-3.json")
    } else {
        fixture("reviews-page-1.json")
    }
}

fn open(base: &str) -> AppStore {
    std::env::set_var("CHORUS_TEST_ASC_KEY", fixture("test-key.p8"));
    AppStore::open(json!({
        "base_url": base, "app_id": "1234567890", "issuer_id": "57246542-96fe-1a63-e053-0824d011072a",
        "key_id": "2X9R4HXF34", "private_key_env": "CHORUS_TEST_ASC_KEY",
        "backoff_ms": 5, "max_retries": 3
    }))
    .unwrap()
}

#[test]
fn pages_with_next_links_maps_territories_and_signs_es256_tokens() {
    let (base, seen) = serve(|target, _| (200, None, pages(target)));
    let mut store = open(&base);
    let mut cursor: Option<String> = None;
    let all = drain(&mut store, &mut cursor);
    let got: Vec<(Option<&str>, Option<i64>)> = all
        .records
        .iter()
        .map(|r| (r.market.as_deref(), r.stars))
        .collect();
    assert_eq!(
        got,
        [
            (Some("DE"), Some(5)),
            (Some("FR"), Some(1)),
            (Some("ES"), Some(4)),
            (Some("DE"), Some(2)),
            (Some("PL"), Some(3)),
            (Some("US"), Some(5)),
        ]
    );
    assert_eq!(all.rejected.len(), 1);
    assert!(all.rejected[0].reason.contains("XKX"));
    assert_eq!(all.records[0].occurred_at, "2026-03-20T09:12:33+00:00");
    assert_eq!(
        all.records[0].text.as_deref(),
        Some("Super. Bestellung in Sekunden erledigt.")
    );
    assert_eq!(all.records[3].text.as_deref(), Some("Zu langsam"));
    assert!(all.records.iter().all(|r| r.nps.is_none()));
    assert!(
        !serde_json::to_string(&all.records)
            .unwrap()
            .contains("nick"),
        "no nicknames"
    );

    // The token is an ES256 JWT with the key id, issuer and audience App Store Connect wants.
    let auth = seen.lock().unwrap()[0].1.clone();
    let token = auth.strip_prefix("Bearer ").unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("2X9R4HXF34"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["appstoreconnect-v1"]);
    validation.set_issuer(&["57246542-96fe-1a63-e053-0824d011072a"]);
    let key =
        jsonwebtoken::DecodingKey::from_ec_pem(fixture("test-key.pub.pem").as_bytes()).unwrap();
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims;
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!(
        lifetime <= 20 * 60,
        "App Store Connect refuses tokens over 20 minutes"
    );

    let again = store.read(cursor.as_deref(), 100).unwrap();
    assert!(again.records.is_empty() && !again.has_more);
}

#[test]
fn a_dead_next_link_restarts_and_failures_are_retried_or_explained() {
    let (base, _) = serve(|target, n| {
        if target.contains("cursor=gone") {
            (404, None, "{}".into())
        } else if n == 1 {
            (429, Some(("Retry-After", "1".into())), "{}".into())
        } else if n == 2 {
            (503, None, "{}".into())
        } else {
            (200, None, pages(target))
        }
    });
    let stale = pass::encode(&Pass {
        high_water: None,
        next: Some("/v1/apps/1234567890/customerReviews?cursor=gone".to_owned()),
        pass_max: None,
    })
    .unwrap();
    let started = Instant::now();
    assert_eq!(
        open(&base).read(Some(&stale), 100).unwrap().records.len(),
        3
    );
    assert!(started.elapsed() >= Duration::from_secs(1));

    let (base, _) = serve(|_, _| (401, None, "{\"errors\":[{\"status\":\"401\"}]}".into()));
    let error = open(&base).read(None, 10).unwrap_err();
    assert!(
        error.message().contains("2X9R4HXF34") && error.message().contains("CHORUS_TEST_ASC_KEY"),
        "{error}"
    );
    let (base, _) = serve(|_, _| (200, None, "{\"data\": 3}".into()));
    assert!(open(&base)
        .read(None, 10)
        .unwrap_err()
        .message()
        .contains("data"));

    std::env::set_var("CHORUS_TEST_ASC_BAD_KEY", "not a key");
    let refused = AppStore::open(json!({
        "app_id": "1", "issuer_id": "i", "key_id": "k", "private_key_env": "CHORUS_TEST_ASC_BAD_KEY"
    }))
    .unwrap_err();
    assert!(
        refused.message().contains("CHORUS_TEST_ASC_BAD_KEY"),
        "{refused}"
    );
}
