//! Comparing markets: server/DESIGN.md's Simpson example loaded as data, identical numbers whoever
//! asks, scope, suppression, partial standardisation, trends against a baseline, CSAT.

use std::io::Write;
use std::path::Path;

use chorus::config::Settings;
use chorus::domain::Role;
use serde_json::Value;

use crate::helpers::{spawn_app_with, TestApp};

/// One block of identical responses: market, channel, day, score, csat, how many.
type Block = (
    &'static str,
    &'static str,
    &'static str,
    u8,
    Option<u8>,
    u32,
);

/// Writes `blocks` as one survey export with market and channel columns.
fn write_export(path: &Path, blocks: &[Block]) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(file, "id,day,country,programme,nps,csat").unwrap();
    let mut id = 0;
    for (market, channel, day, nps, csat, count) in blocks {
        for _ in 0..*count {
            id += 1;
            let csat = csat.map(|c| c.to_string()).unwrap_or_default();
            writeln!(file, "r{id},{day},{market},{channel},{nps},{csat}").unwrap();
        }
    }
}

/// Two regions (south: IT, ES; north: NL), two channels, one CSV instance for everything.
fn settings(export: &Path, reference_mix: &str) -> Settings {
    let text = format!(
        r#"
        [warehouse]
        path = "unused"
        [analysis]
        {reference_mix}
        [[regions]]
        id = "south"
        name = "South"
        [[regions]]
        id = "north"
        name = "North"
        [[markets]]
        code = "IT"
        name = "Italy"
        region = "south"
        languages = ["it"]
        [[markets]]
        code = "ES"
        name = "Spain"
        region = "south"
        languages = ["es"]
        [[markets]]
        code = "NL"
        name = "Netherlands"
        region = "north"
        languages = ["nl"]
        [[channels]]
        id = "survey.after_call"
        name = "After-call survey"
        [[channels]]
        id = "survey.app"
        name = "In-app survey"
        [[connectors]]
        id = "all-surveys"
        plugin = "survey_csv"
        [connectors.settings]
        path = {export:?}
        columns = {{ id = "id", timestamp = "day", market = "country", channel = "programme", nps = "nps", csat = "csat" }}
        "#,
        export = export.display().to_string()
    );
    Settings::from_toml(&text, [], Path::new("compare.toml")).unwrap()
}

/// server/DESIGN.md's worked example: A = Italy, B = the Netherlands, March 2026.
/// A: after-call NPS 60 (n 800), app NPS 0 (n 200). B: after-call NPS 70 (n 200), app NPS 10
/// (n 800). Pooled, A = 48 beats B = 22; standardised 50/50, B = 40 beats A = 30.
const SIMPSON: [Block; 12] = [
    ("IT", "survey.after_call", "2026-03-10", 10, None, 560),
    ("IT", "survey.after_call", "2026-03-10", 8, None, 160),
    ("IT", "survey.after_call", "2026-03-10", 3, None, 80),
    ("IT", "survey.app", "2026-03-11", 9, None, 60),
    ("IT", "survey.app", "2026-03-11", 7, None, 80),
    ("IT", "survey.app", "2026-03-11", 0, None, 60),
    ("NL", "survey.after_call", "2026-03-12", 10, None, 160),
    ("NL", "survey.after_call", "2026-03-12", 8, None, 20),
    ("NL", "survey.after_call", "2026-03-12", 6, None, 20),
    ("NL", "survey.app", "2026-03-13", 9, None, 320),
    ("NL", "survey.app", "2026-03-13", 7, None, 240),
    ("NL", "survey.app", "2026-03-13", 5, None, 240),
];

/// Spain: 40 after-call answers, 3 in-app: too few to standardise, and below the privacy floor.
const SPAIN: [Block; 2] = [
    ("ES", "survey.after_call", "2026-03-14", 9, None, 40),
    ("ES", "survey.app", "2026-03-14", 2, None, 3),
];

async fn app_with(dir: &Path, blocks: &[Block], reference_mix: &str) -> TestApp {
    let export = dir.join("export.csv");
    write_export(&export, blocks);
    let app = spawn_app_with(settings(&export, reference_mix), dir).await;
    app.wait_for_startup_runs().await;
    app
}

async fn compare(app: &TestApp, token: &str, query: &str) -> (u16, Value) {
    app.get(&format!("/api/v1/compare?{query}"), Some(token))
        .await
}

fn market<'a>(answer: &'a Value, code: &str) -> &'a Value {
    answer["markets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["market"] == code)
        .unwrap_or_else(|| panic!("{code} missing in {answer}"))
}

