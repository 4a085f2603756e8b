//! Runs each connector instance on start and on its interval; never two runs of one instance
//! at once (a tick that finds a run still going is skipped).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{IngestError, Ingestor};

/// Spawns one task per connector instance. Abort the handles to stop scheduling.
pub fn spawn(ingestor: &Arc<Ingestor>) -> Vec<JoinHandle<()>> {
    ingestor
        .settings()
        .connectors
        .iter()
        .filter(|c| c.plugin != super::PUSH && (c.run_on_start || c.interval_seconds.is_some()))
        .map(|c| {
            let ingestor = ingestor.clone();
            let (id, on_start, interval) = (c.id.clone(), c.run_on_start, c.interval_seconds);
            tokio::spawn(async move {
                if on_start {
                    run_once(&ingestor, &id, "startup").await;
                }
                let Some(seconds) = interval else { return };
                let period = Duration::from_secs(seconds);
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
                loop {
                    ticks.tick().await;
                    run_once(&ingestor, &id, "schedule").await;
                }
            })
        })
        .collect()
}

async fn run_once(ingestor: &Arc<Ingestor>, instance: &str, trigger: &str) {
    match ingestor.start(instance, trigger).await {
        Ok(run) => {
            let _ = run.done.await;
        }
        Err(IngestError::AlreadyRunning(_)) => {
            tracing::info!(
                instance,
                trigger,
                "skipped scheduled run: the previous one is still going"
            );
        }
        Err(e) => tracing::error!(instance, trigger, error = %e, "could not start connector run"),
    }
}
