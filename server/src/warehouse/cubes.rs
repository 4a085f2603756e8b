//! Keeps the score-count cubes (`004_cubes.sql`) equal to what they count, in the same
//! transaction as every change to `records`: a record stored adds its scores, a record replaced
//! or erased takes them away. Changes are summed per cube row in memory, appended to the
//! `*_count_changes` tables and merged with one `INSERT … ON CONFLICT DO UPDATE` per cube.

use std::collections::HashMap;

use chrono::NaiveDate;
use duckdb::{params, Row, Transaction};

use super::WarehouseError;

/// The columns of `records` (or of a `RETURNING` clause) that `Counted::from_row` reads.
/// Topics travel '|'-joined; an empty list is '' (`array_to_string` alone would make it NULL,
/// which means "no text").
pub(super) const COUNTED_COLUMNS: &str = "market, channel, occurred_at::DATE, nps, csat, ces, \
     stars, CASE WHEN topics IS NOT NULL THEN coalesce(array_to_string(topics, '|'), '') END";

/// The topic under which every commented record is counted (see the migration).
const ANY_TOPIC: &str = "*";
/// The pseudo-measure that counts commented records whatever their scores, in slot 0.
const COMMENTED: &str = "commented";
/// Score slots `s0..s10`.
const SLOTS: usize = 11;

/// What one record contributes to the cubes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Counted {
    market: String,
    channel: String,
    day: NaiveDate,
    /// (measure name, score) of every score present.
    scores: Vec<(&'static str, u8)>,
    /// Topic ids, without repeats; `None` without a text.
    topics: Option<Vec<String>>,
}

impl Counted {
    /// Reads the `COUNTED_COLUMNS` at the start of `row`.
    pub(super) fn from_row(row: &Row<'_>) -> duckdb::Result<Counted> {
        let mut scores = Vec::with_capacity(4);
        for (i, measure) in ["nps", "csat", "ces", "stars"].into_iter().enumerate() {
            if let Some(score) = row.get::<_, Option<u8>>(3 + i)? {
                scores.push((measure, score));
            }
        }
        let topics = row.get::<_, Option<String>>(7)?.map(|joined| {
            let mut topics: Vec<String> = joined
                .split('|')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            topics.sort_unstable();
            topics.dedup();
            topics
        });
        Ok(Counted {
            market: row.get(0)?,
            channel: row.get(1)?,
            day: row.get(2)?,
            scores,
            topics,
        })
    }
}

