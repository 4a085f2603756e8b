//! Zendesk Support connector: tickets from the incremental ticket export (cursor-based,
//! `GET /api/v2/incremental/tickets/cursor.json`), one record per solved or closed ticket.
//! The ticket's description (its first comment, the customer's complaint) is the text; a
//! satisfaction rating `good` / `bad` becomes CSAT 5 / 1, so the channel's share of CSAT 4-5
//! equals Zendesk's satisfaction score (its mean says nothing and should not be read).
//!
//! Incremental: the cursor holds Zendesk's `after_cursor` and the newest `updated_at` seen.
//! When Zendesk refuses an expired cursor, the export restarts from that time; tickets seen
//! again are dropped by the warehouse's deduplication.
//!
//! # Layout
//! - `settings.rs`: instance settings (base URL, credential variables, statuses, policy).
//! - `ticket.rs`: one ticket to one record.
//! - this file: the [`Connector`] walking export pages.

mod settings;
mod ticket;

use chorus_http_kit::{Client, HttpError};
use chorus_plugin_api::{Batch, Connector, ConnectorError, Manifest};
use serde::{Deserialize, Serialize};

pub use settings::Settings;

/// Where the export continues.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCursor {
    /// Zendesk's opaque cursor for the next page.
    pub after_cursor: Option<String>,
    /// Newest `updated_at` seen (Unix seconds): where to restart if the cursor expires.
    pub last_updated: Option<i64>,
}

/// One configured Zendesk account.
#[derive(Debug)]
pub struct Zendesk {
    settings: Settings,
    client: Client,
}

impl Zendesk {
    fn export_url(&self, cursor: &ExportCursor, per_page: usize) -> String {
        let base = self.settings.base_url.trim_end_matches('/');
        match &cursor.after_cursor {
            Some(after) => format!(
                "{base}/api/v2/incremental/tickets/cursor.json?per_page={per_page}&cursor={}",
                encode(after)
            ),
            None => format!(
                "{base}/api/v2/incremental/tickets/cursor.json?per_page={per_page}&start_time={}",
                cursor.last_updated.unwrap_or(self.settings.start_time)
            ),
        }
    }

    fn fetch(&self, url: &str) -> Result<serde_json::Value, ConnectorError> {
        self.client.get_json(url).map_err(|e| self.explain(e))
    }

    fn explain(&self, error: HttpError) -> ConnectorError {
        match error {
            HttpError::Unauthorized { .. } => ConnectorError::new(format!(
                "{error}; check the credentials in {}",
                self.settings.credential_variables()
            )),
            other => ConnectorError::new(other.to_string()),
        }
    }
}

impl Connector for Zendesk {
    fn manifest() -> Manifest {
        Manifest {
            name: "zendesk".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "complaint".into(),
            description: "Zendesk Support tickets with satisfaction ratings, incremental export"
                .into(),
            config_schema: settings::schema(),
            records_may_change: true,
        }
    }

    fn open(settings: serde_json::Value) -> Result<Self, ConnectorError> {
        let settings: Settings = serde_json::from_value(settings)
            .map_err(|e| ConnectorError::new(format!("invalid settings: {e}")))?;
        let client = Client::new(
            settings.policy(),
            Some(settings.authorization().map_err(ConnectorError::new)?),
        );
        Ok(Zendesk { settings, client })
    }

    fn check(&mut self) -> Result<(), ConnectorError> {
        let now = ExportCursor {
            after_cursor: None,
            last_updated: Some(i64::MAX / 2),
        };
        self.fetch(&self.export_url(&now, 1)).map(|_| ())
    }

    fn read(&mut self, cursor: Option<&str>, max_records: usize) -> Result<Batch, ConnectorError> {
        let mut position: ExportCursor = chorus_http_kit::pass::decode(cursor)?;
        let per_page = max_records.clamp(1, 1000);
        let page = match self.client.get_json(&self.export_url(&position, per_page)) {
            Ok(page) => page,
            // An expired or unknown cursor: start again from the newest change seen.
            Err(HttpError::Client {
                status: 400 | 404 | 422,
                ..
            }) if position.after_cursor.is_some() => {
                position.after_cursor = None;
                self.fetch(&self.export_url(&position, per_page))?
            }
            Err(other) => return Err(self.explain(other)),
        };
        let tickets = page
            .get("tickets")
            .and_then(|t| t.as_array())
            .ok_or_else(|| ConnectorError::new("export page has no \"tickets\" array"))?;
        let mut batch = Batch::default();
        for (index, ticket) in tickets.iter().enumerate() {
            if let Some(updated) = ticket::updated_at(ticket) {
                position.last_updated =
                    Some(position.last_updated.map_or(updated, |t| t.max(updated)));
            }
            match ticket::to_record(ticket, &self.settings) {
                Ok(Some(record)) => batch.records.push(record),
                Ok(None) => {}
                Err(reason) => batch.rejected.push(chorus_plugin_api::RowRejection {
                    location: format!(
                        "ticket {}",
                        ticket
                            .get("id")
                            .map_or_else(|| format!("#{index}"), |id| id.to_string())
                    ),
                    reason,
                }),
            }
        }
        let end = page
            .get("end_of_stream")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(true);
        if let Some(after) = page.get("after_cursor").and_then(|c| c.as_str()) {
            position.after_cursor = Some(after.to_owned());
        }
        batch.has_more = !end;
        batch.cursor = Some(chorus_http_kit::pass::encode(&position)?);
        Ok(batch)
    }
}

/// Percent-encodes a cursor for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

chorus_plugin_api::export_connector!(Zendesk);

#[cfg(test)]
mod tests;
