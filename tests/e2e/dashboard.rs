//! The dashboard in a real headless Chromium against the real server with the demo data:
//! what each role sees, withheld cells, live updates through the event stream, expiry, and no
//! console errors. Each test saves a screenshot of its view (target/<profile>/screenshots/).

use std::time::Duration;

use chorus::domain::Role;
use serde_json::{json, Value};

use crate::browser::Browser;
use crate::helpers::{demo_settings_with, spawn_app_with, TestApp};

/// The demo's period.
const PERIOD: &str = "from=2026-08-01&to=2026-10-31";

/// A push instance for Germany on a channel of its own, so a test can make a cell small.
const APP_FEEDBACK: &str = r#"
[[channels]]
id = "webhook.app_feedback"
name = "In-app feedback"
programme = "transactional"

[[connectors]]
id = "de-app"
plugin = "push"
market = "DE"
channel = "webhook.app_feedback"
"#;

async fn demo(dir: &std::path::Path) -> TestApp {
    let app = spawn_app_with(demo_settings_with(APP_FEEDBACK, None), dir).await;
    app.wait_for_startup_runs().await;
    app
}

/// Signs in as a user does: through the one-time link that `serve` prints.
async fn sign_in_by_link(browser: &Browser, app: &TestApp, token: String, view: &str) {
    let code = app.login_codes.issue(token);
    browser
        .goto(&format!("{}/?code={code}#/{view}", app.address))
        .await;
}

async fn push(app: &TestApp, records: Value) {
    let token = app.token(Role::Integrator, &[], &[]);
    let response = app
        .client
        .post(format!("{}/api/v1/ingest/de-app", app.address))
        .bearer_auth(token)
        .json(&json!({ "records": records }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}

/// A pushed comment, newer than every demo record, so it heads the latest comments.
fn comment(id: &str, nps: u8, text: &str) -> Value {
    json!({"external_id": id, "occurred_at": "2026-10-31T21:30:00Z", "nps": nps, "text": text})
}

#[tokio::test]
async fn a_regional_lead_compares_exactly_the_markets_of_the_region() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo(dir.path()).await;
    let west = app.token(Role::RegionalLead, &["west"], &[]);
    let browser = Browser::start(1280).await;
    sign_in_by_link(&browser, &app, west.clone(), &format!("compare?{PERIOD}")).await;
    browser
        .wait_for(
            "the ranking chart",
            "return document.querySelector('#ranking-chart canvas')",
            Duration::from_secs(15),
        )
        .await;
    // The code is gone from the address bar; the token sits in sessionStorage only.
    let url = browser.eval("return location.href", json!([])).await;
    assert!(!url.as_str().unwrap().contains("code="), "{url}");
    assert_eq!(
        browser
            .eval("return sessionStorage.getItem('chorus.token')", json!([]))
            .await,
        json!(west)
    );
    browser.screenshot("compare-regional-lead").await;
    // The demo has nothing before August: the page says no baseline test was possible, and
    // why, instead of promising tests that did not happen.
    let note = browser
        .eval(
            "return document.querySelector('#baseline-note').innerText",
            json!([]),
        )
        .await;
    assert!(
        note.as_str()
            .unwrap()
            .starts_with("No market could be tested against its baseline"),
        "{note}"
    );

    // The table toggle shows the same numbers as text: exactly the API's, for west only.
    browser.click("#ranking-toggle").await;
    let rows = browser
        .wait_for(
            "the ranking table",
            "return [...document.querySelectorAll('#ranking-table tbody tr')]\
               .map(r => [r.dataset.market, r.cells[2].innerText, r.cells[4].innerText])",
            Duration::from_secs(10),
        )
        .await;
    let (status, answer) = app
        .get(&format!("/api/v1/compare?{PERIOD}"), Some(&west))
        .await;
    assert_eq!(status, 200, "{answer}");
    let expected: Vec<Value> = answer["markets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            json!([
                m["market"],
                format!("{:.1}", m["value"].as_f64().unwrap()),
                m["n"].to_string()
            ])
        })
        .collect();
    assert_eq!(rows, json!(expected));
    let markets: Vec<&str> = expected.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(markets.len(), 2);
    assert!(
        markets.contains(&"FR") && markets.contains(&"ES"),
        "{markets:?}"
    );
    // The filters are in the URL, so the link can be shared.
    let hash = browser.eval("return location.hash", json!([])).await;
    assert!(hash.as_str().unwrap().contains("table=1"), "{hash}");
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
    browser.close().await;

    // Narrow screens (390 px) get the same view without sideways scrolling.

    let phone = Browser::start(390).await;
    sign_in_by_link(&phone, &app, west, &format!("compare?{PERIOD}")).await;
    phone
        .wait_for(
            "the ranking chart",
            "return document.querySelector('#ranking-chart canvas')",
            Duration::from_secs(15),
        )
        .await;
    let overflow = phone
        .eval(
            "return document.documentElement.scrollWidth - window.innerWidth",
            json!([]),
        )
        .await;
    phone.screenshot("compare-390px").await;
    assert!(overflow.as_i64().unwrap() <= 0, "{overflow} px too wide");
    assert_eq!(phone.console_errors().await, Vec::<String>::new());
    phone.close().await;
}

