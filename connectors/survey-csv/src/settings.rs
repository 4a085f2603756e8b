//! Instance settings: where the exports are and which column means what.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use serde_json::json;

/// Settings of one survey-csv instance (the `settings` table of a connector instance).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// An export file, or a drop folder whose files are read in name order.
    pub path: PathBuf,
    /// Field delimiter, one ASCII character.
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// File extension read from a drop folder, without the dot.
    #[serde(default = "default_extension")]
    pub extension: String,
    /// `chrono` format of the timestamp column when it is neither RFC 3339 nor
    /// `YYYY-MM-DD HH:MM:SS[±hh:mm]` / `YYYY-MM-DD`. With `%z` or `%:z` the offset in the data
    /// counts; without, the time is read in `time_zone`.
    #[serde(default)]
    pub timestamp_format: Option<String>,
    /// IANA time zone (e.g. `Europe/Berlin`) of timestamps written without an offset; UTC when
    /// absent. A timestamp with an offset is always read with its own offset.
    #[serde(default, deserialize_with = "time_zone")]
    pub time_zone: Option<chrono_tz::Tz>,
    /// Which header names hold which canonical field.
    pub columns: Columns,
    /// Export layout: `plain` (one header row), `qualtrics` (column ids, then question
    /// texts and import ids: two more header rows), `surveymonkey` (question texts, then
    /// answer labels: one more header row). The first header row names the columns.
    #[serde(default)]
    pub format: Format,
    /// Answer labels per score field, for exports that write the label instead of the
    /// value: `{ csat = { "Sehr zufrieden" = 5, "Zufrieden" = 4 } }`. Matched trimmed and
    /// case-insensitively; numbers are read as numbers first.
    #[serde(default)]
    pub value_labels: BTreeMap<String, BTreeMap<String, i64>>,
}

/// Known export layouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One header row.
    #[default]
    Plain,
    /// Qualtrics response export: three header rows.
    Qualtrics,
    /// SurveyMonkey export: two header rows.
    Surveymonkey,
}

impl Format {
    /// Header rows after the first one, skipped before the data.
    pub fn extra_header_rows(self) -> usize {
        match self {
            Format::Plain => 0,
            Format::Qualtrics => 2,
            Format::Surveymonkey => 1,
        }
    }
}

/// Header names of the canonical fields. Columns not named here become attributes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// Response id, unique within the source (required).
    pub id: String,
    /// Response timestamp (required).
    pub timestamp: String,
    /// NPS answer 0-10.
    #[serde(default)]
    pub nps: Option<String>,
    /// CSAT answer 1-5.
    #[serde(default)]
    pub csat: Option<String>,
    /// Customer effort answer 1-7.
    #[serde(default)]
    pub ces: Option<String>,
    /// Free-text comment.
    #[serde(default)]
    pub comment: Option<String>,
    /// Market (ISO 3166-1 alpha-2), when one export holds several markets.
    #[serde(default)]
    pub market: Option<String>,
    /// Channel id, when one export holds several channels.
    #[serde(default)]
    pub channel: Option<String>,
    /// Touchpoint.
    #[serde(default)]
    pub touchpoint: Option<String>,
    /// Language code of the comment as the survey tool recorded it.
    #[serde(default)]
    pub language: Option<String>,
    /// Contact consent (`yes`/`no`, `true`/`false`, `1`/`0`).
    #[serde(default)]
    pub consent: Option<String>,
}

fn default_delimiter() -> String {
    ",".into()
}

fn default_extension() -> String {
    "csv".into()
}

impl Settings {
    /// Checks what serde cannot.
    ///
    /// # Errors
    /// A message naming the offending setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.delimiter.len() != 1 || !self.delimiter.is_ascii() {
            return Err(format!(
                "settings.delimiter must be one ASCII character, got {:?}",
                self.delimiter
            ));
        }
        if self.columns.id.is_empty() || self.columns.timestamp.is_empty() {
            return Err(
                "settings.columns.id and settings.columns.timestamp must name columns".into(),
            );
        }
        if let Some(field) = self
            .value_labels
            .keys()
            .find(|f| !["nps", "csat", "ces"].contains(&f.as_str()))
        {
            return Err(format!(
                "settings.value_labels.{field}: labels can map nps, csat or ces only"
            ));
        }
        Ok(())
    }

    /// The delimiter as the byte the CSV reader wants (validated to be one ASCII character).
    pub fn delimiter_byte(&self) -> u8 {
        self.delimiter.as_bytes()[0]
    }
}

/// An IANA zone name, refused with the reason when the database does not know it.
fn time_zone<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<chrono_tz::Tz>, D::Error> {
    let Some(name) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    name.parse::<chrono_tz::Tz>().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "time_zone {name:?} is not an IANA time zone such as \"Europe/Berlin\""
        ))
    })
}

/// JSON Schema of [`Settings`], published in the manifest.
pub fn json_schema() -> serde_json::Value {
    let column = json!({"type": "string"});
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["path", "columns"],
        "additionalProperties": false,
        "properties": {
            "path": {"type": "string", "description": "export file or drop folder"},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "default": ","},
            "extension": {"type": "string", "default": "csv"},
            "timestamp_format": {"type": "string"},
            "time_zone": {"type": "string", "description": "IANA zone of timestamps without an offset; default UTC"},
            "format": {"enum": ["plain", "qualtrics", "surveymonkey"], "default": "plain"},
            "value_labels": {
                "type": "object",
                "description": "score field → answer label → value",
                "additionalProperties": {"type": "object", "additionalProperties": {"type": "integer"}}
            },
            "columns": {
                "type": "object",
                "required": ["id", "timestamp"],
                "additionalProperties": false,
                "properties": {
                    "id": column, "timestamp": column, "nps": column, "csat": column,
                    "ces": column, "comment": column,
                    "market": column, "channel": column, "touchpoint": column,
                    "language": column, "consent": column
                }
            }
        }
    })
}
