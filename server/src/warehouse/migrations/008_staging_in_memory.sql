-- Chorus warehouse, schema version 8: the staging table leaves the file.
--
-- A batch passes through ingest_staging inside its own transaction. As a table of the file,
-- a transaction of a full row group (see ingest::COMMIT_ROWS) wrote its staged rows to disk,
-- compressed, only to delete them before commit. Warehouse::open now creates it as a
-- temporary table of the writer connection (in memory), from the records' columns.
DROP TABLE ingest_staging;
