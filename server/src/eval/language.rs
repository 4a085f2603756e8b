//! Language detection accuracy as ingest runs it, in three kinds of market:
//!
//! - two languages: the text's language plus English (an English text is tried in each of the
//!   seven other languages' markets, where the fallback would be wrong);
//! - three: Switzerland (de, fr, it) and Belgium (nl, fr, de), for texts in their languages;
//! - eight: a pan-European shop allowing all eight taxonomy languages, German first.
//!
//! Per kind: share right, and for each step of the chain the share it decided and how often it
//! was right. No source hint is given, so every text goes through the detectors. A text
//! labelled `-` has no language to find ("10/10", "ok"): right when none is given.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use super::{percent, read_labelled};
use crate::analysis::language::{DecidedBy, MarketLanguages};

/// The languages of the largest market evaluated.
pub(super) const EIGHT: [&str; 8] = ["de", "en", "es", "fr", "it", "nl", "pl", "pt"];
const NO_LANGUAGE: &str = "-";
const THREE: [[&str; 3]; 2] = [["de", "fr", "it"], ["nl", "fr", "de"]];

/// Right answers and answers, per step that decided.
#[derive(Default)]
struct Tally {
    tried: usize,
    right: usize,
    by_step: BTreeMap<&'static str, (usize, usize)>,
    per_language: BTreeMap<String, (usize, usize)>,
    misses: Vec<String>,
}

impl Tally {
    fn add(&mut self, language: &str, market: &MarketLanguages, text: &str) {
        let guess = market.detect(text, None);
        let right = match &guess {
            Some(guess) => guess.code == language,
            None => language == NO_LANGUAGE,
        };
        if !right {
            let answer = guess.as_ref().map_or("-", |g| g.code.as_str());
            self.misses
                .push(format!("  [{language} → {answer}] {text}"));
        }
        let step = guess.map_or("none", |g| g.decided_by.as_str());
        self.tried += 1;
        self.right += usize::from(right);
        let (answers, rights) = self.by_step.entry(step).or_default();
        *answers += 1;
        *rights += usize::from(right);
        let (tried, rights) = self.per_language.entry(language.to_owned()).or_default();
        *tried += 1;
        *rights += usize::from(right);
    }

    fn print(&self, kind: &str) {
        println!(
            "{kind}: {}% right of {} detections",
            percent(self.right, self.tried),
            self.tried
        );
        let languages: Vec<String> = self
            .per_language
            .iter()
            .map(|(l, (tried, right))| format!("{l} {}%", percent(*right, *tried)))
            .collect();
        println!("  per language: {}", languages.join(", "));
        for step in DecidedBy::ALL
            .iter()
            .map(|s| s.as_str())
            .chain(std::iter::once("none"))
        {
            if let Some((answers, right)) = self.by_step.get(step) {
                println!(
                    "  {step:<16} decided {:>5}% ({answers}), right {:>5}%",
                    percent(*answers, self.tried),
                    percent(*right, *answers)
                );
            }
        }
        if std::env::var_os("CHORUS_EVAL_SHOW_MISSES").is_some() {
            println!("{}", self.misses.join("\n"));
        }
    }
}

pub(super) fn market(codes: &[&str]) -> MarketLanguages {
    let codes: Vec<String> = codes.iter().map(|c| (*c).to_owned()).collect();
    MarketLanguages::new(&codes, &[])
}

pub fn run(set: &Path) -> anyhow::Result<()> {
    let rows = read_labelled(set)?;
    let two: BTreeMap<&str, MarketLanguages> = EIGHT
        .iter()
        .filter(|l| **l != "en")
        .map(|l| (*l, market(&[l, "en"])))
        .collect();
    let three: Vec<MarketLanguages> = THREE.iter().map(|m| market(m)).collect();
    let eight = market(&EIGHT);
    let (mut in_two, mut in_three, mut in_eight) =
        (Tally::default(), Tally::default(), Tally::default());
    let started = Instant::now();
    for row in &rows {
        let (language, text) = (row.language.as_str(), row.text.as_str());
        for (main, market) in &two {
            if language == "en" || language == *main || (language == NO_LANGUAGE && *main == "de") {
                in_two.add(language, market, text);
            }
        }
        for (codes, market) in THREE.iter().zip(&three) {
            if codes.contains(&language) || (language == NO_LANGUAGE && codes[0] == "de") {
                in_three.add(language, market, text);
            }
        }
        in_eight.add(language, &eight, text);
    }
    let seconds = started.elapsed().as_secs_f64();
    let detections = in_two.tried + in_three.tried + in_eight.tried;
    println!(
        "{} texts from {}: {detections} detections, {:.0}/s\n",
        rows.len(),
        set.display(),
        detections as f64 / seconds
    );
    in_two.print("2-language markets (language + English)");
    in_three.print("3-language markets (CH de/fr/it, BE nl/fr/de)");
    in_eight.print("8-language market (de en es fr it nl pl pt)");
    Ok(())
}
