//! Cases in the warehouse: opened inside the batch transaction that stores their record,
//! closed when their record changes so that no rule applies any more or is erased, worked
//! through the API, escalated when overdue.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use duckdb::{params, params_from_iter, Transaction};
use serde::Serialize;

use serde_json::json;

use super::timestamp::UtcTimestamp;
use super::{in_list, webhooks, Warehouse, WarehouseError};
use crate::cases::{lifecycle, CaseSubject, Opening, Status, TransitionError};

/// Who the case log names for what Chorus does on its own.
const CHORUS: &str = "chorus";
/// Webhook event types of cases (`server/specs/standard-webhooks.md`).
pub const CASE_CREATED: &str = "case.created";
pub const CASE_OVERDUE: &str = "case.overdue";
pub const CASE_RESOLVED: &str = "case.resolved";
/// Cases per page of a listing, at most.
pub const MAX_CASES_PER_PAGE: u32 = 1000;
/// Longest assignee (a token subject).
pub const MAX_ASSIGNEE_CHARS: usize = 256;

/// The extra `RETURNING` columns a batch insert needs to evaluate case rules, after
/// `COUNTED_COLUMNS` (market 0, channel 1, scores 3-6, topics 7).
pub(super) const SUBJECT_COLUMNS: &str = "external_id, occurred_at, touchpoint, attributes";
/// How many columns `SUBJECT_COLUMNS` names.
pub(super) const SUBJECT_COLUMN_COUNT: usize = 4;

/// Evaluates the rules on one inserted row (`COUNTED_COLUMNS, SUBJECT_COLUMNS`: market 0,
/// channel 1, scores 3-6, topics 7, then 8-11); the case to open, if any.
pub(super) fn opening_for(
    rules: &crate::cases::CaseRules,
    row: &duckdb::Row<'_>,
    now: NaiveDateTime,
) -> duckdb::Result<Option<(String, String, String, Opening)>> {
    let market: String = row.get::<_, Option<String>>(0)?.unwrap_or_default();
    let channel: String = row.get::<_, Option<String>>(1)?.unwrap_or_default();
    let topics: Option<String> = row.get(7)?;
    let touchpoint: Option<String> = row.get(10)?;
    let attributes: Option<String> = row.get(11)?;
    let subject = CaseSubject {
        market: &market,
        channel: &channel,
        occurred_at: row.get::<_, UtcTimestamp>(9)?.0,
        nps: row.get(3)?,
        csat: row.get(4)?,
        ces: row.get(5)?,
        stars: row.get(6)?,
        topics: topics.as_deref().unwrap_or(""),
        touchpoint: touchpoint.as_deref(),
        attributes: attributes.as_deref(),
    };
    let Some(opening) = rules.first_match(&subject, now) else {
        return Ok(None);
    };
    Ok(Some((row.get(8)?, market, channel, opening)))
}

