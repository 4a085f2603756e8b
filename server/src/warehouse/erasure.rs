//! Erasure (GDPR art. 17): delete a person's records, take them out of the cubes, log who did
//! it and how many (never the content), and remember the erased keys so that no connector
//! brings them back. All in one transaction.

use chrono::{DateTime, NaiveDateTime, Utc};
use duckdb::{params, params_from_iter, Transaction};
use serde::Serialize;

use super::cubes::{CubeChanges, COUNTED_COLUMNS};
use super::rewrite::RewriteReason;
use super::{Committed, Warehouse, WarehouseError};
use crate::federation::message::{Change, ChangeKind};

/// Removes staged records that were erased before (run inside `commit_batch`).
pub(super) const SKIP_ERASED: &str = "DELETE FROM ingest_staging WHERE \
    sha256(source_instance || chr(31) || external_id) IN (SELECT key_hash FROM erased_records)";

/// The longest attribute value or external id an erasure accepts.
const MAX_VALUE_CHARS: usize = 512;

/// Which records to erase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Erasure {
    /// Records whose mapped source attribute `key` (e.g. `customer_id`) equals `value`.
    Attribute { key: String, value: String },
    /// Records with this external id, in one instance or in every instance.
    ExternalId {
        instance: Option<String>,
        external_id: String,
    },
    /// Records whose keys another warehouse file erased (its tombstones, loaded by
    /// [`Warehouse::replay_tombstones`]): how a backup catches up with the erasures made
    /// after it was taken.
    Tombstones,
}

impl Erasure {
    /// Checks the request's bounds; the message says what is wrong.
    ///
    /// # Errors
    /// An empty or oversized value, or an attribute key outside `[A-Za-z0-9_-]{1,64}`.
    pub fn validate(&self) -> Result<(), String> {
        let (value, key) = match self {
            Erasure::Attribute { key, value } => (value, Some(key)),
            Erasure::ExternalId { external_id, .. } => (external_id, None),
            Erasure::Tombstones => return Ok(()),
        };
        if value.trim().is_empty()
            || value.chars().count() > MAX_VALUE_CHARS
            || value.chars().any(char::is_control)
        {
            return Err(format!(
                "the value must be 1 to {MAX_VALUE_CHARS} characters, none of them control \
                 characters"
            ));
        }
        if let Some(key) = key {
            let fine = (1..=64).contains(&key.len())
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !fine {
                return Err("an attribute key is 1 to 64 letters, digits, '_' or '-'".into());
            }
        }
        Ok(())
    }

    /// What the log says: the criterion without its value.
    fn criterion(&self) -> String {
        match self {
            Erasure::Attribute { key, .. } => format!("attribute {key}"),
            Erasure::ExternalId {
                instance: Some(instance),
                ..
            } => format!("external id in {instance}"),
            Erasure::ExternalId { instance: None, .. } => "external id".into(),
            Erasure::Tombstones => "tombstones of the live warehouse".into(),
        }
    }

    /// The SQL condition on `records` (or `quarantined_records`) and its parameters.
    fn condition(&self) -> (&'static str, Vec<String>) {
        match self {
            Erasure::Attribute { key, value } => (
                "json_extract_string(attributes, ?) = ?",
                vec![format!("$.\"{key}\""), value.clone()],
            ),
            Erasure::ExternalId {
                instance: Some(instance),
                external_id,
            } => (
                "source_instance = ? AND external_id = ?",
                vec![instance.clone(), external_id.clone()],
            ),
            Erasure::ExternalId {
                instance: None,
                external_id,
            } => ("external_id = ?", vec![external_id.clone()]),
            Erasure::Tombstones => (
                "sha256(source_instance || chr(31) || external_id) IN \
                 (SELECT key_hash FROM replayed_tombstones)",
                Vec::new(),
            ),
        }
    }
}

/// One entry of the erasure log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ErasureEntry {
    pub id: i64,
    pub requested_by: String,
    pub erased_at: DateTime<Utc>,
    /// e.g. `attribute customer_id`; never the value.
    pub criterion: String,
    /// Records deleted (stored and quarantined).
    pub records: u64,
    /// Markets they belonged to.
    pub markets: Vec<String>,
}

