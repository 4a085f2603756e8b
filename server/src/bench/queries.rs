//! `chorus bench queries`: latency of the analysis endpoints on millions of records (several
//! markets, channels and months), each next to the same SQL run directly on the same DuckDB
//! file in the same invocation, plus peak memory.
//!
//! Records are generated inside DuckDB (`INSERT … SELECT FROM range()`), not through a
//! plugin: this benchmark is about reading; `bench ingest` measures writing.

use std::path::Path;
use std::time::Instant;

use chrono::NaiveDate;

use super::{peak_memory, report, time_against_sql, BenchServer, Statement};
use crate::analysis::scale::Measure;
use crate::config::Settings;
use crate::domain::Role;
use crate::warehouse::queries::{CellQuery, Period};
use crate::warehouse::Warehouse;

/// Options of `chorus bench queries`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Records to generate.
    #[arg(long, default_value_t = 10_000_000)]
    records: u64,
    /// Timed repetitions of each endpoint.
    #[arg(long, default_value_t = 30)]
    repetitions: usize,
    /// Folder for the DuckDB file (default: a temporary folder). An existing file with
    /// enough generated records is reused.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// Fifty markets, as the reference company has.
const MARKETS: [&str; 50] = [
    "DE", "FR", "ES", "PL", "IT", "NL", "PT", "SE", "AT", "BE", "CH", "CZ", "DK", "FI", "GR", "HU",
    "IE", "NO", "RO", "SK", "SI", "HR", "BG", "LT", "LV", "EE", "LU", "GB", "US", "CA", "MX", "BR",
    "AR", "CL", "CO", "PE", "JP", "KR", "CN", "IN", "AU", "NZ", "ZA", "TR", "AE", "SA", "EG", "MA",
    "SG", "TH",
];
/// Topics tagged on the commented half of the records.
/// The ids of `config/taxonomy/cx.toml`, which the benchmark's server loads.
const TOPICS: [&str; 10] = [
    "delivery",
    "price_billing",
    "staff_friendliness",
    "wait_time",
    "product_quality",
    "app_website",
    "returns_refunds",
    "contact_availability",
    "cleanliness_condition",
    "communication",
];
/// Channel and programme. Survey channels carry NPS (transactional ones CSAT too), the
/// review channel stars only.
const CHANNELS: [(&str, &str); 4] = [
    ("survey.relational", "relational"),
    ("survey.after_service_call", "transactional"),
    ("survey.digital", "transactional"),
    ("review.app_store", "transactional"),
];
/// Records span the 24 months from here.
const FIRST_DAY: &str = "2025-01-01";

