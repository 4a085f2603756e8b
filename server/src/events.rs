//! The live event stream (`GET /api/v1/events`, server-sent events): what committed changes
//! touched, filtered to what the caller may see. Feedback readers hear about the market and
//! channel cells of their scope that gained or lost records; connector viewers hear runs start
//! and end. The stream ends when the caller's token expires, so it never outlives the right
//! to read it; a client that fell behind is told to reload (`resync`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::web::Bytes;
use futures_util::Stream;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::auth::{Caller, Scope};
use crate::domain::MarketCode;
use crate::warehouse::Committed;

/// A comment line this often keeps proxies from closing a quiet stream, and lets the server
/// notice a client that left.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// Streams open at once; each holds a connection, so they are bounded like any other input.
pub const MAX_STREAMS: usize = 256;

/// Counts open streams against `MAX_STREAMS`.
#[derive(Debug, Default)]
pub struct StreamSlots {
    open: AtomicUsize,
}

/// One open stream's slot, given back when the stream ends.
#[derive(Debug)]
pub struct StreamSlot(Arc<StreamSlots>);

impl StreamSlots {
    /// A slot, unless `MAX_STREAMS` are open.
    pub fn take(self: &Arc<Self>) -> Option<StreamSlot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < MAX_STREAMS).then_some(open + 1)
            })
            .ok()
            .map(|_| StreamSlot(self.clone()))
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What one caller may hear.
#[derive(Debug)]
struct Audience {
    /// Markets whose cells it hears about.
    scope: Scope,
    reads_feedback: bool,
    sees_connectors: bool,
}

impl Audience {
    fn of(caller: &Caller) -> Audience {
        Audience {
            scope: caller.scope.clone(),
            reads_feedback: caller.role.reads_feedback(),
            sees_connectors: caller.role.sees_connectors(),
        }
    }

    /// The event this caller gets for a change, if any.
    fn event(&self, change: &Committed) -> Option<String> {
        match change {
            Committed::Records(cells) if self.reads_feedback => {
                let visible: Vec<_> = cells
                    .iter()
                    .filter(|c| MarketCode::parse(&c.market).is_ok_and(|m| self.scope.covers(&m)))
                    .collect();
                (!visible.is_empty()).then(|| frame("records", &json!({ "cells": visible })))
            }
            Committed::Run {
                instance,
                run_id,
                status,
            } if self.sees_connectors => Some(frame(
                "run",
                &json!({ "instance": instance, "run_id": run_id, "status": status }),
            )),
            _ => None,
        }
    }
}

/// One server-sent event.
fn frame(event: &str, data: &serde_json::Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// The caller's event stream over `changes`, holding `slot` until it ends.
pub fn stream(
    caller: &Caller,
    changes: broadcast::Receiver<Committed>,
    slot: StreamSlot,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + 'static {
    let audience = Audience::of(caller);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let expires_in = Duration::from_secs(caller.expires_at.saturating_sub(now));
    let expiry = tokio::time::Instant::now() + expires_in;
    // The first frame says the stream is live and how long to wait before reconnecting.
    let hello = format!("retry: 3000\n{}", frame("ready", &json!({})));
    let first = futures_util::stream::once(async move { Ok(Bytes::from(hello)) });
    // State: the receiver, who listens, whether the stream is over, and the slot it holds.
    let rest = futures_util::stream::unfold(
        (changes, audience, false, slot),
        move |(mut changes, audience, over, slot)| async move {
            if over {
                return None;
            }
            loop {
                let text = tokio::select! {
                    () = tokio::time::sleep_until(expiry) => {
                        let text = frame("expired", &json!({}));
                        return Some((Ok(Bytes::from(text)), (changes, audience, true, slot)));
                    }
                    () = tokio::time::sleep(HEARTBEAT) => ": keep-alive\n\n".to_owned(),
                    change = changes.recv() => match change {
                        Ok(change) => match audience.event(&change) {
                            Some(text) => text,
                            None => continue,
                        },
                        Err(RecvError::Lagged(missed)) => {
                            frame("resync", &json!({ "missed": missed }))
                        }
                        Err(RecvError::Closed) => return None,
                    },
                };
                return Some((Ok(Bytes::from(text)), (changes, audience, false, slot)));
            }
        },
    );
    futures_util::StreamExt::chain(first, rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use crate::warehouse::CellChange;

    fn caller(role: Role, scope: Scope) -> Caller {
        Caller {
            sub: "t".into(),
            role,
            scope,
            expires_at: u64::MAX,
        }
    }

    fn cells() -> Committed {
        let cell = |market: &str| CellChange {
            market: market.into(),
            channel: "survey.digital".into(),
            added: 2,
            removed: 0,
        };
        Committed::Records(vec![cell("DE"), cell("FR")])
    }

    #[test]
    fn readers_hear_only_the_cells_of_their_markets() {
        let de = MarketCode::parse("DE").unwrap();
        let lead = Audience::of(&caller(Role::MarketLead, Scope::Markets([de].into())));
        let event = lead.event(&cells()).unwrap();
        assert!(event.starts_with("event: records\n"), "{event}");
        assert!(
            event.contains("\"DE\"") && !event.contains("\"FR\""),
            "{event}"
        );

        let nobody = Audience::of(&caller(Role::MarketLead, Scope::Markets([].into())));
        assert_eq!(nobody.event(&cells()), None);
        let hq = Audience::of(&caller(Role::HqAnalyst, Scope::All));
        assert!(hq.event(&cells()).unwrap().contains("\"FR\""));
    }

    #[test]
    fn runs_reach_connector_viewers_only() {
        let run = Committed::Run {
            instance: "de-service".into(),
            run_id: 7,
            status: "succeeded".into(),
        };
        let integrator = Audience::of(&caller(Role::Integrator, Scope::Markets([].into())));
        assert!(integrator.event(&run).unwrap().starts_with("event: run\n"));
        assert_eq!(integrator.event(&cells()), None);
        let lead = Audience::of(&caller(Role::RegionalLead, Scope::Markets([].into())));
        assert_eq!(lead.event(&run), None);
    }

    #[test]
    fn stream_slots_are_bounded_and_given_back() {
        let slots = Arc::new(StreamSlots::default());
        let taken: Vec<_> = (0..MAX_STREAMS).map(|_| slots.take().unwrap()).collect();
        assert!(slots.take().is_none());
        drop(taken);
        assert!(slots.take().is_some());
    }
}