#[tokio::test]
async fn the_market_view_shows_channel_cells_withholds_small_ones_and_updates_live() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo(dir.path()).await;
    push(
        &app,
        json!([
            comment("a1", 9, "Die App ist schnell"),
            comment("a2", 3, "Die App stürzt ab"),
            comment("a3", 7, "Geht so")
        ]),
    )
    .await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let browser = Browser::start(1280).await;
    // A pasted token works as well as the link.
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(
            "the sign-in form",
            "return document.querySelector('#token-input')",
            Duration::from_secs(10),
        )
        .await;
    browser.type_into("#token-input", &hq).await;
    browser.click("#signin button[type=submit]").await;
    browser
        .wait_for(
            "the compare view",
            "return document.querySelector('#ranking-chart')",
            Duration::from_secs(15),
        )
        .await;
    browser
        .goto(&format!("{}/#/market?market=DE&{PERIOD}", app.address))
        .await;
    let withheld =
        "return document.querySelector('.cell[data-channel=\"webhook.app_feedback\"]')?.innerText";
    let text = browser
        .wait_for("the in-app cell", withheld, Duration::from_secs(15))
        .await;
    assert!(text.as_str().unwrap().contains("withheld, n = 3"), "{text}");

    // Every other cell shows the API's value and n.
    let (_, cells) = app
        .get(
            &format!("/api/v1/nps?markets=DE&group_by=market,channel&{PERIOD}"),
            Some(&hq),
        )
        .await;
    for cell in cells["cells"].as_array().unwrap() {
        let channel = cell["channel"].as_str().unwrap();
        let shown = browser
            .eval(
                "return document.querySelector(`.cell[data-channel=\"${arguments[0]}\"]`).innerText",
                json!([channel]),
            )
            .await;
        let shown = shown.as_str().unwrap();
        assert!(shown.contains(&format!("n = {}", cell["n"])), "{shown}");
        if let Some(nps) = cell["nps"].as_f64() {
            assert!(
                shown.contains(&format!("{nps:.1}")),
                "{shown} lacks {nps:.1}"
            );
        }
    }
    browser.screenshot("market-view").await;

    // A record pushed while the page is open arrives through the event stream.
    browser
        .wait_for(
            "the live event stream",
            "return document.querySelector('#live')?.dataset.state === 'live'",
            Duration::from_secs(10),
        )
        .await;
    push(
        &app,
        json!([comment("a4", 10, "Live aus der App: alles bestens")]),
    )
    .await;
    let pushed = std::time::Instant::now();
    browser
        .wait_for(
            "the pushed comment",
            "return document.querySelector('#comments')?.innerText.includes('Live aus der App')",
            Duration::from_secs(5),
        )
        .await;
    let text = browser
        .wait_for("the in-app cell", withheld, Duration::from_secs(5))
        .await;
    assert!(text.as_str().unwrap().contains("withheld, n = 4"), "{text}");
    assert!(pushed.elapsed() < Duration::from_secs(5));
    browser.screenshot("market-view-live").await;
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
    browser.close().await;
}

