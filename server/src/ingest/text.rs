//! The text stage of ingest: redact, then tag. Runs after language detection (which sees
//! the original, for the most signal) and before storage, so no unredacted text reaches
//! the warehouse unless the market keeps originals.

use regex::Regex;

use crate::analysis::redact::{NamedPattern, Redactor};
use crate::analysis::topics::{Tagger, Taxonomy};
use crate::catalog::Market;
use crate::config::TextSettings;

/// Redactor and tagger, built once from the configuration.
#[derive(Debug)]
pub struct TextStage {
    redactor: Redactor,
    tagger: Option<Tagger>,
}

/// What the stage made of one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessedText {
    /// The text with PII replaced by placeholders.
    pub text: String,
    /// The original, where the market keeps it.
    pub original: Option<String>,
    /// Kinds of what was redacted, once per occurrence.
    pub redactions: Vec<String>,
    /// Topic ids the text mentions.
    pub topics: Vec<String>,
}

impl TextStage {
    /// Builds the stage from validated settings and an already loaded taxonomy.
    ///
    /// # Errors
    /// When a pattern or the taxonomy cannot be compiled.
    pub fn new(settings: &TextSettings, taxonomy: Option<&Taxonomy>) -> Result<TextStage, String> {
        let patterns = settings
            .redact_patterns
            .iter()
            .map(|(name, pattern)| {
                Regex::new(pattern)
                    .map(|regex| NamedPattern {
                        name: name.clone(),
                        regex,
                    })
                    .map_err(|e| format!("text.redact_patterns.{name}: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TextStage {
            redactor: Redactor::new(patterns),
            tagger: taxonomy.map(Tagger::new).transpose()?,
        })
    }

    /// A stage with the built-in redaction and no topics (tests, tools).
    pub fn redaction_only() -> TextStage {
        TextStage {
            redactor: Redactor::new(Vec::new()),
            tagger: None,
        }
    }

    /// Redacts and tags one text of `market` in `language`.
    pub fn process(&self, text: &str, language: Option<&str>, market: &Market) -> ProcessedText {
        let redacted = self.redactor.redact(text, &market.redact_terms);
        let topics = self.topics(&redacted.text, language);
        ProcessedText {
            original: (market.store_original_text && !redacted.kinds.is_empty())
                .then(|| text.to_owned()),
            text: redacted.text,
            redactions: redacted.kinds,
            topics,
        }
    }

    /// Topic ids of an (already redacted) text.
    pub fn topics(&self, text: &str, language: Option<&str>) -> Vec<String> {
        match (&self.tagger, language) {
            (Some(tagger), Some(language)) => tagger.tag(text, language),
            _ => Vec::new(),
        }
    }
}
