//! The connector template, and a useful connector in its own right: JSON Lines files of
//! records in Chorus's canonical shape (`chorus_plugin_api::SourceRecord`), one per line, as
//! integration tools and data teams export them.
//!
//! Everything a connector needs is here, in the order a new one is written:
//! 1. settings, deserialised from the instance's `settings` table (`open`);
//! 2. a cheap reachability check (`check`);
//! 3. `read(cursor, max_records)`: continue after `cursor`, return at most `max_records`
//!    records, the new cursor and whether more is waiting. Rows that cannot be read become
//!    `rejected` entries (`file:line` and a reason) — never a failed run;
//! 4. `export_connector!` to generate the C entry points.
//!
//! Rules of the contract (see `chorus_plugin_api`): calls of one instance never overlap, but
//! instances may run on different threads; return errors, do not panic (a panic is caught and
//! fails the run); the cursor must only move past what this batch returns, because the host
//! stores it in the same transaction as the records.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, RowRejection, SourceRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Instance settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The `.jsonl` file; relative paths are relative to the server's working directory.
    pub path: PathBuf,
}

/// Where reading continues: the byte after the last line returned, and that line's number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub offset: u64,
    pub line: u64,
}

/// One configured JSON Lines source.
#[derive(Debug)]
pub struct JsonLines {
    settings: Settings,
}

impl Connector for JsonLines {
    fn manifest() -> Manifest {
        Manifest {
            name: "jsonl".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "survey".into(),
            description: "Canonical records from a JSON Lines file, one per line".into(),
            config_schema: json!({
                "type": "object",
                "required": ["path"],
                "properties": {"path": {"type": "string"}}
            }),
            records_may_change: false,
        }
    }

    fn open(settings: serde_json::Value) -> Result<Self, ConnectorError> {
        let settings = serde_json::from_value(settings)
            .map_err(|e| ConnectorError::new(format!("invalid settings: {e}")))?;
        Ok(JsonLines { settings })
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        File::open(&self.settings.path)
            .map(|_| ())
            .map_err(|e| ConnectorError::new(format!("{}: {e}", self.settings.path.display())))
    }

    fn read(&mut self, cursor: Option<&str>, max_records: usize) -> Result<Batch, ConnectorError> {
        let mut position: Position = match cursor {
            None => Position::default(),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ConnectorError::new(format!("unreadable cursor {text:?}: {e}")))?,
        };
        let path = &self.settings.path;
        let fail = |e: std::io::Error| ConnectorError::new(format!("{}: {e}", path.display()));
        let mut file = BufReader::new(File::open(path).map_err(fail)?);
        file.seek(SeekFrom::Start(position.offset)).map_err(fail)?;
        let mut batch = Batch::default();
        let mut line = String::new();
        while batch.records.len() < max_records {
            line.clear();
            let read = file.read_line(&mut line).map_err(fail)?;
            // A last line without its newline may still be being written: leave it for later.
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            position.offset += read as u64;
            position.line += 1;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<SourceRecord>(&line) {
                Ok(record) => batch.records.push(record),
                Err(e) => batch.rejected.push(RowRejection {
                    location: format!("{}:{}", path.display(), position.line),
                    reason: e.to_string(),
                }),
            }
        }
        batch.has_more = batch.records.len() == max_records;
        batch.cursor = Some(
            serde_json::to_string(&position)
                .map_err(|e| ConnectorError::new(format!("cannot encode cursor: {e}")))?,
        );
        Ok(batch)
    }
}

chorus_plugin_api::export_connector!(JsonLines);

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn source(lines: &str) -> (tempfile::TempDir, JsonLines) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("records.jsonl");
        std::fs::write(&path, lines).unwrap();
        let connector = JsonLines::open(json!({ "path": path })).unwrap();
        (dir, connector)
    }

    const GOOD: &str = r#"{"external_id":"a","occurred_at":"2026-03-01T10:00:00Z","nps":9}"#;

    #[test]
    fn reads_records_in_batches_and_resumes_after_the_cursor() {
        let text = format!(
            "{GOOD}\n{}\n\n{}\n",
            GOOD.replace("\"a\"", "\"b\""),
            GOOD.replace("\"a\"", "\"c\"")
        );
        let (_dir, mut connector) = source(&text);
        let first = connector.read(None, 2).unwrap();
        assert_eq!(first.records.len(), 2);
        assert!(first.has_more);
        let second = connector.read(first.cursor.as_deref(), 2).unwrap();
        let ids: Vec<&str> = second
            .records
            .iter()
            .map(|r| r.external_id.as_str())
            .collect();
        assert_eq!(ids, ["c"]);
        assert!(!second.has_more);
        let nothing = connector.read(second.cursor.as_deref(), 2).unwrap();
        assert!(nothing.records.is_empty());
    }

    #[test]
    fn a_bad_line_is_rejected_with_its_number_and_the_rest_is_read() {
        let (dir, mut connector) = source(&format!("{GOOD}\n{{\"nps\": 5}}\nnot json\n"));
        let batch = connector.read(None, 10).unwrap();
        assert_eq!(batch.records.len(), 1);
        assert_eq!(batch.rejected.len(), 2);
        assert!(
            batch.rejected[0].location.ends_with(":2"),
            "{:?}",
            batch.rejected
        );
        assert!(batch.rejected[0].reason.contains("external_id"));
        // A line still being written (no newline yet) waits for the next run.
        let path = dir.path().join("records.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(file, "{}", GOOD.replace("\"a\"", "\"d\"")).unwrap();
        let partial = connector.read(batch.cursor.as_deref(), 10).unwrap();
        assert!(partial.records.is_empty());
        writeln!(file).unwrap();
        let done = connector.read(batch.cursor.as_deref(), 10).unwrap();
        assert_eq!(done.records[0].external_id, "d");
    }

    #[test]
    fn a_missing_file_fails_check_and_read_with_its_path() {
        let mut connector = JsonLines::open(json!({"path": "/nonexistent/x.jsonl"})).unwrap();
        assert!(connector
            .check()
            .unwrap_err()
            .message()
            .contains("/nonexistent/x.jsonl"));
        assert!(connector.read(None, 1).is_err());
        assert!(JsonLines::open(json!({"file": "x"})).is_err());
    }
}
