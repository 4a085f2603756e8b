//! A regional node's outbox: what each transaction changed is written into
//! `federation_outbox` inside that transaction, so a change and its message exist together
//! or not at all. The publisher (`federation/publisher.rs`) drains it.

use std::collections::BTreeSet;

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::{params, Transaction};
use serde::Serialize;

use super::cubes::slot_list;
use super::{Warehouse, WarehouseError};
use crate::dates::DateRange;
use crate::federation::message::{
    Change, ChangeKind, ReplicaRecord, ScoreRow, TopicRow, REPLICA_JSON, SLOTS,
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
    mut change: Change,
    now: NaiveDateTime,
) -> Result<(), WarehouseError> {
    if change.is_empty() {
        return Ok(());
    }
    let (last, origin): (i64, Option<String>) = tx.query_row(
        "SELECT greatest((SELECT coalesce(max(seq), 0) FROM federation_outbox), \
                         (SELECT coalesce(max(last_seq), 0) FROM federation_published)), \
                (SELECT any_value(origin) FROM federation_published)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    change.origin = origin.ok_or_else(|| {
        WarehouseError::Corrupt("an outbox change before the node's snapshot".to_owned())
    })?;
    let mut statement = tx.prepare("INSERT INTO federation_outbox VALUES (?, ?, ?)")?;
    for (i, part) in change.split().into_iter().enumerate() {
        statement.execute(params![last + 1 + i as i64, now, part.encode()])?;
    }
    Ok(())
}

/// Takes the records `keys` names out of every message not sent yet, inside `tx`: an erasure
/// must not reach headquarters as the very text it erased. Their counts stay in the messages;
/// the erasure's own message takes them back. Returns the messages rewritten.
pub(super) fn scrub_records(
    tx: &Transaction<'_>,
    keys: &[(String, String)],
) -> Result<u64, WarehouseError> {
    if keys.is_empty() {
        return Ok(0);
    }
    let erased: std::collections::HashSet<(&str, &str)> =
        keys.iter().map(|(i, e)| (i.as_str(), e.as_str())).collect();
    let mut rewritten = Vec::new();
    {
        let mut statement =
            tx.prepare("SELECT seq, payload FROM federation_outbox ORDER BY seq")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let (seq, payload): (i64, Vec<u8>) = (row.get(0)?, row.get(1)?);
            let mut change = Change::decode_own(&payload).map_err(|e| {
                WarehouseError::Corrupt(format!("outbox message {seq} does not decode: {e}"))
            })?;
            let before = change.records.len();
            change.records.retain(|r| {
                !erased.contains(&(r.source_instance.as_str(), r.external_id.as_str()))
            });
            if change.records.len() != before {
                rewritten.push((seq, change.encode()));
            }
        }
    }
    let mut update = tx.prepare("UPDATE federation_outbox SET payload = ? WHERE seq = ?")?;
    for (seq, payload) in &rewritten {
        update.execute(params![payload, seq])?;
    }
    Ok(rewritten.len() as u64)
}

/// The cubes' current sums (a snapshot), or `recount − kept` of the topic cube (what a
/// retag changes), as signed rows.
fn cube_rows(tx: &Transaction<'_>, sql: &str, cube: Cube) -> Result<Vec<Row>, WarehouseError> {
    let mut statement = tx.prepare(sql)?;
    let mut rows = statement.query([])?;
    let mut out = Vec::new();
    let topic = cube != Cube::Scores;
    let first = if topic { 5 } else { 4 };
    while let Some(row) = rows.next()? {
        let mut slots = [0i64; SLOTS];
        for (i, slot) in slots.iter_mut().enumerate() {
            *slot = row.get(first + i)?;
        }
        let day: NaiveDate = row.get(2)?;
        out.push(if topic {
            let row = (
                row.get(0)?,
                row.get(1)?,
                day,
                row.get(3)?,
                row.get(4)?,
                slots,
            );
            if cube == Cube::Drivers {
                Row::Driver(row)
            } else {
                Row::Topic(row)
            }
        } else {
            Row::Score((row.get(0)?, row.get(1)?, day, row.get(3)?, slots))
        });
    }
    Ok(out)
}

/// Which cube rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cube {
    Scores,
    Topics,
    Drivers,
}

/// The cubes with their key columns, as a snapshot ships them.
const SHIPPED_CUBES: [(&str, &str, Cube); 3] = [
    (
        "score_counts",
        "market, channel, day, measure",
        Cube::Scores,
    ),
    (
        "topic_counts",
        "market, channel, day, topic, measure",
        Cube::Topics,
    ),
    (
        "driver_counts",
        "market, channel, day, topic_set, measure",
        Cube::Drivers,
    ),
];