#[tokio::test]
async fn an_expired_session_lands_on_sign_in_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo(dir.path()).await;
    let browser = Browser::start(1280).await;
    // Valid for three seconds: the page signs out when it runs out.
    let short = app.keys.mint(
        "brief",
        Role::MarketLead,
        &[],
        &["DE".into()],
        Duration::from_secs(3),
    );
    sign_in_by_link(&browser, &app, short, &format!("market?market=DE&{PERIOD}")).await;
    browser
        .wait_for(
            "the market view",
            "return document.querySelector('#cells')",
            Duration::from_secs(10),
        )
        .await;
    let message = browser
        .wait_for(
            "the sign-in page after expiry",
            "return document.querySelector('#signin-message')?.innerText",
            Duration::from_secs(15),
        )
        .await;
    assert!(message.as_str().unwrap().contains("expired"), "{message}");
    assert_eq!(
        browser
            .eval("return sessionStorage.getItem('chorus.token')", json!([]))
            .await,
        Value::Null
    );
    browser.screenshot("expired-session").await;
    assert_eq!(browser.console_errors().await, Vec::<String>::new());

    // A link whose code was already used says so and offers the sign-in page.
    let code = app.login_codes.issue(app.token(Role::HqAnalyst, &[], &[]));
    assert!(app.login_codes.redeem(&code).is_some());
    browser.goto(&format!("{}/?code={code}", app.address)).await;
    let message = browser
        .wait_for(
            "the refused link",
            "return document.querySelector('#signin-message')?.innerText",
            Duration::from_secs(10),
        )
        .await;
    assert!(
        message.as_str().unwrap().contains("already used"),
        "{message}"
    );
    browser.close().await;
}

#[tokio::test]
async fn a_market_lead_works_a_case_from_the_cases_view() {
    let dir = tempfile::tempdir().unwrap();
    let app = demo(dir.path()).await;
    // The demo's rule opens cases for detractors after a service contact.
    let lead = app.token(Role::MarketLead, &[], &["DE"]);
    let (_, open) = app.get("/api/v1/cases?status=active", Some(&lead)).await;
    let id = open["cases"][0]["id"]
        .as_i64()
        .expect("the demo opens DE cases");
    let browser = Browser::start(1280).await;
    sign_in_by_link(&browser, &app, lead.clone(), "cases").await;
    let row = format!("[data-case-row=\"{id}\"]");
    browser
        .wait_for(
            "the case list",
            &format!("return document.querySelector('{row}')"),
            Duration::from_secs(15),
        )
        .await;
    // Only the lead's market, and the case's own moves.
    let markets = browser
        .eval(
            "return [...document.querySelectorAll('[data-case-row] td:nth-child(2)')].map(td => td.innerText)",
            json!([]),
        )
        .await;
    assert!(
        markets.as_array().unwrap().iter().all(|m| m == "DE"),
        "{markets}"
    );
    browser
        .click(&format!("[data-case=\"{id}\"][data-move=\"in_progress\"]"))
        .await;
    browser
        .wait_for(
            "the case in progress",
            &format!(
                "return document.querySelector('[data-case=\"{id}\"][data-move=\"resolved\"]') \
                 && !document.querySelector('[data-case=\"{id}\"][data-move=\"in_progress\"]')"
            ),
            Duration::from_secs(10),
        )
        .await;
    // What happened so far, from the case's own history.
    browser.click(&format!("[data-history=\"{id}\"]")).await;
    let history = browser
        .wait_for(
            "the case's history",
            "return document.querySelector('#case-detail:not([hidden])')?.innerText",
            Duration::from_secs(10),
        )
        .await;
    let history = history.as_str().unwrap();
    assert!(
        history.contains("opened") && history.contains("open → in progress"),
        "{history}"
    );
    browser
        .click(&format!("[data-case=\"{id}\"][data-move=\"resolved\"]"))
        .await;
    browser
        .type_into("#resolve-form input[name=resolution_code]", "called_back")
        .await;
    browser
        .type_into(
            "#resolve-form textarea[name=note]",
            "Called, apologised, credited",
        )
        .await;
    browser.click("#resolve-form button[type=submit]").await;
    browser
        .wait_for(
            "the resolved case to leave the active list",
            &format!("return !document.querySelector('{row}') && document.querySelector('#cases')"),
            Duration::from_secs(10),
        )
        .await;
    let (_, case) = app.get(&format!("/api/v1/cases/{id}"), Some(&lead)).await;
    assert_eq!(
        (case["status"].as_str(), case["resolution_code"].as_str()),
        (Some("resolved"), Some("called_back")),
        "{case}"
    );
    assert_eq!(case["history"].as_array().unwrap().len(), 3, "{case}");
    browser.screenshot("cases").await;
    assert_eq!(browser.console_errors().await, Vec::<String>::new());

    // HQ reads the same cases but has no buttons to move them.
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    sign_in_by_link(&browser, &app, hq, "cases?status=").await;
    browser
        .wait_for(
            "the case list for HQ",
            &format!("return document.querySelector('{row}')"),
            Duration::from_secs(15),
        )
        .await;
    let buttons = browser
        .eval(
            "return document.querySelectorAll('[data-move]').length",
            json!([]),
        )
        .await;
    assert_eq!(buttons, 0);
    browser.close().await;
}

