//! Language of a comment. Short texts are the norm in CX feedback, so detection is a chain
//! of steps, each recorded in `language_decided_by`:
//!
//! 1. whatlang restricted to the market's languages, when it is sure (`detector`);
//! 2. its answer when it is unsure but clearly ahead (`detector_lead`);
//! 3. the market's function words (`function_words`, [`super::function_words`]) when one
//!    language's lead by at least a whole word, or any lead that agrees with whatlang's unsure
//!    answer;
//! 4. lingua, a detector built for short texts, restricted to the market's languages
//!    (`second_detector`), when its best language leads the next one clearly; where whatlang's
//!    unsure answer and the function words name some of them, to those (lingua's cost grows
//!    with every language it weighs);
//! 5. the source's language hint (`source_hint`), then the market's main language
//!    (`market_default`).
//!
//! whatlang stays the first step because it is several times faster; lingua, ten times
//! costlier than whatlang on a one-liner, runs only on the texts neither whatlang nor the
//! function words decide. A single-language market runs no detector at all.

use super::function_words::{FunctionWords, Lead};
use lingua::{IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder};
use serde::Serialize;
use whatlang::{Detector, Lang, Script};

/// Which step decided the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// whatlang, reliable within the allowlist.
    Detector,
    /// whatlang unsure, but its answer leads clearly.
    DetectorLead,
    /// The market's function words.
    FunctionWords,
    /// lingua, within the allowlist.
    SecondDetector,
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
            DecidedBy::DetectorLead => "detector_lead",
            DecidedBy::FunctionWords => "function_words",
            DecidedBy::SecondDetector => "second_detector",
            DecidedBy::SourceHint => "source_hint",
            DecidedBy::MarketDefault => "market_default",
        }
    }

    /// Every step, in the order they are tried.
    pub const ALL: [DecidedBy; 6] = [
        DecidedBy::Detector,
        DecidedBy::DetectorLead,
        DecidedBy::FunctionWords,
        DecidedBy::SecondDetector,
        DecidedBy::SourceHint,
        DecidedBy::MarketDefault,
    ];
}

/// The outcome for one text.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LanguageGuess {
    /// ISO 639-1 code.
    pub code: String,
    /// The deciding detector's confidence (0-1) in its answer; 0 when a fallback decided.
    pub confidence: f64,
    /// Which step decided.
    pub decided_by: DecidedBy,
}

/// Detector for one market: its languages (plus the global ones) are the allowlist, the
/// first is the default.
pub struct MarketLanguages {
    /// `None` with fewer than two languages: whatlang then always answers the only one with
    /// full confidence, which would pass a default off as a detection.
    detector: Option<Detector>,
    /// Function words of the allowed languages; `None` unless each has a list.
    function_words: Option<FunctionWords>,
    /// lingua over the allowed languages it has models for; `None` with fewer than two.
    second: Option<LanguageDetector>,
    /// Those languages, by ISO 639-1 code, for lingua restricted to some of them.
    second_languages: Vec<(&'static str, Language)>,
    default: Option<String>,
    /// Scripts the allowlisted languages are written in.
    scripts: Vec<Script>,
}

impl std::fmt::Debug for MarketLanguages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarketLanguages")
            .field("detector", &self.detector)
            .field("function_words", &self.function_words.is_some())
            .field("second", &self.second.is_some())
            .field("default", &self.default)
            .field("scripts", &self.scripts)
            .finish()
    }
}

/// whatlang's confidence above which an unsure answer still counts as clearly ahead. On
/// `config/eval/cx-comments-dev.tsv`, whatlang's unsure answers from 0.3 up were right as
/// often as lingua's (98 %; all of them in 2- and 3-language markets), below it far less.
/// Every text decided here is one that lingua, several times costlier, need not see:
/// lowering this from 0.7 to 0.3 took `chorus bench text` from 0.46× to 0.71× the
/// throughput of whatlang alone in a 2-language market.
const LEAD_CONFIDENCE: f64 = 0.3;

/// A language whose function words outweigh every other's by this many words decides on
/// its own (98 % right of the texts it decided on the dev half, where lingua was right 90 %
/// of the time on the same kind of texts).
const FUNCTION_WORDS_MARGIN: f64 = 1.0;

/// How far lingua's best language must lead the next (difference of their confidence values,
/// which sum to 1) for lingua to decide. Small: on the evaluation set lingua's best guess was
/// right far more often than the market default (tuned on `config/eval/cx-comments-dev.tsv`).
const SECOND_LEAD: f64 = 0.02;

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

