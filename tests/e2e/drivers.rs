//! `/api/v1/drivers` on the demo: a model per market in scope, the same figures for every
//! role that sees a market, 403 outside the scope, 400 for bad parameters.

use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{demo_settings, spawn_app_with};

fn market<'a>(body: &'a Value, code: &str) -> &'a Value {
    body["markets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["market"] == code)
        .unwrap_or_else(|| panic!("{code} in {body}"))
}

/// A market's own figures, without the comparison with all markets in the caller's scope.
fn own(market: &Value) -> Value {
    let mut market = market.clone();
    for driver in market["drivers"].as_array_mut().unwrap() {
        driver.as_object_mut().unwrap().remove("all_markets");
    }
    market
}

#[tokio::test]
async fn drivers_are_modelled_per_market_within_scope() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let hq = app.token(Role::Admin, &[], &[]);
    let (status, all) = app.get("/api/v1/drivers?min_mentions=10", Some(&hq)).await;
    assert_eq!(status, 200, "{all}");
    let de = market(&all, "DE");
    assert!(de["n"].as_u64().unwrap() > 0, "{de}");
    if de["r2"].is_number() {
        let shares: f64 = de["drivers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["importance_share"].as_f64().unwrap())
            .sum();
        assert!((shares - 1.0).abs() < 1e-9, "{de}");
        for driver in de["drivers"].as_array().unwrap() {
            let importance = driver["importance"].as_f64().unwrap();
            let interval = &driver["importance_ci95"];
            assert!(
                interval["low"].as_f64().unwrap() <= importance
                    && importance <= interval["high"].as_f64().unwrap(),
                "{driver}"
            );
        }
    } else {
        assert!(de["reason"].is_string(), "{de}");
    }

    // A regional lead sees the same figures for a market HQ also sees; the all-markets
    // comparison is of the markets each caller sees, so it differs.
    let central = app.token(Role::RegionalLead, &["central"], &[]);
    let (status, regional) = app
        .get("/api/v1/drivers?min_mentions=10", Some(&central))
        .await;
    assert_eq!(status, 200, "{regional}");
    assert_eq!(own(market(&regional, "DE")), own(de));
    assert!(regional["markets"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["market"] == "DE" || m["market"] == "PL"));

    let de_lead = app.token(Role::MarketLead, &[], &["DE"]);
    let (status, body) = app.get("/api/v1/drivers?markets=FR", Some(&de_lead)).await;
    assert_eq!(status, 403, "{body}");
    for bad in [
        "measure=ces",
        "min_mentions=many",
        "programme=loyalty",
        "bootstrap=100000",
        "from=yesterday",
    ] {
        let (status, body) = app.get(&format!("/api/v1/drivers?{bad}"), Some(&hq)).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
