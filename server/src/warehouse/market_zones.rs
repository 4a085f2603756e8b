//! Keeps each market's stored days in its configured calendar (`market_days`): a market whose
//! zone changed since its records were dated has them re-dated, and their cube counts moved to
//! the new days, in one transaction.

use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::{params, Transaction};

use super::cubes::{CubeChanges, COUNTED_COLUMNS};
use super::federated::REPLICA_RUN;
use super::timestamp::UtcTimestamp;
use super::{Committed, Warehouse, WarehouseError};
use crate::federation::message::{Change, ChangeKind};
use crate::market_days::{MarketZone, MarketZones};

/// A market whose records were re-dated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redated {
    pub market: String,
    /// The zone its days were computed in before (UTC for data older than the zones).
    pub from: String,
    pub to: &'static str,
    /// Records whose day moved.
    pub records: u64,
}

impl Warehouse {
    /// The calendar records are dated in now.
    pub(crate) fn market_zones(&self) -> Arc<MarketZones> {
        self.zones.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Dates every record from now on in `zones`, and re-dates the stored records of each
    /// market whose zone differs from the one they were dated in (recorded in `market_zones`).
    /// On a regional node the moved counts travel to headquarters like any change.
    ///
    /// # Errors
    /// On a database error; then the market keeps its old days and zone.
    pub fn use_market_zones(&self, zones: MarketZones) -> Result<Vec<Redated>, WarehouseError> {
        *self.zones.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(zones.clone());
        let dated_in: Vec<(String, String)> = self.read(|connection| {
            let mut statement = connection.prepare(
                "SELECT market, coalesce(z.zone, 'UTC') FROM (SELECT DISTINCT market FROM records) \
                 LEFT JOIN market_zones z USING (market)",
            )?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let mut redated = Vec::new();
        for (market, from) in dated_in {
            let to = zones.zone(&market);
            if from == to.name() {
                continue;
            }
            let records = self.redate(&market, to)?;
            tracing::info!(
                market,
                from,
                to = to.name(),
                records,
                "re-dated a market's records in its configured time zone"
            );
            redated.push(Redated {
                market,
                from,
                to: to.name(),
                records,
            });
        }
        self.write(|connection| {
            let tx = connection.transaction()?;
            for (market, zone) in zones.iter() {
                tx.execute(
                    "INSERT OR REPLACE INTO market_zones VALUES (?, ?)",
                    params![market, zone.name()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })?;
        Ok(redated)
    }

    /// Moves `market`'s records and cube counts to the days of `zone`; returns how many
    /// records changed day.
    fn redate(&self, market: &str, zone: MarketZone) -> Result<u64, WarehouseError> {
        let now = chrono::Utc::now().naive_utc();
        self.write(|connection| {
            let tx = connection.transaction()?;
            let mut changes = CubeChanges::default();
            count_local(&tx, market, &mut changes, CubeChanges::remove)?;
            let moved = new_days(&tx, market, zone)?;
            count_local(&tx, market, &mut changes, CubeChanges::add)?;
            changes.apply(&tx)?;
            if self.outbox_policy().is_some() {
                let mut change = Change::new(ChangeKind::Redated, now);
                (change.scores, change.topics) = changes.rows();
                change.drivers = changes.driver_rows();
                super::outbox::write_outbox(&tx, change, now)?;
            }
            tx.execute(
                "INSERT OR REPLACE INTO market_zones VALUES (?, ?)",
                params![market, zone.name()],
            )?;
            tx.commit()?;
            self.notifier
                .publish(Committed::Records(changes.cell_changes()));
            Ok(moved)
        })
    }
}

/// Counts (or uncounts) the market's own records, not headquarters' replicas, whose counts
/// come from their region.
fn count_local(
    tx: &Transaction<'_>,
    market: &str,
    changes: &mut CubeChanges,
    count: fn(&mut CubeChanges, &duckdb::Row<'_>) -> duckdb::Result<()>,
) -> Result<(), WarehouseError> {
    let mut statement = tx.prepare(&format!(
        "SELECT {COUNTED_COLUMNS} FROM records WHERE market = ? AND run_id <> ?"
    ))?;
    let mut rows = statement.query(params![market, REPLICA_RUN])?;
    while let Some(row) = rows.next()? {
        count(changes, row)?;
    }
    Ok(())
}

/// Sets each of the market's records' day in `zone`; returns how many moved.
fn new_days(tx: &Transaction<'_>, market: &str, zone: MarketZone) -> Result<u64, WarehouseError> {
    let instants: Vec<NaiveDateTime> = {
        let mut statement =
            tx.prepare("SELECT DISTINCT occurred_at FROM records WHERE market = ?")?;
        let rows = statement.query_map([market], |r| r.get::<_, UtcTimestamp>(0))?;
        rows.map(|t| t.map(|t| t.0)).collect::<Result<_, _>>()?
    };
    tx.execute_batch("CREATE OR REPLACE TEMP TABLE new_days (occurred_at TIMESTAMP, day DATE)")?;
    {
        let mut appender = tx.appender("new_days")?;
        for at in instants {
            let day: NaiveDate = zone.day_of(at);
            appender.append_row(params![UtcTimestamp(at), day])?;
        }
        appender.flush()?;
    }
    let moved = tx.execute(
        "UPDATE records SET day = n.day FROM new_days n \
         WHERE records.market = ? AND records.occurred_at = n.occurred_at \
           AND records.day <> n.day",
        [market],
    )?;
    tx.execute_batch("DROP TABLE new_days")?;
    Ok(moved as u64)
}
