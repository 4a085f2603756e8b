//! Function words as evidence of a language: articles, pronouns, prepositions and auxiliaries
//! are what a one-line comment still carries when it is too short for a trigram detector
//! ("het pakket", "não chegou", "nicht erreichbar"). The lists are published stop word lists,
//! compiled in (`config/languages/README.md` names their sources and licences).
//!
//! A word on the lists of several of a market's languages ("de" is Dutch, Spanish, French
//! and Portuguese) counts a share for each, so only words that tell the languages apart lead.

use std::collections::HashMap;

/// The lists, by ISO 639-1 code.
const LISTS: [(&str, &str); 8] = [
    (
        "de",
        include_str!("../../../config/languages/function-words-de.txt"),
    ),
    (
        "en",
        include_str!("../../../config/languages/function-words-en.txt"),
    ),
    (
        "es",
        include_str!("../../../config/languages/function-words-es.txt"),
    ),
    (
        "fr",
        include_str!("../../../config/languages/function-words-fr.txt"),
    ),
    (
        "it",
        include_str!("../../../config/languages/function-words-it.txt"),
    ),
    (
        "nl",
        include_str!("../../../config/languages/function-words-nl.txt"),
    ),
    (
        "pl",
        include_str!("../../../config/languages/function-words-pl.txt"),
    ),
    (
        "pt",
        include_str!("../../../config/languages/function-words-pt.txt"),
    ),
];

/// The function words of a market's languages.
#[derive(Debug)]
pub struct FunctionWords {
    codes: Vec<&'static str>,
    /// Word → the languages (indexes into `codes`, as bits; `LISTS` has fewer than 16) whose
    /// list holds it.
    owners: HashMap<&'static str, u16>,
}

/// The language whose function words weigh most in a text, and by how much.
#[derive(Debug, Clone, PartialEq)]
pub struct Lead {
    /// ISO 639-1 code.
    pub code: &'static str,
    /// Its weight: 1 per word only its list holds, 1/n per word n of the lists hold.
    pub weight: f64,
    /// Its weight minus the next language's.
    pub margin: f64,
    /// Its share of all function-word weight in the text (0-1).
    pub share: f64,
    /// Every language with a function word in the text (ISO 639-1 codes).
    pub present: Vec<&'static str>,
}

impl FunctionWords {
    /// Lists for `codes`; `None` with fewer than two languages, or when a language has no list
    /// (its words would be missing from the count, so another language would seem to lead).
    pub fn for_languages<'a>(codes: impl IntoIterator<Item = &'a str>) -> Option<FunctionWords> {
        let mut chosen: Vec<(&'static str, &'static str)> = Vec::new();
        for code in codes {
            let list = LISTS.iter().find(|(c, _)| *c == code)?;
            if !chosen.contains(list) {
                chosen.push(*list);
            }
        }
        if chosen.len() < 2 {
            return None;
        }
        let mut owners: HashMap<&'static str, u16> = HashMap::new();
        for (index, (_, list)) in chosen.iter().enumerate() {
            for word in list.lines().map(str::trim).filter(|w| !w.is_empty()) {
                *owners.entry(word).or_default() |= 1 << index;
            }
        }
        Some(FunctionWords {
            codes: chosen.iter().map(|(c, _)| *c).collect(),
            owners,
        })
    }

    /// The leading language, `None` when the text has no function word of these languages.
    pub fn lead(&self, text: &str) -> Option<Lead> {
        let mut weights = vec![0.0_f64; self.codes.len()];
        let mut lower = String::new();
        for word in text
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
        {
            lower.clear();
            lower.extend(word.chars().flat_map(char::to_lowercase));
            let Some(&bits) = self.owners.get(lower.as_str()) else {
                continue;
            };
            let share = 1.0 / f64::from(bits.count_ones());
            for (index, weight) in weights.iter_mut().enumerate() {
                if bits & (1 << index) != 0 {
                    *weight += share;
                }
            }
        }
        let total: f64 = weights.iter().sum();
        if total == 0.0 {
            return None;
        }
        let (best, weight) = weights
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let next = weights
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != best)
            .map(|(_, w)| *w)
            .fold(0.0, f64::max);
        Some(Lead {
            code: self.codes[best],
            weight,
            margin: weight - next,
            share: weight / total,
            present: (self.codes.iter().zip(&weights))
                .filter(|(_, w)| **w > 0.0)
                .map(|(c, _)| *c)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eight() -> FunctionWords {
        FunctionWords::for_languages(["de", "en", "es", "fr", "it", "nl", "pl", "pt"]).unwrap()
    }

    #[test]
    fn words_only_one_language_has_lead() {
        let lead = eight().lead("het pakket kwam niet").unwrap();
        assert_eq!(lead.code, "nl");
        assert!(lead.weight >= 2.0 && lead.margin >= 1.0, "{lead:?}");
        let lead = eight().lead("Não chegou NADA").unwrap();
        assert_eq!(lead.code, "pt", "{lead:?}");
    }

    #[test]
    fn a_word_shared_by_several_languages_is_shared_evidence() {
        // "de" is on the Dutch, Spanish, French and Portuguese lists: a quarter each.
        let lead = eight().lead("de").unwrap();
        assert!(
            (lead.weight - 0.25).abs() < 1e-9 && lead.margin == 0.0,
            "{lead:?}"
        );
        // Among German and English only, "in" is on both lists and says nothing.
        let two = FunctionWords::for_languages(["de", "en"]).unwrap();
        assert_eq!(two.lead("in").map(|l| l.margin), Some(0.0));
    }

    #[test]
    fn no_function_word_and_no_list_mean_no_lead() {
        assert_eq!(eight().lead("Lieferung 10/10 👍"), None);
        assert_eq!(eight().lead(""), None);
        assert!(FunctionWords::for_languages(["de", "sv"]).is_none());
        assert!(FunctionWords::for_languages(["de"]).is_none());
        assert!(FunctionWords::for_languages(["de", "pl"]).is_some());
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any text: no panic, and a lead is one of the market's languages with a share in 0-1.
        #[test]
        fn any_text_leads_to_a_market_language_or_none(text in "\\PC{0,120}") {
            let words = FunctionWords::for_languages(["de", "fr", "it"]).unwrap();
            if let Some(lead) = words.lead(&text) {
                proptest::prop_assert!(["de", "fr", "it"].contains(&lead.code));
                proptest::prop_assert!(lead.share > 0.0 && lead.share <= 1.0 + 1e-9, "{lead:?}");
                proptest::prop_assert!(lead.margin >= 0.0 && lead.weight >= lead.margin);
            }
        }
    }
}
