//! Where each export file was left off.

use std::collections::BTreeMap;

use chorus_plugin_api::ConnectorError;
use serde::{Deserialize, Serialize};

/// The connector's cursor: per file name, the position after the last row read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SurveyCursor {
    /// Positions by file name (not path, so a moved drop folder keeps its cursor).
    pub files: BTreeMap<String, FileCursor>,
}

/// Position in one file after the last row read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCursor {
    /// Byte offset of the next unread row; 0 means "nothing read yet".
    pub byte: u64,
    /// Line number of the next unread row, for error locations.
    pub line: u64,
    /// Data rows consumed so far (records and rejections).
    pub rows: u64,
}

impl FileCursor {
    /// Moves past one more row.
    pub fn advance_to(&mut self, byte: u64, line: u64) {
        self.byte = byte;
        self.line = line;
        self.rows += 1;
    }

    /// The position to seek to, if anything was read.
    pub fn to_csv_position(self) -> Option<csv::Position> {
        if self.byte == 0 {
            return None;
        }
        let mut position = csv::Position::new();
        position
            .set_byte(self.byte)
            .set_line(self.line)
            .set_record(self.rows + 1);
        Some(position)
    }
}

impl SurveyCursor {
    /// Parses a cursor this connector returned earlier; `None` starts from scratch.
    ///
    /// # Errors
    /// When the text is not such a cursor.
    pub fn parse(text: Option<&str>) -> Result<SurveyCursor, ConnectorError> {
        match text {
            None => Ok(SurveyCursor::default()),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| ConnectorError::new(format!("unrecognised cursor {text:?}: {e}"))),
        }
    }

    /// The cursor as the string handed to the host.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a map of numbers always encodes")
    }
}