/// The scripts a language is written in.
fn scripts_of(lang: Lang) -> &'static [Script] {
    match lang {
        Lang::Ara => &[Script::Arabic],
        Lang::Ell => &[Script::Greek],
        Lang::Heb => &[Script::Hebrew],
        Lang::Hin => &[Script::Devanagari],
        Lang::Jpn => &[Script::Hiragana, Script::Katakana, Script::Mandarin],
        Lang::Kor => &[Script::Hangul],
        Lang::Rus | Lang::Ukr => &[Script::Cyrillic],
        Lang::Cmn => &[Script::Mandarin],
        _ => &[Script::Latin],
    }
}

/// ISO 639-1 code of a whatlang language Chorus knows.
pub fn code_of(lang: Lang) -> Option<&'static str> {
    CODES.iter().find(|(_, l)| *l == lang).map(|(c, _)| *c)
}

/// Texts shorter than this (in letters) are not given to the detector: too little evidence.
const MIN_LETTERS: usize = 3;

impl MarketLanguages {
    /// A detector for a market's languages given as ISO 639-1 codes, main language first,
    /// plus `global` languages allowed in every market. Unknown codes are kept as the
    /// default but not detected.
    pub fn new(codes: &[String], global: &[String]) -> MarketLanguages {
        let mut langs: Vec<Lang> = Vec::new();
        for lang in codes.iter().chain(global).filter_map(|c| lang_of(c)) {
            if !langs.contains(&lang) {
                langs.push(lang);
            }
        }
        let mut scripts: Vec<Script> = Vec::new();
        for script in langs.iter().flat_map(|l| scripts_of(*l)) {
            if !scripts.contains(script) {
                scripts.push(*script);
            }
        }
        let second_languages: Vec<(&'static str, Language)> = langs
            .iter()
            .filter_map(|l| {
                let code = code_of(*l)?;
                let iso: IsoCode639_1 = code.parse().ok()?;
                Some((code, Language::from_iso_code_639_1(&iso)))
            })
            .collect();
        let lingua: Vec<Language> = second_languages.iter().map(|(_, l)| *l).collect();
        MarketLanguages {
            function_words: FunctionWords::for_languages(langs.iter().filter_map(|l| code_of(*l))),
            second: (lingua.len() > 1)
                .then(|| LanguageDetectorBuilder::from_languages(&lingua).build()),
            second_languages,
            detector: (langs.len() > 1).then(|| Detector::with_allowlist(langs)),
            default: codes.first().map(|c| c.to_ascii_lowercase()),
            scripts,
        }
    }

    /// The same chain with whatlang as its only detector: what ingest ran before function
    /// words and lingua, kept for `chorus bench text` to measure what they cost.
    #[must_use]
    pub fn whatlang_only(self) -> MarketLanguages {
        MarketLanguages {
            second: None,
            ..self.without_function_words()
        }
    }

    /// The chain without its function-word step, for `chorus bench text`.
    #[must_use]
    pub fn without_function_words(mut self) -> MarketLanguages {
        self.function_words = None;
        self
    }

    /// The language of `text`, or `None` when there is no text worth a language (empty, only
    /// digits, emoji or punctuation) and no hint.
    pub fn detect(&self, text: &str, hint: Option<&str>) -> Option<LanguageGuess> {
        // Counting stops at the threshold: a comment is not scanned twice for it.
        let letters = text.chars().filter(|c| c.is_alphabetic()).take(MIN_LETTERS);
        if letters.count() < MIN_LETTERS {
            return hint.map(|h| fallback(h, DecidedBy::SourceHint));
        }
        let first = self.detector.as_ref().and_then(|d| d.detect(text));
        // Written in a script none of the market's languages uses (a Russian comment in
        // Germany): the market's languages say nothing, so ask the unrestricted detector and
        // believe it only when it is sure; never assume the market's language. (An answer of
        // the market's detector is in one of their scripts: the script is only looked up
        // without one.)
        let script = match &first {
            Some(_) => None,
            None => whatlang::detect_script(text),
        };
        if let Some(script) = script {
            if !self.scripts.is_empty() && !self.scripts.contains(&script) {
                let all = Detector::with_allowlist(CODES.iter().map(|(_, l)| *l).collect());
                return all
                    .detect(text)
                    .filter(whatlang::Info::is_reliable)
                    .and_then(|info| {
                        Some(LanguageGuess {
                            code: code_of(info.lang())?.to_owned(),
                            confidence: info.confidence(),
                            decided_by: DecidedBy::Detector,
                        })
                    })
                    .or_else(|| hint.map(|h| fallback(h, DecidedBy::SourceHint)));
            }
        }
        if let Some(info) = &first {
            let decided_by = if info.is_reliable() {
                Some(DecidedBy::Detector)
            } else {
                (info.confidence() >= LEAD_CONFIDENCE).then_some(DecidedBy::DetectorLead)
            };
            if let (Some(decided_by), Some(code)) = (decided_by, code_of(info.lang())) {
                return Some(LanguageGuess {
                    code: code.to_owned(),
                    confidence: info.confidence(),
                    decided_by,
                });
            }
        }
        let unsure = first.and_then(|info| code_of(info.lang()));
        let lead = self.function_words.as_ref().and_then(|w| w.lead(text));
        if let Some(guess) = lead.as_ref().and_then(|l| by_function_words(l, unsure)) {
            return Some(guess);
        }
        if let Some(guess) = self.second_opinion(text, unsure, lead.as_ref()) {
            return Some(guess);
        }
        match (hint, &self.default) {
            (Some(hint), _) => Some(fallback(hint, DecidedBy::SourceHint)),
            (None, Some(default)) => Some(fallback(default, DecidedBy::MarketDefault)),
            (None, None) => None,
        }
    }
}

impl MarketLanguages {
    /// lingua's answer, weighing only the languages whatlang's unsure answer and the function
    /// words name when they name at least two (on the dev half as often right as weighing all
    /// of them, and in an 8-language market about twice as fast), otherwise all of them.
    fn second_opinion(
        &self,
        text: &str,
        unsure: Option<&str>,
        lead: Option<&Lead>,
    ) -> Option<LanguageGuess> {
        let all = self.second.as_ref()?;
        let named: Vec<Language> = self
            .second_languages
            .iter()
            .filter(|(code, _)| {
                unsure == Some(*code) || lead.is_some_and(|l| l.present.contains(code))
            })
            .map(|(_, language)| *language)
            .collect();
        if named.len() > 1 && named.len() < self.second_languages.len() {
            // Cheap: the models are loaded once per process and shared by every detector.
            let some = LanguageDetectorBuilder::from_languages(&named).build();
            second_opinion(&some, text)
        } else {
            second_opinion(all, text)
        }
    }
}

/// The language the function words point to: by a whole word or more, or by any margin
/// when whatlang's unsure answer (`unsure`) is the same language. Confidence: its share of
/// the function-word weight.
fn by_function_words(lead: &Lead, unsure: Option<&str>) -> Option<LanguageGuess> {
    let decides = (lead.weight >= 1.0 && lead.margin >= FUNCTION_WORDS_MARGIN)
        || (lead.margin > 0.0 && unsure == Some(lead.code));
    decides.then(|| LanguageGuess {
        code: lead.code.to_owned(),
        confidence: lead.share,
        decided_by: DecidedBy::FunctionWords,
    })
}

/// lingua's answer when its best language leads the next one clearly.
fn second_opinion(detector: &LanguageDetector, text: &str) -> Option<LanguageGuess> {
    let values = detector.compute_language_confidence_values(text);
    let (best, confidence) = *values.first()?;
    let next = values.get(1).map_or(0.0, |(_, c)| *c);
    (confidence - next >= SECOND_LEAD).then(|| LanguageGuess {
        code: best.iso_code_639_1().to_string(),
        confidence,
        decided_by: DecidedBy::SecondDetector,
    })
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
        MarketLanguages::new(
            &codes.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>(),
            &[],
        )
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
        // No lingua model for Swedish or Danish, and whatlang is unsure: the hint, then the
        // market's main language, each marked as such.
        let nordic = market(&["sv", "da"]);
        let hinted = nordic.detect("Super service", Some("da")).unwrap();
        assert_eq!(
            (hinted.code.as_str(), hinted.decided_by),
            ("da", DecidedBy::SourceHint)
        );
        let unhinted = nordic.detect("Super service", None).unwrap();
        assert_eq!(
            (
                unhinted.code.as_str(),
                unhinted.decided_by,
                unhinted.confidence
            ),
            ("sv", DecidedBy::MarketDefault, 0.0)
        );
    }

