//! Headquarters' side of federation: a message is applied and `(node, seq)` recorded in one
//! transaction, so a redelivered message has no second effect, and a node's messages apply
//! in sequence order only.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDateTime;
use duckdb::{params, Transaction};
use serde::Serialize;

use super::{Warehouse, WarehouseError};
use crate::federation::message::{
    parse_timestamp, Change, ChangeKind, InvalidMessage, ReplicaRecord, TopicRow,
};
use crate::market_days::MarketZones;

/// One message as headquarters received it.
#[derive(Debug)]
pub struct Incoming {
    pub node: String,
    pub seq: i64,
    /// Its sequence in the JetStream stream, where known: the message is erased from the
    /// stream once every record it carried is erased.
    pub stream_seq: Option<u64>,
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
    #[serde(serialize_with = "crate::dates::rfc3339::serialize")]
    pub applied_at: NaiveDateTime,
    /// When the region committed it.
    #[serde(serialize_with = "crate::dates::rfc3339::serialize")]
    pub committed_at: NaiveDateTime,
    /// The sequence headquarters waits for because a later one arrived first.
    pub waiting_for: Option<i64>,
    #[serde(serialize_with = "crate::dates::rfc3339::option")]
    pub waiting_since: Option<NaiveDateTime>,
    /// Why the awaited message was refused, if it was.
    pub refused: Option<String>,
}

impl Warehouse {
    /// Applies messages from regional nodes in one transaction, each at most once and in
    /// sequence order per node; says per message what happened.
    ///
    /// # Errors
    /// On a database error; then nothing of them is applied.
    pub fn apply_federated(&self, messages: &[Incoming]) -> Result<Vec<Applied>, WarehouseError> {
        let now = chrono::Utc::now().naive_utc();
        let zones = self.market_zones();
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
                        origin: None,
                        last_seq: 0,
                        applied_at: now,
                        committed_at: now,
                        waiting_for: None,
                        waiting_since: None,
                        refused: None,
                        dirty: true,
                    });
                let foreign = match (&message.change, &node.origin) {
                    (Ok(change), Some(origin)) => origin != &change.origin,
                    _ => false,
                };
                let outcome = if foreign {
                    // Its sequence restarted: taking its messages for redeliveries would
                    // drop them, applying the later ones would count a part of them.
                    tracing::error!(node = %message.node, seq = message.seq,
                        "federation: a node with a re-created warehouse; its messages wait");
                    node.wait(
                        node.last_seq + 1,
                        Some(format!(
                            "node {} sends from a re-created warehouse (its sequence started \
                             again); its earlier counts are still merged here. Give the \
                             re-created node a new node_id",
                            message.node
                        )),
                        now,
                    );
                    Applied::Waiting
                } else if message.seq <= node.last_seq {
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
                            appended += apply_change(&tx, change, &zones)?;
                            track_carriers(&tx, change, message.stream_seq)?;
                            for market in change.markets() {
                                as_of.insert(
                                    market.to_owned(),
                                    (message.node.clone(), change.committed_at),
                                );
                            }
                            *node = NodeRow {
                                origin: Some(change.origin.clone()),
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
    /// `None` until its first message is applied.
    origin: Option<String>,
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
        "SELECT node, last_seq, applied_at, committed_at, waiting_for, waiting_since, refused, \
         origin FROM federation_nodes",
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
                origin: r.get(7)?,
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
        "INSERT INTO federation_nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node) \
         DO UPDATE SET last_seq = excluded.last_seq, applied_at = excluded.applied_at, \
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
            row.refused,
            row.origin
        ])?;
    }
    Ok(())
}

