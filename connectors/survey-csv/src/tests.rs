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
                "NPS score \"11\" is not an integer in 0-10".to_owned()
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
