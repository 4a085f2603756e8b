//! `chorus bench ingest`: ingest throughput through the real pipeline (survey-csv plugin
//! loaded with libloading, validation, language detection, DuckDB commits) next to a
//! storage-only baseline, and NPS endpoint latency next to the same SQL run directly on the
//! same DuckDB file, in one invocation.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::{cpu_time, cpu_use, peak_memory, report, time_against_sql, BenchServer};
use crate::analysis::scale::Measure;
use crate::catalog::Catalog;
use crate::config::{Isolation, Settings};
use crate::domain::MarketCode;
use crate::domain::Role;
use crate::ingest::{TextStage, COMMIT_ROWS};
use crate::warehouse::queries::CellQuery;
use crate::warehouse::{BatchWrite, NewRecord, RunSummary, Warehouse};

/// Options of `chorus bench ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Synthetic survey records to generate and ingest.
    #[arg(long, default_value_t = 1_000_000)]
    records: usize,
    /// Records per plugin `read` call (and per committed transaction).
    #[arg(long, default_value_t = 20_000)]
    batch_size: u32,
    /// Timed repetitions of each query.
    #[arg(long, default_value_t = 30)]
    repetitions: usize,
    /// Folder for the generated export and the DuckDB file (default: a temporary folder).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
    /// Topic taxonomy used by the text stage (tagging is part of what is measured).
    #[arg(long, default_value = "config/taxonomy/cx.toml")]
    taxonomy: std::path::PathBuf,
}

const MARKETS: [(&str, &str); 8] = [
    ("DE", "de"),
    ("FR", "fr"),
    ("ES", "es"),
    ("PL", "pl"),
    ("IT", "it"),
    ("NL", "nl"),
    ("PT", "pt"),
    ("SE", "sv"),
];
const CHANNELS: [&str; 2] = ["survey.relational", "survey.after_service_call"];
/// Two comments per language, of the length customers write (one to three sentences).
const COMMENTS: [(&str, &str); 16] = [
    ("de", "Sehr freundliche Beratung, mein Problem war sofort gelöst."),
    ("de", "Die Rechnung war falsch und niemand hat geantwortet. Ich habe dreimal angerufen und wurde jedes Mal weiterverbunden."),
    ("fr", "Le conseiller était très aimable et a résolu mon problème."),
    ("fr", "Colis arrivé abîmé, et le retour est compliqué. Personne ne répond au service client depuis une semaine."),
    ("es", "El agente fue muy amable y resolvió mi problema enseguida."),
    ("es", "La factura estaba mal y nadie contesta a mis correos. Llevo dos semanas esperando una solución."),
    ("pl", "Bardzo miła obsługa, konsultant szybko rozwiązał mój problem."),
    ("pl", "Faktura była błędna i nikt nie odpowiada na reklamację. Czekam już od dwóch tygodni na odpowiedź."),
    ("it", "Il consulente è stato gentilissimo e ha risolto subito il mio problema."),
    ("it", "La consegna è arrivata in ritardo e il pacco era danneggiato. Nessuno risponde al telefono."),
    ("nl", "Zeer vriendelijke medewerker, mijn probleem was meteen opgelost."),
    ("nl", "De factuur klopte niet en niemand reageert op mijn e-mails. Ik wacht al twee weken op een antwoord."),
    ("pt", "O atendente foi muito simpático e resolveu o meu problema rapidamente."),
    ("pt", "A fatura veio errada e ninguém responde aos meus e-mails. Estou à espera há duas semanas."),
    ("sv", "Mycket trevlig personal, mitt problem löstes direkt."),
    ("sv", "Fakturan var fel och ingen svarar på mina mejl. Jag har väntat i två veckor på ett svar."),
];

