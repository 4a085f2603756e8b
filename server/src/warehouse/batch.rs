//! Committing one batch: records, cube counts, rejections, run counters and cursor in one
//! transaction. Either all of it is stored or none of it, so a crash loses nothing and a
//! re-run repeats nothing.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use duckdb::{params, Transaction};

use super::cases;
use super::cubes::{self, CubeChanges, COUNTED_COLUMNS, COUNTED_COLUMN_COUNT};
use super::erasure::SKIP_ERASED;
use super::outbox;
use super::timestamp::UtcTimestamp;
use super::{runs, BatchOutcome, BatchWrite, Committed, OnChange, Warehouse, WarehouseError};
use crate::federation::message::{Change, ChangeKind};
use crate::market_days::MarketZones;

/// Cube rows appended between two compactions: enough to amortise a compaction (a scan of
/// the cubes), few enough that queries never sum many redundant rows.
const COMPACT_AFTER_ROWS: u64 = 500_000;

/// Columns whose difference makes a re-delivered record "changed". Staging holds the two
/// lists as '|'-joined text, hence the conversions.
const CONTENT_DIFFERS: &str = "r.market IS DISTINCT FROM s.market \
    OR r.region IS DISTINCT FROM s.region OR r.channel IS DISTINCT FROM s.channel \
    OR r.touchpoint IS DISTINCT FROM s.touchpoint OR r.occurred_at IS DISTINCT FROM s.occurred_at \
    OR r.nps IS DISTINCT FROM s.nps OR r.csat IS DISTINCT FROM s.csat \
    OR r.ces IS DISTINCT FROM s.ces OR r.stars IS DISTINCT FROM s.stars \
    OR r.text IS DISTINCT FROM s.text OR r.language IS DISTINCT FROM s.language \
    OR r.consent_contact IS DISTINCT FROM s.consent_contact \
    OR r.attributes IS DISTINCT FROM s.attributes \
    OR r.text_original IS DISTINCT FROM s.text_original \
    OR r.topics IS DISTINCT FROM (CASE WHEN s.topics = '' THEN []::VARCHAR[] \
                                       ELSE string_split(s.topics, '|') END) \
    OR r.redactions IS DISTINCT FROM (CASE WHEN s.redactions = '' THEN []::VARCHAR[] \
                                           ELSE string_split(s.redactions, '|') END)";

