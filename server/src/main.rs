//! The `chorus` command: serve, mint development tokens, check a configuration, benchmark.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use chorus::auth::{parse_ttl, AuthKeys};
use chorus::config::Settings;
use chorus::domain::{MarketCode, Role};
use chorus::ingest::TextStage;
use chorus::startup::Application;
use chorus::warehouse::Erasure;

#[derive(Parser)]
#[command(
    name = "chorus",
    version,
    about = "One honest view of customer feedback across markets."
)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        global = true,
        default_value = "config/chorus.toml",
        env = "CHORUS_CONFIG"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server and the connector schedule.
    Serve,
    /// Mint a development token signed with the configured secret.
    Token {
        /// Role of the token.
        #[arg(long, value_enum)]
        role: Role,
        /// Region of a regional lead (repeatable).
        #[arg(long = "region")]
        regions: Vec<String>,
        /// Market of a market lead (repeatable).
        #[arg(long = "market")]
        markets: Vec<String>,
        /// Lifetime, e.g. 8h, 30m, 2d.
        #[arg(long, default_value = "8h")]
        ttl: String,
        /// Subject (who the token is for).
        #[arg(long, default_value = "dev")]
        sub: String,
    },
    /// Validate the configuration and exit.
    CheckConfig,
    /// Measure ingest throughput or query latency on synthetic data.
    Bench {
        #[command(subcommand)]
        what: chorus::bench::BenchCommand,
    },
    /// Work with connector instances.
    Connectors {
        #[command(subcommand)]
        what: ConnectorCommand,
    },
    /// Work with plugin libraries.
    Plugin {
        #[command(subcommand)]
        what: PluginCommand,
    },
    /// Measure language detection or topic tagging against a labelled set.
    Eval {
        #[command(subcommand)]
        what: chorus::eval::EvalCommand,
    },
    /// Apply the current topic taxonomy to every stored record, in place. Run it with the
    /// server stopped (DuckDB lets one process open the file).
    Retag,
    /// Check that every stored record reads back and is dated inside `[dates]`; with
    /// `--quarantine`, move misdated records (stored by earlier versions) into
    /// `quarantined_records`. Run it with the server stopped. Exits 1 when a problem remains.
    Verify {
        /// Move records dated outside the accepted range out of every figure (kept aside).
        #[arg(long)]
        quarantine: bool,
    },
    /// Erase a person's records (GDPR art. 17): delete them, take them out of every count,
    /// log the erasure (never the content), keep connectors from bringing them back, and
    /// rewrite the file without the freed blocks that still held them. Run it with the server
    /// stopped; with the server running, use POST /api/v1/erasures.
    Erase {
        /// `key=value` of a mapped source attribute, e.g. `customer_id=C-1042`.
        #[arg(
            long,
            conflicts_with_all = ["external_id", "replay_into"],
            required_unless_present_any = ["external_id", "replay_into"]
        )]
        attribute: Option<String>,
        /// The record's external id.
        #[arg(long)]
        external_id: Option<String>,
        /// Only in this connector instance (with `--external-id`).
        #[arg(long, requires = "external_id")]
        instance: Option<String>,
        /// Apply every erasure of the configured warehouse to this copy of it (a backup taken
        /// before them), then rewrite the copy without their data.
        #[arg(long, conflicts_with = "external_id")]
        replay_into: Option<PathBuf>,
    },
    /// Rewrite the warehouse file (or `--file`) without its free blocks, where deleted data
    /// lingers; a clean stop does it by itself after erasures. Run it with the server stopped.
    Compact {
        /// Another warehouse file, e.g. a copy.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Write records and per-cell score counts as hive-partitioned Parquet (market, month).
    /// Run it while the server is stopped: DuckDB lets one process open the file.
    Export {
        /// Output format; Parquet is the one there is.
        #[arg(long, value_enum, default_value = "parquet")]
        format: ExportFormat,
        /// Folder to write `records/` and `score_counts/` into.
        #[arg(long)]
        out: PathBuf,
        /// Only these markets, e.g. `DE,FR`.
        #[arg(long, value_delimiter = ',')]
        markets: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ConnectorCommand {
    /// Open an instance's plugin with its settings and call its check (credentials,
    /// reachability).
    Check {
        /// Instance id from the configuration.
        instance: String,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Run one plugin library for a server that started this process (process isolation).
    #[command(hide = true)]
    Host {
        #[arg(long)]
        library: PathBuf,
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        memory_limit_mb: u64,
    },
    /// Load a plugin library and print its ABI version and manifest, or why it cannot be
    /// loaded.
    Inspect {
        /// Path of the library (`.so`, `.dylib`, `.dll`).
        library: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Parquet,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    chorus::telemetry::init("info,actix_server=warn");
    match cli.command {
        Command::Serve => serve(&cli.config),
        Command::Token {
            role,
            regions,
            markets,
            ttl,
            sub,
        } => {
            let settings = load(&cli.config)?;
            let secret = std::env::var(&settings.auth.secret_env).with_context(|| {
                format!(
                    "set {} to the server's JWT secret to mint tokens",
                    settings.auth.secret_env
                )
            })?;
            let ttl = parse_ttl(&ttl).map_err(anyhow::Error::msg)?;
            let keys = AuthKeys::hs256(secret.as_bytes(), &settings.auth);
            println!("{}", keys.mint(&sub, role, &regions, &markets, ttl));
            Ok(())
        }
        Command::CheckConfig => {
            let settings = load(&cli.config)?;
            let taxonomy = settings.text.load_taxonomy()?;
            TextStage::new(&settings.text, taxonomy.as_ref()).map_err(anyhow::Error::msg)?;
            println!(
                "{}: ok ({} markets, {} channels, {} connector instances, {} topics)",
                cli.config.display(),
                settings.markets.len(),
                settings.channels.len(),
                settings.connectors.len(),
                taxonomy.map_or(0, |t| t.topics.len())
            );
            Ok(())
        }
        Command::Bench { what } => chorus::bench::run(what),
        Command::Retag => retag(&cli.config),
        Command::Verify { quarantine } => verify(&cli.config, quarantine),
        Command::Erase {
            replay_into: Some(backup),
            ..
        } => replay_erasures(&cli.config, &backup),
        Command::Erase {
            attribute,
            external_id,
            instance,
            replay_into: None,
        } => erase(&cli.config, attribute, external_id, instance),
        Command::Compact { file } => compact(&cli.config, file),
        Command::Eval { what } => chorus::eval::run(what),
        Command::Connectors {
            what: ConnectorCommand::Check { instance },
        } => {
            let settings = load(&cli.config)?;
            println!(
                "{}",
                chorus::operations::check_instance(&settings, &instance)?
            );
            Ok(())
        }
        Command::Plugin {
            what: PluginCommand::Inspect { library },
        } => {
            // The configured isolation and limits when there is a configuration, else defaults.
            let plugins = if cli.config.exists() {
                load(&cli.config)?.plugins
            } else {
                chorus::config::PluginSettings::default()
            };
            println!("{}", chorus::operations::inspect(&plugins, &library)?);
            Ok(())
        }
        Command::Plugin {
            what:
                PluginCommand::Host {
                    library,
                    socket,
                    memory_limit_mb,
                },
        } => chorus::plugins::host::serve(&library, &socket, memory_limit_mb),
        Command::Export {
            format: ExportFormat::Parquet,
            out,
            markets,
        } => export(&cli.config, &out, &markets),
    }
}

fn export(
    config: &std::path::Path,
    out: &std::path::Path,
    markets: &[String],
) -> anyhow::Result<()> {
    let settings = load(config)?;
    let markets = markets
        .iter()
        .map(|m| MarketCode::parse(m))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let warehouse = chorus::federation::open_warehouse(&settings)?;
    let summary =
        warehouse.export_parquet(out, (!markets.is_empty()).then_some(markets.as_slice()))?;
    println!(
        "wrote {} records to {} and {} score-count rows to {}",
        summary.records,
        summary.records_dir.display(),
        summary.score_count_rows,
        summary.score_counts_dir.display()
    );
    Ok(())
}

fn retag(config: &std::path::Path) -> anyhow::Result<()> {
    let settings = load(config)?;
    let taxonomy = settings
        .text
        .load_taxonomy()?
        .context("text.taxonomy is not set: there are no topics to apply")?;
    let text = TextStage::new(&settings.text, Some(&taxonomy)).map_err(anyhow::Error::msg)?;
    let warehouse = chorus::federation::open_warehouse(&settings)?;
    let started = std::time::Instant::now();
    let summary = warehouse.retag(
        |body, language| text.topics(body, language),
        |done, total| println!("retagged {done} of {total} records"),
    )?;
    println!(
        "done: {} records with text, {} with changed topics, {} topics, {:.1} s",
        summary.records,
        summary.changed,
        taxonomy.topics.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn verify(config: &std::path::Path, quarantine: bool) -> anyhow::Result<()> {
    let settings = load(config)?;
    let warehouse = chorus::federation::open_warehouse_for_repair(&settings)?;
    let report = warehouse.verify(&settings.dates, quarantine, |done| {
        println!("read {done} records")
    })?;
    for example in &report.examples {
        println!("  {example}");
    }
    for difference in &report.cube_examples {
        println!("  {difference}");
    }
    println!(
        "{} records: {} unreadable, {} dated outside {}, {} quarantined; {} cube rows differ \
         from a recount",
        report.records,
        report.unreadable,
        report.out_of_range,
        settings.dates,
        report.quarantined,
        report.cube_differences
    );
    if report.is_clean() {
        println!("ok");
        Ok(())
    } else {
        if report.out_of_range > report.quarantined {
            println!("run `chorus verify --quarantine` to move the misdated records aside");
        }
        std::process::exit(1)
    }
}

fn erase(
    config: &std::path::Path,
    attribute: Option<String>,
    external_id: Option<String>,
    instance: Option<String>,
) -> anyhow::Result<()> {
    let erasure = match (attribute, external_id) {
        (Some(attribute), _) => {
            let (key, value) = attribute
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--attribute takes key=value"))?;
            Erasure::Attribute {
                key: key.to_owned(),
                value: value.to_owned(),
            }
        }
        (None, Some(external_id)) => Erasure::ExternalId {
            instance,
            external_id,
        },
        (None, None) => anyhow::bail!("give --attribute or --external-id"),
    };
    erasure.validate().map_err(anyhow::Error::msg)?;
    let settings = load(config)?;
    if let Erasure::ExternalId {
        instance: Some(instance),
        ..
    } = &erasure
    {
        anyhow::ensure!(
            settings.connector(instance).is_some(),
            "no connector instance {instance:?} is configured; leave --instance out to erase \
             the id in every instance"
        );
    }
    let warehouse = chorus::federation::open_warehouse(&settings)?;
    let entry = warehouse.erase(&erasure, &cli_user())?;
    println!(
        "erasure {}: {} records erased ({}) in markets [{}]",
        entry.id,
        entry.records,
        entry.criterion,
        entry.markets.join(", ")
    );
    drop(warehouse);
    rewrite(&settings.warehouse.path, false)
}

/// Who runs a command, for the erasure log.
fn cli_user() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

/// Applies the configured warehouse's erasures to `backup`, then rewrites it.
fn replay_erasures(config: &std::path::Path, backup: &std::path::Path) -> anyhow::Result<()> {
    let settings = load(config)?;
    anyhow::ensure!(
        backup.is_file(),
        "{} is not a warehouse file",
        backup.display()
    );
    anyhow::ensure!(
        settings.warehouse.path.is_file(),
        "{} (the configured warehouse) does not exist: it holds the erasures to replay",
        settings.warehouse.path.display()
    );
    let copy = chorus::warehouse::Warehouse::open(backup)?;
    let entry = copy.replay_tombstones(&settings.warehouse.path, &cli_user())?;
    println!(
        "{}: {} records erased that {} erased after the copy was taken",
        backup.display(),
        entry.records,
        settings.warehouse.path.display()
    );
    drop(copy);
    rewrite(backup, false)
}

fn compact(config: &std::path::Path, file: Option<PathBuf>) -> anyhow::Result<()> {
    let path = match file {
        Some(file) => file,
        None => load(config)?.warehouse.path,
    };
    anyhow::ensure!(path.is_file(), "{} is not a warehouse file", path.display());
    rewrite(&path, true)
}

/// Rewrites `path` without its free blocks (when erased data waits there, or always).
fn rewrite(path: &std::path::Path, always: bool) -> anyhow::Result<()> {
    match chorus::warehouse::rewrite_file(path, always)? {
        Some(done) => println!(
            "{} rewritten without free blocks: {} to {} bytes",
            path.display(),
            done.bytes_before,
            done.bytes_after
        ),
        None => println!("{}: nothing erased waits in free blocks", path.display()),
    }
    Ok(())
}

fn load(path: &std::path::Path) -> anyhow::Result<Settings> {
    Ok(Settings::load(path)?)
}

#[actix_web::main]
async fn serve(config: &std::path::Path) -> anyhow::Result<()> {
    let settings = load(config)?;
    let (secret, ephemeral) = match std::env::var(&settings.auth.secret_env) {
        Ok(secret) if secret.len() >= 32 => (secret, false),
        Ok(_) => anyhow::bail!(
            "{} must be at least 32 characters",
            settings.auth.secret_env
        ),
        Err(_) => (random_secret(), true),
    };
    let auth = settings.auth.clone();
    let login_link = settings.server.login_link;
    let app = Application::build(settings, secret.as_bytes()).await?;
    announce(&format!(
        "Chorus is listening on http://127.0.0.1:{}",
        app.port()
    ));
    let keys = AuthKeys::hs256(secret.as_bytes(), &auth);
    if login_link {
        let code = app
            .login_codes()
            .issue(admin_token(&keys, "dashboard-admin"));
        announce(&format!(
            "Dashboard (one-time sign-in link, valid {} minutes): http://127.0.0.1:{}/?code={code}",
            chorus::login::CODE_TTL.as_secs() / 60,
            app.port()
        ));
    }
    if ephemeral {
        tracing::warn!(
            variable = %auth.secret_env,
            "no JWT secret set: using a random one for this process only; tokens die with it"
        );
        let token = admin_token(&keys, "demo-admin");
        announce(&format!("Demo admin token (8h):\n{token}"));
    }
    app.run_until_stopped().await?;
    Ok(())
}

/// An admin token valid for a working day, for whoever started the server.
fn admin_token(keys: &AuthKeys, sub: &str) -> String {
    keys.mint(
        sub,
        Role::Admin,
        &[],
        &[],
        std::time::Duration::from_secs(8 * 3600),
    )
}

/// Prints a line for whoever started the server. A closed or full stdout (a supervisor that
/// read the first line and went away) must not stop a running server, as `println!` would.
fn announce(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

fn random_secret() -> String {
    use rand::Rng;
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(48)
        .map(char::from)
        .collect()
}