/// Runs the benchmark and prints its report.
///
/// # Errors
/// When generating, ingesting or querying fails.
pub fn run(args: IngestArgs) -> anyhow::Result<()> {
    let temp = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("chorus-bench-").tempdir()?),
    };
    let dir = match (&args.dir, &temp) {
        (Some(dir), _) => {
            std::fs::create_dir_all(dir)?;
            dir.clone()
        }
        (None, Some(temp)) => temp.path().to_path_buf(),
        (None, None) => unreachable!("a temporary folder is made when no folder is given"),
    };
    let dir = dir.as_path();
    let export = dir.join("export.csv");
    let started = Instant::now();
    let bytes = generate(&export, args.records)?;
    println!(
        "generated {} records ({:.1} MB) in {:.1} s",
        args.records,
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(&args, dir, &export))
}

/// Writes a survey export with a fixed pseudo-random mix of markets, channels, months, scores
/// and comments; returns its size in bytes.
pub(super) fn generate(path: &Path, records: usize) -> anyhow::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "id,submitted_at,country,programme,nps,comment")?;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..records {
        let r = next();
        let (market, language) = MARKETS[(r % 8) as usize];
        let channel = CHANNELS[((r >> 8) % 2) as usize];
        let month = 1 + (r >> 16) % 10;
        let day = 1 + (r >> 24) % 28;
        let score = (r >> 32) % 11;
        let comment = if (r >> 40) % 10 < 6 {
            let pick = ((r >> 44) % 2) as usize;
            COMMENTS
                .iter()
                .filter(|(l, _)| *l == language)
                .nth(pick)
                .map_or("", |(_, c)| c)
        } else {
            ""
        };
        writeln!(
            out,
            "b{i},2026-{month:02}-{day:02} 12:00:00,{market},{channel},{score},\"{comment}\""
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

pub(super) fn settings(
    dir: &Path,
    export: &Path,
    batch_size: u32,
    taxonomy: &Path,
) -> anyhow::Result<Settings> {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[warehouse]\npath = {:?}\n[plugins]\nbatch_size = {batch_size}\n\
         [text]\ntaxonomy = {:?}\n[[regions]]\nid = \"europe\"\nname = \"Europe\"\n",
        dir.join("bench.duckdb").display().to_string(),
        taxonomy.display().to_string()
    );
    for (code, language) in MARKETS {
        text.push_str(&format!(
            "[[markets]]\ncode = \"{code}\"\nname = \"{code}\"\nregion = \"europe\"\nlanguages = [\"{language}\", \"en\"]\n"
        ));
    }
    for channel in CHANNELS {
        text.push_str(&format!(
            "[[channels]]\nid = \"{channel}\"\nname = \"{channel}\"\n"
        ));
    }
    text.push_str(&format!(
        "[[connectors]]\nid = \"bench\"\nplugin = \"survey_csv\"\nrun_on_start = false\n\
         [connectors.settings]\npath = {:?}\n[connectors.settings.columns]\nid = \"id\"\n\
         timestamp = \"submitted_at\"\nmarket = \"country\"\nchannel = \"programme\"\nnps = \"nps\"\n\
         comment = \"comment\"\n",
        export.display().to_string()
    ));
    Ok(Settings::from_toml(&text, [], Path::new("bench.toml"))?)
}

/// Runs the bench instance once; its summary and the seconds it took.
pub(super) async fn ingest_once(app: &BenchServer) -> anyhow::Result<(RunSummary, f64)> {
    let started = Instant::now();
    let run = app.ingestor.start("bench", "api").await?;
    let summary = run.done.await?.context("the run left no summary")?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        summary.error.is_none(),
        "ingest failed: {:?}",
        summary.error
    );
    Ok((summary, seconds))
}

