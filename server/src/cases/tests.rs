use std::path::Path;
use std::time::Duration;

use chrono::NaiveDateTime;
use proptest::prelude::*;

use super::rules::{CaseRules, CaseSubject};
use crate::config::{ConfigError, Settings};

const BASE: &str = r#"
[warehouse]
path = "x.duckdb"
[[regions]]
id = "central"
name = "Central"
cx_lead = "lead-central"
[[markets]]
code = "DE"
name = "Germany"
region = "central"
languages = ["de"]
cx_owner = "owner-de"
[[markets]]
code = "PL"
name = "Poland"
region = "central"
languages = ["pl"]
[[channels]]
id = "survey"
name = "Survey"
[[channels]]
id = "reviews"
name = "Reviews"
"#;

fn settings(rules: &str) -> Result<Settings, ConfigError> {
    Settings::from_toml(&format!("{BASE}{rules}"), [], Path::new("t"))
}

fn rules(text: &str) -> CaseRules {
    CaseRules::compile(&settings(text).unwrap()).unwrap()
}

fn problems(text: &str) -> String {
    match settings(text) {
        Err(ConfigError::Invalid(problems)) => problems.join("; "),
        other => panic!("expected invalid settings, got {other:?}"),
    }
}

fn now() -> NaiveDateTime {
    "2026-06-10T12:00:00".parse().unwrap()
}

fn subject<'a>(market: &'a str, nps: Option<u8>, topics: &'a str) -> CaseSubject<'a> {
    CaseSubject {
        market,
        channel: "survey",
        occurred_at: "2026-06-09T08:00:00".parse().unwrap(),
        nps,
        csat: None,
        ces: None,
        stars: None,
        topics,
        touchpoint: None,
        attributes: None,
    }
}

#[test]
fn a_detractor_opens_a_case_for_the_market_owner_escalating_to_the_regional_lead() {
    let rules =
        rules("[[case_rules]]\nid = \"detractors\"\nwhen = \"nps <= 6\"\nmarkets = [\"DE\"]\n");
    let opening = rules
        .first_match(&subject("DE", Some(6), ""), now())
        .unwrap();
    assert_eq!(opening.rule, "detractors");
    assert_eq!(opening.assignee, "owner-de");
    assert_eq!(opening.escalation, vec!["lead-central".to_owned()]);
    assert_eq!(opening.sla, Duration::from_secs(48 * 3600));
    assert_eq!(rules.first_match(&subject("DE", Some(7), ""), now()), None);
    assert_eq!(rules.first_match(&subject("DE", None, ""), now()), None);
}

