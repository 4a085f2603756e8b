-- Chorus warehouse, schema version 5: records that change, and erasure (GDPR art. 17).

-- Stored records a run replaced by a changed re-delivery (instances with on_change = "update").
-- A table of its own: DuckDB 1.4 cannot replay an ALTER of connector_runs (whose id defaults
-- to nextval) from the WAL, so a crash right after the migration would make the file unopenable.
CREATE TABLE run_updates (
    run_id  BIGINT PRIMARY KEY,
    updated BIGINT NOT NULL
);

CREATE SEQUENCE erasure_ids START 1;

-- Who erased what, when, how many and where; never the erased content nor the value that
-- selected it.
CREATE TABLE erasures (
    id           BIGINT    PRIMARY KEY DEFAULT nextval('erasure_ids'),
    requested_by VARCHAR   NOT NULL,   -- token subject, or `cli` with the OS user
    erased_at    TIMESTAMP NOT NULL,
    criterion    VARCHAR   NOT NULL,   -- e.g. `attribute customer_id`, `external id`
    records      BIGINT    NOT NULL,
    markets      VARCHAR[] NOT NULL
);

-- Erased (instance, external id) pairs, as SHA-256 of `instance \x1f external id`, so a
-- connector that re-delivers one does not bring it back, and the tombstone names nobody.
CREATE TABLE erased_records (
    key_hash   VARCHAR PRIMARY KEY,
    erasure_id BIGINT  NOT NULL
);
