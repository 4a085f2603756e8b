//! `chorus export --format parquet`: the demo ingested by the real server, exported by the
//! real binary, read back with DuckDB and compared with the warehouse row for row.

use std::path::Path;

use chorus::warehouse::Warehouse;

use crate::helpers::DemoFiles;

#[tokio::test]
async fn parquet_export_round_trips_records_and_score_counts() {
    let dir = tempfile::tempdir().unwrap();
    let demo = DemoFiles::new(dir.path(), None);
    demo.ingest().await;

    let out = dir.path().join("out");
    let export = |out: &Path| {
        demo.chorus(&[
            "export",
            "--format",
            "parquet",
            "--markets",
            "DE,FR",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let done = export(&out);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).starts_with("wrote "));
    assert!(out.join("records/market=DE/month=2026-08").is_dir());
    assert!(out.join("score_counts/market=FR/month=2026-10").is_dir());
    assert!(
        !out.join("records/market=PL").exists(),
        "--markets limits the export"
    );

    // A second export into the same folder overwrites nothing and says why.
    let again = export(&out);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));

    let warehouse = Warehouse::open(&demo.database).unwrap();
    let records = format!(
        "read_parquet('{}/records/**/*.parquet', hive_partitioning = true)",
        out.display()
    );
    let counts = format!(
        "(SELECT * FROM read_parquet('{}/score_counts/**/*.parquet', hive_partitioning = true) \
          WHERE measure = 'nps')",
        out.display()
    );
    let stored = "(SELECT *, strftime(day, '%Y-%m') AS month FROM records \
                  WHERE market IN ('DE', 'FR'))";
    let columns = "source_instance, external_id, market, month, channel, touchpoint, \
                   occurred_at, nps, csat, ces, stars, text, language";
    let recounted = "(SELECT market, strftime(day, '%Y-%m') AS month, channel, \
                     'nps' AS measure, nps AS score, count(*) AS responses FROM records \
                     WHERE market IN ('DE', 'FR') AND nps IS NOT NULL GROUP BY ALL)";
    let number = |sql: String| {
        warehouse
            .read(|c| Ok(c.query_row(&sql, [], |r| r.get::<_, i64>(0))?))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let exported = number(format!("SELECT count(*) FROM {records}"));
    assert!(exported > 1_000, "{exported}");
    assert_eq!(exported, number(format!("SELECT count(*) FROM {stored}")));
    for (a, b) in [(records.as_str(), stored), (stored, records.as_str())] {
        let differing = number(format!(
            "SELECT count(*) FROM (SELECT {columns} FROM {a} EXCEPT SELECT {columns} FROM {b})"
        ));
        assert_eq!(differing, 0, "rows of {a} missing in {b}");
    }
    let cell_columns = "market, month, channel, measure, score, responses";
    for (a, b) in [(counts.as_str(), recounted), (recounted, counts.as_str())] {
        let differing = number(format!(
            "SELECT count(*) FROM (SELECT {cell_columns} FROM {a} EXCEPT \
             SELECT {cell_columns} FROM {b})"
        ));
        assert_eq!(differing, 0, "score counts of {a} missing in {b}");
    }
}
