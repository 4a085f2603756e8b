//! The safe side of the contract: what a connector implements.

use crate::record::{Batch, Manifest};

/// An error a connector reports to the host. The message is shown to operators as is, so it
/// should say what to fix ("file /data/x.csv: permission denied").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorError {
    message: String,
}

impl ConnectorError {
    /// An error with the given operator-facing message.
    pub fn new(message: impl Into<String>) -> ConnectorError {
        ConnectorError {
            message: message.into(),
        }
    }

    /// The operator-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectorError {}

/// A source of feedback records. One value is one *instance*: a configured source for a market
/// and channel. Export it with [`crate::export_connector!`].
pub trait Connector: Sized + Send + 'static {
    /// Describes the plugin; the same for every instance.
    fn manifest() -> Manifest;

    /// Creates an instance from its settings (the `settings` table of the instance config).
    ///
    /// # Errors
    /// When the settings are invalid; the message names the offending field.
    fn open(settings: serde_json::Value) -> Result<Self, ConnectorError>;

    /// Checks that the source is reachable with the configured credentials.
    ///
    /// # Errors
    /// When it is not; the message says what failed.
    fn check(&mut self) -> Result<(), ConnectorError>;

    /// Reads up to `max_records` records after `cursor` (`None`: from the start).
    ///
    /// # Errors
    /// When the source cannot be read at all. Bad single rows go in [`Batch::rejected`] instead.
    fn read(&mut self, cursor: Option<&str>, max_records: usize) -> Result<Batch, ConnectorError>;

    /// The batch as the JSON bytes that cross the boundary. Connectors keep the default; the
    /// host's own tests override it to send garbage.
    ///
    /// # Errors
    /// As [`Connector::read`].
    fn read_json(
        &mut self,
        cursor: Option<&str>,
        max_records: usize,
    ) -> Result<Vec<u8>, ConnectorError> {
        let batch = self.read(cursor, max_records)?;
        serde_json::to_vec(&batch)
            .map_err(|e| ConnectorError::new(format!("cannot encode batch: {e}")))
    }
}
