//! Read-only views of a warehouse file for comparisons between nodes: cube totals, records
//! per market, kept original texts.

use std::collections::BTreeMap;

use super::cubes::slot_list;
use super::{Warehouse, WarehouseError};

impl Warehouse {
    /// Every nonzero cube row summed per key, keyed `cube market/channel/day[/topic]/measure`:
    /// what two warehouses must agree on when one is the sum of others.
    ///
    /// # Errors
    /// On a database error.
    pub fn cube_totals(&self) -> Result<BTreeMap<String, Vec<i64>>, WarehouseError> {
        self.read(|c| {
            let mut totals = BTreeMap::new();
            for (cube, keys) in [
                ("score_counts", "market, channel, day, measure"),
                ("topic_counts", "market, channel, day, topic, measure"),
                ("driver_counts", "market, channel, day, topic_set, measure"),
            ] {
                let sums = slot_list(|s| format!("sum({s})::BIGINT"));
                let any = slot_list(|s| format!("sum({s}) <> 0")).replace(", ", " OR ");
                let mut statement = c.prepare(&format!(
                    "SELECT concat_ws('/', {keys}), [{sums}] FROM {cube} GROUP BY {keys} \
                     HAVING {any}"
                ))?;
                let mut rows = statement.query([])?;
                while let Some(row) = rows.next()? {
                    let key: String = row.get(0)?;
                    let slots = match row.get::<_, duckdb::types::Value>(1)? {
                        duckdb::types::Value::List(items) => items
                            .into_iter()
                            .map(|v| match v {
                                duckdb::types::Value::BigInt(n) => n,
                                _ => 0,
                            })
                            .collect(),
                        _ => Vec::new(),
                    };
                    totals.insert(format!("{cube} {key}"), slots);
                }
            }
            Ok(totals)
        })
    }
}

impl Warehouse {
    /// Stored records per market.
    ///
    /// # Errors
    /// On a database error.
    pub fn market_record_counts(&self) -> Result<BTreeMap<String, u64>, WarehouseError> {
        self.read(|c| {
            let mut statement =
                c.prepare("SELECT market, count(*) FROM records GROUP BY market")?;
            let rows = statement.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    /// Stored records that keep an original (unredacted) text.
    ///
    /// # Errors
    /// On a database error.
    pub fn original_texts(&self) -> Result<u64, WarehouseError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM records WHERE text_original IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
    }
}
