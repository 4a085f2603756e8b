//! Read queries behind the API. Scope arrives here as an explicit market list and is part of
//! the SQL, so no caller can forget it. Every figure is computed from counts per score value,
//! so one query shape serves all measures, and shipped counts give the same figures.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use duckdb::params_from_iter;

use super::{Warehouse, WarehouseError};
use crate::analysis::scale::{Histogram, Measure};

/// A calendar period cells are split by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// `YYYY-MM`.
    Month,
    /// `YYYY-MM-DD`.
    Day,
}

/// Which cells to count. Cells are always per market and channel: pooling either would
/// produce a number that means nothing (server/DESIGN.md).
#[derive(Debug, Clone)]
pub struct CellQuery {
    /// The score counted.
    pub measure: Measure,
    /// Also split by calendar month or day (each market's calendar, `market_days`).
    pub period: Option<Period>,
    /// Markets to include; `None` for every market (only for callers scoped to all).
    pub markets: Option<Vec<String>>,
    /// Channels to include; `None` for all.
    pub channels: Option<Vec<String>>,
    /// First day included (UTC).
    pub from: Option<NaiveDate>,
    /// Last day included (UTC).
    pub to: Option<NaiveDate>,
}

impl CellQuery {
    /// Every market and channel of one measure, whole history.
    pub fn all(measure: Measure) -> CellQuery {
        CellQuery {
            measure,
            period: None,
            markets: None,
            channels: None,
            from: None,
            to: None,
        }
    }

    /// The SQL over the score cube and its parameters: one row per cell with the responses
    /// per score slot `s0..s10`.
    pub fn to_sql(&self) -> (String, Vec<String>) {
        let (filters, params) = self.filters();
        let month = self.period_of("day");
        let slots = SLOT_SUMS;
        let sql = format!(
            "SELECT market, channel, {month} AS month, {slots} FROM score_counts \
             WHERE measure = '{}'{filters} GROUP BY ALL",
            self.measure.name()
        );
        (sql, params)
    }

    /// The same cells as plain SQL over `records`, one row per (cell, score): what the cube
    /// replaces, kept so the benchmark can time both in one run.
    pub fn records_sql(&self) -> (String, Vec<String>) {
        let (filters, params) = self.filters();
        let month = self.period_of("day");
        let column = self.measure.name();
        let sql = format!(
            "SELECT market, channel, {month} AS month, {column} AS score, count(*) AS n \
             FROM records WHERE {column} IS NOT NULL{filters} GROUP BY ALL"
        );
        (sql, params)
    }

    /// Responses per channel over every market, whatever `markets` says: the warehouse's
    /// channel mix, which must not depend on who asks.
    pub fn mix_sql(&self) -> (String, Vec<String>) {
        let unscoped = CellQuery {
            markets: None,
            ..self.clone()
        };
        let (filters, params) = unscoped.filters();
        let sql =
            format!(
            "SELECT channel, sum({})::BIGINT AS n FROM score_counts WHERE measure = '{}'{filters} \
             GROUP BY channel",
            (0..=10).map(|i| format!("s{i}")).collect::<Vec<_>>().join(" + "),
            self.measure.name()
        );
        (sql, params)
    }

    /// The channel mix as plain SQL over `records` (the benchmark's comparison).
    pub fn records_mix_sql(&self) -> (String, Vec<String>) {
        let unscoped = CellQuery {
            markets: None,
            ..self.clone()
        };
        let (filters, params) = unscoped.filters();
        let column = self.measure.name();
        let sql = format!(
            "SELECT channel, count(*) AS n FROM records WHERE {column} IS NOT NULL{filters} \
             GROUP BY channel"
        );
        (sql, params)
    }

    /// The SQL of the period `column` (a date) falls in, as text; NULL when not split.
    pub(crate) fn period_of(&self, column: &str) -> String {
        match self.period {
            Some(Period::Month) => format!("strftime({column}, '%Y-%m')"),
            Some(Period::Day) => format!("strftime({column}, '%Y-%m-%d')"),
            None => "NULL::VARCHAR".to_owned(),
        }
    }

