//! Alerts through the real server: a drop planted in one market's last complete week and
//! month raises alerts for that market only, once per period however often the job runs,
//! readable in scope.

use std::path::Path;
use std::time::{Duration, Instant};

use chorus::domain::Role;
use chrono::{Datelike, NaiveDate};
use serde_json::Value;

use crate::helpers::{demo_settings_with, spawn_app_with};

const CHANNEL: &str = "survey.alerts";

/// Five answers a day for the 400 days before today (a week holds 35, above `n_min`); on
/// `dropped` days NPS falls from +40 to −60.
fn export(path: &Path, market: &str, dropped: impl Fn(NaiveDate) -> bool) {
    let today = chrono::Utc::now().date_naive();
    let mut text = String::from("id,when,nps\n");
    for back in 1..=400 {
        let day = today - chrono::Duration::days(back);
        let scores = if dropped(day) {
            [2, 3, 9, 0, 5]
        } else {
            [10, 9, 8, 3, 10]
        };
        for (i, nps) in scores.iter().enumerate() {
            text.push_str(&format!("{market}-{back}-{i},{day} 12:00:00,{nps}\n"));
        }
    }
    std::fs::write(path, text).unwrap();
}

fn instance(id: &str, market: &str, path: &Path) -> String {
    format!(
        r#"
[[connectors]]
id = "{id}"
plugin = "survey_csv"
market = "{market}"
channel = "{CHANNEL}"
[connectors.settings]
path = {path:?}
[connectors.settings.columns]
id = "id"
timestamp = "when"
nps = "nps"
"#,
        path = path.display().to_string()
    )
}

#[tokio::test]
async fn a_planted_drop_raises_alerts_for_its_market_only_once_per_period() {
    let dir = tempfile::tempdir().unwrap();
    let today = chrono::Utc::now().date_naive();
    let this_month = today.with_day(1).unwrap();
    let last_month = this_month
        .checked_sub_months(chrono::Months::new(1))
        .unwrap();
    // The last complete month, and the last complete week: the periods the job tests.
    let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let dropped = move |day: NaiveDate| {
        (day >= last_month && day < this_month)
            || (day >= monday - chrono::Duration::days(7) && day < monday)
    };
    let (de, pl) = (dir.path().join("de.csv"), dir.path().join("pl.csv"));
    export(&de, "DE", dropped);
    export(&pl, "PL", |_| false);
    let extra = format!(
        "[alerts]\ninterval_seconds = 1\n[[channels]]\nid = \"{CHANNEL}\"\nname = \"Alerts\"\n{}{}",
        instance("de-alerts", "DE", &de),
        instance("pl-alerts", "PL", &pl)
    );
    let app = spawn_app_with(demo_settings_with(&extra, None), dir.path()).await;
    app.wait_for_startup_runs().await;

    let admin = app.token(Role::Admin, &[], &[]);
    let ours = |body: &Value| -> Vec<Value> {
        body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["channel"] == CHANNEL)
            .cloned()
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let alerts = loop {
        let (status, body) = app.get("/api/v1/alerts", Some(&admin)).await;
        assert_eq!(status, 200, "{body}");
        let alerts = ours(&body);
        if alerts.len() >= 2 {
            break alerts;
        }
        assert!(Instant::now() < deadline, "no alerts: {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // The job keeps running every second: nothing is raised twice for a period.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, body) = app.get("/api/v1/alerts", Some(&admin)).await;
    assert_eq!(ours(&body).len(), alerts.len(), "{body}");

    let mut periods: Vec<&str> = alerts
        .iter()
        .map(|a| a["period"].as_str().unwrap())
        .collect();
    periods.sort_unstable();
    assert_eq!(periods, ["month", "week"], "{alerts:?}");
    for alert in &alerts {
        assert_eq!(alert["market"], "DE", "{alert}");
        assert_eq!(
            (alert["subject"].as_str(), alert["direction"].as_str()),
            (Some("nps"), Some("drop"))
        );
        assert!(alert["value"].as_f64().unwrap() < -40.0, "{alert}");
        assert!(alert["baseline_value"].as_f64().unwrap() > 15.0, "{alert}");
        assert!(alert["p_adjusted"].as_f64().unwrap() < 0.05, "{alert}");
    }

    // Scoped like everything else.
    let pl_lead = app.token(Role::MarketLead, &[], &["PL"]);
    let (_, body) = app.get("/api/v1/alerts", Some(&pl_lead)).await;
    assert!(ours(&body).is_empty(), "{body}");
    let (status, _) = app.get("/api/v1/alerts?markets=DE", Some(&pl_lead)).await;
    assert_eq!(status, 403);
}