async fn measure(args: &IngestArgs, dir: &Path, export: &Path) -> anyhow::Result<()> {
    let settings = settings(dir, export, args.batch_size, &args.taxonomy)?;
    text_stage_alone(&settings, args.records)?;
    // The same ingest with the plugin loaded into the server, into its own file: what process
    // isolation (the default, measured below) costs.
    let (in_process_seconds, in_process_cpu) = {
        let other = dir.join("in-process");
        std::fs::create_dir_all(&other)?;
        let mut in_process = self::settings(&other, export, args.batch_size, &args.taxonomy)?;
        in_process.plugins.isolation = Isolation::InProcess;
        let app = BenchServer::start(in_process, Role::Admin).await?;
        let cpu_before = cpu_time();
        let seconds = ingest_once(&app).await?.1;
        (seconds, cpu_time() - cpu_before)
    };
    let app = BenchServer::start(settings, Role::Admin).await?;
    let cpu_before = cpu_time();
    let (summary, seconds) = ingest_once(&app).await?;
    let pipeline_cpu = cpu_time() - cpu_before;
    println!(
        "ingest: {} records read, {} stored, {} rejected in {seconds:.1} s = {:.0} records/s (batch {})",
        summary.records_read,
        summary.inserted,
        summary.rejected,
        summary.records_read as f64 / seconds,
        args.batch_size
    );
    println!(
        "  full pipeline: {}",
        cpu_use(pipeline_cpu, Duration::from_secs_f64(seconds), args.records)
    );
    println!(
        "isolation: plugin in a child process {:.0} records/s, in process {:.0} records/s = \
         {:.2}x as long",
        summary.records_read as f64 / seconds,
        summary.records_read as f64 / in_process_seconds,
        seconds / in_process_seconds
    );
    println!(
        "  in process: {}",
        cpu_use(
            in_process_cpu,
            Duration::from_secs_f64(in_process_seconds),
            args.records
        )
    );

    for (label, query, path) in [
        (
            "nps by market,channel",
            CellQuery::all(Measure::Nps),
            "/api/v1/nps",
        ),
        (
            "nps by market,channel,month",
            CellQuery {
                period: Some(crate::warehouse::queries::Period::Month),
                ..CellQuery::all(Measure::Nps)
            },
            "/api/v1/nps?group_by=market,channel,month",
        ),
    ] {
        let url = format!("{}{path}", app.base);
        let timings = time_against_sql(
            &app.client,
            &url,
            &app.token,
            &app.warehouse,
            &[query.records_sql()],
            args.repetitions,
        )
        .await?;
        report(label, timings);
    }
    // Baseline, after the queries so they see only the ingested rows: the same number of
    // already-normalised rows written straight into the warehouse, in transactions of the size
    // the pipeline's writer gathers, skipping plugin and pipeline.
    let cubes_before = app.warehouse.cube_maintenance_time();
    let cpu_before = cpu_time();
    let baseline = {
        let (warehouse, records) = (app.warehouse.clone(), args.records);
        tokio::task::spawn_blocking(move || store_directly(&warehouse, records, COMMIT_ROWS))
            .await??
    };
    let baseline_cpu = cpu_time() - cpu_before;
    let cubes = app.warehouse.cube_maintenance_time() - cubes_before;
    println!(
        "baseline (storage only, transactions of {COMMIT_ROWS} rows): {:.1} s = {:.0} records/s | full pipeline takes {:.2}x as long",
        baseline.as_secs_f64(),
        args.records as f64 / baseline.as_secs_f64(),
        seconds / baseline.as_secs_f64()
    );
    println!(
        "  storage only: {}",
        cpu_use(baseline_cpu, baseline, args.records)
    );
    println!(
        "cube maintenance inside that storage: {:.2} s = {:.1} % of it",
        cubes.as_secs_f64(),
        100.0 * cubes.as_secs_f64() / baseline.as_secs_f64()
    );
    println!("peak resident memory: {}", peak_memory());
    Ok(())
}

