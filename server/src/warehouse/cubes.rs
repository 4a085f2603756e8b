//! Keeps the score-count cubes (`004_cubes.sql`) equal to what they count, in the same
//! transaction as every change to `records`: a record stored adds its scores, a record replaced
//! or erased takes them away. Changes are summed per cube row in memory and appended as signed
//! delta rows (readers sum them); `compact` merges the rows of each key now and then.

// Keys are interned indices, days and configured ids, never chosen by an outsider, so a fast
// unkeyed hash is safe; std's SipHash was 2.6 % of an ingest's CPU.
use rustc_hash::FxHashMap as HashMap;

use chrono::NaiveDate;
use duckdb::types::ValueRef;
use duckdb::{params, Row, Transaction};

use super::notify::CellChange;
use super::WarehouseError;
use crate::federation::message::{ScoreRow, TopicRow};

/// The columns of `records` (or of a `RETURNING` clause) that `CubeChanges` counts.
/// Topics travel '|'-joined; an empty list is '' (`array_to_string` alone would make it NULL,
/// which means "no text").
pub(super) const COUNTED_COLUMNS: &str = "market, channel, day, nps, csat, ces, \
     stars, CASE WHEN topics IS NOT NULL THEN coalesce(array_to_string(topics, '|'), '') END";
/// How many columns `COUNTED_COLUMNS` names.
pub(super) const COUNTED_COLUMN_COUNT: usize = 8;

/// Measures 0..DRIVEN_MEASURES (NPS and CSAT) are counted in the driver cube.
const DRIVEN_MEASURES: u8 = 2;
/// The topic under which every commented record is counted (see the migration).
const ANY_TOPIC: &str = "*";
/// Measures in the order of `COUNTED_COLUMNS` (nps, csat, ces, stars), then the
/// pseudo-measure that counts commented records whatever their scores, in slot 0.
use crate::federation::message::MEASURES;
const COMMENTED: u8 = 4;
/// Score slots `s0..s10`.
use crate::federation::message::SLOTS;

/// (cell, day, measure). Cells and topics are interned, so counting a record allocates
/// nothing once its market, channel and topics have been seen.
type ScoreKey = (u32, NaiveDate, u8);
/// (cell, day, topic, measure).
type TopicKey = (u32, NaiveDate, u32, u8);

/// Signed changes to both cubes, summed per cube row.
#[derive(Debug, Default)]
pub(super) struct CubeChanges {
    /// market → channel → cell index.
    cell_index: HashMap<String, HashMap<String, u32>>,
    cells: Vec<(String, String)>,
    /// Records counted in and out per cell, for the change announcement.
    cell_records: Vec<(u64, u64)>,
    /// topic id → index.
    topic_index: HashMap<String, u32>,
    topics: Vec<String>,
    scores: HashMap<ScoreKey, [i64; SLOTS]>,
    topic_rows: HashMap<TopicKey, [i64; SLOTS]>,
    /// (cell, day, topic set, measure): the key-driver cube (`011_driver_counts.sql`); the
    /// set is interned with the topics.
    driver_rows: HashMap<TopicKey, [i64; SLOTS]>,
}

impl CubeChanges {
    /// Counts the record in `row` (its first columns are `COUNTED_COLUMNS`) once more.
    pub(super) fn add(&mut self, row: &Row<'_>) -> duckdb::Result<()> {
        self.count(row, 1)
    }

    /// Counts the record in `row` once less.
    pub(super) fn remove(&mut self, row: &Row<'_>) -> duckdb::Result<()> {
        self.count(row, -1)
    }

