//! `[federation]`: what role this node plays and how it reaches NATS JetStream.

use serde::Deserialize;

/// What a node does with its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// One process holds everything (the default; no NATS).
    #[default]
    Standalone,
    /// Ingests its region's markets and ships their counts to headquarters.
    Regional,
    /// Ingests nothing itself; merges what the regional nodes ship.
    Hq,
}

impl NodeRole {
    /// As in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Standalone => "standalone",
            NodeRole::Regional => "regional",
            NodeRole::Hq => "hq",
        }
    }
}

/// Where a market's raw feedback may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Residency {
    /// Only counts leave the region (the default).
    #[default]
    Regional,
    /// Redacted records are replicated to headquarters too (never the original text).
    Global,
}

/// The `[federation]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSettings {
    pub role: NodeRole,
    /// This node's id: the sender of its messages (`<node>:<seq>`), unique among the nodes.
    pub node_id: String,
    /// NATS server, e.g. `nats://127.0.0.1:4222` (`tls://` for TLS).
    pub nats_url: String,
    /// JetStream stream; every node of one company uses the same.
    pub stream: String,
    /// Environment variables holding NATS credentials: a user and password, or a token.
    pub user_env: Option<String>,
    pub password_env: Option<String>,
    pub token_env: Option<String>,
    /// Messages a publisher sends before it waits for their acknowledgements.
    pub publish_window: usize,
}

impl Default for FederationSettings {
    fn default() -> FederationSettings {
        FederationSettings {
            role: NodeRole::Standalone,
            node_id: String::new(),
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            stream: "CHORUS".to_owned(),
            user_env: None,
            password_env: None,
            token_env: None,
            publish_window: 64,
        }
    }
}

/// A NATS subject token or stream name: letters, digits, `-` and `_`, at most 64.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl FederationSettings {
    /// Problems with the section, each named.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.role == NodeRole::Standalone {
            return problems;
        }
        if !is_name(&self.node_id) {
            problems.push(format!(
                "federation.node_id {:?}: letters, digits, - and _, 1 to 64 characters",
                self.node_id
            ));
        }
        if !is_name(&self.stream) {
            problems.push(format!(
                "federation.stream {:?}: letters, digits, - and _, 1 to 64 characters",
                self.stream
            ));
        }
        if !["nats://", "tls://"]
            .iter()
            .any(|p| self.nats_url.starts_with(p))
        {
            problems.push(format!(
                "federation.nats_url {:?}: must start with nats:// or tls://",
                self.nats_url
            ));
        }
        if self.user_env.is_some() != self.password_env.is_some() {
            problems.push("federation: user_env and password_env go together".to_owned());
        }
        if !(1..=4096).contains(&self.publish_window) {
            problems.push("federation.publish_window: 1 to 4096".to_owned());
        }
        problems
    }

    /// The subject a regional node publishes on.
    pub fn subject(&self, node: &str) -> String {
        format!("{}.{node}", self.stream.to_ascii_lowercase())
    }

    /// The subjects of the stream.
    pub fn subjects(&self) -> String {
        format!("{}.>", self.stream.to_ascii_lowercase())
    }
}
