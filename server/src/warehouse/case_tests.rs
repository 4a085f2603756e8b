//! Cases on a real DuckDB file: opened once per record inside the batch transaction, closed
//! when the record changes out of every rule or is erased, worked and escalated.

use std::path::Path;

use chrono::NaiveDateTime;

use super::cases::{CaseChange, CaseQuery, CaseUpdate};
use super::*;
use crate::cases::{CaseRules, Status};
use crate::config::Settings;

fn rules() -> CaseRules {
    let text = r#"
[warehouse]
path = "x.duckdb"
[[regions]]
id = "central"
name = "Central"
cx_lead = "lead"
[[markets]]
code = "DE"
name = "Germany"
region = "central"
languages = ["de"]
cx_owner = "owner-de"
[[channels]]
id = "s"
name = "Survey"
[[case_rules]]
id = "detractors"
when = "nps <= 6"
sla = "1h"
max_record_age = "3650d"
"#;
    CaseRules::compile(&Settings::from_toml(text, [], Path::new("t")).unwrap()).unwrap()
}

fn record(id: &str, nps: u8, consent: bool) -> NewRecord {
    NewRecord {
        external_id: id.into(),
        market: "DE".into(),
        region: "central".into(),
        channel: "s".into(),
        touchpoint: None,
        occurred_at: "2026-03-01T12:00:00".parse().unwrap(),
        nps: Some(nps),
        csat: None,
        ces: None,
        stars: None,
        text: Some("schlecht".into()),
        language: Some("de".into()),
        language_confidence: Some(0.9),
        language_decided_by: Some("detector"),
        consent_contact: Some(consent),
        attributes: Some(r#"{"email":"kunde@example.com"}"#.into()),
        topics: Vec::new(),
        redactions: Vec::new(),
        text_original: None,
    }
}

fn store(warehouse: &Warehouse, rules: &CaseRules, records: &[NewRecord], on_change: OnChange) {
    let run_id = warehouse.start_run("de", "api").unwrap();
    warehouse
        .commit_batch(&BatchWrite {
            run_id,
            instance: "de",
            records_read: records.len() as u64,
            records,
            rejections: &[],
            cursor: None,
            on_change,
            case_rules: Some(rules),
        })
        .unwrap();
}

fn all_cases(warehouse: &Warehouse, now: NaiveDateTime) -> Vec<super::cases::CaseView> {
    let query = CaseQuery {
        limit: 100,
        ..CaseQuery::default()
    };
    warehouse.cases(&query, now).unwrap()
}

fn now() -> NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

#[test]
fn a_detractor_opens_one_case_however_often_it_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let rules = rules();
    let batch = [
        record("1", 3, true),
        record("2", 9, true),
        record("1", 3, true),
    ];
    store(&warehouse, &rules, &batch, OnChange::KeepFirst);
    store(&warehouse, &rules, &batch, OnChange::KeepFirst);
    store(&warehouse, &rules, &batch, OnChange::Update);
    let cases = all_cases(&warehouse, now());
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case = &cases[0];
    assert_eq!(
        (case.status, case.assignee.as_str()),
        (Status::Open, "owner-de")
    );
    assert_eq!(case.escalation, vec!["lead".to_owned()]);
    assert_eq!(
        case.contact,
        Some(serde_json::json!({"email": "kunde@example.com"}))
    );
    assert_eq!(case.record.as_ref().unwrap().nps, Some(3));
}

#[test]
fn without_consent_the_case_shows_no_contact() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let rules = rules();
    store(
        &warehouse,
        &rules,
        &[record("1", 0, false)],
        OnChange::KeepFirst,
    );
    let case = &all_cases(&warehouse, now())[0];
    assert_eq!(case.contact, None);
    assert_eq!(case.contact_note, Some("no contact consent"));
    assert!(!case.contact_consent);
}

#[test]
fn an_update_out_of_every_rule_closes_the_case_and_erasure_closes_and_wipes_it() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let rules = rules();
    store(
        &warehouse,
        &rules,
        &[record("1", 2, true), record("2", 2, true)],
        OnChange::Update,
    );
    let first = all_cases(&warehouse, now());
    let id_of = |external: &str| {
        first
            .iter()
            .find(|c| c.record.as_ref().unwrap().external_id == external)
            .unwrap()
            .id
    };
    let (one, two) = (id_of("1"), id_of("2"));
    // Record 1 is edited to a 9: no rule applies any more.
    store(
        &warehouse,
        &rules,
        &[record("1", 9, true)],
        OnChange::Update,
    );
    let case = warehouse.case(one, now()).unwrap().unwrap();
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.resolution_code.as_deref(), Some("record_changed"));
    // Record 2 gets a note, then is erased.
    let noted = warehouse
        .update_case(
            two,
            &CaseChange {
                note: Some("called Ms Example".into()),
                ..CaseChange::default()
            },
            "owner-de",
            now(),
        )
        .unwrap();
    assert!(matches!(noted, CaseUpdate::Updated(_)));
    warehouse
        .erase(
            &Erasure::ExternalId {
                instance: Some("de".into()),
                external_id: "2".into(),
            },
            "admin",
        )
        .unwrap();
    let case = warehouse.case(two, now()).unwrap().unwrap();
    assert_eq!(case.status, Status::Closed);
    assert_eq!(case.resolution_code.as_deref(), Some("record_erased"));
    assert!(case.record.is_none());
    assert_eq!(case.contact_note, Some("record erased"));
    let history = case.history.unwrap();
    assert!(history.iter().all(|e| e.note.is_none()), "{history:?}");
}