impl Warehouse {
    /// Erases the records `erasure` selects and logs it as done by `requested_by`.
    ///
    /// # Errors
    /// On a database error; then nothing is erased.
    pub fn erase(
        &self,
        erasure: &Erasure,
        requested_by: &str,
    ) -> Result<ErasureEntry, WarehouseError> {
        let (condition, values) = erasure.condition();
        let erased_at = Utc::now().naive_utc();
        self.write(|connection| {
            let tx = connection.transaction()?;
            let mut changes = CubeChanges::default();
            let mut keys: Vec<(String, String)> = Vec::new();
            let mut markets: Vec<String> = Vec::new();
            // Headquarters holds copies of global markets' records only.
            let outbox = self.outbox_policy();
            let mut replicated_keys: Vec<(String, String)> = Vec::new();
            {
                let mut statement = tx.prepare(&format!(
                    "DELETE FROM records WHERE {condition} \
                     RETURNING {COUNTED_COLUMNS}, source_instance, external_id"
                ))?;
                let mut rows = statement.query(params_from_iter(values.iter()))?;
                while let Some(row) = rows.next()? {
                    changes.remove(row)?;
                    let market: String = row.get(0)?;
                    let key: (String, String) = (row.get(8)?, row.get(9)?);
                    if outbox.is_some_and(|p| p.global_markets.contains(&market)) {
                        replicated_keys.push(key.clone());
                    }
                    markets.push(market);
                    keys.push(key);
                }
            }
            changes.apply(&tx)?;
            if outbox.is_some() {
                // Messages not sent yet must not carry the erased records to headquarters.
                super::outbox::scrub_records(&tx, &replicated_keys)?;
                let mut change = Change::new(ChangeKind::Erasure, erased_at);
                (change.scores, change.topics) = changes.rows();
                change.drivers = changes.driver_rows();
                change.deleted = replicated_keys;
                super::outbox::write_outbox(&tx, change, erased_at)?;
            }
            {
                let mut statement = tx.prepare(&format!(
                    "DELETE FROM quarantined_records WHERE {condition} \
                     RETURNING market, source_instance, external_id"
                ))?;
                let mut rows = statement.query(params_from_iter(values.iter()))?;
                while let Some(row) = rows.next()? {
                    markets.push(row.get(0)?);
                    keys.push((row.get(1)?, row.get(2)?));
                }
            }
            let records = keys.len() as u64;
            if let Erasure::ExternalId {
                instance: Some(instance),
                external_id,
            } = erasure
            {
                // Remembered even before the record arrives.
                keys.push((instance.clone(), external_id.clone()));
            }
            markets.sort();
            markets.dedup();
            let id: i64 = tx.query_row(
                "INSERT INTO erasures (requested_by, erased_at, criterion, records, markets) \
                 VALUES (?, ?, ?, ?, ?::VARCHAR[]) RETURNING id",
                params![
                    requested_by,
                    erased_at,
                    erasure.criterion(),
                    records as i64,
                    format!("[{}]", markets.join(", "))
                ],
                |r| r.get(0),
            )?;
            remember(&tx, &keys, id)?;
            if *erasure == Erasure::Tombstones {
                // Also the keys of records this file never held: no connector brings them.
                tx.execute(
                    "INSERT INTO erased_records SELECT key_hash, ? FROM replayed_tombstones \
                     ON CONFLICT DO NOTHING",
                    params![id],
                )?;
            }
            super::cases::close_erased(&tx, &keys, erased_at)?;
            super::rewrite::ask_for_rewrite(&tx, RewriteReason::Erasure, erased_at)?;
            tx.commit()?;
            self.notifier
                .publish(Committed::Records(changes.cell_changes()));
            Ok(ErasureEntry {
                id,
                requested_by: requested_by.to_owned(),
                erased_at: erased_at.and_utc(),
                criterion: erasure.criterion(),
                records,
                markets,
            })
        })
    }

    /// Erases here every record that the warehouse file `live` erased (its tombstones), for a
    /// backup taken before those erasures. Run it on the backup, with both files closed to
    /// every other process; then rewrite the backup ([`super::rewrite_file`]).
    ///
    /// # Errors
    /// When `live` cannot be read or on a database error; then nothing is erased.
    pub fn replay_tombstones(
        &self,
        live: &std::path::Path,
        requested_by: &str,
    ) -> Result<ErasureEntry, WarehouseError> {
        self.write(|connection| {
            connection.execute_batch(&format!(
                "ATTACH '{}' AS chorus_live (READ_ONLY); \
                 CREATE OR REPLACE TEMP TABLE replayed_tombstones AS \
                   SELECT DISTINCT key_hash FROM chorus_live.erased_records; \
                 DETACH chorus_live;",
                live.display().to_string().replace('\'', "''")
            ))?;
            Ok(())
        })?;
        self.erase(&Erasure::Tombstones, requested_by)
    }

    /// The erasure log, newest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn erasures(&self) -> Result<Vec<ErasureEntry>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare(
                "SELECT id, requested_by, erased_at, criterion, records, \
                 array_to_string(markets, ',') FROM erasures ORDER BY id DESC",
            )?;
            let rows = statement.query_map([], |r| {
                let markets: Option<String> = r.get(5)?;
                Ok(ErasureEntry {
                    id: r.get(0)?,
                    requested_by: r.get(1)?,
                    erased_at: r.get::<_, NaiveDateTime>(2)?.and_utc(),
                    criterion: r.get(3)?,
                    records: r.get::<_, i64>(4)? as u64,
                    markets: markets
                        .unwrap_or_default()
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

/// Stores the erased keys as tombstones (hashed, see the migration).
fn remember(
    tx: &Transaction<'_>,
    keys: &[(String, String)],
    erasure_id: i64,
) -> Result<(), WarehouseError> {
    let mut statement = tx.prepare(
        "INSERT INTO erased_records VALUES (sha256(? || chr(31) || ?), ?) ON CONFLICT DO NOTHING",
    )?;
    for (instance, external_id) in keys {
        statement.execute(params![instance, external_id, erasure_id])?;
    }
    Ok(())
}
