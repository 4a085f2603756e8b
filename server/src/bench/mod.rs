//! `chorus bench`: measurements on synthetic data, each reported next to a baseline run in
//! the same invocation (plain SQL on the same DuckDB file, or storage without the pipeline),
//! so that noisy machines still give comparable ratios. The HTTP client keeps its connection
//! alive, as a dashboard would.

mod federation;
mod ingest;
mod queries;
mod text;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

pub use federation::FederationArgs;
pub use ingest::IngestArgs;
pub use queries::QueryArgs;
pub use text::TextArgs;

use crate::auth::AuthKeys;
use crate::config::Settings;
use crate::domain::Role;
use crate::ingest::Ingestor;
use crate::startup::Application;
use crate::warehouse::Warehouse;

/// What to measure.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput through the real plugin and pipeline, and NPS latency.
    Ingest(IngestArgs),
    /// Latency of the analysis endpoints on millions of generated records.
    Queries(QueryArgs),
    /// A regional node's ingest through NATS JetStream to headquarters: lag and apply rate.
    Federation(FederationArgs),
    /// Text stage throughput on short comments, with and without the second language detector.
    Text(TextArgs),
}

/// Runs a benchmark and prints its report.
///
/// # Errors
/// When generating, ingesting or querying fails.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => ingest::run(args),
        BenchCommand::Queries(args) => queries::run(args),
        BenchCommand::Text(args) => text::run(&args),
        BenchCommand::Federation(args) => federation::run(&args),
    }
}

/// The application serving a benchmark on a random port, with a token for one role.
pub struct BenchServer {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub warehouse: Arc<Warehouse>,
    pub ingestor: Arc<Ingestor>,
    server: JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for BenchServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchServer")
            .field("base", &self.base)
            .finish()
    }
}

impl BenchServer {
    /// Builds and starts the application.
    ///
    /// # Errors
    /// When it cannot be built.
    pub async fn start(settings: Settings, role: Role) -> anyhow::Result<BenchServer> {
        let secret = b"bench-secret-bench-secret-bench-secret";
        let token = AuthKeys::hs256(secret, &settings.auth).mint(
            "bench",
            role,
            &[],
            &[],
            Duration::from_secs(3600),
        );
        let app = Application::build(settings, secret).await?;
        Ok(BenchServer {
            base: format!("http://127.0.0.1:{}", app.port()),
            token,
            client: reqwest::Client::new(),
            warehouse: app.warehouse(),
            ingestor: app.ingestor(),
            server: tokio::spawn(app.run_until_stopped()),
        })
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One SQL statement and its parameters.
pub type Statement = (String, Vec<String>);

/// Latencies of an endpoint and of the SQL it runs.
#[derive(Debug)]
pub struct Timings {
    api: Vec<Duration>,
    sql: Vec<Duration>,
}

/// Times `url` and, alternately, `statements` run one after the other directly on the
/// warehouse, `repetitions` times each after one untimed warm-up round.
///
/// # Errors
/// When a request fails or answers non-2xx, or the SQL fails or returns no rows.
pub async fn time_against_sql(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    warehouse: &Arc<Warehouse>,
    statements: &[Statement],
    repetitions: usize,
) -> anyhow::Result<Timings> {
    let mut timings = Timings {
        api: Vec::with_capacity(repetitions),
        sql: Vec::with_capacity(repetitions),
    };
    // Alternate so that drift hits both alike.
    for round in 0..=repetitions {
        let t = Instant::now();
        let response = client.get(url).bearer_auth(token).send().await?;
        let status = response.status();
        let body = response.text().await?;
        let api_time = t.elapsed();
        anyhow::ensure!(status.is_success(), "{url}: {status} {body}");

        let (warehouse, statements) = (warehouse.clone(), statements.to_vec());
        let t = Instant::now();
        let rows = tokio::task::spawn_blocking(move || {
            warehouse.read(|c| {
                let mut n = 0;
                for (sql, params) in &statements {
                    let mut statement = c.prepare(sql)?;
                    let mut rows = statement.query(duckdb::params_from_iter(params.iter()))?;
                    while rows.next()?.is_some() {
                        n += 1;
                    }
                }
                Ok(n)
            })
        })
        .await??;
        let sql_time = t.elapsed();
        anyhow::ensure!(rows > 0, "the SQL behind {url} returned no rows");
        if round > 0 {
            timings.api.push(api_time);
            timings.sql.push(sql_time);
        }
    }
    Ok(timings)
}

/// Prints median and p95 of both sides and their ratio.
pub fn report(label: &str, mut timings: Timings) {
    let (api_median, api_p95) = percentiles(&mut timings.api);
    let (sql_median, sql_p95) = percentiles(&mut timings.sql);
    println!(
        "{label}: API median {:.1} ms, p95 {:.1} ms | plain SQL median {:.1} ms, p95 {:.1} ms | \
         API/SQL median {:.2}x, p95 {:.2}x",
        ms(api_median),
        ms(api_p95),
        ms(sql_median),
        ms(sql_p95),
        ms(api_median) / ms(sql_median),
        ms(api_p95) / ms(sql_p95),
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// Peak resident set size of this process (Linux).
/// CPU time this process and its finished children (plugin hosts) have used so far, from
/// `/proc/self/stat` (utime, stime, cutime, cstime, in clock ticks of 1/100 s, the value
/// Linux reports for `CLK_TCK` on every architecture Chorus builds for). Zero where there is
/// no `/proc`.
pub fn cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // The command name (field 2) may hold spaces; fields are counted after its ')'.
            let after_name = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            // utime is field 14 of the line, the 12th after the name.
            fields
                .get(11..15)?
                .iter()
                .map(|f| f.parse::<u64>().ok())
                .sum::<Option<u64>>()
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// "x.x CPU-s = y.yy cores busy, z CPU-µs per record" for a phase of `records` records.
pub fn cpu_use(cpu: Duration, wall: Duration, records: usize) -> String {
    format!(
        "{:.1} CPU-s = {:.2} cores busy, {:.1} CPU-µs per record",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        cpu.as_secs_f64() * 1e6 / records.max(1) as f64
    )
}

pub fn peak_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}
