//! The warehouse on a real DuckDB file.

use chrono::NaiveDate;

use super::queries::CellQuery;
use super::*;
use crate::analysis::scale::Measure;

fn record(id: &str, market: &str, channel: &str, nps: u8) -> NewRecord {
    NewRecord {
        external_id: id.into(),
        market: market.into(),
        region: "r".into(),
        channel: channel.into(),
        touchpoint: None,
        occurred_at: NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap(),
        nps: Some(nps),
        csat: None,
        ces: None,
        stars: None,
        text: Some("gut".into()),
        language: Some("de".into()),
        language_confidence: Some(0.9),
        language_decided_by: Some("detector"),
        consent_contact: None,
        attributes: None,
        topics: Vec::new(),
        redactions: Vec::new(),
        text_original: None,
    }
}

fn batch<'a>(run_id: i64, records: &'a [NewRecord], cursor: &'a str) -> BatchWrite<'a> {
    BatchWrite {
        run_id,
        instance: "de-survey",
        records_read: records.len() as u64,
        records,
        rejections: &[],
        cursor: Some(cursor),
        on_change: crate::warehouse::OnChange::KeepFirst,
        case_rules: None,
    }
}

#[test]
fn a_batch_stored_twice_adds_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let run = warehouse.start_run("de-survey", "api").unwrap();
    let records = [
        record("1", "DE", "s", 10),
        record("2", "DE", "s", 3),
        record("2", "DE", "s", 3),
    ];
    let first = warehouse.commit_batch(&batch(run, &records, "c1")).unwrap();
    assert_eq!(
        first,
        BatchOutcome {
            updated: 0,
            inserted: 2,
            duplicates: 1
        }
    );
    let second = warehouse.commit_batch(&batch(run, &records, "c2")).unwrap();
    assert_eq!(
        second,
        BatchOutcome {
            updated: 0,
            inserted: 0,
            duplicates: 3
        }
    );
    assert_eq!(warehouse.record_count().unwrap(), 2);
    assert_eq!(
        warehouse.cursor("de-survey").unwrap().as_deref(),
        Some("c2")
    );
    let summary = warehouse.run(run).unwrap().unwrap();
    assert_eq!(
        (summary.records_read, summary.inserted, summary.duplicates),
        (6, 2, 4)
    );
}

#[test]
fn a_failing_batch_stores_neither_records_nor_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let run = warehouse.start_run("de-survey", "api").unwrap();
    warehouse
        .commit_batch(&batch(run, &[record("1", "DE", "s", 9)], "good"))
        .unwrap();
    // 42 passes no validation; the CHECK constraint is the last line of defence.
    let bad = [record("2", "DE", "s", 8), record("3", "DE", "s", 42)];
    assert!(warehouse.commit_batch(&batch(run, &bad, "bad")).is_err());
    assert_eq!(warehouse.record_count().unwrap(), 1);
    assert_eq!(
        warehouse.cursor("de-survey").unwrap().as_deref(),
        Some("good")
    );
    // The writer is usable afterwards and the staging table was rolled back too.
    let next = warehouse
        .commit_batch(&batch(run, &[record("2", "DE", "s", 8)], "next"))
        .unwrap();
    assert_eq!(next.inserted, 1);
}

#[test]
fn reopening_keeps_data_and_marks_unfinished_runs_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.duckdb");
    let run = {
        let warehouse = Warehouse::open(&path).unwrap();
        let run = warehouse.start_run("de-survey", "api").unwrap();
        warehouse
            .commit_batch(&batch(run, &[record("1", "DE", "s", 9)], "c"))
            .unwrap();
        run
    };
    let warehouse = Warehouse::open(&path).unwrap();
    assert_eq!(warehouse.record_count().unwrap(), 1);
    let summary = warehouse.run(run).unwrap().unwrap();
    assert_eq!(summary.status, RunStatus::Interrupted);
    assert_eq!(warehouse.last_runs().unwrap().len(), 1);
}

