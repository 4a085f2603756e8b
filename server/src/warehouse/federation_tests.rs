//! Federation on real DuckDB files: what a region writes to its outbox, applied on a
//! headquarters file in any delivery order, gives exactly the region's cubes.

use std::collections::BTreeSet;

use super::*;
use crate::dates::DateRange;
use crate::federation::message::{Change, Expectations, InvalidMessage};

fn record(id: &str, nps: u8, market: &str) -> NewRecord {
    NewRecord {
        external_id: id.into(),
        market: market.into(),
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
        consent_contact: Some(false),
        attributes: Some(format!(r#"{{"customer_id":"c{}"}}"#, nps)),
        topics: vec!["delivery".into()],
        redactions: Vec::new(),
        text_original: Some("schlecht, Herr Meier".into()),
    }
}

fn store(warehouse: &Warehouse, records: &[NewRecord]) {
    let run_id = warehouse.start_run("de", "api").unwrap();
    warehouse
        .commit_batch(&BatchWrite {
            run_id,
            instance: "de",
            records_read: records.len() as u64,
            records,
            rejections: &[],
            cursor: None,
            on_change: OnChange::Update,
            case_rules: None,
        })
        .unwrap();
}

fn expect() -> Expectations {
    Expectations {
        markets: ["DE", "PL"].map(String::from).into(),
        global_markets: ["DE"].map(String::from).into(),
        channels: ["s"].map(String::from).into(),
    }
}

fn region(dir: &std::path::Path) -> Warehouse {
    let warehouse = Warehouse::open(&dir.join("region.duckdb")).unwrap();
    warehouse
        .start_outbox(
            OutboxPolicy {
                node: "central".into(),
                global_markets: BTreeSet::from(["DE".to_owned()]),
            },
            &DateRange::default(),
        )
        .unwrap();
    warehouse
}

fn messages(region: &Warehouse) -> Vec<Incoming> {
    region
        .outbox_after(0, 10_000)
        .unwrap()
        .into_iter()
        .map(|(seq, payload)| Incoming {
            node: "central".into(),
            seq,
            stream_seq: Some(seq as u64),
            change: Change::decode(&payload, &expect()),
        })
        .collect()
}

fn again(message: &Incoming) -> Incoming {
    Incoming {
        node: message.node.clone(),
        seq: message.seq,
        stream_seq: message.stream_seq,
        change: message.change.clone(),
    }
}

#[test]
fn headquarters_ends_equal_to_the_region_whatever_the_delivery_order() {
    let dir = tempfile::tempdir().unwrap();
    let region = region(dir.path());
    store(
        &region,
        &[
            record("1", 3, "DE"),
            record("2", 9, "PL"),
            record("3", 10, "DE"),
        ],
    );
    // A changed re-delivery (update) and an erasure.
    store(&region, &[record("1", 8, "DE"), record("2", 9, "PL")]);
    region
        .erase(
            &Erasure::Attribute {
                key: "customer_id".into(),
                value: "c10".into(),
            },
            "test",
        )
        .unwrap();
    let sent = messages(&region);
    assert_eq!(sent.len(), 3, "one message per change");

    let hq = Warehouse::open(&dir.path().join("hq.duckdb")).unwrap();
    // The last one first: it waits for the missing ones.
    let outcome = hq.apply_federated(&[again(&sent[2])]).unwrap();
    assert_eq!(outcome, vec![Applied::Waiting]);
    let nodes = hq.federation_nodes().unwrap();
    assert_eq!(nodes[0].waiting_for, Some(1));
    // Then everything, twice, in one delivery.
    let all: Vec<Incoming> = sent.iter().chain(&sent).map(again).collect();
    let outcome = hq.apply_federated(&all).unwrap();
    assert_eq!(
        outcome,
        [Applied::Applied; 3]
            .into_iter()
            .chain([Applied::Duplicate; 3])
            .collect::<Vec<_>>()
    );
    assert_eq!(hq.cube_totals().unwrap(), region.cube_totals().unwrap());
    assert_eq!(hq.federation_nodes().unwrap()[0].waiting_for, None);
    // Only the global market's records are there, redacted only.
    let counts = hq.market_record_counts().unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        vec![("DE".to_owned(), 1)]
    );
    assert_eq!(hq.original_texts().unwrap(), 0);
    assert!(hq.markets_as_of().unwrap().contains_key("PL"));
}

#[test]
fn a_node_that_joins_with_history_sends_its_cubes_first() {
    let dir = tempfile::tempdir().unwrap();
    {
        let standalone = Warehouse::open(&dir.path().join("region.duckdb")).unwrap();
        store(&standalone, &[record("1", 3, "DE"), record("2", 9, "PL")]);
    }
    let region = region(dir.path());
    store(&region, &[record("3", 0, "PL")]);
    let sent = messages(&region);
    let hq = Warehouse::open(&dir.path().join("hq.duckdb")).unwrap();
    hq.apply_federated(&sent).unwrap();
    assert_eq!(hq.cube_totals().unwrap(), region.cube_totals().unwrap());
    assert_eq!(hq.market_record_counts().unwrap().get("DE"), Some(&1));
    // Opening it again as a regional node sends no second snapshot.
    drop(region);
    let region = self::region(dir.path());
    assert_eq!(messages(&region).len(), sent.len());
}

#[test]
fn a_refused_message_stops_its_node_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let region = region(dir.path());
    store(&region, &[record("1", 3, "DE")]);
    store(&region, &[record("2", 4, "DE")]);
    let mut sent = messages(&region);
    sent[0].change = Err(InvalidMessage("unknown market \"XX\"".into()));
    let hq = Warehouse::open(&dir.path().join("hq.duckdb")).unwrap();
    let outcome = hq.apply_federated(&sent).unwrap();
    assert_eq!(outcome, vec![Applied::Waiting, Applied::Waiting]);
    let node = &hq.federation_nodes().unwrap()[0];
    assert_eq!((node.last_seq, node.waiting_for), (0, Some(1)));
    assert!(node.refused.as_deref().unwrap().contains("XX"));
    assert!(hq.cube_totals().unwrap().is_empty());
}