    fn count(&mut self, row: &Row<'_>, sign: i64) -> duckdb::Result<()> {
        let cell = self.cell(text(row, 0)?.unwrap_or(""), text(row, 1)?.unwrap_or(""));
        let (added, removed) = &mut self.cell_records[cell as usize];
        if sign > 0 {
            *added += 1;
        } else {
            *removed += 1;
        }
        let day: NaiveDate = row.get(2)?;
        let mut scores = [(0u8, 0usize); 4];
        let mut present = 0;
        for measure in 0..4u8 {
            if let Some(score) = row.get::<_, Option<u8>>(3 + usize::from(measure))? {
                scores[present] = (measure, usize::from(score).min(SLOTS - 1));
                present += 1;
            }
        }
        let scores = &scores[..present];
        for &(measure, slot) in scores {
            self.scores
                .entry((cell, day, measure))
                .or_insert([0; SLOTS])[slot] += sign;
        }
        let Some(joined) = text(row, 7)? else {
            return Ok(());
        };
        // The driver cube: NPS and CSAT answers by the set of topics mentioned.
        let driven: Vec<(u8, usize)> = scores
            .iter()
            .copied()
            .filter(|&(measure, _)| measure < DRIVEN_MEASURES)
            .collect();
        if !driven.is_empty() {
            let set = self.topic(&topic_set(joined));
            for (measure, slot) in driven {
                self.driver_rows
                    .entry((cell, day, set, measure))
                    .or_insert([0; SLOTS])[slot] += sign;
            }
        }
        let mut topics: Vec<u32> = std::iter::once(ANY_TOPIC)
            .chain(joined.split('|').filter(|t| !t.is_empty()))
            .map(|t| self.topic(t))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        for topic in topics {
            let mut bump = |measure: u8, slot: usize| {
                self.topic_rows
                    .entry((cell, day, topic, measure))
                    .or_insert([0; SLOTS])[slot] += sign;
            };
            bump(COMMENTED, 0);
            for &(measure, slot) in scores {
                bump(measure, slot);
            }
        }
        Ok(())
    }

    fn cell(&mut self, market: &str, channel: &str) -> u32 {
        if let Some(&index) = self.cell_index.get(market).and_then(|c| c.get(channel)) {
            return index;
        }
        let index = self.cells.len() as u32;
        self.cells.push((market.to_owned(), channel.to_owned()));
        self.cell_records.push((0, 0));
        self.cell_index
            .entry(market.to_owned())
            .or_default()
            .insert(channel.to_owned(), index);
        index
    }

    fn topic(&mut self, topic: &str) -> u32 {
        if let Some(&index) = self.topic_index.get(topic) {
            return index;
        }
        let index = self.topics.len() as u32;
        self.topics.push(topic.to_owned());
        self.topic_index.insert(topic.to_owned(), index);
        index
    }

    /// The cells whose records these changes count in or out.
    pub(super) fn cell_changes(&self) -> Vec<CellChange> {
        self.cells
            .iter()
            .zip(&self.cell_records)
            .map(|((market, channel), &(added, removed))| CellChange {
                market: market.clone(),
                channel: channel.clone(),
                added,
                removed,
            })
            .collect()
    }

    /// The changes as signed cube rows: what `apply` appends, for the federation outbox.
    pub(super) fn rows(&self) -> (Vec<ScoreRow>, Vec<TopicRow>) {
        let cell = |c: u32| self.cells[c as usize].clone();
        let measure = |m: u8| MEASURES[usize::from(m)].to_owned();
        let scores = self
            .scores
            .iter()
            .filter(|(_, s)| nonzero(s))
            .map(|(&(c, day, m), &s)| {
                let (market, channel) = cell(c);
                (market, channel, day, measure(m), s)
            })
            .collect();
        let topics = self
            .topic_rows
            .iter()
            .filter(|(_, s)| nonzero(s))
            .map(|(&(c, day, t, m), &s)| {
                let (market, channel) = cell(c);
                (
                    market,
                    channel,
                    day,
                    self.topics[t as usize].clone(),
                    measure(m),
                    s,
                )
            })
            .collect();
        (scores, topics)
    }

    /// The driver cube's signed rows, for the federation outbox.
    pub(super) fn driver_rows(&self) -> Vec<TopicRow> {
        self.driver_rows
            .iter()
            .filter(|(_, s)| nonzero(s))
            .map(|(&(c, day, set, m), &s)| {
                let (market, channel) = self.cells[c as usize].clone();
                let set = self.topics[set as usize].clone();
                (
                    market,
                    channel,
                    day,
                    set,
                    MEASURES[usize::from(m)].to_owned(),
                    s,
                )
            })
            .collect()
    }

    /// Appends the changes to the cubes inside `tx`; returns how many cube rows it added.
    pub(super) fn apply(&self, tx: &Transaction<'_>) -> Result<u64, WarehouseError> {
        let mut appender = tx.appender("score_counts")?;
        for ((cell, day, measure), s) in self.scores.iter().filter(|(_, s)| nonzero(s)) {
            let (market, channel) = &self.cells[*cell as usize];
            let measure = MEASURES[usize::from(*measure)];
            appender.append_row(params![
                market, channel, day, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
                s[8], s[9], s[10]
            ])?;
        }
        appender.flush()?;
        self.append_topic_rows(tx, "topic_counts", &self.topic_rows)?;
        self.append_topic_rows(tx, "driver_counts", &self.driver_rows)?;
        Ok((self.scores.len() + self.topic_rows.len() + self.driver_rows.len()) as u64)
    }
}

