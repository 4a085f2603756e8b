//! Language of a comment: whatlang restricted to the market's languages, with explicit
//! fallbacks when it is unsure (short texts are the norm in CX feedback).

use serde::Serialize;
use whatlang::{Detector, Lang};

/// Which step decided the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// whatlang, reliable within the allowlist.
    Detector,
    /// The source's own language field.
    SourceHint,
    /// The market's main language.
    MarketDefault,
}

impl DecidedBy {
    /// Stable name, as stored in the warehouse.
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Detector => "detector",
            DecidedBy::SourceHint => "source_hint",
            DecidedBy::MarketDefault => "market_default",
        }
    }
}

/// The outcome for one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageGuess {
    /// ISO 639-1 code.
    pub code: String,
    /// whatlang's confidence (0-1) for its answer; 0 when a fallback decided.
    pub confidence: f64,
    /// Which step decided.
    pub decided_by: DecidedBy,
}

/// Detector for one market: its languages are the allowlist, the first is the default.
#[derive(Debug)]
pub struct MarketLanguages {
    detector: Option<Detector>,
    default: Option<String>,
}

/// ISO 639-1 codes Chorus maps to whatlang languages.
const CODES: &[(&str, Lang)] = &[
    ("ar", Lang::Ara),
    ("cs", Lang::Ces),
    ("da", Lang::Dan),
    ("de", Lang::Deu),
    ("el", Lang::Ell),
    ("en", Lang::Eng),
    ("es", Lang::Spa),
    ("fi", Lang::Fin),
    ("fr", Lang::Fra),
    ("he", Lang::Heb),
    ("hi", Lang::Hin),
    ("hu", Lang::Hun),
    ("it", Lang::Ita),
    ("ja", Lang::Jpn),
    ("ko", Lang::Kor),
    ("nl", Lang::Nld),
    ("pl", Lang::Pol),
    ("pt", Lang::Por),
    ("ro", Lang::Ron),
    ("ru", Lang::Rus),
    ("sv", Lang::Swe),
    ("tr", Lang::Tur),
    ("uk", Lang::Ukr),
    ("zh", Lang::Cmn),
];

/// whatlang language for an ISO 639-1 code.
pub fn lang_of(code: &str) -> Option<Lang> {
    CODES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, l)| *l)
}

fn code_of(lang: Lang) -> Option<&'static str> {
    CODES.iter().find(|(_, l)| *l == lang).map(|(c, _)| *c)
}

/// Texts shorter than this (in letters) are not given to the detector: too little evidence.
const MIN_LETTERS: usize = 3;

impl MarketLanguages {
    /// A detector for languages given as ISO 639-1 codes, main language first. Unknown codes
    /// are kept as the default but not detected.
    pub fn new(codes: &[String]) -> MarketLanguages {
        let langs: Vec<Lang> = codes.iter().filter_map(|c| lang_of(c)).collect();
        MarketLanguages {
            detector: (!langs.is_empty()).then(|| Detector::with_allowlist(langs)),
            default: codes.first().map(|c| c.to_ascii_lowercase()),
        }
    }

    /// The language of `text`, or `None` when there is no text worth a language (empty, only
    /// digits, emoji or punctuation) and no hint.
    pub fn detect(&self, text: &str, hint: Option<&str>) -> Option<LanguageGuess> {
        let letters = text.chars().filter(|c| c.is_alphabetic()).count();
        if letters < MIN_LETTERS {
            return hint.map(|h| fallback(h, DecidedBy::SourceHint));
        }
        if let Some(info) = self.detector.as_ref().and_then(|d| d.detect(text)) {
            if info.is_reliable() {
                if let Some(code) = code_of(info.lang()) {
                    return Some(LanguageGuess {
                        code: code.to_owned(),
                        confidence: info.confidence(),
                        decided_by: DecidedBy::Detector,
                    });
                }
            }
        }
        match (hint, &self.default) {
            (Some(hint), _) => Some(fallback(hint, DecidedBy::SourceHint)),
            (None, Some(default)) => Some(fallback(default, DecidedBy::MarketDefault)),
            (None, None) => None,
        }
    }
}

fn fallback(code: &str, decided_by: DecidedBy) -> LanguageGuess {
    LanguageGuess {
        code: code.trim().to_ascii_lowercase(),
        confidence: 0.0,
        decided_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn market(codes: &[&str]) -> MarketLanguages {
        MarketLanguages::new(&codes.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn a_clear_sentence_is_detected_within_the_allowlist() {
        let guess = market(&["fr", "de"])
            .detect(
                "Le conseiller était très aimable et a résolu mon problème rapidement.",
                None,
            )
            .unwrap();
        assert_eq!(
            (guess.code.as_str(), guess.decided_by),
            ("fr", DecidedBy::Detector)
        );
        assert!(guess.confidence > 0.0);
    }

    #[test]
    fn unsure_detection_falls_back_to_the_hint_then_the_market_language() {
        let swiss = market(&["de", "fr", "it"]);
        let hinted = swiss.detect("ok", Some("IT")).unwrap();
        assert_eq!(
            (hinted.code.as_str(), hinted.decided_by),
            ("it", DecidedBy::SourceHint)
        );
        let unhinted = swiss.detect("Top Service, danke", None).unwrap();
        assert_eq!(unhinted.code, "de");
    }

    #[test]
    fn texts_without_letters_get_no_language_unless_hinted() {
        let de = market(&["de"]);
        assert_eq!(de.detect("", None), None);
        assert_eq!(de.detect("10/10 👍👍", None), None);
        assert_eq!(
            de.detect("123", Some("de")).unwrap().decided_by,
            DecidedBy::SourceHint
        );
    }
}
