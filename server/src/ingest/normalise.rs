//! Validation and normalisation of one source record into a warehouse row.

use chorus_plugin_api::SourceRecord;
use chrono::{DateTime, NaiveDateTime};

use super::text::TextStage;
use crate::catalog::Catalog;
use crate::config::ConnectorConfig;
use crate::dates::RecordWindow;
use crate::domain::MarketCode;
use crate::warehouse::NewRecord;

/// Longest external id accepted.
const MAX_ID_CHARS: usize = 512;
/// Longest comment accepted; longer texts are almost always pasted logs, not feedback.
const MAX_TEXT_CHARS: usize = 20_000;
/// Longest touchpoint accepted (a store, page or agent group name).
const MAX_TOUCHPOINT_CHARS: usize = 200;
/// Largest attributes object accepted, as JSON text.
const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

/// Turns a plugin's record into a warehouse row, or says why it cannot be stored.
///
/// # Errors
/// A reason naming the field, e.g. `nps 11 is not in 0-10`.
pub fn normalise(
    record: SourceRecord,
    instance: &ConnectorConfig,
    catalog: &Catalog,
    text_stage: &TextStage,
    window: &RecordWindow,
) -> Result<NewRecord, String> {
    let external_id = record.external_id.trim().to_owned();
    if external_id.is_empty() {
        return Err("external_id is empty".into());
    }
    if external_id.chars().count() > MAX_ID_CHARS {
        return Err(format!(
            "external_id is longer than {MAX_ID_CHARS} characters"
        ));
    }
    if external_id.chars().any(char::is_control) {
        return Err("external_id contains control characters".into());
    }
    let occurred_at = parse_time(&record.occurred_at).ok_or_else(|| {
        format!(
            "occurred_at {:?} is not an RFC 3339 timestamp",
            record.occurred_at
        )
    })?;
    let occurred_at = window.check(occurred_at, record.occurred_at.trim())?;

    let market = resolve_market(record.market.as_deref(), instance)?;
    let market_info = catalog
        .market(&market)
        .ok_or_else(|| format!("market {market} is not configured"))?;
    let channel = match (record.channel.as_deref().map(str::trim), &instance.channel) {
        (Some(c), Some(fixed)) if c != fixed => {
            return Err(format!(
                "channel {c:?} differs from the instance's channel {fixed:?}"
            ))
        }
        (Some(c), _) => c.to_owned(),
        (None, Some(fixed)) => fixed.clone(),
        (None, None) => {
            return Err("no channel: the record has none and the instance sets none".into())
        }
    };
    if !catalog.has_channel(&channel) {
        return Err(format!("channel {channel:?} is not configured"));
    }

    let nps = score("nps", record.nps, 0, 10)?;
    let csat = score("csat", record.csat, 1, 5)?;
    let ces = score("ces", record.ces, 1, 7)?;
    let stars = score("stars", record.stars, 1, 5)?;
    // A NUL is never part of a comment (a broken export); DuckDB strings should not hold one.
    let text = record
        .text
        .map(|t| t.replace('\0', "").trim().to_owned())
        .filter(|t| !t.is_empty());
    let touchpoint = record
        .touchpoint
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    if let Some(touchpoint) = &touchpoint {
        if touchpoint.chars().count() > MAX_TOUCHPOINT_CHARS {
            return Err(format!(
                "touchpoint is longer than {MAX_TOUCHPOINT_CHARS} characters"
            ));
        }
        if touchpoint.chars().any(char::is_control) {
            return Err("touchpoint contains control characters".into());
        }
    }
    let attributes = (!record.attributes.is_empty())
        .then(|| serde_json::Value::Object(record.attributes).to_string());
    if attributes
        .as_ref()
        .is_some_and(|a| a.len() > MAX_ATTRIBUTES_BYTES)
    {
        return Err(format!(
            "attributes are larger than {MAX_ATTRIBUTES_BYTES} bytes of JSON"
        ));
    }
    if let Some(text) = &text {
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("text is longer than {MAX_TEXT_CHARS} characters"));
        }
    }
    if nps.is_none() && csat.is_none() && ces.is_none() && stars.is_none() && text.is_none() {
        return Err("record has neither a score nor a text".into());
    }
    let language = text.as_deref().and_then(|t| {
        let hint = record.language_hint.as_deref().and_then(language_subtag);
        market_info.languages.detect(t, hint)
    });
    let processed = text
        .as_deref()
        .map(|t| text_stage.process(t, language.as_ref().map(|l| l.code.as_str()), market_info));
    // Moved into the row, not copied.
    let (text, topics, redactions, text_original) = match processed {
        Some(p) => (Some(p.text), p.topics, p.redactions, p.original),
        None => (None, Vec::new(), Vec::new(), None),
    };

    Ok(NewRecord {
        external_id,
        region: market_info.region.clone(),
        market: market.as_str().to_owned(),
        channel,
        touchpoint,
        occurred_at,
        nps,
        csat,
        ces,
        stars,
        language_confidence: language.as_ref().map(|l| l.confidence),
        language_decided_by: language.as_ref().map(|l| l.decided_by.as_str()),
        language: language.map(|l| l.code),
        consent_contact: record.consent_contact,
        attributes,
        text,
        topics,
        redactions,
        text_original,
    })
}

