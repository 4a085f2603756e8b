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
