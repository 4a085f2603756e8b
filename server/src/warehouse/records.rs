//! Single records for reading and filtering (the drill-down behind `/api/v1/records`),
//! newest first, with keyset pagination so a page never shifts when records arrive.

use chrono::NaiveDateTime;
use duckdb::params_from_iter;
use serde::Serialize;

use super::queries::CellQuery;
use super::timestamp::UtcTimestamp;
use super::{Warehouse, WarehouseError};

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    pub occurred_at: NaiveDateTime,
    pub instance: String,
    pub external_id: String,
}

/// Filters of a record listing.
#[derive(Debug, Clone)]
pub struct RecordQuery {
    /// Markets (the scope), channels and dates; its measure is the one `score_min` and
    /// `score_max` apply to.
    pub cells: CellQuery,
    pub languages: Option<Vec<String>>,
    /// Records tagged with this topic.
    pub topic: Option<String>,
    pub score_min: Option<u8>,
    pub score_max: Option<u8>,
    /// Case-insensitive substring of the (redacted) text.
    pub contains: Option<String>,
    pub after: Option<RecordCursor>,
    pub limit: u32,
}

/// One stored record as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredRecord {
    pub instance: String,
    pub external_id: String,
    pub market: String,
    pub channel: String,
    pub touchpoint: Option<String>,
    #[serde(serialize_with = "crate::dates::rfc3339::serialize")]
    pub occurred_at: NaiveDateTime,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub stars: Option<u8>,
    pub text: Option<String>,
    pub language: Option<String>,
    pub language_confidence: Option<f64>,
    pub language_decided_by: Option<String>,
    pub topics: Vec<String>,
    pub redactions: Vec<String>,
    pub consent_contact: Option<bool>,
    /// The unredacted text; filled only for callers allowed to read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_original: Option<String>,
}

/// The columns [`StoredRecord::from_row`] reads, in order.
pub(super) const STORED_RECORD_COLUMNS: &str =
    "source_instance, external_id, market, channel, touchpoint, occurred_at, \
     nps, csat, ces, stars, text, language, language_confidence, language_decided_by, \
     coalesce(list_aggr(topics, 'string_agg', '|'), ''), \
     coalesce(list_aggr(redactions, 'string_agg', '|'), ''), consent_contact, text_original";

impl StoredRecord {
    /// One row selected with [`STORED_RECORD_COLUMNS`].
    pub(super) fn from_row(r: &duckdb::Row<'_>) -> duckdb::Result<StoredRecord> {
        let split = |joined: String| -> Vec<String> {
            joined
                .split('|')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        Ok(StoredRecord {
            instance: r.get(0)?,
            external_id: r.get(1)?,
            market: r.get(2)?,
            channel: r.get(3)?,
            touchpoint: r.get(4)?,
            occurred_at: r.get::<_, UtcTimestamp>(5)?.0,
            nps: r.get(6)?,
            csat: r.get(7)?,
            ces: r.get(8)?,
            stars: r.get(9)?,
            text: r.get(10)?,
            language: r.get(11)?,
            language_confidence: r.get(12)?,
            language_decided_by: r.get(13)?,
            topics: split(r.get(14)?),
            redactions: split(r.get(15)?),
            consent_contact: r.get(16)?,
            text_original: r.get(17)?,
        })
    }
}

impl RecordQuery {
    fn to_sql(&self) -> (String, Vec<String>) {
        let mut sql = format!("SELECT {STORED_RECORD_COLUMNS} FROM records WHERE true");
        let (filters, mut params) = self.cells.filters();
        sql.push_str(&filters);
        if let Some(languages) = &self.languages {
            sql.push_str(&super::in_list("language", languages.len()));
            params.extend(languages.iter().cloned());
        }
        if let Some(topic) = &self.topic {
            sql.push_str(" AND list_contains(topics, ?)");
            params.push(topic.clone());
        }
        let column = self.cells.measure.name();
        if let Some(min) = self.score_min {
            sql.push_str(&format!(" AND {column} >= ?"));
            params.push(min.to_string());
        }
        if let Some(max) = self.score_max {
            sql.push_str(&format!(" AND {column} <= ?"));
            params.push(max.to_string());
        }
        if let Some(needle) = &self.contains {
            sql.push_str(" AND text ILIKE ? ESCAPE '\\'");
            let escaped = needle
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            params.push(format!("%{escaped}%"));
        }
        if let Some(after) = &self.after {
            sql.push_str(
                " AND (occurred_at < ?::TIMESTAMP OR (occurred_at = ?::TIMESTAMP AND \
                 (source_instance < ? OR (source_instance = ? AND external_id < ?))))",
            );
            let at = after
                .occurred_at
                .format("%Y-%m-%d %H:%M:%S%.6f")
                .to_string();
            params.extend([
                at.clone(),
                at,
                after.instance.clone(),
                after.instance.clone(),
                after.external_id.clone(),
            ]);
        }
        sql.push_str(&format!(
            " ORDER BY occurred_at DESC, source_instance DESC, external_id DESC LIMIT {}",
            self.limit
        ));
        (sql, params)
    }
}

impl Warehouse {
    /// Up to `limit` records matching `query`, newest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn records(&self, query: &RecordQuery) -> Result<Vec<StoredRecord>, WarehouseError> {
        if query.cells.markets.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let (sql, params) = query.to_sql();
        self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows =
                statement.query_map(params_from_iter(params.iter()), StoredRecord::from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