#[test]
fn a_node_whose_warehouse_was_re_created_is_stopped_not_taken_for_redeliveries() {
    let dir = tempfile::tempdir().unwrap();
    let hq = Warehouse::open(&dir.path().join("hq.duckdb")).unwrap();
    let first = tempfile::tempdir().unwrap();
    let region = self::region(first.path());
    store(&region, &[record("1", 3, "DE")]);
    store(&region, &[record("2", 4, "DE")]);
    hq.apply_federated(&messages(&region)).unwrap();
    let before = hq.cube_totals().unwrap();

    // The same node id on a new, empty file: its sequence starts again at 1.
    let second = tempfile::tempdir().unwrap();
    let recreated = self::region(second.path());
    store(&recreated, &[record("9", 10, "PL")]);
    store(&recreated, &[record("8", 10, "PL")]);
    store(&recreated, &[record("7", 10, "PL")]);
    let outcome = hq.apply_federated(&messages(&recreated)).unwrap();
    assert_eq!(outcome, vec![Applied::Waiting; 3]);
    let node = &hq.federation_nodes().unwrap()[0];
    assert_eq!((node.last_seq, node.waiting_for), (2, Some(3)));
    assert!(
        node.refused.as_deref().unwrap().contains("re-created"),
        "{node:?}"
    );
    assert_eq!(hq.cube_totals().unwrap(), before);
}

#[test]
fn a_file_with_misdated_records_joins_only_after_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("region.duckdb");
    {
        // A file from an earlier version, holding misdated records.
        let old = Warehouse::open(&path).unwrap();
        store(&old, &[record("1", 3, "DE"), record("2", 9, "PL")]);
        for (id, at) in [
            ("far", "9999-01-01 00:00:00"),
            ("year-zero", "0000-06-01 00:00:00"),
        ] {
            old.write(|c| {
                c.execute(
                    "INSERT INTO records (source_instance, external_id, market, region, \
                     channel, occurred_at, day, ingested_at, nps, run_id) \
                     VALUES ('de', ?, 'DE', 'central', 's', ?::TIMESTAMP, ?::TIMESTAMP::DATE, \
                             now()::TIMESTAMP, 9, 0)",
                    duckdb::params![id, at, at],
                )?;
                Ok(())
            })
            .unwrap();
        }
        old.rebuild_cubes().unwrap();
    }
    let policy = OutboxPolicy {
        node: "central".into(),
        global_markets: BTreeSet::from(["DE".to_owned()]),
    };
    let joining = Warehouse::open(&path).unwrap();
    let refused = joining
        .start_outbox(policy.clone(), &DateRange::default())
        .unwrap_err();
    assert!(
        refused.to_string().contains("verify --quarantine"),
        "{refused}"
    );
    let report = joining.verify(&DateRange::default(), true, |_| {}).unwrap();
    assert_eq!(report.quarantined, 2);
    drop(joining);

    let region = region(dir.path());
    let hq = Warehouse::open(&dir.path().join("hq.duckdb")).unwrap();
    hq.apply_federated(&messages(&region)).unwrap();
    assert_eq!(hq.cube_totals().unwrap(), region.cube_totals().unwrap());
}

#[test]
fn records_quarantined_on_a_region_leave_headquarters_too() {
    let dir = tempfile::tempdir().unwrap();
    let region = region(dir.path());
    // record() is dated 2026-03-01; a narrower accepted range makes some misdated.
    let mut late = record("3", 10, "DE");
    late.occurred_at = "2026-05-01T12:00:00".parse().unwrap();
    let mut later = record("4", 0, "PL");
    later.occurred_at = "2026-06-01T12:00:00".parse().unwrap();
    store(&region, &[record("1", 3, "DE"), late, later]);
    let hq = Warehouse::open(&dir.path().join("hq.duckdb")).unwrap();
    hq.apply_federated(&messages(&region)).unwrap();
    assert_eq!(hq.market_record_counts().unwrap().get("DE"), Some(&2));

    let narrower = DateRange::new(
        chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        chrono::NaiveDate::from_ymd_opt(2026, 4, 1).unwrap(),
    )
    .unwrap();
    let report = region.verify(&narrower, true, |_| {}).unwrap();
    assert_eq!(report.quarantined, 2, "{report:?}");
    let outcome = hq.apply_federated(&messages(&region)).unwrap();
    assert!(outcome.contains(&Applied::Applied), "{outcome:?}");
    assert_eq!(hq.cube_totals().unwrap(), region.cube_totals().unwrap());
    assert_eq!(hq.market_record_counts().unwrap().get("DE"), Some(&1));
}