type ScoreKey = (String, String, NaiveDate, &'static str);
type TopicKey = (String, String, NaiveDate, String, &'static str);

/// Signed changes to both cubes, summed per cube row.
#[derive(Debug, Default)]
pub(super) struct CubeChanges {
    scores: HashMap<ScoreKey, [i64; SLOTS]>,
    topics: HashMap<TopicKey, [i64; SLOTS]>,
    /// Whether anything was taken away (then rows may have dropped to zero).
    removed: bool,
}

impl CubeChanges {
    /// Counts `record` once more.
    pub(super) fn add(&mut self, record: &Counted) {
        self.count(record, 1);
    }

    /// Counts `record` once less.
    pub(super) fn remove(&mut self, record: &Counted) {
        self.removed = true;
        self.count(record, -1);
    }

    fn count(&mut self, record: &Counted, sign: i64) {
        let (market, channel, day) = (&record.market, &record.channel, record.day);
        for &(measure, score) in &record.scores {
            let slots = self
                .scores
                .entry((market.clone(), channel.clone(), day, measure))
                .or_insert([0; SLOTS]);
            slots[usize::from(score).min(SLOTS - 1)] += sign;
        }
        let Some(topics) = &record.topics else {
            return;
        };
        for topic in std::iter::once(ANY_TOPIC).chain(topics.iter().map(String::as_str)) {
            let mut bump = |measure: &'static str, slot: usize| {
                let slots = self
                    .topics
                    .entry((
                        market.clone(),
                        channel.clone(),
                        day,
                        topic.to_owned(),
                        measure,
                    ))
                    .or_insert([0; SLOTS]);
                slots[slot] += sign;
            };
            bump(COMMENTED, 0);
            for &(measure, score) in &record.scores {
                bump(measure, usize::from(score).min(SLOTS - 1));
            }
        }
    }

    /// Merges the changes into the cubes inside `tx`.
    pub(super) fn apply(&self, tx: &Transaction<'_>) -> Result<(), WarehouseError> {
        if self.scores.is_empty() && self.topics.is_empty() {
            return Ok(());
        }
        {
            let mut appender = tx.appender("score_count_changes")?;
            for ((market, channel, day, measure), s) in &self.scores {
                appender.append_row(params![
                    market, channel, day, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                    s[8], s[9], s[10]
                ])?;
            }
            appender.flush()?;
            let mut appender = tx.appender("topic_count_changes")?;
            for ((market, channel, day, topic, measure), s) in &self.topics {
                appender.append_row(params![
                    market, channel, day, topic, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6],
                    s[7], s[8], s[9], s[10]
                ])?;
            }
            appender.flush()?;
        }
        for (cube, changes, keys) in [
            (
                "score_counts",
                "score_count_changes",
                "market, channel, day, measure",
            ),
            (
                "topic_counts",
                "topic_count_changes",
                "market, channel, day, topic, measure",
            ),
        ] {
            let sums = slot_list(|s| format!("{s} = {s} + excluded.{s}"));
            tx.execute_batch(&format!(
                "INSERT INTO {cube} SELECT * FROM {changes} ON CONFLICT DO UPDATE SET {sums};"
            ))?;
            if self.removed {
                let same_row = keys
                    .split(", ")
                    .map(|k| format!("{cube}.{k} = c.{k}"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let empty = slot_list(|s| format!("{cube}.{s} = 0")).replace(", ", " AND ");
                tx.execute_batch(&format!(
                    "DELETE FROM {cube} USING {changes} c WHERE {same_row} AND {empty};"
                ))?;
            }
            tx.execute_batch(&format!("DELETE FROM {changes};"))?;
        }
        Ok(())
    }
}

/// `f(s0), f(s1), …, f(s10)`.
fn slot_list(f: impl Fn(&str) -> String) -> String {
    (0..SLOTS)
        .map(|i| f(&format!("s{i}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rebuilds the topic cube from `records` inside `tx` (after re-tagging every record).
pub(super) fn rebuild_topics(tx: &Transaction<'_>) -> Result<(), WarehouseError> {
    tx.execute_batch(
        "DELETE FROM topic_counts; INSERT INTO topic_counts SELECT * FROM topic_counts_recount;",
    )?;
    Ok(())
}

/// Rebuilds both cubes from `records` inside `tx`.
pub(super) fn rebuild(tx: &Transaction<'_>) -> Result<(), WarehouseError> {
    tx.execute_batch(
        "DELETE FROM score_counts; INSERT INTO score_counts SELECT * FROM score_counts_recount;",
    )?;
    rebuild_topics(tx)
}

/// How many cube rows differ from a recount, and up to `limit` of them described.
pub(super) fn differences(
    connection: &duckdb::Connection,
    limit: usize,
) -> Result<(u64, Vec<String>), WarehouseError> {
    let mut total = 0;
    let mut examples = Vec::new();
    for (cube, keys) in [
        ("score_counts", "market, channel, day, measure"),
        ("topic_counts", "market, channel, day, topic, measure"),
    ] {
        let kept = slot_list(|s| format!("coalesce(kept.{s}, 0)"));
        let recounted = slot_list(|s| format!("coalesce(recount.{s}, 0)"));
        let sql = format!(
            "SELECT concat_ws(' / ', {keys}), [{kept}], [{recounted}] \
             FROM {cube} kept FULL OUTER JOIN {cube}_recount recount USING ({keys}) \
             WHERE [{kept}] <> [{recounted}] ORDER BY ALL"
        );
        let mut statement = connection.prepare(&sql)?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            total += 1;
            if examples.len() < limit {
                let key: String = row.get(0)?;
                let kept: duckdb::types::Value = row.get(1)?;
                let recounted: duckdb::types::Value = row.get(2)?;
                examples.push(format!(
                    "{cube} {key}: kept {}, recount {}",
                    slots_text(&kept),
                    slots_text(&recounted)
                ));
            }
        }
    }
    Ok((total, examples))
}

/// `[0, 3, …]` from a DuckDB list value.
fn slots_text(value: &duckdb::types::Value) -> String {
    match value {
        duckdb::types::Value::List(items) => {
            let items: Vec<String> = items
                .iter()
                .map(|v| match v {
                    duckdb::types::Value::BigInt(n) => n.to_string(),
                    other => format!("{other:?}"),
                })
                .collect();
            format!("[{}]", items.join(", "))
        }
        other => format!("{other:?}"),
    }
}
