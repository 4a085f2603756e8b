//! One connector run as a pipeline: the plugin reads a batch while the text stage normalises
//! the one before, those already normalised are gathered into the next transaction, and the
//! writer commits the transaction before that. The CPU-heavy stages work on their own blocking
//! threads, so a run is bounded by its slowest stage rather than the sum of all, and no
//! CPU-heavy work runs on the threads that serve requests.
//!
//! Order and safety: batches pass through bounded channels in order, and only the writer
//! touches the warehouse, committing records with the cursor that follows the last of them
//! (see `COMMIT_ROWS` for why batches are gathered). When a stage
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

/// Rows the writer gathers into one transaction: DuckDB's row group size. A transaction holding
/// a full row group writes it to the file compressed, once; smaller ones go through the
/// write-ahead log and are compressed again at each checkpoint (measured: storage alone costs
/// 11.9 CPU-µs per record in transactions of 20,000 rows, 8.9 in transactions of 125,000).
pub const COMMIT_ROWS: usize = 122_880;

/// Longest a read batch waits in the writer for others to join its transaction, so a slow
/// source (an API paging a hundred records at a time) still commits every few seconds.
const COMMIT_WAIT: Duration = Duration::from_secs(2);

/// A batch as the plugin returned it, with the cursor that follows it.
struct ReadBatch {
    batch: Batch,
    cursor: Option<String>,
}

/// A batch ready to commit, or several consecutive ones joined.
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

impl Prepared {
    /// Appends the next batch; its cursor follows both.
    fn join(&mut self, next: Prepared) {
        self.records_read += next.records_read;
        self.rows.extend(next.rows);
        self.rejections.extend(next.rejections);
        if next.cursor.is_some() {
            self.cursor = next.cursor;
        }
    }

    /// Rows and rejections held: what a transaction of these batches writes.
    fn size(&self) -> usize {
        self.rows.len() + self.rejections.len()
    }
}

/// Joins prepared batches into transactions while the writer commits the previous one. The
/// run's first batch goes alone, so the writer starts while the next transaction fills instead
/// of idling until a whole row group is normalised.
async fn gather_stage(mut input: mpsc::Receiver<Prepared>, out: mpsc::Sender<Prepared>) {
    let mut next = input.recv().await;
    while let Some(gathered) = next {
        if out.send(gathered).await.is_err() {
            return;
        }
        next = gather(&mut input).await;
    }
}

/// The next transaction's batches: waits for a first one, then joins those that follow until
/// `COMMIT_ROWS` are held, `COMMIT_WAIT` has passed or the input ends. `None` once it has ended.
async fn gather(input: &mut mpsc::Receiver<Prepared>) -> Option<Prepared> {
    let mut gathered = input.recv().await?;
    let deadline = tokio::time::Instant::now() + COMMIT_WAIT;
    while gathered.size() < COMMIT_ROWS {
        match tokio::time::timeout_at(deadline, input.recv()).await {
            Ok(Some(next)) => gathered.join(next),
            Ok(None) | Err(_) => break,
        }
    }
    Some(gathered)
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
        let cursor = spawn_blocking_with_tracing(move || {
            let cursor = warehouse.cursor(&id)?;
            warehouse.ingest_started()?;
            Ok::<_, IngestError>(cursor)
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))??;

        let (read_tx, read_rx) = mpsc::channel(HAND_OVER);
        let (prepared_tx, prepared_rx) = mpsc::channel(HAND_OVER);
        let (gathered_tx, gathered_rx) = mpsc::channel(HAND_OVER);
        let normaliser = Normaliser {
            config: Arc::new(config.clone()),
            catalog: self.catalog.clone(),
            text: self.text.clone(),
            dates: self.settings.dates,
        };
        let (read, prepared, (), written) = tokio::join!(
            self.read_stage(config, instance, cursor, limit, read_tx),
            prepare_stage(normaliser, read_rx, prepared_tx),
            gather_stage(prepared_rx, gathered_tx),
            self.write_stage(run_id, &config.id, on_change, gathered_rx),
        );
        let warehouse = self.warehouse.clone();
        let _ = spawn_blocking_with_tracing(move || warehouse.ingest_ended()).await;
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

    /// Commits gathered batches in order, each group with the cursor of its last batch.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rows: usize, cursor: &str) -> Prepared {
        Prepared {
            records_read: rows as u64,
            rows: Vec::with_capacity(0),
            rejections: (0..rows)
                .map(|i| Rejection {
                    location: format!("{cursor}/{i}"),
                    reason: "test".into(),
                })
                .collect(),
            cursor: Some(cursor.to_owned()),
        }
    }

    #[tokio::test]
    async fn batches_join_until_a_row_group_is_full_and_keep_the_last_cursor() {
        let (tx, mut rx) = mpsc::channel(16);
        let per_batch = COMMIT_ROWS / 3 + 1;
        for i in 0..4 {
            tx.send(batch(per_batch, &format!("c{i}"))).await.unwrap();
        }
        drop(tx);
        let first = gather(&mut rx).await.unwrap();
        assert_eq!(first.records_read, 3 * per_batch as u64);
        assert_eq!(first.cursor.as_deref(), Some("c2"));
        assert_eq!(first.rejections[per_batch].location, "c1/0", "in order");
        let rest = gather(&mut rx).await.unwrap();
        assert_eq!(
            rest.cursor.as_deref(),
            Some("c3"),
            "the end commits the rest"
        );
        assert!(gather(&mut rx).await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_source_still_commits_after_the_wait() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(batch(10, "c0")).await.unwrap();
        let started = tokio::time::Instant::now();
        let gathered = gather(&mut rx).await.unwrap();
        assert_eq!(gathered.cursor.as_deref(), Some("c0"));
        assert_eq!(started.elapsed(), COMMIT_WAIT);
        drop(tx);
    }
}
