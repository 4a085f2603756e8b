//! Push ingest: records sent to Chorus (webhooks, integrations) instead of read by a plugin.
//! A push instance is configured like any connector instance with `plugin = "push"`; each
//! request is one run with its own counters and rejections, stored in one transaction.

use chorus_plugin_api::SourceRecord;
use serde::Serialize;

use super::{normalise, IngestError, Ingestor};
use crate::counters::Counters;
use crate::telemetry::spawn_blocking_with_tracing;
use crate::warehouse::{BatchWrite, Rejection, RunStatus};

/// The reserved plugin name of push instances.
pub const PUSH: &str = "push";

/// Most records one request may carry.
pub const MAX_PUSH_RECORDS: usize = 10_000;

/// A record that was not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PushRejection {
    /// Position in the request's `records` array.
    pub index: usize,
    /// The offending field, when one is to blame.
    pub field: Option<String>,
    pub reason: String,
}

/// What a push stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PushOutcome {
    pub run_id: i64,
    pub received: usize,
    /// New records stored.
    pub stored: u64,
    /// Stored records replaced by a changed version (instances with `on_change = "update"`).
    pub updated: u64,
    /// Records already stored before (same external id), or erased: pushing again is
    /// harmless.
    pub duplicates: u64,
    pub rejected: Vec<PushRejection>,
}

/// Fields of the canonical record, for naming the one a reason is about.
const FIELDS: [&str; 14] = [
    "external_id",
    "occurred_at",
    "market",
    "channel",
    "touchpoint",
    "nps",
    "csat",
    "ces",
    "stars",
    "text",
    "language_hint",
    "consent_contact",
    "attributes",
    "record",
];

/// The field a validation or decoding message names (`nps 11 is not in 0-10`,
/// ``missing field `occurred_at` ``).
fn field_of(reason: &str) -> Option<String> {
    FIELDS
        .iter()
        .find(|f| reason.starts_with(&format!("{f} ")) || reason.contains(&format!("`{f}`")))
        .map(|f| (*f).to_owned())
}

impl Ingestor {
    /// Validates and stores pushed records for a push instance.
    ///
    /// # Errors
    /// Unknown or non-push instance, or a database error (then nothing is stored).
    pub async fn push(
        &self,
        instance: &str,
        records: Vec<serde_json::Value>,
    ) -> Result<PushOutcome, IngestError> {
        let config = self
            .settings
            .connector(instance)
            .ok_or_else(|| IngestError::UnknownInstance(instance.to_owned()))?;
        if config.plugin != PUSH {
            return Err(IngestError::NotPush(instance.to_owned()));
        }
        let window = self.settings.dates.for_records_at(chrono::Utc::now());
        let received = records.len();
        let mut rows = Vec::with_capacity(received);
        let mut rejected = Vec::new();
        for (index, value) in records.into_iter().enumerate() {
            let decoded = serde_json::from_value::<SourceRecord>(value)
                .map_err(|e| e.to_string())
                .and_then(|record| normalise(record, config, &self.catalog, &self.text, &window));
            match decoded {
                Ok(row) => rows.push(row),
                Err(reason) => rejected.push(PushRejection {
                    index,
                    field: field_of(&reason),
                    reason,
                }),
            }
        }
        let rejections: Vec<Rejection> = rejected
            .iter()
            .map(|r| Rejection {
                location: format!("pushed record {}", r.index),
                reason: r.reason.clone(),
            })
            .collect();
        let warehouse = self.warehouse.clone();
        let case_rules = self.case_rules.clone();
        let id = instance.to_owned();
        let on_change = config.on_change.unwrap_or_default();
        let (run_id, outcome) = spawn_blocking_with_tracing(move || {
            let run_id = warehouse.start_run(&id, PUSH)?;
            let outcome = warehouse.commit_batch(&BatchWrite {
                run_id,
                instance: &id,
                records_read: received as u64,
                records: &rows,
                rejections: &rejections,
                cursor: None,
                on_change,
                case_rules: Some(&case_rules),
            });
            match outcome {
                Ok(outcome) => {
                    warehouse.finish_run(run_id, RunStatus::Succeeded, None)?;
                    Ok((run_id, outcome))
                }
                Err(e) => {
                    let _ = warehouse.finish_run(run_id, RunStatus::Failed, Some(&e.to_string()));
                    Err(e)
                }
            }
        })
        .await
        .map_err(|e| IngestError::Task(e.to_string()))??;
        Counters::add(&self.counters.records_inserted, outcome.inserted);
        Counters::add(&self.counters.records_updated, outcome.updated);
        Counters::add(&self.counters.records_duplicate, outcome.duplicates);
        Counters::add(&self.counters.records_rejected, rejected.len() as u64);
        tracing::info!(
            instance,
            run_id,
            received,
            stored = outcome.inserted,
            updated = outcome.updated,
            rejected = rejected.len(),
            "push stored"
        );
        Ok(PushOutcome {
            run_id,
            received,
            stored: outcome.inserted,
            updated: outcome.updated,
            duplicates: outcome.duplicates,
            rejected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn reasons_name_their_field() {
        assert_eq!(field_of("nps 11 is not in 0-10").as_deref(), Some("nps"));
        assert_eq!(
            field_of("missing field `occurred_at`").as_deref(),
            Some("occurred_at")
        );
        assert_eq!(
            field_of("record has neither a score nor a text").as_deref(),
            Some("record")
        );
        assert_eq!(field_of("something else"), None);
    }
}