/// Opens the cases of a batch's newly stored records; a record that already has its case
/// (a changed re-delivery) keeps it. Returns how many were opened.
pub(super) fn open(
    tx: &Transaction<'_>,
    instance: &str,
    openings: &[(String, String, String, Opening)],
    now: NaiveDateTime,
) -> Result<u64, WarehouseError> {
    if openings.is_empty() {
        return Ok(0);
    }
    {
        let mut staging = tx.appender("case_staging")?;
        for (external_id, market, channel, opening) in openings {
            let escalation = serde_json::to_string(&opening.escalation)
                .map_err(|e| WarehouseError::Corrupt(e.to_string()))?;
            staging.append_row(params![
                instance,
                external_id,
                opening.rule,
                market,
                channel,
                opening.assignee,
                escalation,
                opening.sla.as_secs() as i64,
                now,
                after(now, opening.sla),
            ])?;
        }
        staging.flush()?;
    }
    let mut opened: Vec<OpenedCase> = Vec::new();
    {
        let mut insert = tx.prepare(
            "INSERT INTO cases (source_instance, external_id, rule, market, channel, status, \
               assignee, escalation, escalation_level, sla_seconds, opened_at, due_at, updated_at) \
             SELECT source_instance, external_id, rule, market, channel, 'open', assignee, \
               escalation::VARCHAR[], 0, sla_seconds, opened_at, due_at, opened_at \
             FROM case_staging ON CONFLICT DO NOTHING \
             RETURNING id, assignee, rule, market, channel, external_id, due_at",
        )?;
        let mut rows = insert.query([])?;
        while let Some(row) = rows.next()? {
            opened.push(OpenedCase {
                id: row.get(0)?,
                assignee: row.get(1)?,
                rule: row.get(2)?,
                market: row.get(3)?,
                channel: row.get(4)?,
                external_id: row.get(5)?,
                due_at: row.get(6)?,
            });
        }
    }
    tx.execute("DELETE FROM case_staging", [])?;
    {
        let mut log = tx.appender("case_events")?;
        for case in &opened {
            let (from, note): (Option<&str>, String) = (None, format!("rule {}", case.rule));
            log.append_row(params![
                case.id,
                now,
                CHORUS,
                "opened",
                from,
                "open",
                case.assignee,
                note
            ])?;
        }
        log.flush()?;
    }
    if webhooks::subscribed(tx, CASE_CREATED)? {
        let events = opened.iter().map(|case| {
            json!({
                "case_id": case.id,
                "market": case.market,
                "channel": case.channel,
                "rule": case.rule,
                "assignee": case.assignee,
                "due_at": case.due_at.and_utc(),
                "instance": instance,
                "external_id": case.external_id,
            })
        });
        webhooks::record_all(tx, CASE_CREATED, events, now)?;
    }
    Ok(opened.len() as u64)
}

/// A case just opened, as the log and the `case.created` event need it.
struct OpenedCase {
    id: i64,
    assignee: String,
    rule: String,
    market: String,
    channel: String,
    external_id: String,
    due_at: NaiveDateTime,
}

/// Closes the active cases of records that were replaced by a version no rule applies to.
pub(super) fn close_unmatched(
    tx: &Transaction<'_>,
    instance: &str,
    external_ids: &[String],
    now: NaiveDateTime,
) -> Result<(), WarehouseError> {
    for external_id in external_ids {
        close_where(
            tx,
            "source_instance = ? AND external_id = ?",
            &[instance, external_id],
            "record_changed",
            "the record changed and no case rule applies to it any more",
            now,
        )?;
    }
    Ok(())
}

/// Closes the cases of erased records and wipes their notes (people write names into them).
pub(super) fn close_erased(
    tx: &Transaction<'_>,
    keys: &[(String, String)],
    now: NaiveDateTime,
) -> Result<(), WarehouseError> {
    for (instance, external_id) in keys {
        let condition = "source_instance = ? AND external_id = ?";
        let values = [instance.as_str(), external_id.as_str()];
        tx.execute(
            &format!(
                "UPDATE case_events SET note = NULL WHERE case_id IN \
                 (SELECT id FROM cases WHERE {condition})"
            ),
            params_from_iter(values.iter()),
        )?;
        tx.execute(
            &format!("UPDATE cases SET resolution_note = NULL WHERE {condition}"),
            params_from_iter(values.iter()),
        )?;
        close_where(tx, condition, &values, "record_erased", "", now)?;
    }
    Ok(())
}

