//! Rewriting the warehouse file without its free blocks, so erased data leaves every byte.
//!
//! DuckDB marks deleted rows and frees their blocks, but does not overwrite them: after an
//! erasure the raw file (and every copy of it) still holds the erased text until the space is
//! reused. Transactions that delete personal data note it in `pending_rewrite`; a file with a
//! note is copied table by table into a new file (`COPY FROM DATABASE`, which writes live rows
//! only), checked, and renamed over the old one. The rename is atomic: a crash leaves either
//! file whole, and the note stays until a rewrite succeeds.

use std::path::{Path, PathBuf};

use duckdb::{params, Connection, Transaction};

use super::WarehouseError;

/// Why a transaction asks for a rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RewriteReason {
    /// `POST /api/v1/erasures` or `chorus erase`.
    Erasure,
    /// Headquarters deleted a replicated record its region erased.
    ReplicaDeleted,
}

impl RewriteReason {
    fn as_str(self) -> &'static str {
        match self {
            RewriteReason::Erasure => "erasure",
            RewriteReason::ReplicaDeleted => "replica_deleted",
        }
    }
}

/// Notes inside `tx` that the file must be rewritten once `tx` commits.
pub(crate) fn ask_for_rewrite(
    tx: &Transaction<'_>,
    reason: RewriteReason,
    now: chrono::NaiveDateTime,
) -> Result<(), WarehouseError> {
    tx.execute(
        "INSERT INTO pending_rewrite VALUES (?, ?)",
        params![now, reason.as_str()],
    )?;
    Ok(())
}

/// Whether the file behind `connection` has deleted personal data still in its free blocks.
pub(crate) fn is_pending(connection: &Connection) -> Result<bool, WarehouseError> {
    let exists: bool = connection.query_row(
        "SELECT count(*) > 0 FROM duckdb_tables() \
         WHERE table_name = 'pending_rewrite' AND database_name = current_database()",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(false);
    }
    Ok(connection.query_row("SELECT count(*) > 0 FROM pending_rewrite", [], |r| r.get(0))?)
}

/// What a rewrite did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// File size before, in bytes.
    pub bytes_before: u64,
    /// File size after, in bytes.
    pub bytes_after: u64,
}

/// Rewrites the (closed) warehouse file at `path` without its free blocks when a rewrite is
/// pending, or always with `force`. No other connection to the file may be open.
///
/// # Errors
/// On a database or file error; the old file is then left as it was (and still pending).
pub fn rewrite_file(path: &Path, force: bool) -> Result<Option<Rewritten>, WarehouseError> {
    let io = |what: &str, e: std::io::Error| {
        WarehouseError::Rewrite(format!("{what} {}: {e}", path.display()))
    };
    let bytes_before = std::fs::metadata(path)
        .map_err(|e| io("cannot read", e))?
        .len();
    let fresh = sibling(path, "rewrite");
    {
        let connection = super::open::open(path)?;
        if !force && !is_pending(&connection)? {
            return Ok(None);
        }
        for stale in [fresh.clone(), sibling(&fresh, "wal")] {
            match std::fs::remove_file(&stale) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io("cannot remove a stale", e)),
            }
        }
        let old: String = connection.query_row("SELECT current_database()", [], |r| r.get(0))?;
        connection.execute_batch(&format!(
            "CHECKPOINT; ATTACH '{}' AS chorus_rewritten; \
             COPY FROM DATABASE \"{}\" TO chorus_rewritten;",
            sql_text(&fresh.display().to_string()),
            old.replace('"', "\"\"")
        ))?;
        // The copy must hold what the file holds, table by table.
        let old = old.replace('"', "\"\"");
        for table in COUNTED_TABLES {
            let count = |database: &str| -> Result<i64, WarehouseError> {
                Ok(connection.query_row(
                    &format!("SELECT count(*) FROM \"{database}\".{table}"),
                    [],
                    |r| r.get(0),
                )?)
            };
            let (before, after) = (count(&old)?, count("chorus_rewritten")?);
            if before != after {
                return Err(WarehouseError::Rewrite(format!(
                    "the copy of {} has {after} rows in {table} where the file has {before}; \
                     the file is left as it was",
                    path.display()
                )));
            }
        }
        connection.execute_batch(
            "DELETE FROM chorus_rewritten.pending_rewrite; CHECKPOINT chorus_rewritten; \
             DETACH chorus_rewritten;",
        )?;
    }
    // Both files must be whole without a write-ahead log: the old one's would be replayed
    // onto the new file.
    for file in [path, fresh.as_path()] {
        if sibling(file, "wal").exists() {
            return Err(WarehouseError::Rewrite(format!(
                "{} still has a write-ahead log after closing; the file is left as it was",
                file.display()
            )));
        }
    }
    std::fs::File::open(&fresh)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("cannot sync the rewritten copy of", e))?;
    std::fs::rename(&fresh, path).map_err(|e| io("cannot replace", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename itself reaches the disk with the folder.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    let bytes_after = std::fs::metadata(path)
        .map_err(|e| io("cannot read", e))?
        .len();
    tracing::info!(
        file = %path.display(),
        bytes_before,
        bytes_after,
        "warehouse rewritten without its free blocks"
    );
    Ok(Some(Rewritten {
        bytes_before,
        bytes_after,
    }))
}

/// Tables whose row counts must survive the copy unchanged.
const COUNTED_TABLES: [&str; 6] = [
    "records",
    "cases",
    "case_events",
    "erased_records",
    "score_counts",
    "federation_outbox",
];

/// `path` with `.suffix` appended (`chorus.duckdb` → `chorus.duckdb.wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// A string literal's content for SQL.
fn sql_text(text: &str) -> String {
    text.replace('\'', "''")
}
