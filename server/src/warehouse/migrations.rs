//! Versioned schema migrations, applied in order, each in its own transaction.

use duckdb::{params, Connection};

use super::WarehouseError;

/// (version, SQL). Append only: a released migration is never edited.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/001_initial.sql")),
    (2, include_str!("migrations/002_text.sql")),
    (3, include_str!("migrations/003_quarantine.sql")),
    (4, include_str!("migrations/004_cubes.sql")),
    (5, include_str!("migrations/005_changes.sql")),
    (6, include_str!("migrations/006_closed_loop.sql")),
    (7, include_str!("migrations/007_federation.sql")),
    (8, include_str!("migrations/008_staging_in_memory.sql")),
    (9, include_str!("migrations/009_rewrite_after_erasure.sql")),
    (10, include_str!("migrations/010_market_days.sql")),
    (11, include_str!("migrations/011_driver_counts.sql")),
];

/// Where a batch waits inside its transaction before it moves into `records`: a temporary
/// table of the writer connection, so staged rows never reach the file. It keeps the records'
/// columns in order, but holds the two lists as '|'-joined text (the appender takes scalars);
/// `commit_batch` splits them when moving rows.
pub(super) const CREATE_STAGING: &str = "CREATE TEMP TABLE ingest_staging AS \
    SELECT * REPLACE (NULL::VARCHAR AS topics, NULL::VARCHAR AS redactions) FROM records LIMIT 0";

/// Brings the schema to the latest version.
pub(super) fn apply(connection: &mut Connection) -> Result<(), WarehouseError> {
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, applied_at TIMESTAMP NOT NULL)",
    )?;
    let current: i64 = connection.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let supported = MIGRATIONS.last().map_or(0, |(v, _)| *v);
    if current > supported {
        return Err(WarehouseError::TooNew {
            found: current,
            supported,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations VALUES (?, current_timestamp::TIMESTAMP)",
            params![version],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied warehouse migration");
    }
    Ok(())
}