fn close_where(
    tx: &Transaction<'_>,
    condition: &str,
    values: &[&str],
    code: &str,
    note: &str,
    now: NaiveDateTime,
) -> Result<(), WarehouseError> {
    let active = active_sql();
    let mut statement = tx.prepare(&format!(
        "UPDATE cases SET status = 'closed', resolution_code = ?, \
           resolution_note = nullif(?, ''), resolved_at = coalesce(resolved_at, ?), \
           updated_at = ? \
         WHERE {condition} AND status IN ({active}) RETURNING id, status"
    ))?;
    let mut parameters: Vec<duckdb::types::Value> = vec![
        code.to_owned().into(),
        note.to_owned().into(),
        timestamp(now),
        timestamp(now),
    ];
    parameters.extend(values.iter().map(|v| (*v).to_owned().into()));
    let mut rows = statement.query(params_from_iter(parameters))?;
    let mut closed = Vec::new();
    while let Some(row) = rows.next()? {
        closed.push(row.get::<_, i64>(0)?);
    }
    for id in closed {
        tx.execute(
            "INSERT INTO case_events VALUES (?, ?, 'chorus', 'closed', NULL, 'closed', NULL, ?)",
            params![id, now, code],
        )?;
    }
    Ok(())
}

fn timestamp(at: NaiveDateTime) -> duckdb::types::Value {
    duckdb::types::Value::Timestamp(
        duckdb::types::TimeUnit::Microsecond,
        at.and_utc().timestamp_micros(),
    )
}

/// `'open', 'in_progress', 'reopened'`: the statuses an SLA runs in.
fn active_sql() -> String {
    Status::ALL
        .iter()
        .filter(|s| s.is_active())
        .map(|s| format!("'{}'", s.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn after(at: NaiveDateTime, duration: Duration) -> NaiveDateTime {
    chrono::Duration::from_std(duration)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(at)
}

/// Filters of a case listing.
#[derive(Debug, Clone, Default)]
pub struct CaseQuery {
    /// Markets (already narrowed to the caller's scope); `None`: every market.
    pub markets: Option<Vec<String>>,
    pub status: Option<Status>,
    /// Only cases someone still owes an answer (open, in progress, reopened).
    pub active: bool,
    pub overdue: Option<bool>,
    pub assignee: Option<String>,
    /// Cases with a smaller id than this (the previous page's last).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// The record a case is about, redacted as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseRecord {
    pub instance: String,
    pub external_id: String,
    pub touchpoint: Option<String>,
    pub occurred_at: DateTime<Utc>,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub stars: Option<u8>,
    /// Redacted text.
    pub text: Option<String>,
    pub language: Option<String>,
    pub topics: Vec<String>,
}

/// One case as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    pub id: i64,
    pub rule: String,
    pub market: String,
    pub channel: String,
    pub status: Status,
    pub assignee: String,
    /// Who it goes to next when overdue, in order.
    pub escalation: Vec<String>,
    pub escalation_level: u32,
    pub opened_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Active and past `due_at`.
    pub overdue: bool,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolution_code: Option<String>,
    pub resolution_note: Option<String>,
    /// The record; absent once erased.
    pub record: Option<CaseRecord>,
    /// Whether the customer agreed to be contacted.
    pub contact_consent: bool,
    /// The record's source attributes (e-mail, customer id…) where the customer consented.
    #[schema(value_type = Option<Object>)]
    pub contact: Option<serde_json::Value>,
    /// Why `contact` is empty: "no contact consent", or "record erased".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_note: Option<&'static str>,
    /// What happened to the case, oldest first (only on `GET /cases/{id}` and `PATCH`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<CaseEvent>>,
}

/// One entry of a case's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseEvent {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// opened | status | assigned | note | escalated | closed
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub assignee: Option<String>,
    pub note: Option<String>,
}

/// A change to a case asked for by someone.
#[derive(Debug, Clone, Default)]
pub struct CaseChange {
    pub status: Option<Status>,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub resolution_code: Option<String>,
}

/// What became of a change.
#[derive(Debug)]
pub enum CaseUpdate {
    Updated(Box<CaseView>),
    NotFound,
    Refused(TransitionError),
}

/// Open, overdue and resolution time of one market's cases.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MarketCaseFigures {
    pub market: String,
    /// Active cases (open, in progress, reopened).
    pub open: u64,
    pub overdue: u64,
    pub resolved: u64,
    /// Median hours from opening to resolution over resolved and closed cases.
    pub median_hours_to_resolve: Option<f64>,
    /// Median hours from opening to the first move by a person (in progress or resolved),
    /// over the cases someone has moved: the time to first response.
    pub median_hours_to_first_response: Option<f64>,
}

