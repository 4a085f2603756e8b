//! Topic counts for the driver view, and re-tagging stored records in place.

use std::collections::BTreeMap;

use duckdb::params_from_iter;

use super::queries::{add_slots, slots_at, CellKey, CellQuery, SLOT_SUMS};
use super::{Warehouse, WarehouseError};
use crate::analysis::nps::NpsCounts;
use crate::analysis::scale::{Histogram, Measure};

/// For one topic in one cell: how many commented records mention it, and the NPS counts of
/// commented records with and without a mention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicCounts {
    /// Records with a text in the cell.
    pub with_text: u64,
    /// Of those, records mentioning the topic.
    pub mentions: u64,
    /// NPS of the records mentioning it.
    pub nps_with: NpsCounts,
    /// NPS of the commented records not mentioning it.
    pub nps_without: NpsCounts,
}

/// What `retag` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetagSummary {
    /// Records with a text, all re-tagged.
    pub records: u64,
    /// Records whose topics changed.
    pub changed: u64,
}

/// Records re-tagged per round trip.
const RETAG_CHUNK: usize = 50_000;

impl Warehouse {
    /// Counts per (topic, market, channel[, month]) over commented records. `topics` are
    /// validated ids (`[a-z0-9_]+`), inlined into the statement.
    ///
    /// # Errors
    /// On a database error.
    pub fn topic_counts(
        &self,
        cells: &CellQuery,
        topics: &[String],
    ) -> Result<BTreeMap<(String, CellKey), TopicCounts>, WarehouseError> {
        let mut counts = BTreeMap::new();
        let safe = topics.iter().all(|t| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
        if topics.is_empty() || !safe || cells.markets.as_ref().is_some_and(Vec::is_empty) {
            return Ok(counts);
        }
        let (filters, params) = cells.filters();
        let wanted: Vec<String> = std::iter::once("'*'".to_owned())
            .chain(topics.iter().map(|t| format!("'{t}'")))
            .collect();
        let month = cells.period_of("day");
        let sql = format!(
            "SELECT topic, market, channel, {month} AS month, measure, {SLOT_SUMS} \
             FROM topic_counts WHERE measure IN ('commented', 'nps') \
               AND topic IN ({}){filters} GROUP BY ALL",
            wanted.join(", ")
        );
        type Row = (String, CellKey, String, [i64; 11]);
        let rows: Vec<Row> = self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(params.iter()), |r| {
                let key = CellKey::new(r.get(1)?, r.get(2)?, cells.period, r.get(3)?);
                Ok((r.get(0)?, key, r.get(4)?, slots_at(r, 5)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        // Per (topic, cell): commented records and their NPS; '*' is every commented record.
        let mut commented: BTreeMap<(String, CellKey), (u64, Histogram)> = BTreeMap::new();
        for (topic, key, measure, slots) in rows {
            let entry = commented
                .entry((topic, key))
                .or_insert_with(|| (0, Histogram::new(Measure::Nps)));
            if measure == "commented" {
                entry.0 += slots[0].max(0) as u64;
            } else {
                add_slots(&mut entry.1, &slots)?;
            }
        }
        for topic in topics {
            let cells = commented.iter().filter(|((t, _), _)| t == "*");
            for ((_, key), (with_text, all)) in cells {
                if *with_text == 0 {
                    continue;
                }
                let (mentions, with) = commented
                    .get(&(topic.clone(), key.clone()))
                    .map_or((0, NpsCounts::default()), |(n, h)| (*n, h.nps_counts()));
                let all = all.nps_counts();
                counts.insert(
                    (topic.clone(), key.clone()),
                    TopicCounts {
                        with_text: *with_text,
                        mentions,
                        nps_with: with,
                        nps_without: NpsCounts {
                            n: all.n - with.n,
                            promoters: all.promoters - with.promoters,
                            detractors: all.detractors - with.detractors,
                        },
                    },
                );
            }
        }
        Ok(counts)
    }

    /// Recomputes the topics of every record with a text using `tag(text, language)`, in one
    /// transaction; `progress(done, total)` is called after each chunk.
    ///
    /// # Errors
    /// On a database error; then no record changes.
    pub fn retag(
        &self,
        tag: impl Fn(&str, Option<&str>) -> Vec<String>,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<RetagSummary, WarehouseError> {
        let total: u64 = self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM records WHERE text IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })?;
        self.write(|connection| {
            let tx = connection.transaction()?;
            tx.execute_batch(
                "CREATE OR REPLACE TEMP TABLE retag (source_instance VARCHAR, \
                 external_id VARCHAR, topics VARCHAR)",
            )?;
            let mut done = 0u64;
            {
                let mut read = tx.prepare(
                    "SELECT source_instance, external_id, text, language FROM records \
                     WHERE text IS NOT NULL",
                )?;
                let mut rows = read.query([])?;
                let mut appender = tx.appender("retag")?;
                let mut in_chunk = 0;
                while let Some(row) = rows.next()? {
                    let (instance, id, text, language): (String, String, String, Option<String>) =
                        (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?);
                    let topics = tag(&text, language.as_deref()).join("|");
                    appender.append_row(duckdb::params![instance, id, topics])?;
                    done += 1;
                    in_chunk += 1;
                    if in_chunk == RETAG_CHUNK {
                        appender.flush()?;
                        progress(done, total);
                        in_chunk = 0;
                    }
                }
                appender.flush()?;
            }
            let changed = tx.execute(
                "UPDATE records SET topics = new.list \
                 FROM (SELECT source_instance, external_id, \
                         CASE WHEN topics = '' THEN []::VARCHAR[] \
                              ELSE string_split(topics, '|') END AS list FROM retag) new \
                 WHERE records.source_instance = new.source_instance \
                   AND records.external_id = new.external_id \
                   AND records.topics IS DISTINCT FROM new.list",
                [],
            )? as u64;
            if let Some(policy) = self.outbox_policy() {
                // What headquarters must change: the topic cube's difference, and the
                // global markets' re-tagged records.
                let mut change = super::outbox::topic_rebuild_delta(&tx)?;
                let replica = policy.replica_column();
                let mut statement = tx.prepare(&format!(
                    "SELECT {replica} FROM records SEMI JOIN retag USING \
                     (source_instance, external_id) WHERE {replica} IS NOT NULL"
                ))?;
                let mut rows = statement.query([])?;
                while let Some(row) = rows.next()? {
                    change
                        .records
                        .push(super::outbox::replica(&row.get::<_, String>(0)?)?);
                }
                let at = change.committed_at;
                super::outbox::write_outbox(&tx, change, at)?;
            }
            tx.execute_batch("DROP TABLE retag")?;
            super::cubes::rebuild_topics(&tx)?;
            tx.commit()?;
            progress(done, total);
            Ok(RetagSummary {
                records: done,
                changed,
            })
        })
    }
}
