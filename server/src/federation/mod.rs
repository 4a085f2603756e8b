//! Federation: regional nodes ship their counts (and the redacted records of `global`
//! markets) to a headquarters node through NATS JetStream. The regional side writes an
//! outbox in the same transaction as each change (`warehouse/federation.rs`) and a
//! publisher drains it; headquarters applies each message once, in order per node.

pub mod consumer;
pub mod message;
pub mod publisher;
pub mod residency;
mod settings;
pub mod status;

pub use settings::{FederationSettings, NodeRole, Residency};
pub use status::FederationStatus;

/// Connects to NATS with the configured credentials, retrying until it succeeds.
///
/// # Errors
/// When a credential variable is missing or the options are refused.
pub async fn connect(settings: &FederationSettings) -> anyhow::Result<async_nats::Client> {
    let env = |name: &Option<String>| -> anyhow::Result<Option<String>> {
        match name {
            None => Ok(None),
            Some(name) => std::env::var(name)
                .map(Some)
                .map_err(|_| anyhow::anyhow!("federation: environment variable {name} is not set")),
        }
    };
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("chorus-{}", settings.node_id))
        .retry_on_initial_connect();
    if let (Some(user), Some(password)) = (env(&settings.user_env)?, env(&settings.password_env)?) {
        options = options.user_and_password(user, password);
    }
    if let Some(token) = env(&settings.token_env)? {
        options = options.token(token);
    }
    Ok(options.connect(settings.nats_url.as_str()).await?)
}

/// The stream every node uses: file storage, deduplication by `Nats-Msg-Id`.
pub fn stream_config(settings: &FederationSettings) -> async_nats::jetstream::stream::Config {
    async_nats::jetstream::stream::Config {
        name: settings.stream.clone(),
        subjects: vec![settings.subjects()],
        storage: async_nats::jetstream::stream::StorageType::File,
        // A republish after a crash within this window is dropped by the server; later
        // ones by headquarters' applied sequence.
        duplicate_window: std::time::Duration::from_secs(120),
        ..Default::default()
    }
}

/// Opens the configured warehouse; on a regional node, every change it makes from then on
/// also writes its federation message (and the first open writes the node's snapshot).
///
/// # Errors
/// When the warehouse cannot be opened, or a regional file about to join holds records
/// headquarters would refuse.
pub fn open_warehouse(
    settings: &crate::config::Settings,
) -> Result<crate::warehouse::Warehouse, crate::warehouse::WarehouseError> {
    open(settings, true)
}

/// Opens the configured warehouse for `chorus verify`: a regional file that has joined ships
/// what a repair changes; one that has not joins at the next start, after the repair.
///
/// # Errors
/// When the warehouse cannot be opened.
pub fn open_warehouse_for_repair(
    settings: &crate::config::Settings,
) -> Result<crate::warehouse::Warehouse, crate::warehouse::WarehouseError> {
    open(settings, false)
}

fn open(
    settings: &crate::config::Settings,
    may_join: bool,
) -> Result<crate::warehouse::Warehouse, crate::warehouse::WarehouseError> {
    let warehouse = crate::warehouse::Warehouse::open(&settings.warehouse.path)?;
    if settings.federation.role == NodeRole::Regional
        && (may_join || warehouse.has_joined(&settings.federation.node_id)?)
    {
        warehouse.start_outbox(
            crate::warehouse::OutboxPolicy {
                node: settings.federation.node_id.clone(),
                global_markets: global_markets(settings),
            },
            &settings.dates,
        )?;
    }
    warehouse.use_market_zones(settings.market_zones())?;
    Ok(warehouse)
}

/// What headquarters checks every message against: the configured markets and channels.
pub fn expectations(settings: &crate::config::Settings) -> message::Expectations {
    message::Expectations {
        markets: settings
            .markets
            .iter()
            .map(|m| m.code.to_string())
            .collect(),
        global_markets: global_markets(settings),
        channels: settings.channels.iter().map(|c| c.id.clone()).collect(),
    }
}

/// The markets whose redacted records are replicated to headquarters.
fn global_markets(settings: &crate::config::Settings) -> std::collections::BTreeSet<String> {
    settings
        .markets
        .iter()
        .filter(|m| m.residency == Residency::Global)
        .map(|m| m.code.to_string())
        .collect()
}

/// A JetStream context for a publisher or consumer; `None` (and the status degraded, the
/// reason logged) when the connection cannot even be configured.
async fn jetstream_or_degraded(
    settings: &FederationSettings,
    status: &FederationStatus,
    who: &str,
) -> Option<async_nats::jetstream::Context> {
    match connect(settings).await {
        Ok(client) => Some(async_nats::jetstream::new(client)),
        Err(error) => {
            tracing::error!(%error, "federation {who} cannot start");
            status.set_degraded(format!("{error:#}"));
            None
        }
    }
}

/// The header that carries `<node>:<seq>`.
pub const MSG_ID: &str = "Nats-Msg-Id";

#[cfg(test)]
mod tests;
