//! How this node's link to the other nodes is doing, for `/ready` and `/metrics`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::NodeRole;

/// Shared between the publisher or consumer task and the health routes.
#[derive(Debug, Default)]
pub struct FederationStatus {
    role: NodeRole,
    connected: AtomicBool,
    problem: Mutex<Option<String>>,
}

impl FederationStatus {
    /// A status for `role`, not yet connected.
    pub fn new(role: NodeRole) -> FederationStatus {
        FederationStatus {
            role,
            ..FederationStatus::default()
        }
    }

    /// This node's role.
    pub fn role(&self) -> NodeRole {
        self.role
    }

    /// The link works.
    pub fn set_healthy(&self) {
        self.connected.store(true, Ordering::Relaxed);
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The link fails, with why.
    pub fn set_degraded(&self, why: String) {
        self.connected.store(false, Ordering::Relaxed);
        *self.problem.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
    }

    /// `None` for a standalone node; otherwise `ok` or `degraded: <why>`.
    pub fn describe(&self) -> Option<String> {
        if self.role == NodeRole::Standalone {
            return None;
        }
        if self.connected.load(Ordering::Relaxed) {
            return Some("ok".to_owned());
        }
        let problem = self.problem.lock().unwrap_or_else(|e| e.into_inner());
        Some(format!(
            "degraded: {}",
            problem.as_deref().unwrap_or("not connected to NATS yet")
        ))
    }
}