fn close(value: &Value, expected: f64, tolerance: f64) {
    let actual = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is no number"));
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not {expected} ± {tolerance}"
    );
}

const MARCH: &str = "from=2026-03-01&to=2026-03-31";
const FIFTY_FIFTY: &str = "reference_mix = { \"survey.after_call\" = 0.5, \"survey.app\" = 0.5 }";

#[tokio::test]
async fn the_simpson_example_ranks_b_above_a_when_standardised() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(dir.path(), &SIMPSON, FIFTY_FIFTY).await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);

    let (status, answer) = compare(&app, &hq, &format!("{MARCH}&against=IT")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["reference_mix"]["source"], "config");
    let (a, b) = (market(&answer, "IT"), market(&answer, "NL"));
    close(&a["value"], 30.0, 1e-9);
    close(&a["se"], 2.98, 0.005);
    close(&b["value"], 40.0, 1e-9);
    close(&b["se"], 2.70, 0.005);
    assert_eq!((b["rank"].as_u64(), a["rank"].as_u64()), (Some(1), Some(2)));
    assert_eq!(b["status"], "complete");
    close(&b["vs_market"]["difference"], 10.0, 1e-9);
    assert_eq!(b["vs_market"]["significant"], true);
    assert!(b["vs_market"]["p_value"].as_f64().unwrap() < 0.05);
    assert!(a["vs_market"].is_null(), "no test of IT against itself");
    // The cells it was built from are there, with their own figures.
    let cells = b["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    close(&cells[0]["value"], 70.0, 1e-9);
    assert_eq!(cells[0]["n"], 200);
    // Nothing before March: no baseline test, and the answer says why.
    assert!(b["vs_baseline"].is_null());
    let why = b["vs_baseline_reason"].as_str().unwrap();
    assert!(
        why.starts_with("no value in the baseline period: no responses in"),
        "{why}"
    );
    // The interval is the standardised estimate ± 1.96 SE.
    close(&b["ci95"]["low"], 40.0 - 1.96 * 2.70, 0.02);

    // Pooling is what the API refuses; per-channel cells are what it gives.
    let (status, body) = app.get("/api/v1/nps?group_by=market", Some(&hq)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("pooling_not_allowed"))
    );
}

#[tokio::test]
async fn every_role_gets_the_same_number_for_the_same_market() {
    let dir = tempfile::tempdir().unwrap();
    // No configured mix: the warehouse's mix of the period, over all markets (50/50 here).
    // Were it computed within a caller's scope, Italy alone (800/200) would give 48, not 30.
    let app = app_with(dir.path(), &SIMPSON, "").await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let south = app.token(Role::RegionalLead, &["south"], &[]);
    let italy = app.token(Role::MarketLead, &[], &["IT"]);

    let (_, by_hq) = compare(&app, &hq, MARCH).await;
    assert_eq!(by_hq["reference_mix"]["source"], "warehouse");
    close(&by_hq["reference_mix"]["weights"]["survey.app"], 0.5, 1e-12);
    for token in [&south, &italy] {
        let (status, answer) = compare(&app, token, &format!("{MARCH}&markets=IT")).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["reference_mix"], by_hq["reference_mix"]);
        let (mine, hqs) = (market(&answer, "IT"), market(&by_hq, "IT"));
        assert_eq!(mine["value"], hqs["value"]);
        assert_eq!(mine["se"], hqs["se"]);
        close(&mine["value"], 30.0, 1e-9);
    }
    // Scope: the regional lead's default is their region; other markets are 403, also as
    // the market to test against.
    let (_, default) = compare(&app, &south, MARCH).await;
    let listed: Vec<&str> = default["markets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["market"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["ES", "IT"]);
    for query in ["markets=NL", "against=NL", "markets=IT,NL"] {
        let (status, body) = compare(&app, &south, &format!("{MARCH}&{query}")).await;
        assert_eq!(status, 403, "{query}: {body}");
        assert_eq!(body["code"], "market_out_of_scope");
    }
    let integrator = app.token(Role::Integrator, &[], &[]);
    assert_eq!(compare(&app, &integrator, MARCH).await.0, 403);
}

