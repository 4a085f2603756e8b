//! Ingest: runs a connector instance through its plugin into the warehouse.
//!
//! A run opens a fresh plugin instance, reads batches from the stored cursor, validates and
//! normalises every record, and commits each batch together with its cursor. Whatever goes
//! wrong (plugin error, panic, garbage, timeout) fails this run only; batches committed before
//! stay, and the cursor never moves past what was committed.

mod normalise;
mod push;
mod run;
pub mod scheduler;
mod text;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;
use tracing::Instrument;

pub use normalise::normalise;
pub use push::{PushOutcome, PushRejection, MAX_PUSH_RECORDS, PUSH};
pub use run::COMMIT_ROWS;
pub use text::{ProcessedText, TextStage};

use crate::cases::CaseRules;
use crate::catalog::Catalog;
use crate::config::{ConnectorConfig, Settings};
use crate::counters::Counters;
use crate::plugins::{PluginError, PluginRegistry};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{RunStatus, RunSummary, Warehouse, WarehouseError};

/// Errors of the ingest layer.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No instance with this id is configured.
    #[error("no connector instance {0:?} is configured")]
    UnknownInstance(String),
    /// The instance receives pushed records; it has no plugin to run.
    #[error(
        "connector instance {0:?} is a push instance: records arrive by POST /api/v1/ingest/{0}"
    )]
    NotRunnable(String),
    /// Records were pushed to an instance that reads from a plugin.
    #[error("connector instance {0:?} is not a push instance (its plugin reads the records)")]
    NotPush(String),
    /// A run of this instance is already going.
    #[error("connector instance {0:?} is already running")]
    AlreadyRunning(String),
    /// The plugin failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// A blocking task could not be joined.
    #[error("background task failed: {0}")]
    Task(String),
}

/// Records between two progress log lines of a long run.
const PROGRESS_EVERY: u64 = 100_000;

/// Starts and tracks connector runs.
#[derive(Debug)]
pub struct Ingestor {
    /// Connector instances and plugin settings.
    settings: Arc<Settings>,
    /// Markets and channels for validation.
    catalog: Arc<Catalog>,
    /// Redaction and topics.
    text: Arc<TextStage>,
    /// Where records go.
    warehouse: Arc<Warehouse>,
    /// Where plugins come from.
    plugins: Arc<PluginRegistry>,
    /// Process counters.
    counters: Arc<Counters>,
    /// Instances with a run in progress; at most one run per instance.
    running: Arc<Mutex<HashSet<String>>>,
    /// Rules whose matching records open cases as they are stored.
    case_rules: Arc<CaseRules>,
}

/// Removes an instance from the running set when its run ends, however it ends.
struct RunningGuard {
    running: Arc<Mutex<HashSet<String>>>,
    instance: String,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.instance);
    }
}

/// A run that has started.
#[derive(Debug)]
pub struct StartedRun {
    /// Its id in the run history.
    pub run_id: i64,
    /// Resolves to its summary when it ends.
    pub done: JoinHandle<Option<RunSummary>>,
}

impl Ingestor {
    /// An ingestor over shared parts.
    pub fn new(
        settings: Arc<Settings>,
        catalog: Arc<Catalog>,
        text: Arc<TextStage>,
        warehouse: Arc<Warehouse>,
        plugins: Arc<PluginRegistry>,
        counters: Arc<Counters>,
    ) -> Ingestor {
        // Settings are validated when loaded, and validation compiles the rules.
        let case_rules = Arc::new(CaseRules::compile(&settings).unwrap_or_default());
        Ingestor {
            case_rules,
            settings,
            catalog,
            text,
            warehouse,
            plugins,
            counters,
            running: Arc::default(),
        }
    }

    /// The configuration this ingestor runs.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether a run of `instance` is in progress.
    pub fn is_running(&self, instance: &str) -> bool {
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(instance)
    }

    /// Starts a run of `instance` in the background.
    ///
    /// # Errors
    /// When the instance is unknown or already running, or the run cannot be recorded.
    pub async fn start(
        self: &Arc<Self>,
        instance: &str,
        trigger: &str,
    ) -> Result<StartedRun, IngestError> {
        let config = self
            .settings
            .connector(instance)
            .cloned()
            .ok_or_else(|| IngestError::UnknownInstance(instance.to_owned()))?;
        if config.plugin == PUSH {
            return Err(IngestError::NotRunnable(instance.to_owned()));
        }
        let guard = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if !running.insert(instance.to_owned()) {
                return Err(IngestError::AlreadyRunning(instance.to_owned()));
            }
            RunningGuard {
                running: self.running.clone(),
                instance: instance.to_owned(),
            }
        };
        let warehouse = self.warehouse.clone();
        let (id, trig) = (instance.to_owned(), trigger.to_owned());
        let run_id = spawn_blocking_with_tracing(move || warehouse.start_run(&id, &trig))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))??;
        let span = tracing::info_span!("connector_run", instance, run_id, trigger);
        let this = self.clone();
        let done =
            tokio::spawn(async move { this.finish(run_id, &config, guard).await }.instrument(span));
        Ok(StartedRun { run_id, done })
    }

    /// Executes a started run and records how it ended.
    ///
    /// The instance is free again once its work is over, before the end is recorded: whoever
    /// sees the run ended can start the next one.
    async fn finish(
        &self,
        run_id: i64,
        config: &ConnectorConfig,
        running: RunningGuard,
    ) -> Option<RunSummary> {
        tracing::info!("connector run started");
        let outcome = self.execute(run_id, config).await;
        drop(running);
        let (status, error) = match &outcome {
            Ok(()) => (RunStatus::Succeeded, None),
            // The instance is named so that a 401 reads "instance de-zendesk: … check the
            // credentials in ZENDESK_EMAIL and ZENDESK_API_TOKEN" wherever it is shown.
            Err(e) => (
                RunStatus::Failed,
                Some(format!("instance {}: {e}", config.id)),
            ),
        };
        let counter = if error.is_some() {
            &self.counters.runs_failed
        } else {
            &self.counters.runs_succeeded
        };
        Counters::add(counter, 1);
        let warehouse = self.warehouse.clone();
        let stored = spawn_blocking_with_tracing(move || {
            warehouse.finish_run(run_id, status, error.as_deref())?;
            warehouse.run(run_id)
        })
        .await;
        let summary = match stored {
            Ok(Ok(summary)) => summary,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "could not record the end of the run");
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the end of the run");
                None
            }
        };
        match (&outcome, &summary) {
            (Ok(()), Some(s)) => tracing::info!(
                read = s.records_read,
                inserted = s.inserted,
                duplicates = s.duplicates,
                rejected = s.rejected,
                "connector run succeeded"
            ),
            (Err(e), _) => tracing::error!(error = %e, "connector run failed"),
            _ => {}
        }
        summary
    }
}
