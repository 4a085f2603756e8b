//! Words of a comment as the tagger compares them: split at anything that is not a letter or
//! digit, lower-cased, stemmed in the text's language where a stemmer exists, and with
//! accents folded, so that "Rückerstattung", "RUCKERSTATTUNG" and "Rückerstattungen" meet.

use rust_stemmers::{Algorithm, Stemmer};

/// A stemmer for an ISO 639-1 code; `None` where Snowball has none (e.g. Polish, where the
/// taxonomy uses prefix terms instead).
pub fn stemmer(language: &str) -> Option<Stemmer> {
    let algorithm = match language {
        "da" => Algorithm::Danish,
        "de" => Algorithm::German,
        "en" => Algorithm::English,
        "es" => Algorithm::Spanish,
        "fi" => Algorithm::Finnish,
        "fr" => Algorithm::French,
        "hu" => Algorithm::Hungarian,
        "it" => Algorithm::Italian,
        "nl" => Algorithm::Dutch,
        "no" | "nb" => Algorithm::Norwegian,
        "pt" => Algorithm::Portuguese,
        "ro" => Algorithm::Romanian,
        "ru" => Algorithm::Russian,
        "sv" => Algorithm::Swedish,
        "tr" => Algorithm::Turkish,
        _ => return None,
    };
    Some(Stemmer::create(algorithm))
}

/// The words of `text`, lower-cased, stemmed and accent-folded.
pub fn normalised_words(text: &str, stemmer: Option<&Stemmer>) -> Vec<String> {
    normalised_text(text, stemmer)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The same words in one string, each followed by a space and the first preceded by one
/// (" w1 w2 "), the form the tagger's patterns are matched against; `" "` without words.
/// Built in one buffer: tagging runs on every comment, and a `String` per word was a third of
/// its time.
pub fn normalised_text(text: &str, stemmer: Option<&Stemmer>) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut lower = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        match stemmer {
            Some(s) => fold_accents_into(&mut out, &s.stem(&lower)),
            None => fold_accents_into(&mut out, &lower),
        }
        out.push(' ');
    }
    out
}

/// Removes diacritics from Latin letters (é → e, ł → l, ß → ss); other characters pass.
pub fn fold_accents(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    fold_accents_into(&mut out, word);
    out
}

fn fold_accents_into(out: &mut String, word: &str) {
    for c in word.chars() {
        match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ą' | 'ă' | 'ā' => out.push('a'),
            'ç' | 'ć' | 'č' => out.push('c'),
            'ď' | 'đ' => out.push('d'),
            'è' | 'é' | 'ê' | 'ë' | 'ę' | 'ě' | 'ē' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'ı' => out.push('i'),
            'ł' | 'ľ' | 'ĺ' => out.push('l'),
            'ñ' | 'ń' | 'ň' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ő' | 'ō' => out.push('o'),
            'ř' | 'ŕ' => out.push('r'),
            'ś' | 'š' | 'ş' | 'ș' => out.push('s'),
            'ß' => out.push_str("ss"),
            'ť' | 'ţ' | 'ț' => out.push('t'),
            'ù' | 'ú' | 'û' | 'ü' | 'ů' | 'ű' | 'ū' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'ź' | 'ż' | 'ž' => out.push('z'),
            'æ' => out.push_str("ae"),
            'œ' => out.push_str("oe"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_lowered_stemmed_and_folded() {
        let german = stemmer("de");
        assert_eq!(
            normalised_words("Die RÜCKERSTATTUNG, bitte!", german.as_ref()),
            normalised_words("die rückerstattungen bitte", german.as_ref())
        );
        assert_eq!(
            normalised_words("Straße", None),
            vec!["strasse".to_string()]
        );
        assert_eq!(
            normalised_words("Przesyłka dotarła", None),
            vec!["przesylka".to_string(), "dotarla".to_string()]
        );
        assert!(normalised_words("🙂 !!! ...", None).is_empty());
        assert_eq!(normalised_text("🙂 !!!", None), " ");
        assert_eq!(
            normalised_text("Die RÜCKERSTATTUNG, bitte!", german.as_ref()),
            format!(
                " {} ",
                normalised_words("die rückerstattungen bitte", german.as_ref()).join(" ")
            )
        );
        assert!(stemmer("pl").is_none() && stemmer("fr").is_some());
    }
}