#[test]
fn score_cells_are_split_by_market_and_channel_and_filtered_by_scope() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let run = warehouse.start_run("de-survey", "api").unwrap();
    let records = [
        record("1", "DE", "call", 10),
        record("2", "DE", "call", 7),
        record("3", "DE", "app", 2),
        record("4", "FR", "call", 9),
    ];
    warehouse.commit_batch(&batch(run, &records, "c")).unwrap();
    let all = warehouse
        .score_cells(&CellQuery::all(Measure::Nps))
        .unwrap();
    let summary: Vec<(&str, &str, u64, u64, u64)> = all
        .iter()
        .map(|(key, histogram)| {
            let counts = histogram.nps_counts();
            (
                key.market.as_str(),
                key.channel.as_str(),
                counts.n,
                counts.promoters,
                counts.detractors,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("DE", "app", 1, 0, 1),
            ("DE", "call", 2, 1, 0),
            ("FR", "call", 1, 1, 0)
        ]
    );
    // No CSAT was given: no CSAT cells, and NPS never shows up as another measure.
    assert!(warehouse
        .score_cells(&CellQuery::all(Measure::Csat))
        .unwrap()
        .is_empty());

    let scoped = CellQuery {
        markets: Some(vec!["FR".into()]),
        ..CellQuery::all(Measure::Nps)
    };
    assert_eq!(warehouse.score_cells(&scoped).unwrap().len(), 1);
    // The channel mix ignores the market filter: it must not depend on who asks.
    let mix = warehouse.responses_per_channel(&scoped).unwrap();
    assert_eq!(
        mix,
        [("app".to_string(), 1), ("call".to_string(), 3)].into()
    );
    let nothing = CellQuery {
        markets: Some(vec![]),
        ..CellQuery::all(Measure::Nps)
    };
    assert!(warehouse.score_cells(&nothing).unwrap().is_empty());
    let later = CellQuery {
        from: NaiveDate::from_ymd_opt(2026, 3, 2),
        ..CellQuery::all(Measure::Nps)
    };
    assert!(warehouse.score_cells(&later).unwrap().is_empty());
    let same_day = CellQuery {
        from: NaiveDate::from_ymd_opt(2026, 3, 1),
        to: NaiveDate::from_ymd_opt(2026, 3, 1),
        period: Some(super::queries::Period::Month),
        ..CellQuery::all(Measure::Nps)
    };
    let cells = warehouse.score_cells(&same_day).unwrap();
    assert_eq!(cells.len(), 3);
    assert_eq!(
        cells.keys().next().unwrap().month.as_deref(),
        Some("2026-03")
    );
}