impl CubeChanges {
    /// Appends `rows`, keyed by a topic (or a topic set), to `cube`.
    fn append_topic_rows(
        &self,
        tx: &Transaction<'_>,
        cube: &str,
        rows: &HashMap<TopicKey, [i64; SLOTS]>,
    ) -> Result<(), WarehouseError> {
        let mut appender = tx.appender(cube)?;
        for ((cell, day, topic, measure), s) in rows.iter().filter(|(_, s)| nonzero(s)) {
            let (market, channel) = &self.cells[*cell as usize];
            let topic = &self.topics[*topic as usize];
            let measure = MEASURES[usize::from(*measure)];
            appender.append_row(params![
                market, channel, day, topic, measure, s[0], s[1], s[2], s[3], s[4], s[5], s[6],
                s[7], s[8], s[9], s[10]
            ])?;
        }
        appender.flush()?;
        Ok(())
    }
}

/// The sorted, distinct topics of a '|'-joined list, '|'-joined (what the driver cube keys by).
fn topic_set(joined: &str) -> std::borrow::Cow<'_, str> {
    let mut topics: Vec<&str> = joined.split('|').filter(|t| !t.is_empty()).collect();
    // Usually stored sorted already: then the text itself is the key.
    if topics.len() == joined.split('|').count() && topics.windows(2).all(|w| w[0] < w[1]) {
        return std::borrow::Cow::Borrowed(joined);
    }
    topics.sort_unstable();
    topics.dedup();
    std::borrow::Cow::Owned(topics.join("|"))
}

/// Whether a change moves any count (a record replaced by an identical count does not).
fn nonzero(slots: &[i64; SLOTS]) -> bool {
    slots.iter().any(|&n| n != 0)
}

/// The cubes with their key columns.
const CUBES: [(&str, &str); 3] = [
    ("score_counts", "market, channel, day, measure"),
    ("topic_counts", "market, channel, day, topic, measure"),
    ("driver_counts", "market, channel, day, topic_set, measure"),
];

/// Merges the rows of each key into one and drops keys that sum to nothing, inside `tx`.
pub(super) fn compact(tx: &Transaction<'_>) -> Result<(), WarehouseError> {
    for (cube, keys) in CUBES {
        let sums = slot_list(|s| format!("sum({s})::BIGINT AS {s}"));
        let any = slot_list(|s| format!("sum({s}) <> 0")).replace(", ", " OR ");
        tx.execute_batch(&format!(
            "CREATE OR REPLACE TEMP TABLE compacted AS \
               SELECT {keys}, {sums} FROM {cube} GROUP BY {keys} HAVING {any}; \
             DELETE FROM {cube}; \
             INSERT INTO {cube} SELECT * FROM compacted; \
             DROP TABLE compacted;"
        ))?;
    }
    Ok(())
}

/// `f(s0), f(s1), …, f(s10)`.
pub(super) fn slot_list(f: impl Fn(&str) -> String) -> String {
    (0..SLOTS)
        .map(|i| f(&format!("s{i}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Rebuilds the cubes that count topics (topics, driver topic sets) from `records` inside
/// `tx` (after re-tagging every record).
pub(super) fn rebuild_topics(tx: &Transaction<'_>) -> Result<(), WarehouseError> {
    tx.execute_batch(
        "DELETE FROM topic_counts; INSERT INTO topic_counts SELECT * FROM topic_counts_recount; \
         DELETE FROM driver_counts; INSERT INTO driver_counts SELECT * FROM driver_counts_recount;",
    )?;
    Ok(())
}

/// Rebuilds every cube from `records` inside `tx`.
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
    for (cube, keys) in CUBES {
        let sums = slot_list(|s| format!("sum({s}) AS {s}"));
        let kept = slot_list(|s| format!("coalesce(kept.{s}, 0)::BIGINT"));
        let recounted = slot_list(|s| format!("coalesce(recount.{s}, 0)::BIGINT"));
        let sql = format!(
            "SELECT concat_ws(' / ', {keys}), [{kept}], [{recounted}] \
             FROM (SELECT {keys}, {sums} FROM {cube} GROUP BY {keys}) kept \
             FULL OUTER JOIN {cube}_recount recount USING ({keys}) \
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

/// The text in column `i` of `row`, borrowed.
fn text<'r>(row: &'r Row<'_>, i: usize) -> duckdb::Result<Option<&'r str>> {
    match row.get_ref(i)? {
        ValueRef::Null => Ok(None),
        value => value.as_str().map(Some).map_err(|e| {
            duckdb::Error::FromSqlConversionFailure(i, value.data_type(), Box::new(e))
        }),
    }
}
