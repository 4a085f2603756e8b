-- Chorus warehouse, schema version 1.

-- One canonical record per piece of feedback. (source_instance, external_id) is the
-- deduplication key: re-ingesting a record never adds a row.
CREATE TABLE records (
    source_instance     VARCHAR   NOT NULL,
    external_id         VARCHAR   NOT NULL,
    market              VARCHAR   NOT NULL,  -- ISO 3166-1 alpha-2
    region              VARCHAR   NOT NULL,  -- from config at ingest time
    channel             VARCHAR   NOT NULL,  -- configured channel id; NPS is never pooled across channels
    touchpoint          VARCHAR,
    occurred_at         TIMESTAMP NOT NULL,  -- UTC
    ingested_at         TIMESTAMP NOT NULL,  -- UTC
    nps                 UTINYINT  CHECK (nps <= 10),
    csat                UTINYINT  CHECK (csat BETWEEN 1 AND 5),
    ces                 UTINYINT  CHECK (ces BETWEEN 1 AND 7),
    stars               UTINYINT  CHECK (stars BETWEEN 1 AND 5),
    text                VARCHAR,
    language            VARCHAR,             -- ISO 639-1
    language_confidence DOUBLE,
    language_decided_by VARCHAR,             -- detector | source_hint | market_default
    consent_contact     BOOLEAN,
    attributes          VARCHAR,             -- JSON object of mapped source fields
    run_id              BIGINT    NOT NULL,  -- the run that stored it
    PRIMARY KEY (source_instance, external_id)
);

-- A batch is appended here first, then moved into records with ON CONFLICT DO NOTHING, inside
-- the batch's transaction. Always empty between transactions. Its columns must stay those of
-- records, in order: a migration that changes records recreates it the same way.
CREATE TABLE ingest_staging AS SELECT * FROM records LIMIT 0;

-- Where each connector instance resumes; written in the same transaction as its records.
CREATE TABLE connector_cursors (
    instance   VARCHAR   PRIMARY KEY,
    cursor     VARCHAR   NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE SEQUENCE connector_run_ids START 1;

-- One row per run of a connector instance; counters grow with each committed batch.
CREATE TABLE connector_runs (
    id          BIGINT    NOT NULL DEFAULT nextval('connector_run_ids'),
    instance    VARCHAR   NOT NULL,
    trigger     VARCHAR   NOT NULL,  -- schedule | startup | api
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    status      VARCHAR   NOT NULL,  -- running | succeeded | failed | interrupted
    records_read BIGINT   NOT NULL DEFAULT 0,
    inserted    BIGINT    NOT NULL DEFAULT 0,
    duplicates  BIGINT    NOT NULL DEFAULT 0,
    rejected    BIGINT    NOT NULL DEFAULT 0,
    error       VARCHAR
);

-- Rows or records a run could not store, with where and why.
CREATE TABLE run_rejections (
    run_id   BIGINT  NOT NULL,
    instance VARCHAR NOT NULL,
    location VARCHAR NOT NULL,
    reason   VARCHAR NOT NULL
);
