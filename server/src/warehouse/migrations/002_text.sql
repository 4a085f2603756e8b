-- Chorus warehouse, schema version 2: topics, redactions, kept original texts.

ALTER TABLE records ADD COLUMN topics VARCHAR[];         -- topic ids; NULL without text
ALTER TABLE records ADD COLUMN redactions VARCHAR[];     -- kinds redacted, e.g. [email, phone]
ALTER TABLE records ADD COLUMN text_original VARCHAR;    -- only where the market keeps originals

-- Staging keeps the records' columns in order, but holds the two lists as '|'-joined text
-- (the appender takes scalars); Warehouse::commit_batch splits them when moving rows.
DROP TABLE ingest_staging;
CREATE TABLE ingest_staging AS
    SELECT * REPLACE (NULL::VARCHAR AS topics, NULL::VARCHAR AS redactions) FROM records LIMIT 0;
