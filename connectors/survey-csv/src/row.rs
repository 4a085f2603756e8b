//! One CSV row to one record.

use chorus_plugin_api::SourceRecord;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use csv::StringRecord;
use serde_json::{Map, Value};

use crate::settings::{Columns, Settings};

/// Column indexes of the canonical fields in one file's header row.
#[derive(Debug)]
pub struct Layout {
    id: usize,
    timestamp: usize,
    nps: Option<usize>,
    csat: Option<usize>,
    ces: Option<usize>,
    comment: Option<usize>,
    market: Option<usize>,
    channel: Option<usize>,
    touchpoint: Option<usize>,
    language: Option<usize>,
    consent: Option<usize>,
    /// Unmapped columns, kept as attributes.
    others: Vec<(usize, String)>,
}

impl Layout {
    /// Finds the configured columns in a header row.
    ///
    /// # Errors
    /// When a configured column is missing; the message lists the headers found.
    pub fn new(headers: &StringRecord, columns: &Columns) -> Result<Layout, String> {
        let find = |name: &str| -> Result<usize, String> {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| {
                    let found: Vec<&str> = headers.iter().collect();
                    format!("column {name:?} not found in header row {found:?}")
                })
        };
        let optional = |name: &Option<String>| name.as_deref().map(find).transpose();
        let mut layout = Layout {
            id: find(&columns.id)?,
            timestamp: find(&columns.timestamp)?,
            nps: optional(&columns.nps)?,
            csat: optional(&columns.csat)?,
            ces: optional(&columns.ces)?,
            comment: optional(&columns.comment)?,
            market: optional(&columns.market)?,
            channel: optional(&columns.channel)?,
            touchpoint: optional(&columns.touchpoint)?,
            language: optional(&columns.language)?,
            consent: optional(&columns.consent)?,
            others: Vec::new(),
        };
        let mapped = [
            Some(layout.id),
            Some(layout.timestamp),
            layout.nps,
            layout.csat,
            layout.ces,
            layout.comment,
            layout.market,
            layout.channel,
            layout.touchpoint,
            layout.language,
            layout.consent,
        ];
        layout.others = headers
            .iter()
            .enumerate()
            .filter(|(i, _)| !mapped.contains(&Some(*i)))
            .map(|(i, h)| (i, h.trim().to_owned()))
            .collect();
        Ok(layout)
    }

    /// Turns a row into a record.
    ///
    /// # Errors
    /// A reason an operator can act on, e.g. `NPS score "11" is not an integer in 0-10`.
    pub fn to_record(
        &self,
        row: &StringRecord,
        settings: &Settings,
    ) -> Result<SourceRecord, String> {
        let cell = |i: usize| row.get(i).map(str::trim).filter(|s| !s.is_empty());
        let text = |i: Option<usize>| i.and_then(cell).map(str::to_owned);

        let external_id = cell(self.id).ok_or("missing response id")?.to_owned();
        let raw_time = cell(self.timestamp).ok_or("missing timestamp")?;
        let occurred_at = parse_timestamp(raw_time, settings.timestamp_format.as_deref())
            .ok_or_else(|| format!("unparsable timestamp {raw_time:?}"))?;
        let score = |column: Option<usize>, field: &str, scale: std::ops::RangeInclusive<i64>| {
            let Some(raw) = column.and_then(cell) else {
                return Ok(None);
            };
            let labelled = || {
                settings.value_labels.get(field).and_then(|labels| {
                    labels
                        .iter()
                        .find(|(label, _)| label.trim().eq_ignore_ascii_case(raw))
                        .map(|(_, value)| *value)
                })
            };
            match raw.parse::<i64>().ok().or_else(labelled) {
                Some(score) if scale.contains(&score) => Ok(Some(score)),
                _ => Err(format!(
                    "{} score {raw:?} is not an integer in {}-{} nor a configured label",
                    field.to_uppercase(),
                    scale.start(),
                    scale.end()
                )),
            }
        };
        let nps = score(self.nps, "nps", 0..=10)?;
        let csat = score(self.csat, "csat", 1..=5)?;
        let ces = score(self.ces, "ces", 1..=7)?;
        let consent_contact = match self.consent.and_then(cell) {
            None => None,
            Some(raw) => {
                Some(parse_bool(raw).ok_or_else(|| format!("unreadable consent {raw:?}"))?)
            }
        };
        let mut attributes = Map::new();
        for (i, name) in &self.others {
            if let Some(value) = cell(*i) {
                attributes.insert(name.clone(), Value::String(value.to_owned()));
            }
        }
        Ok(SourceRecord {
            external_id,
            occurred_at: occurred_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            market: text(self.market),
            channel: text(self.channel),
            touchpoint: text(self.touchpoint),
            nps,
            csat,
            ces,
            text: text(self.comment),
            language_hint: text(self.language),
            consent_contact,
            attributes,
            ..SourceRecord::default()
        })
    }
}

fn parse_timestamp(raw: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
    if let Some(format) = format {
        return NaiveDateTime::parse_from_str(raw, format)
            .ok()
            .map(|t| t.and_utc());
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
                .ok()
                .map(|t| t.and_utc())
        })
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc())
        })
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "ja" | "oui" | "si" | "sí" | "tak" => Some(true),
        "no" | "n" | "false" | "0" | "nein" | "non" | "nie" => Some(false),
        _ => None,
    }
}
