//! Read queries behind the API. Scope arrives here as an explicit market list and is part of
//! the SQL, so no caller can forget it.

use chrono::NaiveDate;
use duckdb::params_from_iter;

use super::{Warehouse, WarehouseError};
use crate::analysis::nps::NpsCounts;

/// Which NPS cells to count. Cells are always per market and channel: pooling either would
/// produce a number that means nothing (DESIGN.md).
#[derive(Debug, Clone, Default)]
pub struct NpsCellQuery {
    /// Also split by calendar month of `occurred_at`.
    pub by_month: bool,
    /// Markets to include; `None` for every market (only for callers scoped to all).
    pub markets: Option<Vec<String>>,
    /// Channels to include; `None` for all.
    pub channels: Option<Vec<String>>,
    /// First day included (UTC).
    pub from: Option<NaiveDate>,
    /// Last day included (UTC).
    pub to: Option<NaiveDate>,
}

/// Counts of one (market, channel[, month]) cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpsCellRow {
    pub market: String,
    pub channel: String,
    /// `YYYY-MM` when split by month.
    pub month: Option<String>,
    pub counts: NpsCounts,
}

impl NpsCellQuery {
    /// The SQL and its parameters. Public so the benchmark can time the same statement.
    pub fn to_sql(&self) -> (String, Vec<String>) {
        let mut filters = String::new();
        let mut params = Vec::new();
        let mut list = |column: &str, values: &[String], filters: &mut String| {
            let marks = vec!["?"; values.len()].join(", ");
            filters.push_str(&format!(" AND {column} IN ({marks})"));
            params.extend(values.iter().cloned());
        };
        if let Some(markets) = &self.markets {
            list("market", markets, &mut filters);
        }
        if let Some(channels) = &self.channels {
            list("channel", channels, &mut filters);
        }
        if let Some(from) = self.from {
            filters.push_str(" AND occurred_at >= ?::DATE");
            params.push(from.to_string());
        }
        if let Some(to) = self.to {
            filters.push_str(" AND occurred_at < ?::DATE + INTERVAL 1 DAY");
            params.push(to.to_string());
        }
        let month = if self.by_month {
            "strftime(occurred_at, '%Y-%m')"
        } else {
            "NULL::VARCHAR"
        };
        let sql = format!(
            "SELECT market, channel, {month} AS month, count(*) AS n, \
             count(*) FILTER (WHERE nps >= 9) AS promoters, \
             count(*) FILTER (WHERE nps <= 6) AS detractors \
             FROM records WHERE nps IS NOT NULL{filters} \
             GROUP BY ALL ORDER BY market, channel, month"
        );
        (sql, params)
    }
}

impl Warehouse {
    /// NPS counts per cell.
    ///
    /// # Errors
    /// On a database error.
    pub fn nps_cells(&self, query: &NpsCellQuery) -> Result<Vec<NpsCellRow>, WarehouseError> {
        if query.markets.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let (sql, params) = query.to_sql();
        self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(params.iter()), |r| {
                Ok(NpsCellRow {
                    market: r.get(0)?,
                    channel: r.get(1)?,
                    month: r.get(2)?,
                    counts: NpsCounts {
                        n: r.get::<_, i64>(3)? as u64,
                        promoters: r.get::<_, i64>(4)? as u64,
                        detractors: r.get::<_, i64>(5)? as u64,
                    },
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
