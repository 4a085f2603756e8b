//! The escalation job: every `cases.escalation_interval_seconds`, overdue cases move to the
//! next person of their chain (market owner → regional lead by default), each move logged on
//! the case.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::Warehouse;

/// Spawns the job. Abort the handle to stop it.
pub fn spawn(warehouse: Arc<Warehouse>, interval_seconds: u64) -> JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(interval_seconds.max(1));
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        loop {
            ticks.tick().await;
            let warehouse = warehouse.clone();
            let now = chrono::Utc::now().naive_utc();
            match spawn_blocking_with_tracing(move || warehouse.escalate_overdue(now)).await {
                Ok(Ok(moved)) => {
                    for case in moved {
                        match &case.to {
                            Some(to) => tracing::info!(
                                case = case.id,
                                market = %case.market,
                                from = %case.from,
                                to = %to,
                                "overdue case escalated"
                            ),
                            None => tracing::warn!(
                                case = case.id,
                                market = %case.market,
                                assignee = %case.from,
                                "case overdue at the end of its escalation chain"
                            ),
                        }
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "escalating overdue cases failed"),
                Err(e) => tracing::error!(error = %e, "escalation task failed"),
            }
        }
    })
}
