//! `chorus bench federation`, through a real nats-server and the real plugin and pipeline,
//! in one run: a regional node's ingest next to a standalone node's (what the outbox and
//! publishing cost); headquarters applying the whole stream alone (its apply rate next to
//! the region's ingest rate); and both at once on this machine (how long after the region's
//! last commit headquarters has everything). Ends by checking that each headquarters' cubes
//! equal its region's exactly.

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
    let node = |name: &str, role: NodeRole, stream: &str| -> anyhow::Result<Settings> {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder)?;
        let mut node = settings(&folder, export, args.batch_size, &args.taxonomy)?;
        node.federation = FederationSettings {
            role,
            node_id: name.to_owned(),
            nats_url: nats.to_owned(),
            stream: stream.to_owned(),
            ..FederationSettings::default()
        };
        if role == NodeRole::Hq {
            node.connectors.clear();
        }
        Ok(node)
    };

    // Baseline: the same ingest on a standalone node, no outbox.
    let standalone_seconds = {
        let app = BenchServer::start(
            node("standalone", NodeRole::Standalone, "UNUSED")?,
            Role::Admin,
        )
        .await?;
        ingest_once(&app).await?.1
    };

    // 1. A region alone (headquarters not running): what the outbox and publishing cost.
    let region =
        BenchServer::start(node("region", NodeRole::Regional, "ALONE")?, Role::Admin).await?;
    let (summary, region_seconds) = ingest_once(&region).await?;
    let records = summary.records_read as f64;
    let outbox = region.warehouse.outbox_state()?;
    let last_seq = outbox.published + outbox.depth as i64;
    let after_commit = Instant::now();
    while region.warehouse.outbox_state()?.depth > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "region alone: {} records stored in {region_seconds:.1} s = {:.0} records/s, {last_seq} \
         messages, all acknowledged by JetStream {:.2} s after the last commit | standalone \
         node, same export: {:.0} records/s | the region takes {:.2}x as long",
        summary.inserted,
        records / region_seconds,
        after_commit.elapsed().as_secs_f64(),
        records / standalone_seconds,
        region_seconds / standalone_seconds
    );

    // 2. Apply alone: headquarters starts now and reads the whole stream from JetStream's
    // store, not paced by the region.
    let late = BenchServer::start(node("hq-late", NodeRole::Hq, "ALONE")?, Role::Admin).await?;
    let caught_up = watch_applied(
        late.warehouse.clone(),
        Arc::new(AtomicI64::new(last_seq)),
        Instant::now(),
    )
    .await?
    .all_applied
    .as_secs_f64();
    println!(
        "headquarters alone: applied all {last_seq} messages in {caught_up:.1} s = {:.0} \
         records/s = {:.2}x the region's ingest rate",
        records / caught_up,
        region_seconds / caught_up
    );

    // 3. Live, as on one machine: a region ingests while headquarters applies.
    let hq = BenchServer::start(node("hq-live", NodeRole::Hq, "LIVE")?, Role::Admin).await?;
    let live = BenchServer::start(
        node("region-live", NodeRole::Regional, "LIVE")?,
        Role::Admin,
    )
    .await?;
    let started = Instant::now();
    let expected = Arc::new(AtomicI64::new(i64::MAX));
    let watcher = tokio::spawn(watch_applied(
        hq.warehouse.clone(),
        expected.clone(),
        started,
    ));
    let live_seconds = ingest_once(&live).await?.1;
    let outbox = live.warehouse.outbox_state()?;
    let live_seq = outbox.published + outbox.depth as i64;
    expected.store(live_seq, Ordering::Release);
    let progress = watcher.await??;
    let first = progress.first_applied.unwrap_or(progress.all_applied);
    let applying = (progress.all_applied - first).as_secs_f64().max(1e-3);
    println!(
        "live (region and headquarters on these cores at once): region {:.0} records/s; \
         headquarters applied the last of {live_seq} messages {:.2} s after the region's last \
         commit, {:.0} records/s while it applied ({:.2}x the region's rate)",
        records / live_seconds,
        progress.all_applied.as_secs_f64() - live_seconds,
        records / applying,
        live_seconds / applying
    );

    let exact = late.warehouse.cube_totals()? == region.warehouse.cube_totals()?
        && hq.warehouse.cube_totals()? == live.warehouse.cube_totals()?;
    println!("both headquarters' cubes equal their region's: {exact}");
    println!(
        "peak resident memory (all nodes in this process): {}",
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
