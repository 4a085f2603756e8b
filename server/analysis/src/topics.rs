//! Topic tagging: a taxonomy of CX topics with terms per language, matched on normalised
//! words (case, accents, stemming; see [`super::words`]) at word boundaries, multi-word terms
//! included, in one Aho-Corasick pass per text.
//!
//! Term syntax: `word` matches its stemmed forms; `pre*` any word starting with `pre` (for
//! compounds and languages without a stemmer); `=word` only that exact word, unstemmed (where a
//! stem would meet an unrelated word: German "Ware" and "war").
//!
//! Evidence: a topic is tagged on one of its `terms`, or on two different `weak` terms — words
//! that stand for the topic only in company ("fast" next to "queue" is about waiting, "fast"
//! alone praises anything; "store" alone is not about cleanliness).
//!
//! Negation ("nicht freundlich", "pas rapide", "not helpful") keeps the topic: the comment is
//! about that aspect all the same. Tagging makes no praise-or-complaint judgement from words;
//! the score beside the comment does (see `/topics`: NPS with and without the topic).

use std::collections::{BTreeMap, BTreeSet};

use aho_corasick::AhoCorasick;
use rust_stemmers::Stemmer;
use serde::Deserialize;

use super::words::{fold_accents, normalised_text, normalised_words, stemmer};

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
    /// Terms per ISO 639-1 language code: one is enough to tag the topic.
    pub terms: BTreeMap<String, Vec<String>>,
    /// Weak terms per language: two different ones are needed.
    #[serde(default)]
    pub weak: BTreeMap<String, Vec<String>>,
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
            for (language, terms) in topic.terms.iter().chain(&topic.weak) {
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
    /// Patterns over the stemmed words.
    stemmed: Patterns,
    /// Patterns over the exact words (`=word` terms); empty when the language has none.
    exact: Patterns,
    topic_ids: Vec<String>,
}

/// One automaton and what each of its patterns stands for.
struct Patterns {
    automaton: AhoCorasick,
    terms: Vec<Term>,
}

/// What a pattern stands for.
#[derive(Debug, Clone, Copy)]
struct Term {
    /// Index of the topic.
    topic: usize,
    /// Needs another weak term of the same topic.
    weak: bool,
    /// The same for terms whose patterns are equal ("pagare" and "pagamento" share a stem), so
    /// two weak terms are two different words.
    id: usize,
}

impl Patterns {
    fn new(patterns: &[String], terms: Vec<Term>) -> Result<Patterns, String> {
        Ok(Patterns {
            automaton: AhoCorasick::new(patterns).map_err(|e| e.to_string())?,
            terms,
        })
    }

    /// Terms found in `words` (a text's [`normalised_text`], normalised the way the patterns
    /// are).
    fn found(&self, words: &str) -> Vec<Term> {
        if self.terms.is_empty() {
            return Vec::new();
        }
        self.automaton
            .find_overlapping_iter(words)
            .map(|m| self.terms[m.pattern().as_usize()])
            .collect()
    }
}

impl std::fmt::Debug for LanguageTagger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanguageTagger")
            .field(
                "patterns",
                &(self.stemmed.terms.len() + self.exact.terms.len()),
            )
            .finish()
    }
}

