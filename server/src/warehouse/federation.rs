//! The warehouse side of federation. A regional node writes what each transaction changed
//! into `federation_outbox` inside that transaction, so a change and its message exist
//! together or not at all; headquarters applies a message and records `(node, seq)` in one
//! transaction, so a redelivered message has no second effect.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::{params, Transaction};
use serde::Serialize;

use super::cubes::slot_list;
use super::{Warehouse, WarehouseError};
use crate::federation::message::{
    parse_timestamp, Change, ChangeKind, InvalidMessage, ReplicaRecord, ScoreRow, TopicRow,
    REPLICA_JSON, SLOTS,
};

/// What a regional node ships besides counts.
#[derive(Debug, Clone, Default)]
pub struct OutboxPolicy {
    /// This node's id.
    pub node: String,
    /// Markets with `residency = "global"`: their redacted records travel too.
    pub global_markets: BTreeSet<String>,
}

impl OutboxPolicy {
    /// `CASE WHEN market IN (…global…) THEN <record as JSON> END`, a column that is NULL for
    /// every record that must stay in the region.
    pub(super) fn replica_column(&self) -> String {
        if self.global_markets.is_empty() {
            return "NULL::VARCHAR".to_owned();
        }
        let markets: Vec<String> = self
            .global_markets
            .iter()
            .map(|m| format!("'{}'", m.replace('\'', "''")))
            .collect();
        format!(
            "CASE WHEN market IN ({}) THEN {REPLICA_JSON} END",
            markets.join(", ")
        )
    }
}

/// A record rendered by [`OutboxPolicy::replica_column`].
pub(super) fn replica(json: &str) -> Result<ReplicaRecord, WarehouseError> {
    serde_json::from_str(json)
        .map_err(|e| WarehouseError::Corrupt(format!("a record does not render as JSON: {e}")))
}

/// Appends `change` (split into messages) to the outbox inside `tx`.
pub(super) fn write_outbox(
    tx: &Transaction<'_>,
    change: Change,
    now: NaiveDateTime,
) -> Result<(), WarehouseError> {
    if change.is_empty() {
        return Ok(());
    }
    let last: i64 = tx.query_row(
        "SELECT greatest((SELECT coalesce(max(seq), 0) FROM federation_outbox), \
                         (SELECT coalesce(max(last_seq), 0) FROM federation_published))",
        [],
        |r| r.get(0),
    )?;
    let mut statement = tx.prepare("INSERT INTO federation_outbox VALUES (?, ?, ?)")?;
    for (i, part) in change.split().into_iter().enumerate() {
        statement.execute(params![last + 1 + i as i64, now, part.encode()])?;
    }
    Ok(())
}

/// The cubes' current sums (a snapshot), or `recount − kept` of the topic cube (what a
/// retag changes), as signed rows.
fn cube_rows(tx: &Transaction<'_>, sql: &str, topic: bool) -> Result<Vec<Row>, WarehouseError> {
    let mut statement = tx.prepare(sql)?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    let first = if topic { 5 } else { 4 };
    while let Some(row) = rows.next()? {
        let mut slots = [0i64; SLOTS];
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = row.get(first + i)?;
        }
        let day: NaiveDate = row.get(2)?;
        out.push(if topic {
            Row::Topic((
                row.get(0)?,
                row.get(1)?,
                day,
                row.get(3)?,
                row.get(4)?,
                slots,
            ))
        } else {
            Row::Score((row.get(0)?, row.get(1)?, day, row.get(3)?, slots))
        });
    }
    Ok(out)
}

enum Row {
    Score(ScoreRow),
    Topic(TopicRow),
}

fn add_rows(change: &mut Change, rows: Vec<Row>) {
    for row in rows {
        match row {
            Row::Score(r) => change.scores.push(r),
            Row::Topic(r) => change.topics.push(r),
        }
    }
}

