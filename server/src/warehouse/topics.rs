//! Topic counts for the driver view, and re-tagging stored records in place.

use std::collections::BTreeMap;

use duckdb::params_from_iter;

use super::queries::{CellKey, CellQuery};
use super::{Warehouse, WarehouseError};
use crate::analysis::nps::NpsCounts;

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
        let values: Vec<String> = topics.iter().map(|t| format!("('{t}')")).collect();
        let month = if cells.by_month {
            "strftime(occurred_at, '%Y-%m')"
        } else {
            "NULL::VARCHAR"
        };
        let sql = format!(
            "SELECT topic, market, channel, {month} AS month, count(*), \
               count(*) FILTER (WHERE hit), \
               count(nps) FILTER (WHERE hit), \
               count(*) FILTER (WHERE hit AND nps >= 9), \
               count(*) FILTER (WHERE hit AND nps <= 6), \
               count(nps) FILTER (WHERE NOT hit), \
               count(*) FILTER (WHERE NOT hit AND nps >= 9), \
               count(*) FILTER (WHERE NOT hit AND nps <= 6) \
             FROM (SELECT *, list_contains(topics, t.topic) AS hit \
                   FROM records CROSS JOIN (VALUES {}) t(topic) \
                   WHERE topics IS NOT NULL{filters}) \
             GROUP BY ALL",
            values.join(", ")
        );
        let rows: Vec<(String, CellKey, [i64; 8])> = self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(params.iter()), |r| {
                let key = CellKey {
                    market: r.get(1)?,
                    channel: r.get(2)?,
                    month: r.get(3)?,
                };
                let mut n = [0i64; 8];
                for (i, slot) in n.iter_mut().enumerate() {
                    *slot = r.get(4 + i)?;
                }
                Ok((r.get(0)?, key, n))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        for (topic, key, n) in rows {
            let n = n.map(|v| v as u64);
            counts.insert(
                (topic, key),
                TopicCounts {
                    with_text: n[0],
                    mentions: n[1],
                    nps_with: NpsCounts {
                        n: n[2],
                        promoters: n[3],
                        detractors: n[4],
                    },
                    nps_without: NpsCounts {
                        n: n[5],
                        promoters: n[6],
                        detractors: n[7],
                    },
                },
            );
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
            tx.execute_batch("DROP TABLE retag")?;
            tx.commit()?;
            progress(done, total);
            Ok(RetagSummary {
                records: done,
                changed,
            })
        })
    }
}