enum Row {
    Score(ScoreRow),
    Topic(TopicRow),
    Driver(TopicRow),
}

fn add_rows(change: &mut Change, rows: Vec<Row>) {
    for row in rows {
        match row {
            Row::Score(r) => change.scores.push(r),
            Row::Topic(r) => change.topics.push(r),
            Row::Driver(r) => change.drivers.push(r),
        }
    }
}

/// The change of the cubes that count topics (topics, driver topic sets) when they are
/// rebuilt from `records`: recount minus kept, per key.
pub(super) fn topic_rebuild_delta(tx: &Transaction<'_>) -> Result<Change, WarehouseError> {
    let sums = slot_list(|s| format!("sum({s}) AS {s}"));
    let delta = slot_list(|s| format!("(coalesce(n.{s}, 0) - coalesce(o.{s}, 0))::BIGINT"));
    let any =
        slot_list(|s| format!("coalesce(n.{s}, 0) <> coalesce(o.{s}, 0)")).replace(", ", " OR ");
    let mut change = Change::new(ChangeKind::Retag, chrono::Utc::now().naive_utc());
    for (cube, keys, kind) in &SHIPPED_CUBES[1..] {
        let sql = format!(
            "SELECT {keys}, {delta} \
             FROM (SELECT {keys}, {sums} FROM {cube} GROUP BY ALL) o \
             FULL OUTER JOIN {cube}_recount n USING ({keys}) WHERE {any}"
        );
        add_rows(&mut change, cube_rows(tx, &sql, *kind)?);
    }
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

impl Warehouse {
    /// Whether this file has joined the federation as `node` (its snapshot is written).
    ///
    /// # Errors
    /// On a database error.
    pub fn has_joined(&self, node: &str) -> Result<bool, WarehouseError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (FROM federation_published WHERE node = ?)",
                params![node],
                |r| r.get(0),
            )?)
        })
    }

    /// Makes this warehouse a regional node's: from now on every change also writes its
    /// outbox message. The first time, it writes the node's snapshot (its cubes and global
    /// records as they are) in one transaction with the mark that says it did. A file that
    /// holds records dated outside `dates` (stored by an earlier version) must be repaired
    /// with `chorus verify --quarantine` first: headquarters would refuse them.
    ///
    /// # Errors
    /// On a database error, or misdated records before the first snapshot; then nothing is
    /// written.
    pub fn start_outbox(
        &self,
        policy: OutboxPolicy,
        dates: &DateRange,
    ) -> Result<(), WarehouseError> {
        let misdated = self.misdated_records(dates)?;
        let now = chrono::Utc::now().naive_utc();
        let replica_json = policy.replica_column();
        self.write(|connection| {
            let tx = connection.transaction()?;
            let joined: bool = tx.query_row(
                "SELECT EXISTS (FROM federation_published WHERE node = ?)",
                params![policy.node],
                |r| r.get(0),
            )?;
            if !joined && misdated > 0 {
                return Err(WarehouseError::Corrupt(format!(
                    "{misdated} records dated outside {dates}: run `chorus verify --quarantine` \
                     before this node joins the federation"
                )));
            }
            if !joined {
                let mut change = Change::new(ChangeKind::Snapshot, now);
                for (cube, keys, kind) in SHIPPED_CUBES {
                    let sums = slot_list(|s| format!("sum({s})::BIGINT"));
                    let any = slot_list(|s| format!("sum({s}) <> 0")).replace(", ", " OR ");
                    let sql = format!(
                        "SELECT {keys}, {sums} FROM {cube} GROUP BY ALL HAVING {any} ORDER BY ALL"
                    );
                    add_rows(&mut change, cube_rows(&tx, &sql, kind)?);
                }
                let mut statement = tx.prepare(&format!(
                    "SELECT {replica_json} FROM records WHERE {replica_json} IS NOT NULL"
                ))?;
                let mut rows = statement.query([])?;
                while let Some(row) = rows.next()? {
                    change.records.push(replica(&row.get::<_, String>(0)?)?);
                }
                let messages = change.scores.len() + change.topics.len() + change.records.len();
                // One origin per file: a node renamed on the same file keeps it, so
                // headquarters sees the same counts arriving under a second name.
                tx.execute(
                    "INSERT INTO federation_published VALUES (?, 0, ?, coalesce(\
                     (SELECT any_value(origin) FROM federation_published), \
                     gen_random_uuid()::VARCHAR))",
                    params![policy.node, now],
                )?;
                write_outbox(&tx, change, now)?;
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
    ) -> Result<Vec<(i64, Vec<u8>)>, WarehouseError> {
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
}