    #[test]
    fn a_text_in_a_foreign_script_is_not_given_the_market_language() {
        let de = market(&["de", "en"]);
        let russian = de
            .detect(
                "Очень медленная доставка, посылка пришла через две недели.",
                None,
            )
            .unwrap();
        assert_eq!(
            (russian.code.as_str(), russian.decided_by),
            ("ru", DecidedBy::Detector)
        );
        // Too short to be sure in a foreign script: no language rather than a wild guess.
        assert_eq!(de.detect("Спасибо", None), None);
        // Mixed scripts: the dominant one decides.
        let mostly_german = de
            .detect(
                "Die Lieferung war schnell und der Fahrer sehr nett, спасибо",
                None,
            )
            .unwrap();
        assert_eq!(mostly_german.code, "de");
    }

    #[test]
    fn global_languages_join_every_market() {
        let with_english = MarketLanguages::new(&["pl".into()], &["en".into()]);
        let guess = with_english
            .detect(
                "The courier was very friendly and the parcel arrived a day early.",
                None,
            )
            .unwrap();
        assert_eq!(
            (guess.code.as_str(), guess.decided_by),
            ("en", DecidedBy::Detector)
        );
        // With one language there is nothing to detect: the market default decides, and
        // says so.
        let polish_only = market(&["pl"]);
        assert_eq!(
            polish_only
                .detect(
                    "The courier was very friendly and the parcel arrived a day early.",
                    None
                )
                .map(|g| g.decided_by),
            Some(DecidedBy::MarketDefault),
        );
    }