#[tokio::test]
async fn small_cells_are_flagged_suppressed_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<Block> = SIMPSON.iter().chain(&SPAIN).copied().collect();
    let app = app_with(dir.path(), &blocks, FIFTY_FIFTY).await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);

    let (_, answer) = compare(&app, &hq, MARCH).await;
    let spain = market(&answer, "ES");
    assert_eq!(spain["status"], "unavailable");
    assert!(spain["value"].is_null() && spain["rank"].is_null());
    assert_eq!(
        spain["reason"],
        "fewer than 30 responses in survey.app (n = 3)"
    );
    let app_cell = &spain["cells"][1];
    assert_eq!(app_cell["channel"], "survey.app");
    assert_eq!(
        (app_cell["n"].as_u64(), &app_cell["suppressed"]),
        (Some(3), &Value::Bool(true))
    );
    assert!(app_cell["value"].is_null() && app_cell["ci95"].is_null());

    // partial=true: standardised over the after-call channel alone, and flagged.
    let (_, partial) = compare(&app, &hq, &format!("{MARCH}&partial=true")).await;
    let spain = market(&partial, "ES");
    assert_eq!(spain["status"], "partial");
    close(&spain["value"], 100.0, 1e-9);
    close(&spain["coverage"], 0.5, 1e-12);
    assert!(spain["reason"]
        .as_str()
        .unwrap()
        .contains("survey.app (n = 3)"));
    assert_eq!(market(&partial, "IT")["status"], "complete");

    // The per-channel endpoint shows n but withholds the rest below the privacy floor.
    let (_, cells) = app.get("/api/v1/nps?markets=ES", Some(&hq)).await;
    let small = cells["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "survey.app")
        .unwrap();
    assert_eq!(small["n"], 3);
    assert_eq!(
        (small["suppressed"].as_bool(), small["low_n"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(small["nps"].is_null() && small["promoters"].is_null());
    let big = cells["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["channel"] == "survey.after_call")
        .unwrap();
    assert_eq!(
        (big["low_n"].as_bool(), big["suppressed"].as_bool()),
        (Some(false), Some(false))
    );
}

#[tokio::test]
async fn holm_adjusts_the_tests_of_many_markets() {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<Block> = SIMPSON.iter().chain(&SPAIN).copied().collect();
    let app = app_with(dir.path(), &blocks, FIFTY_FIFTY).await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let (_, plain) = compare(&app, &hq, &format!("{MARCH}&against=IT&partial=true")).await;
    let (_, holm) = compare(
        &app,
        &hq,
        &format!("{MARCH}&against=IT&partial=true&adjust=holm"),
    )
    .await;
    assert_eq!(holm["adjust"], "holm");
    for code in ["NL", "ES"] {
        let (p, adjusted) = (
            market(&plain, code)["vs_market"]["p_value"]
                .as_f64()
                .unwrap(),
            market(&holm, code)["vs_market"]["p_adjusted"]
                .as_f64()
                .unwrap(),
        );
        assert!(
            adjusted >= p && adjusted <= (2.0 * p).min(1.0) + 1e-12,
            "{code}: {p} → {adjusted}"
        );
    }
    assert!(market(&plain, "NL")["vs_market"]["p_adjusted"].is_null());
    let (status, body) = compare(&app, &hq, &format!("{MARCH}&adjust=bonferroni")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_adjust"))
    );
    let (status, body) = compare(&app, &hq, "to=2026-03-31").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("missing_period"))
    );
}

/// Italy's after-call survey: NPS 20 every month of 2025 (100 answers a month, 40 % CSAT 4-5),
/// then NPS 50 in January 2026 (90 % CSAT 4-5, mean 4.5).
fn history() -> Vec<Block> {
    const DAYS: [&str; 12] = [
        "2025-01-15",
        "2025-02-15",
        "2025-03-15",
        "2025-04-15",
        "2025-05-15",
        "2025-06-15",
        "2025-07-15",
        "2025-08-15",
        "2025-09-15",
        "2025-10-15",
        "2025-11-15",
        "2025-12-15",
    ];
    let mut blocks = Vec::new();
    for day in DAYS {
        blocks.push(("IT", "survey.after_call", day, 10, Some(4), 40));
        blocks.push(("IT", "survey.after_call", day, 7, Some(3), 40));
        blocks.push(("IT", "survey.after_call", day, 1, Some(2), 20));
    }
    blocks.push(("IT", "survey.after_call", "2026-01-20", 9, Some(5), 60));
    blocks.push(("IT", "survey.after_call", "2026-01-20", 8, Some(4), 30));
    blocks.push(("IT", "survey.after_call", "2026-01-20", 4, Some(3), 10));
    blocks
}

#[tokio::test]
async fn trends_show_windows_and_the_change_against_the_own_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(dir.path(), &history(), "").await;
    let lead = app.token(Role::RegionalLead, &["south"], &[]);

    let (status, answer) = app
        .get("/api/v1/trends?from=2025-11&to=2026-01", Some(&lead))
        .await;
    assert_eq!(status, 200, "{answer}");
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{answer}");
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    let january = &points[2];
    assert_eq!(january["month"], "2026-01");
    assert_eq!(january["n"], 100);
    close(&january["value"], 50.0, 1e-9);
    assert_eq!(january["trailing_3m"]["n"], 300);
    close(&january["trailing_3m"]["value"], 30.0, 1e-9);
    assert_eq!(january["trailing_12m"]["n"], 1200);
    let change = &january["vs_baseline"];
    assert_eq!(change["baseline_n"], 1200);
    close(&change["baseline_value"], 20.0, 1e-9);
    close(&change["difference"], 30.0, 1e-9);
    assert_eq!(change["significant"], true);
    // December against its 11 months before and nothing earlier: the same level.
    let december = &points[1];
    assert_eq!(december["vs_baseline"]["baseline_n"], 1100);
    assert_eq!(december["vs_baseline"]["significant"], false);

    let (status, body) = app.get("/api/v1/trends?markets=NL", Some(&lead)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("market_out_of_scope"))
    );
    let (status, body) = app.get("/api/v1/trends?from=2026-1", Some(&lead)).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_month"))
    );
}