/// The topic cube's change when it is rebuilt from `records`: recount minus kept, per key.
pub(super) fn topic_rebuild_delta(tx: &Transaction<'_>) -> Result<Change, WarehouseError> {
    let keys = "market, channel, day, topic, measure";
    let sums = slot_list(|s| format!("sum({s}) AS {s}"));
    let delta = slot_list(|s| format!("(coalesce(n.{s}, 0) - coalesce(o.{s}, 0))::BIGINT"));
    let any =
        slot_list(|s| format!("coalesce(n.{s}, 0) <> coalesce(o.{s}, 0)")).replace(", ", " OR ");
    let sql = format!(
        "SELECT {keys}, {delta} \
         FROM (SELECT {keys}, {sums} FROM topic_counts GROUP BY ALL) o \
         FULL OUTER JOIN topic_counts_recount n USING ({keys}) WHERE {any}"
    );
    let mut change = Change::new(ChangeKind::Retag, chrono::Utc::now().naive_utc());
    add_rows(&mut change, cube_rows(tx, &sql, true)?);
    Ok(change)
}

/// Where a regional node's publisher stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutboxState {
    /// Messages not yet acknowledged by JetStream.
    pub depth: u64,
    /// When the oldest of them was committed.
    pub oldest: Option<NaiveDateTime>,
    /// The last sequence acknowledged.
    pub published: i64,
}

/// One message as headquarters received it.
#[derive(Debug)]
pub struct Incoming {
    pub node: String,
    pub seq: i64,
    pub change: Result<Change, InvalidMessage>,
}

/// What headquarters did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Its effect is committed now.
    Applied,
    /// Its effect was committed before (a redelivery).
    Duplicate,
    /// An earlier sequence of its node is missing, or was refused: not applied, ask again.
    Waiting,
}

/// A regional node as headquarters sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NodeState {
    pub node: String,
    /// The last sequence applied.
    pub last_seq: i64,
    /// When headquarters applied it.
    pub applied_at: NaiveDateTime,
    /// When the region committed it.
    pub committed_at: NaiveDateTime,
    /// The sequence headquarters waits for because a later one arrived first.
    pub waiting_for: Option<i64>,
    pub waiting_since: Option<NaiveDateTime>,
    /// Why the awaited message was refused, if it was.
    pub refused: Option<String>,
}

impl Warehouse {
    /// Makes this warehouse a regional node's: from now on every change also writes its
    /// outbox message. The first time, it writes the node's snapshot (its cubes and global
    /// records as they are) in one transaction with the mark that says it did.
    ///
    /// # Errors
    /// On a database error; then nothing is written.
    pub fn start_outbox(&self, policy: OutboxPolicy) -> Result<(), WarehouseError> {
        let now = chrono::Utc::now().naive_utc();
        let replica_json = policy.replica_column();
        self.write(|connection| {
            let tx = connection.transaction()?;
            let joined: bool = tx.query_row(
                "SELECT EXISTS (FROM federation_published WHERE node = ?)",
                params![policy.node],
                |r| r.get(0),
            )?;
            if !joined {
                let mut change = Change::new(ChangeKind::Snapshot, now);
                for (cube, keys, topic) in [
                    ("score_counts", "market, channel, day, measure", false),
                    ("topic_counts", "market, channel, day, topic, measure", true),
                ] {
                    let sums = slot_list(|s| format!("sum({s})::BIGINT"));
                    let any = slot_list(|s| format!("sum({s}) <> 0")).replace(", ", " OR ");
                    let sql = format!(
                        "SELECT {keys}, {sums} FROM {cube} GROUP BY ALL HAVING {any} ORDER BY ALL"
                    );
                    add_rows(&mut change, cube_rows(&tx, &sql, topic)?);
                }
                let mut statement = tx.prepare(&format!(
                    "SELECT {replica_json} FROM records WHERE {replica_json} IS NOT NULL"
                ))?;
                let mut rows = statement.query([])?;
                while let Some(row) = rows.next()? {
                    change.records.push(replica(&row.get::<_, String>(0)?)?);
                }
                let messages = change.scores.len() + change.topics.len() + change.records.len();
                write_outbox(&tx, change, now)?;
                tx.execute(
                    "INSERT INTO federation_published VALUES (?, 0, ?)",
                    params![policy.node, now],
                )?;
                tracing::info!(node = %policy.node, rows = messages, "federation snapshot written");
            }
            tx.commit()?;
            Ok(())
        })?;
        let _ = self.outbox.set(policy);
        Ok(())
    }