/// An RFC 3339 time (or `YYYY-MM-DD HH:MM:SS`, UTC) in the microseconds DuckDB stores, so
/// what is stored is what reads back. A leap second (`23:59:60`) becomes the next second.
fn parse_time(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    let time = DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").ok())?;
    DateTime::from_timestamp_micros(time.and_utc().timestamp_micros()).map(|t| t.naive_utc())
}

/// The primary language subtag of a source's hint (`pt-BR` → `pt`), when it is two or
/// three letters; anything else is no hint. A hint can become the stored language.
fn language_subtag(hint: &str) -> Option<&str> {
    let primary = hint.trim().split(['-', '_']).next()?;
    ((2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic()))
        .then_some(primary)
}

fn resolve_market(raw: Option<&str>, instance: &ConnectorConfig) -> Result<MarketCode, String> {
    let market = match (raw.map(MarketCode::parse).transpose()?, &instance.market) {
        (Some(m), Some(fixed)) if &m != fixed => {
            return Err(format!(
                "market {m} differs from the instance's market {fixed}"
            ))
        }
        (Some(m), _) => m,
        (None, Some(fixed)) => fixed.clone(),
        (None, None) => {
            return Err("no market: the record has none and the instance sets none".into())
        }
    };
    if !instance.markets.is_empty() && !instance.markets.contains(&market) {
        return Err(format!(
            "market {market} is not among this instance's markets"
        ));
    }
    Ok(market)
}

