//! The connector through its Rust trait, on files written by each test.

use std::io::Write;
use std::path::Path;

use chorus_plugin_api::{Batch, Connector};
use serde_json::json;

use crate::SurveyCsv;

const HEADER: &str = "response_id;submitted_at;nps;comment;country;store\n";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

fn open(path: &Path) -> SurveyCsv {
    SurveyCsv::open(json!({
        "path": path,
        "delimiter": ";",
        "columns": {"id": "response_id", "timestamp": "submitted_at", "nps": "nps",
                    "comment": "comment", "market": "country"}
    }))
    .unwrap()
}

/// Reads batches of `size` until the connector says it has no more.
fn drain(connector: &mut SurveyCsv, cursor: &mut Option<String>, size: usize) -> Batch {
    let mut all = Batch::default();
    loop {
        let batch = connector.read(cursor.as_deref(), size).unwrap();
        *cursor = batch.cursor.clone();
        all.records.extend(batch.records);
        all.rejected.extend(batch.rejected);
        if !batch.has_more {
            return all;
        }
    }
}

fn ids(batch: &Batch) -> Vec<&str> {
    batch
        .records
        .iter()
        .map(|r| r.external_id.as_str())
        .collect()
}

#[test]
fn reads_mapped_columns_and_keeps_the_rest_as_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.csv");
    write(
        &file,
        &format!("{HEADER}r1;2026-03-01 10:00:00;9;Sehr gut;DE;Berlin\n"),
    );
    let batch = open(&file).read(None, 100).unwrap();
    let record = &batch.records[0];
    assert_eq!(record.external_id, "r1");
    assert_eq!(record.occurred_at, "2026-03-01T10:00:00Z");
    assert_eq!(record.nps, Some(9));
    assert_eq!(record.text.as_deref(), Some("Sehr gut"));
    assert_eq!(record.market.as_deref(), Some("DE"));
    assert_eq!(record.attributes["store"], json!("Berlin"));
    assert!(!batch.has_more);
}

#[test]
fn bad_rows_are_reported_with_file_line_and_reason_and_do_not_stop_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.csv");
    write(
        &file,
        &format!(
            "{HEADER}r1;2026-03-01;11;too high;DE;x\nr2;yesterday;5;;DE;x\n;2026-03-01;5;;DE;x\nr4;2026-03-02T08:00:00+01:00;0;ok;DE;x\n"
        ),
    );
    let batch = open(&file).read(None, 100).unwrap();
    assert_eq!(ids(&batch), ["r4"]);
    assert_eq!(batch.records[0].occurred_at, "2026-03-02T07:00:00Z");
    let rejected: Vec<(String, String)> = batch
        .rejected
        .iter()
        .map(|r| (r.location.clone(), r.reason.clone()))
        .collect();
    assert_eq!(
        rejected,
        [
            (
                "export.csv:2".to_owned(),
                "NPS score \"11\" is not an integer in 0-10 nor a configured label".to_owned()
            ),
            (
                "export.csv:3".to_owned(),
                "unparsable timestamp \"yesterday\"".to_owned()
            ),
            ("export.csv:4".to_owned(), "missing response id".to_owned()),
        ]
    );
}

#[test]
fn rows_and_files_already_read_are_not_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("2026-01.csv");
    write(
        &first,
        &format!("{HEADER}a1;2026-01-01;9;;DE;x\na2;2026-01-02;7;;DE;x\n"),
    );
    let mut connector = open(dir.path());
    let mut cursor = None;
    assert_eq!(ids(&drain(&mut connector, &mut cursor, 10)), ["a1", "a2"]);
    assert!(drain(&mut connector, &mut cursor, 10).records.is_empty());

    append(&first, "a3;2026-01-03;3;;DE;x\n");
    write(
        &dir.path().join("2026-02.csv"),
        &format!("{HEADER}b1;2026-02-01;10;;DE;x\n"),
    );
    write(&dir.path().join("notes.txt"), "not an export");
    assert_eq!(ids(&drain(&mut connector, &mut cursor, 10)), ["a3", "b1"]);
    assert!(drain(&mut connector, &mut cursor, 10).records.is_empty());
}

#[test]
fn small_batches_read_the_same_rows_as_one_big_batch() {
    let dir = tempfile::tempdir().unwrap();
    for (name, prefix) in [("1.csv", "x"), ("2.csv", "y"), ("3.csv", "z")] {
        let rows: String = (0..5)
            .map(|i| format!("{prefix}{i};2026-01-01;{i};;DE;s\n"))
            .collect();
        write(&dir.path().join(name), &format!("{HEADER}{rows}"));
    }
    let mut connector = open(dir.path());
    let whole = drain(&mut connector, &mut None, 1000);
    for size in [1, 2, 4, 5, 7] {
        let batched = drain(&mut connector, &mut None, size);
        assert_eq!(ids(&batched), ids(&whole), "batch size {size}");
    }
    assert_eq!(whole.records.len(), 15);
}

#[test]
fn a_missing_column_or_path_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.csv");
    write(&file, "id;when\n1;2026-01-01\n");
    let err = open(&file).read(None, 10).unwrap_err();
    assert!(
        err.message().contains("column \"response_id\" not found"),
        "{err}"
    );

    let err = open(&dir.path().join("missing")).check().unwrap_err();
    assert!(err.message().contains("missing"), "{err}");

    let err = SurveyCsv::open(json!({"path": "x", "columns": {"id": "i"}})).unwrap_err();
    assert!(err.message().contains("timestamp"), "{err}");
}