/// What an earlier version could store: any date, written straight into the file.
fn stored_at(warehouse: &Warehouse, id: &str, occurred_at: &str) {
    warehouse
        .write(|c| {
            c.execute(
                "INSERT INTO records (source_instance, external_id, market, region, channel, \
                 occurred_at, day, ingested_at, nps, run_id) \
                 VALUES ('de-survey', ?, 'DE', 'r', 's', ?::TIMESTAMP, ?::TIMESTAMP::DATE, \
                         now()::TIMESTAMP, 9, 0)",
                duckdb::params![id, occurred_at, occurred_at],
            )?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn records_before_1970_with_fractions_read_back_and_page() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let mut early = record("early", "DE", "s", 9);
    early.occurred_at = NaiveDate::from_ymd_opt(1969, 12, 31)
        .unwrap()
        .and_hms_milli_opt(23, 59, 59, 500)
        .unwrap();
    let run = warehouse.start_run("de-survey", "api").unwrap();
    warehouse
        .commit_batch(&batch(
            run,
            &[early.clone(), record("late", "DE", "s", 3)],
            "c",
        ))
        .unwrap();
    let query = |after| records::RecordQuery {
        cells: CellQuery::all(Measure::Nps),
        languages: Some(Vec::new()),
        topic: None,
        score_min: None,
        score_max: None,
        contains: None,
        after,
        limit: 10,
    };
    // An empty language list selects nothing, and is valid SQL.
    assert!(warehouse.records(&query(None)).unwrap().is_empty());
    let all = records::RecordQuery {
        languages: None,
        ..query(None)
    };
    let read = warehouse.records(&all).unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[1].occurred_at, early.occurred_at);
}

#[test]
fn verify_finds_misdated_records_and_quarantine_keeps_them_aside() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let run = warehouse.start_run("de-survey", "api").unwrap();
    warehouse
        .commit_batch(&batch(run, &[record("fine", "DE", "s", 9)], "c"))
        .unwrap();
    // Year 0 is 1 BC in DuckDB's proleptic calendar, and it says so.
    stored_at(&warehouse, "year-zero", "0000-06-01 00:00:00");
    stored_at(&warehouse, "far", "9999-01-01 00:00:00");
    stored_at(&warehouse, "1969", "1969-12-31 23:59:59.5");
    // As in an earlier version's file: the migration builds the cubes from its records.
    warehouse.rebuild_cubes().unwrap();
    let dates = crate::dates::DateRange::default();
    assert_eq!(warehouse.misdated_records(&dates).unwrap(), 2);

    let report = warehouse.verify(&dates, false, |_| {}).unwrap();
    assert_eq!(
        (report.records, report.unreadable, report.out_of_range),
        (4, 0, 2)
    );
    assert!(!report.is_clean());
    assert!(
        report
            .examples
            .iter()
            .any(|e| e.starts_with("de-survey / year-zero: occurred_at 0001-06-01 (BC)")),
        "{:?}",
        report.examples
    );
    assert_eq!(warehouse.record_count().unwrap(), 4);

    assert_eq!(report.cube_differences, 0, "{:?}", report.cube_examples);
    let repaired = warehouse.verify(&dates, true, |_| {}).unwrap();
    assert_eq!(repaired.quarantined, 2);
    assert!(repaired.is_clean(), "{repaired:?}");
    // Out of every figure: the cubes no longer count them.
    let nps = warehouse
        .score_cells(&CellQuery::all(Measure::Nps))
        .unwrap();
    assert_eq!(nps.values().map(|h| h.n()).sum::<u64>(), 2);
    assert_eq!(warehouse.record_count().unwrap(), 2);
    let kept: i64 = warehouse
        .read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM quarantined_records WHERE reason LIKE 'occurred_at outside%'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(kept, 2);
    assert!(warehouse.verify(&dates, false, |_| {}).unwrap().is_clean());
}

#[test]
fn verify_names_every_cube_row_that_differs_from_a_recount() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let run = warehouse.start_run("de-survey", "api").unwrap();
    warehouse
        .commit_batch(&batch(run, &[record("1", "DE", "s", 9)], "c"))
        .unwrap();
    let dates = crate::dates::DateRange::default();
    let report = warehouse.verify(&dates, false, |_| {}).unwrap();
    assert!(report.is_clean(), "{report:?}");
    // A record written around commit_batch is not counted: verify says where.
    stored_at(&warehouse, "sneaked-in", "2026-03-01 08:00:00");
    let report = warehouse.verify(&dates, false, |_| {}).unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.cube_differences, 1, "{:?}", report.cube_examples);
    assert_eq!(
        report.cube_examples,
        [
            "score_counts DE / s / 2026-03-01 / nps: kept [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], \
          recount [0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0]"
        ]
    );
    warehouse.rebuild_cubes().unwrap();
    assert!(warehouse.verify(&dates, false, |_| {}).unwrap().is_clean());
}

#[test]
fn a_fresh_file_reopens_from_its_write_ahead_log() {
    // A crash right after the migrations and a batch leaves them only in the WAL; DuckDB must be able to
    // replay every one of them (it cannot replay some ALTERs).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.duckdb");
    {
        let warehouse = Warehouse::open(&path).unwrap();
        warehouse
            .write(|c| Ok(c.execute_batch("PRAGMA disable_checkpoint_on_shutdown")?))
            .unwrap();
        let run = warehouse.start_run("de-survey", "api").unwrap();
        warehouse
            .commit_batch(&batch(run, &[record("1", "DE", "s", 9)], "c"))
            .unwrap();
    }
    assert!(dir.path().join("w.duckdb.wal").exists());
    Warehouse::open(&path).unwrap();
}

