//! Topic tagging: a taxonomy of CX topics with terms per language, matched on normalised
//! words (case, accents, stemming; see [`super::words`]) at word boundaries, multi-word terms
//! included, in one Aho-Corasick pass per text. A term ending in `*` matches any word that
//! starts with it (for compounds and for languages without a stemmer).
//!
//! Negation is not handled: "not late" mentions delivery time just like "late" does, which
//! is what a driver analysis wants anyway (the topic is talked about).

use std::collections::{BTreeMap, BTreeSet};

use aho_corasick::AhoCorasick;
use rust_stemmers::Stemmer;
use serde::Deserialize;

use super::words::{fold_accents, normalised_words, stemmer};

/// The taxonomy file (`config/taxonomy/*.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taxonomy {
    /// Topics in display order.
    pub topics: Vec<Topic>,
}

/// One topic.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    /// Identifier stored on records, `[a-z0-9_]+`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Terms per ISO 639-1 language code.
    pub terms: BTreeMap<String, Vec<String>>,
}

impl Taxonomy {
    /// Problems with ids and terms, for `check-config`.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut ids = BTreeSet::new();
        for topic in &self.topics {
            let valid = !topic.id.is_empty()
                && topic
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                problems.push(format!("topic id {:?} must match [a-z0-9_]+", topic.id));
            }
            if !ids.insert(&topic.id) {
                problems.push(format!("topic {}: duplicate id", topic.id));
            }
            for (language, terms) in &topic.terms {
                if let Some(bad) = terms.iter().find(|t| normalised_words(t, None).is_empty()) {
                    problems.push(format!(
                        "topic {}: {language} term {bad:?} has no words",
                        topic.id
                    ));
                }
            }
        }
        problems
    }

    /// Topic ids in order.
    pub fn ids(&self) -> Vec<String> {
        self.topics.iter().map(|t| t.id.clone()).collect()
    }
}

/// The taxonomy compiled per language.
#[derive(Debug)]
pub struct Tagger {
    languages: BTreeMap<String, LanguageTagger>,
}

struct LanguageTagger {
    stemmer: Option<Stemmer>,
    automaton: AhoCorasick,
    /// Topic index of each pattern.
    topic_of_pattern: Vec<usize>,
    topic_ids: Vec<String>,
}

impl std::fmt::Debug for LanguageTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageTagger")
            .field("patterns", &self.topic_of_pattern.len())
            .finish()
    }
}

impl Tagger {
    /// Compiles a taxonomy.
    ///
    /// # Errors
    /// When an automaton cannot be built (far beyond any realistic taxonomy size).
    pub fn new(taxonomy: &Taxonomy) -> Result<Tagger, String> {
        let mut by_language: BTreeMap<&str, Vec<(usize, &str)>> = BTreeMap::new();
        for (index, topic) in taxonomy.topics.iter().enumerate() {
            for (language, terms) in &topic.terms {
                let entry = by_language.entry(language.as_str()).or_default();
                entry.extend(terms.iter().map(|t| (index, t.as_str())));
            }
        }
        let topic_ids = taxonomy.ids();
        let mut languages = BTreeMap::new();
        for (language, terms) in by_language {
            let stemmer = stemmer(language);
            let mut patterns = Vec::new();
            let mut topic_of_pattern = Vec::new();
            for (topic, term) in terms {
                patterns.push(pattern(term, stemmer.as_ref()));
                topic_of_pattern.push(topic);
            }
            let automaton = AhoCorasick::new(&patterns).map_err(|e| e.to_string())?;
            languages.insert(
                language.to_owned(),
                LanguageTagger {
                    stemmer,
                    automaton,
                    topic_of_pattern,
                    topic_ids: topic_ids.clone(),
                },
            );
        }
        Ok(Tagger { languages })
    }

    /// Topic ids mentioned by `text` in `language`, in taxonomy order; none when the
    /// taxonomy has no terms in that language.
    pub fn tag(&self, text: &str, language: &str) -> Vec<String> {
        let Some(tagger) = self.languages.get(language) else {
            return Vec::new();
        };
        let words = normalised_words(text, tagger.stemmer.as_ref());
        if words.is_empty() {
            return Vec::new();
        }
        let haystack = format!(" {} ", words.join(" "));
        let found: BTreeSet<usize> = tagger
            .automaton
            .find_overlapping_iter(&haystack)
            .map(|m| tagger.topic_of_pattern[m.pattern().as_usize()])
            .collect();
        found
            .into_iter()
            .map(|i| tagger.topic_ids[i].clone())
            .collect()
    }

    /// Languages with terms.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }
}