/// An overdue case the escalation job announced, and who it went to (none at the end of
/// its chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalated {
    pub id: i64,
    pub market: String,
    pub from: String,
    pub to: Option<String>,
}

const CASE_COLUMNS: &str = "c.id, c.rule, c.market, c.channel, c.status, c.assignee, \
    array_to_string(c.escalation, chr(31)), c.escalation_level, c.opened_at, c.due_at, \
    c.resolved_at, c.resolution_code, c.resolution_note, \
    r.source_instance, r.external_id, r.touchpoint, r.occurred_at, r.nps, r.csat, r.ces, \
    r.stars, r.text, r.language, coalesce(list_aggr(r.topics, 'string_agg', '|'), ''), \
    coalesce(r.consent_contact, false), r.attributes";
const CASE_FROM: &str = "cases c LEFT JOIN records r \
    ON r.source_instance = c.source_instance AND r.external_id = c.external_id";

fn case_from_row(row: &duckdb::Row<'_>, now: NaiveDateTime) -> duckdb::Result<CaseView> {
    let utc = |at: NaiveDateTime| at.and_utc();
    let status_name: String = row.get(4)?;
    let status = Status::parse(&status_name).unwrap_or(Status::Open);
    let due_at: NaiveDateTime = row.get(9)?;
    let escalation: Option<String> = row.get(6)?;
    let record = match row.get::<_, Option<String>>(13)? {
        Some(instance) => Some(CaseRecord {
            instance,
            external_id: row.get(14)?,
            touchpoint: row.get(15)?,
            occurred_at: row.get::<_, UtcTimestamp>(16)?.0.and_utc(),
            nps: row.get(17)?,
            csat: row.get(18)?,
            ces: row.get(19)?,
            stars: row.get(20)?,
            text: row.get(21)?,
            language: row.get(22)?,
            topics: row
                .get::<_, String>(23)?
                .split('|')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        }),
        None => None,
    };
    let consent: bool = row.get(24)?;
    let attributes: Option<String> = row.get(25)?;
    let (contact, contact_note) = match (&record, consent) {
        (None, _) => (None, Some("record erased")),
        (Some(_), false) => (None, Some("no contact consent")),
        (Some(_), true) => (attributes.and_then(|a| serde_json::from_str(&a).ok()), None),
    };
    Ok(CaseView {
        id: row.get(0)?,
        rule: row.get(1)?,
        market: row.get(2)?,
        channel: row.get(3)?,
        status,
        assignee: row.get(5)?,
        escalation: escalation
            .unwrap_or_default()
            .split('\u{1f}')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        escalation_level: row.get::<_, i32>(7)?.max(0) as u32,
        opened_at: utc(row.get(8)?),
        due_at: utc(due_at),
        overdue: status.is_active() && due_at < now,
        resolved_at: row.get::<_, Option<NaiveDateTime>>(10)?.map(utc),
        resolution_code: row.get(11)?,
        resolution_note: row.get(12)?,
        record,
        contact_consent: consent && contact_note.is_none(),
        contact,
        contact_note,
        history: None,
    })
}