impl Warehouse {
    /// Stores a batch: new records (duplicates skipped; changed ones replaced when the
    /// instance says `update`), their cube counts, rejections, run counters and the new
    /// cursor, all in one transaction.
    ///
    /// # Errors
    /// On a database error; nothing of the batch is stored then.
    pub fn commit_batch(&self, batch: &BatchWrite<'_>) -> Result<BatchOutcome, WarehouseError> {
        let now = chrono::Utc::now().naive_utc();
        self.write(|connection| {
            let tx = connection.transaction()?;
            stage(&tx, batch, now, &self.market_zones())?;
            // Hashing every staged key costs; only pay it once something was erased.
            let any_erased: bool =
                tx.query_row("SELECT EXISTS (FROM erased_records)", [], |r| r.get(0))?;
            if any_erased {
                tx.execute(SKIP_ERASED, [])?;
            }
            let mut changes = CubeChanges::default();
            let mut cube_time = Duration::ZERO;
            let mut replaced = Vec::new();
            if batch.on_change == OnChange::Update {
                take_out_changed(&tx, &mut changes, &mut replaced)?;
            }
            let updated = replaced.len() as u64;
            let case_rules = batch.case_rules.filter(|rules| !rules.is_empty());
            let mut returning = match case_rules {
                Some(_) => format!("{COUNTED_COLUMNS}, {}", cases::SUBJECT_COLUMNS),
                None => COUNTED_COLUMNS.to_owned(),
            };
            // On a regional node, the stored record as it travels (NULL unless its market
            // is global), in the last column.
            let outbox = self.outbox_policy();
            let replica_at = match case_rules {
                Some(_) => COUNTED_COLUMN_COUNT + cases::SUBJECT_COLUMN_COUNT,
                None => COUNTED_COLUMN_COUNT,
            };
            if let Some(policy) = outbox {
                returning = format!("{returning}, {}", policy.replica_column());
            }
            let mut replicas = Vec::new();
            let mut openings = Vec::new();
            // RETURNING yields only the rows actually inserted: a duplicate counts nothing.
            let mut stored = 0u64;
            {
                let mut statement = tx.prepare(&format!(
                    "INSERT INTO records BY NAME SELECT * REPLACE ( \
                       CASE WHEN topics = '' THEN []::VARCHAR[] \
                         ELSE string_split(topics, '|') END AS topics, \
                       CASE WHEN redactions = '' THEN []::VARCHAR[] \
                         ELSE string_split(redactions, '|') END AS redactions) \
                     FROM ingest_staging ON CONFLICT DO NOTHING RETURNING {returning}"
                ))?;
                let mut rows = statement.query([])?;
                while let Some(row) = rows.next()? {
                    let counting = Instant::now();
                    changes.add(row)?;
                    cube_time += counting.elapsed();
                    stored += 1;
                    if let Some(rules) = case_rules {
                        openings.extend(cases::opening_for(rules, row, now)?);
                    }
                    if outbox.is_some() {
                        if let Some(json) = row.get::<_, Option<String>>(replica_at)? {
                            replicas.push(outbox::replica(&json)?);
                        }
                    }
                }
            }
            if case_rules.is_some() {
                cases::open(&tx, batch.instance, &openings, now)?;
                // A replaced record that no rule matches any more closes its case.
                replaced.retain(|id| !openings.iter().any(|(opened, ..)| opened == id));
                cases::close_unmatched(&tx, batch.instance, &replaced, now)?;
            }
            let counting = Instant::now();
            let appended = changes.apply(&tx)?;
            cube_time += counting.elapsed();
            tx.execute("DELETE FROM ingest_staging", [])?;
            if outbox.is_some() {
                let mut change = Change::new(ChangeKind::Batch, now);
                (change.scores, change.topics) = changes.rows();
                change.drivers = changes.driver_rows();
                change.records = replicas;
                outbox::write_outbox(&tx, change, now)?;
            }
            let outcome = BatchOutcome {
                inserted: stored - updated,
                updated,
                duplicates: batch.records.len() as u64 - stored,
            };
            runs::add_batch(&tx, batch, outcome)?;
            if let Some(cursor) = batch.cursor {
                tx.execute(
                    "INSERT INTO connector_cursors VALUES (?, ?, ?) \
                     ON CONFLICT (instance) DO UPDATE SET cursor = excluded.cursor, \
                     updated_at = excluded.updated_at",
                    params![batch.instance, cursor, now],
                )?;
            }
            tx.commit()?;
            self.notifier
                .publish(Committed::Records(changes.cell_changes()));
            cube_time += self.compact_if_due(connection, appended)?;
            self.cube_nanos.fetch_add(
                u64::try_from(cube_time.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            Ok(outcome)
        })
    }
}

impl Warehouse {
    /// Counts `appended` cube rows and, once enough have been appended since the last time,
    /// compacts the cubes; returns the time that took. Compacting is amortised over many
    /// batches and is its own transaction: the batch is already safe, and the sums are the
    /// same before and after.
    pub(super) fn compact_if_due(
        &self,
        connection: &mut duckdb::Connection,
        appended: u64,
    ) -> Result<Duration, WarehouseError> {
        let since = self
            .cube_rows_appended
            .fetch_add(appended, Ordering::Relaxed)
            + appended;
        if since < COMPACT_AFTER_ROWS {
            return Ok(Duration::ZERO);
        }
        let compacting = Instant::now();
        let tx = connection.transaction()?;
        cubes::compact(&tx)?;
        tx.commit()?;
        self.cube_rows_appended.store(0, Ordering::Relaxed);
        Ok(compacting.elapsed())
    }
}

/// Appends the batch's records to `ingest_staging`.
fn stage(
    tx: &Transaction<'_>,
    batch: &BatchWrite<'_>,
    now: chrono::NaiveDateTime,
    zones: &MarketZones,
) -> Result<(), WarehouseError> {
    tx.execute("DELETE FROM ingest_staging", [])?;
    let mut appender = tx.appender("ingest_staging")?;
    for r in batch.records {
        appender.append_row(params![
            batch.instance,
            r.external_id,
            r.market,
            r.region,
            r.channel,
            r.touchpoint,
            UtcTimestamp(r.occurred_at),
            UtcTimestamp(now),
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
            batch.run_id,
            r.text.as_ref().map(|_| r.topics.join("|")),
            r.text.as_ref().map(|_| r.redactions.join("|")),
            r.text_original,
            zones.day_of(&r.market, r.occurred_at),
        ])?;
    }
    appender.flush()?;
    Ok(())
}

/// For `update` instances: keeps the last delivery of each record in the batch, and deletes
/// stored records whose new delivery differs, taking their counts out of the cubes. The
/// insert that follows stores the new versions. Adds the replaced external ids to `replaced`.
fn take_out_changed(
    tx: &Transaction<'_>,
    changes: &mut CubeChanges,
    replaced: &mut Vec<String>,
) -> Result<(), WarehouseError> {
    tx.execute(
        "DELETE FROM ingest_staging WHERE rowid NOT IN \
         (SELECT max(rowid) FROM ingest_staging GROUP BY source_instance, external_id)",
        [],
    )?;
    let mut statement = tx.prepare(&format!(
        "DELETE FROM records r USING ingest_staging s \
         WHERE r.source_instance = s.source_instance AND r.external_id = s.external_id \
           AND ({CONTENT_DIFFERS}) RETURNING {COUNTED_COLUMNS}, r.external_id"
    ))?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        changes.remove(row)?;
        replaced.push(row.get(8)?);
    }
    Ok(())
}
