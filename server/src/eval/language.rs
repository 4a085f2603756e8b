//! Language detection accuracy, three ways: whatlang over all its languages; whatlang within
//! the eight taxonomy languages; and Chorus in a market whose languages are the text's
//! language plus English (English texts: English plus French), with fallbacks, as ingest
//! runs it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use whatlang::Detector;

use super::{percent, read_tsv};
use crate::analysis::language::{code_of, lang_of, DecidedBy, MarketLanguages};

const EIGHT: [&str; 8] = ["de", "en", "es", "fr", "it", "nl", "pl", "pt"];

#[derive(Default)]
struct Tally {
    texts: usize,
    unrestricted: usize,
    eight: usize,
    market: usize,
    market_by_detector: usize,
    fallback: usize,
}

pub fn run(set: &Path) -> anyhow::Result<()> {
    let rows = read_tsv(set, 2)?;
    let eight = Detector::with_allowlist(EIGHT.iter().filter_map(|c| lang_of(c)).collect());
    let mut markets: BTreeMap<String, MarketLanguages> = BTreeMap::new();
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    let started = Instant::now();
    for row in &rows {
        let (language, text) = (row[0].as_str(), row[1].as_str());
        let market = markets.entry(language.to_owned()).or_insert_with(|| {
            let second = if language == "en" { "fr" } else { "en" };
            MarketLanguages::new(&[language.to_owned(), second.to_owned()], &[])
        });
        let tally = tallies.entry(language.to_owned()).or_default();
        tally.texts += 1;
        let code = |info: Option<whatlang::Info>| info.and_then(|i| code_of(i.lang()));
        tally.unrestricted += usize::from(code(whatlang::detect(text)) == Some(language));
        tally.eight += usize::from(code(eight.detect(text)) == Some(language));
        if let Some(guess) = market.detect(text, None) {
            let right = guess.code == language;
            tally.market += usize::from(right);
            if guess.decided_by == DecidedBy::Detector {
                tally.market_by_detector += usize::from(right);
            } else {
                tally.fallback += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} texts from {} ({:.0} texts/s for all three runs)\n",
        rows.len(),
        set.display(),
        rows.len() as f64 / seconds
    );
    println!(
        "{:<5} {:>5} {:>13} {:>10} {:>15} {:>22} {:>10}",
        "lang",
        "n",
        "unrestricted%",
        "8 langs%",
        "market+fallb.%",
        "market, detector only%",
        "fallback%"
    );
    let mut total = Tally::default();
    for (language, t) in &tallies {
        println!(
            "{:<5} {:>5} {:>13} {:>10} {:>15} {:>22} {:>10}",
            language,
            t.texts,
            percent(t.unrestricted, t.texts),
            percent(t.eight, t.texts),
            percent(t.market, t.texts),
            percent(t.market_by_detector, t.texts - t.fallback),
            percent(t.fallback, t.texts)
        );
        total.texts += t.texts;
        total.unrestricted += t.unrestricted;
        total.eight += t.eight;
        total.market += t.market;
        total.market_by_detector += t.market_by_detector;
        total.fallback += t.fallback;
    }
    println!(
        "{:<5} {:>5} {:>13} {:>10} {:>15} {:>22} {:>10}",
        "all",
        total.texts,
        percent(total.unrestricted, total.texts),
        percent(total.eight, total.texts),
        percent(total.market, total.texts),
        percent(total.market_by_detector, total.texts - total.fallback),
        percent(total.fallback, total.texts)
    );
    println!(
        "\nmarket = the text's language + English (English texts: + French), no source hint; \
         fallback = the detector was unsure and the market's main language was taken, which is \
         right by construction here, so 'detector only' shows the detector's own accuracy."
    );
    Ok(())
}
