//! Process counters exposed at `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::warehouse::cases::MarketCaseFigures;

/// Monotonic counters since the process started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connector runs that read their source to the end.
    pub runs_succeeded: AtomicU64,
    /// Connector runs that stopped on an error.
    pub runs_failed: AtomicU64,
    /// Records newly stored.
    pub records_inserted: AtomicU64,
    /// Stored records replaced by a changed version.
    pub records_updated: AtomicU64,
    /// Records already stored, repeated in a batch, or erased.
    pub records_duplicate: AtomicU64,
    /// Rows or records rejected by a plugin or by validation.
    pub records_rejected: AtomicU64,
    /// HTTP requests answered, by class.
    pub http_2xx: AtomicU64,
    pub http_4xx: AtomicU64,
    pub http_5xx: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one HTTP response by status.
    pub fn count_response(&self, status: u16) {
        let counter = match status {
            500.. => &self.http_5xx,
            400.. => &self.http_4xx,
            _ => &self.http_2xx,
        };
        Counters::add(counter, 1);
    }

    /// The Prometheus exposition text; `stored_records` is read from the warehouse.
    pub fn render(&self, stored_records: Option<u64>) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, labelled: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in labelled {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        counter(
            "chorus_connector_runs_total",
            "Connector runs finished, by outcome.",
            &[
                ("{status=\"succeeded\"}", get(&self.runs_succeeded)),
                ("{status=\"failed\"}", get(&self.runs_failed)),
            ],
        );
        counter(
            "chorus_ingested_records_total",
            "Records handled by ingest, by outcome.",
            &[
                ("{outcome=\"inserted\"}", get(&self.records_inserted)),
                ("{outcome=\"updated\"}", get(&self.records_updated)),
                ("{outcome=\"duplicate\"}", get(&self.records_duplicate)),
                ("{outcome=\"rejected\"}", get(&self.records_rejected)),
            ],
        );
        counter(
            "chorus_http_responses_total",
            "HTTP responses, by status class.",
            &[
                ("{class=\"2xx\"}", get(&self.http_2xx)),
                ("{class=\"4xx\"}", get(&self.http_4xx)),
                ("{class=\"5xx\"}", get(&self.http_5xx)),
            ],
        );
        if let Some(n) = stored_records {
            let _ = writeln!(
                out,
                "# HELP chorus_warehouse_records Records in the warehouse.\n\
                 # TYPE chorus_warehouse_records gauge\nchorus_warehouse_records {n}"
            );
        }
        out
    }

    /// Gauges of the cases per market: open, overdue, and median hours to resolve.
    pub fn render_cases(figures: &[MarketCaseFigures]) -> String {
        let mut out = String::new();
        let mut gauge =
            |name: &str, help: &str, value: &dyn Fn(&MarketCaseFigures) -> Option<f64>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for market in figures {
                    if let Some(v) = value(market) {
                        // Market codes are two capital letters: nothing to escape.
                        let _ = writeln!(out, "{name}{{market=\"{}\"}} {v}", market.market);
                    }
                }
            };
        gauge(
            "chorus_cases_open",
            "Active cases (open, in progress, reopened).",
            &|m| Some(m.open as f64),
        );
        gauge(
            "chorus_cases_overdue",
            "Active cases past their due time.",
            &|m| Some(m.overdue as f64),
        );
        gauge(
            "chorus_cases_median_hours_to_resolve",
            "Median hours from opening to resolution of resolved and closed cases.",
            &|m| m.median_hours_to_resolve,
        );
        gauge(
            "chorus_cases_median_hours_to_first_response",
            "Median hours from opening to the first move by a person.",
            &|m| m.median_hours_to_first_response,
        );
        out
    }

    /// Gauges of federation: a regional node's outbox, or the nodes headquarters applies.
    pub fn render_federation(
        outbox: Option<&crate::warehouse::OutboxState>,
        nodes: Option<&[crate::warehouse::NodeState]>,
        now: chrono::NaiveDateTime,
    ) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, lines: Vec<(String, f64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (labels, value) in lines {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        if let Some(outbox) = outbox {
            gauge(
                "chorus_federation_outbox_depth",
                "Federation messages not yet acknowledged by JetStream.",
                vec![(String::new(), outbox.depth as f64)],
            );
            let age = outbox.oldest.map_or(0.0, |oldest| {
                (now - oldest).num_milliseconds().max(0) as f64 / 1000.0
            });
            gauge(
                "chorus_federation_outbox_oldest_seconds",
                "Age of the oldest unsent federation message (0 when none waits).",
                vec![(String::new(), age)],
            );
        }
        if let Some(nodes) = nodes {
            // Node ids are letters, digits, - and _: nothing to escape.
            let label = |n: &crate::warehouse::NodeState| format!("{{node=\"{}\"}}", n.node);
            gauge(
                "chorus_federation_applied_seq",
                "The last message sequence applied per regional node.",
                nodes
                    .iter()
                    .map(|n| (label(n), n.last_seq as f64))
                    .collect(),
            );
            gauge(
                "chorus_federation_waiting",
                "1 while a node's next message is missing or refused: its later ones wait.",
                nodes
                    .iter()
                    .map(|n| (label(n), f64::from(u8::from(n.waiting_for.is_some()))))
                    .collect(),
            );
        }
        out
    }
}