/// " w1 w2 " for a whole-word term; " w1 pre" for a prefix term (`pre*`).
fn pattern(term: &str, stemmer: Option<&Stemmer>) -> String {
    let term = term.trim();
    match term.strip_suffix('*') {
        Some(prefix) => {
            let mut words = normalised_words(prefix, None);
            let last = words.pop().unwrap_or_default();
            let mut stemmed = normalised_words(&words.join(" "), stemmer);
            stemmed.push(fold_accents(&last));
            format!(" {}", stemmed.join(" "))
        }
        None => format!(" {} ", normalised_words(term, stemmer).join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagger() -> Tagger {
        let taxonomy: Taxonomy = toml::from_str(
            r#"
            [[topics]]
            id = "delivery"
            name = "Delivery"
            terms.de = ["Lieferung", "Paket", "Liefer*"]
            terms.en = ["delivery", "parcel", "arrived late"]
            terms.pl = ["dostaw*", "przesyłk*", "kurier*"]
            [[topics]]
            id = "billing"
            name = "Price and billing"
            terms.de = ["Rechnung", "zu teuer"]
            terms.en = ["invoice", "bill", "overcharged"]
            terms.fr = ["facture", "prix"]
            "#,
        )
        .unwrap();
        assert!(taxonomy.problems().is_empty());
        Tagger::new(&taxonomy).unwrap()
    }

    #[test]
    fn inflected_forms_case_and_accents_match() {
        let t = tagger();
        assert_eq!(t.tag("Die LIEFERUNGEN kamen spät", "de"), ["delivery"]);
        assert_eq!(t.tag("Les factures sont fausses", "fr"), ["billing"]);
        assert_eq!(t.tag("FACTURE erronee", "fr"), ["billing"]);
        assert_eq!(t.tag("Przesylka dotarla uszkodzona", "pl"), ["delivery"]);
        assert_eq!(t.tag("Kurierzy są mili", "pl"), ["delivery"]);
    }

    #[test]
    fn multi_word_terms_and_several_topics() {
        let t = tagger();
        assert_eq!(t.tag("The parcel arrived late.", "en"), ["delivery"]);
        assert_eq!(
            t.tag("Lieferzeit ok, aber die Rechnung ist zu teuer", "de"),
            ["delivery", "billing"]
        );
    }

    #[test]
    fn no_match_inside_longer_words_or_in_other_languages() {
        let t = tagger();
        // "bill" must not match inside "billion" or "billiards"; "prix" not in "prixe".
        assert!(t
            .tag("A billion thanks for the billiards table", "en")
            .is_empty());
        assert!(
            t.tag("Sehr teuer", "de").is_empty(),
            "'zu teuer' needs both words"
        );
        assert!(
            t.tag("invoice", "de").is_empty(),
            "English terms only for English"
        );
        assert!(t.tag("invoice", "xx").is_empty());
        assert!(t.tag("", "en").is_empty());
    }

    #[test]
    fn bad_ids_and_empty_terms_are_reported() {
        let taxonomy: Taxonomy = toml::from_str(
            r#"
            [[topics]]
            id = "Bad Id"
            name = "x"
            terms.en = ["ok", "!!"]
            [[topics]]
            id = "Bad Id"
            name = "y"
            terms = {}
            "#,
        )
        .unwrap();
        let problems = taxonomy.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    /// The shipped taxonomy: inflected, upper-case and accent-less forms in every language.
    #[test]
    fn the_shipped_taxonomy_tags_every_language() {
        let taxonomy: Taxonomy =
            toml::from_str(include_str!("../../../config/taxonomy/cx.toml")).unwrap();
        assert!(taxonomy.problems().is_empty(), "{:?}", taxonomy.problems());
        assert_eq!(taxonomy.topics.len(), 10);
        let t = Tagger::new(&taxonomy).unwrap();
        for (language, text, topic) in [
            ("de", "Die RÜCKERSTATTUNGEN dauern", "returns_refunds"),
            ("de", "Lieferzeiten sind ein Witz", "delivery"),
            ("en", "Two REFUNDS still missing", "returns_refunds"),
            ("fr", "Les factures etaient fausses", "price_billing"),
            ("es", "Los paquetes llegaron tarde", "delivery"),
            ("it", "Le commesse erano GENTILISSIME", "staff_friendliness"),
            ("it", "Commessa gentile", "staff_friendliness"),
            ("nl", "De bezorging was snel", "delivery"),
            ("pl", "Przesyłki dotarły uszkodzone", "delivery"),
            ("pl", "Przesylki dotarly", "delivery"),
            ("pt", "As faturas estavam erradas", "price_billing"),
        ] {
            assert!(
                t.tag(text, language).iter().any(|found| found == topic),
                "[{language}] {text:?} → {:?}, expected {topic}",
                t.tag(text, language)
            );
        }
        // Word boundaries: "Appetit" is not the app, "sitemap" not the site.
        assert!(t.tag("Guten Appetit", "de").is_empty());
        assert!(!t
            .tag("See the sitemap", "en")
            .contains(&"app_website".to_string()));
    }
}
