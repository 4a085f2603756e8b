//! The cubes equal a recount of `records` after any sequence of changes: random batches with
//! duplicate and changed deliveries (within and across batches, kept or updated), erasures,
//! re-tags, quarantines and compactions, on a real file. Erased records never come back.

use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::dates::DateRange;

/// One change to the warehouse.
#[derive(Debug, Clone)]
enum Change {
    /// A batch of records drawn from a small id pool, so duplicates are common.
    Batch(Vec<NewRecord>, OnChange),
    /// Erase one customer's records, or one external id.
    Erase(Erasure),
    /// Re-tag every commented record with topics chosen by a seed.
    Retag(u8),
    /// Quarantine records dated outside a range that excludes some days.
    Quarantine,
    /// Merge the cubes' delta rows.
    Compact,
}

fn any_record() -> impl Strategy<Value = NewRecord> {
    (
        0u8..40,
        prop::sample::select(vec!["DE", "FR"]),
        prop::sample::select(vec!["survey.a", "survey.b"]),
        0u32..6,
        prop::option::of(0u8..=10),
        prop::option::of(1u8..=5),
        prop::option::of(1u8..=7),
        prop::option::of(1u8..=5),
        prop::option::of(prop::collection::vec(
            prop::sample::select(vec!["delivery", "staff", "price"]),
            0..4,
        )),
    )
        .prop_map(
            |(id, market, channel, day, nps, csat, ces, stars, topics)| NewRecord {
                external_id: format!("r{id}"),
                market: market.into(),
                region: "europe".into(),
                channel: channel.into(),
                touchpoint: None,
                occurred_at: NaiveDate::from_ymd_opt(2026, 1, 1 + day)
                    .unwrap()
                    .and_hms_opt(23, 59, 59)
                    .unwrap(),
                nps,
                csat,
                ces,
                stars,
                text: topics.as_ref().map(|_| "a comment".to_owned()),
                language: None,
                language_confidence: None,
                language_decided_by: None,
                consent_contact: None,
                attributes: Some(format!("{{\"customer_id\": \"c{}\"}}", id % 5)),
                topics: topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                redactions: Vec::new(),
                text_original: None,
            },
        )
}

fn any_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        6 => (
            prop::collection::vec(any_record(), 0..12),
            prop::sample::select(vec![OnChange::KeepFirst, OnChange::Update]),
        )
            .prop_map(|(records, on_change)| Change::Batch(records, on_change)),
        1 => (0u8..5).prop_map(|c| Change::Erase(Erasure::Attribute {
            key: "customer_id".into(),
            value: format!("c{c}"),
        })),
        1 => (0u8..40, any::<bool>()).prop_map(|(id, scoped)| Change::Erase(Erasure::ExternalId {
            instance: scoped.then(|| "inv".to_owned()),
            external_id: format!("r{id}"),
        })),
        1 => any::<u8>().prop_map(Change::Retag),
        1 => Just(Change::Quarantine),
        1 => Just(Change::Compact),
    ]
}

/// Applies `change`; returns the external ids it erased.
fn apply(warehouse: &Warehouse, change: &Change, step: usize) -> Vec<String> {
    match change {
        Change::Erase(erasure) => {
            let before = stored_ids(warehouse);
            warehouse.erase(erasure, "test").unwrap();
            let after = stored_ids(warehouse);
            return before
                .into_iter()
                .filter(|id| !after.contains(id))
                .collect();
        }
        Change::Batch(records, on_change) => {
            let run = warehouse.start_run("inv", "api").unwrap();
            let cursor = step.to_string();
            warehouse
                .commit_batch(&BatchWrite {
                    run_id: run,
                    instance: "inv",
                    records_read: records.len() as u64,
                    records,
                    rejections: &[],
                    cursor: Some(&cursor),
                    on_change: *on_change,
                    case_rules: None,
                })
                .unwrap();
        }
        Change::Retag(seed) => {
            let topics = ["delivery", "staff", "price", "wait"];
            warehouse
                .retag(
                    |text, _| {
                        let pick = (usize::from(*seed) + text.len()) % topics.len();
                        topics[..pick].iter().map(|t| (*t).to_owned()).collect()
                    },
                    |_, _| {},
                )
                .unwrap();
        }
        Change::Compact => warehouse.compact_cubes().unwrap(),
        Change::Quarantine => {
            // Days after 2026-01-04 count as "outside" here, so some records move.
            let dates: DateRange =
                toml::from_str::<toml::Table>("earliest = \"1900-01-01\"\nlatest = \"2026-01-04\"")
                    .unwrap()
                    .try_into()
                    .unwrap();
            warehouse.verify(&dates, true, |_| {}).unwrap();
        }
    }
    Vec::new()
}

fn stored_ids(warehouse: &Warehouse) -> Vec<String> {
    warehouse
        .read(|c| {
            let mut statement = c.prepare("SELECT external_id FROM records")?;
            let ids = statement.query_map([], |r| r.get(0))?;
            Ok(ids.collect::<Result<_, _>>()?)
        })
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cubes_equal_a_recount_after_any_changes(changes in prop::collection::vec(any_change(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
        let mut erased = Vec::new();
        for (step, change) in changes.iter().enumerate() {
            erased.extend(apply(&warehouse, change, step));
            let stored = stored_ids(&warehouse);
            prop_assert!(erased.iter().all(|id| !stored.contains(id)), "an erased record came back");
        }
        let report = warehouse.verify(&DateRange::default(), false, |_| {}).unwrap();
        prop_assert_eq!(report.cube_differences, 0, "{:?}", report.cube_examples);
    }
}
