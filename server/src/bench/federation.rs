//! `chorus bench federation`: a regional node ingests a generated export through the real
//! plugin and pipeline while headquarters applies what it publishes through a real
//! nats-server; reports the region's ingest rate next to a standalone node's (what the outbox
//! costs), how long after the region's last commit headquarters has everything, and
//! headquarters' apply rate while the region ingests and when a late headquarters catches up
//! on the whole stream alone, all in one run. Ends by checking that both headquarters' cubes
//! equal the region's exactly.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::ingest::{generate, ingest_once, settings};
use super::{peak_memory, BenchServer};
use crate::config::Settings;
use crate::domain::Role;
use crate::federation::{FederationSettings, NodeRole};
use crate::warehouse::Warehouse;

/// Options of `chorus bench federation`.
#[derive(Debug, clap::Args)]
pub struct FederationArgs {
    /// Synthetic survey records the regional node ingests.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Records per plugin `read` call (and per committed transaction, and outbox message).
    #[arg(long, default_value_t = 20_000)]
    batch_size: u32,
    /// Folder for the export, the DuckDB files and the JetStream store (default: temporary).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Topic taxonomy used by the text stage.
    #[arg(long, default_value = "config/taxonomy/cx.toml")]
    taxonomy: PathBuf,
}

/// Runs the benchmark and prints its report.
///
/// # Errors
/// When nats-server is missing, or generating, ingesting or applying fails.
pub fn run(args: &FederationArgs) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("chorus-bench-federation-")
        .tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let export = dir.join("export.csv");
    generate(&export, args.records)?;
    let nats = NatsServer::start(&dir.join("jetstream"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(measure(args, &dir, &export, &nats.url()))
}

async fn measure(
    args: &FederationArgs,
    dir: &Path,
    export: &Path,
    nats: &str,
) -> anyhow::Result<()> {
    let node = |name: &str, role: NodeRole| -> anyhow::Result<Settings> {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder)?;
        let mut node = settings(&folder, export, args.batch_size, &args.taxonomy)?;
        node.federation = FederationSettings {
            role,
            node_id: name.to_owned(),
            nats_url: nats.to_owned(),
            stream: "CHORUS_BENCH".to_owned(),
            ..FederationSettings::default()
        };
        if role == NodeRole::Hq {
            node.connectors.clear();
        }
        Ok(node)
    };

    // Baseline: the same ingest on a standalone node, no outbox.
    let standalone_seconds = {
        let app =
            BenchServer::start(node("standalone", NodeRole::Standalone)?, Role::Admin).await?;
        ingest_once(&app).await?.1
    };

    let hq = BenchServer::start(node("hq", NodeRole::Hq)?, Role::Admin).await?;
    let region = BenchServer::start(node("region", NodeRole::Regional)?, Role::Admin).await?;
    let started = Instant::now();
    let expected = Arc::new(AtomicI64::new(i64::MAX));
    let watcher = tokio::spawn(watch_applied(
        hq.warehouse.clone(),
        expected.clone(),
        started,
    ));
    let (summary, region_seconds) = ingest_once(&region).await?;
    let outbox = region.warehouse.outbox_state()?;
    let last_seq = outbox.published + outbox.depth as i64;
    expected.store(last_seq, Ordering::Release);
    println!(
        "region: {} records stored in {region_seconds:.1} s = {:.0} records/s, {last_seq} \
         messages | standalone node, same export: {:.0} records/s | regional takes {:.2}x as long",
        summary.inserted,
        summary.records_read as f64 / region_seconds,
        summary.records_read as f64 / standalone_seconds,
        region_seconds / standalone_seconds
    );

    let progress = watcher.await??;
    let first = progress.first_applied.unwrap_or(progress.all_applied);
    let applying = (progress.all_applied - first).as_secs_f64().max(1e-3);
    println!(
        "headquarters: all {last_seq} messages applied {:.1} s after the start, {:.2} s after \
         the region's last commit; applying took {applying:.1} s = {:.0} records/s ({:.2}x the \
         region's ingest rate)",
        progress.all_applied.as_secs_f64(),
        progress.all_applied.as_secs_f64() - region_seconds,
        summary.records_read as f64 / applying,
        region_seconds / applying
    );
    // Apply alone: a second headquarters that starts now reads the whole stream from
    // JetStream's store, not paced by the region.
    let catching_up = BenchServer::start(node("hq-late", NodeRole::Hq)?, Role::Admin).await?;
    let started_late = Instant::now();
    let late = watch_applied(
        catching_up.warehouse.clone(),
        Arc::new(AtomicI64::new(last_seq)),
        started_late,
    )
    .await?;
    println!(
        "headquarters started after the ingest: caught up on all {last_seq} messages in {:.1} s \
         = {:.0} records/s ({:.2}x the region's ingest rate)",
        late.all_applied.as_secs_f64(),
        summary.records_read as f64 / late.all_applied.as_secs_f64(),
        region_seconds / late.all_applied.as_secs_f64()
    );
    let region_cubes = region.warehouse.cube_totals()?;
    let exact = hq.warehouse.cube_totals()? == region_cubes
        && catching_up.warehouse.cube_totals()? == region_cubes;
    println!("both headquarters' cubes equal the region's: {exact}");
    println!(
        "peak resident memory (all three nodes in this process): {}",
        peak_memory()
    );
    anyhow::ensure!(exact, "headquarters' cubes differ from the region's");
    Ok(())
}

/// When headquarters applied its first message, and when the last one expected.
struct Progress {
    first_applied: Option<Duration>,
    all_applied: Duration,
}

/// Polls headquarters from the start until it applied `last_seq` (known once the region
/// finished; `i64::MAX` until then), noting when it applied its first message.
async fn watch_applied(
    hq: Arc<Warehouse>,
    last_seq: Arc<AtomicI64>,
    started: Instant,
) -> anyhow::Result<Progress> {
    let mut first_applied = None;
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let seq = applied_seq(&hq).await?;
        if seq > 0 && first_applied.is_none() {
            first_applied = Some(started.elapsed());
        }
        if seq >= last_seq.load(Ordering::Acquire) {
            return Ok(Progress {
                first_applied,
                all_applied: started.elapsed(),
            });
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "headquarters applied {seq} messages in 30 minutes, not all"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn applied_seq(hq: &Arc<Warehouse>) -> anyhow::Result<i64> {
    let hq = hq.clone();
    let nodes = tokio::task::spawn_blocking(move || hq.federation_nodes()).await??;
    Ok(nodes.iter().map(|n| n.last_seq).max().unwrap_or(0))
}

/// A nats-server with JetStream on a free port, stopped when dropped.
struct NatsServer {
    port: u16,
    process: Child,
}

impl NatsServer {
    fn start(store: &Path) -> anyhow::Result<NatsServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let process = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start nats-server: run `bash deploy/install-test-parts.sh`")?;
        let nats = NatsServer { port, process };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