/// Runs the benchmark and prints its report.
///
/// # Errors
/// When generating or querying fails.
pub fn run(args: QueryArgs) -> anyhow::Result<()> {
    let temp = match &args.dir {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("chorus-bench-").tempdir()?),
    };
    let dir = args
        .dir
        .clone()
        .or_else(|| temp.as_ref().map(|t| t.path().to_path_buf()))
        .ok_or_else(|| anyhow::anyhow!("no folder for the benchmark"))?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench-queries.duckdb");
    {
        let warehouse = Warehouse::open(&path)?;
        let started = Instant::now();
        generate(&warehouse, args.records)?;
        // Generated around commit_batch, so the cubes are built once from the records.
        let cubes = Instant::now();
        warehouse.rebuild_cubes()?;
        println!("cubes built in {:.1} s", cubes.elapsed().as_secs_f64());
        println!(
            "warehouse holds {} records ({:.1} s to generate)",
            warehouse.record_count()?,
            started.elapsed().as_secs_f64()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(measure(&args, &path))
}

/// Inserts records until the warehouse holds `records`, one million per transaction.
fn generate(warehouse: &Warehouse, records: u64) -> anyhow::Result<()> {
    let have = warehouse.record_count()?;
    let chunk = 1_000_000;
    let mut start = have;
    while start < records {
        let end = (start + chunk).min(records);
        let markets = MARKETS.map(|m| format!("'{m}'")).join(", ");
        let channels = CHANNELS.map(|(c, _)| format!("'{c}'")).join(", ");
        let topics = TOPICS.map(|t| format!("'{t}'")).join(", ");
        // Each market has its own level, so markets differ as they would in life; half of
        // the records carry a comment with one or two topics. The markets count in UTC, so a
        // record's day is its instant's date.
        let sql = format!(
            "INSERT INTO records (source_instance, external_id, market, region, channel, \
             occurred_at, day, ingested_at, nps, csat, stars, run_id, topics) \
             SELECT 'bench', 'q' || i, market, 'europe', channel, \
               occurred_at, CAST(occurred_at AS DATE), now(), \
               CASE WHEN channel <> 'review.app_store' THEN least(10, (hash(i, 4) % 11) + level % 2) END, \
               CASE WHEN channel IN ('survey.after_service_call', 'survey.digital') \
                    THEN 1 + (hash(i, 5) % 5) END, \
               CASE WHEN channel = 'review.app_store' THEN 1 + (hash(i, 6) % 5) END, 0, \
               CASE WHEN hash(i, 7) % 2 = 0 THEN list_distinct([ \
                 [{topics}][1 + (hash(i, 8) % 10)::BIGINT], \
                 [{topics}][1 + (hash(i, 9) % 10)::BIGINT]]) END \
             FROM (SELECT i, [{markets}][1 + (hash(i, 1) % {n_markets})::BIGINT] AS market, \
                          [{channels}][1 + (hash(i, 2) % 4)::BIGINT] AS channel, \
                          hash(i, 1) % 8 AS level, \
                          TIMESTAMP '{FIRST_DAY}' + to_hours((hash(i, 3) % (730 * 24))::BIGINT) \
                            AS occurred_at \
                   FROM range({start}, {end}) t(i))",
            n_markets = MARKETS.len()
        );
        warehouse.write(|c| Ok(c.execute_batch(&sql)?))?;
        println!("generated {end} of {records} records");
        start = end;
    }
    Ok(())
}

fn settings(path: &Path) -> anyhow::Result<Settings> {
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[warehouse]\npath = {:?}\n\
         [text]\ntaxonomy = \"config/taxonomy/cx.toml\"\n\
         [[regions]]\nid = \"europe\"\nname = \"Europe\"\n",
        path.display().to_string()
    );
    for code in MARKETS {
        text.push_str(&format!(
            "[[markets]]\ncode = \"{code}\"\nname = \"{code}\"\nregion = \"europe\"\nlanguages = [\"en\"]\n"
        ));
    }
    for (channel, programme) in CHANNELS {
        text.push_str(&format!(
            "[[channels]]\nid = \"{channel}\"\nname = \"{channel}\"\nprogramme = \"{programme}\"\n"
        ));
    }
    Ok(Settings::from_toml(&text, [], Path::new("bench.toml"))?)
}