impl Tagger {
    /// Compiles a taxonomy.
    ///
    /// # Errors
    /// When an automaton cannot be built (far beyond any realistic taxonomy size).
    pub fn new(taxonomy: &Taxonomy) -> Result<Tagger, String> {
        // (topic, weak, term) per language.
        let mut by_language: BTreeMap<&str, Vec<(usize, bool, &str)>> = BTreeMap::new();
        for (index, topic) in taxonomy.topics.iter().enumerate() {
            for (weak, terms) in [(false, &topic.terms), (true, &topic.weak)] {
                for (language, terms) in terms {
                    let entry = by_language.entry(language.as_str()).or_default();
                    entry.extend(terms.iter().map(|t| (index, weak, t.as_str())));
                }
            }
        }
        let topic_ids = taxonomy.ids();
        let mut languages = BTreeMap::new();
        for (language, terms) in by_language {
            let stemmer = stemmer(language);
            let (mut stemmed, mut exact) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
            let mut ids: BTreeMap<String, usize> = BTreeMap::new();
            for (topic, weak, term) in terms {
                let (text, patterns) = match term.trim().strip_prefix('=') {
                    Some(word) => (pattern(word, None), &mut exact),
                    None => (pattern(term, stemmer.as_ref()), &mut stemmed),
                };
                let next = ids.len();
                let id = *ids.entry(text.trim().to_owned()).or_insert(next);
                patterns.0.push(text);
                patterns.1.push(Term { topic, weak, id });
            }
            languages.insert(
                language.to_owned(),
                LanguageTagger {
                    stemmer,
                    stemmed: Patterns::new(&stemmed.0, stemmed.1)?,
                    exact: Patterns::new(&exact.0, exact.1)?,
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
        let stemmed_words = normalised_text(text, tagger.stemmer.as_ref());
        let exact_words = if tagger.exact.terms.is_empty() {
            String::new()
        } else {
            normalised_text(text, None)
        };
        let mut strong: BTreeSet<usize> = BTreeSet::new();
        let mut weak: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        let mut found = tagger.stemmed.found(&stemmed_words);
        found.extend(tagger.exact.found(&exact_words));
        for term in found {
            if term.weak {
                weak.entry(term.topic).or_default().insert(term.id);
            } else {
                strong.insert(term.topic);
            }
        }
        strong.extend(
            weak.into_iter()
                .filter(|(_, terms)| terms.len() >= 2)
                .map(|(topic, _)| topic),
        );
        strong
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

    fn weak_tagger() -> Tagger {
        let taxonomy: Taxonomy = toml::from_str(
            r#"
            [[topics]]
            id = "wait_time"
            name = "Wait time"
            terms.en = ["queue", "on hold"]
            weak.en = ["fast", "minutes", "long"]
            terms.it = ["attesa"]
            weak.it = ["pagare", "pagamento", "veloce"]
            [[topics]]
            id = "product_quality"
            name = "Product quality"
            terms.de = ["Qualität"]
            weak.de = ["=ware", "billig"]
            "#,
        )
        .unwrap();
        assert!(taxonomy.problems().is_empty(), "{:?}", taxonomy.problems());
        Tagger::new(&taxonomy).unwrap()
    }

    #[test]
    fn a_weak_term_needs_a_second_one() {
        let t = weak_tagger();
        assert!(t.tag("Fast delivery, thanks", "en").is_empty());
        assert_eq!(
            t.tag("Fast service, seen within minutes", "en"),
            ["wait_time"]
        );
        assert_eq!(
            t.tag("Long queue", "en"),
            ["wait_time"],
            "a strong term alone"
        );
        // The same word twice is one piece of evidence, and so are two terms sharing a
        // stem ("pagare", "pagamento" → "pag").
        assert!(t.tag("fast, fast, fast", "en").is_empty());
        assert!(t
            .tag("volevo pagare ma il pagamento non va", "it")
            .is_empty());
    }

    #[test]
    fn exact_terms_are_not_stemmed() {
        let t = weak_tagger();
        // "war" (was) has the stem of "Ware"; only the exact word counts.
        assert!(t.tag("Das war billig", "de").is_empty());
        assert_eq!(t.tag("Die Ware ist billig", "de"), ["product_quality"]);
    }

    #[test]
    fn negation_keeps_the_topic() {
        let taxonomy: Taxonomy =
            toml::from_str(include_str!("../../../config/taxonomy/cx.toml")).unwrap();
        let t = Tagger::new(&taxonomy).unwrap();
        for (language, text) in [
            ("de", "Die Dame war nicht freundlich"),
            ("fr", "Vendeur pas très aimable"),
            ("en", "The agent was not helpful at all"),
            ("es", "El dependiente no fue nada amable"),
        ] {
            assert_eq!(
                t.tag(text, language),
                ["staff_friendliness"],
                "[{language}] {text}"
            );
        }
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
        // Words that merely resemble a topic: "w porządku" is "fine", not tidiness; "Tutto in
        // ordine" is "all fine"; a fast delivery is not about waiting.
        for (language, text) in [
            ("pl", "Wszystko w porządku, dziękuję"),
            ("it", "Tutto in ordine"),
            ("es", "Todo en orden"),
            ("de", "War ok"),
        ] {
            assert!(
                t.tag(text, language).is_empty(),
                "[{language}] {text}: {:?}",
                t.tag(text, language)
            );
        }
        assert_eq!(t.tag("Fast delivery", "en"), ["delivery"]);
        // Word boundaries: "Appetit" is not the app, "sitemap" not the site.
        assert!(t.tag("Guten Appetit", "de").is_empty());
        assert!(!t
            .tag("See the sitemap", "en")
            .contains(&"app_website".to_string()));
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any text in any language: no panic, and only the taxonomy's topics, each once.
        #[test]
        fn any_text_gets_known_topics_once(
            text in "\\PC{0,120}|([a-zäöüéèàçñł]{1,12} ?){0,12}",
            language in "de|en|es|fr|it|nl|pl|pt|xx",
        ) {
            static SHIPPED: std::sync::LazyLock<(Taxonomy, Tagger)> = std::sync::LazyLock::new(|| {
                let taxonomy: Taxonomy =
                    toml::from_str(include_str!("../../../config/taxonomy/cx.toml")).unwrap();
                let tagger = Tagger::new(&taxonomy).unwrap();
                (taxonomy, tagger)
            });
            let (taxonomy, tagger) = &*SHIPPED;
            let topics = tagger.tag(&text, &language);
            let mut unique = topics.clone();
            unique.sort();
            unique.dedup();
            proptest::prop_assert_eq!(unique.len(), topics.len(), "{:?}", topics);
            for topic in &topics {
                proptest::prop_assert!(taxonomy.topics.iter().any(|t| &t.id == topic), "{}", topic);
            }
        }
    }
}