/// Markup that would show itself as an element if any name reached the page as HTML.
const PLANTED: &str = "<img src=x data-planted=1><b data-planted=1>";

#[tokio::test]
async fn names_from_configuration_reach_the_page_as_text_never_as_markup() {
    let mut settings = demo_settings_with(APP_FEEDBACK, None);
    for market in &mut settings.markets {
        market.name = format!("{} {PLANTED}", market.name);
    }
    for channel in &mut settings.channels {
        channel.name = format!("{} {PLANTED}", channel.name);
    }
    for region in &mut settings.regions {
        region.name = format!("{} {PLANTED}", region.name);
    }
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_app_with(settings, dir.path()).await;
    app.wait_for_startup_runs().await;
    let hq = app.token(Role::HqAnalyst, &[], &[]);
    let browser = Browser::start(1280).await;
    // Every chart's tooltip is shown (it is the HTML ECharts writes), then the page is searched
    // for planted elements.
    let show_tips = "const shown = [];
        for (const el of document.querySelectorAll('.chart')) {
          const chart = window.echarts.getInstanceByDom(el);
          if (!chart) continue;
          const series = chart.getOption().series.length;
          for (let s = 0; s < series; s++) chart.dispatchAction({ type: 'showTip', seriesIndex: s, dataIndex: 0 });
          shown.push(el.id);
        }
        return shown.length ? shown : null";
    let planted = "return document.querySelectorAll('[data-planted]').length";
    let views = [
        ("compare", format!("compare?{PERIOD}")),
        ("market", format!("market?market=DE&{PERIOD}")),
    ];
    for (what, view) in views {
        sign_in_by_link(&browser, &app, hq.clone(), &view).await;
        browser
            .wait_for(
                &format!("the {what} view's charts"),
                show_tips,
                Duration::from_secs(15),
            )
            .await;
        browser.eval(show_tips, json!([])).await;
        let text = browser
            .wait_for(
                "a tooltip",
                "return [...document.querySelectorAll('.chart div')]\
                   .map(d => d.innerText).filter(t => t.includes('data-planted')).join('\\n')",
                Duration::from_secs(10),
            )
            .await;
        assert!(
            text.as_str().unwrap().contains("data-planted"),
            "{what}: the tooltip shows the name as text: {text}"
        );
        assert_eq!(
            browser.eval(planted, json!([])).await,
            json!(0),
            "{what}: a name became markup"
        );
        assert!(
            browser
                .eval("return document.body.innerText", json!([]))
                .await
                .as_str()
                .unwrap()
                .contains("<img src=x"),
            "{what}: names are shown as their text"
        );
    }
    browser.close().await;
}
