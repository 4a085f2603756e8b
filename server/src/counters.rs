//! Process counters exposed at `/metrics` in the Prometheus text format (names in base
//! units, counters ending in `_total`; `promtool check metrics` runs on it in the tests). The
//! exposition is a few lines of text written here rather than a metrics crate: every value is
//! a counter, a gauge or one histogram that the process already keeps.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

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
    /// Request durations per route template (a bounded set: the routes the server has).
    latencies: Mutex<BTreeMap<String, Histogram>>,
}

/// Upper bounds (seconds) of the request duration histogram's buckets.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counts per bucket (not cumulative; summed when rendered), plus sum and count.
#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
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

    /// Counts how long a request to `route` (its template, e.g. `/api/v1/cases/{id}`) took.
    pub fn observe_request(&self, route: &str, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut latencies = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        let histogram = latencies.entry(route.to_owned()).or_default();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.buckets[bucket] += 1;
        }
        histogram.sum += seconds;
        histogram.count += 1;
    }

    /// The request duration histogram per route.
    fn render_latencies(&self, out: &mut String) {
        let name = "chorus_http_request_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to answer a request, per route template.\n# TYPE {name} histogram"
        );
        let latencies = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        for (route, histogram) in latencies.iter() {
            let route = escape_label(route);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(histogram.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = histogram.count;
            let _ = writeln!(
                out,
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "{name}_sum{{route=\"{route}\"}} {}", histogram.sum);
            let _ = writeln!(out, "{name}_count{{route=\"{route}\"}} {count}");
        }
    }

    /// Webhook deliveries by state (pending, delivered, dead), from the warehouse.
    pub fn render_webhooks(states: &[(&str, u64)]) -> String {
        let name = "chorus_webhook_deliveries";
        let mut out = format!(
            "# HELP {name} Webhook deliveries in the outbox, by state.\n# TYPE {name} gauge\n"
        );
        for (state, n) in states {
            let _ = writeln!(out, "{name}{{state=\"{state}\"}} {n}");
        }
        out
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
        self.render_latencies(&mut out);
        out.push_str(&crate::process_metrics::render());
        out
    }

    /// Gauges of the cases per market: open, overdue, and median seconds to first response
    /// and to resolve.
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
            "chorus_cases_resolve_median_seconds",
            "Median time from opening to resolution of resolved and closed cases.",
            &|m| m.median_hours_to_resolve.map(|h| h * 3600.0),
        );
        gauge(
            "chorus_cases_first_response_median_seconds",
            "Median time from opening to the first move by a person.",
            &|m| m.median_hours_to_first_response.map(|h| h * 3600.0),
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

/// A label value in the exposition format: backslash, quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_durations_render_as_a_cumulative_histogram_per_route() {
        let counters = Counters::default();
        counters.observe_request("/api/v1/nps", Duration::from_millis(3));
        counters.observe_request("/api/v1/nps", Duration::from_millis(30));
        counters.observe_request("/api/v1/nps", Duration::from_secs(60));
        let text = counters.render(None);
        let line = |suffix: &str| {
            text.lines()
                .find(|l| l.starts_with(&format!("chorus_http_request_duration_seconds{suffix}")))
                .unwrap_or_else(|| panic!("{suffix}: {text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(line("_bucket{route=\"/api/v1/nps\",le=\"0.005\"}"), "1");
        assert_eq!(line("_bucket{route=\"/api/v1/nps\",le=\"0.05\"}"), "2");
        assert_eq!(line("_bucket{route=\"/api/v1/nps\",le=\"10\"}"), "2");
        assert_eq!(line("_bucket{route=\"/api/v1/nps\",le=\"+Inf\"}"), "3");
        assert_eq!(line("_count{route=\"/api/v1/nps\"}"), "3");
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
