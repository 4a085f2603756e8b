//! A connector that misbehaves on purpose, chosen by `settings.mode`:
//!
//! - `panic_on_read`: panics inside `read`.
//! - `invalid_json`: returns bytes that are not JSON from `read`.
//! - `good_then_panic`: returns one good batch with `has_more`, then panics.
//! - `garbage_records`: returns a batch mixing valid records and out-of-range ones.
//! - `refuse_open`: refuses its settings.
//! - `slow`: sleeps `settings.sleep_ms` (default 500) in `read`, then returns an empty batch.
//! - `good_then_segfault`, `good_then_abort`, `good_then_exit`, `good_then_endless`,
//!   `good_then_allocate`: one good batch with `has_more`, then, in the second read, a
//!   segmentation fault, an abort, `exit(3)`, a loop that never returns, or allocation
//!   without end (run these only in process isolation).
//! - `noisy`: prints garbage (frame-like bytes included) to stdout and stderr in every call,
//!   and returns one good batch.
//! - anything else: returns an empty batch at once.
//!
//! Records are for market `settings.market` (default `DE`), ids prefixed with the mode.

use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest, SourceRecord};

/// The misbehaving connector.
#[derive(Debug)]
pub struct Misbehaving {
    mode: String,
    market: String,
    sleep_ms: u64,
}

impl Misbehaving {
    fn record(&self, n: usize, nps: i64) -> SourceRecord {
        SourceRecord {
            external_id: format!("{}-{n}", self.mode),
            occurred_at: "2026-09-01T12:00:00Z".into(),
            market: Some(self.market.clone()),
            nps: Some(nps),
            ..SourceRecord::default()
        }
    }
}

impl Connector for Misbehaving {
    fn manifest() -> Manifest {
        Manifest {
            name: "misbehaving".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "test".into(),
            description: "Fails on purpose; for tests of the host only.".into(),
            config_schema: serde_json::json!({"type": "object"}),
            records_may_change: false,
        }
    }

    fn open(settings: serde_json::Value) -> Result<Self, ConnectorError> {
        let text = |key: &str| {
            settings
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let mode = text("mode").ok_or_else(|| ConnectorError::new("settings.mode is required"))?;
        if mode == "refuse_open" {
            return Err(ConnectorError::new("settings refused on purpose"));
        }
        Ok(Misbehaving {
            mode,
            market: text("market").unwrap_or_else(|| "DE".into()),
            sleep_ms: settings
                .get("sleep_ms")
                .and_then(|v| v.as_u64())
                .unwrap_or(500),
        })
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn read(&mut self, cursor: Option<&str>, _max: usize) -> Result<Batch, ConnectorError> {
        if let Some(crash) = self.mode.strip_prefix("good_then_") {
            if cursor.is_some() {
                crash_by(crash);
            }
        }
        if self.mode == "noisy" {
            print_garbage();
            return Ok(Batch {
                records: (0..2).map(|n| self.record(n, 7)).collect(),
                cursor: Some("done".into()),
                has_more: false,
                ..Batch::default()
            });
        }
        match (self.mode.as_str(), cursor) {
            ("panic_on_read", _) => panic!("deliberate panic in read"),
            (mode, None) if mode.starts_with("good_then_") => Ok(Batch {
                records: (0..3).map(|n| self.record(n, 9)).collect(),
                cursor: Some("after-first-batch".into()),
                has_more: true,
                ..Batch::default()
            }),
            ("good_then_panic", Some(_)) => panic!("deliberate panic in the second read"),
            ("garbage_records", _) => Ok(Batch {
                records: vec![
                    self.record(0, 10),
                    self.record(1, 42),
                    self.record(2, -1),
                    self.record(3, 5),
                ],
                cursor: Some("done".into()),
                has_more: false,
                ..Batch::default()
            }),
            ("slow", _) => {
                std::thread::sleep(std::time::Duration::from_millis(self.sleep_ms));
                Ok(Batch::default())
            }
            _ => Ok(Batch::default()),
        }
    }

    fn read_json(&mut self, cursor: Option<&str>, max: usize) -> Result<Vec<u8>, ConnectorError> {
        if self.mode == "invalid_json" {
            return Ok(b"{\"records\": [this is not json".to_vec());
        }
        let batch = self.read(cursor, max)?;
        serde_json::to_vec(&batch).map_err(|e| ConnectorError::new(e.to_string()))
    }
}

/// Ends or hangs the process the way `how` names; returns only for `panic` and unknown names.
fn crash_by(how: &str) {
    match how {
        // SAFETY: signal and raise have no preconditions. Rust's own SIGSEGV handler (for
        // stack overflows) would return from a raised signal, so the default action, which
        // kills the process as a real fault does, is restored first.
        "segfault" => unsafe {
            libc::signal(libc::SIGSEGV, libc::SIG_DFL);
            libc::raise(libc::SIGSEGV);
        },
        "abort" => std::process::abort(),
        "exit" => std::process::exit(3),
        "endless" => loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        },
        "allocate" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 64 << 20]);
            }
        }
        _ => {}
    }
}

/// Output a careless plugin might print: bytes that look like protocol frames and are not
/// UTF-8, then far more than a pipe holds (a 100 KiB line among them); none of it may reach
/// the protocol or stop the batch.
fn print_garbage() {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "debug: reading a batch");
    let _ = out.write_all(&[2, 255, 255, 255, 255, 0, 1, 2, b'\n']);
    let _ = writeln!(out, "{}", "x".repeat(100 * 1024));
    for i in 0..5_000 {
        let _ = writeln!(out, "debug line {i}: still reading");
    }
    let _ = out.flush();
    eprintln!("warning: something odd");
}

chorus_plugin_api::export_connector!(Misbehaving);
