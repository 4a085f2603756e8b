//! Survey export connector: reads CSV exports (UTF-8, configurable delimiter) from one file or
//! from every `*.csv` file of a drop folder, in file-name order.
//!
//! Incremental: the cursor holds, per file, the byte offset after the last row read, so files
//! and rows already read are never read again and a file that grows is picked up where it
//! ended. Rows that cannot be read (missing id, unparsable timestamp, score out of range) are
//! reported with file, line and reason and do not stop the rest.
//!
//! # Layout
//! - `settings.rs`: the instance settings and their column mapping.
//! - `cursor.rs`: the per-file resume positions.
//! - `row.rs`: one CSV row to one record, or a reason why not.
//! - this file: the [`Connector`] implementation walking files and rows.

mod cursor;
mod row;
mod settings;

use std::fs::File;
use std::path::{Path, PathBuf};

use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, RowRejection};

pub use cursor::{FileCursor, SurveyCursor};
pub use settings::{Columns, Settings};

/// One configured survey export source.
#[derive(Debug)]
pub struct SurveyCsv {
    settings: Settings,
}

impl SurveyCsv {
    /// The export files in reading order.
    fn files(&self) -> Result<Vec<PathBuf>, ConnectorError> {
        let path = &self.settings.path;
        let meta = std::fs::metadata(path)
            .map_err(|e| ConnectorError::new(format!("path {}: {e}", path.display())))?;
        if meta.is_file() {
            return Ok(vec![path.clone()]);
        }
        let entries = std::fs::read_dir(path)
            .map_err(|e| ConnectorError::new(format!("folder {}: {e}", path.display())))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|e| ConnectorError::new(format!("folder {}: {e}", path.display())))?;
            let file = entry.path();
            let wanted =
                file.extension().and_then(|e| e.to_str()) == Some(&self.settings.extension);
            if wanted && file.is_file() {
                files.push(file);
            }
        }
        files.sort();
        Ok(files)
    }

    fn csv_reader(&self, file: &Path) -> Result<csv::Reader<File>, ConnectorError> {
        let handle = File::open(file)
            .map_err(|e| ConnectorError::new(format!("file {}: {e}", file.display())))?;
        Ok(csv::ReaderBuilder::new()
            .delimiter(self.settings.delimiter_byte())
            .flexible(true)
            .from_reader(handle))
    }

    /// Reads rows of one file from its cursor position into `batch` until `budget` rows have
    /// been taken. Returns whether rows remain in the file.
    fn read_file(
        &self,
        file: &Path,
        position: &mut FileCursor,
        batch: &mut Batch,
        budget: usize,
    ) -> Result<bool, ConnectorError> {
        let name = file_name(file);
        let mut reader = self.csv_reader(file)?;
        let headers = reader
            .headers()
            .map_err(|e| ConnectorError::new(format!("{name}: cannot read header row: {e}")))?
            .clone();
        let layout = row::Layout::new(&headers, &self.settings.columns)
            .map_err(|reason| ConnectorError::new(format!("{name}: {reason}")))?;
        let mut record = csv::StringRecord::new();
        if let Some(resume) = position.to_csv_position() {
            reader
                .seek(resume)
                .map_err(|e| ConnectorError::new(format!("{name}: cannot resume: {e}")))?;
        } else {
            // First visit: step over the export tool's extra header rows.
            for _ in 0..self.settings.format.extra_header_rows() {
                let present = reader.read_record(&mut record).map_err(|e| {
                    ConnectorError::new(format!("{name}: cannot read header rows: {e}"))
                })?;
                if !present {
                    return Ok(false);
                }
                let after = reader.position();
                position.advance_to(after.byte(), after.line());
            }
        }
        let mut taken = 0;
        while taken < budget {
            let more = match reader.read_record(&mut record) {
                Ok(more) => more,
                Err(e) => {
                    // A broken row (bad quoting, invalid UTF-8) is reported like a bad value.
                    let line = e.position().map_or(position.line + 1, |p| p.line());
                    batch.rejected.push(RowRejection {
                        location: format!("{name}:{line}"),
                        reason: format!("unreadable row: {e}"),
                    });
                    match e.position() {
                        Some(p) if p.byte() > position.byte => {
                            position.advance_to(p.byte(), p.line());
                            taken += 1;
                            continue;
                        }
                        _ => return Err(ConnectorError::new(format!("{name}: {e}"))),
                    }
                }
            };
            if !more {
                return Ok(false);
            }
            let line = record.position().map_or(0, |p| p.line());
            match layout.to_record(&record, &self.settings) {
                Ok(parsed) => batch.records.push(parsed),
                Err(reason) => batch.rejected.push(RowRejection {
                    location: format!("{name}:{line}"),
                    reason,
                }),
            }
            let after = reader.position();
            position.advance_to(after.byte(), after.line());
            taken += 1;
        }
        // Budget spent: peek whether the file has anything left.
        Ok(reader.read_record(&mut record).unwrap_or(true))
    }
}

fn file_name(file: &Path) -> String {
    file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

impl Connector for SurveyCsv {
    fn manifest() -> Manifest {
        Manifest {
            name: "survey-csv".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "survey".into(),
            description: "Survey export files (CSV) from a file or a drop folder.".into(),
            config_schema: settings::json_schema(),
            records_may_change: false,
        }
    }

    fn open(settings: serde_json::Value) -> Result<Self, ConnectorError> {
        let settings: Settings = serde_json::from_value(settings)
            .map_err(|e| ConnectorError::new(format!("invalid survey-csv settings: {e}")))?;
        settings.validate().map_err(ConnectorError::new)?;
        Ok(SurveyCsv { settings })
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        for file in self.files()? {
            let mut reader = self.csv_reader(&file)?;
            let headers = reader.headers().map_err(|e| {
                ConnectorError::new(format!("{}: cannot read header row: {e}", file.display()))
            })?;
            row::Layout::new(headers, &self.settings.columns)
                .map_err(|reason| ConnectorError::new(format!("{}: {reason}", file.display())))?;
        }
        Ok(())
    }

    fn read(&mut self, cursor: Option<&str>, max_records: usize) -> Result<Batch, ConnectorError> {
        let mut state = SurveyCursor::parse(cursor)?;
        let mut batch = Batch::default();
        let budget = max_records.max(1);
        for file in self.files()? {
            let taken = batch.records.len() + batch.rejected.len();
            if taken >= budget {
                batch.has_more = true;
                break;
            }
            let position = state.files.entry(file_name(&file)).or_default();
            let rows_left = self.read_file(&file, position, &mut batch, budget - taken)?;
            if rows_left {
                batch.has_more = true;
                break;
            }
        }
        batch.cursor = Some(state.encode());
        Ok(batch)
    }
}

chorus_plugin_api::export_connector!(SurveyCsv);

#[cfg(test)]
mod tests;