async fn measure(args: &QueryArgs, path: &Path) -> anyhow::Result<()> {
    let app = BenchServer::start(settings(path)?, Role::HqAnalyst).await?;
    let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    // In the order the server lists them (sorted), so the statements are the same.
    let mut all_markets = MARKETS.map(str::to_owned).to_vec();
    all_markets.sort();
    let all_markets = Some(all_markets);
    let by_month = |measure| CellQuery {
        period: Some(Period::Month),
        ..CellQuery::all(measure)
    };
    // What /compare runs for a half year of the transactional programme: the mix over all
    // markets, then the cells of the period and of the previous half year, in the mix's
    // channels (the review channel has no NPS, so it is not in the mix).
    let half_year = CellQuery {
        markets: all_markets.clone(),
        from: date("2026-07-01"),
        to: date("2026-12-31"),
        ..CellQuery::all(Measure::Nps)
    };
    let mix = CellQuery {
        markets: None,
        channels: Some(vec![
            "review.app_store".into(),
            "survey.after_service_call".into(),
            "survey.digital".into(),
        ]),
        ..half_year.clone()
    };
    let with_channels = |query: &CellQuery| CellQuery {
        channels: Some(vec![
            "survey.after_service_call".into(),
            "survey.digital".into(),
        ]),
        ..query.clone()
    };
    let previous = CellQuery {
        from: date("2025-12-29"),
        to: date("2026-06-30"),
        ..half_year.clone()
    };
    // /trends for a year reads its 12 months and the 12 before.
    // An HQ caller asks for no markets: no market filter, as on /nps.
    let trend = CellQuery {
        period: Some(Period::Month),
        from: date("2025-01-01"),
        to: date("2026-12-31"),
        ..CellQuery::all(Measure::Nps)
    };
    let topics = (
        format!(
            "SELECT topic, market, channel, count(*), count(*) FILTER (WHERE hit), \
               count(nps) FILTER (WHERE hit), count(*) FILTER (WHERE hit AND nps >= 9), \
               count(*) FILTER (WHERE hit AND nps <= 6), count(nps) FILTER (WHERE NOT hit), \
               count(*) FILTER (WHERE NOT hit AND nps >= 9), \
               count(*) FILTER (WHERE NOT hit AND nps <= 6) \
             FROM (SELECT *, list_contains(topics, t.topic) AS hit \
                   FROM records CROSS JOIN (VALUES {}) t(topic) WHERE topics IS NOT NULL) \
             GROUP BY ALL",
            TOPICS.map(|t| format!("('{t}')")).join(", ")
        ),
        Vec::new(),
    );
    // What /drivers reads: commented records of the transactional programme as patterns.
    let drivers = crate::warehouse::driver_patterns_sql(
        &with_channels(&CellQuery::all(Measure::Nps)),
        &TOPICS.map(str::to_owned),
        &[],
    );
    let cases: [(&str, String, Vec<Statement>); 8] = [
        (
            "/nps by market,channel",
            "/api/v1/nps".into(),
            vec![CellQuery::all(Measure::Nps).records_sql()],
        ),
        (
            "/nps by market,channel,month",
            "/api/v1/nps?group_by=market,channel,month".into(),
            vec![by_month(Measure::Nps).records_sql()],
        ),
        (
            "/csat by market,channel,month",
            "/api/v1/csat?group_by=market,channel,month".into(),
            vec![by_month(Measure::Csat).records_sql()],
        ),
        (
            "/stars by market,channel",
            "/api/v1/stars".into(),
            vec![CellQuery::all(Measure::Stars).records_sql()],
        ),
        (
            "/compare half year, 50 markets, against DE",
            "/api/v1/compare?from=2026-07-01&to=2026-12-31&against=DE".into(),
            vec![
                mix.records_mix_sql(),
                with_channels(&half_year).records_sql(),
                with_channels(&previous).records_sql(),
            ],
        ),
        (
            "/trends 12 months, 50 markets",
            "/api/v1/trends?from=2026-01&to=2026-12".into(),
            vec![trend.records_sql()],
        ),
        (
            "/topics by market,channel, 10 topics",
            "/api/v1/topics?group_by=market,channel".into(),
            vec![topics],
        ),
        (
            "/drivers per market and all, 10 topics",
            "/api/v1/drivers?min_mentions=30".into(),
            vec![drivers],
        ),
    ];
    for (label, path, statements) in cases {
        let timings = time_against_sql(
            &app.client,
            &format!("{}{path}", app.base),
            &app.token,
            &app.warehouse,
            &statements,
            args.repetitions,
        )
        .await?;
        report(label, timings);
    }
    println!("peak resident memory: {}", peak_memory());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_records_are_stored_records_and_the_cubes_recount_them() {
        // The benchmark writes SQL of its own: it must keep up with the schema (a record's
        // local day, every NOT NULL column) and give cubes that `verify` finds exact.
        let dir = tempfile::tempdir().unwrap();
        let warehouse = Warehouse::open(&dir.path().join("q.duckdb")).unwrap();
        generate(&warehouse, 3_000).unwrap();
        warehouse.rebuild_cubes().unwrap();
        let report = warehouse
            .verify(&crate::dates::DateRange::default(), false, |_| {})
            .unwrap();
        assert_eq!(report.records, 3_000);
        assert!(report.is_clean(), "{report:?}");
    }
}
