//! Tells whoever listens what a committed transaction changed: which market and channel cells
//! gained or lost records, and how connector runs start and end. Published only after the
//! commit, so a listener that re-reads finds the change; nothing is stored, and a listener
//! that falls behind is told so (`Lagged`) rather than slowing the writer.

use serde::Serialize;
use tokio::sync::broadcast;

/// Changes held for listeners that have not read them yet; a slower one is told it lagged.
const BACKLOG: usize = 1024;

/// One market and channel whose records changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellChange {
    /// Market code.
    pub market: String,
    /// Channel id.
    pub channel: String,
    /// Records stored (new, or the new version of a changed record).
    pub added: u64,
    /// Records taken out (erased, or the old version of a changed record).
    pub removed: u64,
}

/// What a committed transaction changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Committed {
    /// Records of these cells were stored, replaced or erased.
    Records(Vec<CellChange>),
    /// A connector run started or ended.
    Run {
        /// The instance.
        instance: String,
        /// The run.
        run_id: i64,
        /// `running`, `succeeded`, `failed`, …
        status: String,
    },
}

/// The channel commits are announced on.
#[derive(Debug)]
pub struct Notifier {
    sender: broadcast::Sender<Committed>,
}

impl Default for Notifier {
    fn default() -> Notifier {
        Notifier {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Notifier {
    /// Announces a change; nobody listening is fine.
    pub(super) fn publish(&self, change: Committed) {
        if matches!(&change, Committed::Records(cells) if cells.is_empty()) {
            return;
        }
        let _ = self.sender.send(change);
    }

    /// A new listener, which hears every change committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.sender.subscribe()
    }
}
