use chrono::NaiveDate;
use proptest::prelude::*;

use super::message::*;

fn expectations() -> Expectations {
    Expectations {
        markets: ["DE", "FR"].map(String::from).into(),
        global_markets: ["FR"].map(String::from).into(),
        channels: ["web"].map(String::from).into(),
    }
}

fn record(market: &str) -> ReplicaRecord {
    ReplicaRecord {
        source_instance: "fr-web".into(),
        external_id: "1".into(),
        market: market.into(),
        region: "west".into(),
        channel: "web".into(),
        touchpoint: None,
        occurred_at: "2026-03-01 10:00:00".into(),
        ingested_at: "2026-03-02 10:00:00.123456".into(),
        nps: Some(9),
        csat: None,
        ces: None,
        stars: None,
        text: Some("très bien".into()),
        language: Some("fr".into()),
        language_confidence: Some(0.9),
        language_decided_by: Some("detector".into()),
        consent_contact: Some(false),
        attributes: None,
        topics: Some(vec!["delivery".into()]),
        redactions: Some(vec![]),
    }
}

fn at() -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 3, 2)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap()
}

/// An empty batch change as a region writes it.
fn batch() -> Change {
    Change {
        origin: "3f1c".into(),
        ..Change::new(ChangeKind::Batch, at())
    }
}

#[test]
fn a_change_survives_encoding() {
    let mut change = batch();
    let day = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    change.scores.push((
        "DE".into(),
        "web".into(),
        day,
        "nps".into(),
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, -1],
    ));
    change.records.push(record("FR"));
    change.deleted.push(("fr-web".into(), "2".into()));
    let decoded = Change::decode(&change.encode(), &expectations()).unwrap();
    assert_eq!(decoded, change);
}

#[test]
fn headquarters_refuses_what_it_must_not_store() {
    let reject = |change: Change, why: &str| {
        let error = Change::decode(&change.encode(), &expectations()).unwrap_err();
        assert!(error.0.contains(why), "{error} should say {why}");
    };
    let mut regional = batch();
    regional.records.push(record("DE"));
    reject(regional, "not global");
    let mut unknown = batch();
    unknown.scores.push((
        "XX".into(),
        "web".into(),
        at().date(),
        "nps".into(),
        [0; SLOTS],
    ));
    reject(unknown, "unknown market");
    let mut off_scale = batch();
    off_scale.records.push(ReplicaRecord {
        csat: Some(6),
        ..record("FR")
    });
    reject(off_scale, "csat outside");
    let mut bad_time = batch();
    bad_time.records.push(ReplicaRecord {
        occurred_at: "yesterday".into(),
        ..record("FR")
    });
    reject(bad_time, "timestamp");
    let future = Change { v: 2, ..batch() };
    reject(future, "version 2");
    reject(
        Change {
            origin: String::new(),
            ..batch()
        },
        "origin",
    );
    let big = vec![b' '; MAX_BYTES + 1];
    assert!(Change::decode(&big, &expectations()).is_err());
    // A small message that inflates past the bound (a "zip bomb") is refused, not inflated.
    let bomb = {
        use std::io::Write;
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![b' '; MAX_JSON_BYTES + 10]).unwrap();
        e.finish().unwrap()
    };
    assert!(bomb.len() < MAX_BYTES);
    let error = Change::decode(&bomb, &expectations()).unwrap_err();
    assert!(error.0.contains("inflates past"), "{error}");
}

proptest! {
    #[test]
    fn decoding_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Change::decode(&body, &expectations());
    }
}

proptest! {
    // Each case encodes up to a few megabytes.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn splitting_loses_and_repeats_nothing(
        scores in 0usize..6_000, records in 0usize..1_200, deleted in 0usize..5_000
    ) {
        let mut change = Change::new(ChangeKind::Snapshot, at());
        let day = at().date();
        for i in 0..scores {
            change.scores.push(("DE".into(), "web".into(), day, "nps".into(), [i as i64; SLOTS]));
        }
        for i in 0..records {
            change.records.push(ReplicaRecord { external_id: i.to_string(), ..record("FR") });
        }
        for i in 0..deleted {
            change.deleted.push(("fr-web".into(), i.to_string()));
        }
        let parts = change.clone().split();
        prop_assert!(parts.iter().all(|p| !p.is_empty()
            && serde_json::to_vec(p).unwrap().len() <= MAX_JSON_BYTES
            && p.encode().len() <= MAX_BYTES));
        let small = scores * 300 + records * 800 + deleted * 40 < BUDGET;
        prop_assert!(!small || parts.len() <= 1, "a small change is one message");
        let joined: Vec<_> = parts.iter().flat_map(|p| p.scores.clone()).collect();
        prop_assert_eq!(joined, change.scores);
        let joined: Vec<_> = parts.iter().flat_map(|p| p.records.clone()).collect();
        prop_assert_eq!(joined, change.records);
        let joined: Vec<_> = parts.iter().flat_map(|p| p.deleted.clone()).collect();
        prop_assert_eq!(joined, change.deleted);
    }
}
