//! The DuckDB warehouse: one file, versioned migrations, one writer, many readers.
//!
//! DuckDB's `Connection` is `Send` but not `Sync`. The warehouse owns one writer connection
//! behind a mutex (writes are serialised, which DuckDB wants anyway) and hands each reader a
//! fresh connection cloned from a seed, so reads never wait for a running write transaction:
//! DuckDB's MVCC gives them the last committed state. Every method blocks; async callers run
//! them on blocking threads.

pub mod alerts;
mod batch;
pub mod cases;
mod cubes;
mod drivers;
mod erasure;
mod export;
mod federated;
mod ingest_threads;
mod inspection;
mod market_zones;
mod migrations;
mod notify;
mod open;
mod outbox;
pub mod queries;
pub mod records;
mod rewrite;
mod runs;
mod timestamp;
pub mod topics;
mod verify;
pub mod webhooks;

use std::path::Path;
use std::sync::Mutex;

use chrono::NaiveDateTime;

use crate::market_days::MarketZones;
use duckdb::{params, Connection};

pub use drivers::{driver_patterns_sql, DriverPattern};
pub use erasure::{Erasure, ErasureEntry};
pub use export::ExportSummary;
pub use federated::{Applied, Incoming, NodeState};
pub use market_zones::Redated;
use notify::Notifier;
pub use notify::{CellChange, Committed};
pub use outbox::{OutboxPolicy, OutboxState};
pub use rewrite::{rewrite_file, Rewritten};
pub use runs::{RunStatus, RunSummary, StoredRejection};
pub use verify::VerifyReport;

/// ` AND {column} IN (?, …)` with `count` placeholders; ` AND false` for none, since `IN ()`
/// is not SQL and an empty list selects nothing.
pub(crate) fn in_list(column: &str, count: usize) -> String {
    if count == 0 {
        return " AND false".to_owned();
    }
    format!(" AND {column} IN ({})", vec!["?"; count].join(", "))
}

/// Errors of the warehouse layer.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// DuckDB reported an error.
    #[error("warehouse: {0}")]
    Db(#[from] duckdb::Error),
    /// The file could not be opened.
    #[error("cannot open warehouse {path}: {source}")]
    Open { path: String, source: duckdb::Error },
    /// The file was written by a newer Chorus.
    #[error("warehouse schema version {found} is newer than this build supports ({supported})")]
    TooNew { found: i64, supported: i64 },
    /// An export would overwrite something, or cannot create its folder.
    #[error("export: {0}")]
    ExportTarget(String),
    /// Stored data breaks an invariant the schema should have enforced.
    #[error("warehouse data is inconsistent: {0}")]
    Corrupt(String),
    /// The file could not be rewritten without its free blocks.
    #[error("rewrite: {0}")]
    Rewrite(String),
}

/// A validated, normalised record ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    pub external_id: String,
    pub market: String,
    pub region: String,
    pub channel: String,
    pub touchpoint: Option<String>,
    pub occurred_at: NaiveDateTime,
    pub nps: Option<u8>,
    pub csat: Option<u8>,
    pub ces: Option<u8>,
    pub stars: Option<u8>,
    pub text: Option<String>,
    pub language: Option<String>,
    pub language_confidence: Option<f64>,
    pub language_decided_by: Option<&'static str>,
    pub consent_contact: Option<bool>,
    /// JSON object text.
    pub attributes: Option<String>,
    /// Topic ids (empty without text).
    pub topics: Vec<String>,
    /// Kinds of PII redacted from `text`.
    pub redactions: Vec<String>,
    /// The unredacted text, where the market keeps it.
    pub text_original: Option<String>,
}

/// A rejected row or record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Where: `file:line` from the plugin, or `record N (external id X)` from the host.
    pub location: String,
    /// Why.
    pub reason: String,
}

/// One batch of a run, committed atomically with the cursor that follows it.
#[derive(Debug)]
pub struct BatchWrite<'a> {
    pub run_id: i64,
    pub instance: &'a str,
    /// Records delivered by the plugin, valid or not.
    pub records_read: u64,
    pub records: &'a [NewRecord],
    pub rejections: &'a [Rejection],
    /// Cursor after this batch; `None` leaves the stored one.
    pub cursor: Option<&'a str>,
    /// What a changed re-delivery of a stored record does.
    pub on_change: OnChange,
    /// Rules whose matching new records open a case in the same transaction.
    pub case_rules: Option<&'a crate::cases::CaseRules>,
}

/// What a record re-delivered with the same external id and different content does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnChange {
    /// The first stored version stays (survey answers do not change).
    #[default]
    KeepFirst,
    /// The new version replaces the stored one (edited reviews, late ticket ratings).
    Update,
}

/// What a committed batch changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// New rows in `records`.
    pub inserted: u64,
    /// Stored records replaced by a changed version (`OnChange::Update`).
    pub updated: u64,
    /// Records that were already stored unchanged (same instance and external id), repeated
    /// within the batch, or erased earlier (never brought back).
    pub duplicates: u64,
}

