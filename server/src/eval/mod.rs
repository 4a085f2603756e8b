//! `chorus eval`: accuracy of the text stage on labelled sets, printed as tables.
//!
//! Sets are TSV files with a header naming the columns `language`, `text` and (for topics)
//! `topics`, comma-separated topic ids or `-` for none; `config/eval/README.md` describes the
//! shipped ones.
//!
//! - `eval language --set FILE`: detection as ingest runs it, in 2-, 3- and 8-language markets,
//!   with the share each step of the chain decided.
//! - `eval topics --set FILE`: tagging precision and recall per language and per topic.

mod language;
mod topics;

use std::path::{Path, PathBuf};

use anyhow::Context;

/// What to evaluate.
#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Language detection accuracy.
    Language {
        /// Labelled set.
        #[arg(long, default_value = "config/eval/cx-comments-test.tsv")]
        set: PathBuf,
    },
    /// Topic tagging precision and recall with the configured taxonomy.
    Topics {
        /// Labelled set.
        #[arg(long, default_value = "config/eval/cx-comments-test.tsv")]
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

/// One labelled comment.
struct Labelled {
    language: String,
    /// The `topics` cell, when the set has that column.
    topics: Option<String>,
    text: String,
}

/// The rows of a labelled TSV set; its header line names the columns.
fn read_labelled(path: &Path) -> anyhow::Result<Vec<Labelled>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines
        .next()
        .map(|(_, h)| h.split('\t').map(str::trim).collect())
        .unwrap_or_default();
    let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let (Some(language), Some(text_at)) = (column("language"), column("text")) else {
        anyhow::bail!(
            "{}: the header must name the columns `language` and `text`",
            path.display()
        );
    };
    let topics = column("topics");
    let mut rows = Vec::new();
    for (number, line) in lines {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        anyhow::ensure!(
            fields.len() == header.len(),
            "{}:{}: expected {} tab-separated fields",
            path.display(),
            number + 1,
            header.len()
        );
        rows.push(Labelled {
            language: fields[language].trim().to_ascii_lowercase(),
            topics: topics.map(|t| fields[t].to_owned()),
            text: fields[text_at].to_owned(),
        });
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
