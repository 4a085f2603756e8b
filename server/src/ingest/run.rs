//! One connector run as a three-stage pipeline: the plugin reads batch k+2 while the text stage
//! normalises batch k+1 and the writer commits batch k. Each stage works on its own blocking
//! thread, so a run is bounded by its slowest stage rather than the sum of all three, and no
//! CPU-heavy work runs on the threads that serve requests.
//!
//! Order and safety: batches pass through bounded channels in order, and only the writer
//! touches the warehouse, committing each batch with the cursor that follows it. When a stage
//! fails, the stages before it stop at their next hand-over; the stages after it finish what
//! they already hold, so every batch read before a plugin failure is still committed.

use std::sync::Arc;
use std::time::Duration;

use chorus_plugin_api::Batch;
use tokio::sync::mpsc;

use super::{normalise, IngestError, Ingestor, TextStage, PROGRESS_EVERY};
use crate::catalog::Catalog;
use crate::config::ConnectorConfig;
use crate::counters::Counters;
use crate::dates::DateRange;
use crate::plugins::{call_blocking, PluginError};
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{BatchWrite, NewRecord, OnChange, Rejection};

/// Batches held between two stages; small, so memory stays bounded by a few batches.
const HAND_OVER: usize = 1;

/// A batch as the plugin returned it, with the cursor that follows it.
struct ReadBatch {
    batch: Batch,
    cursor: Option<String>,
}

/// A batch ready to commit.
struct Prepared {
    records_read: u64,
    rows: Vec<NewRecord>,
    rejections: Vec<Rejection>,
    cursor: Option<String>,
}

/// What the normalising stage needs, owned so it can move to a blocking thread.
#[derive(Clone)]
struct Normaliser {
    config: Arc<ConnectorConfig>,
    catalog: Arc<Catalog>,
    text: Arc<TextStage>,
    dates: DateRange,
}

impl Normaliser {
    /// Validates and normalises every record; the invalid ones become rejections.
    fn prepare(&self, read: ReadBatch) -> Prepared {
        let window = self.dates.for_records_at(chrono::Utc::now());
        let mut rejections: Vec<Rejection> = read
            .batch
            .rejected
            .into_iter()
            .map(|r| Rejection {
                location: r.location,
                reason: r.reason,
            })
            .collect();
        let records_read = read.batch.records.len() as u64;
        let mut rows = Vec::with_capacity(read.batch.records.len());
        for (index, record) in read.batch.records.into_iter().enumerate() {
            let id = record.external_id.clone();
            match normalise(record, &self.config, &self.catalog, &self.text, &window) {
                Ok(row) => rows.push(row),
                Err(reason) => {
                    tracing::debug!(external_id = %id, %reason, "record rejected");
                    rejections.push(Rejection {
                        location: format!("batch record {index} (external id {id:?})"),
                        reason,
                    });
                }
            }
        }
        Prepared {
            records_read,
            rows,
            rejections,
            cursor: read.cursor,
        }
    }
}