/// The warehouse. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Warehouse {
    /// The DuckDB file.
    path: std::path::PathBuf,
    /// The one connection that writes.
    writer: Mutex<Connection>,
    /// Seed for reader connections; locked only to clone it.
    reader_seed: Mutex<Connection>,
    /// Time spent keeping the cubes in batch commits (the benchmark reports its share).
    cube_nanos: std::sync::atomic::AtomicU64,
    /// Cube rows appended since the last compaction.
    cube_rows_appended: std::sync::atomic::AtomicU64,
    /// Announces committed changes (the dashboard's live updates).
    notifier: Notifier,
    /// On a regional node: every change also writes its federation message.
    outbox: std::sync::OnceLock<OutboxPolicy>,
    /// Connector runs writing now (see `ingest_threads`).
    ingest_runs: Mutex<usize>,
    /// The calendar each market's records are dated in (see `market_days`).
    zones: std::sync::RwLock<std::sync::Arc<MarketZones>>,
}

impl Warehouse {
    /// Opens (or creates) the DuckDB file, applies pending migrations and marks runs that a
    /// previous process left `running` as `interrupted`.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Warehouse, WarehouseError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(parent);
        }
        let open = || open::open(path);
        let mut writer = open()?;
        migrations::apply(&mut writer)?;
        if rewrite::is_pending(&writer)? {
            // Erased data left in free blocks by a process that stopped before rewriting.
            drop(writer);
            if let Err(e) = rewrite::rewrite_file(path, false) {
                tracing::error!(error = %e, file = %path.display(),
                    "erased data is still in the file's free blocks; run `chorus compact`");
            }
            writer = open()?;
        }
        writer.execute_batch(migrations::CREATE_STAGING)?;
        runs::mark_interrupted(&writer)?;
        let reader_seed = writer.try_clone()?;
        Ok(Warehouse {
            path: path.to_owned(),
            writer: Mutex::new(writer),
            reader_seed: Mutex::new(reader_seed),
            cube_nanos: std::sync::atomic::AtomicU64::new(0),
            cube_rows_appended: std::sync::atomic::AtomicU64::new(0),
            notifier: Notifier::default(),
            outbox: std::sync::OnceLock::new(),
            ingest_runs: Mutex::new(0),
            zones: std::sync::RwLock::default(),
        })
    }

    /// The DuckDB file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether deleted personal data waits in the file's free blocks for a rewrite
    /// ([`rewrite_file`], once every connection is closed).
    ///
    /// # Errors
    /// On a database error.
    pub fn rewrite_pending(&self) -> Result<bool, WarehouseError> {
        self.read(rewrite::is_pending)
    }

    /// Runs `f` on a fresh read connection.
    ///
    /// # Errors
    /// Whatever `f` returns, or a failure to create the connection.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, WarehouseError>,
    ) -> Result<T, WarehouseError> {
        let connection = self
            .reader_seed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_clone()?;
        f(&connection)
    }

    /// Runs `f` with the writer connection, serialised with every other write.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, WarehouseError>,
    ) -> Result<T, WarehouseError> {
        let mut connection = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut connection)
    }

    /// Whether the warehouse answers a trivial query.
    pub fn is_ready(&self) -> bool {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i32>(0))?))
            .is_ok()
    }

    /// The stored cursor of an instance.
    ///
    /// # Errors
    /// On a database error.
    pub fn cursor(&self, instance: &str) -> Result<Option<String>, WarehouseError> {
        self.read(|c| {
            let mut statement =
                c.prepare("SELECT cursor FROM connector_cursors WHERE instance = ?")?;
            let mut rows = statement.query(params![instance])?;
            Ok(match rows.next()? {
                Some(row) => Some(row.get(0)?),
                None => None,
            })
        })
    }

    /// Starts a run and returns its id.
    ///
    /// # Errors
    /// On a database error.
    pub fn start_run(&self, instance: &str, trigger: &str) -> Result<i64, WarehouseError> {
        let run_id = self.write(|c| runs::start(c, instance, trigger))?;
        self.notifier.publish(Committed::Run {
            instance: instance.to_owned(),
            run_id,
            status: RunStatus::Running.as_str().to_owned(),
        });
        Ok(run_id)
    }

    /// Ends a run with its final status and error text.
    ///
    /// # Errors
    /// On a database error.
    pub fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<(), WarehouseError> {
        let instance = self.write(|c| runs::finish(c, run_id, status, error))?;
        self.notifier.publish(Committed::Run {
            instance,
            run_id,
            status: status.as_str().to_owned(),
        });
        Ok(())
    }

    /// Listens to what commits change from now on.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Committed> {
        self.notifier.subscribe()
    }

    /// Merges the cubes' delta rows per key (batches append; this is what keeps them small).
    ///
    /// # Errors
    /// On a database error; then the cubes are unchanged.
    pub fn compact_cubes(&self) -> Result<(), WarehouseError> {
        self.write(|connection| {
            let tx = connection.transaction()?;
            cubes::compact(&tx)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Rebuilds both cubes from `records`, for a file whose records were written around
    /// `commit_batch` (the query benchmark generates them with SQL).
    ///
    /// # Errors
    /// On a database error; then the cubes are unchanged.
    pub fn rebuild_cubes(&self) -> Result<(), WarehouseError> {
        self.write(|connection| {
            let tx = connection.transaction()?;
            cubes::rebuild(&tx)?;
            tx.commit()?;
            Ok(())
        })
    }

    /// Time batch commits spent keeping the cubes since the warehouse was opened.
    pub fn cube_maintenance_time(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.cube_nanos.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Number of stored records.
    ///
    /// # Errors
    /// On a database error.
    pub fn record_count(&self) -> Result<u64, WarehouseError> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM records", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }
}

#[cfg(test)]
mod case_tests;
#[cfg(test)]
mod cube_invariants;
#[cfg(test)]
mod federation_tests;
#[cfg(test)]
mod tests;