#[test]
fn transitions_are_checked_and_logged_and_overdue_cases_escalate_once_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let rules = rules();
    store(
        &warehouse,
        &rules,
        &[record("1", 1, true)],
        OnChange::KeepFirst,
    );
    let id = all_cases(&warehouse, now())[0].id;
    let change = |status, code: Option<&str>, note: Option<&str>| CaseChange {
        status: Some(status),
        resolution_code: code.map(str::to_owned),
        note: note.map(str::to_owned),
        ..CaseChange::default()
    };
    let refused = warehouse
        .update_case(id, &change(Status::Closed, None, None), "owner-de", now())
        .unwrap();
    assert!(matches!(refused, CaseUpdate::Refused(_)), "{refused:?}");
    // Two hours later (SLA 1 h): overdue, goes to the lead, once.
    let later = now() + chrono::Duration::hours(2);
    assert!(all_cases(&warehouse, later)[0].overdue);
    let moved = warehouse.escalate_overdue(later).unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        (moved[0].from.as_str(), moved[0].to.as_deref()),
        ("owner-de", Some("lead"))
    );
    assert!(warehouse.escalate_overdue(later).unwrap().is_empty());
    let case = &all_cases(&warehouse, later)[0];
    assert_eq!((case.assignee.as_str(), case.escalation_level), ("lead", 1));
    assert!(!case.overdue, "a new SLA window started");
    // End of the chain: overdue again later, announced once, nobody left to escalate to.
    let much_later = later + chrono::Duration::hours(2);
    let announced = warehouse.escalate_overdue(much_later).unwrap();
    assert_eq!((announced.len(), announced[0].to.as_deref()), (1, None));
    assert!(warehouse.escalate_overdue(much_later).unwrap().is_empty());
    let resolved = warehouse
        .update_case(
            id,
            &change(Status::Resolved, Some("refund"), Some("refunded the fee")),
            "lead",
            much_later,
        )
        .unwrap();
    let CaseUpdate::Updated(case) = resolved else {
        panic!("{resolved:?}")
    };
    assert_eq!(case.status, Status::Resolved);
    assert!(!case.overdue);
    let kinds: Vec<&str> = case
        .history
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(kinds, ["opened", "escalated", "status"]);
    let figures = warehouse.case_figures(None, much_later).unwrap();
    assert_eq!((figures[0].open, figures[0].resolved), (0, 1));
    assert!(figures[0].median_hours_to_resolve.unwrap() > 3.9);
    // Nobody started it; it was resolved four hours in: that is its first response.
    let first_response = figures[0].median_hours_to_first_response.unwrap();
    assert!((3.9..4.1).contains(&first_response), "{first_response}");
}

#[test]
fn a_batch_of_many_cases_announces_each_once_to_each_subscribed_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let rules = rules();
    warehouse
        .set_webhook_subscriptions(&[
            ("crm".into(), "case.created".into()),
            ("chat".into(), "case.created".into()),
            ("chat".into(), "alert.created".into()),
        ])
        .unwrap();
    let first: Vec<NewRecord> = (0..3000)
        .map(|i| record(&format!("a{i}"), 2, false))
        .collect();
    let second: Vec<NewRecord> = (0..500)
        .map(|i| record(&format!("b{i}"), 2, false))
        .collect();
    store(&warehouse, &rules, &first, OnChange::KeepFirst);
    store(&warehouse, &rules, &second, OnChange::KeepFirst);
    store(&warehouse, &rules, &first, OnChange::KeepFirst);
    let deliveries = warehouse.deliveries(None, 100_000).unwrap();
    assert_eq!(deliveries.len(), 2 * 3500);
    let mut keys: Vec<(String, String)> = deliveries
        .iter()
        .map(|d| (d.message_id.clone(), d.endpoint.clone()))
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 7000);
    assert!(deliveries.iter().all(|d| d.event_type == "case.created"));
}