/// The text stage on its own (language detection, redaction, tagging) over the comments the
/// generated export holds, single-threaded, as ingest runs it per record.
fn text_stage_alone(settings: &Settings, records: usize) -> anyhow::Result<()> {
    let catalog = Catalog::new(settings);
    let taxonomy = settings.text.load_taxonomy()?;
    let stage = TextStage::new(&settings.text, taxonomy.as_ref()).map_err(anyhow::Error::msg)?;
    let texts = records * 6 / 10; // the generator comments on 60 % of records
    let markets: Vec<_> = MARKETS
        .iter()
        .map(|(code, language)| {
            let market = MarketCode::parse(code).map_err(anyhow::Error::msg)?;
            let info = catalog.market(&market).context("a configured market")?;
            let comments: Vec<&str> = COMMENTS
                .iter()
                .filter(|(l, _)| l == language)
                .map(|(_, c)| *c)
                .collect();
            Ok((info, comments))
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    let (mut bytes, mut topics) = (0usize, 0usize);
    for i in 0..texts {
        let (market, comments) = &markets[i % markets.len()];
        let text = comments[(i / markets.len()) % comments.len()];
        let language = market.languages.detect(text, None);
        let processed = stage.process(text, language.as_ref().map(|l| l.code.as_str()), market);
        bytes += text.len();
        topics += processed.topics.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "text stage alone (detect + redact + tag, one thread): {texts} texts in {seconds:.1} s = \
         {:.0} texts/s, {:.1} MB/s ({topics} topic tags)",
        texts as f64 / seconds,
        bytes as f64 / 1e6 / seconds
    );
    Ok(())
}

/// Commits `records` synthetic rows in batches of `batch`, as the ingest pipeline would after
/// normalisation; returns the time taken.
fn store_directly(warehouse: &Warehouse, records: usize, batch: usize) -> anyhow::Result<Duration> {
    // Spread over days as the export is, so the cubes get as many rows to keep.
    let occurred_at = |i: usize| {
        chrono::NaiveDate::from_ymd_opt(2026, 1 + (i / 7 % 10) as u32, 1 + (i / 3 % 28) as u32)
            .and_then(|d| d.and_hms_opt(12, 0, 0))
            .context("a valid date")
    };
    let run_id = warehouse.start_run("baseline", "bench")?;
    // As a connector run writes (see `warehouse::ingest_threads`).
    warehouse.ingest_started()?;
    let started = Instant::now();
    let mut rows = Vec::with_capacity(batch);
    for chunk_start in (0..records).step_by(batch.max(1)) {
        rows.clear();
        for i in chunk_start..(chunk_start + batch).min(records) {
            let (market, language) = MARKETS[i % MARKETS.len()];
            let commented = i % 10 < 6;
            rows.push(NewRecord {
                external_id: format!("x{i}"),
                market: market.into(),
                region: "europe".into(),
                channel: CHANNELS[i % 2].into(),
                touchpoint: None,
                occurred_at: occurred_at(i)?,
                nps: Some((i % 11) as u8),
                csat: None,
                ces: None,
                stars: None,
                // Both of the market's comments, as the export has them.
                text: commented.then(|| {
                    COMMENTS[(i % MARKETS.len()) * 2 + (i / MARKETS.len()) % 2]
                        .1
                        .to_owned()
                }),
                language: Some(language.into()),
                language_confidence: Some(1.0),
                language_decided_by: Some("detector"),
                consent_contact: None,
                attributes: None,
                topics: if commented {
                    vec!["staff_friendliness".into()]
                } else {
                    Vec::new()
                },
                redactions: Vec::new(),
                text_original: None,
            });
        }
        warehouse.commit_batch(&BatchWrite {
            run_id,
            instance: "baseline",
            records_read: rows.len() as u64,
            records: &rows,
            rejections: &[],
            cursor: Some("bench"),
            on_change: crate::warehouse::OnChange::KeepFirst,
            case_rules: None,
        })?;
    }
    let elapsed = started.elapsed();
    warehouse.ingest_ended();
    Ok(elapsed)
}
