//! `chorus bench text`: throughput of the whole text stage (detect, redact, tag) on short CX
//! comments with three language chains, in the same invocation: whatlang alone (the
//! baseline, what ingest ran before lingua), whatlang then lingua, and the full chain
//! (whatlang, function words, lingua). The comments are the shipped evaluation sets, short
//! one-liners where whatlang is most often unsure, so lingua runs as often as it will on real
//! feedback; the taxonomy is the shipped one.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::analysis::language::MarketLanguages;
use crate::analysis::topics::Taxonomy;
use crate::catalog::Market;
use crate::config::TextSettings;
use crate::ingest::TextStage;

/// Options of `chorus bench text`.
#[derive(Debug, clap::Args)]
pub struct TextArgs {
    /// Timed passes over the comments per market and chain.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

const DEV_SET: &str = include_str!("../../../config/eval/cx-comments-dev.tsv");
const TEST_SET: &str = include_str!("../../../config/eval/cx-comments-test.tsv");
const TAXONOMY: &str = include_str!("../../../config/taxonomy/cx.toml");

/// Markets measured: their languages, main first.
const MARKETS: [(&str, &[&str]); 3] = [
    ("2-language (de, en)", &["de", "en"]),
    ("3-language (de, fr, it)", &["de", "fr", "it"]),
    (
        "8-language (de en es fr it nl pl pt)",
        &["de", "en", "es", "fr", "it", "nl", "pl", "pt"],
    ),
];

/// `(language label, text)` of every comment in both halves of the evaluation set.
fn comments() -> Vec<(&'static str, &'static str)> {
    [DEV_SET, TEST_SET]
        .iter()
        .flat_map(|set| set.lines().skip(1))
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        // Columns: language, topics, text (config/eval/README.md).
        .filter_map(|line| Some((line.split('\t').next()?, line.rsplit('\t').next()?)))
        .collect()
}

/// The chains measured, baseline first.
#[derive(Clone, Copy)]
enum Chain {
    WhatlangOnly,
    WithoutFunctionWords,
    Full,
}

fn market(codes: &[&str], chain: Chain) -> Market {
    let codes: Vec<String> = codes.iter().map(|c| (*c).to_owned()).collect();
    let languages = MarketLanguages::new(&codes, &[]);
    Market {
        name: "bench".to_owned(),
        region: "bench".to_owned(),
        languages: match chain {
            Chain::WhatlangOnly => languages.whatlang_only(),
            Chain::WithoutFunctionWords => languages.without_function_words(),
            Chain::Full => languages,
        },
        store_original_text: false,
        redact_terms: Vec::new(),
        residency: Default::default(),
        node_url: None,
    }
}

/// One pass of the text stage over `texts`; returns the topic tags found, so the work is
/// not optimised away.
fn pass(stage: &TextStage, market: &Market, texts: &[&str]) -> usize {
    let mut tags = 0;
    for text in texts {
        let language = market.languages.detect(text, None);
        let processed = stage.process(text, language.as_ref().map(|l| l.code.as_str()), market);
        tags += processed.topics.len();
    }
    tags
}

/// Runs the benchmark and prints texts per second for both chains and their ratio.
///
/// # Errors
/// When the shipped taxonomy does not compile.
pub fn run(args: &TextArgs) -> anyhow::Result<()> {
    let taxonomy: Taxonomy = toml::from_str(TAXONOMY).context("the shipped taxonomy")?;
    let stage =
        TextStage::new(&TextSettings::default(), Some(&taxonomy)).map_err(anyhow::Error::msg)?;
    let comments = comments();
    println!(
        "text stage (detect + redact + tag, one thread), {} comments, {} rounds",
        comments.len(),
        args.rounds
    );
    for (label, codes) in MARKETS {
        // The comments a feed of this market would carry: its languages, and the ones
        // without a language ("10/10").
        let texts: Vec<&str> = comments
            .iter()
            .filter(|(language, _)| codes.contains(language) || *language == "-")
            .map(|(_, text)| *text)
            .collect();
        let chains = [
            market(codes, Chain::WhatlangOnly),
            market(codes, Chain::WithoutFunctionWords),
            market(codes, Chain::Full),
        ];
        // Warm-up: lingua loads its models on first use.
        for chain in &chains {
            pass(&stage, chain, &texts);
        }
        let mut took = [Duration::ZERO; 3];
        for round in 0..args.rounds {
            // Rotate the order so drift on a noisy machine hits every chain alike.
            for i in (0..3).map(|i| (i + round) % 3) {
                let started = Instant::now();
                std::hint::black_box(pass(&stage, &chains[i], &texts));
                took[i] += started.elapsed();
            }
        }
        let rate = |d: Duration| (texts.len() * args.rounds) as f64 / d.as_secs_f64();
        let [before, lingua, full] = took.map(rate);
        println!(
            "  {label:<38} whatlang only {before:>7.0} texts/s; then lingua {lingua:>7.0} \
             ({:.2}×); then function words and lingua {full:>7.0} ({:.2}×)",
            lingua / before,
            full / before
        );
    }
    Ok(())
}
