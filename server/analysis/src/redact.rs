//! PII redaction before storage: e-mail addresses, phone numbers (international and common
//! national formats), IBANs (mod-97 checksum), payment card numbers (Luhn), configured
//! patterns and per-market terms (e.g. staff names), each replaced by a typed placeholder
//! such as `[email]`. Numbers that fail their checksum are left alone: an order number is
//! not a card.

use regex::Regex;

/// A configured extra pattern.
#[derive(Debug, Clone)]
pub struct NamedPattern {
    /// Placeholder name: matches become `[name]`.
    pub name: String,
    /// The pattern.
    pub regex: Regex,
}

/// Redacts one text; built once, shared by all ingest threads.
#[derive(Debug, Clone)]
pub struct Redactor {
    email: Regex,
    iban: Regex,
    card: Regex,
    phone: Regex,
    patterns: Vec<NamedPattern>,
}

/// A redacted text and the kinds of what was removed (in order, repeated per occurrence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub kinds: Vec<String>,
}

impl Redactor {
    /// The built-in detectors plus `patterns`.
    pub fn new(patterns: Vec<NamedPattern>) -> Redactor {
        let compile = |p: &str| Regex::new(p).expect("built-in patterns are valid");
        Redactor {
            email: compile(
                r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
            ),
            iban: compile(r"(?i)[a-z]{2}\d{2}(?: ?[a-z0-9]){11,30}"),
            card: compile(r"\d(?:[ -]?\d){12,18}"),
            phone: compile(r"(?:\+|\(0|0)\d{1,4}\)?(?:[ ./-]?\(?\d{1,5}\)?){1,6}"),
            patterns,
        }
    }

    /// Redacts `text`; `terms` are the market's names to remove (whole words, any case).
    pub fn redact(&self, text: &str, terms: &[String]) -> Redacted {
        let mut kinds = Vec::new();
        let mut text = replace_all(&self.email, text, "email", &mut kinds);
        text = replace_numbers(&self.iban, &text, "iban", &mut kinds, iban_is_valid);
        text = replace_numbers(&self.card, &text, "card", &mut kinds, luhn_is_valid);
        text = replace_numbers(&self.phone, &text, "phone", &mut kinds, plausible_phone);
        for pattern in &self.patterns {
            text = replace_all(&pattern.regex, &text, &pattern.name, &mut kinds);
        }
        for term in terms.iter().filter(|t| !t.trim().is_empty()) {
            let pattern = format!(r"(?i)\b{}\b", regex::escape(term.trim()));
            if let Ok(regex) = Regex::new(&pattern) {
                text = replace_all(&regex, &text, "name", &mut kinds);
            }
        }
        Redacted { text, kinds }
    }
}

/// Replaces every match of `regex` with `[kind]`.
fn replace_all(regex: &Regex, text: &str, kind: &str, kinds: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in regex.find_iter(text) {
        out.push_str(&text[last..m.start()]);
        placeholder(&mut out, kind, kinds);
        last = m.end();
    }
    out.push_str(&text[last..]);
    out
}

/// Writes `[kind]` and notes the kind.
fn placeholder(out: &mut String, kind: &str, kinds: &mut Vec<String>) {
    out.push('[');
    out.push_str(kind);
    out.push(']');
    kinds.push(kind.to_owned());
}

