//! `chorus verify`: every stored record must read back and lie inside the accepted dates, and
//! the cubes must equal a recount of the records.
//! Earlier versions stored some that do not (a record dated in year 0 broke `/trends`).
//! Verify reads every row exactly as `/api/v1/records` does and counts those outside the
//! range; with `quarantine`, it moves them into `quarantined_records` in one transaction:
//! kept with their reason, out of every figure and listing.

use duckdb::params;
use serde::Serialize;

use super::cubes::{self, CubeChanges, COUNTED_COLUMNS, COUNTED_COLUMN_COUNT};
use super::records::{StoredRecord, STORED_RECORD_COLUMNS};
use super::{Warehouse, WarehouseError};
use crate::dates::DateRange;
use crate::federation::message::{Change, ChangeKind};

/// How many offending records a report names.
const EXAMPLES: usize = 20;
/// Rows between progress reports.
const PROGRESS_EVERY: u64 = 100_000;

/// What `verify` found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Records whose row did not read back.
    pub unreadable: u64,
    /// Records dated outside the accepted range.
    pub out_of_range: u64,
    /// Up to 20 offenders: `instance / external id: why`.
    pub examples: Vec<String>,
    /// Records moved into `quarantined_records` by this run.
    pub quarantined: u64,
    /// Cube rows that differ from a recount of `records` (after any quarantine).
    pub cube_differences: u64,
    /// Every differing cube row: key, kept counts, recounted counts.
    pub cube_examples: Vec<String>,
}

impl VerifyReport {
    /// Whether every record is readable and inside the range (after any quarantine).
    pub fn is_clean(&self) -> bool {
        self.unreadable == 0 && self.out_of_range == self.quarantined && self.cube_differences == 0
    }
}

/// ` occurred_at` outside the range, as SQL with its two parameters.
fn outside(dates: &DateRange) -> (&'static str, [String; 2]) {
    (
        "(occurred_at < ?::DATE OR occurred_at >= ?::DATE + INTERVAL 1 DAY)",
        [dates.earliest().to_string(), dates.latest().to_string()],
    )
}

impl Warehouse {
    /// Reads every record and checks its date; quarantines the misdated ones when asked;
    /// then recounts both cubes from `records` and lists every difference.
    ///
    /// # Errors
    /// On a database error (then nothing is moved).
    pub fn verify(
        &self,
        dates: &DateRange,
        quarantine: bool,
        mut progress: impl FnMut(u64),
    ) -> Result<VerifyReport, WarehouseError> {
        let mut report = VerifyReport::default();
        let (condition, bounds) = outside(dates);
        self.read(|c| {
            let mut statement = c.prepare(&format!(
                "SELECT {STORED_RECORD_COLUMNS}, {condition}, occurred_at::VARCHAR FROM records"
            ))?;
            let mut rows = statement.query(params![bounds[0], bounds[1]])?;
            while let Some(row) = rows.next()? {
                report.records += 1;
                let who = || {
                    let id = |i| row.get::<_, String>(i).unwrap_or_else(|_| "?".into());
                    format!("{} / {}", id(0), id(1))
                };
                let problem = match (StoredRecord::from_row(row), row.get::<_, bool>(18)) {
                    (Err(e), _) => {
                        report.unreadable += 1;
                        Some(format!("does not read back: {e}"))
                    }
                    (Ok(_), Ok(true)) => {
                        report.out_of_range += 1;
                        let at: String = row.get(19)?;
                        Some(format!(
                            "occurred_at {at} is outside the dates Chorus accepts ({dates})"
                        ))
                    }
                    (Ok(_), _) => None,
                };
                if let Some(problem) = problem {
                    if report.examples.len() < EXAMPLES {
                        report.examples.push(format!("{}: {problem}", who()));
                    }
                }
                if report.records.is_multiple_of(PROGRESS_EVERY) {
                    progress(report.records);
                }
            }
            Ok(())
        })?;
        if quarantine && report.out_of_range > 0 {
            report.quarantined = self.write(|connection| {
                let tx = connection.transaction()?;
                let reason = format!("occurred_at outside the dates Chorus accepts ({dates})");
                let moved = tx.execute(
                    &format!(
                        "INSERT INTO quarantined_records SELECT * EXCLUDE (day), ?, \
                         current_timestamp::TIMESTAMP FROM records WHERE {condition}"
                    ),
                    params![reason, bounds[0], bounds[1]],
                )?;
                // Out of every figure: the cubes lose what the moved records counted, here
                // and, on a regional node, at headquarters.
                let outbox = self.outbox_policy();
                let mut changes = CubeChanges::default();
                let mut replicated_keys = Vec::new();
                {
                    let mut statement = tx.prepare(&format!(
                        "DELETE FROM records WHERE {condition} \
                         RETURNING {COUNTED_COLUMNS}, source_instance, external_id"
                    ))?;
                    let mut rows = statement.query(params![bounds[0], bounds[1]])?;
                    while let Some(row) = rows.next()? {
                        changes.remove(row)?;
                        let market: String = row.get(0)?;
                        if outbox.is_some_and(|p| p.global_markets.contains(&market)) {
                            replicated_keys.push((
                                row.get(COUNTED_COLUMN_COUNT)?,
                                row.get(COUNTED_COLUMN_COUNT + 1)?,
                            ));
                        }
                    }
                }
                changes.apply(&tx)?;
                if outbox.is_some() {
                    let now = chrono::Utc::now().naive_utc();
                    let mut change = Change::new(ChangeKind::Quarantine, now);
                    (change.scores, change.topics) = changes.rows();
                    change.drivers = changes.driver_rows();
                    change.deleted = replicated_keys;
                    super::outbox::write_outbox(&tx, change, now)?;
                }
                tx.commit()?;
                Ok(moved as u64)
            })?;
        }
        let (differences, examples) = self.read(|c| cubes::differences(c, usize::MAX))?;
        report.cube_differences = differences;
        report.cube_examples = examples;
        Ok(report)
    }

    /// Records dated outside `dates` (a quick check at start-up).
    ///
    /// # Errors
    /// On a database error.
    pub fn misdated_records(&self, dates: &DateRange) -> Result<u64, WarehouseError> {
        let (condition, bounds) = outside(dates);
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT count(*) FROM records WHERE {condition}"),
                params![bounds[0], bounds[1]],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }
}
