//! Topic tagging precision and recall against hand-labelled comments: each (comment, topic)
//! pair the tagger emits is a true or false positive; each labelled pair it misses is a
//! false negative. Tagged once in the labelled language (the taxonomy alone) and once in the
//! language detected in an 8-language market (as ingest would tag them there).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

use super::language::{market, EIGHT};
use super::{percent, read_labelled};
use crate::analysis::topics::{Tagger, Taxonomy};

#[derive(Default, Clone, Copy)]
struct Counts {
    comments: usize,
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
}

impl Counts {
    fn add(&mut self, labelled: &BTreeSet<String>, found: &BTreeSet<String>) {
        self.true_positives += labelled.intersection(found).count();
        self.false_positives += found.difference(labelled).count();
        self.false_negatives += labelled.difference(found).count();
    }

    fn line(&self, name: &str) -> String {
        let tp = self.true_positives;
        format!(
            "{:<24} {:>8} {:>5} {:>5} {:>5} {:>10} {:>8}",
            name,
            self.comments,
            tp,
            self.false_positives,
            self.false_negatives,
            percent(tp, tp + self.false_positives),
            percent(tp, tp + self.false_negatives)
        )
    }
}

pub fn run(set: &Path, taxonomy_path: &Path) -> anyhow::Result<()> {
    let taxonomy: Taxonomy = toml::from_str(
        &std::fs::read_to_string(taxonomy_path)
            .with_context(|| format!("cannot read {}", taxonomy_path.display()))?,
    )?;
    let known: BTreeSet<String> = taxonomy.ids().into_iter().collect();
    let tagger = Tagger::new(&taxonomy).map_err(anyhow::Error::msg)?;
    let rows = read_labelled(set)?;
    let mut by_language: BTreeMap<String, Counts> = BTreeMap::new();
    let mut by_topic: BTreeMap<String, Counts> = BTreeMap::new();
    let mut total = Counts::default();
    let (eight, mut detected_total) = (market(&EIGHT), Counts::default());
    let mut misses = Vec::new();
    for (number, row) in rows.iter().enumerate() {
        let (language, text) = (&row.language, &row.text);
        let Some(labels) = &row.topics else {
            anyhow::bail!("{}: the header names no `topics` column", set.display());
        };
        let labelled: BTreeSet<String> = labels
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != "-")
            .map(str::to_owned)
            .collect();
        if let Some(unknown) = labelled.iter().find(|t| !known.contains(*t)) {
            anyhow::bail!(
                "{}: row {}: unknown topic {unknown:?}",
                set.display(),
                number + 2
            );
        }
        let found: BTreeSet<String> = tagger.tag(text, language).into_iter().collect();
        let detected: BTreeSet<String> = eight
            .detect(text, None)
            .map(|guess| tagger.tag(text, &guess.code))
            .unwrap_or_default()
            .into_iter()
            .collect();
        detected_total.comments += 1;
        detected_total.add(&labelled, &detected);
        let entry = by_language.entry(language.clone()).or_default();
        entry.comments += 1;
        entry.add(&labelled, &found);
        total.comments += 1;
        total.add(&labelled, &found);
        for topic in labelled.union(&found) {
            let one = BTreeSet::from([topic.clone()]);
            let counts = by_topic.entry(topic.clone()).or_default();
            counts.comments += usize::from(labelled.contains(topic));
            counts.add(
                &labelled.intersection(&one).cloned().collect(),
                &found.intersection(&one).cloned().collect(),
            );
        }
        if labelled != found {
            misses.push(format!(
                "  [{language}] {text}\n      labelled {labelled:?}, tagged {found:?}"
            ));
        }
    }
    let header = format!(
        "{:<24} {:>8} {:>5} {:>5} {:>5} {:>10} {:>8}",
        "", "comments", "TP", "FP", "FN", "precision%", "recall%"
    );
    println!("{} labelled comments from {}\n", rows.len(), set.display());
    println!("{header}");
    for (language, counts) in &by_language {
        println!("{}", counts.line(language));
    }
    println!("{}", total.line("all"));
    println!(
        "{}  (language detected in the 8-language market)",
        detected_total.line("all, detected")
    );
    println!("\nper topic (comments = labelled with it)\n{header}");
    for (topic, counts) in &by_topic {
        println!("{}", counts.line(topic));
    }
    if std::env::var_os("CHORUS_EVAL_SHOW_MISSES").is_some() {
        println!("\ndisagreements:\n{}", misses.join("\n"));
    } else {
        println!(
            "\n{} comments disagree with their labels; set CHORUS_EVAL_SHOW_MISSES=1 to list them",
            misses.len()
        );
    }
    Ok(())
}