fn history(connection: &duckdb::Connection, id: i64) -> Result<Vec<CaseEvent>, WarehouseError> {
    let mut statement = connection.prepare(
        "SELECT happened_at, actor, kind, from_status, to_status, assignee, note FROM case_events \
         WHERE case_id = ? ORDER BY happened_at, rowid",
    )?;
    let rows = statement.query_map(params![id], |r| {
        Ok(CaseEvent {
            at: r.get::<_, NaiveDateTime>(0)?.and_utc(),
            actor: r.get(1)?,
            kind: r.get(2)?,
            from_status: r.get(3)?,
            to_status: r.get(4)?,
            assignee: r.get(5)?,
            note: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn one_case(
    connection: &duckdb::Connection,
    id: i64,
    now: NaiveDateTime,
) -> Result<Option<CaseView>, WarehouseError> {
    let mut statement = connection.prepare(&format!(
        "SELECT {CASE_COLUMNS} FROM {CASE_FROM} WHERE c.id = ?"
    ))?;
    let mut rows = statement.query(params![id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let mut case = case_from_row(row, now)?;
    case.history = Some(history(connection, id)?);
    Ok(Some(case))
}

impl Warehouse {
    /// Cases matching `query`, newest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn cases(
        &self,
        query: &CaseQuery,
        now: NaiveDateTime,
    ) -> Result<Vec<CaseView>, WarehouseError> {
        let mut sql = format!("SELECT {CASE_COLUMNS} FROM {CASE_FROM} WHERE true");
        let mut values: Vec<duckdb::types::Value> = Vec::new();
        if let Some(markets) = &query.markets {
            sql.push_str(&in_list("c.market", markets.len()));
            values.extend(markets.iter().map(|m| m.clone().into()));
        }
        if let Some(status) = query.status {
            sql.push_str(" AND c.status = ?");
            values.push(status.name().to_owned().into());
        }
        if query.active {
            sql.push_str(&format!(" AND c.status IN ({})", active_sql()));
        }
        if let Some(overdue) = query.overdue {
            let active = active_sql();
            let condition = format!("(c.status IN ({active}) AND c.due_at < ?)");
            sql.push_str(&if overdue {
                format!(" AND {condition}")
            } else {
                format!(" AND NOT {condition}")
            });
            values.push(timestamp(now));
        }
        if let Some(assignee) = &query.assignee {
            sql.push_str(" AND c.assignee = ?");
            values.push(assignee.clone().into());
        }
        if let Some(before) = query.before_id {
            sql.push_str(" AND c.id < ?");
            values.push(before.into());
        }
        sql.push_str(&format!(
            " ORDER BY c.id DESC LIMIT {}",
            query.limit.min(MAX_CASES_PER_PAGE)
        ));
        self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(values), |r| case_from_row(r, now))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// One case with its history.
    ///
    /// # Errors
    /// On a database error.
    pub fn case(&self, id: i64, now: NaiveDateTime) -> Result<Option<CaseView>, WarehouseError> {
        self.read(|c| one_case(c, id, now))
    }

    /// Applies a change by `actor`: a status transition (checked), a new assignee and/or a
    /// note, each logged with its time.
    ///
    /// # Errors
    /// On a database error; then nothing changed.
    pub fn update_case(
        &self,
        id: i64,
        change: &CaseChange,
        actor: &str,
        now: NaiveDateTime,
    ) -> Result<CaseUpdate, WarehouseError> {
        self.write(|connection| {
            let tx = connection.transaction()?;
            let current: Option<(String, i64)> = {
                let mut statement =
                    tx.prepare("SELECT status, sla_seconds FROM cases WHERE id = ?")?;
                let mut rows = statement.query(params![id])?;
                match rows.next()? {
                    Some(row) => Some((row.get(0)?, row.get(1)?)),
                    None => None,
                }
            };
            let Some((status, sla_seconds)) = current else {
                return Ok(CaseUpdate::NotFound);
            };
            let from = Status::parse(&status).ok_or_else(|| {
                WarehouseError::Corrupt(format!("case {id} has status {status:?}"))
            })?;
            if let Some(note) = &change.note {
                if let Err(e) = lifecycle::check_note(note) {
                    return Ok(CaseUpdate::Refused(e));
                }
            }
            if let Some(to) = change.status {
                let resolution = match lifecycle::transition(
                    from,
                    to,
                    change.resolution_code.as_deref(),
                    change.note.as_deref(),
                ) {
                    Ok(resolution) => resolution,
                    Err(e) => return Ok(CaseUpdate::Refused(e)),
                };
                match (to, resolution) {
                    (Status::Resolved, Some(resolution)) => tx.execute(
                        "UPDATE cases SET status = ?, resolved_at = ?, resolution_code = ?, \
                         resolution_note = ?, updated_at = ? WHERE id = ?",
                        params![to.name(), now, resolution.code, resolution.note, now, id],
                    )?,
                    // Reopened: the SLA starts again.
                    (Status::Reopened, _) => tx.execute(
                        "UPDATE cases SET status = ?, due_at = ?, updated_at = ? WHERE id = ?",
                        params![
                            to.name(),
                            after(now, Duration::from_secs(sla_seconds.max(0) as u64)),
                            now,
                            id
                        ],
                    )?,
                    _ => tx.execute(
                        "UPDATE cases SET status = ?, updated_at = ? WHERE id = ?",
                        params![to.name(), now, id],
                    )?,
                };
                tx.execute(
                    "INSERT INTO case_events VALUES (?, ?, ?, 'status', ?, ?, NULL, ?)",
                    params![id, now, actor, from.name(), to.name(), change.note],
                )?;
                if to == Status::Resolved && webhooks::subscribed(&tx, CASE_RESOLVED)? {
                    let (market, code): (String, Option<String>) = tx.query_row(
                        "SELECT market, resolution_code FROM cases WHERE id = ?",
                        params![id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    let data = json!({
                        "case_id": id,
                        "market": market,
                        "resolution_code": code,
                        "resolved_by": actor,
                    });
                    webhooks::record(&tx, CASE_RESOLVED, data, now)?;
                }
            } else if change.resolution_code.is_some() {
                return Ok(CaseUpdate::Refused(TransitionError::Invalid(
                    "resolution_code goes with \"status\": \"resolved\"".into(),
                )));
            } else if let Some(note) = &change.note {
                tx.execute(
                    "INSERT INTO case_events VALUES (?, ?, ?, 'note', NULL, NULL, NULL, ?)",
                    params![id, now, actor, note],
                )?;
            }
            if let Some(assignee) = &change.assignee {
                tx.execute(
                    "UPDATE cases SET assignee = ?, updated_at = ? WHERE id = ?",
                    params![assignee, now, id],
                )?;
                tx.execute(
                    "INSERT INTO case_events VALUES (?, ?, ?, 'assigned', NULL, NULL, ?, NULL)",
                    params![id, now, actor, assignee],
                )?;
            }
            tx.commit()?;
            Ok(match one_case(connection, id, now)? {
                Some(case) => CaseUpdate::Updated(Box::new(case)),
                None => CaseUpdate::NotFound,
            })
        })
    }

    /// The market of a case (what scope checks look at), or `None` when there is none.
    ///
    /// # Errors
    /// On a database error.
    pub fn case_market(&self, id: i64) -> Result<Option<String>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare("SELECT market FROM cases WHERE id = ?")?;
            let mut rows = statement.query(params![id])?;
            Ok(match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            })
        })
    }

    /// Open, overdue and resolved cases and the median time to resolve, per market.
    ///
    /// # Errors
    /// On a database error.
    pub fn case_figures(
        &self,
        markets: Option<&[String]>,
        now: NaiveDateTime,
    ) -> Result<Vec<MarketCaseFigures>, WarehouseError> {
        let active = active_sql();
        let mut sql = format!(
            "SELECT market, count(*) FILTER (WHERE status IN ({active})), \
               count(*) FILTER (WHERE status IN ({active}) AND due_at < ?), \
               count(*) FILTER (WHERE resolved_at IS NOT NULL), \
               median(epoch(resolved_at) - epoch(opened_at)) FILTER (WHERE resolved_at IS NOT NULL), \
               median(epoch(started.at) - epoch(opened_at)) \
             FROM cases LEFT JOIN ( \
               SELECT case_id, min(happened_at) AS at FROM case_events \
               WHERE kind = 'status' AND to_status IN ('in_progress', 'resolved') GROUP BY case_id \
             ) started ON started.case_id = cases.id WHERE true"
        );
        let mut values: Vec<duckdb::types::Value> = vec![timestamp(now)];
        if let Some(markets) = markets {
            sql.push_str(&in_list("market", markets.len()));
            values.extend(markets.iter().map(|m| m.clone().into()));
        }
        sql.push_str(" GROUP BY market ORDER BY market");
        self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(values), |r| {
                Ok(MarketCaseFigures {
                    market: r.get(0)?,
                    open: r.get::<_, i64>(1)?.max(0) as u64,
                    overdue: r.get::<_, i64>(2)?.max(0) as u64,
                    resolved: r.get::<_, i64>(3)?.max(0) as u64,
                    median_hours_to_resolve: r.get::<_, Option<f64>>(4)?.map(|s| s / 3600.0),
                    median_hours_to_first_response: r.get::<_, Option<f64>>(5)?.map(|s| s / 3600.0),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Announces every active case that missed its due time (`case.overdue`, once per missed
    /// due time) and moves it to the next person of its escalation chain with a new SLA
    /// window, logging each move. Cases at the end of their chain stay where they are.
    ///
    /// # Errors
    /// On a database error; then nothing moved.
    pub fn escalate_overdue(&self, now: NaiveDateTime) -> Result<Vec<Escalated>, WarehouseError> {
        let active = active_sql();
        self.write(|connection| {
            let tx = connection.transaction()?;
            let mut overdue: Vec<(i64, String, String, Option<String>, i64, NaiveDateTime)> =
                Vec::new();
            {
                let mut statement = tx.prepare(&format!(
                    "SELECT id, market, assignee, \
                       CASE WHEN escalation_level < len(escalation) \
                            THEN escalation[escalation_level + 1] END, sla_seconds, due_at \
                     FROM cases WHERE status IN ({active}) AND due_at < ? \
                       AND overdue_notified_due_at IS DISTINCT FROM due_at ORDER BY id"
                ))?;
                let mut rows = statement.query(params![now])?;
                while let Some(row) = rows.next()? {
                    overdue.push((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ));
                }
            }
            let announce = webhooks::subscribed(&tx, CASE_OVERDUE)?;
            let mut escalated = Vec::new();
            for (id, market, from, to, sla_seconds, missed) in overdue {
                tx.execute(
                    "UPDATE cases SET overdue_notified_due_at = due_at WHERE id = ?",
                    params![id],
                )?;
                if let Some(to) = &to {
                    let due_at = after(now, Duration::from_secs(sla_seconds.max(0) as u64));
                    tx.execute(
                        "UPDATE cases SET assignee = ?, escalation_level = escalation_level + 1, \
                         due_at = ?, updated_at = ? WHERE id = ?",
                        params![to, due_at, now, id],
                    )?;
                    tx.execute(
                        "INSERT INTO case_events VALUES (?, ?, ?, 'escalated', NULL, NULL, ?, ?)",
                        params![id, now, CHORUS, to, format!("overdue with {from}")],
                    )?;
                }
                if announce {
                    let data = json!({
                        "case_id": id,
                        "market": market,
                        "assignee": from,
                        "due_at": missed.and_utc(),
                        "escalated_to": to,
                    });
                    webhooks::record(&tx, CASE_OVERDUE, data, now)?;
                }
                escalated.push(Escalated {
                    id,
                    market,
                    from,
                    to,
                });
            }
            tx.commit()?;
            Ok(escalated)
        })
    }
}
