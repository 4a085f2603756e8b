//! Rows for key driver analysis: commented records collapsed to (market, channel, score,
//! topics mentioned) with their count, so a million records become a few thousand rows.

use std::collections::BTreeMap;

use duckdb::params_from_iter;

use super::queries::{slots_at, CellQuery, SLOT_SUMS};
use super::{Warehouse, WarehouseError};

/// Largest magnitude of a numeric driver value (sub-ratings are small numbers).
const MAX_DRIVER_VALUE: f64 = 1e6;

/// Commented records of one market and channel with one score and one set of topics.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverPattern {
    pub market: String,
    pub channel: String,
    pub score: u8,
    /// Bit `i` set: the records mention `topics[i]`.
    pub mentions: u32,
    /// Values of the numeric driver attributes, in the order asked.
    pub values: Vec<f64>,
    pub n: u64,
}

impl Warehouse {
    /// Patterns of the commented records in `cells` with a score of its measure. `topics` are
    /// validated ids (`[a-z0-9_]+`, at most 32), inlined into the statement.
    ///
    /// # Errors
    /// On a database error.
    pub fn driver_patterns(
        &self,
        cells: &CellQuery,
        topics: &[String],
        numeric: &[String],
    ) -> Result<Vec<DriverPattern>, WarehouseError> {
        let valid = |t: &String| {
            !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        let safe = topics.len() <= 32 && topics.iter().chain(numeric).all(valid);
        if !safe || cells.markets.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let (sql, params) = driver_patterns_sql(cells, topics, numeric);
        self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(params.iter()), |r| {
                Ok(DriverPattern {
                    market: r.get(0)?,
                    channel: r.get(1)?,
                    score: r.get(2)?,
                    mentions: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    n: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    values: (0..numeric.len())
                        .map(|i| r.get::<_, f64>(5 + i))
                        .collect::<Result<_, _>>()?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

/// The statement behind [`Warehouse::driver_patterns`] (also the benchmark's baseline);
/// `topics` and `numeric` attribute keys must already be validated.
pub fn driver_patterns_sql(
    cells: &CellQuery,
    topics: &[String],
    numeric: &[String],
) -> (String, Vec<String>) {
    let mask: Vec<String> = topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "(CASE WHEN list_contains(topics, '{t}') THEN {} ELSE 0 END)",
                1u64 << i
            )
        })
        .collect();
    let mask = if mask.is_empty() {
        "0".to_owned()
    } else {
        mask.join(" + ")
    };
    let (filters, params) = cells.filters();
    let column = cells.measure.name();
    let values: String = numeric
        .iter()
        .map(|key| format!(", TRY_CAST(json_extract_string(attributes, '$.{key}') AS DOUBLE)"))
        .collect();
    // A record needs a number in every numeric driver to enter the model, and a bounded one:
    // NaN, infinities and 1e300 from a source would poison every sum of squares. (BETWEEN
    // also excludes NaN, which DuckDB orders above every number.)
    let present: String = numeric
        .iter()
        .map(|key| {
            format!(
                " AND TRY_CAST(json_extract_string(attributes, '$.{key}') AS DOUBLE) \
                 BETWEEN -{MAX_DRIVER_VALUE} AND {MAX_DRIVER_VALUE}"
            )
        })
        .collect();
    let sql = format!(
        "SELECT market, channel, {column} AS score, {mask} AS mentions, count(*) AS n{values} \
         FROM records WHERE {column} IS NOT NULL AND topics IS NOT NULL{present}{filters} \
         GROUP BY ALL ORDER BY ALL"
    );
    (sql, params)
}

impl Warehouse {
    /// The patterns of `records`' cells from the records and those of `counted`'s from the
    /// driver cube, in the records' order (SQL's `ORDER BY ALL`), so that sums over markets
    /// add up in the same order as on a node holding every record.
    ///
    /// # Errors
    /// On a database error.
    pub fn driver_patterns_and_counts(
        &self,
        records: &CellQuery,
        counted: &CellQuery,
        topics: &[String],
        numeric: &[String],
    ) -> Result<Vec<DriverPattern>, WarehouseError> {
        let mut patterns = self.driver_patterns(records, topics, numeric)?;
        let shipped = self.driver_patterns_from_counts(counted, topics)?;
        if !shipped.is_empty() {
            patterns.extend(shipped);
            patterns.sort_by(|a, b| {
                (&a.market, &a.channel, a.score, a.mentions, a.n)
                    .cmp(&(&b.market, &b.channel, b.score, b.mentions, b.n))
                    .then_with(|| {
                        let mut values = a.values.iter().zip(&b.values);
                        values
                            .find_map(|(x, y)| Some(x.total_cmp(y)).filter(|o| o.is_ne()))
                            .unwrap_or(std::cmp::Ordering::Equal)
                    })
            });
        }
        Ok(patterns)
    }

    /// The same patterns as [`Warehouse::driver_patterns`], from the driver cube instead of
    /// the records: what headquarters models regional markets on, whose records stay in their
    /// region. The cube holds no numeric driver answers, so `values` is empty.
    ///
    /// # Errors
    /// On a database error.
    pub fn driver_patterns_from_counts(
        &self,
        cells: &CellQuery,
        topics: &[String],
    ) -> Result<Vec<DriverPattern>, WarehouseError> {
        if topics.len() > 32 || cells.markets.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Vec::new());
        }
        let (filters, filter_params) = cells.filters();
        let sql = format!(
            "SELECT market, channel, topic_set, {SLOT_SUMS} FROM driver_counts \
             WHERE measure = ?{filters} GROUP BY ALL"
        );
        let params: Vec<String> = std::iter::once(cells.measure.name().to_owned())
            .chain(filter_params)
            .collect();
        let rows: Vec<(String, String, String, [i64; 11])> = self.read(|c| {
            let mut statement = c.prepare(&sql)?;
            let rows = statement.query_map(params_from_iter(params.iter()), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, slots_at(r, 3)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        // (market, channel, score, mentions) → n, in the order the records' query sorts.
        let mut patterns: BTreeMap<(String, String, u8, u32), u64> = BTreeMap::new();
        for (market, channel, set, slots) in rows {
            let mentioned: Vec<&str> = set.split('|').collect();
            let mentions = topics
                .iter()
                .enumerate()
                .filter(|(_, t)| mentioned.contains(&t.as_str()))
                .fold(0u32, |mask, (i, _)| mask | (1 << i));
            for (score, &n) in (0u8..).zip(slots.iter()) {
                if let Ok(n @ 1..) = u64::try_from(n) {
                    *patterns
                        .entry((market.clone(), channel.clone(), score, mentions))
                        .or_default() += n;
                }
            }
        }
        Ok(patterns
            .into_iter()
            .map(|((market, channel, score, mentions), n)| DriverPattern {
                market,
                channel,
                score,
                mentions,
                values: Vec::new(),
                n,
            })
            .collect())
    }
}
