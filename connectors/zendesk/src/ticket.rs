//! One exported ticket to one record.

use chorus_plugin_api::SourceRecord;
use serde_json::{Map, Value};

use crate::Settings;

/// `updated_at` as Unix seconds.
pub fn updated_at(ticket: &Value) -> Option<i64> {
    ticket
        .get("updated_at")
        .and_then(Value::as_str)
        .and_then(unix_seconds)
}

/// The record of a ticket in an exported status; `Ok(None)` for tickets not (yet) in one.
///
/// # Errors
/// A reason when a ticket lacks its id or creation time.
pub fn to_record(ticket: &Value, settings: &Settings) -> Result<Option<SourceRecord>, String> {
    let status = ticket.get("status").and_then(Value::as_str).unwrap_or("");
    if !settings.statuses.iter().any(|s| s == status) {
        return Ok(None);
    }
    let id = match ticket.get("id") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("ticket without an id".into()),
    };
    let created = ticket
        .get("created_at")
        .and_then(Value::as_str)
        .ok_or("ticket without created_at")?;
    let rating = ticket.get("satisfaction_rating");
    let score = rating.and_then(|r| r.get("score")).and_then(Value::as_str);
    let csat = match score {
        Some("good") => Some(5),
        Some("bad") => Some(1),
        _ => None,
    };
    let tags: Vec<&str> = ticket
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let market = settings.market_tag_prefix.as_deref().and_then(|prefix| {
        tags.iter()
            .find_map(|t| t.strip_prefix(prefix))
            .map(str::to_ascii_uppercase)
    });
    let mut attributes = Map::new();
    for key in ["subject", "status", "priority", "type"] {
        if let Some(value) = ticket.get(key).filter(|v| !v.is_null()) {
            attributes.insert(key.into(), value.clone());
        }
    }
    if let Some(comment) = rating
        .and_then(|r| r.get("comment"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
    {
        attributes.insert("satisfaction_comment".into(), Value::String(comment.into()));
    }
    if !tags.is_empty() {
        attributes.insert("tags".into(), Value::String(tags.join(",")));
    }
    Ok(Some(SourceRecord {
        external_id: id,
        occurred_at: created.to_owned(),
        market,
        touchpoint: ticket
            .get("via")
            .and_then(|v| v.get("channel"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        csat,
        text: ticket
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.trim().is_empty())
            .map(str::to_owned),
        attributes,
        ..SourceRecord::default()
    }))
}

/// `2026-03-10T09:12:00Z` → Unix seconds (UTC only, as Zendesk writes them).
fn unix_seconds(text: &str) -> Option<i64> {
    let (date, time) = text.trim_end_matches('Z').split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn zendesk_times_become_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2026-03-10T09:12:00Z"), Some(1_773_133_920));
        assert_eq!(unix_seconds("2000-02-29T23:59:59Z"), Some(951_868_799));
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