/// Replaces numbers found by `regex` that `valid` accepts. A number must stand alone (no
/// letter or digit right before or after, and not continue a number like the "03" in
/// "10.03.2026"); a match that swallowed a neighbouring word is shortened word by word until
/// it is valid, and a rejected start is retried one character later.
fn replace_numbers(
    regex: &Regex,
    text: &str,
    kind: &str,
    kinds: &mut Vec<String>,
    valid: impl Fn(&str) -> bool,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut at = 0;
    while at < text.len() {
        let Some(m) = regex.find_at(text, at) else {
            break;
        };
        let accepted = starts_alone(&text[..m.start()])
            .then(|| longest_valid(&text[m.start()..m.end()], &text[m.end()..], &valid))
            .flatten();
        match accepted {
            Some(length) => {
                out.push_str(&text[last..m.start()]);
                placeholder(&mut out, kind, &mut *kinds);
                last = m.start() + length;
                at = last;
            }
            None => {
                at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Whether a number may start after `before`.
fn starts_alone(before: &str) -> bool {
    let mut previous = before.chars().rev();
    match (previous.next(), previous.next()) {
        (None, _) => true,
        (Some(c), _) if c.is_alphanumeric() => false,
        (Some('.' | '-' | '/' | ','), Some(d)) if d.is_ascii_digit() => false,
        _ => true,
    }
}

/// The length of the longest prefix of `candidate` that ends a word (next character, in
/// `candidate` or `rest`, is not a letter or digit) and that `valid` accepts.
fn longest_valid(candidate: &str, rest: &str, valid: &impl Fn(&str) -> bool) -> Option<usize> {
    let ends: Vec<usize> = candidate
        .char_indices()
        .filter(|(_, c)| c.is_alphanumeric() || *c == ')')
        .map(|(i, c)| i + c.len_utf8())
        .collect();
    ends.into_iter().rev().find(|&end| {
        let next = candidate[end..]
            .chars()
            .next()
            .or_else(|| rest.chars().next());
        !next.is_some_and(char::is_alphanumeric) && valid(&candidate[..end])
    })
}

/// International (`+` or `00`, 8-15 digits after it) or national (leading 0, 7-12 digits).
fn plausible_phone(candidate: &str) -> bool {
    let digits: String = candidate.chars().filter(char::is_ascii_digit).collect();
    if candidate.starts_with('+') {
        (8..=15).contains(&digits.len())
    } else if let Some(rest) = digits.strip_prefix("00") {
        (8..=15).contains(&rest.len())
    } else {
        digits.starts_with('0') && (7..=12).contains(&digits.len())
    }
}

/// ISO 13616 check: move the first four characters to the end, letters to numbers
/// (A = 10 … Z = 35), the result mod 97 must be 1.
pub fn iban_is_valid(candidate: &str) -> bool {
    let compact: String = candidate
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let value = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    remainder == 1
}

/// Luhn check over the digits of `candidate`.
pub fn luhn_is_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str) -> String {
        Redactor::new(Vec::new()).redact(text, &[]).text
    }

    #[test]
    fn emails_are_redacted() {
        assert_eq!(
            redact("Schreiben Sie an max.mustermann+cx@beispiel.de bitte"),
            "Schreiben Sie an [email] bitte"
        );
        assert_eq!(redact("Mail: A.B@Sub.Example.CO.UK."), "Mail: [email].");
        assert_eq!(redact("Preis @ 5 Euro"), "Preis @ 5 Euro");
    }

    #[test]
    fn phones_in_international_and_national_formats_are_redacted() {
        for (text, expected) in [
            ("Ruf mich an: +49 30 1234567", "Ruf mich an: [phone]"),
            ("tel. 030/123 45 67, danke", "tel. [phone], danke"),
            ("Appelez le 06 12 34 56 78.", "Appelez le [phone]."),
            ("mon numéro 06.12.34.56.78", "mon numéro [phone]"),
            ("llámame al +34 612 345 678", "llámame al [phone]"),
            ("zadzwoń 0048 601 234 567", "zadzwoń [phone]"),
            ("call (020) 7946 0958 today", "call [phone] today"),
            (
                "am 10.03.2026 0171 1234567 angerufen",
                "am 10.03.2026 [phone] angerufen",
            ),
        ] {
            assert_eq!(redact(text), expected, "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_phones_stay() {
        for text in [
            "Bestellung 1234567890 kam nicht",
            "am 2026-03-10 um 12:00",
            "Preis 0,99 €",
            "Kundennummer K0123456789X",
            "Artikel 007",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn ibans_with_a_valid_checksum_are_redacted_others_stay() {
        assert_eq!(
            redact("IBAN DE89 3704 0044 0532 0130 00 bitte erstatten"),
            "IBAN [iban] bitte erstatten"
        );
        assert_eq!(redact("FR1420041010050500013M02606"), "[iban]");
        assert_eq!(redact("GB82WEST12345698765432."), "[iban].");
        // One digit off: the checksum fails and the text stays.
        assert_eq!(redact("DE89370400440532013001"), "DE89370400440532013001");
        assert!(iban_is_valid("de89 3704 0044 0532 0130 00"));
        assert!(!iban_is_valid("DE00370400440532013000"));
    }

    #[test]
    fn card_numbers_need_a_valid_luhn_checksum() {
        assert_eq!(
            redact("Karte 4111 1111 1111 1111 belastet"),
            "Karte [card] belastet"
        );
        assert_eq!(redact("card 5500-0000-0000-0004"), "card [card]");
        // An order number that fails Luhn is not a card.
        assert_eq!(
            redact("Order 4111 1111 1111 1112 missing"),
            "Order 4111 1111 1111 1112 missing"
        );
        assert!(!luhn_is_valid("79927398713"), "too short for a card");
        assert!(luhn_is_valid("4012888888881881"));
    }

    #[test]
    fn configured_patterns_and_market_terms_are_redacted() {
        let redactor = Redactor::new(vec![NamedPattern {
            name: "customer_id".into(),
            regex: Regex::new(r"\bKD-\d{6}\b").unwrap(),
        }]);
        let out = redactor.redact(
            "Frau Kowalski und kowalski-Team; Kunde KD-123456, Mail x@y.de",
            &["Kowalski".into(), "  ".into()],
        );
        assert_eq!(
            out.text,
            "Frau [name] und [name]-Team; Kunde [customer_id], Mail [email]"
        );
        assert_eq!(out.kinds, ["email", "customer_id", "name", "name"]);
    }
}