impl Ingestor {
    /// Runs the pipeline until the plugin says there is no more, or a stage fails.
    pub(super) async fn execute(
        &self,
        run_id: i64,
        config: &ConnectorConfig,
    ) -> Result<(), IngestError> {
        let limit = self.plugins.call_limit();
        let plugins = self.plugins.clone();
        let (name, settings) = (
            config.plugin.clone(),
            serde_json::to_value(&config.settings).expect("a TOML table always converts to JSON"),
        );
        let (instance, records_may_change) = call_blocking("open", limit, move || {
            let opened = plugins.open(&name, &settings)?;
            Ok((opened.connection, opened.manifest.records_may_change))
        })
        .await?;
        let on_change = config.on_change.unwrap_or(if records_may_change {
            OnChange::Update
        } else {
            OnChange::KeepFirst
        });
        let warehouse = self.warehouse.clone();
        let id = config.id.clone();
        let cursor = spawn_blocking_with_tracing(move || warehouse.cursor(&id))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))??;

        let (read_tx, read_rx) = mpsc::channel(HAND_OVER);
        let (prepared_tx, prepared_rx) = mpsc::channel(HAND_OVER);
        let normaliser = Normaliser {
            config: Arc::new(config.clone()),
            catalog: self.catalog.clone(),
            text: self.text.clone(),
            dates: self.settings.dates,
        };
        let (read, prepared, written) = tokio::join!(
            self.read_stage(config, instance, cursor, limit, read_tx),
            prepare_stage(normaliser, read_rx, prepared_tx),
            self.write_stage(run_id, &config.id, on_change, prepared_rx),
        );
        // The writer's failure comes first: it is what stopped the others.
        written.and(prepared).and(read)
    }

    /// Reads batches from the plugin and hands them on, in order.
    async fn read_stage(
        &self,
        config: &ConnectorConfig,
        mut instance: crate::plugins::Connection,
        mut cursor: Option<String>,
        limit: Duration,
        out: mpsc::Sender<ReadBatch>,
    ) -> Result<(), IngestError> {
        let batch_size = self.settings.plugins.batch_size;
        let outcome = loop {
            let (previous, plugin) = (cursor.clone(), config.plugin.clone());
            let (returned, batch) = call_blocking("read", limit, move || {
                let bytes = instance.read(previous.as_deref(), batch_size)?;
                let batch: Batch =
                    serde_json::from_slice(&bytes).map_err(|e| PluginError::Garbage {
                        plugin,
                        message: format!("read returned a batch that is not valid JSON ({e})"),
                    })?;
                Ok((instance, batch))
            })
            .await?; // On failure the instance was dropped on the blocking thread.
            instance = returned;
            let has_more = batch.has_more;
            if has_more
                && batch.records.is_empty()
                && batch.rejected.is_empty()
                && batch.cursor == cursor
            {
                break Err(PluginError::Garbage {
                    plugin: config.plugin.clone(),
                    message: "read returned no rows, the same cursor and has_more=true".into(),
                }
                .into());
            }
            cursor = batch.cursor.clone().or(cursor);
            let handed = out
                .send(ReadBatch {
                    batch,
                    cursor: cursor.clone(),
                })
                .await;
            // A closed channel means a later stage failed; its error is the run's.
            if handed.is_err() || !has_more {
                break Ok(());
            }
        };
        // Closing calls the plugin's close, or waits for its host child to exit: blocking
        // work, kept off the async workers.
        let _ = spawn_blocking_with_tracing(move || drop(instance)).await;
        outcome
    }

    /// Commits prepared batches in order, each with its cursor.
    async fn write_stage(
        &self,
        run_id: i64,
        instance: &str,
        on_change: OnChange,
        mut input: mpsc::Receiver<Prepared>,
    ) -> Result<(), IngestError> {
        let mut read_total = 0u64;
        while let Some(prepared) = input.recv().await {
            let before = read_total;
            read_total += prepared.records_read;
            let rejected = prepared.rejections.len() as u64;
            let warehouse = self.warehouse.clone();
            let case_rules = self.case_rules.clone();
            let instance = instance.to_owned();
            let outcome = spawn_blocking_with_tracing(move || {
                warehouse.commit_batch(&BatchWrite {
                    run_id,
                    instance: &instance,
                    records_read: prepared.records_read,
                    records: &prepared.rows,
                    rejections: &prepared.rejections,
                    cursor: prepared.cursor.as_deref(),
                    on_change,
                    case_rules: Some(&case_rules),
                })
            })
            .await
            .map_err(|e| IngestError::Task(e.to_string()))??;
            Counters::add(&self.counters.records_inserted, outcome.inserted);
            Counters::add(&self.counters.records_updated, outcome.updated);
            Counters::add(&self.counters.records_duplicate, outcome.duplicates);
            Counters::add(&self.counters.records_rejected, rejected);
            if rejected > 0 {
                tracing::warn!(
                    rejected,
                    "batch had rejected rows; see the run's rejections"
                );
            }
            if before / PROGRESS_EVERY != read_total / PROGRESS_EVERY {
                tracing::info!(read = read_total, "connector run in progress");
            }
        }
        Ok(())
    }
}

/// Normalises batches on a blocking thread and hands them on, in order.
async fn prepare_stage(
    normaliser: Normaliser,
    mut input: mpsc::Receiver<ReadBatch>,
    out: mpsc::Sender<Prepared>,
) -> Result<(), IngestError> {
    while let Some(read) = input.recv().await {
        let normaliser = normaliser.clone();
        let prepared = spawn_blocking_with_tracing(move || normaliser.prepare(read))
            .await
            .map_err(|e| IngestError::Task(e.to_string()))?;
        if out.send(prepared).await.is_err() {
            return Ok(());
        }
    }
    Ok(())
}
