//! The live event stream (`GET /api/v1/events`, server-sent events): what committed changes
//! touched, filtered to what the caller may see. Feedback readers hear about the market and
//! channel cells of their scope that gained or lost records; connector viewers hear runs start
//! and end. The stream ends when the caller's token expires, so it never outlives the right
//! to read it; a client that fell behind is told to reload (`resync`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
/// Streams one caller (token subject) may hold: a page per tab, never the whole server.
pub const MAX_STREAMS_PER_CALLER: usize = 8;

/// Counts open streams against `MAX_STREAMS` in all and `MAX_STREAMS_PER_CALLER` each.
#[derive(Debug, Default)]
pub struct StreamSlots {
    /// Open streams per caller; the sum is the total.
    open: Mutex<HashMap<String, usize>>,
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    /// This caller holds `MAX_STREAMS_PER_CALLER` already.
    CallerFull,
    /// The server holds `MAX_STREAMS`.
    ServerFull,
}

/// One open stream's slot, given back when the stream ends (also when the client leaves: the
/// heartbeat's failed write drops the stream).
#[derive(Debug)]
pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    caller: String,
}

impl StreamSlots {
    /// A slot for `caller`, unless it or the server holds the most there may be.
    ///
    /// # Errors
    /// Which bound was reached.
    pub fn take(self: &Arc<Self>, caller: &str) -> Result<StreamSlot, NoSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.values().sum::<usize>() >= MAX_STREAMS {
            return Err(NoSlot::ServerFull);
        }
        let mine = open.entry(caller.to_owned()).or_default();
        if *mine >= MAX_STREAMS_PER_CALLER {
            return Err(NoSlot::CallerFull);
        }
        *mine += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            caller: caller.to_owned(),
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mine) = open.get_mut(&self.caller) {
            *mine -= 1;
            if *mine == 0 {
                open.remove(&self.caller);
            }
        }
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
    // A token's `exp` is capped when it is verified; the sum is checked all the same, since a
    // timer past the clock's range would panic.
    let expires_in = Duration::from_secs(caller.expires_at.saturating_sub(now));
    let start = tokio::time::Instant::now();
    let expiry = start
        .checked_add(expires_in)
        .or_else(|| start.checked_add(Duration::from_secs(crate::auth::MAX_VALIDITY_SECONDS)))
        .unwrap_or(start);
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
    fn stream_slots_are_bounded_per_caller_and_in_all_and_given_back() {
        let slots = Arc::new(StreamSlots::default());
        let mine: Vec<_> = (0..MAX_STREAMS_PER_CALLER)
            .map(|_| slots.take("greedy").unwrap())
            .collect();
        assert_eq!(slots.take("greedy").unwrap_err(), NoSlot::CallerFull);
        assert!(slots.take("lead").is_ok(), "another caller still gets one");
        drop(mine);
        assert!(slots.take("greedy").is_ok());

        let callers: Vec<String> = (0..MAX_STREAMS).map(|i| format!("c{i}")).collect();
        let taken: Vec<_> = callers.iter().map(|c| slots.take(c).unwrap()).collect();
        assert_eq!(slots.take("late").unwrap_err(), NoSlot::ServerFull);
        drop(taken);
        assert!(slots.take("late").is_ok());
        assert!(
            slots.open.lock().unwrap().len() <= 2,
            "empty entries are removed"
        );
    }

    #[tokio::test]
    async fn a_stream_of_a_token_valid_for_ever_starts() {
        use futures_util::StreamExt;
        let (sender, receiver) = tokio::sync::broadcast::channel(4);
        let slots = Arc::new(StreamSlots::default());
        let hq = caller(Role::HqAnalyst, Scope::All);
        let mut events = Box::pin(stream(&hq, receiver, slots.take("t").unwrap()));
        let first = events.next().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&first).contains("event: ready"));
        // The next frame waits on the expiry timer too.
        sender.send(cells()).unwrap();
        let second = events.next().await.unwrap().unwrap();
        assert!(String::from_utf8_lossy(&second).contains("event: records"));
    }
}
