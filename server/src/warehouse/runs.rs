//! Connector runs: their lifecycle rows, counters and rejections.

use chrono::{DateTime, NaiveDateTime, Utc};
use duckdb::{params, Connection, Row};
use serde::Serialize;

use super::{BatchOutcome, BatchWrite, Warehouse, WarehouseError};

/// State of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going.
    Running,
    /// Read everything the source had.
    Succeeded,
    /// Stopped on an error; what earlier batches committed stays.
    Failed,
    /// The process ended during the run.
    Interrupted,
}

impl RunStatus {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> RunStatus {
        match text {
            "running" => RunStatus::Running,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Interrupted,
        }
    }
}

/// One run as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    pub id: i64,
    pub instance: String,
    /// `startup`, `schedule` or `api`.
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub status: RunStatus,
    /// Records the plugin delivered.
    pub records_read: u64,
    /// New records stored.
    pub inserted: u64,
    /// Stored records replaced by a changed version.
    pub updated: u64,
    /// Records already stored before, repeated, or erased.
    pub duplicates: u64,
    /// Rows or records rejected, by the plugin or by validation.
    pub rejected: u64,
    /// Why the run failed.
    pub error: Option<String>,
}

/// A stored rejection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredRejection {
    pub location: String,
    pub reason: String,
}

const RUN_COLUMNS: &str = "id, instance, trigger, started_at, finished_at, status, \
                           records_read, inserted, duplicates, rejected, error, \
                           coalesce((SELECT updated FROM run_updates u \
                                     WHERE u.run_id = connector_runs.id), 0)";

fn run_from_row(row: &Row<'_>) -> duckdb::Result<RunSummary> {
    let status: String = row.get(5)?;
    Ok(RunSummary {
        id: row.get(0)?,
        instance: row.get(1)?,
        trigger: row.get(2)?,
        started_at: row.get::<_, NaiveDateTime>(3)?.and_utc(),
        finished_at: row.get::<_, Option<NaiveDateTime>>(4)?.map(|t| t.and_utc()),
        status: RunStatus::parse(&status),
        records_read: row.get::<_, i64>(6)? as u64,
        inserted: row.get::<_, i64>(7)? as u64,
        updated: row.get::<_, i64>(11)? as u64,
        duplicates: row.get::<_, i64>(8)? as u64,
        rejected: row.get::<_, i64>(9)? as u64,
        error: row.get(10)?,
    })
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

pub(super) fn start(c: &Connection, instance: &str, trigger: &str) -> Result<i64, WarehouseError> {
    Ok(c.query_row(
        "INSERT INTO connector_runs (instance, trigger, started_at, status) \
         VALUES (?, ?, ?, 'running') RETURNING id",
        params![instance, trigger, now()],
        |r| r.get(0),
    )?)
}

pub(super) fn finish(
    c: &Connection,
    run_id: i64,
    status: RunStatus,
    error: Option<&str>,
) -> Result<String, WarehouseError> {
    Ok(c.query_row(
        "UPDATE connector_runs SET status = ?, finished_at = ?, error = ? WHERE id = ? \
         RETURNING instance",
        params![status.as_str(), now(), error, run_id],
        |r| r.get(0),
    )?)
}

pub(super) fn add_batch(
    c: &Connection,
    batch: &BatchWrite<'_>,
    outcome: BatchOutcome,
) -> Result<(), WarehouseError> {
    c.execute(
        "UPDATE connector_runs SET records_read = records_read + ?, inserted = inserted + ?, \
         duplicates = duplicates + ?, rejected = rejected + ? WHERE id = ?",
        params![
            batch.records_read as i64,
            outcome.inserted as i64,
            outcome.duplicates as i64,
            batch.rejections.len() as i64,
            batch.run_id
        ],
    )?;
    if outcome.updated > 0 {
        c.execute(
            "INSERT INTO run_updates VALUES (?, ?) \
             ON CONFLICT DO UPDATE SET updated = updated + excluded.updated",
            params![batch.run_id, outcome.updated as i64],
        )?;
    }
    if !batch.rejections.is_empty() {
        let mut appender = c.appender("run_rejections")?;
        for r in batch.rejections {
            appender.append_row(params![batch.run_id, batch.instance, r.location, r.reason])?;
        }
        appender.flush()?;
    }
    Ok(())
}

pub(super) fn mark_interrupted(c: &Connection) -> Result<(), WarehouseError> {
    let n = c.execute(
        "UPDATE connector_runs SET status = 'interrupted', finished_at = ?, \
         error = 'the server stopped during this run; committed batches were kept' \
         WHERE status = 'running'",
        params![now()],
    )?;
    if n > 0 {
        tracing::warn!(
            runs = n,
            "marked runs left running by a previous process as interrupted"
        );
    }
    Ok(())
}

impl Warehouse {
    /// The latest runs of an instance, newest first.
    ///
    /// # Errors
    /// On a database error.
    pub fn runs(&self, instance: &str, limit: u32) -> Result<Vec<RunSummary>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM connector_runs WHERE instance = ? \
                 ORDER BY id DESC LIMIT ?"
            ))?;
            let rows = statement.query_map(params![instance, limit], run_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// One run by id.
    ///
    /// # Errors
    /// On a database error.
    pub fn run(&self, run_id: i64) -> Result<Option<RunSummary>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM connector_runs WHERE id = ?"
            ))?;
            let mut rows = statement.query_map(params![run_id], run_from_row)?;
            Ok(rows.next().transpose()?)
        })
    }

    /// The latest run of every instance that has one.
    ///
    /// # Errors
    /// On a database error.
    pub fn last_runs(&self) -> Result<Vec<RunSummary>, WarehouseError> {
        self.read(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM connector_runs \
                 QUALIFY row_number() OVER (PARTITION BY instance ORDER BY id DESC) = 1"
            ))?;
            let rows = statement.query_map([], run_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Rejections of a run, in the order they were stored.
    ///
    /// # Errors
    /// On a database error.
    pub fn rejections(
        &self,
        run_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredRejection>, WarehouseError> {
        self.read(|c| {
            let mut statement =
                c.prepare("SELECT location, reason FROM run_rejections WHERE run_id = ? LIMIT ?")?;
            let rows = statement.query_map(params![run_id, limit], |r| {
                Ok(StoredRejection {
                    location: r.get(0)?,
                    reason: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