    /// ` AND …` conditions for markets, channels and dates, with their parameters.
    pub(crate) fn filters(&self) -> (String, Vec<String>) {
        let mut filters = String::new();
        let mut params = Vec::new();
        let mut list = |column: &str, values: &[String], filters: &mut String| {
            filters.push_str(&super::in_list(column, values.len()));
            params.extend(values.iter().cloned());
        };
        if let Some(markets) = &self.markets {
            list("market", markets, &mut filters);
        }
        if let Some(channels) = &self.channels {
            list("channel", channels, &mut filters);
        }
        // Records and cube rows both carry their market's calendar day.
        if let Some(from) = self.from {
            filters.push_str(" AND day >= ?::DATE");
            params.push(from.to_string());
        }
        if let Some(to) = self.to {
            filters.push_str(" AND day <= ?::DATE");
            params.push(to.to_string());
        }
        (filters, params)
    }

    fn selects_nothing(&self) -> bool {
        self.markets.as_ref().is_some_and(Vec::is_empty)
            || self.channels.as_ref().is_some_and(Vec::is_empty)
    }
}

/// `sum(s0) AS s0, …, sum(s10) AS s10`.
pub(crate) const SLOT_SUMS: &str = "sum(s0)::BIGINT, sum(s1)::BIGINT, sum(s2)::BIGINT, \
    sum(s3)::BIGINT, sum(s4)::BIGINT, sum(s5)::BIGINT, sum(s6)::BIGINT, sum(s7)::BIGINT, \
    sum(s8)::BIGINT, sum(s9)::BIGINT, sum(s10)::BIGINT";

/// Adds the responses per score slot (`s0..s10`) to `histogram`.
pub(crate) fn add_slots(histogram: &mut Histogram, row: &[i64; 11]) -> Result<(), WarehouseError> {
    for (score, &n) in (0u8..).zip(row.iter()) {
        if n != 0 {
            let n = u64::try_from(n)
                .map_err(|_| WarehouseError::Corrupt(format!("negative count {n}")))?;
            histogram.add(score, n).map_err(WarehouseError::Corrupt)?;
        }
    }
    Ok(())
}

/// Reads 11 slot sums from `row` starting at column `first`.
pub(crate) fn slots_at(row: &duckdb::Row<'_>, first: usize) -> duckdb::Result<[i64; 11]> {
    let mut slots = [0i64; 11];
    for (i, slot) in slots.iter_mut().enumerate() {
        *slot = row.get(first + i)?;
    }
    Ok(slots)
}

/// The key of one cell.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CellKey {
    pub market: String,
    pub channel: String,
    /// `YYYY-MM` when split by month.
    pub month: Option<String>,
    /// `YYYY-MM-DD` when split by day.
    pub day: Option<String>,
}

impl CellKey {
    /// The key of a cell whose period (of kind `period`) is `text`.
    pub(crate) fn new(
        market: String,
        channel: String,
        period: Option<Period>,
        text: Option<String>,
    ) -> CellKey {
        let (month, day) = match period {
            Some(Period::Day) => (None, text),
            _ => (text, None),
        };
        CellKey {
            market,
            channel,
            month,
            day,
        }
    }
}

impl Warehouse {
    /// Counts per score of every cell, ordered by market, channel and month.
    ///
    /// # Errors
    /// On a database error, or a stored score off its scale.
    pub fn score_cells(
        &self,
        query: &CellQuery,
    ) -> Result<BTreeMap<CellKey, Histogram>, WarehouseError> {
        let mut cells = BTreeMap::new();
        if query.selects_nothing() {
            return Ok(cells);
        }
        let (sql, params) = query.to_sql();
        let rows: Vec<(CellKey, [i64; 11])> = self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(params.iter()), |r| {
                let key = CellKey::new(r.get(0)?, r.get(1)?, query.period, r.get(2)?);
                Ok((key, slots_at(r, 3)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        for (key, slots) in rows {
            let histogram = cells
                .entry(key)
                .or_insert_with(|| Histogram::new(query.measure));
            add_slots(histogram, &slots)?;
        }
        // A cell whose responses were all erased leaves no trace.
        cells.retain(|_, histogram| histogram.n() > 0);
        Ok(cells)
    }

    /// Responses per channel across all markets for the query's measure, channels and dates.
    ///
    /// # Errors
    /// On a database error.
    pub fn responses_per_channel(
        &self,
        query: &CellQuery,
    ) -> Result<BTreeMap<String, u64>, WarehouseError> {
        if query.channels.as_ref().is_some_and(Vec::is_empty) {
            return Ok(BTreeMap::new());
        }
        let (sql, params) = query.mix_sql();
        self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(params.iter()), |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
