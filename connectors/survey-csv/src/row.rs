//! One CSV row to one record.

use chorus_plugin_api::SourceRecord;
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
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
        let occurred_at = parse_timestamp(
            raw_time,
            settings.timestamp_format.as_deref(),
            settings.time_zone,
        )
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

/// The instant a timestamp names: with its own offset when it has one (RFC 3339, or
/// `YYYY-MM-DD HH:MM:SS` followed by an offset), else read in `zone` (UTC without one).
pub(crate) fn parse_timestamp(
    raw: &str,
    format: Option<&str>,
    zone: Option<Tz>,
) -> Option<DateTime<Utc>> {
    if let Some(format) = format {
        if let Ok(with_offset) = DateTime::parse_from_str(raw, format) {
            return Some(with_offset.with_timezone(&Utc));
        }
        return NaiveDateTime::parse_from_str(raw, format)
            .ok()
            .and_then(|t| in_zone(t, zone));
    }
    let with_offset = DateTime::parse_from_rfc3339(raw).ok().or_else(|| {
        ["%Y-%m-%d %H:%M:%S%#z", "%Y-%m-%d %H:%M:%S %#z"]
            .iter()
            .find_map(|f| DateTime::parse_from_str(raw, f).ok())
    });
    if let Some(time) = with_offset {
        return Some(time.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .and_then(|t| in_zone(t, zone))
}

/// A wall-clock time of `zone` as an instant. In the hour a clock turns back (it happens
/// twice) the first; in the hour it skips (it never happens: a clock that was not moved
/// yet), the instant an hour later, as the clock would have shown after the change.
fn in_zone(local: NaiveDateTime, zone: Option<Tz>) -> Option<DateTime<Utc>> {
    let Some(zone) = zone else {
        return Some(local.and_utc());
    };
    let instant = match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t,
        LocalResult::None => zone
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()?,
    };
    Some(instant.with_timezone(&Utc))
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" | "ja" | "oui" | "si" | "sí" | "tak" => Some(true),
        "no" | "n" | "false" | "0" | "nein" | "non" | "nie" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod time_tests {
    use proptest::prelude::*;

    use super::*;

    fn utc(raw: &str, format: Option<&str>, zone: Option<&str>) -> String {
        let zone = zone.map(|z| z.parse::<Tz>().unwrap());
        parse_timestamp(raw, format, zone)
            .unwrap_or_else(|| panic!("{raw} does not parse"))
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    #[test]
    fn an_offset_in_the_data_counts_whatever_the_instance_zone() {
        for zone in [None, Some("Europe/Berlin")] {
            assert_eq!(
                utc("2026-03-29T01:30:00-07:00", None, zone),
                "2026-03-29T08:30:00Z"
            );
            assert_eq!(
                utc("2026-03-29 01:30:00 -07:00", None, zone),
                "2026-03-29T08:30:00Z"
            );
            assert_eq!(
                utc("2026-03-29 01:30:00+0200", None, zone),
                "2026-03-28T23:30:00Z"
            );
            assert_eq!(
                utc("29.03.2026 01:30 -0700", Some("%d.%m.%Y %H:%M %z"), zone),
                "2026-03-29T08:30:00Z"
            );
        }
    }

    #[test]
    fn times_without_an_offset_are_read_in_the_instance_zone_across_daylight_saving() {
        let berlin = Some("Europe/Berlin");
        assert_eq!(
            utc("2026-03-29 01:30:00", None, None),
            "2026-03-29T01:30:00Z"
        );
        // Before and after the spring change (CET +1, then CEST +2).
        assert_eq!(
            utc("2026-03-29 01:30:00", None, berlin),
            "2026-03-29T00:30:00Z"
        );
        assert_eq!(
            utc("2026-03-29 03:30:00", None, berlin),
            "2026-03-29T01:30:00Z"
        );
        // 02:30 never happened that night: read as the clock after the change showed it.
        assert_eq!(
            utc("2026-03-29 02:30:00", None, berlin),
            "2026-03-29T01:30:00Z"
        );
        // 02:30 happened twice in October: the first.
        assert_eq!(
            utc("2026-10-25 02:30:00", None, berlin),
            "2026-10-25T00:30:00Z"
        );
        // A date alone is its local midnight.
        assert_eq!(utc("2026-07-01", None, berlin), "2026-06-30T22:00:00Z");
        assert_eq!(
            utc(
                "07/01/2026 09:00:00 AM",
                Some("%m/%d/%Y %I:%M:%S %p"),
                Some("America/Los_Angeles")
            ),
            "2026-07-01T16:00:00Z"
        );
    }

    proptest! {
        /// Any text in any zone: an instant or nothing, never a panic.
        #[test]
        fn any_timestamp_text_parses_or_is_refused(
            raw in "\\PC{0,32}|[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}( ?[+-][0-9]{2}:?[0-9]{2}|Z)?",
            zone in prop::sample::select(vec!["UTC", "Europe/Berlin", "America/Los_Angeles", "Pacific/Chatham", "Asia/Kolkata"]),
            format in prop::option::of(prop::sample::select(vec!["%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M %z", "%s"])),
        ) {
            let zone: Tz = zone.parse().unwrap();
            let _ = parse_timestamp(&raw, format, Some(zone));
            let _ = parse_timestamp(&raw, format, None);
        }
    }
}