#[test]
fn driver_patterns_count_topics_and_numeric_attributes_of_commented_records() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let run = warehouse.start_run("de-survey", "api").unwrap();
    let with = |id: &str, nps: u8, topics: &[&str], ease: Option<&str>| NewRecord {
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        attributes: ease.map(|e| format!("{{\"ease\": {e}}}")),
        ..record(id, "DE", "s", nps)
    };
    let records = [
        with("1", 3, &["delivery"], Some("2")),
        with("2", 3, &["delivery"], Some("2")),
        with("3", 9, &["staff", "delivery"], Some("5")),
        with("4", 9, &[], Some("\"4\"")),
        with("5", 8, &["delivery"], None),
        with("6", 7, &["delivery"], Some("\"many\"")),
        with("7", 7, &["delivery"], Some("\"NaN\"")),
        with("8", 7, &["delivery"], Some("\"inf\"")),
        with("9", 7, &["delivery"], Some("1e300")),
    ];
    warehouse.commit_batch(&batch(run, &records, "c1")).unwrap();
    let topics = ["delivery".to_owned(), "staff".to_owned()];
    let query = CellQuery::all(Measure::Nps);
    let plain = warehouse.driver_patterns(&query, &topics, &[]).unwrap();
    let patterns: Vec<(u8, u32, u64)> = plain.iter().map(|p| (p.score, p.mentions, p.n)).collect();
    assert_eq!(
        patterns,
        vec![
            (3, 0b01, 2),
            (7, 0b01, 4),
            (8, 0b01, 1),
            (9, 0b00, 1),
            (9, 0b11, 1)
        ]
    );
    // With a numeric driver, only records with a bounded number in it count: not "many",
    // NaN, inf or 1e300.
    let numeric = warehouse
        .driver_patterns(&query, &topics, &["ease".to_owned()])
        .unwrap();
    let values: Vec<(u8, Vec<f64>, u64)> = numeric
        .iter()
        .map(|p| (p.score, p.values.clone(), p.n))
        .collect();
    assert_eq!(
        values,
        vec![(3, vec![2.0], 2), (9, vec![4.0], 1), (9, vec![5.0], 1)]
    );
}