    /// The outbox policy, on a regional node.
    pub(super) fn outbox_policy(&self) -> Option<&OutboxPolicy> {
        self.outbox.get()
    }

    /// Up to `limit` messages after sequence `after`, in order.
    ///
    /// # Errors
    /// On a database error.
    pub fn outbox_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, String)>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare(
                "SELECT seq, payload FROM federation_outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            )?;
            let rows = statement
                .query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Records that JetStream acknowledged every message up to `seq`, and drops them.
    ///
    /// # Errors
    /// On a database error.
    pub fn mark_published(&self, node: &str, seq: i64) -> Result<(), WarehouseError> {
        self.write(|connection| {
            let tx = connection.transaction()?;
            tx.execute(
                "UPDATE federation_published SET last_seq = greatest(last_seq, ?), \
                 updated_at = ? WHERE node = ?",
                params![seq, chrono::Utc::now().naive_utc(), node],
            )?;
            tx.execute("DELETE FROM federation_outbox WHERE seq <= ?", params![seq])?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The outbox's depth, oldest entry and last acknowledged sequence.
    ///
    /// # Errors
    /// On a database error.
    pub fn outbox_state(&self) -> Result<OutboxState, WarehouseError> {
        self.read(|c| {
            let (depth, oldest): (i64, Option<NaiveDateTime>) = c.query_row(
                "SELECT count(*), min(created_at) FROM federation_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let published: i64 = c.query_row(
                "SELECT coalesce(max(last_seq), 0) FROM federation_published",
                [],
                |r| r.get(0),
            )?;
            Ok(OutboxState {
                depth: depth as u64,
                oldest,
                published,
            })
        })
    }

    /// Applies messages from regional nodes in one transaction, each at most once and in
    /// sequence order per node; says per message what happened.
    ///
    /// # Errors
    /// On a database error; then nothing of them is applied.
    pub fn apply_federated(&self, messages: &[Incoming]) -> Result<Vec<Applied>, WarehouseError> {
        let now = chrono::Utc::now().naive_utc();
        self.write(|connection| {
            let tx = connection.transaction()?;
            let mut nodes = load_nodes(&tx)?;
            let mut outcomes = Vec::with_capacity(messages.len());
            let mut appended = 0u64;
            let mut as_of: BTreeMap<String, (String, NaiveDateTime)> = BTreeMap::new();
            for message in messages {
                let node = nodes
                    .entry(message.node.clone())
                    .or_insert_with(|| NodeRow {
                        last_seq: 0,
                        applied_at: now,
                        committed_at: now,
                        waiting_for: None,
                        waiting_since: None,
                        refused: None,
                        dirty: true,
                    });
                let outcome = if message.seq <= node.last_seq {
                    Applied::Duplicate
                } else if message.seq > node.last_seq + 1 {
                    node.wait(node.last_seq + 1, None, now);
                    Applied::Waiting
                } else {
                    match &message.change {
                        Err(invalid) => {
                            tracing::error!(node = %message.node, seq = message.seq, %invalid,
                                "federation message refused; this node's later messages wait");
                            node.wait(message.seq, Some(invalid.to_string()), now);
                            Applied::Waiting
                        }
                        Ok(change) => {
                            appended += apply_change(&tx, change)?;
                            for market in change.markets() {
                                as_of.insert(
                                    market.to_owned(),
                                    (message.node.clone(), change.committed_at),
                                );
                            }
                            *node = NodeRow {
                                last_seq: message.seq,
                                applied_at: now,
                                committed_at: change.committed_at,
                                waiting_for: None,
                                waiting_since: None,
                                refused: None,
                                dirty: true,
                            };
                            Applied::Applied
                        }
                    }
                };
                outcomes.push(outcome);
            }
            save_nodes(&tx, &nodes)?;
            let mut statement = tx.prepare(
                "INSERT INTO federation_markets VALUES (?, ?, ?) ON CONFLICT (market) \
                 DO UPDATE SET node = excluded.node, as_of = excluded.as_of",
            )?;
            for (market, (node, at)) in &as_of {
                statement.execute(params![market, node, at])?;
            }
            drop(statement);
            tx.commit()?;
            self.compact_if_due(connection, appended)?;
            Ok(outcomes)
        })
    }

    /// The regional nodes headquarters has heard from.
    ///
    /// # Errors
    /// On a database error.
    pub fn federation_nodes(&self) -> Result<Vec<NodeState>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare(
                "SELECT node, last_seq, applied_at, committed_at, waiting_for, waiting_since, \
                 refused FROM federation_nodes ORDER BY node",
            )?;
            let rows = statement.query_map([], |r| {
                Ok(NodeState {
                    node: r.get(0)?,
                    last_seq: r.get(1)?,
                    applied_at: r.get(2)?,
                    committed_at: r.get(3)?,
                    waiting_for: r.get(4)?,
                    waiting_since: r.get(5)?,
                    refused: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Per market, when its region committed the last change headquarters applied.
    ///
    /// # Errors
    /// On a database error.
    pub fn markets_as_of(&self) -> Result<BTreeMap<String, NaiveDateTime>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare("SELECT market, as_of FROM federation_markets")?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

/// `federation_nodes` in memory during one apply.
struct NodeRow {
    last_seq: i64,
    applied_at: NaiveDateTime,
    committed_at: NaiveDateTime,
    waiting_for: Option<i64>,
    waiting_since: Option<NaiveDateTime>,
    refused: Option<String>,
    dirty: bool,
}

impl NodeRow {
    fn wait(&mut self, seq: i64, refused: Option<String>, now: NaiveDateTime) {
        if self.waiting_for != Some(seq) {
            self.waiting_since = Some(now);
        }
        self.waiting_for = Some(seq);
        if refused.is_some() {
            self.refused = refused;
        }
        self.dirty = true;
    }
}

fn load_nodes(tx: &Transaction<'_>) -> Result<HashMap<String, NodeRow>, WarehouseError> {
    let mut statement = tx.prepare(
        "SELECT node, last_seq, applied_at, committed_at, waiting_for, waiting_since, refused \
         FROM federation_nodes",
    )?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            NodeRow {
                last_seq: r.get(1)?,
                applied_at: r.get(2)?,
                committed_at: r.get(3)?,
                waiting_for: r.get(4)?,
                waiting_since: r.get(5)?,
                refused: r.get(6)?,
                dirty: false,
            },
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn save_nodes(
    tx: &Transaction<'_>,
    nodes: &HashMap<String, NodeRow>,
) -> Result<(), WarehouseError> {
    let mut statement = tx.prepare(
        "INSERT INTO federation_nodes VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node) DO UPDATE \
         SET last_seq = excluded.last_seq, applied_at = excluded.applied_at, \
         committed_at = excluded.committed_at, waiting_for = excluded.waiting_for, \
         waiting_since = excluded.waiting_since, refused = excluded.refused",
    )?;
    for (node, row) in nodes.iter().filter(|(_, r)| r.dirty) {
        statement.execute(params![
            node,
            row.last_seq,
            row.applied_at,
            row.committed_at,
            row.waiting_for,
            row.waiting_since,
            row.refused
        ])?;
    }
    Ok(())
}

/// Applies one checked change inside `tx`; returns the cube rows it appended.
fn apply_change(tx: &Transaction<'_>, change: &Change) -> Result<u64, WarehouseError> {
    let mut appender = tx.appender("score_counts")?;
    for (market, channel, day, measure, s) in &change.scores {
        appender.append_row(params![
            market, channel, day, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8],
            s[9], s[10]
        ])?;
    }
    appender.flush()?;
    drop(appender);
    let mut appender = tx.appender("topic_counts")?;
    for (market, channel, day, topic, measure, s) in &change.topics {
        appender.append_row(params![
            market, channel, day, topic, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            s[8], s[9], s[10]
        ])?;
    }
    appender.flush()?;
    drop(appender);
    let mut delete =
        tx.prepare("DELETE FROM records WHERE source_instance = ? AND external_id = ?")?;
    let replaced = change
        .records
        .iter()
        .map(|r| (r.source_instance.as_str(), r.external_id.as_str()));
    let deleted = change.deleted.iter().map(|(i, e)| (i.as_str(), e.as_str()));
    for (instance, id) in deleted.chain(replaced) {
        delete.execute(params![instance, id])?;
    }
    if !change.records.is_empty() {
        store_replicas(tx, &change.records)?;
    }
    Ok((change.scores.len() + change.topics.len()) as u64)
}

/// Stores replicated records through `ingest_staging` (its lists are '|'-joined text).
fn store_replicas(tx: &Transaction<'_>, records: &[ReplicaRecord]) -> Result<(), WarehouseError> {
    tx.execute("DELETE FROM ingest_staging", [])?;
    let mut appender = tx.appender("ingest_staging")?;
    for r in records {
        // Checked when the message was decoded.
        let at = |t: &str| parse_timestamp(t).unwrap_or_default();
        appender.append_row(params![
            r.source_instance,
            r.external_id,
            r.market,
            r.region,
            r.channel,
            r.touchpoint,
            at(&r.occurred_at),
            at(&r.ingested_at),
            r.nps,
            r.csat,
            r.ces,
            r.stars,
            r.text,
            r.language,
            r.language_confidence,
            r.language_decided_by,
            r.consent_contact,
            r.attributes,
            0i64,
            r.topics.as_ref().map(|t| t.join("|")),
            r.redactions.as_ref().map(|t| t.join("|")),
            None::<String>,
        ])?;
    }
    appender.flush()?;
    drop(appender);
    // The last version of a key within the message wins.
    tx.execute_batch(
        "DELETE FROM ingest_staging WHERE rowid NOT IN \
           (SELECT max(rowid) FROM ingest_staging GROUP BY source_instance, external_id); \
         INSERT INTO records BY NAME SELECT * REPLACE ( \
           CASE WHEN topics = '' THEN []::VARCHAR[] ELSE string_split(topics, '|') END AS topics, \
           CASE WHEN redactions = '' THEN []::VARCHAR[] \
             ELSE string_split(redactions, '|') END AS redactions) \
         FROM ingest_staging; \
         DELETE FROM ingest_staging;",
    )?;
    Ok(())
}

impl Warehouse {
    /// Every nonzero cube row summed per key, keyed `cube market/channel/day[/topic]/measure`:
    /// what two warehouses must agree on when one is the sum of others.
    ///
    /// # Errors
    /// On a database error.
    pub fn cube_totals(&self) -> Result<BTreeMap<String, Vec<i64>>, WarehouseError> {
        self.read(|c| {
            let mut totals = BTreeMap::new();
            for (cube, keys) in [
                ("score_counts", "market, channel, day, measure"),
                ("topic_counts", "market, channel, day, topic, measure"),
            ] {
                let sums = slot_list(|s| format!("sum({s})::BIGINT"));
                let any = slot_list(|s| format!("sum({s}) <> 0")).replace(", ", " OR ");
                let mut statement = c.prepare(&format!(
                    "SELECT concat_ws('/', {keys}), [{sums}] FROM {cube} GROUP BY {keys} \
                     HAVING {any}"
                ))?;
                let mut rows = statement.query([])?;
                while let Some(row) = rows.next()? {
                    let key: String = row.get(0)?;
                    let slots = match row.get::<_, duckdb::types::Value>(1)? {
                        duckdb::types::Value::List(items) => items
                            .into_iter()
                            .map(|v| match v {
                                duckdb::types::Value::BigInt(n) => n,
                                _ => 0,
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    totals.insert(format!("{cube} {key}"), slots);
                }
            }
            Ok(totals)
        })
    }
}

impl Warehouse {
    /// Stored records per market.
    ///
    /// # Errors
    /// On a database error.
    pub fn market_record_counts(&self) -> Result<BTreeMap<String, u64>, WarehouseError> {
        self.read(|c| {
            let mut statement =
                c.prepare("SELECT market, count(*) FROM records GROUP BY market")?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Stored records that keep an original (unredacted) text.
    ///
    /// # Errors
    /// On a database error.
    pub fn original_texts(&self) -> Result<u64, WarehouseError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM records WHERE text_original IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }
}