fn score(name: &str, value: Option<i64>, low: i64, high: i64) -> Result<Option<u8>, String> {
    match value {
        None => Ok(None),
        Some(v) if (low..=high).contains(&v) => Ok(Some(v as u8)),
        Some(v) => Err(format!("{name} {v} is not in {low}-{high}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::tests::MINIMAL;
    use crate::config::Settings;

    fn fixture() -> (Settings, Catalog) {
        let extra = r#"
            [[markets]]
            code = "ES"
            name = "Spain"
            region = "west"
            languages = ["es"]
            [[connectors]]
            id = "fr"
            plugin = "p"
            market = "FR"
            channel = "survey.relational"
            [[connectors]]
            id = "multi"
            plugin = "p"
            markets = ["FR"]
        "#;
        let text = format!("{MINIMAL}{extra}");
        let settings = Settings::from_toml(&text, [], Path::new("t")).unwrap();
        let catalog = Catalog::new(&settings);
        (settings, catalog)
    }

    fn window() -> RecordWindow {
        crate::dates::DateRange::default().for_records_at(chrono::Utc::now())
    }

    fn source(nps: i64) -> SourceRecord {
        SourceRecord {
            external_id: " r1 ".into(),
            occurred_at: "2026-02-01T10:00:00+01:00".into(),
            nps: Some(nps),
            text: Some("Livraison rapide, très satisfait du service client".into()),
            ..SourceRecord::default()
        }
    }

    #[test]
    fn a_valid_record_takes_market_channel_and_region_from_its_instance() {
        let (settings, catalog) = fixture();
        let row = normalise(
            source(9),
            settings.connector("fr").unwrap(),
            &catalog,
            &TextStage::redaction_only(),
            &window(),
        )
        .unwrap();
        assert_eq!(row.external_id, "r1");
        assert_eq!((row.market.as_str(), row.region.as_str()), ("FR", "west"));
        assert_eq!(row.channel, "survey.relational");
        assert_eq!(row.occurred_at.to_string(), "2026-02-01 09:00:00");
        assert_eq!((row.nps, row.language.as_deref()), (Some(9), Some("fr")));
    }

    #[test]
    fn invalid_records_are_rejected_with_the_field_named() {
        let (settings, catalog) = fixture();
        let fr = settings.connector("fr").unwrap();
        let multi = settings.connector("multi").unwrap();
        let reject = |record: SourceRecord, instance| {
            normalise(
                record,
                instance,
                &catalog,
                &TextStage::redaction_only(),
                &window(),
            )
            .unwrap_err()
        };

        assert_eq!(reject(source(11), fr), "nps 11 is not in 0-10");
        assert_eq!(
            reject(
                SourceRecord {
                    external_id: "".into(),
                    ..source(5)
                },
                fr
            ),
            "external_id is empty"
        );
        assert!(reject(
            SourceRecord {
                occurred_at: "01/02/2026".into(),
                ..source(5)
            },
            fr
        )
        .contains("occurred_at"));
        assert!(reject(
            SourceRecord {
                occurred_at: "2999-01-01T00:00:00Z".into(),
                ..source(5)
            },
            fr
        )
        .contains("future"));
        assert!(reject(
            SourceRecord {
                market: Some("ES".into()),
                ..source(5)
            },
            fr
        )
        .contains("differs"));
        assert!(reject(
            SourceRecord {
                market: Some("ES".into()),
                ..source(5)
            },
            multi
        )
        .contains("not among"));
        assert!(reject(
            SourceRecord {
                market: Some("FR".into()),
                ..source(5)
            },
            multi
        )
        .contains("no channel"));
        assert!(reject(
            SourceRecord {
                csat: Some(0),
                ..source(5)
            },
            fr
        )
        .contains("csat 0"));
        let empty = SourceRecord {
            nps: None,
            text: Some("  ".into()),
            ..source(0)
        };
        assert_eq!(reject(empty, fr), "record has neither a score nor a text");
    }

    #[test]
    fn times_are_bounded_and_stored_as_they_read_back() {
        let (settings, catalog) = fixture();
        let fr = settings.connector("fr").unwrap();
        let at = |occurred_at: &str| {
            normalise(
                SourceRecord {
                    occurred_at: occurred_at.into(),
                    ..source(5)
                },
                fr,
                &catalog,
                &TextStage::redaction_only(),
                &window(),
            )
            .map(|r| r.occurred_at.to_string())
        };
        // Before 1970 with a fraction of a second: stored, to the microsecond.
        assert_eq!(
            at("1969-12-31T23:59:59.5Z").unwrap(),
            "1969-12-31 23:59:59.500"
        );
        assert_eq!(
            at("2026-01-01T00:00:00.123456789Z").unwrap(),
            "2026-01-01 00:00:00.123456"
        );
        // A leap second is the next second.
        assert_eq!(at("2016-12-31T23:59:60Z").unwrap(), "2017-01-01 00:00:00");
        for outside in [
            "0000-01-01T00:00:00Z",
            "1899-12-31T23:59:59Z",
            "+10000-01-01 00:00:00",
            "-0001-01-01 00:00:00",
        ] {
            let reason = at(outside).unwrap_err();
            assert!(reason.starts_with("occurred_at"), "{outside}: {reason}");
        }
        assert!(at("1899-12-31T23:59:59Z")
            .unwrap_err()
            .contains("outside the dates Chorus accepts (1900-01-01 to 2199-12-31)"));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn any_record() -> impl Strategy<Value = SourceRecord> {
            let text = prop::option::of("\\PC{0,40}");
            let score = prop::option::of(prop_oneof![-3i64..14, any::<i64>()]);
            let time = prop_oneof![
                "[-+]?[0-9]{1,6}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,12})?(Z|[-+][0-9]{2}:[0-9]{2})?",
                "\\PC{0,30}",
            ];
            (
                "\\PC{0,10}",
                time,
                prop::option::of("[A-Za-z]{0,3}"),
                prop::option::of(prop_oneof![
                    Just("survey.relational".to_owned()),
                    "\\PC{0,8}"
                ]),
                (score.clone(), score.clone(), score.clone(), score),
                text,
                prop::option::of("\\PC{0,12}"),
                prop::option::of("\\PC{0,12}"),
            )
                .prop_map(
                    |(
                        id,
                        time,
                        market,
                        channel,
                        (nps, csat, ces, stars),
                        text,
                        hint,
                        touchpoint,
                    )| {
                        SourceRecord {
                            language_hint: hint,
                            touchpoint,
                            external_id: id,
                            occurred_at: time,
                            market,
                            channel,
                            nps,
                            csat,
                            ces,
                            stars,
                            text,
                            ..SourceRecord::default()
                        }
                    },
                )
        }

        proptest! {
            #![proptest_config(crate::fuzz::config())]

            /// Any record: a row inside every bound, or a reason; never a panic.
            #[test]
            fn any_record_is_stored_within_bounds_or_refused(record in any_record()) {
                // Built once: the property is about records, not about parsing settings.
                static SHARED: std::sync::OnceLock<(Settings, Catalog, TextStage, RecordWindow)> =
                    std::sync::OnceLock::new();
                let (settings, catalog, text_stage, window) = SHARED.get_or_init(|| {
                    let (settings, catalog) = fixture();
                    (settings, catalog, TextStage::redaction_only(), window())
                });
                let multi = settings.connector("multi").unwrap();
                let fr = settings.connector("fr").unwrap();
                for instance in [fr, multi] {
                    match normalise(record.clone(), instance, catalog, text_stage, window) {
                        Ok(row) => {
                            prop_assert!(crate::dates::DateRange::default().contains_time(row.occurred_at));
                            prop_assert!(row.nps.is_none_or(|v| v <= 10));
                            prop_assert!(row.csat.is_none_or(|v| (1..=5).contains(&v)));
                            prop_assert!(!row.external_id.is_empty());
                            prop_assert!(row.language.as_deref().is_none_or(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase())), "{:?}", row.language);
                            prop_assert!(row.text.as_deref().is_none_or(|t| !t.contains('\0')));
                            prop_assert_eq!(row.occurred_at.and_utc().timestamp_subsec_nanos() % 1000, 0);
                        }
                        Err(reason) => prop_assert!(!reason.is_empty()),
                    }
                }
            }
        }
    }
}