#[test]
fn owners_route_by_touchpoint_or_attribute_and_the_market_owner_comes_next() {
    let rules = rules(
        r#"
[[case_rules]]
id = "stores"
when = "csat <= 2"
markets = ["DE"]
owners = { touchpoint = { "store-berlin" = "anna" } }
[[case_rules]]
id = "by-shop"
when = "nps <= 6"
markets = ["DE"]
owners = { "attributes.shop" = { "7" = "bernd" } }
"#,
    );
    let mut record = subject("DE", Some(3), "");
    record.csat = Some(1);
    record.touchpoint = Some("store-berlin");
    let opening = rules.first_match(&record, now()).unwrap();
    assert_eq!(
        (opening.rule.as_str(), opening.assignee.as_str()),
        ("stores", "anna")
    );
    assert_eq!(
        opening.escalation,
        vec!["owner-de".to_owned(), "lead-central".to_owned()]
    );
    record.touchpoint = Some("store-hamburg");
    assert_eq!(
        rules.first_match(&record, now()).unwrap().assignee,
        "owner-de"
    );
    record.csat = None;
    record.attributes = Some(r#"{"shop": 7}"#);
    let opening = rules.first_match(&record, now()).unwrap();
    assert_eq!(
        (opening.rule.as_str(), opening.assignee.as_str()),
        ("by-shop", "bernd")
    );
}

#[test]
fn topics_markets_channels_and_record_age_narrow_a_rule() {
    let rules = rules(
        r#"
[[case_rules]]
id = "billing"
when = "nps <= 8"
topics = ["price_billing", "refund"]
channels = ["survey"]
owner = "billing-team"
max_record_age = "7d"
"#,
    );
    assert!(rules
        .first_match(&subject("PL", Some(4), "delivery|refund"), now())
        .is_some());
    assert!(rules
        .first_match(&subject("PL", Some(4), "delivery"), now())
        .is_none());
    assert!(rules
        .first_match(&subject("PL", Some(9), "refund"), now())
        .is_none());
    let mut other_channel = subject("PL", Some(4), "refund");
    other_channel.channel = "reviews";
    assert!(rules.first_match(&other_channel, now()).is_none());
    let mut old = subject("PL", Some(4), "refund");
    old.occurred_at = "2026-05-01T00:00:00".parse().unwrap();
    assert!(rules.first_match(&old, now()).is_none());
}

#[test]
fn configuration_mistakes_are_named() {
    let found = problems("[[case_rules]]\nid = \"a\"\nwhen = \"nps <= 11\"\n");
    assert!(found.contains("from 0 to 10"), "{found}");
    let found = problems("[[case_rules]]\nid = \"a\"\nwhen = \"mood < 3\"\n");
    assert!(found.contains("nps, csat, ces, stars"), "{found}");
    let found = problems("[[case_rules]]\nid = \"a\"\nwhen = \"nps <= 6\"\n");
    assert!(found.contains("market PL has no owner"), "{found}");
    let found = problems("[[case_rules]]\nid = \"a\"\nmarkets = [\"DE\"]\n");
    assert!(found.contains("give a score condition"), "{found}");
    let found =
        problems("[[case_rules]]\nid = \"a\"\nwhen = \"nps < 3\"\nowner = \"x\"\nsla = \"soon\"\n");
    assert!(found.contains("sla \"soon\""), "{found}");
    let found = problems(
        "[[case_rules]]\nid = \"a\"\nwhen = \"nps < 3\"\nowner = \"x\"\nowners = { shop = {} }\n",
    );
    assert!(found.contains("touchpoint or attributes.<key>"), "{found}");
    let found = problems("[[case_rules]]\nid = \"a\"\nwhen = \"nps < 3\"\nowner = \"x\"\nchannels = [\"sms\"]\n[[case_rules]]\nid = \"a\"\nwhen = \"nps < 3\"\nowner = \"x\"\n");
    assert!(found.contains("unknown channel \"sms\""), "{found}");
    assert!(found.contains("duplicate id"), "{found}");
}

proptest! {
    /// A score rule opens a case exactly for the scores its comparison admits.
    #[test]
    fn score_conditions_hold_exactly_where_they_say(
        threshold in 0u8..=10,
        score in 0u8..=10,
        comparison in prop::sample::select(vec!["<=", "<", ">=", ">", "="]),
    ) {
        let rules = rules(&format!(
            "[[case_rules]]\nid = \"r\"\nwhen = \"nps {comparison} {threshold}\"\nowner = \"o\"\n"
        ));
        let expected = match comparison {
            "<=" => score <= threshold,
            "<" => score < threshold,
            ">=" => score >= threshold,
            ">" => score > threshold,
            _ => score == threshold,
        };
        prop_assert_eq!(rules.first_match(&subject("DE", Some(score), ""), now()).is_some(), expected);
    }

    /// Whatever the condition text, compiling it answers (a rule or named problems).
    #[test]
    fn any_condition_text_compiles_or_is_named(when in "\\PC{0,30}") {
        let text = format!("[[case_rules]]\nid = \"r\"\nwhen = {when:?}\nowner = \"o\"\n");
        match settings(&text) {
            Ok(_) => {}
            Err(ConfigError::Invalid(problems)) => prop_assert!(problems.iter().all(|p| p.contains("case_rules r"))),
            Err(ConfigError::Parse { .. }) => {}
            Err(other) => prop_assert!(false, "{other}"),
        }
    }
}
