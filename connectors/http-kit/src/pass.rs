//! What review connectors share: a cursor that walks newest-first pages down to the previous
//! pass's newest item (the high-water mark), and the cursor's JSON round trip.

use chorus_plugin_api::{Batch, ConnectorError, RowRejection, SourceRecord};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::HttpError;

/// A source listing items newest first, page by page: what a review connector describes;
/// [`read`] does the walking, the cursor and the rejections.
pub trait NewestFirst {
    /// Where a page is: a token, a number, a link.
    type Position: Clone + Serialize + DeserializeOwned;

    /// Fetches the page at `position` (`None`: the first).
    ///
    /// # Errors
    /// As the HTTP client reports them.
    fn fetch(&self, position: Option<&Self::Position>) -> Result<Value, HttpError>;

    /// Whether a 4xx `status` on a stored position means it expired (the pass restarts from
    /// the first page; items read twice are dropped by the warehouse).
    fn expired(&self, status: u16) -> bool {
        let _ = status;
        false
    }

    /// The items of a page.
    ///
    /// # Errors
    /// When the page is not shaped as the vendor documents.
    fn items(&self, page: &Value) -> Result<Vec<Value>, ConnectorError>;

    /// An item as a record with its time (any monotonic unit); a reason when unreadable.
    ///
    /// # Errors
    /// The reason, reported as a rejected row.
    fn record(&self, item: &Value) -> Result<(SourceRecord, i64), String>;

    /// The item field named in rejections.
    fn id_field(&self) -> &'static str;

    /// Where the page after `page` (fetched at `position`, holding `items` items) is.
    fn next(
        &self,
        page: &Value,
        position: Option<&Self::Position>,
        items: usize,
    ) -> Option<Self::Position>;

    /// Whether pages are strictly newest first, so the first known item ends the pass;
    /// `false` reads every page and keeps only the new items.
    fn stops_at_known(&self) -> bool {
        true
    }

    /// The operator-facing error for a failed request.
    fn explain(&self, error: HttpError) -> ConnectorError;
}

/// One page of a pass: fetches, keeps the new items, rejects unreadable ones, moves the
/// cursor.
///
/// # Errors
/// When the page cannot be fetched or is not shaped as expected.
pub fn read<S: NewestFirst>(source: &S, cursor: Option<&str>) -> Result<Batch, ConnectorError> {
    let mut state: Pass<S::Position> = decode(cursor)?;
    let page = match source.fetch(state.next.as_ref()) {
        Ok(page) => page,
        Err(HttpError::Client { status, .. }) if state.next.is_some() && source.expired(status) => {
            state.next = None;
            source.fetch(None).map_err(|e| source.explain(e))?
        }
        Err(other) => return Err(source.explain(other)),
    };
    let items = source.items(&page)?;
    let mut batch = Batch::default();
    let mut reached_known = false;
    for (index, item) in items.iter().enumerate() {
        match source.record(item) {
            Ok((record, time)) => {
                if state.take(time) {
                    batch.records.push(record);
                } else if source.stops_at_known() {
                    reached_known = true;
                    break;
                }
            }
            Err(reason) => batch.rejected.push(RowRejection {
                location: location(item, source.id_field(), "review", index),
                reason,
            }),
        }
    }
    let next = source.next(&page, state.next.as_ref(), items.len());
    batch.has_more = state.advance(next, reached_known);
    batch.cursor = Some(encode(&state)?);
    Ok(batch)
}

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
