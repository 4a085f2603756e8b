//! The JSON documents that cross the boundary inside byte buffers.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a plugin says about itself. Static: the same for every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Plugin name, e.g. `survey-csv`.
    pub name: String,
    /// Plugin version (semver).
    pub version: String,
    /// Kind of source: `survey`, `review`, `complaint`, `webhook`.
    pub source_kind: String,
    /// One sentence for operators.
    pub description: String,
    /// JSON Schema of the instance settings the plugin accepts.
    pub config_schema: Value,
    /// Whether the source re-delivers records whose content changed (edited reviews, ticket
    /// ratings given later). The host then replaces stored versions unless an instance says
    /// `on_change = "keep_first"`. Absent in older plugins: false.
    #[serde(default)]
    pub records_may_change: bool,
}

/// One `read` result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    /// Records read in this batch.
    pub records: Vec<SourceRecord>,
    /// Rows the plugin could not turn into records, with where and why.
    #[serde(default)]
    pub rejected: Vec<RowRejection>,
    /// Cursor to pass to the next `read`; `None` keeps the previous one.
    pub cursor: Option<String>,
    /// Whether another `read` right away would return more.
    pub has_more: bool,
}

/// A source row that could not be read, e.g. `exports/de.csv:17: NPS score 11 is not in 0-10`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRejection {
    /// Where the row is: file and line, page and index, ...
    pub location: String,
    /// Why it was rejected, in words an operator can act on.
    pub reason: String,
}

/// One piece of feedback as the source gives it. The host validates and normalises it; scores
/// are raw integers here so that a plugin cannot smuggle an out-of-range value past the host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// Identifier unique within the instance; the deduplication key.
    pub external_id: String,
    /// When the feedback was given, RFC 3339 (`2026-03-01T10:00:00Z`) or `YYYY-MM-DD HH:MM:SS` (UTC).
    pub occurred_at: String,
    /// ISO 3166-1 alpha-2 market, when the source carries it; else the instance's market.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<String>,
    /// Channel id from the configured taxonomy, when the source carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Touchpoint, e.g. `store`, `hotline`, `checkout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touchpoint: Option<String>,
    /// Net Promoter score, 0-10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nps: Option<i64>,
    /// Customer satisfaction, 1-5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csat: Option<i64>,
    /// Customer effort, 1-7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ces: Option<i64>,
    /// Review stars, 1-5. Never converted to NPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stars: Option<i64>,
    /// Free-text comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Language the source claims for the text (ISO 639-1), used when detection is unsure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_hint: Option<String>,
    /// Whether the customer agreed to be contacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_contact: Option<bool>,
    /// Further source fields, already renamed to canonical names where mapped.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
}