/// Notes inside `tx` which stream message carried the change's records, and which stream
/// messages its erased records make obsolete (the text they carried must go with them).
fn track_carriers(
    tx: &Transaction<'_>,
    change: &Change,
    stream_seq: Option<u64>,
) -> Result<(), WarehouseError> {
    if change.kind == ChangeKind::Erasure {
        let mut obsolete = tx.prepare(
            "INSERT INTO stream_erasures SELECT DISTINCT stream_seq FROM replica_carriers \
             WHERE source_instance = ? AND external_id = ? ON CONFLICT DO NOTHING",
        )?;
        let mut forget = tx.prepare(
            "DELETE FROM replica_carriers WHERE source_instance = ? AND external_id = ?",
        )?;
        for (instance, id) in &change.deleted {
            obsolete.execute(params![instance, id])?;
            forget.execute(params![instance, id])?;
        }
    }
    if let Some(stream_seq) = stream_seq.filter(|_| !change.records.is_empty()) {
        let mut appender = tx.appender("replica_carriers")?;
        for record in &change.records {
            appender.append_row(params![
                record.source_instance,
                record.external_id,
                stream_seq as i64
            ])?;
        }
        appender.flush()?;
    }
    Ok(())
}

impl Warehouse {
    /// Stream messages (JetStream sequences) waiting to be erased, oldest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn stream_erasures(&self, limit: usize) -> Result<Vec<u64>, WarehouseError> {
        self.read(|c| {
            let mut statement =
                c.prepare("SELECT stream_seq FROM stream_erasures ORDER BY stream_seq LIMIT ?")?;
            let rows = statement.query_map(params![limit as i64], |r| r.get::<_, i64>(0))?;
            Ok(rows
                .map(|r| r.map(|s| s as u64))
                .collect::<Result<_, _>>()?)
        })
    }

    /// Forgets stream messages JetStream has erased.
    ///
    /// # Errors
    /// On a database error.
    pub fn stream_erased(&self, sequences: &[u64]) -> Result<(), WarehouseError> {
        self.write(|c| {
            let tx = c.transaction()?;
            {
                let mut statement =
                    tx.prepare("DELETE FROM stream_erasures WHERE stream_seq = ?")?;
                for seq in sequences {
                    statement.execute(params![*seq as i64])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }
}

/// Applies one checked change inside `tx`; returns the cube rows it appended.
fn apply_change(
    tx: &Transaction<'_>,
    change: &Change,
    zones: &MarketZones,
) -> Result<u64, WarehouseError> {
    let mut appender = tx.appender("score_counts")?;
    for (market, channel, day, measure, s) in &change.scores {
        appender.append_row(params![
            market, channel, day, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8],
            s[9], s[10]
        ])?;
    }
    appender.flush()?;
    drop(appender);
    append_topic_rows(tx, "topic_counts", &change.topics)?;
    append_topic_rows(tx, "driver_counts", &change.drivers)?;
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
    if change.kind == ChangeKind::Erasure && !change.deleted.is_empty() {
        // An erased record's text stays in free blocks until the file is rewritten.
        super::rewrite::ask_for_rewrite(
            tx,
            super::rewrite::RewriteReason::ReplicaDeleted,
            change.committed_at,
        )?;
    }
    if !change.records.is_empty() {
        store_replicas(tx, &change.records, zones)?;
    }
    Ok((change.scores.len() + change.topics.len() + change.drivers.len()) as u64)
}

/// Appends rows keyed by a topic (or a topic set) to `cube`.
fn append_topic_rows(
    tx: &Transaction<'_>,
    cube: &str,
    rows: &[TopicRow],
) -> Result<(), WarehouseError> {
    let mut appender = tx.appender(cube)?;
    for (market, channel, day, topic, measure, s) in rows {
        appender.append_row(params![
            market, channel, day, topic, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            s[8], s[9], s[10]
        ])?;
    }
    appender.flush()?;
    Ok(())
}

/// The `run_id` of records replicated from a region: headquarters counts them through the
/// region's cube rows, never from the records themselves.
pub(super) const REPLICA_RUN: i64 = 0;

/// Stores replicated records through `ingest_staging` (its lists are '|'-joined text).
fn store_replicas(
    tx: &Transaction<'_>,
    records: &[ReplicaRecord],
    zones: &MarketZones,
) -> Result<(), WarehouseError> {
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
            REPLICA_RUN,
            r.topics.as_ref().map(|t| t.join("|")),
            r.redactions.as_ref().map(|t| t.join("|")),
            None::<String>,
            zones.day_of(&r.market, at(&r.occurred_at)),
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
