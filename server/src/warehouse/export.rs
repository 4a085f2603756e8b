//! Hive-partitioned Parquet export (`market=XX/month=YYYY-MM/…`), readable by DuckDB, Spark
//! or pandas: the records, and the counts per score value of every market, channel, month
//! and measure, from which every figure Chorus shows can be recomputed.

use std::path::{Path, PathBuf};

use super::{Warehouse, WarehouseError};
use crate::domain::MarketCode;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Folder of the records dataset.
    pub records_dir: PathBuf,
    /// Records written.
    pub records: u64,
    /// Folder of the score-counts dataset.
    pub score_counts_dir: PathBuf,
    /// (market, month, channel, measure, score) rows written.
    pub score_count_rows: u64,
}

impl Warehouse {
    /// Writes `out/records` and `out/score_counts`, limited to `markets` when given.
    ///
    /// # Errors
    /// `ExportTarget` when either folder already exists (nothing is overwritten), or a
    /// database error.
    pub fn export_parquet(
        &self,
        out: &Path,
        markets: Option<&[MarketCode]>,
    ) -> Result<ExportSummary, WarehouseError> {
        let records_dir = out.join("records");
        let score_counts_dir = out.join("score_counts");
        for dir in [&records_dir, &score_counts_dir] {
            if dir.exists() {
                return Err(WarehouseError::ExportTarget(format!(
                    "{} exists; remove it or choose another folder",
                    dir.display()
                )));
            }
        }
        std::fs::create_dir_all(out)
            .map_err(|e| WarehouseError::ExportTarget(format!("{}: {e}", out.display())))?;
        // Market codes are validated two-letter codes, so they can be inlined; COPY takes no
        // parameters.
        let filter = match markets {
            Some(markets) => {
                let list: Vec<String> = markets.iter().map(|m| format!("'{m}'")).collect();
                format!("WHERE market IN ({})", list.join(", "))
            }
            None => String::new(),
        };
        let records_sql = format!(
            "COPY (SELECT *, strftime(day, '%Y-%m') AS month FROM records {filter} \
             ORDER BY market, month, occurred_at) \
             TO {} (FORMAT parquet, PARTITION_BY (market, month))",
            quoted(&records_dir)
        );
        let counts_sql = format!(
            "COPY (SELECT market, strftime(day, '%Y-%m') AS month, channel, measure, \
                          score, count(*) AS responses \
                   FROM (UNPIVOT (SELECT market, day, channel, nps, csat, ces, stars \
                                  FROM records {filter}) \
                         ON nps, csat, ces, stars INTO NAME measure VALUE score) \
                   GROUP BY ALL ORDER BY ALL) \
             TO {} (FORMAT parquet, PARTITION_BY (market, month))",
            quoted(&score_counts_dir)
        );
        let (records, score_count_rows) = self.read(|c| {
            let records = c.execute(&records_sql, [])? as u64;
            let rows = c.execute(&counts_sql, [])? as u64;
            Ok((records, rows))
        })?;
        Ok(ExportSummary {
            records_dir,
            records,
            score_counts_dir,
            score_count_rows,
        })
    }
}

/// A path as an SQL string literal.
fn quoted(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "''"))
}
