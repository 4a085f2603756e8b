//! The OpenAPI document as this server serves it: the compiled document with the values that
//! come from the configuration filled in, so a client (or a schema-driven fuzzer) can tell
//! every request the server accepts from one it refuses without trying it. `markets` and
//! `channels` list the configured codes and ids; everything else is in the compiled document.

use serde_json::Value;

use crate::catalog::Catalog;

/// The served document, built once at startup.
#[derive(Debug, Clone)]
pub struct ServedDocument(pub std::sync::Arc<Value>);

impl ServedDocument {
    /// The compiled document with `catalog`'s markets and channels.
    pub fn new(catalog: &Catalog) -> ServedDocument {
        let mut document = serde_json::to_value(super::openapi::document()).unwrap_or(Value::Null);
        // Codes are matched case-insensitively (`de` is DE), ids exactly.
        let markets: Vec<String> = catalog
            .market_codes()
            .map(|code| {
                code.as_str()
                    .chars()
                    .map(|c| format!("[{}{}]", c, c.to_ascii_lowercase()))
                    .collect()
            })
            .collect();
        let channels: Vec<String> = catalog
            .channels()
            .map(|(id, _, _)| regex_escape(id))
            .collect();
        let patterns = [
            ("markets", list_pattern(&markets)),
            ("channels", list_pattern(&channels)),
        ];
        for operation in operations(&mut document) {
            let Some(parameters) = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut)
            else {
                continue;
            };
            for parameter in parameters {
                let name = parameter["name"].as_str().unwrap_or_default().to_owned();
                if parameter["in"] != "query" {
                    continue;
                }
                if let Some((_, pattern)) = patterns.iter().find(|(n, _)| *n == name) {
                    parameter["schema"]["pattern"] = Value::String(pattern.clone());
                }
            }
        }
        ServedDocument(std::sync::Arc::new(document))
    }
}

/// Every operation object of `document`.
fn operations(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
}

/// A comma list as `params::list` reads it: items separated by commas, each with spaces or
/// tabs around it, empty items allowed (they are skipped), every other item one of `items`.
fn list_pattern(items: &[String]) -> String {
    let item = if items.is_empty() {
        String::new()
    } else {
        format!("(?:{})?", items.join("|"))
    };
    format!("^[ \\t]*{item}[ \\t]*(?:,[ \\t]*{item}[ \\t]*)*$")
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_match_what_the_server_reads() {
        let pattern = list_pattern(&["[Dd][Ee]".into(), "[Ff][Rr]".into()]);
        let re = regex::Regex::new(&pattern).unwrap();
        for ok in ["", "DE", "de,FR", " DE , fr ", ",,", "DE,,FR", "\tDE"] {
            assert!(re.is_match(ok), "{ok:?}");
        }
        for bad in ["ES", "DE FR", "DEFR", "D", "DE;FR", "\u{2003}DE"] {
            assert!(!re.is_match(bad), "{bad:?}");
        }
        let channel = regex::Regex::new(&list_pattern(&[regex_escape("survey.app")])).unwrap();
        assert!(channel.is_match("survey.app"));
        assert!(!channel.is_match("surveyXapp"));
    }

    #[test]
    fn only_markets_and_channels_differ_from_the_compiled_document() {
        let settings = crate::config::Settings::from_toml(
            crate::config::tests::MINIMAL,
            [],
            std::path::Path::new("t.toml"),
        )
        .unwrap();
        let mut served = (*ServedDocument::new(&Catalog::new(&settings)).0).clone();
        let mut filled = 0;
        for operation in operations(&mut served) {
            let parameters = operation
                .get_mut("parameters")
                .and_then(Value::as_array_mut);
            for parameter in parameters.into_iter().flatten() {
                if ["markets", "channels"].contains(&parameter["name"].as_str().unwrap_or("")) {
                    let schema = parameter["schema"].as_object_mut().unwrap();
                    assert!(schema.remove("pattern").is_some(), "{parameter}");
                    filled += 1;
                }
            }
        }
        assert!(filled >= 10, "{filled}");
        assert_eq!(
            served,
            serde_json::to_value(super::super::openapi::document()).unwrap()
        );
    }
}
