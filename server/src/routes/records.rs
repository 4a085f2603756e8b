//! `GET /api/v1/records`: single records (texts redacted) for drill-down, scoped, filtered,
//! newest first, with an opaque cursor for the next page.

use std::sync::Arc;

use actix_web::{web, HttpResponse};
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::openapi::ErrorBody;
use super::params::{self, CellFilters};
use crate::catalog::Catalog;
use crate::config::TextSettings;
use crate::dates::DateRange;
use crate::error::ApiError;
use crate::federation::{residency, FederationStatus, NodeRole};
use crate::permission::FeedbackReader;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::records::{RecordCursor, RecordQuery, StoredRecord};
use crate::warehouse::Warehouse;

/// Records per page unless `limit` says otherwise, and the most a page may hold.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

/// Query string of `/api/v1/records`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordParams {
    markets: Option<String>,
    channels: Option<String>,
    /// Comma list of ISO 639-1 codes.
    languages: Option<String>,
    /// A topic id.
    topic: Option<String>,
    /// The measure `score_min`/`score_max` apply to (default nps).
    #[param(pattern = "^(nps|csat|ces|stars)$")]
    measure: Option<String>,
    score_min: Option<u8>,
    score_max: Option<u8>,
    from: Option<String>,
    to: Option<String>,
    /// Case-insensitive text search in the redacted text.
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Most items in one answer (1-500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = RecordPage)]
struct Answer {
    records: Vec<StoredRecord>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Redacted records of the caller's markets, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/records", tag = "feedback", params(RecordParams),
    responses(
        (status = 200, body = Answer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
// Extractors: one argument per thing the route reads.
#[allow(clippy::too_many_arguments)]
pub async fn records(
    caller: FeedbackReader,
    params: web::Query<RecordParams>,
    warehouse: web::Data<Arc<Warehouse>>,
    text: web::Data<TextSettings>,
    dates: web::Data<DateRange>,
    catalog: web::Data<Arc<Catalog>>,
    topics: web::Data<super::topics::TopicList>,
    federation: web::Data<Arc<FederationStatus>>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    if let Some(topic) = params.topic.as_deref() {
        if !topics.0.iter().any(|(id, _)| id == topic) {
            return Err(ApiError::bad_request(
                "unknown_topic",
                format!("no topic {topic:?} in the taxonomy"),
            ));
        }
    }
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be 1-{MAX_LIMIT}"),
        ));
    }
    let mut cells = CellFilters {
        markets: params.markets.as_deref(),
        channels: params.channels.as_deref(),
        from: params.from.as_deref(),
        to: params.to.as_deref(),
        dates: &dates,
        catalog: &catalog,
    }
    .query(&caller, params::measure(params.measure.as_deref())?, None)?;
    if federation.role() == NodeRole::Hq {
        // Headquarters holds only the records of global markets.
        let named = params.markets.is_some();
        cells.markets = Some(
            residency::replicated_markets(&catalog, cells.markets.take(), named).map_err(
                |stays| ApiError::Residency {
                    message: format!(
                        "the records of {} stay in its region; read them on its node",
                        stays.market
                    ),
                    node_url: stays.node_url,
                },
            )?,
        );
    }
    let query = RecordQuery {
        cells,
        languages: params::list(params.languages.as_deref()),
        topic: params.topic,
        score_min: params.score_min,
        score_max: params.score_max,
        contains: params.q.filter(|q| !q.trim().is_empty()),
        after: params
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, &dates))
            .transpose()?,
        // One more than asked tells whether another page follows.
        limit: limit + 1,
    };
    params::ordered(query.score_min, query.score_max)?;
    let warehouse = warehouse.get_ref().clone();
    let mut records = spawn_blocking_with_tracing(move || warehouse.records(&query)).await??;
    let next_cursor = (records.len() > limit as usize).then(|| {
        records.truncate(limit as usize);
        records.last().map(encode_cursor)
    });
    if !text.original_text_roles.contains(&caller.role) {
        records.iter_mut().for_each(|r| r.text_original = None);
    }
    Ok(HttpResponse::Ok().json(Answer {
        records,
        next_cursor: next_cursor.flatten(),
    }))
}