/// The cube days of `market`'s NPS responses, with how many on each.
fn cube_days(warehouse: &Warehouse, market: &str) -> Vec<(String, i64)> {
    warehouse
        .read(|c| {
            let mut statement = c.prepare(
                "SELECT day::VARCHAR, sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10)::BIGINT \
                 FROM score_counts WHERE market = ? AND measure = 'nps' GROUP BY day \
                 HAVING sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10) <> 0 ORDER BY day",
            )?;
            let rows = statement.query_map([market], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .unwrap()
}

#[test]
fn records_count_on_their_markets_days_and_move_when_the_zone_changes() {
    use crate::market_days::{MarketZone, MarketZones};
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let at = |text: &str| text.parse::<chrono::NaiveDateTime>().unwrap();
    // 22:30Z on 29 March is 00:30 on the 30th in Berlin (summer time began that night).
    let mut late = record("late", "DE", "s", 9);
    late.occurred_at = at("2026-03-29T22:30:00");
    let mut french = record("fr", "FR", "s", 9);
    french.occurred_at = at("2026-03-29T22:30:00");
    let run = warehouse.start_run("de-survey", "api").unwrap();
    warehouse
        .commit_batch(&batch(run, &[late.clone(), french.clone()], "c1"))
        .unwrap();
    assert_eq!(cube_days(&warehouse, "DE"), [("2026-03-29".to_owned(), 1)]);

    let berlin = MarketZone::parse("Europe/Berlin").unwrap();
    let redated = warehouse
        .use_market_zones(MarketZones::new([("DE".to_owned(), berlin)]))
        .unwrap();
    assert_eq!(redated.len(), 1, "{redated:?}");
    assert_eq!((redated[0].market.as_str(), redated[0].records), ("DE", 1));
    assert_eq!(cube_days(&warehouse, "DE"), [("2026-03-30".to_owned(), 1)]);
    assert_eq!(cube_days(&warehouse, "FR"), [("2026-03-29".to_owned(), 1)]);
    let dates = crate::dates::DateRange::default();
    assert!(warehouse.verify(&dates, false, |_| {}).unwrap().is_clean());

    // New records are dated in the zone; the same zone again moves nothing.
    let mut early = record("early", "DE", "s", 9);
    early.occurred_at = at("2026-03-28T22:30:00");
    let run = warehouse.start_run("de-survey", "api").unwrap();
    warehouse.commit_batch(&batch(run, &[early], "c2")).unwrap();
    assert_eq!(
        cube_days(&warehouse, "DE"),
        [("2026-03-28".to_owned(), 1), ("2026-03-30".to_owned(), 1)]
    );
    let again = warehouse
        .use_market_zones(MarketZones::new([("DE".to_owned(), berlin)]))
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    // Back to UTC (the market's zone removed from the config).
    let back = warehouse.use_market_zones(MarketZones::default()).unwrap();
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(
        cube_days(&warehouse, "DE"),
        [("2026-03-28".to_owned(), 1), ("2026-03-29".to_owned(), 1)]
    );
    assert!(warehouse.verify(&dates, false, |_| {}).unwrap().is_clean());
}

#[test]
fn the_driver_cube_gives_the_patterns_the_records_give() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let with = |id: &str, channel: &str, nps: u8, topics: &[&str]| NewRecord {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        csat: Some(1 + nps % 5),
        ..record(id, "DE", channel, nps)
    };
    let records = [
        with("1", "s", 9, &["b", "a"]),
        with("2", "s", 9, &["a", "b", "a"]),
        with("3", "s", 2, &[]),
        with("4", "t", 2, &["c"]),
        with("5", "t", 7, &["zz", "a"]),
        NewRecord {
            text: None,
            ..with("6", "t", 7, &[])
        },
    ];
    let run = warehouse.start_run("de-survey", "api").unwrap();
    warehouse.commit_batch(&batch(run, &records, "c1")).unwrap();
    let topics: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    for measure in [Measure::Nps, Measure::Csat] {
        let cells = CellQuery::all(measure);
        let from_records = warehouse.driver_patterns(&cells, &topics, &[]).unwrap();
        let from_counts = warehouse
            .driver_patterns_from_counts(&cells, &topics)
            .unwrap();
        assert_eq!(from_counts, from_records, "{measure:?}");
        assert_eq!(from_records.iter().map(|p| p.n).sum::<u64>(), 5);
    }
    // Erased, the record leaves the driver cube too.
    warehouse
        .erase(
            &Erasure::ExternalId {
                instance: Some("de-survey".into()),
                external_id: "1".into(),
            },
            "test",
        )
        .unwrap();
    let cells = CellQuery::all(Measure::Nps);
    assert_eq!(
        warehouse
            .driver_patterns_from_counts(&cells, &topics)
            .unwrap(),
        warehouse.driver_patterns(&cells, &topics, &[]).unwrap()
    );
    let dates = crate::dates::DateRange::default();
    assert!(warehouse.verify(&dates, false, |_| {}).unwrap().is_clean());
}

#[test]
fn duckdb_reads_and_writes_parquet_and_json_without_fetching_extensions() {
    // Both builds (the official shared library and `--features bundled`) must have Parquet
    // (export) and JSON (stored attributes) linked in: there is no network to fetch them.
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let loaded: Vec<String> = warehouse
        .read(|c| {
            let mut statement = c.prepare(
                "SELECT extension_name FROM duckdb_extensions() WHERE loaded ORDER BY 1",
            )?;
            let names = statement.query_map([], |row| row.get(0))?;
            Ok(names.collect::<Result<_, _>>()?)
        })
        .unwrap();
    assert!(
        loaded.contains(&"parquet".to_owned()) && loaded.contains(&"json".to_owned()),
        "{loaded:?}"
    );
}

#[test]
fn the_warehouse_dates_in_utc_whatever_the_machines_time_zone() {
    // 23:30 UTC is the next day east of Greenwich: a session in the machine's zone (ICU's
    // default) would move it.
    let dir = tempfile::tempdir().unwrap();
    let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
    let day: String = warehouse
        .read(|c| {
            Ok(c.query_row(
                "SELECT strftime(CAST(TIMESTAMPTZ '2026-01-01 23:30:00+00' AS TIMESTAMP), '%Y-%m-%d %H:%M')",
                [],
                |row| row.get(0),
            )?)
        })
        .unwrap();
    assert_eq!(day, "2026-01-01 23:30");
}