fn fixture(name: &str) -> std::path::PathBuf {
    // Run time, not compile time: see the zendesk tests' `fixture`.
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("fixtures")
        .join(name)
}

#[test]
fn a_qualtrics_export_skips_its_extra_header_rows_and_maps_labels() {
    let mut connector = SurveyCsv::open(json!({
        "path": fixture("qualtrics-export.csv"),
        "format": "qualtrics",
        "columns": {"id": "ResponseId", "timestamp": "RecordedDate", "nps": "Q1",
                    "csat": "Q2", "comment": "Q3", "language": "UserLanguage"},
        "value_labels": {"csat": {"Begeistert": 5, "Sehr zufrieden": 5, "Eher zufrieden": 4,
                                  "Unzufrieden": 2, "Sehr unzufrieden": 1}}
    }))
    .unwrap();
    let mut cursor = None;
    let all = drain(&mut connector, &mut cursor, 2);
    assert!(all.rejected.is_empty(), "{:?}", all.rejected);
    let got: Vec<(&str, Option<i64>, Option<i64>)> = all
        .records
        .iter()
        .map(|r| (r.external_id.as_str(), r.nps, r.csat))
        .collect();
    assert_eq!(
        got,
        [
            ("R_1ABCdefGHIjkl01", Some(10), Some(5)),
            ("R_2ABCdefGHIjkl02", Some(3), Some(2)),
            ("R_3ABCdefGHIjkl03", Some(8), Some(4)),
            ("R_4ABCdefGHIjkl04", Some(9), Some(5)),
        ]
    );
    assert_eq!(all.records[0].language_hint.as_deref(), Some("DE"));
    assert_eq!(all.records[0].attributes["Q1_NPS_GROUP"], "Promoter");
    // Resuming never re-reads the header rows as data.
    let again = connector.read(cursor.as_deref(), 10).unwrap();
    assert!(again.records.is_empty() && again.rejected.is_empty());
}

#[test]
fn a_surveymonkey_export_with_english_labels_and_us_dates() {
    let mut connector = SurveyCsv::open(json!({
        "path": fixture("surveymonkey-export.csv"),
        "format": "surveymonkey",
        "timestamp_format": "%m/%d/%Y %I:%M:%S %p",
        "columns": {
            "id": "Respondent ID", "timestamp": "End Date",
            "nps": "How likely is it that you would recommend Acme to a friend or colleague?",
            "csat": "How satisfied were you with your visit?",
            "comment": "Any other comments?"
        },
        "value_labels": {"csat": {"Very satisfied": 5, "Satisfied": 4,
                                  "Neither satisfied nor dissatisfied": 3,
                                  "Dissatisfied": 2, "Very dissatisfied": 1}}
    }))
    .unwrap();
    let mut cursor = None;
    let all = drain(&mut connector, &mut cursor, 10);
    assert!(all.rejected.is_empty(), "{:?}", all.rejected);
    let csat: Vec<Option<i64>> = all.records.iter().map(|r| r.csat).collect();
    assert_eq!(csat, [Some(5), Some(1), Some(3)]);
    assert_eq!(all.records[1].occurred_at, "2026-03-10T13:03:10Z");
}

#[test]
fn an_unknown_label_is_a_row_rejection_and_labels_only_map_scores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    write(&path, "id,at,csat\n1,2026-03-01,Top\n2,2026-03-01,Gut\n");
    let mut connector = SurveyCsv::open(json!({
        "path": path, "columns": {"id": "id", "timestamp": "at", "csat": "csat"},
        "value_labels": {"csat": {"gut": 4}}
    }))
    .unwrap();
    let batch = connector.read(None, 10).unwrap();
    assert_eq!(batch.records.len(), 1);
    assert_eq!(
        batch.records[0].csat,
        Some(4),
        "labels match case-insensitively"
    );
    assert!(
        batch.rejected[0].reason.contains("\"Top\""),
        "{:?}",
        batch.rejected
    );
    assert!(SurveyCsv::open(json!({
        "path": path, "columns": {"id": "id", "timestamp": "at"},
        "value_labels": {"stars": {"x": 1}}
    }))
    .is_err());
}

#[test]
fn an_instance_in_a_time_zone_reads_local_times_and_keeps_offsets_in_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.csv");
    write(
        &path,
        "id,at,nps\n1,2026-03-29 01:30:00,9\n2,2026-03-29 03:30:00,9\n\
         3,2026-03-29T01:30:00-07:00,9\n",
    );
    let mut connector = SurveyCsv::open(json!({
        "path": path, "time_zone": "Europe/Berlin",
        "columns": {"id": "id", "timestamp": "at", "nps": "nps"}
    }))
    .unwrap();
    let mut cursor = None;
    let all = drain(&mut connector, &mut cursor, 10);
    let times: Vec<&str> = all.records.iter().map(|r| r.occurred_at.as_str()).collect();
    assert_eq!(
        times,
        [
            "2026-03-29T00:30:00Z",
            "2026-03-29T01:30:00Z",
            "2026-03-29T08:30:00Z"
        ]
    );
    let wrong = SurveyCsv::open(json!({
        "path": path, "time_zone": "Berlin",
        "columns": {"id": "id", "timestamp": "at"}
    }))
    .unwrap_err();
    assert!(format!("{wrong:?}").contains("IANA"), "{wrong:?}");
}
