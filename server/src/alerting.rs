//! The alert job: when the server starts and then every `alerts.interval_seconds` (daily by
//! default), tests the last complete week and month of every market and channel against its
//! baseline (analysis/alerts.rs) and stores what is significant, once per period.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::analysis::alerts::{detect, last_complete_periods};
use crate::analysis::disclosure::Thresholds;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{Warehouse, WarehouseError};

/// Spawns the job. Abort the handle to stop it.
pub fn spawn(
    warehouse: Arc<Warehouse>,
    thresholds: Thresholds,
    interval_seconds: u64,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(interval_seconds.max(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let warehouse = warehouse.clone();
            match spawn_blocking_with_tracing(move || run_once(&warehouse, thresholds)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(new)) => tracing::info!(alerts = new, "significant changes found"),
                Ok(Err(e)) => tracing::error!(error = %e, "alert run failed"),
                Err(e) => tracing::error!(error = %e, "alert task failed"),
            }
        }
    })
}

/// One run at the current time; returns how many alerts are new.
///
/// # Errors
/// On a database error.
pub fn run_once(warehouse: &Warehouse, thresholds: Thresholds) -> Result<u64, WarehouseError> {
    let now = chrono::Utc::now().naive_utc();
    // A week or month is judged once it has ended in every market's calendar.
    let periods = last_complete_periods(warehouse.market_zones().earliest_day(now));
    let (scores, topics) = warehouse.alert_inputs(&periods)?;
    let findings = detect(&scores, &topics, thresholds);
    warehouse.store_alerts(&periods, &findings, now)
}