    #[test]
    fn short_comments_in_a_multilingual_market_get_their_own_language() {
        let swiss = market(&["de", "fr", "it"]);
        for (language, text) in [
            ("de", "Kam pünktlich an, danke"),
            ("fr", "livraison rapide, merci beaucoup"),
            ("it", "consegna puntuale, grazie"),
            ("it", "servizio veloce, bravi"),
            ("fr", "tres bon accueil"),
        ] {
            let guess = swiss.detect(text, None).unwrap();
            assert_eq!(guess.code, language, "{text}: {guess:?}");
            assert!(
                matches!(
                    guess.decided_by,
                    DecidedBy::Detector
                        | DecidedBy::DetectorLead
                        | DecidedBy::FunctionWords
                        | DecidedBy::SecondDetector
                ),
                "{text}: decided by a detector, not a fallback: {guess:?}"
            );
        }
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

    #[test]
    fn each_of_the_eight_languages_is_detected_in_a_multilingual_market() {
        let everywhere = market(&["de", "en", "es", "fr", "it", "nl", "pl", "pt"]);
        for (language, text) in [
            ("de", "Die Lieferung kam zwei Tage zu spät und niemand hat mich informiert."),
            ("en", "The delivery arrived two days late and nobody told me anything."),
            ("es", "El pedido llegó dos días tarde, el repartidor fue muy antipático y nadie me avisó."),
            ("fr", "La livraison est arrivée avec deux jours de retard et personne ne m'a prévenu."),
            ("it", "La consegna è arrivata con due giorni di ritardo e nessuno mi ha avvisato."),
            ("nl", "De levering kwam twee dagen te laat en niemand heeft me iets laten weten."),
            ("pl", "Dostawa przyszła dwa dni później i nikt mnie o tym nie poinformował."),
            ("pt", "A entrega chegou com dois dias de atraso e ninguém me avisou de nada."),
        ] {
            let guess = everywhere.detect(text, None).unwrap();
            assert_eq!(
                (guess.code.as_str(), guess.decided_by),
                (language, DecidedBy::Detector),
                "{text}"
            );
        }
        // Two words say too little: the main language, and the record says so.
        let short = everywhere.detect("super service", None).unwrap();
        assert_ne!(short.decided_by, DecidedBy::Detector, "{short:?}");
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz::config())]

        /// Any text, hint or none: no panic; the answer is an allowed language, the hint, or
        /// (for a foreign script) a language Chorus knows; only fallbacks have no confidence.
        #[test]
        fn any_text_gets_an_allowed_language_or_none(
            text in "\\PC{0,80}|[a-zäöüéèàçñ ,.!?]{0,40}",
            hint in proptest::option::of("[a-z]{2}"),
        ) {
            static SWISS: std::sync::LazyLock<MarketLanguages> =
                std::sync::LazyLock::new(|| market(&["de", "fr", "it", "en"]));
            if let Some(guess) = SWISS.detect(&text, hint.as_deref()) {
                proptest::prop_assert!((0.0..=1.0).contains(&guess.confidence), "{guess:?}");
                match guess.decided_by {
                    DecidedBy::SourceHint => {
                        proptest::prop_assert_eq!(Some(guess.code.as_str()), hint.as_deref());
                    }
                    DecidedBy::MarketDefault => proptest::prop_assert_eq!(guess.code.as_str(), "de"),
                    _ => proptest::prop_assert!(lang_of(&guess.code).is_some(), "{guess:?}"),
                }
            }
        }
    }
}