#[tokio::test]
async fn csat_has_its_own_cells_and_comparison_never_mixed_with_nps() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(dir.path(), &history(), "").await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);

    let (status, answer) = app
        .get("/api/v1/csat?from=2026-01-01&to=2026-01-31", Some(&hq))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["measure"], "csat");
    let cell = &answer["cells"][0];
    assert_eq!(cell["n"], 100);
    close(&cell["share_4_5"], 90.0, 1e-9);
    close(&cell["mean"], 4.5, 1e-9);
    assert!(cell.get("nps").is_none(), "CSAT cells carry no NPS: {cell}");
    assert!(cell["share_4_5_ci95"]["low"].as_f64().unwrap() > 80.0);

    let (status, compared) = app
        .get(
            "/api/v1/compare?measure=csat&from=2026-01-01&to=2026-01-31&baseline=trailing_12m",
            Some(&hq),
        )
        .await;
    assert_eq!(status, 200, "{compared}");
    assert_eq!(compared["statistic"], "share_4_5");
    let italy = market(&compared, "IT");
    close(&italy["value"], 90.0, 1e-9);
    close(&italy["vs_baseline"]["baseline_value"], 40.0, 1e-9);
    assert_eq!(italy["vs_baseline"]["significant"], true);
    assert!(italy["vs_baseline_reason"].is_null());
    assert_eq!(compared["baseline"]["from"], "2025-01-01");

    let (status, body) = app
        .get(
            "/api/v1/compare?measure=effort&from=2026-01-01&to=2026-01-31",
            Some(&hq),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_measure"))
    );
}

#[tokio::test]
async fn the_demo_compares_within_one_programme_only() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(crate::helpers::demo_settings(None), dir.path()).await;
    app.wait_for_startup_runs().await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let period = "from=2026-08-01&to=2026-10-31";

    let (status, answer) = compare(&app, &hq, period).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["programme"], "transactional");
    let weights = answer["reference_mix"]["weights"].as_object().unwrap();
    let channels: Vec<&str> = weights.keys().map(String::as_str).collect();
    assert_eq!(channels, ["survey.after_service_call", "survey.digital"]);
    let total: f64 = weights.values().map(|w| w.as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-12);
    for code in ["DE", "ES", "FR", "PL"] {
        assert_eq!(market(&answer, code)["status"], "complete", "{answer}");
    }

    let (_, relational) = compare(&app, &hq, &format!("{period}&programme=relational")).await;
    assert_eq!(
        relational["reference_mix"]["weights"],
        serde_json::json!({"survey.relational": 1.0})
    );
    // With one channel, the standardised figure is that channel's own NPS.
    let de = market(&relational, "DE");
    assert_eq!(de["value"], de["cells"][0]["value"]);

    let (status, body) = compare(
        &app,
        &hq,
        &format!("{period}&channels=survey.relational,survey.digital"),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("programmes_not_combined"))
    );
}

#[tokio::test]
async fn a_period_without_responses_is_answered_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_with(dir.path(), &SIMPSON, "").await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let (status, answer) = compare(&app, &hq, "from=2020-01-01&to=2020-12-31").await;
    assert_eq!(status, 200, "{answer}");
    for code in ["ES", "IT", "NL"] {
        let m = market(&answer, code);
        assert_eq!(m["status"], "unavailable");
        assert!(m["reason"]
            .as_str()
            .unwrap()
            .contains("no market has nps responses"));
    }
}
