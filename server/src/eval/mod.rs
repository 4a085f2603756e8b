//! `chorus eval`: accuracy of the text stage on labelled sets, printed as tables.
//!
//! - `eval language --set FILE` (TSV `language<TAB>text`): detection per language without
//!   restriction, within the eight taxonomy languages, and as Chorus runs it in a market
//!   (its languages + fallbacks).
//! - `eval topics --set FILE` (TSV `language<TAB>topics<TAB>text`, topics comma-separated or
//!   `-`): tagging precision and recall per language and per topic.

mod language;
mod topics;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// What to evaluate.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Language detection accuracy.
    Language {
        /// Labelled set (`config/eval/build_language_set.py` builds one).
        #[arg(long, default_value = "data/eval/language-set.tsv")]
        set: PathBuf,
    },
    /// Topic tagging precision and recall with the configured taxonomy.
    Topics {
        /// Labelled set.
        #[arg(long, default_value = "config/eval/topics-set.tsv")]
        set: PathBuf,
        /// Taxonomy file.
        #[arg(long, default_value = "config/taxonomy/cx.toml")]
        taxonomy: PathBuf,
    },
}

/// Runs an evaluation and prints its report.
///
/// # Errors
/// When a file cannot be read or parsed.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Language { set } => language::run(&set),
        EvalCommand::Topics { set, taxonomy } => topics::run(&set, &taxonomy),
    }
}

/// Rows of a TSV file with a header line, each split into at most `columns` fields.
fn read_tsv(path: &Path, columns: usize) -> anyhow::Result<Vec<Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<String> = line.splitn(columns, '\t').map(str::to_owned).collect();
        anyhow::ensure!(
            fields.len() == columns,
            "{}:{}: expected {columns} tab-separated fields",
            path.display(),
            number + 1
        );
        rows.push(fields);
    }
    Ok(rows)
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}", 100.0 * part as f64 / whole as f64)
    }
}