/// Hex of "micros␟instance␟external id": opaque to clients, safe in a URL.
fn encode_cursor(record: &StoredRecord) -> String {
    let micros = record.occurred_at.and_utc().timestamp_micros();
    let raw = format!(
        "{micros}\u{1f}{}\u{1f}{}",
        record.instance, record.external_id
    );
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(text: &str, dates: &DateRange) -> Result<RecordCursor, ApiError> {
    let invalid = || ApiError::bad_request("invalid_cursor", "cursor is not one this API gave out");
    if !text.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("x"), 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(bytes).map_err(|_| invalid())?;
    // The external id comes last and may hold anything, the separator included.
    let mut parts = raw.splitn(3, '\u{1f}');
    let (Some(micros), Some(instance), Some(external_id)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let occurred_at = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .map(|t| t.naive_utc())
        .filter(|t| dates.contains_time(*t))
        .ok_or_else(invalid)?;
    Ok(RecordCursor {
        occurred_at,
        instance: instance.to_owned(),
        external_id: external_id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with only the fields a cursor reads.
    fn stored(
        instance: &str,
        external_id: &str,
        occurred_at: chrono::NaiveDateTime,
    ) -> StoredRecord {
        StoredRecord {
            instance: instance.into(),
            external_id: external_id.into(),
            market: "DE".into(),
            channel: "c".into(),
            touchpoint: None,
            occurred_at,
            nps: None,
            csat: None,
            ces: None,
            stars: None,
            text: None,
            language: None,
            language_confidence: None,
            language_decided_by: None,
            topics: Vec::new(),
            redactions: Vec::new(),
            consent_contact: None,
            text_original: None,
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let record = stored(
            "de|survey",
            "r 1/ä\u{1f}x",
            chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
                .unwrap()
                .and_hms_micro_opt(10, 0, 0, 123_456)
                .unwrap(),
        );
        let dates = DateRange::default();
        let cursor = decode_cursor(&encode_cursor(&record), &dates).unwrap();
        assert_eq!(cursor.occurred_at, record.occurred_at);
        assert_eq!(
            (cursor.instance.as_str(), cursor.external_id.as_str()),
            ("de|survey", "r 1/ä\u{1f}x")
        );
        for bad in ["", "zz", "abc", "6869"] {
            assert!(decode_cursor(bad, &dates).is_err(), "{bad}");
        }
        // Well formed, but at a time no stored record can have.
        let far = StoredRecord {
            occurred_at: chrono::NaiveDate::from_ymd_opt(9999, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap(),
            ..record
        };
        assert!(decode_cursor(&encode_cursor(&far), &dates).is_err());
        let raw = format!("{}\u{1f}i\u{1f}e", i64::MIN);
        let hex: String = raw.bytes().map(|b| format!("{b:02x}")).collect();
        assert!(decode_cursor(&hex, &dates).is_err());
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any text is a cursor or an `invalid_cursor`; never a panic.
        #[test]
        fn any_text_decodes_or_is_refused(text in "[0-9a-f]{0,80}|\\PC{0,40}") {
            let _ = decode_cursor(&text, &DateRange::default());
        }

        /// Every record inside the accepted dates pages on: its cursor decodes to itself.
        #[test]
        fn cursors_of_stored_records_round_trip(
            micros in -2_208_988_800_000_000i64..7_258_118_399_000_000,
            instance in "[a-z0-9._-]{1,20}",
            external_id in "\\PC{1,30}",
        ) {
            let occurred_at = DateTime::from_timestamp_micros(micros).unwrap().naive_utc();
            let record = stored(&instance, &external_id, occurred_at);
            let cursor = decode_cursor(&encode_cursor(&record), &DateRange::default()).unwrap();
            proptest::prop_assert_eq!(
                (cursor.occurred_at, cursor.instance, cursor.external_id),
                (occurred_at, instance, external_id)
            );
        }
    }
}
