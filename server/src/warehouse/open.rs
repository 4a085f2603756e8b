//! Opens the warehouse file the same way whichever DuckDB is linked.
//!
//! DuckDB's official shared library has ICU built in, which dates `TIMESTAMPTZ` values (and
//! `current_timestamp::TIMESTAMP`) in the machine's time zone; the bundled build has no ICU
//! and dates them in UTC. Chorus stores UTC and does market calendars itself
//! (`market_days`), so the database is told to compute in UTC.

use std::path::Path;

use duckdb::Connection;

use super::WarehouseError;

/// A connection to the DuckDB file at `path` whose sessions (and clones') time zone is UTC.
pub(crate) fn open(path: &Path) -> Result<Connection, WarehouseError> {
    let connection = Connection::open(path).map_err(|source| WarehouseError::Open {
        path: path.display().to_string(),
        source,
    })?;
    // Without ICU the setting does not exist (and cannot be fetched offline): UTC already.
    let has_icu: bool = connection.query_row(
        "SELECT count(*) > 0 FROM duckdb_extensions() WHERE extension_name = 'icu' AND loaded",
        [],
        |row| row.get(0),
    )?;
    if has_icu {
        connection.execute_batch("SET GLOBAL TimeZone = 'UTC'")?;
    }
    Ok(connection)
}
