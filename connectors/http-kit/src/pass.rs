//! What review connectors share: a cursor that walks newest-first pages down to the previous
//! pass's newest item (the high-water mark), and the cursor's JSON round trip.

use chorus_plugin_api::ConnectorError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A pass over newest-first pages. `P` is where the next page is (a token, a number, a link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pass<P> {
    /// Newest item time (Unix seconds) of the last complete pass.
    pub high_water: Option<i64>,
    /// Next page of the pass in progress.
    pub next: Option<P>,
    /// Newest item time seen in the pass in progress.
    pub pass_max: Option<i64>,
}

impl<P> Default for Pass<P> {
    fn default() -> Self {
        Pass {
            high_water: None,
            next: None,
            pass_max: None,
        }
    }
}

impl<P> Pass<P> {
    /// Whether an item of time `t` is new to this pass's high-water mark; new items raise
    /// the pass's running maximum.
    pub fn take(&mut self, t: i64) -> bool {
        if self.high_water.is_some_and(|h| t <= h) {
            return false;
        }
        self.pass_max = Some(self.pass_max.map_or(t, |m| m.max(t)));
        true
    }

    /// Moves on to `next` unless the page reached known items or was the last; returns
    /// whether more pages follow. A finished pass's maximum becomes the high-water mark.
    pub fn advance(&mut self, next: Option<P>, reached_known: bool) -> bool {
        match next {
            Some(next) if !reached_known => {
                self.next = Some(next);
                true
            }
            _ => {
                self.next = None;
                if let Some(max) = self.pass_max.take() {
                    self.high_water = Some(self.high_water.map_or(max, |h| h.max(max)));
                }
                false
            }
        }
    }
}

/// Parses a cursor the connector wrote (`None`: start).
///
/// # Errors
/// When the text is not such a cursor.
pub fn decode<T: DeserializeOwned + Default>(cursor: Option<&str>) -> Result<T, ConnectorError> {
    match cursor {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| ConnectorError::new(format!("unreadable cursor {text:?}: {e}"))),
    }
}

/// The cursor as text.
///
/// # Errors
/// Never in practice (the cursor types are plain data).
pub fn encode<T: Serialize>(cursor: &T) -> Result<String, ConnectorError> {
    serde_json::to_string(cursor)
        .map_err(|e| ConnectorError::new(format!("cannot encode cursor: {e}")))
}

/// `"{what} {id}"` for a rejected item, or its position when it has no id.
pub fn location(item: &Value, id_field: &str, what: &str, index: usize) -> String {
    match item.get(id_field) {
        Some(Value::String(id)) => format!("{what} {id}"),
        Some(Value::Number(id)) => format!("{what} {id}"),
        _ => format!("{what} #{index}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_keeps_new_items_and_raises_the_mark_when_done() {
        let mut pass: Pass<u32> = Pass::default();
        assert!(pass.take(10) && pass.take(30) && pass.take(20));
        assert!(pass.advance(Some(2), false));
        assert_eq!(pass.high_water, None, "unfinished passes keep the old mark");
        assert!(!pass.advance(None, false));
        assert_eq!(pass.high_water, Some(30));
        assert!(!pass.take(30) && pass.take(31));
        assert!(!pass.advance(Some(2), true), "known items end the pass");
        assert_eq!((pass.high_water, pass.next), (Some(31), None));
    }
}
