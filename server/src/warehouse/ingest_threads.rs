//! DuckDB's thread pool while connector runs write.
//!
//! A run already keeps the machine's cores busy (plugin, text stage, writer). Given more than
//! one thread, DuckDB splits each commit's checkpoint and insert into tasks and its task
//! executor spin-waits for workers the busy cores have descheduled: measured with
//! `chorus bench ingest` on 2 cores, 21-22 CPU-µs per record against 18.8 with one thread,
//! for the same wall time of storage. So while any run is active the pool has one thread, and
//! its default (one per core) comes back when the last run ends. Queries keep running on their
//! own threads meanwhile; only their intra-query parallelism pauses.

use super::{Warehouse, WarehouseError};

impl Warehouse {
    /// A connector run starts writing.
    ///
    /// # Errors
    /// When DuckDB refuses the setting.
    pub fn ingest_started(&self) -> Result<(), WarehouseError> {
        let mut active = self.ingest_runs.lock().unwrap_or_else(|e| e.into_inner());
        if *active == 0 {
            self.read(|c| Ok(c.execute_batch("SET threads = 1")?))?;
        }
        *active += 1;
        Ok(())
    }

    /// A connector run that `ingest_started` has ended, however it ended.
    pub fn ingest_ended(&self) {
        let mut active = self.ingest_runs.lock().unwrap_or_else(|e| e.into_inner());
        *active = active.saturating_sub(1);
        if *active == 0 {
            if let Err(error) = self.read(|c| Ok(c.execute_batch("RESET threads")?)) {
                tracing::error!(%error, "could not give DuckDB its threads back after ingest");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threads(warehouse: &Warehouse) -> i64 {
        warehouse
            .read(|c| Ok(c.query_row("SELECT current_setting('threads')", [], |r| r.get(0))?))
            .unwrap()
    }

    #[test]
    fn one_thread_while_any_run_writes_and_the_default_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(&dir.path().join("w.duckdb")).unwrap();
        let default = threads(&warehouse);
        warehouse.ingest_started().unwrap();
        warehouse.ingest_started().unwrap();
        assert_eq!(threads(&warehouse), 1);
        warehouse.ingest_ended();
        assert_eq!(threads(&warehouse), 1, "another run still writes");
        warehouse.ingest_ended();
        assert_eq!(threads(&warehouse), default);
        warehouse.ingest_ended();
        assert_eq!(threads(&warehouse), default, "an extra end changes nothing");
    }
}
